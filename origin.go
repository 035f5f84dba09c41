package websock

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// ErrOriginNotAllowed is wrapped by the *HandshakeError (403) of a request
// from a browser whose origin the server does not admit.
var ErrOriginNotAllowed = errors.New("websock: origin not allowed")

// The origin policy (AcceptOptions.OriginPatterns). An origin is a scheme,
// a host and a port (RFC 6454 §4): a page served from another port of the
// same host is another origin. Browsers send it in the Origin header.
//
// A request is admitted when it has no Origin (not a browser), when its
// Origin has the host and port of its Host header (the same origin; the
// scheme is not compared, since TLS is often ended by a proxy in front of
// the server), or when an origin pattern matches. A pattern is
// [scheme://]host[:port]: the host is a path.Match pattern
// ("*.example.com"), the port a number or "*", and a part left out matches
// anything: "example.com" admits every scheme and port of example.com,
// "http://127.0.0.1:8000" that origin alone. "null", the origin of file://
// pages and sandboxed frames, is admitted only by the pattern "null",
// never by "*": any page can make itself a null origin.

// ValidateOriginPatterns returns an error naming each malformed pattern
// (see AcceptOptions.OriginPatterns), or nil. A malformed pattern never
// matches; servers should call it when they start.
func ValidateOriginPatterns(patterns []string) error {
	var errs []error
	for _, p := range patterns {
		if _, err := parseOriginPattern(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// OriginPattern returns the origin pattern that admits exactly origin, the
// value of a request's Origin header: "null", or scheme://host:port with
// the port made explicit where the scheme has a default. A server can log it when it refuses a browser.
func OriginPattern(origin string) (string, error) {
	if origin == "null" {
		return "null", nil
	}
	u, err := parseOrigin(origin)
	if err != nil {
		return "", err
	}
	host := u.Host
	if port := originPort(u.Scheme, u.Port()); port != "" {
		host = net.JoinHostPort(u.Hostname(), port)
	}
	return u.Scheme + "://" + host, nil
}

// originPattern is a parsed entry of AcceptOptions.OriginPatterns; empty
// parts match anything.
type originPattern struct {
	null   bool
	scheme string
	host   string // a path.Match pattern, lower case, without brackets
	port   string // a number, "*" or ""
}

func parseOriginPattern(p string) (originPattern, error) {
	bad := func(why string) (originPattern, error) {
		return originPattern{}, fmt.Errorf("websock: origin pattern %q: %s", p, why)
	}
	s := strings.ToLower(strings.TrimSpace(p))
	if s == "null" {
		return originPattern{null: true}, nil
	}
	var op originPattern
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		if scheme == "" || strings.Trim(scheme, "abcdefghijklmnopqrstuvwxyz0123456789+.-") != "" {
			return bad("the scheme is not a URL scheme")
		}
		op.scheme, s = scheme, rest
	}
	if strings.ContainsAny(s, "/?#@ ") {
		return bad("a pattern is [scheme://]host[:port], with no path, query or user")
	}
	op.host = s
	if end := strings.LastIndex(s, "]"); strings.HasPrefix(s, "[") && end > 0 {
		op.host, s = s[1:end], s[end+1:]
		if s != "" && s[0] != ':' {
			return bad("a port follows ] after a colon")
		}
		op.port = strings.TrimPrefix(s, ":")
	} else if i := strings.LastIndex(s, ":"); i >= 0 {
		op.host, op.port = s[:i], s[i+1:]
	}
	if op.host == "" {
		return bad("no host (\"*\" is any host)")
	}
	if _, err := path.Match(op.host, ""); err != nil {
		return bad("the host is not a valid path.Match pattern")
	}
	if n, err := strconv.Atoi(op.port); op.port != "" && op.port != "*" && (err != nil || n < 1 || n > 65535) {
		return bad("the port is not a number from 1 to 65535, or *")
	}
	return op, nil
}

// matches reports whether the pattern admits the origin u (not null).
func (op originPattern) matches(u *url.URL) bool {
	if op.null || op.scheme != "" && op.scheme != strings.ToLower(u.Scheme) {
		return false
	}
	if op.port != "" && op.port != "*" && op.port != originPort(u.Scheme, u.Port()) {
		return false
	}
	ok, _ := path.Match(op.host, strings.ToLower(u.Hostname()))
	return ok
}

// parseOrigin parses an Origin header other than "null": scheme://host[:port].
func parseOrigin(origin string) (*url.URL, error) {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("websock: invalid Origin %q", origin)
	}
	return u, nil
}

// originPort returns port, or the default port of scheme when it is empty.
func originPort(scheme, port string) string {
	if port != "" {
		return port
	}
	switch strings.ToLower(scheme) {
	case "https", "wss":
		return "443"
	case "http", "ws":
		return "80"
	}
	return ""
}

// checkOrigin applies the origin policy to r: nil, or a *HandshakeError
// (403) that says why, wrapping ErrOriginNotAllowed.
func checkOrigin(r *http.Request, patterns []string) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	refuse := func(format string, args ...any) error {
		return &HandshakeError{Status: http.StatusForbidden, Reason: fmt.Sprintf(format, args...), err: ErrOriginNotAllowed}
	}
	if origin == "null" {
		for _, p := range patterns {
			if op, err := parseOriginPattern(p); err == nil && op.null {
				return nil
			}
		}
		return refuse(`origin "null" (a file:// page or a sandboxed frame) is not allowed; only the origin pattern "null" admits it`)
	}
	u, err := parseOrigin(origin)
	if err != nil {
		return refuse("invalid Origin %q", origin)
	}
	if sameOrigin(u, r.Host) {
		return nil
	}
	for _, p := range patterns {
		if op, err := parseOriginPattern(p); err == nil && op.matches(u) {
			return nil
		}
	}
	return refuse("origin %q is not allowed: it is not the origin of %q (another host or port is another origin) and no allowed origin pattern matches it", origin, r.Host)
}

// sameOrigin reports whether the origin u has the host and port of the
// Host header host, where a Host without port has the origin's default
// port.
func sameOrigin(u *url.URL, host string) bool {
	h, port := host, ""
	if hh, p, err := net.SplitHostPort(host); err == nil {
		h, port = hh, p
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.EqualFold(h, u.Hostname()) && originPort(u.Scheme, port) == originPort(u.Scheme, u.Port())
}
