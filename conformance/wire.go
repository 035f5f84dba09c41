package conformance

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The fuzzer's own frame codec (RFC 6455 §5.2), independent of the code
// under test and deliberately permissive: it writes whatever frame a case
// asks for, valid or not.

// Opcodes.
const (
	opCont   = 0x0
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xA
)

// rawFrame is a frame as the fuzzer sends or receives it.
type rawFrame struct {
	fin     bool
	rsv     byte // 0..7
	op      byte
	payload []byte
	masked  bool
}

// encode returns the frame's bytes, masked with a random key if mask.
func (f rawFrame) encode(mask bool) []byte {
	b := []byte{f.op&0x0F | (f.rsv&7)<<4, 0}
	if f.fin {
		b[0] |= 0x80
	}
	n := len(f.payload)
	switch {
	case n <= 125:
		b[1] = byte(n)
	case n <= 0xFFFF:
		b[1] = 126
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b[1] = 127
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if !mask {
		return append(b, f.payload...)
	}
	b[1] |= 0x80
	var key [4]byte
	rand.Read(key[:])
	b = append(b, key[:]...)
	start := len(b)
	b = append(b, f.payload...)
	maskBytes(b[start:], key)
	return b
}

// maskBytes XORs p with the masking key (RFC 6455 §5.3), eight bytes at a
// time: megabytes go through it in every large case.
func maskBytes(p []byte, key [4]byte) {
	k32 := binary.LittleEndian.Uint32(key[:])
	k64 := uint64(k32) | uint64(k32)<<32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k64)
	}
	for ; i < len(p); i++ {
		p[i] ^= key[i%4]
	}
}

var errFrameTooLong = errors.New("frame longer than the fuzzer accepts")

// readFrame reads one frame, unmasking it.
func readFrame(r *bufio.Reader, maxLen int) (rawFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return rawFrame{}, err
	}
	f := rawFrame{fin: h[0]&0x80 != 0, rsv: (h[0] >> 4) & 7, op: h[0] & 0x0F, masked: h[1]&0x80 != 0}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var e [2]byte
		if _, err := io.ReadFull(r, e[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		if _, err := io.ReadFull(r, e[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(e[:])
	}
	if n > uint64(maxLen) {
		return f, fmt.Errorf("%w: %d bytes", errFrameTooLong, n)
	}
	var key [4]byte
	if f.masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return f, err
		}
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return f, err
	}
	if f.masked {
		maskBytes(f.payload, key)
	}
	return f, nil
}

// closePayload builds a close frame payload.
func closePayload(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}
