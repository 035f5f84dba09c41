package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/websock/websock"
)

// startServe starts the serve command's server with its defaults, a ws
// listener on a free loopback port and no wss listener, changed by change.
func startServe(t *testing.T, change func(*serveConfig)) (*server, *lockedBuffer) {
	t.Helper()
	cfg := defaultServeConfig()
	cfg.wsAddr, cfg.wssAddr = "127.0.0.1:0", ""
	cfg.shutdownTimeout = 2 * time.Second
	change(&cfg)
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	s := newServer(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.shutdown() })
	return s, &logs
}

// rawUpgrade opens a TCP connection to addr and sends an opening handshake
// by hand; it returns the connection, its reader and the response status.
func rawUpgrade(t *testing.T, addr string) (net.Conn, *bufio.Reader, int) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if _, err := fmt.Fprintf(nc, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Time{})
	return nc, br, resp.StatusCode
}

// echoOnce dials url and exchanges one message, returning how long it took.
func echoOnce(t *testing.T, url string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	c, _, err := websock.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial after %v: %v", time.Since(start), err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websock.TextMessage, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "hello" {
		t.Fatalf("echo: %q %v", msg, err)
	}
	return time.Since(start)
}

// TestServeDropsPeersThatDoNotRead: clients that send a message larger than
// the socket buffers and never read its echo are dropped once the echo has
// waited the write timeout, and the server holds nothing for them
// afterwards.
//
// The echo cannot start before the client's write has returned, so the
// drop comes at least the write timeout after it; the clients see the drop
// through a small message they send every 50 ms (a write to a connection
// the server has closed fails).
func TestServeDropsPeersThatDoNotRead(t *testing.T) {
	const writeTimeout = time.Second
	const clients = 4
	s, logs := startServe(t, func(cfg *serveConfig) { cfg.writeTimeout = writeTimeout })
	url := "ws://" + s.addrs["ws"].String() + "/ws"
	msg := make([]byte, 8<<20) // more than the socket buffers of both sides hold
	var wg sync.WaitGroup
	drops := make(chan time.Duration, clients)
	errs := make(chan error, clients)
	for range clients {
		c, _, err := websock.Dial(context.Background(), url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Bounded: if the server never drops the client, its writes
			// fail when ctx ends and the test fails.
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := c.Write(ctx, websock.BinaryMessage, msg); err != nil {
				errs <- fmt.Errorf("large message: %w", err)
				return
			}
			sent := time.Now()
			probe := time.NewTicker(50 * time.Millisecond)
			defer probe.Stop()
			for {
				if err := c.Write(ctx, websock.TextMessage, []byte("?")); err != nil {
					if ctx.Err() != nil {
						errs <- fmt.Errorf("still connected after 60 s: %w", err)
						return
					}
					drops <- time.Since(sent)
					return
				}
				<-probe.C
			}
		}()
	}
	wg.Wait()
	close(drops)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var first, last time.Duration
	for d := range drops {
		if first == 0 || d < first {
			first = d
		}
		last = max(last, d)
	}
	t.Logf("%d non-reading clients dropped %v to %v after sending 8 MiB (write timeout %v)", clients, first.Round(time.Millisecond), last.Round(time.Millisecond), writeTimeout)
	if first < writeTimeout {
		t.Errorf("a client was dropped %v after its message, before the write timeout %v", first, writeTimeout)
	}
	// The server reads 8 MiB and starts its echo before the write timeout
	// can run: on a loaded machine that takes seconds, so the bound leaves
	// room for it while telling a drop from a peer held for ever.
	if last > writeTimeout+20*time.Second {
		t.Errorf("a non-reading client was dropped only %v after its message, write timeout %v", last, writeTimeout)
	}
	// Places are freed before TCP is closed, hence before the clients saw
	// the end.
	if n, open := s.tracker.Len(), s.budget.openConns(); n != 0 || open != 0 {
		t.Fatalf("after the drops: %d WebSocket and %d TCP connections still counted", n, open)
	}
	s.shutdown() // waits for the connections' log lines
	if n := strings.Count(logs.String(), "write timed out after 1s"); n != clients {
		t.Fatalf("%d connections closed for the write timeout, want %d:\n%s", n, clients, logs.String())
	}
}

