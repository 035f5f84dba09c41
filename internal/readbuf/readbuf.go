// Package readbuf is a buffered reader whose memory follows the traffic.
//
// A WebSocket server holds many connections that are idle most of the time,
// each with a goroutine blocked in a read. A bufio.Reader keeps its whole
// buffer for the life of the connection; this Reader reads into a small
// inline array while traffic is light, borrows a larger buffer from a pool
// while data streams in, and gives it back as soon as everything buffered
// has been consumed.
//
// The memory rule: a Reader waiting for the start of a frame holds no
// pooled buffer. Peek with nothing buffered (a frame header, a control
// frame) reads into the inline array whenever what it needs fits there, so
// a connection whose peer has sent whole frames and gone quiet holds
// nothing pooled, however the data ended; small messages never need a
// pooled buffer. Reads that continue what the peer has started to send
// (Read and Discard of a payload, Peek of the rest of a header) borrow one
// when the previous read from the underlying reader filled its buffer, as
// more is likely waiting: a stream costs one read of the underlying reader
// per PooledSize bytes, however small the reads of the caller.
package readbuf

import (
	"io"
	"sync"
)

// InlineSize is the size of the array every Reader carries. It holds a
// frame header and a whole control frame (14 + 125 bytes) with room to spare.
const InlineSize = 192

// PooledSize is the size of the buffers borrowed under load.
const PooledSize = 8 << 10

var pool = sync.Pool{New: func() any { b := make([]byte, PooledSize); return &b }}

// Reader buffers reads from an io.Reader. The zero value is not usable; call
// Reset first.
type Reader struct {
	rd     io.Reader
	buf    []byte // inline[:] or *pooled
	r, w   int    // buf[r:w] is buffered
	pooled *[]byte
	grow   bool // the last fill filled its buffer: more is likely waiting
	short  bool // the last fill at a frame boundary offered InlineSize-1 bytes
	inline [InlineSize]byte
}

// Reset makes b read from rd, starting with the bytes in buffered (data
// already read from rd by someone else, such as an HTTP server's reader).
func (b *Reader) Reset(rd io.Reader, buffered []byte) {
	b.release()
	b.rd = rd
	b.buf = b.inline[:]
	b.r, b.w, b.grow = 0, 0, false
	if len(buffered) > len(b.buf) {
		b.borrow(len(buffered))
	}
	b.w = copy(b.buf, buffered)
}

// Buffered returns the number of bytes that can be read without reading
// from the underlying reader.
func (b *Reader) Buffered() int { return b.w - b.r }

// Holds reports whether b holds a pooled buffer now.
func (b *Reader) Holds() bool { return b.pooled != nil }

// Peek returns the next n bytes without consuming them, reading as needed.
// n must be at most PooledSize. The slice is valid until the next call.
func (b *Reader) Peek(n int) ([]byte, error) {
	for b.w-b.r < n {
		if err := b.fill(n, false); err != nil {
			return b.buf[b.r:b.w], err
		}
	}
	return b.buf[b.r : b.r+n], nil
}

// Discard skips the next n bytes, reading and dropping them as needed.
func (b *Reader) Discard(n int) (int, error) {
	done := 0
	for {
		k := min(n-done, b.w-b.r)
		b.r += k
		done += k
		b.consumed()
		if done == n {
			return done, nil
		}
		if err := b.fill(1, true); err != nil {
			return done, err
		}
	}
}

// Read reads into p: buffered bytes first; with nothing buffered, a read of
// at least PooledSize goes straight to the underlying reader (a copy would
// gain nothing), a smaller one fills the buffer.
func (b *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.r == b.w {
		if len(p) >= PooledSize {
			return b.rd.Read(p)
		}
		if err := b.fill(1, true); err != nil {
			return 0, err
		}
	}
	n := copy(p, b.buf[b.r:b.w])
	b.r += n
	b.consumed()
	return n, nil
}

// fill reads once into the free space, making room for need bytes in all.
// stream tells a fill for Read or Discard from one for Peek. A fill that
// continues something started (stream, or bytes buffered) uses a pooled
// buffer if the last fill filled its buffer; otherwise, the inline array if
// need fits there.
func (b *Reader) fill(need int, stream bool) error {
	if b.r == b.w {
		b.r, b.w = 0, 0
	}
	pooled := need > InlineSize || b.grow && (stream || b.r < b.w)
	switch {
	case pooled && b.pooled == nil:
		b.borrow(need)
	case !pooled && b.pooled != nil:
		b.unborrow()
	}
	if len(b.buf)-b.r < need || b.w == len(b.buf) {
		// Move what is buffered to the front.
		b.w = copy(b.buf, b.buf[b.r:b.w])
		b.r = 0
	}
	end := len(b.buf)
	if b.w == 0 && !stream && !pooled && need < InlineSize {
		// At a frame boundary, offer InlineSize and InlineSize-1 bytes in
		// turn. With a single size, a flood of frames whose size divides
		// it would end every read at a boundary, where Peek does not
		// borrow; no frame size (2 bytes or more) divides both.
		b.short = !b.short
		if b.short {
			end--
		}
	}
	n, err := b.rd.Read(b.buf[b.w:end])
	b.w += n
	b.grow = b.w == end
	if n > 0 {
		return nil
	}
	b.consumed()
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// borrow switches to a pooled buffer, keeping what is buffered.
func (b *Reader) borrow(need int) {
	p := pool.Get().(*[]byte)
	if len(*p) < need {
		nb := make([]byte, need)
		p = &nb
	}
	w := copy(*p, b.buf[b.r:b.w])
	b.pooled, b.buf, b.r, b.w = p, *p, 0, w
}

// unborrow moves what is buffered back to the inline array and gives the
// pooled buffer back; fill calls it when less than need <= InlineSize bytes
// are buffered.
func (b *Reader) unborrow() {
	w := copy(b.inline[:], b.buf[b.r:b.w])
	b.r, b.w = 0, w
	b.release()
}

// consumed gives the pooled buffer back once it is empty.
func (b *Reader) consumed() {
	if b.r == b.w {
		b.r, b.w = 0, 0
		b.release()
	}
}

func (b *Reader) release() {
	if b.pooled != nil {
		if len(*b.pooled) == PooledSize {
			pool.Put(b.pooled)
		}
		b.pooled = nil
		b.buf = b.inline[:]
	}
}
