package websock

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/websock/websock/extension"
	"github.com/websock/websock/internal/frame"
	"github.com/websock/websock/internal/mask"
)

// deflateCodecFor negotiates permessage-deflate on the server side for a
// client offer.
func deflateCodecFor(t testing.TB, ext *PerMessageDeflate, offer string) extension.Codec {
	t.Helper()
	offers, _ := parseExtensions([]string{offer})
	_, codec, ok := ext.Negotiate(offers)
	if !ok {
		t.Fatalf("offer %q declined", offer)
	}
	return codec
}

// readMessage reads one single-frame message as the peer sees it:
// unmasked, and inflated when RSV1 is set.
func (p *rawPeer) readMessage() (frame.Header, []byte) {
	p.t.Helper()
	h, b := p.readFrame()
	if h.Masked {
		mask.Apply(h.Key, 0, b)
	}
	if !h.Fin {
		p.t.Fatal("prepared message sent in fragments")
	}
	if h.RSV&frame.RSV1 != 0 {
		b = inflate(p.t, b)
	}
	return h, b
}

func TestPreparedMessageEncodings(t *testing.T) {
	msg := pattern(4000, 3)
	tests := []struct {
		name       string
		server     bool
		codec      func(t *testing.T) extension.Codec
		compressed bool
	}{
		{"plain server", true, func(*testing.T) extension.Codec { return nil }, false},
		{"plain client", false, func(*testing.T) extension.Codec { return nil }, false},
		{"no takeover server", true, func(t *testing.T) extension.Codec {
			return deflateCodecFor(t, &PerMessageDeflate{}, "permessage-deflate; server_no_context_takeover")
		}, true},
		{"no takeover 9 bits server", true, func(t *testing.T) extension.Codec {
			return deflateCodecFor(t, &PerMessageDeflate{}, "permessage-deflate; server_no_context_takeover; server_max_window_bits=9")
		}, true},
		{"no takeover client", false, func(t *testing.T) extension.Codec {
			c, err := (&PerMessageDeflate{ClientNoContextTakeover: true}).Accept(extension.Offer{Name: extensionName})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}, true},
		{"takeover server: uncompressed", true, func(t *testing.T) extension.Codec {
			return deflateCodecFor(t, &PerMessageDeflate{}, "permessage-deflate")
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pm, err := NewPreparedMessage(TextMessage, msg)
			if err != nil {
				t.Fatal(err)
			}
			c, peer := newPairWith(t, connConfig{server: tt.server, codec: tt.codec(t)})
			for range 3 {
				if err := c.WritePrepared(context.Background(), pm); err != nil {
					t.Fatal(err)
				}
			}
			var keys [][4]byte
			for range 3 {
				h, got := peer.readMessage()
				if h.Opcode != frame.OpText || !bytes.Equal(got, msg) {
					t.Fatalf("got %v %d bytes, want the text message", h.Opcode, len(got))
				}
				if compressed := h.RSV&frame.RSV1 != 0; compressed != tt.compressed {
					t.Fatalf("compressed %v, want %v", compressed, tt.compressed)
				}
				if h.Masked == tt.server {
					t.Fatalf("masked %v on the server %v side", h.Masked, tt.server)
				}
				keys = append(keys, h.Key)
			}
			if !tt.server && (keys[0] == keys[1] || keys[1] == keys[2]) {
				t.Fatalf("masking keys repeat: %x", keys)
			}
		})
	}
}

// With context takeover, a prepared message goes out uncompressed between
// compressed messages, and the history those share stays intact.
func TestPreparedMessageKeepsTakeoverHistory(t *testing.T) {
	codec := deflateCodecFor(t, &PerMessageDeflate{}, "permessage-deflate")
	c, peer := newPairWith(t, connConfig{server: true, codec: codec})
	pm, _ := NewPreparedMessage(BinaryMessage, pattern(500, 1))
	ctx := context.Background()
	first, second := pattern(600, 2), pattern(600, 2)
	if err := c.Write(ctx, TextMessage, first); err != nil {
		t.Fatal(err)
	}
	if err := c.WritePrepared(ctx, pm); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, TextMessage, second); err != nil {
		t.Fatal(err)
	}
	// One decompressor for the whole stream, as the peer keeps it.
	var stream bytes.Buffer
	fr := flate.NewReader(&stream)
	next := func() (frame.Header, []byte) {
		h, b := peer.readFrame()
		if h.RSV&frame.RSV1 == 0 {
			return h, b
		}
		stream.Write(b)
		stream.Write([]byte{0, 0, 0xff, 0xff})
		out := make([]byte, 600)
		if _, err := io.ReadFull(fr, out); err != nil {
			t.Fatalf("inflate with history: %v", err)
		}
		return h, out
	}
	if _, b := next(); !bytes.Equal(b, first) {
		t.Fatal("first message garbled")
	}
	if h, b := next(); h.RSV != 0 || h.Opcode != frame.OpBinary || !bytes.Equal(b, pm.data) {
		t.Fatalf("prepared message: rsv %x opcode %v", h.RSV, h.Opcode)
	}
	h, b := next()
	if h.RSV&frame.RSV1 == 0 || !bytes.Equal(b, second) {
		t.Fatal("message after the prepared one garbled")
	}
}

