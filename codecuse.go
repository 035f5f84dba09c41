package websock

import (
	"sync"

	"github.com/websock/websock/extension"
)

// codecUse tells a connection's codec when it may give back what it holds:
// once the connection has ended and no read or write call is using it.
type codecUse struct {
	mu    sync.Mutex
	busy  int  // calls using the codec now
	ended bool // the connection has ended; nothing starts using it any more
}

// enter marks the start of a call that may use codec; it reports false,
// and marks nothing, once the connection has ended.
func (u *codecUse) enter(codec extension.Codec) bool {
	if codec == nil {
		return true
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ended {
		return false
	}
	u.busy++
	return true
}

// leave marks the end of a call that entered.
func (u *codecUse) leave(codec extension.Codec) {
	if codec == nil {
		return
	}
	u.mu.Lock()
	u.busy--
	last := u.ended && u.busy == 0
	u.mu.Unlock()
	if last {
		codec.Release()
	}
}

// end marks the end of the connection, releasing codec now or when the
// last call using it leaves.
func (u *codecUse) end(codec extension.Codec) {
	if codec == nil {
		return
	}
	u.mu.Lock()
	first := !u.ended
	u.ended = true
	idle := u.busy == 0
	u.mu.Unlock()
	if first && idle {
		codec.Release()
	}
}
