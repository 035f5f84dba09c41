package conformance_test

import (
	"context"
	"crypto/tls"

	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/websock/websock"
	"github.com/websock/websock/conformance"
)

// eventEcho echoes every message of a connection served by Serve.
var eventEcho = websock.Events{
	OnMessage: func(c *websock.Conn, typ websock.MessageType, data []byte) {
		c.Write(context.Background(), typ, data)
	},
	OnEnd: func(c *websock.Conn, err error) { c.CloseNow() },
}

// TestEventsServer runs the suite against an echo server whose
// connections are read by the poller (websock.EventHandler).
func TestEventsServer(t *testing.T) {
	t.Parallel()
	transports(t, func(t *testing.T, tlsOn bool) {
		cases := suiteCases(t, tlsOn)
		h := websock.EventHandler(&websock.AcceptOptions{Extensions: extensions()}, eventEcho)
		var srv *httptest.Server
		if tlsOn {
			srv = httptest.NewTLSServer(h)
		} else {
			srv = httptest.NewServer(h)
		}
		t.Cleanup(srv.Close)
		url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
		results, err := conformance.RunServer(context.Background(), cases, conformance.ClientConfig{
			URL: url, TLSConfig: &tls.Config{InsecureSkipVerify: true}, Parallel: 4,
		})
		if err != nil {
			t.Fatal(err)
		}
		requireStrict(t, results, len(cases))
	})
}

// TestEventsClient runs the suite against websock's client with its
// connections read by the poller (Dial, then Serve).
func TestEventsClient(t *testing.T) {
	t.Parallel()
	transports(t, func(t *testing.T, tlsOn bool) {
		cases := suiteCases(t, tlsOn)
		fuzzer := &conformance.Server{Cases: cases}
		var srv *httptest.Server
		if tlsOn {
			srv = httptest.NewTLSServer(fuzzer)
		} else {
			srv = httptest.NewServer(fuzzer)
		}
		defer srv.Close()
		base := "ws" + strings.TrimPrefix(srv.URL, "http")
		opts := &websock.DialOptions{TLSConfig: &tls.Config{InsecureSkipVerify: true}, Extensions: extensions()}
		// Every case at once: served connections hold no goroutine while
		// they wait.
		var wg sync.WaitGroup
		for i := range cases {
			o := *opts
			url := base + "/runCase?case=" + strconv.Itoa(i+1) + "&agent=websock"
			if err := eventClient(&wg, url, &o); err != nil {
				t.Errorf("case %s: %v", cases[i].ID, err)
			}
			if i%4 == 3 {
				wg.Wait() // four at a time, as playClient
			}
		}
		wg.Wait()
		requireStrict(t, fuzzer.Results("websock"), len(cases))
	})
}

// eventClient dials url and echoes every message through Serve; wg is done
// when reading has ended.
func eventClient(wg *sync.WaitGroup, url string, opts *websock.DialOptions) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, _, err := websock.Dial(ctx, url, opts)
	if err != nil {
		return err
	}
	wg.Add(1)
	ev := eventEcho
	ev.OnEnd = func(c *websock.Conn, err error) {
		c.CloseNow()
		wg.Done()
	}
	if err := c.Serve(ev); err != nil {
		c.CloseNow()
		wg.Done()
		return err
	}
	return nil
}
