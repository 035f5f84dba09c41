package websock

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/websock/websock/internal/frame"
	"github.com/websock/websock/internal/mask"
)

// closingServer accepts a connection and closes it from the server side
// with Close, reporting Close's result. A served connection (m) is given
// to Serve first, so that what the peer sends meanwhile, its close frame
// too, is read by the poller; the messages it delivers go to delivered.
func closingServer(t *testing.T, m serverMode, opts *AcceptOptions) (srv *httptest.Server, result chan error, delivered chan []byte) {
	result = make(chan error, 1)
	delivered = make(chan []byte, 16)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, opts)
		if err != nil {
			result <- err
			return
		}
		if m.served {
			onMessage := func(_ *Conn, _ MessageType, data []byte) {
				select {
				case delivered <- bytes.Clone(data):
				default:
				}
			}
			if err := c.Serve(Events{OnMessage: onMessage}); err != nil {
				c.CloseNow()
				result <- err
				return
			}
		}
		result <- c.Close(StatusGoingAway, "shutting down")
	}))
	t.Cleanup(srv.Close)
	return srv, result, delivered
}

// TestServerCloseHandshake: the server sends close, the client answers, and
// the server closes TCP.
func TestServerCloseHandshake(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		srv, result, _ := closingServer(t, m, nil)
		c := dialRaw(t, srv)
		h, p, err := c.readFrame()
		if err != nil || h.Opcode != frame.OpClose {
			t.Fatalf("expected a close frame, got op %d, %v", h.Opcode, err)
		}
		code, reason, _ := frame.ParseClose(p)
		if StatusCode(code) != StatusGoingAway || string(reason) != "shutting down" {
			t.Fatalf("close frame %d %q", code, reason)
		}
		c.send(true, frame.OpClose, closePayload(code, ""))
		c.expectEOF()
		if err := <-result; err != nil {
			t.Fatalf("Close returned %v", err)
		}
	})
}

// TestServerCloseReadsThroughData: messages that arrive after the
// server's close frame, before the peer's, are read and discarded while
// Close waits (a served connection delivers none of them).
func TestServerCloseReadsThroughData(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		srv, result, delivered := closingServer(t, m, nil)
		c := dialRaw(t, srv)
		if h, _, err := c.readFrame(); err != nil || h.Opcode != frame.OpClose {
			t.Fatalf("expected a close frame, got op %d, %v", h.Opcode, err)
		}
		c.send(true, frame.OpText, []byte("in flight"))
		c.send(false, frame.OpBinary, make([]byte, 1000))
		c.send(true, frame.OpPing, []byte("p"))
		c.send(true, frame.OpContinuation, make([]byte, 1000))
		c.send(true, frame.OpClose, closePayload(1000, ""))
		c.expectEOF()
		if err := <-result; err != nil {
			t.Fatalf("Close returned %v", err)
		}
		select {
		case msg := <-delivered:
			t.Fatalf("a message of %d bytes was delivered after Close", len(msg))
		default:
		}
	})
}

// TestCloseTimesOut: a peer that never answers costs at most CloseTimeout.
func TestCloseTimesOut(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		srv, result, _ := closingServer(t, m, &AcceptOptions{ConnOptions: ConnOptions{CloseTimeout: 100 * time.Millisecond}})
		c := dialRaw(t, srv)
		if h, _, err := c.readFrame(); err != nil || h.Opcode != frame.OpClose {
			t.Fatalf("expected a close frame: %v", err)
		}
		if err := <-result; !errors.Is(err, ErrCloseTimeout) {
			t.Fatalf("Close returned %v, want ErrCloseTimeout", err)
		}
		c.expectEOF()
	})
}

