// Package readbuf is a buffered reader whose memory follows the traffic.
//
// A WebSocket server holds many connections that are idle most of the time,
// each with a goroutine blocked in a read. A bufio.Reader keeps its whole
// buffer for the life of the connection; this Reader reads into a small
// inline array while traffic is light, borrows a larger buffer from a pool
// while data streams in, and gives it back as soon as everything buffered
// has been consumed.
//
// The memory rule: Peek, which waits for the start of something new (a
// frame header, a control frame), reads into the inline array whenever what
// it needs fits there, giving back a pooled buffer first if it holds one. A
// connection waiting for its peer's next frame thus holds no pooled buffer,
// however the previous data ended; small messages never need one. Read and
// Discard, which consume what the peer has started to send, borrow a
// pooled buffer when the previous read from the underlying reader filled its
// buffer (more is likely waiting), so that a stream of small reads costs one
// read from the underlying reader per PooledSize bytes.
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
	grow   bool // the last fill filled its buffer: Read and Discard borrow
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
// A fill for Read or Discard (stream) borrows a pooled buffer if the last
// one filled its buffer; a fill for Peek reads into the inline array when
// need fits there, so that a connection waiting for a frame holds nothing
// pooled.
func (b *Reader) fill(need int, stream bool) error {
	if b.r == b.w {
		b.r, b.w = 0, 0
	}
	switch {
	case b.pooled == nil && (need > len(b.buf) || stream && b.grow):
		b.borrow(need)
	case b.pooled != nil && !stream && need <= InlineSize:
		b.unborrow()
	}
	if len(b.buf)-b.r < need || b.w == len(b.buf) {
		// Move what is buffered to the front.
		b.w = copy(b.buf, b.buf[b.r:b.w])
		b.r = 0
	}
	n, err := b.rd.Read(b.buf[b.w:])
	b.w += n
	b.grow = b.w == len(b.buf)
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

// unborrow moves what is buffered (less than InlineSize bytes) back to the
// inline array and gives the pooled buffer back.
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
