// Package utf8 validates UTF-8 text incrementally, as it arrives.
//
// RFC 6455 §8.1 requires an endpoint to fail the connection as soon as it
// receives a text message whose payload is not valid UTF-8. Text messages
// arrive in fragments, and fragments arrive in pieces, so the Validator keeps
// the state of an unfinished code point between calls and reports an error
// on the first byte that can no longer start or continue a valid sequence,
// without waiting for the rest of the message.
package utf8

import "unicode/utf8"

// state is the position inside a multi-byte sequence (RFC 3629 §4).
type state uint8

const (
	accept  state = iota // between code points
	need1                // one continuation byte 80..BF expected
	need2                // two continuation bytes expected
	need3                // three continuation bytes expected
	afterE0              // next byte A0..BF, then need1 (no overlong forms)
	afterED              // next byte 80..9F, then need1 (no surrogates)
	afterF0              // next byte 90..BF, then need2 (no overlong forms)
	afterF4              // next byte 80..8F, then need2 (nothing above U+10FFFF)
	reject               // invalid; stays invalid
)

// Validator checks a stream of bytes for UTF-8 validity, piece by piece.
// The zero value is ready to use, at the start of a text.
type Validator struct {
	s state
}

// Reset makes v ready for a new text.
func (v *Validator) Reset() { v.s = accept }

// Write feeds the next bytes of the text and reports whether everything fed
// so far is still a valid UTF-8 prefix. A code point may be split across
// calls. Once Write has returned false it keeps returning false until Reset.
func (v *Validator) Write(p []byte) bool {
	if v.s == reject {
		return false
	}
	// Finish a code point left open by the previous call.
	for len(p) > 0 && v.s != accept {
		v.step(p[0])
		p = p[1:]
		if v.s == reject {
			return false
		}
	}
	if len(p) == 0 {
		return true
	}
	// Validate the complete code points in bulk, then keep the state of an
	// unfinished one at the end.
	tail := incompleteTail(p)
	if !utf8.Valid(p[:len(p)-tail]) {
		v.s = reject
		return false
	}
	for _, c := range p[len(p)-tail:] {
		v.step(c)
		if v.s == reject {
			return false
		}
	}
	return true
}

// Complete reports whether the text fed so far is valid and does not end in
// the middle of a code point: the check for the end of a message.
func (v *Validator) Complete() bool { return v.s == accept }

// Valid reports whether p is entirely valid UTF-8.
func Valid(p []byte) bool { return utf8.Valid(p) }

// incompleteTail returns how many bytes at the end of p belong to a code
// point whose lead byte announces more bytes than p still holds.
func incompleteTail(p []byte) int {
	for k := 1; k <= 3 && k <= len(p); k++ {
		c := p[len(p)-k]
		switch {
		case c < 0x80:
			return 0
		case c < 0xC0:
			continue // continuation byte: look further back
		default:
			if k < seqLen(c) {
				return k
			}
			return 0
		}
	}
	return 0
}

// seqLen is the length a lead byte announces (1 for invalid lead bytes,
// which utf8.Valid or step then rejects).
func seqLen(c byte) int {
	switch {
	case c >= 0xF0:
		return 4
	case c >= 0xE0:
		return 3
	case c >= 0xC0:
		return 2
	}
	return 1
}

// step advances the state machine by one byte.
func (v *Validator) step(c byte) {
	cont := c >= 0x80 && c <= 0xBF
	switch v.s {
	case accept:
		switch {
		case c < 0x80:
		case c >= 0xC2 && c <= 0xDF:
			v.s = need1
		case c == 0xE0:
			v.s = afterE0
		case c == 0xED:
			v.s = afterED
		case c >= 0xE1 && c <= 0xEF:
			v.s = need2
		case c == 0xF0:
			v.s = afterF0
		case c >= 0xF1 && c <= 0xF3:
			v.s = need3
		case c == 0xF4:
			v.s = afterF4
		default:
			v.s = reject
		}
	case need1, need2, need3:
		if cont {
			v.s--
		} else {
			v.s = reject
		}
	case afterE0:
		v.s = pick(c >= 0xA0 && c <= 0xBF, need1)
	case afterED:
		v.s = pick(c >= 0x80 && c <= 0x9F, need1)
	case afterF0:
		v.s = pick(c >= 0x90 && c <= 0xBF, need2)
	case afterF4:
		v.s = pick(c >= 0x80 && c <= 0x8F, need2)
	}
}

func pick(ok bool, next state) state {
	if ok {
		return next
	}
	return reject
}
