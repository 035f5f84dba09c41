package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestDialScriptMode(t *testing.T) {
	s, _ := startTestServer(t)
	for _, url := range []string{"ws://" + s.addrs["ws"].String() + "/ws", "wss://" + s.addrs["wss"].String() + "/wss"} {
		var out, errOut bytes.Buffer
		in := strings.NewReader("hello\nκόσμε\n\nlast line\n")
		err := runDial(context.Background(), []string{"-insecure", url}, in, &out, &errOut, false)
		if err != nil {
			t.Fatalf("%s: %v (%s)", url, err, errOut.String())
		}
		if out.String() != "hello\nκόσμε\n\nlast line\n" {
			t.Fatalf("%s: output %q", url, out.String())
		}
	}
}

func TestDialBinaryShownAsHex(t *testing.T) {
	s, _ := startTestServer(t)
	var out bytes.Buffer
	err := runDial(context.Background(), []string{"-binary", "ws://" + s.addrs["ws"].String() + "/ws"}, strings.NewReader("AB\n"), &out, &bytes.Buffer{}, false)
	if err != nil || out.String() != "[binary 2 bytes] 4142\n" {
		t.Fatalf("output %q, err %v", out.String(), err)
	}
}

func TestDialErrors(t *testing.T) {
	s, _ := startTestServer(t)
	var errOut bytes.Buffer
	// Self-signed certificate without -insecure.
	err := runDial(context.Background(), []string{"wss://" + s.addrs["wss"].String() + "/wss"}, strings.NewReader(""), &bytes.Buffer{}, &errOut, false)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %v", err)
	}
	// A refused handshake reports the status.
	err = runDial(context.Background(), []string{"-origin", "https://evil.test", "ws://" + s.addrs["ws"].String() + "/ws"}, strings.NewReader(""), &bytes.Buffer{}, &errOut, false)
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("refused handshake: %v", err)
	}
	if err := runDial(context.Background(), nil, strings.NewReader(""), &bytes.Buffer{}, &errOut, false); err == nil {
		t.Fatal("missing URL accepted")
	}
}
