package websock

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/websock/websock/extension"
	"github.com/websock/websock/internal/handshake"
)

// DialOptions configures the client side of a connection. The zero value
// dials directly or through the proxy named by the environment, verifies
// TLS certificates against the system roots, and offers no subprotocol or
// extension.
type DialOptions struct {
	// Header holds extra request headers, e.g. Authorization or Origin.
	Header http.Header

	// Subprotocols lists the subprotocols to offer, most preferred first.
	Subprotocols []string

	// Extensions lists the extensions to offer, e.g. &PerMessageDeflate{}.
	Extensions []extension.Extension

	// TLSConfig is used for wss:// (roots, client certificates, SNI). The
	// server name defaults to the URL's host.
	TLSConfig *tls.Config

	// NetDial opens the TCP connection (to the server or the proxy); nil
	// means a net.Dialer.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)

	// Proxy returns the URL of the HTTP proxy to use for a request, or nil
	// for none. nil means http.ProxyFromEnvironment (HTTP_PROXY,
	// HTTPS_PROXY, NO_PROXY); use NoProxy to always dial directly. The
	// connection goes through the proxy with CONNECT, with Basic
	// authentication if the proxy URL has a user.
	Proxy func(*http.Request) (*url.URL, error)

	// ResponseHooks inspect the server's 101 response (200 over HTTP/2);
	// an error fails the dial.
	ResponseHooks []ResponseHook

	// HTTP2, if set, opens the connection as a stream of one of its
	// HTTP/2 connections (RFC 8441), shared with the other connections
	// dialled with it. If the server does not offer HTTP/2 with
	// WebSockets (no h2 in ALPN, or no SETTINGS_ENABLE_CONNECT_PROTOCOL),
	// Dial uses HTTP/1.1. NetDial, Proxy, TLSConfig and
	// InsecureSkipVerify then apply to HTTP/1.1 only; the HTTP2Client has
	// its own.
	HTTP2 *HTTP2Client

	// HandshakeTimeout bounds the whole dial, handshake included, when ctx
	// has no earlier deadline; 0 means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration

	ConnOptions
}

// NoProxy is a DialOptions.Proxy that never uses a proxy.
func NoProxy(*http.Request) (*url.URL, error) { return nil, nil }

// Dial opens a WebSocket connection to a ws:// or wss:// URL (RFC 6455
// §4.1). The response is returned for its headers, also when the server
// refuses: the error is then a *HandshakeError with the status, headers
// and the start of the body. opts may be nil.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("websock: dial: %w", err)
	}
	secure := false
	switch u.Scheme {
	case "ws", "http":
	case "wss", "https":
		secure = true
	default:
		return nil, nil, fmt.Errorf("websock: dial: unsupported scheme %q (want ws or wss)", u.Scheme)
	}
	if u.Host == "" {
		return nil, nil, fmt.Errorf("websock: dial: URL %q has no host", rawURL)
	}
	timeout := opts.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	if opts.HTTP2 != nil && (secure || opts.HTTP2.AllowCleartext) {
		c, resp, err := dialStream(ctx, u, secure, opts)
		if !errors.Is(err, errNoExtendedConnect) {
			return c, resp, err
		}
	}
	nc, err := dialTransport(ctx, u, secure, opts)
	if err != nil {
		opts.Metrics.dialFailed(ctx, err)
		return nil, nil, fmt.Errorf("websock: dial %s: %w", u.Redacted(), err)
	}
	c, resp, err := clientHandshake(ctx, nc, u, opts)
	if err != nil {
		nc.Close()
		opts.Metrics.dialFailed(ctx, err)
		return nil, resp, err
	}
	return c, resp, nil
}

