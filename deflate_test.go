package websock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/websock/websock/extension"
	"github.com/websock/websock/internal/frame"
)

func parseOffers(t *testing.T, header string) []extension.Offer {
	t.Helper()
	offers, _ := parseExtensions([]string{header})
	return offers
}

// TestDeflateNegotiation: the server accepts the first offer it can honour
// and answers exactly as RFC 7692 §7.1 requires.
func TestDeflateNegotiation(t *testing.T) {
	tests := []struct {
		name   string
		server PerMessageDeflate
		offer  string
		want   string // response, "" for declined
	}{
		{"plain", PerMessageDeflate{}, "permessage-deflate", "permessage-deflate"},
		{"client bits without value", PerMessageDeflate{}, "permessage-deflate; client_max_window_bits", "permessage-deflate"},
		{"client bits, server limits them", PerMessageDeflate{ClientMaxWindowBits: 10}, "permessage-deflate; client_max_window_bits", "permessage-deflate; client_max_window_bits=10"},
		{"client bits value kept", PerMessageDeflate{}, "permessage-deflate; client_max_window_bits=12", "permessage-deflate; client_max_window_bits=12"},
		{"client bits, server asks less", PerMessageDeflate{ClientMaxWindowBits: 9}, "permessage-deflate; client_max_window_bits=12", "permessage-deflate; client_max_window_bits=9"},
		{"server cannot limit client without the parameter", PerMessageDeflate{ClientMaxWindowBits: 9}, "permessage-deflate", "permessage-deflate"},
		{"server bits honoured", PerMessageDeflate{}, "permessage-deflate; server_max_window_bits=9", "permessage-deflate; server_max_window_bits=9"},
		{"server bits lower by config", PerMessageDeflate{ServerMaxWindowBits: 8}, "permessage-deflate; server_max_window_bits=12", "permessage-deflate; server_max_window_bits=8"},
		{"server bits never sent unoffered", PerMessageDeflate{ServerMaxWindowBits: 10}, "permessage-deflate", "permessage-deflate"},
		{"server no context takeover", PerMessageDeflate{}, "permessage-deflate; server_no_context_takeover", "permessage-deflate; server_no_context_takeover"},
		{"server applies no context takeover", PerMessageDeflate{ServerNoContextTakeover: true}, "permessage-deflate", "permessage-deflate; server_no_context_takeover"},
		{"asks client no context takeover", PerMessageDeflate{ClientNoContextTakeover: true}, "permessage-deflate", "permessage-deflate; client_no_context_takeover"},
		{"autobahn 13.3", PerMessageDeflate{}, "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=9",
			"permessage-deflate; server_max_window_bits=9"},
		{"autobahn 13.7 first offer", PerMessageDeflate{},
			"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=9, permessage-deflate",
			"permessage-deflate; server_no_context_takeover; server_max_window_bits=9"},
		{"quoted value", PerMessageDeflate{}, `permessage-deflate; server_max_window_bits="10"`, "permessage-deflate; server_max_window_bits=10"},
		{"unknown parameter declined, next accepted", PerMessageDeflate{}, "permessage-deflate; foo=1, permessage-deflate; server_no_context_takeover", "permessage-deflate; server_no_context_takeover"},
		{"duplicate parameter", PerMessageDeflate{}, "permessage-deflate; server_no_context_takeover; server_no_context_takeover", ""},
		{"bits out of range", PerMessageDeflate{}, "permessage-deflate; server_max_window_bits=16", ""},
		{"bits 7", PerMessageDeflate{}, "permessage-deflate; client_max_window_bits=7", ""},
		{"bits with leading zero", PerMessageDeflate{}, "permessage-deflate; server_max_window_bits=09", ""},
		{"server bits without value", PerMessageDeflate{}, "permessage-deflate; server_max_window_bits", ""},
		{"value on no_context_takeover", PerMessageDeflate{}, "permessage-deflate; client_no_context_takeover=1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, codec, ok := tt.server.Negotiate(parseOffers(t, tt.offer))
			if tt.want == "" {
				if ok {
					t.Fatalf("accepted with %q, want declined", resp.String())
				}
				return
			}
			if !ok || codec == nil {
				t.Fatalf("declined, want %q", tt.want)
			}
			if resp.String() != tt.want {
				t.Fatalf("response %q, want %q", resp.String(), tt.want)
			}
		})
	}
}

