// Command websock is a secure WebSocket server and toolbox.
//
//	websock serve        echo server on ws://127.0.0.1:8888/ws and wss://127.0.0.1:8889/wss
//	websock dial URL     interactive client: stdin lines out, messages in
//	websock conformance  the Autobahn|Testsuite cases against a server or client
//	websock bench URL    load generator: messages/s, latency, server CPU per message
//	websock version      version of websock and of Go it was built with
//
// Run "websock <command> -h" for the flags of each command. Flags may come
// before or after arguments; "--" ends them.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"

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
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		// Browsers open wss:// over HTTP/2 only where the server
		// advertises extended CONNECT (RFC 8441), which Go's HTTP/2
		// server does when GODEBUG=http2xconnect=1 was set at start.
		if err := xconnect.Restart(); err != nil {
			fmt.Fprintln(os.Stderr, "websock: WebSockets over HTTP/2 off:", err)
		}
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args (without the program name) and returns
// the exit status: 0 on success, 1 when the command failed, 2 when the
// command line makes no sense. Errors are printed once, on errOut.
func run(args []string, out, errOut io.Writer) int {
	if len(args) == 0 {
		usage(errOut)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(out)
		return 0
	case "version", "-version", "--version":
		fmt.Fprintln(out, version())
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(errOut, "websock: unknown command %q\n\n", args[0])
		usage(errOut)
		return 2
	}
	return exitStatus(cmd.run(args[1:]), errOut)
}

// exitStatus reports err on errOut, unless it was reported already, and
// returns the exit status it calls for.
func exitStatus(err error, errOut io.Writer) int {
	var bad usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &bad):
		return 2 // reported, with a hint, by badUsage or the flag package
	}
	// The library's errors start with its name, which is the command's.
	msg := withHint(err).Error()
	if !strings.HasPrefix(msg, "websock: ") {
		msg = "websock: " + msg
	}
	fmt.Fprintln(errOut, msg)
	return 1
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: websock <command> [flags] [arguments]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "  %-12s %s\n\nFlags may come before or after arguments; \"--\" ends them.\nRun \"websock <command> -h\" for the flags of each command.\n", "version", "print the version of websock and of Go it was built with")
}

// version describes the build: the module's version (or "(devel)" for a
// build from a clone), the VCS revision it was built from, and Go's
// version and platform.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "websock (unknown version) " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	}
	return buildVersion(info)
}

// buildVersion is version for the build info of a binary.
func buildVersion(info *debug.BuildInfo) string {
	v := "websock " + info.Main.Version
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		v += " revision " + rev
		if t := settings["vcs.time"]; t != "" {
			v += " (" + t + ")"
		}
		if settings["vcs.modified"] == "true" {
			v += " with local changes"
		}
	}
	return v + " " + info.GoVersion + " " + runtime.GOOS + "/" + runtime.GOARCH
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
