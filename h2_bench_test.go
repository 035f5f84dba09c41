package websock

import (
	"context"
	"crypto/tls"
	"net/http"
	"runtime"
	"testing"
)

// h2BenchTransports are the two ways to reach a wss:// server: a TCP and
// TLS connection per WebSocket (HTTP/1.1), or a stream of a shared
// HTTP/2 connection.
func h2BenchTransports(b *testing.B) map[string]func() *DialOptions {
	return map[string]func() *DialOptions{
		"http1.1": func() *DialOptions { return &DialOptions{TLSConfig: &tls.Config{InsecureSkipVerify: true}} },
		"http2":   func() *DialOptions { return &DialOptions{HTTP2: newH2Client(b)} },
	}
}

// BenchmarkHandshakeTLS measures opening a wss:// WebSocket: the opening
// handshake, with TCP and TLS for HTTP/1.1, on an open HTTP/2 connection
// for HTTP/2.
func BenchmarkHandshakeTLS(b *testing.B) {
	for name, options := range h2BenchTransports(b) {
		b.Run(name, func(b *testing.B) {
			srv := newH2Server(b, Handler(nil, func(ctx context.Context, c *Conn, r *http.Request) { c.Read(ctx) }))
			opts := options()
			ctx := context.Background()
			// The first WebSocket opens the HTTP/2 connection the others
			// share.
			first, _, err := Dial(ctx, srv.wsURL(), opts)
			if err != nil {
				b.Fatal(err)
			}
			defer first.CloseNow()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				c, _, err := Dial(ctx, srv.wsURL(), opts)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				c.Close(StatusNormalClosure, "")
				b.StartTimer()
			}
			b.ReportMetric(float64(srv.conns.Load())/float64(b.N+1), "tcp/ws")
		})
	}
}

// BenchmarkIdleWebSocketMemory measures what an open, idle wss:// WebSocket
// costs, both sides in this process: heap and goroutine stacks, and TCP
// connections.
func BenchmarkIdleWebSocketMemory(b *testing.B) {
	const n = 200
	for name, options := range h2BenchTransports(b) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				srv := newH2Server(b, plainEcho)
				opts := options()
				ctx := context.Background()
				first, _, err := Dial(ctx, srv.wsURL(), opts)
				if err != nil {
					b.Fatal(err)
				}
				echoOnce(b, first, []byte("x"))
				before := memInUse()
				conns := make([]*Conn, n)
				for i := range conns {
					if conns[i], _, err = Dial(ctx, srv.wsURL(), opts); err != nil {
						b.Fatal(err)
					}
					echoOnce(b, conns[i], []byte("x"))
				}
				after := memInUse()
				b.ReportMetric(float64(after-before)/n, "B/ws")
				b.ReportMetric(float64(srv.conns.Load())/(n+1), "tcp/ws")
				for _, c := range append(conns, first) {
					c.Close(StatusNormalClosure, "")
				}
				srv.Close()
			}
		})
	}
}

// memInUse returns the heap and stack memory in use after a collection.
func memInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}
