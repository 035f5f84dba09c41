package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/websock/websock"
)

// pubsubTimeout bounds each wait of the pubsub tests: generous, for a
// shared and loaded machine.
const pubsubTimeout = 2 * time.Minute

func dialPubsub(t *testing.T, base, topic string) *websock.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pubsubTimeout)
	defer cancel()
	c, _, err := websock.Dial(ctx, base+pubsubPath+topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func TestPubsubDeliversToTheOthersOfTheTopic(t *testing.T) {
	s, _ := startServe(t, func(cfg *serveConfig) { cfg.pubsub = true })
	base := "ws://" + s.addrs["ws"].String()
	a, b := dialPubsub(t, base, "room"), dialPubsub(t, base, "room")
	other := dialPubsub(t, base, "other")
	ctx, cancel := context.WithTimeout(context.Background(), pubsubTimeout)
	defer cancel()
	// Subscriptions are made after the handshake: wait until both are in.
	for s.pubsub.hub.Subscribers("room") < 2 || s.pubsub.hub.Subscribers("other") < 1 {
		select {
		case <-ctx.Done():
			t.Fatal("clients not subscribed")
		case <-time.After(time.Millisecond): // polls a count with no event to wait on
		}
	}
	a.Write(ctx, websock.BinaryMessage, []byte{1, 2, 3})
	a.Write(ctx, websock.TextMessage, []byte("hello"))
	other.Write(ctx, websock.TextMessage, []byte("elsewhere"))
	b.Write(ctx, websock.TextMessage, []byte("from b"))
	for _, want := range []struct {
		typ websock.MessageType
		msg string
	}{{websock.BinaryMessage, "\x01\x02\x03"}, {websock.TextMessage, "hello"}} {
		typ, msg, err := b.Read(ctx)
		if err != nil || typ != want.typ || string(msg) != want.msg {
			t.Fatalf("b got %v %q %v, want %v %q", typ, msg, err, want.typ, want.msg)
		}
	}
	if _, msg, err := a.Read(ctx); err != nil || string(msg) != "from b" {
		t.Fatalf("a got %q %v: its own messages came back, or the other topic's", msg, err)
	}

	empty := dialPubsub(t, base, "")
	_, _, err := empty.Read(ctx)
	if websock.CloseStatus(err) != websock.StatusPolicyViolation {
		t.Fatalf("no topic: %v, want close 1008", err)
	}
}

func TestPubsubFlags(t *testing.T) {
	cfg := defaultServeConfig()
	cfg.natsURL = "nats://127.0.0.1:4222"
	if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), "-nats needs -pubsub") {
		t.Fatalf("-nats without -pubsub: %v", err)
	}
	cfg = defaultServeConfig()
	cfg.pubsubQueue = 0
	if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), "-pubsub-queue") {
		t.Fatalf("-pubsub-queue 0: %v", err)
	}
}

// logWatch holds the log lines of a process and tells when one arrives.
type logWatch struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{}
}

func watchLog(t *testing.T, r *bufio.Scanner) *logWatch {
	w := &logWatch{changed: make(chan struct{})}
	go func() {
		for r.Scan() {
			w.mu.Lock()
			w.lines = append(w.lines, r.Text())
			close(w.changed)
			w.changed = make(chan struct{})
			w.mu.Unlock()
		}
	}()
	return w
}

// waitFor returns the first group of the first line from the from-th on
// that matches re.
func (w *logWatch) waitFor(t *testing.T, from int, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(pubsubTimeout)
	for {
		w.mu.Lock()
		for _, l := range w.lines[min(from, len(w.lines)):] {
			if m := rx.FindStringSubmatch(l); m != nil {
				w.mu.Unlock()
				return m[len(m)-1]
			}
		}
		changed := w.changed
		w.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no log line matching %q; log:\n%s", re, w.String())
		}
	}
}

func (w *logWatch) len() int { w.mu.Lock(); defer w.mu.Unlock(); return len(w.lines) }

