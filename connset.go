package websock

import (
	"context"
	"net/http"
	"sync"
)

// A ConnSet keeps track of server connections until they end, so that a
// server can cap their number and close them all on shutdown. Connections
// accepted with AcceptOptions.ConnSet set are tracked. The zero value is
// ready to use and has no cap.
type ConnSet struct {
	// MaxConns is the largest number of open connections, handshakes in
	// progress included; Accept refuses more with 503 Service Unavailable.
	// 0 means no cap.
	MaxConns int

	mu       sync.Mutex
	conns    map[*Conn]struct{}
	pending  int // handshakes in progress
	shutdown bool
	changed  chan struct{} // closed and renewed whenever a connection ends
}

// unreserve ends a handshake started after reserve that failed.
func (t *ConnSet) unreserve() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending--
	t.notifyLocked()
}

// add turns the reservation of a handshake into a connection, counted
// once, unless it has already closed.
func (t *ConnSet) add(c *Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending--
	t.conns[c] = struct{}{}
	if c.tcpClosed.Load() {
		delete(t.conns, c) // closed before it could be added
	}
	t.notifyLocked()
}

// closing reports whether Shutdown has begun.
func (t *ConnSet) closing() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.shutdown
}

func (t *ConnSet) reserve() *HandshakeError {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conns == nil {
		t.conns = map[*Conn]struct{}{}
	}
	switch {
	case t.shutdown:
		return &HandshakeError{Status: http.StatusServiceUnavailable, Reason: "server shutting down"}
	case t.MaxConns > 0 && len(t.conns)+t.pending >= t.MaxConns:
		return &HandshakeError{Status: http.StatusServiceUnavailable, Reason: "too many connections"}
	}
	t.pending++
	return nil
}

func (t *ConnSet) remove(c *Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.conns, c)
	t.notifyLocked()
}

// notifyLocked wakes Shutdown to look at the connections again.
func (t *ConnSet) notifyLocked() {
	if t.changed != nil {
		close(t.changed)
		t.changed = make(chan struct{})
	}
}

// Len returns the number of open connections.
func (t *ConnSet) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// Shutdown refuses new connections, closes every open one with status 1001
// (going away) and waits for their closing handshakes. When ctx is done
// first, the remaining connections are closed at once and ctx's error is
// returned.
func (t *ConnSet) Shutdown(ctx context.Context) error {
	t.mu.Lock()
	t.shutdown = true
	if t.changed == nil {
		t.changed = make(chan struct{})
	}
	conns := make([]*Conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		go c.Close(StatusGoingAway, "server shutting down")
	}
	for {
		t.mu.Lock()
		n, changed := len(t.conns)+t.pending, t.changed
		t.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.mu.Lock()
			for c := range t.conns {
				go c.CloseNow()
			}
			t.mu.Unlock()
			return ctx.Err()
		}
	}
}
