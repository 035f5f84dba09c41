package websock

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/websock/websock/internal/frame"
)

func TestEchoSizes(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		eachTransport(t, func(t *testing.T, tlsOn bool) {
			srv, _ := m.echo(t, tlsOn, nil)
			c := dialRaw(t, srv)
			for _, n := range []int{0, 1, 125, 126, 127, 128, 65535, 65536, 1 << 20} {
				text := bytes.Repeat([]byte("*"), n)
				c.send(true, frame.OpText, text)
				c.expectMessage(frame.OpText, text)
				bin := bytes.Repeat([]byte{0xfe}, n)
				c.send(true, frame.OpBinary, bin)
				c.expectMessage(frame.OpBinary, bin)
			}
			c.send(true, frame.OpClose, closePayload(1000, "done"))
			c.expectClose(1000)
		})
	})
}

func TestSixteenMebibyteMessage(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		srv, _ := m.echo(t, false, nil)
		c := dialRaw(t, srv)
		msg := bytes.Repeat([]byte("0123456789abcdef"), 1<<20)
		// Fragmented in 1 MiB frames.
		for i := 0; i < 16; i++ {
			op := frame.OpContinuation
			if i == 0 {
				op = frame.OpBinary
			}
			c.send(i == 15, op, msg[i<<20:(i+1)<<20])
		}
		c.expectMessage(frame.OpBinary, msg)
	})
}

// TestOctetWiseFragmentsWithPings is Autobahn case 5.8: a fragmented text
// message written one byte per write, with a ping between the fragments.
func TestOctetWiseFragmentsWithPings(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		eachTransport(t, func(t *testing.T, tlsOn bool) {
			srv, _ := m.echo(t, tlsOn, nil)
			c := dialRaw(t, srv)
			c.writeChopped(frameBytes(false, 0, frame.OpText, []byte("fragment1"), false))
			c.writeChopped(frameBytes(true, 0, frame.OpPing, []byte("pongme 1!"), false))
			c.writeChopped(frameBytes(true, 0, frame.OpContinuation, []byte("fragment2"), false))
			c.expectMessage(frame.OpPong, []byte("pongme 1!"))
			c.expectMessage(frame.OpText, []byte("fragment1fragment2"))
			c.writeChopped(frameBytes(true, 0, frame.OpClose, closePayload(1000, ""), false))
			c.expectClose(1000)
		})
	})
}

func TestPingPong(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		srv, _ := m.echo(t, false, nil)
		c := dialRaw(t, srv)
		c.send(true, frame.OpPong, []byte("unsolicited")) // ignored
		c.send(true, frame.OpPing, nil)
		c.expectMessage(frame.OpPong, nil)
		full := bytes.Repeat([]byte{0xab}, 125)
		c.send(true, frame.OpPing, full)
		c.expectMessage(frame.OpPong, full)
		// Pings between fragments of a message.
		c.send(false, frame.OpText, []byte("a"))
		for i := 0; i < 10; i++ {
			c.send(true, frame.OpPing, []byte{byte(i)})
			c.send(false, frame.OpContinuation, []byte("b"))
		}
		c.send(true, frame.OpContinuation, []byte("c"))
		for i := 0; i < 10; i++ {
			c.expectMessage(frame.OpPong, []byte{byte(i)})
		}
		c.expectMessage(frame.OpText, []byte("abbbbbbbbbbc"))
	})
}

