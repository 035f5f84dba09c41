package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/websock/websock"
)

// TestServeOrigins: -origins patterns with or without scheme and port
// admit browsers from other origins; a refusal is logged with the pattern
// that would admit it; malformed patterns stop the server at start.
func TestServeOrigins(t *testing.T) {
	url, logs := startOriginServer(t, []string{"http://127.0.0.1:8000", "localhost", "null"})
	for origin, ok := range map[string]bool{
		"http://" + strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/ws"): true,
		"http://127.0.0.1:8000":  true,
		"http://localhost:3000":  true,
		"null":                   true,
		"http://127.0.0.1:8001":  false,
		"https://127.0.0.1:8000": false,
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

// startOriginServer starts a ws:// server admitting origins and returns
// its URL and its log.
func startOriginServer(t *testing.T, origins []string) (string, *watchedLog) {
	t.Helper()
	logs := &watchedLog{wrote: make(chan struct{}, 1)}
	cfg := defaultServeConfig()
	cfg.wsAddr, cfg.wssAddr = "127.0.0.1:0", ""
	cfg.origins = origins
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	s := newServer(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return "ws://" + s.addrs["ws"].String() + "/ws", logs
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

// TestServeOriginsInChromium: the Origin Chromium sends is admitted or
// refused as -origins says: a page from another port of the same host is
// refused by default and admitted by its pattern, with or without scheme
// and port; a file:// page (Origin: null) only by the pattern "null".
func TestServeOriginsInChromium(t *testing.T) {
	ctx := newBrowser(t)
	pages := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(originPage(r.URL.Query().Get("ws"))))
	}))
	defer pages.Close()
	pageOrigin := pages.URL // http://127.0.0.1:port
	file := filepath.Join(t.TempDir(), "page.html")
	for _, tc := range []struct {
		origins []string
		file    bool
		want    string
	}{
		{nil, false, "ws refused"},
		{[]string{pageOrigin}, false, "ws open"},
		{[]string{"127.0.0.1"}, false, "ws open"},
		{[]string{"https://127.0.0.1"}, false, "ws refused"},
		{[]string{"*"}, true, "ws refused"},
		{[]string{"null"}, true, "ws open"},
	} {
		url, logs := startOriginServer(t, tc.origins)
		page := pages.URL + "/?ws=" + url
		if tc.file {
			if err := os.WriteFile(file, []byte(originPage(url)), 0o600); err != nil {
				t.Fatal(err)
			}
			page = "file://" + file
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
			t.Fatal(err)
		}
		title, err := chromedp.Run(ctx, chromedp.Poll[string](`document.title.startsWith("ws ") && document.title`))
		if err != nil {
			t.Fatalf("-origins %q, page %s: %v", tc.origins, page, err)
		}
		if title != tc.want {
			t.Errorf("-origins %q, page %s: %q, want %q\n%s", tc.origins, page, title, tc.want, logs.String())
		}
		if tc.want == "ws refused" && !logs.await("admit_with=", time.Minute) {
			t.Errorf("-origins %q, page %s: refusal logged without the pattern that admits it:\n%s", tc.origins, page, logs.String())
		}
	}
}

// originPage is a page that opens a WebSocket to url and says in its title
// whether it opened.
func originPage(url string) string {
	return `<!doctype html><title>pending</title><script>
const ws = new WebSocket(` + strconv.Quote(url) + `);
ws.onopen = () => { document.title = "ws open"; ws.close(); };
ws.onerror = () => { document.title = "ws refused"; };
</script>`
}
