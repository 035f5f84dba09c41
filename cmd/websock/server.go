package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/websock/websock"
)

// maxHeaderBytes bounds the size of an upgrade request's headers.
const maxHeaderBytes = 16 << 10

// server serves the WebSocket endpoints (routes to backends) and keeps track of its connections
// for the graceful shutdown.
type server struct {
	cfg     serveConfig
	log     *slog.Logger
	servers []*http.Server
	addrs   map[string]net.Addr // "ws" and "wss" listener addresses
	accept  *websock.AcceptOptions
	budget  *connBudget // every open TCP connection, on both listeners

	pubsub   *pubsubBackend                  // with -pubsub
	cert     atomic.Pointer[tls.Certificate] // served to new TLS connections
	tracker  websock.ConnSet
	handlers sync.WaitGroup // handshakes and connections being served
}

func newServer(cfg serveConfig, logger *slog.Logger) *server {
	s := &server{cfg: cfg, log: logger, addrs: map[string]net.Addr{}}
	s.accept = s.cfg.acceptOptions(&s.tracker)
	return s
}

// start binds the listeners and serves in the background.
func (s *server) start() error {
	caps := connCapsFor(s.cfg.maxConns, descriptorLimit())
	s.tracker.MaxConns = caps.websocket
	s.budget = newConnBudget(caps.tcp, s.log)
	if caps.lowered {
		s.log.Warn("-max-conns lowered to fit the file descriptor limit", "max_conns", caps.websocket, "descriptor_limit", caps.descriptors)
	}
	s.log.Info("limits", "max_conns", caps.websocket, "max_tcp_conns", caps.tcp, "write_timeout", s.cfg.writeTimeout,
		"ping_interval", s.cfg.pingInterval, "pong_timeout", s.cfg.pongTimeout, "read_limit", s.cfg.readLimit)

	if s.cfg.pubsub {
		pubsub, err := newPubsubBackend(s.cfg.natsURL, s.cfg.pubsubQueue, s.log)
		if err != nil {
			return err
		}
		s.pubsub = pubsub
		s.log.Info("pubsub", "path", pubsubPath+"NAME", "nats", s.cfg.natsURL, "queue", s.cfg.pubsubQueue)
	}
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.path, s.endpoint(rt.backend))
	}
	mux.Handle("/", s.pages())
	newServer := func() *http.Server {
		// The read and write timeouts bound plain HTTP exchanges (a 404, a
		// refusal); Accept clears the connection's deadlines once it has
		// taken the connection over, so they never reach WebSocket
		// connections.
		return &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: s.cfg.handshake, // slow handshakes are dropped
			ReadTimeout:       s.cfg.handshake,
			WriteTimeout:      s.cfg.handshake,
			IdleTimeout:       s.cfg.handshake, // keep-alive connections waiting for a request
			MaxHeaderBytes:    maxHeaderBytes,  // larger requests get 431
			ConnState:         s.budget.connState,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
			// The WebSockets of an HTTP/2 connection share its flow
			// control window: room for 16 streams' windows (1 MiB each)
			// keeps one that is not read from stalling the others.
			HTTP2: &http.HTTP2Config{MaxReceiveBufferPerConnection: 16 << 20},
		}
	}
	if s.cfg.wsAddr != "" {
		ln, err := net.Listen("tcp", s.cfg.wsAddr)
		if err != nil {
			return err
		}
		srv := newServer()
		s.servers = append(s.servers, srv)
		s.addrs["ws"] = ln.Addr()
		go srv.Serve(s.budget.listener(ln))
		s.log.Info("listening", "url", "ws://"+ln.Addr().String()+"/ws")
	}
	if s.cfg.wssAddr != "" {
		cert, err := s.certificate()
		if err != nil {
			s.Close()
			return err
		}
		s.cert.Store(&cert)
		ln, err := net.Listen("tcp", s.cfg.wssAddr)
		if err != nil {
			s.Close()
			return err
		}
		srv := newServer()
		srv.TLSConfig = &tls.Config{
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cert.Load(), nil },
			MinVersion:     tls.VersionTLS12, // TLS 1.3 is preferred when both sides have it
			// HTTP/2 first: browsers then open wss:// as streams of the
			// page's connection (RFC 8441), with extended CONNECT on (main).
			NextProtos: []string{"h2", "http/1.1"},
		}
		s.servers = append(s.servers, srv)
		s.addrs["wss"] = ln.Addr()
		go srv.ServeTLS(s.budget.listener(ln), "", "")
		s.log.Info("listening", "url", "wss://"+ln.Addr().String()+"/wss")
	}
	if len(s.servers) == 0 {
		return errors.New("serve: no listener (both -ws and -wss are empty)")
	}
	if err := s.startMetrics(); err != nil {
		s.Close()
		return fmt.Errorf("serve: metrics: %w", err)
	}
	return nil
}

