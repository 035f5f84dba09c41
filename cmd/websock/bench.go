package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/websock/websock"
	"github.com/websock/websock/extension"
)

func benchCmd(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runBench(ctx, args, os.Stdout, os.Stderr)
}

// benchResult is what a run measured.
type benchResult struct {
	URL            string  `json:"url"`
	Conns          int     `json:"conns"`
	Size           int     `json:"size"`
	Seconds        float64 `json:"seconds"`
	Messages       int64   `json:"messages"`
	MsgsPerSec     float64 `json:"msgs_per_sec"`
	MBPerSec       float64 `json:"mb_per_sec"`
	P50us          float64 `json:"p50_us"`
	P99us          float64 `json:"p99_us"`
	P999us         float64 `json:"p999_us"`
	Errors         int64   `json:"errors"`
	ServerUserSec  float64 `json:"server_user_sec,omitempty"`
	ServerSysSec   float64 `json:"server_sys_sec,omitempty"`
	CPUPerMillion  float64 `json:"server_cpu_sec_per_million,omitempty"`
	UserPerMillion float64 `json:"server_user_sec_per_million,omitempty"`
	SysPerMillion  float64 `json:"server_sys_sec_per_million,omitempty"`
	ServerRSSKiB   int64   `json:"server_rss_kib,omitempty"`
	RSSPerConnKiB  float64 `json:"server_rss_per_conn_kib,omitempty"`
	// RSSCollectedPerConnKiB is RSSPerConnKiB measured again once the
	// server has collected its garbage (-collect).
	RSSCollectedPerConnKiB float64 `json:"server_rss_collected_per_conn_kib,omitempty"`
	// RSSWaitSec is how long after the hold the RSS was read: until it
	// stopped falling (RSSSettled) or -settle ran out.
	RSSWaitSec float64 `json:"server_rss_wait_sec,omitempty"`
	RSSSettled bool    `json:"server_rss_settled,omitempty"`
	// Idle runs: how long opening the connections (each with its echo)
	// took, and what they cost this process and the kernel.
	ConnectSec          float64 `json:"connect_sec,omitempty"`
	ClientRSSPerConnKiB float64 `json:"client_rss_per_conn_kib,omitempty"`
	// KernelSlabPerConnKiB is the growth of the kernel's slab caches over
	// -c: both ends of each connection when the server is on this machine.
	KernelSlabPerConnKiB float64 `json:"kernel_slab_per_conn_kib,omitempty"`
	SocketBufPerConnKiB  float64 `json:"socket_buffer_per_conn_kib,omitempty"`
	Closed               int     `json:"closed"`       // connections ended with a closing handshake
	CloseErrors          int     `json:"close_errors"` // connections whose closing handshake failed
}

