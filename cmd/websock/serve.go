package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/websock/websock"
	"github.com/websock/websock/extension"
)

// Production defaults of the serve command (see "Limits and defaults" in
// the README for why these values).
const (
	// defaultWriteTimeout bounds the writing of one frame: a peer that does
	// not take a frame within it is treated as gone.
	defaultWriteTimeout = 10 * time.Second
	// defaultPingInterval and defaultPongTimeout: a peer that sends
	// nothing, not even a pong, for their sum is treated as gone. 20 s
	// keeps idle connections alive through proxies and load balancers,
	// whose idle timeouts are commonly 60 s.
	defaultPingInterval = 20 * time.Second
	defaultPongTimeout  = 20 * time.Second
	// defaultIdleTimeout ends a connection from which nothing at all
	// arrived for two minutes (uWebSockets' idleTimeout); with keepalive
	// on, a live peer's pongs keep it from ever being idle.
	defaultIdleTimeout = 2 * time.Minute
	// defaultMessageTimeout bounds the arrival of one message, so that a
	// half-sent message cannot hold memory for ever.
	defaultMessageTimeout = time.Minute
	// defaultMemoryBudget bounds what all connections hold for messages
	// being read, beyond the first 64 KiB of each.
	defaultMemoryBudget = 512 << 20
	// defaultMaxCompressionRatio: a compressed message may inflate to 100
	// times its wire size (plus 64 KiB); text compresses 3 to 20 times, a
	// "zip bomb" 1,000.
	defaultMaxCompressionRatio = 100
	// defaultMaxConns caps the connections open at once.
	defaultMaxConns = 10000
	// defaultShutdownTimeout bounds the graceful shutdown.
	defaultShutdownTimeout = 10 * time.Second
)

// serveConfig is what the serve command is told by its flags.
type serveConfig struct {
	wsAddr          string
	wssAddr         string
	certFile        string
	keyFile         string
	readLimit       int64
	maxFrame        int64
	origins         []string
	closeTimeout    time.Duration
	shutdownTimeout time.Duration
	maxConns        int
	deflate         bool
	handshake       time.Duration // each HTTP step: request, refusal, keep-alive wait
	writeTimeout    time.Duration
	pingInterval    time.Duration
	pongTimeout     time.Duration
	idleTimeout     time.Duration
	messageTimeout  time.Duration
	memoryBudget    byteSize
	budget          *websock.Budget // made from memoryBudget once
	deflateTakeover bool
	maxRatio        int
	metricsAddr     string           // where /metrics is served (empty: nowhere)
	metrics         *websock.Metrics // made once if metricsAddr is set
	pubsub          bool             // serve /pubsub/NAME (pubsub.go)
	natsURL         string           // join the pubsub servers of this NATS
	pubsubQueue     int
	backends        backendConfig // what serves each path: routes.go
}

// defaultServeConfig is the configuration of "websock serve" without flags.
func defaultServeConfig() serveConfig {
	return serveConfig{
		wsAddr:          "127.0.0.1:8888",
		wssAddr:         "127.0.0.1:8889",
		readLimit:       websock.DefaultReadLimit,
		closeTimeout:    websock.DefaultCloseTimeout,
		shutdownTimeout: defaultShutdownTimeout,
		maxConns:        defaultMaxConns,
		deflate:         true,
		handshake:       websock.DefaultHandshakeTimeout,
		writeTimeout:    defaultWriteTimeout,
		pingInterval:    defaultPingInterval,
		pongTimeout:     defaultPongTimeout,
		idleTimeout:     defaultIdleTimeout,
		messageTimeout:  defaultMessageTimeout,
		memoryBudget:    defaultMemoryBudget,
		maxRatio:        defaultMaxCompressionRatio,
		pubsubQueue:     defaultPubsubQueue,
		backends:        defaultBackendConfig(),
	}
}

func serveCmd(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: websock serve [flags]

Serves an echo endpoint (every message is sent back with its type) on
ws://<ws-addr>/ws and wss://<wss-addr>/wss (both paths answer on both
listeners), or another backend: -exec runs a program for each connection
(websocketd), -proxy bridges to a TCP server (websockify); -route serves
more paths, e.g. -route /chat=exec:'./chat.sh --room a' -route
/vnc=proxy:tcp://127.0.0.1:5900 -route /echo=echo. -static serves the files
of a directory on the other paths. With -pubsub, a client on /pubsub/NAME
is subscribed to topic NAME and each message it sends goes, with its type,
to every other client on /pubsub/NAME; -nats joins the servers that name
the same NATS into one cluster. Without -cert and -key, a self-signed
certificate for localhost,
127.0.0.1 and ::1 is made in memory at start; its SHA-256 fingerprint is
logged. SIGHUP reloads -cert and -key without touching open connections.
SIGINT or SIGTERM closes every connection with status 1001 and exits.

Every limit is on by default; durations take units (10s, 500ms) and 0 turns
a timeout off.

