package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/websock/websock"
	"github.com/websock/websock/extension"
)

// headerFlags collects repeated -H "Name: value" flags.
type headerFlags http.Header

func (h headerFlags) String() string { return "" }

func (h headerFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("header %q is not Name: value", v)
	}
	http.Header(h).Add(strings.TrimSpace(name), strings.TrimSpace(value))
	return nil
}

func dialCmd(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fi, _ := os.Stdin.Stat()
	interactive := fi != nil && fi.Mode()&os.ModeCharDevice != 0
	return runDial(ctx, args, os.Stdin, os.Stdout, os.Stderr, interactive)
}

// maxLine is the longest line of input the dial command sends.
const maxLine = 16 << 20

// defaultReplyWait is how long, after the last line of input, the dial
// command waits for replies while the server sends nothing.
const defaultReplyWait = 2 * time.Second

// runDial is the dial command with its streams: each line read from in is
// sent as a message, each message received is written to out. Interactive
// mode marks what is sent and received; otherwise out gets the messages
// alone, one per line. When in ends, the command waits for the replies
// (until as many messages have come back as lines were sent, or the
// server is silent for -wait), then closes with 1000 and returns once the
// server has answered.
func runDial(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer, interactive bool) error {
	fs := flag.NewFlagSet("dial", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: websock dial [flags] ws://host[:port]/path | wss://...

Connects to a WebSocket server. Each line typed (or read from stdin) is sent
as a text message; messages received are printed, binary ones in hex. Pings
are answered. On end of input it waits for the replies (until as many
messages came back as lines were sent, or the server is silent for -wait),
closes the connection with status 1000 and exits once the server has
answered. Flags may come before or after the URL.

flags:`)
		fs.PrintDefaults()
	}
	header := headerFlags(http.Header{})
	fs.Var(header, "H", "extra request header \"Name: value\" (repeatable)")
	subprotocols := fs.String("subprotocol", "", "comma-separated subprotocols to offer")
	origin := fs.String("origin", "", "Origin header to send")
	insecure := fs.Bool("insecure", false, "accept any TLS certificate (self-signed test servers)")
	caFile := fs.String("ca", "", "PEM file of certificates (or CAs) to trust besides the system's, e.g. a test server's own certificate")
	compress := fs.Bool("compress", false, "offer permessage-deflate compression")
	verbose := fs.Bool("v", false, "print the negotiated subprotocol and extensions, and how the connection ended, on stderr")
	binary := fs.Bool("binary", false, "send lines as binary messages")
	timeout := fs.Duration("timeout", websock.DefaultHandshakeTimeout, "handshake timeout")
	wait := fs.Duration("wait", defaultReplyWait, "after the last line, how long the server may stay silent before the connection is closed (0: close at once)")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return badUsage(fs, "exactly one URL expected, got %d arguments %q", fs.NArg(), fs.Args())
	}
	tlsConfig, err := clientTLS(*caFile, *insecure)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	opts := &websock.DialOptions{
		Header:           http.Header(header),
		TLSConfig:        tlsConfig,
		HandshakeTimeout: *timeout,
	}
	if *subprotocols != "" {
		opts.Subprotocols = strings.Split(*subprotocols, ",")
	}
	if *origin != "" {
		opts.Header.Set("Origin", *origin)
	}
	if *compress {
		opts.Extensions = []extension.Extension{&websock.PerMessageDeflate{}}
	}
	c, _, err := websock.Dial(ctx, fs.Arg(0), opts)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	if interactive || *verbose {
		fmt.Fprintf(errOut, "connected to %s (subprotocol %q, extensions %q)\n", fs.Arg(0), c.Subprotocol(), c.Extensions())
	}
	if interactive {
		fmt.Fprintln(errOut, "Ctrl-D closes")
	}

	r := &replies{arrived: make(chan struct{}, 1)}
	readDone := make(chan error, 1)
	go func() { readDone <- r.print(ctx, c, out, interactive) }()
	ended := func(err error) error {
		if *verbose {
			fmt.Fprintf(errOut, "closed: %v\n", err)
		}
		return closeResult(err)
	}

	typ := websock.TextMessage
	if *binary {
		typ = websock.BinaryMessage
	}
	lines := make(chan string)
	stop := make(chan struct{})
	defer close(stop)
	var inputErr error // why reading in ended, once lines is closed
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64<<10), maxLine)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-stop:
				return
			}
		}
		inputErr = sc.Err()
	}()
	sent := int64(0)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				if inputErr != nil {
					c.Close(websock.StatusGoingAway, "")
					return fmt.Errorf("dial: reading input: %w (lines are sent up to %d MiB)", inputErr, maxLine>>20)
				}
				if done, err := r.wait(ctx, sent, *wait, readDone); done {
					return ended(err)
				}
				// Keep printing what arrives until the server's close
				// (bounded by the close timeout).
				if err := c.CloseWrite(websock.StatusNormalClosure, ""); err != nil {
					return err
				}
				return ended(<-readDone)
			}
			if err := c.Write(ctx, typ, []byte(line)); err != nil {
				return err
			}
			sent++
		case err := <-readDone:
			return ended(err)
		case <-ctx.Done():
			c.Close(websock.StatusGoingAway, "")
			return nil
		}
	}
}

// replies counts the messages received, for the wait at the end of input.
type replies struct {
	count   atomic.Int64
	arrived chan struct{} // a message arrived since the last look
}

// wait returns once n messages have arrived, or none has for quiet, or
// ctx is done; or, with done true, once reading has ended with err.
func (r *replies) wait(ctx context.Context, n int64, quiet time.Duration, readDone <-chan error) (done bool, err error) {
	timer := time.NewTimer(quiet)
	defer timer.Stop()
	for r.count.Load() < n {
		select {
		case <-r.arrived:
			timer.Reset(quiet)
		case <-timer.C:
			return false, nil
		case <-ctx.Done():
			return false, nil
		case err := <-readDone:
			return true, err
		}
	}
	return false, nil
}

// print writes every message received to out until reading ends.
func (r *replies) print(ctx context.Context, c *websock.Conn, out io.Writer, interactive bool) error {
	w := bufio.NewWriter(out)
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			w.Flush()
			return err
		}
		if interactive {
			w.WriteString("< ")
		}
		if typ == websock.BinaryMessage {
			fmt.Fprintf(w, "[binary %d bytes] %s", len(msg), hex.EncodeToString(msg))
		} else {
			w.Write(msg)
		}
		w.WriteByte('\n')
		w.Flush()
		r.count.Add(1)
		select {
		case r.arrived <- struct{}{}:
		default:
		}
	}
}

// closeResult turns the error that ended reading into the command's result:
// nil for a normal close.
func closeResult(err error) error {
	switch websock.CloseStatus(err) {
	case websock.StatusNormalClosure, websock.StatusNoStatus, websock.StatusGoingAway:
		return nil
	}
	return err
}
