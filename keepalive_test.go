package websock

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/websock/websock/internal/frame"
)

// TestKeepaliveDetectsDeadPeer: a peer that neither sends nor answers pings
// is dropped after PingInterval + PongTimeout.
func TestKeepaliveDetectsDeadPeer(t *testing.T) {
	pinged := make(chan bool, 1)
	url := rawServer(t, func(nc net.Conn, br *bufio.Reader, key string) {
		io.WriteString(nc, okResponse(key))
		var hb [2]byte
		_, err := io.ReadFull(br, hb[:])
		pinged <- err == nil && frame.Opcode(hb[0]&0x0f) == frame.OpPing
		io.Copy(io.Discard, br) // never answers
	})
	c, _, err := Dial(context.Background(), url, &DialOptions{ConnOptions: ConnOptions{PingInterval: 30 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, _, err = c.Read(context.Background())
	if !errors.Is(err, ErrKeepaliveTimeout) {
		t.Fatalf("Read: %v, want ErrKeepaliveTimeout", err)
	}
	if !<-pinged {
		t.Fatal("no ping was sent before giving up")
	}
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Fatalf("gave up after %v, before interval + pong timeout", d)
	}
}

// TestKeepaliveKeepsLivePeer: pongs keep an idle connection open.
func TestKeepaliveKeepsLivePeer(t *testing.T) {
	srv, _ := echoServer(t, false, nil)
	c := dialEcho(t, urlOf(srv.URL), &DialOptions{ConnOptions: ConnOptions{PingInterval: 10 * time.Millisecond}})
	pongs := make(chan struct{}, 100)
	c.OnPong(func([]byte) { pongs <- struct{}{} })
	ctx, cancel := context.WithCancel(context.Background())
	readErr := make(chan error, 1)
	go func() { _, _, err := c.Read(ctx); readErr <- err }()
	for i := 0; i < 5; i++ {
		<-pongs // five keepalive rounds answered
	}
	cancel()
	if err := <-readErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("Read: %v", err)
	}
	if err := c.Write(context.Background(), TextMessage, []byte("alive")); err != nil {
		t.Fatalf("connection dropped despite pongs: %v", err)
	}
}

// TestWriteTimeout: a peer that stops reading cannot block a writer forever.
func TestWriteTimeout(t *testing.T) {
	done := make(chan struct{})
	url := rawServer(t, func(nc net.Conn, br *bufio.Reader, key string) {
		io.WriteString(nc, okResponse(key))
		<-done // reads nothing more until the test ends
	})
	t.Cleanup(func() { close(done) })
	c, _, err := Dial(context.Background(), url, &DialOptions{ConnOptions: ConnOptions{WriteTimeout: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1<<20)
	for i := 0; ; i++ {
		err := c.Write(context.Background(), BinaryMessage, big)
		if errors.Is(err, ErrWriteTimeout) {
			break
		}
		if err != nil || i > 1000 {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if err := c.Write(context.Background(), BinaryMessage, []byte("x")); !errors.Is(err, ErrWriteTimeout) {
		t.Fatalf("write after the timeout: %v", err)
	}
}

// TestKeepaliveCountsBytes: a peer that streams one large frame slowly,
// never answering pings, is alive as long as its bytes keep coming.
func TestKeepaliveCountsBytes(t *testing.T) {
	const interval = 200 * time.Millisecond // dead after 400 ms of silence
	c, p := newPair(t, ConnOptions{PingInterval: interval}, false)
	msg := pattern(120, 7)
	b := frameBytes(true, 0, frame.OpBinary, msg, false)
	read := make(chan error, 1)
	go func() {
		_, got, err := c.Read(context.Background())
		if err == nil && string(got) != string(msg) {
			err = errors.New("wrong message")
		}
		read <- err
	}()
	// One byte every 10 ms: 1.2 s, three times the silence keepalive allows.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := range b {
		<-tick.C
		p.write(b[i : i+1])
	}
	if err := <-read; err != nil {
		t.Fatalf("slow frame: %v", err)
	}
}