// TestDeflateClientChecksResponse: the client rejects responses that do
// not match its offer.
func TestDeflateClientChecksResponse(t *testing.T) {
	tests := []struct {
		client   PerMessageDeflate
		response string
		ok       bool
	}{
		{PerMessageDeflate{}, "permessage-deflate", true},
		{PerMessageDeflate{}, "permessage-deflate; client_max_window_bits=10", true},
		{PerMessageDeflate{}, "permessage-deflate; server_no_context_takeover; client_no_context_takeover", true},
		{PerMessageDeflate{}, "permessage-deflate; server_max_window_bits=10", true}, // unrequested but harmless
		{PerMessageDeflate{}, "permessage-deflate; server_max_window_bits=16", false},
		{PerMessageDeflate{ServerMaxWindowBits: 10}, "permessage-deflate; server_max_window_bits=10", true},
		{PerMessageDeflate{ServerMaxWindowBits: 10}, "permessage-deflate; server_max_window_bits=9", true},
		{PerMessageDeflate{ServerMaxWindowBits: 10}, "permessage-deflate; server_max_window_bits=11", false},
		{PerMessageDeflate{ServerMaxWindowBits: 10}, "permessage-deflate", false}, // left out: a violation
		{PerMessageDeflate{ServerNoContextTakeover: true}, "permessage-deflate", false},
		{PerMessageDeflate{ClientMaxWindowBits: 9}, "permessage-deflate; client_max_window_bits=10", false},
		{PerMessageDeflate{}, "permessage-deflate; unknown", false},
		{PerMessageDeflate{}, "permessage-deflate; client_max_window_bits", false}, // needs a value in a response
	}
	for _, tt := range tests {
		offers := tt.client.Offers()
		if len(offers) != 1 || offers[0].Name != "permessage-deflate" {
			t.Fatalf("offers %v", offers)
		}
		_, err := tt.client.Accept(parseOffers(t, tt.response)[0])
		if (err == nil) != tt.ok {
			t.Errorf("%+v accepting %q: err %v, want ok=%v", tt.client, tt.response, err, tt.ok)
		}
	}
}

// TestDeflateEndToEnd: every combination of parameters between our client
// and our server, messages compressed both ways, over TCP.
func TestDeflateEndToEnd(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		ctx := context.Background()
		for _, server := range []PerMessageDeflate{{}, {ServerNoContextTakeover: true}, {ClientNoContextTakeover: true}, {ServerMaxWindowBits: 9, ClientMaxWindowBits: 8}} {
			srv, _ := m.echo(t, false, &AcceptOptions{Extensions: []extension.Extension{&server}})
			for _, client := range []PerMessageDeflate{{}, {ServerNoContextTakeover: true}, {ClientNoContextTakeover: true}, {ServerMaxWindowBits: 8}, {ClientMaxWindowBits: 10, ServerMaxWindowBits: 12}, {Threshold: -1}} {
				name := fmt.Sprintf("server%+v/client%+v", server, client)
				c, resp, err := Dial(ctx, urlOf(srv.URL), &DialOptions{Extensions: []extension.Extension{&client}})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if !strings.HasPrefix(c.Extensions(), "permessage-deflate") || resp.Header.Get("Sec-WebSocket-Extensions") != c.Extensions() {
					t.Fatalf("%s: extensions %q", name, c.Extensions())
				}
				for i, msg := range [][]byte{
					bytes.Repeat([]byte("compressible text "), 1000),
					[]byte("tiny"),
					{},
					bytes.Repeat([]byte("compressible text "), 1000), // the same again: context takeover helps
					bytes.Repeat([]byte{0xff, 0x00, 0x7f}, 50000),
				} {
					typ := TextMessage
					if i == 4 {
						typ = BinaryMessage
					}
					if err := c.Write(ctx, typ, msg); err != nil {
						t.Fatalf("%s: write: %v", name, err)
					}
					gotTyp, got, err := c.Read(ctx)
					if err != nil || gotTyp != typ || !bytes.Equal(got, msg) {
						t.Fatalf("%s: echo %d: %v, %d bytes, %v", name, i, gotTyp, len(got), err)
					}
				}
				// Streamed compressed message in fragments.
				w, err := c.Writer(ctx, TextMessage)
				if err != nil {
					t.Fatalf("%s: writer: %v", name, err)
				}
				for i := 0; i < 100; i++ {
					if _, err := fmt.Fprintf(w, "line %d of a long streamed message\n", i); err != nil {
						t.Fatalf("%s: streamed write: %v", name, err)
					}
				}
				if err := w.Close(); err != nil {
					t.Fatalf("%s: end of the streamed message: %v", name, err)
				}
				if _, got, err := c.Read(ctx); err != nil || !bytes.HasPrefix(got, []byte("line 0 of")) || !bytes.HasSuffix(got, []byte("line 99 of a long streamed message\n")) {
					t.Fatalf("%s: streamed echo: %v", name, err)
				}
				if err := c.Close(StatusNormalClosure, ""); err != nil {
					t.Fatalf("%s: close: %v", name, err)
				}
			}
		}
	})
}

