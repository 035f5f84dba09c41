package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserTimeout bounds everything one browser test does; a loaded CI
// machine starts Chromium in a few seconds, never in a minute.
const browserTimeout = 90 * time.Second

// chromiumPath returns the Chromium to drive: $WEBSOCK_CHROMIUM, or the
// first of Debian's chromium and the usual Chrome names found on PATH.
func chromiumPath() string {
	if p := os.Getenv("WEBSOCK_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// newBrowser starts a headless Chromium for one test and returns a context
// for chromedp actions in its first tab. The browser accepts the test
// servers' self-signed certificates and is closed when the test ends.
//
// Without Chromium the test fails under CI (.ci/run installs Debian's
// chromium) and is skipped elsewhere, saying so in the test output.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no Chromium on this machine: .ci/run installs Debian's chromium package")
		}
		t.Skip("NOT RUN: no Chromium on this machine (apt-get install chromium, or set WEBSOCK_CHROMIUM)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests may run as root
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("ignore-certificate-errors", true), // the servers under test use self-signed certificates
	)
	ctx, cancelTimeout := context.WithTimeout(context.Background(), browserTimeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
	})
	if err := chromedp.Do(browserCtx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", path, err)
	}
	return browserCtx
}

// TestBrowserRunsScript checks the harness itself: the browser loads a page
// from a local server and runs its script.
func TestBrowserRunsScript(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>t</title><script>document.title = "ran " + (6 * 7)</script>`))
	}))
	defer srv.Close()
	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if title != "ran 42" {
		t.Fatalf("page title %q, want %q", title, "ran 42")
	}
}
