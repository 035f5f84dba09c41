package websock

import (
	"runtime"
	"sync"
	"time"
)

// stallInterval is how long queued connections may wait with no reader
// free before more readers are started (readers.stallCheck).
const stallInterval = 10 * time.Millisecond

// The readers of served connections. A connection with data waiting is
// queued, and a small number of goroutines take connections from the
// queue in turn and read them until nothing more has arrived. So a burst
// of traffic on many connections runs on a few goroutines (whose stacks
// stay warm) instead of one per connection, and the memory of goroutines
// that the runtime keeps after they end stays small.
//
// A callback that blocks holds its goroutine. So that it cannot hold the
// queue up, the poller checks the queue's progress whenever it waits (see
// stallCheck): when no connection has been taken from it for that long,
// as many goroutines again are allowed.
type readers struct {
	mu       sync.Mutex
	queue    []*served // FIFO: queue[head:]
	head     int
	running  int      // goroutines taking from the queue
	limit    int      // how many may run; back to baseReaders when the queue empties
	taken    uint64   // connections taken from the queue so far
	lastSeen uint64   // taken at the previous stall check
	lastAt   int64    // monoNow of that check
	bufs     [][]byte // message buffers of readers that have ended, for the next ones
}

var theReaders readers

// baseReaders is how many readers run at once while none is blocked.
func baseReaders() int { return 4 * runtime.GOMAXPROCS(0) }

// schedule queues s, whose state is running, for a reader.
func (r *readers) schedule(s *served) {
	r.mu.Lock()
	r.queue = append(r.queue, s)
	if r.limit == 0 {
		r.limit = baseReaders()
	}
	start := r.running < r.limit
	if start {
		r.running++
	}
	r.mu.Unlock()
	if start {
		go readerWork()
	}
}

// readerWork reads queued connections until the queue is empty. (A
// function without arguments: a go statement with one allocates.)
func readerWork() { theReaders.work() }

// work reads the queued connections until the queue is empty.
func (r *readers) work() {
	var buf []byte // message buffer, kept from one connection to the next
	r.mu.Lock()
	if n := len(r.bufs); n > 0 {
		buf, r.bufs[n-1] = r.bufs[n-1], nil
		r.bufs = r.bufs[:n-1]
	}
	r.mu.Unlock()
	for {
		r.mu.Lock()
		if r.head == len(r.queue) {
			if buf != nil && len(r.bufs) < baseReaders() {
				r.bufs = append(r.bufs, buf)
			}
			r.running--
			if r.running == 0 {
				// Nothing queued, nothing running: drop the queue's
				// memory and the raised limit.
				r.head, r.limit = 0, baseReaders()
				if cap(r.queue) > 1024 {
					r.queue = nil // after a burst
				}
			}
			r.mu.Unlock()
			return
		}
		s := r.queue[r.head]
		r.queue[r.head] = nil
		r.head++
		if r.head == len(r.queue) {
			r.queue, r.head = r.queue[:0], 0
		}
		r.taken++
		r.mu.Unlock()
		s.run(&buf)
	}
}

// pending reports whether connections are waiting for a reader.
func (r *readers) pending() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.head < len(r.queue)
}

// stallCheck is called by the poller while connections are queued: if
// none was taken for stallInterval, every reader is held by a callback,
// and as many readers again are started.
func (r *readers) stallCheck() {
	now := monoNow()
	r.mu.Lock()
	if now-r.lastAt < int64(stallInterval) {
		r.mu.Unlock()
		return
	}
	r.lastAt = now
	waiting := len(r.queue) - r.head
	start := 0
	if waiting > 0 && r.taken == r.lastSeen {
		r.limit += max(r.running, 1)
		start = min(waiting, r.limit-r.running)
		r.running += start
	}
	r.lastSeen = r.taken
	r.mu.Unlock()
	for range start {
		go readerWork()
	}
}
