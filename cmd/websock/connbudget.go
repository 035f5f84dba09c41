package main

import (
	"container/list"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// connBudget caps the TCP connections open at once on the serve command's
// listeners, whatever they carry: WebSocket connections, handshakes, plain
// HTTP requests and idle keep-alive connections. When the cap is reached,
// the longest-idle keep-alive connection is closed to make room; when none
// is idle, accepting waits until a connection closes or goes idle (new
// clients wait in the kernel's backlog meanwhile). Running out of file
// descriptors is handled the same way, and logged at most once a minute
// rather than once per failed accept.
type connBudget struct {
	max int // 0: no cap
	log *slog.Logger

	mu        sync.Mutex
	open      int           // connections accepted and not closed
	accepting int           // places reserved for accepts in progress
	idle      list.List     // of *budgetConn, longest idle first
	freed     chan struct{} // closed and renewed when a connection closes or goes idle
	capLogged bool          // the cap was reached with nothing idle, and it was logged

	// Lack of file descriptors: logged at most once per
	// starvationLogInterval, and its end once after each such line.
	starvedLogged time.Time // when it was last logged
	failures      int       // accepts failed for lack of descriptors since then
	failuresTotal int       // accepts failed for lack of descriptors, ever
	recovery      bool      // logged, and no accept has succeeded since
}

// starvationLogInterval is the least time between two log lines about a
// lack of file descriptors.
const starvationLogInterval = time.Minute

func newConnBudget(max int, logger *slog.Logger) *connBudget {
	return &connBudget{max: max, log: logger, freed: make(chan struct{})}
}

// budgetConn is a connection counted by a connBudget until it is closed.
type budgetConn struct {
	net.Conn
	b      *connBudget
	idleAt *list.Element // guarded by b.mu; nil unless idle
	closed bool          // guarded by b.mu
}

// Close frees the connection's place in the budget and closes it. The place
// is freed first, so that a peer that sees the end and connects again finds
// it free.
func (c *budgetConn) Close() error {
	c.b.release(c)
	return c.Conn.Close()
}

// listener wraps ln so that its connections are counted by b.
func (b *connBudget) listener(ln net.Listener) net.Listener {
	return &budgetListener{Listener: ln, b: b, done: make(chan struct{})}
}

// budgetListener accepts connections within a connBudget.
type budgetListener struct {
	net.Listener
	b         *connBudget
	done      chan struct{}
	closeOnce sync.Once
}

// Accept waits for room in the budget, then for a connection. Failures
// for lack of file descriptors are not returned: it frees an idle
// connection if it can, waits and tries again.
func (l *budgetListener) Accept() (net.Conn, error) {
	var backoff time.Duration
	for {
		if err := l.b.reserve(l.done); err != nil {
			return nil, err
		}
		nc, err := l.Listener.Accept()
		if err == nil {
			return l.b.accepted(nc), nil
		}
		l.b.unreserve()
		if !outOfDescriptors(err) {
			return nil, err
		}
		if l.b.starving(err) {
			continue // an idle connection was closed: its descriptor is free
		}
		backoff = min(max(2*backoff, 5*time.Millisecond), 250*time.Millisecond)
		if err := l.b.wait(l.done, backoff); err != nil {
			return nil, err
		}
	}
}

// Close stops accepting; a waiting Accept returns net.ErrClosed.
func (l *budgetListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// outOfDescriptors reports whether an accept failed because the process or
// the system has no file descriptor left.
func outOfDescriptors(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// reserve takes a place for the next connection, closing the longest-idle
// keep-alive connection if the budget is full, or waiting until a
// connection closes or goes idle if none is.
func (b *connBudget) reserve(done <-chan struct{}) error {
	for {
		b.mu.Lock()
		if b.max <= 0 || b.open+b.accepting < b.max {
			b.accepting++
			b.capLogged = false
			b.mu.Unlock()
			return nil
		}
		victim := b.takeIdleLocked()
		freed := b.freed
		logCap := victim == nil && !b.capLogged
		b.capLogged = b.capLogged || logCap
		b.mu.Unlock()
		if victim != nil {
			victim.Close()
			continue
		}
		if logCap {
			b.log.Warn("connection cap reached, none idle: new connections wait for one to end", "max_tcp_conns", b.max)
		}
		select {
		case <-freed:
		case <-done:
			return net.ErrClosed
		}
	}
}

// unreserve gives back a place taken by reserve for an accept that failed.
func (b *connBudget) unreserve() {
	b.mu.Lock()
	b.accepting--
	b.notifyLocked()
	b.mu.Unlock()
}

// accepted wraps a newly accepted connection, whose place is reserved, and
// logs the end of a lack of descriptors.
func (b *connBudget) accepted(nc net.Conn) net.Conn {
	b.mu.Lock()
	b.accepting--
	b.open++
	recovered := b.recovery
	b.recovery = false
	b.mu.Unlock()
	if recovered {
		b.log.Info("accepting again: file descriptors available")
	}
	return &budgetConn{Conn: nc, b: b}
}

// starving records an accept that failed for lack of descriptors, logs it
// unless that was done less than starvationLogInterval ago, and closes the
// longest-idle keep-alive connection to free a descriptor. It reports
// whether it closed one.
func (b *connBudget) starving(err error) bool {
	b.mu.Lock()
	b.failures++
	b.failuresTotal++
	failures, open := b.failures, b.open
	report := b.starvedLogged.IsZero() || time.Since(b.starvedLogged) >= starvationLogInterval
	if report {
		b.starvedLogged, b.failures = time.Now(), 0
		b.recovery = true
	}
	victim := b.takeIdleLocked()
	b.mu.Unlock()
	if report {
		b.log.Error("out of file descriptors: closing idle keep-alive connections and accepting again as descriptors free up (logged at most once a minute)",
			"err", err, "failed_accepts", failures, "open_conns", open)
	}
	if victim == nil {
		return false
	}
	victim.Close()
	return true
}

// wait returns after d, or earlier if a connection closes or goes idle.
func (b *connBudget) wait(done <-chan struct{}, d time.Duration) error {
	b.mu.Lock()
	freed := b.freed
	b.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-freed:
	case <-t.C:
	case <-done:
		return net.ErrClosed
	}
	return nil
}

// release frees the place of a closed connection, once.
func (b *connBudget) release(c *budgetConn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	b.open--
	b.removeIdleLocked(c)
	b.notifyLocked()
}

// connState follows net/http's view of each connection (http.Server's
// ConnState hook): only keep-alive connections waiting for their next
// request may be closed to make room.
func (b *connBudget) connState(nc net.Conn, state http.ConnState) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, ok := nc.(*budgetConn)
	if !ok {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case state == http.StateIdle && c.idleAt == nil && !c.closed:
		c.idleAt = b.idle.PushBack(c)
		b.notifyLocked()
	case state != http.StateIdle:
		b.removeIdleLocked(c)
	}
}

// takeIdleLocked removes the longest-idle connection from the idle list
// and returns it, or nil if there is none.
func (b *connBudget) takeIdleLocked() *budgetConn {
	e := b.idle.Front()
	if e == nil {
		return nil
	}
	c := e.Value.(*budgetConn)
	b.removeIdleLocked(c)
	return c
}

func (b *connBudget) removeIdleLocked(c *budgetConn) {
	if c.idleAt != nil {
		b.idle.Remove(c.idleAt)
		c.idleAt = nil
	}
}

// notifyLocked wakes the accepts waiting for a place or a descriptor.
func (b *connBudget) notifyLocked() {
	close(b.freed)
	b.freed = make(chan struct{})
}

// openConns returns the number of connections open.
func (b *connBudget) openConns() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open
}

// descriptorFailures returns the number of accepts that failed for lack of
// file descriptors.
func (b *connBudget) descriptorFailures() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failuresTotal
}
