package main

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/websock/websock"
)

// metricsWriteTimeout bounds the answer to a scrape, which takes longer
// than a refusal to write: it is Prometheus's default scrape timeout.
const metricsWriteTimeout = 10 * time.Second

// startMetrics serves /metrics in the Prometheus format on -metrics, if
// set: the counts of the server's websock.Metrics, read at each scrape,
// the memory budget, and the Go runtime's and the process's collectors.
// Its http.Server is one of s.servers, so it stops with them.
func (s *server) startMetrics() error {
	if s.cfg.metricsAddr == "" {
		return nil
	}
	reg := prometheus.NewRegistry()
	err := errors.Join(
		reg.Register(collectors.NewGoCollector()),
		reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})),
		reg.Register(&metricsCollector{metrics: s.cfg.metrics, budget: s.cfg.budget}),
	)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.metricsAddr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{s}}))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: s.cfg.handshake,
		ReadTimeout:       s.cfg.handshake,
		WriteTimeout:      metricsWriteTimeout,
		IdleTimeout:       s.cfg.handshake,
		MaxHeaderBytes:    maxHeaderBytes,
	}
	s.servers = append(s.servers, srv)
	s.addrs["metrics"] = ln.Addr()
	go srv.Serve(ln)
	s.log.Info("metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return nil
}

// slogPrinter logs what promhttp reports (a collector that failed).
type slogPrinter struct{ s *server }

func (p slogPrinter) Println(v ...any) { p.s.log.Warn("metrics", "err", v) }

// metricsCollector turns a websock.Metrics into Prometheus metrics when
// scraped, so that connections pay nothing for Prometheus between
// scrapes.
type metricsCollector struct {
	metrics *websock.Metrics
	budget  *websock.Budget // may be nil
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("websock_"+name, help, labels, nil)
}

var (
	connsOpenDesc    = desc("connections_open", "WebSocket connections open, by side.", "side")
	connsTotalDesc   = desc("connections_total", "WebSocket connections opened, by side.", "side")
	refusedDesc      = desc("handshakes_refused_total", "Opening handshakes refused with an HTTP status, by status.", "status")
	msgsInDesc       = desc("messages_received_total", "Messages read whole from peers, by type.", "type")
	msgsOutDesc      = desc("messages_sent_total", "Messages written whole to peers, by type.", "type")
	payloadInDesc    = desc("received_payload_bytes_total", "Payload bytes of the messages received, uncompressed, by type.", "type")
	payloadOutDesc   = desc("sent_payload_bytes_total", "Payload bytes of the messages sent, uncompressed, by type.", "type")
	wireInDesc       = desc("received_wire_bytes_total", "Frame payload bytes of the messages received as they came over the wire (compressed, if they were), by type.", "type")
	wireOutDesc      = desc("sent_wire_bytes_total", "Frame payload bytes of the messages sent as they went over the wire (compressed, if they were), by type.", "type")
	closeOutDesc     = desc("close_codes_sent_total", "Close frames sent, by status code (1005: none).", "code")
	closeInDesc      = desc("close_codes_received_total", "Close frames received, by status code (1005: none).", "code")
	timeoutsDesc     = desc("timeouts_total", "Connections ended by a timeout, by kind: keepalive, idle, message, write, close, handshake.", "kind")
	budgetInUseDesc  = desc("memory_budget_in_use_bytes", "Bytes of messages being read counted against the memory budget.")
	budgetLimitDesc  = desc("memory_budget_limit_bytes", "Size of the memory budget in bytes.")
	collectorDescs   = []*prometheus.Desc{connsOpenDesc, connsTotalDesc, refusedDesc, msgsInDesc, msgsOutDesc, payloadInDesc, payloadOutDesc, wireInDesc, wireOutDesc, closeOutDesc, closeInDesc, timeoutsDesc, budgetInUseDesc, budgetLimitDesc}
	messageTypeNames = map[websock.MessageType]string{websock.TextMessage: "text", websock.BinaryMessage: "binary"}
)

// Describe sends the descriptions of every metric the collector makes.
func (mc *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range collectorDescs {
		ch <- d
	}
}

// Collect reads the counts and sends them as metrics.
func (mc *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	s := mc.metrics.Snapshot()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(connsOpenDesc, float64(s.ServerOpened-s.ServerClosed), "server")
	gauge(connsOpenDesc, float64(s.ClientOpened-s.ClientClosed), "client")
	counter(connsTotalDesc, s.ServerOpened, "server")
	counter(connsTotalDesc, s.ClientOpened, "client")
	for status, n := range s.HandshakesRefused {
		counter(refusedDesc, n, strconv.Itoa(status))
	}
	for typ, name := range messageTypeNames {
		in, out := s.Received[typ], s.Sent[typ]
		counter(msgsInDesc, in.Messages, name)
		counter(msgsOutDesc, out.Messages, name)
		counter(payloadInDesc, in.PayloadBytes, name)
		counter(payloadOutDesc, out.PayloadBytes, name)
		counter(wireInDesc, in.WireBytes, name)
		counter(wireOutDesc, out.WireBytes, name)
	}
	for code, n := range s.CloseSent {
		counter(closeOutDesc, n, strconv.Itoa(int(code)))
	}
	for code, n := range s.CloseReceived {
		counter(closeInDesc, n, strconv.Itoa(int(code)))
	}
	for kind, n := range map[string]uint64{
		"keepalive": s.KeepaliveTimeouts,
		"idle":      s.IdleTimeouts,
		"message":   s.MessageTimeouts,
		"write":     s.WriteTimeouts,
		"close":     s.CloseTimeouts,
		"handshake": s.HandshakeTimeouts,
	} {
		counter(timeoutsDesc, n, kind)
	}
	if mc.budget != nil {
		gauge(budgetInUseDesc, float64(mc.budget.InUse()))
		gauge(budgetLimitDesc, float64(mc.budget.Limit()))
	}
}
