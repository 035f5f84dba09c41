package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/websock/websock"
)

// idleRun is an idle run of the bench command: -c connections opened at
// -dialers at a time, each exchanging one message, then held.
type idleRun struct {
	url       string
	conns     int
	size      int
	typ       websock.MessageType
	hold      time.Duration // -d
	settle    time.Duration
	pid       int // the server's, 0 if unknown
	dialers   int
	perSource int  // connections per loopback source address; 0: the kernel picks
	collect   bool // after measuring, have the server collect (SIGUSR1) and measure again
	opts      func() *websock.DialOptions
}

// run opens, holds and closes the connections and fills in res.
func (r idleRun) run(ctx context.Context, res *benchResult) error {
	if lim := descriptorLimit(); lim > 0 && uint64(r.conns)+descriptorReserve > lim {
		return fmt.Errorf("bench: %d connections need as many file descriptors, and the limit is %d (RLIMIT_NOFILE; the server needs as many too)", r.conns, lim)
	}
	u, err := url.Parse(r.url)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	var rssBefore int64
	if r.pid != 0 {
		rssBefore = procRSS(r.pid)
	}
	self := os.Getpid()
	clientBefore := procRSS(self)
	kernelBefore := readKernelMemory()

	start := time.Now()
	cs, readers, err := r.open(ctx, u.Hostname())
	defer readers.Wait()
	defer func() {
		for _, c := range cs {
			if c != nil {
				c.CloseNow()
			}
		}
	}()
	if err != nil {
		return err
	}
	res.ConnectSec = time.Since(start).Seconds()

	select {
	case <-time.After(r.hold):
	case <-ctx.Done():
		return ctx.Err()
	}
	if r.pid != 0 {
		rss, waited, settled := settledRSS(ctx, func() int64 { return procRSS(r.pid) }, rssInterval, rssWindow, r.settle)
		res.ServerRSSKiB, res.RSSWaitSec, res.RSSSettled = rss, waited.Seconds(), settled
		res.RSSPerConnKiB = float64(res.ServerRSSKiB-rssBefore) / float64(r.conns)
		if r.collect {
			if err := askToCollect(r.pid); err != nil {
				return fmt.Errorf("bench: -collect: %w", err)
			}
			rss, _, _ := settledRSS(ctx, func() int64 { return procRSS(r.pid) }, rssInterval, rssWindow, r.settle)
			res.RSSCollectedPerConnKiB = float64(rss-rssBefore) / float64(r.conns)
		}
	}
	res.ClientRSSPerConnKiB = float64(procRSS(self)-clientBefore) / float64(r.conns)
	if kernelBefore.ok {
		if after := readKernelMemory(); after.ok {
			res.KernelSlabPerConnKiB = float64(after.slabKiB-kernelBefore.slabKiB) / float64(r.conns)
			res.SocketBufPerConnKiB = float64(after.tcpBufKiB-kernelBefore.tcpBufKiB) / float64(r.conns)
		}
	}
	res.Closed, res.CloseErrors = closeAll(cs)
	cs = nil
	return nil
}

// open dials the connections, r.dialers at a time; each writes one
// message and waits for its echo before its dialer moves on, while a
// reader per connection keeps reading (see keepReading). On error the
// connections opened so far are returned with it, for the caller to close.
func (r idleRun) open(ctx context.Context, host string) ([]*websock.Conn, *sync.WaitGroup, error) {
	readers := new(sync.WaitGroup)
	cs := make([]*websock.Conn, r.conns)
	// dialCtx stops the dialers at the first failure; the connections
	// themselves read and write with ctx, which outlives open.
	dialCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	msg := benchMessage(r.size)
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	var dialers sync.WaitGroup
	for range max(1, r.dialers) {
		dialers.Go(func() {
			for dialCtx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= r.conns {
					return
				}
				opts := r.opts()
				if src := sourceAddr(host, i, r.perSource); src != nil {
					d := &net.Dialer{LocalAddr: src}
					opts.NetDial = d.DialContext
				}
				c, _, err := websock.Dial(dialCtx, r.url, opts)
				if err != nil {
					fail(fmt.Errorf("bench: connection %d: %w", i, err))
					return
				}
				cs[i] = c
				echo := keepReading(ctx, c, r.size, readers)
				if err := c.Write(ctx, r.typ, msg); err != nil {
					fail(fmt.Errorf("bench: connection %d: %w", i, err))
					return
				}
				timer := time.NewTimer(echoTimeout)
				select {
				case err = <-echo:
				case <-timer.C:
					err = fmt.Errorf("no echo within %v", echoTimeout)
				case <-dialCtx.Done():
				}
				timer.Stop()
				if err != nil {
					fail(fmt.Errorf("bench: connection %d: %w", i, err))
					return
				}
			}
		})
	}
	dialers.Wait()
	if firstErr == nil && dialCtx.Err() != nil {
		firstErr = dialCtx.Err()
	}
	return cs, readers, firstErr
}

// sourceAddr is the local address connection i binds to when the server
// is on an IPv4 loopback address: 127.0.0.2 for the first perSource
// connections, 127.0.0.3 for the next, and so on, so that more connections
// reach one server port than one address has ephemeral ports
// (net.ipv4.ip_local_port_range). Linux searches for a port to bind in
// one half of the range first (the other is for connect without bind),
// and each bind gets slower as that half fills: 10,000 an address keeps
// the search short. nil means the kernel's choice.
func sourceAddr(host string, i, perSource int) *net.TCPAddr {
	ip := net.ParseIP(host).To4()
	if perSource <= 0 || ip == nil || !ip.IsLoopback() {
		return nil
	}
	n := uint32(127)<<24 + 2 + uint32(i/perSource)
	if n>>24 != 127 {
		return nil
	}
	return &net.TCPAddr{IP: net.IPv4(byte(n>>24), byte(n>>16), byte(n>>8), byte(n))}
}

// kernelMemory is the machine's kernel memory that sockets use: the slab
// caches (socket structures, files, epoll items) from /proc/meminfo and the
// TCP buffer pages from /proc/net/sockstat.
type kernelMemory struct {
	slabKiB, tcpBufKiB int64
	ok                 bool
}

func readKernelMemory() kernelMemory {
	var m kernelMemory
	meminfo, err1 := os.ReadFile("/proc/meminfo")
	sockstat, err2 := os.ReadFile("/proc/net/sockstat")
	if err := errors.Join(err1, err2); err != nil {
		return m
	}
	slab, ok1 := procNumberAfter(string(meminfo), "Slab:", "Slab:")
	pages, ok2 := procNumberAfter(string(sockstat), "TCP:", "mem")
	m.slabKiB, m.tcpBufKiB, m.ok = slab, pages*int64(os.Getpagesize()/1024), ok1 && ok2
	return m
}

// procNumberAfter finds the line starting with prefix and returns the number
// after the word name on it.
func procNumberAfter(text, prefix, name string) (int64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line)
		for j := 0; j+1 < len(f); j++ {
			if f[j] == name {
				n, err := strconv.ParseInt(f[j+1], 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}
