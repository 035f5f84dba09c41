package main

import (
	"context"
	"net/http"

	"github.com/websock/websock"
)

// A backend serves the WebSocket connections of one route: echo (the
// default) and the others the serve command can route paths to.
type backend interface {
	// name is what the logs call the backend.
	name() string
	// open is called by the HTTP handler once the handshake succeeded,
	// with the upgrade request: it copies from r what it needs and returns
	// the function that serves c. That function runs in its own goroutine
	// after the handler has returned (so net/http frees the request) and
	// returns why the connection ended; the server closes c afterwards.
	open(c *websock.Conn, r *http.Request) func(ctx context.Context) error
}

// A route is a path and the backend that serves its connections.
type route struct {
	path    string
	backend backend
}

// echoBackend sends every message back with its type.
type echoBackend struct {
	budget *websock.Budget // what the echo buffers count against (may be nil)
}

func (echoBackend) name() string { return "echo" }

func (b echoBackend) open(c *websock.Conn, _ *http.Request) func(context.Context) error {
	return func(ctx context.Context) error { return echoLoop(ctx, c, b.budget) }
}
