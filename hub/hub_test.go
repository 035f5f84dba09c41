package hub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/websock/websock"
)

// testTimeout bounds every wait of these tests: generous, for a loaded
// machine.
const testTimeout = 30 * time.Second

// server serves h on a loopback port: a client on /NAME is subscribed to
// topic NAME and what it sends is published to the topic's other
// subscribers. Each subscription is sent on subs once made.
type server struct {
	url  string
	subs chan *Subscription
}

func startServer(t testing.TB, h *Hub, opts websock.ConnOptions) *server {
	t.Helper()
	s := &server{subs: make(chan *Subscription, 1000)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websock.Accept(w, r, &websock.AcceptOptions{ConnOptions: opts})
		if err != nil {
			return
		}
		defer c.CloseNow()
		sub, err := h.Subscribe(c, strings.TrimPrefix(r.URL.Path, "/"))
		if err != nil {
			c.Close(websock.StatusGoingAway, "")
			return
		}
		s.subs <- sub
		sub.Relay(context.Background())
	}))
	t.Cleanup(srv.Close)
	s.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return s
}

// dial connects a client to topic and waits until the server has
// subscribed it.
func (s *server) dial(t testing.TB, topic string) (*websock.Conn, *Subscription) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, _, err := websock.Dial(ctx, s.url+"/"+topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	select {
	case sub := <-s.subs:
		return c, sub
	case <-ctx.Done():
		t.Fatal("the server did not subscribe the client")
	}
	return nil, nil
}

// readWithin reads a message, failing after testTimeout; for goroutines,
// which may not stop the test.
func readWithin(c *websock.Conn) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, msg, err := c.Read(ctx)
	return msg, err
}

func read(t testing.TB, c *websock.Conn) (websock.MessageType, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	typ, msg, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return typ, string(msg)
}

func newHub(t testing.TB, opts Options) *Hub {
	t.Helper()
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestPublishReachesTheTopicOnly(t *testing.T) {
	h := newHub(t, Options{})
	s := startServer(t, h, websock.ConnOptions{})
	a1, _ := s.dial(t, "a")
	a2, _ := s.dial(t, "a")
	b, _ := s.dial(t, "b")
	if err := h.Publish("a", websock.BinaryMessage, []byte("for a")); err != nil {
		t.Fatal(err)
	}
	if err := h.Publish("b", websock.TextMessage, []byte("for b")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*websock.Conn{a1, a2} {
		if typ, msg := read(t, c); typ != websock.BinaryMessage || msg != "for a" {
			t.Fatalf("got %v %q", typ, msg)
		}
	}
	if typ, msg := read(t, b); typ != websock.TextMessage || msg != "for b" {
		t.Fatalf("b got %v %q, the message of its own topic first", typ, msg)
	}
	if h.Subscribers("a") != 2 || h.Subscribers("none") != 0 {
		t.Fatal("subscriber counts wrong")
	}
	if err := h.Publish("a", websock.MessageType(7), nil); err == nil {
		t.Fatal("invalid type published")
	}
}

func TestSubscriptionPublishSkipsTheSender(t *testing.T) {
	h := newHub(t, Options{})
	s := startServer(t, h, websock.ConnOptions{})
	sender, _ := s.dial(t, "room")
	other, _ := s.dial(t, "room")
	ctx := context.Background()
	sender.Write(ctx, websock.TextMessage, []byte("from sender"))
	other.Write(ctx, websock.TextMessage, []byte("from other"))
	if _, msg := read(t, other); msg != "from sender" {
		t.Fatalf("other got %q", msg)
	}
	if _, msg := read(t, sender); msg != "from other" {
		t.Fatalf("sender got %q: its own message came back", msg)
	}
}

// Several publishers, several subscribers: each subscriber gets every
// message once, each publisher's in order.
func TestOrderPerPublisherAndNoDuplicates(t *testing.T) {
	h := newHub(t, Options{QueueSize: 4096})
	s := startServer(t, h, websock.ConnOptions{})
	const publishers, subscribers, each = 4, 5, 300
	var clients []*websock.Conn
	for range subscribers {
		c, _ := s.dial(t, "t")
		clients = append(clients, c)
	}
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				h.Publish("t", websock.TextMessage, fmt.Appendf(nil, "%d %d", p, i))
			}
		})
	}
	for _, c := range clients {
		wg.Go(func() {
			next := make([]int, publishers)
			for range publishers * each {
				msg, err := readWithin(c)
				if err != nil {
					t.Error(err)
					return
				}
				var p, i int
				fmt.Sscan(string(msg), &p, &i)
				if i != next[p] {
					t.Errorf("publisher %d: got %d, want %d (lost, repeated or out of order)", p, i, next[p])
					return
				}
				next[p]++
			}
		})
	}
	wg.Wait()
	if st := h.Stats(); st.Published != publishers*each || st.Delivered != publishers*each*subscribers || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Under a Close policy, a subscriber whose queue overflows is closed with