// TestServeDropsSilentPeersAndFreesSlots: peers that neither send nor read
// hold every -max-conns slot; they are dropped after the ping interval and
// the pong timeout, and a legitimate client then connects and stays while
// it answers pings.
func TestServeDropsSilentPeersAndFreesSlots(t *testing.T) {
	// The pong timeout is what a legitimate client below has to answer
	// in, on a machine that may be busy: 2 s.
	const interval, pongTimeout = 500 * time.Millisecond, 2 * time.Second
	const maxConns = 10
	s, _ := startServe(t, func(cfg *serveConfig) {
		cfg.maxConns = maxConns
		cfg.pingInterval, cfg.pongTimeout = interval, pongTimeout
	})
	addr := s.addrs["ws"].String()
	url := "ws://" + addr + "/ws"
	type silent struct {
		nc     net.Conn
		br     *bufio.Reader
		opened time.Time
	}
	var peers []silent
	// The ConnSet counts a connection twice from its 101 response until
	// Accept returns, so a peer that follows at once may be refused while
	// a place is in fact free: such refusals are retried.
	for refusals := 0; len(peers) < maxConns; {
		opened := time.Now()
		nc, br, status := rawUpgrade(t, addr)
		switch {
		case status == http.StatusServiceUnavailable && refusals < 100:
			refusals++
			nc.Close()
			continue
		case status != http.StatusSwitchingProtocols:
			t.Fatalf("silent peer %d refused with %d", len(peers), status)
		}
		peers = append(peers, silent{nc, br, opened})
	}
	var he *websock.HandshakeError
	if _, _, err := websock.Dial(context.Background(), url, nil); !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable {
		t.Fatalf("with every slot taken: %v, want 503", err)
	}
	var earliest, latest time.Duration
	for i, p := range peers {
		// Long before the idle timeout (2 min), which would drop it too.
		p.nc.SetReadDeadline(p.opened.Add(interval + pongTimeout + 20*time.Second))
		pings, err := io.Copy(io.Discard, p.br) // the keepalive ping, then the end
		if err != nil {
			t.Fatalf("silent peer %d not dropped: %v", i, err)
		}
		if pings == 0 {
			t.Fatalf("silent peer %d was not pinged before being dropped", i)
		}
		d := time.Since(p.opened)
		if i == 0 || d < earliest {
			earliest = d
		}
		latest = max(latest, d)
	}
	t.Logf("silent peers dropped %v to %v after connecting (ping interval + pong timeout = %v)", earliest.Round(time.Millisecond), latest.Round(time.Millisecond), interval+pongTimeout)
	if earliest < interval+pongTimeout-50*time.Millisecond {
		t.Errorf("a silent peer was dropped after %v, before ping interval + pong timeout", earliest)
	}

	// The slots are free: a legitimate client connects at once, and
	// reading (which answers pings) keeps it connected while idle.
	ctx := context.Background()
	c, _, err := websock.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("legitimate client after the silent ones were dropped: %v", err)
	}
	defer c.CloseNow()
	msgs, readErr := readInBackground(ctx, c)
	select {
	case err := <-readErr:
		t.Fatalf("a client answering pings was dropped while idle: %v", err)
	case <-time.After(2 * (interval + pongTimeout)): // pinged at least twice
	}
	if err := c.Write(ctx, websock.TextMessage, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-msgs:
		if msg != "still here" {
			t.Fatalf("echo %q", msg)
		}
	case err := <-readErr:
		t.Fatal(err)
	}
	c.Close(websock.StatusNormalClosure, "")
	<-readErr
}

// openKeepAlive opens n connections to addr that each get a 404 and stay
// open (HTTP keep-alive), and returns them.
func openKeepAlive(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, nc := range conns {
			nc.Close()
		}
	})
	for i := range n {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("keep-alive connection %d: %v", i, err)
		}
		conns = append(conns, nc)
		if err := notFound(nc, addr); err != nil {
			t.Fatalf("keep-alive connection %d: %v", i, err)
		}
	}
	return conns
}

// notFound sends a request for a missing page on nc and reads the 404.
func notFound(nc net.Conn, addr string) error {
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	defer nc.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(nc, "GET /nope HTTP/1.1\r\nHost: %s\r\n\r\n", addr); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusNotFound || resp.Close {
		return fmt.Errorf("got %d (close %v), want a kept-alive 404", resp.StatusCode, resp.Close)
	}
	return nil
}

