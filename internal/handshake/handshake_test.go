package handshake

import (
	"net/http"
	"testing"
)

func TestAcceptKeyRFCExample(t *testing.T) {
	// RFC 6455 §1.3.
	if got := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("AcceptKey = %q", got)
	}
}

func TestValidKey(t *testing.T) {
	tests := map[string]bool{
		"dGhlIHNhbXBsZSBub25jZQ==": true,
		NewKey([16]byte{1, 2, 3}):  true,
		"":                         false,
		"dGhlIHNhbXBsZSBub25jZQ=":  false, // 23 characters
		"dGhlIHNhbXBsZSBub25jZQ!=": false, // not base64
		"AAAAAAAAAAAAAAAAAAAAAAAA": false, // 18 bytes
		"dGhlIHNhbXBsZSBub25jZQ":   false,
	}
	for key, want := range tests {
		if got := ValidKey(key); got != want {
			t.Errorf("ValidKey(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestHasToken(t *testing.T) {
	h := http.Header{}
	h.Add("Connection", "keep-alive, Upgrade")
	h.Add("Upgrade", "h2c")
	h.Add("Upgrade", " WebSocket ")
	if !HasToken(h, "Connection", "upgrade") {
		t.Error("upgrade token in a list not found")
	}
	if !HasToken(h, "Upgrade", "websocket") {
		t.Error("websocket token in a second header value not found")
	}
	if HasToken(h, "Connection", "close") || HasToken(h, "Upgrade", "web") {
		t.Error("absent token found")
	}
	if got := Tokens(h, "Upgrade"); len(got) != 2 || got[1] != "WebSocket" {
		t.Errorf("Tokens = %q", got)
	}
}

func TestIsToken(t *testing.T) {
	tests := map[string]bool{
		"permessage-deflate": true,
		"15":                 true,
		"a!#$%&'*+.^_`|~z":   true,
		"":                   false,
		"a b":                false,
		"a\tb":               false,
		"a=b":                false,
		`"a"`:                false,
		"a;b":                false,
		"a,b":                false,
		"é":                  false,
		"a\x7f":              false,
		"a\x00":              false,
	}
	for s, want := range tests {
		if got := IsToken(s); got != want {
			t.Errorf("IsToken(%q) = %v, want %v", s, got, want)
		}
	}
}
