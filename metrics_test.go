package websock

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/websock/websock/extension"
	"github.com/websock/websock/internal/frame"
)

// noCounts is the snapshot of a Metrics that has counted nothing.
func noCounts() MetricsSnapshot {
	return MetricsSnapshot{
		HandshakesRefused: map[int]uint64{},
		Received:          map[MessageType]MessageCounts{TextMessage: {}, BinaryMessage: {}},
		Sent:              map[MessageType]MessageCounts{TextMessage: {}, BinaryMessage: {}},
		CloseSent:         map[StatusCode]uint64{},
		CloseReceived:     map[StatusCode]uint64{},
	}
}

// openedAndClosed is noCounts after one connection on side (server or
// client) opened and ended.
func openedAndClosed(server bool) MetricsSnapshot {
	s := noCounts()
	if server {
		s.ServerOpened, s.ServerClosed = 1, 1
	} else {
		s.ClientOpened, s.ClientClosed = 1, 1
	}
	return s
}

// dialPair connects a client Conn to a server Conn through an HTTP server
// on 127.0.0.1; their metrics are srv.Metrics and cli.Metrics.
func dialPair(t *testing.T, srv *AcceptOptions, cli *DialOptions) (server, client *Conn) {
	t.Helper()
	accepted := make(chan *Conn, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := Accept(w, r, srv)
		accepted <- c
	}))
	t.Cleanup(hs.Close)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	client, _, err := Dial(ctx, urlOf(hs.URL), cli)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case server = <-accepted:
	case <-ctx.Done():
		t.Fatal("the server did not accept")
	}
	t.Cleanup(func() { endConns(t, server, client) })
	return server, client
}

// endConns closes the connections' TCP connections and waits until they
// are closed (a failed connection may still be shutting down).
func endConns(t *testing.T, conns ...*Conn) {
	t.Helper()
	for _, c := range conns {
		c.CloseNow()
		select {
		case <-c.closed.C():
		case <-time.After(hangGuard):
			t.Fatal("connection not closed")
		}
	}
}

// readDeadline returns a context for one read that must not hang.
func readDeadline(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	t.Cleanup(cancel)
	return ctx
}

// readFails reads from c, which must fail with want, and waits for c's end.
func readFails(t *testing.T, c *Conn, want error) {
	t.Helper()
	if _, _, err := c.Read(readDeadline(t)); !errors.Is(err, want) {
		t.Fatalf("read: %v, want %v", err, want)
	}
	endConns(t, c)
}

