package utf8

import (
	"bytes"
	"strconv"
	"testing"
	stdutf8 "unicode/utf8"
)

var samples = [][]byte{
	[]byte(""),
	[]byte("hello"),
	[]byte("κόσμε"),
	[]byte("Hello-µ@ßöäüàá-UTF-8!!"),
	[]byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"), // surrogate
	[]byte("\xf4\x8f\xbf\xbf"), // U+10FFFF
	[]byte("\xf4\x90\x80\x80"), // above U+10FFFF
	[]byte("\xc0\xaf"),         // overlong
	[]byte("\xe0\x80\xaf"),     // overlong
	[]byte("\xf0\x80\x80\xaf"), // overlong
	[]byte("\xed\x9f\xbf"),     // U+D7FF
	[]byte("\xee\x80\x80"),     // U+E000
	[]byte("\xef\xbf\xbf"),     // U+FFFF
	[]byte("\xf0\x90\x80\x80"), // U+10000
	[]byte("\xfe\xff"),
	[]byte("\x80"),
	[]byte("abc\xe2\x82"), // truncated at the end
	[]byte("€€€€€€€€€€€€€€€€€€€€𝄞𝄞𝄞𝄞 mixed ascii text that is long enough"),
}

// TestSplitsAgreeWithStdlib feeds every sample split at every pair of
// positions and compares the verdict with unicode/utf8.
func TestSplitsAgreeWithStdlib(t *testing.T) {
	for _, s := range samples {
		want := stdutf8.Valid(s)
		for i := 0; i <= len(s); i++ {
			for j := i; j <= len(s); j++ {
				var v Validator
				ok := v.Write(s[:i]) && v.Write(s[i:j]) && v.Write(s[j:]) && v.Complete()
				if ok != want {
					t.Fatalf("%q split at %d,%d: got %v, want %v", s, i, j, ok, want)
				}
			}
		}
	}
}

// TestFailsOnFirstBadByte checks that the error is reported on the byte that
// makes the text invalid, even when the code point is not finished.
func TestFailsOnFirstBadByte(t *testing.T) {
	tests := []struct {
		text  string
		badAt int // index of the first byte after which the prefix is invalid
	}{
		{"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited", 12},
		{"ab\xed\xa0\x80", 3},
		{"\xc0", 0},
		{"\xf5", 0},
		{"\xe0\x9f", 1},
		{"\xf0\x8f", 1},
		{"\xe2\x82a", 2},
	}
	for _, tt := range tests {
		var v Validator
		for i := 0; i < len(tt.text); i++ {
			ok := v.Write([]byte{tt.text[i]})
			if ok != (i < tt.badAt) {
				t.Fatalf("%q: byte %d: got valid=%v, first bad byte is %d", tt.text, i, ok, tt.badAt)
			}
		}
	}
}

func TestCompleteNeedsWholeCodePoint(t *testing.T) {
	var v Validator
	if !v.Write([]byte("a\xe2\x82")) {
		t.Fatal("prefix of a valid text reported invalid")
	}
	if v.Complete() {
		t.Fatal("text ending mid code point reported complete")
	}
	if !v.Write([]byte("\xac")) || !v.Complete() {
		t.Fatal("finished code point not accepted")
	}
	v.Write([]byte{0xff})
	v.Reset()
	if !v.Write([]byte("ok")) || !v.Complete() {
		t.Fatal("Reset did not clear the rejected state")
	}
}

func TestExhaustiveTwoAndThreeBytes(t *testing.T) {
	buf := make([]byte, 3)
	for a := 0; a < 256; a++ {
		for b := 0; b < 256; b++ {
			for _, c := range []int{0x41, 0x80, 0xa0, 0xbf, 0xc0} {
				buf[0], buf[1], buf[2] = byte(a), byte(b), byte(c)
				var v Validator
				got := v.Write(buf[:1]) && v.Write(buf[1:2]) && v.Write(buf[2:]) && v.Complete()
				if want := stdutf8.Valid(buf); got != want {
					t.Fatalf("% x: got %v want %v", buf, got, want)
				}
			}
		}
	}
}

func BenchmarkValidator(b *testing.B) {
	for _, tc := range []struct {
		name string
		text []byte
	}{
		{"ascii", bytes.Repeat([]byte("The quick brown fox jumps. "), 1<<12/27+1)[:4096]},
		{"mixed", bytes.Repeat([]byte("κόσμε €uro 𝄞 text "), 4096/24+1)},
	} {
		for _, chunk := range []int{4096, 61} {
			b.Run(tc.name+"/chunk="+strconv.Itoa(chunk), func(b *testing.B) {
				b.SetBytes(int64(len(tc.text)))
				b.ReportAllocs()
				var v Validator
				for i := 0; i < b.N; i++ {
					v.Reset()
					for p := tc.text; len(p) > 0; {
						n := min(chunk, len(p))
						if !v.Write(p[:n]) {
							b.Fatal("valid text rejected")
						}
						p = p[n:]
					}
				}
			})
		}
	}
}