flags:`)
		fs.PrintDefaults()
	}
	cfg := defaultServeConfig()
	var origins string
	fs.StringVar(&cfg.wsAddr, "ws", cfg.wsAddr, "address of the plain ws:// listener (empty: none)")
	fs.StringVar(&cfg.wssAddr, "wss", cfg.wssAddr, "address of the TLS wss:// listener (empty: none)")
	fs.StringVar(&cfg.certFile, "cert", "", "PEM certificate chain file for wss (with -key)")
	fs.StringVar(&cfg.keyFile, "key", "", "PEM private key file for wss (with -cert)")
	fs.Int64Var(&cfg.readLimit, "read-limit", cfg.readLimit, "largest message accepted, in bytes (after decompression); larger ones close with 1009")
	fs.Int64Var(&cfg.maxFrame, "max-frame", cfg.maxFrame, "largest frame payload accepted, in bytes (0: up to -read-limit)")
	fs.StringVar(&origins, "origins", "", "comma-separated browser origins allowed besides the server's own host and port: [scheme://]host[:port] patterns like http://127.0.0.1:8000, *.example.com, localhost:*; null for file:// pages")
	fs.DurationVar(&cfg.closeTimeout, "close-timeout", cfg.closeTimeout, "bound on each wait of a closing handshake")
	fs.DurationVar(&cfg.handshake, "handshake-timeout", cfg.handshake, "bound on each HTTP step: reading a request, writing a refusal, an idle keep-alive connection")
	fs.DurationVar(&cfg.writeTimeout, "write-timeout", cfg.writeTimeout, "bound on writing one frame; a peer that does not read is dropped (0: off)")
	fs.DurationVar(&cfg.pingInterval, "ping-interval", cfg.pingInterval, "ping a peer after this long without a frame from it (0: no keepalive)")
	fs.DurationVar(&cfg.pongTimeout, "pong-timeout", cfg.pongTimeout, "drop a peer that sends nothing for this long after a keepalive ping (0: -ping-interval)")
	fs.DurationVar(&cfg.idleTimeout, "idle-timeout", cfg.idleTimeout, "close a connection (1001) from which no byte arrived for this long, pongs included (0: off)")
	fs.DurationVar(&cfg.messageTimeout, "message-timeout", cfg.messageTimeout, "close a connection (1008) whose message is unfinished this long after its first frame (0: off)")
	fs.Var(&cfg.memoryBudget, "memory-budget", "memory all connections may hold for messages being read, beyond 64 KiB each (e.g. 512MiB); a message that does not fit gets 1013 (0: no budget)")
	fs.BoolVar(&cfg.deflate, "deflate", cfg.deflate, "accept permessage-deflate compression offers")
	fs.IntVar(&cfg.maxRatio, "max-compression-ratio", cfg.maxRatio, "a compressed message may inflate to at most this many times its size on the wire, plus 64 KiB; beyond, 1009 (0: no bound)")
	fs.BoolVar(&cfg.deflateTakeover, "deflate-takeover", cfg.deflateTakeover, "let compression keep its context between messages (better ratio, up to 64 KiB more per idle connection)")
	fs.IntVar(&cfg.maxConns, "max-conns", cfg.maxConns, "most TCP connections open at once, idle HTTP keep-alive included; WebSocket clients beyond it get 503 (0: as many as file descriptors allow)")
	fs.BoolVar(&cfg.pubsub, "pubsub", cfg.pubsub, "serve publish/subscribe on /pubsub/NAME: each message goes to every other client of topic NAME")
	fs.StringVar(&cfg.natsURL, "nats", "", "with -pubsub: NATS server (nats://HOST:PORT) joining the servers that share it into one cluster")
	fs.IntVar(&cfg.pubsubQueue, "pubsub-queue", cfg.pubsubQueue, "with -pubsub: messages that may wait for each client; a client that falls further behind is closed with 1013")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", cfg.shutdownTimeout, "bound on the graceful shutdown")
	fs.StringVar(&cfg.metricsAddr, "metrics", "", "address to serve Prometheus metrics on, at /metrics, e.g. 127.0.0.1:9090 (empty: none)")
	cfg.backends.register(fs)
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return badUsage(fs, "unexpected argument %q (serve takes flags only)", fs.Arg(0))
	}
	if origins != "" {
		for _, p := range strings.Split(origins, ",") {
			cfg.origins = append(cfg.origins, strings.TrimSpace(p))
		}
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if limit, ok := cfg.heapLimit(); ok {
		// The budget bounds what messages hold; the garbage they leave
		// behind is bounded by having the collector work harder as the
		// heap nears the budget plus a margin (unless GOMEMLIMIT says).
		debug.SetMemoryLimit(limit)
		logger.Info("memory", "budget", int64(cfg.memoryBudget), "heap_limit", limit)
	}
	// Signal handlers first: a signal that arrives as soon as the
	// listeners are up must find them (SIGHUP would otherwise kill).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	s := newServer(cfg, logger)
	if err := s.start(); err != nil {
		return err
	}
	defer startMemRelease(logger)()
	for ctx.Err() == nil {
		select {
		case <-hup:
			if err := s.reloadCertificate(); err != nil {
				logger.Error("certificate reload failed; keeping the current one", "err", err)
			}
		case <-ctx.Done():
		}
	}
	logger.Info("shutting down", "open_connections", s.tracker.Len())
	return s.shutdown()
}

// validate refuses flag values that make no sense, naming the flag.
func (cfg *serveConfig) validate() error {
	var errs []error
	if (cfg.certFile == "") != (cfg.keyFile == "") {
		errs = append(errs, errors.New("serve: -cert and -key go together (a PEM certificate chain and its private key)"))
	}
	if err := websock.ValidateOriginPatterns(cfg.origins); err != nil {
		errs = append(errs, fmt.Errorf("serve: -origins: %w", err))
	}
	atLeast := func(name string, v, min int64, what string) {
		if v < min {
			errs = append(errs, fmt.Errorf("serve: -%s %d: %s", name, v, what))
		}
	}
	atLeast("read-limit", cfg.readLimit, 1, "must be positive (bytes)")
	atLeast("max-frame", cfg.maxFrame, 0, "must not be negative (0: up to -read-limit)")
	atLeast("max-conns", int64(cfg.maxConns), 0, "must not be negative (0: as many as file descriptors allow)")
	atLeast("max-compression-ratio", int64(cfg.maxRatio), 0, "must not be negative (0: no bound)")
	atLeast("pubsub-queue", int64(cfg.pubsubQueue), 1, "must be positive (messages)")
	if cfg.natsURL != "" && !cfg.pubsub {
		errs = append(errs, errors.New("serve: -nats needs -pubsub"))
	}
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("serve: -%s %v: must be positive", name, d))
		}
	}
	positive("handshake-timeout", cfg.handshake)
	positive("close-timeout", cfg.closeTimeout)
	nonNegative := func(name string, d time.Duration) {
		if d < 0 {
			errs = append(errs, fmt.Errorf("serve: -%s %v: must not be negative (0 turns it off)", name, d))
		}
	}
	nonNegative("write-timeout", cfg.writeTimeout)
	nonNegative("ping-interval", cfg.pingInterval)
	nonNegative("pong-timeout", cfg.pongTimeout)
	nonNegative("idle-timeout", cfg.idleTimeout)
	nonNegative("message-timeout", cfg.messageTimeout)
	nonNegative("shutdown-timeout", cfg.shutdownTimeout)
	errs = append(errs, cfg.backends.parse())
	return errors.Join(errs...)
}

// heapMargin is what the process may hold beyond its memory budget before
// the garbage collector works harder: buffers of messages under
// websock.BudgetFree, connections, compressors, garbage.
const heapMargin = 192 << 20

// heapLimit returns the soft limit on the Go heap that suits the memory
// budget, unless GOMEMLIMIT sets one or there is no budget.
func (cfg *serveConfig) heapLimit() (int64, bool) {
	if cfg.memoryBudget <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	return int64(cfg.memoryBudget) + heapMargin, true
}

// byteSize is a flag value in bytes, with an optional KiB, MiB or GiB
// suffix.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suffix) {
			s, mult = strings.TrimSuffix(s, suffix), m
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return fmt.Errorf("%q is not a size in bytes (like 512MiB)", s)
	}
	*b = byteSize(n * mult)
	return nil
}

// connOptions is the per-connection part of the configuration.
func (cfg *serveConfig) connOptions() websock.ConnOptions {
	if cfg.budget == nil && cfg.memoryBudget > 0 {
		cfg.budget = websock.NewBudget(int64(cfg.memoryBudget))
	}
	if cfg.metrics == nil && cfg.metricsAddr != "" {
		cfg.metrics = &websock.Metrics{}
	}
	return websock.ConnOptions{
		ReadLimit:      cfg.readLimit,
		MaxFrameSize:   cfg.maxFrame,
		CloseTimeout:   cfg.closeTimeout,
		WriteTimeout:   cfg.writeTimeout,
		PingInterval:   cfg.pingInterval,
		PongTimeout:    cfg.pongTimeout,
		IdleTimeout:    cfg.idleTimeout,
		MessageTimeout: cfg.messageTimeout,
		Budget:         cfg.budget,
		Metrics:        cfg.metrics,

		MaxCompressionRatio: cfg.maxRatio,
	}
}

// acceptOptions is how the echo endpoint accepts connections.
func (cfg *serveConfig) acceptOptions(tracker *websock.ConnSet) *websock.AcceptOptions {
	var extensions []extension.Extension
	if cfg.deflate {
		// Without context takeover unless asked: an idle connection then
		// holds no compression history (up to 32 KiB each way).
		extensions = []extension.Extension{&websock.PerMessageDeflate{
			ServerNoContextTakeover: !cfg.deflateTakeover,
			ClientNoContextTakeover: !cfg.deflateTakeover,
		}}
	}
	return &websock.AcceptOptions{
		Extensions:       extensions,
		OriginPatterns:   cfg.origins,
		ConnSet:          tracker,
		HandshakeTimeout: cfg.handshake,
		ConnOptions:      cfg.connOptions(),
	}
}
