package conformance

import (
	"encoding/hex"
	"fmt"
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
)

// Result is the outcome of one case.
type Result struct {
	ID            string
	Description   string
	Behavior      string // OK, NON-STRICT, FAILED, INFORMATIONAL or UNIMPLEMENTED
	BehaviorClose string // OK, FAILED, UNCLEAN, WRONG CODE or INFORMATIONAL
	Reason        string // why the case is not OK
	Duration      time.Duration
	Observed      [][]any // events in the catalogue's notation
	Expected      map[string][][]any
	ClosedByMe    bool
	DroppedByMe   bool
	WasClean      bool
	LocalCode     int // -1: no close frame sent
	RemoteCode    int // -1: no close frame received; 1005: empty close frame
	RemoteReason  string
	Extensions    string // the agreed permessage-deflate response, if any
}

// Strict reports whether the case passed with no reservation.
func (r *Result) Strict() bool {
	okBehavior := r.Behavior == OK || r.Behavior == Informational
	okClose := r.BehaviorClose == OK || r.BehaviorClose == Informational
	return okBehavior && okClose
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

// grade judges a finished session against its case.
func grade(c *Case, s *session, dur time.Duration) *Result {
	s.mu.Lock()
	events := append([]Event(nil), s.events...)
	violations := append([]string(nil), s.violations...)
	r := &Result{
		ID: c.ID, Description: c.Description, Expected: c.Expected, Duration: dur,
		ClosedByMe: s.closedByMe, DroppedByMe: s.droppedByMe,
		LocalCode: s.localCode, RemoteCode: s.remoteCode, RemoteReason: s.remoteReason,
		Observed: notation(events),
	}
	failed := s.failed
	if s.deflate != nil {
		r.Extensions = s.deflate.response
	}
	s.mu.Unlock()
	r.WasClean = s.wasClean()

	// Behaviour: the events.
	switch {
	case len(violations) > 0:
		r.Behavior, r.Reason = Failed, "the peer broke the protocol: "+violations[0]
	case failed != "":
		r.Behavior, r.Reason = Failed, failed
	case len(c.Expected) == 0:
		r.Behavior = OK
	case sameEvents(r.Observed, c.Expected[OK]):
		r.Behavior = OK
	case c.Expected[NonStrict] != nil && sameEvents(r.Observed, c.Expected[NonStrict]):
		r.Behavior, r.Reason = NonStrict, "the events match only the non-strict expectation"
	default:
		r.Behavior, r.Reason = Failed, fmt.Sprintf("observed %v, expected %v", r.Observed, c.Expected)
	}

	// Closing behaviour.
	exp := c.Close
	switch {
	case r.LocalCode == -1 && r.RemoteCode == -1:
		r.BehaviorClose = Failed
		r.addReason("no closing handshake: the peer dropped TCP without a close frame")
	case r.ClosedByMe != exp.ClosedByMe:
		r.BehaviorClose = Failed
		if exp.ClosedByMe {
			r.addReason("the peer started the closing handshake where it should have waited (close code %d)", r.RemoteCode)
		} else {
			r.addReason("the peer did not fail the connection")
		}
	case exp.RequireClean && !r.WasClean:
		r.BehaviorClose = Unclean
		r.addReason("closing not clean: %s", s.uncleanReason())
	case !slices.Contains(exp.Codes, r.RemoteCode):
		r.BehaviorClose = WrongCode
		r.addReason("close code %d, expected one of %v", r.RemoteCode, exp.Codes)
	default:
		r.BehaviorClose = OK
	}

	if c.Informational {
		r.Behavior, r.BehaviorClose = Informational, Informational
	}
	if c.Deflate != nil && s.deflate == nil && r.Behavior != Failed {
		r.Behavior = Unimplemented
		r.addReason("permessage-deflate offer declined")
	}
	return r
}

func (r *Result) addReason(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if r.Reason != "" {
		r.Reason += "; "
	}
	r.Reason += msg
}

// uncleanReason says what went wrong with the end of TCP.
func (s *session) uncleanReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.localCode == -1 || s.remoteCode == -1:
		return "the closing handshake did not complete"
	case s.isServer && s.peerDroppedTCP:
		return "the client dropped TCP before the server"
	case s.droppedByMe:
		return "the server did not close TCP after the closing handshake in time"
	}
	return "TCP did not end properly"
}
