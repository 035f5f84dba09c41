package websock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/websock/websock/internal/frame"
	"github.com/websock/websock/internal/mask"
)

// Write sends p as one message of type typ. It is safe to call from several
// goroutines; messages go out whole, one after the other.
//
// If ctx is done while Write waits for its turn, it returns ctx's error and
// nothing was sent. Once the message has started (a frame of it on the
// wire, or its data given to the compressor), a failure cannot be undone:
// the connection is closed and the error wraps ErrMessageAbandoned and the
// cause (ctx's error, say), as does every later call.
func (c *Conn) Write(ctx context.Context, typ MessageType, p []byte) error {
	if typ != TextMessage && typ != BinaryMessage {
		return fmt.Errorf("websock: write: invalid message type %d", typ)
	}
	if err := c.acquire(ctx, &c.msgSem, 0); err != nil {
		return err
	}
	defer release(&c.msgSem)
	if c.codec == nil || c.uncompressed.Load() {
		return c.sent(typ, p, c.writeFrame(ctx, 0, true, 0, frame.Opcode(typ), p))
	}
	if !c.codecUse.enter(c.codec) {
		return c.closedErr()
	}
	defer c.codecUse.leave(c.codec)
	w := c.mw
	w.start(ctx, typ)
	enc, rsv := c.codec.NewWriter(w, len(p))
	if enc == io.WriteCloser(w) {
		w.finish()
		return c.sent(typ, p, c.writeFrame(ctx, 0, true, 0, frame.Opcode(typ), p))
	}
	w.rsv, w.begun, w.coded, w.payload = rsv, true, true, int64(len(p))
	_, err := enc.Write(p)
	if err == nil {
		err = enc.Close()
	}
	if err != nil {
		w.fail(err)
		w.finish()
		return w.err
	}
	return w.Close()
}

// Writer returns a writer for one message of type typ, sent as fragments as
// its data arrives; Close sends the last fragment and must be called. No
// other message is sent until then, but control frames may go out between
// fragments. Every write through it uses ctx. Each call returns a writer of
// its own: once closed, it fails without touching later messages.
//
// Failures follow Write's rule: before the message has started, the
// connection is unharmed (the writer keeps failing; Close it); after, the
// connection is closed.
func (c *Conn) Writer(ctx context.Context, typ MessageType) (io.WriteCloser, error) {
	if typ != TextMessage && typ != BinaryMessage {
		return nil, fmt.Errorf("websock: writer: invalid message type %d", typ)
	}
	if err := c.acquire(ctx, &c.msgSem, 0); err != nil {
		return nil, err
	}
	if c.tcpClosed.Load() || !c.codecUse.enter(c.codec) {
		release(&c.msgSem)
		return nil, c.closedErr()
	}
	w := &messageWriter{c: c}
	w.start(ctx, typ)
	w.ownsTurn = true
	if c.codec == nil || c.uncompressed.Load() {
		return w, nil
	}
	enc, rsv := c.codec.NewWriter(w, -1)
	if enc == io.WriteCloser(w) {
		return w, nil
	}
	w.rsv, w.begun, w.coded = rsv, true, true
	return &encodedWriter{enc: enc, w: w}, nil
}

// encodedWriter is a message writer behind an extension's encoder.
type encodedWriter struct {
	enc io.WriteCloser
	w   *messageWriter
}

func (e *encodedWriter) Write(p []byte) (int, error) {
	if e.w.closed {
		return 0, errWriterClosed
	}
	if e.w.err != nil {
		return 0, e.w.err
	}
	n, err := e.enc.Write(p)
	e.w.payload += int64(n)
	if err != nil {
		e.w.fail(err)
		return n, e.w.err
	}
	return n, nil
}

func (e *encodedWriter) Close() error {
	if e.w.closed {
		return errWriterClosed
	}
	if e.w.err == nil {
		if err := e.enc.Close(); err != nil {
			e.w.fail(err)
		}
	}
	return e.w.Close()
}

