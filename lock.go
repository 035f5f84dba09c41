package websock

import (
	"context"
	"sync/atomic"
	"time"
)

// sem is a lock whose waits can end (with a context, a timeout or the
// connection's end). Taking it free costs one atomic operation; the
// channel that waiters sleep on is made only when someone has to wait, so
// an idle connection's three locks hold no memory beyond their fields.
type sem struct {
	held atomic.Bool
	wake atomic.Pointer[chan struct{}] // a token is sent on release, when not nil
}

// tryAcquire takes s if it is free.
func (s *sem) tryAcquire() bool { return s.held.CompareAndSwap(false, true) }

// wakeChan returns the channel a waiter sleeps on, making it if needed.
func (s *sem) wakeChan() <-chan struct{} {
	if p := s.wake.Load(); p != nil {
		return *p
	}
	ch := make(chan struct{}, 1)
	if s.wake.CompareAndSwap(nil, &ch) {
		return ch
	}
	return *s.wake.Load()
}

// release frees s and wakes a waiter, if any. A waiter that made the
// channel after the lock was freed sees it free before it sleeps.
func (s *sem) release() {
	s.held.Store(false)
	if p := s.wake.Load(); p != nil {
		select {
		case *p <- struct{}{}:
		default: // a token is pending already
		}
	}
}

// acquire takes the semaphore s, waiting at most until ctx is done, the
// timeout (if positive) has passed or, for the write semaphores, the
// connection is closed. Nothing has happened on the connection when it
// fails. (The read semaphore is always released soon once the connection
// is closed, and the reader then wants the error that ended it.)
func (c *Conn) acquire(ctx context.Context, s *sem, timeout time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err // a call whose context is done does nothing
	}
	if s.tryAcquire() {
		return nil
	}
	var closed <-chan struct{}
	if s != &c.readSem {
		closed = c.closed.C()
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	wake := s.wakeChan()
	for !s.tryAcquire() {
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-expired:
			return errLockTimeout
		case <-closed:
			return c.closedErr()
		}
	}
	return nil
}

func release(s *sem) { s.release() }

// signal is a channel closed once (fire), made only if someone waits for
// it before: most connections end without anyone waiting.
type signal struct {
	ch atomic.Pointer[chan struct{}]
}

// firedChan is the channel of every signal that fired before anyone waited.
var firedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// C returns a channel closed when the signal fires.
func (s *signal) C() <-chan struct{} {
	if p := s.ch.Load(); p != nil {
		return *p
	}
	ch := make(chan struct{})
	if s.ch.CompareAndSwap(nil, &ch) {
		return ch
	}
	return *s.ch.Load()
}

// fire closes the signal's channel; only the first call counts.
func (s *signal) fire() {
	if p := s.ch.Swap(&firedChan); p != nil && p != &firedChan {
		close(*p)
	}
}

// fired reports whether fire was called.
func (s *signal) fired() bool { return s.ch.Load() == &firedChan }
