//go:build linux

package main

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The floor over TLS. crypto/tls reads and writes a net.Conn; here that is
// nbConn, the loop's non-blocking socket. A read that finds the socket
// empty fails with a temporary error, which crypto/tls returns without
// keeping it, and the record it has begun stays in crypto/tls's buffer for
// the next read. The handshake and the upgrade request, which come before
// the loop owns the socket, are read on a goroutine that waits in poll(2).

// nbConn is a non-blocking socket as crypto/tls sees it.
type nbConn struct {
	fd       int
	blocking bool // waits in poll(2) for the socket (before the loop owns it)
	// drained: the last read was short, so the socket was empty; the
	// next read fails without a system call. (The loop's epoll is
	// level-triggered: bytes that came since are signalled again.)
	drained bool
}

// Read reads what the socket has. In the loop, a socket with nothing fails
// the read with os.ErrDeadlineExceeded (temporary: crypto/tls keeps
// nothing of it); before, the read waits for the socket.
func (n *nbConn) Read(p []byte) (int, error) {
	if n.drained && !n.blocking {
		n.drained = false
		return 0, os.ErrDeadlineExceeded
	}
	for {
		k, err := syscall.Read(n.fd, p)
		switch {
		case err == nil && k == 0 && len(p) > 0:
			return 0, io.EOF
		case err == nil:
			n.drained = k < len(p)
			return k, nil
		case err == syscall.EINTR:
		case err == syscall.EAGAIN && !n.blocking:
			return 0, os.ErrDeadlineExceeded
		case err == syscall.EAGAIN:
			if err := waitFor(n.fd, unix.POLLIN); err != nil {
				return 0, err
			}
		default:
			return 0, err
		}
	}
}

// Write writes all of p. A socket that takes no more is waited for in
// poll(2), even in the loop: answers of 32 B never wait, and the floor is
// measured with those.
func (n *nbConn) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		k, err := syscall.Write(n.fd, p[done:])
		switch err {
		case nil:
			done += k
		case syscall.EINTR:
		case syscall.EAGAIN:
			if err := waitFor(n.fd, unix.POLLOUT); err != nil {
				return done, err
			}
		default:
			return done, err
		}
	}
	return done, nil
}

// waitFor waits until fd has events, at most 10 s.
func waitFor(fd int, events int16) error {
	for {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: events}}, 10000)
		switch {
		case err == syscall.EINTR:
		case err != nil:
			return err
		case n == 0:
			return os.ErrDeadlineExceeded
		default:
			return nil
		}
	}
}

// The loop closes the socket (drop); crypto/tls sets no deadlines on a
// connection that is read and written but never closed through it.
func (n *nbConn) Close() error                       { return nil }
func (n *nbConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (n *nbConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (n *nbConn) SetDeadline(t time.Time) error      { return nil }
func (n *nbConn) SetReadDeadline(t time.Time) error  { return nil }
func (n *nbConn) SetWriteDeadline(t time.Time) error { return nil }

// handshake runs the TLS handshake of the accepted socket fd and answers
// its upgrade request, waiting for the socket, then hands it to the loop.
func (l *loop) handshake(fd int) {
	nb := &nbConn{fd: fd, blocking: true}
	c := &conn{fd: fd, tls: tls.Server(nb, l.tlsConfig)}
	if !c.upgrade() {
		syscall.Close(fd)
		return
	}
	nb.blocking, nb.drained = false, false // the loop reads what is left
	l.mu.Lock()
	l.adopted = append(l.adopted, c)
	l.mu.Unlock()
	// Registered once adoptable: the first event finds it.
	if err := l.add(fd, syscall.EPOLLIN|syscall.EPOLLRDHUP); err != nil {
		log.Fatal(err)
	}
}

// upgrade runs c's TLS handshake and answers its upgrade request.
func (c *conn) upgrade() bool {
	if err := c.tls.Handshake(); err != nil {
		return false
	}
	buf := make([]byte, 4096)
	for !c.upgraded {
		n, err := c.tls.Read(buf)
		if err != nil {
			return false
		}
		reply, _, ok := c.consume(nil, buf[:n])
		if !ok {
			return false
		}
		if len(reply) > 0 {
			if _, err := c.tls.Write(reply); err != nil {
				return false
			}
		}
	}
	return true
}

// adopt takes the sockets whose handshakes have ended into the loop.
func (l *loop) adopt() {
	l.mu.Lock()
	for i, c := range l.adopted {
		l.conns[c.fd] = c
		l.adopted[i] = nil
	}
	l.adopted = l.adopted[:0]
	l.mu.Unlock()
}

// readableTLS reads c's records until the socket is empty and crypto/tls
// holds no whole record, and answers what they complete with one record.
func (l *loop) readableTLS(c *conn) {
	l.reply = l.reply[:0]
	for {
		n, err := c.tls.Read(l.buf) // one record's plaintext at most
		if n > 0 {
			var closing, ok bool
			l.reply, closing, ok = c.consume(l.reply, l.buf[:n])
			if !ok {
				l.drop(c)
				return
			}
			if closing {
				c.tls.Write(l.reply)
				l.drop(c)
				return
			}
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			l.drop(c)
			return
		}
	}
	if len(l.reply) > 0 {
		if _, err := c.tls.Write(l.reply); err != nil {
			l.drop(c)
		}
	}
}

// serveTLS is the floor with -goroutines: it serves the connections of
// ln, each on its goroutine,, until ln
// is closed.
func serveTLS(ln net.Listener) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Print(err) // too many open files, say: go on
			continue
		}
		go echoTLS(nc)
	}
}

// echoTLS reads nc (a tls.Conn: one record's plaintext per read, at most
// 16 KiB) and answers what each read completes with one write.
func echoTLS(nc net.Conn) {
	defer nc.Close()
	c := &conn{}
	buf := make([]byte, 16<<10)
	var reply []byte
	for {
		n, err := nc.Read(buf)
		if err != nil {
			return
		}
		var closing, ok bool
		reply, closing, ok = c.consume(reply[:0], buf[:n])
		if !ok {
			return
		}
		if len(reply) > 0 {
			if _, err := nc.Write(reply); err != nil {
				return
			}
		}
		if closing {
			return
		}
	}
}
