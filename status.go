package websock

import (
	"errors"
	"io"
	"slices"
	"strconv"
)

// A StatusCode is the status code of a close frame (RFC 6455 §7.4).
type StatusCode int

// Close status codes (RFC 6455 §7.4.1 and the IANA registry).
const (
	StatusNormalClosure   StatusCode = 1000
	StatusGoingAway       StatusCode = 1001
	StatusProtocolError   StatusCode = 1002
	StatusUnsupportedData StatusCode = 1003
	StatusNoStatus        StatusCode = 1005 // reported when the peer's close frame had no code; never sent
	StatusAbnormalClosure StatusCode = 1006 // reported when TCP ended without a close frame; never sent
	StatusInvalidPayload  StatusCode = 1007
	StatusPolicyViolation StatusCode = 1008
	StatusMessageTooBig   StatusCode = 1009
	StatusMandatoryExt    StatusCode = 1010
	StatusInternalError   StatusCode = 1011
	StatusServiceRestart  StatusCode = 1012
	StatusTryAgainLater   StatusCode = 1013
	StatusBadGateway      StatusCode = 1014
)

var statusNames = map[StatusCode]string{
	StatusNormalClosure:   "normal closure",
	StatusGoingAway:       "going away",
	StatusProtocolError:   "protocol error",
	StatusUnsupportedData: "unsupported data",
	StatusNoStatus:        "no status",
	StatusAbnormalClosure: "abnormal closure",
	StatusInvalidPayload:  "invalid payload data",
	StatusPolicyViolation: "policy violation",
	StatusMessageTooBig:   "message too big",
	StatusMandatoryExt:    "mandatory extension",
	StatusInternalError:   "internal error",
	StatusServiceRestart:  "service restart",
	StatusTryAgainLater:   "try again later",
	StatusBadGateway:      "bad gateway",
}

// String returns the code's name in RFC 6455 §7.4.1, e.g. "normal
// closure", or "status N" for codes without a name (those of
// applications, 3000–4999, say).
func (s StatusCode) String() string {
	if name, ok := statusNames[s]; ok {
		return name
	}
	return "status " + strconv.Itoa(int(s))
}

// closeCode returns the code with which err says the connection ended: the
// peer's, from its close frame, or StatusAbnormalClosure when the
// connection was lost without one. ok is false for other errors.
func closeCode(err error) (code StatusCode, ok bool) {
	var ce *CloseError
	switch {
	case errors.As(err, &ce):
		return ce.Code, true
	case errors.Is(err, io.ErrUnexpectedEOF):
		return StatusAbnormalClosure, true
	}
	return 0, false
}

// IsCloseError reports whether err says the connection ended with one of
// codes: the peer sent a close frame with one of them (a *CloseError), or
// the connection was lost without a close frame and codes include
// StatusAbnormalClosure. It is false for every other error.
func IsCloseError(err error, codes ...StatusCode) bool {
	code, ok := closeCode(err)
	return ok && slices.Contains(codes, code)
}

// IsUnexpectedCloseError reports whether err says the connection ended (as
// for IsCloseError) with a code that is not one of expected. It is false
// for every error that does not say how the connection ended.
func IsUnexpectedCloseError(err error, expected ...StatusCode) bool {
	code, ok := closeCode(err)
	return ok && !slices.Contains(expected, code)
}