// certificate loads -cert/-key, or makes a self-signed certificate.
func (s *server) certificate() (tls.Certificate, error) {
	if s.cfg.certFile != "" || s.cfg.keyFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.certFile, s.cfg.keyFile)
		if err != nil {
			return cert, fmt.Errorf("serve: load certificate: %w", err)
		}
		s.log.Info("certificate loaded", "file", s.cfg.certFile, "sha256", fingerprint(cert.Certificate[0]))
		return cert, nil
	}
	cert, err := selfSignedCert()
	if err != nil {
		return cert, fmt.Errorf("serve: self-signed certificate: %w", err)
	}
	s.log.Info("self-signed certificate made", "hosts", "localhost,127.0.0.1,::1", "sha256", fingerprint(cert.Certificate[0]))
	return cert, nil
}

// reloadCertificate loads -cert and -key again (on SIGHUP): new connections
// get the new certificate, open ones are not touched.
func (s *server) reloadCertificate() error {
	if s.cfg.certFile == "" || s.cert.Load() == nil {
		return errors.New("serve: no certificate files to reload (self-signed certificate)")
	}
	cert, err := s.certificate()
	if err != nil {
		return err
	}
	s.cert.Store(&cert)
	return nil
}

// routes are the WebSocket endpoints: echo on /ws and /wss (both paths
// answer on both listeners) unless the backend flags say otherwise, and
// with -pubsub, /pubsub/NAME.
func (s *server) routes() []route {
	routes := s.cfg.backends.routes(&s.cfg, s.log)
	if s.pubsub != nil {
		routes = append(routes, route{pubsubPath, s.pubsub})
	}
	return routes
}

// pages serves every path that is not a WebSocket endpoint: the files of
// -static, or else the console page.
func (s *server) pages() http.Handler {
	if s.cfg.backends.static == "" {
		return consoleHandler()
	}
	h, err := staticHandler(s.cfg.backends.static)
	if err != nil {
		s.log.Error("static files not served", "err", err)
		return http.NotFoundHandler()
	}
	return h
}

// endpoint is the HTTP handler of a route: it upgrades the request and
// serves the connection with b in its own goroutine, so that the handler
// returns and net/http frees the request's memory.
func (s *server) endpoint(b backend) http.Handler {
	opts := acceptOptionsFor(b, s.accept)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.handlers.Add(1)
		c, err := websock.Accept(w, r, opts)
		if err != nil {
			attrs := []any{"remote", r.RemoteAddr, "err", err}
			if errors.Is(err, websock.ErrOriginNotAllowed) {
				if p, perr := websock.OriginPattern(r.Header.Get("Origin")); perr == nil {
					attrs = append(attrs, "admit_with", "-origins "+p)
				}
			}
			s.log.Warn("handshake refused", attrs...)
			s.handlers.Done()
			return
		}
		serve := b.open(c, r)
		// Logged here, not by the connection's goroutine: formatting a
		// record takes more stack than echoing, and a goroutine keeps the
		// stack it grew to while it waits (8 KiB instead of 4 KiB per idle
		// connection).
		s.log.Info("open", "remote", r.RemoteAddr, "path", r.URL.Path, "tls", r.TLS != nil, "proto", r.Proto, "backend", b.name(), "extensions", c.Extensions())
		if r.ProtoMajor == 2 {
			// The connection is a stream of the request: it ends with
			// the handler.
			s.serveConn(c, serve, r.RemoteAddr)
			return
		}
		go s.serveConn(c, serve, r.RemoteAddr)
	})
}

// serveConn runs a backend on a connection until it ends, then closes it
// and logs how it ended.
func (s *server) serveConn(c *websock.Conn, serve func(context.Context) error, remote string) {
	defer s.handlers.Done()
	start := time.Now()
	err := serve(context.Background())
	c.CloseNow()
	attrs := []any{"remote", remote, "duration", time.Since(start).Round(time.Millisecond)}
	if code := websock.CloseStatus(err); code > 0 {
		attrs = append(attrs, "code", int(code))
	}
	var ce *websock.CloseError
	// A close by either side is routine; anything else (timeouts, failed
	// writes, protocol errors) is logged with its reason, even when it
	// also wraps ErrClosed.
	if errors.As(err, &ce) || err == websock.ErrClosed {
		s.log.Info("close", attrs...)
	} else {
		s.log.Warn("close", append(attrs, "err", err)...)
	}
}

// shutdown stops accepting, closes every connection with 1001 and waits,
// bounded by the shutdown timeout, for their closing handshakes.
func (s *server) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.shutdownTimeout)
	defer cancel()
	// Stop accepting. An HTTP/2 connection gets GOAWAY and stays open
	// while its WebSocket streams close; Close ends what is left.
	var stopped sync.WaitGroup
	for _, srv := range s.servers {
		stopped.Go(func() { srv.Shutdown(ctx) })
	}
	defer stopped.Wait()
	defer s.Close()
	n := s.tracker.Len()
	if err := s.tracker.Shutdown(ctx); err != nil {
		s.log.Warn("shutdown timed out; connections dropped", "timeout", s.cfg.shutdownTimeout)
		return nil
	}
	s.handlers.Wait()
	s.log.Info("shutdown complete", "closed", n)
	return nil
}

// Close closes the listeners and the plain HTTP connections (not the
// WebSocket connections, which the http.Server no longer tracks once
// hijacked), and ends the pubsub subscriptions.
func (s *server) Close() error {
	var errs []error
	if s.pubsub != nil {
		s.pubsub.close()
	}
	for _, srv := range s.servers {
		if err := srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

var _ io.Closer = (*server)(nil)
