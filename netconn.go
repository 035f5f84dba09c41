package websock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// NetConn returns a net.Conn over the messages of c, for code that speaks
// a byte stream (a TLS or SSH session, a line protocol, io.Copy):
//
//   - Read reads the payload of the incoming messages of type typ one
//     after the other, as one stream. A message of the other type fails
//     the connection with status 1003 (unsupported data). The peer's
//     close frame with StatusNormalClosure, StatusGoingAway or no status
//     reads as io.EOF; other ends as the connection reports them.
//   - Write sends p as one message of type typ. With TextMessage, each
//     Write must be valid UTF-8 on its own.
//   - SetDeadline, SetReadDeadline and SetWriteDeadline bound the calls
//     (also those already blocked); a call that passes its deadline
//     returns an error that wraps os.ErrDeadlineExceeded. A read stopped
//     by its deadline loses nothing: the next Read continues the stream.
//     A write stopped inside a frame closes the connection, as for Write.
//   - Close performs the closing handshake with StatusNormalClosure; a
//     second Close returns net.ErrClosed.
//
// ctx bounds every call, like the context given to Read and Write.
func NetConn(ctx context.Context, c *Conn, typ MessageType) net.Conn {
	n := &netConn{c: c, ctx: ctx, typ: typ}
	n.readDeadline.init()
	n.writeDeadline.init()
	return n
}

var errUnexpectedType = errors.New("websock: unexpected message type")

type netConn struct {
	c   *Conn
	ctx context.Context
	typ MessageType

	readDeadline  deadline
	writeDeadline deadline
	closed        atomic.Bool

	// Guarded by the connection's read semaphore.
	gen     uint64 // number of the message being read
	reading bool   // a message of gen is being read
}

func (n *netConn) Read(p []byte) (int, error) {
	ctx, done := n.readDeadline.bound(n.ctx)
	defer done()
	var got int
	err := n.c.readOp(ctx, func() error {
		c, m := n.c, &n.c.msg
		for {
			if !n.reading || m.gen != n.gen || !m.active {
				if err := c.beginMessage(); err != nil {
					return err
				}
				if m.typ != n.typ {
					return c.fail(StatusUnsupportedData, errUnexpectedType, fmt.Sprintf("%v message on a stream of %v messages", m.typ, n.typ))
				}
				n.gen, n.reading = m.gen, true
			}
			k, err := m.read(p)
			got += k
			switch {
			case err == io.EOF:
				n.reading = false
				if k > 0 || len(p) == 0 {
					return nil
				}
			case err != nil && k > 0:
				return nil // report the bytes; the error comes again next call
			default:
				return err
			}
		}
	})
	return got, n.streamError(ctx, err)
}

func (n *netConn) Write(p []byte) (int, error) {
	ctx, done := n.writeDeadline.bound(n.ctx)
	defer done()
	if err := n.c.Write(ctx, n.typ, p); err != nil {
		return 0, n.streamError(ctx, err)
	}
	return len(p), nil
}

// streamError maps err to what a net.Conn reports: io.EOF for a normal
// end, an error wrapping os.ErrDeadlineExceeded when ctx ended at a
// deadline.
func (n *netConn) streamError(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case IsCloseError(err, StatusNormalClosure, StatusGoingAway, StatusNoStatus):
		return io.EOF
	case errors.Is(err, context.Canceled) && errors.Is(context.Cause(ctx), os.ErrDeadlineExceeded):
		return fmt.Errorf("websock: %w", os.ErrDeadlineExceeded)
	}
	return err
}

func (n *netConn) Close() error {
	if n.closed.Swap(true) {
		return net.ErrClosed
	}
	err := n.c.Close(StatusNormalClosure, "")
	if errors.Is(err, ErrClosed) {
		return net.ErrClosed
	}
	return err
}

func (n *netConn) LocalAddr() net.Addr  { return n.c.LocalAddr() }
func (n *netConn) RemoteAddr() net.Addr { return n.c.RemoteAddr() }

func (n *netConn) SetDeadline(t time.Time) error {
	n.readDeadline.set(t)
	n.writeDeadline.set(t)
	return nil
}

func (n *netConn) SetReadDeadline(t time.Time) error  { n.readDeadline.set(t); return nil }
func (n *netConn) SetWriteDeadline(t time.Time) error { n.writeDeadline.set(t); return nil }

// deadline is one direction's deadline: expired is closed while the
// deadline has passed, so that calls blocked on it see a change at once.
type deadline struct {
	mu      sync.Mutex
	timer   *time.Timer
	expired chan struct{}
}

func (d *deadline) init() { d.expired = make(chan struct{}) }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.expired // the timer has fired or is closing expired
	}
	d.timer = nil
	isExpired := isClosed(d.expired)
	if t.IsZero() || time.Until(t) > 0 {
		if isExpired {
			d.expired = make(chan struct{})
		}
		if !t.IsZero() {
			ch := d.expired
			d.timer = time.AfterFunc(time.Until(t), func() { close(ch) })
		}
		return
	}
	if !isExpired {
		close(d.expired)
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// bound returns a context that ends with parent or when the deadline
// passes (its cause then os.ErrDeadlineExceeded), and the function that
// releases it.
func (d *deadline) bound(parent context.Context) (context.Context, func()) {
	d.mu.Lock()
	expired := d.expired
	d.mu.Unlock()
	ctx, cancel := context.WithCancelCause(parent)
	if isClosed(expired) {
		cancel(os.ErrDeadlineExceeded)
		return ctx, func() {}
	}
	stop := make(chan struct{})
	go func() {
		select {
		case <-expired:
			cancel(os.ErrDeadlineExceeded)
		case <-stop:
		}
	}()
	return ctx, func() {
		close(stop)
		cancel(nil)
	}
}
