//go:build linux

// Command raw is the floor of the echo benchmarks: no WebSocket library
// and no Go network poller, only what any echo server over TCP has to do.
// One thread owns every socket: it waits in epoll_wait (level-triggered),
// reads a ready socket once, answers the handshake or echoes each whole
// frame it has (unmasked word by word as websock does, with the same
// opcode and FIN bit; a close is answered and the socket closed), and
// writes the answers with one write. So a 32 B echo costs one read and
// one write, and the epoll_wait is shared by the sockets that were ready
// together: what the kernel charges for that is the least any server pays
// per message on the machine.
//
// With -tls it is the floor over TLS (tls.go): the same loop, each socket
// read through crypto/tls over a non-blocking net.Conn of its own; with
// -tls -goroutines, a goroutine per connection reading its tls.Conn
// through Go's poller, as a server on net.Conn does.
//
// It checks little of the handshake and is no WebSocket server to use:
// frames are echoed as they come, text is not validated, and a peer that
// misbehaves is dropped.
package main

import (
	"bytes"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"flag"
	"log"
	"net/netip"
	"runtime"
	"sync"
	"syscall"

	"github.com/websock/websock/bench/internal/server"
	"github.com/websock/websock/internal/mask"
)

// maxFrame bounds the payload of one frame, and so what a socket holds.
const maxFrame = 1 << 20

// conn is one socket's state: the bytes of an incomplete request or frame,
// and an answer the socket could not take yet.
type conn struct {
	fd        int
	tls       *tls.Conn // over TLS
	upgraded  bool
	in        []byte
	out       []byte
	wantWrite bool // registered for EPOLLOUT while out waits
}

type loop struct {
	epfd  int
	lfd   int
	conns map[int]*conn
	buf   []byte // what a read fills
	reply []byte // the answers of one read, written together

	// Over TLS: handshakes run on goroutines (tls.go), which leave the
	// sockets they finish in adopted for the loop to take.
	tlsConfig *tls.Config
	mu        sync.Mutex
	adopted   []*conn
}

var goroutines = flag.Bool("goroutines", false, "with -tls: a goroutine per connection on Go's poller")

func main() {
	cfg := server.Parse()
	if cfg.Compress || cfg.Events {
		log.Fatal("raw serves ws:// and wss:// only, without compression")
	}
	var tlsConfig *tls.Config
	if cfg.TLS {
		cert, err := tls.X509KeyPair(cfg.KeyPair())
		if err != nil {
			log.Fatal(err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	}
	if *goroutines {
		if tlsConfig == nil {
			log.Fatal("-goroutines is for -tls")
		}
		ln, err := tls.Listen("tcp", cfg.Addr, tlsConfig)
		if err != nil {
			log.Fatal(err)
		}
		serveUntilSignal(cfg, func() { serveTLS(ln) })
		return
	}
	lfd, err := listen(cfg.Addr)
	if err != nil {
		log.Fatal(err)
	}
	l, err := newLoop(lfd, tlsConfig)
	if err != nil {
		log.Fatal(err)
	}
	serveUntilSignal(cfg, func() {
		runtime.LockOSThread()
		l.run()
	})
}

// serveUntilSignal runs serve on its goroutine, under the -cpuprofile
// profile if asked for, until SIGINT or SIGTERM.
func serveUntilSignal(cfg server.Config, serve func()) {
	stop := cfg.Profile()
	go serve()
	server.WaitSignal()
	stop()
}

// listen returns a non-blocking listening socket on addr (host:port, IPv4).
func listen(addr string) (int, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return -1, err
	}
	if !ap.Addr().Is4() {
		return -1, errors.New("raw listens on IPv4 addresses only")
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return -1, err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		return -1, err
	}
	if err := syscall.Listen(fd, 4096); err != nil {
		return -1, err
	}
	return fd, nil
}

// newLoop returns the loop that serves the listening socket lfd, over TLS
// with tlsConfig if it is not nil.
func newLoop(lfd int, tlsConfig *tls.Config) (*loop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	l := &loop{epfd: epfd, lfd: lfd, conns: map[int]*conn{}, buf: make([]byte, 64<<10), tlsConfig: tlsConfig}
	if err := l.add(lfd, syscall.EPOLLIN); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	return l, nil
}

func (l *loop) add(fd int, events uint32) error {
	return syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: events, Fd: int32(fd)})
}

func (l *loop) run() {
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(l.epfd, events, -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			log.Fatal(err)
		}
		for _, e := range events[:n] {
			fd := int(e.Fd)
			if fd == l.lfd {
				l.accept()
				continue
			}
			c := l.conns[fd]
			if c == nil && l.tlsConfig != nil {
				l.adopt()
				c = l.conns[fd]
			}
			if c == nil {
				continue
			}
			if e.Events&syscall.EPOLLOUT != 0 && !l.flush(c) {
				continue
			}
			if e.Events&(syscall.EPOLLIN|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				if c.tls != nil {
					l.readableTLS(c)
				} else {
					l.readable(c)
				}
			}
		}
	}
}

