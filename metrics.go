package websock

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
)

// Metrics counts what happens on the connections that share it
// (ConnOptions.Metrics): connections opened and ended, handshakes refused,
// messages and bytes each way, close codes, timeouts. An application reads
// the counts with Snapshot, for instance to export them to a monitoring
// system when it is scraped.
//
// Counting costs a few atomic additions per message and nothing when
// ConnOptions.Metrics is nil; it never allocates. The zero value is ready
// to use, and a Metrics is safe for concurrent use. It must not be copied
// after first use.
type Metrics struct {
	conns    [2]sideCounts // by side: server, client
	refused  [refusedSlots]atomic.Uint64
	received [2]flowCounts // by MessageType - 1
	sent     [2]flowCounts
	closeIn  [closeCodeSlots]atomic.Uint64
	closeOut [closeCodeSlots]atomic.Uint64
	timeouts [timeoutKinds]atomic.Uint64
}

type sideCounts struct {
	opened, closed atomic.Uint64
	_              [48]byte // a cache line of its own
}

// flowCounts counts the messages of one type in one direction. Each has a
// cache line of its own, so that the reading and the writing goroutines of
// the connections do not slow each other down.
type flowCounts struct {
	messages, payload, wire atomic.Uint64
	_                       [40]byte
}

// HTTP statuses 100 to 599 are counted one by one.
const (
	minRefusedStatus = 100
	refusedSlots     = 500
)

// Close codes are counted one by one: those of RFC 6455 (1000 to 1015) and
// the private ones (3000 to 4999), which are all a close frame may carry.
const (
	closeCodeSlots = 16 + 2000
)

// closeSlot returns the index of code's counter, or -1.
func closeSlot(code int) int {
	switch {
	case code >= 1000 && code < 1016:
		return code - 1000
	case code >= 3000 && code < 5000:
		return code - 3000 + 16
	}
	return -1
}

// slotCode is the inverse of closeSlot.
func slotCode(slot int) StatusCode {
	if slot < 16 {
		return StatusCode(1000 + slot)
	}
	return StatusCode(3000 + slot - 16)
}

// Kinds of timeout, in the order of MetricsSnapshot's fields.
const (
	timeoutKeepalive = iota
	timeoutIdle
	timeoutMessage
	timeoutWrite
	timeoutClose
	timeoutHandshake
	timeoutKinds
)

// MetricsSnapshot is what a Metrics has counted, read at one moment. Each
// count is read atomically, but not all of them at the same instant;
// Opened is never less than Closed.
type MetricsSnapshot struct {
	// Connections opened (their handshake done, or the server's 101 being
	// written) and ended (TCP closed), by side. Opened minus Closed is
	// the number open.
	ServerOpened, ServerClosed uint64
	ClientOpened, ClientClosed uint64

	// HandshakesRefused counts opening handshakes that ended with an HTTP
	// status instead of 101, by status: refused by Accept (including
	// ConnSet's 503), or by the server Dial contacted.
	HandshakesRefused map[int]uint64

	// Messages read whole from the peer and written whole to it, by type.
	// Messages a read or write failed in the middle of are not counted.
	Received, Sent map[MessageType]MessageCounts

	// CloseSent and CloseReceived count close frames by their status code
	// (StatusNoStatus for a frame without one).
	CloseSent, CloseReceived map[StatusCode]uint64

	// Connections ended by a timeout, by kind: keepalive
	// (ErrKeepaliveTimeout), IdleTimeout, MessageTimeout, WriteTimeout,
	// the closing handshake (ErrCloseTimeout), the opening handshake
	// (HandshakeTimeout: writing Accept's response, or Dial).
	KeepaliveTimeouts, IdleTimeouts, MessageTimeouts uint64
	WriteTimeouts, CloseTimeouts, HandshakeTimeouts  uint64
}

// MessageCounts counts the messages of one type in one direction.
type MessageCounts struct {
	Messages     uint64
	PayloadBytes uint64 // message payload, uncompressed
	WireBytes    uint64 // frame payloads on the wire: compressed, if it was
}

// Snapshot returns the counts so far. It allocates its maps; call it when
// the counts are needed (at a scrape), not per message.
func (m *Metrics) Snapshot() MetricsSnapshot {
	// Ended before opened: a connection that opens and ends between the
	// two loads then counts as opened only, never as ended only, and
	// opened minus closed cannot go below zero.
	serverClosed, clientClosed := m.conns[0].closed.Load(), m.conns[1].closed.Load()
	s := MetricsSnapshot{
		ServerOpened: m.conns[0].opened.Load(), ServerClosed: serverClosed,
		ClientOpened: m.conns[1].opened.Load(), ClientClosed: clientClosed,
		HandshakesRefused: map[int]uint64{},
		Received:          map[MessageType]MessageCounts{},
		Sent:              map[MessageType]MessageCounts{},
		CloseSent:         map[StatusCode]uint64{},
		CloseReceived:     map[StatusCode]uint64{},

		KeepaliveTimeouts: m.timeouts[timeoutKeepalive].Load(),
		IdleTimeouts:      m.timeouts[timeoutIdle].Load(),
		MessageTimeouts:   m.timeouts[timeoutMessage].Load(),
		WriteTimeouts:     m.timeouts[timeoutWrite].Load(),
		CloseTimeouts:     m.timeouts[timeoutClose].Load(),
		HandshakeTimeouts: m.timeouts[timeoutHandshake].Load(),
	}
	for i := range m.refused {
		if n := m.refused[i].Load(); n != 0 {
			s.HandshakesRefused[minRefusedStatus+i] = n
		}
	}
	for _, typ := range []MessageType{TextMessage, BinaryMessage} {
		s.Received[typ] = m.received[typ-1].load()
		s.Sent[typ] = m.sent[typ-1].load()
	}
	for i := range m.closeOut {
		if n := m.closeOut[i].Load(); n != 0 {
			s.CloseSent[slotCode(i)] = n
		}
		if n := m.closeIn[i].Load(); n != 0 {
			s.CloseReceived[slotCode(i)] = n
		}
	}
	return s
}

