package websock

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/websock/websock/extension"
	"github.com/websock/websock/internal/frame"
)

// acceptConnServer listens on loopback and runs AcceptConn with opts on
// each connection, echoing messages; the outcome of each AcceptConn goes
// to the returned channel.
func acceptConnServer(t *testing.T, opts *AcceptOptions) (addr string, results chan acceptResult) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	results = make(chan acceptResult, 16)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c, r, err := AcceptConn(nc, opts)
				results <- acceptResult{r, err}
				if err != nil {
					return
				}
				defer c.CloseNow()
				ctx := context.Background()
				for {
					typ, msg, err := c.Read(ctx)
					if err != nil {
						return
					}
					c.Write(ctx, typ, msg)
				}
			}()
		}
	}()
	return ln.Addr().String(), results
}

type acceptResult struct {
	r   *http.Request
	err error
}

func TestAcceptConnUpgrades(t *testing.T) {
	opts := &AcceptOptions{
		Subprotocols: []string{"chat"},
		Extensions:   []extension.Extension{&PerMessageDeflate{}},
		RequestHooks: []RequestHook{func(r *http.Request, h http.Header) error {
			h.Set("X-Room", r.URL.Query().Get("room"))
			return nil
		}},
	}
	addr, results := acceptConnServer(t, opts)
	ctx := context.Background()
	c, resp, err := Dial(ctx, "ws://"+addr+"/ws?room=7", &DialOptions{Subprotocols: []string{"chat"}, Extensions: []extension.Extension{&PerMessageDeflate{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	res := <-results
	if res.err != nil || res.r.URL.Path != "/ws" || res.r.RemoteAddr != c.LocalAddr().String() {
		t.Fatalf("AcceptConn: %v, request %+v", res.err, res.r)
	}
	if c.Subprotocol() != "chat" || !strings.HasPrefix(c.Extensions(), "permessage-deflate") || resp.Header.Get("X-Room") != "7" {
		t.Fatalf("agreed %q %q, hook header %q", c.Subprotocol(), c.Extensions(), resp.Header.Get("X-Room"))
	}
	msg := strings.Repeat("compress me ", 100)
	c.Write(ctx, TextMessage, []byte(msg))
	if _, got, err := c.Read(ctx); err != nil || string(got) != msg {
		t.Fatalf("echo: %v", err)
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
}

// Frames the client sends right behind its request reach the connection.
func TestAcceptConnKeepsEarlyFrames(t *testing.T) {
	addr, _ := acceptConnServer(t, nil)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(hangGuard))
	req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	nc.Write(append([]byte(req), frameBytes(true, 0, frame.OpText, []byte("early"), false)...))
	rc := &rawClient{t: t, nc: nc, br: bufio.NewReader(nc)}
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("response %v %v", resp, err)
	}
	rc.expectMessage(frame.OpText, []byte("early"))
}

// Every refusal Accept makes, AcceptConn makes too, as an HTTP response,
// and then closes the connection.
func TestAcceptConnRefuses(t *testing.T) {
	opts := &AcceptOptions{RequestHooks: []RequestHook{func(r *http.Request, _ http.Header) error {
		if r.URL.Path == "/private" {
			return Reject(http.StatusUnauthorized, "token required")
		}
		return nil
	}}}
	addr, results := acceptConnServer(t, opts)
	const upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	for _, tt := range []struct {
		name    string
		request string
		status  int
		header  string
	}{
		{"POST", "POST / HTTP/1.1\r\nHost: x\r\n" + upgrade + "\r\n", http.StatusMethodNotAllowed, "Allow"},
		{"no key", "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", http.StatusBadRequest, ""},
		{"version 8", "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", http.StatusUpgradeRequired, "Sec-Websocket-Version"},
		{"cross origin", "GET / HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\n" + upgrade + "\r\n", http.StatusForbidden, ""},
		{"hook", "GET /private HTTP/1.1\r\nHost: x\r\n" + upgrade + "\r\n", http.StatusUnauthorized, ""},
		{"not HTTP", "HELLO\r\n\r\n", http.StatusBadRequest, ""},
		{"header too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", maxRequestHeaderBytes+8192) + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(hangGuard))
			go io.WriteString(nc, tt.request) // the server may answer before reading it all
			br := bufio.NewReader(nc)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || len(body) == 0 || (tt.header != "" && resp.Header.Get(tt.header) == "") {
				t.Fatalf("got %d %q %v, want %d with a reason and %s", resp.StatusCode, body, resp.Header, tt.status, tt.header)
			}
			if b, err := br.ReadByte(); err == nil {
				t.Fatalf("byte %#x after the refusal, want the connection closed", b)
			}
			if res := <-results; res.err == nil {
				t.Fatal("AcceptConn returned no error")
			}
		})
	}
}

func TestAcceptConnTimeout(t *testing.T) {
	addr, results := acceptConnServer(t, &AcceptOptions{HandshakeTimeout: 50 * time.Millisecond})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	io.WriteString(nc, "GET / HTTP/1.1\r\n") // and nothing more
	select {
	case res := <-results:
		if !isTimeoutErr(res.err) {
			t.Fatalf("AcceptConn on a silent client: %v, want a timeout", res.err)
		}
	case <-time.After(hangGuard):
		t.Fatal("AcceptConn did not time out")
	}
	nc.SetReadDeadline(time.Now().Add(hangGuard))
	if n, err := nc.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("read after the timeout: %d %v, want the connection closed", n, err)
	}
}

func TestAcceptConnConnSet(t *testing.T) {
	tr := &ConnSet{MaxConns: 1}
	addr, _ := acceptConnServer(t, &AcceptOptions{ConnSet: tr})
	ctx := context.Background()
	c, _, err := Dial(ctx, "ws://"+addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	_, _, err = Dial(ctx, "ws://"+addr, nil)
	var he *HandshakeError
	if !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable {
		t.Fatalf("second connection: %v, want 503", err)
	}
	if tr.Len() != 1 {
		t.Fatalf("the ConnSet holds %d connections, want 1", tr.Len())
	}
}
