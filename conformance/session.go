package conformance

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// Event is something the fuzzer observed from the peer under test, as
// Autobahn records it: a whole message, a pong, or a timeout marker that
// the case's script passed without the connection being closed.
type Event struct {
	Kind    string // "message", "pong" or "timeout"
	Payload []byte // message or pong payload, or the timeout's marker
	Binary  bool   // for messages
}

// Timing of the fuzzer. Autobahn waits whole seconds; these are shorter but
// leave a loopback peer plenty of time.
var (
	// settleTimeout bounds the wait for the expected events before the
	// fuzzer starts the closing handshake.
	settleTimeout = 2 * time.Second
	// failTimeout is how long the fuzzer waits for the peer to fail the
	// connection, in cases where it must.
	failTimeout = 2 * time.Second
	// closeTimeout bounds each wait of the closing handshake.
	closeTimeout = 2 * time.Second
	// pause stands for Autobahn's one-second waits inside a case.
	pause = 100 * time.Millisecond
	// failFastWindow is how long the peer has to fail on invalid UTF-8
	// before the fuzzer sends the rest (cases 6.4.x).
	failFastWindow = 500 * time.Millisecond
)

// maxFrame is the largest frame the fuzzer reads (cases go up to 16 MiB).
const maxFrame = 64 << 20

// session is one case played on one connection.
type session struct {
	nc       net.Conn
	br       *bufio.Reader
	isServer bool // the fuzzer is the server, the peer a client
	deflate  *deflateSession

	wmu sync.Mutex // serializes writes

	mu             sync.Mutex
	changed        chan struct{} // closed and renewed on every change below
	events         []Event
	violations     []string // protocol errors the peer made
	localCode      int      // code of the close frame the fuzzer sent, -1 for none
	localPayload   []byte
	remoteCode     int // code of the close frame the peer sent, -1 none, 1005 empty
	remoteReason   string
	closedByMe     bool // the fuzzer sent close first
	closeStarted   bool
	peerDroppedTCP bool // TCP ended from the peer's side
	droppedByMe    bool // the fuzzer cut TCP because the peer did not end it in time
	tcpClosedByMe  bool // the fuzzer closed TCP (as a server, or dropping)
	readerDone     chan struct{}
	failed         string // a script's own check failed (9.x echo contents)

	// message being assembled
	msgOp   byte
	msgRSV  byte
	msgBuf  []byte
	inFrags bool
}

func newSession(nc net.Conn, br *bufio.Reader, isServer bool, d *deflateSession) *session {
	s := &session{
		nc: nc, br: br, isServer: isServer, deflate: d,
		changed: make(chan struct{}), localCode: -1, remoteCode: -1,
		readerDone: make(chan struct{}),
	}
	go s.readLoop()
	return s
}

// notify wakes waiters; s.mu must be held.
func (s *session) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitFor waits until cond (checked with s.mu held) is true, the reader is
// done, or the timeout passes; it reports cond.
func (s *session) waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-s.readerDone:
			s.mu.Lock()
			ok := cond()
			s.mu.Unlock()
			return ok
		case <-deadline.C:
			return false
		}
	}
}

func (s *session) violation(format string, args ...any) {
	s.mu.Lock()
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
	s.notify()
	s.mu.Unlock()
}

func (s *session) addEvent(e Event) {
	s.mu.Lock()
	s.events = append(s.events, e)
	s.notify()
	s.mu.Unlock()
}

