package websock

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/websock/websock/extension"
)

// soakTimeout bounds the server's waits on a client (write, close,
// request headers).
const soakTimeout = 5 * time.Second

var (
	soak         = flag.Bool("soak", false, "run the long soak test")
	soakDuration = flag.Duration("soak.duration", 2*time.Minute, "duration of the long soak test")
)

// TestSoak runs well-behaved clients (sequence-numbered messages of random
// sizes, text and binary, some fragmented, some compressed, over ws and
// wss) next to misbehaving ones (garbage, slowloris, oversize messages,
// resets mid-frame, clients that never read), and checks that every
// well-behaved message comes back once, in order, intact, and that the
// server returns to its baseline of goroutines and memory. Short by
// default; go test -run Soak -soak -soak.duration 5m for the long run.
func TestSoak(t *testing.T) {
	clients, rounds, duration := 40, 40, time.Duration(0)
	if *soak {
		clients, duration = 300, *soakDuration
	}
	runtime.GC()
	baseGoroutines := runtime.NumGoroutine()
	var baseMem runtime.MemStats
	runtime.ReadMemStats(&baseMem)

	tracker := &ConnSet{}
	opts := &AcceptOptions{
		ConnSet:    tracker,
		Extensions: []extension.Extension{&PerMessageDeflate{}},
		ConnOptions: ConnOptions{
			// Generous: they drop the misbehaving clients, and must never
			// drop a well-behaved one that a loaded machine slows down.
			ReadLimit: 1 << 20, WriteTimeout: soakTimeout, CloseTimeout: soakTimeout,
		},
	}
	h := Handler(opts, func(ctx context.Context, c *Conn, r *http.Request) {
		var buf []byte
		for {
			typ, msg, err := c.ReadAppend(ctx, buf[:0])
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
			buf = msg
		}
	})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadHeaderTimeout = soakTimeout // the TLS handshake counts too
	srv.StartTLS()
	plain := httptest.NewUnstartedServer(h)
	plain.Config.ReadHeaderTimeout = soakTimeout
	plain.Start()
	urls := []string{urlOf(plain.URL), urlOf(srv.URL)}

	deadline := time.Now().Add(duration)
	var checked, misbehaving atomic.Int64
	var peakHeap atomic.Uint64
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- wellBehaved(i, urls[i%2], i%3 == 0, rounds, deadline, &checked)
		}(i)
	}
	var bad sync.WaitGroup
	stopBad := make(chan struct{})
	for i := 0; i < 5; i++ {
		bad.Add(1)
		go func(i int) {
			defer bad.Done()
			for n := 0; ; n++ {
				select {
				case <-stopBad:
					return
				default:
				}
				misbehave(n+i, strings.TrimPrefix(plain.URL, "http://"), urls[0])
				misbehaving.Add(1)
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > peakHeap.Load() {
					peakHeap.Store(m.HeapAlloc)
				}
			}
		}(i)
	}
	wg.Wait()
	close(stopBad)
	bad.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	srv.Close()
	plain.Close()

	// Everything returns to baseline.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tracker.Shutdown(ctx); err != nil {
		t.Fatalf("shutting the tracked connections down: %v", err)
	}
	var g int
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if g = runtime.NumGoroutine(); g <= baseGoroutines+2 {
			break
		}
	}
	if g > baseGoroutines+2 {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines left, baseline %d:\n%s", g, baseGoroutines, buf[:runtime.Stack(buf, true)])
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if after.HeapAlloc > baseMem.HeapAlloc+32<<20 {
		t.Fatalf("heap %d MiB after the run, baseline %d MiB", after.HeapAlloc>>20, baseMem.HeapAlloc>>20)
	}
	t.Logf("soak: %d clients, %d messages checked, %d misbehaving clients, peak heap %d MiB, heap after %d MiB (baseline %d MiB), goroutines %d (baseline %d)",
		clients, checked.Load(), misbehaving.Load(), peakHeap.Load()>>20, after.HeapAlloc>>20, baseMem.HeapAlloc>>20, g, baseGoroutines)
}

