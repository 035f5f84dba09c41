package websock

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Peers that no one here wrote: python3-websockets and Node's ws, installed
// from Debian by .ci/run.

// peer returns the command line for a script of testdata/interop. When
// the peer is missing, the test fails under CI (CI set, as .ci/run does)
// and is skipped elsewhere, saying NOT RUN and why (go test -v shows it).
func peer(t *testing.T, script string, args ...string) *exec.Cmd {
	t.Helper()
	var cmd *exec.Cmd
	var check *exec.Cmd
	if strings.HasSuffix(script, ".py") {
		cmd = exec.Command("/usr/bin/python3", append([]string{"testdata/interop/" + script}, args...)...)
		check = exec.Command("/usr/bin/python3", "-c", "import websockets")
	} else {
		cmd = exec.Command("node", append([]string{"testdata/interop/" + script}, args...)...)
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

// TestForeignClientsAgainstOurServer runs the foreign clients against our
// server, over TCP and TLS.
func TestForeignClientsAgainstOurServer(t *testing.T) {
	for _, script := range []string{"client.py", "client.js"} {
		for _, tlsOn := range []bool{false, true} {
			for _, compress := range []bool{false, true} {
				name := fmt.Sprintf("%s/tls=%v/deflate=%v", script, tlsOn, compress)
				t.Run(name, func(t *testing.T) {
					var args []string
					if compress {
						args = append(args, "--deflate")
					}
					cmd := peer(t, script, args...)
					srv, _ := echoServer(t, tlsOn, &AcceptOptions{Extensions: []Extension{&PerMessageDeflate{}}})
					cmd.Args = append(cmd.Args, "ws"+strings.TrimPrefix(srv.URL, "http")+"/")
					out, err := cmd.CombinedOutput()
					if err != nil || !strings.HasPrefix(string(out), "ok") {
						t.Fatalf("%s: %v\n%s", script, err, out)
					}
					if got := strings.Contains(string(out), "permessage-deflate"); got != compress {
						t.Fatalf("%s: compression negotiated=%v, want %v: %s", script, got, compress, out)
					}
				})
			}
		}
	}
}

// startPeerServer starts a foreign echo server and returns its ws:// URL.
func startPeerServer(t *testing.T, script string, args ...string) string {
	t.Helper()
	cmd := peer(t, script, args...)
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

// TestOurClientAgainstForeignServers dials the foreign echo servers.
func TestOurClientAgainstForeignServers(t *testing.T) {
	for _, script := range []string{"echo_server.py", "echo_server.js"} {
		for _, compress := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/deflate=%v", script, compress), func(t *testing.T) {
				testForeignServer(t, script, compress)
			})
		}
	}
}

func testForeignServer(t *testing.T, script string, compress bool) {
	{
		{
			var args []string
			if compress {
				args = append(args, "--deflate")
			}
			url := startPeerServer(t, script, args...)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, _, err := Dial(ctx, url, &DialOptions{Extensions: []Extension{&PerMessageDeflate{}}})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Extensions() != ""; got != compress {
				t.Fatalf("compression negotiated=%v (%q), want %v", got, c.Extensions(), compress)
			}
			defer c.CloseNow()
			readErr := make(chan error, 1)
			for _, n := range []int{0, 1, 125, 126, 65535, 65536, 1 << 20} {
				for _, typ := range []MessageType{TextMessage, BinaryMessage} {
					msg := bytes.Repeat([]byte("ü"), n/2)
					if err := c.Write(ctx, typ, msg); err != nil {
						t.Fatal(err)
					}
					gotTyp, got, err := c.Read(ctx)
					if err != nil || gotTyp != typ || !bytes.Equal(got, msg) {
						t.Fatalf("echo of %d bytes: %v %d bytes %v", len(msg), gotTyp, len(got), err)
					}
				}
			}
			// Streamed message in fragments, with a ping answered meanwhile.
			go func() {
				_, msg, err := c.Read(ctx)
				if err == nil && string(msg) != "part1part2" {
					err = errUnexpected(msg)
				}
				readErr <- err
			}()
			w, _ := c.Writer(ctx, TextMessage)
			w.Write([]byte("part1"))
			if err := c.Ping(ctx, []byte("ping")); err != nil {
				t.Fatalf("ping: %v", err)
			}
			w.Write([]byte("part2"))
			w.Close()
			if err := <-readErr; err != nil {
				t.Fatal(err)
			}
			if err := c.Close(StatusNormalClosure, "bye"); err != nil {
				t.Fatalf("closing handshake: %v", err)
			}
		}
	}
}

type errUnexpected []byte

func (e errUnexpected) Error() string { return "unexpected message " + string(e) }
