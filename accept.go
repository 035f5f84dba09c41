package websock

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/websock/websock/extension"
	"github.com/websock/websock/internal/handshake"
)

// AcceptOptions configures the server side of a connection. The zero value
// is a secure default: same-origin browsers only (the host and port of the
// request's Host), no subprotocol, no extension, DefaultReadLimit.
type AcceptOptions struct {
	// Subprotocols lists the subprotocols the server speaks, most preferred
	// first. The first one the client also offers is chosen (RFC 6455
	// §4.2.2); if there is none, the connection is made without subprotocol.
	Subprotocols []string

	// OriginPatterns lists the origins, besides the request's own (the
	// host and port of its Host header), that browsers may connect from,
	// as [scheme://]host[:port] patterns: "*.example.com",
	// "http://127.0.0.1:8000", "localhost:*". The host is a path.Match
	// pattern; a part left out matches anything. "null" (file:// pages)
	// is admitted only by the pattern "null", never by "*". Requests
	// without Origin (non-browser clients) are always allowed. A refusal
	// is a 403 whose body says why; ValidateOriginPatterns checks the
	// patterns, OriginPattern gives the one that admits an origin.
	OriginPatterns []string

	// InsecureSkipOriginCheck allows every origin. It exposes the endpoint
	// to cross-site WebSocket hijacking from any web page; use
	// OriginPatterns instead where possible.
	InsecureSkipOriginCheck bool

	// RequestHooks inspect the request and may add response headers or refuse.
	RequestHooks []RequestHook

	// ConnSet, if set, keeps the connection until it ends, to cap the
	// number of connections and to close them all on shutdown.
	ConnSet *ConnSet

	// Extensions lists the extensions the server supports, e.g.
	// &PerMessageDeflate{}. At most one of them is used per connection.
	Extensions []extension.Extension

	// HandshakeTimeout bounds writing the handshake response; 0 means
	// DefaultHandshakeTimeout. Reading the request is bounded by the
	// http.Server's ReadHeaderTimeout.
	HandshakeTimeout time.Duration

	ConnOptions
}

// Accept upgrades an HTTP request to a WebSocket connection (RFC 6455 §4.2).
// If the request is not an acceptable WebSocket handshake, Accept answers it
// with the matching HTTP status and a one-line reason, and returns the
// error (a *HandshakeError). opts may be nil.
//
// The connection takes over the request's TCP connection (HTTP/1.1) or
// runs on its stream (HTTP/2, RFC 8441), whose deadlines it needs: the
// http.Server's ReadTimeout and WriteTimeout must not cut it, and closing
// it or a write timeout must interrupt a blocked write. Both go through
// http.ResponseController, so a wrapper of the ResponseWriter (from a
// middleware, say) must implement Hijack, or SetReadDeadline and
// SetWriteDeadline, itself or through an Unwrap method. If it does not,
// Accept answers 500 and returns an error wrapping http.ErrNotSupported.
//
// The handler may keep using the connection, or hand it to a goroutine and
// return, which lets net/http free the request's buffers (see Handler).
func Accept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	if opts == nil {
		opts = &AcceptOptions{}
	}
	t := opts.ConnSet
	if t == nil {
		return accept(w, r, opts, nil)
	}
	if err := t.reserve(); err != nil {
		opts.Metrics.refusedHandshake(err.Status)
		http.Error(w, err.Reason, err.Status)
		return nil, err
	}
	c, err := accept(w, r, opts, t)
	if err != nil {
		t.unreserve()
		return nil, err
	}
	if t.closing() {
		c.Close(StatusGoingAway, "server shutting down")
		return nil, ErrClosed
	}
	return c, nil
}

