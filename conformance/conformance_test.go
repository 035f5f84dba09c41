package conformance_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/websock/websock"
	"github.com/websock/websock/conformance"
)

// allCases returns every case of the catalogue.
func allCases(t *testing.T) []*conformance.Case {
	t.Helper()
	cases, err := conformance.Cases()
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 517 {
		t.Fatalf("%d cases in the catalogue, want 517", len(cases))
	}
	return cases
}

// requireStrict fails the test for every case that is not strictly OK.
func requireStrict(t *testing.T, results []*conformance.Result, want int) {
	t.Helper()
	if len(results) != want {
		t.Fatalf("%d results for %d cases", len(results), want)
	}
	var sb strings.Builder
	if ok, _ := conformance.Summary(&sb, results, nil); !ok {
		t.Fatalf("not every case is strictly OK:\n%s", sb.String())
	}
}

// startServer serves h over TLS if tlsOn, until the test ends.
func startServer(t *testing.T, tlsOn bool, h http.Handler) *httptest.Server {
	var srv *httptest.Server
	if tlsOn {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return srv
}

// echoHandler accepts connections with permessage-deflate and echoes every
// message.
func echoHandler() http.Handler {
	return websock.Handler(&websock.AcceptOptions{
		Extensions: extensions(),
	}, func(ctx context.Context, c *websock.Conn, r *http.Request) {
		var buf []byte
		for {
			typ, msg, err := c.ReadAppend(ctx, buf[:0])
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
			buf = msg
		}
	})
}

func transports(t *testing.T, f func(t *testing.T, tlsOn bool)) {
	t.Run("ws", func(t *testing.T) { t.Parallel(); f(t, false) })
	t.Run("wss", func(t *testing.T) { t.Parallel(); f(t, true) })
}

// TestWebsockServer runs the whole suite against websock's server.
func TestWebsockServer(t *testing.T) {
	t.Parallel()
	transports(t, func(t *testing.T, tlsOn bool) { playServer(t, tlsOn, echoHandler()) })
}

// playServer runs the suite against the echo server h.
func playServer(t *testing.T, tlsOn bool, h http.Handler) {
	cases := suiteCases(t, tlsOn)
	srv := startServer(t, tlsOn, h)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
	results, err := conformance.RunServer(context.Background(), cases, conformance.ClientConfig{
		URL: url, TLSConfig: &tls.Config{InsecureSkipVerify: true}, Parallel: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	requireStrict(t, results, len(cases))
}

// TestWebsockClient runs the whole suite against websock's client, through
// the fuzzing server protocol, with the same driver as examples/autobahn.
func TestWebsockClient(t *testing.T) {
	t.Parallel()
	transports(t, func(t *testing.T, tlsOn bool) {
		cases := suiteCases(t, tlsOn)
		fuzzer := &conformance.Server{Cases: cases}
		base := "ws" + strings.TrimPrefix(startServer(t, tlsOn, fuzzer).URL, "http")
		playClient(t, cases, base, &websock.DialOptions{TLSConfig: &tls.Config{InsecureSkipVerify: true}, Extensions: extensions()})
		requireStrict(t, fuzzer.Results("websock"), len(cases))
	})
}

// playClient runs the client side of cases against the fuzzing server at
// base, four cases at a time, as a client application with several
// connections would run them.
func playClient(t *testing.T, cases []*conformance.Case, base string, opts *websock.DialOptions) {
	ctx := context.Background()
	next := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range next {
				o := *opts
				if err := echoClient(ctx, base+"/runCase?case="+strconv.Itoa(i+1)+"&agent=websock", &o); err != nil {
					t.Errorf("case %s: %v", cases[i].ID, err)
				}
			}
		})
	}
	for i := range cases {
		next <- i
	}
	close(next)
	wg.Wait()
}

// echoClient is the client side of a case: it echoes every message until
// the connection ends. Only the dial can fail; how the case ends is the
// fuzzer's to grade.
func echoClient(ctx context.Context, url string, opts *websock.DialOptions) error {
	c, _, err := websock.Dial(ctx, url, opts)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	var buf []byte
	for {
		typ, msg, err := c.ReadAppend(ctx, buf[:0])
		if err != nil {
			return nil
		}
		if c.Write(ctx, typ, msg) != nil {
			return nil
		}
		buf = msg
	}
}
