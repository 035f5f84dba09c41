// Package xconnect turns on HTTP/2 extended CONNECT (RFC 8441) in Go's
// HTTP/2 servers, which read GODEBUG=http2xconnect=1 from the environment
// once, at start, and advertise SETTINGS_ENABLE_CONNECT_PROTOCOL only then.
package xconnect

import (
	"fmt"
	"os"
	"strings"
)

// setting is the GODEBUG item that turns extended CONNECT on.
const setting = "http2xconnect=1"

// Enabled reports whether this process started with extended CONNECT on.
func Enabled() bool { return strings.Contains(os.Getenv("GODEBUG"), setting) }

// Environ returns the environment of this process with extended CONNECT
// turned on, the other GODEBUG settings kept.
func Environ() []string {
	env := os.Environ()
	for i, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			env[i] = "GODEBUG=" + setting
			if v != "" {
				env[i] += "," + v
			}
			return env
		}
	}
	return append(env, "GODEBUG="+setting)
}

// Restart runs this program again, in place of this process where the
// system allows, with the same arguments and extended CONNECT on, unless
// it is on already. It returns only when it is on, or with the error that
// kept it from restarting.
func Restart() error {
	if Enabled() {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	return restart(exe, os.Args, Environ())
}

// MustRestart is Restart for a TestMain: it exits with status 2, saying
// why, when the setting cannot be turned on.
func MustRestart() {
	if err := Restart(); err != nil {
		fmt.Fprintln(os.Stderr, "cannot turn on HTTP/2 extended CONNECT:", err)
		os.Exit(2)
	}
}
