package conformance

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/net/http2"

	"github.com/websock/websock/internal/stream"
)

// streamOpener opens each case as an extended CONNECT stream (RFC 8441)
// on HTTP/2 connections it shares between cases.
type streamOpener struct {
	t *http2.Transport
}

func newStreamOpener(u *url.URL, tlsConfig *tls.Config) *streamOpener {
	cleartext := u.Scheme == "ws"
	dial := func(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
		d := net.Dialer{Timeout: openHandshakeTimeout}
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil || cleartext {
			return nc, err
		}
		if tlsConfig != nil {
			server := cfg.ServerName
			cfg = tlsConfig.Clone()
			if cfg.ServerName == "" {
				cfg.ServerName = server
			}
		}
		cfg.NextProtos = []string{http2.NextProtoTLS}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		return tc, nil
	}
	return &streamOpener{t: &http2.Transport{AllowHTTP: cleartext, DialTLSContext: dial}}
}

func (o *streamOpener) close() { o.t.CloseIdleConnections() }

// open sends the extended CONNECT and returns the stream once the server
// has answered 200.
func (o *streamOpener) open(ctx context.Context, u *url.URL, cfg ClientConfig, c *Case) (net.Conn, *bufio.Reader, *deflateSession, []Deviation, error) {
	target := *u
	target.Scheme = map[bool]string{true: "http", false: "https"}[u.Scheme == "ws"]
	header := http.Header{
		":protocol":             {"websocket"},
		"Sec-Websocket-Version": {"13"},
		"User-Agent":            {"websock-conformance"},
	}
	if offers := extensionOffers(c); offers != "" {
		header.Set("Sec-WebSocket-Extensions", offers)
	}
	// The stream lives beyond the handshake; the handshake's bound
	// cancels it only until the answer.
	streamCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	timer := time.AfterFunc(cfg.Timing.withDefaults().Open, cancel)
	stop := context.AfterFunc(ctx, cancel)
	pr, pw := io.Pipe()
	req := &http.Request{Method: http.MethodConnect, URL: &target, Host: u.Host, Header: header, Body: pr}
	resp, err := o.t.RoundTrip(req.WithContext(streamCtx))
	if err == nil && (!timer.Stop() || !stop()) {
		resp.Body.Close()
		err = errors.New("opening handshake timed out")
	}
	if err == nil && resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		err = fmt.Errorf("status %s", resp.Status)
	}
	var ds *deflateSession
	var deviations []Deviation
	if err == nil {
		if ds, deviations, err = checkHandshakeResponse(resp, c); err != nil {
			resp.Body.Close()
		}
	}
	if err != nil {
		cancel()
		pw.Close()
		return nil, nil, nil, nil, fmt.Errorf("opening handshake: %w", err)
	}
	nc := stream.New(stream.Side{
		Body:       resp.Body,
		Writer:     pw,
		Abort:      func() { pw.CloseWithError(errors.New("write timed out")) },
		CloseWrite: pw.Close,
		Close: func() error {
			pw.Close()
			cancel()
			return nil
		},
	})
	return nc, bufio.NewReaderSize(nc, 64<<10), ds, deviations, nil
}

// acceptStream answers an extended CONNECT with 200 and returns the
// stream: the request body carries what the client sends.
func acceptStream(w http.ResponseWriter, r *http.Request, respExt string) (net.Conn, *bufio.Reader, error) {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	if respExt != "" {
		w.Header().Set("Sec-WebSocket-Extensions", respExt)
	}
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return nil, nil, err
	}
	nc := stream.New(stream.Side{
		Body:   r.Body,
		Writer: w,
		Flush:  rc.Flush,
		Abort:  func() { rc.SetWriteDeadline(time.Unix(1, 0)) },
	})
	// The stream ends with the handler, which returns once the case is
	// graded.
	context.AfterFunc(r.Context(), nc.End)
	return nc, bufio.NewReaderSize(nc, 64<<10), nil
}
