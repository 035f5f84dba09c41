package conformance

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
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
	// Progress, if set, is called after each case.
	Progress func(done, total int, r *Result)
}

// RunServer plays cases against the server at cfg.URL, one connection per
// case, and returns their results in order.
func RunServer(ctx context.Context, cases []*Case, cfg ClientConfig) ([]*Result, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, err
	}
	var results []*Result
	for i, c := range cases {
		if err := ctx.Err(); err != nil {
			return results, err
		}
		r, err := runClientCase(ctx, u, cfg.TLSConfig, c)
		if err != nil {
			r = &Result{ID: c.ID, Description: c.Description, Behavior: Failed, BehaviorClose: Failed, Reason: err.Error(), LocalCode: -1, RemoteCode: -1}
		}
		results = append(results, r)
		if cfg.Progress != nil {
			cfg.Progress(i+1, len(cases), r)
		}
	}
	return results, nil
}

// runClientCase connects, performs the opening handshake and plays c.
func runClientCase(ctx context.Context, u *url.URL, tlsConfig *tls.Config, c *Case) (*Result, error) {
	start := time.Now()
	host := u.Host
	if u.Port() == "" {
		host += map[bool]string{true: ":443", false: ":80"}[u.Scheme == "wss"]
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "wss" {
		cfg := &tls.Config{}
		if tlsConfig != nil {
			cfg = tlsConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	defer nc.Close()
	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: websock-conformance\r\n" +
		"Upgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n"
	if c.Deflate != nil {
		var offers []string
		for _, o := range c.Deflate.offers {
			offers = append(offers, o.String())
		}
		req += "Sec-WebSocket-Extensions: " + strings.Join(offers, ", ") + "\r\n"
	}
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(nc, req+"\r\n"); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, fmt.Errorf("opening handshake: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("opening handshake: status %s", resp.Status)
	}
	if resp.Header.Get("Sec-WebSocket-Accept") != acceptKey(key) {
		return nil, fmt.Errorf("opening handshake: wrong Sec-WebSocket-Accept")
	}
	nc.SetDeadline(time.Time{})
	var ds *deflateSession
	var negotiationErr error
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		if c.Deflate == nil {
			negotiationErr = fmt.Errorf("extension %q in the response was not offered", ext)
		} else {
			ds, negotiationErr = negotiate(c.Deflate.offers, ext)
		}
	}
	s := newSession(nc, br, false, ds)
	if negotiationErr != nil {
		s.violation("%v", negotiationErr)
	}
	c.script(s)
	s.finish(c)
	return grade(c, s, time.Since(start)), nil
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
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || key == "" {
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
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer nc.Close()
	nc.SetDeadline(time.Time{})
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n"
	if respExt != "" {
		resp += "Sec-WebSocket-Extensions: " + respExt + "\r\n"
	}
	brw.WriteString(resp + "\r\n")
	if brw.Flush() != nil {
		return
	}
	start := time.Now()
	sess := newSession(nc, brw.Reader, true, ds)
	switch {
	case c != nil:
		c.script(sess)
		sess.finish(c)
		res := grade(c, sess, time.Since(start))
		s.mu.Lock()
		if s.results == nil {
			s.results = map[string][]*Result{}
		}
		s.results[agent] = append(s.results[agent], res)
		s.mu.Unlock()
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
