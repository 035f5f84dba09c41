package websock

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/websock/websock/internal/frame"
)

// eventEchoServer serves an Events echo server; the error that ended each
// connection goes to ended.
func eventEchoServer(t testing.TB, tlsOn bool, opts *AcceptOptions) (*httptest.Server, chan error) {
	t.Helper()
	ended := make(chan error, 256)
	h := EventHandler(opts, Events{
		OnMessage: func(c *Conn, typ MessageType, data []byte) {
			c.Write(context.Background(), typ, data)
		},
		OnEnd: func(c *Conn, err error) {
			c.CloseNow()
			select {
			case ended <- err:
			default: // as echoServer: the test reads no more of them
			}
		},
	})
	return startServer(t, tlsOn, h), ended
}

// servedPair is newPair with the Conn served: its messages and its end
// come out of the returned channels.
type servedMessage struct {
	typ  MessageType
	data []byte
}

func servedPair(t testing.TB, opts ConnOptions, compressed bool) (*Conn, *rawPeer, chan servedMessage, chan error) {
	t.Helper()
	c, p := newPair(t, opts, compressed)
	msgs := make(chan servedMessage, 64)
	ended := make(chan error, 1)
	err := c.Serve(Events{
		OnMessage: func(c *Conn, typ MessageType, data []byte) {
			msgs <- servedMessage{typ, bytes.Clone(data)}
		},
		OnEnd: func(c *Conn, err error) { ended <- err },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, p, msgs, ended
}

func recvMessage(t testing.TB, msgs chan servedMessage) servedMessage {
	t.Helper()
	return recv(t, msgs, "no message")
}

func recvEnd(t testing.TB, ended chan error) error {
	t.Helper()
	return recv(t, ended, "OnEnd was not called")
}

// recv receives from ch, failing the test with missing after hangGuard.
func recv[T any](t testing.TB, ch chan T, missing string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hangGuard):
		t.Fatal(missing)
	}
	var zero T
	return zero
}

func TestEventsEcho(t *testing.T) { testClientEcho(t, eventEchoServer) }

func TestEventsByteAtATime(t *testing.T) {
	// A served connection keeps the poller running for the count below.
	servedPair(t, ConnOptions{}, false)
	for _, compressed := range []bool{false, true} {
		base := runtime.NumGoroutine()
		c, p, msgs, _ := servedPair(t, ConnOptions{}, compressed)
		want := pattern(3000, 1)
		var wire []byte
		if compressed {
			wire = frameBytes(true, frame.RSV1, frame.OpText, compress(t, want), false)
		} else {
			// Two fragments with a ping between them.
			wire = append(frameBytes(false, 0, frame.OpText, want[:1000], false), frameBytes(true, 0, frame.OpPing, []byte("hi"), false)...)
			wire = append(wire, frameBytes(true, 0, frame.OpContinuation, want[1000:], false)...)
		}
		for i := range wire {
			p.write(wire[i : i+1])
			if i%500 == 0 {
				// Between bytes the connection holds no goroutine.
				if !waitGoroutines(base) {
					t.Fatalf("%d goroutines between bytes, want at most %d", runtime.NumGoroutine(), base)
				}
			}
		}
		m := recvMessage(t, msgs)
		if m.typ != TextMessage || !bytes.Equal(m.data, want) {
			t.Fatalf("got %v of %d bytes", m.typ, len(m.data))
		}
		if !compressed {
			if h, b := p.readFrame(); h.Opcode != frame.OpPong || string(b) != "hi" {
				t.Fatalf("got %v %q, want the pong", h.Opcode, b)
			}
		}
		select {
		case m := <-msgs:
			t.Fatalf("extra message of %d bytes", len(m.data))
		default:
		}
		c.CloseNow()
	}
}