// TestProtocolViolations sends each violation and asserts the close code
// the server answers with and that it then closes TCP.
func TestProtocolViolations(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		text := func(fin bool, p string) []byte { return frameBytes(fin, 0, frame.OpText, []byte(p), false) }
		cont := func(fin bool, p string) []byte { return frameBytes(fin, 0, frame.OpContinuation, []byte(p), false) }
		join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
		tests := []struct {
			name string
			wire []byte
			code StatusCode
			echo string // a message echoed before the close, if any
		}{
			{"rsv1 without extension", frameBytes(true, frame.RSV1, frame.OpText, []byte("x"), false), 1002, ""},
			{"rsv2", frameBytes(true, frame.RSV2, frame.OpBinary, nil, false), 1002, ""},
			{"rsv3 on ping", frameBytes(true, frame.RSV3, frame.OpPing, nil, false), 1002, ""},
			{"rsv after good message", join(text(true, "ok"), frameBytes(true, frame.RSV1|frame.RSV3, frame.OpText, nil, false)), 1002, "ok"},
			{"opcode 3", frameBytes(true, 0, 3, nil, false), 1002, ""},
			{"opcode 7", frameBytes(true, 0, 7, []byte("x"), false), 1002, ""},
			{"opcode 11", frameBytes(true, 0, 11, nil, false), 1002, ""},
			{"opcode 15", frameBytes(true, 0, 15, []byte("x"), false), 1002, ""},
			{"unmasked frame", frameBytes(true, 0, frame.OpText, []byte("x"), true), 1002, ""},
			{"fragmented ping", frameBytes(false, 0, frame.OpPing, []byte("x"), false), 1002, ""},
			{"ping of 126 bytes", frameBytes(true, 0, frame.OpPing, bytes.Repeat([]byte("x"), 126), false), 1002, ""},
			{"close of 126 bytes", frameBytes(true, 0, frame.OpClose, bytes.Repeat([]byte("x"), 126), false), 1002, ""},
			{"continuation without start", cont(true, "x"), 1002, ""},
			{"continuation after finished message", join(text(true, "ok"), cont(true, "x")), 1002, "ok"},
			{"text inside fragmented text", join(text(false, "a"), text(true, "b")), 1002, ""},
			{"binary inside fragmented text", join(text(false, "a"), frameBytes(true, 0, frame.OpBinary, nil, false)), 1002, ""},
			{"invalid utf-8", text(true, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"), 1007, ""},
			{"utf-8 truncated at the end", text(true, "abc\xe2\x82"), 1007, ""},
			{"invalid utf-8 in the second fragment", join(text(false, "\xce\xba"), cont(true, "\xff")), 1007, ""},
			{"close with 1 byte", frameBytes(true, 0, frame.OpClose, []byte{0x03}, false), 1002, ""},
			{"close code 0", frameBytes(true, 0, frame.OpClose, closePayload(0, ""), false), 1002, ""},
			{"close code 999", frameBytes(true, 0, frame.OpClose, closePayload(999, ""), false), 1002, ""},
			{"close code 1004", frameBytes(true, 0, frame.OpClose, closePayload(1004, ""), false), 1002, ""},
			{"close code 1005", frameBytes(true, 0, frame.OpClose, []byte{0x03, 0xed, 'x'}, false), 1002, ""},
			{"close code 1006", frameBytes(true, 0, frame.OpClose, closePayload(1006, ""), false), 1002, ""},
			{"close code 1015", frameBytes(true, 0, frame.OpClose, closePayload(1015, ""), false), 1002, ""},
			{"close code 1016", frameBytes(true, 0, frame.OpClose, closePayload(1016, ""), false), 1002, ""},
			{"close code 2999", frameBytes(true, 0, frame.OpClose, closePayload(2999, ""), false), 1002, ""},
			{"close code 5000", frameBytes(true, 0, frame.OpClose, closePayload(5000, ""), false), 1002, ""},
			{"close code 65535", frameBytes(true, 0, frame.OpClose, closePayload(65535, ""), false), 1002, ""},
			{"close reason not utf-8", frameBytes(true, 0, frame.OpClose, append(closePayload(1000, ""), 0xce, 0xba, 0xff), false), 1007, ""},
			{"64-bit length with top bit", []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, 1002, ""},
		}
		srv, _ := m.echo(t, false, nil)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := dialRaw(t, srv)
				c.write(tt.wire)
				if tt.echo != "" {
					c.expectMessage(frame.OpText, []byte(tt.echo))
				}
				c.expectClose(tt.code)
			})
		}
	})
}

// TestInvalidUTF8FailsFast checks that the server fails the connection on
// the invalid byte of an unfinished frame, without waiting for the rest of
// the frame or the message (Autobahn 6.4.3).
func TestInvalidUTF8FailsFast(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		srv, _ := m.echo(t, false, nil)
		c := dialRaw(t, srv)
		payload := []byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80\x65\x64\x69\x74\x65\x64")
		wire := frameBytes(true, 0, frame.OpText, payload, false)
		// Header and the first 12 bytes of payload, up to and including 0xF4 0x90:
		// invalid from there, whatever follows.
		c.write(wire[:6+13])
		c.expectClose(1007)
	})
}

func TestValidCloseCodesEchoed(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		srv, ended := m.echo(t, false, nil)
		for _, code := range []StatusCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
			c := dialRaw(t, srv)
			c.send(true, frame.OpClose, closePayload(int(code), "reason"))
			c.expectClose(code)
			err := <-ended
			var ce *CloseError
			if !errors.As(err, &ce) || ce.Code != code || ce.Reason != "reason" {
				t.Fatalf("server read error = %v, want CloseError %d", err, code)
			}
		}
		// An empty close frame is answered with 1000.
		c := dialRaw(t, srv)
		c.send(true, frame.OpClose, nil)
		c.expectClose(1000)
		if err := <-ended; CloseStatus(err) != StatusNoStatus {
			t.Fatalf("server read error = %v, want status 1005", err)
		}
	})
}

func TestReadLimit(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		srv, ended := m.echo(t, false, &AcceptOptions{ConnOptions: ConnOptions{ReadLimit: 1000}})
		c := dialRaw(t, srv)
		c.send(true, frame.OpBinary, make([]byte, 1000))
		c.expectMessage(frame.OpBinary, make([]byte, 1000))
		// 1001 bytes across two fragments.
		c.send(false, frame.OpBinary, make([]byte, 600))
		c.send(true, frame.OpContinuation, make([]byte, 401))
		c.expectClose(1009)
		if err := <-ended; !errors.Is(err, ErrMessageTooBig) || CloseStatus(err) != 1009 {
			t.Fatalf("server error = %v", err)
		}
	})
}

func TestMaxFrameSize(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		srv, _ := m.echo(t, false, &AcceptOptions{ConnOptions: ConnOptions{MaxFrameSize: 100}})
		c := dialRaw(t, srv)
		c.send(false, frame.OpBinary, make([]byte, 100))
		c.send(true, frame.OpContinuation, make([]byte, 100))
		c.expectMessage(frame.OpBinary, make([]byte, 200))
		c.send(true, frame.OpBinary, make([]byte, 101))
		c.expectClose(1009)
	})
}

func TestErrorsNameTheRule(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		srv, ended := m.echo(t, false, nil)
		c := dialRaw(t, srv)
		c.write(frameBytes(true, 0, frame.OpText, []byte("x"), true))
		c.expectClose(1002)
		err := <-ended
		if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "unmasked") {
			t.Fatalf("error %q does not say what went wrong", err)
		}
	})
}
