// Package server is what the benchmark echo servers share: the flags of
// their common contract, the descriptor limit, TLS, profiling, and serving
// on path "/".
package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"
)

// Config is the common contract of the echo servers.
type Config struct {
	Addr     string
	TLS      bool // serve wss with KeyPair's certificate
	Compress bool
	Takeover bool // with Compress: keep the compression context between messages
	// Events selects a server's event-driven mode where it has one.
	Events bool

	certFile, keyFile string
	cpuProfile        string
}

// Parse parses the flags of the common contract and raises the process's
// descriptor limit to its hard limit (each connection is a descriptor).
func Parse() Config {
	var cfg Config
	flag.StringVar(&cfg.Addr, "addr", "127.0.0.1:9000", "listen address")
	flag.BoolVar(&cfg.TLS, "tls", false, "serve wss (with -cert/-key, or a self-signed certificate)")
	flag.StringVar(&cfg.certFile, "cert", "", "certificate file")
	flag.StringVar(&cfg.keyFile, "key", "", "key file")
	flag.BoolVar(&cfg.Compress, "compress", false, "accept permessage-deflate")
	flag.BoolVar(&cfg.Takeover, "takeover", false, "with -compress: accept context takeover in both directions")
	flag.BoolVar(&cfg.Events, "events", false, "serve in the library's event-driven mode, where it has one")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile here on exit")
	flag.Parse()
	if err := RaiseFileLimit(); err != nil {
		log.Print(err)
	}
	return cfg
}

// RaiseFileLimit sets the soft RLIMIT_NOFILE to the hard limit.
func RaiseFileLimit() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	lim.Cur = lim.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// KeyPair returns the PEM certificate and key to serve TLS with: those of
// -cert and -key, or a self-signed pair for 127.0.0.1 and localhost. It
// exits if they cannot be read or made.
func (cfg Config) KeyPair() (certPEM, keyPEM []byte) {
	var err error
	if cfg.certFile == "" {
		certPEM, keyPEM, err = selfSigned()
	} else if certPEM, err = os.ReadFile(cfg.certFile); err == nil {
		keyPEM, err = os.ReadFile(cfg.keyFile)
	}
	if err != nil {
		log.Fatal(err)
	}
	return certPEM, keyPEM
}

// Profile starts the -cpuprofile CPU profile, if asked for; the returned
// function stops it.
func (cfg Config) Profile() (stop func()) {
	if cfg.cpuProfile == "" {
		return func() {}
	}
	f, err := os.Create(cfg.cpuProfile)
	if err != nil {
		log.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatal(err)
	}
	return pprof.StopCPUProfile
}

// WaitSignal returns on SIGINT or SIGTERM. On SIGUSR1 the process collects
// its garbage and gives the freed memory back to the OS (what a server
// that releases memory after a burst does; websock bench -collect asks
// for it), the same for every server.
func WaitSignal() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGUSR1)
	for s := range sig {
		if s != syscall.SIGUSR1 {
			return
		}
		runtime.GC()
		debug.FreeOSMemory()
	}
}

// Run parses the flags, builds the handler with newHandler and serves it on
// "/" with net/http until SIGINT or SIGTERM.
func Run(newHandler func(Config) http.Handler) {
	cfg := Parse()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		log.Fatal(err)
	}
	if cfg.TLS {
		cert, err := tls.X509KeyPair(cfg.KeyPair())
		if err != nil {
			log.Fatal(err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	}
	defer cfg.Profile()()
	mux := http.NewServeMux()
	mux.Handle("/", newHandler(cfg))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	WaitSignal()
}

func selfSigned() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}
