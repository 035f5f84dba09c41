// Package peertest runs, for interoperability tests, WebSocket peers that
// no one here wrote: the scripts of testdata/interop on python3-websockets
// and Node's ws (Debian's python3-websockets and node-ws, which .ci/run
// installs).
package peertest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Command returns the command line that runs script (a .py or .js file of
// dir) with args. When its interpreter or library is missing, the test
// fails under CI (the CI variable set, as .ci/run does) and is skipped
// elsewhere, saying NOT RUN and why (go test -v shows it).
func Command(t testing.TB, dir, script string, args ...string) *exec.Cmd {
	t.Helper()
	path := filepath.Join(dir, script)
	var cmd, check *exec.Cmd
	if strings.HasSuffix(script, ".py") {
		cmd = exec.Command("/usr/bin/python3", append([]string{path}, args...)...)
		check = exec.Command("/usr/bin/python3", "-c", "import websockets")
	} else {
		cmd = exec.Command("node", append([]string{path}, args...)...)
		check = exec.Command("node", "-e", "require('ws')")
		cmd.Env = append(os.Environ(), "NODE_PATH=/usr/share/nodejs")
		check.Env = cmd.Env
	}
	if out, err := check.CombinedOutput(); err != nil {
		msg := strings.TrimSpace(fmt.Sprintf("NOT RUN: the peer for %s is not installed (apt-get install python3-websockets node-ws; .ci/run does): %v %s",
			script, err, out))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return cmd
}

// StartServer starts the echo server script of dir, which prints the
// port it listens on, and returns its ws:// URL. The server is killed
// when the test ends.
func StartServer(t testing.TB, dir, script string, args ...string) string {
	t.Helper()
	cmd := Command(t, dir, script, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	port, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("%s did not start: %v\n%s", script, err, stderr.String())
	}
	return "ws://127.0.0.1:" + strings.TrimSpace(port) + "/"
}
