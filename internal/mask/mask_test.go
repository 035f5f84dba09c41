package mask

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"testing"
)

// applySimple is the byte-at-a-time definition from RFC 6455 §5.3.
func applySimple(key [4]byte, pos int, b []byte) int {
	for i := range b {
		b[i] ^= key[(pos+i)&3]
	}
	return (pos + len(b)) & 3
}

func TestApplyMatchesDefinition(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 300; n++ {
		for pos := 0; pos < 4; pos++ {
			key := [4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())}
			data := make([]byte, n)
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			want := bytes.Clone(data)
			wantPos := applySimple(key, pos, want)
			gotPos := Apply(key, pos, data)
			if !bytes.Equal(data, want) || gotPos != wantPos {
				t.Fatalf("n=%d pos=%d: got pos %d want %d, bytes equal=%v", n, pos, gotPos, wantPos, bytes.Equal(data, want))
			}
		}
	}
}

func TestApplyInPiecesEqualsWhole(t *testing.T) {
	t.Parallel()
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	whole := []byte("Hello, this payload is unmasked in uneven pieces as it arrives.")
	pieces := bytes.Clone(whole)
	Apply(key, 0, whole)
	pos, rest := 0, pieces
	for _, n := range []int{1, 2, 3, 5, 8, 13, 21} {
		pos = Apply(key, pos, rest[:n])
		rest = rest[n:]
	}
	Apply(key, pos, rest)
	if !bytes.Equal(pieces, whole) {
		t.Fatalf("pieces %x != whole %x", pieces, whole)
	}
}

func TestApplyRFCExample(t *testing.T) {
	t.Parallel()
	// RFC 6455 §5.7: a masked "Hello".
	frame := []byte{0x7f, 0x9f, 0x4d, 0x51, 0x58}
	Apply([4]byte{0x37, 0xfa, 0x21, 0x3d}, 0, frame)
	if string(frame) != "Hello" {
		t.Fatalf("got %q", frame)
	}
}

func BenchmarkApply(b *testing.B) {
	for _, size := range []int{16, 125, 1024, 16 << 10, 1 << 20} {
		buf := make([]byte, size)
		b.Run(sizeName(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			key := [4]byte{1, 2, 3, 4}
			for b.Loop() {
				Apply(key, 1, buf)
			}
		})
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return strconv.Itoa(n>>20) + "MiB"
	case n >= 1<<10:
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}
