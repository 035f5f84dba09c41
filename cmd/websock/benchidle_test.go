package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/websock/websock"
)

// TestSourceAddr: loopback servers get 127.0.0.2, .3, ... perSource
// connections each; other servers, and perSource 0, the kernel's choice.
func TestSourceAddr(t *testing.T) {
	for _, tt := range []struct {
		host   string
		i, per int
		want   string // "" for nil
	}{
		{"127.0.0.1", 0, 10, "127.0.0.2"},
		{"127.0.0.1", 9, 10, "127.0.0.2"},
		{"127.0.0.1", 10, 10, "127.0.0.3"},
		{"127.0.0.1", 99_999, 25_000, "127.0.0.5"},
		{"127.0.0.1", 300 * 10, 10, "127.0.1.46"}, // past .255 into the next octet
		{"127.0.0.1", 5, 0, ""},
		{"localhost", 5, 10, ""},
		{"::1", 5, 10, ""},
		{"192.0.2.1", 5, 10, ""},
		{"127.0.0.1", 1 << 30, 1, ""}, // would leave 127.0.0.0/8
	} {
		got := sourceAddr(tt.host, tt.i, tt.per)
		if (got == nil) != (tt.want == "") || got != nil && got.IP.String() != tt.want {
			t.Errorf("sourceAddr(%q, %d, %d) = %v, want %q", tt.host, tt.i, tt.per, got, tt.want)
		}
	}
}

// TestIdleRunSpreadsSources: an idle run opens its connections a few at
// a time from consecutive loopback addresses, each exchanging one message,
// and closes them all with a closing handshake.
func TestIdleRunSpreadsSources(t *testing.T) {
	var mu sync.Mutex
	from := map[string]int{}
	srv := httptest.NewServer(websock.Handler(&websock.AcceptOptions{}, func(ctx context.Context, c *websock.Conn, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		mu.Lock()
		from[host]++
		mu.Unlock()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if c.Write(ctx, typ, msg) != nil {
				return
			}
		}
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
	var out bytes.Buffer
	err := runBench(context.Background(), []string{"-idle", "-c", "7", "-dialers", "3", "-per-source", "3", "-size", "10", "-d", "1ms", "-json", url}, &out, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var r benchResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%q: %v", out.String(), err)
	}
	if r.Closed != 7 || r.CloseErrors != 0 || r.ConnectSec <= 0 {
		t.Fatalf("result %+v", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := map[string]int{"127.0.0.2": 3, "127.0.0.3": 3, "127.0.0.4": 1}; !mapsEqual(from, want) {
		t.Fatalf("connections came from %v, want %v", from, want)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestIdleRunOverDescriptorLimit: more connections than descriptors is an
// error that says so before any connection is opened.
func TestIdleRunOverDescriptorLimit(t *testing.T) {
	lim := descriptorLimit()
	if lim == 0 {
		t.Log("descriptor limit unknown on this system: nothing to test")
		return
	}
	var out, errOut bytes.Buffer
	// Nothing listens on port 1: a dial would fail with another error.
	err := runBench(context.Background(), []string{"-idle", "-c", "1000000000", "ws://127.0.0.1:1/"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "file descriptors") {
		t.Fatalf("error %v, want one about file descriptors", err)
	}
}

// TestIdleRunDialFailure: a server that refuses ends the run with the
// connection's error, and no connection is left open.
func TestIdleRunDialFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	err = runBench(context.Background(), []string{"-idle", "-c", "5", "-dialers", "2", "ws://" + addr + "/"}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "connection") {
		t.Fatalf("error %v, want a connection's dial error", err)
	}
}

func TestProcNumberAfter(t *testing.T) {
	sockstat := "sockets: used 12\nTCP: inuse 5 orphan 0 tw 3 alloc 7 mem 42\nUDP: inuse 0 mem 9\n"
	for _, tt := range []struct {
		text, prefix, name string
		want               int64
		ok                 bool
	}{
		{sockstat, "TCP:", "mem", 42, true},
		{sockstat, "UDP:", "mem", 9, true},
		{sockstat, "TCP:", "inuse", 5, true},
		{sockstat, "TCP:", "nothing", 0, false},
		{"MemTotal: 100 kB\nSlab:     2048 kB\n", "Slab:", "Slab:", 2048, true},
		{"Slab: lots kB\n", "Slab:", "Slab:", 0, false},
	} {
		got, ok := procNumberAfter(tt.text, tt.prefix, tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("procNumberAfter(%q, %q) = %d, %v; want %d, %v", tt.prefix, tt.name, got, ok, tt.want, tt.ok)
		}
	}
	if m := readKernelMemory(); runtime.GOOS == "linux" && (!m.ok || m.slabKiB <= 0) {
		t.Errorf("kernel memory of this machine: %+v", m)
	}
}
