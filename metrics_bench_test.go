package websock

import (
	"bytes"
	"context"
	"strconv"
	"testing"

	"github.com/websock/websock/internal/frame"
)

// The cost of Metrics on the paths every message takes: reading and
// writing 16 B and 16 KiB messages without Metrics ("off") and with
// ("on"). Run with -benchmem: both must show 0 allocs/op.

func BenchmarkMetricsRead(b *testing.B) {
	for _, size := range []int{16, 16 << 10} {
		for _, on := range []bool{false, true} {
			b.Run(strconv.Itoa(size)+"/"+metricsOnOff(on), func(b *testing.B) {
				payload := bytes.Repeat([]byte("websock!"), size/8)
				var stream []byte
				for len(stream) < 1<<20 {
					stream = append(stream, frameBytes(true, 0, frame.OpText, payload, false)...)
				}
				cfg := connConfig{server: true}
				if on {
					cfg.Metrics = &Metrics{}
				}
				c := newConn(&loopConn{data: stream}, nil, cfg)
				ctx := context.Background()
				buf := make([]byte, 0, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, msg, err := c.ReadAppend(ctx, buf[:0]); err != nil || len(msg) != size {
						b.Fatalf("read %d bytes: %v", len(msg), err)
					}
				}
				b.StopTimer()
				if on && cfg.Metrics.Snapshot().Received[TextMessage].Messages != uint64(b.N) {
					b.Fatal("messages not counted")
				}
			})
		}
	}
}

func BenchmarkMetricsWrite(b *testing.B) {
	for _, size := range []int{16, 16 << 10} {
		for _, on := range []bool{false, true} {
			b.Run(strconv.Itoa(size)+"/"+metricsOnOff(on), func(b *testing.B) {
				cfg := connConfig{server: true}
				if on {
					cfg.Metrics = &Metrics{}
				}
				c := newConn(&loopConn{data: []byte{0}}, nil, cfg)
				ctx := context.Background()
				msg := make([]byte, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if err := c.Write(ctx, BinaryMessage, msg); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				if on && cfg.Metrics.Snapshot().Sent[BinaryMessage].Messages != uint64(b.N) {
					b.Fatal("messages not counted")
				}
			})
		}
	}
}

func metricsOnOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// The two designs Metrics was chosen between, at one counting call site:
// a struct of atomic counters the connection adds to (what Metrics is),
// and an interface whose method the connection calls at each event (here
// implemented with the same counters). "nil" is the cost without a hook.

// messageObserver is the interface design.
type messageObserver interface {
	MessageReceived(typ MessageType, payload, wire int64)
}

type countingObserver struct{ m Metrics }

func (o *countingObserver) MessageReceived(typ MessageType, payload, wire int64) {
	o.m.messageReceived(typ, payload, wire)
}

// hooks holds the hooks the way a Conn would, out of the compiler's sight.
var hooks struct {
	metrics  *Metrics
	observer messageObserver
}

func BenchmarkMetricsDesign(b *testing.B) {
	b.Run("struct/nil", func(b *testing.B) {
		hooks.metrics = nil
		for i := 0; i < b.N; i++ {
			hooks.metrics.messageReceived(TextMessage, 16, 16)
		}
	})
	b.Run("struct/on", func(b *testing.B) {
		hooks.metrics = &Metrics{}
		for i := 0; i < b.N; i++ {
			hooks.metrics.messageReceived(TextMessage, 16, 16)
		}
	})
	b.Run("interface/nil", func(b *testing.B) {
		hooks.observer = nil
		for i := 0; i < b.N; i++ {
			if o := hooks.observer; o != nil {
				o.MessageReceived(TextMessage, 16, 16)
			}
		}
	})
	b.Run("interface/on", func(b *testing.B) {
		hooks.observer = &countingObserver{}
		for i := 0; i < b.N; i++ {
			if o := hooks.observer; o != nil {
				o.MessageReceived(TextMessage, 16, 16)
			}
		}
	})
	// All goroutines counting into one Metrics: what many connections
	// sharing it cost each other.
	b.Run("struct/on/parallel", func(b *testing.B) {
		hooks.metrics = &Metrics{}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				hooks.metrics.messageReceived(TextMessage, 16, 16)
			}
		})
	})
}
