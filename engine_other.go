//go:build !linux

package websock

import "net"

// pollReg is unused without a poller.
type pollReg struct{}

// newPollSource returns nil: without a poller, a goroutine reads each
// served connection.
func newPollSource(net.Conn) pollSource { return nil }
