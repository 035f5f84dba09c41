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
	// Before Dial, which starts the keepalive clock: taken after, a test
	// goroutine that the scheduler leaves waiting while the clock runs
	// would see less than the interval + pong timeout that passed.
	start := time.Now()
	c, _, err := Dial(context.Background(), url, &DialOptions{ConnOptions: ConnOptions{PingInterval: 30 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
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
	// Pings every 10 ms, each answered within the pong timeout; the test
	// lasts more than twice that timeout, so a connection kept alive by
	// the first pings alone would be dropped during it.
	const pongTimeout = 2 * time.Second
	srv, _ := echoServer(t, false, nil)
	c := dialEcho(t, urlOf(srv.URL), &DialOptions{ConnOptions: ConnOptions{PingInterval: 10 * time.Millisecond, PongTimeout: pongTimeout}})
	pongs := make(chan struct{}, 100)
	c.OnPong(func([]byte) {
		select {
		case pongs <- struct{}{}:
		default:
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	readErr := make(chan error, 1)
	go func() { _, _, err := c.Read(ctx); readErr <- err }()
	start := time.Now()
	for n := 0; n < 5 || time.Since(start) < 5*pongTimeout/2; n++ {
		select {
		case <-pongs:
		case err := <-readErr:
			t.Fatalf("connection ended after %d pongs (%v): %v", n, time.Since(start).Round(time.Millisecond), err)
		case <-time.After(hangGuard):
			t.Fatalf("no pong for %v after %d", hangGuard, n)
		}
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
	p.trickle(b) // 1.2 s, three times the silence keepalive allows
	if err := <-read; err != nil {
		t.Fatalf("slow frame: %v", err)
	}
}

// expectClose reads frames from the Conn until a close frame, asserting
// its status, then the end of the connection.
func (p *rawPeer) expectClose(code StatusCode) {
	p.t.Helper()
	for {
		h, b := p.readFrame()
		if h.Opcode != frame.OpClose {
			continue
		}
		if len(b) < 2 || StatusCode(b[0])<<8|StatusCode(b[1]) != code {
			p.t.Fatalf("close frame %x, want status %d", b, code)
		}
		p.readEOF()
		return
	}
}

// TestIdleTimeout: a peer that sends nothing is closed with 1001 after
// the idle timeout, not before; a peer trickling bytes is not idle.
func TestIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	t.Run("silent", func(t *testing.T) {
		t.Parallel()
		start := time.Now() // before the Conn, whose creation starts the idle clock
		c, p := newPair(t, ConnOptions{IdleTimeout: idle}, false)
		_, _, err := c.Read(context.Background())
		if !errors.Is(err, ErrIdleTimeout) || !errors.Is(err, ErrClosed) {
			t.Fatalf("Read: %v, want ErrIdleTimeout", err)
		}
		if d := time.Since(start); d < idle {
			t.Fatalf("closed after %v, before the idle timeout", d)
		}
		p.expectClose(StatusGoingAway)
	})
	t.Run("trickling", func(t *testing.T) {
		t.Parallel()
		c, p := newPair(t, ConnOptions{IdleTimeout: idle}, false)
		msg := pattern(100, 1)
		b := frameBytes(true, 0, frame.OpBinary, msg, false)
		read := make(chan error, 1)
		go func() { _, _, err := c.Read(context.Background()); read <- err }()
		p.trickle(b) // 1 s in all
		if err := <-read; err != nil {
			t.Fatalf("trickled message: %v", err)
		}
	})
}

// TestMessageTimeout: a message left unfinished, even by a peer that
// keeps pinging, is ended with 1008 after the message timeout; messages
// that finish in time are untouched however long the pauses between them.
func TestMessageTimeout(t *testing.T) {
	const timeout = 400 * time.Millisecond
	t.Run("unfinished", func(t *testing.T) {
		t.Parallel()
		c, p := newPair(t, ConnOptions{MessageTimeout: timeout}, false)
		p.write(frameBytes(false, 0, frame.OpBinary, []byte("first part"), false))
		stop := make(chan struct{})
		pinged := make(chan struct{})
		go func() {
			defer close(pinged)
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := p.nc.Write(frameBytes(true, 0, frame.OpPing, nil, false)); err != nil {
						return
					}
				}
			}
		}()
		start := time.Now()
		_, _, err := c.Read(context.Background())
		close(stop)
		<-pinged
		if !errors.Is(err, ErrMessageTimeout) {
			t.Fatalf("Read: %v, want ErrMessageTimeout", err)
		}
		if d := time.Since(start); d < timeout {
			t.Fatalf("ended after %v, before the message timeout", d)
		}
		p.expectClose(StatusPolicyViolation)
	})
	t.Run("finished in time", func(t *testing.T) {
		t.Parallel()
		c, p := newPair(t, ConnOptions{MessageTimeout: timeout}, false)
		for i := 0; i < 3; i++ {
			// A pause longer than the timeout between messages.
			ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
			_, _, err := c.Read(ctx)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("read between messages: %v", err)
			}
			p.write(frameBytes(false, 0, frame.OpText, []byte("a"), false))
			p.write(frameBytes(true, 0, frame.OpContinuation, []byte("b"), false))
			if _, msg, err := c.Read(context.Background()); err != nil || string(msg) != "ab" {
				t.Fatalf("message %d: %q %v", i, msg, err)
			}
		}
	})
}

// trickle sends b one byte every 10 ms.
func (p *rawPeer) trickle(b []byte) {
	p.t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := range b {
		<-tick.C
		p.write(b[i : i+1])
	}
}

// TestMessageTimeoutEndsGently: when the message timeout ends a connection
// whose peer is still sending the message, the peer gets the close frame
// (1008 with its reason) and then the end of the stream, not a reset:
// closing a socket with unread input sends a reset, which can destroy the
// close frame before the peer reads it. So whether a read was waiting for
// the message, no read was in progress (and what the peer sent was left
// unread), or the connection is served.
func TestMessageTimeoutEndsGently(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for _, mode := range []string{"read waiting", "no read", "served"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			opts := ConnOptions{MessageTimeout: timeout}
			var c *Conn
			var p *rawPeer
			ended := make(chan error, 1)
			switch mode {
			case "served":
				var msgs chan servedMessage
				c, p, msgs, ended = servedPair(t, opts, false)
				defer func() {
					if len(msgs) != 0 {
						t.Errorf("%d messages delivered", len(msgs))
					}
				}()
			default:
				c, p = newPair(t, opts, false)
			}
			p.write(frameBytes(false, 0, frame.OpBinary, []byte("first part"), false))
			switch mode {
			case "read waiting":
				go func() { _, _, err := c.Read(context.Background()); ended <- err }()
			case "no read":
				// Reads that end (their context) once the message has
				// begun, and then none.
				for c.msgStart.Load() == 0 {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
					_, _, err := c.Read(ctx)
					cancel()
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Fatalf("read of the first part: %v", err)
					}
				}
			}
			// The peer goes on with the message until it sees the close.
			stop := make(chan struct{})
			sending := make(chan error, 1)
			go func() {
				tick := time.NewTicker(5 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						sending <- nil
						return
					case <-tick.C:
					}
					if _, err := p.nc.Write(frameBytes(false, 0, frame.OpContinuation, pattern(512, 1), false)); err != nil {
						sending <- err
						return
					}
				}
			}()
			p.nc.SetReadDeadline(time.Now().Add(hangGuard))
			for {
				h, b := p.readFrame()
				if h.Opcode != frame.OpClose {
					continue
				}
				code, reason, err := frame.ParseClose(b)
				if err != nil || StatusCode(code) != StatusPolicyViolation || string(reason) != "message timeout" {
					t.Fatalf("close frame %q: %d %q %v, want 1008 \"message timeout\"", b, code, reason, err)
				}
				break
			}
			close(stop)
			if err := <-sending; err != nil {
				// After the second the lingering close waits, the socket
				// is closed, and a peer that had not stopped by then
				// (a loaded machine) gets a reset on its write.
				t.Logf("the peer's last write: %v", err)
			}
			if _, err := p.br.ReadByte(); err != io.EOF {
				t.Fatalf("after the close frame: %v, want the end of the stream", err)
			}
			if mode != "no read" {
				if err := recvEnd(t, ended); !errors.Is(err, ErrMessageTimeout) {
					t.Fatalf("the read (or OnEnd): %v, want ErrMessageTimeout", err)
				}
			}
			if mode != "served" {
				if _, _, err := c.Read(context.Background()); !errors.Is(err, ErrMessageTimeout) || !errors.Is(err, ErrClosed) {
					t.Fatalf("a read after the end: %v, want ErrMessageTimeout and ErrClosed", err)
				}
			}
		})
	}
}
