// Package deflate compresses and decompresses WebSocket messages as
// permessage-deflate (RFC 7692 §7.2) specifies: each message is a DEFLATE
// stream flushed with a sync marker, whose final 00 00 ff ff is removed on
// the wire; with context takeover, the LZ77 window carries over from one
// message to the next.
package deflate

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/flate"
)

// tail is the end of a sync flush (RFC 7692 §7.2.1), removed by the sender
// and appended again by the receiver (§7.2.2).
var tail = [4]byte{0x00, 0x00, 0xff, 0xff}

// finalBlock is an empty final stored block: appended after the tail, it
// makes the decompressor report the end of the message as io.EOF.
var finalBlock = [5]byte{0x01, 0x00, 0x00, 0xff, 0xff}

// ErrBadTail means a compressed message did not end as a sync flush does.
var ErrBadTail = errors.New("deflate: compressed data does not end with a sync flush")

// IdleRelease is how long a compressor with context takeover keeps its
// writer after a message. Then it gives the writer back to a pool and keeps
// only the window of recent input, from which the next message's writer is
// primed (about 10 µs for a 32 KiB window): a busy connection compresses at
// full speed, an idle one holds at most its window.
const IdleRelease = time.Second

// MaxRetained bounds the writers kept between messages by all the
// compressors with context takeover of the process (about 800 KiB of heap
// each, a tenth of it touched by small messages). Beyond it, a connection
// gives its writer back at the end of each message and resumes from its
// window, so that memory does not grow with the number of connections.
const MaxRetained = 64

// retainedWriters counts the writers kept between messages.
var retainedWriters atomic.Int32

// Compressor compresses the messages of one direction of a connection.
type Compressor struct {
	level    int
	bits     int  // LZ77 window: 1<<bits bytes
	takeover bool // keep the window across messages
	out      tailStripper
	window   slideWindow // with takeover: the last input, to prime a new writer

	mu        sync.Mutex    // guards the fields below against the idle release
	fw        *flate.Writer // nil between messages, except with takeover until idle
	writing   bool          // between Writer and Close
	retained  bool          // fw is counted in retainedWriters
	idle      *time.Timer   // with takeover: runs release after idleAfter
	idleAfter time.Duration // IdleRelease, shorter in tests
	done      bool          // Release was called
}

// NewCompressor returns a compressor for windows of 1<<bits bytes (8..15)
// at the given level (1..9; 0 means 1). Without takeover, it borrows a
// pooled writer for each message; with takeover, it keeps the writer while
// messages follow each other and only its window once idle (IdleRelease).
func NewCompressor(level, bits int, takeover bool) *Compressor {
	if level <= 0 || level > 9 {
		level = 1
	}
	c := &Compressor{level: level, bits: bits, takeover: takeover, idleAfter: IdleRelease}
	c.window.size = 1 << bits
	return c
}

// Params returns the compressor's level, window bits and whether it keeps
// its window across messages.
func (c *Compressor) Params() (level, bits int, takeover bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.level, c.bits, c.takeover
}

// SetLevel sets the level (1..9) of the messages compressed from the next
// Writer on; it must not be called while a message is being written. With
// takeover, the next message still refers to the window of the previous
// ones: a writer of the new level is primed from it.
func (c *Compressor) SetLevel(level int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if level < 1 || level > 9 || level == c.level {
		return
	}
	c.putWriter()
	c.level = level
}

// writerPools holds idle flate writers by window bits and level.
var writerPools sync.Map // key [2]int -> *sync.Pool

func (c *Compressor) pool() *sync.Pool {
	key := [2]int{c.bits, c.level}
	if p, ok := writerPools.Load(key); ok {
		return p.(*sync.Pool)
	}
	p, _ := writerPools.LoadOrStore(key, &sync.Pool{New: func() any {
		var w *flate.Writer
		if key[0] >= 15 {
			w, _ = flate.NewWriter(nil, key[1])
		} else {
			w, _ = flate.NewWriterWindow(nil, 1<<key[0])
		}
		return w
	}})
	return p.(*sync.Pool)
}

// Writer starts a message: data written to the returned writer is
// compressed onto dst, and Close ends the message, writing the rest of the
// compressed bytes without the sync tail. The writer is valid until Close.
func (c *Compressor) Writer(dst io.Writer) io.WriteCloser {
	c.out.reset(dst)
	c.mu.Lock()
	c.writing = true
	if c.retained {
		// Counted again at Close: a message that never ends (its
		// connection failed) must not hold a place in the budget.
		retainedWriters.Add(-1)
		c.retained = false
	}
	if c.fw == nil {
		c.fw = c.pool().Get().(*flate.Writer)
		// Without takeover the window is empty: a fresh stream.
		c.fw.ResetDict(&c.out, c.window.bytes())
	}
	c.mu.Unlock()
	return (*messageWriter)(c)
}

