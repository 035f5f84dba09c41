// Command broadcast measures sending one message to many WebSocket
// connections with websock's PreparedMessage, gorilla's PreparedMessage and
// gws's Broadcaster, in the same run: for each library and mode (plain, or
// permessage-deflate without context takeover) it starts the library's
// server in a child process, connects the clients from this one, and
// broadcasts messages one after another, each once every client has the
// previous one. It reports the server's CPU time per delivered message
// (from the child's own rusage), the time until the last client has each
// message (median and worst), and the server's allocations per broadcast.
//
//	go run ./cmd/broadcast -conns 10000 -msgs 50 -size 1024
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strings"
	"time"
)

func main() {
	serve := flag.String("serve", "", "run the server of this library (websock, gorilla, gws) and take commands on stdin")
	compress := flag.Bool("compress", false, "with -serve: accept permessage-deflate without context takeover")
	conns := flag.Int("conns", 10000, "client connections")
	msgs := flag.Int("msgs", 50, "messages broadcast per library and mode")
	size := flag.Int("size", 1024, "message size in bytes")
	libs := flag.String("libs", "raw,websock,websock-hub,gorilla,gws", "servers to compare: raw (no library: one write per delivery, the floor), websock (WritePrepared), websock-hub (package hub), gorilla, gws")
	burst := flag.Int("burst", 1, "messages broadcast back to back before waiting for every client to have them all")
	modes := flag.String("modes", "plain,compressed", "modes to run")
	rounds := flag.Int("rounds", 3, "rounds; each runs every library once, and the median is reported")
	cpuProfile := flag.String("cpuprofile", "", "with -serve: write the server's CPU profile of the broadcasts to this file")
	flag.Parse()
	if *serve != "" {
		if *cpuProfile != "" {
			f, err := os.Create(*cpuProfile)
			if err != nil {
				log.Fatal(err)
			}
			defer f.Close()
			defer pprof.StopCPUProfile()
			profile = func() { pprof.StartCPUProfile(f) }
		}
		if err := runServer(*serve, *compress, os.Stdin, os.Stdout); err != nil {
			log.Fatal(err)
		}
		return
	}
	fmt.Printf("%d connections, %d broadcasts of %d message(s) of %d bytes (text), median of %d rounds\n\n", *conns, *msgs, *burst, *size, *rounds)
	results := map[string][]result{}
	for round := range *rounds {
		for _, mode := range strings.Split(*modes, ",") {
			for _, lib := range strings.Split(*libs, ",") {
				r, err := measure(lib, mode == "compressed", *conns, *msgs, *size, *burst)
				if err != nil {
					log.Fatalf("%s %s: %v", lib, mode, err)
				}
				fmt.Fprintf(os.Stderr, "round %d %s %s: %+v\n", round+1, mode, lib, r)
				results[mode+" "+lib] = append(results[mode+" "+lib], r)
			}
		}
	}
	fmt.Printf("| mode | library | server CPU ns/delivery | of which user | last client p50 | last client max | allocs/send | bytes/send |\n")
	fmt.Printf("|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, mode := range strings.Split(*modes, ",") {
		for _, lib := range strings.Split(*libs, ",") {
			rs := results[mode+" "+lib]
			fmt.Printf("| %s | %s | %.0f | %.0f | %v | %v | %.0f | %.0f |\n", mode, lib,
				median(rs, func(r result) float64 { return r.cpuPerDelivery }),
				median(rs, func(r result) float64 { return r.userPerDelivery }),
				time.Duration(median(rs, func(r result) float64 { return float64(r.lastP50) })).Round(time.Millisecond),
				time.Duration(median(rs, func(r result) float64 { return float64(r.lastMax) })).Round(time.Millisecond),
				median(rs, func(r result) float64 { return r.allocsPerBroadcast }),
				median(rs, func(r result) float64 { return r.bytesPerBroadcast }))
		}
	}
}

// result is what one library did in one mode.
type result struct {
	cpuPerDelivery     float64 // server CPU ns per message delivered to a client
	userPerDelivery    float64 // the part of it in user space
	lastP50, lastMax   time.Duration
	allocsPerBroadcast float64
	bytesPerBroadcast  float64
}

// measure runs one library's server in a child process and broadcasts to
// conns clients.
func measure(lib string, compress bool, conns, msgs, size, burst int) (result, error) {
	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	args := []string{"-serve", lib, fmt.Sprintf("-compress=%v", compress)}
	if dir := os.Getenv("BROADCAST_PROFILES"); dir != "" {
		args = append(args, "-cpuprofile", fmt.Sprintf("%s/%s-%v.pprof", dir, lib, compress))
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	replies := bufio.NewScanner(stdout)
	ask := func(command string) (string, error) {
		if _, err := fmt.Fprintln(stdin, command); err != nil {
			return "", err
		}
		if !replies.Scan() {
			return "", fmt.Errorf("server ended after %q: %v", command, replies.Err())
		}
		return replies.Text(), nil
	}
	if !replies.Scan() {
		return result{}, fmt.Errorf("server did not start")
	}
	addr := replies.Text()

	cl, err := connectClients(addr, conns, compress)
	if err != nil {
		return result{}, err
	}
	defer cl.close()
	if _, err := ask(fmt.Sprintf("wait %d", conns)); err != nil {
		return result{}, err
	}
	if _, err := ask(fmt.Sprintf("size %d", size)); err != nil {
		return result{}, err
	}
	if _, err := ask(fmt.Sprintf("burst %d", burst)); err != nil {
		return result{}, err
	}
	cl.perSend = burst
	// A first broadcast outside the measurement: lazy set-up in each library.
	if err := cl.broadcast(func() error { _, err := ask("send"); return err }); err != nil {
		return result{}, err
	}
	before, err := ask("stats")
	if err != nil {
		return result{}, err
	}
	var lasts []time.Duration
	for range msgs {
		start := time.Now()
		if err := cl.broadcast(func() error { _, err := ask("send"); return err }); err != nil {
			return result{}, err
		}
		lasts = append(lasts, time.Since(start))
	}
	after, err := ask("stats")
	if err != nil {
		return result{}, err
	}
	if compress && cl.compressed.Load() == 0 {
		return result{}, fmt.Errorf("no compressed frame arrived")
	}
	var s0, s1 stats
	fmt.Sscan(before, &s0.user, &s0.sys, &s0.mallocs, &s0.bytes)
	fmt.Sscan(after, &s1.user, &s1.sys, &s1.mallocs, &s1.bytes)
	slices.Sort(lasts)
	deliveries := float64(conns * msgs * burst)
	return result{
		cpuPerDelivery:     float64(s1.user+s1.sys-s0.user-s0.sys) / deliveries,
		userPerDelivery:    float64(s1.user-s0.user) / deliveries,
		lastP50:            lasts[len(lasts)/2].Round(10 * time.Microsecond),
		lastMax:            lasts[len(lasts)-1].Round(10 * time.Microsecond),
		allocsPerBroadcast: float64(s1.mallocs-s0.mallocs) / float64(msgs),
		bytesPerBroadcast:  float64(s1.bytes-s0.bytes) / float64(msgs),
	}, nil
}

func median(rs []result, get func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = get(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// profile starts the CPU profile, if one was asked for, when the measured
// broadcasts begin.
var profile = func() {}
