package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/websock/websock"
	"github.com/websock/websock/internal/peertest"
)

func TestDialScriptMode(t *testing.T) {
	s, _ := startTestServer(t)
	for _, url := range []string{"ws://" + s.addrs["ws"].String() + "/ws", "wss://" + s.addrs["wss"].String() + "/wss"} {
		var out, errOut bytes.Buffer
		in := strings.NewReader("hello\nκόσμε\n\nlast line\n")
		// Flags may follow the URL.
		err := runDial(context.Background(), []string{url, "-insecure"}, in, &out, &errOut, false)
		if err != nil {
			t.Fatalf("%s: %v (%s)", url, err, errOut.String())
		}
		if out.String() != "hello\nκόσμε\n\nlast line\n" {
			t.Fatalf("%s: output %q", url, out.String())
		}
	}
}

// TestDialVerboseAndCompress: -compress offers permessage-deflate, -v
// says what was negotiated and that the server answered the close with
// 1000.
func TestDialVerboseAndCompress(t *testing.T) {
	s, _ := startTestServer(t)
	url := "ws://" + s.addrs["ws"].String() + "/ws"
	for _, compress := range []bool{false, true} {
		args := []string{url, "-v", "-subprotocol", "chat"}
		if compress {
			args = append(args, "-compress")
		}
		var out, errOut bytes.Buffer
		if err := runDial(context.Background(), args, strings.NewReader("one\ntwo\n"), &out, &errOut, false); err != nil {
			t.Fatalf("%v (%s)", err, errOut.String())
		}
		if out.String() != "one\ntwo\n" {
			t.Fatalf("output %q", out.String())
		}
		log := errOut.String()
		if got := strings.Contains(log, `extensions "permessage-deflate`); got != compress {
			t.Fatalf("-compress=%v, stderr:\n%s", compress, log)
		}
		if !strings.Contains(log, `subprotocol ""`) || !strings.Contains(log, "closed by peer with status 1000") {
			t.Fatalf("stderr does not say the subprotocol and the close:\n%s", log)
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

// TestDialWaitsForSlowReplies: replies that come after the input has
// ended are printed before the connection is closed, from a server that
// stops echoing once it gets a close (as python-websockets does).
func TestDialWaitsForSlowReplies(t *testing.T) {
	url := wsServer(t, func(c *websock.Conn) {
		pending := make(chan []byte, 16)
		go func() {
			for msg := range pending {
				<-time.After(50 * time.Millisecond) // a slow backend
				if c.Write(context.Background(), websock.TextMessage, msg) != nil {
					return
				}
			}
		}()
		defer close(pending)
		for {
			_, msg, err := c.Read(context.Background())
			if err != nil {
				return // the close is answered: later echoes fail
			}
			pending <- msg
		}
	})
	var out, errOut bytes.Buffer
	if err := runDial(context.Background(), []string{url, "-wait", "30s", "-v"}, strings.NewReader("1\n2\n3\n4\n5\n"), &out, &errOut, false); err != nil {
		t.Fatalf("%v (%s)", err, errOut.String())
	}
	if out.String() != "1\n2\n3\n4\n5\n" {
		t.Fatalf("output %q, want the 5 replies; stderr:\n%s", out.String(), errOut.String())
	}
}

// TestDialWaitIsBounded: from a server that never replies, the command
// waits -wait after the last line, then closes cleanly.
func TestDialWaitIsBounded(t *testing.T) {
	url := wsServer(t, func(c *websock.Conn) {
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	})
	for _, wait := range []time.Duration{0, 300 * time.Millisecond} {
		var out, errOut bytes.Buffer
		start := time.Now()
		err := runDial(context.Background(), []string{url, "-v", "-wait", wait.String()}, strings.NewReader("unanswered\n"), &out, &errOut, false)
		elapsed := time.Since(start)
		if err != nil || out.Len() != 0 || !strings.Contains(errOut.String(), "status 1000") {
			t.Fatalf("-wait %v: %v, output %q, stderr:\n%s", wait, err, out.String(), errOut.String())
		}
		if elapsed < wait {
			t.Fatalf("-wait %v: closed after %v", wait, elapsed)
		}
	}
}

// TestDialAgainstPythonWebsockets: the replies of python-websockets'
// echo server, which stops echoing once it has answered a close, are all
// printed; -compress negotiates permessage-deflate with it.
func TestDialAgainstPythonWebsockets(t *testing.T) {
	for _, deflate := range []bool{false, true} {
		var args []string
		if deflate {
			args = append(args, "--deflate")
		}
		url := peertest.StartServer(t, "../../testdata/interop", "echo_server.py", args...)
		var out, errOut bytes.Buffer
		input := "one\ntwo\nthree\nfour\nfive\n"
		err := runDial(context.Background(), []string{url, "-compress", "-v"}, strings.NewReader(input), &out, &errOut, false)
		if err != nil || out.String() != input {
			t.Fatalf("deflate=%v: %v, output %q, stderr:\n%s", deflate, err, out.String(), errOut.String())
		}
		if got := strings.Contains(errOut.String(), `extensions "permessage-deflate`); got != deflate {
			t.Fatalf("deflate=%v: stderr:\n%s", deflate, errOut.String())
		}
		if !strings.Contains(errOut.String(), "closed by peer with status 1000") {
			t.Fatalf("deflate=%v: no clean close:\n%s", deflate, errOut.String())
		}
	}
}

func TestDialErrors(t *testing.T) {
	s, _ := startTestServer(t)
	var errOut bytes.Buffer
	wss := "wss://" + s.addrs["wss"].String() + "/wss"
	// Self-signed certificate without -insecure: the error says what to do.
	err := runDial(context.Background(), []string{wss}, strings.NewReader(""), &bytes.Buffer{}, &errOut, false)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %v", err)
	}
	var msg bytes.Buffer
	if exitStatus(err, &msg) != 1 || !strings.Contains(msg.String(), "-insecure") || !strings.Contains(msg.String(), "-ca FILE") ||
		strings.Count(msg.String(), "websock") != 1 || strings.Count(msg.String(), "tls:") != 1 {
		t.Fatalf("untrusted certificate reported as:\n%s", msg.String())
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

// TestDialInputError: input that cannot be read ends the command with an
// error that says so, after what was read before it has been sent.
func TestDialInputError(t *testing.T) {
	s, _ := startTestServer(t)
	in := io.MultiReader(strings.NewReader("sent\n"), iotest.ErrReader(errors.New("input device gone")))
	var out, errOut bytes.Buffer
	err := runDial(context.Background(), []string{"ws://" + s.addrs["ws"].String() + "/ws"}, in, &out, &errOut, false)
	if err == nil || !strings.Contains(err.Error(), "reading input: input device gone") {
		t.Fatalf("%v (%s)", err, errOut.String())
	}
}

// TestDialTrustsCA: -ca FILE trusts the server's certificate.
func TestDialTrustsCA(t *testing.T) {
	s, _ := startTestServer(t)
	ca := t.TempDir() + "/ca.pem"
	if err := os.WriteFile(ca, certPEM(t, s), 0o600); err != nil {
		t.Fatal(err)
	}
	url := "wss://" + s.addrs["wss"].String() + "/wss"
	var out, errOut bytes.Buffer
	if err := runDial(context.Background(), []string{url, "-ca", ca}, strings.NewReader("trusted\n"), &out, &errOut, false); err != nil || out.String() != "trusted\n" {
		t.Fatalf("with -ca: %v, output %q (%s)", err, out.String(), errOut.String())
	}
	if err := os.WriteFile(ca, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := runDial(context.Background(), []string{url, "-ca", ca}, strings.NewReader(""), &out, &errOut, false)
	if err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("-ca with a file that is not PEM: %v", err)
	}
}

// wsServer serves each WebSocket connection with serve until it returns,
// then closes it; it returns the server's ws:// URL.
func wsServer(t *testing.T, serve func(c *websock.Conn)) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websock.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		serve(c)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// certPEM is the PEM encoding of the certificate s serves over TLS.
func certPEM(t *testing.T, s *server) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.cert.Load().Certificate[0]})
}