func (w *logWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines[max(0, len(w.lines)-30):], "\n")
}

// node is one "websock serve -pubsub -nats" process.
type node struct {
	cmd *exec.Cmd
	log *logWatch
	url string
}

func startNode(t *testing.T, bin, natsURL string) *node {
	t.Helper()
	cmd := exec.Command(bin, "serve", "-ws", "127.0.0.1:0", "-wss", "", "-pubsub", "-nats", natsURL, "-pubsub-queue", "4096")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	n := &node{cmd: cmd, log: watchLog(t, bufio.NewScanner(stderr))}
	n.url = "ws://" + n.log.waitFor(t, 0, `msg=listening url=ws://([0-9.:]+)/ws`)
	n.log.waitFor(t, 0, `natsbroker: connected`)
	return n
}

// cluster message: "publisher phase seq sentUnixNano".
type received struct {
	mu      sync.Mutex
	next    map[[2]int]int // publisher, phase -> next seq expected
	count   map[int]int    // phase -> messages
	errs    []string
	lat     map[int][]time.Duration // phase -> publish-to-deliver latencies
	changed chan struct{}
}

// pubsubClient is one client of the cluster test.
type pubsubClient struct {
	id, node int
	c        *websock.Conn
	got      received
	probes   *probes
}

// probes records which nodes' clients received each client's phase 0
// message.
type probes struct {
	mu      sync.Mutex
	seen    map[[2]int]bool // publisher, node
	changed chan struct{}
}

func (p *probes) saw(pub, node int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.seen[[2]int{pub, node}] {
		p.seen[[2]int{pub, node}] = true
		close(p.changed)
		p.changed = make(chan struct{})
	}
}

// waitAll waits until each of pubs publishers' probe reached every node.
func (p *probes) waitAll(t *testing.T, pubs int) {
	t.Helper()
	deadline := time.After(pubsubTimeout)
	for {
		p.mu.Lock()
		have, changed := len(p.seen), p.changed
		p.mu.Unlock()
		if have == pubs*3 {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("%d of %d probes arrived", have, pubs*3)
		}
	}
}

func (cl *pubsubClient) read() {
	for {
		_, msg, err := cl.c.Read(context.Background())
		if err != nil {
			return
		}
		pub, phase, seq, sent, ok := parseClusterMessage(msg)
		if !ok {
			cl.note(fmt.Sprintf("malformed %q", msg))
			continue
		}
		lat := time.Since(time.Unix(0, sent))
		g := &cl.got
		g.mu.Lock()
		key := [2]int{pub, phase}
		if want := g.next[key]; seq != want {
			g.errs = append(g.errs, fmt.Sprintf("client %d: publisher %d phase %d: got seq %d, want %d (lost, repeated or out of order)", cl.id, pub, phase, seq, want))
		}
		g.next[key] = seq + 1
		g.count[phase]++
		g.lat[phase] = append(g.lat[phase], lat)
		if phase == 0 {
			cl.probes.saw(pub, cl.node)
		}
		close(g.changed)
		g.changed = make(chan struct{})
		g.mu.Unlock()
	}
}

func parseClusterMessage(msg []byte) (pub, phase, seq int, sent int64, ok bool) {
	f := strings.Fields(string(msg))
	if len(f) != 4 {
		return 0, 0, 0, 0, false
	}
	var err [4]error
	pub, err[0] = strconv.Atoi(f[0])
	phase, err[1] = strconv.Atoi(f[1])
	seq, err[2] = strconv.Atoi(f[2])
	sent, err[3] = strconv.ParseInt(f[3], 10, 64)
	return pub, phase, seq, sent, errors.Join(err[:]...) == nil
}

func (cl *pubsubClient) note(e string) {
	cl.got.mu.Lock()
	defer cl.got.mu.Unlock()
	cl.got.errs = append(cl.got.errs, e)
}

