package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/websock/websock"
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
	handshake       time.Duration
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

flags:`)
		fs.PrintDefaults()
	}
	var cfg serveConfig
	var origins string
	fs.StringVar(&cfg.wsAddr, "ws", "127.0.0.1:8888", "address of the plain ws:// listener (empty: none)")
	fs.StringVar(&cfg.wssAddr, "wss", "127.0.0.1:8889", "address of the TLS wss:// listener (empty: none)")
	fs.StringVar(&cfg.certFile, "cert", "", "PEM certificate chain file for wss (with -key)")
	fs.StringVar(&cfg.keyFile, "key", "", "PEM private key file for wss (with -cert)")
	fs.Int64Var(&cfg.readLimit, "read-limit", websock.DefaultReadLimit, "largest message accepted, in bytes (after decompression)")
	fs.Int64Var(&cfg.maxFrame, "max-frame", 0, "largest frame payload accepted, in bytes (0: up to -read-limit)")
	fs.StringVar(&origins, "origins", "", "comma-separated extra browser origins allowed (host patterns like *.example.com)")
	fs.DurationVar(&cfg.closeTimeout, "close-timeout", websock.DefaultCloseTimeout, "bound on each wait of a closing handshake")
	fs.DurationVar(&cfg.handshake, "handshake-timeout", websock.DefaultHandshakeTimeout, "bound on reading the upgrade request (slow clients are dropped)")
	fs.BoolVar(&cfg.deflate, "deflate", true, "accept permessage-deflate compression offers")
	fs.IntVar(&cfg.maxConns, "max-conns", 10000, "most connections open at once; more are refused with 503 (0: no cap)")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 10*time.Second, "bound on the graceful shutdown")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	if origins != "" {
		cfg.origins = strings.Split(origins, ",")
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

// maxHeaderBytes bounds the size of an upgrade request's headers.
const maxHeaderBytes = 16 << 10

// echoServer serves the echo endpoints and keeps track of its connections
// for the graceful shutdown.
type echoServer struct {
	cfg     serveConfig
	log     *slog.Logger
	servers []*http.Server
	addrs   map[string]net.Addr // "ws" and "wss" listener addresses

	cert     atomic.Pointer[tls.Certificate] // served to new TLS connections
	tracker  websock.Tracker
	handlers sync.WaitGroup // handshakes and connections being served
}

func newEchoServer(cfg serveConfig, logger *slog.Logger) *echoServer {
	s := &echoServer{cfg: cfg, log: logger, addrs: map[string]net.Addr{}}
	s.tracker.Max = cfg.maxConns
	return s
}

// start binds the listeners and serves in the background.
func (s *echoServer) start() error {
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", s.echo)
	mux.HandleFunc("/wss", s.echo)
	newServer := func() *http.Server {
		return &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: s.cfg.handshake, // slow handshakes are dropped
			MaxHeaderBytes:    maxHeaderBytes,  // larger requests get 431
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
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
		go srv.Serve(ln)
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
			NextProtos:     []string{"http/1.1"},
		}
		s.servers = append(s.servers, srv)
		s.addrs["wss"] = ln.Addr()
		go srv.ServeTLS(ln, "", "")
		s.log.Info("listening", "url", "wss://"+ln.Addr().String()+"/wss")
	}
	if len(s.servers) == 0 {
		return errors.New("serve: no listener (both -ws and -wss are empty)")
	}
	return nil
}

// certificate loads -cert/-key, or makes a self-signed certificate.
func (s *echoServer) certificate() (tls.Certificate, error) {
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
func (s *echoServer) reloadCertificate() error {
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

// echo is the WebSocket endpoint: every message goes back with its type.
// Each connection runs in its own goroutine so that the HTTP handler
// returns and net/http frees the request's memory.
func (s *echoServer) echo(w http.ResponseWriter, r *http.Request) {
	s.handlers.Add(1)
	var extensions []websock.Extension
	if s.cfg.deflate {
		extensions = []websock.Extension{&websock.PerMessageDeflate{}}
	}
	c, err := websock.Accept(w, r, &websock.AcceptOptions{
		Extensions:     extensions,
		OriginPatterns: s.cfg.origins,
		Tracker:        &s.tracker,
		ConnOptions: websock.ConnOptions{
			ReadLimit:    s.cfg.readLimit,
			MaxFrameSize: s.cfg.maxFrame,
			CloseTimeout: s.cfg.closeTimeout,
		},
	})
	if err != nil {
		s.log.Warn("handshake refused", "remote", r.RemoteAddr, "err", err)
		s.handlers.Done()
		return
	}
	go s.serveConn(c, r.RemoteAddr, r.URL.Path, r.TLS != nil)
}

// serveConn echoes until the connection ends and logs how it ended.
func (s *echoServer) serveConn(c *websock.Conn, remote, path string, tls bool) {
	defer s.handlers.Done()
	start := time.Now()
	s.log.Info("open", "remote", remote, "path", path, "tls", tls, "extensions", c.Extensions())
	err := echoLoop(context.Background(), c)
	c.CloseNow()
	attrs := []any{"remote", remote, "duration", time.Since(start).Round(time.Millisecond)}
	if code := websock.CloseStatus(err); code > 0 {
		attrs = append(attrs, "code", code)
	}
	var ce *websock.CloseError
	if errors.As(err, &ce) || errors.Is(err, websock.ErrClosed) {
		s.log.Info("close", attrs...)
	} else {
		s.log.Warn("close", append(attrs, "err", err)...)
	}
}

// echoLoop sends every message back until reading fails, reusing one buffer.
func echoLoop(ctx context.Context, c *websock.Conn) error {
	var buf []byte
	for {
		typ, msg, err := c.ReadAppend(ctx, buf[:0])
		if err != nil {
			return err
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return err
		}
		if cap(msg) <= 1<<20 {
			buf = msg // keep small buffers for the next message
		} else {
			buf = nil
		}
	}
}

// shutdown stops accepting, closes every connection with 1001 and waits,
// bounded by the shutdown timeout, for their closing handshakes.
func (s *echoServer) shutdown() error {
	s.Close()
	n := s.tracker.Len()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.shutdownTimeout)
	defer cancel()
	if err := s.tracker.Shutdown(ctx); err != nil {
		s.log.Warn("shutdown timed out; connections dropped", "timeout", s.cfg.shutdownTimeout)
		return nil
	}
	s.handlers.Wait()
	s.log.Info("shutdown complete", "closed", n)
	return nil
}

// Close closes the listeners (not the WebSocket connections, which the
// http.Server no longer tracks once hijacked).
func (s *echoServer) Close() error {
	var errs []error
	for _, srv := range s.servers {
		if err := srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

var _ io.Closer = (*echoServer)(nil)
