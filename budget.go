package websock

import (
	"fmt"
	"sync/atomic"
)

// A Budget bounds the memory held for messages being read by all the
// connections that share it (ConnOptions.Budget): the buffers a message is
// assembled in (ReadAppend's growth of dst, the gathered payload of a
// compressed message) and what an interrupted read keeps, until the
// message is handed to the application or dropped. Each message's first
// BudgetFree bytes are free, so small messages never wait on a budget; a
// message that would take the budget past its limit fails the connection
// with status 1013 (try again later) and ErrBudget, which keeps a burst of
// large or hostile messages from growing memory without bound while small
// messages keep flowing.
//
// A Budget is safe for concurrent use. The zero value has no room: make
// one with NewBudget.
type Budget struct {
	limit int64
	used  atomic.Int64
}

// BudgetFree is how much of each message is not counted against a Budget.
const BudgetFree = 64 << 10

// NewBudget returns a budget of limit bytes.
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

// InUse returns the bytes currently counted against the budget.
func (b *Budget) InUse() int64 { return b.used.Load() }

// Limit returns the budget's size in bytes.
func (b *Budget) Limit() int64 { return b.limit }

// Reserve counts n more bytes against the budget if they fit, and reports
// whether they did; Release gives them back. An application counts with
// them the memory it holds for messages itself (a buffer it reads a
// streamed message into, say), so that one budget bounds both.
func (b *Budget) Reserve(n int64) bool {
	for {
		used := b.used.Load()
		if used+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// Release gives back n bytes counted by Reserve.
func (b *Budget) Release(n int64) {
	if n != 0 {
		b.used.Add(-n)
	}
}

// charge makes room for a message's buffers to grow to size bytes in all:
// it counts the growth past BudgetFree against the connection's budget,
// failing the connection when it does not fit. The read semaphore is held.
func (m *messageReader) charge(size int) error {
	b := m.c.budget
	if b == nil || size <= BudgetFree {
		return nil
	}
	need := int64(size-BudgetFree) - m.charged.Load()
	if need <= 0 {
		return nil
	}
	if !b.Reserve(need) {
		return m.c.fail(StatusTryAgainLater, ErrBudget, fmt.Sprintf("a message of %d bytes or more does not fit the memory budget (%d of %d bytes in use)", size, b.InUse(), b.limit))
	}
	m.charged.Add(need)
	return nil
}

// uncharge gives back what the message counted against the budget. Any
// goroutine may call it, any number of times.
func (m *messageReader) uncharge() {
	if b := m.c.budget; b != nil {
		b.Release(m.charged.Swap(0))
	}
}
