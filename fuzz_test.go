package websock

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	stdutf8 "unicode/utf8"

	"github.com/websock/websock/extension"
)

// streamConn is a net.Conn that reads a fixed byte stream and discards
// writes: a peer that sends exactly the fuzzer's bytes.
type streamConn struct {
	r *bytes.Reader
}

func (s *streamConn) Read(p []byte) (int, error)       { return s.r.Read(p) }
func (s *streamConn) Write(p []byte) (int, error)      { return len(p), nil }
func (s *streamConn) Close() error                     { return nil }
func (s *streamConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (s *streamConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (s *streamConn) SetDeadline(time.Time) error      { return nil }
func (s *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (s *streamConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzServerRead feeds arbitrary bytes to a server connection, with and
// without compression: it must end with one of the package's errors or an
// I/O error, never panic or hang, and deliver only valid text.
func FuzzServerRead(f *testing.F) {
	f.Add(frameBytes(true, 0, 1, []byte("hello"), false), false)
	f.Add(append(frameBytes(false, 0, 1, []byte("frag"), false), frameBytes(true, 0, 0, []byte("ment"), false)...), false)
	f.Add(frameBytes(true, 0x40, 1, []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, false), true)
	f.Add(frameBytes(true, 0, 9, []byte("ping"), false), false)
	f.Add(frameBytes(true, 0, 8, []byte{0x03, 0xe8}, false), false)
	f.Fuzz(func(t *testing.T, stream []byte, compress bool) {
		cfg := connConfig{server: true, ConnOptions: ConnOptions{ReadLimit: 1 << 20, CloseTimeout: time.Millisecond}}
		if compress {
			_, codec, _ := (&PerMessageDeflate{}).Negotiate([]extension.Offer{{Name: "permessage-deflate"}})
			cfg.codec = codec
		}
		c := newConn(&streamConn{bytes.NewReader(stream)}, nil, cfg)
		for i := 0; i < 100; i++ {
			typ, msg, err := c.Read(context.Background())
			if err != nil {
				var ce *CloseError
				if !errors.As(err, &ce) && !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrInvalidUTF8) &&
					!errors.Is(err, ErrInvalidData) && !errors.Is(err, ErrMessageTooBig) && !errors.Is(err, io.ErrUnexpectedEOF) &&
					!errors.Is(err, ErrCloseTimeout) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if typ == TextMessage && !stdutf8.Valid(msg) {
				t.Fatalf("invalid text delivered: %q", msg)
			}
		}
	})
}

// FuzzParseExtensions: parsing never panics, and what parses formats back
// to a header that parses the same.
func FuzzParseExtensions(f *testing.F) {
	f.Add("permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits=10")
	f.Add(`foo; bar="baz", x`)
	f.Add(`a;;b`)
	f.Fuzz(func(t *testing.T, h string) {
		offers, ok := parseExtensions([]string{h})
		if !ok {
			return
		}
		parts := make([]string, len(offers))
		for i, o := range offers {
			parts[i] = o.String()
		}
		again, ok := parseExtensions([]string{strings.Join(parts, ", ")})
		if !ok || len(again) != len(offers) {
			t.Fatalf("%q -> %q does not parse back", h, parts)
		}
		for i := range offers {
			if again[i].String() != offers[i].String() {
				t.Fatalf("%q: %q became %q", h, offers[i].String(), again[i].String())
			}
		}
		// Negotiating any offer never panics.
		(&PerMessageDeflate{ServerMaxWindowBits: 10, ClientMaxWindowBits: 9}).Negotiate(offers)
	})
}

// FuzzAcceptHeaders: any header values get a 101 or a refusal with one of
// the documented statuses, never a panic.
func FuzzAcceptHeaders(f *testing.F) {
	f.Add("websocket", "Upgrade", "dGhlIHNhbXBsZSBub25jZQ==", "13", "", "permessage-deflate")
	f.Add("h2c", "keep-alive", "short", "8", "http://evil", "x;;")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{Extensions: []extension.Extension{&PerMessageDeflate{}}, Subprotocols: []string{"a"}})
		if err == nil {
			c.CloseNow()
		}
	})
	f.Fuzz(func(t *testing.T, upgrade, connection, key, version, origin, ext string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		for k, v := range map[string]string{"Upgrade": upgrade, "Connection": connection, "Sec-WebSocket-Key": key,
			"Sec-WebSocket-Version": version, "Origin": origin, "Sec-WebSocket-Extensions": ext} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 400, 403, 405, 426, 500: // 500: a recorder cannot be hijacked
		default:
			t.Fatalf("status %d", rec.Code)
		}
	})
}
