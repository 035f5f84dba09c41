package websock

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/websock/websock/internal/frame"
	"github.com/websock/websock/internal/mask"
)

// rawClient speaks WebSocket byte by byte, so that tests control exactly
// what goes on the wire and see exactly what comes back.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

// hangGuard bounds every read of a test so that a bug fails the test instead
// of hanging it; it is never used to wait for something to happen.
const hangGuard = 10 * time.Second

// guardedConn renews the connection's deadline before each read and write,
// so that hangGuard bounds a wait without progress, not the time a large
// transfer takes on a loaded machine.
type guardedConn struct{ net.Conn }

func (g guardedConn) Read(p []byte) (int, error) {
	g.SetReadDeadline(time.Now().Add(hangGuard))
	return g.Conn.Read(p)
}

func (g guardedConn) Write(p []byte) (int, error) {
	g.SetWriteDeadline(time.Now().Add(hangGuard))
	return g.Conn.Write(p)
}

// dialRaw connects to srv, sends an opening handshake with the extra header
// lines and checks for 101.
func dialRaw(t *testing.T, srv *httptest.Server, extra ...string) *rawClient {
	t.Helper()
	addr := srv.Listener.Addr().String()
	var nc net.Conn
	var err error
	if srv.TLS != nil {
		nc, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		nc, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	for _, l := range extra {
		req += l + "\r\n"
	}
	if _, err := io.WriteString(nc, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	nc = guardedConn{nc}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("Sec-WebSocket-Accept = %q", got)
	}
	return &rawClient{t: t, nc: nc, br: br}
}

// frameBytes encodes a frame, masked with a fixed key unless unmasked.
func frameBytes(fin bool, rsv byte, op frame.Opcode, payload []byte, unmasked bool) []byte {
	h := frame.Header{Fin: fin, RSV: rsv, Opcode: op, Length: int64(len(payload)), Masked: !unmasked, Key: [4]byte{0x37, 0xfa, 0x21, 0x3d}}
	b := make([]byte, frame.MaxHeaderLen+len(payload))
	n := frame.Put(b, h)
	m := copy(b[n:], payload)
	if h.Masked {
		mask.Apply(h.Key, 0, b[n:n+m])
	}
	return b[:n+m]
}

// send writes a masked frame in one write.
func (r *rawClient) send(fin bool, op frame.Opcode, payload []byte) {
	r.write(frameBytes(fin, 0, op, payload, false))
}

func (r *rawClient) write(b []byte) {
	r.t.Helper()
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// writeChopped writes b one byte per write call.
func (r *rawClient) writeChopped(b []byte) {
	for i := range b {
		r.write(b[i : i+1])
	}
}

// readFrame reads one frame from the server, which must not be masked.
func (r *rawClient) readFrame() (frame.Header, []byte, error) {
	var hb [frame.MaxHeaderLen]byte
	if _, err := io.ReadFull(r.br, hb[:2]); err != nil {
		return frame.Header{}, nil, err
	}
	n := frame.Len(hb[0], hb[1])
	if _, err := io.ReadFull(r.br, hb[2:n]); err != nil {
		return frame.Header{}, nil, err
	}
	h, _, err := frame.Parse(hb[:n])
	if err != nil {
		return h, nil, err
	}
	if h.Masked {
		return h, nil, errors.New("server sent a masked frame")
	}
	p := make([]byte, h.Length)
	_, err = io.ReadFull(r.br, p)
	return h, p, err
}

// expectMessage reads one whole message, asserting that it is unfragmented
// and has the given type and payload.
func (r *rawClient) expectMessage(op frame.Opcode, want []byte) {
	r.t.Helper()
	h, p, err := r.readFrame()
	if err != nil {
		r.t.Fatalf("reading message: %v", err)
	}
	if h.Opcode != op || !h.Fin || string(p) != string(want) {
		r.t.Fatalf("got frame op=%d fin=%v len=%d, want op=%d fin=true len=%d", h.Opcode, h.Fin, len(p), op, len(want))
	}
}

// expectClose reads frames up to a close frame, asserts its code, and then
// asserts that the server closes TCP (this side sees EOF).
func (r *rawClient) expectClose(code StatusCode) {
	r.t.Helper()
	for {
		h, p, err := r.readFrame()
		if err != nil {
			r.t.Fatalf("waiting for close %d: %v", code, err)
		}
		if h.Opcode != frame.OpClose {
			continue
		}
		got := frame.CloseNoStatus
		if len(p) >= 2 {
			got = int(binary.BigEndian.Uint16(p))
		}
		if StatusCode(got) != code {
			r.t.Fatalf("close code %d (reason %q), want %d", got, p[min(2, len(p)):], code)
		}
		break
	}
	r.expectEOF()
}

// expectEOF asserts that the server closed the TCP connection.
func (r *rawClient) expectEOF() {
	r.t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(hangGuard))
	b, err := r.br.ReadByte()
	if err == nil {
		r.t.Fatalf("expected the server to close TCP, got byte %#x", b)
	}
	if !errors.Is(err, io.EOF) && !isReset(err) {
		r.t.Fatalf("expected the server to close TCP, got %v", err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func closePayload[C ~int](code C, reason string) []byte {
	return frame.AppendClose(nil, int(code), reason)
}

// serverMode is one of the ways a server reads its connections: a handler
// calling Read, or the poller calling back (Serve, EventHandler).
type serverMode struct {
	served bool
}

// echo starts an echo server reading its connections this way, with opts,
// over TLS if tlsOn: echoServer or eventEchoServer.
func (m serverMode) echo(t testing.TB, tlsOn bool, opts *AcceptOptions) (*httptest.Server, chan error) {
	t.Helper()
	if m.served {
		return eventEchoServer(t, tlsOn, opts)
	}
	return echoServer(t, tlsOn, opts)
}

// eachServer runs f with each way a server reads its connections. What
// the peer sees, and the error that ends the connection, are the same
// both ways.
func eachServer(t *testing.T, f func(t *testing.T, m serverMode)) {
	t.Run("read", func(t *testing.T) { f(t, serverMode{}) })
	t.Run("served", func(t *testing.T) { f(t, serverMode{served: true}) })
}

// echoServer starts a server that echoes every message with opts, over TLS
// if tlsOn. It returns the server and a channel that receives the error
// that ended each connection.
func echoServer(t testing.TB, tlsOn bool, opts *AcceptOptions) (*httptest.Server, chan error) {
	t.Helper()
	ended := make(chan error, 256)
	h := echoHandler(func(w http.ResponseWriter, r *http.Request) (*Conn, error) { return Accept(w, r, opts) }, ended)
	return startServer(t, tlsOn, h), ended
}

// startServer serves h, over TLS if tlsOn, until the test ends.
func startServer(t testing.TB, tlsOn bool, h http.Handler) *httptest.Server {
	var srv *httptest.Server
	if tlsOn {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return srv
}

// echoHandler upgrades with accept and echoes every message, then sends
// the error that ended the connection to ended, if not nil.
func echoHandler(accept func(http.ResponseWriter, *http.Request) (*Conn, error), ended chan error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := accept(w, r)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err == nil {
				err = c.Write(r.Context(), typ, msg)
			}
			if err != nil {
				select {
				case ended <- err: // nil channel: never ready
				default:
				}
				return
			}
		}
	}
}

func eachTransport(t *testing.T, f func(t *testing.T, tlsOn bool)) {
	for _, tlsOn := range []bool{false, true} {
		name := "tcp"
		if tlsOn {
			name = "tls"
		}
		t.Run(name, func(t *testing.T) { f(t, tlsOn) })
	}
}

var _ = fmt.Sprintf
