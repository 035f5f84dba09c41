//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
)

// TestBenchIdleCollect: with -collect, an idle run sends the server (here
// this process) SIGUSR1 once after its first reading, and reports the
// memory read after it.
func TestBenchIdleCollect(t *testing.T) {
	usr1 := make(chan os.Signal, 4)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	s, _ := startTestServer(t)
	url := "ws://" + s.addrs["ws"].String() + "/ws"
	var out bytes.Buffer
	err := runBench(context.Background(), []string{"-idle", "-collect", "-c", "10", "-size", "100", "-d", "10ms", "-settle", "2s", "-json", "-pid", strconv.Itoa(os.Getpid()), url}, &out, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(usr1); n != 1 {
		t.Fatalf("the server got SIGUSR1 %d times, want once", n)
	}
	var r map[string]any
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if _, ok := r["server_rss_collected_per_conn_kib"]; !ok && r["server_rss_per_conn_kib"] != nil {
		// The two readings may both be exactly zero per connection only
		// if neither moved; the first moved.
		t.Fatalf("no reading after the collection: %s", out.String())
	}
}
