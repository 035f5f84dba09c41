package websock

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/websock/websock/internal/frame"
)

// countingCodec passes messages through unchanged (with RSV1 set) and
// counts Release calls, failing the test if it is released while in use.
type countingCodec struct {
	t        *testing.T
	conn     atomic.Pointer[Conn]
	released atomic.Int32
}

func (cc *countingCodec) ReservedBits() byte { return frame.RSV1 }

func (cc *countingCodec) NewReader(r io.Reader, rsv byte) io.Reader {
	return readerFunc(func(p []byte) (int, error) {
		cc.check()
		return r.Read(p)
	})
}

func (cc *countingCodec) NewWriter(w io.Writer, size int) (io.WriteCloser, byte) {
	return w.(io.WriteCloser), 0
}

func (cc *countingCodec) Release() {
	if cc.released.Add(1) > 1 {
		cc.t.Error("Release called twice")
	}
	if c := cc.conn.Load(); c != nil {
		c.codecUse.mu.Lock()
		busy := c.codecUse.busy
		c.codecUse.mu.Unlock()
		if busy != 0 {
			cc.t.Errorf("Release called with %d calls using the codec", busy)
		}
	}
}

func (cc *countingCodec) check() {
	if cc.released.Load() > 0 {
		cc.t.Error("codec used after Release")
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestCodecReleasedOnce: the codec is released once when the connection
// ends, and not while a read is using it.
func TestCodecReleasedOnce(t *testing.T) {
	cc := &countingCodec{t: t}
	c, p := newPairWith(t, connConfig{server: true, codec: cc})
	cc.conn.Store(c)
	// A compressed message whose payload arrives after the connection
	// was closed from another goroutine.
	msg := frameBytes(true, frame.RSV1, frame.OpBinary, pattern(100, 1), false)
	p.write(msg[:10])
	done := make(chan error, 1)
	go func() { _, _, err := c.Read(context.Background()); done <- err }()
	// The read is gathering; close while it is in progress or about to be.
	time.AfterFunc(interruptAfter, func() { c.CloseNow() })
	<-done
	<-c.closed.C()
	if n := cc.released.Load(); n != 1 {
		t.Fatalf("Release called %d times, want 1", n)
	}
}
