package websock

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/websock/websock/internal/frame"
)

// idleConns is how many connections TestServedIdleConnections holds:
// WEBSOCK_IDLE_CONNS overrides the default (each takes two descriptors).
func idleConns(t *testing.T) int {
	if s := os.Getenv("WEBSOCK_IDLE_CONNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("WEBSOCK_IDLE_CONNS=%q: %v", s, err)
		}
		return n
	}
	return 1000
}

// tcpPairs returns n connected loopback TCP pairs: the accepted ends and
// the dialled ends.
func tcpPairs(t *testing.T, n int) (servers, clients []net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, n)
	go func() {
		for range n {
			nc, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- nc
		}
	}()
	for range n {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("dial: %v (%d descriptors open)", err, 2*len(clients))
		}
		clients = append(clients, nc)
		sc, ok := <-accepted
		if !ok {
			t.Fatal("accept failed")
		}
		servers = append(servers, sc)
	}
	t.Cleanup(func() {
		for _, c := range clients {
			c.Close()
		}
		for _, c := range servers {
			c.Close()
		}
	})
	return servers, clients
}

// heapAndStacks returns the bytes of live heap objects and of goroutine
// stacks, after a collection.
func heapAndStacks() int64 {
	return heapBytes("/memory/classes/heap/objects:bytes", "/memory/classes/heap/stacks:bytes")
}

// heapObjects returns the bytes of live heap objects after a collection.
func heapObjects() int64 { return heapBytes("/memory/classes/heap/objects:bytes") }

// heapBytes returns the sum of the runtime/metrics memory classes named,
// after a collection (twice, so that what pools held over the first is
// collected too).
func heapBytes(classes ...string) int64 {
	runtime.GC()
	runtime.GC()
	s := make([]metrics.Sample, len(classes))
	for i, name := range classes {
		s[i].Name = name
	}
	metrics.Read(s)
	var n uint64
	for _, v := range s {
		n += v.Value.Uint64()
	}
	return int64(n)
}

