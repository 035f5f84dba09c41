package main

import (
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// After a burst of traffic the Go runtime keeps what the burst used: freed
// heap it gives back to the system only slowly (and not below what its
// next collection target allows), buffers and compressors in sync.Pools
// until two collections have passed, goroutine stacks grown by the burst
// until a collection shrinks them. A collection may not come for minutes
// once traffic stops. startMemRelease watches the runtime's own figures and,
// when the heap has grown and allocation has fallen back, runs two
// collections and gives every free page back to the system.
//
// The policy, checked every memReleaseInterval:
//   - the heap (objects and their spans' unused room, free pages not yet
//     returned, stacks) has grown by memReleaseMinGrowth, and by an
//     eighth, since the last release (or since the start);
//   - allocation has fallen below an eighth of its peak rate since then,
//     for memReleaseQuietTicks checks in a row: the burst is over;
//   - memReleaseMinGap has passed since the last release, and 100 times
//     what the last release took: releasing takes at most 1% of the time.
//
// Under steady traffic allocation does not fall back, so nothing is done.
const (
	memReleaseInterval   = time.Second
	memReleaseQuietTicks = 2
	memReleaseMinGrowth  = 8 << 20
	memReleaseMinGap     = 5 * time.Second
)

// memFigures is what the policy reads from the runtime.
type memFigures struct {
	heap   uint64 // heap memory held: objects, unused room in their spans, free pages not yet returned, stacks
	allocs uint64 // bytes allocated since the start (cumulative)
}

// memReleasePolicy decides, one check at a time, when to release.
type memReleasePolicy struct {
	baseline    uint64    // heap held after the last release (or at the start)
	lastAllocs  uint64    // allocs at the previous check
	peakRate    uint64    // most bytes allocated between two checks since the last release
	quiet       int       // checks in a row with allocation below peakRate/8
	nextRelease time.Time // no release before; zero before the first
}

func newMemReleasePolicy(f memFigures) *memReleasePolicy {
	return &memReleasePolicy{baseline: f.heap, lastAllocs: f.allocs}
}

// check takes the figures read at now and reports whether to release.
func (p *memReleasePolicy) check(now time.Time, f memFigures) bool {
	rate := f.allocs - p.lastAllocs
	p.lastAllocs = f.allocs
	p.peakRate = max(p.peakRate, rate)
	if rate <= p.peakRate/8 {
		p.quiet++
	} else {
		p.quiet = 0
	}
	grown := f.heap >= p.baseline+memReleaseMinGrowth && f.heap >= p.baseline+p.baseline/8
	return grown && p.quiet >= memReleaseQuietTicks && !now.Before(p.nextRelease)
}

// released records a release that ended at now and took took, after
// which f was read.
func (p *memReleasePolicy) released(now time.Time, took time.Duration, f memFigures) {
	p.baseline, p.lastAllocs = f.heap, f.allocs
	p.nextRelease = now.Add(max(memReleaseMinGap, 100*took))
	p.peakRate, p.quiet = 0, 0
}

// readMemFigures reads the figures from runtime/metrics.
func readMemFigures() memFigures {
	s := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
		{Name: "/gc/heap/allocs:bytes"},
	}
	metrics.Read(s)
	return memFigures{
		heap:   s[0].Value.Uint64() + s[1].Value.Uint64() + s[2].Value.Uint64() + s[3].Value.Uint64(),
		allocs: s[4].Value.Uint64(),
	}
}

// releaseMemory runs two collections (the first moves sync.Pools' contents
// aside, the second frees them and shrinks stacks again) and returns the
// free pages to the system.
func releaseMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}

// startMemRelease runs the policy in the background until the returned
// function is called (which waits for it to stop), logging each release.
func startMemRelease(logger *slog.Logger) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		p := newMemReleasePolicy(readMemFigures())
		tick := time.NewTicker(memReleaseInterval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				before := readMemFigures()
				if !p.check(now, before) {
					continue
				}
				start := time.Now()
				releaseMemory()
				after := readMemFigures()
				took := time.Since(start)
				p.released(start.Add(took), took, after)
				logger.Info("memory returned to the system after a burst", "heap_before", before.heap, "heap_after", after.heap, "took", took)
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}
