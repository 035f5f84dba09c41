package frame

import (
	"encoding/binary"
	"errors"

	"github.com/websock/websock/internal/utf8"
)

// CloseNoStatus is the code reported for a close frame without payload
// (RFC 6455 §7.4.1); it is never sent on the wire.
const CloseNoStatus = 1005

// Errors in a close frame payload (§5.5.1).
var (
	ErrCloseLen    = errors.New("close frame payload of 1 byte")
	ErrCloseCode   = errors.New("invalid close code")
	ErrCloseReason = errors.New("close reason is not valid UTF-8")
)

// ValidCode reports whether code may appear in a close frame on the wire:
// 1000–1003 and 1007–1014 (defined by RFC 6455 and the IANA registry) and
// 3000–4999 (libraries, frameworks and applications, §7.4.2).
func ValidCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// ParseClose decodes a close frame payload. An empty payload yields
// CloseNoStatus. Errors with ErrCloseReason call for close code 1007, the
// others for 1002.
func ParseClose(p []byte) (code int, reason []byte, err error) {
	switch len(p) {
	case 0:
		return CloseNoStatus, nil, nil
	case 1:
		return 0, nil, ErrCloseLen
	}
	code = int(binary.BigEndian.Uint16(p))
	if !ValidCode(code) {
		return code, nil, ErrCloseCode
	}
	if !utf8.Valid(p[2:]) {
		return code, nil, ErrCloseReason
	}
	return code, p[2:], nil
}

// AppendClose appends a close frame payload with code and reason to dst. The
// reason is cut to fit the 125-byte control frame limit, at a code point
// boundary. CloseNoStatus yields an empty payload.
func AppendClose(dst []byte, code int, reason string) []byte {
	if code == CloseNoStatus {
		return dst
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	if len(reason) > MaxControlPayload-2 {
		reason = reason[:MaxControlPayload-2]
		for len(reason) > 0 && !utf8.Valid([]byte(reason)) {
			reason = reason[:len(reason)-1]
		}
	}
	return append(dst, reason...)
}
