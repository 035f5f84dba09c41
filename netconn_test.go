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
	"testing"
	"time"

	"github.com/websock/websock/extension"
)

// connPair connects a client Conn to a server Conn over loopback TCP.
func connPair(t testing.TB, aopts *AcceptOptions, dopts *DialOptions) (server, client *Conn) {
	t.Helper()
	accepted := make(chan *Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, aopts)
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}))
	t.Cleanup(srv.Close)
	client, _, err := Dial(context.Background(), urlOf(srv.URL), dopts)
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.FailNow()
	}
	t.Cleanup(func() { client.CloseNow(); server.CloseNow() })
	return server, client
}

// readResult is the outcome of a Read running in the background.
type readResult struct {
	n   int
	err error
}

func backgroundRead(r io.Reader, p []byte) chan readResult {
	ch := make(chan readResult, 1)
	go func() { n, err := r.Read(p); ch <- readResult{n, err} }()
	return ch
}

func waitRead(t *testing.T, ch chan readResult) readResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(hangGuard):
		t.Fatal("Read did not return")
		return readResult{}
	}
}

func isDeadline(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &ne) && ne.Timeout()
}

func TestNetConnStreamsMessages(t *testing.T) {
	server, client := connPair(t, nil, nil)
	ctx := context.Background()
	nc := NetConn(ctx, client, BinaryMessage)
	for _, m := range []string{"ab", "", "cde", "f"} {
		if err := server.Write(ctx, BinaryMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]byte, 6)
	if _, err := io.ReadFull(nc, got); err != nil || string(got) != "abcdef" {
		t.Fatalf("ReadFull: %q %v", got, err)
	}
	for _, m := range []string{"xyz", "0123456789"} {
		if n, err := nc.Write([]byte(m)); err != nil || n != len(m) {
			t.Fatalf("Write: %d %v", n, err)
		}
		typ, msg, err := server.Read(ctx)
		if err != nil || typ != BinaryMessage || string(msg) != m {
			t.Fatalf("server read %v %q %v, want one binary message %q", typ, msg, err, m)
		}
	}
	if nc.LocalAddr().String() != client.LocalAddr().String() || nc.RemoteAddr().String() != client.RemoteAddr().String() {
		t.Fatal("addresses differ from the connection's")
	}
}

func TestNetConnSmallReadsKeepOrder(t *testing.T) {
	server, client := connPair(t, &AcceptOptions{Extensions: []extension.Extension{&PerMessageDeflate{Threshold: -1}}}, &DialOptions{Extensions: []extension.Extension{&PerMessageDeflate{}}})
	ctx := context.Background()
	want := bytes.Repeat([]byte("compressed stream "), 1000)
	go func() {
		for i := 0; i < len(want); i += 5000 {
			if err := server.Write(ctx, TextMessage, want[i:min(i+5000, len(want))]); err != nil {
				t.Error(err)
				client.CloseNow() // ends the reads below
				return
			}
		}
	}()
	nc := NetConn(ctx, client, TextMessage)
	got := make([]byte, 0, len(want))
	buf := make([]byte, 7)
	for len(got) < len(want) {
		n, err := nc.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("stream differs from the messages sent")
	}
}

func TestNetConnWrongTypeFails(t *testing.T) {
	server, client := connPair(t, nil, nil)
	ctx := context.Background()
	if err := server.Write(ctx, TextMessage, []byte("text")); err != nil {
		t.Fatal(err)
	}
	nc := NetConn(ctx, client, BinaryMessage)
	if _, err := nc.Read(make([]byte, 10)); err == nil || !errors.Is(err, errUnexpectedType) {
		t.Fatalf("Read of a text message on a binary stream: %v", err)
	}
	if _, _, err := server.Read(ctx); !IsCloseError(err, StatusUnsupportedData) {
		t.Fatalf("server read %v, want close status 1003", err)
	}
}

func TestNetConnEOF(t *testing.T) {
	for _, code := range []StatusCode{StatusNormalClosure, StatusGoingAway, StatusNoStatus} {
		server, client := connPair(t, nil, nil)
		ctx := context.Background()
		nc := NetConn(ctx, client, BinaryMessage)
		if err := server.Write(ctx, BinaryMessage, []byte("last")); err != nil {
			t.Fatal(err)
		}
		go server.Close(code, "")
		got, err := io.ReadAll(nc)
		if err != nil || string(got) != "last" {
			t.Fatalf("status %d: ReadAll %q %v, want \"last\" and io.EOF", code, got, err)
		}
		if _, err := nc.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("status %d: Read after the end: %v", code, err)
		}
	}
	server, client := connPair(t, nil, nil)
	go server.Close(StatusPolicyViolation, "no")
	_, err := NetConn(context.Background(), client, BinaryMessage).Read(make([]byte, 1))
	if !IsCloseError(err, StatusPolicyViolation) {
		t.Fatalf("close 1008 reads as %v, want the CloseError", err)
	}
}