// Release gives back what the compressor holds; it must not be called
// while a message is being written, nor the compressor used after.
func (c *Compressor) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done = true
	if c.idle != nil {
		c.idle.Stop()
	}
	c.putWriter()
	c.window = slideWindow{}
}

// release runs idleAfter after a message with takeover: unless another
// message has started, the writer goes back to its pool.
func (c *Compressor) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.writing && !c.done {
		c.putWriter()
		c.window.compact()
	}
}

// putWriter gives the writer back to its pool; c.mu is held.
func (c *Compressor) putWriter() {
	if c.retained {
		retainedWriters.Add(-1)
		c.retained = false
	}
	if c.fw != nil {
		c.fw.ResetDict(nil, nil) // drops any reference to c.window
		c.pool().Put(c.fw)
		c.fw = nil
	}
}

type messageWriter Compressor

func (m *messageWriter) Write(p []byte) (int, error) {
	if m.out.err != nil {
		return 0, m.out.err
	}
	n, err := m.fw.Write(p)
	if m.takeover {
		m.window.add(p[:n])
	}
	return n, err
}

func (m *messageWriter) Close() error {
	c := (*Compressor)(m)
	err := c.fw.Flush()
	if err == nil {
		err = c.out.finish()
	}
	c.mu.Lock()
	c.writing = false
	switch {
	case !c.takeover:
		c.putWriter()
	case !c.retained && retainedWriters.Add(1) > MaxRetained:
		retainedWriters.Add(-1)
		c.putWriter()
	case c.idle == nil:
		c.retained = true
		c.idle = time.AfterFunc(c.idleAfter, c.release)
	default:
		c.retained = true
		c.idle.Reset(c.idleAfter)
	}
	c.mu.Unlock()
	return err
}

// tailStripper passes bytes on to dst, holding back the last four so that
// the sync flush's tail can be dropped at the end.
type tailStripper struct {
	dst  io.Writer
	held [4]byte
	n    int
	err  error
}

func (t *tailStripper) reset(dst io.Writer) { t.dst, t.n, t.err = dst, 0, nil }

func (t *tailStripper) Write(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	total := len(p)
	if t.n+len(p) <= 4 {
		t.n += copy(t.held[t.n:], p)
		return total, nil
	}
	// Emit what is held and all of p but its last four bytes.
	keep := min(4, len(p))
	if emit := t.n + len(p) - 4; emit > 0 {
		fromHeld := min(t.n, emit)
		if fromHeld > 0 {
			if _, t.err = t.dst.Write(t.held[:fromHeld]); t.err != nil {
				return 0, t.err
			}
			copy(t.held[:], t.held[fromHeld:t.n])
			t.n -= fromHeld
		}
		if body := p[:len(p)-keep]; len(body) > 0 {
			if _, t.err = t.dst.Write(body); t.err != nil {
				return 0, t.err
			}
		}
	}
	t.n += copy(t.held[t.n:], p[len(p)-keep:])
	return total, nil
}

// finish checks that the held bytes are the tail and drops them.
func (t *tailStripper) finish() error {
	if t.err != nil {
		return t.err
	}
	if t.n != 4 || t.held != tail {
		return ErrBadTail
	}
	t.n = 0
	return nil
}

// ErrTrailingData means a compressed message went on after the end of its
// DEFLATE stream (a block with BFINAL set) with bytes that carry data or do
// not decode: they cannot be part of the message, and dropping them would
// lose data silently. Empty blocks there are allowed, such as the lone 0x00
// octet that RFC 7692 §7.2.3.4 puts after a final block.
var ErrTrailingData = errors.New("deflate: data after the final block of a compressed message")

// Decompressor decompresses the messages of one direction of a connection.
type Decompressor struct {
	takeover bool
	history  slideWindow // with takeover: the last output, the next message's dictionary
	fr       io.ReadCloser
	src      messageSource
	one      [1]byte
}

// NewDecompressor returns a decompressor for a peer compressing with
// windows of 1<<bits bytes; with takeover, it keeps that much of history
// between messages.
func NewDecompressor(bits int, takeover bool) *Decompressor {
	d := &Decompressor{takeover: takeover}
	d.history.size = 1 << bits
	return d
}

var readerPool = sync.Pool{New: func() any { return flate.NewReader(nil) }}

// Reader starts a message whose compressed payload is read from src and
// returns the reader of its decompressed bytes, which ends with io.EOF.
// It is valid until the next call to Reader or Release. Errors of src are
// returned as they are; ErrTrailingData or another error means the payload
// is invalid. After an error, the reader
// returns it again.
func (d *Decompressor) Reader(src io.Reader) io.Reader {
	d.src.reset(src)
	if d.fr == nil {
		d.fr = readerPool.Get().(io.ReadCloser)
	}
	var dict []byte
	if d.takeover {
		dict = d.history.bytes()
	}
	d.fr.(flate.Resetter).Reset(&d.src, dict)
	return (*messageReader)(d)
}

