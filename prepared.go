package websock

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/websock/websock/internal/deflate"
	"github.com/websock/websock/internal/frame"
)

// PreparedMessage is a message encoded once and written to any number of
// connections with WritePrepared: the frame (and, for each distinct
// permessage-deflate configuration among the connections it is written to,
// the compressed frame) is built the first time it is needed and then
// shared, so broadcasting it to many connections costs one compression per
// configuration and one network write per connection. It is safe for
// concurrent use.
//
// How it is sent depends on what the connection negotiated:
//
//   - No extension, or a message shorter than the deflate threshold: one
//     uncompressed frame.
//   - permessage-deflate where this side compresses without context
//     takeover: one compressed frame, shared by every connection with the
//     same window bits and level.
//   - permessage-deflate with context takeover: one uncompressed frame
//     (RSV1 clear, which RFC 7692 §6 allows at any time). A compressed
//     message would have to be compressed against each connection's own
//     history, which is what sharing avoids; Write compresses per
//     connection instead.
//   - Another extension: the message goes through the connection's codec,
//     like Write.
//
// On a client connection, each frame is masked with a fresh key of the
// connection (RFC 6455 §5.3): the payload is shared, the masking is done
// per connection, as Write does.
type PreparedMessage struct {
	typ  MessageType
	data []byte

	mu      sync.Mutex                       // serialises encodings
	encoded atomic.Pointer[[]*preparedFrame] // one per configuration; a published list is never modified
}

// preparedKey identifies a way of encoding the message.
type preparedKey struct {
	compressed bool
	level      int8
	bits       int8
}

// preparedFrame is the message encoded one way.
type preparedFrame struct {
	key     preparedKey
	rsv     byte
	payload []byte // what goes in the frame, unmasked
	wire    []byte // the whole unmasked frame, header and payload (servers send it as it is)
}

// NewPreparedMessage returns a prepared message of type typ with a copy of
// data. It fails only for an invalid message type.
func NewPreparedMessage(typ MessageType, data []byte) (*PreparedMessage, error) {
	if typ != TextMessage && typ != BinaryMessage {
		return nil, fmt.Errorf("websock: prepared message: invalid message type %d", typ)
	}
	return &PreparedMessage{typ: typ, data: bytes.Clone(data)}, nil
}

// Type returns the message type.
func (pm *PreparedMessage) Type() MessageType { return pm.typ }

// Len returns the length of the message, uncompressed.
func (pm *PreparedMessage) Len() int { return len(pm.data) }

// WritePrepared sends pm as one message, following Write's rules: if ctx
// is done while it waits for its turn, nothing is sent; a failure once the
// frame has started closes the connection. It is safe to call from several
// goroutines and for many connections at once.
func (c *Conn) WritePrepared(ctx context.Context, pm *PreparedMessage) error {
	key, shared := c.preparedKey(len(pm.data))
	if !shared {
		return c.Write(ctx, pm.typ, pm.data)
	}
	f := pm.frame(key)
	if err := c.acquire(ctx, &c.msgSem, 0); err != nil {
		return err
	}
	defer release(&c.msgSem)
	err := c.sendFrame(ctx, 0, outFrame{fin: true, rsv: f.rsv, op: frame.Opcode(pm.typ), payload: f.payload, wire: f.wire})
	if err == nil {
		c.metrics.messageSent(pm.typ, int64(len(pm.data)), int64(len(f.payload)))
	}
	return err
}

// preparedKey returns how the connection sends a message of n bytes
// prepared, or shared false if it must go through the connection's codec.
func (c *Conn) preparedKey(n int) (key preparedKey, shared bool) {
	if c.codec == nil || c.uncompressed.Load() {
		return preparedKey{}, true
	}
	dc, ok := c.codec.(*deflateCodec)
	if !ok {
		return preparedKey{}, false
	}
	level, bits, takeover := dc.c.Params()
	if takeover || n < dc.threshold {
		return preparedKey{}, true
	}
	return preparedKey{compressed: true, level: int8(level), bits: int8(bits)}, true
}

// frame returns the message encoded as key says, encoding it on first use.
func (pm *PreparedMessage) frame(key preparedKey) *preparedFrame {
	if f := pm.lookup(key); f != nil {
		return f
	}
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if f := pm.lookup(key); f != nil {
		return f // encoded while this call waited
	}
	f := pm.encode(key)
	var list []*preparedFrame
	if p := pm.encoded.Load(); p != nil {
		list = append(list, *p...)
	}
	list = append(list, f)
	pm.encoded.Store(&list)
	return f
}

func (pm *PreparedMessage) lookup(key preparedKey) *preparedFrame {
	p := pm.encoded.Load()
	if p == nil {
		return nil
	}
	for _, f := range *p {
		if f.key == key {
			return f
		}
	}
	return nil
}

// encode builds the frame for key.
func (pm *PreparedMessage) encode(key preparedKey) *preparedFrame {
	f := &preparedFrame{key: key, payload: pm.data}
	if key.compressed {
		var buf bytes.Buffer
		comp := deflate.NewCompressor(int(key.level), int(key.bits), false)
		w := comp.Writer(&buf)
		w.Write(pm.data) // a bytes.Buffer does not fail
		w.Close()
		comp.Release()
		f.payload, f.rsv = buf.Bytes(), frame.RSV1
	}
	h := frame.Header{Fin: true, RSV: f.rsv, Opcode: frame.Opcode(pm.typ), Length: int64(len(f.payload))}
	f.wire = make([]byte, frame.MaxHeaderLen+len(f.payload))
	n := frame.Put(f.wire, h)
	n += copy(f.wire[n:], f.payload)
	f.wire = f.wire[:n]
	f.payload = f.wire[n-len(f.payload):]
	return f
}
