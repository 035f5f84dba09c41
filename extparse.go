package websock

import (
	"strings"

	"github.com/websock/websock/extension"
	"github.com/websock/websock/internal/handshake"
)

// parseExtensions parses the values of Sec-WebSocket-Extensions headers
// (RFC 6455 §9.1, with quoted-string values as in RFC 7230 §3.2.6). An
// element that does not follow the grammar is reported with ok false for
// that element rather than failing the others: malformed is
// reported per element, and the caller decides. It returns the elements in
// order.
func parseExtensions(values []string) (offers []extension.Offer, ok bool) {
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
	for !p.done() && handshake.IsTokenChar(p.peek()) {
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
func (p *extParser) element() (extension.Offer, bool) {
	var o extension.Offer
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
		var prm extension.Param
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
				if !closed || !handshake.IsToken(v) {
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