// hostPort returns the URL's host with the default port of its scheme.
func hostPort(u *url.URL, secure bool) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "80"
	if secure {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// dialTransport opens TCP, through a proxy if one applies, and TLS for wss.
func dialTransport(ctx context.Context, u *url.URL, secure bool, opts *DialOptions) (net.Conn, error) {
	netDial := opts.NetDial
	if netDial == nil {
		netDial = (&net.Dialer{}).DialContext
	}
	proxy := opts.Proxy
	if proxy == nil {
		proxy = http.ProxyFromEnvironment
	}
	target := hostPort(u, secure)
	httpURL := *u
	httpURL.Scheme = map[bool]string{false: "http", true: "https"}[secure]
	proxyURL, err := proxy(&http.Request{URL: &httpURL, Header: http.Header{}})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	var nc net.Conn
	if proxyURL == nil {
		nc, err = netDial(ctx, "tcp", target)
	} else {
		nc, err = dialProxy(ctx, netDial, proxyURL, target)
	}
	if err != nil {
		return nil, err
	}
	if !secure {
		return nc, nil
	}
	cfg := &tls.Config{}
	if opts.TLSConfig != nil {
		cfg = opts.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	cfg.NextProtos = []string{"http/1.1"} // WebSocket over HTTP/1.1 (RFC 6455 §4.1)
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, tlsHandshakeError(err)
	}
	return tc, nil
}

// tlsHandshakeError says that the TLS handshake failed, unless err says so
// already: crypto/tls's own errors start with "tls: ".
func tlsHandshakeError(err error) error {
	if strings.HasPrefix(err.Error(), "tls: ") {
		return err
	}
	return fmt.Errorf("tls handshake: %w", err)
}

// dialProxy opens a tunnel to target through an HTTP proxy with CONNECT
// (RFC 9110 §9.3.6). An https:// proxy is reached over TLS.
func dialProxy(ctx context.Context, netDial func(context.Context, string, string) (net.Conn, error), proxyURL *url.URL, target string) (net.Conn, error) {
	var secure bool
	switch proxyURL.Scheme {
	case "http", "":
	case "https":
		secure = true
	default:
		return nil, fmt.Errorf("proxy scheme %q not supported (want http or https)", proxyURL.Scheme)
	}
	nc, err := netDial(ctx, "tcp", hostPort(proxyURL, secure))
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	if secure {
		tc := tls.Client(nc, &tls.Config{ServerName: proxyURL.Hostname()})
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("proxy tls: %w", err)
		}
		nc = tc
	}
	var watch ctxWatch
	watch.arm(ctx, nc, bothSides)
	defer watch.disarm(nc, bothSides, time.Time{})
	req := "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n"
	if u := proxyURL.User; u != nil {
		pass, _ := u.Password()
		req += "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pass)) + "\r\n"
	}
	if _, err := io.WriteString(nc, req+"\r\n"); err != nil {
		nc.Close()
		return nil, fmt.Errorf("proxy: %w", err)
	}
	// Read the response byte by byte up to the blank line, so that nothing
	// of the tunnel is consumed.
	br := bufio.NewReaderSize(&byteReader{nc}, 16)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("proxy: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		nc.Close()
		return nil, fmt.Errorf("proxy refused CONNECT: %s", resp.Status)
	}
	return nc, nil
}

// byteReader reads one byte at a time.
type byteReader struct{ r io.Reader }

func (b *byteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return b.r.Read(p)
}

