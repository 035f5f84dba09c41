package stream

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// pipeConn returns a Conn whose body is fed by the returned writer and
// whose writes go to the returned reader.
func pipeConn(t *testing.T) (*Conn, *io.PipeWriter, *io.PipeReader) {
	bodyR, bodyW := io.Pipe()
	outR, outW := io.Pipe()
	c := New(Side{
		Body:   bodyR,
		Writer: outW,
		Abort:  func() { outW.CloseWithError(errors.New("aborted")) },
		Close:  func() error { return outW.Close() },
	})
	t.Cleanup(func() {
		c.Close()
		bodyW.Close()
		outR.Close()
	})
	return c, bodyW, outR
}

// TestReadsInOrder: what the body delivers is read whole and in order,
// through small and large chunks and any read size.
func TestReadsInOrder(t *testing.T) {
	c, body, _ := pipeConn(t)
	var want bytes.Buffer
	go func() {
		for i, n := range []int{1, 255, 256, 257, 8192, 20000, 3, 100000} {
			p := bytes.Repeat([]byte{byte(i)}, n)
			want.Write(p)
			body.Write(p)
		}
		body.Close()
	}()
	var got bytes.Buffer
	buf := make([]byte, 777)
	for {
		n, err := c.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("read %d bytes, differing from the %d sent", got.Len(), want.Len())
	}
}

// TestReadDeadlineKeepsStream: a read that times out returns an error
// wrapping os.ErrDeadlineExceeded, and the next read gets the data.
func TestReadDeadlineKeepsStream(t *testing.T) {
	c, body, _ := pipeConn(t)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
	c.SetReadDeadline(time.Time{})
	go body.Write([]byte("after"))
	buf := make([]byte, 10)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "after" {
		t.Fatalf("read after the timeout: %q, %v", buf[:n], err)
	}
	// A deadline moved into the past wakes a blocked read.
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(buf)
		done <- err
	}()
	c.SetReadDeadline(time.Unix(1, 0))
	if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read woken by a past deadline: %v", err)
	}
}

// TestWriteDeadlineAborts: a write blocked at its deadline aborts the
// stream and returns a timeout; later writes fail at once.
func TestWriteDeadlineAborts(t *testing.T) {
	c, _, _ := pipeConn(t) // nobody reads what is written
	c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := c.Write([]byte("blocked"))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("blocked write: %v", err)
	}
	c.SetWriteDeadline(time.Time{})
	if _, err := c.Write([]byte("again")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write after an abort: %v", err)
	}
}

// TestWriteDeadlineIdle: a deadline passing while no write is in progress
// aborts nothing.
func TestWriteDeadlineIdle(t *testing.T) {
	c, _, out := pipeConn(t)
	c.SetWriteDeadline(time.Unix(1, 0))
	c.SetWriteDeadline(time.Time{})
	go io.Copy(io.Discard, out)
	if _, err := c.Write([]byte("fine")); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// TestCloseWakesRead: Close makes a blocked read return net.ErrClosed, and
// End makes writes fail without touching the writer.
func TestCloseWakesRead(t *testing.T) {
	c, _, _ := pipeConn(t)
	c.End()
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after End: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	c.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read across Close: %v", err)
	}
}
