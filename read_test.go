package websock

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/websock/websock/internal/frame"
)

// interruptAfter is the per-call timeout of the reads that a test expects
// to be interrupted: the bytes before the interruption point are on
// loopback long before it.
const interruptAfter = 100 * time.Millisecond

// readCut is one point where a read can stop: the peer has sent prefix
// when the read's context ends, and sends rest afterwards.
type readCut struct {
	name         string
	prefix, rest []byte
	pong         string // a pong the peer must get, if any
	midMessage   bool   // the read stops after the message's first data frame header
}

// readCuts returns the points where reading msg (text) can stop, as the
// peer sends it plain or compressed, whole or in two fragments.
func readCuts(t *testing.T, msg []byte, compressed bool) []readCut {
	payload, rsv := msg, byte(0)
	if compressed {
		payload, rsv = compress(t, msg), frame.RSV1
	}
	whole := frameBytes(true, rsv, frame.OpText, payload, false)
	half := len(payload) / 2
	first := frameBytes(false, rsv, frame.OpText, payload[:half], false)
	second := frameBytes(true, 0, frame.OpContinuation, payload[half:], false)
	ping := frameBytes(true, 0, frame.OpPing, []byte("are you there"), false)
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	return []readCut{
		{name: "before a frame", rest: whole},
		{name: "inside a header", prefix: whole[:1], rest: whole[1:]},
		{name: "inside an extended length", prefix: whole[:3], rest: whole[3:]},
		{name: "after a ping's header", prefix: ping[:6], rest: cat(ping[6:], whole), pong: "are you there"},
		{name: "inside a ping's payload", prefix: ping[:9], rest: cat(ping[9:], whole), pong: "are you there"},
		{name: "inside a payload", prefix: whole[:len(whole)/2], rest: whole[len(whole)/2:], midMessage: true},
		{name: "between fragments", prefix: first, rest: second, midMessage: true},
		{name: "between fragments after a ping", prefix: cat(first, ping), rest: second, pong: "are you there", midMessage: true},
		{name: "inside a ping between fragments", prefix: cat(first, ping[:8]), rest: cat(ping[8:], second), pong: "are you there", midMessage: true},
		{name: "inside the last fragment", prefix: cat(first, second[:9]), rest: second[9:], midMessage: true},
	}
}

// TestReadInterrupted: a whole-message read whose context ends at any
// point returns the context's error and nothing else; the next read
// returns the whole message, and the connection stays in step.
func TestReadInterrupted(t *testing.T) {
	msg := pattern(5000, 3)
	eachReadCut(t, msg, false, func(t *testing.T, c *Conn, p *rawPeer, cut readCut) {
		ctx, cancel := context.WithTimeout(context.Background(), interruptAfter)
		defer cancel()
		typ, got, err := c.ReadAppend(ctx, []byte("mine:"))
		if !errors.Is(err, context.DeadlineExceeded) || typ != 0 || string(got) != "mine:" {
			t.Fatalf("interrupted read: %v %q %v, want the context's error and dst unchanged", typ, trim(got), err)
		}
		p.write(cut.rest)
		typ, got, err = c.ReadAppend(context.Background(), []byte("mine:"))
		if err != nil || typ != TextMessage || !bytes.Equal(got, append([]byte("mine:"), msg...)) {
			t.Fatalf("next read: %v %q %v, want the whole message", typ, trim(got), err)
		}
		if cut.pong != "" {
			if h, b := p.readFrame(); h.Opcode != frame.OpPong || string(b) != cut.pong {
				t.Fatalf("peer got %v %q, want a pong", h.Opcode, b)
			}
		}
		expectInStep(t, c, p)
	})
}

// TestReaderAfterInterruptedRead: a Reader continues the message that an
// interrupted whole-message read had begun, from its first byte.
func TestReaderAfterInterruptedRead(t *testing.T) {
	msg := pattern(5000, 4)
	eachReadCut(t, msg, true, func(t *testing.T, c *Conn, p *rawPeer, cut readCut) {
		ctx, cancel := context.WithTimeout(context.Background(), interruptAfter)
		defer cancel()
		if _, _, err := c.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("interrupted read: %v", err)
		}
		p.write(cut.rest)
		typ, r, err := c.Reader(context.Background())
		if err != nil || typ != TextMessage {
			t.Fatalf("Reader: %v %v", typ, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("streamed %q, %v; want the whole message", trim(got), err)
		}
		expectInStep(t, c, p)
	})
}

// eachReadCut runs f, in parallel subtests, on a fresh pair whose peer has
// sent the prefix of each cut (only those inside a message, with
// midMessage), plain and compressed.
func eachReadCut(t *testing.T, msg []byte, midMessage bool, f func(t *testing.T, c *Conn, p *rawPeer, cut readCut)) {
	for _, compressed := range []bool{false, true} {
		for _, cut := range readCuts(t, msg, compressed) {
			if midMessage && !cut.midMessage {
				continue
			}
			name := cut.name
			if compressed {
				name = "compressed/" + name
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				c, p := newPair(t, ConnOptions{}, compressed)
				p.write(cut.prefix)
				f(t, c, p, cut)
			})
		}
	}
}

