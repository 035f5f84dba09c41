package readbuf

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// chunked returns at most n bytes per Read.
type chunked struct {
	r io.Reader
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}

// TestRandomOperations mixes Peek, Discard and Read of random sizes over
// streams delivered in random chunk sizes, against the plain bytes.
func TestRandomOperations(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 300; round++ {
		data := make([]byte, rng.IntN(100_000))
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		chunk := 1 + rng.IntN(20_000)
		var pre []byte
		if rng.IntN(3) == 0 {
			pre = data[:min(len(data), rng.IntN(4096))]
		}
		var b Reader
		b.Reset(&chunked{bytes.NewReader(data[len(pre):]), chunk}, pre)
		pos := 0
		for pos < len(data) {
			switch rng.IntN(3) {
			case 0:
				n := min(1+rng.IntN(200), len(data)-pos)
				p, err := b.Peek(n)
				if err != nil || !bytes.Equal(p, data[pos:pos+n]) {
					t.Fatalf("round %d: Peek(%d) at %d: %v", round, n, pos, err)
				}
			case 1:
				n := min(rng.IntN(5000), len(data)-pos)
				if k, err := b.Discard(n); err != nil || k != n {
					t.Fatalf("round %d: Discard(%d) = %d, %v", round, n, k, err)
				}
				pos += n
			case 2:
				p := make([]byte, 1+rng.IntN(20_000))
				n, err := b.Read(p)
				if err != nil || n == 0 || !bytes.Equal(p[:n], data[pos:pos+n]) {
					t.Fatalf("round %d: Read at %d: %d, %v", round, pos, n, err)
				}
				pos += n
			}
		}
		if _, err := b.Peek(1); err != io.EOF {
			t.Fatalf("at the end: %v, want EOF", err)
		}
		if b.Holds() {
			t.Fatal("pooled buffer kept after everything was consumed")
		}
	}
}

func TestIdleHoldsNoPooledBuffer(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 3*PooledSize)
	var b Reader
	b.Reset(bytes.NewReader(big), nil)
	if _, err := b.Peek(2); err != nil {
		t.Fatal(err)
	}
	// The first read filled the inline array: the next one borrows.
	b.Discard(InlineSize)
	if _, err := b.Peek(1); err != nil || !b.Holds() {
		t.Fatalf("no pooled buffer under load (err %v)", err)
	}
	b.Discard(b.Buffered())
	if b.Holds() {
		t.Fatal("pooled buffer kept when empty")
	}
}

func TestPeekErrors(t *testing.T) {
	var b Reader
	b.Reset(iotest.OneByteReader(bytes.NewReader([]byte("abc"))), nil)
	p, err := b.Peek(5)
	if err != io.EOF || string(p) != "abc" {
		t.Fatalf("Peek past the end = %q, %v", p, err)
	}
	b.Reset(iotest.ErrReader(io.ErrUnexpectedEOF), nil)
	if _, err := b.Read(make([]byte, 10)); err != io.ErrUnexpectedEOF {
		t.Fatalf("Read error %v", err)
	}
}

func BenchmarkSmallMessages(b *testing.B) {
	msg := bytes.Repeat([]byte("m"), 34)
	r := bytes.NewReader(nil)
	var br Reader
	p := make([]byte, 32)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r.Reset(msg)
		br.Reset(r, nil)
		br.Peek(2)
		br.Discard(2)
		br.Read(p)
	}
}
