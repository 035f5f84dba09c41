package deflate

import (
	"bytes"
	stdflate "compress/flate"
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

func compressMsg(t testing.TB, c *Compressor, msg []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := c.Writer(&out)
	if _, err := w.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func decompressMsg(t testing.TB, d *Decompressor, z []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(d.Reader(bytes.NewReader(z)))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var corpus = [][]byte{
	[]byte("Hello"),
	{},
	bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog. "), 2000),
	[]byte(strings.Repeat("abcdefghij", 10)),
	bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog. "), 2000),
}

// TestRoundTrips: every window size, with and without context takeover,
// over several messages.
func TestRoundTrips(t *testing.T) {
	random := make([]byte, 100_000)
	rand.Read(random)
	msgs := append(corpus, random, corpus[2])
	for bits := 8; bits <= 15; bits++ {
		for _, takeover := range []bool{true, false} {
			c := NewCompressor(1, bits, takeover)
			d := NewDecompressor(bits, takeover)
			for i, m := range msgs {
				z := compressMsg(t, c, m)
				if bytes.HasSuffix(z, tail[:]) {
					t.Fatalf("bits %d: message %d keeps the sync tail", bits, i)
				}
				if got := decompressMsg(t, d, z); !bytes.Equal(got, m) {
					t.Fatalf("bits %d takeover %v: message %d differs", bits, takeover, i)
				}
				if d.fr != nil {
					t.Fatalf("bits %d takeover %v: the decompressor is held between messages", bits, takeover)
				}
				if h := d.history.bytes(); len(h) > 1<<bits || cap(d.history.buf) > 2<<bits {
					t.Fatalf("bits %d: history of %d bytes (capacity %d)", bits, len(h), cap(d.history.buf))
				}
			}
		}
	}
}

// TestTakeoverHelps: with context takeover a repeated message compresses
// to almost nothing; without, it costs the same each time.
func TestTakeoverHelps(t *testing.T) {
	msg := make([]byte, 8<<10) // not self-similar, shorter than the window
	rand.Read(msg)
	for _, takeover := range []bool{true, false} {
		c := NewCompressor(1, 15, takeover)
		first := len(compressMsg(t, c, msg))
		second := len(compressMsg(t, c, msg))
		if takeover && second*10 > first {
			t.Errorf("with takeover the repeat costs %d bytes (first %d)", second, first)
		}
		if !takeover && second != first {
			t.Errorf("without takeover the repeat costs %d bytes, first %d", second, first)
		}
	}
}

// TestWindowBitsRespected: data repeating at a distance of 600 bytes cannot
// be matched with a 512-byte window (bits 9) but can with 32 KiB.
func TestWindowBitsRespected(t *testing.T) {
	block := make([]byte, 600)
	rand.Read(block)
	msg := bytes.Repeat(block, 20)
	small := len(compressMsg(t, NewCompressor(1, 9, false), msg))
	large := len(compressMsg(t, NewCompressor(1, 15, false), msg))
	if small < len(msg)*9/10 {
		t.Errorf("bits 9 compressed %d bytes to %d: it matched beyond its 512-byte window", len(msg), small)
	}
	if large > len(msg)/5 {
		t.Errorf("bits 15 compressed %d bytes to only %d", len(msg), large)
	}
}

// TestStdlibInterop: the standard library decodes what we encode (with the
// tail put back), and we decode what it encodes.
func TestStdlibInterop(t *testing.T) {
	c := NewCompressor(6, 15, true)
	var history []byte
	for i, m := range corpus {
		z := compressMsg(t, c, m)
		r := stdflate.NewReaderDict(io.MultiReader(bytes.NewReader(z), bytes.NewReader(tail[:])), history)
		got, err := io.ReadAll(r)
		if err != nil && err != io.ErrUnexpectedEOF {
			t.Fatalf("message %d: stdlib: %v", i, err)
		}
		if !bytes.Equal(got, m) {
			t.Fatalf("message %d: stdlib decoded something else", i)
		}
		history = append(history, m...)
	}
	d := NewDecompressor(15, true)
	var buf bytes.Buffer
	w, _ := stdflate.NewWriter(&buf, stdflate.BestCompression)
	for i, m := range corpus {
		buf.Reset()
		w.Write(m)
		w.Flush()
		z := bytes.TrimSuffix(buf.Bytes(), tail[:])
		if got := decompressMsg(t, d, z); !bytes.Equal(got, m) {
			t.Fatalf("stdlib message %d decoded wrong", i)
		}
	}
}

// TestRFCExamples decodes the examples of RFC 7692 §7.2.3.
func TestRFCExamples(t *testing.T) {
	d := NewDecompressor(15, true)
	hello := []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}
	if got := decompressMsg(t, d, hello); string(got) != "Hello" {
		t.Fatalf("§7.2.3.1: %q", got)
	}
	// §7.2.3.2: the second "Hello" refers back to the first.
	if got := decompressMsg(t, d, []byte{0xf2, 0x00, 0x11, 0x00, 0x00}); string(got) != "Hello" {
		t.Fatalf("§7.2.3.2: %q", got)
	}
	// §7.2.3.3: a stored (uncompressed) block.
	d = NewDecompressor(15, false)
	if got := decompressMsg(t, d, []byte{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}); string(got) != "Hello" {
		t.Fatalf("§7.2.3.3: %q", got)
	}
}

func TestCorruptInput(t *testing.T) {
	d := NewDecompressor(15, false)
	_, err := io.ReadAll(d.Reader(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff})))
	if err == nil {
		t.Fatal("corrupt data decoded without error")
	}
	// The decompressor is usable again for the next message.
	if got := decompressMsg(t, d, []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}); string(got) != "Hello" {
		t.Fatalf("after an error: %q", got)
	}
}

