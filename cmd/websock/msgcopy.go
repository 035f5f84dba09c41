package main

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/websock/websock"
)

// copyBuffers are lent for copying one message.
var copyBuffers = sync.Pool{New: func() any {
	b := make([]byte, 32<<10)
	return &b
}}

// copyMessage waits for c's next message and copies its payload to w
// through a lent buffer, so that a connection waiting for a message holds
// none. It returns what ended reading, if anything; w remembers a failed
// write.
func copyMessage(ctx context.Context, c *websock.Conn, w *timedWriter) error {
	_, r, err := c.Reader(ctx)
	if err != nil {
		return err
	}
	bp := copyBuffers.Get().(*[]byte)
	_, err = io.CopyBuffer(w, r, *bp)
	copyBuffers.Put(bp)
	if w.err != nil {
		return nil
	}
	return err
}

// timedWriter writes to a pipe or a connection, each write bounded by
// timeout (if not 0 and w can time out writes), and remembers a failure. It hides
// w's ReadFrom, so that copies use the lent buffer.
type timedWriter struct {
	w       io.Writer
	timeout time.Duration
	err     error
}

func (d *timedWriter) Write(p []byte) (int, error) {
	if dl, ok := d.w.(interface{ SetWriteDeadline(time.Time) error }); ok && d.timeout > 0 {
		dl.SetWriteDeadline(time.Now().Add(d.timeout))
	}
	n, err := d.w.Write(p)
	if err != nil {
		d.err = err
	}
	return n, err
}
