package conformance

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
)

// The fuzzer's permessage-deflate (RFC 7692), built on the standard
// library's compress/flate, independent of the implementation under test.

// deflateCase is what a compression case offers and sends.
type deflateCase struct {
	offers []deflateOffer // in preference order
	size   int            // payload size of each message
	frag   int            // fragment size (0: unfragmented)
	count  int            // number of messages
	kind   int            // payload family (12.1 … 12.5)
}

// deflateOffer is one permessage-deflate offer of Autobahn's fuzzer: it
// always lets the server disable the client's context takeover and limit
// its window, and may ask the same of the server.
type deflateOffer struct {
	serverNoContextTakeover bool
	serverMaxWindowBits     int // 0: not requested
}

func (o deflateOffer) String() string {
	s := "permessage-deflate; client_no_context_takeover; client_max_window_bits"
	if o.serverNoContextTakeover {
		s += "; server_no_context_takeover"
	}
	if o.serverMaxWindowBits != 0 {
		s += "; server_max_window_bits=" + strconv.Itoa(o.serverMaxWindowBits)
	}
	return s
}

// maxDeflateBytes caps the bytes a compression case sends, so that the
// whole suite runs in minutes; small messages still go 1000 times.
const maxDeflateBytes = 512 << 10

var offerList = regexp.MustCompile(`\((True|False), (\d+)\)`)

// defineDeflate sets the scripts of groups 12 and 13.
func defineDeflate(c *Case, g, a, b int) error {
	var size, frag int
	if _, err := fmt.Sscanf(c.Description, "Send 1000 compressed messages each of payload size %d, auto-fragment to %d octets.", &size, &frag); err != nil {
		return fmt.Errorf("conformance: case %s: %v", c.ID, err)
	}
	d := &deflateCase{size: size, frag: frag, count: min(1000, max(1, maxDeflateBytes/size)), kind: a}
	if g == 12 {
		d.offers = []deflateOffer{{}}
	} else {
		d.kind = 1 + b%5
		for _, m := range offerList.FindAllStringSubmatch(c.Description, -1) {
			bits, _ := strconv.Atoi(m[2])
			d.offers = append(d.offers, deflateOffer{serverNoContextTakeover: m[1] == "True", serverMaxWindowBits: bits})
		}
		if len(d.offers) == 0 {
			return fmt.Errorf("conformance: case %s: no offers in the description", c.ID)
		}
	}
	c.Deflate = d
	c.script = func(s *session) {
		if s.deflate == nil {
			return // declined: graded UNIMPLEMENTED
		}
		rng := rand.New(rand.NewPCG(uint64(size), uint64(a)))
		base, op := deflatePayload(rng, d.kind, size)
		for i := 0; i < d.count && s.failed == ""; i++ {
			// Each message differs from the last in a few bytes.
			msg := append([]byte(nil), base...)
			for j := 0; j < 4 && len(msg) > 0; j++ {
				k := rng.IntN(len(msg))
				if op == opText {
					msg[k] = 'a' + byte(rng.IntN(26))
				} else {
					msg[k] = byte(rng.Uint32())
				}
			}
			var frames []rawFrame
			if frag == 0 {
				frames = []rawFrame{{fin: true, rsv: 4, op: op, payload: msg}}
			} else {
				// Compress first, then fragment the compressed bytes.
				z := s.deflate.compress(msg)
				for j := 0; j < len(z) || j == 0; j += frag {
					f := rawFrame{fin: j+frag >= len(z), op: opCont, payload: z[j:min(j+frag, len(z))]}
					if j == 0 {
						f.op, f.rsv = op, 4
					}
					frames = append(frames, f)
				}
				s.resetEvents()
				s.writeFrames(frames...)
				s.expectEchoes([]Event{{Kind: "message", Payload: msg, Binary: op == opBinary}})
				continue
			}
			s.resetEvents()
			echo(s, oneChop, frames...)
			if s.failed != "" {
				return
			}
		}
	}
	return nil
}

// deflatePayload makes a message of one of five families: JSON-like text,
// prose, markup, compressible binary and random binary.
func deflatePayload(rng *rand.Rand, kind, size int) ([]byte, byte) {
	var b bytes.Buffer
	switch kind {
	case 1:
		for b.Len() < size {
			fmt.Fprintf(&b, `{"id":%d,"name":"item-%d","tags":["a","b"],"price":%d.%02d},`, rng.IntN(1e6), rng.IntN(1000), rng.IntN(100), rng.IntN(100))
		}
	case 2:
		words := strings.Fields("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua")
		for b.Len() < size {
			b.WriteString(words[rng.IntN(len(words))] + " ")
		}
	case 3:
		for b.Len() < size {
			fmt.Fprintf(&b, "<div class=\"row-%d\"><span>%d</span></div>\n", rng.IntN(50), rng.IntN(1e4))
		}
	case 4:
		for b.Len() < size {
			b.WriteByte(byte(rng.IntN(16)))
		}
		return b.Bytes()[:size], opBinary
	default:
		for b.Len() < size {
			b.WriteByte(byte(rng.Uint32()))
		}
		return b.Bytes()[:size], opBinary
	}
	return b.Bytes()[:size], opText
}

