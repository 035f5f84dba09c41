package websock

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/websock/websock/internal/frame"
)

// connectProxy is an HTTP CONNECT proxy that requires Basic auth user:pass.
func connectProxy(t *testing.T) (proxyURL string, tunnels *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	tunnels = new(atomic.Int32)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				br := bufio.NewReader(nc)
				req, err := http.ReadRequest(br)
				if err != nil || req.Method != http.MethodConnect {
					return
				}
				want := "Basic " + base64.StdEncoding.EncodeToString([]byte("user:pa ss"))
				if req.Header.Get("Proxy-Authorization") != want {
					io.WriteString(nc, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
					return
				}
				up, err := net.Dial("tcp", req.Host)
				if err != nil {
					io.WriteString(nc, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
					return
				}
				defer up.Close()
				tunnels.Add(1)
				io.WriteString(nc, "HTTP/1.1 200 Connection established\r\n\r\n")
				go func() {
					io.Copy(up, br)
					up.Close() // the client is gone: end the tunnel
				}()
				io.Copy(nc, up)
			}()
		}
	}()
	return "http://" + ln.Addr().String(), tunnels
}

func TestDialThroughProxy(t *testing.T) {
	eachTransport(t, func(t *testing.T, tlsOn bool) {
		srv, _ := echoServer(t, tlsOn, nil)
		proxy, tunnels := connectProxy(t)
		good, _ := url.Parse(proxy)
		good.User = url.UserPassword("user", "pa ss")
		c := dialEcho(t, urlOf(srv.URL), &DialOptions{Proxy: http.ProxyURL(good)})
		ctx := context.Background()
		c.Write(ctx, TextMessage, []byte("via proxy"))
		if _, msg, err := c.Read(ctx); err != nil || string(msg) != "via proxy" {
			t.Fatalf("echo through the proxy: %q %v", msg, err)
		}
		if tunnels.Load() != 1 {
			t.Fatalf("%d tunnels opened, want 1", tunnels.Load())
		}
		bad, _ := url.Parse(proxy)
		_, _, err := Dial(ctx, urlOf(srv.URL), &DialOptions{Proxy: http.ProxyURL(bad), TLSConfig: &tls.Config{InsecureSkipVerify: true}})
		if err == nil || !strings.Contains(err.Error(), "407") {
			t.Fatalf("proxy without credentials: %v", err)
		}
	})
}

// TestDialVerifiesCertificates: wss verifies the server against the roots
// given, and fails without them.
func TestDialVerifiesCertificates(t *testing.T) {
	srv, _ := echoServer(t, true, nil)
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	ctx := context.Background()
	// httptest's certificate is for example.com and 127.0.0.1.
	c, _, err := Dial(ctx, urlOf(srv.URL), &DialOptions{TLSConfig: &tls.Config{RootCAs: roots}})
	if err != nil {
		t.Fatalf("with the right roots: %v", err)
	}
	c.CloseNow()
	if _, _, err := Dial(ctx, urlOf(srv.URL), nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("with the system roots: %v", err)
	}
	cfg := &tls.Config{RootCAs: roots, ServerName: "other.test"}
	if _, _, err := Dial(ctx, urlOf(srv.URL), &DialOptions{TLSConfig: cfg}); err == nil {
		t.Fatal("certificate accepted for the wrong server name")
	}
}

// TestDialTLSErrorsSayOnceWhatFailed: a failed TLS handshake names the
// URL once and the TLS step once, whether crypto/tls names it (an untrusted
// certificate) or not (a server that hangs up).
func TestDialTLSErrorsSayOnceWhatFailed(t *testing.T) {
	srv, _ := echoServer(t, true, nil)
	ctx := context.Background()
	_, _, err := Dial(ctx, urlOf(srv.URL), nil)
	if err == nil {
		t.Fatal("untrusted certificate accepted")
	}
	msg := err.Error()
	want := "websock: dial " + urlOf(srv.URL) + ": tls: failed to verify certificate: "
	if !strings.HasPrefix(msg, want) || strings.Count(msg, "tls") != 1 || strings.Count(msg, "websock") != 1 {
		t.Fatalf("error %q, want it to start %q and say tls and websock once", msg, want)
	}
	var verify *tls.CertificateVerificationError
	if !errors.As(err, &verify) {
		t.Fatalf("error %q does not wrap the *tls.CertificateVerificationError", msg)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if nc, err := ln.Accept(); err == nil {
			nc.Close()
		}
	}()
	_, _, err = Dial(ctx, "wss://"+ln.Addr().String()+"/", nil)
	if err == nil || !strings.Contains(err.Error(), ": tls handshake: ") || strings.Count(err.Error(), "tls") != 1 {
		t.Fatalf("server hanging up during the TLS handshake: %v", err)
	}
}

// TestClientMaskingKeysVary: every client frame is masked, with keys that
// are not repeated.
func TestClientMaskingKeysVary(t *testing.T) {
	keys := make(chan [4]byte, 64)
	url := rawServer(t, func(nc net.Conn, br *bufio.Reader, key string) {
		io.WriteString(nc, okResponse(key))
		defer close(keys)
		for i := 0; i < 64; i++ {
			var hb [frame.MaxHeaderLen]byte
			if _, err := io.ReadFull(br, hb[:2]); err != nil {
				return
			}
			n := frame.Len(hb[0], hb[1])
			io.ReadFull(br, hb[2:n])
			h, _, _ := frame.Parse(hb[:n])
			io.CopyN(io.Discard, br, h.Length)
			if !h.Masked {
				return
			}
			keys <- h.Key
		}
	})
	c, _, err := Dial(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for i := 0; i < 64; i++ {
		if err := c.Write(context.Background(), BinaryMessage, []byte("same payload")); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[[4]byte]bool{}
	for k := range keys {
		seen[k] = true
	}
	if len(seen) < 60 { // 64 random 32-bit keys: a repeat is very unlikely
		t.Fatalf("%d distinct keys in 64 frames (or frames unmasked)", len(seen))
	}
}
