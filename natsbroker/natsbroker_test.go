package natsbroker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/websock/websock"
	"github.com/websock/websock/hub"
)

const testTimeout = 30 * time.Second

// startNATS runs a NATS server in the process, on port (0: any free one).
func startNATS(t testing.TB, port int) *server.Server {
	t.Helper()
	if port == 0 {
		port = -1
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(testTimeout) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

func natsPort(ns *server.Server) int { return ns.Addr().(*net.TCPAddr).Port }

// node is one process's share of a cluster: a hub on its own broker,
// serving clients on /TOPIC.
type node struct {
	broker *Broker
	hub    *hub.Hub
	url    string
	subs   chan *hub.Subscription
	logs   *logBuffer
}

func startNode(t testing.TB, natsURL string) *node {
	t.Helper()
	n := &node{subs: make(chan *hub.Subscription, 100), logs: &logBuffer{}}
	b, err := New(Options{URL: natsURL, ReconnectWait: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(n.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	n.broker = b
	n.hub, err = hub.New(hub.Options{Broker: b})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.hub.Close() })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websock.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		sub, err := n.hub.Subscribe(c, strings.TrimPrefix(r.URL.Path, "/"))
		if err != nil {
			return
		}
		n.subs <- sub
		sub.Relay(context.Background())
	}))
	t.Cleanup(srv.Close)
	n.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := b.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *node) dial(t testing.TB, topic string) *websock.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, _, err := websock.Dial(ctx, n.url+"/"+topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	select {
	case <-n.subs:
	case <-ctx.Done():
		t.Fatal("not subscribed")
	}
	return c
}

func read(t testing.TB, c *websock.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, msg, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(msg)
}

// logBuffer is a log that loggers write while the test reads it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestPublishOnAnyNodeReachesEveryNode(t *testing.T) {
	ns := startNATS(t, 0)
	nodes := []*node{startNode(t, ns.ClientURL()), startNode(t, ns.ClientURL()), startNode(t, ns.ClientURL())}
	var clients []*websock.Conn
	for _, n := range nodes {
		clients = append(clients, n.dial(t, "room"), n.dial(t, "room"))
	}
	for i, n := range nodes {
		if err := n.hub.Publish("room", websock.TextMessage, fmt.Appendf(nil, "from node %d", i)); err != nil {
			t.Fatal(err)
		}
		for _, c := range clients {
			if got := read(t, c); got != fmt.Sprintf("from node %d", i) {
				t.Fatalf("got %q: lost, repeated or reordered", got)
			}
		}
	}
	for i, n := range nodes {
		if st := n.hub.Stats(); st.Published != 1 || st.Relayed != 2 {
			t.Fatalf("node %d: %+v, want 1 published and 2 relayed", i, st)
		}
	}
}

// NATS goes away: every node keeps serving its own subscribers and
// reports the outage; what is published meanwhile stays on its node (at
// most once); when NATS is back, cross-node delivery resumes.
func TestOutage(t *testing.T) {
	ns := startNATS(t, 0)
	addr, port := ns.ClientURL(), natsPort(ns)
	a, b := startNode(t, addr), startNode(t, addr)
	ca, cb := a.dial(t, "t"), b.dial(t, "t")

	ns.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	// Connected turns false before the disconnect handler, which counts
	// and then logs the outage, has run: wait for the handler too.
	noticed := func() bool {
		return !a.broker.Connected() && !b.broker.Connected() && a.broker.Outages() > 0 && b.broker.Outages() > 0 &&
			strings.Contains(a.logs.String(), "NATS unreachable")
	}
	if err := waitUntil(ctx, noticed, a.broker, b.broker); err != nil {
		t.Fatalf("the brokers did not notice the outage: connected %v %v, outages %d %d, logs of a: %s", a.broker.Connected(), b.broker.Connected(), a.broker.Outages(), b.broker.Outages(), a.logs)
	}
	err := a.hub.Publish("t", websock.TextMessage, []byte("during the outage"))
	if !errors.Is(err, ErrDisconnected) {
		t.Fatalf("Publish during the outage: %v, want ErrDisconnected", err)
	}
	if got := read(t, ca); got != "during the outage" {
		t.Fatalf("local subscriber got %q", got)
	}
	if a.broker.Outages() != 1 || a.hub.Stats().BrokerFailed != 1 {
		t.Fatalf("outages %d, broker failures %d", a.broker.Outages(), a.hub.Stats().BrokerFailed)
	}

	startNATS(t, port)
	for _, n := range []*node{a, b} {
		if err := n.broker.WaitConnected(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.hub.Publish("t", websock.TextMessage, []byte("after")); err != nil {
		t.Fatal(err)
	}
	// b's client never saw the outage message: the first it gets is this.
	if got := read(t, cb); got != "after" {
		t.Fatalf("node b got %q, want the message after the outage (the one during it is lost)", got)
	}
	if got := read(t, ca); got != "after" {
		t.Fatalf("node a got %q after the outage", got)
	}
	// The reconnect handler logs after its own round trip, on the NATS
	// client's callback goroutine: WaitConnected does not wait for it.
	logged := func() bool { return strings.Contains(a.logs.String(), "reachable again") }
	if err := waitUntil(ctx, logged, a.broker); err != nil {
		t.Fatalf("reconnection not logged: %s", a.logs)
	}
}

// waitUntil waits until cond holds, looking again each time the connection
// state of one of the brokers changes, or until ctx is done. The brokers'
// change channels are taken before cond is looked at, so that a change
// between the two is not missed.
func waitUntil(ctx context.Context, cond func() bool, bs ...*Broker) error {
	for {
		changed := make(chan struct{}, len(bs))
		stop := make(chan struct{})
		for _, b := range bs {
			b.mu.Lock()
			ch := b.changed
			b.mu.Unlock()
			go func() {
				select {
				case <-ch:
					changed <- struct{}{}
				case <-stop:
				}
			}()
		}
		if cond() {
			close(stop)
			return nil
		}
		select {
		case <-changed:
			close(stop)
		case <-ctx.Done():
			close(stop)
			return ctx.Err()
		}
	}
}

func TestNewWithoutNATSThenConnects(t *testing.T) {
	ns := startNATS(t, 0)
	url, port := ns.ClientURL(), natsPort(ns)
	ns.Shutdown()
	b, err := New(Options{URL: url, ReconnectWait: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("New without NATS: %v", err)
	}
	defer b.Close()
	if err := b.Publish(hub.Message{Topic: "t", Type: websock.TextMessage}); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("Publish: %v", err)
	}
	startNATS(t, port)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := b.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestEncoding(t *testing.T) {
	m := hub.Message{Topic: "a.b c", Type: websock.BinaryMessage, Data: []byte{0, 1, 2}, Origin: "xyz"}
	got, err := decode(encode(m))
	if err != nil || got.Topic != m.Topic || got.Origin != m.Origin || got.Type != m.Type || !bytes.Equal(got.Data, m.Data) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for _, bad := range [][]byte{nil, {1}, {1, 5, 'a'}, {9, 0, 0}, {1, 0, 0xff}} {
		if _, err := decode(bad); err == nil {
			t.Errorf("decode(%x) accepted", bad)
		}
	}
}
