package websock

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"

	"github.com/websock/websock/extension"
	"github.com/websock/websock/internal/deflate"
	"github.com/websock/websock/internal/frame"
)

// TestDeflateAfterFinalBlock: inside a compressed message, what follows the
// end of the DEFLATE stream (a block with BFINAL set) may only be empty
// blocks; data there fails the connection with 1007 instead of being
// dropped, whether it comes in the same frame or in a later fragment.
func TestDeflateAfterFinalBlock(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		// "Hello" in a final block; RFC 7692 §7.2.3.4 follows it with 0x00.
		helloFinal := []byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}
		// "Hello" in a block that is not final (§7.2.3.1).
		hello := []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}
		for _, tt := range []struct {
			name   string
			frames [][]byte // payloads of the message's frames
			fail   bool
		}{
			{"RFC 7692 §7.2.3.4", [][]byte{append(bytes.Clone(helloFinal), 0x00)}, false},
			{"empty blocks in a later fragment", [][]byte{helloFinal, {0x00, 0x00, 0x00, 0xff, 0xff}, {0x00}}, false},
			{"data in the same frame", [][]byte{append(bytes.Clone(helloFinal), hello...)}, true},
			{"data in a later fragment", [][]byte{helloFinal, {0x00}, hello}, true},
			{"garbage", [][]byte{append(bytes.Clone(helloFinal), 0xff, 0xff)}, true},
		} {
			t.Run(tt.name, func(t *testing.T) {
				srv, ended := m.echo(t, false, &AcceptOptions{Extensions: []extension.Extension{&PerMessageDeflate{}}})
				c := dialRaw(t, srv, "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover")
				for i, p := range tt.frames {
					op, rsv := frame.OpContinuation, byte(0)
					if i == 0 {
						op, rsv = frame.OpText, frame.RSV1
					}
					c.write(frameBytes(i == len(tt.frames)-1, rsv, op, p, false))
				}
				if !tt.fail {
					c.expectMessage(frame.OpText, []byte("Hello")) // short: echoed uncompressed
					return
				}
				c.expectClose(StatusInvalidPayload)
				err := <-ended
				if !errors.Is(err, ErrInvalidData) || !strings.Contains(err.Error(), deflate.ErrTrailingData.Error()) {
					t.Fatalf("server error %v", err)
				}
			})
		}
	})
}

// scriptConn is a net.Conn whose reads serve data, as fast as they are
// asked for, and then fail with io.EOF; at that moment (when a socket read
// would block), it records whether the Conn reading it held a pooled
// buffer. Writes are discarded.
type scriptConn struct {
	loopConn
	data   *bytes.Reader
	c      *Conn
	reads  int
	held   []bool // c.rb.Holds() at each read
	heldAt bool   // c.rb.Holds() when the data ran out
}

func (s *scriptConn) Read(p []byte) (int, error) {
	s.reads++
	s.held = append(s.held, s.c.rb.Holds())
	if s.data.Len() == 0 {
		s.heldAt = s.c.rb.Holds()
		return 0, io.EOF
	}
	return s.data.Read(p)
}

// TestDeflateReadInLargeChunks: a 1 MiB compressed message is read from the
// socket about PooledSize bytes at a time, through a pooled buffer that is
// given back once the message has been read; an uncompressed one goes
// straight into the caller's buffer.
func TestDeflateReadInLargeChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	payload := make([]byte, 1<<20)
	for i := range payload {
		payload[i] = byte(rng.Uint32()) // incompressible: about 1 MiB on the wire
	}
	var z bytes.Buffer
	w := deflate.NewCompressor(1, 15, false).Writer(&z)
	w.Write(payload)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		wire      []byte
		maxReads  int
		borrowing bool
	}{
		// 128 reads of 8 KiB, one for the header and what follows it, one
		// to find the end.
		{"compressed", frameBytes(true, frame.RSV1, frame.OpBinary, z.Bytes(), true), 1<<20/(8<<10) + 4, true},
		{"uncompressed", frameBytes(true, 0, frame.OpBinary, payload, true), 4, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pmd := &PerMessageDeflate{}
			codec := pmd.newCodec(deflate.NewCompressor(1, 15, false), deflate.NewDecompressor(15, false))
			nc := &scriptConn{data: bytes.NewReader(tt.wire)}
			c := newConn(nc, nil, connConfig{codec: codec, ConnOptions: ConnOptions{ReadLimit: 2 << 20}})
			nc.c = c
			defer c.CloseNow()
			ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
			defer cancel()
			_, got, err := c.ReadAppend(ctx, make([]byte, 0, len(payload)))
			if err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("read %d bytes: %v", len(got), err)
			}
			if nc.reads > tt.maxReads {
				t.Errorf("%d socket reads for %d bytes on the wire, want at most %d", nc.reads, len(tt.wire), tt.maxReads)
			}
			borrowed := false
			for _, h := range nc.held {
				borrowed = borrowed || h
			}
			if borrowed != tt.borrowing {
				t.Errorf("a pooled buffer was held during the message: %v, want %v", borrowed, tt.borrowing)
			}
			// Waiting for the next message (the data has run out).
			if _, _, err := c.Read(ctx); err == nil {
				t.Fatal("read past the data")
			}
			if nc.heldAt {
				t.Error("a pooled buffer was held while waiting for the next message")
			}
		})
	}
}

var _ net.Conn = (*scriptConn)(nil)
