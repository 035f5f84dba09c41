package conformance

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"
	"unicode/utf8"
)

// Grades, as Autobahn names them.
const (
	OK            = "OK"
	NonStrict     = "NON-STRICT"
	Failed        = "FAILED"
	Informational = "INFORMATIONAL"
	Unimplemented = "UNIMPLEMENTED"
	Unclean       = "UNCLEAN"
	WrongCode     = "WRONG CODE"
	// FailedByClient: the fuzzer, as a client, had to close TCP itself
	// after an otherwise proper closing (Autobahn prefers the server to).
	FailedByClient = "FAILED BY CLIENT"
)

// Result is the outcome of one case: Autobahn's grades with the
// observations they come from, and the deviations Autobahn does not grade.
type Result struct {
	ID            string
	Description   string
	Expectation   string
	Behavior      string // OK, NON-STRICT, FAILED, INFORMATIONAL or UNIMPLEMENTED
	BehaviorClose string // OK, FAILED, UNCLEAN, WRONG CODE, FAILED BY CLIENT or INFORMATIONAL
	Result        string // Autobahn's explanation of Behavior
	ResultClose   string // Autobahn's explanation of BehaviorClose
	Started       time.Time
	Duration      time.Duration
	Observed      [][]any // events in the catalogue's notation
	Expected      map[string][][]any
	ExpectedClose CloseExpectation
	IsServer      bool // the fuzzer was the server

	ClosedByMe                     bool
	FailedByMe                     bool
	DroppedByMe                    bool
	WasClean                       bool
	WasNotCleanReason              string
	WasServerConnectionDropTimeout bool
	WasOpenHandshakeTimeout        bool
	WasCloseHandshakeTimeout       bool
	LocalCode                      int // -1: no close frame sent, or one without a code
	LocalReason                    []byte
	RemoteCode                     int // -1: no close frame received, or one without a code
	RemoteReason                   []byte
	Extensions                     string // the agreed permessage-deflate response, if any

	// Deviations are what the peer did against RFC 6455 or RFC 7692 in
	// this case that Autobahn does not grade (see Findings).
	Deviations []Deviation
}

// Deviation is one breach of an RFC seen in a case.
type Deviation struct {
	Check  string // the Finding it belongs to, e.g. CheckDeflateNegotiation
	Detail string
}

// Strict reports whether the case passed with no reservation by
// Autobahn's grades: OK (or INFORMATIONAL) in both.
func (r *Result) Strict() bool {
	okBehavior := r.Behavior == OK || r.Behavior == Informational
	okClose := r.BehaviorClose == OK || r.BehaviorClose == Informational
	return okBehavior && okClose
}

// Reason says briefly why a case is not strictly OK.
func (r *Result) Reason() string {
	var out string
	if r.Behavior != OK && r.Behavior != Informational {
		out = r.Result
		if r.Behavior != Unimplemented && r.Expected != nil && len(r.Expected) > 0 {
			out += fmt.Sprintf(" observed %v, expected %v", r.Observed, r.Expected)
		}
	}
	if r.BehaviorClose != OK && r.BehaviorClose != Informational {
		if out != "" {
			out += "; "
		}
		out += r.ResultClose
		if r.WasNotCleanReason != "" && r.BehaviorClose == Unclean {
			out += " (" + r.WasNotCleanReason + ")"
		}
	}
	return out
}

// display writes a payload as Autobahn's reports do: text as is, binary
// (or non-UTF-8) in hex, cut after 64 characters or bytes.
func display(p []byte, binary bool) string {
	if len(p) == 0 {
		return ""
	}
	if binary || !utf8.Valid(p) {
		s := "0x" + hex.EncodeToString(p[:min(64, len(p))])
		if len(p) > 64 {
			s += " ..."
		}
		return s
	}
	r := []rune(string(p))
	if len(r) > 64 {
		return string(r[:64]) + " ..."
	}
	return string(p)
}

// notation turns events into the catalogue's notation.
func notation(events []Event) [][]any {
	out := [][]any{}
	for _, e := range events {
		switch e.Kind {
		case "message":
			out = append(out, []any{"message", display(e.Payload, e.Binary), e.Binary})
		case "pong":
			out = append(out, []any{"pong", display(e.Payload, false)})
		case "timeout":
			out = append(out, []any{"timeout", string(e.Payload)})
		}
	}
	return out
}

func sameEvents(a, b [][]any) bool {
	return slices.EqualFunc(a, b, func(x, y []any) bool {
		return fmt.Sprint(x) == fmt.Sprint(y)
	})
}

// msgNotOpened is Autobahn's resultClose when the opening handshake failed.
const msgNotOpened = "The WebSocket opening handshake was never completed!"

// gradeOrder is the order in which Autobahn's Python 2 dictionary of
// expectations is tried; it matters only if two expectations are equal.
var gradeOrder = []string{OK, NonStrict}

