package websock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/websock/websock/internal/frame"
	"github.com/websock/websock/internal/mask"
)

// Read reads the next whole message. The returned slice belongs to the
// caller. See ReadAppend for what happens when ctx is done.
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	return c.ReadAppend(ctx, nil)
}

// ReadAppend reads the next whole message and appends it to dst, returning
// the extended slice. Reusing dst across calls reads without allocating;
// keep it small between messages (see the README), since what it holds is
// held while the connection is idle.
//
// A message is returned whole or not at all. If ctx is done first,
// ReadAppend returns ctx's error and dst unchanged; the connection keeps
// what it has received of the message, and the next read call continues
// it. Other errors are sticky: the connection has failed or ended.
func (c *Conn) ReadAppend(ctx context.Context, dst []byte) (MessageType, []byte, error) {
	start := len(dst)
	if c.srv.Load() != nil {
		return 0, dst, errServed
	}
	var typ MessageType
	err := c.readOp(ctx, func() error {
		var err error
		typ, dst, err = c.readWhole(dst, start)
		m := &c.msg
		if c.interrupted && m.active {
			// Keep what was received for the next call.
			m.kept = append(m.kept[:0], dst[start:]...)
			m.resume = true
		} else {
			m.kept = nil
		}
		return err
	})
	if err != nil {
		return 0, dst[:start], err
	}
	return typ, dst, nil
}

// readWhole reads the message (the one a read call left unfinished, or
// the next) and appends it to dst, whose bytes from start on are the
// message's; the read semaphore is held.
func (c *Conn) readWhole(dst []byte, start int) (MessageType, []byte, error) {
	if err := c.beginMessage(); err != nil {
		return 0, dst, err
	}
	m := &c.msg
	dst = append(dst, m.takeKept()...)
	dst, err := m.readAll(dst, start)
	return m.typ, dst, err
}

