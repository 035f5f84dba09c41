package websock

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// The poller: one epoll instance, and one goroutine reading it, for all
// the served connections of the process. Each socket is registered
// edge-triggered, so it is signalled when data arrives and never again
// until more does; a connection's reader reads until a read would block
// (or a short read shows the socket empty) before handing it back
// (served.park), and a signal that comes while it runs makes it read
// again. The socket stays registered with Go's own poller as well, which
// writes use.
//
// The epoll instance is itself watched by Go's poller: the goroutine
// collects events without waiting (epoll_wait with no timeout) and, when
// there are none, parks as a goroutine reading a socket would, so no
// thread is held in a system call and the runtime wakes the goroutine
// with its other network work. The poller runs only while connections
// are registered: when the last one leaves it closes, and the next
// registration starts a new one.

// Epoll flags, as the kernel defines them (syscall.EPOLLET is negative).
const (
	epollIn    = 0x1
	epollErr   = 0x8
	epollHup   = 0x10
	epollRDHup = 0x2000
	epollET    = 1 << 31
)

type poller struct {
	epfd   int
	file   *os.File // epfd, watched by Go's poller
	rc     syscall.RawConn
	mu     sync.Mutex
	slots  []pollSlot // indexed by the registration's number
	free   []uint32
	count  int  // registrations
	closed bool // the last registration has left: register on a new poller
}

// pollSlot is one registration; gen tells a late event for a registration
// that has ended from one for the slot's new owner.
type pollSlot struct {
	s   *served
	gen uint32
}

// pollReg is a served connection's handle on its registration.
type pollReg struct {
	p        *poller
	idx, gen uint32
}

var (
	pollerMu  sync.Mutex
	thePoller *poller
)

// reserve returns the running poller with a registration counted, starting
// a poller if none runs.
func reserve() (*poller, error) {
	pollerMu.Lock()
	defer pollerMu.Unlock()
	if p := thePoller; p != nil {
		p.mu.Lock()
		if !p.closed {
			p.count++
			p.mu.Unlock()
			return p, nil
		}
		p.mu.Unlock()
	}
	p, err := newPoller()
	if err != nil {
		return nil, err
	}
	p.count = 1
	thePoller = p
	go p.wait()
	return p, nil
}

