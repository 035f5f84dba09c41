package websock

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// handshakeRequest is a valid opening handshake to change field by field.
func handshakeRequest(srv *httptest.Server) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/ws", nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Version", "13")
	return req
}

func TestAcceptRefusals(t *testing.T) {
	opts := &AcceptOptions{
		OriginPatterns: []string{"*.example.com"},
		RequestHooks: []RequestHook{func(r *http.Request, h http.Header) error {
			if r.Header.Get("Authorization") == "Bearer bad" {
				h.Set("WWW-Authenticate", "Bearer")
				return Reject(http.StatusUnauthorized, "bad token")
			}
			return nil
		}},
	}
	srv, _ := echoServer(t, false, opts)
	tests := []struct {
		name   string
		change func(r *http.Request)
		status int
		reason string
		header [2]string
	}{
		{"POST", func(r *http.Request) { r.Method = http.MethodPost }, 405, "GET", [2]string{"Allow", "GET"}},
		{"no Upgrade", func(r *http.Request) { r.Header.Del("Upgrade") }, 400, "Upgrade", [2]string{}},
		{"Upgrade h2c", func(r *http.Request) { r.Header.Set("Upgrade", "h2c") }, 400, "Upgrade", [2]string{}},
		{"no Connection upgrade", func(r *http.Request) { r.Header.Set("Connection", "keep-alive") }, 400, "Connection", [2]string{}},
		{"version 8", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Version", "8") }, 426, "13", [2]string{"Sec-WebSocket-Version", "13"}},
		{"no version", func(r *http.Request) { r.Header.Del("Sec-WebSocket-Version") }, 426, "13", [2]string{"Sec-WebSocket-Version", "13"}},
		{"short key", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "c2hvcnQ=") }, 400, "16 bytes", [2]string{}},
		{"no key", func(r *http.Request) { r.Header.Del("Sec-WebSocket-Key") }, 400, "Key", [2]string{}},
		{"foreign origin", func(r *http.Request) { r.Header.Set("Origin", "https://evil.test") }, 403, "origin", [2]string{}},
		{"bad origin", func(r *http.Request) { r.Header.Set("Origin", "::") }, 403, "Origin", [2]string{}},
		{"Content-Length body", func(r *http.Request) { setBody(r, 5) }, 400, "body", [2]string{}},
		{"chunked body", func(r *http.Request) { setBody(r, -1) }, 400, "body", [2]string{}},
		{"hook refuses", func(r *http.Request) { r.Header.Set("Authorization", "Bearer bad") }, 401, "bad token", [2]string{"WWW-Authenticate", "Bearer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := handshakeRequest(srv)
			tt.change(req)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode == http.StatusSwitchingProtocols {
				resp.Body.Close() // its body is the connection: never ends
				t.Fatalf("upgraded, want %d with %q", tt.status, tt.reason)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.reason) {
				t.Fatalf("got %d %q, want %d with %q", resp.StatusCode, body, tt.status, tt.reason)
			}
			if strings.Count(strings.TrimSpace(string(body)), "\n") != 0 {
				t.Fatalf("reason is not one line: %q", body)
			}
			if tt.header[0] != "" && resp.Header.Get(tt.header[0]) != tt.header[1] {
				t.Fatalf("header %s = %q, want %q", tt.header[0], resp.Header.Get(tt.header[0]), tt.header[1])
			}
		})
	}
}

// setBody gives r a body of five bytes (the two bytes of a close frame
// header among them), sent with Content-Length, or chunked if length is -1.
func setBody(r *http.Request, length int64) {
	body := "\x88\x80abc"
	r.Body = io.NopCloser(strings.NewReader(body))
	r.ContentLength = length
}