// TestReaderInterrupted: a streamed message whose context ends inside it
// fails with the context's error; the next read call discards the rest of
// it and returns the next message, and the old reader says it is stale.
func TestReaderInterrupted(t *testing.T) {
	msg := pattern(5000, 5)
	eachReadCut(t, msg, true, func(t *testing.T, c *Conn, p *rawPeer, cut readCut) {
		ctx, cancel := context.WithTimeout(context.Background(), interruptAfter)
		defer cancel()
		_, r, err := c.Reader(ctx)
		if err != nil {
			t.Fatalf("Reader: %v", err)
		}
		got, err := io.ReadAll(r)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("stream: %q %v, want the context's error", trim(got), err)
		}
		if !bytes.HasPrefix(msg, got) {
			t.Fatalf("stream gave %q, not a prefix of the message", trim(got))
		}
		p.write(cut.rest)
		expectInStep(t, c, p)
		if _, err := r.Read(make([]byte, 10)); err == nil {
			t.Fatal("the abandoned reader still reads")
		}
	})
}

// expectInStep sends one more message from the peer and reads it back.
func expectInStep(t *testing.T, c *Conn, p *rawPeer) {
	t.Helper()
	p.write(frameBytes(true, 0, frame.OpBinary, []byte("next"), false))
	typ, got, err := c.Read(context.Background())
	if err != nil || typ != BinaryMessage || string(got) != "next" {
		t.Fatalf("following message: %v %q %v", typ, got, err)
	}
}

func trim(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// TestReadWaitingForLock: a read whose context ends while another read
// holds the connection returns the context's error and disturbs nothing.
func TestReadWaitingForLock(t *testing.T) {
	c, p := newPair(t, ConnOptions{}, false)
	first := make(chan error, 1)
	go func() {
		_, msg, err := c.Read(context.Background())
		if err == nil && string(msg) != "one" {
			err = errors.New("got " + string(msg))
		}
		first <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), interruptAfter)
	defer cancel()
	// Either this read waits for the other's lock, or it takes the lock
	// first and waits for data: both must end with the context's error.
	if _, _, err := c.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second read: %v", err)
	}
	p.write(frameBytes(true, 0, frame.OpText, []byte("one"), false))
	if err := <-first; err != nil {
		t.Fatalf("first read: %v", err)
	}
	expectInStep(t, c, p)
}

// TestEndedContextDoesNotReachLaterReads: a per-call context cancelled
// after its call returned (defer cancel) cannot touch a later call, even
// one whose context can never be done.
func TestEndedContextDoesNotReachLaterReads(t *testing.T) {
	c, p := newPair(t, ConnOptions{}, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	p.write(frameBytes(true, 0, frame.OpText, []byte("first"), false))
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "first" {
		t.Fatalf("first read: %q %v", msg, err)
	}
	big := pattern(100000, 6)
	b := frameBytes(true, 0, frame.OpBinary, big, false)
	p.write(b[:50000])
	done := make(chan struct{})
	var got []byte
	var err error
	go func() {
		defer close(done)
		_, got, err = c.Read(context.WithoutCancel(context.Background()))
	}()
	cancel() // while the second read waits for the rest
	p.write(b[50000:])
	<-done
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("second read: %d bytes, %v; want %d", len(got), err, len(big))
	}
	// Writes and the closing handshake are untouched too.
	if err := c.Write(context.Background(), TextMessage, []byte("w")); err != nil {
		t.Fatal(err)
	}
	if h, b := p.readFrame(); string(b) != "w" {
		t.Fatalf("peer got %v %q", h.Opcode, b)
	}
}

// foreignCtx is a context that net's and context's internals do not
// recognise, so that every context.AfterFunc on it runs a goroutine until
// the registration is stopped: goroutines count registrations.
type foreignCtx struct{ context.Context }

func (foreignCtx) Value(any) any { return nil }

// TestOneRegistrationPerContext: calls with a long-lived context keep one
// registration on it per side, however many calls there are, and none once
// the connection has ended; a write with such a context allocates nothing.
func TestOneRegistrationPerContext(t *testing.T) {
	c, p := newPair(t, ConnOptions{}, false)
	base, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx := foreignCtx{base}
	before := runtime.NumGoroutine()
	for i := 0; i < 50; i++ {
		p.write(frameBytes(true, 0, frame.OpText, []byte("hello"), false))
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.Write(ctx, TextMessage, []byte("back")); err != nil {
			t.Fatal(err)
		}
		p.readFrame()
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Fatalf("%d goroutines registered on the context after 100 calls (was %d), want at most 2", n, before)
	}
	drained := make(chan struct{})
	go func() { io.Copy(io.Discard, p.nc); close(drained) }()
	msg := []byte("back")
	if n := testing.AllocsPerRun(100, func() {
		if err := c.Write(base, TextMessage, msg); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per write with a cancellable context, want 0", n)
	}
	c.CloseNow()
	<-drained
	// A dropped registration's goroutine ends soon after; wait for that
	// without a fixed sleep.
	deadline := time.Now().Add(hangGuard)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left registered on the context after the connection ended (was %d)", runtime.NumGoroutine(), before)
		}
		runtime.Gosched()
	}
}

