package main

import (
	"context"
	"io"
	"sync"

	"github.com/websock/websock"
)

// Echo buffers: lent for one message at a time, so that an idle connection
// holds none, and kept in a pool only up to maxPooledEchoBuffer, so that one
// large message does not leave a large buffer behind.
const (
	echoBufferSize      = 4 << 10
	maxPooledEchoBuffer = 64 << 10
)

var echoBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, echoBufferSize)
	return &b
}}

// echoLoop sends every message back until reading or writing fails. It
// waits for each message holding no buffer (Reader returns once the message
// has started) and borrows one from echoBuffers only to read and send it.
func echoLoop(ctx context.Context, c *websock.Conn) error {
	for {
		typ, r, err := c.Reader(ctx)
		if err != nil {
			return err
		}
		bp := echoBuffers.Get().(*[]byte)
		msg, err := appendAll((*bp)[:0], r)
		if err == nil {
			err = c.Write(ctx, typ, msg)
		}
		if cap(msg) <= maxPooledEchoBuffer {
			*bp = msg[:0]
			echoBuffers.Put(bp)
		}
		if err != nil {
			return err
		}
	}
}

// appendAll appends what r has to dst, growing it as data arrives (never
// from a size announced by the peer).
func appendAll(dst []byte, r io.Reader) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}
