package hub

import (
	"context"
	"errors"
	"sync"

	"github.com/websock/websock"
)

// Subscription is one connection's subscription to one topic.
type Subscription struct {
	hub    *Hub
	conn   *websock.Conn
	topic  string
	q      *queue
	ctx    context.Context // of the writes; cancelled when the subscription ends
	cancel context.CancelFunc

	mu      sync.Mutex // guards writing
	writing bool       // a writer goroutine is draining the queue

	endOnce sync.Once
	err     error
	done    chan struct{}
}

// ErrUnsubscribed is the Err of a subscription ended by Unsubscribe.
var ErrUnsubscribed = errors.New("hub: unsubscribed")

// ErrSlowConsumer is the Err of a subscription ended by its queue
// overflowing under a Close policy.
var ErrSlowConsumer = errors.New("hub: queue full: the client reads too slowly")

// Topic returns the subscription's topic.
func (s *Subscription) Topic() string { return s.topic }

// Conn returns the subscribed connection.
func (s *Subscription) Conn() *websock.Conn { return s.conn }

// Publish sends a message on the subscription's topic to every other
// subscriber (on this hub and, through the broker, the others), as
// Hub.Publish does: the subscribed connection does not get its own message.
func (s *Subscription) Publish(typ websock.MessageType, data []byte) error {
	return s.hub.publish(s.topic, typ, data, s)
}

// Relay reads the messages the subscribed connection sends and publishes
// each, with its type, to the topic's other subscribers, until reading
// fails; then it unsubscribes and returns the read error. It is the loop
// of a chat room or a pubsub endpoint, run by the connection's handler.
func (s *Subscription) Relay(ctx context.Context) error {
	defer s.Unsubscribe()
	for {
		typ, msg, err := s.conn.Read(ctx)
		if err != nil {
			return err
		}
		// A broker failure is counted in the hub's Stats; the local
		// subscribers have the message.
		s.Publish(typ, msg)
	}
}

// Unsubscribe ends the subscription: queued messages are dropped and a
// write in progress is stopped (which, if it has begun, closes the
// connection, as websock's write rules say). It is safe to call more than
// once.
func (s *Subscription) Unsubscribe() { s.end(ErrUnsubscribed, true) }

// Done returns a channel closed when the subscription has ended.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err returns why the subscription ended (ErrUnsubscribed, ErrClosed,
// ErrSlowConsumer or the write error), or nil while it lasts.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// end ends the subscription once, for err, and reports whether this call
// ended it. With stopWrite, a write in progress is stopped too.
func (s *Subscription) end(err error, stopWrite bool) bool {
	first := false
	s.endOnce.Do(func() {
		first = true
		s.err = err
		s.q.close()
		if stopWrite {
			s.cancel()
		}
		s.hub.remove(s)
		close(s.done)
	})
	return first
}

// push queues pm and makes sure a writer drains the queue. It reports
// whether the queue overflowed under a Close policy: the caller then
// calls closeSlow, once it holds no lock of the hub.
func (s *Subscription) push(pm *websock.PreparedMessage) (closeSlow bool) {
	policy := s.hub.opts.Policy
	queued, dropped := s.q.push(pm, policy)
	if dropped {
		if policy == CloseTryAgainLater || policy == ClosePolicyViolation {
			return true
		}
		s.hub.stats.dropped.Add(1)
	}
	if !queued {
		return false
	}
	s.mu.Lock()
	start := !s.writing
	s.writing = true
	s.mu.Unlock()
	if start {
		go s.drain()
	}
	return false
}

// drain writes the queued messages, then ends: an idle subscription holds
// no goroutine. A backlog goes out in batches (WritePrepared with several
// messages: one write for all of them).
func (s *Subscription) drain() {
	var batch [drainBatch]*websock.PreparedMessage
	for {
		n := s.q.popInto(batch[:])
		if n == 0 {
			s.mu.Lock()
			// A push between popInto and here saw writing set: look again.
			if n = s.q.popInto(batch[:]); n == 0 {
				s.writing = false
				s.mu.Unlock()
				return
			}
			s.mu.Unlock()
		}
		err := s.conn.WritePrepared(s.ctx, batch[:n]...)
		clear(batch[:n])
		if err != nil {
			s.mu.Lock()
			s.writing = false
			s.mu.Unlock()
			s.end(err, true)
			return
		}
		s.hub.stats.delivered.Add(uint64(n))
	}
}

// drainBatch is the most queued messages written in one call.
const drainBatch = 32

// closeSlow ends a subscriber whose queue overflowed and closes its
// connection with the policy's status code, after the message being
// written, if any.
func (s *Subscription) closeSlow() {
	if !s.end(ErrSlowConsumer, false) {
		return
	}
	s.hub.stats.slowClosed.Add(1)
	code := websock.StatusTryAgainLater
	if s.hub.opts.Policy == ClosePolicyViolation {
		code = websock.StatusPolicyViolation
	}
	// Close waits for the client's answer (bounded by its close timeout):
	// not in the publisher's goroutine.
	go func() {
		s.conn.Close(code, "reading too slowly")
		s.cancel()
	}()
}
