package websock

import (
	"context"
	"net"
	"sync"
	"time"
)

// Which deadline a ctxWatch sets.
const (
	readSide  = 1
	writeSide = 2
	bothSides = readSide | writeSide
)

// longAgo is a deadline in the past, which interrupts blocked I/O.
var longAgo = time.Unix(1, 0)

// ctxWatch interrupts the blocked I/O of one side of a connection when the
// context of the call in progress is done, by setting that side's deadline
// in the past. A call registers its context with arm and ends with disarm;
// only a call in progress is ever interrupted, so a context done after its
// call returned (a deferred cancel) touches nothing. The registration on
// a context stays for the next call that passes the same one (a
// connection's long-lived context costs one registration, not one per
// call) and is dropped when the context ends, when a call passes another,
// or by release when the connection ends. Its user serialises the calls.
type ctxWatch struct {
	mu     sync.Mutex
	reg    *watchReg // the standing registration, nil, or ended
	active bool      // a call with reg's context is in progress
	fired  bool      // that context ended during the call: the deadline is set
}

// watchReg is a registration on a context.
type watchReg struct {
	ctx  context.Context
	stop func() bool
}

// ended is the registration of a released watch: the connection is
// closed, its I/O fails at once, nothing is registered any more.
var ended = &watchReg{}

// arm makes sure side of nc is interrupted when ctx is done, until disarm.
// A context that can never be done costs nothing.
func (w *ctxWatch) arm(ctx context.Context, nc net.Conn, side int) {
	if ctx.Done() == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.reg == ended {
		return
	}
	if w.reg == nil || w.reg.ctx != ctx {
		if w.reg != nil {
			w.reg.stop()
		}
		reg := &watchReg{ctx: ctx}
		reg.stop = context.AfterFunc(ctx, func() { w.fire(reg, nc, side) })
		w.reg = reg
	}
	w.active, w.fired = true, false
}

// fire runs when reg's context is done: it interrupts the call in
// progress, if that call passed the context, and drops the registration.
func (w *ctxWatch) fire(reg *watchReg, nc net.Conn, side int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.reg != reg {
		return // replaced, or released
	}
	if w.active {
		w.fired = true
		setDeadline(nc, side, longAgo)
	}
	w.reg = nil
}

// disarm ends the call; if its context had fired, the deadline of side is
// put back to restore. A second disarm does nothing.
func (w *ctxWatch) disarm(nc net.Conn, side int, restore time.Time) {
	w.mu.Lock()
	fired := w.fired
	w.active, w.fired = false, false
	w.mu.Unlock()
	if fired {
		setDeadline(nc, side, restore)
	}
}

// release drops the standing registration and makes later arms do
// nothing: the connection has ended.
func (w *ctxWatch) release() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.reg != nil && w.reg != ended {
		w.reg.stop()
	}
	w.reg = ended
}

func setDeadline(nc net.Conn, side int, t time.Time) {
	switch side {
	case readSide:
		nc.SetReadDeadline(t)
	case writeSide:
		nc.SetWriteDeadline(t)
	default:
		nc.SetDeadline(t)
	}
}
