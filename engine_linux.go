package websock

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// The poller: one epoll instance, and one goroutine waiting on it, for all
// the served connections of the process. Each socket is registered
// edge-triggered, so it is signalled when data arrives and never again
// until more does; a connection's reader reads until a read would block
// before handing it back (served.park), and a signal that comes while it
// runs makes it read again. The socket stays registered with Go's own
// poller as well, which writes use.

// Epoll flags, as the kernel defines them (syscall.EPOLLET is negative).
const (
	epollIn    = 0x1
	epollRDHup = 0x2000
	epollET    = 1 << 31
)

// The poller runs only while connections are registered: when the last
// one leaves, its goroutine is woken through a pipe and ends, closing the
// epoll instance; the next registration starts a new one.
type poller struct {
	epfd   int
	wakeR  int // the pipe that wakes wait when the last registration leaves
	wakeW  int
	mu     sync.Mutex
	slots  []pollSlot // indexed by the registration's number
	free   []uint32
	count  int  // registrations
	closed bool // wait has ended: register on a new poller
}

// wakeIdx marks the pipe's events.
const wakeIdx = 1<<32 - 1

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
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(epfd)
		return nil, os.NewSyscallError("pipe2", err)
	}
	ev := syscall.EpollEvent{Events: epollIn, Fd: -1}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, pipe[0], &ev); err != nil {
		syscall.Close(epfd)
		syscall.Close(pipe[0])
		syscall.Close(pipe[1])
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return &poller{epfd: epfd, wakeR: pipe[0], wakeW: pipe[1]}, nil
}

// wait hands each readiness event to its connection, until the last
// registration has left.
func (p *poller) wait() {
	events := make([]syscall.EpollEvent, 128)
	ready := make([]*served, 0, len(events))
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			continue // EINTR
		}
		p.mu.Lock()
		for _, e := range events[:n] {
			if idx := uint32(e.Fd); idx == wakeIdx {
				var b [8]byte
				syscall.Read(p.wakeR, b[:])
				if p.count == 0 {
					p.closed = true
				}
			} else if int(idx) < len(p.slots) {
				if sl := p.slots[idx]; sl.s != nil && sl.gen == uint32(e.Pad) {
					ready = append(ready, sl.s)
				}
			}
		}
		closed := p.closed
		p.mu.Unlock()
		for i, s := range ready {
			s.ready()
			ready[i] = nil
		}
		ready = ready[:0]
		if closed {
			syscall.Close(p.epfd)
			syscall.Close(p.wakeR)
			syscall.Close(p.wakeW)
			return
		}
	}
}

// rawSource reads a socket without waiting, through its syscall.RawConn.
type rawSource struct {
	rc syscall.RawConn

	// The arguments and results of readFn, which is made once so that
	// reads do not allocate.
	p      []byte
	n      int
	errno  error
	readFn func(fd uintptr) bool
}

// newPollSource returns a source for nc if it is a socket the poller can
// watch, or nil.
func newPollSource(nc net.Conn) pollSource {
	var sc syscall.Conn
	switch c := nc.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return nil
	}
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

func (src *rawSource) read(p []byte) (int, error) {
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
			return max(src.n, 0), nil
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
			syscall.Write(p.wakeW, []byte{1})
		}
	}
	p.mu.Unlock()
}
