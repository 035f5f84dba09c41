package websock

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestNewClientOverTCP(t *testing.T) {
	srv, _ := echoServer(t, false, &AcceptOptions{Subprotocols: []string{"chat"}})
	nc, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, resp, err := NewClient(ctx, nc, "ws://chat.example/ws", &DialOptions{Subprotocols: []string{"chat"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if resp.StatusCode != http.StatusSwitchingProtocols || c.Subprotocol() != "chat" {
		t.Fatalf("status %d, subprotocol %q", resp.StatusCode, c.Subprotocol())
	}
	c.Write(ctx, TextMessage, []byte("hi"))
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "hi" {
		t.Fatalf("echo: %q %v", msg, err)
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
}

// The request carries the URL's host and path, not the connection's.
func TestNewClientRequestFromURL(t *testing.T) {
	got := make(chan *http.Request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r
		if c, err := Accept(w, r, nil); err == nil {
			c.CloseNow()
		}
	}))
	defer srv.Close()
	nc, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := NewClient(context.Background(), nc, "ws://chat.example:8080/room/1?x=y", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.CloseNow()
	r := <-got
	if r.Host != "chat.example:8080" || r.URL.RequestURI() != "/room/1?x=y" {
		t.Fatalf("request for %q %q", r.Host, r.URL.RequestURI())
	}
}

func TestNewClientOverOwnTLS(t *testing.T) {
	srv, _ := echoServer(t, true, nil)
	tc, err := tls.Dial("tcp", srv.Listener.Addr().String(), srv.Client().Transport.(*http.Transport).TLSClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, _, err := NewClient(ctx, tc, "wss://example.com/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.Write(ctx, BinaryMessage, []byte{1, 2, 3})
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "\x01\x02\x03" {
		t.Fatalf("echo over TLS: %q %v", msg, err)
	}
}

// On failure the connection is closed and the error says why.
func TestNewClientFailures(t *testing.T) {
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "go away", http.StatusForbidden)
	}))
	defer refusing.Close()
	echo, _ := echoServer(t, false, nil)
	hookErr := errors.New("unwanted server")
	for _, tt := range []struct {
		name  string
		srv   *httptest.Server
		url   string
		opts  *DialOptions
		check func(error) bool
	}{
		{"refused", refusing, "ws://x/", nil, func(err error) bool {
			var he *HandshakeError
			return errors.As(err, &he) && he.Status == http.StatusForbidden && he.Reason == "go away"
		}},
		{"hook", echo, "ws://x/", &DialOptions{ResponseHooks: []ResponseHook{func(*http.Response) error { return hookErr }}}, func(err error) bool {
			return errors.Is(err, hookErr)
		}},
		{"bad scheme", echo, "ftp://x/", nil, func(err error) bool { return strings.Contains(err.Error(), "scheme") }},
		{"no host", echo, "ws:///path", nil, func(err error) bool { return strings.Contains(err.Error(), "no host") }},
		{"bad URL", echo, "ws://x/%zz", nil, func(err error) bool { return err != nil }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", tt.srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			c, _, err := NewClient(context.Background(), nc, tt.url, tt.opts)
			if c != nil || err == nil || !tt.check(err) {
				t.Fatalf("NewClient: %v %v", c, err)
			}
			if _, err := nc.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("write after the failure: %v, want the connection closed", err)
			}
		})
	}
}
