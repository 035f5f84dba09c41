// Command report turns the JSON lines of run.sh into the markdown tables of
// docs/benchmarks.md: medians with min–max and ratios to websock, and a
// projection of what one machine holds from the measured per-connection
// costs. Ratios are to websock, or to the -base server.
//
//	report [-base SERVER] [-project-idle SCENARIO] [-project-cpu SCENARIO] < results.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

type line struct {
	Scenario string `json:"scenario"`
	Server   string `json:"server"`
	Failed   bool   `json:"failed"`
	Result   struct {
		MsgsPerSec    float64 `json:"msgs_per_sec"`
		P99us         float64 `json:"p99_us"`
		CPU           float64 `json:"server_cpu_sec_per_million"`
		User          float64 `json:"server_user_sec_per_million"`
		Sys           float64 `json:"server_sys_sec_per_million"`
		RSSPerConnKiB float64 `json:"server_rss_per_conn_kib"`
		CollectedKiB  float64 `json:"server_rss_collected_per_conn_kib"`
		KernelSlabKiB float64 `json:"kernel_slab_per_conn_kib"`
		ConnectSec    float64 `json:"connect_sec"`
		Errors        int64   `json:"errors"`
	} `json:"result"`
}

type metric struct {
	name string
	get  func(line) float64
	idle bool // for the idle scenarios only
}

var metrics = []metric{
	{"msgs/s", func(l line) float64 { return l.Result.MsgsPerSec }, false},
	{"server CPU s per 1M msgs", func(l line) float64 { return l.Result.CPU }, false},
	{"server user CPU s per 1M msgs", func(l line) float64 { return l.Result.User }, false},
	{"server system CPU s per 1M msgs", func(l line) float64 { return l.Result.Sys }, false},
	{"p99 latency µs", func(l line) float64 { return l.Result.P99us }, false},
	{"server RSS KiB per connection", func(l line) float64 { return l.Result.RSSPerConnKiB }, true},
	{"the same after the server collects (GC, memory back to the OS)", func(l line) float64 { return l.Result.CollectedKiB }, true},
	{"kernel slab KiB per connection (both ends)", func(l line) float64 { return l.Result.KernelSlabKiB }, true},
	{"s to open all (each with its echo)", func(l line) float64 { return l.Result.ConnectSec }, true},
}

// results are the lines of run.sh by scenario and server, in the order
// they first appear.
type results struct {
	scenarios, servers []string
	data               map[[2]string][]line
	base               string // the server the others' ratios are to
}

func read(r io.Reader) (*results, error) {
	res := &results{data: map[[2]string][]line{}, base: "websock"}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var l line
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		if !slices.Contains(res.scenarios, l.Scenario) {
			res.scenarios = append(res.scenarios, l.Scenario)
		}
		if !slices.Contains(res.servers, l.Server) {
			res.servers = append(res.servers, l.Server)
		}
		k := [2]string{l.Scenario, l.Server}
		res.data[k] = append(res.data[k], l)
	}
	return res, sc.Err()
}

// values returns the measurements of a metric that did not fail, sorted,
// and how many runs failed.
func (res *results) values(scenario, server string, get func(line) float64) (vals []float64, failed int) {
	for _, l := range res.data[[2]string{scenario, server}] {
		if l.Failed {
			failed++
			continue
		}
		vals = append(vals, get(l))
	}
	slices.Sort(vals)
	return vals, failed
}

// median returns the median of a metric, and false if nothing was measured.
func (res *results) median(scenario, server string, get func(line) float64) (float64, bool) {
	vals, _ := res.values(scenario, server, get)
	if len(vals) == 0 {
		return 0, false
	}
	return median(vals), true
}

// median returns the middle of sorted values, or the mean of the two
// middle ones.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 0 {
		return (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return sorted[n/2]
}