// waitCount waits until the client has n messages of phase.
func (cl *pubsubClient) waitCount(t *testing.T, phase, n int, deadline <-chan time.Time) {
	t.Helper()
	for {
		g := &cl.got
		g.mu.Lock()
		have, changed := g.count[phase], g.changed
		g.mu.Unlock()
		if have >= n {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("client %d (node %d): %d of %d phase %d messages", cl.id, cl.node, have, n, phase)
		}
	}
}

func (cl *pubsubClient) publish(t *testing.T, phase, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), pubsubTimeout)
	defer cancel()
	for seq := range n {
		msg := fmt.Sprintf("%d %d %d %d", cl.id, phase, seq, time.Now().UnixNano())
		if err := cl.c.Write(ctx, websock.TextMessage, []byte(msg)); err != nil {
			t.Errorf("client %d publish: %v", cl.id, err)
			return
		}
	}
}

// TestPubsubCluster: three "websock serve -pubsub" processes joined by
// NATS, 300 clients spread across them, each publishing sequenced
// messages; every client gets every other client's messages once, each
// publisher's in order. Then one server is killed and NATS restarted:
// the survivors keep delivering to their own clients during the outage
// and resume cross-node delivery once NATS is back.
func TestPubsubCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and runs four processes; not in -short mode")
	}
	bin := filepath.Join(t.TempDir(), "websock")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ns := startNATSServer(t, -1)
	natsPort := ns.Addr().(*net.TCPAddr).Port
	natsURL := ns.ClientURL()

	nodes := []*node{startNode(t, bin, natsURL), startNode(t, bin, natsURL), startNode(t, bin, natsURL)}
	const clientsPerNode, perPublisher = 100, 3
	var clients []*pubsubClient
	pr := &probes{seen: map[[2]int]bool{}, changed: make(chan struct{})}
	for i := range 3 * clientsPerNode {
		cl := &pubsubClient{id: i, node: i % 3, probes: pr}
		cl.got = received{next: map[[2]int]int{}, count: map[int]int{}, lat: map[int][]time.Duration{}, changed: make(chan struct{})}
		cl.c = dialPubsub(t, nodes[cl.node].url, "cluster")
		go cl.read()
		clients = append(clients, cl)
	}
	// A server subscribes a client before reading from it: once a
	// client's probe (phase 0) has reached every node, its subscription
	// and the nodes' NATS subscriptions are in.
	for _, cl := range clients {
		cl.publish(t, 0, 1)
	}
	pr.waitAll(t, len(clients))

	// Phase 1: everyone publishes.
	start := time.Now()
	var wg sync.WaitGroup
	for _, cl := range clients {
		wg.Go(func() { cl.publish(t, 1, perPublisher) })
	}
	deadline := time.After(pubsubTimeout)
	for _, cl := range clients {
		cl.waitCount(t, 1, (len(clients)-1)*perPublisher, deadline)
	}
	elapsed := time.Since(start)
	wg.Wait()
	burst := phaseLatencies(clients, 1)
	deliveries := len(clients) * (len(clients) - 1) * perPublisher
	t.Logf("phase 1 (everyone at once): %d clients on 3 nodes, %d messages published, %d deliveries in %v: %.0f deliveries/s; publish-to-deliver p50 %v, p99 %v (queueing behind the burst)",
		len(clients), len(clients)*perPublisher, deliveries, elapsed.Round(time.Millisecond), float64(deliveries)/elapsed.Seconds(),
		burst[len(burst)/2].Round(time.Microsecond), burst[len(burst)*99/100].Round(time.Microsecond))

	// Latency without a queue: one message at a time, from clients of
	// every node, each once every other client has the one before.
	const single = 30
	for i := range single {
		clients[(i*37)%len(clients)].publish(t, 4, 1)
		deadline := time.After(pubsubTimeout)
		for _, cl := range clients {
			if cl.id != (i*37)%len(clients) {
				cl.waitCount(t, 4, i+1-ownSingles(cl.id, i, len(clients)), deadline)
			}
		}
	}
	one := phaseLatencies(clients, 4)
	t.Logf("phase 4 (one message at a time): publish-to-deliver p50 %v, p99 %v over %d deliveries",
		one[len(one)/2].Round(time.Microsecond), one[len(one)*99/100].Round(time.Microsecond), len(one))

	// Phase 2: node 2 is killed, NATS goes away.
	nodes[2].cmd.Process.Kill()
	nodes[2].cmd.Wait()
	marks := []int{nodes[0].log.len(), nodes[1].log.len()}
	ns.Shutdown()
	for i := range 2 {
		nodes[i].log.waitFor(t, marks[i], `NATS unreachable`)
	}
	var survivors [2][]*pubsubClient
	for _, cl := range clients {
		if cl.node < 2 {
			survivors[cl.node] = append(survivors[cl.node], cl)
		}
	}
	// One client of each surviving node publishes: its node's clients get
	// it; the other node's never will (at most once).
	deadline = time.After(pubsubTimeout)
	for n := range 2 {
		survivors[n][0].publish(t, 2, 1)
	}
	for n := range 2 {
		for _, cl := range survivors[n][1:] {
			cl.waitCount(t, 2, 1, deadline)
		}
	}

	// Phase 3: NATS is back; the survivors resume cross-node delivery.
	marks = []int{nodes[0].log.len(), nodes[1].log.len()}
	startNATSServer(t, natsPort)
	for i := range 2 {
		nodes[i].log.waitFor(t, marks[i], `reachable again`)
	}
	all := append(slices.Clone(survivors[0]), survivors[1]...)
	for _, cl := range all {
		wg.Go(func() { cl.publish(t, 3, perPublisher) })
	}
	wg.Wait()
	deadline = time.After(pubsubTimeout)
	for _, cl := range all {
		cl.waitCount(t, 3, (len(all)-1)*perPublisher, deadline)
	}

	// What was lost: each outage message, on the other node.
	lost := 0
	for n := range 2 {
		for _, cl := range survivors[n] {
			cl.got.mu.Lock()
			for _, e := range cl.got.errs {
				t.Error(e)
			}
			if _, ok := cl.got.next[[2]int{survivors[1-n][0].id, 2}]; ok {
				t.Errorf("client %d (node %d) got the other node's outage message: delivered late", cl.id, n)
			}
			if cl.got.count[2] != 1 && cl != survivors[n][0] {
				t.Errorf("client %d (node %d): %d outage messages, want its own node's one", cl.id, n, cl.got.count[2])
			}
			lost++
			cl.got.mu.Unlock()
		}
	}
	t.Logf("outage: the message published on each surviving node during the NATS outage reached that node's %d other clients and none of the other node's (%d deliveries lost, at most once); after NATS returned, %d survivors got all %d messages of each other survivor, in order",
		clientsPerNode-1, lost, len(all), perPublisher)
	for i := range 2 {
		if err := nodes[i].cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		if err := nodes[i].cmd.Wait(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("node %d exit: %v\n%s", i, err, nodes[i].log)
		}
	}
}

// phaseLatencies returns the sorted publish-to-deliver latencies of phase.
func phaseLatencies(clients []*pubsubClient, phase int) []time.Duration {
	var lat []time.Duration
	for _, cl := range clients {
		cl.got.mu.Lock()
		lat = append(lat, cl.got.lat[phase]...)
		cl.got.mu.Unlock()
	}
	slices.Sort(lat)
	return lat
}

// ownSingles counts the phase 4 messages among the first i+1 that client
// id published itself (and so does not receive).
func ownSingles(id, i, clients int) int {
	n := 0
	for j := range i + 1 {
		if (j*37)%clients == id {
			n++
		}
	}
	return n
}

// startNATSServer runs a NATS server in the test process on port (-1: any).
func startNATSServer(t *testing.T, port int) *natsserver.Server {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(pubsubTimeout) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}
