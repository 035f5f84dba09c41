package main

import (
	"context"
	"errors"
	"fmt"
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
// What the buffer holds beyond websock.BudgetFree counts against budget
// (if not nil), the one the library's reads count against: a message that
// does not fit closes the connection with 1013 (try again later).
func echoLoop(ctx context.Context, c *websock.Conn, budget *websock.Budget) error {
	for {
		typ, r, err := c.Reader(ctx)
		if err != nil {
			return err
		}
		bp := echoBuffers.Get().(*[]byte)
		var reserved int64
		msg, err := appendAll((*bp)[:0], r, func(size int) bool {
			need := int64(size-websock.BudgetFree) - reserved
			if budget == nil || need <= 0 {
				return true
			}
			if !budget.Reserve(need) {
				return false
			}
			reserved += need
			return true
		})
		if err == nil {
			err = c.Write(ctx, typ, msg)
		}
		if budget != nil {
			budget.Release(reserved) // before the peer can see the end
		}
		if errors.Is(err, errOverBudget) {
			c.Close(websock.StatusTryAgainLater, "memory budget exhausted")
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

var errOverBudget = fmt.Errorf("echo: message over the memory budget: %w", websock.ErrBudget)

// appendAll appends what r has to dst, growing it as data arrives (never
// from a size announced by the peer); room(size) is asked before dst grows
// to size bytes, and a refusal ends the read with errOverBudget.
func appendAll(dst []byte, r io.Reader, room func(size int) bool) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			size := max(2*cap(dst), echoBufferSize)
			if !room(size) {
				return dst, errOverBudget
			}
			dst = append(make([]byte, 0, size), dst...)
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
