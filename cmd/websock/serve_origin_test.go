package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/websock/websock"
)

// TestServeOrigins: -origins patterns with or without scheme and port
// admit browsers from other origins; a refusal is logged with the pattern
// that would admit it; malformed patterns stop the server at start.
func TestServeOrigins(t *testing.T) {
	logs := &watchedLog{wrote: make(chan struct{}, 1)}
	cfg := defaultServeConfig()
	cfg.wsAddr, cfg.wssAddr = "127.0.0.1:0", ""
	cfg.origins = []string{"http://127.0.0.1:8000", "localhost", "null"}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	s := newServer(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	url := "ws://" + s.addrs["ws"].String() + "/ws"
	for origin, ok := range map[string]bool{
		"http://" + s.addrs["ws"].String(): true,
		"http://127.0.0.1:8000":            true,
		"http://localhost:3000":            true,
		"null":                             true,
		"http://127.0.0.1:8001":            false,
		"https://127.0.0.1:8000":           false,
	} {
		c, _, err := websock.Dial(context.Background(), url, &websock.DialOptions{Header: http.Header{"Origin": {origin}}})
		if (err == nil) != ok {
			t.Errorf("Origin %q: %v, want admitted=%v", origin, err, ok)
		}
		if err == nil {
			c.CloseNow()
			continue
		}
		var he *websock.HandshakeError
		if !errors.As(err, &he) || he.Status != http.StatusForbidden {
			t.Errorf("Origin %q: %v, want 403", origin, err)
		}
		if want := `admit_with="-origins ` + origin + `"`; !logs.await(want, time.Minute) {
			t.Errorf("Origin %q refused; the log does not say %s:\n%s", origin, want, logs.String())
		}
	}

	code, out := runBinary(t, "serve", "-ws", "127.0.0.1:0", "-wss", "", "-origins", "http://127.0.0.1:8000/app, ok.example.com,x:y")
	if code != 1 || !strings.Contains(out, `origin pattern "http://127.0.0.1:8000/app"`) || !strings.Contains(out, `origin pattern "x:y"`) || strings.Contains(out, "ok.example.com") {
		t.Fatalf("malformed -origins: exit %d:\n%s", code, out)
	}
}

// watchedLog is a log destination that can be waited on for a line.
type watchedLog struct {
	lockedBuffer
	wrote chan struct{} // a write happened since the last look
}

func (l *watchedLog) Write(p []byte) (int, error) {
	n, err := l.lockedBuffer.Write(p)
	select {
	case l.wrote <- struct{}{}:
	default:
	}
	return n, err
}

// await reports whether s is logged within timeout.
func (l *watchedLog) await(s string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for !l.contains(s) {
		select {
		case <-l.wrote:
		case <-deadline:
			return false
		}
	}
	return true
}
