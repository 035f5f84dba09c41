// Package stream makes a net.Conn of one HTTP/2 stream: the bytes the peer
// sends on it are read from an io.Reader (a request or response body), the
// bytes this side sends go to an io.Writer (a ResponseWriter, or the pipe
// behind a request body).
//
// Deadlines follow net.Conn: a read or write blocked when its deadline
// passes returns an error wrapping os.ErrDeadlineExceeded. A read that
// times out leaves the stream intact, as on TCP: the peer's bytes are
// received by a goroutine of the Conn, which reads the body only while
// nothing it received is waiting to be read, and a blocked Read merely
// stops waiting for it. A write cannot be taken back from HTTP/2, so a
// write blocked at its deadline aborts the stream (the writer's abort
// function), as a write cut short ends a TCP connection's usefulness.
package stream

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// The receiving goroutine reads into a small array of the Conn while the
// stream is quiet, and into a pooled buffer of chunkSize while data
// streams in (the previous read filled its buffer): an idle stream holds
// no pooled buffer.
const (
	smallSize = 256
	chunkSize = 8 << 10
)

var chunks = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// Side is one end's view of a stream.
type Side struct {
	Body   io.ReadCloser // what the peer sends; Close aborts that half
	Writer io.Writer     // where this end's bytes go
	Flush  func() error  // sends what Writer buffered; nil if it buffers nothing
	// Abort makes a blocked write return; the stream cannot be written
	// any more.
	Abort func()
	// CloseWrite ends this end's half of the stream (END_STREAM); nil if
	// only Close can end it.
	CloseWrite func() error
	// Close ends the stream on this side, after Body is closed.
	Close func() error

	Local, Remote net.Addr
}

// Conn is a stream as a net.Conn.
type Conn struct {
	side Side

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced when what a read waits for changes
	data     []byte        // received, not yet read
	rerr     error         // how the body ended, after data
	pumping  bool          // the receiving goroutine runs
	consumed chan struct{} // lets the receiving goroutine read again
	closed   bool
	done     chan struct{} // closed by Close
	rdl      deadline
	wdl      deadline
	writing  bool // a write is in progress
	aborted  bool // the write side was aborted by a deadline
	ended    bool // the HTTP layer ended the stream

	rmu sync.Mutex // one Read at a time
	wmu sync.Mutex // one Write at a time

	closeOnce sync.Once
	closeErr  error

	small [smallSize]byte
}

// deadline is one side's deadline and the timer that enforces it.
type deadline struct {
	t     time.Time
	timer *time.Timer
}

// New returns a Conn over side.
func New(side Side) *Conn {
	return &Conn{
		side:     side,
		changed:  make(chan struct{}),
		consumed: make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
}

// notify wakes a waiting Read; c.mu must be held.
func (c *Conn) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Read reads what the peer sent.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		switch {
		case c.closed:
			return 0, net.ErrClosed
		case len(c.data) > 0:
			if len(p) == 0 {
				return 0, nil
			}
			n := copy(p, c.data)
			c.data = c.data[n:]
			if len(c.data) == 0 && c.rerr == nil {
				c.consumed <- struct{}{}
			}
			return n, nil
		case c.rerr != nil:
			return 0, c.rerr
		case expired(c.rdl.t):
			return 0, timeoutError{}
		}
		if !c.pumping {
			c.pumping = true
			go c.receive()
		}
		ch := c.changed
		c.mu.Unlock()
		<-ch
		c.mu.Lock()
	}
}

