package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/websock/websock"
	"github.com/websock/websock/extension"
)

// idleClientsEnv, when set in the environment of the test binary, makes it
// a client process instead (see runIdleClients), so that a test measures
// the server's memory without the clients' in the same process.
const idleClientsEnv = "WEBSOCK_IDLE_CLIENTS"

// runIdleClients dials the connections the spec "URL CONNS SIZE COMPRESS"
// asks for, has each exchange one message of SIZE bytes, prints "ready",
// keeps them open (answering pings from the start) until stdin ends, closes them with
// 1000 and returns the exit status.
func runIdleClients(spec string) int {
	f := strings.Fields(spec)
	if len(f) != 4 {
		fmt.Fprintf(os.Stderr, "%s: want URL CONNS SIZE COMPRESS, got %q\n", idleClientsEnv, spec)
		return 2
	}
	n, _ := strconv.Atoi(f[1])
	size, _ := strconv.Atoi(f[2])
	compress := f[3] == "true"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cs := make([]*websock.Conn, 0, n)
	var readers sync.WaitGroup
	defer readers.Wait()
	defer func() {
		for _, c := range cs {
			c.CloseNow()
		}
	}()
	msg := benchMessage(size)
	for i := range n {
		opts := &websock.DialOptions{ConnOptions: websock.ConnOptions{ReadLimit: -1}}
		if compress {
			opts.Extensions = []extension.Extension{&websock.PerMessageDeflate{ServerNoContextTakeover: true, ClientNoContextTakeover: true}}
		}
		c, _, err := websock.Dial(ctx, f[0], opts)
		if err == nil {
			cs = append(cs, c)
			echo := keepReading(ctx, c, size, &readers)
			if err = c.Write(ctx, websock.BinaryMessage, msg); err == nil {
				select {
				case err = <-echo:
				case <-ctx.Done():
					err = ctx.Err()
				}
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "connection %d: %v\n", i, err)
			return 1
		}
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	if _, failed := closeAll(cs); failed > 0 {
		fmt.Fprintf(os.Stderr, "%d closing handshakes failed\n", failed)
		return 1
	}
	return 0
}

// idleClients is a client process holding connections to url; close
// ends them (with 1000) and waits for the process, bounded.
type idleClients struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// startIdleClients starts the process and waits, bounded, until its
// connections have each exchanged one message of size bytes.
func startIdleClients(t *testing.T, url string, conns, size int, compress bool) *idleClients {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %d %t", idleClientsEnv, url, conns, size, compress))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &idleClients{cmd: cmd, stdin: stdin}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("client process said %q", line)
		}
		ready <- err
		io.Copy(io.Discard, stdout)
	}()
	timer := time.NewTimer(2 * time.Minute)
	defer timer.Stop()
	select {
	case err := <-ready:
		if err != nil {
			p.close(t)
			t.Fatalf("client process: %v", err)
		}
	case <-timer.C:
		p.close(t)
		t.Fatal("client process: not ready after 2 minutes")
	}
	return p
}

// close has the clients close their connections and waits for the
// process, at most a minute.
func (p *idleClients) close(t *testing.T) {
	t.Helper()
	p.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	timer := time.NewTimer(time.Minute)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("client process: %v", err)
		}
	case <-timer.C:
		p.cmd.Process.Kill()
		<-done
		t.Error("client process: still running a minute after its stdin closed")
	}
}
