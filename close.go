package websock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/websock/websock/internal/frame"
)

// Close performs the closing handshake (RFC 6455 §7.1.2): it sends a close
// frame with code and reason, waits for the peer's close frame (reading and
// discarding data messages if no one else is reading), and closes the TCP
// connection. A server closes TCP as soon as the handshake is done; a
// client first waits for the server to close it (§7.1.1). The waits are
// bounded by the close timeout; on expiry TCP is closed and ErrCloseTimeout
// returned.
//
// code must be a code that may be sent (1000–1003, 1007–1014, 3000–4999), or
// StatusNoStatus to send a close frame without code. The reason is cut to
// fit in the frame.
func (c *Conn) Close(code StatusCode, reason string) error {
	if err := checkCloseCode(code); err != nil {
		return err
	}
	err := c.CloseWrite(code, reason)
	switch {
	case err == nil:
	case errors.Is(err, ErrCloseTimeout):
		return err
	case c.tcpClosed.Load():
		if c.closeRecv.fired() {
			return nil // the closing handshake is complete
		}
		return c.closedErr()
	case errors.Is(err, ErrClosed):
		// The closing handshake had started already.
		return c.waitClosed(time.Now().Add(c.closeTimeout))
	default:
		c.closeTCP(err)
		return err
	}
	deadline := c.closeDeadline()
	// Wait for the peer's close frame: read it ourselves if no one is reading.
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	wake := c.readSem.wakeChan()
wait:
	for {
		if c.readSem.tryAcquire() {
			c.discardUntilClose()
			release(c.readSem)
			break
		}
		select {
		case <-wake:
		case <-c.closeRecv.C():
			break wait
		case <-c.closed.C():
			break wait
		case <-timer.C:
			break wait
		}
	}
	if err := c.waitClosed(deadline); err != nil {
		return err
	}
	if c.closeRecv.fired() {
		return nil
	}
	if !time.Now().Before(deadline) {
		return ErrCloseTimeout
	}
	return fmt.Errorf("websock: close: connection ended before the peer's close frame: %w", io.ErrUnexpectedEOF)
}

func checkCloseCode(code StatusCode) error {
	if code != StatusNoStatus && !frame.ValidCode(int(code)) {
		return fmt.Errorf("websock: close: status code %d may not be sent", code)
	}
	return nil
}

// CloseWrite starts the closing handshake without waiting for its end: it
// sends a close frame with code and reason and returns. The peer's messages
// sent before its close frame can still be read; then reads return the
// peer's *CloseError and the connection is closed as Close would. If the
// peer does not answer within the close timeout, reads fail with
// ErrCloseTimeout and TCP is closed. Writing data after CloseWrite fails
// with ErrClosed.
func (c *Conn) CloseWrite(code StatusCode, reason string) error {
	if err := checkCloseCode(code); err != nil {
		return err
	}
	if err := c.writeClose(code, reason); err != nil {
		return err
	}
	deadline := time.Now().Add(c.closeTimeout)
	c.closingAt.Store(deadline.UnixNano())
	c.nc.SetReadDeadline(deadline)
	if s := c.srv.Load(); s != nil && s.src != nil {
		// A connection waiting in the poller sees its deadline only
		// when it is read: read it then.
		time.AfterFunc(c.closeTimeout, s.ready)
	}
	return nil
}

// closeDeadline returns when the closing handshake started by this side
// times out, or the zero time if it has not started.
func (c *Conn) closeDeadline() time.Time {
	if ns := c.closingAt.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// waitClosed waits until TCP is closed or deadline has passed, then closes it.
func (c *Conn) waitClosed(deadline time.Time) error {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-c.closed.C():
		return nil
	case <-timer.C:
		c.closeTCP(ErrCloseTimeout)
		return ErrCloseTimeout
	}
}

// discardUntilClose reads and drops data until the peer's close frame has
// been handled or reading fails. It runs with the read semaphore held.
func (c *Conn) discardUntilClose() {
	c.msg.end()
	for c.readErr == nil {
		if c.remaining > 0 {
			if _, err := c.rb.Discard(int(min(c.remaining, 1<<30))); err != nil {
				c.ioError(err)
				return
			}
			c.remaining = 0
			continue
		}
		c.nextDataFrame()
	}
}