// receive reads the body into a buffer of its own, one chunk at a time:
// the next read starts once Read has taken all of the previous one.
func (c *Conn) receive() {
	var pooled *[]byte
	defer func() {
		if pooled != nil {
			chunks.Put(pooled)
		}
	}()
	buf := c.small[:]
	for {
		n, err := c.side.Body.Read(buf)
		c.mu.Lock()
		c.data, c.rerr = buf[:n], err
		c.notify()
		c.mu.Unlock()
		if err != nil {
			if n > 0 {
				pooled = nil // still to be read: the collector frees it
			}
			return
		}
		if n == 0 {
			continue
		}
		select {
		case <-c.consumed:
		case <-c.done:
			return
		}
		switch {
		case n == len(buf) && pooled == nil:
			pooled = chunks.Get().(*[]byte)
			buf = *pooled
		case n < len(buf) && pooled != nil:
			chunks.Put(pooled)
			pooled, buf = nil, c.small[:]
		}
	}
}

// Write sends p and flushes it.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	switch {
	case c.closed || c.ended:
		c.mu.Unlock()
		return 0, net.ErrClosed
	case c.aborted || expired(c.wdl.t):
		c.mu.Unlock()
		return 0, timeoutError{}
	}
	c.writing = true
	c.mu.Unlock()

	n, err := c.write(p)

	c.mu.Lock()
	defer c.mu.Unlock()
	c.writing = false
	switch {
	case err == nil:
		return n, nil
	case c.aborted:
		return n, timeoutError{}
	case c.closed:
		return n, net.ErrClosed
	}
	return n, err
}

// write writes p to the side's writer and flushes it. A ResponseWriter
// whose handler has returned panics; that ends the stream as well.
func (c *Conn) write(p []byte) (n int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("stream: write after the stream ended: %v", r)
		}
	}()
	n, err = c.side.Writer.Write(p)
	if err == nil && c.side.Flush != nil {
		err = c.side.Flush()
	}
	return n, err
}

// End records that the HTTP layer ended the stream (its handler returned,
// or the peer reset it): writes fail from then on, without touching the
// writer.
func (c *Conn) End() {
	c.mu.Lock()
	c.ended = true
	c.mu.Unlock()
}

// Close ends the stream: Body is closed, then the side's Close is called.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.rdl.stop()
		c.wdl.stop()
		c.notify()
		close(c.done)
		writing := c.writing
		c.mu.Unlock()
		if writing && c.side.Abort != nil {
			c.side.Abort()
		}
		c.side.Body.Close()
		if c.side.Close != nil {
			c.closeErr = c.side.Close()
		}
	})
	return c.closeErr
}

// CloseWrite ends this side's half of the stream, if the side can.
func (c *Conn) CloseWrite() error {
	if c.side.CloseWrite == nil {
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.side.CloseWrite()
}

// LocalAddr returns the local address of the connection the stream is on.
func (c *Conn) LocalAddr() net.Addr { return c.side.Local }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.side.Remote }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline; a blocked Read returns when it
// passes, and the stream stays usable.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	c.rdl.set(t, c.wakeReader)
	c.notify()
	return nil
}

func (c *Conn) wakeReader() {
	c.mu.Lock()
	c.notify()
	c.mu.Unlock()
}

// SetWriteDeadline sets the write deadline; a write blocked when it passes
// aborts the stream.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	c.wdl.set(t, c.writeExpired)
	return nil
}

// writeExpired aborts the write in progress, if any, when the write
// deadline has passed.
func (c *Conn) writeExpired() {
	c.mu.Lock()
	abort := c.writing && !c.aborted && !c.closed && expired(c.wdl.t)
	if abort {
		c.aborted = true
	}
	c.mu.Unlock()
	if abort && c.side.Abort != nil {
		c.side.Abort()
	}
}

// set replaces the deadline with t, calling f when it passes.
func (d *deadline) set(t time.Time, f func()) {
	d.stop()
	d.t = t
	if t.IsZero() {
		return
	}
	d.timer = time.AfterFunc(time.Until(t), f)
}

func (d *deadline) stop() {
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

func expired(t time.Time) bool { return !t.IsZero() && !time.Now().Before(t) }

// timeoutError is what a read or write past its deadline returns.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
func (timeoutError) Unwrap() error   { return os.ErrDeadlineExceeded }