// grade judges a finished session against its case, as Autobahn's
// Case.onConnectionLost and the case classes that extend it do.
func grade(c *Case, s *session, opened bool, started time.Time, dur time.Duration) *Result {
	s.mu.Lock()
	r := &Result{
		ID: c.ID, Description: c.Description, Expectation: c.Expectation, Expected: c.Expected, ExpectedClose: c.Close,
		Started: started, Duration: dur, IsServer: s.isServer,
		ClosedByMe: s.closedByMe, FailedByMe: s.failedByMe, DroppedByMe: s.droppedByMe, WasClean: s.wasClean,
		WasNotCleanReason:              s.wasNotCleanReason,
		WasServerConnectionDropTimeout: s.wasServerConnectionDropTimeout,
		WasCloseHandshakeTimeout:       s.wasCloseHandshakeTimeout,
		LocalCode:                      s.localCode, LocalReason: s.localReason,
		RemoteCode: s.remoteCode, RemoteReason: s.remoteReason,
		Observed: notation(s.events),
	}
	var lastMessage *Event
	for i := range s.events {
		if s.events[i].Kind == "message" {
			lastMessage = &s.events[i]
		}
	}
	failed := s.failed
	if s.deflate != nil {
		r.Extensions = s.deflate.response
	}
	for _, v := range s.violations {
		r.Deviations = append(r.Deviations, Deviation{CheckPeerFrames, v})
	}
	s.mu.Unlock()
	if r.WasClean {
		r.WasNotCleanReason = ""
	}
	// A write on a socket the fuzzer itself has closed (its side of the
	// closing handshake done) says nothing about the peer.
	if err := s.writeFailed(); err != nil && !s.peerDroppedTCP && !errors.Is(err, net.ErrClosed) {
		r.Deviations = append(r.Deviations, Deviation{CheckPeerFrames, "the fuzzer could not send: " + err.Error()})
	}

	// Behaviour: the events against the expectations, or, for the cases
	// that expect none (echoes counted by the script, compression), the
	// script's own verdict.
	r.Behavior, r.Result = Failed, "Actual events differ from any expected."
	switch {
	case c.Deflate != nil && s.deflate == nil:
		r.Behavior, r.Result = Unimplemented, "The permessage-deflate offer was declined."
	case len(c.Expected) == 0 && failed != "":
		r.Result = failed
	case len(c.Expected) == 0:
		r.Behavior, r.Result = OK, "Ok, received all echo'ed messages in time."
		if g, a := caseGroup(c.ID); g == 9 && a <= 6 && lastMessage != nil {
			r.Result = fmt.Sprintf("Received %s message of length %d.", map[bool]string{true: "binary", false: "text"}[lastMessage.Binary], len(lastMessage.Payload))
		}
	default:
		for _, g := range gradeOrder {
			if exp, ok := c.Expected[g]; ok && sameEvents(r.Observed, exp) {
				r.Behavior, r.Result = g, "Actual events match at least one expected."
				break
			}
		}
	}

	if len(c.Expected) == 0 {
		// These cases count their echoes themselves; Autobahn's list of
		// received events stays empty.
		r.Observed = [][]any{}
	}

	// Closing behaviour.
	exp := c.Close
	switch {
	case !opened:
		r.BehaviorClose, r.ResultClose = Failed, msgNotOpened
	case exp.ClosedByMe != r.ClosedByMe:
		r.BehaviorClose, r.ResultClose = Failed, "The connection was failed by the wrong endpoint"
	case exp.RequireClean && !r.WasClean:
		r.BehaviorClose, r.ResultClose = Unclean, "The spec requires the connection to be failed cleanly here"
	case r.RemoteCode != -1 && !slices.Contains(exp.Codes, r.RemoteCode):
		// A close frame without a code is accepted.
		r.BehaviorClose, r.ResultClose = WrongCode, fmt.Sprintf("The close code should have been %s or empty", joinCodes(exp.Codes))
	case !r.IsServer && r.DroppedByMe:
		r.BehaviorClose, r.ResultClose = FailedByClient, "It is preferred that the server close the TCP connection"
	default:
		r.BehaviorClose, r.ResultClose = OK, "Connection was properly closed"
	}
	if opened && exp.WrongEndpointFatal && exp.ClosedByMe != r.ClosedByMe {
		// The peer did not notice the invalid UTF-8 at all.
		r.Behavior = Failed
	}
	if c.wrongCodeFails && r.BehaviorClose == WrongCode {
		r.Behavior, r.Result = Failed, r.ResultClose
	}
	if c.Informational {
		switch {
		case c.ID != "7.1.6":
			r.Result = "Actual events are undefined by the spec."
		case r.Behavior == OK:
			r.Result = "Text message was processed before close."
		case r.Behavior == NonStrict:
			r.Result = "Close was processed before text message could be returned."
		}
		r.Behavior, r.BehaviorClose = Informational, Informational
	}
	return r
}

// caseGroup returns the first two numbers of a case id.
func caseGroup(id string) (g, a int) {
	fmt.Sscanf(id, "%d.%d", &g, &a)
	return g, a
}

func joinCodes(codes []int) string {
	s := ""
	for i, c := range codes {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprint(c)
	}
	return s
}

// notOpened is the result of a case whose opening handshake failed.
func notOpened(c *Case, isServer bool, started time.Time, err error) *Result {
	return &Result{
		ID: c.ID, Description: c.Description, Expectation: c.Expectation, Expected: c.Expected, ExpectedClose: c.Close,
		Started: started, Duration: time.Since(started), IsServer: isServer,
		Behavior: Failed, Result: "Actual events differ from any expected.",
		BehaviorClose: Failed, ResultClose: msgNotOpened,
		WasNotCleanReason: err.Error(), WasOpenHandshakeTimeout: isTimeout(err),
		LocalCode: -1, RemoteCode: -1, Observed: [][]any{},
	}
}
