package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/websock/websock"
)

// maxStderrLine bounds a line of a program's stderr in the log; the rest of
// a longer line is dropped.
const maxStderrLine = 1 << 10

// keptLineBuffer is the largest buffer of a partial output line kept once
// the line has been sent.
const keptLineBuffer = 64 << 10

// passedHeaders are the request headers every program gets as HTTP_*: what
// identifies the client and its page, nothing that authenticates it
// (-exec-headers adds Cookie or Authorization when a program needs them).
var passedHeaders = []string{"Origin", "User-Agent", "Host", "Accept-Language"}

// passedEnv are the server's environment variables a program inherits; the
// rest (credentials, tokens) stays with the server.
var passedEnv = []string{"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"}

var errExecBusy = errors.New("exec: too many programs running")

// execBackend runs a program for each connection (websocketd): in line
// mode, messages become lines on its stdin and lines of its stdout text
// messages; in binary mode, bytes go both ways as they are, stdout as
// binary messages. Its stderr goes to the log. The program ending closes
// the connection (1000 if it exited with 0, 1011 with the exit status as
// reason otherwise); the connection ending sends the program's process
// group SIGTERM, then SIGKILL after the grace period.
type execBackend struct {
	route     string // the route's path, SCRIPT_NAME
	argv      []string
	binary    bool
	readLimit int64 // longest output line, in bytes
	// writeTimeout bounds each write to the program's stdin (0: none).
	writeTimeout time.Duration
	headers      []string
	protocols    []string
	grace        time.Duration
	slots        chan struct{} // one per running program, shared by every exec route
	log          *slog.Logger
}

func (b *execBackend) name() string {
	if b.binary {
		return "exec-binary"
	}
	return "exec"
}

func (b *execBackend) subprotocols() []string { return b.protocols }

func (b *execBackend) open(c *websock.Conn, r *http.Request) func(context.Context) error {
	env := b.environ(c, r)
	remote := r.RemoteAddr
	return func(ctx context.Context) error { return b.run(ctx, c, env, remote) }
}

// environ is the program's environment: a few of the server's variables
// and the request's details, CGI-style (RFC 3875 §4.1).
func (b *execBackend) environ(c *websock.Conn, r *http.Request) []string {
	var env []string
	for _, k := range passedEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	set := func(k, v string) {
		if !strings.ContainsRune(v, 0) {
			env = append(env, k+"="+v)
		}
	}
	set("GATEWAY_INTERFACE", "CGI/1.1")
	set("SERVER_SOFTWARE", "websock")
	set("SERVER_PROTOCOL", r.Proto)
	set("REQUEST_METHOD", r.Method)
	set("REQUEST_URI", r.RequestURI)
	set("SCRIPT_NAME", strings.TrimSuffix(b.route, "/"))
	set("PATH_INFO", pathInfo(b.route, r.URL.Path))
	set("QUERY_STRING", r.URL.RawQuery)
	host, port, err := net.SplitHostPort(r.RemoteAddr)
	if err == nil {
		set("REMOTE_ADDR", host)
		set("REMOTE_PORT", port)
	}
	name := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		name = h
	}
	set("SERVER_NAME", strings.Trim(name, "[]"))
	if _, port, err := net.SplitHostPort(c.LocalAddr().String()); err == nil {
		set("SERVER_PORT", port)
	}
	if r.TLS != nil {
		set("HTTPS", "on")
	}
	set("WEBSOCKET_PROTOCOL", c.Subprotocol())
	for _, h := range append(passedHeaders, b.headers...) {
		var v string
		if http.CanonicalHeaderKey(h) == "Host" {
			v = r.Host
		} else if vs := r.Header.Values(h); len(vs) > 0 {
			v = strings.Join(vs, ", ")
		} else {
			continue
		}
		set("HTTP_"+strings.ToUpper(strings.ReplaceAll(h, "-", "_")), v)
	}
	return env
}

// pathInfo is what follows the route's path in the request's path: empty
// for an exact route, "/rest" below a route ending in /.
func pathInfo(route, path string) string {
	if !strings.HasSuffix(route, "/") {
		return ""
	}
	return "/" + strings.TrimPrefix(path, route)
}

