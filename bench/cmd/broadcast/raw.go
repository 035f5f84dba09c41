package main

import (
	"bytes"
	"compress/flate"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/websock/websock/internal/frame"
)

// rawServer is no library: it answers the handshake itself and broadcasts
// by writing a frame built once to each connection, one write per
// delivered message. Its CPU per delivery is the floor for any library
// that makes one write per message: what the kernel charges for the write.
type rawServer struct {
	compress bool
	registry[net.Conn]
}

func (s *rawServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	ext := ""
	if s.compress && strings.Contains(r.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
		ext = "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"
	}
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(sum[:]) + "\r\n" + ext + "\r\n")
	if err := brw.Flush(); err != nil {
		nc.Close()
		return
	}
	s.add(nc)
	// The clients send nothing; reading finds their end.
	go func() {
		io.Copy(io.Discard, nc)
		nc.Close()
	}()
}

func (s *rawServer) broadcast(msgs [][]byte) {
	conns := s.all()
	wires := make([][]byte, len(msgs))
	for i, m := range msgs {
		wires[i] = s.frame(m)
	}
	inParts(conns, func(nc net.Conn) {
		for _, w := range wires {
			nc.Write(w)
		}
	})
}

// frame returns msg as one unmasked text frame, compressed (RFC 7692) if
// the server compresses.
func (s *rawServer) frame(msg []byte) []byte {
	h := frame.Header{Fin: true, Opcode: frame.OpText}
	payload := msg
	if s.compress {
		var b bytes.Buffer
		fw, _ := flate.NewWriter(&b, flate.BestSpeed)
		fw.Write(msg)
		fw.Flush()
		payload = bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
		h.RSV = frame.RSV1
	}
	h.Length = int64(len(payload))
	out := make([]byte, frame.MaxHeaderLen+len(payload))
	n := frame.Put(out, h)
	return append(out[:n], payload...)
}
