package websock

import (
	"context"
	"errors"
	"testing"

	"github.com/websock/websock/internal/frame"
)

// SetReadLimit reads its argument as ConnOptions.ReadLimit does.
func TestSetReadLimit(t *testing.T) {
	c, p := newPair(t, ConnOptions{ReadLimit: 10}, false)
	ctx := context.Background()
	c.SetReadLimit(0) // the default, not "no limit"
	if got := c.readLimit.Load(); got != DefaultReadLimit {
		t.Fatalf("SetReadLimit(0) gives a limit of %d, want DefaultReadLimit", got)
	}
	p.write(frameBytes(true, 0, frame.OpBinary, make([]byte, 11), false))
	if _, msg, err := c.Read(ctx); err != nil || len(msg) != 11 {
		t.Fatalf("11 bytes under the default limit: %d %v", len(msg), err)
	}
	c.SetReadLimit(-1)
	if got := c.readLimit.Load(); got > 0 {
		t.Fatalf("SetReadLimit(-1) gives a limit of %d, want none", got)
	}
	c.SetReadLimit(5)
	p.write(frameBytes(true, 0, frame.OpBinary, make([]byte, 5), false))
	if _, msg, err := c.Read(ctx); err != nil || len(msg) != 5 {
		t.Fatalf("5 bytes at a limit of 5: %d %v", len(msg), err)
	}
	p.write(frameBytes(true, 0, frame.OpBinary, make([]byte, 6), false))
	if _, _, err := c.Read(ctx); !errors.Is(err, ErrMessageTooBig) {
		t.Fatalf("6 bytes at a limit of 5: %v", err)
	}
	p.expectClose(StatusMessageTooBig)
}