// readLoop records what the peer sends, answers its pings and closes.
func (s *session) readLoop() {
	defer close(s.readerDone)
	for {
		f, err := readFrame(s.br, maxFrame)
		if err != nil {
			s.mu.Lock()
			if !s.tcpClosedByMe && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)) {
				s.peerDroppedTCP = true
			}
			s.notify()
			s.mu.Unlock()
			return
		}
		if f.masked != s.isServer {
			s.violation("frame masking wrong for a %s (masked=%v)", map[bool]string{true: "client", false: "server"}[s.isServer], f.masked)
		}
		switch f.op {
		case opText, opBinary, opCont:
			s.onData(f)
		case opPing:
			s.write(rawFrame{fin: true, op: opPong, payload: f.payload}.encode(!s.isServer))
		case opPong:
			s.addEvent(Event{Kind: "pong", Payload: f.payload})
		case opClose:
			s.onClose(f.payload)
		default:
			s.violation("reserved opcode %d from the peer", f.op)
		}
	}
}

// onData assembles messages from data frames.
func (s *session) onData(f rawFrame) {
	if f.op != opCont {
		if s.inFrags {
			s.violation("new message inside a fragmented one")
		}
		s.msgOp, s.msgRSV, s.msgBuf, s.inFrags = f.op, f.rsv, s.msgBuf[:0], true
	} else if !s.inFrags {
		s.violation("continuation frame without a message")
		return
	}
	s.msgBuf = append(s.msgBuf, f.payload...)
	if !f.fin {
		return
	}
	s.inFrags = false
	payload := append([]byte(nil), s.msgBuf...)
	if s.msgRSV&4 != 0 {
		if s.deflate == nil {
			s.violation("compressed message without permessage-deflate")
			return
		}
		var err error
		if payload, err = s.deflate.decompress(payload); err != nil {
			s.violation("undecodable compressed message: %v", err)
			return
		}
	} else if s.msgRSV != 0 {
		s.violation("reserved bits %d on a message", s.msgRSV)
	}
	if s.msgOp == opText && !utf8.Valid(payload) {
		s.violation("text message that is not UTF-8")
	}
	s.addEvent(Event{Kind: "message", Payload: payload, Binary: s.msgOp == opBinary})
}

// onClose handles the peer's close frame: record it, answer it, and end
// TCP if the fuzzer is the server.
func (s *session) onClose(p []byte) {
	code, reason := 1005, ""
	if len(p) >= 2 {
		code, reason = int(binary.BigEndian.Uint16(p)), string(p[2:])
	}
	s.mu.Lock()
	s.remoteCode, s.remoteReason = code, reason
	first := !s.closeStarted
	s.closeStarted = true
	answer := s.localCode == -1
	s.notify()
	s.mu.Unlock()
	if answer {
		echo := p
		if len(p) > 2 {
			echo = p[:2]
		}
		if !first {
			echo = nil
		}
		s.sendClosePayload(echo)
	}
	if s.isServer {
		// The server closes TCP once the handshake is done.
		s.closeTCP()
	}
}

// closeTCP closes the connection from the fuzzer's side.
func (s *session) closeTCP() {
	s.mu.Lock()
	s.tcpClosedByMe = true
	s.mu.Unlock()
	s.nc.Close()
}

// wasClean tells whether the closing handshake was complete and TCP ended
// the way it should: closed by the server after the handshake.
func (s *session) wasClean() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	handshake := s.localCode != -1 && s.remoteCode != -1
	if s.isServer {
		return handshake && !s.peerDroppedTCP && !s.droppedByMe
	}
	return handshake && s.peerDroppedTCP && !s.droppedByMe
}

// write sends bytes, ignoring errors (the peer may have closed: the
// outcome is judged from what the fuzzer observes).
func (s *session) write(b []byte) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	s.nc.Write(b)
}

// send writes frames: all in one write (chop 0), or in writes of chop
// bytes each.
func (s *session) send(chop int, frames ...rawFrame) {
	var b []byte
	for _, f := range frames {
		if s.deflate != nil && f.rsv&4 != 0 && f.op != opCont {
			// The case wants this message compressed.
			f.payload = s.deflate.compress(f.payload)
		}
		b = append(b, f.encode(!s.isServer)...)
	}
	if chop <= 0 {
		s.write(b)
		return
	}
	for len(b) > 0 {
		n := min(chop, len(b))
		s.write(b[:n])
		b = b[n:]
	}
}