func TestAcceptOriginPolicy(t *testing.T) {
	srv, _ := echoServer(t, false, &AcceptOptions{OriginPatterns: []string{"*.example.com", "localhost:3000"}})
	host := strings.TrimPrefix(srv.URL, "http://")
	for origin, ok := range map[string]bool{
		"":                          true, // not a browser
		"http://" + host:            true, // same host and port
		"https://app.example.com":   true,
		"https://localhost:3000":    true,
		"https://localhost:3001":    false,
		"https://example.com.evil":  false,
		"https://evil.com":          false,
		"null":                      false,
		"https://APP.EXAMPLE.COM":   true,
		"http://" + host + ".other": false,
	} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		c, _, err := Dial(context.Background(), urlOf(srv.URL), &DialOptions{Header: h})
		if ok != (err == nil) {
			t.Errorf("origin %q: err %v, want allowed=%v", origin, err, ok)
		}
		if err == nil {
			c.CloseNow()
		} else {
			var he *HandshakeError
			if !errors.As(err, &he) || he.Status != http.StatusForbidden {
				t.Errorf("origin %q: %v, want 403", origin, err)
			}
		}
	}
}

func TestSubprotocolNegotiation(t *testing.T) {
	srv, _ := echoServer(t, false, &AcceptOptions{Subprotocols: []string{"v2.chat", "v1.chat"}})
	tests := []struct {
		offer []string
		want  string
	}{
		{[]string{"v1.chat", "v2.chat"}, "v2.chat"}, // server's preference wins
		{[]string{"v1.chat"}, "v1.chat"},
		{[]string{"mqtt"}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		c, resp, err := Dial(context.Background(), urlOf(srv.URL), &DialOptions{Subprotocols: tt.offer})
		if err != nil {
			t.Fatal(err)
		}
		if c.Subprotocol() != tt.want || resp.Header.Get("Sec-WebSocket-Protocol") != tt.want {
			t.Errorf("offer %q: got %q, want %q", tt.offer, c.Subprotocol(), tt.want)
		}
		c.CloseNow()
	}
}

func TestHookAddsResponseHeaders(t *testing.T) {
	srv, _ := echoServer(t, false, &AcceptOptions{RequestHooks: []RequestHook{
		func(r *http.Request, h http.Header) error {
			h.Set("X-Session", "s-"+r.URL.Query().Get("user"))
			return nil
		},
	}})
	var seen string
	c, resp, err := Dial(context.Background(), urlOf(srv.URL)+"?user=ana", &DialOptions{
		ResponseHooks: []ResponseHook{func(r *http.Response) error {
			seen = r.Header.Get("X-Session")
			return nil
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if resp.Header.Get("X-Session") != "s-ana" || seen != "s-ana" {
		t.Fatalf("X-Session = %q, hook saw %q", resp.Header.Get("X-Session"), seen)
	}
	// A client hook can refuse the connection.
	_, _, err = Dial(context.Background(), urlOf(srv.URL), &DialOptions{
		ResponseHooks: []ResponseHook{func(*http.Response) error { return errors.New("no session") }},
	})
	if err == nil || !strings.Contains(err.Error(), "no session") {
		t.Fatalf("client hook error not returned: %v", err)
	}
}

// TestAcceptKeepsHeadersSetBefore: headers that middleware set on the
// response before Accept (cookies, CORS) go out with the 101, without
// overriding the handshake's own.
func TestAcceptKeepsHeadersSetBefore(t *testing.T) {
	ended := make(chan error, 1)
	handler := echoHandler(func(w http.ResponseWriter, r *http.Request) (*Conn, error) {
		w.Header().Add("Set-Cookie", "session=abc")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Sec-WebSocket-Accept", "forged")
		w.Header().Set("Content-Length", "12")
		return Accept(w, r, nil)
	}, ended)
	srv := httptest.NewServer(handler)
	defer srv.Close()
	c, resp, err := Dial(context.Background(), urlOf(srv.URL), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if resp.Header.Get("Set-Cookie") != "session=abc" || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("response headers %v", resp.Header)
	}
	if resp.Header.Get("Content-Length") != "" {
		t.Fatalf("Content-Length %q sent with the 101", resp.Header.Get("Content-Length"))
	}
	if err := c.Write(context.Background(), TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(context.Background()); err != nil || string(msg) != "hi" {
		t.Fatalf("echo %q %v", msg, err)
	}
}
