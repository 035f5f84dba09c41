package websock

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/websock/websock/internal/frame"
	"github.com/websock/websock/internal/handshake"
)

// dialEcho dials the echo server srv with our client.
func dialEcho(t *testing.T, url string, opts *DialOptions) *Conn {
	t.Helper()
	if opts == nil {
		opts = &DialOptions{}
	}
	opts.TLSConfig = &tls.Config{InsecureSkipVerify: true}
	c, _, err := Dial(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func urlOf(srv string) string {
	return "ws" + strings.TrimPrefix(srv, "http") + "/ws"
}

func TestClientEcho(t *testing.T) { testClientEcho(t, echoServer) }

// testClientEcho exchanges messages of every length class with the echo
// server that start starts, then closes.
func testClientEcho(t *testing.T, start func(t testing.TB, tlsOn bool, opts *AcceptOptions) (*httptest.Server, chan error)) {
	eachTransport(t, func(t *testing.T, tlsOn bool) {
		srv, ended := start(t, tlsOn, nil)
		c := dialEcho(t, urlOf(srv.URL), nil)
		ctx := context.Background()
		for _, n := range []int{0, 1, 125, 126, 65535, 65536, 1 << 20} {
			for _, typ := range []MessageType{TextMessage, BinaryMessage} {
				msg := bytes.Repeat([]byte("é"), n/2)
				if err := c.Write(ctx, typ, msg); err != nil {
					t.Fatal(err)
				}
				gotTyp, got, err := c.Read(ctx)
				if err != nil || gotTyp != typ || !bytes.Equal(got, msg) {
					t.Fatalf("echo of %d bytes: type %v, %d bytes, err %v", len(msg), gotTyp, len(got), err)
				}
			}
		}
		if err := c.Close(StatusNormalClosure, "bye"); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := <-ended; CloseStatus(err) != StatusNormalClosure {
			t.Fatalf("server saw %v", err)
		}
		if _, _, err := c.Read(ctx); err == nil {
			t.Fatal("read after close succeeded")
		}
		if err := c.Write(ctx, TextMessage, []byte("x")); !errors.Is(err, ErrClosed) {
			t.Fatalf("write after close: %v", err)
		}
	})
}

func TestStreamingReaderWriter(t *testing.T) {
	srv, _ := echoServer(t, false, nil)
	c := dialEcho(t, urlOf(srv.URL), nil)
	ctx := context.Background()
	w, err := c.Writer(ctx, TextMessage)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	for i := 0; i < 1000; i++ {
		line := strings.Repeat("línea ", i%50) + "\n"
		want.WriteString(line)
		if _, err := io.WriteString(w, line); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	typ, r, err := c.Reader(ctx)
	if err != nil || typ != TextMessage {
		t.Fatalf("Reader: %v %v", typ, err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("streamed echo differs: %d bytes, err %v", len(got), err)
	}
}

func TestConcurrentWritersDoNotInterleave(t *testing.T) {
	srv, _ := echoServer(t, false, nil)
	c := dialEcho(t, urlOf(srv.URL), nil)
	ctx := context.Background()
	const writers, each = 8, 20
	errs := make(chan error, writers)
	for g := 0; g < writers; g++ {
		go func(g int) {
			for i := 0; i < each; i++ {
				w, err := c.Writer(ctx, BinaryMessage)
				if err != nil {
					errs <- err
					return
				}
				// Three fragments, each with the writer's id.
				for f := 0; f < 3; f++ {
					if _, err := w.Write(bytes.Repeat([]byte{byte(g)}, writeBufferSize)); err != nil {
						errs <- err
						return
					}
				}
				if err := w.Close(); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(g)
	}
	for i := 0; i < writers*each; i++ {
		_, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(msg) != 3*writeBufferSize || bytes.Count(msg, msg[:1]) != len(msg) {
			t.Fatalf("message %d mixes writers or has the wrong size (%d bytes)", i, len(msg))
		}
	}
	for g := 0; g < writers; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadCancelledLeavesConnUsable(t *testing.T) {
	srv, _ := echoServer(t, false, nil)
	c := dialEcho(t, urlOf(srv.URL), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := c.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read with cancelled context: %v", err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if _, _, err := c.Read(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read past deadline: %v", err)
	}
	if err := c.Write(context.Background(), TextMessage, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(context.Background()); err != nil || string(msg) != "still here" {
		t.Fatalf("after a cancelled read: %q %v", msg, err)
	}
}

func TestPingWaitsForPong(t *testing.T) {
	srv, _ := echoServer(t, true, nil)
	c := dialEcho(t, urlOf(srv.URL), nil)
	ctx := context.Background()
	readErr := make(chan error, 1)
	go func() { _, _, err := c.Read(ctx); readErr <- err }()
	for i := 0; i < 5; i++ {
		if err := c.Ping(ctx, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	c.Close(StatusNormalClosure, "")
	if err := <-readErr; CloseStatus(err) != StatusNormalClosure {
		t.Fatalf("reader ended with %v", err)
	}
}

// rawServer accepts one connection and hands it, after reading the
// request, to serve along with the request's key.
// readClientFrame reads a frame from a client, which must be masked, and
// returns its header and unmasked payload.
func readClientFrame(br *bufio.Reader) (frame.Header, []byte, error) {
	var hb [frame.MaxHeaderLen]byte
	if _, err := io.ReadFull(br, hb[:2]); err != nil {
		return frame.Header{}, nil, err
	}
	n := frame.Len(hb[0], hb[1])
	if _, err := io.ReadFull(br, hb[2:n]); err != nil {
		return frame.Header{}, nil, err
	}
	h, _, err := frame.Parse(hb[:n])
	if err != nil {
		return h, nil, err
	}
	if !h.Masked {
		return h, nil, errors.New("a client frame without a mask")
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(br, p); err != nil {
		return h, nil, err
	}
	for i := range p {
		p[i] ^= h.Key[i%4]
	}
	return h, p, nil
}

func rawServer(t *testing.T, serve func(nc net.Conn, br *bufio.Reader, key string)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(hangGuard))
		br := bufio.NewReader(nc)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		serve(nc, br, req.Header.Get("Sec-WebSocket-Key"))
	}()
	return "ws://" + ln.Addr().String() + "/"
}

func okResponse(key string, extra ...string) string {
	s := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + handshake.AcceptKey(key) + "\r\n"
	for _, l := range extra {
		s += l + "\r\n"
	}
	return s + "\r\n"
}

func TestClientRejectsBadHandshakes(t *testing.T) {
	tests := []struct {
		name string
		resp func(key string) string
		opts DialOptions
		want string
	}{
		{"wrong accept key", func(string) string { return okResponse("dGhlIHNhbXBsZSBub25jZQ==") }, DialOptions{}, "Sec-WebSocket-Accept"},
		{"no upgrade header", func(k string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + handshake.AcceptKey(k) + "\r\n\r\n"
		}, DialOptions{}, "Upgrade"},
		{"subprotocol not offered", func(k string) string { return okResponse(k, "Sec-WebSocket-Protocol: chat") }, DialOptions{}, "subprotocol"},
		{"other subprotocol", func(k string) string { return okResponse(k, "Sec-WebSocket-Protocol: chat") }, DialOptions{Subprotocols: []string{"mqtt"}}, "subprotocol"},
		{"extension not offered", func(k string) string { return okResponse(k, "Sec-WebSocket-Extensions: permessage-deflate") }, DialOptions{}, "not offered"},
		{"refused with 403", func(string) string {
			return "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Why: test\r\nContent-Length: 13\r\n\r\nno such thing"
		}, DialOptions{}, "403"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := rawServer(t, func(nc net.Conn, br *bufio.Reader, key string) {
				io.WriteString(nc, tt.resp(key))
				io.Copy(io.Discard, br)
			})
			opts := tt.opts
			c, resp, err := Dial(context.Background(), url, &opts)
			if err == nil {
				c.CloseNow()
				t.Fatal("handshake accepted")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
			var he *HandshakeError
			if errors.As(err, &he) {
				if he.Status != 403 || string(he.Body) != "no such thing" || he.Header.Get("X-Why") != "test" || resp == nil {
					t.Fatalf("HandshakeError lacks the details: %+v", he)
				}
			}
		})
	}
}

// TestClientProtocolViolations has a raw server break each rule a client
// must enforce, and checks the close code the client sends back.
func TestClientProtocolViolations(t *testing.T) {
	server := func(fin bool, rsv byte, op frame.Opcode, p []byte, masked bool) []byte {
		return frameBytes(fin, rsv, op, p, !masked)
	}
	tests := []struct {
		name string
		wire []byte
		code StatusCode
		kind error
	}{
		{"masked frame from server", server(true, 0, frame.OpText, []byte("x"), true), 1002, ErrProtocol},
		{"rsv1 without extension", server(true, frame.RSV1, frame.OpText, []byte("x"), false), 1002, ErrProtocol},
		{"reserved opcode", server(true, 0, 5, nil, false), 1002, ErrProtocol},
		{"ping of 126 bytes", server(true, 0, frame.OpPing, make([]byte, 126), false), 1002, ErrProtocol},
		{"fragmented close", server(false, 0, frame.OpClose, nil, false), 1002, ErrProtocol},
		{"invalid utf-8", server(true, 0, frame.OpText, []byte{0xc0, 0xaf}, false), 1007, ErrInvalidUTF8},
		{"continuation without start", server(true, 0, frame.OpContinuation, []byte("x"), false), 1002, ErrProtocol},
		{"invalid close code", server(true, 0, frame.OpClose, closePayload(1004, ""), false), 1002, ErrProtocol},
		{"close reason not utf-8", server(true, 0, frame.OpClose, append(closePayload(1000, ""), 0xff), false), 1007, ErrInvalidUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotCode := make(chan int, 1)
			url := rawServer(t, func(nc net.Conn, br *bufio.Reader, key string) {
				io.WriteString(nc, okResponse(key))
				nc.Write(tt.wire)
				// The client's close frame, masked.
				h, p, err := readClientFrame(br)
				if err != nil {
					gotCode <- -1
					return
				}
				if h.Opcode != frame.OpClose || len(p) < 2 {
					gotCode <- -2
					return
				}
				gotCode <- int(p[0])<<8 | int(p[1])
			})
			c, _, err := Dial(context.Background(), url, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			_, _, err = c.Read(context.Background())
			if !errors.Is(err, tt.kind) {
				t.Fatalf("Read error %v, want %v", err, tt.kind)
			}
			if code := <-gotCode; StatusCode(code) != tt.code {
				t.Fatalf("client sent close code %d, want %d", code, tt.code)
			}
		})
	}
}

// TestClientWaitsForServerToCloseTCP checks RFC 6455 §7.1.1: after the
// closing handshake the client lets the server close TCP first.
func TestClientWaitsForServerToCloseTCP(t *testing.T) {
	serverClosedFirst := make(chan bool, 1)
	url := rawServer(t, func(nc net.Conn, br *bufio.Reader, key string) {
		io.WriteString(nc, okResponse(key))
		nc.Write(frameBytes(true, 0, frame.OpClose, closePayload(1001, "going"), true))
		// Read the client's close frame, then check that the client has
		// not closed TCP (no EOF) before the server does.
		if h, _, err := readClientFrame(br); err != nil || h.Opcode != frame.OpClose {
			serverClosedFirst <- false
			return
		}
		nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, err := br.ReadByte()
		var ne net.Error
		serverClosedFirst <- errors.As(err, &ne) && ne.Timeout()
	})
	c, _, err := Dial(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Read(context.Background())
	if CloseStatus(err) != 1001 {
		t.Fatalf("Read: %v", err)
	}
	if !<-serverClosedFirst {
		t.Fatal("the client closed TCP before the server")
	}
}
