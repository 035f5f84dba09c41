package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/websock/websock"
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
	idleTimeout     time.Duration // not supported yet: must be 0
	messageTimeout  time.Duration // not supported yet: must be 0
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
	}
}

func serveCmd(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: websock serve [flags]

Serves an echo endpoint (every message is sent back with its type) on
ws://<ws-addr>/ws and wss://<wss-addr>/wss (both paths answer on both
listeners). Without -cert and -key, a self-signed certificate for localhost,
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
	fs.StringVar(&origins, "origins", "", "comma-separated extra browser origins allowed (host patterns like *.example.com)")
	fs.DurationVar(&cfg.closeTimeout, "close-timeout", cfg.closeTimeout, "bound on each wait of a closing handshake")
	fs.DurationVar(&cfg.handshake, "handshake-timeout", cfg.handshake, "bound on each HTTP step: reading a request, writing a refusal, an idle keep-alive connection")
	fs.DurationVar(&cfg.writeTimeout, "write-timeout", cfg.writeTimeout, "bound on writing one frame; a peer that does not read is dropped (0: off)")
	fs.DurationVar(&cfg.pingInterval, "ping-interval", cfg.pingInterval, "ping a peer after this long without a frame from it (0: no keepalive)")
	fs.DurationVar(&cfg.pongTimeout, "pong-timeout", cfg.pongTimeout, "drop a peer that sends nothing for this long after a keepalive ping (0: -ping-interval)")
	fs.DurationVar(&cfg.idleTimeout, "idle-timeout", 0, "close connections without a data message for this long (not supported yet; must be 0)")
	fs.DurationVar(&cfg.messageTimeout, "message-timeout", 0, "bound on receiving one message once it has started (not supported yet; must be 0)")
	fs.BoolVar(&cfg.deflate, "deflate", cfg.deflate, "accept permessage-deflate compression offers")
	fs.IntVar(&cfg.maxConns, "max-conns", cfg.maxConns, "most TCP connections open at once, idle HTTP keep-alive included; WebSocket clients beyond it get 503 (0: as many as file descriptors allow)")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", cfg.shutdownTimeout, "bound on the graceful shutdown")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	if origins != "" {
		cfg.origins = strings.Split(origins, ",")
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	s := newEchoServer(cfg, logger)
	if err := s.start(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
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
	atLeast := func(name string, v, min int64, what string) {
		if v < min {
			errs = append(errs, fmt.Errorf("serve: -%s %d: %s", name, v, what))
		}
	}
	atLeast("read-limit", cfg.readLimit, 1, "must be positive (bytes)")
	atLeast("max-frame", cfg.maxFrame, 0, "must not be negative (0: up to -read-limit)")
	atLeast("max-conns", int64(cfg.maxConns), 0, "must not be negative (0: as many as file descriptors allow)")
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
	// ConnOptions has no idle or message timeout yet; refuse rather than
	// ignore them (see connOptions).
	if cfg.idleTimeout > 0 {
		errs = append(errs, errors.New("serve: -idle-timeout is not supported yet (must be 0)"))
	}
	if cfg.messageTimeout > 0 {
		errs = append(errs, errors.New("serve: -message-timeout is not supported yet (must be 0)"))
	}
	return errors.Join(errs...)
}

// connOptions is the per-connection part of the configuration.
func (cfg *serveConfig) connOptions() websock.ConnOptions {
	return websock.ConnOptions{
		ReadLimit:    cfg.readLimit,
		MaxFrameSize: cfg.maxFrame,
		CloseTimeout: cfg.closeTimeout,
		WriteTimeout: cfg.writeTimeout,
		PingInterval: cfg.pingInterval,
		PongTimeout:  cfg.pongTimeout,
		// -idle-timeout and -message-timeout go here, as IdleTimeout and
		// MessageTimeout, once ConnOptions has them; then drop their
		// refusal in validate.
	}
}

// acceptOptions is how the echo endpoint accepts connections.
func (cfg *serveConfig) acceptOptions(tracker *websock.Tracker) *websock.AcceptOptions {
	var extensions []websock.Extension
	if cfg.deflate {
		extensions = []websock.Extension{&websock.PerMessageDeflate{}}
	}
	return &websock.AcceptOptions{
		Extensions:       extensions,
		OriginPatterns:   cfg.origins,
		Tracker:          tracker,
		HandshakeTimeout: cfg.handshake,
		ConnOptions:      cfg.connOptions(),
	}
}
