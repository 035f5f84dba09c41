package hub

import (
	"sync"

	"github.com/websock/websock"
)

// SlowPolicy says what a subscriber's queue does when a message arrives
// and the queue is full: the client reads slower than messages come.
type SlowPolicy int

// Slow-consumer policies.
const (
	// DropOldest discards the oldest queued message to make room: a slow
	// client sees the latest messages, with a gap.
	DropOldest SlowPolicy = iota
	// DropNewest discards the arriving message: a slow client sees the
	// older messages, with a gap after them.
	DropNewest
	// CloseTryAgainLater closes the connection with status 1013 (try
	// again later): the client reconnects and starts afresh.
	CloseTryAgainLater
	// ClosePolicyViolation closes the connection with status 1008 (policy
	// violation): the client is not welcome to read so slowly.
	ClosePolicyViolation
)

func (p SlowPolicy) String() string {
	switch p {
	case DropOldest:
		return "drop-oldest"
	case DropNewest:
		return "drop-newest"
	case CloseTryAgainLater:
		return "close-1013"
	case ClosePolicyViolation:
		return "close-1008"
	}
	return "invalid"
}

// queue is a subscriber's bounded queue of messages to write: a ring of
// shared prepared messages, so that its memory is its capacity in
// pointers, whatever the clients do.
type queue struct {
	mu     sync.Mutex
	ring   []*websock.PreparedMessage
	head   int // index of the oldest message
	n      int // messages queued
	closed bool
}

func newQueue(size int) *queue {
	return &queue{ring: make([]*websock.PreparedMessage, size)}
}

// push queues pm unless the queue is full; it reports whether a message
// was dropped to make room (DropOldest) or pm was refused (the others).
func (q *queue) push(pm *websock.PreparedMessage, policy SlowPolicy) (queued, dropped bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false, false
	}
	if q.n == len(q.ring) {
		if policy != DropOldest {
			return false, true
		}
		q.ring[q.head] = nil
		q.head = (q.head + 1) % len(q.ring)
		q.n--
		dropped = true
	}
	q.ring[(q.head+q.n)%len(q.ring)] = pm
	q.n++
	return true, dropped
}

// popInto moves up to len(dst) of the oldest messages into dst, in order,
// and returns how many.
func (q *queue) popInto(dst []*websock.PreparedMessage) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(q.n, len(dst))
	for i := range n {
		dst[i] = q.ring[q.head]
		q.ring[q.head] = nil
		q.head = (q.head + 1) % len(q.ring)
	}
	q.n -= n
	return n
}

// close drops what is queued and refuses what comes.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	clear(q.ring)
	q.n = 0
}