// clientHandshake sends the opening request and checks the response
// (RFC 6455 §4.1).
func clientHandshake(ctx context.Context, nc net.Conn, u *url.URL, opts *DialOptions) (*Conn, *http.Response, error) {
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	var watch ctxWatch
	watch.arm(ctx, nc, bothSides)
	defer watch.disarm(nc, bothSides, time.Time{})
	fail := func(resp *http.Response, err error) (*Conn, *http.Response, error) {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return nil, resp, err
	}

	var nonce [16]byte
	rand.Read(nonce[:])
	key := handshake.NewKey(nonce)
	var offers []extension.Offer
	for _, e := range opts.Extensions {
		offers = append(offers, e.Offers()...)
	}

	var b strings.Builder
	b.WriteString("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\n")
	b.WriteString("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n")
	if len(opts.Subprotocols) > 0 {
		b.WriteString("Sec-WebSocket-Protocol: " + strings.Join(opts.Subprotocols, ", ") + "\r\n")
	}
	if len(offers) > 0 {
		parts := make([]string, len(offers))
		for i, o := range offers {
			parts[i] = o.String()
		}
		b.WriteString("Sec-WebSocket-Extensions: " + strings.Join(parts, ", ") + "\r\n")
	}
	extra := opts.Header.Clone()
	for _, k := range []string{"Host", "Upgrade", "Connection", "Sec-Websocket-Version", "Sec-Websocket-Key", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions"} {
		extra.Del(k)
	}
	var hb strings.Builder
	extra.Write(&hb)
	b.WriteString(hb.String() + "\r\n")
	if _, err := io.WriteString(nc, b.String()); err != nil {
		return fail(nil, fmt.Errorf("websock: dial: write request: %w", err))
	}

	br := bufio.NewReaderSize(nc, 4096)
	req := &http.Request{Method: http.MethodGet, URL: u, Header: opts.Header}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return fail(nil, fmt.Errorf("websock: dial: read response: %w", err))
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		return fail(resp, &HandshakeError{Status: resp.StatusCode, Reason: firstLine(body), Header: resp.Header, Body: body})
	}
	reject := func(format string, args ...any) (*Conn, *http.Response, error) {
		return fail(resp, fmt.Errorf("websock: dial: invalid handshake response: "+format, args...))
	}
	switch {
	case !handshake.HasToken(resp.Header, "Upgrade", "websocket"):
		return reject(`Upgrade is %q, want "websocket"`, resp.Header.Get("Upgrade"))
	case !handshake.HasToken(resp.Header, "Connection", "upgrade"):
		return reject(`Connection is %q, want "Upgrade"`, resp.Header.Get("Connection"))
	case resp.Header.Get("Sec-WebSocket-Accept") != handshake.AcceptKey(key):
		return reject("Sec-WebSocket-Accept %q does not match the key", resp.Header.Get("Sec-WebSocket-Accept"))
	}
	sub, codec, extHeader, err := checkResponse(resp, opts)
	if err != nil {
		return fail(resp, err)
	}
	watch.disarm(nc, bothSides, time.Time{})
	if ctx.Err() != nil {
		return fail(resp, fmt.Errorf("websock: dial: %w", ctx.Err()))
	}
	nc.SetDeadline(time.Time{})
	buffered, _ := br.Peek(br.Buffered())
	return newConn(nc, buffered, connConfig{
		ConnOptions: opts.ConnOptions,
		subprotocol: sub,
		extensions:  extHeader,
		codec:       codec,
	}), resp, nil
}

// checkResponse checks the subprotocol and extension the server chose
// against the offers, and runs the hooks.
func checkResponse(resp *http.Response, opts *DialOptions) (sub string, codec extension.Codec, extHeader string, err error) {
	reject := func(format string, args ...any) (string, extension.Codec, string, error) {
		return "", nil, "", fmt.Errorf("websock: dial: invalid handshake response: "+format, args...)
	}
	if vals := handshake.Tokens(resp.Header, "Sec-WebSocket-Protocol"); len(vals) > 0 {
		if len(vals) > 1 || !contains(opts.Subprotocols, vals[0]) {
			return reject("subprotocol %q was not offered", strings.Join(vals, ", "))
		}
		sub = vals[0]
	}
	codec, extHeader, err = acceptExtensions(resp.Header.Values("Sec-WebSocket-Extensions"), opts.Extensions)
	if err != nil {
		return reject("%v", err)
	}
	for _, hook := range opts.ResponseHooks {
		if err := hook(resp); err != nil {
			return "", nil, "", fmt.Errorf("websock: dial: %w", err)
		}
	}
	return sub, codec, extHeader, nil
}

// acceptExtensions checks the server's Sec-WebSocket-Extensions against the
// offered extensions and returns the codec of the one agreed.
func acceptExtensions(values []string, offered []extension.Extension) (extension.Codec, string, error) {
	resps, ok := parseExtensions(values)
	if !ok {
		return nil, "", fmt.Errorf("malformed Sec-WebSocket-Extensions %q", strings.Join(values, ", "))
	}
	if len(resps) == 0 {
		return nil, "", nil
	}
	if len(resps) > 1 {
		return nil, "", fmt.Errorf("more than one extension in the response: %q", strings.Join(values, ", "))
	}
	for _, e := range offered {
		if e.Name() == resps[0].Name {
			codec, err := e.Accept(resps[0])
			if err != nil {
				return nil, "", err
			}
			return codec, resps[0].String(), nil
		}
	}
	return nil, "", fmt.Errorf("extension %q was not offered", resps[0].Name)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// firstLine returns the first line of b, for error messages.
func firstLine(b []byte) string {
	s := string(b)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}
