package conformance

import (
	"bufio"
	"context"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// A brokenServer echoes messages but breaks one rule, to prove that the
// suite notices.
type brokenServer struct {
	noUTF8Check bool // echo invalid text instead of failing with 1007
	lateUTF8    bool // check UTF-8 only when the message is complete
	noPong      bool // ignore pings
	dropOnClose bool // close TCP on a close frame without answering
	wrongCode   int  // fail protocol errors with this code instead of 1002
	keepTCPOpen bool // answer close but never close TCP
}

func (b *brokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer nc.Close()
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		acceptKey(r.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n")
	brw.Flush()
	br := bufio.NewReader(nc)
	send := func(f rawFrame) { nc.Write(f.encode(false)) }
	fail := func(code int) {
		send(closeFrame(closePayload(code, "")))
		readFrame(br, maxFrame) // the answer
	}
	var msg []byte
	var msgOp byte
	for {
		f, err := readFrame(br, maxFrame)
		if err != nil {
			return
		}
		if f.rsv != 0 || (f.op > 2 && f.op < 8) || f.op > 10 {
			code := 1002
			if b.wrongCode != 0 {
				code = b.wrongCode
			}
			if code > 0 {
				fail(code)
			}
			return
		}
		switch f.op {
		case opPing:
			if !b.noPong {
				send(rawFrame{fin: true, op: opPong, payload: f.payload})
			}
		case opClose:
			if b.dropOnClose {
				return
			}
			send(closeFrame(f.payload[:min(2, len(f.payload))]))
			if b.keepTCPOpen {
				readFrame(br, maxFrame) // until the peer gives up
			}
			return
		case opText, opBinary, opCont:
			if f.op != opCont {
				msg, msgOp = nil, f.op
			}
			msg = append(msg, f.payload...)
			if msgOp == opText && !b.noUTF8Check && !b.lateUTF8 && !validPrefix(msg) {
				fail(1007)
				return
			}
			if f.fin {
				if msgOp == opText && !b.noUTF8Check && !utf8.Valid(msg) {
					fail(1007)
					return
				}
				send(rawFrame{fin: true, op: msgOp, payload: msg})
			}
		}
	}
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

func TestSuiteCatchesBrokenServers(t *testing.T) {
	// Broken servers make the fuzzer wait for what never comes.
	s, f, c := settleTimeout, failTimeout, closeTimeout
	settleTimeout, failTimeout, closeTimeout = 300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond
	t.Cleanup(func() { settleTimeout, failTimeout, closeTimeout = s, f, c })
	cases, err := Cases()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		server   brokenServer
		cases    []string
		behavior string // expected grade of every selected case, "" to skip the check
		close    string
	}{
		{"no UTF-8 validation", brokenServer{noUTF8Check: true}, []string{"6.3.1", "6.6.1", "6.4.1"}, Failed, ""},
		{"UTF-8 checked only at the end", brokenServer{lateUTF8: true}, []string{"6.4.1", "6.4.2", "6.4.3", "6.4.4"}, NonStrict, OK},
		{"no pong", brokenServer{noPong: true}, []string{"2.2", "2.10", "5.6"}, Failed, ""},
		{"drops TCP without a close frame", brokenServer{dropOnClose: true}, []string{"1.1.1", "7.7.1"}, OK, Unclean},
		{"drops TCP instead of failing", brokenServer{dropOnClose: true, wrongCode: -1}, []string{"3.1"}, "", Failed},
		{"wrong close code", brokenServer{wrongCode: 1000}, []string{"3.1", "4.1.1"}, "", WrongCode},
		{"never closes TCP", brokenServer{keepTCPOpen: true}, []string{"1.1.1"}, OK, Unclean},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(&tt.server)
			defer srv.Close()
			results, err := RunServer(context.Background(), Select(cases, tt.cases), ClientConfig{URL: "ws" + strings.TrimPrefix(srv.URL, "http")})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range results {
				if (tt.behavior != "" && r.Behavior != tt.behavior) || (tt.close != "" && r.BehaviorClose != tt.close) {
					t.Errorf("case %s graded %s/%s, want %s/%s (%s)", r.ID, r.Behavior, r.BehaviorClose, tt.behavior, tt.close, r.Reason)
				}
				if r.Strict() {
					t.Errorf("case %s graded strictly OK against a broken server", r.ID)
				}
			}
		})
	}
}

func TestDisplayLikeAutobahn(t *testing.T) {
	tests := []struct {
		p      []byte
		binary bool
		want   string
	}{
		{nil, true, ""},
		{[]byte("Hello"), false, "Hello"},
		{[]byte{0, 0xff}, false, "0x00ff"},
		{[]byte(strings.Repeat("*", 65)), false, strings.Repeat("*", 64) + " ..."},
		{make([]byte, 65), true, "0x" + strings.Repeat("00", 64) + " ..."},
	}
	for _, tt := range tests {
		if got := display(tt.p, tt.binary); got != tt.want {
			t.Errorf("display(%q) = %q, want %q", tt.p, got, tt.want)
		}
	}
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], 1000)
	if string(closePayload(1000, "")) != string(b[:]) {
		t.Error("closePayload")
	}
}
