package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"image"
	"image/png"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/websock/websock"
)

// startConsoleServer starts websock serve's server with its defaults on
// 127.0.0.1:0 (both listeners): a browser on a loaded machine gets the
// handshake timeouts a real one would.
func startConsoleServer(t *testing.T) (*server, *lockedBuffer) {
	t.Helper()
	var logs lockedBuffer
	cfg := defaultServeConfig()
	cfg.wsAddr, cfg.wssAddr = "127.0.0.1:0", "127.0.0.1:0"
	s := newServer(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, &logs
}

// pageURL is the console's address on the listener named scheme ("ws" or
// "wss").
func pageURL(s *server, scheme string) string {
	if scheme == "wss" {
		return "https://" + s.addrs["wss"].String() + "/"
	}
	return "http://" + s.addrs["ws"].String() + "/"
}

// TestConsolePage: GET / serves the page on both listeners with its
// security headers; other paths are 404 and other methods 405.
func TestConsolePage(t *testing.T) {
	s, _ := startConsoleServer(t)
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	defer client.CloseIdleConnections()
	do := func(method, url string, header ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	if len(consolePage) > 16<<10 {
		t.Errorf("the page is %d bytes, want at most 16 KiB", len(consolePage))
	}
	for _, scheme := range []string{"ws", "wss"} {
		root := pageURL(s, scheme)
		resp, body := do("GET", root)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, consolePage) {
			t.Fatalf("GET %s: %d, %d bytes, want 200 and the page (%d bytes)", root, resp.StatusCode, len(body), len(consolePage))
		}
		for name, want := range map[string]string{
			"Content-Type":            "text/html; charset=utf-8",
			"Content-Security-Policy": consolePolicy,
			"X-Content-Type-Options":  "nosniff",
			"Content-Length":          "",
		} {
			if got := resp.Header.Get(name); got == "" || want != "" && got != want {
				t.Errorf("GET %s: %s %q, want %q", root, name, got, want)
			}
		}
		if resp, body := do("HEAD", root); resp.StatusCode != http.StatusOK || len(body) != 0 {
			t.Errorf("HEAD %s: %d with %d bytes", root, resp.StatusCode, len(body))
		}
		if resp, _ := do("GET", root, "If-None-Match", consoleETag); resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", root, resp.StatusCode)
		}
		if resp, _ := do("POST", root); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("POST %s: %d (Allow %q), want 405", root, resp.StatusCode, resp.Header.Get("Allow"))
		}
		for _, path := range []string{"index.html", "console/index.html", "favicon.ico", "ws/x"} {
			if resp, _ := do("GET", root+path); resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s%s: %d, want 404", root, path, resp.StatusCode)
			}
		}
	}
}

// TestConsolePolicy: the policy allows exactly the page's inline style and
// script, by hash, and WebSocket connections; nothing else.
func TestConsolePolicy(t *testing.T) {
	for _, want := range []string{"default-src 'none'", "connect-src ws: wss:", "frame-ancestors 'none'"} {
		if !strings.Contains(consolePolicy, want) {
			t.Errorf("policy %q lacks %q", consolePolicy, want)
		}
	}
	if n := strings.Count(consolePolicy, "'sha256-"); n != 2 {
		t.Errorf("policy %q has %d hashes, want 2 (one style, one script)", consolePolicy, n)
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "http:", "https:", "*"} {
		if strings.Contains(consolePolicy, bad) {
			t.Errorf("policy %q allows %q", consolePolicy, bad)
		}
	}
	page := []byte("<p><script>a()</script><style>p{}</style><script>b()</script><script>unclosed")
	hashes := inlineHashes(page, "script")
	if n := strings.Count(hashes, "'sha256-"); n != 2 || hashes == inlineHashes([]byte("<script>a()</script>"), "script") {
		t.Errorf("two scripts and an unclosed one: %q", hashes)
	}
	if got := inlineHashes(page, "template"); got != "'none'" {
		t.Errorf("no element: %q, want 'none'", got)
	}
	// The value browsers compute for <script>alert(1)</script> (CSP level 3 §8.4).
	if got := inlineHashes([]byte("<script>alert(1)</script>"), "script"); got != "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='" {
		t.Errorf("hash of alert(1): %s", got)
	}
}

