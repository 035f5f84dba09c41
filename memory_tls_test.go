package websock

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"
)

// tlsIdleConns is how many connections TestTLSIdleConnections holds in
// each case: enough for a per-connection figure that varies by a few bytes
// between runs.
const tlsIdleConns = 400

// testCertificate returns a self-signed ECDSA P-256 certificate for
// 127.0.0.1 (quicker to sign with than httptest's RSA key).
var testCertificate = sync.OnceValues(func() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
})

// tlsFootprint is the memory of n idle server connections, per connection.
// Their stacks are not counted: an idle connection must hold no goroutine.
type tlsFootprint struct {
	heap       float64 // heap bytes per server connection
	client     float64 // heap bytes per client connection, for reference
	goroutines int     // goroutines more than before, in all
}

// measureTLSIdle measures the server side of n TLS connections held idle.
// open is given loopback TCP pairs made before the first measurement and
// returns the client TLS connections once the server ends are idle; it
// keeps the server ends reachable itself.
//
// Both ends live in this process, and what is allocated while the
// connections are set up belongs to either end. The server's part is
// measured by taking the client's away: the TCP connections are made (and
// stay reachable through tcpPairs's cleanup) before the base is measured;
// after the handshakes and echoes, with both ends held, the client
// *tls.Conns are dropped and the heap measured again. What stays above the
// base is what the server ends hold: a client *tls.Conn shares nothing
// with a server one, and dropping it closes nothing (the TCP connection
// under it stays reachable, so no finalizer runs and the server sees no
// end). The client's part, the difference before and after the drop, is
// reported for reference.
func measureTLSIdle(t *testing.T, n, wantG int, open func(servers, clients []net.Conn) []*tls.Conn) tlsFootprint {
	t.Helper()
	servers, clients := tcpPairs(t, n)
	baseG := runtime.NumGoroutine()
	base := heapObjects()
	tlsClients := open(servers, clients)
	if !waitGoroutines(baseG + wantG) {
		t.Errorf("%d goroutines more for %d idle connections, want %d", runtime.NumGoroutine()-baseG, n, wantG)
	}
	both := heapObjects()
	for i := range tlsClients {
		tlsClients[i] = nil
	}
	var f tlsFootprint
	server := heapObjects()
	f.heap = float64(server-base) / float64(n)
	f.client = float64(both-server) / float64(n)
	f.goroutines = runtime.NumGoroutine() - baseG
	if name := os.Getenv("WEBSOCK_TLS_HEAPPROFILE"); name != "" {
		// With -test.memprofilerate=1, the allocation sites of what the
		// server ends hold, exactly (the TCP connections are there too).
		writeHeapProfile(t, name+"."+strings.ReplaceAll(t.Name(), "/", "."))
	}
	runtime.KeepAlive(servers)
	return f
}

func writeHeapProfile(t *testing.T, name string) {
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
}

// parallelEach runs f(i) for i in [0, n) on a few goroutines.
func parallelEach(n int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range 2 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	wg.Wait()
}

// bareTLSIdle: crypto/tls alone. Each server end does its handshake, reads
// 32 bytes and writes them back on a goroutine that then ends; the
// *tls.Conns are kept in a slice that nothing reads.
func bareTLSIdle(t *testing.T, serverCfg, clientCfg *tls.Config) tlsFootprint {
	n := tlsIdleConns
	var held []*tls.Conn
	f := measureTLSIdle(t, n, 0, func(servers, clients []net.Conn) []*tls.Conn {
		held = make([]*tls.Conn, n)
		tcs := make([]*tls.Conn, n)
		errs := make(chan error, 2*n)
		parallelEach(n, func(i int) {
			sc := tls.Server(servers[i], serverCfg)
			held[i] = sc
			done := make(chan struct{})
			go func() {
				defer close(done)
				sc.SetDeadline(time.Now().Add(hangGuard))
				buf := make([]byte, 32)
				if _, err := io.ReadFull(sc, buf); err != nil {
					errs <- err
					return
				}
				if _, err := sc.Write(buf); err != nil {
					errs <- err
				}
				sc.SetDeadline(time.Time{})
			}()
			cc := tls.Client(clients[i], clientCfg)
			tcs[i] = cc
			cc.SetDeadline(time.Now().Add(hangGuard))
			msg := pattern(32, 5)
			if _, err := cc.Write(msg); err != nil {
				errs <- err
			}
			got := make([]byte, 32)
			if _, err := io.ReadFull(cc, got); err != nil {
				errs <- err
			} else if string(got) != string(msg) {
				errs <- io.ErrUnexpectedEOF
			}
			cc.SetDeadline(time.Time{})
			<-done
		})
		close(errs)
		for err := range errs {
			t.Fatalf("echo: %v", err)
		}
		return tcs
	})
	runtime.KeepAlive(held)
	return f
}

// chanListener hands out the connections sent on it.
type chanListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case nc := <-l.conns:
		return nc, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// upgradeTLS does a client's TLS handshake and WebSocket opening handshake