// run runs the program for connection c until either ends.
func (b *execBackend) run(ctx context.Context, c *websock.Conn, env []string, remote string) error {
	select {
	case b.slots <- struct{}{}:
		defer func() { <-b.slots }()
	default:
		b.log.Warn("exec: program refused", "remote", remote, "running", cap(b.slots))
		c.Close(websock.StatusTryAgainLater, "too many programs running")
		return errExecBusy
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.argv[0], b.argv[1:]...)
	cmd.Env = env
	out := &messageSender{ctx: ctx, c: c, binary: b.binary, limit: b.readLimit, fail: cancel}
	cmd.Stdout = out
	stderr := &stderrLog{log: b.log, remote: remote}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		c.Close(websock.StatusInternalError, "program did not start")
		return fmt.Errorf("exec: %w", err)
	}
	inProcessGroup(cmd)
	cmd.WaitDelay = b.grace
	if err := cmd.Start(); err != nil {
		b.log.Error("exec: program did not start", "remote", remote, "err", err)
		c.Close(websock.StatusInternalError, "program did not start")
		return fmt.Errorf("exec: %w", err)
	}
	pid := cmd.Process.Pid
	stderr.pid.Store(int64(pid))
	inDone := make(chan error, 1)
	var connEnded atomic.Bool
	go func() {
		err := b.input(ctx, c, stdin)
		if ctx.Err() == nil { // not stopped by a failed send
			connEnded.Store(true)
		}
		cancel() // the connection ended: so does the program
		inDone <- err
	}()
	waitErr := cmd.Wait()
	killProcessGroup(pid) // what the program left running
	stderr.flush()
	b.log.Info("exec: program ended", "remote", remote, "pid", pid, "status", programEnd(waitErr))
	switch {
	case connEnded.Load():
		// The connection ended first (closed, dropped, shut down), and
		// the program was ended for it.
		return <-inDone
	case errors.Is(out.err, errLineTooLong):
		return b.closeWith(c, inDone, websock.StatusInternalError, "output line longer than the read limit")
	case out.err != nil:
		// Sending failed (a client that does not read, say): the
		// connection has failed.
		c.CloseNow()
		<-inDone
		return out.err
	}
	out.flush()
	if waitErr != nil && !errors.Is(waitErr, exec.ErrWaitDelay) {
		return b.closeWith(c, inDone, websock.StatusInternalError, programEnd(waitErr))
	}
	return b.closeWith(c, inDone, websock.StatusNormalClosure, "")
}

// closeWith closes c with code and reason once the program has ended, and
// waits for the reading of c to end.
func (b *execBackend) closeWith(c *websock.Conn, inDone <-chan error, code websock.StatusCode, reason string) error {
	c.Close(code, reason)
	<-inDone
	return &websock.CloseError{Code: code, Reason: reason}
}

// programEnd describes how a program ended: "exit status 0", "exit status
// 3", "signal: terminated".
func programEnd(err error) string {
	var ee *exec.ExitError
	switch {
	case err == nil, errors.Is(err, exec.ErrWaitDelay):
		return "exit status 0"
	case errors.As(err, &ee):
		return ee.ProcessState.String()
	}
	return err.Error()
}

// input writes every message of c to the program's stdin (a newline after
// each in line mode) until c ends, which it returns. A program that does not
// read holds the message being written, and through it the connection: the
// client is slowed by TCP, nothing is buffered here. A program that takes
// nothing for writeTimeout while a message waits is treated as a peer that
// does not read: the connection is closed with 1011. Once the program has
// closed its stdin, messages are read and dropped.
func (b *execBackend) input(ctx context.Context, c *websock.Conn, stdin io.WriteCloser) error {
	defer stdin.Close()
	w := &timedWriter{w: stdin, timeout: b.writeTimeout}
	for {
		if err := copyMessage(ctx, c, w); err != nil {
			return err
		}
		if w.err == nil && !b.binary {
			w.Write([]byte{'\n'})
		}
		switch {
		case errors.Is(w.err, os.ErrDeadlineExceeded):
			c.Close(websock.StatusInternalError, "program not reading its input")
			return fmt.Errorf("exec: program took no input for %v: %w", b.writeTimeout, w.err)
		case w.err != nil:
			// The program closed its stdin: drop what comes.
			stdin.Close()
			w.w, w.err = io.Discard, nil
		}
	}
}

