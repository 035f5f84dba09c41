package websock

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
)

// NewClient performs the client side of the opening handshake over nc, a
// connection opened by other means (a tunnel, a Unix socket, a TLS
// session set up by hand), to the ws:// or wss:// URL rawURL, and returns
// the connection as Dial does: the same request, checks of the response,
// hooks and options. The URL gives the request's Host and path; nc is
// used as it is, so for wss:// the caller has already set up TLS, and
// DialOptions.TLSConfig, NetDial and Proxy do not apply.
//
// The handshake is bounded by ctx and HandshakeTimeout. On failure, nc is
// closed; a refusal is a *HandshakeError, returned with the response.
// opts may be nil.
func NewClient(ctx context.Context, nc net.Conn, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	u, err := url.Parse(rawURL)
	if err == nil && u.Host == "" {
		err = fmt.Errorf("URL %q has no host", rawURL)
	}
	if err == nil && u.Scheme != "ws" && u.Scheme != "wss" && u.Scheme != "http" && u.Scheme != "https" {
		err = fmt.Errorf("unsupported scheme %q (want ws or wss)", u.Scheme)
	}
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("websock: dial: %w", err)
	}
	timeout := opts.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, resp, err := clientHandshake(ctx, nc, u, opts)
	if err != nil {
		nc.Close()
		return nil, resp, err
	}
	return c, resp, nil
}
