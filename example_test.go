package websock_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/websock/websock"
)

// An echo server in a plain http.Handler, and a client talking to it.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websock.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			c.Write(r.Context(), typ, msg)
		}
	}))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := websock.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	c.Write(ctx, websock.TextMessage, []byte("hello"))
	typ, msg, _ := c.Read(ctx)
	fmt.Println(typ, string(msg))
	fmt.Println(c.Close(websock.StatusNormalClosure, "bye"))
	// Output:
	// text hello
	// <nil>
}

// Subprotocol negotiation and a hook that checks a token before the
// upgrade and adds a response header.
func ExampleAcceptOptions() {
	opts := &websock.AcceptOptions{
		Subprotocols: []string{"chat.v2", "chat.v1"},
		RequestHooks: []websock.RequestHook{func(r *http.Request, respHeader http.Header) error {
			if r.Header.Get("Authorization") != "Bearer secret" {
				return websock.Reject(http.StatusUnauthorized, "missing or wrong token")
			}
			respHeader.Set("X-Welcome", "yes")
			return nil
		}},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websock.Accept(w, r, opts)
		if err != nil {
			return
		}
		c.Close(websock.StatusNormalClosure, "")
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	ctx := context.Background()
	_, _, err := websock.Dial(ctx, url, nil)
	fmt.Println(err)

	c, resp, err := websock.Dial(ctx, url, &websock.DialOptions{
		Header:       http.Header{"Authorization": {"Bearer secret"}},
		Subprotocols: []string{"chat.v1", "chat.v2"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseNow()
	fmt.Println(c.Subprotocol(), resp.Header.Get("X-Welcome"))
	// Output:
	// websock: handshake refused with 401 Unauthorized: missing or wrong token
	// chat.v2 yes
}

// Streaming a large message as fragments with Writer, and reading it back
// with Reader without holding it whole.
func ExampleConn_Writer() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websock.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, rd, err := c.Reader(r.Context())
		if err != nil {
			return
		}
		n, _ := io.Copy(io.Discard, rd)
		c.Write(r.Context(), websock.TextMessage, []byte(fmt.Sprintf("got %d bytes of %v", n, typ)))
		c.Read(r.Context()) // wait for the client's close
	}))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := websock.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	w, _ := c.Writer(ctx, websock.BinaryMessage)
	for i := 0; i < 100; i++ {
		w.Write(make([]byte, 10_000))
	}
	w.Close()
	_, msg, _ := c.Read(ctx)
	fmt.Println(string(msg))
	c.Close(websock.StatusNormalClosure, "")
	// Output:
	// got 1000000 bytes of binary
}

// A server whose connections each run in their own goroutine (the HTTP
// handler returns at once), tracked for a graceful shutdown that closes
// them with 1001.
func ExampleHandler() {
	var tracker websock.ConnSet
	echo := func(ctx context.Context, c *websock.Conn, r *http.Request) {
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			c.Write(ctx, typ, msg)
		}
	}
	srv := httptest.NewServer(websock.Handler(&websock.AcceptOptions{ConnSet: &tracker}, echo))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := websock.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	c.Write(ctx, websock.TextMessage, []byte("hi"))
	_, msg, _ := c.Read(ctx)
	fmt.Println(string(msg), tracker.Len())
	done := make(chan error)
	go func() { _, _, err := c.Read(ctx); done <- err }()
	fmt.Println(tracker.Shutdown(ctx))
	code := websock.CloseStatus(<-done)
	fmt.Println(int(code), code)
	// Output:
	// hi 1
	// <nil>
	// 1001 going away
}

// Counting what the connections of a server do, for a monitoring system to
// read with Snapshot (at a scrape, say).
func ExampleMetrics() {
	var metrics websock.Metrics
	opts := &websock.AcceptOptions{ConnOptions: websock.ConnOptions{Metrics: &metrics}}
	ended := make(chan struct{})
	srv := httptest.NewServer(websock.Handler(opts, func(ctx context.Context, c *websock.Conn, _ *http.Request) {
		defer close(ended)
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			c.Write(ctx, typ, msg)
		}
	}))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := websock.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	c.Write(ctx, websock.TextMessage, []byte("hello"))
	c.Read(ctx)
	c.Close(websock.StatusNormalClosure, "")
	<-ended

	s := metrics.Snapshot()
	fmt.Println("connections opened:", s.ServerOpened, "open:", s.ServerOpened-s.ServerClosed)
	fmt.Printf("text received: %+v\n", s.Received[websock.TextMessage])
	fmt.Println("close codes received:", s.CloseReceived)
	// Output:
	// connections opened: 1 open: 0
	// text received: {Messages:1 PayloadBytes:5 WireBytes:5}
	// close codes received: map[normal closure:1]
}