// deflateSession is the agreed compression of one connection, from the
// fuzzer's side.
type deflateSession struct {
	compressTakeover   bool // the fuzzer may keep its compression context
	decompressTakeover bool // the peer keeps its compression context
	w                  *flate.Writer
	wbuf               bytes.Buffer
	history            []byte // the peer's last 32 KiB, for takeover
	response           string
}

var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// compress returns the compressed payload of one message (RFC 7692 §7.2.1).
func (d *deflateSession) compress(p []byte) []byte {
	if d.w == nil || !d.compressTakeover {
		d.wbuf.Reset()
		// Huffman-only output has no back-references, so it respects any
		// window size the peer may have imposed.
		d.w, _ = flate.NewWriter(&d.wbuf, flate.HuffmanOnly)
	}
	d.wbuf.Reset()
	d.w.Write(p)
	d.w.Flush()
	out := bytes.TrimSuffix(d.wbuf.Bytes(), deflateTail)
	return append([]byte(nil), out...)
}

// decompress inflates one message (RFC 7692 §7.2.2).
func (d *deflateSession) decompress(p []byte) ([]byte, error) {
	in := io.MultiReader(bytes.NewReader(p), bytes.NewReader(deflateTail))
	var r io.ReadCloser
	if d.decompressTakeover {
		r = flate.NewReaderDict(in, d.history)
	} else {
		r = flate.NewReader(in)
	}
	out, err := io.ReadAll(r)
	if err != nil && err != io.ErrUnexpectedEOF {
		return nil, err
	}
	if d.decompressTakeover {
		d.history = append(d.history, out...)
		if len(d.history) > 32<<10 {
			d.history = append([]byte(nil), d.history[len(d.history)-32<<10:]...)
		}
	}
	return out, nil
}

// negotiate reads the server's permessage-deflate response as Autobahn's
// client does (PerMessageDeflateResponse.parse: known parameters, legal
// values, none twice) and returns the session it sets up; a response it
// cannot parse fails the opening handshake. Separately, deviation says
// whether the response honours one of the offers (RFC 7692 §7.1), which
// Autobahn does not check.
func negotiate(offers []deflateOffer, response string) (ds *deflateSession, deviation string, err error) {
	params := strings.Split(response, ";")
	if strings.TrimSpace(params[0]) != "permessage-deflate" {
		return nil, "", fmt.Errorf("response %q is not permessage-deflate", response)
	}
	seen := map[string]string{}
	for _, p := range params[1:] {
		k, v, hasValue := strings.Cut(strings.TrimSpace(p), "=")
		v = strings.Trim(v, `"`)
		if _, dup := seen[k]; dup {
			return nil, "", fmt.Errorf("multiple occurrence of extension parameter %s in %q", k, response)
		}
		switch k {
		case "server_no_context_takeover", "client_no_context_takeover":
			if hasValue {
				return nil, "", fmt.Errorf("illegal value %q for parameter %s", v, k)
			}
		case "server_max_window_bits", "client_max_window_bits":
			if n, err := strconv.Atoi(v); err != nil || n < 8 || n > 15 {
				return nil, "", fmt.Errorf("illegal value %q for parameter %s", v, k)
			}
		default:
			return nil, "", fmt.Errorf("illegal extension parameter %s", k)
		}
		seen[k] = v
	}
	_, serverNCT := seen["server_no_context_takeover"]
	_, clientNCT := seen["client_no_context_takeover"]
	ds = &deflateSession{compressTakeover: !clientNCT, decompressTakeover: !serverNCT, response: response}
	var errs []string
	for _, o := range offers {
		err := checkResponse(o, seen)
		if err == nil {
			return ds, "", nil
		}
		errs = append(errs, err.Error())
	}
	return ds, fmt.Sprintf("response %q honours no offer: %s", response, strings.Join(errs, "; ")), nil
}

// checkResponse applies RFC 7692 §7.1 to a response to one offer.
func checkResponse(o deflateOffer, params map[string]string) error {
	if v, ok := params["server_max_window_bits"]; ok && o.serverMaxWindowBits != 0 {
		if n, _ := strconv.Atoi(v); n > o.serverMaxWindowBits {
			return fmt.Errorf("server_max_window_bits=%d above the %d offered (RFC 7692 §7.1.2.1)", n, o.serverMaxWindowBits)
		}
	}
	if _, ok := params["server_no_context_takeover"]; o.serverNoContextTakeover && !ok {
		return fmt.Errorf("server_no_context_takeover offered but missing (RFC 7692 §7.1.1.1)")
	}
	if _, ok := params["server_max_window_bits"]; o.serverMaxWindowBits != 0 && !ok {
		return fmt.Errorf("server_max_window_bits=%d offered but missing (RFC 7692 §7.1.2.1)", o.serverMaxWindowBits)
	}
	return nil
}
