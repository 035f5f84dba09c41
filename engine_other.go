//go:build !linux

package websock

// pollReg is unused without a poller.
type pollReg struct{}

// newPollSource returns nil: without a poller, a goroutine reads each
// served connection.
func newPollSource(*Conn) pollSource { return nil }
