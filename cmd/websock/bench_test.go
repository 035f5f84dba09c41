package main

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBenchAgainstServe: closed-loop, paced and idle runs against the
// serve command, each ending every connection with a closing handshake
// (1000) that the server sees as such, never as 1006.
func TestBenchAgainstServe(t *testing.T) {
	s, logs := startTestServer(t)
	url := "ws://" + s.addrs["ws"].String() + "/ws"
	conns := 0
	for _, args := range [][]string{
		{"-c", "4", "-size", "100", "-d", "300ms", "-warmup", "50ms", "-json", "-pid", "0"},
		{"-c", "2", "-size", "1000", "-d", "300ms", "-warmup", "50ms", "-json", "-text", "-compress", "-rate", "200"},
	} {
		var out, errOut bytes.Buffer
		args = append(args, url)
		if err := runBench(context.Background(), args, &out, &errOut); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errOut.String())
		}
		var r benchResult
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatalf("output %q: %v", out.String(), err)
		}
		if r.Messages == 0 || r.Errors != 0 || r.MsgsPerSec <= 0 || r.P50us <= 0 || r.P99us < r.P50us {
			t.Fatalf("%v: implausible result %+v", args, r)
		}
		if r.Closed != r.Conns || r.CloseErrors != 0 {
			t.Fatalf("%v: %d of %d closing handshakes completed, %d failed", args, r.Closed, r.Conns, r.CloseErrors)
		}
		conns += r.Conns
	}
	// Idle connections and the server's own memory, read from /proc.
	var out bytes.Buffer
	err := runBench(context.Background(), []string{"-idle", "-c", "20", "-size", "100000", "-compress", "-d", "10ms", "-settle", "3s", "-json", "-pid", strconv.Itoa(os.Getpid()), url}, &out, &bytes.Buffer{})
	var r benchResult
	if err != nil || json.Unmarshal(out.Bytes(), &r) != nil || r.ServerRSSKiB <= 0 || r.RSSWaitSec <= 0 {
		t.Fatalf("idle run: %v %q", err, out.String())
	}
	if r.Closed != 20 || r.CloseErrors != 0 {
		t.Fatalf("idle run: %d of 20 closing handshakes completed, %d failed", r.Closed, r.CloseErrors)
	}
	conns += 20
	if !waitGroupWithin(&s.handlers, 30*time.Second) {
		t.Fatal("the server's connections did not end")
	}
	if n := strings.Count(logs.String(), "code=1000"); n != conns || strings.Contains(logs.String(), "code=1006") {
		t.Fatalf("%d of %d connections logged as closed with 1000; logs:\n%s", n, conns, logs)
	}
}

// TestSettledRSS: the reading is taken once the RSS stops falling, or
// when the wait runs out while it still falls.
func TestSettledRSS(t *testing.T) {
	seq := func(v ...int64) func() int64 {
		return func() int64 {
			x := v[0]
			if len(v) > 1 {
				v = v[1:]
			}
			return x
		}
	}
	rss, _, settled := settledRSS(context.Background(), seq(50000, 40000, 30000, 20000, 19990, 19980, 19970, 19960), time.Millisecond, 4, time.Minute)
	if rss != 19960 || !settled {
		t.Errorf("falling then flat: %d KiB, settled %v; want 19960, true", rss, settled)
	}
	falling := int64(1 << 30)
	rss, waited, settled := settledRSS(context.Background(), func() int64 { falling -= falling / 10; return falling }, time.Millisecond, 4, 50*time.Millisecond)
	if settled || waited < 50*time.Millisecond || rss <= 0 {
		t.Errorf("always falling: %d KiB after %v, settled %v; want unsettled after the limit", rss, waited, settled)
	}
}

// TestBenchMessageCompressesLikeText: the message deflates 2 to 6 times,
// like text, so that -compress measures real compression work.
func TestBenchMessageCompressesLikeText(t *testing.T) {
	msg := benchMessage(100 << 10)
	if len(msg) != 100<<10 {
		t.Fatalf("%d bytes", len(msg))
	}
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.DefaultCompression)
	w.Write(msg)
	w.Close()
	if ratio := float64(len(msg)) / float64(b.Len()); ratio < 2 || ratio > 6 {
		t.Fatalf("compresses %.1f times", ratio)
	}
}

func TestLatencyPercentiles(t *testing.T) {
	l := newLatencies()
	for i := 1; i <= 1000; i++ {
		l.add(time.Duration(i) * time.Microsecond)
	}
	for _, tt := range []struct{ q, want float64 }{{0.5, 501}, {0.99, 991}, {0.999, 1000}} {
		if got := l.percentile(tt.q); got != tt.want {
			t.Errorf("p%v = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := procCPU(os.Getpid()); got[0]+got[1] <= 0 {
		t.Errorf("own CPU time %v", got)
	}
}