// the policy's status code, and the others carry on.
func TestSlowConsumerClosed(t *testing.T) {
	for _, tt := range []struct {
		policy SlowPolicy
		code   websock.StatusCode
	}{
		{CloseTryAgainLater, websock.StatusTryAgainLater},
		{ClosePolicyViolation, websock.StatusPolicyViolation},
	} {
		t.Run(tt.policy.String(), func(t *testing.T) {
			const queueSize = 2
			h := newHub(t, Options{QueueSize: queueSize, Policy: tt.policy})
			s := startServer(t, h, websock.ConnOptions{})
			slow, slowSub := s.dial(t, "t")
			fast, _ := s.dial(t, "t")
			// The slow subscriber's writer waits for its turn, held here.
			w, err := slowSub.Conn().Writer(context.Background(), websock.TextMessage)
			if err != nil {
				t.Fatal(err)
			}
			// The slow subscriber's drain takes what is queued when it
			// first runs, 1 to queueSize messages as the scheduler has it,
			// and waits with them for the writer: then a full queue, and
			// the next message overflows it.
			for i := range 2*queueSize + 1 {
				h.Publish("t", websock.TextMessage, fmt.Appendf(nil, "%d", i))
				if _, msg := read(t, fast); msg != fmt.Sprint(i) {
					t.Fatalf("fast got %q, want %d", msg, i)
				}
			}
			select {
			case <-slowSub.Done():
			case <-time.After(testTimeout):
				t.Fatal("slow subscription not ended")
			}
			if !errors.Is(slowSub.Err(), ErrSlowConsumer) {
				t.Fatalf("Err %v", slowSub.Err())
			}
			w.Close() // the message in progress, empty, then the close frame
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			var ce *websock.CloseError
			for {
				_, _, err := slow.Read(ctx)
				if err == nil {
					continue // what was on its way
				}
				if !errors.As(err, &ce) || ce.Code != tt.code {
					t.Fatalf("slow client got %v, want close %d", err, tt.code)
				}
				break
			}
			if st := h.Stats(); st.SlowClosed != 1 || h.Subscribers("t") != 1 {
				t.Fatalf("stats %+v, %d subscribers", st, h.Subscribers("t"))
			}
		})
	}
}

