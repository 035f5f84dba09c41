package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/websock/websock"
)

// startConformanceTarget starts the serve command's echo server with
// generous timeouts: the cases judge the protocol, not the speed of a
// loaded machine.
func startConformanceTarget(t *testing.T) *server {
	t.Helper()
	var logs lockedBuffer
	s := newServer(serveConfig{
		wsAddr:          "127.0.0.1:0",
		wssAddr:         "127.0.0.1:0",
		deflate:         true,
		handshake:       10 * time.Second,
		readLimit:       websock.DefaultReadLimit,
		closeTimeout:    10 * time.Second,
		shutdownTimeout: 5 * time.Second,
	}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformanceCommand runs a few cases of the suite through the command,
// against the serve command, and checks the summary and the reports it
// writes: Autobahn's index, per-case reports, the findings beyond Autobahn.
func TestConformanceCommand(t *testing.T) {
	t.Parallel() // minutes of CPU: beside the tests that wait
	s := startConformanceTarget(t)
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	url := "wss://" + s.addrs["wss"].String() + "/wss"
	err := runConformance(context.Background(), []string{"-cases", "1.1.1,5.8,6.4.*,7.3.1,13.3.1", "-parallel", "4", "-insecure",
		"-json", dir, "-html", filepath.Join(dir, "index.html"), url}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"Autobahn grades, 8 cases", "behavior: OK 8", "closing behavior: OK 8", "every case strictly OK", "Beyond Autobahn",
		"OK            deflate-negotiation", "OK            peer-frames", "OK            close-round-trip", "NOT RUN       message-limit"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("summary lacks %q:\n%s", want, out.String())
		}
	}
	index, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil || !strings.Contains(string(index), `"6.4.3": {`) || !strings.Contains(string(index), `"behaviorClose": "OK"`) {
		t.Fatalf("index.json: %v\n%s", err, index)
	}
	report, err := os.ReadFile(filepath.Join(dir, "websock_case_7_3_1.json"))
	if err != nil || !strings.Contains(string(report), `"localCloseCode": null`) || !strings.Contains(string(report), `"wasClean": true`) {
		t.Fatalf("case report: %v\n%s", err, report)
	}
	if strict, err := os.ReadFile(filepath.Join(dir, "strict.json")); err != nil || !strings.Contains(string(strict), `"check": "handshake"`) {
		t.Fatalf("strict.json: %v\n%s", err, strict)
	}
	if html, err := os.ReadFile(filepath.Join(dir, "index.html")); err != nil || !strings.Contains(string(html), "8 of 8 cases strictly OK") {
		t.Fatalf("index.html: %v", err)
	}
}

// TestConformanceCommandStrict: -strict makes the checks beyond Autobahn
// count; a limit the server does not keep fails the run.
func TestConformanceCommandStrict(t *testing.T) {
	t.Parallel() // minutes of CPU: beside the tests that wait
	s := startConformanceTarget(t)
	url := "ws://" + s.addrs["ws"].String() + "/ws"
	var out, errOut bytes.Buffer
	args := []string{"-cases", "1.1.1", "-message-limit", "1000", url}
	if err := runConformance(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("without -strict, only Autobahn's grades count: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "FAILED        message-limit") {
		t.Fatalf("a 1001-byte message accepted by a server with a 32 MiB limit went unreported:\n%s", out.String())
	}
	out.Reset()
	err := runConformance(context.Background(), append([]string{"-strict"}, args...), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "beyond Autobahn") {
		t.Fatalf("-strict: %v\n%s", err, out.String())
	}
}

// TestConformanceCommandHTTP2: with -h2 the cases go to the serve command
// over streams of one HTTP/2 connection, and are all strictly OK.
func TestConformanceCommandHTTP2(t *testing.T) {
	t.Parallel() // minutes of CPU: beside the tests that wait
	s, logs := startTestServer(t, func(cfg *serveConfig) {
		cfg.handshake = 10 * time.Second
		cfg.closeTimeout = 10 * time.Second
	})
	url := "wss://" + s.addrs["wss"].String() + "/wss"
	var out, errOut bytes.Buffer
	err := runConformance(context.Background(), []string{"-h2", "-cases", "1.1.1,2.6,5.8,6.4.1,7.3.1,9.1.1,12.1.1", "-parallel", "4", "-insecure", url}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"Autobahn grades, 7 cases", "behavior: OK 7", "closing behavior: OK 7", "every case strictly OK"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("summary lacks %q:\n%s", want, out.String())
		}
	}
	s.shutdown()
	// Each case opened a WebSocket over HTTP/2, all of them from the same
	// client address: streams of one TCP connection. (The checks beyond
	// Autobahn come over HTTP/1.1.)
	remotes := map[string]int{}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "msg=open ") && strings.Contains(line, "proto=HTTP/2.0") {
			remote, _, _ := strings.Cut(line[strings.Index(line, "remote=")+len("remote="):], " ")
			remotes[remote]++
		}
	}
	if len(remotes) != 1 {
		t.Fatalf("the cases came over %d HTTP/2 connections, want 1: %v\n%s", len(remotes), remotes, logs.String())
	}
	for _, n := range remotes {
		if n != 7 {
			t.Fatalf("%d WebSockets over HTTP/2, want one per case (7):\n%s", n, logs.String())
		}
	}
}

// TestConformanceCommandHTTP2Usage: -h2 is for playing against a server.
func TestConformanceCommandHTTP2Usage(t *testing.T) {
	var out, errOut bytes.Buffer
	err := runConformance(context.Background(), []string{"-h2", "-serve", "127.0.0.1:0"}, &out, &errOut)
	if err == nil || !strings.Contains(errOut.String(), "websock conformance: -h2 plays the cases against a server") {
		t.Fatalf("-h2 -serve: %v\n%s", err, errOut.String())
	}
}
