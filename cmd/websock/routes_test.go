package main

import (
	"context"
	"strings"
	"testing"

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
	// Every mistake is reported at once.
	err := serveCmd([]string{"-ws", "127.0.0.1:0", "-wss", "", "-route", "x=echo", "-exec-max", "-1", "-write-timeout", "-1s"})
	if err == nil || !strings.Contains(err.Error(), "-route") || !strings.Contains(err.Error(), "-exec-max") || !strings.Contains(err.Error(), "-write-timeout") {
		t.Errorf("three mistakes: %v", err)
	}
}

// TestServeRoutesSeveralBackends: one server, a backend per path; -route
// can replace the default on /ws; a path ending in / serves those below it
// and tells the program the rest in PATH_INFO.
func TestServeRoutesSeveralBackends(t *testing.T) {
	target := tcpPeer(t, echoPeer)
	s, _ := startServe(t, func(cfg *serveConfig) {
		cfg.backends.exec = `sh -c 'echo default'`
		cfg.backends.routeFlags = []string{
			"/chat=exec:sh -c 'while read l; do echo \"chat $l\"; done'",
			"/vnc=proxy:tcp://" + target,
			"/echo=echo",
			"/rooms/=exec:sh -c 'echo \"$SCRIPT_NAME|$PATH_INFO\"'",
			"/wss=echo",
		}
	})
	ctx := context.Background()
	roundTrip := func(path string, typ websock.MessageType, send, want string) {
		t.Helper()
		c := dialPath(t, s, path, nil)
		if err := c.Write(ctx, typ, []byte(send)); err != nil {
			t.Fatal(err)
		}
		gotTyp, got, err := c.Read(ctx)
		if err != nil || gotTyp != typ || string(got) != want {
			t.Fatalf("%s: %v %q %v, want %v %q", path, gotTyp, got, err, typ, want)
		}
		c.Close(websock.StatusNormalClosure, "")
	}
	roundTrip("/chat", websock.TextMessage, "hi", "chat hi")
	roundTrip("/vnc", websock.BinaryMessage, "\x00rfb", "\x00rfb")
	roundTrip("/echo", websock.BinaryMessage, "e", "e")
	roundTrip("/wss", websock.TextMessage, "replaced", "replaced")
	for path, want := range map[string]string{"/ws": "default", "/rooms/a/b": "/rooms|/a/b", "/rooms/": "/rooms|/"} {
		c := dialPath(t, s, path, nil)
		if got := readText(t, c); got != want {
			t.Errorf("%s: got %q, want %q", path, got, want)
		}
		c.CloseNow()
	}
	// Paths without a route are pages.
	if status, _, _ := rawGet(t, s.addrs["ws"].String(), "GET", "/nothing"); status != 404 {
		t.Errorf("unrouted path: status %d", status)
	}
}