// Short messages follow the deflate threshold; other codecs get the
// message through the codec, as Write does.
func TestPreparedMessageThresholdAndOtherCodecs(t *testing.T) {
	codec := deflateCodecFor(t, &PerMessageDeflate{}, "permessage-deflate; server_no_context_takeover")
	c, peer := newPairWith(t, connConfig{server: true, codec: codec})
	short, _ := NewPreparedMessage(TextMessage, []byte("hi"))
	if err := c.WritePrepared(context.Background(), short); err != nil {
		t.Fatal(err)
	}
	if h, b := peer.readMessage(); h.RSV != 0 || string(b) != "hi" {
		t.Fatalf("short message: rsv %x %q", h.RSV, b)
	}

	cc := &passCodec{}
	c2, peer2 := newPairWith(t, connConfig{server: true, codec: cc})
	pm, _ := NewPreparedMessage(BinaryMessage, []byte("through the codec"))
	if err := c2.WritePrepared(context.Background(), pm); err != nil {
		t.Fatal(err)
	}
	if _, b := peer2.readMessage(); string(b) != "through the codec" {
		t.Fatalf("got %q", b)
	}
	if cc.writers.Load() != 1 {
		t.Fatalf("codec writers %d, want 1", cc.writers.Load())
	}
}

// passCodec sends messages unchanged and counts the messages it wrote.
type passCodec struct{ writers atomic.Int32 }

func (*passCodec) ReservedBits() byte                      { return frame.RSV1 }
func (*passCodec) NewReader(r io.Reader, _ byte) io.Reader { return r }
func (*passCodec) Release()                                {}
func (pc *passCodec) NewWriter(w io.Writer, _ int) (io.WriteCloser, byte) {
	pc.writers.Add(1)
	return w.(io.WriteCloser), 0
}

