package websock

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"

	"github.com/websock/websock/extension"
	"github.com/websock/websock/internal/deflate"
	"github.com/websock/websock/internal/frame"
)

// PerMessageDeflate is the permessage-deflate extension (RFC 7692), for
// AcceptOptions.Extensions and DialOptions.Extensions. All four parameters
// are supported in both roles. The zero value offers (client) or accepts
// (server) compression with context takeover and 32 KiB windows both ways,
// and honours whatever a valid peer offer asks.
//
// Applications only set the fields; the methods implement
// [extension.Extension] and are called by Accept and Dial.
type PerMessageDeflate struct {
	// ServerNoContextTakeover makes the server compress each message on
	// its own (RFC 7692 §7.1.1.1): a client requests it, a server applies
	// it to every connection. Compressors are then pooled and held only
	// while a message is written. With takeover, a connection keeps its
	// compressor while messages follow each other (at most 64 such
	// connections per process) and, once idle for a second, only the
	// window of recent input (up to 32 KiB) from which the next message
	// resumes.
	ServerNoContextTakeover bool

	// ClientNoContextTakeover makes the client compress each message on its
	// own (§7.1.1.2), which saves the server up to 32 KiB of history per
	// connection (decompressors are pooled either way).
	ClientNoContextTakeover bool

	// ServerMaxWindowBits limits the server's LZ77 window to 1<<n bytes
	// (8..15, §7.1.2.1); 0 means 15. A client requests the limit; a server
	// uses the smaller of its own and the client's.
	ServerMaxWindowBits int

	// ClientMaxWindowBits limits the client's window (8..15, §7.1.2.2); 0
	// means 15. A client compresses with it and tells the server it
	// supports the parameter; a server asks clients that support it.
	ClientMaxWindowBits int

	// Level is the compression level, 1 (fastest, the default) to 9.
	Level int

	// Threshold: messages shorter than this many bytes are sent
	// uncompressed (RSV1 clear), which is cheaper for tiny messages. 0 means
	// 64; a negative value compresses every message.
	Threshold int
}

const extensionName = "permessage-deflate"

// Name returns "permessage-deflate".
func (*PerMessageDeflate) Name() string { return extensionName }

// deflateParams are the agreed parameters of one connection.
type deflateParams struct {
	serverNoContextTakeover bool
	clientNoContextTakeover bool
	serverMaxWindowBits     int // 0: absent
	clientMaxWindowBits     int // 0: absent, -1: present without value
}

var errDeflateParam = errors.New("invalid permessage-deflate parameter")

// parseDeflate checks the parameters of an offer or response (§7.1): no
// unknown or duplicate parameter, no value on the *_no_context_takeover
// ones, window bits in 8..15 (client_max_window_bits may have no value in
// an offer).
func parseDeflate(o extension.Offer, isOffer bool) (deflateParams, error) {
	var p deflateParams
	seen := map[string]bool{}
	for _, prm := range o.Params {
		if seen[prm.Name] {
			return p, fmt.Errorf("%w: duplicate %s", errDeflateParam, prm.Name)
		}
		seen[prm.Name] = true
		bits := func() (int, error) {
			n, err := strconv.Atoi(prm.Value)
			if !prm.HasValue || err != nil || n < 8 || n > 15 || prm.Value != strconv.Itoa(n) {
				return 0, fmt.Errorf("%w: %s=%q is not 8..15", errDeflateParam, prm.Name, prm.Value)
			}
			return n, nil
		}
		var err error
		switch prm.Name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if prm.HasValue {
				return p, fmt.Errorf("%w: %s takes no value", errDeflateParam, prm.Name)
			}
			if prm.Name == "server_no_context_takeover" {
				p.serverNoContextTakeover = true
			} else {
				p.clientNoContextTakeover = true
			}
		case "server_max_window_bits":
			p.serverMaxWindowBits, err = bits()
		case "client_max_window_bits":
			if isOffer && !prm.HasValue {
				p.clientMaxWindowBits = -1
			} else {
				p.clientMaxWindowBits, err = bits()
			}
		default:
			return p, fmt.Errorf("%w: unknown %s", errDeflateParam, prm.Name)
		}
		if err != nil {
			return p, err
		}
	}
	return p, nil
}

func bitsOr15(n int) int {
	if n < 8 || n > 15 {
		return 15
	}
	return n
}

func (p deflateParams) offer() extension.Offer {
	o := extension.Offer{Name: extensionName}
	flag := func(name string) { o.Params = append(o.Params, extension.Param{Name: name}) }
	value := func(name string, n int) {
		o.Params = append(o.Params, extension.Param{Name: name, Value: strconv.Itoa(n), HasValue: true})
	}
	if p.serverNoContextTakeover {
		flag("server_no_context_takeover")
	}
	if p.clientNoContextTakeover {
		flag("client_no_context_takeover")
	}
	if p.serverMaxWindowBits > 0 {
		value("server_max_window_bits", p.serverMaxWindowBits)
	}
	switch {
	case p.clientMaxWindowBits > 0:
		value("client_max_window_bits", p.clientMaxWindowBits)
	case p.clientMaxWindowBits < 0:
		flag("client_max_window_bits")
	}
	return o
}

