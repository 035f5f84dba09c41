package websock

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// extendedConnect sends an extended CONNECT built by edit to srv and
// returns the status and the first line of the body.
func extendedConnect(t *testing.T, srv *h2Server, method string, edit func(http.Header)) (int, string) {
	t.Helper()
	u, _ := url.Parse(srv.URL + "/")
	header := http.Header{":protocol": {"websocket"}, "Sec-Websocket-Version": {"13"}}
	if edit != nil {
		edit(header)
	}
	pr, pw := io.Pipe()
	defer pw.Close()
	req := &http.Request{Method: method, URL: u, Host: u.Host, Header: header, Body: pr}
	if method != http.MethodConnect {
		req.Body = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := newH2Client(t).transport().RoundTrip(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return resp.StatusCode, firstLine(body)
}

// TestHTTP2RefusedHandshakes: requests that are not a WebSocket handshake
// over HTTP/2 get the status that says why, and no connection.
func TestHTTP2RefusedHandshakes(t *testing.T) {
	t.Parallel()
	refuse := func(r *http.Request, _ http.Header) error {
		if r.Header.Get("X-Refuse") != "" {
			return &HandshakeError{Status: http.StatusUnauthorized, Reason: "no token"}
		}
		return nil
	}
	srv := newH2Server(t, Handler(&AcceptOptions{RequestHooks: []RequestHook{refuse}}, func(ctx context.Context, c *Conn, r *http.Request) {
		t.Errorf("connection accepted from %v", r.Header)
	}))
	tests := []struct {
		name   string
		method string
		edit   func(http.Header)
		status int
		reason string
	}{
		{"GET", http.MethodGet, func(h http.Header) { h.Del(":protocol") }, http.StatusBadRequest, "extended CONNECT"},
		{"other protocol", http.MethodConnect, func(h http.Header) { h.Set(":protocol", "webtransport") }, http.StatusBadRequest, "unsupported :protocol"},
		{"version 8", http.MethodConnect, func(h http.Header) { h.Set("Sec-Websocket-Version", "8") }, http.StatusUpgradeRequired, "Sec-WebSocket-Version"},
		{"no version", http.MethodConnect, func(h http.Header) { h.Del("Sec-Websocket-Version") }, http.StatusUpgradeRequired, "Sec-WebSocket-Version"},
		{"foreign origin", http.MethodConnect, func(h http.Header) { h.Set("Origin", "https://evil.example") }, http.StatusForbidden, "not allowed"},
		{"hook", http.MethodConnect, func(h http.Header) { h.Set("X-Refuse", "1") }, http.StatusUnauthorized, "no token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, reason := extendedConnect(t, srv, tt.method, tt.edit)
			if status != tt.status || !strings.Contains(reason, tt.reason) {
				t.Fatalf("got %d %q, want %d with %q", status, reason, tt.status, tt.reason)
			}
		})
	}
	// The client reports the refusal as a *HandshakeError.
	_, resp, err := Dial(context.Background(), srv.wsURL(), &DialOptions{HTTP2: newH2Client(t), Header: http.Header{"X-Refuse": {"1"}}})
	var he *HandshakeError
	if !errors.As(err, &he) || he.Status != http.StatusUnauthorized || resp == nil || resp.ProtoMajor != 2 {
		t.Fatalf("refused dial: %v", err)
	}
}

// TestHTTP2Subprotocol: the subprotocol is chosen as over HTTP/1.1.
func TestHTTP2Subprotocol(t *testing.T) {
	t.Parallel()
	srv := newH2Server(t, Handler(&AcceptOptions{Subprotocols: []string{"v2", "v1"}}, func(ctx context.Context, c *Conn, r *http.Request) {
		c.Write(ctx, TextMessage, []byte(c.Subprotocol()))
		c.Read(ctx)
	}))
	c, _, err := Dial(context.Background(), srv.wsURL(), &DialOptions{HTTP2: newH2Client(t), Subprotocols: []string{"v1", "v2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	_, msg, err := c.Read(context.Background())
	if err != nil || string(msg) != "v2" || c.Subprotocol() != "v2" {
		t.Fatalf("subprotocol %q, server says %q (%v)", c.Subprotocol(), msg, err)
	}
}

// h2Pair dials srv, whose handler hands its side of each connection to the
// test, and returns both sides.
func h2Pair(t *testing.T, opts *AcceptOptions, dopts *DialOptions) (server, client *Conn) {
	t.Helper()
	conns := make(chan *Conn, 1)
	srv := newH2Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, opts)
		if err != nil {
			return
		}
		conns <- c
		// The stream lasts as long as the handler.
		<-c.closed.C()
	}))
	if dopts == nil {
		dopts = &DialOptions{}
	}
	dopts.HTTP2 = newH2Client(t)
	client, _, err := Dial(context.Background(), srv.wsURL(), dopts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.CloseNow() })
	server = <-conns
	t.Cleanup(func() { server.CloseNow() })
	return server, client
}

