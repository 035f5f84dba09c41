package websock

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/websock/websock/extension"
	"github.com/websock/websock/internal/stream"
)

// HTTP2Client opens WebSockets as streams of HTTP/2 connections (RFC 8441),
// many on one TCP connection: each Dial given it in DialOptions.HTTP2 opens
// a stream on a connection it already has to the same host and port, while
// the server's limit of concurrent streams allows, and dials a new one
// otherwise. An HTTP2Client is safe for concurrent use; its zero value
// verifies certificates against the system roots and dials directly.
//
// A connection whose last stream has ended stays open for IdleTimeout, for
// the next WebSockets; CloseIdleConnections closes such connections at once.
type HTTP2Client struct {
	// TLSConfig is used for wss:// (roots, client certificates); the
	// server name defaults to the URL's host. NextProtos is set to h2 and
	// http/1.1.
	TLSConfig *tls.Config

	// NetDial opens the TCP connection; nil means a net.Dialer.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)

	// AllowCleartext lets ws:// URLs use HTTP/2 without TLS (prior
	// knowledge, RFC 9113 §3.3); the server must accept it. Without it,
	// ws:// URLs are dialled over HTTP/1.1.
	AllowCleartext bool

	// IdleTimeout is how long a connection without streams stays open;
	// 0 means DefaultHTTP2IdleTimeout.
	IdleTimeout time.Duration

	once sync.Once
	t    *http2.Transport
}

// DefaultHTTP2IdleTimeout is how long an HTTP2Client keeps a connection
// without streams, by default: as long as http.DefaultTransport.
const DefaultHTTP2IdleTimeout = 90 * time.Second

// errNoExtendedConnect means the server cannot take a WebSocket over
// HTTP/2: it did not pick h2 in ALPN, or did not send
// SETTINGS_ENABLE_CONNECT_PROTOCOL. Dial then uses HTTP/1.1.
var errNoExtendedConnect = errors.New("server does not accept WebSockets over HTTP/2")

// transport returns the HTTP/2 transport, made on first use.
func (h *HTTP2Client) transport() *http2.Transport {
	h.once.Do(func() {
		idle := h.IdleTimeout
		if idle <= 0 {
			idle = DefaultHTTP2IdleTimeout
		}
		h.t = &http2.Transport{
			AllowHTTP:       h.AllowCleartext,
			DialTLSContext:  h.dialConn,
			IdleConnTimeout: idle,
		}
	})
	return h.t
}

// CloseIdleConnections closes the connections that carry no stream.
func (h *HTTP2Client) CloseIdleConnections() { h.transport().CloseIdleConnections() }

// dialConn opens a connection for the transport: TLS with ALPN h2 for
// wss://, plain TCP for ws:// with AllowCleartext.
func (h *HTTP2Client) dialConn(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
	netDial := h.NetDial
	if netDial == nil {
		netDial = (&net.Dialer{}).DialContext
	}
	nc, err := netDial(ctx, network, addr)
	if err != nil || cfg == nil || h.AllowCleartext && isCleartext(ctx) {
		return nc, err
	}
	if h.TLSConfig != nil {
		server := cfg.ServerName
		cfg = h.TLSConfig.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = server
		}
	}
	// http/1.1 too: a server without HTTP/2 then answers, and Dial falls
	// back to it.
	cfg.NextProtos = []string{http2.NextProtoTLS, "http/1.1"}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("tls: %w", err)
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != http2.NextProtoTLS {
		tc.Close()
		return nil, fmt.Errorf("%w (ALPN: %q)", errNoExtendedConnect, p)
	}
	return tc, nil
}

// cleartextKey marks the context of a ws:// request: its connection has no
// TLS.
type cleartextKey struct{}

func isCleartext(ctx context.Context) bool { return ctx.Value(cleartextKey{}) != nil }

// dialStream opens the WebSocket as an extended CONNECT stream (RFC 8441
// §4 and §5): :protocol websocket, no key, and a 200 for an answer.
func dialStream(ctx context.Context, u *url.URL, secure bool, opts *DialOptions) (*Conn, *http.Response, error) {
	h := opts.HTTP2
	var offers []extension.Offer
	for _, e := range opts.Extensions {
		offers = append(offers, e.Offers()...)
	}
	header := opts.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	for _, k := range []string{"Host", "Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions"} {
		header.Del(k)
	}
	header.Set(":protocol", "websocket")
	header.Set("Sec-WebSocket-Version", "13")
	if len(opts.Subprotocols) > 0 {
		header.Set("Sec-WebSocket-Protocol", strings.Join(opts.Subprotocols, ", "))
	}
	if len(offers) > 0 {
		parts := make([]string, len(offers))
		for i, o := range offers {
			parts[i] = o.String()
		}
		header.Set("Sec-WebSocket-Extensions", strings.Join(parts, ", "))
	}

	// The stream lives as long as the connection, beyond ctx, which only
	// bounds the handshake.
	streamCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if !secure {
		streamCtx = context.WithValue(streamCtx, cleartextKey{}, true)
	}
	var local, remote net.Addr
	streamCtx = httptrace.WithClientTrace(streamCtx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		local, remote = info.Conn.LocalAddr(), info.Conn.RemoteAddr()
	}})
	stop := context.AfterFunc(ctx, cancel)
	target := *u
	target.Scheme = map[bool]string{false: "http", true: "https"}[secure]
	target.Fragment = ""
	pr, pw := io.Pipe()
	req := &http.Request{
		Method: http.MethodConnect,
		URL:    &target,
		Host:   u.Host,
		Header: header,
		Body:   pr,
	}
	resp, err := h.transport().RoundTrip(req.WithContext(streamCtx))
	fail := func(resp *http.Response, err error) (*Conn, *http.Response, error) {
		cancel()
		pw.Close()
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return nil, resp, err
	}
	if err != nil {
		if strings.Contains(err.Error(), "extended connect not supported") {
			err = fmt.Errorf("%w: %w", errNoExtendedConnect, err)
		}
		return fail(nil, fmt.Errorf("websock: dial %s over HTTP/2: %w", u.Redacted(), err))
	}
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		return fail(resp, &HandshakeError{Status: resp.StatusCode, Reason: firstLine(body), Header: resp.Header, Body: body})
	}
	sub, codec, extHeader, err := checkResponse(resp, opts)
	if err == nil && !stop() {
		err = fmt.Errorf("websock: dial: %w", ctx.Err())
	}
	if err != nil {
		resp.Body.Close()
		return fail(resp, err)
	}
	nc := stream.New(stream.Side{
		Body:   resp.Body,
		Writer: pw,
		Abort:  func() { pw.CloseWithError(errStreamAborted) },
		CloseWrite: func() error {
			return pw.Close()
		},
		Close: func() error {
			pw.Close()
			cancel()
			return nil
		},
		Local:  local,
		Remote: remote,
	})
	return newConn(nc, nil, connConfig{
		ConnOptions: opts.ConnOptions,
		subprotocol: sub,
		extensions:  extHeader,
		codec:       codec,
	}), resp, nil
}

// errStreamAborted is what the HTTP/2 transport reads from a request body
// whose write timed out: it resets the stream.
var errStreamAborted = errors.New("websock: stream aborted")
