package websock

import (
	"context"
	"fmt"

	"github.com/websock/websock/internal/frame"
)

// Ping sends a ping with payload (at most 125 bytes) and waits for the
// matching pong, or until ctx is done. Pongs are seen only while the
// connection is being read, so another goroutine must be reading (Read,
// ReadAppend or a Reader's Read, or Close): without a reader, Ping waits
// until ctx is done however quickly the peer answers, so give it a ctx with
// a deadline. To send a ping without waiting, use WritePing. If ctx ends
// while the ping is being written, the connection is closed (Write's rule
// for a frame cut short).
func (c *Conn) Ping(ctx context.Context, payload []byte) error {
	if len(payload) > frame.MaxControlPayload {
		return fmt.Errorf("websock: ping payload of %d bytes exceeds 125", len(payload))
	}
	done := make(chan struct{})
	key := string(payload)
	c.pongMu.Lock()
	if c.pongWaiters == nil {
		c.pongWaiters = make(map[string][]chan struct{})
	}
	c.pongWaiters[key] = append(c.pongWaiters[key], done)
	c.pongMu.Unlock()
	if err := c.writeFrame(ctx, 0, true, 0, frame.OpPing, payload); err != nil {
		c.forgetPong(key, done)
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		c.forgetPong(key, done)
		return ctx.Err()
	case <-c.closed.C():
		c.forgetPong(key, done)
		return c.closedErr()
	}
}

// notifyPong wakes the oldest Ping waiting for this payload.
func (c *Conn) notifyPong(p []byte) {
	c.pongMu.Lock()
	defer c.pongMu.Unlock()
	if ws := c.pongWaiters[string(p)]; len(ws) > 0 {
		close(ws[0])
		if len(ws) == 1 {
			delete(c.pongWaiters, string(p))
		} else {
			c.pongWaiters[string(p)] = ws[1:]
		}
	}
}

func (c *Conn) forgetPong(key string, done chan struct{}) {
	c.pongMu.Lock()
	defer c.pongMu.Unlock()
	ws := c.pongWaiters[key]
	for i, w := range ws {
		if w == done {
			c.pongWaiters[key] = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(c.pongWaiters[key]) == 0 {
		delete(c.pongWaiters, key)
	}
}
