//go:build unix

package xconnect

import "syscall"

// restart replaces the process image.
func restart(exe string, args, env []string) error { return syscall.Exec(exe, args, env) }
