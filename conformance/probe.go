package conformance

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// ProbeConfig configures Probe.
type ProbeConfig struct {
	// URL of the server under test, ws:// or wss://.
	URL string
	// TLSConfig for wss://; nil verifies against the system roots.
	TLSConfig *tls.Config
	// OriginStatus is the status the server documents for a browser
	// request from a foreign origin; 0 means 403. A server that accepts
	// the foreign origin is reported INFORMATIONAL: it may mean to.
	OriginStatus int
	// MessageLimit is the largest message, in bytes, the server advertises
	// it accepts; 0 leaves the limit check NOT RUN.
	MessageLimit int
	// Timing bounds the waits; the zero value is generous.
	Timing Timing
}

// handshakeProbe is one opening handshake request and what the answer
// must be.
type handshakeProbe struct {
	name string
	// edit changes the headers of a valid request (nil: a valid request),
	// or returns a whole request line and body to send.
	edit   func(h http.Header)
	method string
	body   string
	// judge returns "" if the response is right, else what is wrong.
	judge func(resp *http.Response, key string, cfg ProbeConfig) (verdict, detail string)
}

// refusedWith judges a refusal: one of statuses, never 101.
func refusedWith(statuses ...int) func(*http.Response, string, ProbeConfig) (string, string) {
	return func(resp *http.Response, _ string, _ ProbeConfig) (string, string) {
		if slices.Contains(statuses, resp.StatusCode) {
			return OK, ""
		}
		return Failed, fmt.Sprintf("status %d, want %v", resp.StatusCode, statuses)
	}
}

var handshakeProbes = []handshakeProbe{
	{name: "a valid request is accepted with the exact Sec-WebSocket-Accept (RFC 6455 §4.2.2)",
		judge: func(resp *http.Response, key string, _ ProbeConfig) (string, string) {
			switch {
			case resp.StatusCode != http.StatusSwitchingProtocols:
				return Failed, fmt.Sprintf("status %d, want 101", resp.StatusCode)
			case resp.Header.Get("Sec-WebSocket-Accept") != acceptKey(key):
				return Failed, fmt.Sprintf("Sec-WebSocket-Accept %q, want %q", resp.Header.Get("Sec-WebSocket-Accept"), acceptKey(key))
			case !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket"):
				return Failed, fmt.Sprintf("Upgrade %q, want websocket", resp.Header.Get("Upgrade"))
			case !headerHasToken(resp.Header, "Connection", "upgrade"):
				return Failed, "no upgrade token in Connection"
			}
			return OK, ""
		}},
	{name: "no Sec-WebSocket-Key: 400 (RFC 6455 §4.2.1)", edit: func(h http.Header) { h.Del("Sec-WebSocket-Key") }, judge: refusedWith(400)},
	{name: "a Sec-WebSocket-Key of 8 bytes: 400 (RFC 6455 §4.2.1)",
		edit: func(h http.Header) { h.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString([]byte("8 bytes!"))) }, judge: refusedWith(400)},
	{name: "no upgrade token in Connection: 400 or 426 (RFC 6455 §4.2.1)", edit: func(h http.Header) { h.Set("Connection", "keep-alive") }, judge: refusedWith(400, 426)},
	{name: "method POST: 400 or 405 (RFC 6455 §4.2.1)", method: "POST", judge: refusedWith(400, 405)},
	{name: "a request with a body: refused with 400 (RFC 6455 §4.1: the handshake is a GET without a body)", body: "body", judge: refusedWith(400)},
	{name: "Sec-WebSocket-Version 12: 426 with Sec-WebSocket-Version: 13 (RFC 6455 §4.2.2)",
		edit: func(h http.Header) { h.Set("Sec-WebSocket-Version", "12") },
		judge: func(resp *http.Response, _ string, _ ProbeConfig) (string, string) {
			if resp.StatusCode != http.StatusUpgradeRequired {
				return Failed, fmt.Sprintf("status %d, want 426", resp.StatusCode)
			}
			if !headerHasToken(resp.Header, "Sec-WebSocket-Version", "13") {
				return Failed, fmt.Sprintf("Sec-WebSocket-Version %q, want 13", resp.Header.Values("Sec-WebSocket-Version"))
			}
			return OK, ""
		}},
	{name: "a browser from a foreign origin: refused with 403 or the documented status (RFC 6455 §10.2)",
		edit: func(h http.Header) { h.Set("Origin", "https://foreign.invalid") },
		judge: func(resp *http.Response, _ string, cfg ProbeConfig) (string, string) {
			want := cfg.OriginStatus
			if want == 0 {
				want = http.StatusForbidden
			}
			switch resp.StatusCode {
			case want:
				return OK, ""
			case http.StatusSwitchingProtocols:
				return Informational, "accepted: the server allows every origin"
			}
			return Failed, fmt.Sprintf("status %d, want %d", resp.StatusCode, want)
		}},
	{name: "only an offered subprotocol is chosen (RFC 6455 §4.2.2)",
		edit: func(h http.Header) { h.Set("Sec-WebSocket-Protocol", "websock.conformance.a, websock.conformance.b") },
		judge: func(resp *http.Response, _ string, _ ProbeConfig) (string, string) {
			if p := resp.Header.Values("Sec-WebSocket-Protocol"); len(p) > 1 || (len(p) == 1 && p[0] != "websock.conformance.a" && p[0] != "websock.conformance.b") {
				return Failed, fmt.Sprintf("subprotocol %q chosen, not offered", p)
			}
			return OK, ""
		}},
	{name: "an unknown extension is not accepted (RFC 6455 §9.1)",
		edit: func(h http.Header) { h.Set("Sec-WebSocket-Extensions", "x-websock-conformance; level=1") },
		judge: func(resp *http.Response, _ string, _ ProbeConfig) (string, string) {
			if e := resp.Header.Get("Sec-WebSocket-Extensions"); strings.Contains(e, "x-websock-conformance") {
				return Failed, fmt.Sprintf("extension %q accepted", e)
			}
			return OK, ""
		}},
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// Probe runs the checks beyond Autobahn that need their own connections:
// the opening handshake (CheckHandshake), the closing round trip
// (CheckCloseRoundTrip) and, with cfg.MessageLimit, the message limit
// (CheckMessageLimit). Pass its findings to Findings.
func Probe(ctx context.Context, cfg ProbeConfig) ([]Finding, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, fmt.Errorf("conformance: %s is not a ws:// or wss:// URL", cfg.URL)
	}
	cfg.Timing = cfg.Timing.withDefaults()
	hs := Finding{Check: CheckHandshake, Verdict: OK}
	for _, p := range handshakeProbes {
		verdict, detail := runHandshakeProbe(ctx, u, cfg, p)
		switch {
		case verdict == Failed:
			hs.Verdict = Failed
		case verdict == Informational && hs.Verdict == OK:
			hs.Verdict = Informational
		}
		line := verdict + ": " + p.name
		if detail != "" {
			line += ": " + detail
		}
		hs.Details = append(hs.Details, line)
	}
	out := []Finding{hs, probeCloseRoundTrip(ctx, u, cfg)}
	if cfg.MessageLimit > 0 {
		out = append(out, probeMessageLimit(ctx, u, cfg))
	}
	return out, ctx.Err()
}

