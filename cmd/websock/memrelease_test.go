package main

import (
	"io"
	"log/slog"
	"testing"
	"time"
)

// TestMemReleasePolicy feeds the policy one check per second of figures
// (heap held, bytes allocated in that second) and checks at which seconds
// it releases: after a burst, not while busy, at most once per
// memReleaseMinGap, and only when the heap has grown.
func TestMemReleasePolicy(t *testing.T) {
	const MiB = 1 << 20
	type second struct {
		heap, alloc uint64 // MiB
		release     bool
	}
	for _, tt := range []struct {
		name    string
		took    time.Duration // what each release takes
		seconds []second
	}{
		{"burst then quiet: released on the second quiet check", 0, []second{
			{10, 1, false}, {80, 200, false}, {150, 300, false}, {150, 2, false}, {150, 1, true}, {12, 0, false}, {12, 0, false},
		}},
		{"steady traffic: never", 0, []second{
			{10, 100, false}, {80, 100, false}, {150, 100, false}, {150, 100, false}, {150, 90, false}, {150, 100, false},
		}},
		{"traffic slowing but not fallen back: never", 0, []second{
			{10, 100, false}, {150, 100, false}, {150, 50, false}, {150, 30, false}, {150, 20, false},
		}},
		{"a pause inside a burst is one quiet check: no release", 0, []second{
			{10, 100, false}, {150, 100, false}, {150, 1, false}, {150, 100, false}, {150, 100, false},
		}},
		{"heap grown by less than 8 MiB: never", 0, []second{
			{10, 1, false}, {17, 200, false}, {17, 0, false}, {17, 0, false}, {17, 0, false},
		}},
		{"heap grown by less than an eighth: never", 0, []second{
			{100, 1, false}, {110, 200, false}, {110, 0, false}, {110, 0, false}, {110, 0, false},
		}},
		{"second burst within the minimum gap waits for it", 0, []second{
			{10, 0, false}, {150, 300, false}, {150, 0, false}, {150, 0, true}, // released at 3 s
			{12, 300, false}, {150, 300, false}, {150, 0, false}, {150, 0, false}, // 7 s: 4 s after
			{150, 0, true}, // 8 s: 5 s after
		}},
		{"a release that took 100 ms: the next waits 10 s", 100 * time.Millisecond, []second{
			{10, 0, false}, {150, 300, false}, {150, 0, false}, {150, 0, true}, // released at 3 s
			{12, 300, false}, {150, 300, false}, {150, 0, false}, {150, 0, false}, {150, 0, false}, // 8 s
			{150, 0, false}, {150, 0, false}, {150, 0, false}, {150, 0, false}, // 12 s
			{150, 0, true}, // 13 s: 10 s after
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Unix(1000, 0)
			var allocs uint64
			p := newMemReleasePolicy(memFigures{heap: tt.seconds[0].heap * MiB})
			for i, s := range tt.seconds {
				allocs += s.alloc * MiB
				now := start.Add(time.Duration(i) * time.Second)
				f := memFigures{heap: s.heap * MiB, allocs: allocs}
				if got := p.check(now, f); got != s.release {
					t.Fatalf("second %d (%+v): release %v, want %v", i, s, got, s.release)
				}
				if s.release {
					p.released(now, tt.took, memFigures{heap: 12 * MiB, allocs: allocs})
				}
			}
		})
	}
}

// garbage is written by TestReleaseMemory so that the allocations are
// not optimised away.
var garbage [][]byte

// TestReleaseMemory: after memory is freed, a release gives it back: the
// heap the runtime holds falls by most of it.
func TestReleaseMemory(t *testing.T) {
	const size = 64 << 20
	for i := 0; i < size/(64<<10); i++ {
		garbage = append(garbage, make([]byte, 64<<10))
	}
	garbage = nil
	before := readMemFigures()
	releaseMemory()
	after := readMemFigures()
	t.Logf("heap held: %d -> %d bytes", before.heap, after.heap)
	if before.heap < after.heap+size/2 {
		t.Fatalf("heap held: %d -> %d bytes after freeing %d", before.heap, after.heap, size)
	}
}

// TestMemReleaseStops: the background loop ends when told to.
func TestMemReleaseStops(t *testing.T) {
	stop := startMemRelease(slog.New(slog.NewTextHandler(io.Discard, nil)))
	stop() // goleak (TestMain) fails the run if its goroutine lives on
}
