package websock

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestConnSetCapsConnections(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		tr := &ConnSet{MaxConns: 2}
		srv, _ := m.echo(t, false, &AcceptOptions{ConnSet: tr})
		a := dialEcho(t, urlOf(srv.URL), nil)
		dialEcho(t, urlOf(srv.URL), nil)
		_, _, err := Dial(context.Background(), urlOf(srv.URL), nil)
		var he *HandshakeError
		if !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable {
			t.Fatalf("third connection: %v, want 503", err)
		}
		// Once one closes (the server drops it from the count before closing
		// TCP, which Close waits for), there is room again.
		if err := a.Close(StatusNormalClosure, ""); err != nil {
			t.Fatal(err)
		}
		if tr.Len() != 1 {
			t.Fatalf("the ConnSet counts %d connections after a close, want 1", tr.Len())
		}
		dialEcho(t, urlOf(srv.URL), nil)
	})
}

func TestConnSetShutdown(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		var tr ConnSet
		srv, _ := m.echo(t, false, &AcceptOptions{ConnSet: &tr})
		ctx := context.Background()
		results := make(chan error, 3)
		for i := 0; i < 3; i++ {
			c := dialEcho(t, urlOf(srv.URL), nil)
			if err := c.Write(ctx, TextMessage, []byte("hi")); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.Read(ctx); err != nil {
				t.Fatal(err)
			}
			go func() { _, _, err := c.Read(ctx); results <- err }()
		}
		if tr.Len() != 3 {
			t.Fatalf("Len = %d", tr.Len())
		}
		sctx, cancel := context.WithTimeout(ctx, hangGuard)
		defer cancel()
		if err := tr.Shutdown(sctx); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if err := <-results; CloseStatus(err) != StatusGoingAway {
				t.Fatalf("client got %v, want 1001", err)
			}
		}
		if tr.Len() != 0 {
			t.Fatalf("Len after shutdown = %d", tr.Len())
		}
		_, _, err := Dial(ctx, urlOf(srv.URL), nil)
		var he *HandshakeError
		if !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable {
			t.Fatalf("dial after shutdown: %v, want 503", err)
		}
	})
}

// TestConnSetShutdownBounded: a peer that never answers the close is cut off
// when the context ends.
func TestConnSetShutdownBounded(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		var tr ConnSet
		srv, _ := m.echo(t, false, &AcceptOptions{ConnSet: &tr})
		raw := dialRaw(t, srv)
		raw.send(true, 1, []byte("x"))
		raw.expectMessage(1, []byte("x")) // the connection is registered
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := tr.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown: %v", err)
		}
		raw.expectClose(StatusGoingAway)
	})
}