// runHandshakeProbe sends one opening handshake request and judges the
// response.
func runHandshakeProbe(ctx context.Context, u *url.URL, cfg ProbeConfig, p handshakeProbe) (string, string) {
	nc, err := dialPeer(ctx, u, cfg.TLSConfig)
	if err != nil {
		return Failed, err.Error()
	}
	defer nc.Close()
	key := newKey()
	h := http.Header{}
	h.Set("Host", u.Host)
	h.Set("Upgrade", "websocket")
	h.Set("Connection", "Upgrade")
	h.Set("Sec-WebSocket-Key", key)
	h.Set("Sec-WebSocket-Version", "13")
	if p.edit != nil {
		p.edit(h)
	}
	method := p.method
	if method == "" {
		method = "GET"
	}
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\n", method, u.RequestURI())
	if p.body != "" {
		h.Set("Content-Length", fmt.Sprint(len(p.body)))
	}
	if err := h.Write(&req); err != nil {
		return Failed, err.Error()
	}
	req.WriteString("\r\n" + p.body)
	if err := nc.SetDeadline(time.Now().Add(openHandshakeTimeout)); err != nil {
		return Failed, err.Error()
	}
	if _, err := io.WriteString(nc, req.String()); err != nil {
		return Failed, "sending the request: " + err.Error()
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		return Failed, "reading the response: " + err.Error()
	}
	return p.judge(resp, key, cfg)
}

func newKey() string {
	var nonce [16]byte
	rand.Read(nonce[:])
	return base64.StdEncoding.EncodeToString(nonce[:])
}

