//go:build unix

package main

import (
	"os/exec"
	"syscall"
)

// inProcessGroup runs cmd in a process group of its own, so that ending it
// (SIGTERM when its context ends) reaches what it started, and a signal
// from the terminal to the server does not.
func inProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
}

// killProcessGroup kills what is left of the process group led by pid,
// whose leader has been waited for. The group's id cannot be reused while
// one of its processes lives.
func killProcessGroup(pid int) { syscall.Kill(-pid, syscall.SIGKILL) }
