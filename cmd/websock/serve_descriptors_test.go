//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/websock/websock"
)

// The test binary, run with idleClientEnv set to an address, is the client
// of TestServeSurvivesDescriptorExhaustion: a process of its own, so that
// its descriptors are not the server's (as with remote clients).
const idleClientEnv = "WEBSOCK_TEST_IDLE_CLIENT"

const idleClientConns = 4100

func init() {
	if addr := os.Getenv(idleClientEnv); addr != "" {
		os.Exit(runIdleClient(addr))
	}
}

// runIdleClient opens idleClientConns keep-alive connections to addr that
// each get a 404, then connects a WebSocket client and exchanges a message,
// and prints how long that took ("websocket <µs>"), or what failed.
func runIdleClient(addr string) int {
	conns := make([]net.Conn, 0, idleClientConns)
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	for i := range idleClientConns {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			fmt.Printf("keep-alive connection %d: %v\n", i, err)
			return 1
		}
		conns = append(conns, nc)
		if err := notFound(nc, addr); err != nil {
			fmt.Printf("keep-alive connection %d: %v\n", i, err)
			return 1
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	c, _, err := websock.Dial(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		fmt.Printf("websocket dial after %v: %v\n", time.Since(start), err)
		return 1
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websock.TextMessage, []byte("hello")); err != nil {
		fmt.Printf("websocket write: %v\n", err)
		return 1
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "hello" {
		fmt.Printf("websocket echo: %q %v\n", msg, err)
		return 1
	}
	fmt.Printf("websocket %d\n", time.Since(start).Microseconds())
	return 0
}

// TestServeSurvivesDescriptorExhaustion: 4,100 idle HTTP keep-alive
// connections from another process meet a server with far fewer file
// descriptors (the test lowers RLIMIT_NOFILE after the server has started,
// so that accepts, not the connection cap, find the descriptors gone).
// Accepts that fail close idle connections instead of stalling, the lack
// is logged once rather than once per failed accept, net/http never sees
// it, and a new WebSocket client still connects within a second.
func TestServeSurvivesDescriptorExhaustion(t *testing.T) {
	s, logs := startServe(t, func(*serveConfig) {})
	addr := s.addrs["ws"].String()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	client := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	client.Env = append(os.Environ(), idleClientEnv+"="+addr)
	client.Stdout, client.Stderr = &out, &out
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}

	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var saved syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &saved); err != nil {
		t.Fatal(err)
	}
	lowered := saved
	lowered.Cur = uint64(len(fds) + 1000)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered); err != nil {
		t.Fatal(err)
	}
	waitErr := client.Wait()
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &saved); err != nil {
		t.Fatal(err)
	}
	if waitErr != nil {
		t.Fatalf("client: %v\n%s\nserver log:\n%s", waitErr, out.String(), tail(logs.String(), 20))
	}
	report := strings.TrimSpace(out.String())
	us, err := strconv.Atoi(strings.TrimPrefix(report, "websocket "))
	if err != nil {
		t.Fatalf("client reported %q", report)
	}
	d := time.Duration(us) * time.Microsecond
	failures := s.budget.descriptorFailures()
	t.Logf("descriptor limit %d; %d idle keep-alive connections; %d accepts failed for lack of descriptors; a new WebSocket client connected and echoed in %v",
		lowered.Cur, idleClientConns, failures, d.Round(time.Millisecond))
	if failures < 2 {
		t.Fatalf("the server's accept failed %d times for lack of descriptors, want several", failures)
	}
	if d > time.Second {
		t.Fatalf("WebSocket client took %v with descriptors exhausted", d)
	}
	log := logs.String()
	if n := strings.Count(log, "out of file descriptors"); n != 1 {
		t.Fatalf("lack of descriptors logged %d times for %d failed accepts, want once:\n%s", n, failures, tail(log, 20))
	}
	if strings.Contains(log, "Accept error") {
		t.Fatalf("net/http saw the failed accepts:\n%s", tail(log, 20))
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