// consoleDriver drives the console page in a browser tab.
type consoleDriver struct {
	t   *testing.T
	ctx context.Context
}

func (d consoleDriver) do(actions ...chromedp.Action[chromedp.Void]) {
	d.t.Helper()
	if err := chromedp.Do(d.ctx, actions...); err != nil {
		d.t.Fatal(err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](d consoleDriver, js string) T {
	d.t.Helper()
	v, err := chromedp.Run(d.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		d.t.Fatalf("%s: %v", js, err)
	}
	return v
}

// waitFor waits until a JavaScript expression is true in the page.
func (d consoleDriver) waitFor(js string) {
	d.t.Helper()
	// Give up before the browser's context ends, so that the status can be
	// read and reported.
	deadline, _ := d.ctx.Deadline()
	timeout := time.Until(deadline) * 9 / 10
	if _, err := chromedp.Run(d.ctx, chromedp.Poll[bool]("!!("+js+")", chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
		d.t.Fatalf("waiting for %s: %v (status: %q)", js, err, d.text("#status"))
	}
}

func (d consoleDriver) text(sel string) string {
	d.t.Helper()
	s, err := chromedp.Run(d.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		d.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// open loads the page from url and connects with its form, as a user
// would: the URL field keeps the address the page derived from its own
// location unless target is set.
func (d consoleDriver) open(url, target, protocols string) {
	d.t.Helper()
	d.do(chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#connect")))
	if target != "" {
		d.do(chromedp.SetValue(chromedp.CSS("#url"), target))
	}
	if protocols != "" {
		d.do(chromedp.SendKeys(chromedp.CSS("#protocols"), protocols))
	}
	d.do(chromedp.Click(chromedp.CSS("#connect")))
	d.waitFor(`websockConsole.socket && websockConsole.socket.readyState !== WebSocket.CONNECTING`)
	if got := d.text("#status"); !strings.HasPrefix(got, "Connected to ") {
		d.t.Fatalf("status %q after connecting", got)
	}
}

// receivedCount is how many messages the page has received.
const receivedCount = `websockConsole.entries.filter(e => e.dir === "in").length`

// lastReceived is the data of the last message received: a string, or the
// bytes of a binary message in base64.
const lastReceived = `(() => {
	const d = websockConsole.entries.filter(e => e.dir === "in").at(-1).data;
	if (typeof d === "string") return d;
	const b = new Uint8Array(d);
	let s = "";
	for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
	return btoa(s);
})()`

// send sends a message with the send form (kind: "text", "hex" or "file";
// value: the text, the hex digits or the file's path) and returns the
// echo's data as lastReceived has it and the log line of the echo.
func (d consoleDriver) send(kind, value string, typed bool) (string, string) {
	d.t.Helper()
	before := eval[int](d, receivedCount)
	d.do(chromedp.Click(chromedp.CSS("#kind-" + kind)))
	switch {
	case kind == "file":
		d.do(chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{value}))
	case typed:
		// Clear cannot empty a textarea whose value was typed.
		d.do(chromedp.Evaluate[chromedp.Void](`document.getElementById("message").value = ""`), chromedp.SendKeys(chromedp.CSS("#message"), value))
	default:
		d.do(chromedp.SetValue(chromedp.CSS("#message"), value))
	}
	d.do(chromedp.Click(chromedp.CSS("#send")))
	d.waitFor(receivedCount + " > " + strconv.Itoa(before) + " || websockConsole.closed")
	if st := d.text("#status"); strings.HasPrefix(st, "Closed") {
		d.t.Fatalf("the connection closed instead of echoing: %s", st)
	}
	return eval[string](d, lastReceived), d.text("#log li.in .meta")
}

// closeEvent is the page's record of the close event.
type closeEvent struct {
	Code     int    `json:"code"`
	Reason   string `json:"reason"`
	WasClean bool   `json:"wasClean"`
}

// TestConsoleInBrowser drives the console in headless Chromium over ws and
// over wss: it connects to the server's own endpoint, sends ASCII,
// multi-byte UTF-8, hex, a 1 MiB text and a 1 MiB file, gets identical
// echoes, sees permessage-deflate negotiated, measures the round trip and
// closes with 4000 "bye", which comes back as it was sent.
func TestConsoleInBrowser(t *testing.T) {
	for _, scheme := range []string{"ws", "wss"} {
		t.Run(scheme, func(t *testing.T) {
			s, logs := startConsoleServer(t)
			d := consoleDriver{t, newBrowser(t)}
			d.open(pageURL(s, scheme), "", "")
			wantURL := scheme + "://" + s.addrs[scheme].String() + "/" + scheme
			if got := eval[string](d, `document.getElementById("url").value`); got != wantURL {
				t.Fatalf("default URL %q, want %q", got, wantURL)
			}
			ext := d.text("#extensions")
			if !strings.HasPrefix(ext, "permessage-deflate") {
				t.Fatalf("extensions shown: %q, want permessage-deflate", ext)
			}
			if logged := regexp.MustCompile(`msg=open .* extensions="([^"]*)"`).FindStringSubmatch(logs.String()); logged == nil || logged[1] != ext {
				t.Fatalf("the page shows extensions %q, the server logged:\n%s", ext, logs)
			}
			if p := d.text("#protocol"); p != "none" {
				t.Fatalf("subprotocol shown: %q, want none", p)
			}

			for _, msg := range []string{"hello, websock", "héllo wörld ✓ 𝄞"} {
				echo, line := d.send("text", msg, true)
				if echo != msg {
					t.Fatalf("sent %q, echo %q", msg, echo)
				}
				if want := "received text, " + strconv.Itoa(len(msg)) + " bytes"; !strings.Contains(line, want) {
					t.Fatalf("log line %q lacks %q", line, want)
				}
				if !regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d\d\d `).MatchString(line) {
					t.Fatalf("log line %q has no timestamp", line)
				}
			}

			big := oneMiBText()
			if echo, line := d.send("text", big, false); echo != big || !strings.Contains(line, "text, 1048576 bytes") {
				t.Fatalf("1 MiB text: echo of %d bytes (equal: %v), log %q", len(echo), echo == big, line)
			}

			if echo, line := d.send("hex", "de ad BE EF 00 ff 7f 80", false); echo != base64.StdEncoding.EncodeToString([]byte{0xde, 0xad, 0xbe, 0xef, 0, 0xff, 0x7f, 0x80}) ||
				!strings.Contains(line, "binary, 8 bytes") {
				t.Fatalf("hex: echo %q, log %q", echo, line)
			}

			file := filepath.Join(t.TempDir(), "random.bin")
			data := make([]byte, 1<<20)
			rand.NewChaCha8([32]byte{1}).Read(data)
			if err := os.WriteFile(file, data, 0o600); err != nil {
				t.Fatal(err)
			}
			echo, line := d.send("file", file, false)
			if got, err := base64.StdEncoding.DecodeString(echo); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("1 MiB file: echo of %d bytes, want the file's %d (%v)", len(got), len(data), err)
			}
			if !strings.Contains(line, "binary, 1048576 bytes") {
				t.Fatalf("1 MiB file: log %q", line)
			}

			d.do(chromedp.Click(chromedp.CSS("#probe")))
			d.waitFor(`websockConsole.rtts.length === 1`)
			if rtt := d.text("#latency"); !regexp.MustCompile(`^\d+\.\d\d ms \(min `).MatchString(rtt) {
				t.Fatalf("round trip shown: %q", rtt)
			}

			d.do(chromedp.SetValue(chromedp.CSS("#code"), "4000"), chromedp.SendKeys(chromedp.CSS("#reason"), "bye"), chromedp.Click(chromedp.CSS("#close")))
			d.waitFor(`websockConsole.closed !== null`)
			got := eval[closeEvent](d, `websockConsole.closed`)
			if got != (closeEvent{4000, "bye", true}) {
				t.Fatalf("close event %+v, want code 4000, reason bye, clean", got)
			}
			if st := d.text("#status"); st != "Closed: code 4000, reason “bye”, clean." {
				t.Fatalf("status after close: %q", st)
			}
			if !eval[bool](d, `document.getElementById("send").disabled && !document.getElementById("connect").disabled`) {
				t.Fatal("after the close, Send is enabled or Connect disabled")
			}
		})
	}
}

// oneMiBText is 1 MiB of random UTF-8 text with one-, two-, three- and
// four-byte characters. Random, because websock serve refuses (1009) a
// message that inflates more than 100 times, which 1 MiB of one repeated
// phrase does.
func oneMiBText() string {
	alphabet := []rune("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 éöüß ✓€中 𝄞😀")
	rng := rand.New(rand.NewChaCha8([32]byte{2}))
	var b strings.Builder
	for b.Len() < 1<<20-4 {
		b.WriteRune(alphabet[rng.IntN(len(alphabet))])
	}
	b.WriteString(strings.Repeat("x", 1<<20-b.Len()))
	return b.String()
}

// TestConsoleSubprotocolAndErrors: the page shows the subprotocol a server
// chose, refuses bad input and bad close codes with a visible error while
// staying connected, and reports a connection that fails.
func TestConsoleSubprotocolAndErrors(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/", consoleHandler())
	mux.HandleFunc("/chat", func(w http.ResponseWriter, r *http.Request) {
		c, err := websock.Accept(w, r, &websock.AcceptOptions{Subprotocols: []string{"v2.chat", "v1.chat"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil || c.Write(r.Context(), typ, msg) != nil {
				return
			}
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http")

	d := consoleDriver{t, newBrowser(t)}
	d.open(srv.URL, wsURL+"/chat", "v1.chat, v2.chat")
	if p := d.text("#protocol"); p != "v2.chat" {
		t.Fatalf("subprotocol shown: %q, want v2.chat", p)
	}
	if ext := d.text("#extensions"); ext != "none" {
		t.Fatalf("extensions shown: %q, want none", ext)
	}

	sent := `websockConsole.entries.filter(e => e.dir === "out").length`
	d.do(chromedp.Click(chromedp.CSS("#kind-hex")), chromedp.SetValue(chromedp.CSS("#message"), "ab cd zz"), chromedp.Click(chromedp.CSS("#send")))
	d.waitFor(`document.getElementById("status").className === "error"`)
	if st := d.text("#status"); !strings.Contains(st, "“z” is not a hex digit") || eval[int](d, sent) != 0 {
		t.Fatalf("bad hex: status %q, %d messages sent", st, eval[int](d, sent))
	}
	d.do(chromedp.SetValue(chromedp.CSS("#message"), "abc"), chromedp.Click(chromedp.CSS("#send")))
	d.waitFor(`document.getElementById("status").textContent.includes("odd number")`)

	d.do(chromedp.Click(chromedp.CSS("#kind-file")), chromedp.Click(chromedp.CSS("#send")))
	d.waitFor(`document.getElementById("status").textContent.includes("choose a file")`)
	// A message that goes out clears the error.
	if echo, _ := d.send("text", "fine", true); echo != "fine" || eval[string](d, `document.getElementById("status").className`) != "open" {
		t.Fatalf("after an error, echo %q and status %q", echo, d.text("#status"))
	}

	// The log keeps the last 50 entries: 30 probes and their echoes.
	d.do(chromedp.Evaluate[chromedp.Void](`for (let i = 0; i < 30; i++) document.getElementById("probe").click()`))
	d.waitFor(`websockConsole.rtts.length === 30`)
	if n, li := eval[int](d, `websockConsole.entries.length`), eval[int](d, `document.querySelectorAll("#log li").length`); n != 50 || li != 50 {
		t.Fatalf("after 60 more entries the log keeps %d entries and %d lines, want 50", n, li)
	}
	if first := eval[string](d, `websockConsole.entries[0].data`); !strings.HasPrefix(first, "websock console probe ") {
		t.Fatalf("oldest entry kept: %q, want a probe", first)
	}

	// Browsers may send only 1000 and 3000–4999, and reasons up to 123 bytes.
	for _, tc := range []struct{ code, reason string }{{"1001", "going"}, {"4000", strings.Repeat("é", 62)}} {
		d.do(chromedp.SetValue(chromedp.CSS("#code"), tc.code), chromedp.SetValue(chromedp.CSS("#reason"), tc.reason), chromedp.Click(chromedp.CSS("#close")))
		d.waitFor(`document.getElementById("status").textContent.startsWith("Cannot close")`)
		if !eval[bool](d, `websockConsole.socket.readyState === WebSocket.OPEN`) {
			t.Fatalf("close %s with a %d-byte reason: the connection did not stay open", tc.code, len(tc.reason))
		}
		d.do(chromedp.Evaluate[chromedp.Void](`document.getElementById("status").textContent = ""`))
	}
	// The longest reason a close frame holds goes through.
	longest := strings.Repeat("✓", 41)
	d.do(chromedp.SetValue(chromedp.CSS("#code"), "4999"), chromedp.SetValue(chromedp.CSS("#reason"), longest), chromedp.Click(chromedp.CSS("#close")))
	d.waitFor(`websockConsole.closed !== null`)
	if got := eval[closeEvent](d, `websockConsole.closed`); got != (closeEvent{4999, longest, true}) {
		t.Fatalf("close event %+v, want 4999 with the 123-byte reason, clean", got)
	}

	// Nothing listens on a closed listener's port.
	ln := httptest.NewServer(http.NotFoundHandler())
	dead := "ws" + strings.TrimPrefix(ln.URL, "http") + "/ws"
	ln.Close()
	d.do(chromedp.SetValue(chromedp.CSS("#url"), dead), chromedp.Click(chromedp.CSS("#connect")))
	d.waitFor(`websockConsole.closed !== null`)
	if st, class := d.text("#status"), eval[string](d, `document.getElementById("status").className`); !strings.Contains(st, "code 1006") || class != "error" {
		t.Fatalf("failed connection: status %q (class %q), want code 1006 shown as an error", st, class)
	}
}

// TestConsoleScreenshot renders the page at 360 px wide after a message
// and checks that it is laid out and drawn: labels on every control, no
// horizontal scrolling, the stylesheet applied, and a screenshot with
// content.
func TestConsoleScreenshot(t *testing.T) {
	s, _ := startConsoleServer(t)
	d := consoleDriver{t, newBrowser(t)}
	d.do(chromedp.EmulateViewport(360, 800))
	d.open(pageURL(s, "ws"), "", "")
	if echo, _ := d.send("text", "héllo wörld ✓ 𝄞", true); echo != "héllo wörld ✓ 𝄞" {
		t.Fatalf("echo %q", echo)
	}
	unlabelled := eval[[]string](d, `[...document.querySelectorAll("input, textarea, select")].filter(e => e.labels.length === 0).map(e => e.id || e.name)`)
	if len(unlabelled) > 0 {
		t.Errorf("controls without a label: %v", unlabelled)
	}
	if w := eval[int](d, `document.documentElement.scrollWidth`); w > 360 {
		t.Errorf("the page is %d px wide at 360 px: it scrolls sideways", w)
	}
	if bg := eval[string](d, `getComputedStyle(document.getElementById("send")).backgroundColor`); bg != "rgb(36, 104, 208)" {
		t.Errorf("the Send button's background is %q: the stylesheet was not applied", bg)
	}

	shot, err := chromedp.Run(d.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "console.png")
	if err := os.WriteFile(path, shot, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	colours, drawn := inkStats(img)
	if w := img.Bounds().Dx(); w != 360 {
		t.Errorf("screenshot %d px wide, want 360", w)
	}
	if colours < 16 || drawn < 0.02 {
		t.Fatalf("screenshot looks blank: %d colours, %.1f%% of pixels differ from the background", colours, 100*drawn)
	}
	t.Logf("screenshot: %d colours, %.1f%% of pixels drawn", colours, 100*drawn)
}

// inkStats returns the number of distinct colours in img and the share of
// its pixels that differ from the top-left pixel (the background).
func inkStats(img image.Image) (colours int, drawn float64) {
	b := img.Bounds()
	rgba := func(x, y int) [4]uint32 {
		r, g, bl, a := img.At(x, y).RGBA()
		return [4]uint32{r, g, bl, a}
	}
	bg := rgba(b.Min.X, b.Min.Y)
	seen := map[[4]uint32]bool{}
	var n int
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := rgba(x, y)
			seen[c] = true
			if c != bg {
				n++
			}
		}
	}
	return len(seen), float64(n) / float64(b.Dx()*b.Dy())
}