// A client that stops reading: the others get every message, as fast as
// before, and the hub holds no more than the slow client's queue.
func TestSlowClientDoesNotDelayOthers(t *testing.T) {
	const queueSize, size, fastClients = 32, 16 << 10, 4
	h := newHub(t, Options{QueueSize: queueSize, Policy: DropOldest})
	s := startServer(t, h, websock.ConnOptions{})
	var fast []*websock.Conn
	for range fastClients {
		c, _ := s.dial(t, "t")
		fast = append(fast, c)
	}
	seq := 0
	// publish sends n messages in windows that every fast client reads
	// before the next, and returns the publish-to-read latencies.
	publish := func(n int) []time.Duration {
		var lat []time.Duration
		var mu sync.Mutex
		for w := 0; w < n; w += 16 {
			sent := make([]time.Time, 16)
			for i := range 16 {
				msg := make([]byte, size)
				copy(msg, fmt.Sprint(seq+i))
				sent[i] = time.Now()
				h.Publish("t", websock.BinaryMessage, msg)
			}
			var wg sync.WaitGroup
			for _, c := range fast {
				wg.Go(func() {
					for i := range 16 {
						msg, err := readWithin(c)
						if err != nil {
							t.Error(err)
							return
						}
						if got := strings.TrimRight(string(msg[:12]), "\x00"); got != fmt.Sprint(seq+i) {
							t.Errorf("got message %s, want %d", got, seq+i)
							return
						}
						mu.Lock()
						lat = append(lat, time.Since(sent[i]))
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			seq += 16
		}
		slices.Sort(lat)
		return lat
	}
	before := publish(320)

	_, slowSub := s.dial(t, "t") // never reads
	heap0 := liveHeap()
	// Enough to fill the slow client's socket buffers many times over.
	during := publish(1280)
	heap1 := liveHeap()

	st := h.Stats()
	if st.Dropped == 0 {
		t.Fatal("the slow client's queue never overflowed: the test did not test")
	}
	if slowSub.Err() != nil {
		t.Fatalf("slow subscriber ended: %v", slowSub.Err())
	}
	p50 := func(l []time.Duration) time.Duration { return l[len(l)/2] }
	p99 := func(l []time.Duration) time.Duration { return l[len(l)*99/100] }
	growth := int64(heap1) - int64(heap0)
	t.Logf("fast clients' latency p50/p99: %v/%v without a slow client, %v/%v with one; slow client dropped %d; live heap %+d bytes (queue %d x %d bytes)",
		p50(before), p99(before), p50(during), p99(during), st.Dropped, growth, queueSize, size)
	if limit := int64(2*queueSize*size + 1<<20); growth > limit {
		t.Fatalf("live heap grew %d bytes, more than the slow client's queue allows (%d)", growth, limit)
	}
	// Unchanged, with room for a shared, loaded machine: the median, which
	// a slow client holding up the others would move as a whole, while
	// the tail also moves with whatever else the machine does.
	if p50(during) > 5*p50(before)+50*time.Millisecond {
		t.Fatalf("median latency %v with a slow client, %v without", p50(during), p50(before))
	}
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// Hubs sharing a broker: a message published on one reaches the
// subscribers of all, once.
func TestHubsShareABroker(t *testing.T) {
	var b Local
	h1 := newHub(t, Options{Broker: &b})
	h2 := newHub(t, Options{Broker: &b})
	s1 := startServer(t, h1, websock.ConnOptions{})
	s2 := startServer(t, h2, websock.ConnOptions{})
	c1, _ := s1.dial(t, "t")
	c2, _ := s2.dial(t, "t")
	sender, _ := s1.dial(t, "t")
	sender.Write(context.Background(), websock.TextMessage, []byte("1"))
	// Order holds per publisher, not across them: "2" is published once
	// "1" has reached both hubs' subscribers.
	for _, c := range []*websock.Conn{c1, c2} {
		if _, m := read(t, c); m != "1" {
			t.Fatalf("got %q", m)
		}
	}
	h2.Publish("t", websock.TextMessage, []byte("2"))
	for _, c := range []*websock.Conn{c1, c2} {
		if _, m := read(t, c); m != "2" {
			t.Fatalf("got %q: delivered twice or lost", m)
		}
	}
	if _, m := read(t, sender); m != "2" {
		t.Fatalf("sender got %q", m)
	}
	if h1.Stats().Relayed != 1 || h2.Stats().Relayed != 1 {
		t.Fatalf("relayed %d %d, want 1 each", h1.Stats().Relayed, h2.Stats().Relayed)
	}
}

type failingBroker struct{ Local }

func (*failingBroker) Publish(Message) error { return errors.New("down") }

func TestBrokerFailureKeepsLocalDelivery(t *testing.T) {
	h := newHub(t, Options{Broker: &failingBroker{}})
	s := startServer(t, h, websock.ConnOptions{})
	c, _ := s.dial(t, "t")
	if err := h.Publish("t", websock.TextMessage, []byte("local")); err == nil {
		t.Fatal("broker failure not reported")
	}
	if _, m := read(t, c); m != "local" {
		t.Fatalf("got %q", m)
	}
	if h.Stats().BrokerFailed != 1 {
		t.Fatal("failure not counted")
	}
}

func TestSubscriptionEnds(t *testing.T) {
	h := newHub(t, Options{})
	s := startServer(t, h, websock.ConnOptions{})
	c, sub := s.dial(t, "t")
	if sub.Err() != nil || sub.Topic() != "t" {
		t.Fatal("fresh subscription wrong")
	}
	sub.Unsubscribe()
	sub.Unsubscribe()
	if !errors.Is(sub.Err(), ErrUnsubscribed) || h.Subscribers("t") != 0 {
		t.Fatalf("Err %v, %d subscribers", sub.Err(), h.Subscribers("t"))
	}

	// A write that fails ends the subscription.
	c2, sub2 := s.dial(t, "u")
	c2.CloseNow()
	sub2.Conn().CloseNow()
	h.Publish("u", websock.TextMessage, []byte("x"))
	select {
	case <-sub2.Done():
	case <-time.After(testTimeout):
		t.Fatal("subscription outlived its connection")
	}
	if !errors.Is(sub2.Err(), websock.ErrClosed) && !errors.Is(sub2.Err(), ErrUnsubscribed) {
		t.Fatalf("Err %v", sub2.Err())
	}

	_, sub3 := s.dial(t, "v")
	h.Close()
	if !errors.Is(sub3.Err(), ErrClosed) {
		t.Fatalf("Err after Close %v", sub3.Err())
	}
	if err := h.Publish("v", websock.TextMessage, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
	if _, err := h.Subscribe(c, "v"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
	if _, err := New(Options{Policy: 42}); err == nil {
		t.Fatal("invalid policy accepted")
	}
}
