//go:build !unix

package main

import "os/exec"

// inProcessGroup leaves cmd as it is: without process groups, ending the
// program kills it alone.
func inProcessGroup(*exec.Cmd) {}

// killProcessGroup does nothing without process groups.
func killProcessGroup(int) {}