// openProbe opens a WebSocket connection without extensions for a probe.
func openProbe(ctx context.Context, u *url.URL, cfg ProbeConfig) (*session, error) {
	nc, err := dialPeer(ctx, u, cfg.TLSConfig)
	if err != nil {
		return nil, err
	}
	key := newKey()
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: websock-conformance\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	br := bufio.NewReaderSize(nc, 64<<10)
	if _, _, err := clientHandshake(nc, br, req, key, &Case{}); err != nil {
		nc.Close()
		return nil, fmt.Errorf("opening handshake: %w", err)
	}
	return newSession(nc, br, false, nil, cfg.Timing), nil
}

// endProbe closes a probe's connection once the peer has had its say.
func endProbe(s *session) {
	s.sendClose(closePayload(1000, ""), false)
	s.waitFor(s.timing.Drop, func() bool { return s.state == stateClosed })
	s.drop("")
	<-s.readerDone
}

// probeCloseRoundTrip sends close 4000 with a reason; the answer must
// carry a code (RFC 6455 §5.5.1: the endpoint typically echoes it) and a
// valid UTF-8 reason. Autobahn accepts an answer without a code.
func probeCloseRoundTrip(ctx context.Context, u *url.URL, cfg ProbeConfig) Finding {
	f := Finding{Check: CheckCloseRoundTrip}
	s, err := openProbe(ctx, u, cfg)
	if err != nil {
		f.Verdict, f.Details = Failed, []string{err.Error()}
		return f
	}
	s.sendClose(closePayload(4000, "websock conformance: round trip"), false)
	s.waitFor(s.timing.Close, func() bool { return s.gotClose || s.state == stateClosed })
	s.mu.Lock()
	got, code, reason := s.gotClose, s.remoteCode, s.remoteReason
	s.mu.Unlock()
	endProbe(s)
	switch {
	case !got:
		f.Verdict, f.Details = Failed, []string{"no close frame in answer to close 4000"}
	case code == -1:
		f.Verdict, f.Details = Failed, []string{"close 4000 answered with a close frame without a code"}
	case code != 4000 && code != 1000:
		f.Verdict, f.Details = Failed, []string{fmt.Sprintf("close 4000 answered with code %d, want 4000 (echoed) or 1000", code)}
	case !utf8.Valid(reason):
		f.Verdict, f.Details = Failed, []string{"close reason in the answer is not UTF-8"}
	default:
		f.Verdict, f.Details = OK, []string{fmt.Sprintf("close 4000 answered with %d %q", code, reason)}
	}
	return f
}

// probeMessageLimit sends a message of exactly the limit, which must be
// echoed, and on a second connection one byte more, which must be refused
// with 1009.
func probeMessageLimit(ctx context.Context, u *url.URL, cfg ProbeConfig) Finding {
	f := Finding{Check: CheckMessageLimit, Verdict: OK}
	fail := func(format string, args ...any) {
		f.Verdict = Failed
		f.Details = append(f.Details, fmt.Sprintf(format, args...))
	}
	msg := repeat("\xfe\xed\xfa\xce", cfg.MessageLimit)
	s, err := openProbe(ctx, u, cfg)
	if err != nil {
		fail("%v", err)
		return f
	}
	s.send(oneChop, bin(msg))
	s.expectEchoes([]Event{{Kind: "message", Payload: msg, Binary: true}})
	if s.failed != "" {
		fail("a message of %d bytes (the limit): %s", cfg.MessageLimit, s.failed)
	}
	endProbe(s)

	if s, err = openProbe(ctx, u, cfg); err != nil {
		fail("%v", err)
		return f
	}
	s.send(oneChop, bin(append(msg, 0)))
	s.waitFor(s.timing.Fail, func() bool { return s.gotClose || s.state == stateClosed })
	s.mu.Lock()
	got, code, events := s.gotClose, s.remoteCode, len(s.events)
	s.mu.Unlock()
	endProbe(s)
	switch {
	case events > 0:
		fail("a message of %d bytes (one over the limit) was echoed", cfg.MessageLimit+1)
	case !got:
		fail("a message of %d bytes (one over the limit): no close frame", cfg.MessageLimit+1)
	case code != 1009:
		fail("a message of %d bytes (one over the limit): close code %d, want 1009", cfg.MessageLimit+1, code)
	}
	if f.Verdict == OK {
		f.Details = []string{fmt.Sprintf("%d bytes echoed, %d refused with 1009", cfg.MessageLimit, cfg.MessageLimit+1)}
	}
	return f
}
