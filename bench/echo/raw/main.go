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
// It serves ws:// only (the plain scenarios), checks little of the
// handshake, and is no WebSocket server to use: frames are echoed as they
// come, text is not validated, and a peer that misbehaves is dropped.
package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"log"
	"net/netip"
	"runtime"
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
}

func main() {
	cfg := server.Parse()
	if cfg.TLS || cfg.Compress || cfg.Events {
		log.Fatal("raw serves plain ws:// only")
	}
	lfd, err := listen(cfg.Addr)
	if err != nil {
		log.Fatal(err)
	}
	l, err := newLoop(lfd)
	if err != nil {
		log.Fatal(err)
	}
	stop := cfg.Profile()
	go func() {
		runtime.LockOSThread()
		l.run()
	}()
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

// newLoop returns the loop that serves the listening socket lfd.
func newLoop(lfd int) (*loop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	l := &loop{epfd: epfd, lfd: lfd, conns: map[int]*conn{}, buf: make([]byte, 64<<10)}
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
			if c == nil {
				continue
			}
			if e.Events&syscall.EPOLLOUT != 0 && !l.flush(c) {
				continue
			}
			if e.Events&(syscall.EPOLLIN|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				l.readable(c)
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
	data := l.buf[:n]
	if len(c.in) > 0 {
		c.in = append(c.in, data...)
		data = c.in
	}
	l.reply = l.reply[:0]
	used, closing, ok := l.answer(c, data)
	if !ok {
		l.drop(c)
		return
	}
	// Keep what is incomplete (in its own memory: l.buf is reused).
	c.in = append(c.in[:0], data[used:]...)
	if len(c.in) == 0 && cap(c.in) > 4096 {
		c.in = nil
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

// answer appends to l.reply the answers to the whole request or frames at
// the start of data, and returns how many bytes they took, whether a close
// frame was among them, and false if c is to be dropped.
func (l *loop) answer(c *conn, data []byte) (used int, closing, ok bool) {
	if !c.upgraded {
		end := bytes.Index(data, []byte("\r\n\r\n"))
		if end < 0 {
			return 0, false, len(data) < 8192
		}
		key := header(data[:end], "sec-websocket-key")
		if key == nil {
			return 0, false, false
		}
		h := sha1.New()
		h.Write(key)
		h.Write([]byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		l.reply = append(l.reply, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
		l.reply = base64.StdEncoding.AppendEncode(l.reply, h.Sum(nil))
		l.reply = append(l.reply, "\r\n\r\n"...)
		c.upgraded = true
		used = end + 4
	}
	for {
		rest := data[used:]
		if len(rest) < 2 {
			return used, false, true
		}
		opcode := rest[0] & 0x0f
		if rest[1]&0x80 == 0 {
			return used, false, false // a client's frames are masked
		}
		size, hdr := uint64(rest[1]&0x7f), 2
		switch size {
		case 126:
			if len(rest) < 4 {
				return used, false, true
			}
			size, hdr = uint64(binary.BigEndian.Uint16(rest[2:])), 4
		case 127:
			if len(rest) < 10 {
				return used, false, true
			}
			size, hdr = binary.BigEndian.Uint64(rest[2:]), 10
		}
		if size > maxFrame {
			return used, false, false
		}
		if uint64(len(rest)) < uint64(hdr+4)+size {
			return used, false, true
		}
		key := [4]byte(rest[hdr : hdr+4])
		payload := rest[hdr+4 : hdr+4+int(size)]
		first := rest[0]
		if opcode == 0x9 { // ping: pong
			first = 0x80 | 0xa
		}
		l.reply = append(l.reply, first)
		switch {
		case size < 126:
			l.reply = append(l.reply, byte(size))
		case size <= 0xffff:
			l.reply = append(l.reply, 126, byte(size>>8), byte(size))
		default:
			l.reply = append(l.reply, 127)
			l.reply = binary.BigEndian.AppendUint64(l.reply, size)
		}
		start := len(l.reply)
		l.reply = append(l.reply, payload...)
		mask.Apply(key, 0, l.reply[start:])
		used += hdr + 4 + int(size)
		if opcode == 0x8 {
			return used, true, true
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
