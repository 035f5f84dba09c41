package websock

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"testing"
	"time"

	"github.com/websock/websock/internal/frame"
)

// idleConns is how many connections TestServedIdleConnections holds:
// WEBSOCK_IDLE_CONNS overrides the default (each takes two descriptors).
func idleConns(t *testing.T) int {
	if s := os.Getenv("WEBSOCK_IDLE_CONNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("WEBSOCK_IDLE_CONNS=%q: %v", s, err)
		}
		return n
	}
	return 1000
}

// tcpPairs returns n connected loopback TCP pairs: the accepted ends and
// the dialled ends.
func tcpPairs(t *testing.T, n int) (servers, clients []net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, n)
	go func() {
		for range n {
			nc, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- nc
		}
	}()
	for range n {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("dial: %v (%d descriptors open)", err, 2*len(clients))
		}
		clients = append(clients, nc)
		sc, ok := <-accepted
		if !ok {
			t.Fatal("accept failed")
		}
		servers = append(servers, sc)
	}
	t.Cleanup(func() {
		for _, c := range clients {
			c.Close()
		}
		for _, c := range servers {
			c.Close()
		}
	})
	return servers, clients
}

// heapAndStacks returns the bytes of live heap objects and of goroutine
// stacks, after a collection.
func heapAndStacks() int64 {
	runtime.GC()
	runtime.GC() // and what pools held over the first
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64() + s[1].Value.Uint64())
}

// echoEach sends a 32-byte masked message on each client and reads the
// echo.
func echoEach(t *testing.T, clients []net.Conn) {
	t.Helper()
	msg := frameBytes(true, 0, frame.OpBinary, pattern(32, 3), false)
	for _, nc := range clients {
		if _, err := nc.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	reply := make([]byte, 2+32)
	for _, nc := range clients {
		nc.SetReadDeadline(time.Now().Add(hangGuard))
		if _, err := io.ReadFull(nc, reply); err != nil {
			t.Fatalf("echo: %v", err)
		}
		if !bytes.Equal(reply[2:], pattern(32, 3)) {
			t.Fatalf("echo: got %q", reply[2:])
		}
	}
}

// TestServedIdleConnections holds many served connections after one echo
// each: they must hold no goroutine, and their memory (heap and stacks)
// is reported next to that of connections each read by a goroutine.
func TestServedIdleConnections(t *testing.T) {
	n := idleConns(t)
	ctx := context.Background()
	measure := func(serve func(c *Conn), wantG int) (perConn float64, goroutines int) {
		servers, clients := tcpPairs(t, n)
		base, baseG := heapAndStacks(), runtime.NumGoroutine()
		conns := make([]*Conn, n)
		for i, sc := range servers {
			conns[i] = newConn(sc, nil, connConfig{server: true})
			serve(conns[i])
		}
		echoEach(t, clients)
		// Let the readers that delivered the echoes leave.
		if !waitGoroutines(baseG + wantG) {
			t.Errorf("%d goroutines more for %d idle connections, want %d", runtime.NumGoroutine()-baseG, n, wantG)
		}
		perConn = float64(heapAndStacks()-base) / float64(n)
		goroutines = runtime.NumGoroutine() - baseG
		for _, c := range conns {
			c.CloseNow()
		}
		return perConn, goroutines
	}
	echo := Events{OnMessage: func(c *Conn, typ MessageType, data []byte) { c.Write(ctx, typ, data) }}
	wantServed := 1 // the poller
	if runtime.GOOS != "linux" {
		wantServed = n
	}
	served, servedG := measure(func(c *Conn) {
		if err := c.Serve(echo); err != nil {
			t.Fatal(err)
		}
	}, wantServed)
	looped, _ := measure(func(c *Conn) {
		go func() {
			var buf []byte
			for {
				typ, msg, err := c.ReadAppend(ctx, buf[:0])
				if err != nil {
					return
				}
				c.Write(ctx, typ, msg)
				buf = msg
			}
		}()
	}, n)
	t.Logf("%d idle connections after a 32-byte echo: served %.0f bytes each (%d goroutines in all), read by a goroutine each %.0f bytes", n, served, servedG, looped)
	if runtime.GOOS == "linux" && served > 3072 {
		t.Errorf("a served idle connection holds %.0f bytes, want at most 3 KiB", served)
	}
}