// Negotiate accepts the first valid offer (RFC 7692 §5, §7.1). The
// response honours it exactly: server_no_context_takeover and
// server_max_window_bits (at most the offered value) when offered,
// client_max_window_bits only when offered.
func (d *PerMessageDeflate) Negotiate(offers []extension.Offer) (extension.Offer, extension.Codec, bool) {
	for _, o := range offers {
		off, err := parseDeflate(o, true)
		if err != nil {
			continue // malformed offers are declined, not fatal
		}
		resp := deflateParams{
			serverNoContextTakeover: off.serverNoContextTakeover || d.ServerNoContextTakeover,
			clientNoContextTakeover: d.ClientNoContextTakeover,
		}
		serverBits := min(bitsOr15(d.ServerMaxWindowBits), bitsOr15(off.serverMaxWindowBits))
		if off.serverMaxWindowBits > 0 {
			resp.serverMaxWindowBits = serverBits // must be answered (§7.1.2.1)
		}
		clientBits := 15
		if off.clientMaxWindowBits > 0 {
			clientBits = off.clientMaxWindowBits
		}
		if off.clientMaxWindowBits != 0 && d.ClientMaxWindowBits >= 8 && d.ClientMaxWindowBits < clientBits {
			clientBits = d.ClientMaxWindowBits
		}
		if off.clientMaxWindowBits > 0 || (off.clientMaxWindowBits < 0 && clientBits < 15) {
			resp.clientMaxWindowBits = clientBits
		}
		codec := d.newCodec(
			deflate.NewCompressor(d.Level, serverBits, !resp.serverNoContextTakeover),
			deflate.NewDecompressor(clientBits, !resp.clientNoContextTakeover))
		return resp.offer(), codec, true
	}
	return extension.Offer{}, nil, false
}

// Offers returns the client's offer built from the options.
func (d *PerMessageDeflate) Offers() []extension.Offer {
	p := deflateParams{
		serverNoContextTakeover: d.ServerNoContextTakeover,
		clientNoContextTakeover: d.ClientNoContextTakeover,
		serverMaxWindowBits:     d.windowRequest(d.ServerMaxWindowBits),
		clientMaxWindowBits:     -1, // the client supports the parameter
	}
	if b := d.windowRequest(d.ClientMaxWindowBits); b > 0 {
		p.clientMaxWindowBits = b
	}
	return []extension.Offer{p.offer()}
}

func (d *PerMessageDeflate) windowRequest(n int) int {
	if n >= 8 && n < 15 {
		return n
	}
	return 0
}

// Accept checks the server's response against the offer (§7.1) and
// returns the client's codec. A server_max_window_bits the client did not
// request is accepted: it only tells that the server compresses with a
// smaller window, which the client decodes anyway (some servers send it).
func (d *PerMessageDeflate) Accept(response extension.Offer) (extension.Codec, error) {
	r, err := parseDeflate(response, false)
	if err != nil {
		return nil, err
	}
	want := d.windowRequest(d.ServerMaxWindowBits)
	switch {
	case d.ServerNoContextTakeover && !r.serverNoContextTakeover:
		return nil, fmt.Errorf("%w: server_no_context_takeover requested but not in the response", errDeflateParam)
	case want > 0 && (r.serverMaxWindowBits == 0 || r.serverMaxWindowBits > want):
		return nil, fmt.Errorf("%w: server_max_window_bits=%d requested, response has %d", errDeflateParam, want, r.serverMaxWindowBits)
	case d.windowRequest(d.ClientMaxWindowBits) > 0 && r.clientMaxWindowBits > d.ClientMaxWindowBits:
		return nil, fmt.Errorf("%w: client_max_window_bits=%d above the %d offered", errDeflateParam, r.clientMaxWindowBits, d.ClientMaxWindowBits)
	}
	clientBits := min(bitsOr15(d.ClientMaxWindowBits), bitsOr15(r.clientMaxWindowBits))
	return d.newCodec(
		deflate.NewCompressor(d.Level, clientBits, !(r.clientNoContextTakeover || d.ClientNoContextTakeover)),
		deflate.NewDecompressor(bitsOr15(r.serverMaxWindowBits), !r.serverNoContextTakeover)), nil
}

func (d *PerMessageDeflate) newCodec(c *deflate.Compressor, dc *deflate.Decompressor) *deflateCodec {
	threshold := d.Threshold
	if threshold == 0 {
		threshold = 64
	}
	return &deflateCodec{c: c, d: dc, threshold: threshold}
}

// deflateCodec is the extension.Codec of one connection.
type deflateCodec struct {
	c         *deflate.Compressor
	d         *deflate.Decompressor
	threshold int
	level     atomic.Int32 // set by Conn.SetCompressionLevel, applied by NewWriter; 0 if unset
}

func (dc *deflateCodec) ReservedBits() byte { return frame.RSV1 }

func (dc *deflateCodec) Release() {
	dc.c.Release()
	dc.d.Release()
}

func (dc *deflateCodec) NewReader(r io.Reader, rsv byte) io.Reader { return dc.d.Reader(r) }

func (dc *deflateCodec) NewWriter(w io.Writer, size int) (io.WriteCloser, byte) {
	if l := dc.level.Swap(0); l != 0 {
		dc.c.SetLevel(int(l))
	}
	if size >= 0 && size < dc.threshold {
		if wc, ok := w.(io.WriteCloser); ok {
			return wc, 0
		}
	}
	return dc.c.Writer(w), frame.RSV1
}
