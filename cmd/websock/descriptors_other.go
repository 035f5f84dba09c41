//go:build !unix

package main

// descriptorLimit returns 0: the file descriptor limit is unknown here.
func descriptorLimit() uint64 { return 0 }
