package websock

import (
	"fmt"
	"net/http"
)

// A RequestHook inspects a client's opening handshake on the server. It may
// add headers to the 101 response through respHeader, and refuse the
// connection by returning an error: a *HandshakeError chooses the HTTP status
// and reason (see Reject), any other error gives 403 Forbidden.
//
// Hooks run after the request has been checked against RFC 6455 and the
// origin policy, before subprotocols and extensions are negotiated.
type RequestHook func(r *http.Request, respHeader http.Header) error

// A ResponseHook inspects the server's 101 response on the client, after
// it has been checked against RFC 6455; an error fails the dial.
type ResponseHook func(resp *http.Response) error

// HandshakeError is an opening handshake that failed with an HTTP status.
// On the server, hooks return it to refuse a request; on the client, Dial
// returns it when the server did not switch protocols, with the response's
// headers and the first bytes of its body.
type HandshakeError struct {
	Status int         // HTTP status code
	Reason string      // one line for the peer and the logs
	Header http.Header // response headers (client side), or nil
	Body   []byte      // the start of the response body (client side), or nil

	err error // what the refusal is, e.g. ErrOriginNotAllowed, or nil
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("websock: handshake refused with %d %s: %s", e.Status, http.StatusText(e.Status), e.Reason)
}

// Unwrap returns what kind of refusal e is, e.g. ErrOriginNotAllowed, or
// nil.
func (e *HandshakeError) Unwrap() error { return e.err }

// Reject returns an error for a RequestHook that refuses the handshake with
// the given HTTP status, e.g. http.StatusUnauthorized, and reason.
func Reject(status int, reason string) error {
	return &HandshakeError{Status: status, Reason: reason}
}
