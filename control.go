package websock

import (
	"context"
	"fmt"

	"github.com/websock/websock/internal/frame"
)

// WritePing sends a ping with payload (at most 125 bytes) and returns once
// it is written, without waiting for the pong: the peer's pong reaches
// OnPong while the connection is read. Use it for heartbeats of one's own;
// Ping waits for the pong. Like every write, a ping whose context ends
// while it waits for the frame lock is not sent, and one cut short closes
// the connection.
func (c *Conn) WritePing(ctx context.Context, payload []byte) error {
	return c.writeControl(ctx, frame.OpPing, "ping", payload)
}

// WritePong sends an unsolicited pong with payload (at most 125 bytes), a
// one-way heartbeat that needs no answer (RFC 6455 §5.5.3). Pings from the
// peer are answered by the connection itself, while it is read.
func (c *Conn) WritePong(ctx context.Context, payload []byte) error {
	return c.writeControl(ctx, frame.OpPong, "pong", payload)
}

func (c *Conn) writeControl(ctx context.Context, op frame.Opcode, name string, payload []byte) error {
	if len(payload) > frame.MaxControlPayload {
		return fmt.Errorf("websock: %s payload of %d bytes exceeds 125", name, len(payload))
	}
	return c.writeFrame(ctx, 0, true, 0, op, payload)
}

// OnClose sets a function called with the code and reason of the peer's
// close frame when a read receives it, before the connection answers it
// and the read returns the *CloseError. The code is StatusNoStatus when
// the frame had none. It may be called at any time, from any goroutine;
// nil removes the function.
func (c *Conn) OnClose(f func(code StatusCode, reason string)) {
	if f == nil {
		c.onClose.Store(nil)
		return
	}
	c.onClose.Store(&f)
}

// peerClosed calls the OnClose function, if any.
func (c *Conn) peerClosed(code StatusCode, reason string) {
	if f := c.onClose.Load(); f != nil {
		(*f)(code, reason)
	}
}
