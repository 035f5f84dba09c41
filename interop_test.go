package websock

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/websock/websock/extension"
	"github.com/websock/websock/internal/peertest"
)

// interopDir holds the foreign peers' scripts (see internal/peertest).
const interopDir = "testdata/interop"

// TestForeignClientsAgainstOurServer runs the foreign clients against our
// server, over TCP and TLS.
func TestForeignClientsAgainstOurServer(t *testing.T) {
	eachServer(t, func(t *testing.T, m serverMode) {
		for _, script := range []string{"client.py", "client.js"} {
			for _, tlsOn := range []bool{false, true} {
				for _, compress := range []bool{false, true} {
					name := fmt.Sprintf("%s/tls=%v/deflate=%v", script, tlsOn, compress)
					t.Run(name, func(t *testing.T) {
						var args []string
						if compress {
							args = append(args, "--deflate")
						}
						cmd := peertest.Command(t, interopDir, script, args...)
						srv, _ := m.echo(t, tlsOn, &AcceptOptions{Extensions: []extension.Extension{&PerMessageDeflate{}}})
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
	})
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
			url := peertest.StartServer(t, interopDir, script, args...)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, _, err := Dial(ctx, url, &DialOptions{Extensions: []extension.Extension{&PerMessageDeflate{}}})
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
