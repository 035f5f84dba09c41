package conformance

import (
	"bufio"
	"encoding/binary"
	"net/http"
	"strings"
	"unicode/utf8"
)

// A brokenServer echoes messages but may break one rule, in the frames or
// in the opening handshake, to prove that the suite notices. Its zero
// value is a correct server.
type brokenServer struct {
	// frames and closing
	noUTF8Check     bool // echo invalid text instead of failing with 1007
	lateUTF8        bool // check UTF-8 only when the message is complete
	noPong          bool // ignore pings
	dropOnClose     bool // close TCP on a close frame without answering
	wrongCode       int  // fail protocol errors with this code instead of 1002 (-1: drop TCP)
	keepTCPOpen     bool // answer close but never close TCP
	emptyCloseReply bool // answer every close frame with an empty one
	rsvOnEcho       bool // set RSV1 on echoes without an extension
	limit           int  // largest message; 0: none
	limitCode       int  // close code over the limit (default 1009)

	// permessage-deflate: accept the first offer with no parameters,
	// which ignores the offer's server_max_window_bits and
	// server_no_context_takeover
	deflateIgnoringOffer bool

	// opening handshake
	anyVersion     bool   // accept any Sec-WebSocket-Version
	versionStatus  int    // status for other versions (default 426)
	noKeyCheck     bool   // accept requests without a valid key
	wrongAccept    bool   // answer with a wrong Sec-WebSocket-Accept
	acceptBody     bool   // accept requests with a body
	originStatus   int    // status for a foreign Origin (default 403)
	anyOrigin      bool   // accept every Origin
	subprotocol    string // always choose this subprotocol
	echoExtensions bool   // accept every extension offered
}

func (b *brokenServer) refuse(w http.ResponseWriter, r *http.Request) bool {
	key := r.Header.Get("Sec-WebSocket-Key")
	status := 0
	switch {
	case r.Method != http.MethodGet:
		status = http.StatusMethodNotAllowed
	case !headerHasToken(r.Header, "Connection", "upgrade") || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket"):
		status = http.StatusBadRequest
	case !b.noKeyCheck && (key == "" || len(key) != 24):
		status = http.StatusBadRequest
	case !b.acceptBody && r.ContentLength != 0:
		status = http.StatusBadRequest
	case !b.anyVersion && r.Header.Get("Sec-WebSocket-Version") != "13":
		status = http.StatusUpgradeRequired
		if b.versionStatus != 0 {
			status = b.versionStatus
		}
		w.Header().Set("Sec-WebSocket-Version", "13")
	case !b.anyOrigin && r.Header.Get("Origin") != "" && !strings.HasSuffix(r.Header.Get("Origin"), "//"+r.Host):
		status = http.StatusForbidden
		if b.originStatus != 0 {
			status = b.originStatus
		}
	}
	if status != 0 {
		http.Error(w, "refused", status)
		return true
	}
	return false
}