// TestServeIdleKeepAliveConnsDoNotBlockWebSocketClients: thousands of idle
// HTTP keep-alive connections count against -max-conns, and the longest
// idle are closed to make room, so a WebSocket client still gets in at
// once.
func TestServeIdleKeepAliveConnsDoNotBlockWebSocketClients(t *testing.T) {
	const idle = 4100
	s, _ := startServe(t, func(cfg *serveConfig) { cfg.maxConns = 100 })
	addr := s.addrs["ws"].String()
	start := time.Now()
	conns := openKeepAlive(t, addr, idle)
	opened := time.Since(start)
	d := echoOnce(t, "ws://"+addr+"/ws")
	t.Logf("%d idle keep-alive connections opened in %v; a new WebSocket client connected and echoed in %v", idle, opened.Round(time.Millisecond), d.Round(time.Millisecond))
	if d > time.Second {
		t.Fatalf("WebSocket client took %v behind %d idle keep-alive connections", d, idle)
	}

	// All but the cap's worth were closed by the server: reading them
	// ends at once, while the others wait out the deadline.
	var wg sync.WaitGroup
	var mu sync.Mutex
	closed := 0
	deadline := time.Now().Add(2 * time.Second)
	for _, nc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc.SetReadDeadline(deadline)
			var b [1]byte
			if _, err := nc.Read(b[:]); errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
				mu.Lock()
				closed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if max := s.budget.max; closed < idle-max {
		t.Fatalf("the server closed %d of %d idle keep-alive connections, want all but %d (the cap on TCP connections)", closed, idle, max)
	}
}

// TestServeWebSocketOutlivesHTTPTimeouts: the http.Server's read, write and
// idle timeouts bound plain HTTP, not the WebSocket connections taken over
// from it.
func TestServeWebSocketOutlivesHTTPTimeouts(t *testing.T) {
	const httpTimeout = 300 * time.Millisecond
	for _, scheme := range []string{"ws", "wss"} {
		t.Run(scheme, func(t *testing.T) {
			s, _ := startServe(t, func(cfg *serveConfig) {
				cfg.handshake = httpTimeout
				cfg.wssAddr = "127.0.0.1:0"
			})
			for _, srv := range s.servers {
				if srv.ReadTimeout != httpTimeout || srv.WriteTimeout != httpTimeout || srv.IdleTimeout != httpTimeout {
					t.Fatalf("http.Server timeouts %v %v %v, want %v", srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, httpTimeout)
				}
			}
			ctx := context.Background()
			// The handshake itself is bounded by the short timeouts: on a
			// loaded machine it may be cut short, which is not what this
			// test is about, so a failed dial is tried again.
			dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			var c *websock.Conn
			for {
				var err error
				c, _, err = websock.Dial(dialCtx, scheme+"://"+s.addrs[scheme].String()+"/"+scheme, &websock.DialOptions{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
				if err == nil {
					break
				}
				if dialCtx.Err() != nil {
					t.Fatalf("no handshake completed within the HTTP timeouts: %v", err)
				}
			}
			defer c.CloseNow()
			msgs, readErr := readInBackground(ctx, c)
			select {
			case err := <-readErr:
				t.Fatalf("WebSocket connection ended while idle: %v", err)
			case <-time.After(4 * httpTimeout):
			}
			// A message larger than socket buffers: writing it takes
			// several writes, each of which would fail past a write
			// deadline left from the HTTP request.
			big := strings.Repeat("x", 8<<20)
			if err := c.Write(ctx, websock.TextMessage, []byte(big)); err != nil {
				t.Fatal(err)
			}
			select {
			case msg := <-msgs:
				if msg != big {
					t.Fatalf("echo of %d bytes, want %d", len(msg), len(big))
				}
			case err := <-readErr:
				t.Fatalf("WebSocket connection ended after the HTTP timeouts: %v", err)
			}
			c.Close(websock.StatusNormalClosure, "")
			<-readErr
		})
	}
}

// TestServeRefusesUpgradeWithBody: the body of an upgrade request would be
// read as frames; serve refuses it with 400 and a one-line reason.
func TestServeRefusesUpgradeWithBody(t *testing.T) {
	s, _ := startServe(t, func(*serveConfig) {})
	addr := s.addrs["ws"].String()
	for name, framing := range map[string]string{
		"Content-Length": "Content-Length: 6\r\n\r\n\x88\x80abcd",
		"chunked":        "Transfer-Encoding: chunked\r\n\r\n6\r\n\x88\x80abcd\r\n0\r\n\r\n",
	} {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := fmt.Fprintf(nc, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s", addr, framing); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "must not have a body") || strings.Count(strings.TrimSpace(string(body)), "\n") != 0 {
			t.Fatalf("%s: %d %q, want 400 and a one-line reason", name, resp.StatusCode, body)
		}
	}
}

// readInBackground reads c in a goroutine of its own (which answers pings)
// and hands over each message and the error that ends reading.
func readInBackground(ctx context.Context, c *websock.Conn) (msgs <-chan string, readErr <-chan error) {
	m, e := make(chan string, 1), make(chan error, 1)
	go func() {
		for {
			_, msg, err := c.Read(ctx)
			if err != nil {
				e <- err
				return
			}
			m <- string(msg)
		}
	}()
	return m, e
}