// TestHTTP2ReadInterruptedMidMessage: a read whose context ends inside a
// message returns no data; the stream stays usable and the next read
// returns the whole message.
func TestHTTP2ReadInterruptedMidMessage(t *testing.T) {
	t.Parallel()
	server, client := h2Pair(t, nil, nil)
	ctx := context.Background()
	w, err := server.Writer(ctx, BinaryMessage)
	if err != nil {
		t.Fatal(err)
	}
	first := pattern(5000, 1)
	if _, err := w.Write(first); err != nil {
		t.Fatal(err)
	}
	if f, ok := w.(interface{ Flush() error }); ok {
		if err := f.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, _, err := client.Read(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read of half a message: %v, want the context's error", err)
	}
	second := pattern(7000, 2)
	if _, err := w.Write(second); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, msg, err := client.Read(ctx)
	if err != nil || len(msg) != len(first)+len(second) || string(msg[:len(first)]) != string(first) {
		t.Fatalf("after the interruption: %d bytes, %v", len(msg), err)
	}
	echoBack := pattern(300, 3)
	if err := client.Write(ctx, TextMessage, echoBack); err != nil {
		t.Fatal(err)
	}
	if _, got, err := server.Read(ctx); err != nil || string(got) != string(echoBack) {
		t.Fatalf("server read %q, %v", got, err)
	}
}

// TestHTTP2CloseHandshake closes from either side: both see the other's
// close frame, and Close returns nil once the stream has ended.
func TestHTTP2CloseHandshake(t *testing.T) {
	t.Parallel()
	for _, clientFirst := range []bool{true, false} {
		t.Run(map[bool]string{true: "client", false: "server"}[clientFirst], func(t *testing.T) {
			t.Parallel()
			server, client := h2Pair(t, nil, nil)
			closer, other := server, client
			if clientFirst {
				closer, other = client, server
			}
			done := make(chan error, 1)
			go func() { done <- closer.Close(StatusGoingAway, "bye") }()
			_, _, err := other.Read(context.Background())
			var ce *CloseError
			if !errors.As(err, &ce) || ce.Code != StatusGoingAway || ce.Reason != "bye" {
				t.Fatalf("peer read %v, want close 1001 bye", err)
			}
			if err := <-done; err != nil {
				t.Fatalf("Close: %v", err)
			}
			<-other.closed.C()
		})
	}
}

// TestHTTP2ReadLimit: a message over the limit fails the connection with
// 1009, over HTTP/2 as over TCP.
func TestHTTP2ReadLimit(t *testing.T) {
	t.Parallel()
	server, client := h2Pair(t, &AcceptOptions{ConnOptions: ConnOptions{ReadLimit: 1000}}, nil)
	ctx := context.Background()
	go client.Write(ctx, BinaryMessage, pattern(1001, 0))
	if _, _, err := server.Read(ctx); !errors.Is(err, ErrMessageTooBig) {
		t.Fatalf("server read %v, want ErrMessageTooBig", err)
	}
	_, _, err := client.Read(ctx)
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusMessageTooBig {
		t.Fatalf("client read %v, want close 1009", err)
	}
}

// TestHTTP2WriteTimeout: a peer that stops reading makes writes fail with
// ErrWriteTimeout once HTTP/2 flow control stops them.
func TestHTTP2WriteTimeout(t *testing.T) {
	t.Parallel()
	server, _ := h2Pair(t, &AcceptOptions{ConnOptions: ConnOptions{WriteTimeout: 500 * time.Millisecond}}, nil)
	msg := pattern(1<<20, 0)
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if err := server.Write(context.Background(), BinaryMessage, msg); err != nil {
			if !errors.Is(err, ErrWriteTimeout) {
				t.Fatalf("write: %v, want ErrWriteTimeout", err)
			}
			return
		}
	}
	t.Fatal("writes to a peer that does not read never stopped")
}

// TestHTTP2WriteContext: a write blocked by flow control returns when its
// context ends, and the connection is closed.
func TestHTTP2WriteContext(t *testing.T) {
	t.Parallel()
	_, client := h2Pair(t, nil, nil)
	msg := pattern(1<<20, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for {
		err := client.Write(ctx, BinaryMessage, msg)
		if err == nil {
			continue
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("write: %v, want the context's error", err)
		}
		break
	}
	if err := client.Write(context.Background(), BinaryMessage, msg); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after a cut frame: %v, want ErrClosed", err)
	}
}

