package websock

import (
	"context"
	"fmt"

	"github.com/websock/websock/internal/frame"
)

// SetWriteCompression turns compression of the messages written from now
// on off (false) or back on (true), when permessage-deflate was agreed; it
// is on by default. Messages below PerMessageDeflate.Threshold are sent
// uncompressed either way. Turning it off suits data that is already
// compressed (images, archives), on which deflate spends time for nothing.
// It may be called at any time, from any goroutine; a message being
// written keeps the setting it started with.
func (c *Conn) SetWriteCompression(on bool) { c.uncompressed.Store(!on) }

// WriteUncompressed sends p as one message of type typ, like Write, but
// never compressed, whatever SetWriteCompression says: for one message of
// data that does not compress. The peer's view of the compressed messages
// around it is unaffected.
func (c *Conn) WriteUncompressed(ctx context.Context, typ MessageType, p []byte) error {
	if typ != TextMessage && typ != BinaryMessage {
		return fmt.Errorf("websock: write: invalid message type %d", typ)
	}
	if err := c.acquire(ctx, &c.msgSem, 0); err != nil {
		return err
	}
	defer release(&c.msgSem)
	return c.sent(typ, p, c.writeFrame(ctx, 0, true, 0, frame.Opcode(typ), p))
}

// SetCompressionLevel sets the deflate level, 1 (fastest) to 9 (smallest),
// of the messages this side compresses from the next one on, overriding
// PerMessageDeflate.Level for this connection. With context takeover the
// next message still refers to the earlier ones, so the peer notices
// nothing. It returns an error for a level out of range, and does nothing
// when permessage-deflate was not agreed. It may be called at any time,
// from any goroutine.
func (c *Conn) SetCompressionLevel(level int) error {
	if level < 1 || level > 9 {
		return fmt.Errorf("websock: compression level %d out of range 1..9", level)
	}
	if dc, ok := c.codec.(*deflateCodec); ok {
		dc.level.Store(int32(level))
	}
	return nil
}