var errWriterClosed = errors.New("websock: message writer already closed")

// messageWriter sends one message as a series of frames. It buffers data
// up to the size of its buffer and emits a frame each time the buffer fills.
type messageWriter struct {
	c        *Conn
	ctx      context.Context
	op       frame.Opcode // of the next frame
	rsv      byte         // of the first frame
	buf      []byte
	pooled   *[]byte // buf's storage, from writeBuffers
	begun    bool    // a frame was sent or the encoder has the data
	closed   bool
	ownsTurn bool // a Writer's: Close gives the message turn (msgSem) back
	err      error

	// For Metrics: the message's type, and its bytes so far before and
	// after the encoder (the same without one).
	typ           MessageType
	coded         bool
	payload, wire int64
}

// writeBuffers holds the buffers that assemble frames (header room plus
// writeBufferSize), lent to a connection only while it writes.
var writeBuffers = sync.Pool{New: func() any {
	b := make([]byte, frame.MaxHeaderLen+writeBufferSize)
	return &b
}}

func (w *messageWriter) start(ctx context.Context, typ MessageType) {
	bp := writeBuffers.Get().(*[]byte)
	*w = messageWriter{c: w.c, ctx: ctx, op: frame.Opcode(typ), typ: typ, pooled: bp, buf: (*bp)[:0:writeBufferSize]}
}

// finish gives the buffer back.
func (w *messageWriter) finish() {
	if w.pooled != nil {
		writeBuffers.Put(w.pooled)
		w.pooled, w.buf = nil, nil
	}
}

// fail records err as the message's error: once the message has begun,
// the connection cannot carry another one, so it is closed.
func (w *messageWriter) fail(err error) {
	if w.err != nil {
		return
	}
	if w.begun && !errors.Is(err, ErrClosed) {
		w.c.closeTCP(fmt.Errorf("%w: %w", ErrMessageAbandoned, err))
		err = w.c.closedErr()
	}
	w.err = err
}

func (w *messageWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errWriterClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	n := len(p)
	for len(p) > 0 {
		if len(w.buf) == 0 && len(p) >= cap(w.buf) {
			// Large write with nothing buffered: send it as it is.
			if err := w.flush(false, p); err != nil {
				return 0, err
			}
			return n, nil
		}
		k := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(false, w.buf); err != nil {
				return 0, err
			}
			w.buf = w.buf[:0]
		}
	}
	return n, nil
}

// flush sends p as the next frame of the message.
func (w *messageWriter) flush(fin bool, p []byte) error {
	if err := w.c.writeFrame(w.ctx, 0, fin, w.rsv, w.op, p); err != nil {
		w.fail(err)
		return w.err
	}
	w.begun, w.wire = true, w.wire+int64(len(p))
	w.op, w.rsv = frame.OpContinuation, 0
	return nil
}

// Close sends the final frame of the message.
func (w *messageWriter) Close() error {
	if w.closed {
		return errWriterClosed
	}
	w.closed = true
	if w.ownsTurn {
		defer release(&w.c.msgSem)
		defer w.c.codecUse.leave(w.c.codec)
	}
	defer w.finish()
	if w.err != nil {
		return w.err
	}
	if err := w.flush(true, w.buf); err != nil {
		return err
	}
	w.c.metrics.messageSent(w.typ, w.sentPayload(), w.wire)
	return nil
}

// writeFrame sends one frame. timeout, when positive, bounds the wait for
// the frame lock and the write itself (used for control frames the
// connection sends on its own); otherwise the write timeout bounds the
// write. Waiting for the lock, ctx's end or the timeout returns an error
// with nothing sent; an error once writing has begun closes the
// connection, since a frame cut short cannot be resumed.
func (c *Conn) writeFrame(ctx context.Context, timeout time.Duration, fin bool, rsv byte, op frame.Opcode, p []byte) error {
	return c.sendFrame(ctx, timeout, outFrame{fin: fin, rsv: rsv, op: op, payload: p})
}

