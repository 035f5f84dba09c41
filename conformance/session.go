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

// maxFrame is the largest frame the fuzzer reads (cases go up to 16 MiB).
const maxFrame = 64 << 20

// writeChunk is the most the fuzzer hands to one Write call, so that a
// peer that reads slowly but steadily never runs into the write timeout.
const writeChunk = 64 << 10

// WebSocket states of the fuzzer's side of a connection, as Autobahn's
// protocol has them.
const (
	stateOpen    = iota
	stateClosing // a close frame was sent
	stateClosed  // TCP is gone
)

// session is one case played on one connection. Its closing machinery is
// Autobahn's (autobahn.websocket.protocol): the fuzzer fails the connection
// on the peer's protocol errors by sending a close frame, answers a close
// frame with 1000, and as a server drops TCP as soon as the closing
// handshake is done.
type session struct {
	nc       net.Conn
	br       *bufio.Reader
	isServer bool // the fuzzer is the server, the peer a client
	deflate  *deflateSession
	timing   Timing

	wmu      sync.Mutex // serializes writes
	writeErr error      // the first write that failed; nothing is written after it

	mu         sync.Mutex
	changed    chan struct{} // closed and renewed on every change below
	events     []Event
	violations []string // protocol errors the peer made
	state      int

	closedByMe  bool // the fuzzer sent the first close frame
	failedByMe  bool // the fuzzer failed the connection (protocol error or timeout)
	droppedByMe bool // the fuzzer closed TCP
	wasClean    bool // closing handshake done, and TCP ended by the server

	wasNotCleanReason              string
	wasServerConnectionDropTimeout bool
	wasCloseHandshakeTimeout       bool

	localCode    int // code of the close frame the fuzzer sent, -1 for none or no code
	localReason  []byte
	gotClose     bool // a close frame arrived
	remoteCode   int  // code of the peer's close frame, -1 for none or no code
	remoteReason []byte

	peerDroppedTCP bool // TCP ended from the peer's side
	readerDone     chan struct{}
	failed         string // a script's own check failed (9.x echo contents)

	// message being assembled
	msgOp   byte
	msgRSV  byte
	msgBuf  []byte
	inFrags bool
}

func newSession(nc net.Conn, br *bufio.Reader, isServer bool, d *deflateSession, t Timing) *session {
	s := &session{
		nc: nc, br: br, isServer: isServer, deflate: d, timing: t.withDefaults(),
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

// protocolViolation records a protocol error of the peer and fails the
// connection with 1002, as Autobahn does.
func (s *session) protocolViolation(format string, args ...any) {
	s.recordViolation(format, args...)
	s.failConnection(1002, "protocol violation")
}

// invalidPayload records invalid UTF-8 from the peer and fails the
// connection with 1007.
func (s *session) invalidPayload(format string, args ...any) {
	s.recordViolation(format, args...)
	s.failConnection(1007, "invalid payload")
}

func (s *session) recordViolation(format string, args ...any) {
	s.mu.Lock()
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
	s.notify()
	s.mu.Unlock()
}

// failConnection is Autobahn's failConnection: a close frame while the
// connection is open, a dropped TCP connection while it is closing.
func (s *session) failConnection(code int, reason string) {
	s.mu.Lock()
	st := s.state
	if st != stateClosed {
		s.failedByMe = true
	}
	s.mu.Unlock()
	switch st {
	case stateOpen:
		s.sendClose(closePayload(code, reason), false)
	case stateClosing:
		s.drop("")
	}
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
			if !s.droppedByMe && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)) {
				s.peerDroppedTCP = true
			}
			if !s.wasClean && !s.droppedByMe && s.wasNotCleanReason == "" {
				s.wasNotCleanReason = "peer dropped the TCP connection without previous WebSocket closing handshake"
			}
			s.state = stateClosed
			s.notify()
			s.mu.Unlock()
			return
		}
		s.checkFrame(f)
		switch f.op {
		case opText, opBinary, opCont:
			s.onData(f)
		case opPing:
			s.mu.Lock()
			open := s.state == stateOpen
			s.mu.Unlock()
			if open {
				s.writeFrames(rawFrame{fin: true, op: opPong, payload: f.payload})
			}
		case opPong:
			s.addEvent(Event{Kind: "pong", Payload: f.payload})
		case opClose:
			s.onClose(f.payload)
		}
	}
}

