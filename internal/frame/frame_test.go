package frame

import (
	"bytes"
	"errors"
	"testing"
)

func TestPutParseRoundTrip(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	tests := []struct {
		h    Header
		wire []byte
	}{
		{Header{Fin: true, Opcode: OpText, Length: 5}, []byte{0x81, 0x05}},
		{Header{Fin: true, Opcode: OpText, Masked: true, Key: key, Length: 5}, []byte{0x81, 0x85, 1, 2, 3, 4}},
		{Header{Fin: false, Opcode: OpBinary, Length: 125}, []byte{0x02, 125}},
		{Header{Fin: true, Opcode: OpBinary, Length: 126}, []byte{0x82, 126, 0, 126}},
		{Header{Fin: true, Opcode: OpBinary, Length: 0xFFFF}, []byte{0x82, 126, 0xFF, 0xFF}},
		{Header{Fin: true, Opcode: OpBinary, Length: 0x10000}, []byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
		{Header{Fin: true, RSV: RSV1, Opcode: OpText, Masked: true, Key: key, Length: 1 << 24},
			[]byte{0xC1, 0xFF, 0, 0, 0, 0, 1, 0, 0, 0, 1, 2, 3, 4}},
		{Header{Fin: true, Opcode: OpClose}, []byte{0x88, 0}},
	}
	for _, tt := range tests {
		var b [MaxHeaderLen]byte
		n := Put(b[:], tt.h)
		if !bytes.Equal(b[:n], tt.wire) {
			t.Errorf("Put(%+v) = % x, want % x", tt.h, b[:n], tt.wire)
		}
		if l := Len(tt.wire[0], tt.wire[1]); l != len(tt.wire) {
			t.Errorf("Len(% x) = %d, want %d", tt.wire[:2], l, len(tt.wire))
		}
		h, m, err := Parse(tt.wire)
		if err != nil || m != len(tt.wire) || h != tt.h {
			t.Errorf("Parse(% x) = %+v, %d, %v; want %+v", tt.wire, h, m, err, tt.h)
		}
	}
}

func TestParseRejectsHugeLength(t *testing.T) {
	_, _, err := Parse([]byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0})
	if !errors.Is(err, ErrLength) {
		t.Fatalf("got %v, want ErrLength", err)
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name       string
		h          Header
		fromClient bool
		allowed    byte
		want       error
	}{
		{"client text", Header{Fin: true, Opcode: OpText, Masked: true}, true, 0, nil},
		{"server text", Header{Fin: true, Opcode: OpText}, false, 0, nil},
		{"unmasked from client", Header{Fin: true, Opcode: OpText}, true, 0, ErrUnmaskedFromCli},
		{"masked from server", Header{Fin: true, Opcode: OpText, Masked: true}, false, 0, ErrMaskedFromSrv},
		{"rsv1 not negotiated", Header{Fin: true, RSV: RSV1, Opcode: OpText, Masked: true}, true, 0, ErrReservedBits},
		{"rsv1 negotiated", Header{Fin: true, RSV: RSV1, Opcode: OpText, Masked: true}, true, RSV1, nil},
		{"rsv2 with rsv1 negotiated", Header{Fin: true, RSV: RSV2, Opcode: OpText, Masked: true}, true, RSV1, ErrReservedBits},
		{"rsv1 on control", Header{Fin: true, RSV: RSV1, Opcode: OpPing, Masked: true}, true, RSV1, ErrReservedBits},
		{"opcode 3", Header{Fin: true, Opcode: 3, Masked: true}, true, 0, ErrReservedOpcode},
		{"opcode 0xB", Header{Fin: true, Opcode: 0xB, Masked: true}, true, 0, ErrReservedOpcode},
		{"fragmented ping", Header{Opcode: OpPing, Masked: true}, true, 0, ErrFragmentedCtrl},
		{"ping 125", Header{Fin: true, Opcode: OpPing, Masked: true, Length: 125}, true, 0, nil},
		{"ping 126", Header{Fin: true, Opcode: OpPing, Masked: true, Length: 126}, true, 0, ErrLongCtrl},
	}
	for _, tt := range tests {
		if got := tt.h.Check(tt.fromClient, tt.allowed); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestValidCode(t *testing.T) {
	valid := []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}
	invalid := []int{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}
	for _, c := range valid {
		if !ValidCode(c) {
			t.Errorf("ValidCode(%d) = false", c)
		}
	}
	for _, c := range invalid {
		if ValidCode(c) {
			t.Errorf("ValidCode(%d) = true", c)
		}
	}
}

func TestParseClose(t *testing.T) {
	tests := []struct {
		payload []byte
		code    int
		reason  string
		err     error
	}{
		{nil, CloseNoStatus, "", nil},
		{[]byte{0x03}, 0, "", ErrCloseLen},
		{[]byte{0x03, 0xE8}, 1000, "", nil},
		{[]byte{0x03, 0xE8, 'b', 'y', 'e'}, 1000, "bye", nil},
		{[]byte{0x03, 0xEE}, 1006, "", ErrCloseCode},
		{[]byte{0x03, 0xE8, 0xCE, 0xBA, 0xE1, 0xBD}, 1000, "", ErrCloseReason},
	}
	for _, tt := range tests {
		code, reason, err := ParseClose(tt.payload)
		if err != tt.err || (err == nil && (code != tt.code || string(reason) != tt.reason)) {
			t.Errorf("ParseClose(% x) = %d, %q, %v; want %d, %q, %v", tt.payload, code, reason, err, tt.code, tt.reason, tt.err)
		}
	}
}

func TestAppendCloseTruncatesAtCodePoint(t *testing.T) {
	reason := string(bytes.Repeat([]byte("€"), 50)) // 150 bytes
	p := AppendClose(nil, 1000, reason)
	if len(p) > MaxControlPayload {
		t.Fatalf("payload of %d bytes", len(p))
	}
	if _, _, err := ParseClose(p); err != nil {
		t.Fatalf("truncated payload does not parse: %v", err)
	}
	if len(AppendClose(nil, CloseNoStatus, "x")) != 0 {
		t.Fatal("CloseNoStatus must give an empty payload")
	}
}

func BenchmarkParse(b *testing.B) {
	wire := []byte{0x82, 0xFE, 0x10, 0x00, 1, 2, 3, 4}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h, n, err := Parse(wire)
		if err != nil || n != 8 || h.Length != 4096 {
			b.Fatal("bad parse")
		}
		if h.Check(true, 0) != nil {
			b.Fatal("bad check")
		}
	}
}

func BenchmarkPut(b *testing.B) {
	var buf [MaxHeaderLen]byte
	h := Header{Fin: true, Opcode: OpBinary, Masked: true, Length: 4096}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if Put(buf[:], h) != 8 {
			b.Fatal("bad put")
		}
	}
}
