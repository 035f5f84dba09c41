package websock

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestOriginPolicy: the origin policy at its edges: same host and port,
// default ports, patterns with and without scheme and port, null.
func TestOriginPolicy(t *testing.T) {
	for _, tc := range []struct {
		host     string
		patterns []string
		origin   string
		ok       bool
	}{
		{"127.0.0.1:8888", nil, "", true},
		{"127.0.0.1:8888", nil, "http://127.0.0.1:8888", true},
		{"127.0.0.1:8888", nil, "https://127.0.0.1:8888", true}, // TLS ended by a proxy
		{"127.0.0.1:8888", nil, "http://127.0.0.1:8000", false}, // another port: another origin
		{"127.0.0.1:8888", nil, "http://127.0.0.1", false},
		{"example.com", nil, "https://example.com", true},
		{"example.com", nil, "https://EXAMPLE.com:443", true},
		{"example.com:443", nil, "https://example.com", true},
		{"example.com", nil, "http://example.com:8080", false},
		{"[::1]:8888", nil, "http://[::1]:8888", true},
		{"[::1]:8888", nil, "http://[::1]:8000", false},
		// Patterns: scheme, host and port, each optional.
		{"127.0.0.1:8888", []string{"http://127.0.0.1:8000"}, "http://127.0.0.1:8000", true},
		{"127.0.0.1:8888", []string{"http://127.0.0.1:8000"}, "https://127.0.0.1:8000", false},
		{"127.0.0.1:8888", []string{"http://127.0.0.1:8000"}, "http://127.0.0.1:8001", false},
		{"127.0.0.1:8888", []string{"127.0.0.1"}, "http://127.0.0.1:8000", true},
		{"127.0.0.1:8888", []string{"127.0.0.1"}, "https://127.0.0.1", true},
		{"127.0.0.1:8888", []string{"127.0.0.1"}, "http://127.0.0.2:8000", false},
		{"127.0.0.1:8888", []string{"localhost:*"}, "http://localhost:3000", true},
		{"127.0.0.1:8888", []string{"https://localhost"}, "https://localhost", true},
		{"127.0.0.1:8888", []string{"https://localhost:443"}, "https://localhost", true},
		{"127.0.0.1:8888", []string{"http://localhost:443"}, "http://localhost", false},
		{"127.0.0.1:8888", []string{"[::1]:8000"}, "http://[::1]:8000", true},
		{"ws.example.com", []string{"*.example.com"}, "https://app.example.com", true},
		{"ws.example.com", []string{"*.example.com"}, "https://example.com.evil", false},
		{"ws.example.com", []string{"*.Example.COM"}, "https://APP.example.com", true},
		{"ws.example.com", []string{"*"}, "https://anything.test:1234", true},
		// null: only the pattern "null" admits it, "*" does not.
		{"127.0.0.1:8888", nil, "null", false},
		{"127.0.0.1:8888", []string{"*"}, "null", false},
		{"127.0.0.1:8888", []string{"null"}, "null", true},
		{"127.0.0.1:8888", []string{"null"}, "http://127.0.0.1:8000", false},
		// A malformed pattern matches nothing; a malformed Origin is refused.
		{"127.0.0.1:8888", []string{"http://127.0.0.1:8000/page"}, "http://127.0.0.1:8000", false},
		{"127.0.0.1:8888", []string{"*"}, "::", false},
		{"127.0.0.1:8888", []string{"*"}, "127.0.0.1:8000", false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Host = tc.host
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		err := checkOrigin(r, tc.patterns)
		if (err == nil) != tc.ok {
			t.Errorf("Host %s, patterns %q, Origin %q: %v, want admitted=%v", tc.host, tc.patterns, tc.origin, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrOriginNotAllowed) {
			t.Errorf("Origin %q refused with %v, which does not wrap ErrOriginNotAllowed", tc.origin, err)
		}
	}
}

func TestValidateOriginPatterns(t *testing.T) {
	good := []string{"*", "null", "example.com", "*.example.com", "example.com:8443", "localhost:*",
		"http://127.0.0.1:8000", "HTTPS://Example.com", "[::1]", "[::1]:8000", "chrome-extension://abc"}
	if err := ValidateOriginPatterns(good); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"", "http://", "http://x/path", "user@x", "x:port", "x:0", "x:65536", "[x", "ex[ample.com", "ht_tp://x", "x y", "://x", "[::1]8000"} {
		err := ValidateOriginPatterns([]string{"example.com", p})
		if err == nil || !strings.Contains(err.Error(), `origin pattern "`+p+`"`) {
			t.Errorf("pattern %q: %v", p, err)
		}
	}
	// Every malformed pattern is named.
	if err := ValidateOriginPatterns([]string{"a/b", "c:d"}); err == nil || !strings.Contains(err.Error(), "a/b") || !strings.Contains(err.Error(), "c:d") {
		t.Errorf("two malformed patterns: %v", err)
	}
}

func TestOriginPatternAdmitsItsOrigin(t *testing.T) {
	for origin, want := range map[string]string{
		"null":                   "null",
		"http://127.0.0.1:8000":  "http://127.0.0.1:8000",
		"https://Example.com":    "https://Example.com:443",
		"http://[::1]":           "http://[::1]:80",
		"chrome-extension://abc": "chrome-extension://abc",
	} {
		p, err := OriginPattern(origin)
		if err != nil || p != want {
			t.Errorf("OriginPattern(%q) = %q, %v; want %q", origin, p, err, want)
			continue
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Host = "server.test:1"
		r.Header.Set("Origin", origin)
		if err := checkOrigin(r, []string{p}); err != nil {
			t.Errorf("the pattern %q does not admit %q: %v", p, origin, err)
		}
	}
	if _, err := OriginPattern("::"); err == nil {
		t.Error("a malformed origin has a pattern")
	}
}

// TestOriginRefusalSaysWhy: the browser gets a 403 whose body says why.
func TestOriginRefusalSaysWhy(t *testing.T) {
	srv, _ := echoServer(t, false, nil)
	for origin, why := range map[string]string{
		"http://127.0.0.1:1":  "another host or port is another origin",
		"null":                `only the origin pattern "null" admits it`,
		"http://evil.example": "is not allowed",
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), why) || !strings.Contains(string(body), origin) {
			t.Errorf("Origin %q: %d %q, want 403 saying %q", origin, resp.StatusCode, body, why)
		}
	}
}

func ExampleValidateOriginPatterns() {
	fmt.Println(ValidateOriginPatterns([]string{"http://127.0.0.1:8000", "*.example.com", "localhost:*", "null"}))
	fmt.Println(ValidateOriginPatterns([]string{"http://127.0.0.1:8000/app"}))
	// Output:
	// <nil>
	// websock: origin pattern "http://127.0.0.1:8000/app": a pattern is [scheme://]host[:port], with no path, query or user
}

func ExampleOriginPattern() {
	// The pattern a server can suggest for a browser it refused.
	for _, origin := range []string{"http://127.0.0.1:8000", "https://app.example.com", "null"} {
		p, _ := OriginPattern(origin)
		fmt.Println(p)
	}
	// Output:
	// http://127.0.0.1:8000
	// https://app.example.com:443
	// null
}