// outFrame is a frame to send: its header fields and payload and, when
// already encoded for a server (which does not mask), the whole frame.
type outFrame struct {
	fin     bool
	rsv     byte
	op      frame.Opcode
	payload []byte
	wire    []byte // header and payload, or nil
}

// sendFrame is writeFrame for an outFrame.
func (c *Conn) sendFrame(ctx context.Context, timeout time.Duration, f outFrame) error {
	op := f.op
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.acquire(ctx, &c.frameSem, timeout); err != nil {
		return err
	}
	defer release(&c.frameSem)
	switch {
	case c.writeErr != nil:
		return c.writeErr
	case c.tcpClosed.Load():
		return c.closedErr()
	case c.closeSent:
		return ErrClosed
	}
	if op == frame.OpClose {
		c.closeSent = true
	}
	if timeout <= 0 {
		timeout = c.writeTimeout
	}
	if timeout > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(timeout))
		defer c.nc.SetWriteDeadline(time.Time{})
	}
	c.writeWatch.arm(ctx, c.nc, writeSide)
	var err error
	if f.wire != nil && c.server {
		_, err = c.nc.Write(f.wire)
	} else {
		err = c.writeFrameLocked(f.fin, f.rsv, op, f.payload)
	}
	c.writeWatch.disarm(c.nc, writeSide, time.Time{})
	if err == nil {
		if op == frame.OpClose {
			c.metrics.closeSent(f.payload)
		}
		return nil
	}
	switch {
	case c.tcpClosed.Load():
	case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil:
		err = fmt.Errorf("websock: write cut short: %w", ctx.Err())
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("%w after %v", ErrWriteTimeout, timeout)
	default:
		err = fmt.Errorf("websock: write: %w", err)
	}
	if tc, ok := c.nc.(interface{ NetConn() net.Conn }); ok {
		// The frame may have stopped inside a TLS record: close beneath
		// TLS, which would otherwise send its closing alert after the
		// partial record and the peer would read garbage.
		tc.NetConn().Close()
	}
	c.closeTCP(err)
	c.writeErr = c.closedErr()
	return c.writeErr
}

// writeFrameLocked encodes and writes a frame with the frame lock held:
// header and payload in one write where possible, masked through the write
// buffer on the client side.
func (c *Conn) writeFrameLocked(fin bool, rsv byte, op frame.Opcode, p []byte) error {
	bp := writeBuffers.Get().(*[]byte)
	defer writeBuffers.Put(bp)
	wbuf := *bp
	h := frame.Header{Fin: fin, RSV: rsv, Opcode: op, Length: int64(len(p)), Masked: !c.server}
	if h.Masked {
		k := c.keys.Uint64()
		h.Key = [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
	}
	n := frame.Put(wbuf, h)
	if h.Masked {
		// Mask a copy: p belongs to the caller.
		pos := 0
		for {
			k := copy(wbuf[n:], p)
			pos = mask.Apply(h.Key, pos, wbuf[n:n+k])
			if _, err := c.nc.Write(wbuf[:n+k]); err != nil {
				return err
			}
			p = p[k:]
			if len(p) == 0 {
				return nil
			}
			n = 0
		}
	}
	if n+len(p) <= len(wbuf) {
		n += copy(wbuf[n:], p)
		_, err := c.nc.Write(wbuf[:n])
		return err
	}
	if _, ok := c.nc.(*net.TCPConn); ok {
		// One writev for header and payload.
		v := net.Buffers{wbuf[:n], p}
		_, err := v.WriteTo(c.nc)
		return err
	}
	k := copy(wbuf[n:], p)
	if _, err := c.nc.Write(wbuf[:n+k]); err != nil {
		return err
	}
	_, err := c.nc.Write(p[k:])
	return err
}
