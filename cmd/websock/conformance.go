package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/websock/websock/conformance"
)

func conformanceCmd(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runConformance(ctx, args, os.Stdout, os.Stderr)
}

// runConformance is the conformance command with its streams.
func runConformance(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("conformance", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: websock conformance [flags] ws[s]://host/path
       websock conformance -h2 [flags] wss://host/path
       websock conformance -serve ADDR [flags]

Runs the Autobahn|Testsuite cases (517: framing, pings, reserved bits,
opcodes, fragmentation, UTF-8, closing, limits, compression) against a
WebSocket server, or with -serve, serves them to a client driver that
follows Autobahn's fuzzing-server protocol (/getCaseCount, /runCase,
/updateReports). The cases are graded as Autobahn grades them.

Beyond Autobahn, in a section of their own: RFC 7692 §7.1 negotiation,
frames and close codes from the peer, and against a server the opening
handshake of RFC 6455 §4, the closing round trip and, with -message-limit,
the 1009 at the limit.

With -h2 the cases go over HTTP/2 (RFC 8441): each on an extended-CONNECT
stream, the streams sharing one connection (TLS with ALPN h2 for wss://,
prior knowledge for ws://). The checks beyond Autobahn still use HTTP/1.1.

Exits with status 1 unless every case is strictly OK by Autobahn's grades
(OK or INFORMATIONAL); with -strict, every check beyond Autobahn must pass
too.

flags:`)
		fs.PrintDefaults()
	}
	patterns := fs.String("cases", "", "comma-separated case patterns, e.g. 1.*,5.8,6.4.* (default: all)")
	jsonDir := fs.String("json", "", "directory for index.json and per-case reports")
	htmlFile := fs.String("html", "", "file for an HTML summary")
	agent := fs.String("agent", "websock", "agent name in the reports")
	insecure := fs.Bool("insecure", false, "accept any TLS certificate of the server under test")
	caFile := fs.String("ca", "", "PEM file of certificates (or CAs) to trust besides the system's, for the server under test")
	serve := fs.String("serve", "", "run the fuzzing server on this address instead (client mode)")
	certFile := fs.String("cert", "", "certificate for -serve over TLS (with -key)")
	keyFile := fs.String("key", "", "key for -serve over TLS")
	selfSigned := fs.Bool("tls", false, "with -serve: serve wss with a self-signed certificate")
	strict := fs.Bool("strict", false, "the checks beyond Autobahn count towards the exit status")
	parallel := fs.Int("parallel", 1, "cases run at once against a server")
	originStatus := fs.Int("origin-status", 403, "status the server documents for a browser from a foreign origin")
	messageLimit := fs.Int("message-limit", 0, "largest message the server accepts, in bytes, to check the 1009 one byte over it (0: not checked)")
	h2 := fs.Bool("h2", false, "play the cases over HTTP/2 extended-CONNECT streams of one connection (RFC 8441)")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *h2 && *serve != "" {
		return badUsage(fs, "-h2 plays the cases against a server; with -serve the client chooses how it connects")
	}
	if *parallel < 1 {
		return badUsage(fs, "-parallel %d: at least one case runs at a time", *parallel)
	}
	if (*certFile == "") != (*keyFile == "") {
		return badUsage(fs, "-cert and -key go together (a PEM certificate chain and its private key)")
	}
	cases, err := conformance.Cases()
	if err != nil {
		return err
	}
	if *patterns != "" {
		cases = conformance.Select(cases, strings.Split(*patterns, ","))
	}
	if len(cases) == 0 {
		return errors.New("conformance: no case matches -cases")
	}
	report := func(results []*conformance.Result, probes []conformance.Finding) error {
		findings := conformance.Findings(results, probes)
		if *jsonDir != "" {
			if err := conformance.WriteJSON(*jsonDir, *agent, results, findings); err != nil {
				return err
			}
		}
		if *htmlFile != "" {
			f, err := os.Create(*htmlFile)
			if err != nil {
				return err
			}
			if err := conformance.WriteHTML(f, *agent, results, findings); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		}
		autobahnOK, strictOK := conformance.Summary(out, results, findings)
		switch {
		case !autobahnOK:
			return errors.New("conformance: some cases are not strictly OK")
		case *strict && !strictOK:
			return errors.New("conformance: some checks beyond Autobahn failed")
		}
		return nil
	}

	if *serve != "" {
		srv := &conformance.Server{Cases: cases}
		done := make(chan error, 1)
		srv.OnReport = func(a string, results []*conformance.Result) {
			fmt.Fprintf(out, "reports of %s (%d cases):\n", a, len(results))
			done <- report(results, nil)
		}
		ln, err := net.Listen("tcp", *serve)
		if err != nil {
			return err
		}
		hs := &http.Server{Handler: srv}
		scheme := "ws"
		if *certFile != "" || *selfSigned {
			cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
			if *selfSigned && *certFile == "" {
				cert, err = selfSignedCert()
			}
			if err != nil {
				return err
			}
			hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
			ln = tls.NewListener(ln, hs.TLSConfig)
			scheme = "wss"
		}
		fmt.Fprintf(errOut, "fuzzing server on %s://%s (%d cases); waiting for /updateReports\n", scheme, ln.Addr(), len(cases))
		served := make(chan error, 1)
		go func() { served <- hs.Serve(ln) }()
		defer hs.Close()
		select {
		case err := <-done:
			return err
		case err := <-served:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	if fs.NArg() != 1 {
		return badUsage(fs, "one server URL expected, got %d arguments %q", fs.NArg(), fs.Args())
	}
	tlsConfig, err := clientTLS(*caFile, *insecure)
	if err != nil {
		return fmt.Errorf("conformance: %w", err)
	}
	cfg := conformance.ClientConfig{URL: fs.Arg(0), TLSConfig: tlsConfig, Parallel: *parallel, HTTP2: *h2}
	if *h2 {
		// A case's handshake waits its turn on the connection the other
		// cases load with megabytes (9.*).
		cfg.Timing.Open = time.Minute
	}
	tty := isTerminal(errOut)
	cfg.Progress = func(done, total int, r *conformance.Result) {
		switch {
		case tty:
			fmt.Fprintf(errOut, "\r%d/%d %-10s %-13s %-10s", done, total, r.ID, r.Behavior, r.BehaviorClose)
			if done == total {
				fmt.Fprintln(errOut)
			}
		case done%100 == 0 || done == total:
			fmt.Fprintf(errOut, "%d/%d cases run\n", done, total)
		}
	}
	results, err := conformance.RunServer(ctx, cases, cfg)
	if err != nil {
		return err
	}
	probes, err := conformance.Probe(ctx, conformance.ProbeConfig{
		URL: fs.Arg(0), TLSConfig: tlsConfig, OriginStatus: *originStatus, MessageLimit: *messageLimit,
	})
	if err != nil {
		return err
	}
	return report(results, probes)
}
