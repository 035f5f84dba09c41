// Package hub delivers published messages to the WebSocket connections
// subscribed to a topic: each message is encoded once (a
// websock.PreparedMessage) and queued for every subscriber; each
// subscriber has a bounded queue and a writer of its own, so that a slow
// client never delays the others and never makes the hub hold more than
// its queue. A Broker joins the hubs of several processes: what is
// published on any of them reaches the subscribers of all.
//
// Guarantees: the messages of one publisher (one goroutine calling
// Publish, or one hub's messages relayed by the broker) reach each
// subscriber in the order they were published; no message is delivered
// twice to a subscriber; a message is lost only when a subscriber's queue
// overflows (its SlowPolicy decides which) or, across hubs, when the
// broker cannot carry it (delivery between hubs is at most once).
package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/websock/websock"
)

// DefaultQueueSize is the queue of each subscriber when Options.QueueSize
// is 0.
const DefaultQueueSize = 256

// Options configure a Hub. The zero value is a hub on its own, with
// queues of DefaultQueueSize messages that drop the oldest on overflow.
type Options struct {
	// QueueSize is how many messages may wait for each subscriber; 0
	// means DefaultQueueSize. A subscriber's writer takes what has
	// queued, up to 32 messages, for one write, so a subscriber that has
	// stopped reading holds up to QueueSize + min(QueueSize, 32)
	// messages (those being written, and a full queue) before its queue
	// overflows.
	QueueSize int

	// Policy says what happens when a subscriber's queue is full.
	Policy SlowPolicy

	// Broker carries messages to and from other hubs; nil means none.
	Broker Broker
}

// Stats counts what a hub did since it started.
type Stats struct {
	Published    uint64 // messages published on this hub
	Relayed      uint64 // messages from other hubs, through the broker
	Delivered    uint64 // messages written to subscribers
	Dropped      uint64 // messages a full queue dropped (DropOldest, DropNewest)
	SlowClosed   uint64 // subscribers closed for a full queue (the Close policies)
	BrokerFailed uint64 // publishes the broker refused (not carried to other hubs)
}

// Hub delivers the messages published on a topic to the connections
// subscribed to it. Its methods are safe for concurrent use.
type Hub struct {
	id    string
	opts  Options
	stop  func()
	stats struct {
		published, relayed, delivered, dropped, slowClosed, brokerFailed atomic.Uint64
	}

	mu     sync.RWMutex
	topics map[string]map[*Subscription]struct{}
	closed bool
}

// ErrClosed is returned by the calls on a closed hub.
var ErrClosed = errors.New("hub: closed")

// New returns a hub; with a broker, it starts listening to it, and fails
// if the broker does.
func New(opts Options) (*Hub, error) {
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.Policy < DropOldest || opts.Policy > ClosePolicyViolation {
		return nil, fmt.Errorf("hub: invalid slow-consumer policy %d", opts.Policy)
	}
	var id [12]byte
	rand.Read(id[:])
	h := &Hub{id: hex.EncodeToString(id[:]), opts: opts, topics: map[string]map[*Subscription]struct{}{}}
	if opts.Broker != nil {
		stop, err := opts.Broker.Listen(h.relay)
		if err != nil {
			return nil, fmt.Errorf("hub: broker: %w", err)
		}
		h.stop = stop
	}
	return h, nil
}

// ID returns the hub's identity, the Origin of the messages it publishes.
func (h *Hub) ID() string { return h.id }

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	return Stats{
		Published:    h.stats.published.Load(),
		Relayed:      h.stats.relayed.Load(),
		Delivered:    h.stats.delivered.Load(),
		Dropped:      h.stats.dropped.Load(),
		SlowClosed:   h.stats.slowClosed.Load(),
		BrokerFailed: h.stats.brokerFailed.Load(),
	}
}

// Publish sends a message of type typ to the subscribers of topic, on
// this hub and, through the broker, on the others. It does not wait for
// any subscriber: it queues the message for each (data is copied once)
// and returns. A broker failure is counted (Stats.BrokerFailed) and
// returned, after the local subscribers have the message.
func (h *Hub) Publish(topic string, typ websock.MessageType, data []byte) error {
	return h.publish(topic, typ, data, nil)
}

func (h *Hub) publish(topic string, typ websock.MessageType, data []byte, except *Subscription) error {
	if typ != websock.TextMessage && typ != websock.BinaryMessage {
		return fmt.Errorf("hub: publish: invalid message type %d", typ)
	}
	h.mu.RLock()
	closed := h.closed
	h.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	h.stats.published.Add(1)
	h.deliver(topic, typ, data, except)
	if h.opts.Broker == nil {
		return nil
	}
	if err := h.opts.Broker.Publish(Message{Topic: topic, Type: typ, Data: data, Origin: h.id}); err != nil {
		h.stats.brokerFailed.Add(1)
		return fmt.Errorf("hub: broker: %w", err)
	}
	return nil
}

// relay delivers a message from the broker, unless this hub published it.
func (h *Hub) relay(m Message) {
	if m.Origin == h.id || (m.Type != websock.TextMessage && m.Type != websock.BinaryMessage) {
		return
	}
	h.stats.relayed.Add(1)
	h.deliver(m.Topic, m.Type, m.Data, nil)
}

// deliver queues the message, encoded once, for the subscribers of topic
// but except.
func (h *Hub) deliver(topic string, typ websock.MessageType, data []byte, except *Subscription) {
	var slow []*Subscription
	h.mu.RLock()
	subs := h.topics[topic]
	if len(subs) > 1 || (len(subs) == 1 && except == nil) {
		pm, _ := websock.NewPreparedMessage(typ, data) // the type was checked
		for s := range subs {
			if s != except && s.push(pm) {
				slow = append(slow, s)
			}
		}
	}
	h.mu.RUnlock()
	for _, s := range slow {
		s.closeSlow() // takes the hub's lock
	}
}

// Subscribe subscribes c to topic: from now on, the messages published on
// topic are written to c, in the background. The subscription ends when
// Unsubscribe is called, the hub is closed, a write to c fails, or c's
// queue overflows under a Close policy; call Unsubscribe when c's read
// loop ends. Each write is bounded by c's write timeout
// (websock.ConnOptions.WriteTimeout): set one, or a client that stops
// reading holds its writer (never more than its queue) until c is closed.
func (h *Hub) Subscribe(c *websock.Conn, topic string) (*Subscription, error) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Subscription{hub: h, conn: c, topic: topic, q: newQueue(h.opts.QueueSize), ctx: ctx, cancel: cancel, done: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		cancel()
		return nil, ErrClosed
	}
	subs := h.topics[topic]
	if subs == nil {
		subs = map[*Subscription]struct{}{}
		h.topics[topic] = subs
	}
	subs[s] = struct{}{}
	return s, nil
}

// Subscribers returns the number of subscribers of topic on this hub.
func (h *Hub) Subscribers(topic string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.topics[topic])
}

// remove takes s out of its topic.
func (h *Hub) remove(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if subs := h.topics[s.topic]; subs != nil {
		delete(subs, s)
		if len(subs) == 0 {
			delete(h.topics, s.topic)
		}
	}
}

// Close stops listening to the broker and ends every subscription, as
// Unsubscribe does: it does not close the connections, except one whose
// message it cuts short. Publish and Subscribe fail after it.
func (h *Hub) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	var subs []*Subscription
	for _, set := range h.topics {
		for s := range set {
			subs = append(subs, s)
		}
	}
	h.mu.Unlock()
	if h.stop != nil {
		h.stop()
	}
	for _, s := range subs {
		s.end(ErrClosed, true)
	}
	return nil
}
