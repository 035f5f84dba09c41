package conformance

import (
	"bufio"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Select returns the cases whose ids match one of the patterns
// (path.Match syntax, e.g. "1.*", "6.4.*", "5.8"); no pattern selects all.
func Select(cases []*Case, patterns []string) []*Case {
	if len(patterns) == 0 {
		return cases
	}
	var out []*Case
	for _, c := range cases {
		for _, p := range patterns {
			// "6.*" should match "6.4.1" too: try the pattern on every prefix.
			if ok, _ := path.Match(p, c.ID); ok || matchPrefix(p, c.ID) {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

func matchPrefix(p, id string) bool {
	parts := strings.Split(id, ".")
	for i := 1; i < len(parts); i++ {
		if ok, _ := path.Match(p, strings.Join(parts[:i], ".")); ok && strings.HasSuffix(p, "*") {
			return true
		}
	}
	return false
}

// ClientConfig configures RunServer.
type ClientConfig struct {
	// URL of the server under test, ws:// or wss://.
	URL string
	// TLSConfig for wss://; nil verifies against the system roots.
	TLSConfig *tls.Config
	// Progress, if set, is called after each case, from one goroutine at
	// a time.
	Progress func(done, total int, r *Result)
	// Parallel is how many cases run at once (0 or 1: one after the
	// other, as Autobahn does).
	Parallel int
	// Timing bounds the fuzzer's waits; the zero value is generous.
	Timing Timing
	// HTTP2 plays every case on a stream of its own (RFC 8441), the
	// streams sharing HTTP/2 connections: TLS with ALPN h2 for wss://,
	// prior knowledge for ws://.
	HTTP2 bool
}

// RunServer plays cases against the server at cfg.URL, one connection per
// case, and returns their results in the order of cases.
func RunServer(ctx context.Context, cases []*Case, cfg ClientConfig) ([]*Result, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, fmt.Errorf("conformance: %s is not a ws:// or wss:// URL", cfg.URL)
	}
	results := make([]*Result, len(cases))
	var (
		mu   sync.Mutex
		done int
		wg   sync.WaitGroup
	)
	var open opener = tcpOpener{}
	if cfg.HTTP2 {
		h2 := newStreamOpener(u, cfg.TLSConfig)
		defer h2.close()
		open = h2
	}
	slots := make(chan struct{}, max(1, cfg.Parallel))
	for i, c := range cases {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			r := runClientCase(ctx, u, cfg, c, open)
			mu.Lock()
			defer mu.Unlock()
			results[i] = r
			done++
			if cfg.Progress != nil {
				cfg.Progress(done, len(cases), r)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return slices.DeleteFunc(results, func(r *Result) bool { return r == nil }), err
	}
	return results, nil
}

// openHandshakeTimeout bounds the opening handshake (Autobahn: 5 s).
const openHandshakeTimeout = 10 * time.Second

// dialPeer opens TCP, and TLS for wss://, to the server at u.
func dialPeer(ctx context.Context, u *url.URL, tlsConfig *tls.Config) (net.Conn, error) {
	host := u.Host
	if u.Port() == "" {
		host += map[bool]string{true: ":443", false: ":80"}[u.Scheme == "wss"]
	}
	d := net.Dialer{Timeout: openHandshakeTimeout}
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "wss" {
		return nc, nil
	}
	cfg := &tls.Config{}
	if tlsConfig != nil {
		cfg = tlsConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	tc := tls.Client(nc, cfg)
	hctx, cancel := context.WithTimeout(ctx, openHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		nc.Close()
		return nil, err
	}
	return tc, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// opener opens a connection for a case and performs the opening
// handshake: over TCP (HTTP/1.1), or as an HTTP/2 stream.
type opener interface {
	open(ctx context.Context, u *url.URL, cfg ClientConfig, c *Case) (net.Conn, *bufio.Reader, *deflateSession, []Deviation, error)
}

// tcpOpener opens a TCP connection (TLS for wss://) per case.
type tcpOpener struct{}

func (tcpOpener) open(ctx context.Context, u *url.URL, cfg ClientConfig, c *Case) (net.Conn, *bufio.Reader, *deflateSession, []Deviation, error) {
	nc, err := dialPeer(ctx, u, cfg.TLSConfig)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	key := newKey()
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: websock-conformance\r\n" +
		"Upgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n"
	if offers := extensionOffers(c); offers != "" {
		req += "Sec-WebSocket-Extensions: " + offers + "\r\n"
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	br := bufio.NewReaderSize(nc, 64<<10)
	ds, deviations, err := clientHandshake(nc, br, req+"\r\n", key, c)
	if err != nil {
		nc.Close()
		return nil, nil, nil, nil, fmt.Errorf("opening handshake: %w", err)
	}
	return nc, br, ds, deviations, nil
}

// extensionOffers returns the Sec-WebSocket-Extensions value of c's
// offers, or "".
func extensionOffers(c *Case) string {
	if c.Deflate == nil {
		return ""
	}
	var offers []string
	for _, o := range c.Deflate.offers {
		offers = append(offers, o.String())
	}
	return strings.Join(offers, ", ")
}

// runClientCase connects, performs the opening handshake and plays c.
func runClientCase(ctx context.Context, u *url.URL, cfg ClientConfig, c *Case, o opener) *Result {
	start := time.Now()
	nc, br, ds, deviations, err := o.open(ctx, u, cfg, c)
	if err != nil {
		return notOpened(c, false, start, err)
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	s := newSession(nc, br, false, ds, cfg.Timing)
	c.script(s)
	s.finish(c)
	r := grade(c, s, true, start, time.Since(start))
	r.Deviations = append(deviations, r.Deviations...)
	return r
}

// clientHandshake sends the opening handshake and reads the response as
// Autobahn's client does: a 101 with the right Sec-WebSocket-Accept, at
// most one Sec-WebSocket-Extensions header, and a permessage-deflate
// response only to an offer, that it can parse. Other extensions are
// ignored by Autobahn; they, and responses that do not honour the offer,
// are returned as deviations.
func clientHandshake(nc net.Conn, br *bufio.Reader, req, key string, c *Case) (*deflateSession, []Deviation, error) {
	if err := nc.SetDeadline(time.Now().Add(openHandshakeTimeout)); err != nil {
		return nil, nil, err
	}
	if _, err := io.WriteString(nc, req); err != nil {
		return nil, nil, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, nil, err
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, nil, fmt.Errorf("status %s", resp.Status)
	}
	if resp.Header.Get("Sec-WebSocket-Accept") != acceptKey(key) {
		return nil, nil, fmt.Errorf("wrong Sec-WebSocket-Accept")
	}
	return checkHandshakeResponse(resp, c)
}

// checkHandshakeResponse checks the subprotocol and extensions of a successful
// handshake response as Autobahn does.
func checkHandshakeResponse(resp *http.Response, c *Case) (*deflateSession, []Deviation, error) {
	var deviations []Deviation
	if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != "" {
		deviations = append(deviations, Deviation{CheckHandshake, fmt.Sprintf("subprotocol %q chosen though none was offered (RFC 6455 §4.1)", p)})
	}
	exts := resp.Header.Values("Sec-WebSocket-Extensions")
	if len(exts) > 1 {
		return nil, nil, fmt.Errorf("Sec-WebSocket-Extensions header appears more than once")
	}
	var ds *deflateSession
	for _, ext := range splitList(strings.Join(exts, ",")) {
		name, _, _ := strings.Cut(ext, ";")
		if strings.TrimSpace(name) != "permessage-deflate" {
			deviations = append(deviations, Deviation{CheckHandshake, fmt.Sprintf("extension %q accepted though not offered (RFC 6455 §9.1)", ext)})
			continue
		}
		if ds != nil {
			return nil, nil, fmt.Errorf("multiple occurrence of permessage-deflate")
		}
		if c.Deflate == nil {
			return nil, nil, fmt.Errorf("permessage-deflate response %q to no offer", ext)
		}
		var dev string
		var err error
		ds, dev, err = negotiate(c.Deflate.offers, ext)
		if err != nil {
			return nil, nil, err
		}
		if dev != "" {
			deviations = append(deviations, Deviation{CheckDeflateNegotiation, dev})
		}
	}
	return ds, deviations, nil
}

// splitList splits a comma-separated header value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// Server is a fuzzing server: it plays the cases against a client driver
// that follows Autobahn's protocol (GET /getCaseCount, /runCase?case=N&
// agent=A, /updateReports?agent=A) and echoes every message. Case numbers
// are 1-based positions in Cases.
type Server struct {
	Cases []*Case
	// OnReport, if set, is called by /updateReports with the results so
	// far of that agent.
	OnReport func(agent string, results []*Result)
	// Timing bounds the fuzzer's waits; the zero value is generous.
	Timing Timing

	running sync.WaitGroup // cases being played
	mu      sync.Mutex
	results map[string][]*Result
}

// Results returns the results of agent, in the order the cases ran, once
// the cases being played have ended.
func (s *Server) Results(agent string) []*Result {
	s.running.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Result(nil), s.results[agent]...)
}

// ServeHTTP implements the fuzzing server protocol.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	agent := r.URL.Query().Get("agent")
	var c *Case
	switch r.URL.Path {
	case "/getCaseCount", "/updateReports":
	case "/runCase":
		n, err := strconv.Atoi(r.URL.Query().Get("case"))
		if err != nil || n < 1 || n > len(s.Cases) {
			http.Error(w, "no such case", http.StatusNotFound)
			return
		}
		c = s.Cases[n-1]
	default:
		http.NotFound(w, r)
		return
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	overStream := r.ProtoMajor == 2
	switch {
	case overStream && (r.Method != http.MethodConnect || r.Header.Get(":protocol") != "websocket"):
		http.Error(w, "extended CONNECT with :protocol websocket expected", http.StatusBadRequest)
		return
	case !overStream && (!strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || key == ""):
		http.Error(w, "websocket upgrade expected", http.StatusBadRequest)
		return
	}
	if c != nil {
		s.running.Add(1)
		defer s.running.Done()
	}
	var ds *deflateSession
	respExt := ""
	if c != nil && c.Deflate != nil {
		respExt, ds = acceptOffer(r.Header.Values("Sec-WebSocket-Extensions"), c.Deflate.offers[0])
	}
	start := time.Now()
	var nc net.Conn
	var br *bufio.Reader
	var err error
	if overStream {
		nc, br, err = acceptStream(w, r, respExt)
	} else {
		nc, br, err = acceptUpgrade(w, key, respExt)
	}
	if err != nil {
		s.record(agent, c, notOpened(c, true, start, err))
		return
	}
	defer nc.Close()
	sess := newSession(nc, br, true, ds, s.Timing)
	switch {
	case c != nil:
		c.script(sess)
		sess.finish(c)
		s.record(agent, c, grade(c, sess, true, start, time.Since(start)))
	case r.URL.Path == "/getCaseCount":
		sess.send(oneChop, text(strconv.Itoa(len(s.Cases))))
		sess.finish(&Case{Close: CloseExpectation{ClosedByMe: true}})
	default:
		if s.OnReport != nil {
			s.OnReport(agent, s.Results(agent))
		}
		sess.finish(&Case{Close: CloseExpectation{ClosedByMe: true}})
	}
}

// acceptUpgrade answers an HTTP/1.1 handshake with 101 and returns the
// connection.
func acceptUpgrade(w http.ResponseWriter, key, respExt string) (net.Conn, *bufio.Reader, error) {
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, nil, err
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n"
	if respExt != "" {
		resp += "Sec-WebSocket-Extensions: " + respExt + "\r\n"
	}
	err = nc.SetDeadline(time.Time{})
	if err == nil {
		_, err = brw.WriteString(resp + "\r\n")
	}
	if err == nil {
		err = brw.Flush()
	}
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, brw.Reader, nil
}

// record keeps the result of a case for agent; c nil is no case.
func (s *Server) record(agent string, c *Case, res *Result) {
	if c == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.results == nil {
		s.results = map[string][]*Result{}
	}
	s.results[agent] = append(s.results[agent], res)
}

// acceptOffer answers a client's permessage-deflate offers as the fuzzing
// server: the first offer is accepted, with the case's requests.
func acceptOffer(values []string, want deflateOffer) (string, *deflateSession) {
	for _, v := range values {
		for _, offer := range strings.Split(v, ",") {
			params := strings.Split(offer, ";")
			if strings.TrimSpace(params[0]) != "permessage-deflate" {
				continue
			}
			clientBits := false
			for _, p := range params[1:] {
				if k, _, _ := strings.Cut(strings.TrimSpace(p), "="); k == "client_max_window_bits" {
					clientBits = true
				}
			}
			resp := "permessage-deflate"
			ds := &deflateSession{compressTakeover: true, decompressTakeover: true}
			if want.serverNoContextTakeover {
				resp += "; client_no_context_takeover"
				ds.decompressTakeover = false
			}
			if want.serverMaxWindowBits != 0 && clientBits {
				resp += "; client_max_window_bits=" + strconv.Itoa(want.serverMaxWindowBits)
			}
			ds.response = resp
			return resp, ds
		}
	}
	return "", nil
}