// One encoding per configuration, however many connections share it.
func TestPreparedMessageEncodesOncePerConfiguration(t *testing.T) {
	pm, _ := NewPreparedMessage(TextMessage, pattern(2000, 5))
	offers := []string{
		"permessage-deflate; server_no_context_takeover",
		"permessage-deflate; server_no_context_takeover",
		"permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
		"permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
		"permessage-deflate", // takeover: the plain frame
	}
	var peers []*rawPeer
	var wg sync.WaitGroup
	for _, o := range offers {
		c, p := newPairWith(t, connConfig{server: true, codec: deflateCodecFor(t, &PerMessageDeflate{}, o)})
		peers = append(peers, p)
		wg.Go(func() {
			if err := c.WritePrepared(context.Background(), pm); err != nil {
				t.Error(err)
			}
		})
	}
	c, p := newPair(t, ConnOptions{}, false)
	peers = append(peers, p)
	wg.Go(func() {
		if err := c.WritePrepared(context.Background(), pm); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	for _, p := range peers {
		if _, b := p.readMessage(); !bytes.Equal(b, pm.data) {
			t.Fatal("garbled")
		}
	}
	if n := len(*pm.encoded.Load()); n != 3 {
		t.Fatalf("%d encodings, want 3 (plain, 15 bits, 10 bits)", n)
	}
}

func TestPreparedMessageEdges(t *testing.T) {
	if _, err := NewPreparedMessage(MessageType(9), nil); err == nil {
		t.Fatal("invalid type accepted")
	}
	data := []byte("original")
	pm, _ := NewPreparedMessage(BinaryMessage, data)
	copy(data, "changed!")
	if pm.Type() != BinaryMessage || pm.Len() != 8 {
		t.Fatal("type or length wrong")
	}

	t.Run("done context sends nothing", func(t *testing.T) {
		c, peer := newPair(t, ConnOptions{}, false)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := c.WritePrepared(ctx, pm); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		if err := c.WritePrepared(context.Background(), pm); err != nil {
			t.Fatalf("connection harmed: %v", err)
		}
		if _, b := peer.readMessage(); string(b) != "original" {
			t.Fatalf("got %q: the data was not copied", b)
		}
	})
	t.Run("context ends waiting for the turn", func(t *testing.T) {
		c, _ := newPair(t, ConnOptions{}, false)
		w, err := c.Writer(context.Background(), TextMessage) // holds the turn
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.WritePrepared(ctx, pm) }()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		w.Close()
	})
	t.Run("closed connection", func(t *testing.T) {
		c, _ := newPair(t, ConnOptions{}, false)
		c.CloseNow()
		if err := c.WritePrepared(context.Background(), pm); !errors.Is(err, ErrClosed) {
			t.Fatalf("got %v, want ErrClosed", err)
		}
	})
	t.Run("after the close frame", func(t *testing.T) {
		c, peer := newPair(t, ConnOptions{}, false)
		go peer.readEOF(frame.OpClose)
		c.Close(StatusNormalClosure, "")
		if err := c.WritePrepared(context.Background(), pm); !errors.Is(err, ErrClosed) {
			t.Fatalf("got %v, want ErrClosed", err)
		}
	})
}

// Many goroutines write one prepared message to many connections at once.
func TestPreparedMessageConcurrent(t *testing.T) {
	pm, _ := NewPreparedMessage(TextMessage, pattern(3000, 7))
	const conns, writes = 8, 20
	var wg sync.WaitGroup
	for i := range conns {
		var codec extension.Codec
		if i%2 == 1 {
			codec = deflateCodecFor(t, &PerMessageDeflate{}, "permessage-deflate; server_no_context_takeover")
		}
		c, peer := newPairWith(t, connConfig{server: true, codec: codec})
		for range 4 {
			wg.Go(func() {
				for range writes / 4 {
					if err := c.WritePrepared(context.Background(), pm); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Go(func() {
			for range writes {
				if _, b := peer.readMessage(); !bytes.Equal(b, pm.data) {
					t.Error("garbled or interleaved")
					return
				}
			}
		})
	}
	wg.Wait()
}

// In steady state, writing a prepared message allocates nothing, plain or
// compressed, on either side.
func TestPreparedMessageAllocations(t *testing.T) {
	pm, _ := NewPreparedMessage(TextMessage, pattern(1024, 1))
	for _, tt := range []struct {
		name   string
		server bool
		offer  string
	}{
		{"server plain", true, ""},
		{"server no takeover", true, "permessage-deflate; server_no_context_takeover"},
		{"server takeover", true, "permessage-deflate"},
		{"client plain", false, ""},
		{"server plain, 8 at once", true, ""},
		{"server no takeover, 8 at once", true, "permessage-deflate; server_no_context_takeover"},
		{"client plain, 8 at once", false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := connConfig{server: tt.server}
			if tt.offer != "" {
				cfg.codec = deflateCodecFor(t, &PerMessageDeflate{}, tt.offer)
			}
			c := newConn(&loopConn{data: []byte{0}}, nil, cfg)
			ctx := context.Background()
			pms := []*PreparedMessage{pm}
			if strings.HasSuffix(tt.name, "8 at once") {
				pms = slices.Repeat(pms, 8)
			}
			c.WritePrepared(ctx, pms...) // encodes
			if n := testing.AllocsPerRun(200, func() {
				if err := c.WritePrepared(ctx, pms...); err != nil {
					t.Fatal(err)
				}
			}); n != 0 {
				// Under -race, sync.Pool drops a quarter of the buffers
				// put back: a call that borrows two is charged one.
				if raceEnabled && n <= 1 {
					t.Logf("%v allocations per write under -race (dropped pool buffers); 0 without", n)
					return
				}
				t.Fatalf("%v allocations per write, want 0", n)
			}
		})
	}
}

// BenchmarkWritePrepared writes one 1 KiB prepared message to 1,000
// connections per iteration, against Write of the same message.
func BenchmarkWritePrepared(b *testing.B) {
	msg := pattern(1024, 1)
	for _, tt := range []struct{ name, offer string }{
		{"plain", ""},
		{"no-takeover", "permessage-deflate; server_no_context_takeover"},
		{"takeover", "permessage-deflate"},
	} {
		conns := make([]*Conn, 1000)
		for i := range conns {
			cfg := connConfig{server: true}
			if tt.offer != "" {
				cfg.codec = deflateCodecFor(b, &PerMessageDeflate{}, tt.offer)
			}
			conns[i] = newConn(&loopConn{data: []byte{0}}, nil, cfg)
		}
		ctx := context.Background()
		b.Run(tt.name+"/prepared", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(msg) * len(conns)))
			for b.Loop() {
				pm, _ := NewPreparedMessage(TextMessage, msg)
				for _, c := range conns {
					c.WritePrepared(ctx, pm)
				}
			}
		})
		b.Run(tt.name+"/write", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(msg) * len(conns)))
			for b.Loop() {
				for _, c := range conns {
					c.Write(ctx, TextMessage, msg)
				}
			}
		})
		for _, c := range conns {
			c.CloseNow()
		}
	}
}