// echoEach sends a 32-byte masked message on each client and reads the
// echo.
func echoEach(t *testing.T, clients []net.Conn) {
	t.Helper()
	msg := frameBytes(true, 0, frame.OpBinary, pattern(32, 3), false)
	for _, nc := range clients {
		if _, err := nc.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	reply := make([]byte, 2+32)
	for _, nc := range clients {
		nc.SetReadDeadline(time.Now().Add(hangGuard))
		if _, err := io.ReadFull(nc, reply); err != nil {
			t.Fatalf("echo: %v", err)
		}
		if !bytes.Equal(reply[2:], pattern(32, 3)) {
			t.Fatalf("echo: got %q", reply[2:])
		}
	}
}

// TestServedIdleConnections holds many served connections after one echo
// each: they must hold no goroutine, and their memory (heap and stacks)
// is reported next to that of connections each read by a goroutine.
func TestServedIdleConnections(t *testing.T) {
	n := idleConns(t)
	ctx := context.Background()
	measure := func(serve func(c *Conn), wantG int) (perConn float64, goroutines int) {
		servers, clients := tcpPairs(t, n)
		base, baseG := heapAndStacks(), runtime.NumGoroutine()
		conns := make([]*Conn, n)
		for i, sc := range servers {
			conns[i] = newConn(sc, nil, connConfig{server: true})
			serve(conns[i])
		}
		echoEach(t, clients)
		// Let the readers that delivered the echoes leave.
		if !waitGoroutines(baseG + wantG) {
			t.Errorf("%d goroutines more for %d idle connections, want %d", runtime.NumGoroutine()-baseG, n, wantG)
		}
		perConn = float64(heapAndStacks()-base) / float64(n)
		goroutines = runtime.NumGoroutine() - baseG
		for _, c := range conns {
			c.CloseNow()
		}
		return perConn, goroutines
	}
	echo := Events{OnMessage: func(c *Conn, typ MessageType, data []byte) { c.Write(ctx, typ, data) }}
	wantServed := 1 // the poller
	if runtime.GOOS != "linux" {
		wantServed = n
	}
	served, servedG := measure(func(c *Conn) {
		if err := c.Serve(echo); err != nil {
			t.Fatal(err)
		}
	}, wantServed)
	looped, _ := measure(func(c *Conn) {
		go func() {
			var buf []byte
			for {
				typ, msg, err := c.ReadAppend(ctx, buf[:0])
				if err != nil {
					return
				}
				c.Write(ctx, typ, msg)
				buf = msg
			}
		}()
	}, n)
	t.Logf("%d idle connections after a 32-byte echo: served %.0f bytes each (%d goroutines in all), read by a goroutine each %.0f bytes", n, served, servedG, looped)
	if runtime.GOOS == "linux" && served > 3072 {
		t.Errorf("a served idle connection holds %.0f bytes, want at most 3 KiB", served)
	}
}

// TestServedEndings: a served connection ends as one read with Read would:
// the peer gets the same close codes, OnEnd the error Read would return.
func TestServedEndings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		opts  ConnOptions
		send  []byte // from the peer
		code  StatusCode
		check func(err error) bool
	}{
		{"read limit", ConnOptions{ReadLimit: 100}, frameBytes(true, 0, frame.OpBinary, pattern(101, 1), false), StatusMessageTooBig,
			func(err error) bool { return errors.Is(err, ErrMessageTooBig) }},
		{"invalid UTF-8", ConnOptions{}, frameBytes(true, 0, frame.OpText, []byte{'a', 0xff}, false), StatusInvalidPayload,
			func(err error) bool { return errors.Is(err, ErrInvalidUTF8) }},
		{"unmasked frame", ConnOptions{}, frameBytes(true, 0, frame.OpBinary, []byte("x"), true), StatusProtocolError,
			func(err error) bool { return errors.Is(err, ErrProtocol) }},
		{"peer closes", ConnOptions{}, frameBytes(true, 0, frame.OpClose, frame.AppendClose(nil, 4000, "bye"), false), 4000,
			func(err error) bool {
				var ce *CloseError
				return errors.As(err, &ce) && ce.Code == 4000 && ce.Reason == "bye"
			}},
		{"idle timeout", ConnOptions{IdleTimeout: 100 * time.Millisecond}, nil, StatusGoingAway,
			func(err error) bool { return errors.Is(err, ErrIdleTimeout) }},
		{"message timeout", ConnOptions{MessageTimeout: 100 * time.Millisecond}, frameBytes(false, 0, frame.OpBinary, []byte("half"), false), StatusPolicyViolation,
			func(err error) bool { return errors.Is(err, ErrMessageTimeout) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, p, msgs, ended := servedPair(t, tc.opts, false)
			if tc.send != nil {
				p.write(tc.send)
			}
			p.expectClose(tc.code)
			if err := recvEnd(t, ended); !tc.check(err) {
				t.Fatalf("OnEnd got %v", err)
			}
			if len(msgs) != 0 {
				t.Fatalf("%d messages delivered", len(msgs))
			}
		})
	}
}

// TestServedKeepalive: a peer that answers no ping is dropped.
func TestServedKeepalive(t *testing.T) {
	t.Parallel()
	_, p, _, ended := servedPair(t, ConnOptions{PingInterval: 50 * time.Millisecond, PongTimeout: 50 * time.Millisecond}, false)
	if h, _ := p.readFrame(); h.Opcode != frame.OpPing {
		t.Fatalf("got %v, want a ping", h.Opcode)
	}
	p.readEOF()
	if err := recvEnd(t, ended); !errors.Is(err, ErrKeepaliveTimeout) {
		t.Fatalf("OnEnd got %v", err)
	}
}