// A read stopped by its deadline loses nothing, also inside a message.
func TestNetConnReadDeadline(t *testing.T) {
	server, client := connPair(t, nil, nil)
	ctx := context.Background()
	nc := NetConn(ctx, client, BinaryMessage)

	nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := nc.Read(make([]byte, 1)); !isDeadline(err) {
		t.Fatalf("Read past its deadline: %v", err)
	}
	if _, err := nc.Read(make([]byte, 1)); !isDeadline(err) {
		t.Fatalf("Read after the deadline passed: %v", err)
	}

	// A message whose first frame arrives, then nothing for a while.
	first := pattern(writeBufferSize, 1)
	rest := pattern(100, 2)
	w, err := server.Writer(ctx, BinaryMessage)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(first) // a whole buffer: sent as the first frame
	nc.SetReadDeadline(time.Time{})
	got := make([]byte, len(first))
	if _, err := io.ReadFull(nc, got); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("first frame: %v", err)
	}
	nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := nc.Read(make([]byte, 10)); !isDeadline(err) {
		t.Fatalf("Read inside a message past its deadline: %v", err)
	}
	w.Write(rest)
	w.Close()
	nc.SetReadDeadline(time.Time{})
	got = make([]byte, len(rest))
	if _, err := io.ReadFull(nc, got); err != nil || !bytes.Equal(got, rest) {
		t.Fatalf("rest of the message after the deadline: %q %v", got, err)
	}
}

// Setting a deadline in the past unblocks a Read in progress; a later
// deadline set meanwhile replaces an earlier one.
func TestNetConnDeadlineUnblocksRead(t *testing.T) {
	server, client := connPair(t, nil, nil)
	ctx := context.Background()
	nc := NetConn(ctx, client, BinaryMessage)
	nc.SetDeadline(time.Now().Add(time.Hour))
	ch := backgroundRead(nc, make([]byte, 4))
	nc.SetReadDeadline(time.Now().Add(-time.Second))
	if r := waitRead(t, ch); !isDeadline(r.err) {
		t.Fatalf("blocked Read after a past deadline: %v", r.err)
	}

	nc.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	nc.SetReadDeadline(time.Now().Add(time.Hour)) // replaces the first
	buf := make([]byte, 4)
	ch = backgroundRead(nc, buf)
	select {
	case r := <-ch:
		t.Fatalf("Read returned %v at the replaced deadline", r.err)
	case <-time.After(100 * time.Millisecond): // well past the replaced deadline
	}
	if err := server.Write(ctx, BinaryMessage, []byte("late")); err != nil {
		t.Fatal(err)
	}
	if r := waitRead(t, ch); r.err != nil || string(buf[:r.n]) != "late" {
		t.Fatalf("Read under a replaced deadline: %q %v", buf[:r.n], r.err)
	}
}

func TestNetConnWriteDeadline(t *testing.T) {
	server, client := connPair(t, nil, nil)
	ctx := context.Background()
	nc := NetConn(ctx, client, TextMessage)
	nc.SetWriteDeadline(time.Now().Add(-time.Second))
	if n, err := nc.Write([]byte("dropped")); n != 0 || !isDeadline(err) {
		t.Fatalf("Write past its deadline: %d %v", n, err)
	}
	nc.SetWriteDeadline(time.Time{})
	if _, err := nc.Write([]byte("sent")); err != nil {
		t.Fatal(err)
	}
	if typ, msg, err := server.Read(ctx); err != nil || typ != TextMessage || string(msg) != "sent" {
		t.Fatalf("server read %v %q %v, want only the message written before no deadline", typ, msg, err)
	}
}

func TestNetConnContext(t *testing.T) {
	_, client := connPair(t, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	nc := NetConn(ctx, client, BinaryMessage)
	ch := backgroundRead(nc, make([]byte, 1))
	cancel()
	if r := waitRead(t, ch); !errors.Is(r.err, context.Canceled) || isDeadline(r.err) {
		t.Fatalf("Read after its context ended: %v", r.err)
	}
	if _, err := nc.Write([]byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write after its context ended: %v", err)
	}
}

func TestNetConnClose(t *testing.T) {
	server, client := connPair(t, nil, nil)
	nc := NetConn(context.Background(), client, BinaryMessage)
	serverErr := make(chan error, 1)
	go func() { _, _, err := server.Read(context.Background()); serverErr <- err }()
	if err := nc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-serverErr; !IsCloseError(err, StatusNormalClosure) {
		t.Fatalf("server read %v, want close status 1000", err)
	}
	if err := nc.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := nc.Write([]byte("x")); err == nil {
		t.Fatal("Write after Close succeeded")
	}
}
