// Package handshake holds the pieces of the opening handshake (RFC 6455 §4)
// that the server and the client share: the accept key, the header token
// rules and the client key.
package handshake

import (
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strings"
)

// guid is the fixed string of RFC 6455 §1.3 appended to the client's key.
const guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey computes Sec-WebSocket-Accept for a Sec-WebSocket-Key (§4.2.2):
// base64(SHA-1(key + GUID)).
func AcceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(guid))
	var sum [sha1.Size]byte
	return base64.StdEncoding.EncodeToString(h.Sum(sum[:0]))
}

// ValidKey reports whether key is a valid Sec-WebSocket-Key: the base64
// encoding of exactly 16 bytes (§4.1, §11.3.1).
func ValidKey(key string) bool {
	if len(key) != 24 {
		return false
	}
	var b [18]byte
	n, err := base64.StdEncoding.Decode(b[:], []byte(key))
	return err == nil && n == 16
}

// NewKey returns a Sec-WebSocket-Key made of 16 bytes from nonce.
func NewKey(nonce [16]byte) string {
	return base64.StdEncoding.EncodeToString(nonce[:])
}

// HasToken reports whether any value of the header name in h, read as a
// comma-separated list of tokens (RFC 7230 §7), contains token, compared
// case-insensitively.
func HasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// Tokens returns the comma-separated tokens of all values of the header name
// in h, trimmed of whitespace, without empty elements.
func Tokens(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

// IsToken reports whether s is a non-empty RFC 7230 token (§3.2.6).
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !IsTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// IsTokenChar reports whether c may appear in an RFC 7230 token: a visible
// ASCII character other than a separator.
func IsTokenChar(c byte) bool {
	if c <= ' ' || c >= 0x7F {
		return false
	}
	return !strings.ContainsRune(`()<>@,;:\"/[]?={}`, rune(c))
}
