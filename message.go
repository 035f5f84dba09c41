package websock

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/websock/websock/internal/utf8"
)

// messageReader delivers the message being read: it applies the read limit,
// validates text as it arrives and, for a compressed message, gathers the
// payload and decodes it.
type messageReader struct {
	c      *Conn
	gen    uint64 // number of the message, so that stale readers can tell
	active bool   // the message has begun and not been read to its end
	resume bool   // a whole-message read of it was interrupted: continue it
	typ    MessageType
	rsv    byte  // of its first frame: non-zero for the codec
	n      int64 // bytes delivered from the source (kept ones not again)

	// charged is what the message's buffers count against the budget.
	charged atomic.Int64
	utf8    utf8.Validator

	// kept holds the bytes an interrupted ReadAppend had received, which
	// the next read call delivers first.
	kept []byte

	coded *codedMessage // with a codec only
}

// codedMessage is the state of reading a message through the codec. It is
// gathered whole, then decoded from memory, so that the decoder never
// waits for the network: a read interrupted while gathering resumes where
// it stopped, and decoding cannot be interrupted.
type codedMessage struct {
	gathered   *[]byte // from getGather
	gatherDone bool
	src        bytes.Reader
	dec        io.Reader
}

// Compressed messages are gathered in pooled buffers of 4 KiB << i bytes
// (up to 4 MiB), so that reading them allocates nothing in steady state;
// larger ones grow buffers of their own.
const (
	gatherMinShift = 12
	gatherClasses  = 11
)

var gatherPools [gatherClasses]sync.Pool

// getGather returns an empty buffer of at least size bytes.
func getGather(size int) *[]byte {
	for i := range gatherPools {
		if n := 1 << (gatherMinShift + i); n >= size {
			if b, ok := gatherPools[i].Get().(*[]byte); ok {
				return b
			}
			b := make([]byte, 0, n)
			return &b
		}
	}
	b := make([]byte, 0, size)
	return &b
}

// putGather gives b back to its pool, if it has a pool's size.
func putGather(b *[]byte) {
	c := cap(*b)
	for i := range gatherPools {
		if c == 1<<(gatherMinShift+i) {
			*b = (*b)[:0]
			gatherPools[i].Put(b)
			return
		}
	}
}

func (m *messageReader) begin(typ MessageType, rsv byte) {
	m.gen++
	m.active, m.resume = true, false
	m.typ, m.rsv, m.n = typ, rsv, 0
	m.utf8.Reset()
	m.kept = nil
	if cm := m.coded; cm != nil {
		cm.gatherDone, cm.dec = false, nil
	}
}

// end marks the message as read to its end and gives back its buffers.
func (m *messageReader) end() {
	m.active, m.resume = false, false
	m.kept = nil
	m.uncharge()
	if cm := m.coded; cm != nil {
		cm.dec = nil
		cm.src.Reset(nil)
		if cm.gathered != nil {
			putGather(cm.gathered)
			cm.gathered = nil
		}
	}
}

// takeKept returns the kept bytes and forgets them.
func (m *messageReader) takeKept() []byte {
	k := m.kept
	m.kept = m.kept[:0]
	return k
}

// read reads from the message into p; the read semaphore is held.
func (m *messageReader) read(p []byte) (int, error) {
	if len(m.kept) > 0 {
		n := copy(p, m.kept)
		m.kept = m.kept[n:]
		if len(m.kept) == 0 {
			m.kept = nil
		}
		return n, nil
	}
	if !m.active {
		return 0, io.EOF
	}
	c := m.c
	var n int
	var err error
	if m.rsv != 0 {
		n, err = m.readDecoded(p)
	} else {
		n, err = (*frameReader)(c).Read(p)
	}
	m.n += int64(n)
	if limit := c.readLimit.Load(); limit > 0 && m.n > limit {
		return 0, c.fail(StatusMessageTooBig, ErrMessageTooBig, fmt.Sprintf("message exceeds the limit of %d bytes", limit))
	}
	if m.typ == TextMessage && !m.utf8.Write(p[:n]) {
		return 0, c.fail(StatusInvalidPayload, ErrInvalidUTF8, "text message is not valid UTF-8")
	}
	if err == io.EOF {
		if m.typ == TextMessage && !m.utf8.Complete() {
			return 0, c.fail(StatusInvalidPayload, ErrInvalidUTF8, "text message ends inside a UTF-8 sequence")
		}
		c.metrics.messageReceived(m.typ, m.n, c.rawSize)
		m.end()
	}
	return n, err
}

