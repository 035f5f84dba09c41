package websock

import (
	"io"
	"strings"
)

// An Extension is a WebSocket extension (RFC 6455 §9) that can be negotiated
// in the opening handshake. The same value serves both sides: a server
// answers offers, a client makes them. PerMessageDeflate is the built-in one.
//
// A negotiated extension supplies a Codec for the connection, which
// transforms message payloads and may use the frame RSV bits.
//
// Applications list extensions in AcceptOptions.Extensions and
// DialOptions.Extensions; this interface, Codec and ExtensionOffer are
// for those who write an extension of their own.
type Extension interface {
	// Name is the extension token, e.g. "permessage-deflate".
	Name() string

	// Negotiate is called on the server with the client's offers for this
	// extension, in the client's order of preference. It accepts the first
	// it can honour and returns the response parameters and a codec for
	// the connection, or ok false to decline them all; declining never fails
	// the handshake.
	Negotiate(offers []ExtensionOffer) (response ExtensionOffer, codec Codec, ok bool)

	// Offers returns the offers a client sends, in order of preference.
	Offers() []ExtensionOffer

	// Accept is called on the client with the server's response for this
	// extension. It returns the codec for the connection, or an error if the
	// response is invalid or does not match any offer, which fails the
	// handshake (RFC 6455 §4.1).
	Accept(response ExtensionOffer) (Codec, error)
}

// A Codec transforms the messages of one connection for a negotiated
// extension. Its methods are called by one reader and one writer at a time,
// never concurrently with themselves. A codec holds what it needs between
// messages (compression history, say) for the life of the connection, and
// should give pooled resources back at the end of each message and
// everything back in Release.
type Codec interface {
	// ReservedBits returns the RSV bits (frame.RSV1 is 0x40, RSV2 0x20, RSV3
	// 0x10) the extension may set on the first frame of a data message.
	// Frames with other RSV bits set fail the connection with 1002.
	ReservedBits() byte

	// NewReader returns a reader of the decoded message whose first frame
	// had the RSV bits rsv (a non-zero subset of ReservedBits); r yields
	// the raw payload of all its fragments and then io.EOF. Errors from the
	// returned reader other than those of r fail the connection with close
	// code 1007. Messages without RSV bits are not passed to the codec.
	NewReader(r io.Reader, rsv byte) io.Reader

	// NewWriter returns a writer that encodes one message onto w, and the
	// RSV bits to set on its first frame. size is the length of the whole
	// message when known, or -1. Close on the returned writer must write
	// all remaining encoded bytes to w; it must not close w. A codec may
	// return w itself and 0 to send a message unchanged.
	NewWriter(w io.Writer, size int) (io.WriteCloser, byte)

	// Release is called once, when the connection has ended and no reader
	// or writer of the codec is in use: the codec gives back what it holds
	// (pooled compressors, history). It is not used after.
	Release()
}

// An ExtensionOffer is one element of a Sec-WebSocket-Extensions header
// (RFC 6455 §9.1): an extension name and its parameters, in order.
type ExtensionOffer struct {
	Name   string
	Params []ExtensionParam
}

// An ExtensionParam is a parameter of an extension offer or response.
// HasValue distinguishes "name" from `name=""`.
type ExtensionParam struct {
	Name     string
	Value    string
	HasValue bool
}

// String formats the offer as it appears in a Sec-WebSocket-Extensions header.
func (o ExtensionOffer) String() string {
	var b strings.Builder
	b.WriteString(o.Name)
	for _, p := range o.Params {
		b.WriteString("; ")
		b.WriteString(p.Name)
		if p.HasValue {
			b.WriteByte('=')
			if isToken(p.Value) {
				b.WriteString(p.Value)
			} else {
				b.WriteString(`"` + strings.ReplaceAll(strings.ReplaceAll(p.Value, `\`, `\\`), `"`, `\"`) + `"`)
			}
		}
	}
	return b.String()
}

// parseExtensions parses the values of Sec-WebSocket-Extensions headers
// (RFC 6455 §9.1, with quoted-string values as in RFC 7230 §3.2.6). An
// element that does not follow the grammar is reported with ok false for
// that element rather than failing the others: malformed is
// reported per element, and the caller decides. It returns the elements in
// order.
func parseExtensions(values []string) (offers []ExtensionOffer, ok bool) {
	ok = true
	for _, v := range values {
		p := extParser{s: v}
		for {
			p.skipSpace()
			if p.done() {
				break
			}
			if p.peek() == ',' {
				p.i++
				continue
			}
			o, good := p.element()
			if !good {
				ok = false
				p.skipTo(',')
				continue
			}
			offers = append(offers, o)
		}
	}
	return offers, ok
}

type extParser struct {
	s string
	i int
}

func (p *extParser) done() bool { return p.i >= len(p.s) }
func (p *extParser) peek() byte { return p.s[p.i] }

func (p *extParser) skipSpace() {
	for !p.done() && (p.peek() == ' ' || p.peek() == '\t') {
		p.i++
	}
}

func (p *extParser) skipTo(c byte) {
	for !p.done() && p.peek() != c {
		if p.peek() == '"' {
			p.quoted()
			continue
		}
		p.i++
	}
}

func (p *extParser) token() string {
	start := p.i
	for !p.done() && isTokenChar(p.peek()) {
		p.i++
	}
	return p.s[start:p.i]
}

// quoted reads a quoted-string starting at '"' and returns its unescaped
// value and whether it was terminated.
func (p *extParser) quoted() (string, bool) {
	p.i++ // opening quote
	var b strings.Builder
	for !p.done() {
		c := p.peek()
		p.i++
		switch c {
		case '"':
			return b.String(), true
		case '\\':
			if p.done() {
				return "", false
			}
			b.WriteByte(p.peek())
			p.i++
		default:
			b.WriteByte(c)
		}
	}
	return "", false
}

// element parses: token *( OWS ";" OWS token [ "=" ( token / quoted-string ) ] )
// and stops before the next ',' or at the end.
func (p *extParser) element() (ExtensionOffer, bool) {
	var o ExtensionOffer
	o.Name = p.token()
	if o.Name == "" {
		return o, false
	}
	for {
		p.skipSpace()
		if p.done() || p.peek() == ',' {
			return o, true
		}
		if p.peek() != ';' {
			return o, false
		}
		p.i++
		p.skipSpace()
		var prm ExtensionParam
		if prm.Name = p.token(); prm.Name == "" {
			return o, false
		}
		p.skipSpace()
		if !p.done() && p.peek() == '=' {
			p.i++
			p.skipSpace()
			prm.HasValue = true
			if p.done() {
				return o, false
			}
			if p.peek() == '"' {
				v, closed := p.quoted()
				// RFC 6455 §9.1: a quoted value must itself be a token.
				if !closed || !isToken(v) {
					return o, false
				}
				prm.Value = v
			} else if prm.Value = p.token(); prm.Value == "" {
				return o, false
			}
		}
		o.Params = append(o.Params, prm)
	}
}

// isToken reports whether s is a non-empty RFC 7230 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	if c <= ' ' || c >= 0x7F {
		return false
	}
	return !strings.ContainsRune(`()<>@,;:\"/[]?={}`, rune(c))
}