// checkFrame applies RFC 6455 §5.2 to a frame header from the peer.
func (s *session) checkFrame(f rawFrame) {
	if f.masked != s.isServer {
		s.protocolViolation("frame masking wrong for a %s (masked=%v)", map[bool]string{true: "client", false: "server"}[s.isServer], f.masked)
	}
	if f.rsv != 0 && !(s.deflate != nil && f.rsv == 4) {
		s.protocolViolation("reserved bits %d and no extension negotiated", f.rsv)
	}
	switch {
	case f.op >= 8:
		if !f.fin {
			s.protocolViolation("fragmented control frame")
		}
		if len(f.payload) > 125 {
			s.protocolViolation("control frame of %d bytes", len(f.payload))
		}
		if f.op > opPong {
			s.protocolViolation("reserved control opcode %d", f.op)
		}
		if f.op == opClose && len(f.payload) == 1 {
			s.protocolViolation("close frame with a 1-byte payload")
		}
		if f.rsv == 4 {
			s.protocolViolation("compressed control frame")
		}
	case f.op > opBinary:
		s.protocolViolation("reserved data opcode %d", f.op)
	case f.op == opCont && f.rsv == 4:
		s.protocolViolation("continuation frame with the compression bit")
	}
}

// onData assembles messages from data frames.
func (s *session) onData(f rawFrame) {
	if f.op != opCont {
		if s.inFrags {
			s.protocolViolation("new message inside a fragmented one")
		}
		s.msgOp, s.msgRSV, s.msgBuf, s.inFrags = f.op, f.rsv, s.msgBuf[:0], true
	} else if !s.inFrags {
		s.protocolViolation("continuation frame without a message")
		return
	}
	s.msgBuf = append(s.msgBuf, f.payload...)
	if !f.fin {
		return
	}
	s.inFrags = false
	payload := append([]byte(nil), s.msgBuf...)
	if s.msgRSV&4 != 0 && s.deflate != nil {
		var err error
		if payload, err = s.deflate.decompress(payload); err != nil {
			s.protocolViolation("undecodable compressed message: %v", err)
			return
		}
	}
	if s.msgOp == opText && !utf8.Valid(payload) {
		s.invalidPayload("text message that is not UTF-8")
	}
	s.addEvent(Event{Kind: "message", Payload: payload, Binary: s.msgOp == opBinary})
}

// onClose is Autobahn's onCloseFrame: record the peer's close frame, answer
// it with 1000 if the fuzzer had not closed yet, and as a server drop TCP.
func (s *session) onClose(p []byte) {
	code, reason := -1, []byte(nil)
	if len(p) >= 2 {
		code = int(binary.BigEndian.Uint16(p))
	}
	if len(p) > 2 {
		reason = p[2:]
	}
	s.mu.Lock()
	s.gotClose, s.remoteCode, s.remoteReason = true, code, reason
	s.notify()
	s.mu.Unlock()
	if code != -1 && !validCloseCode(code) {
		s.protocolViolation("invalid close code %d", code)
	}
	if !utf8.Valid(reason) {
		s.invalidPayload("close reason that is not UTF-8")
	}
	s.mu.Lock()
	st := s.state
	if st != stateClosed {
		s.wasClean = true
	}
	s.mu.Unlock()
	if st == stateOpen {
		s.sendClose(closePayload(1000, ""), true)
	}
	if s.isServer && st != stateClosed {
		// RFC 6455 §7.1.1: the server closes TCP first.
		s.drop("")
	}
}

// validCloseCode reports whether a peer may send code (RFC 6455 §7.4).
func validCloseCode(code int) bool {
	switch {
	case code < 1000 || code >= 5000:
		return false
	case code <= 2999:
		return code <= 1003 || (code >= 1007 && code <= 1011)
	}
	return true
}

// drop closes TCP from the fuzzer's side; a non-empty reason makes the
// closing unclean.
func (s *session) drop(notClean string) {
	s.mu.Lock()
	if s.state != stateClosed {
		s.droppedByMe = true
		s.state = stateClosed
	}
	if notClean != "" {
		s.wasClean = false
		if s.wasNotCleanReason == "" {
			s.wasNotCleanReason = notClean
		}
	}
	s.notify()
	s.mu.Unlock()
	s.nc.Close()
}

// write sends bytes in chunks, each with the write timeout. A failed write
// may have left a frame half sent, so nothing is written after it: the
// peer sees the connection end instead of a corrupt stream.
func (s *session) write(b []byte) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for len(b) > 0 && s.writeErr == nil {
		n := min(len(b), writeChunk)
		if err := s.nc.SetWriteDeadline(time.Now().Add(s.timing.Write)); err != nil {
			s.writeErr = err
			break
		}
		if _, err := s.nc.Write(b[:n]); err != nil {
			s.writeErr = err
			break
		}
		b = b[n:]
	}
}

// writeFailed reports the first failed write, if any.
func (s *session) writeFailed() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.writeErr
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

