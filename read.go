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
	"github.com/websock/websock/internal/utf8"
)

// Read reads the next whole message. The returned slice belongs to the
// caller. Errors are sticky, except the one returned when ctx is done, which
// leaves the connection usable.
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	return c.ReadAppend(ctx, nil)
}

// ReadAppend reads the next whole message and appends it to dst, returning
// the extended slice. Reusing dst across calls reads without allocating.
func (c *Conn) ReadAppend(ctx context.Context, dst []byte) (MessageType, []byte, error) {
	var typ MessageType
	err := c.readOp(ctx, func() (err error) {
		if typ, err = c.nextMessage(); err != nil {
			return err
		}
		dst, err = c.msg.readAll(dst)
		return err
	})
	if err != nil {
		return 0, dst, err
	}
	return typ, dst, nil
}

// Reader waits for the next message and returns its type and a reader of
// its payload, valid until the next call to Read or Reader. Reads through it
// use ctx. An unfinished previous message is read through and discarded.
func (c *Conn) Reader(ctx context.Context) (MessageType, io.Reader, error) {
	var typ MessageType
	err := c.readOp(ctx, func() (err error) {
		typ, err = c.nextMessage()
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	c.msg.ctx = ctx
	return typ, &c.msg, nil
}

// readOp runs f with the read semaphore held and blocked reads interrupted
// when ctx is done, in which case the error is ctx's and the connection
// stays usable.
func (c *Conn) readOp(ctx context.Context, f func() error) error {
	if err := c.acquire(ctx, c.readSem, 0); err != nil {
		return err
	}
	defer release(c.readSem)
	if c.readErr != nil {
		return c.readErr
	}
	c.readWatch.arm(ctx, c.nc, readSide, c.closeDeadline())
	err := f()
	if c.readWatch.interrupted(c.nc, readSide, c.closeDeadline()) && err != nil && c.readErr == nil {
		err = ctx.Err()
	}
	if c.tcpClosed.Load() {
		c.readWatch.disarm(c.nc, readSide, time.Time{})
	}
	return err
}

// readAll reads the rest of the message, appending it to dst.
func (m *messageReader) readAll(dst []byte) ([]byte, error) {
	c := m.c
	if c.hdr.Fin && c.remaining > 0 && m.src == &c.frames {
		dst = grow(dst, int(c.remaining)) // one frame: the size is known
	}
	for {
		if len(dst) == cap(dst) {
			// Full: see whether the message has ended before growing.
			if _, err := m.read(nil); err == io.EOF {
				return dst, nil
			} else if err != nil {
				return dst, err
			}
			dst = grow(dst, 512)
		}
		n, err := m.read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// grow makes room for at least n more bytes in b.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	if n < len(b) {
		n = len(b) // double
	}
	nb := make([]byte, len(b), len(b)+n)
	copy(nb, b)
	return nb
}

// nextMessage discards what is left of the current message and reads up to
// the first data frame of the next one, setting up c.msg.
func (c *Conn) nextMessage() (MessageType, error) {
	if c.msg.active {
		var scratch [512]byte
		for {
			_, err := c.msg.read(scratch[:])
			if err == io.EOF {
				break
			}
			if err != nil {
				return 0, err
			}
		}
	}
	if err := c.nextDataFrame(); err != nil {
		return 0, err
	}
	m := &c.msg
	m.active = true
	m.typ = MessageType(c.hdr.Opcode)
	m.n = 0
	m.utf8.Reset()
	m.src = &c.frames
	if c.hdr.RSV != 0 {
		m.src = c.codec.NewReader(&c.frames, c.hdr.RSV)
	}
	return m.typ, nil
}

// nextDataFrame reads frames until the header of a data frame, handling the
// control frames on the way, and checks that it continues (or starts) a
// message as it must (RFC 6455 §5.4).
func (c *Conn) nextDataFrame() error {
	for {
		h, err := c.readHeader()
		if err != nil {
			return err
		}
		if h.Opcode.IsControl() {
			if err := c.handleControl(h); err != nil {
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
		if !c.inMessage {
			c.rawSize = 0
		}
		c.rawSize += h.Length
		limit := c.readLimit.Load()
		if c.maxFrame > 0 && h.Length > c.maxFrame {
			return c.fail(StatusMessageTooBig, ErrMessageTooBig, fmt.Sprintf("frame of %d bytes exceeds the limit of %d", h.Length, c.maxFrame))
		}
		if limit > 0 && h.RSV == 0 && c.rawSize > limit && c.msgUncompressed() {
			return c.fail(StatusMessageTooBig, ErrMessageTooBig, fmt.Sprintf("message of %d bytes or more exceeds the limit of %d", c.rawSize, limit))
		}
		c.hdr = h
		c.remaining = h.Length
		c.maskPos = 0
		c.inMessage = !h.Fin
		return nil
	}
}

// msgUncompressed reports whether the message being read is passed through
// unchanged, so that its raw size is its size.
func (c *Conn) msgUncompressed() bool {
	return !c.msg.active || c.msg.src == &c.frames
}

// readHeader reads and checks the next frame header.
func (c *Conn) readHeader() (frame.Header, error) {
	b, err := c.rb.Peek(2)
	if err != nil {
		return frame.Header{}, c.ioError(err)
	}
	n := frame.Len(b[0], b[1])
	if b, err = c.rb.Peek(n); err != nil {
		return frame.Header{}, c.ioError(err)
	}
	h, _, err := frame.Parse(b)
	c.rb.Discard(n)
	if c.keepalive != nil {
		c.framesIn.Add(1)
	}
	if err == nil {
		err = h.Check(c.server, c.codecBits)
	}
	if err != nil {
		return h, c.fail(StatusProtocolError, ErrProtocol, err.Error())
	}
	return h, nil
}

// handleControl reads the payload of a control frame and acts on it
// (RFC 6455 §5.5).
func (c *Conn) handleControl(h frame.Header) error {
	n := int(h.Length)
	b, err := c.rb.Peek(n)
	if err != nil {
		return c.ioError(err)
	}
	p := c.ctrl[:copy(c.ctrl[:], b)]
	c.rb.Discard(n)
	if h.Masked {
		mask.Apply(h.Key, 0, p)
	}
	switch h.Opcode {
	case frame.OpPing:
		if c.onPing != nil {
			c.onPing(p)
		}
		err := c.writeFrame(context.Background(), c.closeTimeout, true, 0, frame.OpPong, p)
		if err != nil && !errors.Is(err, ErrClosed) {
			c.readErr = err
			c.closeTCP()
			return err
		}
	case frame.OpPong:
		if c.onPong != nil {
			c.onPong(p)
		}
		c.notifyPong(p)
	case frame.OpClose:
		return c.handlePeerClose(p)
	}
	return nil
}

// ioError records an I/O error of the read side. A timeout caused by a
// context is returned as is, leaving the connection usable; anything else is
// sticky and ends the connection.
func (c *Conn) ioError(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if dl := c.closeDeadline(); dl.IsZero() || time.Now().Before(dl) {
			return err // a context's deadline
		}
		err = ErrCloseTimeout
		c.readErr = err
		c.closeTCP()
		return err
	}
	if c.keepaliveFired.Load() {
		err = ErrKeepaliveTimeout
	} else if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		err = fmt.Errorf("websock: connection lost without a closing handshake (status %d): %w", StatusAbnormalClosure, io.ErrUnexpectedEOF)
	} else {
		err = fmt.Errorf("websock: read: %w", err)
	}
	c.readErr = err
	c.closeTCP()
	return err
}

// frameReader reads the payload of the current message across its frames,
// unmasked. It returns io.EOF after the last frame.
type frameReader struct{ c *Conn }

func (f *frameReader) Read(p []byte) (int, error) {
	c := f.c
	for c.remaining == 0 {
		if !c.inMessage {
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
		c.maskPos = mask.Apply(c.hdr.Key, c.maskPos, p[:n])
	}
	c.remaining -= int64(n)
	if err != nil {
		return n, c.ioError(err)
	}
	return n, nil
}

// messageReader is the reader of one message handed to the application: it
// applies the read limit and validates text as it arrives.
type messageReader struct {
	c      *Conn
	ctx    context.Context
	active bool // the message has not been read to its end
	typ    MessageType
	src    io.Reader // the frames, or the extension's decoder over them
	n      int64
	utf8   utf8.Validator
}

func (m *messageReader) Read(p []byte) (n int, err error) {
	err = m.c.readOp(m.ctx, func() error {
		if !m.active {
			return io.EOF
		}
		n, err = m.read(p)
		return err
	})
	return n, err
}

// read is Read with the read semaphore held.
func (m *messageReader) read(p []byte) (int, error) {
	c := m.c
	n, err := m.src.Read(p)
	m.n += int64(n)
	if limit := c.readLimit.Load(); limit > 0 && m.n > limit {
		return 0, c.fail(StatusMessageTooBig, ErrMessageTooBig, fmt.Sprintf("message exceeds the limit of %d bytes", limit))
	}
	if m.typ == TextMessage && !m.utf8.Write(p[:n]) {
		return 0, c.fail(StatusInvalidPayload, ErrInvalidUTF8, "text message is not valid UTF-8")
	}
	switch {
	case err == io.EOF:
		if m.typ == TextMessage && !m.utf8.Complete() {
			return 0, c.fail(StatusInvalidPayload, ErrInvalidUTF8, "text message ends inside a UTF-8 sequence")
		}
		m.active = false
	case err != nil && c.readErr == nil && !errors.Is(err, os.ErrDeadlineExceeded):
		// The extension's decoder rejected the payload.
		return n, c.fail(StatusInvalidPayload, ErrInvalidData, err.Error())
	}
	return n, err
}
