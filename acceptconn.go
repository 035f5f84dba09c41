package websock

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// maxRequestHeaderBytes bounds the opening handshake AcceptConn reads, as
// http.Server's default bounds request headers.
const maxRequestHeaderBytes = http.DefaultMaxHeaderBytes

// AcceptConn performs the server side of the opening handshake on a
// connection that no http.Server manages (a listener of one's own, a
// multiplexer, a server that parses HTTP itself): it reads the HTTP
// request from nc, then upgrades it exactly as Accept does, with the same
// checks, hooks, negotiation and options, and returns the connection and
// the request. opts may be nil.
//
// Reading the request and writing the response are bounded by
// HandshakeTimeout, and the request's header by 1 MiB. A request that is
// not an acceptable WebSocket handshake is answered with the matching
// HTTP status and a one-line reason, as Accept answers it; nc is then
// closed and the error (a *HandshakeError, or the reason the request could
// not be read) returned. Bytes the client sent after its request are kept
// for the connection. If nc is a *tls.Conn, the request's TLS field is set.
func AcceptConn(nc net.Conn, opts *AcceptOptions) (*Conn, *http.Request, error) {
	if opts == nil {
		opts = &AcceptOptions{}
	}
	timeout := opts.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	nc.SetDeadline(time.Now().Add(timeout))
	limited := &io.LimitedReader{R: nc, N: maxRequestHeaderBytes + 4096}
	br := bufio.NewReaderSize(limited, 4096)
	r, err := http.ReadRequest(br)
	if err != nil {
		status := http.StatusBadRequest
		if limited.N <= 0 {
			status = http.StatusRequestHeaderFieldsTooLarge
		}
		if !errors.Is(err, io.EOF) && !isTimeoutErr(err) {
			w := &connResponseWriter{nc: nc, header: http.Header{}}
			http.Error(w, "malformed HTTP request", status)
			w.finish()
		}
		nc.Close()
		return nil, nil, fmt.Errorf("websock: accept: read request: %w", err)
	}
	r.RemoteAddr = nc.RemoteAddr().String()
	if tc, ok := nc.(*tls.Conn); ok {
		state := tc.ConnectionState()
		r.TLS = &state
	}
	w := &connResponseWriter{nc: nc, br: br, header: http.Header{}}
	c, err := Accept(w, r, opts)
	if err != nil {
		if !w.hijacked {
			w.finish()
			nc.Close()
		}
		return nil, r, err
	}
	return c, r, nil
}

func isTimeoutErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// connResponseWriter is the http.ResponseWriter AcceptConn gives Accept:
// it can be hijacked for the upgrade, or gathers a refusal, which finish
// sends as a whole response before the connection is closed.
type connResponseWriter struct {
	nc       net.Conn
	br       *bufio.Reader
	header   http.Header
	status   int
	body     bytes.Buffer
	hijacked bool
}

func (w *connResponseWriter) Header() http.Header { return w.header }

func (w *connResponseWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *connResponseWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if w.body.Len()+len(p) > 4096 {
		return 0, errors.New("websock: refusal body too long")
	}
	return w.body.Write(p)
}

// Hijack hands the connection over for the 101 response.
func (w *connResponseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.hijacked = true
	return w.nc, bufio.NewReadWriter(w.br, bufio.NewWriter(w.nc)), nil
}

// finish writes the refusal gathered.
func (w *connResponseWriter) finish() {
	if w.status == 0 {
		w.status = http.StatusInternalServerError
	}
	bw := bufio.NewWriter(w.nc)
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", w.status, http.StatusText(w.status))
	w.header.Set("Content-Length", strconv.Itoa(w.body.Len()))
	w.header.Set("Connection", "close")
	w.header.Write(bw)
	bw.WriteString("\r\n")
	bw.Write(w.body.Bytes())
	bw.Flush()
}
