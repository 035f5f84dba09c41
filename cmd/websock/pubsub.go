package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/websock/websock"
	"github.com/websock/websock/hub"
	"github.com/websock/websock/natsbroker"
)

// pubsubPath is the prefix of the publish/subscribe endpoints: a client on
// /pubsub/NAME is subscribed to topic NAME.
const pubsubPath = "/pubsub/"

// defaultPubsubQueue is how many messages may wait for each subscriber.
const defaultPubsubQueue = 1024

// pubsubBackend subscribes each connection to the topic its path names
// and publishes each message it sends, with its type, to the topic's other
// subscribers, on this server and, with -nats, on every server of the
// cluster. A subscriber whose queue overflows is closed with 1013 (try
// again later): it knows it missed messages and may reconnect.
type pubsubBackend struct {
	hub    *hub.Hub
	broker *natsbroker.Broker // nil without -nats
}

func newPubsubBackend(natsURL string, queue int, logger *slog.Logger) (*pubsubBackend, error) {
	b := &pubsubBackend{}
	opts := hub.Options{QueueSize: queue, Policy: hub.CloseTryAgainLater}
	if natsURL != "" {
		broker, err := natsbroker.New(natsbroker.Options{URL: natsURL, Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("serve: -nats: %w", err)
		}
		b.broker, opts.Broker = broker, broker
	}
	h, err := hub.New(opts)
	if err != nil {
		b.close()
		return nil, fmt.Errorf("serve: pubsub: %w", err)
	}
	b.hub = h
	return b, nil
}

func (*pubsubBackend) name() string { return "pubsub" }

var errNoTopic = errors.New("pubsub: no topic in the path (/pubsub/NAME)")

func (b *pubsubBackend) open(c *websock.Conn, r *http.Request) func(context.Context) error {
	topic := strings.TrimPrefix(r.URL.Path, pubsubPath)
	return func(ctx context.Context) error {
		if topic == "" {
			c.Close(websock.StatusPolicyViolation, "no topic: connect to /pubsub/NAME")
			return errNoTopic
		}
		sub, err := b.hub.Subscribe(c, topic)
		if err != nil {
			c.Close(websock.StatusGoingAway, "shutting down")
			return err
		}
		err = sub.Relay(ctx)
		if errors.Is(sub.Err(), hub.ErrSlowConsumer) {
			return fmt.Errorf("%w: %w", sub.Err(), err)
		}
		return err
	}
}

// close ends the subscriptions and leaves NATS.
func (b *pubsubBackend) close() {
	if b.hub != nil {
		b.hub.Close()
	}
	if b.broker != nil {
		b.broker.Close()
	}
}