// Reader waits for the next message and returns its type and a reader of
// its payload, which ends with io.EOF; reads through it use ctx. A message
// whose reader was left before io.EOF (for any reason, its context ending
// included) is read through and discarded by the next Read, ReadAppend or
// Reader call; the reader then fails. If a whole-message read was
// interrupted before, the reader continues that message from its start.
func (c *Conn) Reader(ctx context.Context) (MessageType, io.Reader, error) {
	if c.srv.Load() != nil {
		return 0, nil, errServed
	}
	var typ MessageType
	var gen uint64
	err := c.readOp(ctx, func() error {
		if err := c.beginMessage(); err != nil {
			return err
		}
		typ, gen = c.msg.typ, c.msg.gen
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return typ, &messageStream{c: c, ctx: ctx, gen: gen}, nil
}

// readOp runs f with the read semaphore held and the call's context
// registered: blocked reads are interrupted when ctx is done, and then
// c.interrupted is set and ctx's error returned, with the connection's
// state intact. The registration ends with the call.
func (c *Conn) readOp(ctx context.Context, f func() error) error {
	if err := c.acquire(ctx, c.readSem, 0); err != nil {
		return err
	}
	defer release(c.readSem)
	if c.readErr != nil {
		return c.readErr
	}
	if c.tcpClosed.Load() {
		c.readErr = c.closedErr()
		return c.readErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !c.codecUse.enter(c.codec) {
		c.readErr = c.closedErr()
		return c.readErr
	}
	defer c.codecUse.leave(c.codec)
	c.readCtx, c.interrupted = ctx, false
	c.readWatch.arm(ctx, c.nc, readSide)
	err := f()
	c.readWatch.disarm(c.nc, readSide, c.closeDeadline())
	c.readCtx = nil
	if c.readErr != nil {
		c.msg.end() // the connection has failed: give its buffers back
	}
	return err
}

// beginMessage makes c.msg the message the read call delivers: the one an
// interrupted read call left, or else the next one, after reading through
// and discarding a message abandoned unfinished.
func (c *Conn) beginMessage() error {
	m := &c.msg
	if m.active {
		if m.resume {
			m.resume = false
			return nil
		}
		if err := m.discard(); err != nil {
			return err
		}
	}
	if err := c.nextDataFrame(); err != nil {
		return err
	}
	m.begin(MessageType(c.hdr.Opcode), c.hdr.RSV)
	return nil
}

// nextDataFrame reads frames until the header of a data frame, handling the
// control frames on the way, and checks that it continues (or starts) a
// message as it must (RFC 6455 §5.4). Nothing of a frame is consumed until
// its header (and, for a control frame, its payload) has arrived whole, so
// an interrupted call can start again.
func (c *Conn) nextDataFrame() error {
	for {
		b, err := c.rb.Peek(2)
		if err != nil {
			return c.ioError(err)
		}
		n := frame.Len(b[0], b[1])
		if b, err = c.rb.Peek(n); err != nil {
			return c.ioError(err)
		}
		h, _, err := frame.Parse(b)
		if err == nil {
			err = h.Check(c.server, c.codecBits)
		}
		if err != nil {
			return c.fail(StatusProtocolError, ErrProtocol, err.Error())
		}
		if h.Opcode.IsControl() {
			// At most 14 + 125 bytes: read whole before acting on it.
			total := n + int(h.Length)
			if b, err = c.rb.Peek(total); err != nil {
				return c.ioError(err)
			}
			p := c.ctrl[:copy(c.ctrl[:], b[n:total])]
			c.rb.Discard(total)
			if h.Masked {
				mask.Apply(h.Key, 0, p)
			}
			if err := c.handleControl(h.Opcode, p); err != nil {
				return err
			}
			continue
		}
		switch {
		case c.inMessage && h.Opcode != frame.OpContinuation:
			return c.fail(StatusProtocolError, ErrProtocol, "new data frame inside a fragmented message")
		case !c.inMessage && h.Opcode == frame.OpContinuation:
			return c.fail(StatusProtocolError, ErrProtocol, "continuation frame without a message to continue")
		case c.inMessage && h.RSV != 0:
			return c.fail(StatusProtocolError, ErrProtocol, "reserved bits set on a continuation frame")
		}
		c.rb.Discard(n)
		compressed := h.RSV != 0
		if c.inMessage {
			compressed = c.msg.rsv != 0
		} else {
			c.rawSize = 0
			if c.watchdog != nil {
				c.msgStart.Store(monoNow())
			}
		}
		c.rawSize += h.Length
		if c.maxFrame > 0 && h.Length > c.maxFrame {
			return c.fail(StatusMessageTooBig, ErrMessageTooBig, fmt.Sprintf("frame of %d bytes exceeds the limit of %d", h.Length, c.maxFrame))
		}
		if limit := wireLimit(c.readLimit.Load(), compressed); limit > 0 && c.rawSize > limit {
			return c.fail(StatusMessageTooBig, ErrMessageTooBig, fmt.Sprintf("message of %d bytes or more on the wire exceeds the limit of %d", c.rawSize, limit))
		}
		c.hdr = h
		c.remaining = h.Length
		c.maskPos = 0
		c.inMessage = !h.Fin
		return nil
	}
}

// wireLimit is the most payload a message may take on the wire under the
// read limit: the limit itself, or for a compressed message a little more,
// since deflate can expand what does not compress (stored blocks add 5
// bytes per 64 KiB, fixed Huffman codes at most 9 bits per byte).
func wireLimit(limit int64, compressed bool) int64 {
	if limit <= 0 || !compressed {
		return limit
	}
	return limit + limit/8 + 1024
}

// handleControl acts on a control frame from the peer (RFC 6455 §5.5).
func (c *Conn) handleControl(op frame.Opcode, p []byte) error {
	switch op {
	case frame.OpPing:
		callback(&c.onPing, p)
		err := c.writeFrame(context.Background(), c.closeTimeout, true, 0, frame.OpPong, p)
		if err != nil && !errors.Is(err, ErrClosed) {
			c.readErr = err
			c.closeTCP(err)
			return err
		}
	case frame.OpPong:
		callback(&c.onPong, p)
		c.notifyPong(p)
	case frame.OpClose:
		return c.handlePeerClose(p)
	}
	return nil
}

// ioError turns an I/O error of the read side into what the read call
// returns. A deadline set off by the call's context is an interruption:
// c.interrupted is set and ctx's error returned, and the connection stays
// as it was. Anything else is sticky and ends the connection.
func (c *Conn) ioError(err error) error {
	if err == errWouldBlock {
		c.interrupted = true // nothing more has arrived: keep what has
		return err
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if ctx := c.readCtx; ctx != nil && ctx.Err() != nil {
			c.interrupted = true
			return ctx.Err()
		}
		if w := c.watchdog; w != nil && !c.tcpClosed.Load() {
			if e := w.expired.Load(); e != nil {
				return c.failExpired(e) // the deadline set by expire
			}
		}
		if dl := c.closeDeadline(); !dl.IsZero() && !time.Now().Before(dl) {
			err = ErrCloseTimeout
		}
	}
	switch {
	case c.tcpClosed.Load():
		err = c.closedErr() // closed by this side: say why
	case errors.Is(err, ErrCloseTimeout):
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
		err = fmt.Errorf("websock: connection lost without a closing handshake (status %d): %w", StatusAbnormalClosure, io.ErrUnexpectedEOF)
	default:
		err = fmt.Errorf("websock: read: %w", err)
	}
	c.readErr = err
	c.closeTCP(err)
	return err
}

// frameReader reads the payload of the current message across its frames,
// unmasked. It returns io.EOF after the last frame.
type frameReader Conn

func (f *frameReader) Read(p []byte) (int, error) {
	c := (*Conn)(f)
	for c.remaining == 0 {
		if !c.inMessage {
			if c.watchdog != nil {
				c.msgStart.Store(0)
			}
			return 0, io.EOF
		}
		if err := c.nextDataFrame(); err != nil {
			return 0, err
		}
	}
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.rb.Read(p)
	if c.hdr.Masked {
		c.maskPos = uint8(mask.Apply(c.hdr.Key, int(c.maskPos), p[:n]))
	}
	c.remaining -= int64(n)
	if c.remaining == 0 && !c.inMessage && c.watchdog != nil {
		c.msgStart.Store(0) // the message's last byte has arrived
	}
	if err != nil {
		return n, c.ioError(err)
	}
	return n, nil
}

// messageStream is the reader Reader hands out for one message.
type messageStream struct {
	c   *Conn
	ctx context.Context
	gen uint64 // the message's number
	eof bool
}

var errStaleReader = errors.New("websock: message reader used after its message was discarded")

func (s *messageStream) Read(p []byte) (n int, err error) {
	if s.eof {
		return 0, io.EOF
	}
	err = s.c.readOp(s.ctx, func() error {
		m := &s.c.msg
		if m.gen != s.gen {
			return errStaleReader
		}
		n, err = m.read(p)
		return err
	})
	s.eof = err == io.EOF
	return n, err
}