// readDecoded reads the decoded compressed message, gathering it first.
func (m *messageReader) readDecoded(p []byte) (int, error) {
	c, cm := m.c, m.coded
	if !cm.gatherDone {
		if err := m.gather(); err != nil {
			return 0, err
		}
		cm.src.Reset(*cm.gathered)
		cm.dec = c.codec.NewReader(&cm.src, m.rsv)
	}
	n, err := cm.dec.Read(p)
	if err != nil && err != io.EOF {
		return n, c.fail(StatusInvalidPayload, ErrInvalidData, err.Error())
	}
	if wire := int64(len(*cm.gathered)); c.maxRatio > 0 && m.n+int64(n) > c.maxRatio*wire+BudgetFree {
		return 0, c.fail(StatusMessageTooBig, ErrMessageTooBig, fmt.Sprintf("compressed message of %d bytes inflates more than %d times", wire, c.maxRatio))
	}
	return n, err
}

// gather reads the rest of the message's payload into m.coded.gathered. Its
// memory follows the bytes that arrive: it starts from a small pooled
// buffer and doubles when full.
func (m *messageReader) gather() error {
	c, cm := m.c, m.coded
	if cm.gathered == nil {
		cm.gathered = getGather(0)
	}
	for {
		g := *cm.gathered
		if len(g) == cap(g) {
			if err := m.charge(2 * cap(g)); err != nil {
				return err
			}
			ng := getGather(2 * cap(g))
			*ng = append(*ng, g...)
			putGather(cm.gathered)
			cm.gathered, g = ng, *ng
		}
		n, err := (*frameReader)(c).Read(g[len(g):cap(g)])
		*cm.gathered = g[:len(g)+n]
		if err == io.EOF {
			cm.gatherDone = true
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readAll reads the rest of the message, appending it to dst; the message
// began at dst[start]. Room is made as bytes arrive, never from the length
// a header claims.
func (m *messageReader) readAll(dst []byte, start int) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			// Full: see whether the message has ended before growing.
			if _, err := m.read(nil); err == io.EOF {
				return dst, nil
			} else if err != nil {
				return dst, err
			}
			room := m.room(len(dst) - start)
			if err := m.charge(len(dst) - start + room); err != nil {
				return dst, err
			}
			dst = grow(dst, room)
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

// room returns how much to grow a buffer holding have bytes of the
// message: double, but no more than the rest of a final frame, and at
// least what has already arrived of the frame (twice what arrived, for a
// compressed message).
func (m *messageReader) room(have int) int {
	n := max(have, 512)
	if cm := m.coded; m.rsv != 0 && cm.gathered != nil {
		// Compressed: at least twice what arrived, a fair first guess.
		n = max(n, 2*len(*cm.gathered))
	}
	if c := m.c; m.rsv == 0 && c.remaining > 0 {
		if !c.inMessage {
			n = int(min(int64(n), c.remaining))
		}
		n = max(n, int(min(int64(c.rb.Buffered()), c.remaining)))
	}
	return n
}

// grow makes room for at least n more bytes in b.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), len(b)+n)
	copy(nb, b)
	return nb
}

// discard reads the rest of the message and drops it. It is decoded all
// the same: with context takeover, the next message needs its history.
func (m *messageReader) discard() error {
	m.kept = nil
	var scratch [512]byte
	for {
		_, err := m.read(scratch[:])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
