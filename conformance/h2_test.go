package conformance_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/websock/websock"
	"github.com/websock/websock/conformance"
)

// newHTTP2Server starts a TLS server offering HTTP/2 and counts its TCP
// connections.
func newHTTP2Server(t *testing.T, h http.Handler, conns *atomic.Int64) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	// Room for every stream's window in the connection's, so that a
	// stream whose reader lags cannot stall the others.
	srv.Config.HTTP2 = &http.HTTP2Config{MaxReceiveBufferPerConnection: 16 << 20}
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestWebsockServerHTTP2 plays the suite against websock's server, every
// case on a stream of one HTTP/2 connection (RFC 8441).
func TestWebsockServerHTTP2(t *testing.T) {
	t.Parallel()
	cases := suiteCases(t, true) // HTTP/2 changes how bytes travel, as TLS does
	var conns atomic.Int64
	srv := newHTTP2Server(t, echoHandler(), &conns)
	results, err := conformance.RunServer(context.Background(), cases, conformance.ClientConfig{
		URL: "wss" + strings.TrimPrefix(srv.URL, "https") + "/", TLSConfig: &tls.Config{InsecureSkipVerify: true},
		Parallel: 4, HTTP2: true,
		// A handshake waits its turn on the connection the other cases
		// load with megabytes (9.*): on a loaded machine, for more than
		// the 10 s of a case on a connection of its own.
		Timing: conformance.Timing{Open: time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	requireStrict(t, results, len(cases))
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d cases took %d TCP connections, want 1", len(cases), n)
	}
}

// TestWebsockClientHTTP2 plays the suite against websock's client, every
// case on a stream of one HTTP/2 connection.
func TestWebsockClientHTTP2(t *testing.T) {
	t.Parallel()
	cases := suiteCases(t, true) // HTTP/2 changes how bytes travel, as TLS does
	fuzzer := &conformance.Server{Cases: cases}
	var conns atomic.Int64
	srv := newHTTP2Server(t, fuzzer, &conns)
	base := "wss" + strings.TrimPrefix(srv.URL, "https")
	h2 := &websock.HTTP2Client{TLSConfig: &tls.Config{InsecureSkipVerify: true}}
	defer h2.CloseIdleConnections()
	playClient(t, cases, base, &websock.DialOptions{HTTP2: h2, Extensions: extensions(), HandshakeTimeout: time.Minute})
	requireStrict(t, fuzzer.Results("websock"), len(cases))
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d cases took %d TCP connections, want 1", len(cases), n)
	}
}
