//go:build unix

package main

import "syscall"

// descriptorLimit returns the process's file descriptor limit (the soft
// RLIMIT_NOFILE, which Go raises to the hard limit at start), or 0 if it is
// unknown.
func descriptorLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return uint64(r.Cur)
}
