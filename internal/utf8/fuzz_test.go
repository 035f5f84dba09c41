package utf8

import (
	"testing"
	stdutf8 "unicode/utf8"
)

// FuzzValidator compares the incremental validator, fed in three pieces
// split at fuzzed points, with unicode/utf8.
func FuzzValidator(f *testing.F) {
	f.Add([]byte("κόσμε"), uint8(1), uint8(3))
	f.Add([]byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited"), uint8(11), uint8(13))
	f.Add([]byte("\xed\xa0\x80"), uint8(0), uint8(2))
	f.Fuzz(func(t *testing.T, p []byte, i, j uint8) {
		a := min(int(i), len(p))
		b := min(max(a, int(j)), len(p))
		var v Validator
		got := v.Write(p[:a]) && v.Write(p[a:b]) && v.Write(p[b:]) && v.Complete()
		if want := stdutf8.Valid(p); got != want {
			t.Fatalf("%q split at %d,%d: got %v, want %v", p, a, b, got, want)
		}
		// Fail fast: a prefix reported invalid cannot be completed.
		var w Validator
		for k := range p {
			if !w.Write(p[k : k+1]) {
				if stdutf8.Valid(p) {
					t.Fatalf("%q: valid text rejected at byte %d", p, k)
				}
				break
			}
		}
	})
}