// waitNoReader waits (bounded) until no goroutine reads the served
// connection c, and reports whether that happened.
func waitNoReader(c *Conn) bool {
	deadline := time.Now().Add(hangGuard)
	buf := make([]byte, 1<<20)
	frame := fmt.Appendf(nil, "(*served).run(%p", c.srv.Load())
	for {
		n := runtime.Stack(buf, true)
		if !bytes.Contains(buf[:n], frame) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

// waitGoroutines waits (bounded) until at most n goroutines run.
func waitGoroutines(n int) bool {
	deadline := time.Now().Add(hangGuard)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			return false
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	return true
}

func TestEventsReadFails(t *testing.T) {
	c, _, _, _ := servedPair(t, ConnOptions{}, false)
	if _, _, err := c.Read(context.Background()); !errors.Is(err, errServed) {
		t.Fatalf("Read on a served connection: %v", err)
	}
	if err := c.Serve(Events{}); err == nil {
		t.Fatal("second Serve succeeded")
	}
}

func TestEventsCloseNowEndsOnce(t *testing.T) {
	c, _, _, ended := servedPair(t, ConnOptions{}, false)
	c.CloseNow()
	if err := recvEnd(t, ended); !errors.Is(err, ErrClosed) {
		t.Fatalf("OnEnd got %v", err)
	}
	select {
	case err := <-ended:
		t.Fatalf("OnEnd called again with %v", err)
	case <-time.After(50 * time.Millisecond):
	}
}

// BenchmarkEchoEvents is BenchmarkEchoTCP against a server whose
// connections are read by the poller.
func BenchmarkEchoEvents(b *testing.B) {
	benchmarkEcho(b, func() *httptest.Server { srv, _ := eventEchoServer(b, false, nil); return srv })
}

// recordConn is the TCP connection under a test's TLS client: it writes
// byte by byte (split records) or, while holding, gathers writes to send
// them in one (several records at once).
type recordConn struct {
	net.Conn
	split bool
	hold  bool
	held  []byte
}

func (r *recordConn) Write(p []byte) (int, error) {
	switch {
	case r.hold:
		r.held = append(r.held, p...)
		return len(p), nil
	case r.split:
		for i := range p {
			if _, err := r.Conn.Write(p[i : i+1]); err != nil {
				return i, err
			}
		}
		return len(p), nil
	}
	return r.Conn.Write(p)
}

func (r *recordConn) flush() error {
	r.hold = false
	_, err := r.Conn.Write(r.held)
	r.held = nil
	return err
}

// TestEventsTLSRecords serves a TLS connection whose records arrive byte
// by byte, and several at once: every message comes out whole and in
// order.
func TestEventsTLSRecords(t *testing.T) {
	served := make(chan *Conn, 1)
	ended := make(chan error, 1)
	srv := httptest.NewTLSServer(EventHandler(nil, Events{
		OnOpen: func(c *Conn, r *http.Request) { served <- c },
		OnMessage: func(c *Conn, typ MessageType, data []byte) {
			c.Write(context.Background(), typ, data)
		},
		OnEnd: func(c *Conn, err error) { ended <- err },
	}))
	defer srv.Close()
	u := urlOf(srv.URL)
	var rc *recordConn
	opts := &DialOptions{
		TLSConfig: &tls.Config{InsecureSkipVerify: true},
		NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			rc = &recordConn{Conn: nc}
			return rc, nil
		},
	}
	c, _, err := Dial(context.Background(), strings.Replace(u, "ws://", "wss://", 1), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ctx := context.Background()
	echo := func(msgs ...[]byte) {
		t.Helper()
		for _, m := range msgs {
			_, got, err := c.Read(ctx)
			if err != nil || !bytes.Equal(got, m) {
				t.Fatalf("echo: %d bytes, %v; want %d bytes", len(got), err, len(m))
			}
		}
	}
	rc.split = true
	for _, n := range []int{1, 200, 5000} {
		m := pattern(n, byte(n))
		if err := c.Write(ctx, BinaryMessage, m); err != nil {
			t.Fatal(err)
		}
		echo(m)
	}
	rc.split = false
	rc.hold = true
	var msgs [][]byte
	for i := range 20 {
		m := pattern(10+i*300, byte(i))
		msgs = append(msgs, m)
		if err := c.Write(ctx, BinaryMessage, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := rc.flush(); err != nil {
		t.Fatal(err)
	}
	echo(msgs...)
	// Idle, the TLS connection is the poller's: no goroutine reads it.
	if !waitNoReader(<-served) {
		t.Fatal("a goroutine still reads the idle TLS connection")
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	if err := recvEnd(t, ended); CloseStatus(err) != StatusNormalClosure {
		t.Fatalf("server saw %v", err)
	}
}

// TestEventsEchoAllocations: a served connection reads, delivers and
// answers a message without allocating. The count is the whole round
// trip's, client included. Over TLS, crypto/tls allocates a reader each
// time it reads the socket (one read on each side), and the served read
// that finds the socket empty and crypto/tls holding nothing (its read
// deadline in the past) costs that reader and the timeout error: 4 in all,
// none of them websock's. The race detector makes sync.Pool drop items,
// and the pools' users allocate again: with it the bounds are looser, but
// still fail a connection that allocates on every read or write.
func TestEventsEchoAllocations(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tls       bool
		most      float64
		mostRaced float64
	}{
		{"tcp", false, 0, 2},
		{"tls", true, 4, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := eventEchoServer(t, tc.tls, nil)
			ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
			defer cancel()
			c, _, err := Dial(ctx, urlOf(srv.URL), &DialOptions{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			msg := []byte("thirty-two bytes, echoed served.")
			buf := make([]byte, 0, 64)
			echo := func() {
				if err := c.Write(context.Background(), TextMessage, msg); err != nil {
					t.Fatal(err)
				}
				if _, buf, err = c.ReadAppend(context.Background(), buf[:0]); err != nil || !bytes.Equal(buf, msg) {
					t.Fatalf("echo: %q, %v", buf, err)
				}
			}
			echo() // warm: buffers and the reader's goroutine stack
			most := tc.most
			if raceEnabled {
				most = tc.mostRaced
			}
			n := testing.AllocsPerRun(200, echo)
			t.Logf("%v allocations per served echo (race detector: %v)", n, raceEnabled)
			if n > most {
				t.Fatalf("%v allocations per served echo, want at most %v", n, most)
			}
		})
	}
}