// allocatedDuring returns the bytes the process allocated while f ran.
func allocatedDuring(f func()) uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	before := m.TotalAlloc
	f()
	runtime.ReadMemStats(&m)
	return m.TotalAlloc - before
}

// TestMemoryFollowsBytesReceived: a header that claims a large payload
// costs nothing until the payload arrives, with or without a read limit.
func TestMemoryFollowsBytesReceived(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limit  int64
		length int64
	}{
		{"32 MiB under a 64 MiB limit", 64 << 20, 32 << 20},
		{"2^62 bytes without a limit", -1, 1 << 62},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, p := newPair(t, ConnOptions{ReadLimit: tc.limit}, false)
			var hb [frame.MaxHeaderLen]byte
			n := frame.Put(hb[:], frame.Header{Fin: true, Opcode: frame.OpBinary, Length: tc.length, Masked: true})
			p.write(hb[:n])
			p.write(make([]byte, 100))
			var err error
			alloc := allocatedDuring(func() {
				ctx, cancel := context.WithTimeout(context.Background(), interruptAfter)
				defer cancel()
				_, _, err = c.Read(ctx)
			})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("read: %v", err)
			}
			if alloc > 256<<10 {
				t.Fatalf("a %d-byte header and 100 bytes of payload cost %d bytes", n, alloc)
			}
		})
	}
}

// TestCompressedWireSizeBounded: a compressed message may not take much
// more than the read limit on the wire, even if it decodes to nothing.
func TestCompressedWireSizeBounded(t *testing.T) {
	c, p := newPair(t, ConnOptions{ReadLimit: 4096}, true)
	// Empty stored blocks: 5 bytes each, no output.
	junk := bytes.Repeat([]byte{0x00, 0x00, 0x00, 0xff, 0xff}, 2000)
	p.write(frameBytes(false, frame.RSV1, frame.OpBinary, junk[:5000], false))
	p.write(frameBytes(true, 0, frame.OpContinuation, junk[5000:], false))
	_, _, err := c.Read(context.Background())
	if !errors.Is(err, ErrMessageTooBig) {
		t.Fatalf("read: %v, want ErrMessageTooBig", err)
	}
	h, b := p.readFrame()
	if h.Opcode != frame.OpClose || StatusCode(b[0])<<8|StatusCode(b[1]) != StatusMessageTooBig {
		t.Fatalf("peer got %v %x, want close 1009", h.Opcode, b)
	}
}

// TestWireLimitFits: every message within the read limit fits the wire
// limit of compressed messages, however its sender encodes it, down to data
// that does not compress (stored blocks) and encoders without matches; and
// the connection reads such a message of exactly the read limit.
func TestWireLimitFits(t *testing.T) {
	random := make([]byte, 1<<20)
	rand.Read(random)
	text := bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog. "), 25000)
	levels := []int{flate.NoCompression, flate.HuffmanOnly, flate.BestSpeed, flate.BestCompression}
	for _, n := range []int{1, 100, 1000, 64 << 10, 1 << 20} {
		for _, data := range [][]byte{random, text} {
			for _, level := range levels {
				z := compressLevel(t, data[:n], level)
				if limit := wireLimit(int64(n), true); int64(len(z)) > limit {
					t.Errorf("level %d: %d bytes take %d compressed, over the wire limit %d", level, n, len(z), limit)
				}
			}
		}
	}
	if wireLimit(0, true) != 0 || wireLimit(100, false) != 100 {
		t.Error("no limit, or an uncompressed message, gets a wire limit")
	}
	const n = 256 << 10
	c, p := newPair(t, ConnOptions{ReadLimit: n}, true)
	for _, level := range levels {
		msg := random[:n]
		p.write(frameBytes(true, frame.RSV1, frame.OpBinary, compressLevel(t, msg, level), false))
		_, got, err := c.Read(context.Background())
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("level %d: a message of the read limit: %v (%d bytes)", level, err, len(got))
		}
	}
}

// TestOnPingGetsACopy: what the ping callback does with its payload does
// not change the pong.
func TestOnPingGetsACopy(t *testing.T) {
	c, p := newPair(t, ConnOptions{}, false)
	kept := make(chan []byte, 1)
	c.OnPing(func(b []byte) {
		copy(b, strings.Repeat("X", len(b)))
		kept <- b
	})
	p.write(frameBytes(true, 0, frame.OpPing, []byte("ping!"), false))
	p.write(frameBytes(true, 0, frame.OpText, []byte("msg"), false))
	if _, _, err := c.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h, b := p.readFrame(); h.Opcode != frame.OpPong || string(b) != "ping!" {
		t.Fatalf("pong %q, want the ping's payload", b)
	}
	if b := <-kept; string(b) != "XXXXX" {
		t.Fatalf("callback's copy changed to %q", b)
	}
}