// runBench is the bench command with its streams.
func runBench(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: websock bench [flags] ws[s]://host/path

Load-tests a WebSocket echo server: -c connections each send a message of
-size bytes and wait for its echo (closed loop), or send at a fixed total
-rate; prints messages/s, MB/s, latency percentiles and errors. With -pid,
reads the server's CPU time and memory from /proc to report CPU seconds per
million messages. With -idle, opens the connections (-dialers at a time;
to a loopback server from 127.0.0.2, 127.0.0.3, ... -per-source each),
has each exchange one message (so that buffers and compression state are
set up), holds them for -d (answering the server's pings), then reads the
server's RSS until it stops falling (at most -settle) and reports the
memory per connection: the RSS after, less the RSS before the first
connection, over -c; beside it the time to connect, this process's memory
and the kernel's (slab caches, TCP buffers) per connection. Each
connection is a file descriptor: -c must fit the limit (RLIMIT_NOFILE) of
both processes. Connections end with a closing handshake (1000), each
waiting at most 5 s for the server's close frame.

flags:`)
		fs.PrintDefaults()
	}
	conns := fs.Int("c", 64, "connections")
	size := fs.Int("size", 32, "message size in bytes")
	text := fs.Bool("text", false, "send text messages (default binary)")
	duration := fs.Duration("d", 5*time.Second, "measured duration")
	warmup := fs.Duration("warmup", time.Second, "unmeasured warm-up")
	rate := fs.Int("rate", 0, "total messages per second (0: closed loop, as fast as echoes return)")
	compress := fs.Bool("compress", false, "offer permessage-deflate (without context takeover)")
	takeover := fs.Bool("takeover", false, "with -compress: offer context takeover in both directions")
	insecure := fs.Bool("insecure", false, "accept any TLS certificate")
	pid := fs.Int("pid", 0, "server process to read CPU time and memory of (Linux /proc)")
	idle := fs.Bool("idle", false, "hold idle connections instead of sending")
	settle := fs.Duration("settle", 30*time.Second, "with -idle and -pid: wait at most this long for the server's RSS to stop falling")
	dialers := fs.Int("dialers", 64, "with -idle: connections opened at a time")
	collect := fs.Bool("collect", false, "with -idle and -pid: then send the server SIGUSR1 (bench/echo's servers collect their garbage and return freed memory to the OS on it) and measure its RSS again")
	perSource := fs.Int("per-source", 10000, "with -idle and a loopback server: connections per source address (0: the kernel's choice)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("bench: one URL expected")
	}
	url := fs.Arg(0)
	opts := func() *websock.DialOptions {
		o := &websock.DialOptions{Proxy: websock.NoProxy, TLSConfig: &tls.Config{InsecureSkipVerify: *insecure}, ConnOptions: websock.ConnOptions{ReadLimit: -1}}
		if *compress {
			noTakeover := !*takeover
			o.Extensions = []extension.Extension{&websock.PerMessageDeflate{ServerNoContextTakeover: noTakeover, ClientNoContextTakeover: noTakeover}}
		}
		return o
	}
	res := benchResult{URL: url, Conns: *conns, Size: *size}

	typ := websock.BinaryMessage
	if *text {
		typ = websock.TextMessage
	}
	if *idle {
		r := idleRun{url: url, conns: *conns, size: *size, typ: typ, hold: *duration, settle: *settle, pid: *pid,
			dialers: *dialers, perSource: *perSource, opts: opts, collect: *collect}
		if err := r.run(ctx, &res); err != nil {
			return err
		}
		return printBench(out, res, *asJSON)
	}

	cs := make([]*websock.Conn, 0, *conns)
	defer func() {
		for _, c := range cs {
			c.CloseNow()
		}
	}()
	for i := 0; i < *conns; i++ {
		c, _, err := websock.Dial(ctx, url, opts())
		if err != nil {
			return fmt.Errorf("bench: connection %d: %w", i, err)
		}
		cs = append(cs, c)
	}

	var measuring atomic.Bool
	var count, errCount atomic.Int64
	lat := newLatencies()
	// stop ends the loops between round trips, so that every connection
	// is idle when it is closed; cancel, only if one does not stop.
	stop := make(chan struct{})
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	interval := time.Duration(0)
	if *rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(*conns) / float64(*rate))
	}
	for _, c := range cs {
		wg.Add(1)
		go func(c *websock.Conn) {
			defer wg.Done()
			benchConn(runCtx, stop, c, typ, *size, interval, &measuring, &count, &errCount, lat)
		}(c)
	}
	// Warm up, then measure.
	select {
	case <-time.After(*warmup):
	case <-ctx.Done():
	}
	cpu0 := procCPU(*pid)
	measuring.Store(true)
	start := time.Now()
	// A live line on a terminal, one line per second elsewhere.
	lineStart, lineEnd := "\r", ""
	if !isTerminal(errOut) {
		lineStart, lineEnd = "", "\n"
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	end := time.After(*duration)
loop:
	for {
		select {
		case <-tick.C:
			n := count.Load()
			fmt.Fprintf(errOut, "%s%5.1fs  %9.0f msgs/s  errors %d   %s", lineStart, time.Since(start).Seconds(), float64(n)/time.Since(start).Seconds(), errCount.Load(), lineEnd)
		case <-end:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	measuring.Store(false)
	elapsed := time.Since(start)
	cpu1 := procCPU(*pid)
	if lineEnd == "" {
		fmt.Fprintln(errOut)
	}
	close(stop)
	if !waitGroupWithin(&wg, stopTimeout) {
		cancel() // a round trip that does not end fails its connection
		wg.Wait()
	}
	res.Closed, res.CloseErrors = closeAll(cs)

	res.Seconds = elapsed.Seconds()
	res.Messages = count.Load()
	res.Errors = errCount.Load()
	res.MsgsPerSec = float64(res.Messages) / res.Seconds
	res.MBPerSec = res.MsgsPerSec * float64(*size) / 1e6
	res.P50us, res.P99us, res.P999us = lat.percentile(0.50), lat.percentile(0.99), lat.percentile(0.999)
	if *pid != 0 && res.Messages > 0 {
		res.ServerUserSec = cpu1[0] - cpu0[0]
		res.ServerSysSec = cpu1[1] - cpu0[1]
		res.CPUPerMillion = (res.ServerUserSec + res.ServerSysSec) / float64(res.Messages) * 1e6
		res.UserPerMillion = res.ServerUserSec / float64(res.Messages) * 1e6
		res.SysPerMillion = res.ServerSysSec / float64(res.Messages) * 1e6
		res.ServerRSSKiB = procRSS(*pid)
	}
	return printBench(out, res, *asJSON)
}

// benchConn sends and checks echoes on one connection until stop is closed
// (after a round trip) or ctx ends (during one).
func benchConn(ctx context.Context, stop <-chan struct{}, c *websock.Conn, typ websock.MessageType, size int, interval time.Duration,
	measuring *atomic.Bool, count, errCount *atomic.Int64, lat *latencies) {
	msg := benchMessage(size)
	buf := make([]byte, 0, size)
	var next time.Time
	for {
		select {
		case <-stop:
			return
		default:
		}
		if interval > 0 {
			if next.IsZero() {
				next = time.Now()
			}
			next = next.Add(interval)
			if d := time.Until(next); d > 0 {
				select {
				case <-time.After(d):
				case <-stop:
					return
				}
			}
		}
		t0 := time.Now()
		if err := c.Write(ctx, typ, msg); err != nil {
			if ctx.Err() == nil {
				errCount.Add(1)
			}
			return
		}
		var err error
		_, buf, err = c.ReadAppend(ctx, buf[:0])
		if err != nil {
			if ctx.Err() == nil {
				errCount.Add(1)
			}
			return
		}
		if len(buf) != size {
			errCount.Add(1)
		}
		if measuring.Load() {
			count.Add(1)
			lat.add(time.Since(t0))
		}
	}
}

// echoTimeout bounds the wait for the echoes of an idle run's messages.
const echoTimeout = time.Minute

// keepReading reads everything c receives until reading fails (the close
// ends it), so that the server's keepalive pings are answered from the
// moment the connection opens, however long opening the others takes. The
// returned channel gets the verdict on the first message: nil if it has
// want bytes.
func keepReading(ctx context.Context, c *websock.Conn, want int, readers *sync.WaitGroup) <-chan error {
	first := make(chan error, 1)
	readers.Go(func() {
		_, msg, err := c.Read(ctx)
		if err == nil && len(msg) != want {
			err = fmt.Errorf("echo of %d bytes: %d bytes", want, len(msg))
		}
		first <- err
		for err == nil {
			_, _, err = c.Read(ctx)
		}
	})
	return first
}

// stopTimeout bounds the wait for the round trips in flight when a run
// ends; a connection still waiting for its echo then fails.
const stopTimeout = 10 * time.Second

// waitGroupWithin waits for wg at most d and reports whether it ended.
func waitGroupWithin(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}

// closeParallel is how many closing handshakes closeAll runs at once.
const closeParallel = 64

// closeAll ends every connection with a closing handshake (1000, RFC 6455
// §7.1.2): each sends its close frame and waits, at most its close timeout
// (websock.DefaultCloseTimeout), for the server's. It returns how many
// handshakes completed and how many failed (the connection is then closed
// all the same).
func closeAll(cs []*websock.Conn) (closed, failed int) {
	var wg sync.WaitGroup
	var nFailed atomic.Int64
	sem := make(chan struct{}, closeParallel)
	for _, c := range cs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := c.Close(websock.StatusNormalClosure, ""); err != nil {
				nFailed.Add(1)
			}
		})
	}
	wg.Wait()
	failed = int(nFailed.Load())
	return len(cs) - failed, failed
}

// How settledRSS samples the server's memory after an idle hold: the Go
// runtime gives freed memory back to the system over seconds.
const (
	rssInterval = 500 * time.Millisecond
	rssWindow   = 4 // samples: settled when it fell less than 1% in 2 s
)

// settledRSS reads the RSS every interval until it has fallen by less
// than 1% (and 64 KiB) over the last window readings, or limit has passed,
// or ctx ends. It returns the last reading, how long it waited and whether
// the RSS settled.
func settledRSS(ctx context.Context, read func() int64, interval time.Duration, window int, limit time.Duration) (rss int64, waited time.Duration, settled bool) {
	start := time.Now()
	readings := []int64{read()}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		last := readings[len(readings)-1]
		if len(readings) > window {
			ago := readings[len(readings)-1-window]
			if fell := ago - last; fell < ago/100 || fell < 64 {
				return last, time.Since(start), true
			}
		}
		if time.Since(start) >= limit {
			return last, time.Since(start), false
		}
		select {
		case <-tick.C:
			readings = append(readings, read())
		case <-ctx.Done():
			return last, time.Since(start), false
		}
	}
}

// latencies keeps a sample of round-trip times.
type latencies struct {
	mu      sync.Mutex
	samples []time.Duration
	seen    int
}

const maxSamples = 1 << 20

func newLatencies() *latencies { return &latencies{} }

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen++
	if len(l.samples) < maxSamples {
		l.samples = append(l.samples, d)
	} else if i := l.seen % maxSamples; i < maxSamples {
		l.samples[i] = d // keep the sample spread over the run
	}
}

// percentile returns the q-th quantile in microseconds.
func (l *latencies) percentile(q float64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.samples) == 0 {
		return 0
	}
	slices.Sort(l.samples)
	i := min(len(l.samples)-1, int(q*float64(len(l.samples))))
	return float64(l.samples[i]) / float64(time.Microsecond)
}

// procCPU returns the user and system CPU seconds of a process.
func procCPU(pid int) [2]float64 {
	if pid == 0 {
		return [2]float64{}
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return [2]float64{}
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if len(f) < 13 {
		return [2]float64{}
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	const ticks = 100 // USER_HZ on Linux
	return [2]float64{utime / ticks, stime / ticks}
}

// procRSS returns a process's resident memory in KiB.
func procRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return n
		}
	}
	return 0
}

func printBench(out io.Writer, r benchResult, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(out).Encode(r)
	}
	if r.Messages > 0 {
		fmt.Fprintf(out, "%s: %d connections, %d-byte messages, %.1fs\n", r.URL, r.Conns, r.Size, r.Seconds)
		fmt.Fprintf(out, "  %.0f msgs/s  %.2f MB/s  latency p50 %.0fµs p99 %.0fµs p999 %.0fµs  errors %d\n",
			r.MsgsPerSec, r.MBPerSec, r.P50us, r.P99us, r.P999us, r.Errors)
	}
	if r.CPUPerMillion > 0 {
		fmt.Fprintf(out, "  server CPU %.2fs per million messages (user %.2fs, system %.2fs)\n", r.CPUPerMillion, r.UserPerMillion, r.SysPerMillion)
	}
	if r.ServerRSSKiB > 0 {
		fmt.Fprintf(out, "  server RSS %d KiB", r.ServerRSSKiB)
		if r.RSSPerConnKiB > 0 {
			fmt.Fprintf(out, " (%.1f KiB per connection)", r.RSSPerConnKiB)
		}
		if r.RSSCollectedPerConnKiB > 0 {
			fmt.Fprintf(out, "; %.1f KiB per connection once it collected its garbage", r.RSSCollectedPerConnKiB)
		}
		switch {
		case r.RSSSettled:
			fmt.Fprintf(out, ", read once it stopped falling (%.1fs after the hold)", r.RSSWaitSec)
		case r.RSSWaitSec > 0:
			fmt.Fprintf(out, ", still falling %.1fs after the hold", r.RSSWaitSec)
		}
		fmt.Fprintln(out)
	}
	if r.ConnectSec > 0 {
		fmt.Fprintf(out, "  %d connections opened in %.1fs; this process %.1f KiB per connection", r.Conns, r.ConnectSec, r.ClientRSSPerConnKiB)
		if r.KernelSlabPerConnKiB != 0 || r.SocketBufPerConnKiB != 0 {
			fmt.Fprintf(out, ", kernel slab %.1f KiB and TCP buffers %.1f KiB per connection (both ends)", r.KernelSlabPerConnKiB, r.SocketBufPerConnKiB)
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "  closing handshakes: %d completed, %d failed\n", r.Closed, r.CloseErrors)
	return nil
}

// benchMessage returns a message of size bytes of text: words drawn from a
// small vocabulary in a fixed pseudo-random order, which compresses about
// as well as chat or JSON text (3 to 4 times), not a repeated pattern that
// deflate shrinks a thousandfold.
func benchMessage(size int) []byte {
	words := strings.Fields("the of and to in is was for on that with as by at from his an were are which " +
		"this be or has had but not have it its first one new after who they two her she been other when " +
		"time during there into school more may years over only year most would world city some where between")
	rng := rand.New(rand.NewPCG(1, 2))
	msg := make([]byte, 0, size+16)
	for len(msg) < size {
		msg = append(msg, words[rng.IntN(len(words))]...)
		msg = append(msg, ' ')
		if rng.IntN(8) == 0 {
			msg = strconv.AppendInt(msg, int64(rng.IntN(100000)), 10)
			msg = append(msg, ' ')
		}
	}
	return msg[:size]
}
