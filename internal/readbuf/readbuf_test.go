package readbuf

import (
	"bytes"
	"fmt"
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

// script serves its chunks one per Read (a chunk longer than the caller's
// buffer is served across several), like a socket to which the peer wrote
// them with pauses in between. When the chunks run out, it records whether
// the Reader under test held a pooled buffer (that is the moment a socket
// read would block) and returns io.EOF.
type script struct {
	chunks [][]byte
	b      *Reader
	reads  int // calls to Read
	lens   []int
	heldAt bool // the Reader held a pooled buffer when the data ran out
}

func (s *script) Read(p []byte) (int, error) {
	s.reads++
	s.lens = append(s.lens, len(p))
	if len(s.chunks) == 0 {
		s.heldAt = s.b.Holds()
		return 0, io.EOF
	}
	n := copy(p, s.chunks[0])
	if s.chunks[0] = s.chunks[0][n:]; len(s.chunks[0]) == 0 {
		s.chunks = s.chunks[1:]
	}
	return n, nil
}

// TestWaitingHoldsNoPooledBuffer: whatever the previous traffic, a Reader
// that waits in Peek for the start of a frame, or for the rest of a header
// begun by the last bytes the peer sent, holds no pooled buffer. Each case
// consumes what the peer sent through 512-byte Reads (which may borrow), or
// through Peek and Discard of frame-header-sized pieces, then peeks for
// more than is left.
func TestWaitingHoldsNoPooledBuffer(t *testing.T) {
	for _, tt := range []struct {
		name    string
		sizes   []int // chunks the peer sends, all consumed but the last left bytes
		left    int   // bytes of the last chunk left buffered, then Peek(left+1)
		borrows bool  // the Reads borrowed a pooled buffer on the way
		peeks   bool  // consume with Peek(14) and Discard instead of Read
	}{
		{"inline array filled exactly", []int{InlineSize}, 0, false, false},
		{"pooled buffer filled exactly", []int{InlineSize, PooledSize}, 0, true, false},
		{"pooled buffers filled exactly", []int{InlineSize, PooledSize, PooledSize}, 0, true, false},
		{"header begun when the data ran out", []int{InlineSize, PooledSize, 100}, 1, true, false},
		{"long header begun when the data ran out", []int{InlineSize, PooledSize, 100}, 13, true, false},
		{"light traffic", []int{100, 50}, 0, false, false},
		{"headers filled the inline array", []int{InlineSize}, 0, false, true},
		{"headers filled the inline array twice", []int{InlineSize, InlineSize}, 3, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b Reader
			s := &script{b: &b}
			total := 0
			for _, n := range tt.sizes {
				s.chunks = append(s.chunks, bytes.Repeat([]byte{byte(n)}, n))
				total += n
			}
			b.Reset(s, nil)
			borrowed := false
			p := make([]byte, 512)
			for got := 0; got < total-tt.left; {
				want := min(len(p), total-tt.left-got)
				var n int
				var err error
				if tt.peeks {
					want = min(14, want)
					if _, err = b.Peek(want); err == nil {
						n, err = b.Discard(want)
					}
				} else {
					n, err = b.Read(p[:want])
				}
				if err != nil {
					t.Fatalf("after %d bytes: %v", got, err)
				}
				got += n
				borrowed = borrowed || b.Holds()
			}
			if !tt.peeks && borrowed != tt.borrows {
				t.Errorf("small reads borrowed a pooled buffer: %v, want %v", borrowed, tt.borrows)
			}
			if _, err := b.Peek(tt.left + 1); err != io.EOF {
				t.Fatalf("Peek past the data: %v, want EOF", err)
			}
			if s.heldAt {
				t.Error("a pooled buffer was held while waiting for the peer")
			}
		})
	}
}

// TestFrameFloods: a stream of small frames (a header read with Peek and
// Discard, a payload with Read), whatever their size, costs one read of the
// underlying reader per PooledSize bytes, and at worst three when pooled
// buffers end at frame boundaries (then two reads into the inline array may
// follow). Frames whose size divides the inline array must not keep every
// read ending at a frame boundary, where Peek reads into the inline array.
func TestFrameFloods(t *testing.T) {
	for _, size := range []int{2, 6, 8, 16, 22, 64, 96, 190, 191, 192, 193, 4096} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data := make([]byte, 1<<20/size*size)
			var b Reader
			s := &script{b: &b, chunks: [][]byte{data}}
			b.Reset(s, nil)
			hdr := min(size, 6)
			p := make([]byte, size)
			for done := 0; done < len(data); done += size {
				if _, err := b.Peek(hdr); err != nil {
					t.Fatal(err)
				}
				b.Discard(hdr)
				for got := hdr; got < size; {
					n, err := b.Read(p[:size-got])
					if err != nil {
						t.Fatal(err)
					}
					got += n
				}
			}
			if want := 3 * (1 + len(data)/PooledSize); s.reads > want {
				t.Errorf("%d reads of the underlying reader for %d bytes, want at most %d", s.reads, len(data), want)
			}
		})
	}
}

// TestSmallReadsBuffered: a stream read in 512-byte pieces while the data
// is waiting costs about one read of the underlying reader per PooledSize
// bytes; reads of PooledSize or more go straight to the underlying reader.
func TestSmallReadsBuffered(t *testing.T) {
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, size := range []int{100, 512, 4096, PooledSize, 64 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			var b Reader
			s := &script{b: &b, chunks: [][]byte{bytes.Clone(data)}}
			b.Reset(s, nil)
			var got []byte
			p := make([]byte, size)
			for len(got) < len(data) {
				n, err := b.Read(p)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, p[:n]...)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("data differs")
			}
			if size >= PooledSize {
				for i, n := range s.lens {
					if n != size {
						t.Fatalf("read %d of the underlying reader got a buffer of %d bytes, want the caller's %d", i, n, size)
					}
				}
				return
			}
			// One read fills the inline array, then pooled buffers.
			if want := 2 + len(data)/PooledSize; s.reads > want {
				t.Errorf("%d reads of the underlying reader for %d bytes, want at most %d", s.reads, len(data), want)
			}
			if b.Holds() {
				t.Error("pooled buffer kept after everything was consumed")
			}
		})
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

// BenchmarkStreamReads reads a stream 512 bytes at a time, as the
// decompressor does, from a reader that always has data waiting.
func BenchmarkStreamReads(b *testing.B) {
	data := make([]byte, 1<<20)
	r := bytes.NewReader(nil)
	var br Reader
	p := make([]byte, 512)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r.Reset(data)
		br.Reset(r, nil)
		for {
			if _, err := br.Read(p); err != nil {
				break
			}
		}
	}
}
