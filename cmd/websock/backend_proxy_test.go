package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/websock/websock"
)

// tcpPeer is a TCP server started by a test: serve runs on each
// connection it accepts.
func tcpPeer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				serve(nc)
			}()
		}
	}()
	return ln.Addr().String()
}

// echoPeer sends back what it reads, through a small buffer of its own
// (not splice, whose pooled pipes would count as the server's descriptors
// in the cost measurements, nor io.Copy's 32 KiB).
func echoPeer(nc net.Conn) {
	io.CopyBuffer(struct{ io.Writer }{nc}, struct{ io.Reader }{nc}, make([]byte, 1<<10))
}

func proxyServer(t *testing.T, target string, change func(*serveConfig)) (*server, *lockedBuffer) {
	t.Helper()
	return startServe(t, func(cfg *serveConfig) {
		cfg.backends.proxy = "tcp://" + target
		if change != nil {
			change(cfg)
		}
	})
}

// TestProxyLargeTransferBothWays: 8 MiB through a TCP echo server, sent
// and read at once, arrive whole and in order; the "binary" subprotocol is
// chosen when offered.
func TestProxyLargeTransferBothWays(t *testing.T) {
	s, _ := proxyServer(t, tcpPeer(t, echoPeer), nil)
	c := dialPath(t, s, "/ws", &websock.DialOptions{Subprotocols: []string{"base64", "binary"}})
	if c.Subprotocol() != "binary" {
		t.Fatalf("subprotocol %q, want binary", c.Subprotocol())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sent := make([]byte, 8<<20)
	rand.Read(sent)
	writeErr := make(chan error, 1)
	go func() {
		for p := sent; len(p) > 0; p = p[min(len(p), 100_000):] {
			if err := c.Write(ctx, websock.BinaryMessage, p[:min(len(p), 100_000)]); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	}()
	got := make([]byte, 0, len(sent))
	for len(got) < len(sent) {
		typ, msg, err := c.Read(ctx)
		if err != nil || typ != websock.BinaryMessage {
			t.Fatalf("after %d bytes: %v %v", len(got), typ, err)
		}
		got = append(got, msg...)
	}
	if err := <-writeErr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, sent) {
		t.Fatal("bytes came back changed or out of order")
	}
	// Text messages are bytes too.
	c.Write(ctx, websock.TextMessage, []byte("RFB 003.008\n"))
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "RFB 003.008\n" {
		t.Fatalf("text message: %q %v", msg, err)
	}
	if err := c.Close(websock.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
}

func TestProxyWithoutSubprotocol(t *testing.T) {
	s, _ := proxyServer(t, tcpPeer(t, echoPeer), nil)
	for _, offered := range [][]string{nil, {"chat"}} {
		c := dialPath(t, s, "/ws", &websock.DialOptions{Subprotocols: offered})
		if c.Subprotocol() != "" {
			t.Fatalf("offered %q: subprotocol %q", offered, c.Subprotocol())
		}
		ctx := context.Background()
		c.Write(ctx, websock.BinaryMessage, []byte("ping"))
		if _, msg, err := c.Read(ctx); err != nil || string(msg) != "ping" {
			t.Fatalf("%q %v", msg, err)
		}
		c.Close(websock.StatusNormalClosure, "")
	}
}

// TestProxyTCPEndClosesConnection: what the TCP peer sent before its EOF
// arrives, then close 1000.
func TestProxyTCPEndClosesConnection(t *testing.T) {
	s, _ := proxyServer(t, tcpPeer(t, func(nc net.Conn) { nc.Write([]byte("hello and goodbye")) }), nil)
	c := dialPath(t, s, "/ws", nil)
	typ, msg, err := c.Read(context.Background())
	if err != nil || typ != websock.BinaryMessage || string(msg) != "hello and goodbye" {
		t.Fatalf("%v %q %v", typ, msg, err)
	}
	if code, _ := readClose(t, c); code != websock.StatusNormalClosure {
		t.Fatalf("close %d, want 1000", code)
	}
}

// TestProxyConnectionEndClosesTCP: the client closing (or vanishing)
// closes the TCP connection: the peer reads EOF.
func TestProxyConnectionEndClosesTCP(t *testing.T) {
	ended := make(chan error, 2)
	s, _ := proxyServer(t, tcpPeer(t, func(nc net.Conn) {
		nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, err := io.Copy(io.Discard, nc)
		ended <- err
	}), nil)
	for _, end := range []string{"close", "drop"} {
		c := dialPath(t, s, "/ws", nil)
		c.Write(context.Background(), websock.BinaryMessage, []byte("x"))
		if end == "close" {
			if err := c.Close(websock.StatusNormalClosure, ""); err != nil {
				t.Fatal(err)
			}
		} else {
			c.CloseNow()
		}
		if err := <-ended; err != nil {
			t.Fatalf("%s: the TCP peer saw %v, want EOF", end, err)
		}
	}
}

func TestProxyDialFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	s, logs := proxyServer(t, addr, nil)
	c := dialPath(t, s, "/ws", nil)
	if code, reason := readClose(t, c); code != websock.StatusInternalError || reason != "backend unreachable" {
		t.Fatalf("close %d %q, want 1011 backend unreachable", code, reason)
	}
	waitFor(t, "the dial failure in the log", func() bool { return logs.contains("proxy: dial failed") && logs.contains(addr) })
}

// floodUntilClosed sends 1 MiB text messages on c until writing fails,
// while reading the close the server sends; it returns that close, how
// much was sent and the most the heap grew meanwhile. It fails the test if
// 512 MiB went through (nothing slowed the client).
func floodUntilClosed(t *testing.T, c *websock.Conn) (code websock.StatusCode, reason string, sent int, growth int64) {
	t.Helper()
	before := heapInUse()
	msg := []byte(strings.Repeat("x", 1<<20))
	written := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for sent < 512<<20 {
			if err := c.Write(ctx, websock.TextMessage, msg); err != nil {
				written <- err
				return
			}
			sent += len(msg)
			growth = max(growth, int64(heapInUse())-int64(before))
		}
		written <- nil
	}()
	code, reason = readClose(t, c)
	if err := <-written; err == nil {
		t.Fatalf("all %d MiB accepted with nothing reading them", sent>>20)
	}
	if growth > 8<<20 {
		t.Errorf("heap grew %d MiB", growth>>20)
	}
	return code, reason, sent, growth
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestProxyPeerThatDoesNotReadHoldsNoMemory: a client sending to a TCP
// peer that reads nothing is slowed (its writes block) while the server's
// heap stays flat; after -write-timeout the connection is closed with 1011.
func TestProxyPeerThatDoesNotReadHoldsNoMemory(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	target := tcpPeer(t, func(nc net.Conn) { <-stop })
	s, _ := proxyServer(t, target, func(cfg *serveConfig) { cfg.writeTimeout = 3 * time.Second })
	c := dialPath(t, s, "/ws", nil)
	code, reason, sent, growth := floodUntilClosed(t, c)
	t.Logf("TCP peer not reading: client sent %d MiB (kernel buffers) before blocking; server heap grew %d KiB at most", sent>>20, growth>>10)
	if code != websock.StatusInternalError || reason != "backend connection failed" {
		t.Errorf("close %d %q, want 1011 after -write-timeout", code, reason)
	}
}

func TestProxyClientThatDoesNotReadHoldsNoMemory(t *testing.T) {
	var wrote int64
	done := make(chan struct{})
	target := tcpPeer(t, func(nc net.Conn) {
		defer close(done)
		buf := make([]byte, 64<<10)
		for wrote < 256<<20 {
			nc.SetWriteDeadline(time.Now().Add(3 * time.Second))
			n, err := nc.Write(buf)
			wrote += int64(n)
			if err != nil {
				return
			}
		}
	})
	s, _ := proxyServer(t, target, func(cfg *serveConfig) { cfg.writeTimeout = 0 })
	before := heapInUse()
	c := dialPath(t, s, "/ws", nil)
	<-done // the peer's writes stalled
	growth := int64(heapInUse()) - int64(before)
	t.Logf("client not reading: TCP peer wrote %d MiB before blocking; server heap grew %d KiB", wrote>>20, growth>>10)
	if wrote >= 256<<20 {
		t.Fatalf("all %d MiB accepted with nothing reading them", wrote>>20)
	}
	if growth > 8<<20 {
		t.Errorf("heap grew %d MiB", growth>>20)
	}
	// What was held back still arrives.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, msg, err := c.Read(ctx); err != nil || len(msg) == 0 {
		t.Fatalf("%d bytes, %v", len(msg), err)
	}
	c.CloseNow()
}
