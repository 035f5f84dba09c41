package main

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/websock/websock"
)

// TestServeWebSocketsOverHTTP2: wss:// connections of one client share a
// single HTTP/2 connection, and the log says they came over HTTP/2.
func TestServeWebSocketsOverHTTP2(t *testing.T) {
	s, logs := startTestServer(t)
	h2 := &websock.HTTP2Client{TLSConfig: &tls.Config{InsecureSkipVerify: true}}
	defer h2.CloseIdleConnections()
	ctx := context.Background()
	url := "wss://" + s.addrs["wss"].String() + "/wss"
	var conns []*websock.Conn
	for i := range 3 {
		c, resp, err := websock.Dial(ctx, url, &websock.DialOptions{HTTP2: h2})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if resp.ProtoMajor != 2 {
			t.Fatalf("connection %d over %s", i, resp.Proto)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		msg := strings.Repeat("h2 ", i+1)
		if err := c.Write(ctx, websock.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.Read(ctx); err != nil || string(got) != msg {
			t.Fatalf("echo %q, %v", got, err)
		}
	}
	local := conns[0].LocalAddr().String()
	for _, c := range conns {
		if c.LocalAddr().String() != local {
			t.Fatalf("WebSockets on different TCP connections: %s and %s", local, c.LocalAddr())
		}
		if err := c.Close(websock.StatusNormalClosure, ""); err != nil {
			t.Fatal(err)
		}
	}
	s.shutdown()
	if out := logs.String(); strings.Count(out, "proto=HTTP/2.0") != 3 || strings.Count(out, "code=1000") != 3 {
		t.Fatalf("logs lack three HTTP/2 connections closed with 1000:\n%s", out)
	}
}

// TestBrowserWebSocketOverHTTP2: Chromium loads a page over https from
// websock serve, which speaks HTTP/2, and opens new WebSocket("wss://...")
// to the same origin: the WebSocket is a stream of the page's connection
// (RFC 8441), and echoes.
func TestBrowserWebSocketOverHTTP2(t *testing.T) {
	// The page's connection must still be open when the script runs: the
	// browser opens WebSockets over HTTP/2 only on a connection it has.
	// It stays open for the idle timeout, which the handshake timeout sets.
	s, logs := startTestServer(t, func(cfg *serveConfig) { cfg.handshake = 30 * time.Second })
	ctx := newBrowser(t)
	page := "https://" + s.addrs["wss"].String() + "/"
	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatal(err)
	}
	proto, err := chromedp.Run(ctx, chromedp.Evaluate[string](`performance.getEntriesByType("navigation")[0].nextHopProtocol`))
	if err != nil || proto != "h2" {
		t.Fatalf("page loaded over %q (%v), want h2", proto, err)
	}
	const script = `new Promise((resolve) => {
		const ws = new WebSocket("wss://" + location.host + "/wss");
		ws.onopen = () => ws.send("hello over h2");
		ws.onmessage = (e) => { ws.close(1000); resolve(e.data); };
		ws.onerror = () => resolve("error");
	})`
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](script, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if got != "hello over h2" {
		t.Fatalf("browser got %q", got)
	}
	s.shutdown()
	if out := logs.String(); !strings.Contains(out, "proto=HTTP/2.0") {
		t.Fatalf("the browser's WebSocket did not come over HTTP/2:\n%s", out)
	}
}