// TestMetricsCountEvents: each event moves its counters, on the side that
// sees it, and no other counter.
func TestMetricsCountEvents(t *testing.T) {
	deflate := func() []extension.Extension { return []extension.Extension{&PerMessageDeflate{}} }
	tests := []struct {
		name string
		// run makes the event happen with the server's and the client's
		// metrics, and returns the snapshots they must show.
		run func(t *testing.T, srv, cli *Metrics) (wantSrv, wantCli MetricsSnapshot)
	}{
		{"open and close", func(t *testing.T, srv, cli *Metrics) (MetricsSnapshot, MetricsSnapshot) {
			s, c := dialPair(t, &AcceptOptions{ConnOptions: ConnOptions{Metrics: srv}}, &DialOptions{ConnOptions: ConnOptions{Metrics: cli}})
			opened := srv.Snapshot()
			if opened.ServerOpened != 1 || opened.ServerClosed != 0 {
				t.Errorf("while open: server opened %d, closed %d; want 1, 0", opened.ServerOpened, opened.ServerClosed)
			}
			endConns(t, s, c)
			return openedAndClosed(true), openedAndClosed(false)
		}},
		{"text message", func(t *testing.T, srv, cli *Metrics) (MetricsSnapshot, MetricsSnapshot) {
			s, c := dialPair(t, &AcceptOptions{ConnOptions: ConnOptions{Metrics: srv}}, &DialOptions{ConnOptions: ConnOptions{Metrics: cli}})
			if err := c.Write(context.Background(), TextMessage, []byte("sixteen bytes!!!")); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Read(readDeadline(t)); err != nil {
				t.Fatal(err)
			}
			endConns(t, s, c)
			ws, wc := openedAndClosed(true), openedAndClosed(false)
			ws.Received[TextMessage] = MessageCounts{1, 16, 16}
			wc.Sent[TextMessage] = MessageCounts{1, 16, 16}
			return ws, wc
		}},
		{"binary message in fragments, read as a stream", func(t *testing.T, srv, cli *Metrics) (MetricsSnapshot, MetricsSnapshot) {
			s, c := dialPair(t, &AcceptOptions{ConnOptions: ConnOptions{Metrics: srv}}, &DialOptions{ConnOptions: ConnOptions{Metrics: cli}})
			w, err := c.Writer(context.Background(), BinaryMessage)
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				w.Write(make([]byte, 10000))
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			_, r, err := s.Reader(readDeadline(t))
			if err != nil {
				t.Fatal(err)
			}
			if n, err := io.Copy(io.Discard, r); n != 30000 || err != nil {
				t.Fatalf("read %d bytes: %v", n, err)
			}
			endConns(t, s, c)
			ws, wc := openedAndClosed(true), openedAndClosed(false)
			ws.Received[BinaryMessage] = MessageCounts{1, 30000, 30000}
			wc.Sent[BinaryMessage] = MessageCounts{1, 30000, 30000}
			return ws, wc
		}},
		{"compressed messages both ways", func(t *testing.T, srv, cli *Metrics) (MetricsSnapshot, MetricsSnapshot) {
			s, c := dialPair(t, &AcceptOptions{Extensions: deflate(), ConnOptions: ConnOptions{Metrics: srv}},
				&DialOptions{Extensions: deflate(), ConnOptions: ConnOptions{Metrics: cli}})
			msg := bytes.Repeat([]byte("compressible "), 1260) // 16,380 bytes
			if err := c.Write(context.Background(), TextMessage, msg); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Read(readDeadline(t)); err != nil {
				t.Fatal(err)
			}
			w, err := s.Writer(context.Background(), BinaryMessage)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(msg[:8000])
			w.Write(msg[8000:])
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.Read(readDeadline(t)); err != nil {
				t.Fatal(err)
			}
			endConns(t, s, c)
			// The wire counts are what the compressor made of the
			// messages: fewer bytes, the same seen from both sides.
			up, down := cli.Snapshot().Sent[TextMessage].WireBytes, srv.Snapshot().Sent[BinaryMessage].WireBytes
			for _, wire := range []uint64{up, down} {
				if wire == 0 || wire >= uint64(len(msg))/4 {
					t.Errorf("%d bytes on the wire for a message of %d that compresses well", wire, len(msg))
				}
			}
			n := uint64(len(msg))
			ws, wc := openedAndClosed(true), openedAndClosed(false)
			ws.Received[TextMessage] = MessageCounts{1, n, up}
			wc.Sent[TextMessage] = MessageCounts{1, n, up}
			ws.Sent[BinaryMessage] = MessageCounts{1, n, down}
			wc.Received[BinaryMessage] = MessageCounts{1, n, down}
			return ws, wc
		}},
		{"close with a code", func(t *testing.T, srv, cli *Metrics) (MetricsSnapshot, MetricsSnapshot) {
			s, c := dialPair(t, &AcceptOptions{ConnOptions: ConnOptions{Metrics: srv}}, &DialOptions{ConnOptions: ConnOptions{Metrics: cli}})
			read := make(chan error, 1)
			go func() {
				_, _, err := s.Read(readDeadline(t))
				read <- err
			}()
			if err := c.Close(4001, "done"); err != nil {
				t.Fatal(err)
			}
			if err := <-read; CloseStatus(err) != 4001 {
				t.Fatalf("server read: %v", err)
			}
			endConns(t, s, c)
			ws, wc := openedAndClosed(true), openedAndClosed(false)
			ws.CloseReceived[4001], ws.CloseSent[4001] = 1, 1 // the echo
			wc.CloseSent[4001], wc.CloseReceived[4001] = 1, 1
			return ws, wc
		}},
		{"close without a code", func(t *testing.T, srv, cli *Metrics) (MetricsSnapshot, MetricsSnapshot) {
			s, c := dialPair(t, &AcceptOptions{ConnOptions: ConnOptions{Metrics: srv}}, &DialOptions{ConnOptions: ConnOptions{Metrics: cli}})
			read := make(chan error, 1)
			go func() {
				_, _, err := s.Read(readDeadline(t))
				read <- err
			}()
			if err := c.Close(StatusNoStatus, ""); err != nil {
				t.Fatal(err)
			}
			<-read
			endConns(t, s, c)
			ws, wc := openedAndClosed(true), openedAndClosed(false)
			ws.CloseReceived[StatusNoStatus], ws.CloseSent[StatusNormalClosure] = 1, 1
			wc.CloseSent[StatusNoStatus], wc.CloseReceived[StatusNormalClosure] = 1, 1
			return ws, wc
		}},
		{"handshake refused by a hook", func(t *testing.T, srv, cli *Metrics) (MetricsSnapshot, MetricsSnapshot) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				Accept(w, r, &AcceptOptions{
					RequestHooks: []RequestHook{func(*http.Request, http.Header) error { return Reject(http.StatusUnauthorized, "no token") }},
					ConnOptions:  ConnOptions{Metrics: srv},
				})
			}))
			defer hs.Close()
			_, _, err := Dial(context.Background(), urlOf(hs.URL), &DialOptions{ConnOptions: ConnOptions{Metrics: cli}})
			var he *HandshakeError
			if !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
				t.Fatalf("dial: %v", err)
			}
			ws, wc := noCounts(), noCounts()
			ws.HandshakesRefused[401], wc.HandshakesRefused[401] = 1, 1
			return ws, wc
		}},
		{"handshake refused by a full tracker", func(t *testing.T, srv, cli *Metrics) (MetricsSnapshot, MetricsSnapshot) {
			tracker := &ConnSet{MaxConns: 1}
			s, c := dialPair(t, &AcceptOptions{ConnSet: tracker, ConnOptions: ConnOptions{Metrics: srv}}, nil)
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				Accept(w, r, &AcceptOptions{ConnSet: tracker, ConnOptions: ConnOptions{Metrics: srv}})
			}))
			defer hs.Close()
			_, _, err := Dial(context.Background(), urlOf(hs.URL), &DialOptions{ConnOptions: ConnOptions{Metrics: cli}})
			var he *HandshakeError
			if !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable {
				t.Fatalf("dial: %v", err)
			}
			endConns(t, s, c)
			ws, wc := openedAndClosed(true), noCounts()
			ws.HandshakesRefused[503], wc.HandshakesRefused[503] = 1, 1
			return ws, wc
		}},
		{"dial handshake timeout", func(t *testing.T, srv, cli *Metrics) (MetricsSnapshot, MetricsSnapshot) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() { // a server that never answers
				nc, err := ln.Accept()
				if err == nil {
					io.Copy(io.Discard, nc)
					nc.Close()
				}
			}()
			_, _, err = Dial(context.Background(), "ws://"+ln.Addr().String()+"/", &DialOptions{HandshakeTimeout: 100 * time.Millisecond, ConnOptions: ConnOptions{Metrics: cli}})
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("dial: %v", err)
			}
			wc := noCounts()
			wc.HandshakeTimeouts = 1
			return noCounts(), wc
		}},
		{"accept handshake timeout", func(t *testing.T, srv, cli *Metrics) (MetricsSnapshot, MetricsSnapshot) {
			accepted := make(chan error, 1)
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, err := Accept(w, r, &AcceptOptions{
					// A response larger than the socket buffers, to a
					// client that reads nothing.
					RequestHooks: []RequestHook{func(_ *http.Request, h http.Header) error {
						h.Set("X-Padding", strings.Repeat("a", 8<<20))
						return nil
					}},
					HandshakeTimeout: 200 * time.Millisecond,
					ConnOptions:      ConnOptions{Metrics: srv},
				})
				accepted <- err
			}))
			defer hs.Close()
			nc, err := net.Dial("tcp", hs.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
				"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
			select {
			case err := <-accepted:
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("accept: %v", err)
				}
			case <-time.After(6 * hangGuard): // 8 MiB of header to check and write
				t.Fatal("Accept did not return")
			}
			ws := openedAndClosed(true)
			ws.HandshakeTimeouts = 1
			return ws, noCounts()
		}},
		{"idle timeout", func(t *testing.T, srv, cli *Metrics) (MetricsSnapshot, MetricsSnapshot) {
			c, _ := newPair(t, ConnOptions{IdleTimeout: 100 * time.Millisecond, Metrics: srv}, false)
			readFails(t, c, ErrIdleTimeout)
			ws := openedAndClosed(true)
			ws.IdleTimeouts, ws.CloseSent[StatusGoingAway] = 1, 1
			return ws, noCounts()
		}},
		{"message timeout", func(t *testing.T, srv, cli *Metrics) (MetricsSnapshot, MetricsSnapshot) {
			c, p := newPair(t, ConnOptions{MessageTimeout: 100 * time.Millisecond, Metrics: srv}, false)
			p.write(frameBytes(false, 0, frame.OpText, []byte("the start of a message"), false))
			readFails(t, c, ErrMessageTimeout)
			ws := openedAndClosed(true)
			ws.MessageTimeouts, ws.CloseSent[StatusPolicyViolation] = 1, 1
			return ws, noCounts()
		}},
		{"keepalive timeout", func(t *testing.T, srv, cli *Metrics) (MetricsSnapshot, MetricsSnapshot) {
			c, _ := newPair(t, ConnOptions{PingInterval: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond, Metrics: srv}, false)
			readFails(t, c, ErrKeepaliveTimeout)
			ws := openedAndClosed(true)
			ws.KeepaliveTimeouts = 1
			return ws, noCounts()
		}},
		{"write timeout", func(t *testing.T, srv, cli *Metrics) (MetricsSnapshot, MetricsSnapshot) {
			c, _ := newPair(t, ConnOptions{WriteTimeout: 200 * time.Millisecond, Metrics: srv}, false)
			msg := make([]byte, 1<<20)
			var sent uint64
			var err error
			for range 1000 { // the peer reads nothing: socket buffers fill up
				if err = c.Write(context.Background(), BinaryMessage, msg); err != nil {
					break
				}
				sent++
			}
			if !errors.Is(err, ErrWriteTimeout) {
				t.Fatalf("write: %v", err)
			}
			endConns(t, c)
			ws := openedAndClosed(true)
			ws.WriteTimeouts = 1
			ws.Sent[BinaryMessage] = MessageCounts{sent, sent << 20, sent << 20}
			return ws, noCounts()
		}},
		{"close timeout", func(t *testing.T, srv, cli *Metrics) (MetricsSnapshot, MetricsSnapshot) {
			c, _ := newPair(t, ConnOptions{CloseTimeout: 100 * time.Millisecond, Metrics: srv}, false)
			if err := c.Close(StatusNormalClosure, ""); !errors.Is(err, ErrCloseTimeout) {
				t.Fatalf("close: %v", err)
			}
			endConns(t, c)
			ws := openedAndClosed(true)
			ws.CloseTimeouts, ws.CloseSent[StatusNormalClosure] = 1, 1
			return ws, noCounts()
		}},
		{"failed connection", func(t *testing.T, srv, cli *Metrics) (MetricsSnapshot, MetricsSnapshot) {
			c, p := newPair(t, ConnOptions{Metrics: srv}, false)
			p.write(frameBytes(true, 0, frame.OpText, []byte{0xff}, false))
			p.nc.Close()
			readFails(t, c, ErrInvalidUTF8)
			ws := openedAndClosed(true)
			ws.CloseSent[StatusInvalidPayload] = 1
			return ws, noCounts()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var srv, cli Metrics
			wantSrv, wantCli := tt.run(t, &srv, &cli)
			if got := srv.Snapshot(); !reflect.DeepEqual(got, wantSrv) {
				t.Errorf("server counts\n got %+v\nwant %+v", got, wantSrv)
			}
			if got := cli.Snapshot(); !reflect.DeepEqual(got, wantCli) {
				t.Errorf("client counts\n got %+v\nwant %+v", got, wantCli)
			}
		})
	}
}