func main() {
	idleScenario := flag.String("project-idle", "", "the idle scenario to project memory from (none: no projection)")
	cpuScenario := flag.String("project-cpu", "32 B text, 64 conns", "the scenario to project CPU per message from")
	base := flag.String("base", "websock", "the server whose medians the ratios in parentheses are to")
	flag.Parse()
	res, err := read(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	res.base = *base
	res.tables(os.Stdout)
	if *idleScenario != "" {
		res.projection(os.Stdout, *idleScenario, *cpuScenario)
	}
}

func (res *results) tables(w io.Writer) {
	for _, s := range res.scenarios {
		idle := strings.Contains(s, "idle")
		fmt.Fprintf(w, "## %s\n\n| metric |", s)
		for _, srv := range res.servers {
			fmt.Fprintf(w, " %s |", srv)
		}
		fmt.Fprintf(w, "\n|---|%s\n", strings.Repeat("---|", len(res.servers)))
		for _, m := range metrics {
			if m.idle != idle {
				continue
			}
			base, haveBase := res.median(s, res.base, m.get)
			fmt.Fprintf(w, "| %s |", m.name)
			for _, srv := range res.servers {
				vals, failed := res.values(s, srv, m.get)
				c := "—"
				switch {
				case len(vals) > 0:
					med := median(vals)
					c = fmt.Sprintf("%s [%s–%s]", num(med), num(vals[0]), num(vals[len(vals)-1]))
					if haveBase && base > 0 && srv != res.base && med > 0 {
						c += fmt.Sprintf(" (%.2f×)", med/base)
					}
				case failed > 0:
					c = "failed"
				}
				fmt.Fprintf(w, " %s |", c)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w)
	}
}

// The machine the projection is for: 64 GiB, and 16 cores (4 GiB a core,
// a common shape).
const (
	projectKiB   = 64 << 20
	projectCores = 16
)

// projection prints what one machine would hold: idle, memory is the
// bound (the server's RSS per connection plus the kernel's per socket,
// half the slab growth of both ends); at one message a second per
// connection, the CPU per echo may bind first.
func (res *results) projection(w io.Writer, idleScenario, cpuScenario string) {
	var slabs []float64
	for _, srv := range res.servers {
		v, _ := res.values(idleScenario, srv, func(l line) float64 { return l.Result.KernelSlabKiB })
		for _, x := range v {
			if x != 0 { // 0: not measured
				slabs = append(slabs, x)
			}
		}
	}
	if len(slabs) == 0 {
		return
	}
	slices.Sort(slabs)
	kernel := median(slabs) / 2
	fmt.Fprintf(w, "## Projection: one machine of 64 GiB and %d cores\n\n", projectCores)
	fmt.Fprintf(w, "From the medians above: the server's RSS per connection in \"%s\", plus %.1f KiB of kernel memory per server socket "+
		"(half the median slab growth per connection, whose both ends were on this machine; idle TCP buffers were empty), "+
		"and the server CPU per echo in \"%s\" (user+system; each message is read and written once). "+
		"Idle, memory is the bound; at 1 message/s per connection, a core serves 1 / (CPU s per message) connections, "+
		"and the machine holds the smaller of the two figures. Nothing is kept for the application's own state or for the load's bursts, "+
		"and the CPU per echo comes from 64 busy connections, where one wake-up often finds several messages; "+
		"at 1 message/s each message wakes its connection alone, which costs more: these are ceilings.\n\n", idleScenario, kernel, cpuScenario)
	fmt.Fprintln(w, "| server | KiB per idle connection (process + kernel) | idle connections in 64 GiB | connections at 1 msg/s per core | connections at 1 msg/s, 64 GiB and 16 cores |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, srv := range res.servers {
		rss, ok := res.median(idleScenario, srv, func(l line) float64 { return l.Result.RSSPerConnKiB })
		if !ok || rss <= 0 {
			continue
		}
		perConn := rss + kernel
		idle := projectKiB / perConn
		active, bound := "—", "—"
		if cpu, ok := res.median(cpuScenario, srv, func(l line) float64 { return l.Result.CPU }); ok && cpu > 0 {
			perCore := 1e6 / cpu
			active = count(perCore)
			if cores := perCore * projectCores; cores < idle {
				bound = count(cores) + " (CPU)"
			} else {
				bound = count(idle) + " (memory)"
			}
		}
		fmt.Fprintf(w, "| %s | %.1f + %.1f | %s | %s | %s |\n", srv, rss, kernel, count(idle), active, bound)
	}
	fmt.Fprintln(w)
}

// count rounds a number of connections for reading: 1.23 M, 456 k.
func count(n float64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.2f M", n/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.0f k", n/1e3)
	}
	return fmt.Sprintf("%.0f", n)
}

func num(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
