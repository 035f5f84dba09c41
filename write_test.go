package websock

import (
	"context"
	crand "crypto/rand"
	"errors"
	"io"
	"testing"

	"github.com/websock/websock/internal/frame"
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	crand.Read(b)
	return b
}

// holdFrameLock takes the connection's frame lock, as a control frame
// being written to a peer that does not read would, until the returned
// function is called.
func holdFrameLock(c *Conn) (release func()) {
	if !c.frameSem.tryAcquire() {
		panic("frame lock held")
	}
	return func() { c.frameSem.release() }
}

// TestWriteWaitingForLockSendsNothing: a write whose context ends before
// its message has started returns the context's error and leaves the
// connection as it was, plain or compressed.
func TestWriteWaitingForLockSendsNothing(t *testing.T) {
	for _, compressed := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "compressed"}[compressed], func(t *testing.T) {
			t.Parallel()
			c, p := newPair(t, ConnOptions{}, compressed)
			// Waiting for the message turn.
			c.msgSem.tryAcquire()
			ctx, cancel := context.WithTimeout(context.Background(), interruptAfter)
			defer cancel()
			if err := c.Write(ctx, TextMessage, pattern(10, 1)); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("write waiting for its turn: %v", err)
			}
			c.msgSem.release()
			if !compressed {
				// Waiting for the frame lock: the frame has not started.
				unlock := holdFrameLock(c)
				ctx, cancel := context.WithTimeout(context.Background(), interruptAfter)
				defer cancel()
				if err := c.Write(ctx, TextMessage, pattern(10, 1)); !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("write waiting for the frame lock: %v", err)
				}
				unlock()
			}
			if err := c.Write(context.Background(), TextMessage, []byte("after")); err != nil {
				t.Fatalf("next write: %v", err)
			}
			h, b := p.readFrame()
			if compressed {
				// Under the threshold: sent as it is.
				if h.RSV != 0 {
					t.Fatalf("small message compressed")
				}
			}
			if !h.Fin || h.Opcode != frame.OpText || string(b) != "after" {
				t.Fatalf("peer got %+v %q, want the next message alone", h, b)
			}
		})
	}
}

// TestWriteAbandonedFailsConnection: a message whose write fails after it
// has started closes the connection; every later call says why, and the
// peer never sees a frame of another message.
func TestWriteAbandonedFailsConnection(t *testing.T) {
	for _, tc := range []struct {
		name       string
		compressed bool
		waitLock   bool // the failing write waits for a held frame lock
	}{
		{"plain, context ended", false, false},
		{"plain, waiting for the frame lock", false, true},
		{"compressed, context ended", true, false},
		{"compressed, waiting for the frame lock", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, p := newPair(t, ConnOptions{}, tc.compressed)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w, err := c.Writer(ctx, BinaryMessage)
			if err != nil {
				t.Fatal(err)
			}
			// Random bytes: compressed, they still fill several frames.
			first := randomBytes(3 * writeBufferSize)
			if _, err := w.Write(first); err != nil {
				t.Fatalf("first fragment: %v", err)
			}
			var werr error
			if tc.waitLock {
				unlock := holdFrameLock(c)
				tctx, tcancel := context.WithTimeout(context.Background(), interruptAfter)
				defer tcancel()
				w2, _ := w.(*messageWriter)
				if w2 != nil {
					w2.ctx = tctx
				} else {
					w.(*encodedWriter).w.ctx = tctx
				}
				_, werr = w.Write(randomBytes(256 << 10))
				unlock()
			} else {
				cancel()
				_, werr = w.Write(randomBytes(256 << 10))
			}
			if !errors.Is(werr, ErrMessageAbandoned) || !errors.Is(werr, ErrClosed) {
				t.Fatalf("write after the message started: %v, want ErrMessageAbandoned and ErrClosed", werr)
			}
			if err := w.Close(); !errors.Is(err, ErrMessageAbandoned) {
				t.Fatalf("Close of the abandoned writer: %v", err)
			}
			for name, err := range map[string]error{
				"Write": c.Write(context.Background(), TextMessage, []byte("x")),
				"Ping":  c.Ping(context.Background(), nil),
				"Close": c.Close(StatusNormalClosure, ""),
			} {
				if !errors.Is(err, ErrClosed) || !errors.Is(err, ErrMessageAbandoned) {
					t.Errorf("%s after the failure: %v", name, err)
				}
			}
			if _, _, err := c.Read(context.Background()); !errors.Is(err, ErrMessageAbandoned) {
				t.Errorf("Read after the failure: %v", err)
			}
			// The peer sees data frames of the first message only, then the end.
			for {
				var hb [frame.MaxHeaderLen]byte
				if _, err := io.ReadFull(p.br, hb[:2]); err != nil {
					break
				}
				op := frame.Opcode(hb[0] & 0x0f)
				if op == frame.OpText {
					t.Fatal("a frame of another message followed the abandoned one")
				}
				n := frame.Len(hb[0], hb[1])
				io.ReadFull(p.br, hb[2:n])
				h, _, _ := frame.Parse(hb[:n])
				if _, err := io.CopyN(io.Discard, p.br, h.Length); err != nil {
					break
				}
			}
		})
	}
}

// TestWriterClosedTwice: a writer closed twice (a deferred Close after an
// explicit one) cannot end another writer's message.
func TestWriterClosedTwice(t *testing.T) {
	c, p := newPair(t, ConnOptions{}, false)
	w1, err := c.Writer(context.Background(), TextMessage)
	if err != nil {
		t.Fatal(err)
	}
	w1.Write([]byte("one"))
	if err := w1.Close(); err != nil {
		t.Fatal(err)
	}
	w2, err := c.Writer(context.Background(), TextMessage)
	if err != nil {
		t.Fatal(err)
	}
	w2.Write([]byte("two-a "))
	if err := w1.Close(); !errors.Is(err, errWriterClosed) {
		t.Fatalf("second Close of the first writer: %v", err)
	}
	if _, err := w1.Write([]byte("stale")); !errors.Is(err, errWriterClosed) {
		t.Fatalf("Write on the closed writer: %v", err)
	}
	// A third writer must wait for w2's message to end.
	third := make(chan error, 1)
	go func() { third <- c.Write(context.Background(), TextMessage, []byte("three")) }()
	w2.Write([]byte("two-b"))
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-third; err != nil {
		t.Fatal(err)
	}
	var msgs []string
	var cur []byte
	for len(msgs) < 3 {
		h, b := p.readFrame()
		cur = append(cur, b...)
		if h.Fin {
			msgs = append(msgs, string(cur))
			cur = nil
		}
	}
	if msgs[0] != "one" || msgs[1] != "two-a two-b" || msgs[2] != "three" {
		t.Fatalf("peer got %q", msgs)
	}
}