// writeFrames writes frames as they are, in one write.
func (s *session) writeFrames(frames ...rawFrame) {
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

// sendClose is Autobahn's sendCloseFrame: it sends a close frame with a raw
// payload if the connection is open, and is ignored otherwise.
func (s *session) sendClose(p []byte, isReply bool) {
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return
	}
	s.state = stateClosing
	s.closedByMe = !isReply
	s.localCode, s.localReason = -1, nil
	switch {
	case len(p) >= 2:
		s.localCode = int(binary.BigEndian.Uint16(p))
		if len(p) > 2 {
			s.localReason = p[2:]
		}
	case len(p) == 1:
		s.localReason = p
	}
	s.notify()
	s.mu.Unlock()
	s.writeFrames(rawFrame{fin: true, op: opClose, payload: p})
}

// openLocked reports whether the connection is still open: no close frame
// sent or received, TCP up.
func (s *session) openLocked() bool { return s.state == stateOpen && !s.gotClose }

// timeoutMarker waits d; if the connection is still open then, it records
// the marker and reports true.
func (s *session) timeoutMarker(marker string, d time.Duration) bool {
	if s.waitFor(d, func() bool { return !s.openLocked() }) {
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

// resetEvents forgets the events so far (round trips checked one by one).
func (s *session) resetEvents() {
	s.mu.Lock()
	s.events = s.events[:0]
	s.mu.Unlock()
}

// expectEchoes waits for len(want) messages and checks them against want
// (the messages sent), recording a failure if they differ.
func (s *session) expectEchoes(want []Event) {
	s.waitFor(s.timing.Echo, func() bool {
		n := 0
		for _, e := range s.events {
			if e.Kind == "message" {
				n++
			}
		}
		return n >= len(want) || s.gotClose || s.state == stateClosed
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

// finish ends the case as Autobahn's timers do. Where the fuzzer closes,
// it waits for the expected events and then sends close with the case's
// first code (finishWhenDone); if they do not come, the case's own timer
// ends it: killAfter fails the connection with 1001, closeAfter sends an
// empty close frame. Where the peer must fail the connection, the fuzzer
// waits for that and otherwise kills. Then the closing handshake: the
// peer's close frame within the close timeout (else the fuzzer drops TCP,
// unclean), and, with the fuzzer as a client, the server's end of TCP
// (else the fuzzer drops it: unclean after closeAfter; after killAfter,
// Autobahn's kill timer drops first, which leaves the closing clean).
func (s *session) finish(c *Case) {
	if c.Close.ClosedByMe {
		ok := c.Expected[OK]
		matched := s.waitFor(s.timing.Settle, func() bool {
			if !s.openLocked() || len(c.Expected) == 0 {
				return true // the script has checked its echoes
			}
			obs := notation(s.events)
			// More events never match again: stop waiting.
			return sameEvents(obs, ok) || (len(c.Expected) == 1 && len(obs) >= len(ok))
		})
		s.mu.Lock()
		open := s.openLocked()
		matched = matched && len(c.Expected) == 1 && sameEvents(notation(s.events), ok)
		s.mu.Unlock()
		switch {
		case !open:
		case len(c.Expected) == 0 && s.failed == "":
			s.sendClose(closePayload(1000, ""), false)
		case matched && len(ok) > 0:
			// finishWhenDone runs on an event; with nothing expected,
			// the case's timer ends it.
			s.sendClose(closePayload(c.Close.Codes[0], ""), false)
		default:
			s.endByTimer(c)
		}
	} else if !s.waitFor(s.timing.Fail, func() bool { return !s.openLocked() }) {
		s.endByTimer(c)
	}

	// The closing handshake: the peer's close frame, then the end of TCP.
	s.mu.Lock()
	weClosed := s.state == stateClosing && !s.gotClose
	s.mu.Unlock()
	if weClosed && !s.waitFor(s.timing.Close, func() bool { return s.gotClose || s.state == stateClosed }) {
		s.mu.Lock()
		s.wasCloseHandshakeTimeout = true
		s.mu.Unlock()
		s.drop("peer did not respond (in time) in closing handshake")
	}
	if !s.waitFor(s.timing.Drop, func() bool { return s.state == stateClosed }) {
		switch {
		case s.isServer:
			s.drop("")
		case killedByTimer(c.ID):
			s.failConnection(1001, "Going Away")
		default:
			s.mu.Lock()
			s.wasServerConnectionDropTimeout = true
			s.mu.Unlock()
			s.drop("server did not drop TCP connection (in time)")
		}
	}
	<-s.readerDone
}

// endByTimer ends a case whose events did not come in time.
func (s *session) endByTimer(c *Case) {
	if killedByTimer(c.ID) {
		s.failConnection(1001, "Going Away")
		return
	}
	s.sendClose(nil, false)
}