// TestHTTP2HandlerReturnEndsStream: a handler that returns while its
// connection is open ends the stream: the client sees the connection
// lost, and the server's writes fail.
func TestHTTP2HandlerReturnEndsStream(t *testing.T) {
	t.Parallel()
	accepted := make(chan *Conn, 1)
	srv := newH2Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		if err == nil {
			accepted <- c
		}
	}))
	client, _, err := Dial(context.Background(), srv.wsURL(), &DialOptions{HTTP2: newH2Client(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseNow()
	server := <-accepted
	if _, _, err := client.Read(context.Background()); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("client read %v, want the connection lost (1006)", err)
	}
	if err := server.Write(context.Background(), TextMessage, []byte("late")); err == nil {
		t.Fatal("write after the handler returned succeeded")
	}
}

// TestHTTP2StalledStreamLeavesOthers: a WebSocket whose server does not
// read holds at most its stream's flow-control window; with room for
// several in the connection's window, the other WebSockets on the
// connection keep flowing.
func TestHTTP2StalledStreamLeavesOthers(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	srv := newH2Server(t, Handler(nil, func(ctx context.Context, c *Conn, r *http.Request) {
		if r.URL.Path == "/stalled" {
			<-release // never reads
			return
		}
		echoAll(ctx, c)
	}), func(s *http.Server) {
		s.HTTP2 = &http.HTTP2Config{MaxReceiveBufferPerStream: 256 << 10, MaxReceiveBufferPerConnection: 4 << 20}
	})
	opts := &DialOptions{HTTP2: newH2Client(t)}
	stalled, _, err := Dial(context.Background(), srv.wsURL()+"/stalled", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.CloseNow()
	// Fill the stalled stream's window: the write blocks until its
	// context ends.
	writeCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := stalled.Write(writeCtx, BinaryMessage, pattern(1<<20, 0)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write to a stream nobody reads: %v, want the context's error", err)
	}
	other, _, err := Dial(context.Background(), srv.wsURL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer other.CloseNow()
	echoOnce(t, other, pattern(1<<20, 1))
	if n := srv.conns.Load(); n != 1 {
		t.Fatalf("%d TCP connections, want both WebSockets on one", n)
	}
}

// flushOnlyWriter wraps a ResponseWriter as some middlewares do: it can
// flush, but has neither deadlines nor Unwrap.
type flushOnlyWriter struct {
	w http.ResponseWriter
}

// Header returns the wrapped ResponseWriter's header.
func (f flushOnlyWriter) Header() http.Header { return f.w.Header() }

// Write writes to the wrapped ResponseWriter.
func (f flushOnlyWriter) Write(p []byte) (int, error) { return f.w.Write(p) }

// WriteHeader writes the wrapped ResponseWriter's header.
func (f flushOnlyWriter) WriteHeader(status int) { f.w.WriteHeader(status) }

// Flush flushes the wrapped ResponseWriter.
func (f flushOnlyWriter) Flush() { f.w.(http.Flusher).Flush() }

// TestHTTP2AcceptNeedsDeadlines: over HTTP/2, a ResponseWriter without
// deadlines would leave the connection to the server's timeouts and its
// blocked writes uninterruptible, so the handshake fails before the 200:
// the client gets a 500, Accept an error that says why, and the ConnSet
// gives the handshake's place back (a second try is not refused as over
// the cap of one).
func TestHTTP2AcceptNeedsDeadlines(t *testing.T) {
	t.Parallel()
	set := &ConnSet{MaxConns: 1}
	accepted := make(chan error, 1)
	srv := newH2Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(flushOnlyWriter{w}, r, &AcceptOptions{ConnSet: set})
		if c != nil {
			c.CloseNow()
		}
		accepted <- err
	}))
	for try := range 2 {
		_, resp, err := Dial(context.Background(), srv.wsURL(), &DialOptions{HTTP2: newH2Client(t)})
		var he *HandshakeError
		if !errors.As(err, &he) || he.Status != http.StatusInternalServerError || !strings.Contains(he.Reason, "cannot be upgraded") {
			t.Fatalf("dial %d: %v, want a 500 saying the connection cannot be upgraded", try, err)
		}
		if resp == nil || resp.ProtoMajor != 2 {
			t.Fatalf("dial %d: response %v, want one over HTTP/2", try, resp)
		}
		err = <-accepted
		if !errors.Is(err, http.ErrNotSupported) || !strings.Contains(err.Error(), "websock: accept: HTTP/2 stream: cannot clear deadlines") {
			t.Fatalf("Accept %d: %v, want the deadlines' http.ErrNotSupported", try, err)
		}
	}
	if n := set.Len(); n != 0 {
		t.Fatalf("ConnSet holds %d connections after failed handshakes", n)
	}
}