// wellBehaved exchanges sequence-numbered messages and checks each echo.
func wellBehaved(id int, url string, compress bool, rounds int, deadline time.Time, checked *atomic.Int64) error {
	ctx := context.Background()
	opts := &DialOptions{TLSConfig: &tls.Config{InsecureSkipVerify: true}}
	if compress {
		opts.Extensions = []extension.Extension{&PerMessageDeflate{}}
	}
	c, _, err := Dial(ctx, url, opts)
	if err != nil {
		return fmt.Errorf("client %d: %v", id, err)
	}
	defer c.CloseNow()
	rng := rand.New(rand.NewPCG(uint64(id), 7))
	for seq := 0; seq < rounds || time.Now().Before(deadline); seq++ {
		size := 8 + rng.IntN(1<<(4+rng.IntN(13))) // mostly small, up to 64 KiB
		msg := make([]byte, size)
		binary.BigEndian.PutUint64(msg, uint64(seq))
		typ := BinaryMessage
		if seq%2 == 0 {
			typ = TextMessage
			for i := 8; i < size; i++ {
				msg[i] = 'a' + byte(rng.IntN(26))
			}
			binary.BigEndian.PutUint64(msg, 0x3030303030303030+uint64(seq%10)) // ASCII
		} else {
			for i := 8; i < size; i++ {
				msg[i] = byte(rng.Uint32())
			}
		}
		if seq%5 == 0 { // fragmented
			w, err := c.Writer(ctx, typ)
			if err != nil {
				return fmt.Errorf("client %d: %v", id, err)
			}
			for p := msg; len(p) > 0; {
				n := min(len(p), 1+rng.IntN(3000))
				if _, err := w.Write(p[:n]); err != nil {
					return fmt.Errorf("client %d message %d: %v", id, seq, err)
				}
				p = p[n:]
			}
			if err := w.Close(); err != nil {
				return fmt.Errorf("client %d message %d: %v", id, seq, err)
			}
		} else if err := c.Write(ctx, typ, msg); err != nil {
			return fmt.Errorf("client %d message %d: %v", id, seq, err)
		}
		gotTyp, got, err := c.Read(ctx)
		if err != nil {
			return fmt.Errorf("client %d message %d: %v", id, seq, err)
		}
		if gotTyp != typ || !bytes.Equal(got, msg) {
			return fmt.Errorf("client %d message %d: echo differs (%d bytes, want %d)", id, seq, len(got), len(msg))
		}
		checked.Add(1)
	}
	return c.Close(StatusNormalClosure, "")
}

// misbehave plays one kind of bad client.
func misbehave(n int, addr, url string) {
	ctx := context.Background()
	switch n % 5 {
	case 0: // garbage instead of a handshake
		if nc, err := net.Dial("tcp", addr); err == nil {
			nc.Write(bytes.Repeat([]byte{0xde, 0xad}, 500))
			nc.SetReadDeadline(time.Now().Add(2 * time.Second))
			io.Copy(io.Discard, nc)
			nc.Close()
		}
	case 1: // slowloris: a handshake that never ends
		if nc, err := net.Dial("tcp", addr); err == nil {
			io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\n")
			nc.SetReadDeadline(time.Now().Add(2 * time.Second))
			io.Copy(io.Discard, nc) // the server drops it
			nc.Close()
		}
	case 2: // a message over the limit
		if c, _, err := Dial(ctx, url, nil); err == nil {
			c.Write(ctx, BinaryMessage, make([]byte, 2<<20))
			c.Read(ctx) // the 1009
			c.CloseNow()
		}
	case 3: // reset in the middle of a frame
		if c, _, err := Dial(ctx, url, nil); err == nil {
			w, _ := c.Writer(ctx, BinaryMessage)
			w.Write(make([]byte, 100_000))
			if tc, ok := c.nc.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			c.CloseNow()
		}
	case 4: // never reads while the server writes
		if c, _, err := Dial(ctx, url, nil); err == nil {
			for i := 0; i < 12; i++ {
				if c.Write(ctx, BinaryMessage, make([]byte, 512<<10)) != nil {
					break
				}
			}
			c.CloseNow()
		}
	}
}
