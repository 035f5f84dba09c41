// Package server is what the benchmark echo servers share: the flags of
// their common contract, TLS, profiling, and serving on path "/".
package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

// Config is the common contract of the echo servers.
type Config struct {
	Addr     string
	Compress bool
	Takeover bool // with Compress: keep the compression context between messages
}

// Run parses the flags, builds the handler with newHandler and serves it on
// "/" until SIGINT or SIGTERM.
func Run(newHandler func(Config) http.Handler) {
	var cfg Config
	flag.StringVar(&cfg.Addr, "addr", "127.0.0.1:9000", "listen address")
	useTLS := flag.Bool("tls", false, "serve wss (with -cert/-key, or a self-signed certificate)")
	certFile := flag.String("cert", "", "certificate file")
	keyFile := flag.String("key", "", "key file")
	flag.BoolVar(&cfg.Compress, "compress", false, "accept permessage-deflate")
	flag.BoolVar(&cfg.Takeover, "takeover", false, "with -compress: accept context takeover in both directions")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile here on exit")
	flag.Parse()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		log.Fatal(err)
	}
	if *useTLS {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if *certFile == "" {
			cert, err = selfSigned()
		}
		if err != nil {
			log.Fatal(err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	mux := http.NewServeMux()
	mux.Handle("/", newHandler(cfg))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