// accept is Accept, registering the connection with t if not nil.
func accept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions, t *ConnSet) (*Conn, error) {
	respHeader := http.Header{}
	if err := checkRequest(r, opts, respHeader); err != nil {
		var he *HandshakeError
		if !errors.As(err, &he) {
			he = &HandshakeError{Status: http.StatusForbidden, Reason: err.Error()}
		}
		for k, v := range respHeader {
			w.Header()[k] = v
		}
		opts.Metrics.refusedHandshake(he.Status)
		http.Error(w, he.Reason, he.Status)
		return nil, he
	}

	sub := selectSubprotocol(r, opts.Subprotocols)
	if sub != "" {
		respHeader.Set("Sec-WebSocket-Protocol", sub)
	}
	var codec extension.Codec
	var extHeader string
	if len(opts.Extensions) > 0 {
		offers, _ := parseExtensions(r.Header.Values("Sec-WebSocket-Extensions"))
		for _, ext := range opts.Extensions {
			var mine []extension.Offer
			for _, o := range offers {
				if o.Name == ext.Name() {
					mine = append(mine, o)
				}
			}
			if len(mine) == 0 {
				continue
			}
			if resp, cd, ok := ext.Negotiate(mine); ok {
				codec, extHeader = cd, resp.String()
				respHeader.Set("Sec-WebSocket-Extensions", extHeader)
				break
			}
		}
	}

	// Headers set on w before Accept (cookies, CORS from middleware) go out
	// with the 101, except those the handshake itself decides.
	for k, v := range w.Header() {
		switch k {
		case "Upgrade", "Connection", "Sec-Websocket-Accept", "Content-Length", "Transfer-Encoding":
			continue
		}
		if _, ours := respHeader[k]; !ours {
			respHeader[k] = v
		}
	}
	timeout := opts.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	cfg := connConfig{
		ConnOptions: opts.ConnOptions,
		server:      true,
		subprotocol: sub,
		extensions:  extHeader,
		codec:       codec,
		tracker:     t,
	}
	if r.ProtoMajor == 2 {
		return acceptStream(w, r, respHeader, cfg, timeout)
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "websocket: connection cannot be upgraded", http.StatusInternalServerError)
		return nil, fmt.Errorf("websock: accept: hijack: %w", err)
	}
	buffered, _ := brw.Reader.Peek(brw.Reader.Buffered())
	c := newConn(nc, buffered, cfg)
	// Counted before the client can see the 101; the frame lock keeps a
	// close frame from ConnSet.Shutdown behind the response.
	c.frameSem.tryAcquire() // a new connection: free
	defer release(c.frameSem)
	if t != nil {
		t.add(c)
	}
	nc.SetDeadline(time.Now().Add(timeout))
	bw := brw.Writer
	bw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ")
	bw.WriteString(handshake.AcceptKey(r.Header.Get("Sec-WebSocket-Key")))
	bw.WriteString("\r\n")
	respHeader.Write(bw)
	bw.WriteString("\r\n")
	if err := bw.Flush(); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			opts.Metrics.handshakeTimedOut()
		}
		err = fmt.Errorf("websock: accept: write response: %w", err)
		c.closeTCP(err)
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return c, nil
}

// checkRequest applies RFC 6455 §4.2.1 (an opening handshake is a GET
// without a body) or, over HTTP/2, RFC 8441 §5 (an extended CONNECT), the
// origin policy and the hooks.
func checkRequest(r *http.Request, opts *AcceptOptions, respHeader http.Header) error {
	if r.ProtoMajor == 2 {
		if err := checkExtendedConnect(r); err != nil {
			return err
		}
	} else if err := checkUpgrade(r, respHeader); err != nil {
		return err
	}
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		respHeader.Set("Sec-WebSocket-Version", "13")
		return refuse(http.StatusUpgradeRequired, "unsupported Sec-WebSocket-Version %q, this server speaks 13", strings.Join(v, ", "))
	}
	// RFC 8441 §5: over HTTP/2 there is no key.
	if k := r.Header.Values("Sec-WebSocket-Key"); r.ProtoMajor != 2 && (len(k) != 1 || !handshake.ValidKey(k[0])) {
		return refuse(http.StatusBadRequest, "Sec-WebSocket-Key must be the base64 encoding of 16 bytes")
	}
	if !opts.InsecureSkipOriginCheck {
		if err := checkOrigin(r, opts.OriginPatterns); err != nil {
			return err
		}
	}
	for _, hook := range opts.RequestHooks {
		if err := hook(r, respHeader); err != nil {
			return err
		}
	}
	return nil
}

// refuse returns the HandshakeError that answers a request with status.
func refuse(status int, format string, args ...any) error {
	return &HandshakeError{Status: status, Reason: fmt.Sprintf(format, args...)}
}

// checkUpgrade applies RFC 6455 §4.2.1 to an HTTP/1.1 request: a GET
// without a body, asking to upgrade.
func checkUpgrade(r *http.Request, respHeader http.Header) error {
	switch {
	case r.Method != http.MethodGet:
		respHeader.Set("Allow", http.MethodGet)
		return refuse(http.StatusMethodNotAllowed, "websocket handshake must use GET, not %s", r.Method)
	case !r.ProtoAtLeast(1, 1) || r.ProtoMajor != 1:
		return refuse(http.StatusBadRequest, "websocket handshake requires HTTP/1.1 or HTTP/2, got %s", r.Proto)
	case r.Host == "":
		return refuse(http.StatusBadRequest, "missing Host header")
	case !handshake.HasToken(r.Header, "Upgrade", "websocket"):
		return refuse(http.StatusBadRequest, `Upgrade header must contain "websocket"`)
	case !handshake.HasToken(r.Header, "Connection", "upgrade"):
		return refuse(http.StatusBadRequest, `Connection header must contain "upgrade"`)
	case r.ContentLength > 0 || len(r.TransferEncoding) > 0:
		// After the upgrade, a body would be read as WebSocket frames.
		return refuse(http.StatusBadRequest, "websocket handshake must not have a body (Content-Length or Transfer-Encoding)")
	}
	return nil
}

// selectSubprotocol returns the server's most preferred subprotocol that the
// client offers, or "".
func selectSubprotocol(r *http.Request, supported []string) string {
	offered := handshake.Tokens(r.Header, "Sec-WebSocket-Protocol")
	for _, s := range supported {
		for _, o := range offered {
			if o == s {
				return s
			}
		}
	}
	return ""
}
