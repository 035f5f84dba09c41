package main

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/websock/websock"
)

func openDescriptors(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// rssKiB is the resident memory of process pid.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	v := procField(t, pid, "status", "VmRSS")
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(v, "kB")))
	if err != nil {
		t.Fatalf("VmRSS %q: %v", v, err)
	}
	return n
}

// TestBackendsCostAndLeaveNothingBehind measures what an open connection
// of each backend holds (goroutines, descriptors, heap, processes) and
// checks that all of it is given back once the connections end, whether
// closed cleanly or dropped.
func TestBackendsCostAndLeaveNothingBehind(t *testing.T) {
	const n = 20
	target := tcpPeer(t, echoPeer)
	s, _ := startServe(t, func(cfg *serveConfig) {
		cfg.backends.routeFlags = []string{
			"/exec=exec:sh -c 'echo $$; exec cat'",
			"/proxy=proxy:tcp://" + target,
			"/echo=echo",
		}
	})
	ctx := context.Background()
	for _, path := range []string{"/echo", "/exec", "/proxy"} {
		goroutines, fds, heap := runtime.NumGoroutine(), openDescriptors(t), heapInUse()
		conns := make([]*websock.Conn, n)
		var programs []int
		for i := range conns {
			c := dialPath(t, s, path, nil)
			conns[i] = c
			if path == "/exec" {
				programs = append(programs, pids(t, readText(t, c))[0])
			}
			c.Write(ctx, websock.TextMessage, []byte("round trip"))
			if _, msg, err := c.Read(ctx); err != nil || string(msg) != "round trip" {
				t.Fatalf("%s: %q %v", path, msg, err)
			}
		}
		dg := runtime.NumGoroutine() - goroutines
		dfd := openDescriptors(t) - fds
		dheap := (int64(heapInUse()) - int64(heap)) / n
		rss := 0
		for _, pid := range programs {
			rss += rssKiB(t, pid)
		}
		// The test's side: a descriptor per client, and for the proxy the
		// TCP peer's descriptor and goroutine.
		testFds, testGoroutines := 1, 0
		if path == "/proxy" {
			testFds, testGoroutines = 2, 1
		}
		t.Logf("%s: per open connection, server side: %.1f goroutines, %.1f descriptors, %d KiB heap (client included), %d processes of %d KiB resident",
			path, float64(dg)/n-float64(testGoroutines), float64(dfd)/n-float64(testFds), dheap>>10, len(programs)/n, rss/max(len(programs), 1))
		for i, c := range conns {
			if i%2 == 0 {
				if err := c.Close(websock.StatusNormalClosure, ""); err != nil {
					t.Fatalf("%s: close: %v", path, err)
				}
			} else {
				c.CloseNow()
			}
		}
		waitFor(t, path+": goroutines and descriptors given back", func() bool {
			return runtime.NumGoroutine() <= goroutines && openDescriptors(t) <= fds
		})
		for _, pid := range programs {
			waitFor(t, path+": program ends", func() bool { return processGone(pid) })
		}
	}
}
