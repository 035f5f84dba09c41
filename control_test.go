package websock

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/websock/websock/internal/frame"
)

// WritePing and WritePong return once the frame is written: nothing reads
// the connection here, and no pong ever comes.
func TestWriteControlDoesNotWait(t *testing.T) {
	c, p := newPair(t, ConnOptions{}, false)
	ctx := context.Background()
	if err := c.WritePing(ctx, []byte("hb")); err != nil {
		t.Fatal(err)
	}
	if err := c.WritePong(ctx, nil); err != nil {
		t.Fatal(err)
	}
	full := bytes.Repeat([]byte{7}, frame.MaxControlPayload)
	if err := c.WritePing(ctx, full); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		op frame.Opcode
		p  []byte
	}{{frame.OpPing, []byte("hb")}, {frame.OpPong, nil}, {frame.OpPing, full}} {
		h, b := p.readFrame()
		if h.Opcode != want.op || !h.Fin || !bytes.Equal(b, want.p) {
			t.Fatalf("peer got op %d fin %v %q, want op %d %q", h.Opcode, h.Fin, b, want.op, want.p)
		}
	}
}

func TestWriteControlRefusesLongPayload(t *testing.T) {
	c, p := newPair(t, ConnOptions{}, false)
	ctx := context.Background()
	long := make([]byte, frame.MaxControlPayload+1)
	if err := c.WritePing(ctx, long); err == nil {
		t.Fatal("WritePing accepted 126 bytes")
	}
	if err := c.WritePong(ctx, long); err == nil {
		t.Fatal("WritePong accepted 126 bytes")
	}
	// Nothing was sent, and the connection is intact.
	if err := c.WritePing(ctx, []byte("ok")); err != nil {
		t.Fatal(err)
	}
	if h, b := p.readFrame(); h.Opcode != frame.OpPing || string(b) != "ok" {
		t.Fatalf("peer got op %d %q, want the ping \"ok\"", h.Opcode, b)
	}
}

func TestWriteControlContextAndClosed(t *testing.T) {
	c, _ := newPair(t, ConnOptions{}, false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.WritePing(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("WritePing with a done context: %v", err)
	}
	c.CloseNow()
	if err := c.WritePong(context.Background(), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("WritePong after CloseNow: %v", err)
	}
}

// The pong answering WritePing reaches OnPong while the connection is read.
func TestWritePingPongReachesOnPong(t *testing.T) {
	c, p := newPair(t, ConnOptions{}, false)
	pongs := make(chan string, 1)
	c.OnPong(func(b []byte) { pongs <- string(b) })
	if err := c.WritePing(context.Background(), []byte("t1")); err != nil {
		t.Fatal(err)
	}
	_, b := p.readFrame()
	p.write(frameBytes(true, 0, frame.OpPong, b, false))
	p.write(frameBytes(true, 0, frame.OpText, []byte("after"), false))
	if _, msg, err := c.Read(context.Background()); err != nil || string(msg) != "after" {
		t.Fatalf("Read: %q %v", msg, err)
	}
	select {
	case got := <-pongs:
		if got != "t1" {
			t.Fatalf("OnPong got %q, want t1", got)
		}
	default:
		t.Fatal("OnPong was not called before the next message was read")
	}
}

// Ping without a reader never sees its pong: it waits for its context.
func TestPingWithoutReaderWaitsForContext(t *testing.T) {
	c, p := newPair(t, ConnOptions{}, false)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		_, b := p.readFrame()
		p.write(frameBytes(true, 0, frame.OpPong, b, false))
	}()
	if err := c.Ping(ctx, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ping without a reader: %v, want the context's deadline", err)
	}
	<-answered
	// Once read, the pong is seen; it no longer matches a waiting Ping.
	p.write(frameBytes(true, 0, frame.OpText, []byte("m"), false))
	if _, _, err := c.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestOnClose(t *testing.T) {
	for _, tt := range []struct {
		name    string
		payload []byte
		code    StatusCode
		reason  string
	}{
		{"code and reason", closePayload(4001, "app"), 4001, "app"},
		{"code only", closePayload(1000, ""), StatusNormalClosure, ""},
		{"no code", nil, StatusNoStatus, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, p := newPair(t, ConnOptions{}, false)
			type closeFrame struct {
				code   StatusCode
				reason string
			}
			got := make(chan closeFrame, 2)
			c.OnClose(func(code StatusCode, reason string) { got <- closeFrame{code, reason} })
			p.write(frameBytes(true, 0, frame.OpClose, tt.payload, false))
			_, _, err := c.Read(context.Background())
			if !IsCloseError(err, tt.code) {
				t.Fatalf("Read: %v, want CloseError %d", err, tt.code)
			}
			select {
			case f := <-got:
				if f.code != tt.code || f.reason != tt.reason {
					t.Fatalf("OnClose got %d %q, want %d %q", f.code, f.reason, tt.code, tt.reason)
				}
			default:
				t.Fatal("OnClose not called before Read returned")
			}
			p.expectClose(map[bool]StatusCode{true: StatusNormalClosure, false: tt.code}[tt.code == StatusNoStatus])
			if len(got) != 0 {
				t.Fatal("OnClose called twice")
			}
		})
	}
}

func TestOnCloseRemoved(t *testing.T) {
	c, p := newPair(t, ConnOptions{}, false)
	called := make(chan struct{}, 1)
	c.OnClose(func(StatusCode, string) { called <- struct{}{} })
	c.OnClose(nil)
	p.write(frameBytes(true, 0, frame.OpClose, closePayload(1000, ""), false))
	if _, _, err := c.Read(context.Background()); !IsCloseError(err, StatusNormalClosure) {
		t.Fatal(err)
	}
	if len(called) != 0 {
		t.Fatal("OnClose(nil) did not remove the function")
	}
}
