package natsbroker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/websock/websock"
	"github.com/websock/websock/hub"
	"github.com/websock/websock/natsbroker"
)

// Two brokers, as on two machines, joined by one NATS server: a message
// published through one reaches the listener of the other. In a program,
// each is a hub's Options.Broker.
func Example() {
	ns, _ := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	ns.Start()
	defer ns.Shutdown()
	ns.ReadyForConnections(time.Minute)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	b1, _ := natsbroker.New(natsbroker.Options{URL: ns.ClientURL(), Logger: quiet})
	defer b1.Close()
	b2, _ := natsbroker.New(natsbroker.Options{URL: ns.ClientURL(), Logger: quiet})
	defer b2.Close()

	got := make(chan hub.Message, 1)
	stop, _ := b2.Listen(func(m hub.Message) {
		m.Data = append([]byte(nil), m.Data...) // the broker lends its buffer for the call
		got <- m
	})
	defer stop()
	b1.WaitConnected(ctx)
	b2.WaitConnected(ctx) // a round trip: NATS has b2's subscription

	b1.Publish(hub.Message{Topic: "prices", Type: websock.TextMessage, Data: []byte("EUR 1.08"), Origin: "node-1"})
	select {
	case m := <-got:
		fmt.Println(m.Origin, m.Topic, m.Type, string(m.Data))
	case <-ctx.Done():
		fmt.Println("nothing arrived")
	}
	// Output: node-1 prices text EUR 1.08
}
