package websock

import (
	"context"
	"net/http"
)

// Handler returns an http.Handler that accepts WebSocket connections with
// opts and runs serve for each one in a goroutine of its own, after the
// HTTP handler has returned. That frees net/http's buffers and state for
// the request (about 16 KiB) for the life of the connection, which matters
// with many mostly idle connections. serve gets the request (its context is
// already done) and a context that keeps the request's values but is never
// cancelled; the connection is closed at once when serve returns.
//
// Over HTTP/2 (RFC 8441) the connection is a stream of the request, which
// ends when the HTTP handler returns: serve then runs in the HTTP handler,
// and the request's context is done only when serve has returned.
func Handler(opts *AcceptOptions, serve func(ctx context.Context, c *Conn, r *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, opts)
		if err != nil {
			return
		}
		ctx := context.WithoutCancel(r.Context())
		if r.ProtoMajor == 2 {
			defer c.CloseNow()
			serve(ctx, c, r)
			return
		}
		go func() {
			defer c.CloseNow()
			serve(ctx, c, r)
		}()
	})
}
