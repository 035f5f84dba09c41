//go:build unix

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/websock/websock"
)

// execServer serves command on /ws with the exec backend.
func execServer(t *testing.T, command string, change func(*serveConfig)) (*server, *lockedBuffer) {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Fatalf("exec tests run programs with sh: %v", err)
	}
	return startServe(t, func(cfg *serveConfig) {
		cfg.backends.exec = command
		if change != nil {
			change(cfg)
		}
	})
}

// processGone reports whether pid has exited (a zombie counts as gone).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	// pid (comm) state ...: the state follows the last ')'.
	s := string(stat)
	return strings.HasPrefix(s[strings.LastIndexByte(s, ')')+2:], "Z")
}

func pids(t *testing.T, line string) []int {
	t.Helper()
	var out []int
	for _, f := range strings.Fields(line) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("pid line %q: %v", line, err)
		}
		out = append(out, pid)
	}
	return out
}

func TestExecLinesBothWays(t *testing.T) {
	s, _ := execServer(t, `sh -c 'while read l; do echo "got $l"; done'`, nil)
	c := dialPath(t, s, "/ws", nil)
	ctx := context.Background()
	for _, msg := range []string{"hello", "", "héllo wörld", "a\tb"} {
		if err := c.Write(ctx, websock.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if got := readText(t, c); got != "got "+msg {
			t.Fatalf("sent %q, got %q", msg, got)
		}
	}
	// A message with newlines is several lines.
	c.Write(ctx, websock.TextMessage, []byte("one\ntwo"))
	if a, b := readText(t, c), readText(t, c); a != "got one" || b != "got two" {
		t.Fatalf("two lines came back as %q, %q", a, b)
	}
	if err := c.Close(websock.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
}

func TestExecEnvironment(t *testing.T) {
	t.Setenv("WEBSOCK_TEST_SECRET", "server-only")
	vars := []string{"REMOTE_ADDR", "REMOTE_PORT", "REQUEST_METHOD", "REQUEST_URI", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
		"SERVER_NAME", "SERVER_PORT", "HTTPS", "WEBSOCKET_PROTOCOL", "HTTP_ORIGIN", "HTTP_USER_AGENT", "HTTP_HOST",
		"HTTP_COOKIE", "HTTP_AUTHORIZATION", "HTTP_X_TENANT", "WEBSOCK_TEST_SECRET", "HTTP_ACCEPT_LANGUAGE",
		"GATEWAY_INTERFACE", "SERVER_PROTOCOL", "SERVER_SOFTWARE", "PATH"}
	var script strings.Builder
	for _, v := range vars {
		fmt.Fprintf(&script, `echo "%s=${%s-unset}"; `, v, v)
	}
	for _, tt := range []struct {
		name    string
		headers string
		path    string
		want    map[string]string
	}{
		{"defaults", "", "/ws?room=a&x=1", map[string]string{
			"REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD": "GET", "REQUEST_URI": "/ws?room=a&x=1", "SCRIPT_NAME": "/ws",
			"PATH_INFO": "", "QUERY_STRING": "room=a&x=1", "SERVER_NAME": "127.0.0.1", "HTTPS": "unset",
			"WEBSOCKET_PROTOCOL": "chat.v2", "HTTP_USER_AGENT": "websock-test",
			"HTTP_COOKIE": "unset", "HTTP_AUTHORIZATION": "unset", "HTTP_X_TENANT": "unset", "WEBSOCK_TEST_SECRET": "unset",
			"HTTP_ACCEPT_LANGUAGE": "fr, en;q=0.5", "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1",
			"SERVER_SOFTWARE": "websock", "PATH": os.Getenv("PATH"),
		}},
		{"extra headers", "Cookie, authorization,X-Tenant", "/ws", map[string]string{
			"HTTP_COOKIE": "session=1", "HTTP_AUTHORIZATION": "Bearer t0ken", "HTTP_X_TENANT": "acme", "QUERY_STRING": "",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := execServer(t, "sh -c '"+script.String()+"'", func(cfg *serveConfig) {
				cfg.backends.execHeaders = tt.headers
				cfg.backends.protocols = "chat.v2,chat.v1"
			})
			h := http.Header{"Origin": {"http://" + s.addrs["ws"].String()}, "User-Agent": {"websock-test"}, "Cookie": {"session=1"}, "Authorization": {"Bearer t0ken"}, "X-Tenant": {"acme"}, "Accept-Language": {"fr, en;q=0.5"}}
			c := dialPath(t, s, tt.path, &websock.DialOptions{Header: h, Subprotocols: []string{"chat.v1", "chat.v2"}})
			got := map[string]string{}
			for range vars {
				k, v, _ := strings.Cut(readText(t, c), "=")
				got[k] = v
			}
			for k, want := range tt.want {
				if got[k] != want {
					t.Errorf("%s=%q, want %q", k, got[k], want)
				}
			}
			_, port, _ := net.SplitHostPort(s.addrs["ws"].String())
			if got["SERVER_PORT"] != port || got["REMOTE_PORT"] == "" || got["REMOTE_PORT"] == "unset" {
				t.Errorf("SERVER_PORT=%q (listener %s), REMOTE_PORT=%q", got["SERVER_PORT"], s.addrs["ws"], got["REMOTE_PORT"])
			}
			if got["HTTP_HOST"] != s.addrs["ws"].String() || got["HTTP_ORIGIN"] != "http://"+s.addrs["ws"].String() {
				t.Errorf("HTTP_HOST=%q, HTTP_ORIGIN=%q, want the listener %s", got["HTTP_HOST"], got["HTTP_ORIGIN"], s.addrs["ws"])
			}
			if code, _ := readClose(t, c); code != websock.StatusNormalClosure {
				t.Errorf("program exited 0: close %d, want 1000", code)
			}
		})
	}
}

// TestExecEnvironmentOverTLS: HTTPS=on on the wss listener, and no
// subprotocol when the client offers none.
func TestExecEnvironmentOverTLS(t *testing.T) {
	s, _ := execServer(t, `sh -c 'echo "${HTTPS-unset}|${WEBSOCKET_PROTOCOL-unset}"'`, func(cfg *serveConfig) {
		cfg.wssAddr = "127.0.0.1:0"
		cfg.backends.protocols = "chat"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websock.Dial(ctx, "wss://"+s.addrs["wss"].String()+"/wss", &websock.DialOptions{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if got := readText(t, c); got != "on|" {
		t.Fatalf("HTTPS|WEBSOCKET_PROTOCOL = %q, want on|", got)
	}
}

// TestExecExitStatusClosesConnection: exit 0 closes with 1000 after the
// last output line (even one without newline); another status with 1011
// and the status as reason.
func TestExecExitStatusClosesConnection(t *testing.T) {
	for _, tt := range []struct {
		command string
		lines   []string
		code    websock.StatusCode
		reason  string
	}{
		{`sh -c 'echo first; printf last'`, []string{"first", "last"}, websock.StatusNormalClosure, ""},
		{`sh -c 'read l; echo "bye $l"; exit 3'`, []string{"bye x"}, websock.StatusInternalError, "exit status 3"},
		{`sh -c 'kill -KILL $$'`, nil, websock.StatusInternalError, "signal: killed"},
	} {
		t.Run(tt.command, func(t *testing.T) {
			s, logs := execServer(t, tt.command, nil)
			c := dialPath(t, s, "/ws", nil)
			c.Write(context.Background(), websock.TextMessage, []byte("x"))
			for _, want := range tt.lines {
				if got := readText(t, c); got != want {
					t.Fatalf("got %q, want %q", got, want)
				}
			}
			code, reason := readClose(t, c)
			if code != tt.code || reason != tt.reason {
				t.Fatalf("close %d %q, want %d %q", code, reason, tt.code, tt.reason)
			}
			waitFor(t, "log of the program's end", func() bool { return logs.contains("exec: program ended") })
		})
	}
}

// TestExecConnectionEndTerminatesProgram: the client leaving sends SIGTERM
// to the program's process group (its children included); a program that
// ignores SIGTERM gets SIGKILL after -exec-grace.
func TestExecConnectionEndTerminatesProgram(t *testing.T) {
	for _, tt := range []struct {
		name    string
		command string
		minTime time.Duration
	}{
		{"SIGTERM", `sh -c 'sleep 1000 & echo $$ $!; wait'`, 0},
		{"SIGKILL after the grace period", `sh -c 'trap "" TERM; sleep 1000 & echo $$ $!; while :; do wait; done'`, 500 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := execServer(t, tt.command, func(cfg *serveConfig) { cfg.backends.execGrace = 500 * time.Millisecond })
			for _, end := range []string{"close", "drop"} {
				c := dialPath(t, s, "/ws", nil)
				ps := pids(t, readText(t, c))
				start := time.Now()
				if end == "close" {
					if err := c.Close(websock.StatusNormalClosure, ""); err != nil {
						t.Fatal(err)
					}
				} else {
					c.CloseNow() // TCP gone without a closing handshake
				}
				for _, pid := range ps {
					waitFor(t, fmt.Sprintf("%s: process %d ends", end, pid), func() bool { return processGone(pid) })
				}
				if took := time.Since(start); took < tt.minTime {
					t.Fatalf("%s: processes gone after %v, before the grace period %v", end, took, tt.minTime)
				}
			}
		})
	}
}

// TestExecLeftoversKilled: what a program leaves running in its process
// group when it exits is killed (after -exec-grace if it holds stdout).
func TestExecLeftoversKilled(t *testing.T) {
	s, _ := execServer(t, `sh -c 'sleep 1000 & echo $!'`, func(cfg *serveConfig) { cfg.backends.execGrace = 300 * time.Millisecond })
	c := dialPath(t, s, "/ws", nil)
	pid := pids(t, readText(t, c))[0]
	if code, _ := readClose(t, c); code != websock.StatusNormalClosure {
		t.Fatalf("close %d, want 1000", code)
	}
	waitFor(t, "the program's leftover ends", func() bool { return processGone(pid) })
}

// TestExecLimit: beyond -exec-max running programs, connections are closed
// with 1013; a slot frees when a program ends.
func TestExecLimit(t *testing.T) {
	s, logs := execServer(t, `sh -c 'echo ready; while read l; do echo "got $l"; done'`, func(cfg *serveConfig) {
		cfg.backends.execMax = 2
		cfg.backends.routeFlags = []string{"/other=exec:cat"} // the count is shared by every exec route
	})
	first := dialPath(t, s, "/ws", nil)
	second := dialPath(t, s, "/wss", nil)
	for _, c := range []*websock.Conn{first, second} {
		if got := readText(t, c); got != "ready" {
			t.Fatalf("got %q", got)
		}
	}
	for _, path := range []string{"/ws", "/other"} {
		third := dialPath(t, s, path, nil)
		code, reason := readClose(t, third)
		if code != websock.StatusTryAgainLater || reason != "too many programs running" {
			t.Fatalf("%s beyond -exec-max: close %d %q, want 1013", path, code, reason)
		}
	}
	if !logs.contains("exec: program refused") {
		t.Error("the refusal is not logged")
	}
	first.Close(websock.StatusNormalClosure, "")
	waitFor(t, "a free slot", func() bool { return strings.Count(logs.String(), "exec: program ended") == 1 })
	c := dialPath(t, s, "/other", nil)
	c.Write(context.Background(), websock.TextMessage, []byte("again"))
	if got := readText(t, c); got != "again" {
		t.Fatalf("after a slot freed: got %q", got)
	}
}

// TestExecLongLines: an output line longer than -read-limit closes the
// connection with 1011; lines up to it are sent whole, even when they
// arrive in many writes; lines that are not UTF-8 go as binary messages.
func TestExecLongLines(t *testing.T) {
	s, _ := execServer(t, `sh -c 'head -c 1000 /dev/zero | tr "\0" a; echo; printf "\377\376\n"; head -c 1001 /dev/zero | tr "\0" b; echo'`,
		func(cfg *serveConfig) { cfg.readLimit = 1000 })
	c := dialPath(t, s, "/ws", nil)
	if got := readText(t, c); got != strings.Repeat("a", 1000) {
		t.Fatalf("line of the read limit: got %d bytes", len(got))
	}
	ctx := context.Background()
	if typ, msg, err := c.Read(ctx); err != nil || typ != websock.BinaryMessage || string(msg) != "\xff\xfe" {
		t.Fatalf("line not UTF-8: %v %q %v, want a binary message", typ, msg, err)
	}
	if code, reason := readClose(t, c); code != websock.StatusInternalError || reason != "output line longer than the read limit" {
		t.Fatalf("line over the read limit: close %d %q", code, reason)
	}
}

func TestExecBinary(t *testing.T) {
	s, _ := execServer(t, "cat", func(cfg *serveConfig) { cfg.backends.execBinary = true })
	c := dialPath(t, s, "/ws", nil)
	ctx := context.Background()
	sent := []byte("\x00\x01no newline\xff")
	if err := c.Write(ctx, websock.BinaryMessage, sent); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for len(got) < len(sent) {
		typ, msg, err := c.Read(ctx)
		if err != nil || typ != websock.BinaryMessage {
			t.Fatalf("%v %v", typ, err)
		}
		got = append(got, msg...)
	}
	if string(got) != string(sent) {
		t.Fatalf("cat sent back %q, want %q", got, sent)
	}
	c.Close(websock.StatusNormalClosure, "")
}

func TestExecStderrLogged(t *testing.T) {
	s, logs := execServer(t, `sh -c 'echo oops >&2; head -c 5000 /dev/zero | tr "\0" x >&2; echo >&2; echo done'`, nil)
	c := dialPath(t, s, "/ws", nil)
	if got := readText(t, c); got != "done" {
		t.Fatal(got)
	}
	readClose(t, c)
	waitFor(t, "stderr in the log", func() bool { return logs.contains("exec: program ended") })
	out := logs.String()
	if !strings.Contains(out, "line=oops") {
		t.Errorf("stderr line not logged:\n%s", out)
	}
	if !strings.Contains(out, "line="+strings.Repeat("x", maxStderrLine)+" cut=true") || strings.Contains(out, strings.Repeat("x", maxStderrLine+1)) {
		t.Errorf("long stderr line not cut to %d bytes", maxStderrLine)
	}
}

func TestExecProgramThatDoesNotStart(t *testing.T) {
	s, logs := execServer(t, "/nonexistent/program", nil)
	c := dialPath(t, s, "/ws", nil)
	if code, reason := readClose(t, c); code != websock.StatusInternalError || reason != "program did not start" {
		t.Fatalf("close %d %q", code, reason)
	}
	waitFor(t, "log", func() bool { return logs.contains("/nonexistent/program") })
}
