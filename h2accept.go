package websock

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/websock/websock/internal/stream"
	"github.com/websock/websock/internal/xconnect"
)

// ExtendedConnectEnabled reports whether this process's HTTP/2 servers
// (net/http's, and golang.org/x/net/http2's) advertise
// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3), without which browsers
// open WebSockets over HTTP/1.1 only. Go reads the setting once, from the
// environment at start: GODEBUG=http2xconnect=1. A server can log a
// warning when it is off; see "WebSockets over HTTP/2" in the README.
func ExtendedConnectEnabled() bool {
	return xconnect.Enabled()
}

// checkExtendedConnect applies RFC 8441 §4 and §5 to an HTTP/2 request: a
// CONNECT with :protocol websocket.
func checkExtendedConnect(r *http.Request) error {
	protocol := r.Header.Get(":protocol")
	switch {
	case r.Method != http.MethodConnect:
		return refuse(http.StatusBadRequest, "over HTTP/2, a websocket handshake is an extended CONNECT (RFC 8441), not %s", r.Method)
	case protocol == "":
		return refuse(http.StatusBadRequest, "CONNECT without :protocol is not a websocket handshake")
	case protocol != "websocket":
		return refuse(http.StatusBadRequest, "unsupported :protocol %q, want websocket", protocol)
	case r.Host == "":
		return refuse(http.StatusBadRequest, "missing :authority")
	}
	return nil
}

// acceptStream answers an extended CONNECT with 200 (RFC 8441 §5) and runs
// the connection over the request's stream: the request body carries what
// the client sends, the ResponseWriter what the server sends.
func acceptStream(w http.ResponseWriter, r *http.Request, respHeader http.Header, cfg connConfig, timeout time.Duration) (*Conn, error) {
	rc := http.NewResponseController(w)
	// The stream lives as long as the connection: the http.Server's read
	// and write timeouts, which apply to each stream, must not, and Abort
	// needs the write deadline to interrupt a blocked write. Without
	// deadlines (a wrapper of the ResponseWriter without Unwrap, say) the
	// connection could be cut by those timeouts or hang in a write, so it
	// is refused while nothing has been written. The write deadline is
	// the handshake's until the response is out.
	if err := setStreamDeadlines(rc, time.Now().Add(timeout)); err != nil {
		http.Error(w, "websocket: connection cannot be upgraded", http.StatusInternalServerError)
		return nil, fmt.Errorf("websock: accept: HTTP/2 stream: cannot clear deadlines: %w", err)
	}
	for k, v := range respHeader {
		w.Header()[k] = v
	}
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	nc := stream.New(stream.Side{
		Body:   r.Body,
		Writer: w,
		Flush:  rc.Flush,
		// Deadlines are known to work: setStreamDeadlines succeeded.
		Abort:  func() { rc.SetWriteDeadline(longAgo) },
		Local:  local,
		Remote: remoteAddr(r.RemoteAddr),
	})
	c := newConn(nc, nil, cfg)
	c.frameSem.tryAcquire() // a new connection: free
	defer release(c.frameSem)
	if cfg.tracker != nil {
		cfg.tracker.add(c)
	}
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		err = fmt.Errorf("websock: accept: write response: %w", err)
		c.closeTCP(err)
		return nil, err
	}
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		// The 200 is out: the client sees the stream end.
		err = fmt.Errorf("websock: accept: HTTP/2 stream: cannot clear deadlines: %w", err)
		c.closeTCP(err)
		return nil, err
	}
	// The stream ends with the handler (or a reset from the client), and
	// its ResponseWriter must not be used after: the connection's writes
	// fail from then on, and its reads see the stream's end.
	context.AfterFunc(r.Context(), nc.End)
	return c, nil
}

// setStreamDeadlines clears the stream's read deadline and sets its write
// deadline to write, and reports the first error: http.ErrNotSupported if
// the ResponseWriter has no deadlines.
func setStreamDeadlines(rc *http.ResponseController, write time.Time) error {
	if err := rc.SetReadDeadline(time.Time{}); err != nil {
		return err
	}
	return rc.SetWriteDeadline(write)
}

// remoteAddr parses an http.Request's RemoteAddr.
func remoteAddr(s string) net.Addr {
	if ap, err := net.ResolveTCPAddr("tcp", s); err == nil {
		return ap
	}
	return nil
}