// TestCloseWhileReading: Close from one goroutine while another is blocked
// in Read; the reader sees the peer's answer and Close returns cleanly.
func TestCloseWhileReading(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		eachTransport(t, func(t *testing.T, tlsOn bool) {
			srv, _ := m.echo(t, tlsOn, nil)
			c := dialEcho(t, urlOf(srv.URL), nil)
			readErr := make(chan error, 1)
			go func() {
				_, _, err := c.Read(context.Background())
				readErr <- err
			}()
			if err := c.Close(StatusNormalClosure, ""); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := <-readErr; CloseStatus(err) != StatusNormalClosure {
				t.Fatalf("reader got %v", err)
			}
			if err := c.Close(StatusNormalClosure, ""); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		})
	})
}

func TestCloseRejectsUnsendableCodes(t *testing.T) {
	srv, _ := echoServer(t, false, nil)
	c := dialEcho(t, urlOf(srv.URL), nil)
	for _, code := range []StatusCode{0, 1004, 1006, 1015, 2000, 5000} {
		if err := c.Close(code, ""); err == nil {
			t.Fatalf("Close(%d) accepted", code)
		}
	}
	if err := c.Close(StatusNoStatus, ""); err != nil {
		t.Fatalf("Close without status: %v", err)
	}
}

// TestCloseWriteKeepsReading: after CloseWrite, messages the peer sent
// before its close frame are still delivered, then its close.
func TestCloseWriteKeepsReading(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		srv, _ := m.echo(t, false, nil)
		c := dialEcho(t, urlOf(srv.URL), nil)
		ctx := context.Background()
		for i := 0; i < 100; i++ {
			if err := c.Write(ctx, TextMessage, []byte{'a' + byte(i%26)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.CloseWrite(StatusNormalClosure, "done"); err != nil {
			t.Fatal(err)
		}
		if err := c.Write(ctx, TextMessage, []byte("late")); !errors.Is(err, ErrClosed) {
			t.Fatalf("write after CloseWrite: %v", err)
		}
		for i := 0; i < 100; i++ {
			_, msg, err := c.Read(ctx)
			if err != nil || msg[0] != 'a'+byte(i%26) {
				t.Fatalf("message %d: %q %v", i, msg, err)
			}
		}
		if _, _, err := c.Read(ctx); CloseStatus(err) != StatusNormalClosure {
			t.Fatalf("after the messages: %v", err)
		}
		select {
		case <-c.closed.C():
		default:
			t.Fatal("TCP still open after the closing handshake")
		}
	})
}

// TestCloseWriteTimesOut: a peer that never answers ends reads with
// ErrCloseTimeout.
func TestCloseWriteTimesOut(t *testing.T) {
	url := rawServer(t, func(nc net.Conn, br *bufio.Reader, key string) {
		io.WriteString(nc, okResponse(key))
		io.Copy(io.Discard, br) // never answers
	})
	c, _, err := Dial(context.Background(), url, &DialOptions{ConnOptions: ConnOptions{CloseTimeout: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(context.Background()); !errors.Is(err, ErrCloseTimeout) {
		t.Fatalf("Read: %v", err)
	}
}

// TestCallsAfterCloseNow: after CloseNow, every call fails with ErrClosed,
// even with a message already buffered.
func TestCallsAfterCloseNow(t *testing.T) {
	c, p := newPair(t, ConnOptions{}, false)
	p.write(frameBytes(true, 0, frame.OpText, []byte("buffered"), false))
	p.write(frameBytes(true, 0, frame.OpPing, nil, false))
	c.CloseNow()
	_, _, rerr := c.Read(context.Background())
	_, _, rderr := c.Reader(context.Background())
	_, werr := c.Writer(context.Background(), TextMessage)
	for name, err := range map[string]error{
		"Read":   rerr,
		"Reader": rderr,
		"Writer": werr,
		"Write":  c.Write(context.Background(), TextMessage, []byte("x")),
		"Ping":   c.Ping(context.Background(), nil),
		"Close":  c.Close(StatusNormalClosure, ""),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after CloseNow: %v, want ErrClosed", name, err)
		}
	}
}

// TestCloseCannotWriteTimesOut: a Close that cannot even send its close
// frame (the frame lock stays held) returns ErrCloseTimeout.
func TestCloseCannotWriteTimesOut(t *testing.T) {
	c, _ := newPair(t, ConnOptions{CloseTimeout: interruptAfter}, false)
	unlock := holdFrameLock(c)
	defer unlock()
	if err := c.Close(StatusNormalClosure, ""); !errors.Is(err, ErrCloseTimeout) {
		t.Fatalf("Close: %v, want ErrCloseTimeout", err)
	}
	if err := c.Write(context.Background(), TextMessage, nil); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrCloseTimeout) {
		t.Fatalf("Write after: %v", err)
	}
}

// TestPeerCloseIsEchoed: a close frame is answered with its code and its
// reason, byte for byte, on both sides (RFC 6455 §5.5.1); a close frame
// that is not valid fails the connection with 1007 (reason not UTF-8,
// §8.1) or 1002 (anything else).
func TestPeerCloseIsEchoed(t *testing.T) {
	longest := strings.Repeat("✓", 41) // 123 bytes: with the code, a full control frame
	for _, tc := range []struct {
		name    string
		payload []byte
		reply   []byte     // the close frame sent back
		status  StatusCode // CloseStatus of the read error
		reason  string     // the *CloseError's reason, for a valid close frame
	}{
		{"no payload", nil, closePayload(StatusNormalClosure, ""), StatusNoStatus, ""},
		{"empty reason", closePayload(4000, ""), closePayload(4000, ""), 4000, ""},
		{"short reason", closePayload(4000, "bye"), closePayload(4000, "bye"), 4000, "bye"},
		{"utf-8 reason", closePayload(StatusGoingAway, "héllo wörld ✓ 𝄞"), closePayload(StatusGoingAway, "héllo wörld ✓ 𝄞"), StatusGoingAway, "héllo wörld ✓ 𝄞"},
		{"123-byte reason", append(closePayload(3000, ""), longest...), append(closePayload(3000, ""), longest...), 3000, longest},
		{"124-byte reason", append(closePayload(3000, ""), longest+"x"...), closePayload(StatusProtocolError, ""), StatusProtocolError, ""},
		{"invalid utf-8 reason", append(closePayload(4000, ""), 'b', 0xff, 'e'), closePayload(StatusInvalidPayload, ""), StatusInvalidPayload, ""},
		{"truncated utf-8 reason", append(closePayload(4000, "by"), 0xe2, 0x9c), closePayload(StatusInvalidPayload, ""), StatusInvalidPayload, ""},
		{"one byte", []byte{0x03}, closePayload(StatusProtocolError, ""), StatusProtocolError, ""},
		{"unsendable code 1005", []byte{0x03, 0xed, 'x'}, closePayload(StatusProtocolError, ""), StatusProtocolError, ""},
	} {
		for _, server := range []bool{true, false} {
			name := tc.name + "/client"
			if server {
				name = tc.name + "/server"
			}
			t.Run(name, func(t *testing.T) {
				c, p := newPairWith(t, connConfig{server: server})
				read := make(chan error, 1)
				go func() {
					_, _, err := c.Read(context.Background())
					read <- err
				}()
				p.write(frameBytes(true, 0, frame.OpClose, tc.payload, !server))
				h, reply := p.readFrame()
				if h.Masked {
					mask.Apply(h.Key, 0, reply)
				}
				if h.Opcode != frame.OpClose || string(reply) != string(tc.reply) {
					t.Fatalf("reply op %v payload %q, want a close frame %q", h.Opcode, reply, tc.reply)
				}
				p.nc.Close() // a client waits for the server to close TCP
				err := <-read
				if got := CloseStatus(err); got != tc.status {
					t.Fatalf("Read: %v (status %d), want status %d", err, got, tc.status)
				}
				var ce *CloseError
				if errors.As(err, &ce) && ce.Reason != tc.reason {
					t.Fatalf("Read: reason %q, want %q", ce.Reason, tc.reason)
				}
				if tc.reason != "" && ce == nil {
					t.Fatalf("Read: %v, want a *CloseError", err)
				}
			})
		}
	}
}