// on nc.
func upgradeTLS(nc net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	cc := tls.Client(nc, cfg)
	cc.SetDeadline(time.Now().Add(hangGuard))
	defer cc.SetDeadline(time.Time{})
	req := "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(cc, req); err != nil {
		return nil, err
	}
	br := bufio.NewReader(cc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || br.Buffered() != 0 {
		return nil, &HandshakeError{Status: resp.StatusCode, Reason: "unexpected response"}
	}
	return cc, nil
}

// servedTLSIdle: websock's EventHandler behind an http.Server on a TLS
// listener; each connection echoes one 32-byte message and is left idle.
func servedTLSIdle(t *testing.T, serverCfg, clientCfg *tls.Config) tlsFootprint {
	n := tlsIdleConns
	var mu sync.Mutex
	conns := make([]*Conn, 0, n)
	h := EventHandler(nil, Events{
		OnOpen: func(c *Conn, r *http.Request) {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		},
		OnMessage: func(c *Conn, typ MessageType, data []byte) { c.Write(context.Background(), typ, data) },
	})
	ln := newChanListener()
	srv := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(tls.NewListener(ln, serverCfg)) }()
	wantG := 1 // the poller
	if runtime.GOOS != "linux" {
		wantG = n
	}
	f := measureTLSIdle(t, n, wantG, func(servers, clients []net.Conn) []*tls.Conn {
		tcs := make([]*tls.Conn, n)
		errs := make(chan error, n)
		parallelEach(n, func(i int) {
			// Handed to the server as the client starts, so that only a
			// few of net/http's goroutines run at once: the runtime keeps
			// the g of every goroutine that ever ran.
			ln.conns <- servers[i]
			cc, err := upgradeTLS(clients[i], clientCfg)
			if err != nil {
				errs <- err
				return
			}
			tcs[i] = cc
		})
		close(errs)
		for err := range errs {
			t.Fatalf("handshake: %v", err)
		}
		nc := make([]net.Conn, n)
		for i, cc := range tcs {
			nc[i] = cc
		}
		echoEach(t, nc)
		return tcs
	})
	mu.Lock()
	if len(conns) != n {
		t.Errorf("%d connections opened, want %d", len(conns), n)
	}
	for _, c := range conns {
		c.CloseNow()
	}
	mu.Unlock()
	srv.Close()
	<-served
	return f
}

// TestTLSIdleConnections measures the heap an idle TLS connection holds on
// the server after a handshake and a 32-byte echo: with crypto/tls alone
// (with Go's default key shares, whose X25519MLKEM768 one makes the
// ClientHello 1.2 KB longer, with a server that prefers X25519, and with a
// client that offers X25519 only), and served by websock's EventHandler
// behind an http.Server. What websock holds on top of crypto/tls is
// bounded; crypto/tls's own part is only reported, as it is Go's to
// change.
//
// WEBSOCK_TLS_HEAPPROFILE=/tmp/heap go test -run TestTLSIdleConnections
// -memprofilerate=1 -o websock.test writes /tmp/heap.<test name> for each
// case, for go tool pprof -sample_index=inuse_space websock.test.
func TestTLSIdleConnections(t *testing.T) {
	cert, err := testCertificate()
	if err != nil {
		t.Fatal(err)
	}
	serverCfg := func(curves ...tls.CurveID) *tls.Config {
		return &tls.Config{Certificates: []tls.Certificate{cert}, CurvePreferences: curves}
	}
	clientCfg := func(curves ...tls.CurveID) *tls.Config {
		return &tls.Config{InsecureSkipVerify: true, CurvePreferences: curves}
	}
	kib := func(b float64) float64 { return b / 1024 }

	run := func(name string, measure func(t *testing.T) tlsFootprint) tlsFootprint {
		var f tlsFootprint
		t.Run(name, func(t *testing.T) {
			f = measure(t)
			t.Logf("%d idle connections: %.2f KiB heap per server connection (client %.2f KiB), %d goroutines in all",
				tlsIdleConns, kib(f.heap), kib(f.client), f.goroutines)
		})
		return f
	}
	bare := run("bare/default", func(t *testing.T) tlsFootprint { return bareTLSIdle(t, serverCfg(), clientCfg()) })
	run("bare/server-X25519", func(t *testing.T) tlsFootprint { return bareTLSIdle(t, serverCfg(tls.X25519), clientCfg()) })
	run("bare/client-X25519", func(t *testing.T) tlsFootprint { return bareTLSIdle(t, serverCfg(), clientCfg(tls.X25519)) })
	served := run("served/default", func(t *testing.T) tlsFootprint { return servedTLSIdle(t, serverCfg(), clientCfg()) })
	// websock's part (its Conn, the served state, the poll source and
	// slot) was 1.21 KiB with Go 1.26, with or without the race detector;
	// 2 KiB fails on a buffer of 1 KiB or more held per connection.
	if bare.heap == 0 || served.heap == 0 {
		return // failed, or not run
	}
	added := served.heap - bare.heap
	t.Logf("websock adds %.2f KiB per idle TLS connection over crypto/tls", kib(added))
	if added > 2048 {
		t.Errorf("websock holds %.0f bytes per idle TLS connection over crypto/tls's %.0f, want at most 2 KiB", added, bare.heap)
	}
}