func (b *brokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if b.refuse(w, r) {
		return
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	accept := acceptKey(r.Header.Get("Sec-WebSocket-Key"))
	if b.wrongAccept {
		accept = acceptKey("wrong")
	}
	resp += "Sec-WebSocket-Accept: " + accept + "\r\n"
	if b.subprotocol != "" {
		resp += "Sec-WebSocket-Protocol: " + b.subprotocol + "\r\n"
	}
	var ds *deflateSession
	if offers := r.Header.Values("Sec-WebSocket-Extensions"); len(offers) > 0 {
		switch {
		case b.echoExtensions:
			resp += "Sec-WebSocket-Extensions: " + strings.Join(offers, ", ") + "\r\n"
		case b.deflateIgnoringOffer && strings.HasPrefix(offers[0], "permessage-deflate"):
			resp += "Sec-WebSocket-Extensions: permessage-deflate\r\n"
			ds = &deflateSession{compressTakeover: true, decompressTakeover: true}
		}
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer nc.Close()
	if _, err := brw.WriteString(resp + "\r\n"); err != nil || brw.Flush() != nil {
		return
	}
	b.echo(nc.Write, bufio.NewReader(nc), ds)
}

// echo is the server's frame loop.
func (b *brokenServer) echo(write func([]byte) (int, error), br *bufio.Reader, ds *deflateSession) {
	send := func(f rawFrame) bool {
		_, err := write(f.encode(false))
		return err == nil
	}
	fail := func(code int) {
		if send(closeFrame(closePayload(code, ""))) {
			readFrame(br, maxFrame) // the answer, or the end of TCP
		}
	}
	var msg []byte
	var msgOp, msgRSV byte
	for {
		f, err := readFrame(br, maxFrame)
		if err != nil {
			return
		}
		compressed := ds != nil && f.rsv == 4 && f.op != opCont && f.op < 8
		control := f.op >= 8
		if (f.rsv != 0 && !compressed) || (f.op > 2 && f.op < 8) || f.op > 10 || (control && (!f.fin || len(f.payload) > 125)) {
			code := 1002
			if b.wrongCode != 0 {
				code = b.wrongCode
			}
			switch {
			case code > 0 && f.op == opClose:
				send(closeFrame(closePayload(code, ""))) // the peer has closed already
			case code > 0:
				fail(code)
			}
			return
		}
		switch f.op {
		case opPing:
			if !b.noPong && !send(rawFrame{fin: true, op: opPong, payload: f.payload}) {
				return
			}
		case opClose:
			if b.dropOnClose {
				return
			}
			reply := f.payload[:min(2, len(f.payload))]
			if code := closeCodeProblem(f.payload); code != 0 && b.wrongCode == 0 {
				reply = closePayload(code, "")
			}
			if b.emptyCloseReply {
				reply = nil
			}
			if !send(closeFrame(reply)) {
				return
			}
			if b.keepTCPOpen {
				readFrame(br, maxFrame) // until the peer gives up
			}
			return
		case opText, opBinary, opCont:
			if f.op != opCont {
				msg, msgOp, msgRSV = nil, f.op, f.rsv
			}
			msg = append(msg, f.payload...)
			if b.limit > 0 && len(msg) > b.limit {
				code := 1009
				if b.limitCode != 0 {
					code = b.limitCode
				}
				fail(code)
				return
			}
			text := msgOp == opText && msgRSV == 0
			if text && !b.noUTF8Check && !b.lateUTF8 && !validPrefix(msg) {
				fail(1007)
				return
			}
			if !f.fin {
				continue
			}
			payload := msg
			if msgRSV == 4 {
				if payload, err = ds.decompress(msg); err != nil {
					fail(1007)
					return
				}
			}
			if msgOp == opText && !b.noUTF8Check && !utf8.Valid(payload) {
				fail(1007)
				return
			}
			out := rawFrame{fin: true, op: msgOp, payload: payload}
			if ds != nil {
				out.rsv, out.payload = 4, ds.compress(payload)
			}
			if b.rsvOnEcho {
				out.rsv = 1
			}
			if !send(out) {
				return
			}
		}
	}
}

// closeCodeProblem returns the code to fail a close frame with, 0 if it
// is valid (RFC 6455 §5.5.1, §7.4).
func closeCodeProblem(p []byte) int {
	switch {
	case len(p) == 0:
		return 0
	case len(p) == 1 || !validCloseCode(int(binary.BigEndian.Uint16(p))):
		return 1002
	case !utf8.Valid(p[2:]):
		return 1007
	}
	return 0
}

// validPrefix reports whether p can still begin valid UTF-8.
func validPrefix(p []byte) bool {
	for i := 0; i < 4 && i <= len(p); i++ {
		if utf8.Valid(p[:len(p)-i]) {
			tail := p[len(p)-i:]
			return i == 0 || (utf8.RuneStart(tail[0]) && !utf8.FullRune(tail) && plausible(tail))
		}
	}
	return false
}

// plausible checks the bytes of an unfinished code point against RFC 3629.
func plausible(tail []byte) bool {
	full := append(append([]byte(nil), tail...), 0x80, 0x80, 0x80)
	n := map[bool]int{true: 4, false: 3}[tail[0] >= 0xF0]
	if tail[0] < 0xE0 {
		n = 2
	}
	r, size := utf8.DecodeRune(full[:n])
	return r != utf8.RuneError || size == n
}