// TestBombReadsLazily: a huge message is produced only as far as it is read.
func TestBombReadsLazily(t *testing.T) {
	var buf bytes.Buffer
	w, _ := stdflate.NewWriter(&buf, 1)
	zeros := make([]byte, 1<<20)
	for i := 0; i < 256; i++ { // 256 MiB
		w.Write(zeros)
	}
	w.Flush()
	z := bytes.TrimSuffix(buf.Bytes(), tail[:])
	d := NewDecompressor(15, false)
	n, err := io.CopyN(io.Discard, d.Reader(bytes.NewReader(z)), 1<<20)
	if err != nil || n != 1<<20 {
		t.Fatalf("read %d, %v", n, err)
	}
}

func BenchmarkCompress(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		msg := bytes.Repeat([]byte("{\"id\": 12345, \"name\": \"websock\", \"tags\": [\"a\", \"b\"]} "), size/50+1)[:size]
		for _, takeover := range []bool{true, false} {
			b.Run(fmt.Sprintf("%d/takeover=%v", size, takeover), func(b *testing.B) {
				c := NewCompressor(1, 15, takeover)
				var out bytes.Buffer
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					out.Reset()
					w := c.Writer(&out)
					w.Write(msg)
					w.Close()
				}
			})
		}
	}
}

func BenchmarkDecompress(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		msg := bytes.Repeat([]byte("{\"id\": 12345, \"name\": \"websock\", \"tags\": [\"a\", \"b\"]} "), size/50+1)[:size]
		for _, takeover := range []bool{true, false} {
			b.Run(fmt.Sprintf("%d/takeover=%v", size, takeover), func(b *testing.B) {
				z := compressMsg(b, NewCompressor(1, 15, false), msg)
				d := NewDecompressor(15, takeover)
				out := make([]byte, size+1)
				src := bytes.NewReader(z)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					src.Reset(z)
					r := d.Reader(src)
					n, _ := io.ReadFull(r, out)
					if n != size {
						b.Fatalf("decoded %d bytes", n)
					}
				}
			})
		}
	}
}

// TestIdleRelease: with takeover, the compressor gives its writer back
// once idle and keeps only its window; the stream goes on as if nothing had
// happened (the peer decompresses with the history it kept) and a repeated
// message still costs almost nothing.
func TestIdleRelease(t *testing.T) {
	msg := make([]byte, 8<<10)
	rand.Read(msg)
	for bits := 9; bits <= 15; bits += 3 {
		c := NewCompressor(1, bits, true)
		c.idleAfter = time.Millisecond
		d := NewDecompressor(bits, true)
		m := msg[:min(len(msg), 1<<bits/2)]
		first := len(compressMsg(t, c, m))
		for i := 0; i < 3; i++ {
			waitReleased(t, c)
			if got := len(c.window.bytes()); got != min(1<<bits, (i+1)*len(m)) {
				t.Fatalf("bits %d: window of %d bytes after %d messages of %d", bits, got, i+1, len(m))
			}
			z := compressMsg(t, c, m)
			if len(z)*5 > first {
				t.Errorf("bits %d: after the release the repeat costs %d bytes (first %d)", bits, len(z), first)
			}
			if i == 0 {
				// The peer's view: the first message, then this one.
				if got := decompressMsg(t, d, compressMsgFresh(t, bits, m)); !bytes.Equal(got, m) {
					t.Fatal("first message differs")
				}
				if got := decompressMsg(t, d, z); !bytes.Equal(got, m) {
					t.Fatalf("bits %d: message after the release differs", bits)
				}
			}
		}
		c.Release()
	}
}

