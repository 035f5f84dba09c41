//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/websock/websock"
	"github.com/websock/websock/bench/internal/server"
)

// TestEcho: the floor server answers as a WebSocket echo server would for
// what the benchmarks send: text and binary messages of every length
// encoding, a ping, and the closing handshake.
func TestEcho(t *testing.T) {
	exchange(t, "ws://"+startLoop(t, nil)+"/", nil)
}

// TestEchoTLS: the same over TLS, read through crypto/tls by the loop.
func TestEchoTLS(t *testing.T) {
	exchange(t, "wss://"+startLoop(t, testTLSConfig(t))+"/", insecure)
}

// TestEchoTLSGoroutines: the same over TLS, a goroutine per connection.
func TestEchoTLSGoroutines(t *testing.T) {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", testTLSConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go serveTLS(ln)
	exchange(t, "wss://"+ln.Addr().String()+"/", insecure)
}

var insecure = &websock.DialOptions{TLSConfig: &tls.Config{InsecureSkipVerify: true}}

func testTLSConfig(t *testing.T) *tls.Config {
	cert, err := tls.X509KeyPair(server.Config{}.KeyPair())
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}
}

// startLoop starts a loop on a free port of 127.0.0.1 (until the test
// binary exits) and returns its address.
func startLoop(t *testing.T, tlsConfig *tls.Config) string {
	lfd, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(lfd)
	if err != nil {
		t.Fatal(err)
	}
	l, err := newLoop(lfd, tlsConfig)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		runtime.LockOSThread()
		l.run()
	}()
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}

// exchange runs what the benchmarks send against the echo server at url.
func exchange(t *testing.T, url string, opts *websock.DialOptions) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, _, err := websock.Dial(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for _, size := range []int{0, 32, 125, 126, 65535, 65536, 300 << 10} {
		typ := websock.BinaryMessage
		msg := bytes.Repeat([]byte{byte(size)}, size)
		if size == 32 {
			typ, msg = websock.TextMessage, []byte("thirty-two bytes of text, echoed")
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			t.Fatal(err)
		}
		gotTyp, got, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if gotTyp != typ || !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes: echoed %v of %d bytes, want %v of %d", size, gotTyp, len(got), typ, len(msg))
		}
	}
	// The pong is seen by a Read in progress, which the message sent
	// after it ends.
	read := make(chan error, 1)
	go func() {
		_, got, err := c.Read(ctx)
		if err == nil && string(got) != "after the ping" {
			err = fmt.Errorf("read %q", got)
		}
		read <- err
	}()
	if err := c.Ping(ctx, []byte("floor")); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if err := c.Write(ctx, websock.TextMessage, []byte("after the ping")); err != nil {
		t.Fatal(err)
	}
	if err := <-read; err != nil {
		t.Fatalf("after the ping: %v", err)
	}
	if err := c.Close(websock.StatusNormalClosure, "done"); err != nil {
		t.Fatalf("closing handshake: %v", err)
	}
	if _, _, err := c.Read(ctx); !errors.Is(err, websock.ErrClosed) {
		var ce *websock.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("read after close: %v", err)
		}
	}
}
