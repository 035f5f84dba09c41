package websock

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/websock/websock/internal/frame"
)

// monoStart anchors monoNow.
var monoStart = time.Now()

// monoNow returns monotonic nanoseconds since the process started (never
// 0, which means "not set").
func monoNow() int64 { return int64(time.Since(monoStart)) + 1 }

// watchdog ends connections whose peer has gone quiet or slow, with one
// timer per connection that wakes at the nearest of its deadlines:
//   - keepalive (PingInterval): a ping after an interval without a byte
//     from the peer; no byte within PongTimeout after it closes the
//     connection (ErrKeepaliveTimeout);
//   - IdleTimeout: no byte from the peer for that long sends close 1001
//     and closes the connection (ErrIdleTimeout);
//   - MessageTimeout: a message not finished that long after its first
//     frame sends close 1008 and closes the connection
//     (ErrMessageTimeout), so that an unfinished message cannot hold
//     memory for ever.
//
// A byte counts as a sign of life, so a peer streaming a large frame
// slowly is neither idle nor dead. The reader records the time of every
// socket read and of each message's first frame; the timer's function
// reads them, so the read path pays one clock read per socket read.
type watchdog struct {
	mu             sync.Mutex // one tick at a time
	stopped        atomic.Bool
	timer          *time.Timer
	pingInterval   time.Duration
	pongTimeout    time.Duration
	idleTimeout    time.Duration
	messageTimeout time.Duration
	pingSent       int64 // monoNow of the pending keepalive ping, or 0

	// expired is set by expire: a read that meets the past deadline it
	// set ends the connection for it (Conn.ioError).
	expired atomic.Pointer[expiry]
}

// expiry is why the watchdog ends a connection: the close frame's code and
// reason, and the error reads report.
type expiry struct {
	code   StatusCode
	reason string
	cause  error
}

// startWatchdog arms the watchdog if any of its options is set.
func (c *Conn) startWatchdog(o ConnOptions) {
	if o.PingInterval <= 0 && o.IdleTimeout <= 0 && o.MessageTimeout <= 0 {
		return
	}
	w := &watchdog{idleTimeout: o.IdleTimeout, messageTimeout: o.MessageTimeout}
	if o.PingInterval > 0 {
		w.pingInterval, w.pongTimeout = o.PingInterval, o.PongTimeout
		if w.pongTimeout <= 0 {
			w.pongTimeout = w.pingInterval
		}
	}
	c.lastRead.Store(monoNow())
	c.watchdog = w
	// Set the timer before it can fire: its function reads w.timer.
	w.timer = time.AfterFunc(time.Hour, c.watchdogTick)
	w.timer.Reset(w.next(c, monoNow()))
}

// stop stops the watchdog; a tick running now or woken by its own Reset
// sees stopped and does nothing.
func (w *watchdog) stop() {
	w.stopped.Store(true)
	w.timer.Stop()
}

// watchdogTick runs at the nearest deadline: it acts on those that have
// passed and sets the timer for the next.
func (c *Conn) watchdogTick() {
	w := c.watchdog
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped.Load() || c.tcpClosed.Load() {
		return
	}
	now := monoNow()
	last := c.lastRead.Load()
	if w.pingSent != 0 && last > w.pingSent {
		w.pingSent = 0 // the peer answered, or sent something
	}
	switch {
	case w.idleTimeout > 0 && now-last >= int64(w.idleTimeout):
		go c.expire(StatusGoingAway, "idle timeout", ErrIdleTimeout)
		return
	case w.messageTimeout > 0 && c.msgStart.Load() != 0 && now-c.msgStart.Load() >= int64(w.messageTimeout):
		go c.expire(StatusPolicyViolation, "message timeout", ErrMessageTimeout)
		return
	case w.pingSent != 0 && now-w.pingSent >= int64(w.pongTimeout):
		c.closeTCP(ErrKeepaliveTimeout)
		return
	case w.pingInterval > 0 && w.pingSent == 0 && now-last >= int64(w.pingInterval):
		w.pingSent = now
		go c.writeFrame(context.Background(), w.pongTimeout, true, 0, frame.OpPing, nil)
	}
	w.timer.Reset(w.next(c, now))
}

// next returns how long until the nearest deadline after now.
func (w *watchdog) next(c *Conn, now int64) time.Duration {
	last := c.lastRead.Load()
	d := int64(1<<63 - 1)
	at := func(deadline int64) { d = min(d, deadline-now) }
	if w.idleTimeout > 0 {
		at(last + int64(w.idleTimeout))
	}
	if w.messageTimeout > 0 {
		if s := c.msgStart.Load(); s != 0 {
			at(s + int64(w.messageTimeout))
		} else {
			// A message may start at any moment: look again within the
			// timeout, so that one is caught at most that much late.
			at(now + int64(w.messageTimeout))
		}
	}
	if w.pingSent != 0 {
		at(w.pingSent + int64(w.pongTimeout))
	} else if w.pingInterval > 0 {
		at(last + int64(w.pingInterval))
	}
	return time.Duration(max(d, int64(time.Millisecond)))
}

// expire ends the connection for cause as a failed connection ends
// (Conn.fail): a close frame with code and reason, then a lingering close,
// because the peer may still be sending (a message that did not finish in
// time) and closing a socket with unread input sends a reset, which can
// destroy the close frame before the peer has read it. The lingering
// close reads the socket, which a read in progress is doing too: so the
// read side's deadline is set in the past, a read waiting for the peer
// meets it and ends the connection itself (Conn.ioError), and otherwise
// expire does, as soon as no read is in progress. A read that holds on for
// another reason (memory from the Budget) is not waited for longer than a
// second: then TCP is closed at once.
func (c *Conn) expire(code StatusCode, reason string, cause error) {
	e := &expiry{code: code, reason: reason, cause: cause}
	c.watchdog.expired.Store(e)
	c.nc.SetReadDeadline(longAgo)
	if c.acquire(context.Background(), c.readSem, min(c.closeTimeout, time.Second)) != nil {
		c.closeTCP(cause)
		return
	}
	defer release(c.readSem)
	if c.readErr == nil && !c.tcpClosed.Load() {
		c.failExpired(e)
	}
}

// failExpired fails the connection for the watchdog's expiry e; it runs
// with the read semaphore held.
func (c *Conn) failExpired(e *expiry) error {
	return c.failWith(e.code, e.reason, closedError(e.cause))
}
