package hub

import (
	"sync"

	"github.com/websock/websock"
)

// Message is a published message as it travels between hubs.
type Message struct {
	Topic  string
	Type   websock.MessageType
	Data   []byte
	Origin string // the ID of the hub it was published on
}

// A Broker carries messages between the hubs of several processes or
// machines. A hub delivers what is published on it to its own subscribers
// itself and gives it to the broker for the others; it drops messages that
// come back from the broker with its own Origin, so a broker may deliver
// to every hub, the publisher's included.
//
// Delivery across hubs is at most once: a broker that cannot reach its
// peers drops what is published meanwhile, and each hub keeps serving its
// own subscribers.
type Broker interface {
	// Publish hands m to the other hubs. It must not wait for them:
	// the hub calls it from Publish.
	Publish(m Message) error

	// Listen calls deliver for each message published on any hub, one
	// message at a time and, for each publishing hub, in the order they
	// were published, until stop is called. deliver must not keep m.Data
	// beyond the call unless the broker gave it its own copy; the hub
	// copies it.
	Listen(deliver func(m Message)) (stop func(), err error)
}

// Local is the in-process Broker: the hubs of one process that share a
// Local see each other's messages. The zero value is ready to use.
type Local struct {
	mu        sync.Mutex // serialises deliveries, so that each listener sees one order
	listeners map[*func(Message)]struct{}
}

// Publish delivers m to every listener, in the caller's goroutine.
func (l *Local) Publish(m Message) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for f := range l.listeners {
		(*f)(m)
	}
	return nil
}

// Listen adds deliver to the listeners until stop is called.
func (l *Local) Listen(deliver func(Message)) (stop func(), err error) {
	f := &deliver
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.listeners == nil {
		l.listeners = map[*func(Message)]struct{}{}
	}
	l.listeners[f] = struct{}{}
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.listeners, f)
	}, nil
}
