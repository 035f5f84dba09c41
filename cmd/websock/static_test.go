package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// staticTree makes a served directory and a secret file beside it.
func staticTree(t *testing.T) (served, secret string) {
	t.Helper()
	top := t.TempDir()
	served = filepath.Join(top, "www")
	write := func(name, content string) {
		p := filepath.Join(top, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("secret.txt", "outside")
	write("www/index.html", "<!doctype html><title>chat</title>")
	write("www/app.js", "new WebSocket('/ws')")
	write("www/style.css", "body{}")
	write("www/data.unknownext", "plain words")
	write("www/docs/index.html", "docs")
	write("www/assets/logo.txt", "logo")
	write("www/.env", "TOKEN=1")
	if err := os.Symlink(filepath.Join(top, "secret.txt"), filepath.Join(served, "link.txt")); err != nil {
		t.Fatal(err)
	}
	return served, filepath.Join(top, "secret.txt")
}

// rawGet sends a request line as written (no cleaning by a client) and
// returns the status and body.
func rawGet(t *testing.T, addr, method, target string) (int, http.Header, string) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(nc, method+" "+target+" HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

func TestStaticFiles(t *testing.T) {
	served, _ := staticTree(t)
	s, _ := startServe(t, func(cfg *serveConfig) { cfg.backends.static = served })
	addr := s.addrs["ws"].String()
	for _, tt := range []struct {
		method, target string
		status         int
		typ, body      string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", "<!doctype html><title>chat</title>"},
		{"GET", "/app.js", 200, "text/javascript; charset=utf-8", "new WebSocket('/ws')"},
		{"GET", "/style.css", 200, "text/css; charset=utf-8", "body{}"},
		{"GET", "/data.unknownext", 200, "text/plain; charset=utf-8", "plain words"},
		{"HEAD", "/app.js", 200, "text/javascript; charset=utf-8", ""},
		{"GET", "/docs/", 200, "text/html; charset=utf-8", "docs"},
		{"GET", "/assets/", 404, "", ""}, // no listing
		{"GET", "/assets/logo.txt", 200, "text/plain; charset=utf-8", "logo"},
		{"GET", "/missing", 404, "", ""},
		{"GET", "/.env", 404, "", ""},              // dotfiles
		{"GET", "/link.txt", 404, "", ""},          // a link out of the directory
		{"GET", "/../secret.txt", 404, "", ""},     // traversal, raw
		{"GET", "/%2e%2e/secret.txt", 404, "", ""}, // traversal, escaped
		{"GET", "/docs/..%2f..%2fsecret.txt", 404, "", ""},
		{"GET", "/..%5csecret.txt", 404, "", ""},
		{"POST", "/index.html", 405, "", ""},
	} {
		status, h, body := rawGet(t, addr, tt.method, tt.target)
		if status == 301 || status == 307 || status == 308 {
			// FileServer cleans paths by redirecting: follow once.
			status, h, body = rawGet(t, addr, tt.method, h.Get("Location"))
		}
		if status != tt.status {
			t.Errorf("%s %s: status %d, want %d (%q)", tt.method, tt.target, status, tt.status, body)
			continue
		}
		if strings.Contains(body, "outside") || strings.Contains(body, "TOKEN") {
			t.Errorf("%s %s: served what it must not: %q", tt.method, tt.target, body)
		}
		if tt.status != 200 {
			continue
		}
		if h.Get("Content-Type") != tt.typ || body != tt.body || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: %q %q nosniff=%q, want %q %q", tt.method, tt.target, h.Get("Content-Type"), body, h.Get("X-Content-Type-Options"), tt.typ, tt.body)
		}
	}
	// The WebSocket endpoints still answer beside the files.
	c := dialPath(t, s, "/ws", nil)
	c.CloseNow()
}

func TestStaticRefusesBadDirectory(t *testing.T) {
	_, secret := staticTree(t)
	for _, dir := range []string{secret, filepath.Join(t.TempDir(), "missing")} {
		err := serveCmd([]string{"-ws", "127.0.0.1:0", "-wss", "", "-static", dir})
		if err == nil || !strings.Contains(err.Error(), "-static") {
			t.Errorf("-static %s: %v", dir, err)
		}
	}
}

// staticEchoPage is a page that opens a WebSocket to its own origin (ws://
// on the ws port, wss:// on the wss port), sends a text and a binary
// message, closes with 4000 "bye", then asks its server for files outside
// the served directory, and reports all of it as JSON in #result.
const staticEchoPage = `<!doctype html><title>pending</title><body><script>
const r = {echoes: [], outside: []};
const secure = location.protocol === "https:";
const ws = new WebSocket((secure ? "wss://" : "ws://") + location.host + (secure ? "/wss" : "/ws"));
ws.binaryType = "arraybuffer";
ws.onopen = () => { ws.send("hello static"); ws.send(new Uint8Array([0, 1, 2, 255])); };
ws.onmessage = (e) => {
	r.echoes.push(typeof e.data === "string" ? "text:" + e.data : "binary:" + Array.from(new Uint8Array(e.data)).join(","));
	if (r.echoes.length === 2) ws.close(4000, "bye");
};
ws.onerror = () => { r.error = "error event"; };
ws.onclose = async (e) => {
	r.code = e.code; r.reason = e.reason; r.wasClean = e.wasClean;
	for (const p of ["/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/%2e%2e%2fsecret.txt", "/..%5csecret.txt", "/link.txt", "/.env"]) {
		try {
			const resp = await fetch(p, {cache: "no-store"});
			r.outside.push({path: p, status: resp.status, body: await resp.text()});
		} catch (err) {
			r.outside.push({path: p, status: 0, body: String(err)});
		}
	}
	const pre = document.createElement("pre");
	pre.id = "result";
	pre.textContent = JSON.stringify(r);
	document.body.appendChild(pre);
	document.title = "done";
};
</script>`

// TestBrowserStaticPage: Chromium loads a page that websock serve -static
// serves, over http and over https; its script echoes a text and a binary
// message through the same origin's WebSocket endpoint and closes with
// 4000 "bye", and the files outside the directory stay out of its reach.
func TestBrowserStaticPage(t *testing.T) {
	served, _ := staticTree(t)
	if err := os.WriteFile(filepath.Join(served, "index.html"), []byte(staticEchoPage), 0o644); err != nil {
		t.Fatal(err)
	}
	s, logs := startTestServer(t, func(cfg *serveConfig) {
		cfg.backends.static = served
		cfg.handshake = 30 * time.Second // a loaded machine, a browser starting
	})
	ctx := newBrowser(t)
	for _, page := range []string{"http://" + s.addrs["ws"].String() + "/", "https://" + s.addrs["wss"].String() + "/"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
			t.Fatalf("%s: %v", page, err)
		}
		raw, err := chromedp.Run(ctx, chromedp.Poll[string](`document.getElementById("result") && document.getElementById("result").textContent`,
			chromedp.WithPollingTimeout(browserTimeout)))
		if err != nil {
			t.Fatalf("%s: no result: %v\n%s", page, err, logs.String())
		}
		var got struct {
			Echoes   []string
			Error    string
			Code     int
			Reason   string
			WasClean bool
			Outside  []struct {
				Path   string
				Status int
				Body   string
			}
		}
		if err := json.Unmarshal([]byte(raw), &got); err != nil {
			t.Fatalf("%s: %v: %s", page, err, raw)
		}
		if want := []string{"text:hello static", "binary:0,1,2,255"}; !slices.Equal(got.Echoes, want) || got.Error != "" {
			t.Errorf("%s: echoes %q (error %q), want %q", page, got.Echoes, got.Error, want)
		}
		if got.Code != 4000 || got.Reason != "bye" || !got.WasClean {
			t.Errorf("%s: close %d %q wasClean=%v, want 4000 \"bye\" clean", page, got.Code, got.Reason, got.WasClean)
		}
		if len(got.Outside) != 7 {
			t.Errorf("%s: %d requests outside the directory reported, want 7: %s", page, len(got.Outside), raw)
		}
		for _, o := range got.Outside {
			if o.Status != http.StatusNotFound || strings.Contains(o.Body, "outside") || strings.Contains(o.Body, "TOKEN") {
				t.Errorf("%s: fetch(%q): %d %q, want 404 and nothing of the file", page, o.Path, o.Status, o.Body)
			}
		}
	}
	s.shutdown()
	if out := logs.String(); strings.Count(out, "code=4000") != 2 {
		t.Errorf("logs lack the two connections closed with 4000:\n%s", out)
	}
}
