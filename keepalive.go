package websock

import (
	"context"
	"time"

	"github.com/websock/websock/internal/frame"
)

// keepalive pings a quiet peer and closes the connection when the peer
// stays quiet (ConnOptions.PingInterval). Any byte received counts as a
// sign of life, so a peer sending one large frame slowly is never taken
// for dead. Only its timer's function uses the fields.
type keepalive struct {
	timer       *time.Timer
	interval    time.Duration
	pongTimeout time.Duration
	lastBytes   uint64 // bytes received at the last tick
	pingPending bool
}

func (c *Conn) startKeepalive(interval, pongTimeout time.Duration) {
	if pongTimeout <= 0 {
		pongTimeout = interval
	}
	k := &keepalive{interval: interval, pongTimeout: pongTimeout}
	c.keepalive = k
	k.timer = time.AfterFunc(interval, c.keepaliveTick)
}

func (k *keepalive) stop() { k.timer.Stop() }

// keepaliveTick runs after each keepalive period: if bytes arrived in it,
// the peer is alive; otherwise it is pinged, and if nothing arrives within
// the pong timeout either, the connection is closed.
func (c *Conn) keepaliveTick() {
	if c.tcpClosed.Load() {
		return
	}
	k := c.keepalive
	n := c.bytesIn.Load()
	alive := n != k.lastBytes
	k.lastBytes = n
	switch {
	case alive:
		k.pingPending = false
		k.timer.Reset(k.interval)
	case k.pingPending:
		c.closeTCP(ErrKeepaliveTimeout)
	default:
		k.pingPending = true
		c.writeFrame(context.Background(), k.pongTimeout, true, 0, frame.OpPing, nil)
		k.timer.Reset(k.pongTimeout)
	}
}