func (f *flowCounts) load() MessageCounts {
	return MessageCounts{Messages: f.messages.Load(), PayloadBytes: f.payload.Load(), WireBytes: f.wire.Load()}
}

func (f *flowCounts) add(payload, wire int64) {
	f.messages.Add(1)
	f.payload.Add(uint64(payload))
	f.wire.Add(uint64(wire))
}

// side returns the index of a connection's side in Metrics.conns.
func side(server bool) int {
	if server {
		return 0
	}
	return 1
}

// The methods below are what the connections call. Each does nothing on a
// nil *Metrics, and is small enough to be inlined, so that a connection
// without Metrics pays one nil check per event.

// opened counts a new connection.
func (m *Metrics) opened(server bool) {
	if m != nil {
		m.conns[side(server)].opened.Add(1)
	}
}

// refusedHandshake counts a handshake refused with an HTTP status.
func (m *Metrics) refusedHandshake(status int) {
	if m != nil && status >= minRefusedStatus && status < minRefusedStatus+refusedSlots {
		m.refused[status-minRefusedStatus].Add(1)
	}
}

// handshakeTimedOut counts an opening handshake that ran out of time.
func (m *Metrics) handshakeTimedOut() {
	if m != nil {
		m.timeouts[timeoutHandshake].Add(1)
	}
}

// messageReceived counts a message read whole: payload bytes delivered,
// wire bytes of its frames' payloads.
func (m *Metrics) messageReceived(typ MessageType, payload, wire int64) {
	if m != nil {
		m.received[(typ-1)&1].add(payload, wire)
	}
}

// messageSent counts a message written whole.
func (m *Metrics) messageSent(typ MessageType, payload, wire int64) {
	if m != nil {
		m.sent[(typ-1)&1].add(payload, wire)
	}
}

// sentPayload returns the message's payload bytes so far.
func (w *messageWriter) sentPayload() int64 {
	if w.coded {
		return w.payload
	}
	return w.wire
}

// sent counts a message written whole as p with one frame, if err is nil,
// and returns err.
func (c *Conn) sent(typ MessageType, p []byte, err error) error {
	if err == nil {
		c.metrics.messageSent(typ, int64(len(p)), int64(len(p)))
	}
	return err
}

// closeSent counts a close frame sent with payload p.
func (m *Metrics) closeSent(p []byte) {
	if m != nil {
		m.countClose(&m.closeOut, closeFrameCode(p))
	}
}

// closeReceived counts a valid close frame from the peer with code.
func (m *Metrics) closeReceived(code int) {
	if m != nil {
		m.countClose(&m.closeIn, code)
	}
}

func (m *Metrics) countClose(counts *[closeCodeSlots]atomic.Uint64, code int) {
	if i := closeSlot(code); i >= 0 {
		counts[i].Add(1)
	}
}

// closeFrameCode returns the status code of a close frame's payload.
func closeFrameCode(p []byte) int {
	if len(p) < 2 {
		return int(StatusNoStatus)
	}
	return int(p[0])<<8 | int(p[1])
}

// dialFailed counts a Dial that failed: refused with an HTTP status, or
// out of time (ctx is the dial's own context).
func (m *Metrics) dialFailed(ctx context.Context, err error) {
	if m == nil {
		return
	}
	var he *HandshakeError
	switch {
	case errors.As(err, &he):
		m.refusedHandshake(he.Status)
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		// The connection's deadline is the context's: either may be
		// seen first.
		m.handshakeTimedOut()
	}
}

// ended counts the end of a connection (TCP closed) for cause, and the
// timeout that ended it, if one did.
func (m *Metrics) ended(server bool, cause error) {
	if m == nil {
		return
	}
	m.conns[side(server)].closed.Add(1)
	if cause == nil {
		return
	}
	for kind, err := range [...]error{
		timeoutKeepalive: ErrKeepaliveTimeout,
		timeoutIdle:      ErrIdleTimeout,
		timeoutMessage:   ErrMessageTimeout,
		timeoutWrite:     ErrWriteTimeout,
		timeoutClose:     ErrCloseTimeout,
	} {
		if errors.Is(cause, err) {
			m.timeouts[kind].Add(1)
			return
		}
	}
}
