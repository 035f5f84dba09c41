// Package natsbroker is a hub.Broker on NATS: the hubs of several
// processes, each with a Broker on the same NATS server or cluster, see
// each other's messages.
//
// Delivery between hubs is at most once. While a process is cut off from
// NATS, its hub keeps serving its own subscribers; what is published on it
// meanwhile does not reach the other processes (Publish fails, and the hub
// counts it), and what the others publish meanwhile does not reach it.
// Messages already handed to NATS when the connection drops, and those
// published by others before this process has subscribed again after a
// reconnection, may be lost too. Nothing is replayed: the broker
// reconnects on its own and cross-process delivery resumes with the next
// message. Each outage is logged and counted (Outages).
package natsbroker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/websock/websock"
	"github.com/websock/websock/hub"
)

// DefaultSubject is the NATS subject the hubs share when
// Options.Subject is "".
const DefaultSubject = "websock.hub"

// Options configure a Broker.
type Options struct {
	// URL is the NATS server, e.g. "nats://127.0.0.1:4222"; several
	// may be given, separated by commas.
	URL string

	// Subject carries the hubs' messages; hubs that share it share
	// their topics. "" means DefaultSubject.
	Subject string

	// ReconnectWait is the pause between attempts to reach NATS again;
	// 0 means half a second.
	ReconnectWait time.Duration

	// Logger receives the outages and reconnections; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Broker is a hub.Broker over one NATS connection. It is safe for
// concurrent use.
type Broker struct {
	nc      *nats.Conn
	subject string
	log     *slog.Logger
	outages atomic.Uint64

	mu      sync.Mutex
	changed chan struct{} // closed and replaced when the connection comes or goes
}

// ErrDisconnected is returned by Publish while NATS cannot be reached.
var ErrDisconnected = errors.New("natsbroker: not connected to NATS")

// New connects to NATS. If NATS cannot be reached yet, New still returns
// a Broker, which keeps trying in the background (the hub serves its own
// subscribers meanwhile); it fails only for invalid options.
func New(opts Options) (*Broker, error) {
	b := &Broker{subject: opts.Subject, log: opts.Logger, changed: make(chan struct{})}
	if b.subject == "" {
		b.subject = DefaultSubject
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	wait := opts.ReconnectWait
	if wait <= 0 {
		wait = 500 * time.Millisecond
	}
	nc, err := nats.Connect(opts.URL,
		nats.Name("websock hub"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(wait),
		// No buffering while disconnected: a publish then fails at once,
		// rather than reaching the others late, or not at all if the
		// buffer overflows. At most once, and said so.
		nats.ReconnectBufSize(-1),
		nats.ConnectHandler(func(*nats.Conn) { b.log.Info("natsbroker: connected", "url", opts.URL); b.notify() }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			n := b.outages.Add(1)
			b.log.Warn("natsbroker: NATS unreachable: serving local subscribers only", "err", err, "outages", n)
			b.notify()
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			// The round trip makes sure NATS has this process's
			// subscriptions again before saying delivery resumes.
			if err := nc.FlushTimeout(10 * time.Second); err != nil {
				b.log.Warn("natsbroker: NATS reachable again but not answering", "err", err)
			} else {
				b.log.Info("natsbroker: NATS reachable again: cross-node delivery resumes")
			}
			b.notify()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			// nats.ErrSlowConsumer among them: messages dropped.
			b.log.Warn("natsbroker: NATS error", "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("natsbroker: %w", err)
	}
	b.nc = nc
	return b, nil
}

func (b *Broker) notify() {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.changed)
	b.changed = make(chan struct{})
}

// Outages returns how many times the connection to NATS was lost.
func (b *Broker) Outages() uint64 { return b.outages.Load() }

// Connected reports whether NATS is reachable now.
func (b *Broker) Connected() bool { return b.nc.IsConnected() }

// WaitConnected waits until NATS is reachable and has seen this broker's
// subscriptions (a round trip), or ctx is done.
func (b *Broker) WaitConnected(ctx context.Context) error {
	for {
		b.mu.Lock()
		changed := b.changed
		b.mu.Unlock()
		if b.nc.IsConnected() {
			if err := b.nc.FlushWithContext(ctx); err == nil {
				return nil
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("natsbroker: waiting for NATS: %w", ctx.Err())
		}
	}
}

// Publish hands m to NATS; it fails with ErrDisconnected while NATS
// cannot be reached.
func (b *Broker) Publish(m hub.Message) error {
	if !b.nc.IsConnected() {
		return ErrDisconnected
	}
	if err := b.nc.Publish(b.subject, encode(m)); err != nil {
		return fmt.Errorf("natsbroker: publish: %w", err)
	}
	return nil
}

// Listen subscribes to the hubs' subject and calls deliver for each
// message, one at a time, until stop is called. The subscription is
// renewed by itself after an outage.
func (b *Broker) Listen(deliver func(hub.Message)) (stop func(), err error) {
	sub, err := b.nc.Subscribe(b.subject, func(msg *nats.Msg) {
		m, err := decode(msg.Data)
		if err != nil {
			b.log.Warn("natsbroker: malformed message dropped", "err", err)
			return
		}
		deliver(m)
	})
	if err != nil {
		return nil, fmt.Errorf("natsbroker: subscribe: %w", err)
	}
	// Bounded: beyond it NATS drops (at most once) rather than growing.
	sub.SetPendingLimits(65536, 64<<20)
	return func() { sub.Unsubscribe() }, nil
}

// Close closes the NATS connection.
func (b *Broker) Close() error {
	b.nc.Close()
	return nil
}

// encode lays m out as: type (1 byte), origin and topic (each a uvarint
// length and the bytes), then the data.
func encode(m hub.Message) []byte {
	p := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(m.Origin)+len(m.Topic)+len(m.Data))
	p = append(p, byte(m.Type))
	p = binary.AppendUvarint(p, uint64(len(m.Origin)))
	p = append(p, m.Origin...)
	p = binary.AppendUvarint(p, uint64(len(m.Topic)))
	p = append(p, m.Topic...)
	return append(p, m.Data...)
}

var errMalformed = errors.New("malformed hub message")

func decode(p []byte) (hub.Message, error) {
	var m hub.Message
	if len(p) < 1 {
		return m, errMalformed
	}
	m.Type = websock.MessageType(p[0])
	p = p[1:]
	field := func() (string, bool) {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return "", false
		}
		s := string(p[k : k+int(n)])
		p = p[k+int(n):]
		return s, true
	}
	var ok1, ok2 bool
	m.Origin, ok1 = field()
	m.Topic, ok2 = field()
	if !ok1 || !ok2 || (m.Type != websock.TextMessage && m.Type != websock.BinaryMessage) {
		return m, errMalformed
	}
	m.Data = p
	return m, nil
}