func newPoller() (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	f := os.NewFile(uintptr(epfd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &poller{epfd: epfd, file: f, rc: rc}, nil
}

// wait hands each readiness event to its connection, until the poller is
// closed.
func (p *poller) wait() {
	events := make([]syscall.EpollEvent, 128)
	ready := make([]*served, 0, len(events))
	var n int
	collect := func(fd uintptr) bool {
		var err error
		n, err = syscall.EpollWait(int(fd), events, 0)
		if err != nil {
			n = 0
			return true // EINTR: again (a closed poller fails the next Read)
		}
		return n > 0
	}
	for {
		if err := p.rc.Read(collect); err != nil {
			return // closed
		}
		p.mu.Lock()
		for _, e := range events[:n] {
			if idx := uint32(e.Fd); int(idx) < len(p.slots) {
				if sl := p.slots[idx]; sl.s != nil && sl.gen == uint32(e.Pad) {
					if e.Events&(epollRDHup|epollHup|epollErr) != 0 {
						sl.s.hangup.Store(true)
					}
					ready = append(ready, sl.s)
				}
			}
		}
		p.mu.Unlock()
		for i, s := range ready {
			s.ready()
			ready[i] = nil
		}
		ready = ready[:0]
	}
}

// rawSource reads a socket without waiting, through its syscall.RawConn.
type rawSource struct {
	rc syscall.RawConn

	s *served

	// drained: the last read returned less than asked, so the socket
	// was empty then. The next read returns errWouldBlock without a
	// system call that would only find that out.
	drained bool

	// The arguments and results of readFn, which is made once so that
	// reads do not allocate.
	p      []byte
	n      int
	errno  error
	readFn func(fd uintptr) bool
}

// newPollSource returns a source for c's connection if it is a socket the
// poller can watch (or TLS over one), or nil.
func newPollSource(c *Conn) pollSource {
	switch nc := c.nc.(type) {
	case *net.TCPConn:
		return newRawSource(nc)
	case *net.UnixConn:
		return newRawSource(nc)
	case *tls.Conn:
		if tcp, ok := nc.NetConn().(*net.TCPConn); ok {
			if raw := newRawSource(tcp); raw != nil {
				return newTLSSource(raw, c, nc, tcp)
			}
		}
	}
	return nil
}

func newRawSource(sc syscall.Conn) *rawSource {
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	src := &rawSource{rc: rc}
	src.readFn = func(fd uintptr) bool {
		src.n, src.errno = syscall.Read(int(fd), src.p)
		return true // never wait in Go's poller
	}
	return src
}

// tlsSource reads a TLS connection without waiting for a socket that has
// nothing. When the socket has bytes, the TLS connection is read as usual
// (crypto/tls reads what it holds first, and waits only while a record is
// incomplete). When it has none, crypto/tls may still hold decrypted bytes
// or whole records that the socket no longer signals: they are read with
// the socket's read deadline in the past (a timeout is not sticky in
// crypto/tls, and a TCPConn past its deadline fails before any system
// call), and only if there are none does the read report errWouldBlock.
type tlsSource struct {
	*rawSource // of the TCP socket: its registration
	c          *Conn
	tc         *tls.Conn
	tcp        *net.TCPConn

	// The result of peekFn, which is made once so that readable does
	// not allocate.
	peekErr error
	peekFn  func(fd uintptr) bool
}

func newTLSSource(raw *rawSource, c *Conn, tc *tls.Conn, tcp *net.TCPConn) *tlsSource {
	t := &tlsSource{rawSource: raw, c: c, tc: tc, tcp: tcp}
	t.peekFn = func(fd uintptr) bool {
		var b [1]byte
		_, _, t.peekErr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // never wait in Go's poller
	}
	return t
}

// readable reports whether the socket has bytes (or its end) to read,
// without consuming them.
func (t *tlsSource) readable() bool {
	if err := t.rc.Read(t.peekFn); err != nil {
		return true // closed, or past the deadline: the read says so
	}
	return t.peekErr != syscall.EAGAIN
}

func (t *tlsSource) read(p []byte) (int, error) {
	if t.readable() {
		return t.tc.Read(p)
	}
	t.tcp.SetReadDeadline(longAgo)
	n, err := t.tc.Read(p)
	t.tcp.SetReadDeadline(t.c.closeDeadline())
	if n == 0 && err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, errWouldBlock
	}
	return n, err
}

func (src *rawSource) read(p []byte) (int, error) {
	if src.drained {
		// The last read emptied the socket: bytes that arrived since
		// were signalled (served.park sees it), unless the peer's end
		// came with the last bytes read.
		src.drained = false
		if !src.s.hangup.Load() {
			return 0, errWouldBlock
		}
	}
	for {
		src.p = p
		err := src.rc.Read(src.readFn)
		src.p = nil
		if err != nil {
			return 0, err // closed, or past the read deadline
		}
		switch src.errno {
		case nil:
			if src.n == 0 && len(p) > 0 {
				return 0, io.EOF
			}
			src.drained = src.n < len(p)
			return src.n, nil
		case syscall.EAGAIN:
			return 0, errWouldBlock
		case syscall.EINTR:
			continue
		}
		return 0, os.NewSyscallError("read", src.errno)
	}
}

func (src *rawSource) register(s *served) error {
	p, err := reserve()
	if err != nil {
		return err
	}
	p.mu.Lock()
	var idx uint32
	if n := len(p.free); n > 0 {
		idx = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		idx = uint32(len(p.slots))
		p.slots = append(p.slots, pollSlot{})
	}
	gen := p.slots[idx].gen + 1
	p.slots[idx] = pollSlot{s: s, gen: gen}
	p.mu.Unlock()
	s.reg = pollReg{p: p, idx: idx, gen: gen}
	src.s = s
	ev := syscall.EpollEvent{Events: epollIn | epollRDHup | epollET, Fd: int32(idx), Pad: int32(gen)}
	var cerr error
	err = src.rc.Control(func(fd uintptr) {
		cerr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err == nil && cerr != nil {
		err = os.NewSyscallError("epoll_ctl", cerr)
	}
	if err != nil {
		p.release(s.reg)
		return err
	}
	return nil
}

func (src *rawSource) unregister(s *served) {
	p := s.reg.p
	// Through Control, so that the descriptor is still this socket's; a
	// closed socket has left the epoll set already.
	src.rc.Control(func(fd uintptr) {
		syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
	})
	p.release(s.reg)
}

// release frees a registration's slot.
func (p *poller) release(r pollReg) {
	p.mu.Lock()
	if sl := &p.slots[r.idx]; sl.gen == r.gen && sl.s != nil {
		sl.s = nil
		p.free = append(p.free, r.idx)
		p.count--
		if p.count == 0 {
			p.closed = true
			p.file.Close() // ends wait
		}
	}
	p.mu.Unlock()
}
