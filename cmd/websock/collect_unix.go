//go:build unix

package main

import "syscall"

// askToCollect sends the benchmarked server SIGUSR1, on which bench/echo's
// servers collect their garbage and return freed memory to the OS.
func askToCollect(pid int) error { return syscall.Kill(pid, syscall.SIGUSR1) }
