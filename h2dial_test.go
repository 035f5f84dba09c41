package websock

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/websock/websock/extension"
)

// h2Server is a TLS server offering HTTP/2 and HTTP/1.1 that counts the
// TCP connections it accepted.
type h2Server struct {
	*httptest.Server
	conns  atomic.Int64
	closed chan struct{} // a value for each TCP connection closed
}

// newH2Server starts the server after applying edits to its http.Server.
func newH2Server(t testing.TB, h http.Handler, edits ...func(*http.Server)) *h2Server {
	t.Helper()
	if !ExtendedConnectEnabled() {
		t.Fatal("HTTP/2 extended CONNECT is off: TestMain should have turned it on")
	}
	s := &h2Server{Server: httptest.NewUnstartedServer(h), closed: make(chan struct{}, 1000)}
	s.EnableHTTP2 = true
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.conns.Add(1)
		case http.StateClosed:
			s.closed <- struct{}{}
		}
	}
	for _, edit := range edits {
		edit(s.Config)
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *h2Server) wsURL() string { return "wss" + strings.TrimPrefix(s.URL, "https") }

// newH2Client returns a client for test servers; its connections are
// closed when the test ends.
func newH2Client(t testing.TB) *HTTP2Client {
	h := &HTTP2Client{TLSConfig: &tls.Config{InsecureSkipVerify: true}}
	t.Cleanup(h.CloseIdleConnections)
	return h
}

// h2Echo is a handler that checks the request came over HTTP/2 and echoes
// every message.
func h2Echo(t testing.TB, opts *AcceptOptions) http.Handler {
	return Handler(opts, func(ctx context.Context, c *Conn, r *http.Request) {
		if r.ProtoMajor != 2 {
			t.Errorf("request over %s, want HTTP/2", r.Proto)
		}
		echoAll(ctx, c)
	})
}

// plainEcho echoes every message, over any protocol.
var plainEcho = Handler(nil, func(ctx context.Context, c *Conn, r *http.Request) { echoAll(ctx, c) })

// echoAll echoes every message until the connection ends.
func echoAll(ctx context.Context, c *Conn) {
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil || c.Write(ctx, typ, msg) != nil {
			return
		}
	}
}

func echoOnce(t testing.TB, c *Conn, msg []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Write(ctx, BinaryMessage, msg); err != nil {
		t.Fatal(err)
	}
	_, got, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo of %d bytes differs (%d bytes back)", len(msg), len(got))
	}
}

// TestHTTP2Multiplexed opens many WebSockets on one TCP connection and
// keeps them all open while each echoes messages.
func TestHTTP2Multiplexed(t *testing.T) {
	t.Parallel()
	srv := newH2Server(t, h2Echo(t, &AcceptOptions{Extensions: []extension.Extension{&PerMessageDeflate{}}}))
	h := newH2Client(t)
	opts := &DialOptions{HTTP2: h, Extensions: []extension.Extension{&PerMessageDeflate{}}}
	ctx := context.Background()
	const n = 20
	conns := make([]*Conn, n)
	var wg sync.WaitGroup
	for i := range conns {
		var resp *http.Response
		var err error
		conns[i], resp, err = Dial(ctx, srv.wsURL(), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer conns[i].CloseNow()
		if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
			t.Fatalf("response %s %s, want HTTP/2.0 200", resp.Proto, resp.Status)
		}
		if conns[i].Extensions() == "" {
			t.Fatal("permessage-deflate not negotiated over HTTP/2")
		}
	}
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 5 {
				echoOnce(t, c, pattern(1000*(i+1)+k*7000, byte(i)))
			}
		}()
	}
	wg.Wait()
	if got := srv.conns.Load(); got != 1 {
		t.Fatalf("%d WebSockets used %d TCP connections, want 1", n, got)
	}
	for _, c := range conns {
		if err := c.Close(StatusNormalClosure, ""); err != nil {
			t.Fatalf("close: %v", err)
		}
	}
	// The TCP connection outlives its WebSockets, for the next ones.
	c, _, err := Dial(ctx, srv.wsURL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	echoOnce(t, c, []byte("again"))
	if got := srv.conns.Load(); got != 1 {
		t.Fatalf("a WebSocket after the others used a new TCP connection (%d in all)", got)
	}
}