// TestServedCloseFromServer: Close from another goroutine, and from
// OnMessage, performs the closing handshake.
func TestServedCloseFromServer(t *testing.T) {
	t.Parallel()
	for _, inCallback := range []bool{false, true} {
		c, p := newPair(t, ConnOptions{}, false)
		ended := make(chan error, 1)
		closed := make(chan error, 1)
		err := c.Serve(Events{
			OnMessage: func(c *Conn, typ MessageType, data []byte) {
				if inCallback {
					closed <- c.Close(StatusNormalClosure, "done")
				}
			},
			OnEnd: func(c *Conn, err error) { ended <- err },
		})
		if err != nil {
			t.Fatal(err)
		}
		if inCallback {
			p.write(frameBytes(true, 0, frame.OpText, []byte("close me"), false))
		} else {
			go func() { closed <- c.Close(StatusNormalClosure, "done") }()
		}
		h, b := p.readFrame()
		if h.Opcode != frame.OpClose || string(b[2:]) != "done" {
			t.Fatalf("got %v %q, want the close frame", h.Opcode, b)
		}
		p.write(frameBytes(true, 0, frame.OpClose, b, false))
		p.readEOF()
		select {
		case err := <-closed:
			if err != nil {
				t.Fatalf("Close: %v", err)
			}
		case <-time.After(hangGuard):
			t.Fatal("Close did not return")
		}
		if err := recvEnd(t, ended); CloseStatus(err) != StatusNormalClosure {
			t.Fatalf("OnEnd got %v", err)
		}
	}
}

// TestServedOrder: messages that arrive together are delivered in order,
// one at a time.
func TestServedOrder(t *testing.T) {
	t.Parallel()
	c, p := newPair(t, ConnOptions{}, false)
	const n = 300
	var inside, overlaps atomic.Int32
	got := make(chan int, n)
	err := c.Serve(Events{OnMessage: func(c *Conn, typ MessageType, data []byte) {
		if inside.Add(1) > 1 {
			overlaps.Add(1)
		}
		i, _ := strconv.Atoi(string(data))
		runtime.Gosched()
		inside.Add(-1)
		got <- i
	}})
	if err != nil {
		t.Fatal(err)
	}
	var wire []byte
	for i := range n {
		wire = append(wire, frameBytes(true, 0, frame.OpText, []byte(strconv.Itoa(i)), false)...)
	}
	p.write(wire)
	for i := range n {
		select {
		case m := <-got:
			if m != i {
				t.Fatalf("message %d delivered as number %d", m, i)
			}
		case <-time.After(hangGuard):
			t.Fatalf("message %d not delivered", i)
		}
	}
	if overlaps.Load() != 0 {
		t.Fatalf("%d messages delivered while another was", overlaps.Load())
	}
}

// TestServedBlockedCallbacks: callbacks blocked on more connections than
// there are readers do not hold up the messages of another connection.
func TestServedBlockedCallbacks(t *testing.T) {
	t.Parallel()
	blockReaders(t, baseReaders()+2)
	_, p, msgs, _ := servedPair(t, ConnOptions{}, false)
	p.write(frameBytes(true, 0, frame.OpText, []byte("through"), false))
	if m := recvMessage(t, msgs); string(m.data) != "through" {
		t.Fatalf("got %q", m.data)
	}
}

// TestServedCloseNowMidMessage: CloseNow from another goroutine while a
// message is half received ends the connection once, with no message.
func TestServedCloseNowMidMessage(t *testing.T) {
	t.Parallel()
	c, p, msgs, ended := servedPair(t, ConnOptions{}, false)
	wire := frameBytes(true, 0, frame.OpBinary, pattern(1000, 2), false)
	p.write(wire[:500])
	if !waitNoReader(c) {
		t.Fatal("the half-received message holds a goroutine")
	}
	c.CloseNow()
	if err := recvEnd(t, ended); !errors.Is(err, ErrClosed) {
		t.Fatalf("OnEnd got %v", err)
	}
	if len(msgs) != 0 {
		t.Fatal("a message was delivered")
	}
}