// writeClose sends a close frame, unless one was already sent. If it
// cannot be sent within the close timeout, the connection is closed and
// ErrCloseTimeout returned.
func (c *Conn) writeClose(code StatusCode, reason string) error {
	var buf [frame.MaxControlPayload]byte
	p := frame.AppendClose(buf[:0], int(code), reason)
	err := c.writeFrame(context.Background(), c.closeTimeout, true, 0, frame.OpClose, p)
	if errors.Is(err, errLockTimeout) {
		c.closeTCP(ErrCloseTimeout)
		return ErrCloseTimeout
	}
	return err
}

// handlePeerClose answers the peer's close frame (RFC 6455 §5.5.1): with an
// invalid payload the connection fails (1007 for a reason that is not UTF-8,
// 1002 otherwise), otherwise the code and the reason are echoed (1000 and no
// reason when there was no code) and TCP is closed by the server, or by the
// client after the server has closed it.
func (c *Conn) handlePeerClose(p []byte) error {
	code, reason, err := frame.ParseClose(p)
	switch {
	case errors.Is(err, frame.ErrCloseReason):
		return c.fail(StatusInvalidPayload, ErrInvalidUTF8, "close reason is not valid UTF-8")
	case err != nil:
		return c.fail(StatusProtocolError, ErrProtocol, err.Error())
	}
	c.metrics.closeReceived(code)
	c.peerClose = CloseError{Code: StatusCode(code), Reason: string(reason)}
	c.readErr = &c.peerClose
	c.closeRecv.fire()
	c.peerClosed(c.peerClose.Code, c.peerClose.Reason)
	// The reason fits: it came in a control frame with the same code.
	if c.peerClose.Code == StatusNoStatus {
		c.writeClose(StatusNormalClosure, "")
	} else {
		c.writeClose(c.peerClose.Code, c.peerClose.Reason)
	}
	c.finishClose()
	return c.readErr
}

// finishClose closes TCP once both close frames have been exchanged: at
// once on the server, after the server's EOF (bounded) on the client.
func (c *Conn) finishClose() {
	if !c.server {
		c.blockingReads()
		c.nc.SetReadDeadline(time.Now().Add(c.closeTimeout))
		io.Copy(io.Discard, &c.rb)
	}
	c.closeTCP(nil)
}

// fail fails the connection (RFC 6455 §7.1.7): it sends a close frame with
// code, unless one was sent already, and closes TCP. The returned error,
// which wraps kind, is sticky for reads.
func (c *Conn) fail(code StatusCode, kind error, detail string) error {
	return c.failWith(code, "", fmt.Errorf("%w: %s", kind, detail))
}

// failWith is fail with the close frame's reason and the error to report.
func (c *Conn) failWith(code StatusCode, reason string, err error) error {
	c.readErr = err
	if c.writeClose(code, reason) == nil {
		// The drain below must not be cut short by the context of the
		// read that failed (a request context ends with its handler).
		c.readWatch.disarm(c.nc, readSide, time.Time{})
		c.lingering.Store(true)
		c.blockingReads()
		go c.lingeringClose(err)
		return err
	}
	c.closeTCP(err)
	return err
}

// lingeringClose ends a failed connection without destroying the close
// frame just sent: closing a socket with unread input makes the kernel send
// a reset, which can make the peer drop data it has not read yet. So this
// side shuts down its writing half, reads what the peer still sends for a
// short while (until the peer closes), and then closes.
func (c *Conn) lingeringClose(cause error) {
	type closeWriter interface{ CloseWrite() error }
	if cw, ok := c.nc.(closeWriter); ok {
		cw.CloseWrite()
	}
	c.nc.SetReadDeadline(time.Now().Add(min(c.closeTimeout, time.Second)))
	io.Copy(io.Discard, &c.rb)
	c.closeTCP(cause)
}