func (l *loop) accept() {
	for {
		fd, _, err := syscall.Accept4(l.lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err != nil {
			return // EAGAIN, or a connection that failed before it was taken
		}
		// As Go's net package does for every TCP connection.
		syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		if l.tlsConfig != nil {
			go l.handshake(fd)
			continue
		}
		if err := l.add(fd, syscall.EPOLLIN|syscall.EPOLLRDHUP); err != nil {
			syscall.Close(fd)
			continue
		}
		l.conns[fd] = &conn{fd: fd}
	}
}

func (l *loop) drop(c *conn) {
	delete(l.conns, c.fd)
	syscall.Close(c.fd) // leaves the epoll set
}

// readable reads c once and answers what it has whole.
func (l *loop) readable(c *conn) {
	n, err := syscall.Read(c.fd, l.buf)
	if err == syscall.EAGAIN || err == syscall.EINTR {
		return
	}
	if err != nil || n == 0 {
		l.drop(c)
		return
	}
	var closing, ok bool
	l.reply, closing, ok = c.consume(l.reply[:0], l.buf[:n])
	if !ok {
		l.drop(c)
		return
	}
	if len(l.reply) > 0 {
		if len(c.out) == 0 {
			// Written from l.reply; only what the socket does not take
			// is copied.
			c.out = l.reply
			ok := l.flush(c)
			c.out = append([]byte(nil), c.out...)
			if !ok {
				return
			}
		} else {
			c.out = append(c.out, l.reply...)
			if !l.flush(c) {
				return
			}
		}
	}
	if closing && len(c.out) == 0 {
		l.drop(c)
	}
}

// consume answers what data completes of c's input, appending the answers
// to reply, and keeps the rest, which is incomplete, in c's own memory (data
// is a buffer the caller reuses). It reports whether a close frame was
// answered, and false if c is to be dropped.
func (c *conn) consume(reply, data []byte) (_ []byte, closing, ok bool) {
	if len(c.in) > 0 {
		c.in = append(c.in, data...)
		data = c.in
	}
	reply, used, closing, ok := c.answer(reply, data)
	if !ok {
		return reply, false, false
	}
	c.in = append(c.in[:0], data[used:]...)
	if len(c.in) == 0 && cap(c.in) > 4096 {
		c.in = nil
	}
	return reply, closing, true
}

// answer appends to reply the answers to the whole request or frames at the
// start of data, and returns it with how many bytes they took, whether a
// close frame was among them, and false if c is to be dropped.
func (c *conn) answer(reply, data []byte) (_ []byte, used int, closing, ok bool) {
	if !c.upgraded {
		end := bytes.Index(data, []byte("\r\n\r\n"))
		if end < 0 {
			return reply, 0, false, len(data) < 8192
		}
		key := header(data[:end], "sec-websocket-key")
		if key == nil {
			return reply, 0, false, false
		}
		h := sha1.New()
		h.Write(key)
		h.Write([]byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		reply = append(reply, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
		reply = base64.StdEncoding.AppendEncode(reply, h.Sum(nil))
		reply = append(reply, "\r\n\r\n"...)
		c.upgraded = true
		used = end + 4
	}
	for {
		rest := data[used:]
		if len(rest) < 2 {
			return reply, used, false, true
		}
		opcode := rest[0] & 0x0f
		if rest[1]&0x80 == 0 {
			return reply, used, false, false // a client's frames are masked
		}
		size, hdr := uint64(rest[1]&0x7f), 2
		switch size {
		case 126:
			if len(rest) < 4 {
				return reply, used, false, true
			}
			size, hdr = uint64(binary.BigEndian.Uint16(rest[2:])), 4
		case 127:
			if len(rest) < 10 {
				return reply, used, false, true
			}
			size, hdr = binary.BigEndian.Uint64(rest[2:]), 10
		}
		if size > maxFrame {
			return reply, used, false, false
		}
		if uint64(len(rest)) < uint64(hdr+4)+size {
			return reply, used, false, true
		}
		key := [4]byte(rest[hdr : hdr+4])
		payload := rest[hdr+4 : hdr+4+int(size)]
		first := rest[0]
		if opcode == 0x9 { // ping: pong
			first = 0x80 | 0xa
		}
		reply = append(reply, first)
		switch {
		case size < 126:
			reply = append(reply, byte(size))
		case size <= 0xffff:
			reply = append(reply, 126, byte(size>>8), byte(size))
		default:
			reply = append(reply, 127)
			reply = binary.BigEndian.AppendUint64(reply, size)
		}
		start := len(reply)
		reply = append(reply, payload...)
		mask.Apply(key, 0, reply[start:])
		used += hdr + 4 + int(size)
		if opcode == 0x8 {
			return reply, used, true, true
		}
	}
}

// header returns the value of the header field name (lower case) in the
// request head, or nil.
func header(head []byte, name string) []byte {
	for _, line := range bytes.Split(head, []byte("\r\n"))[1:] {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && string(bytes.ToLower(bytes.TrimSpace(k))) == name {
			return bytes.TrimSpace(v)
		}
	}
	return nil
}

// flush writes what c has to send, and reports whether c is still open.
// What the socket cannot take waits for EPOLLOUT.
func (l *loop) flush(c *conn) bool {
	for len(c.out) > 0 {
		n, err := syscall.Write(c.fd, c.out)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			break
		}
		if err != nil {
			l.drop(c)
			return false
		}
		c.out = c.out[n:]
	}
	want := len(c.out) > 0
	if want != c.wantWrite {
		ev := uint32(syscall.EPOLLIN | syscall.EPOLLRDHUP)
		if want {
			ev |= syscall.EPOLLOUT
		}
		if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, c.fd, &syscall.EpollEvent{Events: ev, Fd: int32(c.fd)}); err != nil {
			l.drop(c)
			return false
		}
		c.wantWrite = want
	}
	return true
}