// compressMsgFresh compresses m as the first message of a new stream.
func compressMsgFresh(t *testing.T, bits int, m []byte) []byte {
	c := NewCompressor(1, bits, true)
	defer c.Release()
	return compressMsg(t, c, m)
}

// waitReleased waits (bounded) until the compressor's idle timer has given
// its writer back.
func waitReleased(t *testing.T, c *Compressor) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		released := c.fw == nil
		c.mu.Unlock()
		if released {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer was not released")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRetainedBudget: however many compressors with takeover have just
// written a message, at most MaxRetained keep their writer; the others
// resume from their window, and the stream is intact either way.
func TestRetainedBudget(t *testing.T) {
	n := MaxRetained + 20
	cs := make([]*Compressor, n)
	ds := make([]*Decompressor, n)
	msg := bytes.Repeat([]byte("budget "), 100)
	for round := 0; round < 2; round++ {
		for i := range cs {
			if cs[i] == nil {
				cs[i], ds[i] = NewCompressor(1, 15, true), NewDecompressor(15, true)
			}
			if got := decompressMsg(t, ds[i], compressMsg(t, cs[i], msg)); !bytes.Equal(got, msg) {
				t.Fatalf("round %d, compressor %d: message differs", round, i)
			}
		}
		held := 0
		for _, c := range cs {
			c.mu.Lock()
			if c.fw != nil {
				held++
			}
			c.mu.Unlock()
		}
		if held > MaxRetained || held == 0 || retainedWriters.Load() > MaxRetained {
			t.Fatalf("round %d: %d of %d compressors hold a writer (%d counted), want 1..%d", round, held, n, retainedWriters.Load(), MaxRetained)
		}
	}
	for _, c := range cs {
		c.Release()
	}
	for _, c := range cs {
		if c.retained {
			t.Fatal("a released compressor is still counted")
		}
	}
}

// helloFinal is "Hello" compressed in a block with BFINAL set (RFC 7692
// §7.2.3.4), without the octet that follows it there.
var helloFinal = []byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}

// TestAfterFinalBlock: what follows a final block inside a message may
// only be empty blocks; anything else fails with ErrTrailingData rather
// than being dropped. The decompressor is usable for the next message
// either way.
func TestAfterFinalBlock(t *testing.T) {
	hello := []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00} // §7.2.3.1, not final
	for _, tt := range []struct {
		name  string
		after []byte
		err   error
	}{
		{"nothing", nil, nil},
		{"RFC 7692 §7.2.3.4 empty block header", []byte{0x00}, nil},
		{"empty stored blocks", []byte{0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00}, nil},
		{"empty final block", []byte{0x01, 0x00, 0x00, 0xff, 0xff}, nil},
		{"a second message", hello, ErrTrailingData},
		{"data after an empty final block", append([]byte{0x01, 0x00, 0x00, 0xff, 0xff}, hello...), ErrTrailingData},
		{"data after empty blocks", append([]byte{0x00, 0x00, 0x00, 0xff, 0xff}, hello...), ErrTrailingData},
		{"a stored byte", []byte{0x00, 0x01, 0x00, 0xfe, 0xff, 'x', 0x00}, ErrTrailingData},
		{"garbage", []byte{0xff, 0xff}, ErrTrailingData},
		{"one garbage byte", []byte{0x07}, ErrTrailingData},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, takeover := range []bool{false, true} {
				d := NewDecompressor(15, takeover)
				z := append(bytes.Clone(helloFinal), tt.after...)
				r := d.Reader(bytes.NewReader(z))
				got, err := io.ReadAll(r)
				if err != tt.err || string(got) != "Hello" {
					t.Fatalf("takeover %v: % x decoded to %q, %v; want \"Hello\", %v", takeover, z, got, err, tt.err)
				}
				if _, again := r.Read(make([]byte, 1)); tt.err != nil && again != tt.err {
					t.Fatalf("takeover %v: read after the error: %v", takeover, again)
				}
				if got := decompressMsg(t, d, hello); string(got) != "Hello" {
					t.Fatalf("takeover %v: next message %q", takeover, got)
				}
			}
		})
	}
}