// TestMetricsCloseCodeSlots: every code a close frame may carry has a
// counter of its own, and no other code is counted.
func TestMetricsCloseCodeSlots(t *testing.T) {
	seen := map[int]bool{}
	for code := 0; code < 6000; code++ {
		i := closeSlot(code)
		valid := code >= 1000 && code < 1016 || code >= 3000 && code < 5000
		if (i >= 0) != valid {
			t.Fatalf("closeSlot(%d) = %d", code, i)
		}
		if i < 0 {
			continue
		}
		if seen[i] || i >= closeCodeSlots || int(slotCode(i)) != code {
			t.Fatalf("closeSlot(%d) = %d, shared or out of range (slotCode %d)", code, i, slotCode(i))
		}
		seen[i] = true
	}
	var m Metrics
	m.closeSent([]byte{0x0b, 0xb8}) // 3000
	m.closeSent(nil)                // no code
	m.closeReceived(999)            // cannot arrive: not counted
	m.refusedHandshake(99)          // not an HTTP status: not counted
	s := m.Snapshot()
	if !reflect.DeepEqual(s.CloseSent, map[StatusCode]uint64{3000: 1, StatusNoStatus: 1}) || len(s.CloseReceived) != 0 || len(s.HandshakesRefused) != 0 {
		t.Fatalf("snapshot %+v", s)
	}
}

// TestMetricsNil: every counting call may be made on a nil *Metrics, which
// is what connections without Metrics do.
func TestMetricsNil(t *testing.T) {
	var m *Metrics
	m.opened(true)
	m.ended(true, ErrIdleTimeout)
	m.refusedHandshake(403)
	m.handshakeTimedOut()
	m.messageReceived(TextMessage, 1, 1)
	m.messageSent(BinaryMessage, 1, 1)
	m.closeSent(nil)
	m.closeReceived(1000)
	m.dialFailed(context.Background(), errors.New("x")) // a panic fails the test
}

// TestMetricsOpenNeverNegative: connections opening and ending while
// snapshots are taken never make a side's Closed exceed its Opened.
func TestMetricsOpenNeverNegative(t *testing.T) {
	var m Metrics
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				m.opened(true)
				m.ended(true, nil)
			}
		}
	}()
	for range 2000 {
		if s := m.Snapshot(); s.ServerClosed > s.ServerOpened {
			close(stop)
			t.Fatalf("closed %d > opened %d", s.ServerClosed, s.ServerOpened)
		}
	}
	close(stop)
	<-done
}
