// Command websock is a secure WebSocket server and toolbox.
//
//	websock serve        echo server on ws://127.0.0.1:8888/ws and wss://127.0.0.1:8889/wss
//	websock dial URL     interactive client: stdin lines out, messages in
//	websock conformance  the Autobahn|Testsuite cases against a server or client
//	websock bench URL    load generator: messages/s, latency, server CPU per message
//
// Run "websock <command> -h" for the flags of each command.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/websock/websock/internal/xconnect"
)

// commands maps each subcommand to the function that runs it with its
// arguments.
var commands = map[string]struct {
	run     func(args []string) error
	summary string
}{
	"serve":       {serveCmd, "run the secure echo server (ws:// and wss://)"},
	"dial":        {dialCmd, "connect to a WebSocket server and exchange messages (like wscat)"},
	"bench":       {benchCmd, "load-test a WebSocket echo server (throughput, latency, server CPU)"},
	"conformance": {conformanceCmd, "run the Autobahn|Testsuite cases against a server or client"},
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "help" || os.Args[1] == "--help" {
		usage()
		return
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "websock: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if os.Args[1] == "serve" {
		// Browsers open wss:// over HTTP/2 only where the server
		// advertises extended CONNECT (RFC 8441), which Go's HTTP/2
		// server does when GODEBUG=http2xconnect=1 was set at start.
		if err := xconnect.Restart(); err != nil {
			fmt.Fprintln(os.Stderr, "websock: WebSockets over HTTP/2 off:", err)
		}
	}
	if err := cmd.run(os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "websock:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: websock <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-12s %s\n", n, commands[n].summary)
	}
}

// isTerminal reports whether w is a terminal, where a progress line can be
// rewritten in place with a carriage return.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
