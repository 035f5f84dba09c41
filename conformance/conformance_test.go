package conformance_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
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

func echoServer(t *testing.T, tlsOn bool) *httptest.Server {
	h := websock.Handler(&websock.AcceptOptions{
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
	var srv *httptest.Server
	if tlsOn {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return srv
}

func transports(t *testing.T, f func(t *testing.T, tlsOn bool)) {
	t.Run("ws", func(t *testing.T) { f(t, false) })
	t.Run("wss", func(t *testing.T) { f(t, true) })
}

// TestWebsockServer runs the whole suite against websock's server.
func TestWebsockServer(t *testing.T) {
	cases := suiteCases(t)
	transports(t, func(t *testing.T, tlsOn bool) {
		srv := echoServer(t, tlsOn)
		url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
		results, err := conformance.RunServer(context.Background(), cases, conformance.ClientConfig{
			URL: url, TLSConfig: &tls.Config{InsecureSkipVerify: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		requireStrict(t, results, len(cases))
	})
}

// TestWebsockClient runs the whole suite against websock's client, through
// the fuzzing server protocol, with the same driver as examples/autobahn.
func TestWebsockClient(t *testing.T) {
	cases := suiteCases(t)
	transports(t, func(t *testing.T, tlsOn bool) {
		fuzzer := &conformance.Server{Cases: cases}
		var srv *httptest.Server
		if tlsOn {
			srv = httptest.NewTLSServer(fuzzer)
		} else {
			srv = httptest.NewServer(fuzzer)
		}
		defer srv.Close()
		base := "ws" + strings.TrimPrefix(srv.URL, "http")
		ctx := context.Background()
		opts := func() *websock.DialOptions {
			return &websock.DialOptions{InsecureSkipVerify: true, Extensions: extensions()}
		}
		for i := range cases {
			c, _, err := websock.Dial(ctx, base+"/runCase?case="+itoa(i+1)+"&agent=websock", opts())
			if err != nil {
				t.Fatalf("case %s: %v", cases[i].ID, err)
			}
			var buf []byte
			for {
				typ, msg, err := c.ReadAppend(ctx, buf[:0])
				if err != nil {
					break
				}
				if c.Write(ctx, typ, msg) != nil {
					break
				}
				buf = msg
			}
			c.CloseNow()
		}
		requireStrict(t, fuzzer.Results("websock"), len(cases))
	})
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}
