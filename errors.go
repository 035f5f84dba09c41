package websock

import (
	"errors"
	"fmt"
)

// Errors reported by Conn methods. Failures of the protocol wrap
// ErrProtocol, ErrInvalidUTF8, ErrInvalidData or ErrMessageTooBig; test them with errors.Is.
var (
	// ErrClosed is returned by operations on a connection whose closing
	// handshake has started or whose TCP connection is closed. When the
	// connection was closed for a reason (a keepalive, write or close
	// timeout, a failed write), the error wraps that reason too.
	ErrClosed = errors.New("websock: connection closed")

	// ErrProtocol means the peer broke a rule of RFC 6455; the connection
	// was failed with status 1002.
	ErrProtocol = errors.New("websock: protocol error")

	// ErrInvalidUTF8 means a text message or a close reason was not valid
	// UTF-8; the connection was failed with status 1007.
	ErrInvalidUTF8 = errors.New("websock: invalid UTF-8 in text")

	// ErrInvalidData means a negotiated extension could not decode a
	// message (corrupt compressed data, say); the connection was failed with
	// status 1007.
	ErrInvalidData = errors.New("websock: invalid message data")

	// ErrMessageTooBig means a message or frame exceeded the read limit; the
	// connection was failed with status 1009.
	ErrMessageTooBig = errors.New("websock: message too big")

	// ErrWriteTimeout means a frame could not be written within the write
	// timeout (the peer stopped reading); the connection was closed.
	ErrWriteTimeout = errors.New("websock: write timed out")

	// ErrKeepaliveTimeout means the peer sent nothing, not even a pong,
	// within the keepalive ping interval and pong timeout; the connection
	// was closed.
	ErrKeepaliveTimeout = errors.New("websock: keepalive timed out (peer unresponsive)")

	// ErrIdleTimeout means nothing arrived from the peer within
	// ConnOptions.IdleTimeout; the connection was closed with status 1001.
	ErrIdleTimeout = errors.New("websock: idle timeout")

	// ErrMessageTimeout means a message was not finished within
	// ConnOptions.MessageTimeout of its first frame; the connection was
	// closed with status 1008.
	ErrMessageTimeout = errors.New("websock: message timeout")

	// ErrBudget means a message could not be read within the memory
	// budget shared by the connections (ConnOptions.Budget); the
	// connection was failed with status 1013 (try again later).
	ErrBudget = errors.New("websock: memory budget exhausted")

	// ErrMessageAbandoned means a write failed after its message had
	// started (a frame of it sent, or its data given to the compressor):
	// the message cannot be finished, so the connection was closed.
	ErrMessageAbandoned = errors.New("websock: message abandoned half-written")

	// ErrCloseTimeout means the peer did not complete the closing handshake
	// in time; the TCP connection was closed anyway.
	ErrCloseTimeout = errors.New("websock: closing handshake timed out")
)

// errLockTimeout is what acquire returns when its timeout passes first.
var errLockTimeout = errors.New("websock: timed out waiting to write")

// closedError returns the error calls report once the connection was closed
// because of cause: ErrClosed itself, or an error that wraps both ErrClosed
// and cause.
func closedError(cause error) error {
	switch {
	case cause == nil:
		return ErrClosed
	case errors.Is(cause, ErrClosed):
		return cause
	}
	return &connClosedError{cause}
}

type connClosedError struct{ cause error }

func (e *connClosedError) Error() string   { return "websock: connection closed: " + e.cause.Error() }
func (e *connClosedError) Unwrap() []error { return []error{ErrClosed, e.cause} }

// CloseError is returned by reads after the peer sent a close frame. Code is
// StatusNoStatus when the frame carried no code.
type CloseError struct {
	Code   StatusCode
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("websock: closed by peer with status %d", e.Code)
	}
	return fmt.Sprintf("websock: closed by peer with status %d: %s", e.Code, e.Reason)
}

// CloseStatus returns the close code of err: the peer's code for a
// *CloseError, the code this side sent for protocol failures, or -1.
func CloseStatus(err error) StatusCode {
	var ce *CloseError
	switch {
	case errors.As(err, &ce):
		return ce.Code
	case errors.Is(err, ErrProtocol):
		return StatusProtocolError
	case errors.Is(err, ErrInvalidUTF8), errors.Is(err, ErrInvalidData):
		return StatusInvalidPayload
	case errors.Is(err, ErrMessageTooBig):
		return StatusMessageTooBig
	case errors.Is(err, ErrBudget):
		return StatusTryAgainLater
	}
	return -1
}
