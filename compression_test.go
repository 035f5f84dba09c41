package websock

import (
	"bytes"
	"compress/flate"
	"context"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/websock/websock/extension"
	"github.com/websock/websock/internal/frame"
)

// text returns n bytes of words in random order: compressible, but the
// better the level the smaller.
func text(n int) []byte {
	words := strings.Fields("the quick brown fox jumps over a lazy dog while seven wizards quietly box and judge every vexing jump")
	rng := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[rng.IntN(len(words))])
		b.WriteByte(' ')
	}
	return b.Bytes()[:n]
}

// inflate decodes one permessage-deflate message without context takeover.
func inflate(t testing.TB, p []byte) []byte {
	t.Helper()
	b, err := io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}))))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newDeflatePair is newPair with permessage-deflate agreed, the server
// compressing each message on its own.
func newDeflatePair(t *testing.T) (*Conn, *rawPeer) {
	_, codec, ok := (&PerMessageDeflate{ServerNoContextTakeover: true}).Negotiate([]extension.Offer{{Name: extensionName}})
	if !ok {
		t.Fatal("no codec")
	}
	return newPairWith(t, connConfig{server: true, codec: codec})
}

func TestSetWriteCompression(t *testing.T) {
	c, p := newDeflatePair(t)
	ctx := context.Background()
	msg := text(2000)
	expect := func(compressed bool) {
		t.Helper()
		h, b := p.readFrame()
		if got := h.RSV&frame.RSV1 != 0; got != compressed {
			t.Fatalf("RSV1 %v, want %v", got, compressed)
		}
		if compressed {
			b = inflate(t, b)
		}
		if !bytes.Equal(b, msg) {
			t.Fatal("payload differs")
		}
	}
	c.Write(ctx, TextMessage, msg)
	expect(true)
	c.SetWriteCompression(false)
	c.Write(ctx, TextMessage, msg)
	expect(false)
	w, _ := c.Writer(ctx, TextMessage)
	w.Write(msg)
	w.Close()
	expect(false)
	c.SetWriteCompression(true)
	w, _ = c.Writer(ctx, TextMessage)
	w.Write(msg)
	w.Close()
	expect(true)
}

func TestWriteUncompressed(t *testing.T) {
	c, p := newDeflatePair(t)
	ctx := context.Background()
	msg := text(2000)
	if err := c.WriteUncompressed(ctx, BinaryMessage, msg); err != nil {
		t.Fatal(err)
	}
	if h, b := p.readFrame(); h.RSV != 0 || h.Opcode != frame.OpBinary || !bytes.Equal(b, msg) {
		t.Fatalf("RSV %#x op %d: not the message, uncompressed", h.RSV, h.Opcode)
	}
	c.Write(ctx, TextMessage, msg)
	if h, _ := p.readFrame(); h.RSV&frame.RSV1 == 0 {
		t.Fatal("the next Write was not compressed")
	}
	if err := c.WriteUncompressed(ctx, MessageType(9), nil); err == nil {
		t.Fatal("invalid message type accepted")
	}
}

// With context takeover, uncompressed messages and a change of level
// between compressed ones leave the peer's decoding intact.
func TestCompressionChangesWithTakeover(t *testing.T) {
	deflate := func() []extension.Extension { return []extension.Extension{&PerMessageDeflate{Threshold: -1}} }
	server, client := connPair(t, &AcceptOptions{Extensions: deflate()}, &DialOptions{Extensions: deflate()})
	ctx := context.Background()
	msgs := [][]byte{text(3000), text(100), text(5000), text(3000), text(70000)}
	go func() {
		server.Write(ctx, TextMessage, msgs[0])
		server.WriteUncompressed(ctx, TextMessage, msgs[1])
		server.SetCompressionLevel(9)
		server.Write(ctx, TextMessage, msgs[2])
		server.SetWriteCompression(false)
		server.Write(ctx, TextMessage, msgs[3])
		server.SetWriteCompression(true)
		server.SetCompressionLevel(1)
		server.Write(ctx, TextMessage, msgs[4])
	}()
	for i, want := range msgs {
		if _, got, err := client.Read(ctx); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("message %d: %v", i, err)
		}
	}
}

func TestSetCompressionLevel(t *testing.T) {
	c, p := newDeflatePair(t)
	ctx := context.Background()
	for _, bad := range []int{0, -1, 10} {
		if err := c.SetCompressionLevel(bad); err == nil {
			t.Fatalf("level %d accepted", bad)
		}
	}
	msg := text(20000)
	size := map[int]int{}
	for _, level := range []int{1, 9} {
		if err := c.SetCompressionLevel(level); err != nil {
			t.Fatal(err)
		}
		c.Write(ctx, TextMessage, msg)
		_, b := p.readFrame()
		if !bytes.Equal(inflate(t, b), msg) {
			t.Fatalf("level %d: payload differs", level)
		}
		size[level] = len(b)
	}
	if size[9] >= size[1] {
		t.Fatalf("level 9 gives %d bytes, level 1 %d: the level did not change", size[9], size[1])
	}

	plain, _ := newPair(t, ConnOptions{}, false)
	if err := plain.SetCompressionLevel(5); err != nil {
		t.Fatalf("without compression: %v", err)
	}
}