// Several prepared messages in one call arrive whole and in order, on
// either side, with every encoding a connection can use, including a
// message under the compression threshold and one through another codec.
func TestWritePreparedSeveral(t *testing.T) {
	big := pattern(3000, 5)
	small := []byte("tiny") // under the deflate threshold: never compressed
	tests := []struct {
		name   string
		server bool
		codec  func(t *testing.T) extension.Codec
	}{
		{"plain server", true, func(*testing.T) extension.Codec { return nil }},
		{"plain client", false, func(*testing.T) extension.Codec { return nil }},
		{"no takeover server", true, func(t *testing.T) extension.Codec {
			return deflateCodecFor(t, &PerMessageDeflate{}, "permessage-deflate; server_no_context_takeover")
		}},
		{"takeover server", true, func(t *testing.T) extension.Codec {
			return deflateCodecFor(t, &PerMessageDeflate{}, "permessage-deflate")
		}},
		{"other codec server", true, func(*testing.T) extension.Codec { return &passCodec{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Metrics
			c, peer := newPairWith(t, connConfig{server: tt.server, codec: tt.codec(t), ConnOptions: ConnOptions{Metrics: &m}})
			var pms []*PreparedMessage
			var want [][]byte
			for i := range 5 {
				data := append(bytes.Clone(big), byte('0'+i))
				if i == 2 {
					data = small
				}
				pm, err := NewPreparedMessage(TextMessage, data)
				if err != nil {
					t.Fatal(err)
				}
				pms, want = append(pms, pm), append(want, data)
			}
			if err := c.WritePrepared(context.Background(), pms...); err != nil {
				t.Fatal(err)
			}
			if err := c.Write(context.Background(), BinaryMessage, []byte("after")); err != nil {
				t.Fatal(err)
			}
			for i, w := range want {
				h, got := peer.readFrame()
				if h.Masked {
					mask.Apply(h.Key, 0, got)
				}
				if h.RSV&frame.RSV1 != 0 {
					if _, ok := c.codec.(*passCodec); !ok {
						got = inflate(t, got)
					}
				}
				if h.Opcode != frame.OpText || !h.Fin || !bytes.Equal(got, w) {
					t.Fatalf("message %d: %v fin %v, %d bytes, want the text message of %d", i, h.Opcode, h.Fin, len(got), len(w))
				}
			}
			if h, got := peer.readMessage(); h.Opcode != frame.OpBinary || string(got) != "after" {
				t.Fatalf("the next message: %v %q", h.Opcode, got)
			}
			if s := m.Snapshot().Sent[TextMessage]; s.Messages != 5 {
				t.Fatalf("Metrics counted %d text messages, want 5", s.Messages)
			}
		})
	}
}

// Several prepared messages are gathered into writes of up to the write
// buffer's size on a connection that cannot writev (TLS, say), and a
// context done beforehand sends none of them.
func TestWritePreparedGathers(t *testing.T) {
	var pms []*PreparedMessage
	for i := range 20 {
		pm, _ := NewPreparedMessage(BinaryMessage, pattern(1000, byte(i)))
		pms = append(pms, pm)
	}
	nc := &countingConn{}
	c := newConn(nc, nil, connConfig{server: true})
	defer c.CloseNow()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.WritePrepared(ctx, pms...); !errors.Is(err, context.Canceled) || nc.writes != 0 {
		t.Fatalf("done context: %v, %d writes", err, nc.writes)
	}
	if err := c.WritePrepared(context.Background(), pms...); err != nil {
		t.Fatal(err)
	}
	// 20 frames of 1004 bytes: 8 in each 8 KiB write.
	if nc.writes != 3 {
		t.Fatalf("%d writes for 20 messages of 1 KB, want 3", nc.writes)
	}
	r := bytes.NewReader(nc.buf.Bytes())
	for i := range 20 {
		var hb [frame.MaxHeaderLen]byte
		io.ReadFull(r, hb[:2])
		io.ReadFull(r, hb[2:frame.Len(hb[0], hb[1])])
		h, _, err := frame.Parse(hb[:frame.Len(hb[0], hb[1])])
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, h.Length)
		io.ReadFull(r, got)
		if h.Opcode != frame.OpBinary || !bytes.Equal(got, pattern(1000, byte(i))) {
			t.Fatalf("message %d wrong", i)
		}
	}
	if r.Len() != 0 {
		t.Fatalf("%d bytes more than the messages", r.Len())
	}
}

// countingConn is a net.Conn (not a *net.TCPConn) that keeps what is
// written to it and counts the writes.
type countingConn struct {
	loopConn
	buf    bytes.Buffer
	writes int
}

func (c *countingConn) Read([]byte) (int, error) { select {} }
func (c *countingConn) Write(p []byte) (int, error) {
	c.writes++
	return c.buf.Write(p)
}
