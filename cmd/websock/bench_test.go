package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strconv"
	"testing"
	"time"
)

func TestBenchAgainstServe(t *testing.T) {
	s, _ := startTestServer(t)
	for _, args := range [][]string{
		{"-c", "4", "-size", "100", "-d", "300ms", "-warmup", "50ms", "-json", "-pid", "0"},
		{"-c", "2", "-size", "1000", "-d", "300ms", "-warmup", "50ms", "-json", "-text", "-compress", "-rate", "200"},
	} {
		var out, errOut bytes.Buffer
		args = append(args, "ws://"+s.addrs["ws"].String()+"/ws")
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
	}
	// Idle connections and the server's own memory, read from /proc.
	var out bytes.Buffer
	err := runBench(context.Background(), []string{"-idle", "-c", "20", "-d", "10ms", "-json", "-pid", strconv.Itoa(os.Getpid()), "ws://" + s.addrs["ws"].String() + "/ws"}, &out, &bytes.Buffer{})
	var r benchResult
	if err != nil || json.Unmarshal(out.Bytes(), &r) != nil || r.ServerRSSKiB <= 0 {
		t.Fatalf("idle run: %v %q", err, out.String())
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
