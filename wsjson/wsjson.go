// Package wsjson reads and writes JSON values as WebSocket messages, one
// value per text message.
//
// It allocates nothing beyond what encoding/json allocates: Write sends the
// bytes json.Marshal returns as they are, and Read reads each message into
// a pooled buffer that it gives back once json.Unmarshal has decoded it.
package wsjson

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/websock/websock"
)

// Write encodes v with json.Marshal and sends it as one text message. An
// encoding error is returned before anything is sent.
func Write(ctx context.Context, c *websock.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("wsjson: encode: %w", err)
	}
	return c.Write(ctx, websock.TextMessage, b)
}

// Read reads the next message and decodes it into v with json.Unmarshal.
// The connection's read limit bounds the message. A binary message is not
// JSON: Read starts the closing handshake with status 1003 (unsupported
// data) and returns an error; the next read completes the handshake. A text message that does not decode into v
// returns the decoding error, and the connection stays usable.
func Read(ctx context.Context, c *websock.Conn, v any) error {
	bp := buffers.Get().(*[]byte)
	defer putBuffer(bp)
	typ, b, err := c.ReadAppend(ctx, (*bp)[:0])
	*bp = b[:0]
	if err != nil {
		return err
	}
	if typ != websock.TextMessage {
		c.CloseWrite(websock.StatusUnsupportedData, "expected JSON in a text message")
		return fmt.Errorf("wsjson: read: got a %v message, want text", typ)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("wsjson: decode: %w", err)
	}
	return nil
}

// maxPooled is the largest buffer kept for later messages; larger ones
// are left to the garbage collector, so that one big message does not
// stay in memory for ever.
const maxPooled = 64 << 10

var buffers = sync.Pool{New: func() any {
	b := make([]byte, 0, 512)
	return &b
}}

func putBuffer(bp *[]byte) {
	if cap(*bp) <= maxPooled {
		buffers.Put(bp)
	}
}
