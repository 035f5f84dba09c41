package deflate

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestSlideWindow checks the window against the whole stream it was fed:
// it always holds the stream's last size bytes, in a buffer of at most
// twice size.
func TestSlideWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{256, 4096, 32768} {
		w := slideWindow{size: size}
		var stream []byte
		for i := 0; i < 2000; i++ {
			n := rng.IntN(size / 3)
			if i%97 == 0 {
				n = size + rng.IntN(size)
			}
			p := make([]byte, n)
			for j := range p {
				p[j] = byte(rng.Uint32())
			}
			stream = append(stream, p...)
			w.add(p)
			want := stream[max(0, len(stream)-size):]
			if !bytes.Equal(w.bytes(), want) {
				t.Fatalf("size %d, add %d: window differs from the stream's last %d bytes", size, i, len(want))
			}
			if cap(w.buf) > 2*size {
				t.Fatalf("size %d: buffer of %d bytes", size, cap(w.buf))
			}
			if i%301 == 0 {
				w.compact()
				if cap(w.buf) != len(w.bytes()) || !bytes.Equal(w.bytes(), want) {
					t.Fatalf("compact: capacity %d for %d bytes", cap(w.buf), len(w.bytes()))
				}
			}
		}
	}
}

func BenchmarkSlideWindowAdd(b *testing.B) {
	w := slideWindow{size: 32768}
	p := make([]byte, 1024)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		w.add(p)
	}
}
