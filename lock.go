package websock

import (
	"context"
	"time"
)

// acquire takes the semaphore sem, waiting at most until ctx is done, the
// timeout (if positive) has passed or, for the write semaphores, the
// connection is closed. Nothing has happened on the connection when it
// fails. (The read semaphore is always released soon once the connection
// is closed, and the reader then wants the error that ended it.)
func (c *Conn) acquire(ctx context.Context, sem chan struct{}, timeout time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err // a call whose context is done does nothing
	}
	select {
	case sem <- struct{}{}:
		return nil
	default:
	}
	var closed <-chan struct{}
	if sem != c.readSem {
		closed = c.closed
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-expired:
		return errLockTimeout
	case <-closed:
		return c.closedErr()
	}
}

func release(sem chan struct{}) { <-sem }