// TestHTTP2FallsBackToHTTP1 dials a server without HTTP/2: the same
// options give an HTTP/1.1 connection.
func TestHTTP2FallsBackToHTTP1(t *testing.T) {
	t.Parallel()
	proto := make(chan int, 1)
	srv := httptest.NewTLSServer(Handler(nil, func(ctx context.Context, c *Conn, r *http.Request) {
		proto <- r.ProtoMajor
		c.Read(ctx)
	}))
	defer srv.Close()
	opts := &DialOptions{HTTP2: newH2Client(t), TLSConfig: &tls.Config{InsecureSkipVerify: true}}
	c, resp, err := Dial(context.Background(), "wss"+strings.TrimPrefix(srv.URL, "https"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if resp.StatusCode != http.StatusSwitchingProtocols || <-proto != 1 {
		t.Fatalf("fallback answered %s", resp.Status)
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
}

// TestHTTP2Cleartext dials ws:// with HTTP/2 prior knowledge.
func TestHTTP2Cleartext(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(h2Echo(t, nil))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()
	h := &HTTP2Client{AllowCleartext: true}
	defer h.CloseIdleConnections()
	c, resp, err := Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), &DialOptions{HTTP2: h})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if resp.ProtoMajor != 2 {
		t.Fatalf("response over %s", resp.Proto)
	}
	echoOnce(t, c, []byte("cleartext"))
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
}

// TestHTTP2DialContext: a context that ends during the handshake stops
// the dial.
func TestHTTP2DialContext(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := newH2Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, _, err := Dial(ctx, srv.wsURL(), &DialOptions{HTTP2: newH2Client(t)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial error %v, want the context's", err)
	}
}

// TestHTTP2StreamLimit: beyond the server's limit of concurrent streams,
// the client opens another HTTP/2 connection.
func TestHTTP2StreamLimit(t *testing.T) {
	t.Parallel()
	s := newH2Server(t, h2Echo(t, nil), func(srv *http.Server) {
		srv.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: 2}
	})
	opts := &DialOptions{HTTP2: newH2Client(t)}
	for i := range 5 {
		c, _, err := Dial(context.Background(), s.wsURL(), opts)
		if err != nil {
			t.Fatalf("WebSocket %d: %v", i, err)
		}
		defer c.CloseNow()
		echoOnce(t, c, []byte("x"))
	}
	if got := s.conns.Load(); got != 3 {
		t.Fatalf("5 WebSockets, 2 streams per connection: %d TCP connections, want 3", got)
	}
}

// TestHTTP2ServerTimeoutsDoNotApply: the http.Server's read and write
// timeouts bound HTTP exchanges, not WebSockets on its streams.
func TestHTTP2ServerTimeoutsDoNotApply(t *testing.T) {
	t.Parallel()
	// Each stream's timers start when its headers arrive, before the
	// handler can disarm them, so they must outlast the handler's start.
	// net/http also bounds the TLS handshake by the shortest of them, and
	// HTTP/2 takes ReadTimeout as the idle timeout of a connection whose
	// first stream is yet to come: neither is what this test is about, so
	// the handshake is done before the server's own (then a no-op) and the
	// idle timeout is set apart. httptest's Close waits for the accept
	// loop, which calls ConnContext, so t.Errorf is safe there.
	const timeout = time.Second
	s := newH2Server(t, h2Echo(t, nil), func(srv *http.Server) {
		srv.ReadTimeout = timeout
		srv.WriteTimeout = timeout
		srv.IdleTimeout = time.Minute
		srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
			if tc, ok := c.(*tls.Conn); ok {
				if err := tc.HandshakeContext(ctx); err != nil {
					t.Errorf("TLS handshake: %v", err)
				}
			}
			return ctx
		}
	})
	c, _, err := Dial(context.Background(), s.wsURL(), &DialOptions{HTTP2: newH2Client(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	echoOnce(t, c, []byte("before"))
	<-time.After(3 * timeout) // well past both timeouts
	echoOnce(t, c, []byte("after"))
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
}

// TestHTTP2IdleTimeout: a connection whose WebSockets have all closed is
// closed after IdleTimeout; the next WebSocket dials a new one.
func TestHTTP2IdleTimeout(t *testing.T) {
	t.Parallel()
	srv := newH2Server(t, h2Echo(t, nil))
	h := &HTTP2Client{TLSConfig: &tls.Config{InsecureSkipVerify: true}, IdleTimeout: 100 * time.Millisecond}
	defer h.CloseIdleConnections()
	for i := range 2 {
		c, _, err := Dial(context.Background(), srv.wsURL(), &DialOptions{HTTP2: h})
		if err != nil {
			t.Fatal(err)
		}
		echoOnce(t, c, []byte("x"))
		if err := c.Close(StatusNormalClosure, ""); err != nil {
			t.Fatal(err)
		}
		select {
		case <-srv.closed:
		case <-time.After(30 * time.Second):
			t.Fatalf("connection %d still open 30 s after its last WebSocket", i)
		}
	}
	if got := srv.conns.Load(); got != 2 {
		t.Fatalf("%d TCP connections, want 2", got)
	}
}

// plainH2ServerEnv makes the test binary serve HTTP/2 without extended
// CONNECT, for TestHTTP2FallsBackWithoutExtendedConnect.
const plainH2ServerEnv = "WEBSOCK_PLAIN_H2_SERVER"

// TestHTTP2FallsBackWithoutExtendedConnect dials a server that speaks
// HTTP/2 but does not advertise extended CONNECT (a process started
// without GODEBUG=http2xconnect=1): Dial uses HTTP/1.1.
func TestHTTP2FallsBackWithoutExtendedConnect(t *testing.T) {
	if os.Getenv(plainH2ServerEnv) != "" {
		servePlainH2(t)
		return
	}
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestHTTP2FallsBackWithoutExtendedConnect$")
	cmd.Env = append(os.Environ(), plainH2ServerEnv+"=1", "GODEBUG=")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close() // ends the server
	url, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("server process: %v", err)
	}
	go io.Copy(io.Discard, stdout)
	h := newH2Client(t)
	c, resp, err := Dial(context.Background(), strings.TrimSpace(url), &DialOptions{HTTP2: h, TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("answer %s, want 101 over HTTP/1.1", resp.Status)
	}
	echoOnce(t, c, []byte("x"))
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
}

// servePlainH2 serves an echo over HTTP/2 and HTTP/1.1, prints its URL,
// and returns when stdin closes.
func servePlainH2(t *testing.T) {
	if ExtendedConnectEnabled() {
		t.Fatal("extended CONNECT is on in the server process")
	}
	srv := httptest.NewUnstartedServer(plainEcho)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	fmt.Println("wss" + strings.TrimPrefix(srv.URL, "https"))
	io.Copy(io.Discard, os.Stdin)
}
