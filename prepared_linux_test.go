package websock

import (
	"context"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// writeSyscalls returns how many write system calls (write, writev...)
// this process has made, from /proc/self/io.
func writeSyscalls(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no syscw in /proc/self/io")
	return 0
}

// On TCP, a server writes 64 prepared messages given in one call in one
// writev (the process makes a handful of write calls at most, against one
// per message when they are written one by one), allocating nothing.
func TestWritePreparedOneWritev(t *testing.T) {
	c, peer := newPair(t, ConnOptions{}, false)
	drained := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, peer.nc); drained <- err }()
	pm, _ := NewPreparedMessage(TextMessage, pattern(100, 1))
	pms := slices.Repeat([]*PreparedMessage{pm}, 64)
	ctx := context.Background()

	before := writeSyscalls(t)
	for _, pm := range pms {
		if err := c.WritePrepared(ctx, pm); err != nil {
			t.Fatal(err)
		}
	}
	oneByOne := writeSyscalls(t) - before
	if oneByOne < 64 {
		t.Fatalf("%d write calls for 64 messages written one by one: the count is not what this test thinks", oneByOne)
	}

	before = writeSyscalls(t)
	if err := c.WritePrepared(ctx, pms...); err != nil {
		t.Fatal(err)
	}
	together := writeSyscalls(t) - before
	// The runtime may write too (waking its poller); 64 frames of ours
	// take one.
	if together > 4 {
		t.Fatalf("%d write calls for 64 messages in one call, want 1 (+ the runtime's own)", together)
	}
	if n := testing.AllocsPerRun(50, func() {
		if err := c.WritePrepared(ctx, pms...); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per batch over TCP, want 0", n)
	}
	t.Logf("write calls for 64 messages: %d one by one, %d in one call", oneByOne, together)
	c.CloseNow()
	peer.nc.Close()
	<-drained
}
