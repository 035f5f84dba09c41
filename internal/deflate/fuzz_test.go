package deflate

import (
	"bytes"
	stdflate "compress/flate"
	"io"
	"testing"
)

// FuzzDecompressor feeds arbitrary compressed payloads: never a panic,
// what decodes without error agrees with the standard library, and the decompressor stays
// usable for the next message.
func FuzzDecompressor(f *testing.F) {
	f.Add([]byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, true)
	f.Add([]byte{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}, false)
	f.Add([]byte{0xff, 0xff}, false)
	f.Add([]byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}, false)                                    // final block, RFC 7692 §7.2.3.4
	f.Add([]byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, true) // data after it
	f.Add([]byte{0x00, 0x00, 0x00, 0xff, 0xff, 0x02, 0x08, 0x20, 0x80, 0x00}, false)                        // empty blocks
	f.Fuzz(func(t *testing.T, z []byte, takeover bool) {
		d := NewDecompressor(15, takeover)
		defer d.Release()
		var out bytes.Buffer
		n, err := io.Copy(&out, io.LimitReader(d.Reader(bytes.NewReader(z)), 1<<20))
		if err == nil && n < 1<<20 {
			// The standard library stops at the first final block.
			ref, rerr := io.ReadAll(io.LimitReader(stdflate.NewReader(io.MultiReader(bytes.NewReader(z), bytes.NewReader(ending))), 1<<20))
			if rerr == nil && !bytes.Equal(ref, out.Bytes()) {
				t.Fatalf("% x: decoded %q, the standard library %q", z, out.Bytes(), ref)
			}
		}
		if !takeover {
			got, err := io.ReadAll(d.Reader(bytes.NewReader([]byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})))
			if err != nil || string(got) != "Hello" {
				t.Fatalf("after % x: %q, %v", z, got, err)
			}
		}
	})
}

// FuzzRoundTrip: whatever is compressed decompresses to itself, with and
// without an idle release between messages.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("Hello"), uint8(15))
	f.Add(bytes.Repeat([]byte("ab"), 1000), uint8(8))
	f.Fuzz(func(t *testing.T, msg []byte, bits uint8) {
		b := 8 + int(bits)%8
		c := NewCompressor(1, b, true)
		d := NewDecompressor(b, true)
		defer c.Release()
		defer d.Release()
		for i := 0; i < 2; i++ {
			var z bytes.Buffer
			w := c.Writer(&z)
			w.Write(msg)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(d.Reader(&z))
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("round trip %d with %d bits: %v", i, b, err)
			}
			if bits&16 != 0 {
				c.release() // as after IdleRelease: the next message starts from the window
			}
		}
	})
}