// TestDeflateOnTheWire: compressed messages carry RSV1 on the first frame
// only; small ones go uncompressed.
func TestDeflateOnTheWire(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		srv, _ := m.echo(t, false, &AcceptOptions{Extensions: []extension.Extension{&PerMessageDeflate{}}})
		c := dialRaw(t, srv, "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover")
		// "Hello" compressed (RFC 7692 §7.2.3.1).
		c.write(frameBytes(true, frame.RSV1, frame.OpText, []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, false))
		h, p, err := c.readFrame()
		if err != nil || h.RSV != 0 || string(p) != "Hello" {
			t.Fatalf("short echo: rsv %x %q %v (below the threshold it goes uncompressed)", h.RSV, p, err)
		}
		// The same, fragmented (§7.2.3.4): RSV1 on the first frame only.
		c.write(frameBytes(false, frame.RSV1, frame.OpText, []byte{0xf2, 0x48, 0xcd}, false))
		c.write(frameBytes(true, 0, frame.OpContinuation, []byte{0xc9, 0xc9, 0x07, 0x00}, false))
		if _, p, err := c.readFrame(); err != nil || string(p) != "Hello" {
			t.Fatalf("fragmented compressed message: %q %v", p, err)
		}
		// RSV1 on a continuation frame is a protocol error.
		c.write(frameBytes(false, frame.RSV1, frame.OpText, []byte{0xf2, 0x48, 0xcd}, false))
		c.write(frameBytes(true, frame.RSV1, frame.OpContinuation, []byte{0xc9, 0xc9, 0x07, 0x00}, false))
		c.expectClose(StatusProtocolError)
	})
}

func TestDeflateCorruptDataFails1007(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		srv, ended := m.echo(t, false, &AcceptOptions{Extensions: []extension.Extension{&PerMessageDeflate{}}})
		c := dialRaw(t, srv, "Sec-WebSocket-Extensions: permessage-deflate")
		c.write(frameBytes(true, frame.RSV1, frame.OpBinary, []byte{0xff, 0xff, 0xff, 0xff, 0xff}, false))
		c.expectClose(StatusInvalidPayload)
		if err := <-ended; !errors.Is(err, ErrInvalidData) {
			t.Fatalf("server error %v", err)
		}
	})
}

// TestDeflateBombBounded: a small compressed message that inflates beyond
// the read limit fails with 1009 after at most the limit is produced.
func TestDeflateBombBounded(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		srv, ended := m.echo(t, false, &AcceptOptions{Extensions: []extension.Extension{&PerMessageDeflate{}}, ConnOptions: ConnOptions{ReadLimit: 1 << 20}})
		ctx := context.Background()
		c, _, err := Dial(ctx, urlOf(srv.URL), &DialOptions{Extensions: []extension.Extension{&PerMessageDeflate{}}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		// 8 MiB of zeros compresses to about 8 KiB. The server stops reading
		// soon after the first MiB and drains the rest for a bounded time only,
		// so the bomb is kept small enough to be written well within that time.
		w, err := c.Writer(ctx, BinaryMessage)
		if err != nil {
			t.Fatal(err)
		}
		zeros := make([]byte, 1<<20)
		for i := 0; i < 8 && err == nil; i++ {
			_, err = w.Write(zeros)
		}
		if err == nil {
			err = w.Close()
		}
		if err != nil {
			// The server may have failed the message and closed first;
			// what the client reads says whether it did so rightly.
			t.Logf("writing the bomb ended early: %v", err)
		}
		if _, _, err := c.Read(ctx); CloseStatus(err) != StatusMessageTooBig {
			t.Fatalf("client got %v, want close 1009", err)
		}
		if err := <-ended; !errors.Is(err, ErrMessageTooBig) {
			t.Fatalf("server error %v", err)
		}
	})
}
