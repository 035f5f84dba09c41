package websock

import (
	"bytes"
	"context"
	"net"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/websock/websock/internal/frame"
)

// loopConn is a net.Conn whose reads replay the same bytes forever and
// whose writes are discarded: the connection code without the network.
type loopConn struct {
	data []byte
	off  int
}

func (l *loopConn) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}
func (l *loopConn) Write(p []byte) (int, error)      { return len(p), nil }
func (l *loopConn) Close() error                     { return nil }
func (l *loopConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (l *loopConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (l *loopConn) SetDeadline(time.Time) error      { return nil }
func (l *loopConn) SetReadDeadline(time.Time) error  { return nil }
func (l *loopConn) SetWriteDeadline(time.Time) error { return nil }

var benchSizes = []int{16, 1 << 10, 16 << 10, 1 << 20}

// BenchmarkServerRead reads masked client messages: header parse, unmasking,
// UTF-8 validation for text, into a reused buffer.
func BenchmarkServerRead(b *testing.B) {
	for _, typ := range []MessageType{TextMessage, BinaryMessage} {
		for _, size := range benchSizes {
			b.Run(typ.String()+"/"+strconv.Itoa(size), func(b *testing.B) {
				payload := bytes.Repeat([]byte("websock!"), size/8)
				var stream []byte
				for len(stream) < 1<<20 || len(stream)%len(payload) != 0 {
					stream = append(stream, frameBytes(true, 0, frame.Opcode(typ), payload, false)...)
					if len(stream) >= 1<<20 {
						break
					}
				}
				c := newConn(&loopConn{data: stream}, nil, connConfig{server: true})
				ctx := context.Background()
				buf := make([]byte, 0, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					_, msg, err := c.ReadAppend(ctx, buf[:0])
					if err != nil || len(msg) != size {
						b.Fatalf("read %d bytes: %v", len(msg), err)
					}
				}
			})
		}
	}
}

// BenchmarkWrite writes binary messages from the server (unmasked) and from
// the client (masked through the write buffer).
func BenchmarkWrite(b *testing.B) {
	for _, side := range []string{"server", "client"} {
		for _, size := range benchSizes {
			b.Run(side+"/"+strconv.Itoa(size), func(b *testing.B) {
				c := newConn(&loopConn{data: []byte{0}}, nil, connConfig{server: side == "server"})
				ctx := context.Background()
				msg := make([]byte, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if err := c.Write(ctx, BinaryMessage, msg); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkEchoTCP is a full round trip over loopback TCP: client write,
// server read and write back, client read.
func BenchmarkEchoTCP(b *testing.B) {
	benchmarkEcho(b, func() *httptest.Server { srv, _ := echoServer(b, false, nil); return srv })
}

// benchmarkEcho measures round trips of several sizes to the echo server
// that start returns.
func benchmarkEcho(b *testing.B, start func() *httptest.Server) {
	for _, size := range []int{16, 1 << 10, 64 << 10} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			srv := start()
			c, _, err := Dial(context.Background(), urlOf(srv.URL), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.CloseNow()
			ctx := context.Background()
			msg := bytes.Repeat([]byte("x"), size)
			buf := make([]byte, 0, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := c.Write(ctx, BinaryMessage, msg); err != nil {
					b.Fatal(err)
				}
				if _, buf, err = c.ReadAppend(ctx, buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWriteCancellableContext writes with a context that can be
// cancelled, as a request's is: its watch is registered once, not per call.
func BenchmarkWriteCancellableContext(b *testing.B) {
	c := newConn(&loopConn{data: []byte{0}}, nil, connConfig{server: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msg := []byte("hello world, 32 bytes of text...")
	b.ReportAllocs()
	for b.Loop() {
		c.Write(ctx, TextMessage, msg)
	}
}
