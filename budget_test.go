package websock

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	mrand "math/rand/v2"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/websock/websock/internal/frame"
)

// TestBudgetBoundsMessages: messages being read count against a shared
// budget; one that does not fit fails its connection with 1013, the budget
// comes back whole whichever way a message ends, and small messages never
// depend on it.
func TestBudgetBoundsMessages(t *testing.T) {
	b := NewBudget(1 << 20)
	opts := ConnOptions{Budget: b}
	holder, hp := newPair(t, opts, false)
	other, op := newPair(t, opts, false)

	// The holder's peer sends 700 KiB of a 900 KiB message; an interrupted
	// read keeps it.
	big := pattern(900<<10, 1)
	frameB := frameBytes(true, 0, frame.OpBinary, big, false)
	hp.write(frameB[:700<<10])
	ctx, cancel := context.WithTimeout(context.Background(), interruptAfter)
	defer cancel()
	for {
		// Read until the whole 700 KiB is in (it may take more than one
		// interrupted read on a busy machine).
		if _, _, err := holder.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("holder read: %v", err)
		}
		if b.InUse() >= 600<<10 {
			break
		}
		ctx, cancel = context.WithTimeout(context.Background(), interruptAfter)
		defer cancel()
	}
	// Small messages pass while the budget is nearly used up.
	op.write(frameBytes(true, 0, frame.OpText, []byte("small"), false))
	if _, msg, err := other.Read(context.Background()); err != nil || string(msg) != "small" {
		t.Fatalf("small message: %q %v", msg, err)
	}
	// A large one does not fit: 1013.
	op.write(frameBytes(true, 0, frame.OpBinary, pattern(600<<10, 2), false))
	if _, _, err := other.Read(context.Background()); !errors.Is(err, ErrBudget) {
		t.Fatalf("message over the budget: %v, want ErrBudget", err)
	}
	op.expectClose(StatusTryAgainLater)
	// The holder's message completes and gives its part back.
	hp.write(frameB[700<<10:])
	if _, msg, err := holder.Read(context.Background()); err != nil || !bytes.Equal(msg, big) {
		t.Fatalf("holder's message: %d bytes, %v", len(msg), err)
	}
	if n := b.InUse(); n != 0 {
		t.Fatalf("%d bytes still counted after the messages ended", n)
	}
	// A connection closed with a message half-read gives its part back.
	hp.write(frameB[:700<<10])
	ctx, cancel = context.WithTimeout(context.Background(), interruptAfter)
	defer cancel()
	holder.Read(ctx)
	holder.CloseNow()
	if n := b.InUse(); n != 0 {
		t.Fatalf("%d bytes still counted after CloseNow", n)
	}
}

// liveHeap returns the bytes of live heap objects after a collection.
func liveHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestUnfinishedCompressedMessagesBounded: peers that each send the first
// fragment of a compressed message inflating to 30 MiB and then only
// pings hold what they sent, not what it inflates to, and are dropped at
// the message timeout.
func TestUnfinishedCompressedMessagesBounded(t *testing.T) {
	const conns = 20
	const timeout = time.Second
	var bomb bytes.Buffer
	fw, _ := flate.NewWriter(&bomb, flate.BestCompression)
	fw.Write(make([]byte, 30<<20))
	fw.Flush() // no tail stripped: the message goes on
	before := liveHeap()
	type result struct {
		err error
		at  time.Duration
	}
	results := make(chan result, conns)
	start := time.Now()
	peers := make([]*rawPeer, conns)
	for i := range peers {
		c, p := newPair(t, ConnOptions{MessageTimeout: timeout}, true)
		peers[i] = p
		p.write(frameBytes(false, frame.RSV1, frame.OpBinary, bomb.Bytes(), false))
		go func() {
			_, _, err := c.Read(context.Background())
			results <- result{err, time.Since(start)}
		}()
	}
	// Sample the live heap until every connection has been dropped.
	var peak uint64
	for got := 0; got < conns; {
		if h := liveHeap(); h > before && h-before > peak {
			peak = h - before
		}
		select {
		case r := <-results:
			got++
			if !errors.Is(r.err, ErrMessageTimeout) {
				t.Errorf("read: %v, want ErrMessageTimeout", r.err)
			}
			if r.at < timeout {
				t.Errorf("dropped after %v, before the message timeout", r.at)
			}
		default:
		}
	}
	held := peak
	if perConn := held / conns; perConn > 256<<10 {
		t.Errorf("each unfinished message holds %d KiB (sent: %d KiB)", perConn>>10, bomb.Len()>>10)
	}
	t.Logf("%d unfinished 30 MiB messages (%d KiB each on the wire): %d KiB of heap each", conns, bomb.Len()>>10, held/conns>>10)
}

// TestCompressionRatioBounded: with MaxCompressionRatio, a message that
// inflates far beyond its wire size fails with 1009 after little work,
// while ordinary compressed messages pass.
func TestCompressionRatioBounded(t *testing.T) {
	c, p := newPair(t, ConnOptions{MaxCompressionRatio: 100}, true)
	text := make([]byte, 200<<10) // random letters and spaces
	rng := mrand.New(mrand.NewPCG(1, 2))
	for i := range text {
		text[i] = " abcdefghij"[rng.IntN(11)]
	}
	p.write(frameBytes(true, frame.RSV1, frame.OpText, compress(t, text), false))
	if _, got, err := c.Read(context.Background()); err != nil || !bytes.Equal(got, text) {
		t.Fatalf("ordinary message: %d bytes, %v", len(got), err)
	}
	zeros := compress(t, make([]byte, 8<<20)) // about 1,000 times
	p.write(frameBytes(true, frame.RSV1, frame.OpBinary, zeros, false))
	var err error
	alloc := allocatedDuring(func() { _, _, err = c.Read(context.Background()) })
	if !errors.Is(err, ErrMessageTooBig) {
		t.Fatalf("bomb: %v, want ErrMessageTooBig", err)
	}
	if limit := uint64(100*len(zeros)+BudgetFree) * 3; alloc > limit {
		t.Fatalf("the bomb cost %d bytes before failing, more than %d", alloc, limit)
	}
	p.expectClose(StatusMessageTooBig)
}
