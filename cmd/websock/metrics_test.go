package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/websock/websock"
	"github.com/websock/websock/extension"
)

// scrape fetches /metrics from the server and parses it.
func scrape(t *testing.T, s *server) map[string]*dto.MetricFamily {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + s.addrs["metrics"].String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

// metricValue returns the value of the sample of family name whose labels
// are labels ("k=v" pairs), or an error if there is none.
func metricValue(families map[string]*dto.MetricFamily, name string, labels ...string) (float64, error) {
	f := families[name]
	if f == nil {
		return 0, fmt.Errorf("no metric %s", name)
	}
	for _, m := range f.GetMetric() {
		var have []string
		for _, l := range m.GetLabel() {
			have = append(have, l.GetName()+"="+l.GetValue())
		}
		if strings.Join(have, ",") != strings.Join(labels, ",") {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), nil
		case m.Gauge != nil:
			return m.Gauge.GetValue(), nil
		}
	}
	return 0, fmt.Errorf("no sample %s{%s}", name, strings.Join(labels, ","))
}

// A sample is the value a metric must have.
type sample struct {
	name   string
	labels []string // "k=v", in the order of the exposition (sorted)
	value  float64
}

// checkSamples reports the samples of families that do not have their
// value.
func checkSamples(t *testing.T, when string, families map[string]*dto.MetricFamily, want []sample) {
	t.Helper()
	for _, w := range want {
		if v, err := metricValue(families, w.name, w.labels...); err != nil || v != w.value {
			t.Errorf("%s: %s%v = %v, %v; want %v", when, w.name, w.labels, v, err, w.value)
		}
	}
}

