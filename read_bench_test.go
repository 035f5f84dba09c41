package websock

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/websock/websock/extension"
	"github.com/websock/websock/internal/deflate"
	"github.com/websock/websock/internal/frame"
	"github.com/websock/websock/internal/handshake"
)

// readCountingConn counts the reads that reach the socket and the bytes
// they return.
type readCountingConn struct {
	net.Conn
	reads, bytes atomic.Int64
}

func (c *readCountingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.reads.Add(1)
	c.bytes.Add(int64(n))
	return n, err
}

// replayServer answers one WebSocket handshake on each TCP connection and
// then writes the same server frames over and over until the client goes
// away, so that a benchmark measures the client's reading alone. It
// accepts permessage-deflate without context takeover either way when the
// client offers it, so that one compressed message can be replayed.
type replayServer struct {
	ln         net.Listener
	plain, zip []byte // one frame, for clients without and with compression
	wg         sync.WaitGroup
}

func newReplayServer(tb testing.TB, plain, zip []byte) *replayServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &replayServer{ln: ln, plain: plain, zip: zip}
	s.wg.Add(1)
	go s.serve()
	tb.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *replayServer) url() string { return "ws://" + s.ln.Addr().String() + "/ws" }

func (s *replayServer) serve() {
	defer s.wg.Done()
	var conns []net.Conn
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		conns = append(conns, nc)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer nc.Close()
			s.replay(nc)
		}()
	}
}

func (s *replayServer) replay(nc net.Conn) {
	req, err := http.ReadRequest(bufio.NewReader(nc))
	if err != nil {
		return
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + handshake.AcceptKey(req.Header.Get("Sec-WebSocket-Key")) + "\r\n"
	msg := s.plain
	if strings.HasPrefix(req.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
		resp += "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"
		msg = s.zip
	}
	if _, err := io.WriteString(nc, resp+"\r\n"); err != nil {
		return
	}
	// Several frames per write, as a busy sender's socket would carry them.
	batch := bytes.Repeat(msg, max(1, (4<<20)/len(msg)))
	for {
		if _, err := nc.Write(batch); err != nil {
			return
		}
	}
}

// benchPayload returns 1 MiB that compresses to about a third of its size
// (text with random numbers), or not at all (random bytes).
func benchPayload(compressible bool) []byte {
	rng := rand.New(rand.NewPCG(7, 8))
	if !compressible {
		p := make([]byte, 1<<20)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		return p
	}
	var b bytes.Buffer
	for b.Len() < 1<<20 {
		fmt.Fprintf(&b, `{"id":%d,"price":%d.%02d,"tags":["%x","%x"]}`+"\n", rng.Uint32(), rng.IntN(1000), rng.IntN(100), rng.Uint32(), rng.Uint64())
	}
	return b.Bytes()[:1<<20]
}

// BenchmarkReadTCP reads 1 MiB messages sent by a server over loopback
// TCP, uncompressed and compressed (text and incompressible bytes), into a
// reused buffer. It reports the reads that reach the socket per MiB
// received on the wire ("sockreads/MiB") and, with SetBytes, the
// throughput of decompressed message bytes.
func BenchmarkReadTCP(b *testing.B) {
	for _, bc := range []struct {
		name         string
		compressed   bool
		compressible bool
	}{
		{"plain", false, true},
		{"deflate/text", true, true},
		{"deflate/random", true, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			payload := benchPayload(bc.compressible)
			c := deflate.NewCompressor(1, 15, false)
			var z bytes.Buffer
			w := c.Writer(&z)
			w.Write(payload)
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			srv := newReplayServer(b,
				frameBytes(true, 0, frame.OpBinary, payload, true),
				frameBytes(true, frame.RSV1, frame.OpBinary, z.Bytes(), true))
			var counted *readCountingConn
			opts := &DialOptions{
				NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
					nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
					if err != nil {
						return nil, err
					}
					counted = &readCountingConn{Conn: nc}
					return counted, nil
				},
				ConnOptions: ConnOptions{ReadLimit: 2 << 20},
			}
			if bc.compressed {
				opts.Extensions = []extension.Extension{&PerMessageDeflate{ServerNoContextTakeover: true, ClientNoContextTakeover: true}}
			}
			ctx := context.Background()
			conn, _, err := Dial(ctx, srv.url(), opts)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.CloseNow()
			if bc.compressed != (conn.Extensions() != "") {
				b.Fatalf("extensions %q", conn.Extensions())
			}
			buf := make([]byte, 0, len(payload))
			read := func() {
				_, msg, err := conn.ReadAppend(ctx, buf[:0])
				if err != nil || len(msg) != len(payload) {
					b.Fatalf("read %d bytes: %v", len(msg), err)
				}
			}
			read() // past the handshake and the first fill
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			b.ResetTimer()
			reads0, bytes0 := counted.reads.Load(), counted.bytes.Load()
			for i := 0; i < b.N; i++ {
				read()
			}
			b.StopTimer()
			reads, wire := counted.reads.Load()-reads0, counted.bytes.Load()-bytes0
			b.ReportMetric(float64(reads)/(float64(wire)/(1<<20)), "sockreads/MiB")
			b.ReportMetric(float64(wire)/float64(reads), "B/sockread")
		})
	}
}
