package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/websock/websock"
)

// lockedBuffer is a log destination safe to read while the server runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) contains(s string) bool { return strings.Contains(l.String(), s) }

// startTestServer starts a server on ports :0 with short timeouts, after
// applying edits to its configuration.
func startTestServer(t *testing.T, edits ...func(*serveConfig)) (*server, *lockedBuffer) {
	t.Helper()
	var logs lockedBuffer
	cfg := defaultServeConfig()
	cfg.wsAddr, cfg.wssAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.closeTimeout = time.Second
	cfg.shutdownTimeout = 5 * time.Second
	for _, edit := range edits {
		edit(&cfg)
	}
	s := newServer(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, &logs
}

func TestServeEchoesOnWSAndWSS(t *testing.T) {
	s, logs := startTestServer(t)
	ctx := context.Background()
	for _, url := range []string{"ws://" + s.addrs["ws"].String() + "/ws", "wss://" + s.addrs["wss"].String() + "/wss"} {
		c, _, err := websock.Dial(ctx, url, &websock.DialOptions{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		for _, typ := range []websock.MessageType{websock.TextMessage, websock.BinaryMessage} {
			if err := c.Write(ctx, typ, []byte("hello "+url)); err != nil {
				t.Fatal(err)
			}
			gotTyp, msg, err := c.Read(ctx)
			if err != nil || gotTyp != typ || string(msg) != "hello "+url {
				t.Fatalf("%s: echo %v %q %v", url, gotTyp, msg, err)
			}
		}
		if err := c.Close(websock.StatusNormalClosure, ""); err != nil {
			t.Fatalf("%s: close: %v", url, err)
		}
	}
	s.shutdown()
	out := logs.String()
	if strings.Count(out, "msg=open") != 2 || strings.Count(out, "msg=close") != 2 || !strings.Contains(out, "code=1000") {
		t.Fatalf("logs lack one open and one close line per connection:\n%s", out)
	}
	if !strings.Contains(out, "sha256=") {
		t.Fatalf("the self-signed certificate's fingerprint is not logged:\n%s", out)
	}
}

// TestServeShutdownSendsGoingAway: connections get close 1001 and the
// shutdown completes once their handshakes are done.
func TestServeShutdownSendsGoingAway(t *testing.T) {
	s, logs := startTestServer(t)
	ctx := context.Background()
	// ws://, wss:// over HTTP/1.1, and two WebSockets on one HTTP/2
	// connection (its streams close while the connection gets GOAWAY).
	h2 := &websock.HTTP2Client{TLSConfig: &tls.Config{InsecureSkipVerify: true}}
	defer h2.CloseIdleConnections()
	const n = 6
	results := make(chan error, n)
	for i := 0; i < n; i++ {
		url := "ws://" + s.addrs["ws"].String() + "/ws"
		opts := &websock.DialOptions{TLSConfig: &tls.Config{InsecureSkipVerify: true}}
		if i%2 == 1 || i >= 4 {
			url = "wss://" + s.addrs["wss"].String() + "/wss"
		}
		if i >= 4 {
			opts.HTTP2 = h2
		}
		c, _, err := websock.Dial(ctx, url, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		// One round trip, so the server has registered the connection.
		c.Write(ctx, websock.TextMessage, []byte("x"))
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatal(err)
		}
		go func() {
			_, _, err := c.Read(ctx)
			results <- err
		}()
	}
	start := time.Now()
	if err := s.shutdown(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := <-results; websock.CloseStatus(err) != websock.StatusGoingAway {
			t.Fatalf("client got %v, want close 1001", err)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	if !strings.Contains(logs.String(), `"shutdown complete" closed=6`) || strings.Count(logs.String(), "proto=HTTP/2.0") != 2 {
		t.Fatalf("no clean shutdown in the logs:\n%s", logs.String())
	}
}

func TestServeUsage(t *testing.T) {
	if err := serveCmd([]string{"-ws", "", "-wss", ""}); err == nil || !strings.Contains(err.Error(), "no listener") {
		t.Fatalf("serve without listeners: %v", err)
	}
	if err := serveCmd([]string{"-cert", "/nonexistent.pem", "-key", "/nonexistent.key", "-ws", ""}); err == nil {
		t.Fatal("missing certificate files accepted")
	}
}

// TestServeReloadsCertificate: after a reload, new TLS connections get the
// new certificate and open ones keep working.
func TestServeReloadsCertificate(t *testing.T) {
	dir := t.TempDir()
	writePair := func() string {
		cert, err := selfSignedCert()
		if err != nil {
			t.Fatal(err)
		}
		der, _ := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
		os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600)
		os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
		return fingerprint(cert.Certificate[0])
	}
	first := writePair()
	var logs lockedBuffer
	s := newServer(serveConfig{
		wssAddr: "127.0.0.1:0", certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"),
		readLimit: websock.DefaultReadLimit, closeTimeout: time.Second, shutdownTimeout: 5 * time.Second,
	}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	defer s.shutdown()
	url := "wss://" + s.addrs["wss"].String() + "/wss"
	ctx := context.Background()
	served := func() (*websock.Conn, string) {
		var seen string
		cfg := &tls.Config{InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error {
			seen = fingerprint(cs.PeerCertificates[0].Raw)
			return nil
		}}
		c, _, err := websock.Dial(ctx, url, &websock.DialOptions{TLSConfig: cfg})
		if err != nil {
			t.Fatal(err)
		}
		return c, seen
	}
	old, fp := served()
	defer old.CloseNow()
	if fp != first {
		t.Fatalf("served %s, want the first certificate %s", fp, first)
	}
	second := writePair()
	if err := s.reloadCertificate(); err != nil {
		t.Fatal(err)
	}
	c, fp := served()
	c.CloseNow()
	if fp != second {
		t.Fatalf("after reload served %s, want %s", fp, second)
	}
	if err := old.Write(ctx, websock.TextMessage, []byte("still open")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := old.Read(ctx); err != nil || string(msg) != "still open" {
		t.Fatalf("old connection after reload: %q %v", msg, err)
	}
	// A broken file keeps the current certificate.
	os.WriteFile(filepath.Join(dir, "key.pem"), []byte("garbage"), 0o600)
	if err := s.reloadCertificate(); err == nil {
		t.Fatal("reload of a broken key succeeded")
	}
	c, fp = served()
	c.CloseNow()
	if fp != second {
		t.Fatal("a failed reload changed the certificate")
	}
}

// TestServeRefusesHugeHeaders: upgrade requests with oversized headers get
// 431 instead of being buffered.
func TestServeRefusesHugeHeaders(t *testing.T) {
	s, _ := startTestServer(t)
	h := http.Header{"X-Big": {strings.Repeat("x", 2*maxHeaderBytes)}}
	_, resp, err := websock.Dial(context.Background(), "ws://"+s.addrs["ws"].String()+"/ws", &websock.DialOptions{Header: h})
	if err == nil || resp == nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("got %v, want 431", err)
	}
}

// TestServeDropsSlowHandshakes: a client that never finishes its upgrade
// request (slowloris) is disconnected after the handshake timeout, while
// others are served.
func TestServeDropsSlowHandshakes(t *testing.T) {
	// Short, for the slow client to be dropped soon; long enough that the
	// normal client's handshake, bounded by it too, fits on a loaded
	// machine.
	const handshakeTimeout = 2 * time.Second
	s, _ := startTestServer(t, func(cfg *serveConfig) { cfg.handshake = handshakeTimeout })
	slow, err := net.Dial("tcp", s.addrs["ws"].String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := io.WriteString(slow, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"); err != nil { // and nothing more
		t.Fatal(err)
	}
	c, _, err := websock.Dial(context.Background(), "ws://"+s.addrs["ws"].String()+"/ws", nil)
	if err != nil {
		t.Fatalf("a normal client is not served meanwhile: %v", err)
	}
	c.CloseNow()
	// Without the handshake timeout the server would wait for the rest
	// of the request for ever; the deadline only bounds the test.
	if err := slow.SetReadDeadline(time.Now().Add(handshakeTimeout + 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(slow); err != nil {
		t.Fatalf("slow client not disconnected: %v", err)
	}
}
