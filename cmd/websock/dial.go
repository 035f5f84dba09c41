package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/websock/websock"
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

// runDial is the dial command with its streams: each line read from in is
// sent as a message, each message received is written to out. Interactive
// mode marks what is sent and received; otherwise out gets the messages
// alone, one per line, and the command ends with a clean close when in
// ends.
func runDial(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer, interactive bool) error {
	fs := flag.NewFlagSet("dial", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: websock dial [flags] ws://host[:port]/path | wss://...

Connects to a WebSocket server. Each line typed (or read from stdin) is sent
as a text message; messages received are printed, binary ones in hex. Pings
are answered. On end of input the connection is closed with status 1000 and
the command exits once the server has answered.

flags:`)
		fs.PrintDefaults()
	}
	header := headerFlags(http.Header{})
	fs.Var(header, "H", "extra request header \"Name: value\" (repeatable)")
	subprotocols := fs.String("subprotocol", "", "comma-separated subprotocols to offer")
	origin := fs.String("origin", "", "Origin header to send")
	insecure := fs.Bool("insecure", false, "accept any TLS certificate (self-signed test servers)")
	binary := fs.Bool("binary", false, "send lines as binary messages")
	timeout := fs.Duration("timeout", 10*time.Second, "handshake timeout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("dial: exactly one URL expected")
	}
	opts := &websock.DialOptions{
		Header:           http.Header(header),
		TLSConfig:        &tls.Config{InsecureSkipVerify: *insecure},
		HandshakeTimeout: *timeout,
	}
	if *subprotocols != "" {
		opts.Subprotocols = strings.Split(*subprotocols, ",")
	}
	if *origin != "" {
		opts.Header.Set("Origin", *origin)
	}
	c, _, err := websock.Dial(ctx, fs.Arg(0), opts)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	if interactive {
		fmt.Fprintf(errOut, "connected to %s (subprotocol %q); Ctrl-D closes\n", fs.Arg(0), c.Subprotocol())
	}

	readDone := make(chan error, 1)
	go func() { readDone <- printMessages(ctx, c, out, interactive) }()

	typ := websock.TextMessage
	if *binary {
		typ = websock.BinaryMessage
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				// Keep printing what arrives until the server's close.
				if err := c.CloseWrite(websock.StatusNormalClosure, ""); err != nil {
					return err
				}
				return closeResult(<-readDone)
			}
			if err := c.Write(ctx, typ, []byte(line)); err != nil {
				return err
			}
		case err := <-readDone:
			return closeResult(err)
		case <-ctx.Done():
			c.Close(websock.StatusGoingAway, "")
			return nil
		}
	}
}

// printMessages writes every message received to out until reading ends.
func printMessages(ctx context.Context, c *websock.Conn, out io.Writer, interactive bool) error {
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
