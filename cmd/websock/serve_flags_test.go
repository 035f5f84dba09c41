package main

import (
	"strings"
	"testing"
	"time"
)

// TestServeDefaultsAreOn: the limits a production server needs are on
// without flags.
func TestServeDefaultsAreOn(t *testing.T) {
	cfg := defaultServeConfig()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	opts := cfg.connOptions()
	if opts.WriteTimeout != 10*time.Second || opts.PingInterval != 20*time.Second || opts.PongTimeout != 20*time.Second {
		t.Fatalf("write timeout %v, ping interval %v, pong timeout %v; want 10s, 20s, 20s", opts.WriteTimeout, opts.PingInterval, opts.PongTimeout)
	}
	if opts.MaxCompressionRatio != 100 {
		t.Fatalf("compression ratio bound %d, want 100", opts.MaxCompressionRatio)
	}
	if opts.IdleTimeout != 2*time.Minute || opts.MessageTimeout != time.Minute || opts.Budget == nil || opts.Budget.Limit() != 512<<20 {
		t.Fatalf("idle timeout %v, message timeout %v, budget %v; want 2m, 1m, 512 MiB", opts.IdleTimeout, opts.MessageTimeout, opts.Budget)
	}
	if cfg.maxConns <= 0 || cfg.handshake <= 0 || opts.ReadLimit <= 0 || opts.CloseTimeout <= 0 {
		t.Fatalf("a limit is off by default: %+v", cfg)
	}
}

// TestServeRefusesBadFlags: values that make no sense are refused before
// anything starts, with a message naming the flag.
func TestServeRefusesBadFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-write-timeout", "-1s"}, "-write-timeout -1s: must not be negative"},
		{[]string{"-ping-interval", "-20s"}, "-ping-interval -20s: must not be negative"},
		{[]string{"-pong-timeout", "-1ms"}, "-pong-timeout -1ms: must not be negative"},
		{[]string{"-shutdown-timeout", "-1s"}, "-shutdown-timeout -1s: must not be negative"},
		{[]string{"-handshake-timeout", "0"}, "-handshake-timeout 0s: must be positive"},
		{[]string{"-close-timeout", "-5s"}, "-close-timeout -5s: must not be negative"},
		{[]string{"-close-timeout", "0"}, "-close-timeout 0s: must be positive"},
		{[]string{"-read-limit", "-1"}, "-read-limit -1: must not be negative"},
		{[]string{"-read-limit", "0"}, "-read-limit 0: must be positive"},
		{[]string{"-max-frame", "-1"}, "-max-frame -1: must not be negative"},
		{[]string{"-max-conns", "-1"}, "-max-conns -1: must not be negative"},
		{[]string{"-idle-timeout", "-1s"}, "-idle-timeout -1s: must not be negative"},
		{[]string{"-message-timeout", "-1s"}, "-message-timeout -1s: must not be negative"},
		{[]string{"-memory-budget", "-5MiB"}, "is not a size in bytes"},
		{[]string{"-memory-budget", "lots"}, "is not a size in bytes"},
		{[]string{"-max-compression-ratio", "-1"}, "-max-compression-ratio -1: must not be negative"},
	} {
		// No listener may start: every case fails validation first.
		args := append([]string{"-ws", "127.0.0.1:0", "-wss", ""}, tt.args...)
		err := serveCmd(args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("serve %s: %v, want %q", strings.Join(tt.args, " "), err, tt.want)
		}
	}
	// Every bad value is reported at once.
	err := serveCmd([]string{"-write-timeout", "-1s", "-max-conns", "-2"})
	if err == nil || !strings.Contains(err.Error(), "-write-timeout") || !strings.Contains(err.Error(), "-max-conns") {
		t.Errorf("two bad flags: %v", err)
	}
	// Sizes take units.
	var b byteSize
	if err := b.Set("512MiB"); err != nil || b != 512<<20 {
		t.Errorf("512MiB parsed as %d, %v", b, err)
	}
	// Zero turns the timeouts off.
	cfg := defaultServeConfig()
	cfg.writeTimeout, cfg.pingInterval, cfg.pongTimeout = 0, 0, 0
	if err := cfg.validate(); err != nil {
		t.Errorf("timeouts off: %v", err)
	}
}

func TestConnCaps(t *testing.T) {
	for _, tt := range []struct {
		maxConns int
		fdLimit  uint64
		want     connCaps
	}{
		{10000, 20000, connCaps{websocket: 10000, tcp: 10625, descriptors: 20000}},
		{10000, 1024, connCaps{websocket: 900, tcp: 960, descriptors: 1024, lowered: true}},
		{0, 1024, connCaps{websocket: 900, tcp: 960, descriptors: 1024}},
		{100, 0, connCaps{websocket: 100, tcp: 116}},
		{0, 0, connCaps{}},
		{10, 100, connCaps{websocket: 10, tcp: 26, descriptors: 100}},
	} {
		if got := connCapsFor(tt.maxConns, tt.fdLimit); got != tt.want {
			t.Errorf("connCapsFor(%d, %d) = %+v, want %+v", tt.maxConns, tt.fdLimit, got, tt.want)
		}
	}
}

// TestServeHeapLimitFollowsBudget: the heap's soft limit is the budget plus
// a margin, unless GOMEMLIMIT decides or there is no budget.
func TestServeHeapLimitFollowsBudget(t *testing.T) {
	cfg := defaultServeConfig()
	if limit, ok := cfg.heapLimit(); !ok || limit != 512<<20+heapMargin {
		t.Fatalf("heap limit %d %v, want budget + margin", limit, ok)
	}
	cfg.memoryBudget = 0
	if _, ok := cfg.heapLimit(); ok {
		t.Fatal("a heap limit without a budget")
	}
	cfg.memoryBudget = 1 << 30
	t.Setenv("GOMEMLIMIT", "2GiB")
	if _, ok := cfg.heapLimit(); ok {
		t.Fatal("a heap limit despite GOMEMLIMIT")
	}
}