// sendPrecompressed writes frames whose payloads are already compressed.
func (s *session) sendPrecompressed(frames []rawFrame) {
	var b []byte
	for _, f := range frames {
		b = append(b, f.encode(!s.isServer)...)
	}
	s.write(b)
}

// sendEach writes each frame with its own write (Autobahn's frame-wise
// chops).
func (s *session) sendEach(frames ...rawFrame) {
	for _, f := range frames {
		s.send(0, f)
	}
}

// sendClosePayload sends a close frame with a raw payload.
func (s *session) sendClosePayload(p []byte) {
	s.mu.Lock()
	if s.localCode == -1 {
		s.localCode = 1005
		if len(p) >= 2 {
			s.localCode = int(binary.BigEndian.Uint16(p))
		}
		s.localPayload = p
	}
	if !s.closeStarted {
		s.closeStarted, s.closedByMe = true, true
	}
	s.notify()
	s.mu.Unlock()
	s.send(0, rawFrame{fin: true, op: opClose, payload: p})
}

// closed reports whether the peer's close frame arrived or TCP ended.
func (s *session) closedLocked() bool {
	select {
	case <-s.readerDone:
		return true
	default:
	}
	return s.remoteCode != -1
}

// timeoutMarker waits d; if the connection is still open then, it records
// the marker and reports true.
func (s *session) timeoutMarker(marker string, d time.Duration) bool {
	if s.waitFor(d, s.closedLocked) {
		return false
	}
	s.addEvent(Event{Kind: "timeout", Payload: []byte(marker)})
	return true
}

// messages returns the messages received so far.
func (s *session) messages() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Event
	for _, e := range s.events {
		if e.Kind == "message" {
			out = append(out, e)
		}
	}
	return out
}

// expectEchoes waits for n messages and checks them against want (the
// messages sent), recording a failure if they differ.
func (s *session) expectEchoes(want []Event, timeout time.Duration) {
	s.waitFor(timeout, func() bool {
		n := 0
		for _, e := range s.events {
			if e.Kind == "message" {
				n++
			}
		}
		return n >= len(want) || s.remoteCode != -1
	})
	got := s.messages()
	if len(got) != len(want) {
		s.failed = fmt.Sprintf("%d echoes received, %d expected", len(got), len(want))
		return
	}
	for i := range want {
		if got[i].Binary != want[i].Binary || !bytes.Equal(got[i].Payload, want[i].Payload) {
			s.failed = fmt.Sprintf("echo %d differs from the message sent", i)
			return
		}
	}
}

// finish ends the case: it waits for what the case expects, starts or
// awaits the closing handshake, and waits for TCP to end.
func (s *session) finish(c *Case) {
	s.mu.Lock()
	started := s.closeStarted
	s.mu.Unlock()
	if !started {
		if c.Close.ClosedByMe {
			want := len(c.Expected["OK"])
			s.waitFor(settleTimeout, func() bool {
				n := 0
				for _, e := range s.events {
					if e.Kind != "timeout" {
						n++
					}
				}
				return n >= want || s.closedLocked()
			})
			s.mu.Lock()
			started = s.closeStarted
			s.mu.Unlock()
			if !started {
				s.sendClosePayload(closePayload(1000, ""))
			}
		} else {
			s.waitFor(failTimeout, func() bool { return s.closeStarted || s.closedLocked() })
		}
	}
	// The closing handshake: the peer's close frame, then the end of TCP.
	s.waitFor(closeTimeout, s.closedLocked)
	if s.isServer {
		s.mu.Lock()
		if s.remoteCode == -1 {
			s.droppedByMe = true
		}
		s.mu.Unlock()
		s.closeTCP()
	} else {
		select {
		case <-s.readerDone:
		case <-time.After(closeTimeout):
			s.mu.Lock()
			s.droppedByMe = true
			s.mu.Unlock()
			s.closeTCP()
		}
	}
	<-s.readerDone
}
