package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/websock/websock/internal/frame"
)

// clients are raw WebSocket clients that count the messages they receive
// without decoding them: the reading side costs as little as it can, and
// the same for every server.
type clients struct {
	conns      []net.Conn
	delivered  atomic.Int64 // messages received by all clients
	target     atomic.Int64 // delivered value at which done is signalled
	done       chan struct{}
	compressed atomic.Int64 // messages with RSV1 set
	failed     chan error
	perSend    int // messages each broadcast sends
}

// connectClients opens n connections to addr (a few at a time, so that
// the server's listen backlog never overflows) and starts their readers.
func connectClients(addr string, n int, compress bool) (*clients, error) {
	cl := &clients{done: make(chan struct{}, 1), failed: make(chan error, 1), perSend: 1}
	cl.target.Store(-1)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 32 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				nc, br, err := handshake(addr, compress, sourceAddr(i))
				mu.Lock()
				if err != nil {
					firstErr = cmp(firstErr, err)
				} else {
					cl.conns = append(cl.conns, nc)
				}
				mu.Unlock()
				if err != nil {
					return
				}
				go cl.read(nc, br)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		cl.close()
		return nil, firstErr
	}
	return cl, nil
}

func cmp(old, err error) error {
	if old != nil {
		return old
	}
	return err
}

// sourceAddr returns the local address of the i-th client: spread over
// 127.0.1.0/24, 5,000 to an address, so that the clients never run short of
// ephemeral ports whatever else the machine connects to 127.0.0.1.
func sourceAddr(i int64) *net.TCPAddr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+i/5000%250))}
}

// handshake opens one connection from local and performs the opening
// handshake.
func handshake(addr string, compress bool, local *net.TCPAddr) (net.Conn, *bufio.Reader, error) {
	d := net.Dialer{Timeout: time.Minute, LocalAddr: local}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	var key [16]byte
	rand.Read(key[:])
	ext := ""
	if compress {
		ext = "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"
	}
	fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
		addr, base64.StdEncoding.EncodeToString(key[:]), ext)
	nc.SetReadDeadline(time.Now().Add(time.Minute))
	br := bufio.NewReaderSize(nc, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("handshake: %w", err)
	}
	nc.SetReadDeadline(time.Time{})
	if resp.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		return nil, nil, fmt.Errorf("handshake: %s", resp.Status)
	}
	if got := resp.Header.Get("Sec-WebSocket-Extensions"); compress != strings.Contains(got, "permessage-deflate") {
		nc.Close()
		return nil, nil, fmt.Errorf("handshake: extensions %q", got)
	}
	return nc, br, nil
}

// read counts the data messages arriving on nc.
func (cl *clients) read(nc net.Conn, br *bufio.Reader) {
	var hb [frame.MaxHeaderLen]byte
	for {
		if _, err := io.ReadFull(br, hb[:2]); err != nil {
			cl.fail(err)
			return
		}
		n := frame.Len(hb[0], hb[1])
		if _, err := io.ReadFull(br, hb[2:n]); err != nil {
			cl.fail(err)
			return
		}
		h, _, err := frame.Parse(hb[:n])
		if err != nil {
			cl.fail(err)
			return
		}
		if _, err := br.Discard(int(h.Length)); err != nil {
			cl.fail(err)
			return
		}
		if h.Opcode.IsControl() || !h.Fin {
			continue
		}
		if h.RSV&frame.RSV1 != 0 {
			cl.compressed.Add(1)
		}
		if cl.delivered.Add(1) == cl.target.Load() {
			cl.done <- struct{}{}
		}
	}
}

func (cl *clients) fail(err error) {
	select {
	case cl.failed <- err:
	default:
	}
}

// broadcast runs send, which makes the server broadcast perSend messages,
// and waits until every client has them.
func (cl *clients) broadcast(send func() error) error {
	cl.target.Store(cl.delivered.Load() + int64(len(cl.conns)*cl.perSend))
	if err := send(); err != nil {
		return err
	}
	select {
	case <-cl.done:
		return nil
	case err := <-cl.failed:
		return fmt.Errorf("client: %w", err)
	case <-time.After(2 * time.Minute):
		return fmt.Errorf("%d of %d deliveries after 2 minutes", cl.delivered.Load(), cl.target.Load())
	}
}

func (cl *clients) close() {
	cl.target.Store(-1)
	for _, nc := range cl.conns {
		nc.Close()
	}
}
