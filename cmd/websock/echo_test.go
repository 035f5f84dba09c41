package main

import (
	"bytes"
	"context"
	"runtime"
	"testing"

	"github.com/websock/websock"
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
