//go:build unix

package main

import (
	"context"
	"testing"

	"github.com/websock/websock"
)

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
