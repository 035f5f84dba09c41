package frame

import (
	"bytes"
	"testing"
)

// FuzzParse: any header that parses re-encodes to the same bytes when its
// length used the shortest form, and Check never panics.
func FuzzParse(f *testing.F) {
	f.Add([]byte{0x81, 0x85, 1, 2, 3, 4})
	f.Add([]byte{0x82, 126, 0, 126})
	f.Add([]byte{0x02, 127, 0, 0, 0, 0, 0, 1, 0, 0})
	f.Add([]byte{0x88, 0x80, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 2 || len(b) < Len(b[0], b[1]) {
			return
		}
		h, n, err := Parse(b)
		if err != nil {
			return
		}
		h.Check(true, RSV1)
		h.Check(false, 0)
		var out [MaxHeaderLen]byte
		m := Put(out[:], h)
		h2, n2, err := Parse(out[:m])
		if err != nil || h2 != h || n2 != m {
			t.Fatalf("re-encoding %+v: %+v, %v", h, h2, err)
		}
		minimal := (h.Length <= 125 && n-boolInt(h.Masked)*4 == 2) ||
			(h.Length > 125 && h.Length <= 0xFFFF && n-boolInt(h.Masked)*4 == 4) ||
			(h.Length > 0xFFFF && n-boolInt(h.Masked)*4 == 10)
		if minimal && !bytes.Equal(out[:m], b[:n]) {
			t.Fatalf("% x re-encoded as % x", b[:n], out[:m])
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// FuzzParseClose: valid close payloads round-trip through AppendClose.
func FuzzParseClose(f *testing.F) {
	f.Add([]byte{0x03, 0xe8})
	f.Add([]byte{0x03, 0xe8, 'h', 'i'})
	f.Add([]byte{0x03})
	f.Fuzz(func(t *testing.T, p []byte) {
		code, reason, err := ParseClose(p)
		if err != nil || code == CloseNoStatus {
			return
		}
		if len(p) <= MaxControlPayload && !bytes.Equal(AppendClose(nil, code, string(reason)), p) {
			t.Fatalf("close payload % x does not round-trip", p)
		}
	})
}
