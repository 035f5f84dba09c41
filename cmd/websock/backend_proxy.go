package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/websock/websock"
)

// proxyReadBuffer is what one read from the TCP peer may bring, sent as
// one binary message.
const proxyReadBuffer = 16 << 10

// proxyBackend bridges each connection to a new TCP connection to target,
// the way websockify does for noVNC: every message's payload is written to
// TCP as it is (binary or text, websockify does not look at the type
// either), and what TCP brings is sent as binary messages as it arrives.
// The subprotocol "binary" is chosen when the client offers it (noVNC
// does); a client offering only others gets none. Each side is slowed to
// the pace of the other: nothing is buffered beyond one read each way.
type proxyBackend struct {
	target       string        // HOST:PORT
	dialTimeout  time.Duration // bound on connecting to target
	writeTimeout time.Duration // bound on one write to target (0: none)
	log          *slog.Logger
}

func (*proxyBackend) name() string { return "proxy" }

func (*proxyBackend) subprotocols() []string { return []string{"binary"} }

func (b *proxyBackend) open(c *websock.Conn, r *http.Request) func(context.Context) error {
	remote := r.RemoteAddr
	return func(ctx context.Context) error { return b.run(ctx, c, remote) }
}

// run connects to the target and copies both ways until one side ends:
// the TCP peer's EOF closes the connection with 1000 (after what it sent
// has been delivered), a TCP error with 1011, and the connection ending
// closes the TCP connection.
func (b *proxyBackend) run(ctx context.Context, c *websock.Conn, remote string) error {
	dctx, cancel := context.WithTimeout(ctx, b.dialTimeout)
	nc, err := (&net.Dialer{}).DialContext(dctx, "tcp", b.target)
	cancel()
	if err != nil {
		// The target's address and the error are for the log, not for
		// the client.
		b.log.Warn("proxy: dial failed", "remote", remote, "target", b.target, "err", err)
		c.Close(websock.StatusInternalError, "backend unreachable")
		return fmt.Errorf("proxy: %w", err)
	}
	defer nc.Close()
	fromClient := make(chan error, 1)
	go func() {
		err := b.toTCP(ctx, c, nc)
		nc.Close() // ends toClient's read
		fromClient <- err
	}()
	err = b.toClient(ctx, c, nc)
	switch {
	case err == nil: // EOF from the TCP peer
		c.Close(websock.StatusNormalClosure, "")
	case errors.Is(err, net.ErrClosed): // the connection ended first
	case errors.Is(err, errSendFailed):
		c.CloseNow()
	default:
		b.log.Warn("proxy: target connection failed", "remote", remote, "target", b.target, "err", err)
		c.Close(websock.StatusInternalError, "backend connection failed")
	}
	return <-fromClient
}

var errSendFailed = errors.New("proxy: sending to the client failed")

// toClient sends what the TCP peer sends as binary messages until its EOF
// (nil) or an error.
func (b *proxyBackend) toClient(ctx context.Context, c *websock.Conn, nc net.Conn) error {
	buf := make([]byte, proxyReadBuffer)
	for {
		n, err := nc.Read(buf)
		if n > 0 {
			if werr := c.Write(ctx, websock.BinaryMessage, buf[:n]); werr != nil {
				return fmt.Errorf("%w: %w", errSendFailed, werr)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// toTCP writes the payload of every message to nc until the connection
// ends, which it returns.
func (b *proxyBackend) toTCP(ctx context.Context, c *websock.Conn, nc net.Conn) error {
	w := &timedWriter{w: nc, timeout: b.writeTimeout}
	for {
		if err := copyMessage(ctx, c, w); err != nil {
			return err
		}
		if w.err != nil {
			b.log.Warn("proxy: writing to target failed", "target", b.target, "err", w.err)
			c.Close(websock.StatusInternalError, "backend connection failed")
			return w.err
		}
	}
}
