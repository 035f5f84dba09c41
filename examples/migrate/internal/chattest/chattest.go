// Package chattest checks the chat servers of the migration examples: they
// all speak the same protocol. A client that joins receives "joined",
// sent to everyone once it is in the room (itself first); every text
// message a client sends goes to everyone, itself included; a client that
// leaves is announced with "left".
package chattest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/websock/websock"
)

// hangGuard bounds each step, so that a broken server fails the test
// instead of hanging it.
const hangGuard = 10 * time.Second

// Serve runs h on a test server and returns the ws:// URL of path on it.
func Serve(t *testing.T, h http.Handler, path string) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + path
}

// Run checks the chat server at url with two clients.
func Run(t *testing.T, url string) {
	t.Helper()
	a := join(t, url)
	b := join(t, url)
	expect(t, a, "joined") // b's arrival
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	if err := a.Write(ctx, websock.TextMessage, []byte("hello, room")); err != nil {
		t.Fatal(err)
	}
	expect(t, a, "hello, room")
	expect(t, b, "hello, room")
	if err := b.Write(ctx, websock.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	expect(t, b, "hi")
	expect(t, a, "hi")
	if err := b.Close(websock.StatusNormalClosure, "bye"); err != nil {
		t.Fatal(err)
	}
	expect(t, a, "left")
	if err := a.Close(websock.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
}

// join connects a client and waits until it is in the room.
func join(t *testing.T, url string) *websock.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	c, _, err := websock.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	expect(t, c, "joined")
	return c
}

// expect reads the next message from c and checks it is want.
func expect(t *testing.T, c *websock.Conn, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	typ, msg, err := c.Read(ctx)
	if err != nil || typ != websock.TextMessage || string(msg) != want {
		t.Fatalf("got %v %q %v, want the text message %q", typ, msg, err, want)
	}
}