var errLineTooLong = errors.New("exec: output line longer than the read limit")

// messageSender sends what the program writes to its stdout: a text
// message a line (without its newline; a line that is not UTF-8 goes as a
// binary message), or in binary mode a binary message a write. Each send
// waits for the connection, so a program that prints faster than the client
// reads blocks on its pipe. A partial line grows as its bytes arrive, up to
// limit; a longer line fails the sender.
type messageSender struct {
	ctx    context.Context
	c      *websock.Conn
	binary bool
	limit  int64
	line   []byte
	err    error
	fail   func() // ends the program once sending has failed
}

func (s *messageSender) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.binary {
		if err := s.c.Write(s.ctx, websock.BinaryMessage, p); err != nil {
			return 0, s.failWith(err)
		}
		return len(p), nil
	}
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if int64(len(s.line)+len(chunk)) > s.limit {
			return 0, s.failWith(errLineTooLong)
		}
		if i < 0 {
			s.line = append(s.line, chunk...)
			break
		}
		p = p[i+1:]
		msg := chunk
		if len(s.line) > 0 {
			s.line = append(s.line, chunk...)
			msg = s.line
		}
		if err := s.sendLine(msg); err != nil {
			return 0, s.failWith(err)
		}
	}
	return n, nil
}

// ReadFrom reads the program's stdout until its end (os/exec copies
// through it) with a buffer of its own, smaller than io.Copy's 32 KiB: an
// idle program's connection holds it while the read waits.
func (s *messageSender) ReadFrom(r io.Reader) (int64, error) {
	size := 4 << 10
	if s.binary {
		size = proxyReadBuffer // the size of the messages sent
	}
	return readInto(s, r, make([]byte, size))
}

// sendLine sends one line and forgets the partial line buffer.
func (s *messageSender) sendLine(line []byte) error {
	typ := websock.TextMessage
	if !utf8.Valid(line) {
		typ = websock.BinaryMessage
	}
	err := s.c.Write(s.ctx, typ, line)
	if cap(s.line) > keptLineBuffer {
		s.line = nil
	} else {
		s.line = s.line[:0]
	}
	return err
}

// flush sends a last line that had no newline.
func (s *messageSender) flush() {
	if len(s.line) > 0 {
		if err := s.sendLine(s.line); err != nil {
			s.err = err
		}
	}
}

func (s *messageSender) failWith(err error) error {
	s.err = err
	s.line = nil
	s.fail()
	return err
}

// stderrLog logs a program's stderr a line at a time, each cut to
// maxStderrLine bytes.
type stderrLog struct {
	log     *slog.Logger
	remote  string
	pid     atomic.Int64 // set once the program has started
	line    []byte
	dropped bool
}

func (l *stderrLog) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk, p = p[:i], p[i+1:]
		} else {
			p = nil
		}
		room := maxStderrLine - len(l.line)
		if len(chunk) > room {
			chunk, l.dropped = chunk[:room], true
		}
		l.line = append(l.line, chunk...)
		if i >= 0 {
			l.flush()
		}
	}
	return n, nil
}

// ReadFrom reads the program's stderr with a buffer of a line's size.
func (l *stderrLog) ReadFrom(r io.Reader) (int64, error) {
	return readInto(l, r, make([]byte, maxStderrLine))
}

// readInto copies r to w through buf until r ends (nil) or fails.
func readInto(w io.Writer, r io.Reader, buf []byte) (int64, error) {
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			total += int64(n)
			if _, werr := w.Write(buf[:n]); werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// flush logs the line being collected, if any.
func (l *stderrLog) flush() {
	if len(l.line) == 0 && !l.dropped {
		return
	}
	attrs := []any{"remote", l.remote, "pid", l.pid.Load(), "line", strings.ToValidUTF8(string(l.line), "\uFFFD")}
	if l.dropped {
		attrs = append(attrs, "cut", true)
	}
	l.log.Warn("exec: stderr", attrs...)
	l.line, l.dropped = l.line[:0], false
}
