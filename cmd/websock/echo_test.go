package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/metrics"
	"testing"

	"github.com/websock/websock"
	"github.com/websock/websock/extension"
)

// TestEchoHoldsNothingWhileIdle: after echoing a 1 MiB message, an idle
// connection keeps no buffer from it (a reused ReadAppend buffer would pin
// a megabyte per connection).
func TestEchoHoldsNothingWhileIdle(t *testing.T) {
	const conns = 40
	s, _ := startServe(t, func(*serveConfig) {})
	url := "ws://" + s.addrs["ws"].String() + "/ws"
	ctx := context.Background()
	heap := func() uint64 {
		runtime.GC()
		runtime.GC() // a second cycle empties sync.Pools
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	var cs []*websock.Conn
	for range conns {
		c, _, err := websock.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		cs = append(cs, c)
	}
	exchange := func(size int) {
		msg := bytes.Repeat([]byte("x"), size)
		for _, c := range cs {
			if err := c.Write(ctx, websock.BinaryMessage, msg); err != nil {
				t.Fatal(err)
			}
			if _, got, err := c.Read(ctx); err != nil || len(got) != size {
				t.Fatalf("echo of %d bytes: %d %v", size, len(got), err)
			}
		}
	}
	exchange(16)
	before := heap()
	exchange(1 << 20)
	after := heap()
	perConn := (int64(after) - int64(before)) / conns
	t.Logf("heap per idle connection after a 1 MiB echo: %+d bytes", perConn)
	if perConn > 64<<10 {
		t.Fatalf("each idle connection holds %d more bytes after a 1 MiB echo", perConn)
	}
}

// TestEchoWithinMemoryBudget: the echo loop counts the buffer it reads a
// message into against the server's memory budget: a message that does
// not fit gets 1013 while small ones keep flowing, and the budget comes
// back whole. Compressed, a message is counted by what it inflates to.
func TestEchoWithinMemoryBudget(t *testing.T) {
	s, _ := startServe(t, func(cfg *serveConfig) { cfg.memoryBudget, cfg.maxRatio = 1<<20, 0 })
	url := "ws://" + s.addrs["ws"].String() + "/ws"
	ctx := context.Background()
	small, _, err := websock.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer small.CloseNow()
	big, _, err := websock.Dial(ctx, url, &websock.DialOptions{Extensions: []extension.Extension{&websock.PerMessageDeflate{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer big.CloseNow()
	// 4 MiB of zeros: a few KiB on the wire, four times the budget inflated.
	if err := big.Write(ctx, websock.BinaryMessage, make([]byte, 4<<20)); err != nil {
		t.Fatal(err)
	}
	_, _, err = big.Read(ctx)
	var ce *websock.CloseError
	if !errors.As(err, &ce) || ce.Code != websock.StatusTryAgainLater {
		t.Fatalf("message over the budget: %v, want close 1013", err)
	}
	if err := small.Write(ctx, websock.TextMessage, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := small.Read(ctx); err != nil || string(got) != "still here" {
		t.Fatalf("small echo: %q %v", got, err)
	}
	if n := s.cfg.budget.InUse(); n != 0 {
		t.Fatalf("%d bytes still counted against the budget", n)
	}
}

// serverMemory is what the process holds for live data, after two
// collections (the second empties sync.Pools): live heap objects, and
// goroutine stacks per goroutine (stack memory, free stacks the runtime
// keeps included, over the number of goroutines: an upper bound).
func serverMemory() (heap, stackPerGoroutine uint64) {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}, {Name: "/sched/goroutines:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64() / s[2].Value.Uint64()
}

// Bounds of what an idle connection holds, measured in-process. The heap
// bound leaves room for a few goroutines caught between two messages; the
// stack bound is on the average over all goroutines with the free stacks
// the runtime keeps, 5.5 to 6 KiB when each connection's is 4 KiB, 10 KiB
// and more when they are 8 KiB.
const (
	idleHeapBound  = 6 << 10
	idleStackBound = 7 << 10 * raceStackFactor
)

// TestIdleConnectionMemory: what `websock serve` holds per idle connection
// after each has echoed one message (the clients run in a separate process,
// so that only the server's memory is counted).
func TestIdleConnectionMemory(t *testing.T) {
	const conns = 200
	for _, tt := range []struct {
		size     int
		compress bool
	}{{32, false}, {100 << 10, false}, {100 << 10, true}, {1 << 10, true}} {
		t.Run(fmt.Sprintf("%d/compress=%t", tt.size, tt.compress), func(t *testing.T) {
			s, _ := startServe(t, func(*serveConfig) {})
			heap0, _ := serverMemory()
			clients := startIdleClients(t, "ws://"+s.addrs["ws"].String()+"/ws", conns, tt.size, tt.compress)
			defer clients.close(t)
			heap1, stacks := serverMemory()
			heap := (int64(heap1) - int64(heap0)) / conns
			t.Logf("per idle connection: heap %d bytes; stack per goroutine %d bytes", heap, stacks)
			// A waiting connection's goroutine has a 4 KiB stack (8 KiB
			// if something deep ran on it); its Conn, socket, timers and
			// codec state take 2.5 to 3.5 KiB; no buffer is kept.
			if stacks > idleStackBound || heap > idleHeapBound {
				t.Fatalf("per idle connection: heap %d bytes (bound %d); stack per goroutine %d bytes (bound %d)", heap, idleHeapBound, stacks, idleStackBound)
			}
		})
	}
}
