package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stats is what the server reports of itself: CPU time in user space and
// in the kernel (ns) and the allocations of its heap so far.
type stats struct {
	user, sys, mallocs, bytes int64
}

func readStats() stats {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return stats{
		user:    ru.Utime.Nano(),
		sys:     ru.Stime.Nano(),
		mallocs: int64(ms.Mallocs),
		bytes:   int64(ms.TotalAlloc),
	}
}

// runServer serves lib's broadcaster on a loopback port, prints the
// address, then answers one line per command read from in:
//
//	wait N   waits until N connections are open
//	size N   sets the message size
//	burst K  sets how many messages each send broadcasts
//	send     broadcasts K messages (each to every connection)
//	stats    prints "user sys mallocs bytes" (CPU ns, heap allocations)
func runServer(lib string, compress bool, in io.Reader, out io.Writer) error {
	b := newBroadcaster(lib, compress)
	if b == nil {
		return fmt.Errorf("unknown library %q", lib)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: b, ReadHeaderTimeout: time.Minute}
	go srv.Serve(ln)
	fmt.Fprintln(out, ln.Addr())
	size, burst, sent := 5, 1, 0
	commands := bufio.NewScanner(in)
	for commands.Scan() {
		word, arg, _ := strings.Cut(commands.Text(), " ")
		n, _ := strconv.Atoi(arg)
		switch word {
		case "wait":
			if err := b.waitFor(n, 5*time.Minute); err != nil {
				return err
			}
		case "size":
			size = n
		case "burst":
			burst = n
		case "send":
			msgs := make([][]byte, burst)
			for i := range msgs {
				msgs[i] = message(size, sent)
				sent++
			}
			b.broadcast(msgs)
		case "stats":
			profile()
			profile = func() {}
			s := readStats()
			fmt.Fprintln(out, s.user, s.sys, s.mallocs, s.bytes)
			continue
		default:
			return fmt.Errorf("unknown command %q", word)
		}
		fmt.Fprintln(out, "ok")
	}
	return commands.Err()
}

// message returns n bytes of JSON-like text, with words that vary as they
// would in a real message (so that compression has work to do); seq makes
// each message of a run differ.
func message(n, seq int) []byte {
	words := strings.Fields("price volume bid ask symbol update time open close high low trade order book level depth")
	var b strings.Builder
	fmt.Fprintf(&b, `{"event":"tick","seq":%d,"data":[`, seq)
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"%s":%d,"%s":"%x"},`, words[i%len(words)], i*7919%10007, words[(i*3+1)%len(words)], i*2654435761)
	}
	return []byte(b.String()[:n])
}
