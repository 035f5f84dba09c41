// Package frame reads and writes WebSocket frame headers (RFC 6455 §5.2)
// and close frame payloads (§5.5.1, §7.4) without allocating.
package frame

import (
	"encoding/binary"
	"errors"
)

// Opcode is the 4-bit frame type (RFC 6455 §5.2, §11.8).
type Opcode uint8

// Opcodes defined by RFC 6455 §5.2.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether o is a control opcode (§5.5): its high bit is set.
func (o Opcode) IsControl() bool { return o&0x8 != 0 }

// IsReserved reports whether o is one of the opcodes RFC 6455 reserves for
// future use (0x3–0x7 and 0xB–0xF).
func (o Opcode) IsReserved() bool {
	return (o >= 0x3 && o <= 0x7) || o >= 0xB
}

// Reserved bits of the first header byte (§5.2). RSV1 carries the
// "compressed" flag of permessage-deflate (RFC 7692 §6).
const (
	RSV1 byte = 0x40
	RSV2 byte = 0x20
	RSV3 byte = 0x10
)

// MaxControlPayload is the largest payload of a control frame (§5.5).
const MaxControlPayload = 125

// MaxHeaderLen is the longest a frame header can be: 2 bytes, an 8-byte
// extended length and a 4-byte masking key.
const MaxHeaderLen = 14

// Header is a decoded frame header.
type Header struct {
	Fin    bool
	RSV    byte // the RSV1|RSV2|RSV3 bits, in place (mask 0x70)
	Opcode Opcode
	Masked bool
	Key    [4]byte
	Length int64
}

// Errors in the frame encoding itself; all of them are protocol errors (close
// code 1002).
var (
	ErrLength          = errors.New("payload length has the most significant bit set")
	ErrReservedOpcode  = errors.New("reserved opcode")
	ErrReservedBits    = errors.New("reserved bits set without a negotiated extension")
	ErrMaskedFromSrv   = errors.New("masked frame from the server")
	ErrUnmaskedFromCli = errors.New("unmasked frame from the client")
	ErrFragmentedCtrl  = errors.New("fragmented control frame")
	ErrLongCtrl        = errors.New("control frame payload longer than 125 bytes")
)

// Len returns the length of the header that begins with the bytes b0 and b1.
func Len(b0, b1 byte) int {
	n := 2
	switch b1 & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// Parse decodes the header at the start of b, which must hold at least
// Len(b[0], b[1]) bytes. It returns the header and its length in bytes.
func Parse(b []byte) (Header, int, error) {
	h := Header{
		Fin:    b[0]&0x80 != 0,
		RSV:    b[0] & 0x70,
		Opcode: Opcode(b[0] & 0x0F),
		Masked: b[1]&0x80 != 0,
	}
	n := 2
	switch l := b[1] & 0x7F; l {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(b[2:4]))
		n = 4
	case 127:
		u := binary.BigEndian.Uint64(b[2:10])
		if u>>63 != 0 {
			return h, 0, ErrLength
		}
		h.Length = int64(u)
		n = 10
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		copy(h.Key[:], b[n:n+4])
		n += 4
	}
	return h, n, nil
}

// Check applies the rules of RFC 6455 §5.1–§5.5 that a single header must
// follow: masking by direction (fromClient tells who sent it), reserved bits
// only as allowed by negotiated extensions (allowedRSV), no reserved opcodes,
// and control frames unfragmented and at most 125 bytes.
func (h *Header) Check(fromClient bool, allowedRSV byte) error {
	switch {
	case h.Opcode.IsReserved():
		return ErrReservedOpcode
	case h.RSV&^allowedRSV != 0:
		return ErrReservedBits
	case fromClient && !h.Masked:
		return ErrUnmaskedFromCli
	case !fromClient && h.Masked:
		return ErrMaskedFromSrv
	}
	if h.Opcode.IsControl() {
		if !h.Fin {
			return ErrFragmentedCtrl
		}
		if h.Length > MaxControlPayload {
			return ErrLongCtrl
		}
		if h.RSV != 0 {
			return ErrReservedBits
		}
	}
	return nil
}

// Put encodes h into b, which must hold MaxHeaderLen bytes, and returns the
// number of bytes written. The shortest length encoding is used (§5.2).
func Put(b []byte, h Header) int {
	b0 := byte(h.Opcode) | h.RSV
	if h.Fin {
		b0 |= 0x80
	}
	b[0] = b0
	var m byte
	if h.Masked {
		m = 0x80
	}
	n := 2
	switch {
	case h.Length <= 125:
		b[1] = m | byte(h.Length)
	case h.Length <= 0xFFFF:
		b[1] = m | 126
		binary.BigEndian.PutUint16(b[2:4], uint16(h.Length))
		n = 4
	default:
		b[1] = m | 127
		binary.BigEndian.PutUint64(b[2:10], uint64(h.Length))
		n = 10
	}
	if h.Masked {
		copy(b[n:n+4], h.Key[:])
		n += 4
	}
	return n
}
