package websock

import (
	"bufio"
	"bytes"
	"compress/flate"
	"io"
	"net"
	"testing"
	"time"

	"github.com/websock/websock/extension"
	"github.com/websock/websock/internal/frame"
)

// peer is the far end of a connection under test: a raw TCP connection
// through which a test writes exactly the bytes it wants, when it wants.
type rawPeer struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

// newPair connects a Conn (server side: it expects masked frames) to a
// raw peer over loopback TCP. With compressed, permessage-deflate with
// context takeover is agreed.
func newPair(t testing.TB, opts ConnOptions, compressed bool) (*Conn, *rawPeer) {
	t.Helper()
	cfg := connConfig{ConnOptions: opts, server: true}
	if compressed {
		_, codec, ok := (&PerMessageDeflate{}).Negotiate([]extension.Offer{{Name: extensionName}})
		if !ok {
			t.Fatal("no codec")
		}
		cfg.codec = codec
	}
	return newPairWith(t, cfg)
}

// newPairWith is newPair with the Conn's whole configuration.
func newPairWith(t testing.TB, cfg connConfig) (*Conn, *rawPeer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- nc
	}()
	pc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc := <-accepted
	if sc == nil {
		t.FailNow()
	}
	c := newConn(sc, nil, cfg)
	p := &rawPeer{t: t, nc: pc, br: bufio.NewReader(pc)}
	t.Cleanup(func() {
		c.CloseNow()
		pc.Close()
		<-c.closed.C()
	})
	return c, p
}

// write sends b as it is.
func (p *rawPeer) write(b []byte) {
	p.t.Helper()
	if _, err := p.nc.Write(b); err != nil {
		p.t.Fatalf("peer write: %v", err)
	}
}

// readFrame reads one frame from the Conn (unmasked), failing the test
// after hangGuard.
func (p *rawPeer) readFrame() (frame.Header, []byte) {
	p.t.Helper()
	p.nc.SetReadDeadline(time.Now().Add(hangGuard))
	var hb [frame.MaxHeaderLen]byte
	if _, err := io.ReadFull(p.br, hb[:2]); err != nil {
		p.t.Fatalf("peer read: %v", err)
	}
	n := frame.Len(hb[0], hb[1])
	if _, err := io.ReadFull(p.br, hb[2:n]); err != nil {
		p.t.Fatalf("peer read: %v", err)
	}
	h, _, err := frame.Parse(hb[:n])
	if err != nil {
		p.t.Fatalf("peer parse: %v", err)
	}
	b := make([]byte, h.Length)
	if _, err := io.ReadFull(p.br, b); err != nil {
		p.t.Fatalf("peer read payload: %v", err)
	}
	return h, b
}

// readEOF asserts that the Conn closes TCP without sending anything more
// than frames whose opcode is in allowed.
func (p *rawPeer) readEOF(allowed ...frame.Opcode) {
	p.t.Helper()
	p.nc.SetReadDeadline(time.Now().Add(hangGuard))
	for {
		var hb [frame.MaxHeaderLen]byte
		if _, err := io.ReadFull(p.br, hb[:2]); err != nil {
			if isTimeout(err) {
				p.t.Fatal("the connection was not closed")
			}
			return
		}
		op := frame.Opcode(hb[0] & 0x0f)
		if !bytes.Contains(opcodes(allowed), []byte{byte(op)}) {
			p.t.Fatalf("got a %v frame, want the end of the connection", op)
		}
		n := frame.Len(hb[0], hb[1])
		io.ReadFull(p.br, hb[2:n])
		h, _, _ := frame.Parse(hb[:n])
		io.ReadFull(p.br, make([]byte, h.Length))
	}
}

func opcodes(ops []frame.Opcode) []byte {
	b := make([]byte, len(ops))
	for i, op := range ops {
		b[i] = byte(op)
	}
	return b
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// compress returns p compressed as one permessage-deflate message
// (RFC 7692 §7.2.1: a sync flush without its final four bytes).
func compress(t testing.TB, p []byte) []byte {
	t.Helper()
	return compressLevel(t, p, flate.BestSpeed)
}

// compressLevel is compress with a compression level of compress/flate
// (flate.NoCompression: stored blocks; flate.HuffmanOnly: no matches).
func compressLevel(t testing.TB, p []byte, level int) []byte {
	t.Helper()
	var b bytes.Buffer
	fw, err := flate.NewWriter(&b, level)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(p)
	fw.Flush()
	out := b.Bytes()
	if !bytes.HasSuffix(out, []byte{0, 0, 0xff, 0xff}) {
		t.Fatal("no sync flush tail")
	}
	return out[:len(out)-4]
}

// pattern returns n bytes of printable ASCII that differ along their length
// (so that a shifted or truncated copy does not compare equal).
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte((i/7+int(seed))%26)
	}
	return b
}