// TestServeMetrics runs connections through the serve command (echoes,
// plain and compressed, a refused handshake, a close with a code) and
// checks what /metrics then says. The server runs on serve's timeouts: none
// of them is under test here, and a short one could expire on a loaded
// machine and change the counts. TestServeMetricsMessageTimeout counts a
// timeout.
func TestServeMetrics(t *testing.T) {
	s, _ := startTestServer(t, func(cfg *serveConfig) {
		cfg.metricsAddr = "127.0.0.1:0"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := "ws://" + s.addrs["ws"].String() + "/ws"

	// Before any connection: everything at zero, the budget's limit set.
	families := scrape(t, s)
	checkSamples(t, "before", families, []sample{
		{"websock_connections_open", []string{"side=server"}, 0},
		{"websock_connections_total", []string{"side=server"}, 0},
		{"websock_timeouts_total", []string{"kind=message"}, 0},
		{"websock_memory_budget_limit_bytes", nil, defaultMemoryBudget},
		{"websock_memory_budget_in_use_bytes", nil, 0},
	})
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if families[name] == nil {
			t.Errorf("no %s: the Go or process collector is missing", name)
		}
	}

	// An echo of a text and a binary message, closed with 4000.
	plain, _, err := websock.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []websock.MessageType{websock.TextMessage, websock.BinaryMessage} {
		if err := plain.Write(ctx, typ, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := plain.Read(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Open while the first is: connections_open counts both.
	compressed, _, err := websock.Dial(ctx, url, &websock.DialOptions{Extensions: []extension.Extension{&websock.PerMessageDeflate{}}})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := metricValue(scrape(t, s), "websock_connections_open", "side=server"); v != 2 || err != nil {
		t.Errorf("connections_open with two connections: %v, %v", v, err)
	}
	if err := plain.Close(4000, "done"); err != nil {
		t.Fatal(err)
	}

	// A compressed echo of 10,000 bytes that compress well.
	big := bytes.Repeat([]byte("0123456789"), 1000)
	if err := compressed.Write(ctx, websock.TextMessage, big); err != nil {
		t.Fatal(err)
	}
	if _, _, err := compressed.Read(ctx); err != nil {
		t.Fatal(err)
	}
	if err := compressed.Close(websock.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}

	// A handshake refused: a browser from another site (403).
	_, _, err = websock.Dial(ctx, url, &websock.DialOptions{Header: http.Header{"Origin": {"https://elsewhere.example"}}})
	var he *websock.HandshakeError
	if !errors.As(err, &he) || he.Status != http.StatusForbidden {
		t.Fatalf("dial from another origin: %v", err)
	}

	waitForServerConnections(t, s)

	families = scrape(t, s)
	// The compressed message's size on the wire, which both sides count.
	upWire, err := metricValue(families, "websock_received_wire_bytes_total", "type=text")
	if err != nil || upWire-5 <= 0 || upWire-5 >= float64(len(big))/4 {
		t.Errorf("received wire bytes %v (%v): want 5 plus a fraction of %d", upWire, err, len(big))
	}
	n := float64(len(big))
	checkSamples(t, "after", families, append([]sample{
		{"websock_connections_open", []string{"side=server"}, 0},
		{"websock_connections_total", []string{"side=server"}, 2},
		{"websock_connections_total", []string{"side=client"}, 0},
		{"websock_handshakes_refused_total", []string{"status=403"}, 1},
		{"websock_messages_received_total", []string{"type=text"}, 2},
		{"websock_messages_received_total", []string{"type=binary"}, 1},
		{"websock_messages_sent_total", []string{"type=text"}, 2},
		{"websock_messages_sent_total", []string{"type=binary"}, 1},
		{"websock_received_payload_bytes_total", []string{"type=text"}, 5 + n},
		{"websock_sent_payload_bytes_total", []string{"type=text"}, 5 + n},
		{"websock_received_payload_bytes_total", []string{"type=binary"}, 5},
		{"websock_received_wire_bytes_total", []string{"type=binary"}, 5},
		{"websock_sent_wire_bytes_total", []string{"type=binary"}, 5},
		{"websock_close_codes_received_total", []string{"code=4000"}, 1},
		{"websock_close_codes_sent_total", []string{"code=4000"}, 1},
		{"websock_close_codes_received_total", []string{"code=1000"}, 1},
		{"websock_close_codes_sent_total", []string{"code=1000"}, 1},
		{"websock_memory_budget_in_use_bytes", nil, 0},
	}, timeoutSamples("")...))
	// The server's wire count of the echoed compressed text equals what
	// it received (same bytes, same compressor settings) only by chance,
	// so only its bound is checked.
	if v, err := metricValue(families, "websock_sent_wire_bytes_total", "type=text"); err != nil || v-5 <= 0 || v-5 >= n/4 {
		t.Errorf("sent wire bytes %v (%v): want 5 plus a fraction of %d", v, err, len(big))
	}
}

// TestServeMetricsMessageTimeout: a message begun and never finished is
// ended by the message timeout with 1008, and /metrics counts the timeout
// and the code. The timeout is short, but nothing here needs the machine to
// be fast: the message is never finished, so however late the timeout
// fires, it fires; the server has no other connection that it could end.
func TestServeMetricsMessageTimeout(t *testing.T) {
	s, _ := startTestServer(t, func(cfg *serveConfig) {
		cfg.metricsAddr = "127.0.0.1:0"
		cfg.messageTimeout = 500 * time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	slow, _, err := websock.Dial(ctx, "ws://"+s.addrs["ws"].String()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseNow()
	w, err := slow.Writer(ctx, websock.BinaryMessage)
	if err != nil {
		t.Fatal(err)
	}
	// Sent as a frame that is not the last; the message stays open.
	if n, err := w.Write(make([]byte, 20000)); n != 20000 || err != nil {
		t.Fatalf("first part of the message: %d, %v", n, err)
	}
	if _, _, err := slow.Read(ctx); websock.CloseStatus(err) != websock.StatusPolicyViolation {
		t.Fatalf("unfinished message: %v", err)
	}
	if err := w.Close(); err == nil {
		t.Fatal("the message was finished after the server had closed the connection")
	}
	waitForServerConnections(t, s)
	checkSamples(t, "after", scrape(t, s), append([]sample{
		{"websock_connections_total", []string{"side=server"}, 1},
		{"websock_close_codes_sent_total", []string{"code=1008"}, 1},
		{"websock_messages_received_total", []string{"type=binary"}, 0},
		{"websock_memory_budget_in_use_bytes", nil, 0},
	}, timeoutSamples("message")...))
}

// timeoutSamples is the count of connections ended by each kind of
// timeout: 1 for kind (none if ""), 0 for the others.
func timeoutSamples(kind string) []sample {
	var s []sample
	for _, k := range []string{"message", "idle", "keepalive", "write", "close", "handshake"} {
		n := 0.0
		if k == kind {
			n = 1
		}
		s = append(s, sample{"websock_timeouts_total", []string{"kind=" + k}, n})
	}
	return s
}

// waitForServerConnections waits until the server has ended all its
// connections: a client has the close frame before the server has ended
// the connection (and counted how it ended).
func waitForServerConnections(t *testing.T, s *server) {
	t.Helper()
	waitFor(t, "the server to end its connections", func() bool {
		open, err := metricValue(scrape(t, s), "websock_connections_open", "side=server")
		return err == nil && open == 0
	})
}

// TestServeMetricsOffByDefault: without -metrics nothing listens for
// scrapes.
func TestServeMetricsOffByDefault(t *testing.T) {
	s, _ := startTestServer(t)
	if a, ok := s.addrs["metrics"]; ok {
		t.Fatalf("metrics served on %v without -metrics", a)
	}
	if s.cfg.connOptions().Metrics != nil {
		t.Fatal("connections count metrics without -metrics")
	}
}

// TestServeMetricsBadAddress: an address that cannot be listened on stops
// serve with an error that names -metrics.
func TestServeMetricsBadAddress(t *testing.T) {
	err := serveCmd([]string{"-ws", "127.0.0.1:0", "-wss", "", "-metrics", "no-port"})
	if err == nil || !strings.Contains(err.Error(), "metrics") || !strings.Contains(err.Error(), "no-port") {
		t.Fatalf("serve -metrics no-port: %v", err)
	}
}

// TestServeMetricsWithoutBudget: with -memory-budget 0 there is no budget
// to report.
func TestServeMetricsWithoutBudget(t *testing.T) {
	s, _ := startTestServer(t, func(cfg *serveConfig) {
		cfg.metricsAddr = "127.0.0.1:0"
		cfg.memoryBudget = 0
	})
	families := scrape(t, s)
	for _, name := range []string{"websock_memory_budget_in_use_bytes", "websock_memory_budget_limit_bytes"} {
		if families[name] != nil {
			t.Errorf("%s reported without a budget", name)
		}
	}
	if families["websock_connections_open"] == nil {
		t.Error("websock_connections_open missing")
	}
}
