package main

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/websock/websock"
)

// TestServeSurvivesEarlySIGHUP: a SIGHUP sent as soon as websock serve
// logs its first address is handled (a reload attempt), not fatal; the
// server then serves, and SIGTERM ends it with status 0.
func TestServeSurvivesEarlySIGHUP(t *testing.T) {
	cmd := exec.Command(websockBinary(t), "serve", "-ws", "127.0.0.1:0", "-wss", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// lines gets the log lines; exited is closed once the process has
	// ended, with exitErr its result.
	lines := make(chan string, 100)
	exited := make(chan struct{})
	var exitErr error
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stderr)
		exitErr = cmd.Wait()
		close(exited)
	}()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	var log strings.Builder
	// next returns the first log line matching re, failing the test if the
	// process ends or stays silent for a minute first.
	next := func(re *regexp.Regexp) []string {
		t.Helper()
		timeout := time.After(time.Minute)
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					<-exited
					t.Fatalf("websock serve ended (%v) before logging %s:\n%s", exitErr, re, log.String())
				}
				log.WriteString(line + "\n")
				if m := re.FindStringSubmatch(line); m != nil {
					return m
				}
			case <-timeout:
				t.Fatalf("websock serve did not log %s within a minute:\n%s", re, log.String())
			}
		}
	}
	ws := next(regexp.MustCompile(`msg=listening url=(ws://\S+)`))[1]
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	next(regexp.MustCompile(`certificate reload failed`))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, _, err := websock.Dial(ctx, ws, nil)
	if err != nil {
		t.Fatalf("after SIGHUP: %v\n%s", err, log.String())
	}
	if err := c.Write(ctx, websock.TextMessage, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "still here" {
		t.Fatalf("echo after SIGHUP: %q, %v", msg, err)
	}
	c.Close(websock.StatusNormalClosure, "")

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	next(regexp.MustCompile(`shutdown complete`))
	timeout := time.After(time.Minute)
	for {
		select {
		case _, ok := <-lines:
			if !ok {
				lines = nil
			}
		case <-exited:
			if exitErr != nil {
				t.Fatalf("websock serve after SIGTERM: %v\n%s", exitErr, log.String())
			}
			return
		case <-timeout:
			t.Fatal("websock serve did not exit within a minute of SIGTERM")
		}
	}
}
