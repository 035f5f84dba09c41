package conformance

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Case is one conformance case: its catalogue entry and the script that
// plays it.
type Case struct {
	ID          string
	Description string
	Expectation string
	// Expected maps a grade ("OK", "NON-STRICT") to the event sequence that
	// earns it, as the catalogue prints events.
	Expected map[string][][]any
	Close    CloseExpectation
	// Informational cases are reported, not graded (their outcome depends
	// on implementation choices RFC 6455 leaves open): 7.1.6, 7.13.1 and
	// 7.13.2, as in Autobahn.
	Informational bool
	// wrongCodeFails: in the closing cases of group 7, Autobahn also fails
	// the behaviour when the close code is wrong.
	wrongCodeFails bool
	// Deflate, for groups 12 and 13, is the permessage-deflate offer the
	// fuzzer makes, or nil.
	Deflate *deflateCase

	script func(s *session)
}

// Cases returns every case of the catalogue, in order, with its script.
func Cases() ([]*Case, error) {
	entries, err := catalog()
	if err != nil {
		return nil, err
	}
	var out []*Case
	for _, e := range entries {
		c := &Case{ID: e.id, Description: e.description, Expectation: e.expectation, Expected: e.expected, Close: e.close}
		c.Informational = informational[c.ID]
		c.wrongCodeFails = group(c.ID) == "7" && !c.Informational
		if err := defineScript(c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// informational lists the cases Autobahn grades INFORMATIONAL whatever
// happens (case7_1_6.py, case7_13_1.py, case7_13_2.py).
var informational = map[string]bool{"7.1.6": true, "7.13.1": true, "7.13.2": true}

// killedByTimer tells how Autobahn's case ends when the expected events do
// not come: most cases call killAfter (fail the connection with 1001), the
// ones listed here closeAfter (a close frame without a code). The two
// differ when the server does not close TCP after the closing handshake:
// killAfter drops TCP before the server's time is up (FAILED BY CLIENT),
// closeAfter waits for it and finds the closing unclean.
func killedByTimer(id string) bool {
	var g, a, b int
	fmt.Sscanf(id, "%d.%d.%d", &g, &a, &b)
	switch g {
	case 2:
		return a == 5 // 2.5 expects the peer to fail
	case 5:
		return !(a >= 3 && a <= 8 || a == 19 || a == 20)
	case 6:
		return a > 2
	case 9, 12, 13:
		return false
	}
	return true
}

// Frame shorthands.
func text(p string) rawFrame { return rawFrame{fin: true, op: opText, payload: []byte(p)} }
func bin(p []byte) rawFrame  { return rawFrame{fin: true, op: opBinary, payload: p} }
func ping(p string) rawFrame { return rawFrame{fin: true, op: opPing, payload: []byte(p)} }
func pong(p string) rawFrame { return rawFrame{fin: true, op: opPong, payload: []byte(p)} }
func frag(op byte, fin bool, p string) rawFrame {
	return rawFrame{fin: fin, op: op, payload: []byte(p)}
}
func closeFrame(p []byte) rawFrame { return rawFrame{fin: true, op: opClose, payload: p} }

// Chop modes of Autobahn: everything in one write, one write per frame, or
// one write per octet.
const (
	oneChop   = 0
	octetWise = 1
)

func sendIn(s *session, mode string, frames ...rawFrame) {
	switch mode {
	case "frame":
		s.sendEach(frames...)
	case "octet":
		s.send(octetWise, frames...)
	default:
		s.send(oneChop, frames...)
	}
}

func repeat(b string, n int) []byte { return bytes.Repeat([]byte(b), n)[:n] }

// echo sends messages and checks that each comes back whole.
func echo(s *session, chop int, frames ...rawFrame) {
	var want []Event
	for _, f := range frames {
		want = append(want, Event{Kind: "message", Payload: f.payload, Binary: f.op == opBinary})
	}
	s.send(chop, frames...)
	s.expectEchoes(want)
}

// echoFragmented sends one message in fragments of size n.
func echoFragmented(s *session, op byte, msg []byte, n int) {
	var frames []rawFrame
	for i := 0; i < len(msg); i += n {
		o := byte(opCont)
		if i == 0 {
			o = op
		}
		frames = append(frames, rawFrame{fin: i+n >= len(msg), op: o, payload: msg[i:min(i+n, len(msg))]})
	}
	s.send(oneChop, frames...)
	s.expectEchoes([]Event{{Kind: "message", Payload: msg, Binary: op == opBinary}})
}

var (
	hexPayload = regexp.MustCompile(`Payload: 0x([0-9a-f]*)`)
	hexParts   = regexp.MustCompile(`PART1 = ([0-9a-f]+) PART2 = ([0-9a-f]+) PART3 = ?([0-9a-f]*)`)
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// defineScript sets c's script from its id.
func defineScript(c *Case) error {
	id := c.ID
	var g, a, b int
	fmt.Sscanf(id, "%d.%d.%d", &g, &a, &b)
	switch g {
	case 1:
		sizes := []int{0, 125, 126, 127, 128, 65535, 65536, 65536}
		n := sizes[b-1]
		chop := 0
		if b == 8 {
			chop = 997
		}
		f := text(string(repeat("*", n)))
		if a == 2 {
			f = bin(repeat("\xfe", n))
		}
		c.script = func(s *session) { echo(s, chop, f) }
	case 2:
		c.script = pingScripts[a]
	case 3:
		c.script = rsvScripts[a]
	case 4:
		op := byte(a*8 - 5 + b) // 4.1.b: opcodes 3..7; 4.2.b: opcodes 11..15
		if a == 2 {
			op = byte(10 + b)
		}
		c.script = reservedOpcode(op, b)
	case 5:
		c.script = fragmentationScripts[a]
	case 6:
		return defineUTF8(c, a, b)
	case 7:
		return defineClosing(c, a, b)
	case 9:
		c.script = limitsScript(a, b)
	case 10:
		c.script = func(s *session) { echoFragmented(s, opText, repeat("*", 65536), 1300) }
	case 12, 13:
		return defineDeflate(c, g, a, b)
	}
	if c.script == nil {
		return fmt.Errorf("conformance: no script for case %s", id)
	}
	return nil
}

var pingScripts = map[int]func(s *session){
	1: func(s *session) { s.send(oneChop, ping("")) },
	2: func(s *session) { s.send(oneChop, ping("Hello, world!")) },
	3: func(s *session) {
		s.send(oneChop, rawFrame{fin: true, op: opPing, payload: mustHex("00fffefdfcfb00ff")})
	},
	4:  func(s *session) { s.send(oneChop, rawFrame{fin: true, op: opPing, payload: repeat("\xfe", 125)}) },
	5:  func(s *session) { s.send(oneChop, rawFrame{fin: true, op: opPing, payload: repeat("\xfe", 126)}) },
	6:  func(s *session) { s.send(octetWise, rawFrame{fin: true, op: opPing, payload: repeat("\xfe", 125)}) },
	7:  func(s *session) { s.send(oneChop, pong("")) },
	8:  func(s *session) { s.send(oneChop, pong("unsolicited pong payload")) },
	9:  func(s *session) { s.send(oneChop, pong("unsolicited pong payload"), ping("ping payload")) },
	10: func(s *session) { tenPings(s, oneChop) },
	11: func(s *session) { tenPings(s, octetWise) },
}

func tenPings(s *session, chop int) {
	for i := 0; i < 10; i++ {
		s.send(chop, ping(fmt.Sprintf("payload-%d", i)))
	}
}

var rsvScripts = map[int]func(s *session){
	1: func(s *session) {
		s.send(oneChop, rawFrame{fin: true, rsv: 1, op: opText, payload: []byte("Hello, world!")})
	},
	2: rsvAfterMessage(2, ""),
	3: rsvAfterMessage(3, "frame"),
	4: rsvAfterMessage(4, "octet"),
	5: func(s *session) {
		s.send(oneChop, rawFrame{fin: true, rsv: 5, op: opBinary, payload: mustHex("00fffefdfcfb00ff")})
	},
	6: func(s *session) {
		s.send(oneChop, rawFrame{fin: true, rsv: 6, op: opPing, payload: []byte("Hello, world!")})
	},
	7: func(s *session) {
		s.send(oneChop, rawFrame{fin: true, rsv: 7, op: opClose, payload: closePayload(1000, "")})
	},
}

func rsvAfterMessage(rsv byte, mode string) func(s *session) {
	return func(s *session) {
		sendIn(s, mode, text("Hello, world!"), rawFrame{fin: true, rsv: rsv, op: opText, payload: []byte("Hello, world!")}, ping("Hello, world!"))
	}
}

func reservedOpcode(op byte, b int) func(s *session) {
	return func(s *session) {
		f := rawFrame{fin: true, op: op}
		if b%2 == 0 || b == 5 {
			f.payload = []byte("reserved opcode payload")
		}
		if b <= 2 {
			s.send(oneChop, f)
			return
		}
		s.send(oneChop, text("Hello, world!"), f, ping(""))
	}
}

var fragmentationScripts = map[int]func(s *session){
	1: func(s *session) {
		s.send(oneChop, frag(opPing, false, "fragment1"), frag(opCont, true, "fragment2"))
	},
	2: func(s *session) {
		s.send(oneChop, frag(opPong, false, "fragment1"), frag(opCont, true, "fragment2"))
	},
	3:  twoFragments(""),
	4:  twoFragments("frame"),
	5:  twoFragments("octet"),
	6:  twoFragmentsWithPing(""),
	7:  twoFragmentsWithPing("frame"),
	8:  twoFragmentsWithPing("octet"),
	9:  nothingToContinue(true, ""),
	10: nothingToContinue(true, "frame"),
	11: nothingToContinue(true, "octet"),
	12: nothingToContinue(false, ""),
	13: nothingToContinue(false, "frame"),
	14: nothingToContinue(false, "octet"),
	15: func(s *session) {
		s.send(oneChop, frag(opText, false, "fragment1"), frag(opCont, true, "fragment2"),
			frag(opCont, false, "fragment3"), frag(opText, true, "fragment4"))
	},
	16: repeatedNothingToContinue(false),
	17: repeatedNothingToContinue(true),
	18: func(s *session) {
		s.send(oneChop, frag(opText, false, "fragment1"), frag(opText, true, "fragment2"))
	},
	19: pingsBetweenFragments(false),
	20: pingsBetweenFragments(true),
}

func twoFragments(mode string) func(s *session) {
	return func(s *session) { sendIn(s, mode, frag(opText, false, "fragment1"), frag(opCont, true, "fragment2")) }
}

func twoFragmentsWithPing(mode string) func(s *session) {
	return func(s *session) {
		sendIn(s, mode, frag(opText, false, "fragment1"), ping("ping payload"), frag(opCont, true, "fragment2"))
	}
}

func nothingToContinue(fin bool, mode string) func(s *session) {
	return func(s *session) {
		sendIn(s, mode, frag(opCont, fin, "non-continuation payload"), text("Hello, world!"))
	}
}

func repeatedNothingToContinue(fin bool) func(s *session) {
	return func(s *session) {
		for i := 0; i < 2; i++ {
			s.send(oneChop, frag(opCont, fin, "fragment1"), frag(opText, false, "fragment2"), frag(opCont, true, "fragment3"))
		}
	}
}

func pingsBetweenFragments(sync bool) func(s *session) {
	return func(s *session) {
		send := func(frames ...rawFrame) {
			if sync {
				s.sendEach(frames...)
			} else {
				s.send(oneChop, frames...)
			}
		}
		send(frag(opText, false, "fragment1"), frag(opCont, false, "fragment2"), ping("pongme 1!"))
		time.Sleep(pause)
		send(frag(opCont, false, "fragment3"), frag(opCont, false, "fragment4"), ping("pongme 2!"), frag(opCont, true, "fragment5"))
	}
}

// defineUTF8 sets the scripts of group 6.
func defineUTF8(c *Case, a, b int) error {
	const hello = "Hello-µ@ßöäüàá-UTF-8!!"
	kosme := string(mustHex("cebae1bdb9cf83cebcceb5")) // κόσμε, with U+1F79
	switch {
	case a == 1 && b == 1:
		c.script = func(s *session) { s.send(oneChop, text("")) }
	case a == 1 && b == 2:
		c.script = func(s *session) {
			s.send(oneChop, frag(opText, false, ""), frag(opCont, false, ""), frag(opCont, true, ""))
		}
	case a == 1 && b == 3:
		c.script = func(s *session) {
			s.send(oneChop, frag(opText, false, ""), frag(opCont, false, "middle frame payload"), frag(opCont, true, ""))
		}
	case a == 2 && b == 1:
		c.script = func(s *session) { s.send(oneChop, text(hello)) }
	case a == 2 && b == 2:
		c.script = func(s *session) {
			s.send(oneChop, frag(opText, false, "Hello-µ@ßöä"), frag(opCont, true, "üàá-UTF-8!!"))
		}
	case a == 2 && b == 3:
		c.script = octetFragments([]byte(hello))
	case a == 2 && b == 4:
		c.script = octetFragments([]byte(kosme))
	case a == 3:
		msg := mustHex("cebae1bdb9cf83cebcceb5eda080656469746564")
		if b == 1 {
			c.script = func(s *session) { s.send(oneChop, rawFrame{fin: true, op: opText, payload: msg}) }
		} else {
			c.script = octetFragments(msg)
		}
	case a == 4:
		m := hexParts.FindStringSubmatch(c.Description)
		if m == nil {
			return fmt.Errorf("conformance: case %s: no message parts in the description", c.ID)
		}
		if m[3] == "" {
			// 6.4.4 is "the same as 6.4.2" in chops; the catalogue cuts its
			// third part, which is 6.4.2's.
			m[3] = "8080656469746564"
		}
		parts := [3][]byte{mustHex(m[1]), mustHex(m[2]), mustHex(m[3])}
		c.script = failFast(parts, b >= 3)
	default:
		m := hexPayload.FindStringSubmatch(c.Description)
		if m == nil {
			return fmt.Errorf("conformance: case %s: no payload in the description", c.ID)
		}
		p := mustHex(m[1])
		c.script = func(s *session) { s.send(oneChop, rawFrame{fin: true, op: opText, payload: p}) }
	}
	return nil
}

// octetFragments sends a text message as frames of one octet each.
func octetFragments(msg []byte) func(s *session) {
	return func(s *session) {
		var frames []rawFrame
		for i := range msg {
			op := byte(opCont)
			if i == 0 {
				op = opText
			}
			frames = append(frames, rawFrame{fin: i == len(msg)-1, op: op, payload: msg[i : i+1]})
		}
		s.send(oneChop, frames...)
	}
}

// failFast sends a message in three parts, as three frames or as three
// chops of one frame, waiting after the first two: a peer that validates
// UTF-8 as it arrives fails the connection during the second wait.
func failFast(parts [3][]byte, chops bool) func(s *session) {
	return func(s *session) {
		if chops {
			all := append(append(append([]byte(nil), parts[0]...), parts[1]...), parts[2]...)
			wire := rawFrame{fin: true, op: opText, payload: all}.encode(!s.isServer)
			head := len(wire) - len(all)
			s.write(wire[:head+len(parts[0])])
			if s.timeoutMarker("A", failFastWindow) {
				s.write(wire[head+len(parts[0]) : head+len(parts[0])+len(parts[1])])
				if s.timeoutMarker("B", failFastWindow) {
					s.write(wire[head+len(parts[0])+len(parts[1]):])
				}
			}
			return
		}
		s.send(oneChop, rawFrame{op: opText, payload: parts[0]})
		if s.timeoutMarker("A", failFastWindow) {
			s.send(oneChop, rawFrame{op: opCont, payload: parts[1]})
			if s.timeoutMarker("B", failFastWindow) {
				s.send(oneChop, rawFrame{fin: true, op: opCont, payload: parts[2]})
			}
		}
	}
}

var closeCodes = map[int][]int{
	7:  {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999},
	9:  {0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999},
	13: {5000, 65535},
}

// defineClosing sets the scripts of group 7.
func defineClosing(c *Case, a, b int) error {
	closeWith := func(p []byte) func(s *session) {
		return func(s *session) { s.sendClose(p, false) }
	}
	switch a {
	case 1:
		hello := text("Hello World!")
		c.script = map[int]func(s *session){
			1: func(s *session) { s.send(oneChop, hello) }, // and close once it is echoed
			2: func(s *session) {
				s.sendClose(closePayload(1000, ""), false)
				s.send(oneChop, closeFrame(nil))
			},
			3: func(s *session) { s.sendClose(closePayload(1000, ""), false); s.send(oneChop, ping("Hello World!")) },
			4: func(s *session) { s.sendClose(closePayload(1000, ""), false); s.send(oneChop, hello) },
			5: func(s *session) {
				s.send(oneChop, frag(opText, false, "fragment1"))
				s.sendClose(closePayload(1000, ""), false)
				s.send(oneChop, frag(opCont, true, "fragment2"))
			},
			6: func(s *session) {
				s.send(oneChop, rawFrame{fin: true, op: opText, payload: repeat("BAsd7&jh23", 256<<10)}, hello)
				s.sendClose(closePayload(1000, ""), false)
				s.send(oneChop, ping("Hello World!"))
			},
		}[b]
	case 3:
		c.script = map[int]func(s *session){
			1: closeWith(nil),
			2: closeWith([]byte("a")),
			3: closeWith(closePayload(1000, "")),
			4: closeWith(closePayload(1000, "Hello World!")),
			5: closeWith(closePayload(1000, string(repeat("*", 123)))),
			6: closeWith(closePayload(1000, string(repeat("*", 124)))),
		}[b]
	case 5:
		c.script = closeWith(append(closePayload(1000, ""), mustHex("cebae1bdb9cf83cebcceb5eda080656469746564")...))
	case 7, 9, 13:
		codes := closeCodes[a]
		if b < 1 || b > len(codes) {
			return fmt.Errorf("conformance: no close code for case %s", c.ID)
		}
		c.script = closeWith(closePayload(codes[b-1], ""))
	}
	if c.script == nil {
		return fmt.Errorf("conformance: no script for case %s", c.ID)
	}
	return nil
}

// limitsScript sets the scripts of group 9.
func limitsScript(a, b int) func(s *session) {
	textOf := func(n int) []byte { return repeat("BAsd7&jh23", n) }
	binOf := func(n int) []byte { return repeat("\xfe\xed\xfa\xce", n) }
	switch a {
	case 1, 2:
		sizes := []int{64 << 10, 256 << 10, 1 << 20, 4 << 20, 8 << 20, 16 << 20}
		n := sizes[b-1]
		if a == 1 {
			return func(s *session) { echo(s, oneChop, rawFrame{fin: true, op: opText, payload: textOf(n)}) }
		}
		return func(s *session) { echo(s, oneChop, bin(binOf(n))) }
	case 3, 4:
		sizes := []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20}
		n := sizes[b-1]
		if a == 3 {
			return func(s *session) { echoFragmented(s, opText, textOf(4<<20), n) }
		}
		return func(s *session) { echoFragmented(s, opBinary, binOf(4<<20), n) }
	case 5, 6:
		chop := 64 << (b - 1)
		if a == 5 {
			return func(s *session) { echo(s, chop, rawFrame{fin: true, op: opText, payload: textOf(1 << 20)}) }
		}
		return func(s *session) { echo(s, chop, bin(binOf(1<<20))) }
	case 7, 8:
		sizes := []int{0, 16, 64, 256, 1024, 4096}
		n := sizes[b-1]
		return func(s *session) {
			for i := 0; i < 1000 && s.failed == ""; i++ {
				f := rawFrame{fin: true, op: opText, payload: textOf(n)}
				if a == 8 {
					f = bin(binOf(n))
				}
				s.resetEvents() // round trips are checked one by one
				echo(s, oneChop, f)
			}
		}
	}
	return nil
}

// group returns the first number of a case id.
func group(id string) string { return strings.SplitN(id, ".", 2)[0] }