// TestServedHTTP2: over HTTP/2 the stream is read by the handler's
// goroutine, with the same callbacks.
func TestServedHTTP2(t *testing.T) {
	t.Parallel()
	ended := make(chan error, 1)
	srv := newH2Server(t, EventHandler(nil, Events{
		OnMessage: func(c *Conn, typ MessageType, data []byte) { c.Write(context.Background(), typ, data) },
		OnEnd:     func(c *Conn, err error) { ended <- err },
	}))
	c, _, err := Dial(context.Background(), srv.wsURL(), &DialOptions{HTTP2: newH2Client(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ctx := context.Background()
	for _, n := range []int{1, 5000} {
		if err := c.Write(ctx, BinaryMessage, pattern(n, 4)); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, pattern(n, 4)) {
			t.Fatalf("echo of %d bytes: %d bytes, %v", n, len(got), err)
		}
	}
	closeNormally(t, c, ended)
}

// TestServedClient: a client connection served after Dial.
func TestServedClient(t *testing.T) {
	t.Parallel()
	srv, _ := echoServer(t, false, nil)
	c := dialEcho(t, urlOf(srv.URL), nil)
	msgs := make(chan []byte, 1)
	ended := make(chan error, 1)
	if err := c.Serve(Events{
		OnMessage: func(c *Conn, typ MessageType, data []byte) { msgs <- bytes.Clone(data) },
		OnEnd:     func(c *Conn, err error) { ended <- err },
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(context.Background(), TextMessage, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, msgs, "no echo"); string(m) != "hello" {
		t.Fatalf("got %q", m)
	}
	closeNormally(t, c, ended)
}

// TestServedPeerGone: a peer that sends a message and closes TCP at once
// (the end arriving with the last bytes) gets the message delivered, then
// the end.
func TestServedPeerGone(t *testing.T) {
	t.Parallel()
	for range 20 {
		_, p, msgs, ended := servedPair(t, ConnOptions{}, false)
		p.write(frameBytes(true, 0, frame.OpText, []byte("last words"), false))
		p.nc.Close()
		if m := recvMessage(t, msgs); string(m.data) != "last words" {
			t.Fatalf("got %q", m.data)
		}
		if err := recvEnd(t, ended); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("OnEnd got %v", err)
		}
	}
}

// TestServedEndWhileReadersBlocked: with every reader held by a blocked
// callback, a connection closed from another goroutine still gets its
// OnEnd (more readers are started), though the poller sees nothing.
func TestServedEndWhileReadersBlocked(t *testing.T) {
	idle, _, _, ended := servedPair(t, ConnOptions{}, false)
	blockReaders(t, baseReaders())
	idle.CloseNow()
	if err := recvEnd(t, ended); !errors.Is(err, ErrClosed) {
		t.Fatalf("OnEnd got %v", err)
	}
}

// closeNormally closes c with 1000 and checks that the served end saw it.
func closeNormally(t *testing.T, c *Conn, ended chan error) {
	t.Helper()
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := recvEnd(t, ended); CloseStatus(err) != StatusNormalClosure {
		t.Fatalf("OnEnd got %v", err)
	}
}

// blockReaders serves n connections whose callbacks block until the test
// ends, and returns once each callback has been reached.
func blockReaders(t *testing.T, n int) {
	t.Helper()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	blocked := make(chan struct{}, n)
	blocking := Events{OnMessage: func(c *Conn, typ MessageType, data []byte) {
		blocked <- struct{}{}
		<-release
	}}
	for range n {
		c, p := newPair(t, ConnOptions{}, false)
		if err := c.Serve(blocking); err != nil {
			t.Fatal(err)
		}
		p.write(frameBytes(true, 0, frame.OpText, []byte("block"), false))
	}
	for range n {
		recv(t, blocked, "a blocking callback was not reached")
	}
}
