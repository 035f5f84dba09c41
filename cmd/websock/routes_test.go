package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/websock/websock"
)

func TestServeRefusesBadBackendFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-exec", "cat", "-proxy", "tcp://127.0.0.1:5900"}, "-exec and -proxy: choose one"},
		{[]string{"-exec", `sh -c 'unclosed`}, `-exec "sh -c 'unclosed": command line has an unclosed ' quote`},
		{[]string{"-exec", "  "}, "empty command line"},
		{[]string{"-exec-binary"}, "-exec-binary: needs -exec"},
		{[]string{"-proxy", "127.0.0.1:5900"}, "is not tcp://HOST:PORT"},
		{[]string{"-proxy", "tcp://127.0.0.1"}, "lacks a host or a port"},
		{[]string{"-proxy", "tcp://:5900"}, "lacks a host or a port"},
		{[]string{"-proxy", "tcp://host:notaport"}, "is not tcp://HOST:PORT"},
		{[]string{"-proxy", "tcp://host:99999"}, "bad port"},
		{[]string{"-proxy", "udp://host:53"}, "is not tcp://HOST:PORT"},
		{[]string{"-route", "/chat"}, "want PATH=BACKEND"},
		{[]string{"-route", "chat=echo"}, `path "chat" must start with /`},
		{[]string{"-route", "/=echo"}, "path / is where pages are served"},
		{[]string{"-route", "/a/../b=echo"}, "must be a plain clean path"},
		{[]string{"-route", "/{x}=echo"}, "must be a plain clean path"},
		{[]string{"-route", "/a=ftp:x"}, `unknown backend "ftp"`},
		{[]string{"-route", "/a=echo:x"}, "echo takes no argument"},
		{[]string{"-route", "/a=exec:"}, "empty command line"},
		{[]string{"-route", "/a=proxy:tcp://h"}, "lacks a host or a port"},
		{[]string{"-route", "/a=echo", "-route", "/a=exec:cat"}, "path /a is routed twice"},
		{[]string{"-exec-max", "0"}, "-exec-max 0: must be positive"},
		{[]string{"-exec-grace", "0s"}, "-exec-grace 0s: must be positive"},
		{[]string{"-exec-headers", "Cookie,Bad Header"}, `-exec-headers: "Bad Header" is not a header name`},
		{[]string{"-exec-protocols", "chat,a/b"}, `-exec-protocols: "a/b" is not a subprotocol name`},
	} {
		args := append([]string{"-ws", "127.0.0.1:0", "-wss", ""}, tt.args...)
		err := serveCmd(args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("serve %s: %v, want %q", strings.Join(tt.args, " "), err, tt.want)
		}
	}
	// Every mistake is reported at once: negative numbers when the
	// command line is read, the rest when the configuration is checked.
	err := serveCmd([]string{"-ws", "127.0.0.1:0", "-wss", "", "-exec-max", "-1", "-write-timeout", "-1s"})
	if err == nil || !strings.Contains(err.Error(), "-exec-max") || !strings.Contains(err.Error(), "-write-timeout") {
		t.Errorf("two negative numbers: %v", err)
	}
	err = serveCmd([]string{"-ws", "127.0.0.1:0", "-wss", "", "-route", "x=echo", "-exec-max", "0", "-exec-grace", "0s"})
	if err == nil || !strings.Contains(err.Error(), "-route") || !strings.Contains(err.Error(), "-exec-max") || !strings.Contains(err.Error(), "-exec-grace") {
		t.Errorf("three mistakes: %v", err)
	}
}

func dialPath(t *testing.T, s *server, path string, opts *websock.DialOptions) *websock.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websock.Dial(ctx, "ws://"+s.addrs["ws"].String()+path, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// readText reads one message, which must be text.
func readText(t *testing.T, c *websock.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	typ, msg, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websock.TextMessage {
		t.Fatalf("read %v message %q, want text", typ, msg)
	}
	return string(msg)
}

// readClose reads until the connection ends and returns its close status
// and reason.
func readClose(t *testing.T, c *websock.Conn) (websock.StatusCode, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		_, msg, err := c.Read(ctx)
		if err == nil {
			t.Logf("message before the close: %q", msg)
			continue
		}
		var ce *websock.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("connection ended without a close frame: %v", err)
		}
		return ce.Code, ce.Reason
	}
}

// waitFor polls cond until it holds, failing after a generous 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	giveUp := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(giveUp) {
			t.Fatalf("%s: not after 20s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