// Release gives back what the decompressor holds; it must not be used after.
func (d *Decompressor) Release() {
	if d.fr != nil {
		readerPool.Put(d.fr)
		d.fr = nil
	}
	d.src.release()
	d.history = slideWindow{}
}

type messageReader Decompressor

func (m *messageReader) Read(p []byte) (int, error) {
	d := (*Decompressor)(m)
	if d.fr == nil {
		if d.src.end == nil {
			return 0, io.EOF // released
		}
		return 0, d.src.end
	}
	n, err := d.fr.Read(p)
	if d.takeover && n > 0 {
		d.history.add(p[:n])
	}
	switch {
	case err == nil:
		return n, nil
	case d.src.err != nil:
		// The source failed: that is the cause, whatever the flate
		// reader made of it.
		err = d.src.err
	case err == io.EOF && !d.src.payloadRead():
		if rerr := d.checkRest(); rerr != nil {
			err = rerr
		}
	}
	// The next message starts from a pooled reader primed with the
	// history, so an idle connection holds no decompressor (nor buffer).
	readerPool.Put(d.fr)
	d.fr = nil
	d.src.release()
	d.src.end = err
	return n, err
}

// checkRest decodes what follows the final block of a message's DEFLATE
// stream, with the sync tail and the empty final block appended as for the
// message itself: it may only be empty blocks.
func (d *Decompressor) checkRest() error {
	for !d.src.payloadRead() {
		d.fr.(flate.Resetter).Reset(&d.src, nil)
		n, err := d.fr.Read(d.one[:])
		for n == 0 && err == nil {
			n, err = d.fr.Read(d.one[:])
		}
		switch {
		case d.src.err != nil:
			return d.src.err
		case n > 0 || err != io.EOF:
			return ErrTrailingData
		}
	}
	return nil
}

// messageSource yields the message's payload, then the sync tail and an
// empty final block, through a small buffer (the decompressor reads byte by
// byte). The buffer holds payload bytes or ending bytes, never both. It is
// borrowed from sourceBuffers for one message, like the flate reader, so
// that an idle connection holds none.
type messageSource struct {
	r     io.Reader
	eof   bool                    // r is exhausted
	err   error                   // r failed
	end   error                   // how the message's reader ended: io.EOF or an error
	extra int                     // bytes of the ending already buffered
	buf   *[sourceBufferSize]byte // nil between messages
	i, n  int
}

const sourceBufferSize = 512

var sourceBuffers = sync.Pool{New: func() any { return new([sourceBufferSize]byte) }}

var ending = append(tail[:], finalBlock[:]...)

func (s *messageSource) reset(r io.Reader) {
	s.r, s.eof, s.err, s.end = r, false, nil, nil
	s.extra, s.i, s.n = 0, 0, 0
	if s.buf == nil {
		s.buf = sourceBuffers.Get().(*[sourceBufferSize]byte)
	}
}

// release gives the buffer back at the end of a message.
func (s *messageSource) release() {
	if s.buf != nil {
		sourceBuffers.Put(s.buf)
		s.buf = nil
	}
}

func (s *messageSource) fill() error {
	s.i, s.n = 0, 0
	if err := s.readPayload(); err != nil || s.n > 0 {
		return err
	}
	if s.extra == len(ending) {
		return io.EOF
	}
	s.n = copy(s.buf[:], ending[s.extra:])
	s.extra += s.n
	return nil
}

// maxEmptyReads bounds the reads in a row that return nothing and no error.
const maxEmptyReads = 100

// readPayload reads the next bytes of the payload into the empty buffer, or
// notes that r is exhausted.
func (s *messageSource) readPayload() error {
	for empty := 0; s.err == nil && !s.eof; empty++ {
		if empty == maxEmptyReads {
			s.err = io.ErrNoProgress
			break
		}
		n, err := s.r.Read(s.buf[:])
		s.n = n
		switch {
		case err == io.EOF:
			s.eof = true
		case err != nil:
			s.err = err
		}
		if s.n > 0 {
			return s.err
		}
	}
	return s.err
}

func (s *messageSource) ReadByte() (byte, error) {
	for s.i == s.n {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	b := s.buf[s.i]
	s.i++
	return b, nil
}

func (s *messageSource) Read(p []byte) (int, error) {
	for s.i == s.n {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.buf[s.i:s.n])
	s.i += n
	return n, nil
}

// payloadRead reports whether the decompressor has consumed the whole
// payload: it is reading the ending, or r has nothing more (payloadRead
// reads from r to find out when nothing is buffered).
func (s *messageSource) payloadRead() bool {
	if s.i == s.n && s.extra == 0 {
		s.i, s.n = 0, 0
		s.readPayload()
	}
	return s.eof && (s.extra > 0 || s.i == s.n)
}
