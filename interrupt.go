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
// in the past. A call registers its context with arm and releases it with
// disarm before it returns: a context never outlives the call that passed
// it, so cancelling it later (a deferred cancel) cannot touch another
// call. Its user serialises the calls.
type ctxWatch struct {
	mu    sync.Mutex
	gen   uint32 // registration in force; a callback of an older one does nothing
	fired bool   // the registration in force has set the deadline
	stop  func() bool
}

// arm makes sure side of nc is interrupted when ctx is done, until disarm.
// A context that can never be done costs nothing.
func (w *ctxWatch) arm(ctx context.Context, nc net.Conn, side int) {
	if ctx.Done() == nil {
		return
	}
	w.mu.Lock()
	w.gen++
	gen := w.gen
	w.fired = false
	w.mu.Unlock()
	w.stop = context.AfterFunc(ctx, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.gen == gen {
			w.fired = true
			setDeadline(nc, side, longAgo)
		}
	})
}

// disarm drops the registration; if it had fired, the deadline of side is
// put back to restore.
func (w *ctxWatch) disarm(nc net.Conn, side int, restore time.Time) {
	if w.stop == nil {
		return
	}
	w.stop()
	w.stop = nil
	w.mu.Lock()
	w.gen++
	fired := w.fired
	w.fired = false
	w.mu.Unlock()
	if fired {
		setDeadline(nc, side, restore)
	}
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
