// Package extension is the interface between websock and WebSocket
// extensions (RFC 6455 §9). Only authors of an extension of their own need
// it: applications list extensions in websock.AcceptOptions.Extensions and
// websock.DialOptions.Extensions, and websock.PerMessageDeflate, the
// built-in one, is used without this package's names.
//
// An extension negotiates in the opening handshake through Extension, using
// the elements of the Sec-WebSocket-Extensions header as Offer values, and
// supplies a Codec that transforms the messages of the connection.
package extension

import (
	"io"
	"strings"

	"github.com/websock/websock/internal/handshake"
)

// An Extension is a WebSocket extension (RFC 6455 §9) that can be negotiated
// in the opening handshake. The same value serves both sides: a server
// answers offers, a client makes them. websock.PerMessageDeflate is the
// built-in one.
//
// A negotiated extension supplies a Codec for the connection, which
// transforms message payloads and may use the frame RSV bits.
type Extension interface {
	// Name is the extension token, e.g. "permessage-deflate".
	Name() string

	// Negotiate is called on the server with the client's offers for this
	// extension, in the client's order of preference. It accepts the first
	// it can honour and returns the response parameters and a codec for
	// the connection, or ok false to decline them all; declining never fails
	// the handshake.
	Negotiate(offers []Offer) (response Offer, codec Codec, ok bool)

	// Offers returns the offers a client sends, in order of preference.
	Offers() []Offer

	// Accept is called on the client with the server's response for this
	// extension. It returns the codec for the connection, or an error if the
	// response is invalid or does not match any offer, which fails the
	// handshake (RFC 6455 §4.1).
	Accept(response Offer) (Codec, error)
}

// A Codec transforms the messages of one connection for a negotiated
// extension. Its methods are called by one reader and one writer at a time,
// never concurrently with themselves. A codec holds what it needs between
// messages (compression history, say) for the life of the connection, and
// should give pooled resources back at the end of each message and
// everything back in Release.
type Codec interface {
	// ReservedBits returns the RSV bits (RSV1 is 0x40, RSV2 0x20, RSV3
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

// An Offer is one element of a Sec-WebSocket-Extensions header
// (RFC 6455 §9.1): an extension name and its parameters, in order. Both
// offers and responses take this form.
type Offer struct {
	Name   string
	Params []Param
}

// A Param is a parameter of an extension offer or response.
// HasValue distinguishes "name" from `name=""`.
type Param struct {
	Name     string
	Value    string
	HasValue bool
}

// String formats the offer as it appears in a Sec-WebSocket-Extensions
// header. A value that is not a token is written as a quoted string.
func (o Offer) String() string {
	var b strings.Builder
	b.WriteString(o.Name)
	for _, p := range o.Params {
		b.WriteString("; ")
		b.WriteString(p.Name)
		if p.HasValue {
			b.WriteByte('=')
			if handshake.IsToken(p.Value) {
				b.WriteString(p.Value)
			} else {
				b.WriteString(`"` + strings.ReplaceAll(strings.ReplaceAll(p.Value, `\`, `\\`), `"`, `\"`) + `"`)
			}
		}
	}
	return b.String()
}
