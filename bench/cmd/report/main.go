// Command report turns the JSON lines of run.sh into the markdown tables of
// docs/benchmarks.md: medians with min–max and ratios to websock.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
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
		RSSPerConnKiB float64 `json:"server_rss_per_conn_kib"`
		Errors        int64   `json:"errors"`
	} `json:"result"`
}

type metric struct {
	name string
	get  func(line) float64
	idle bool // for the idle scenario only
}

var metrics = []metric{
	{"msgs/s", func(l line) float64 { return l.Result.MsgsPerSec }, false},
	{"server CPU s per 1M msgs", func(l line) float64 { return l.Result.CPU }, false},
	{"server user CPU s per 1M msgs", func(l line) float64 { return l.Result.User }, false},
	{"p99 latency µs", func(l line) float64 { return l.Result.P99us }, false},
	{"server RSS KiB per connection", func(l line) float64 { return l.Result.RSSPerConnKiB }, true},
}

func main() {
	var scenarios, servers []string
	data := map[[2]string][]line{}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var l line
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		if !slices.Contains(scenarios, l.Scenario) {
			scenarios = append(scenarios, l.Scenario)
		}
		if !slices.Contains(servers, l.Server) {
			servers = append(servers, l.Server)
		}
		data[[2]string{l.Scenario, l.Server}] = append(data[[2]string{l.Scenario, l.Server}], l)
	}
	for _, s := range scenarios {
		idle := strings.Contains(s, "idle")
		fmt.Printf("## %s\n\n| metric |", s)
		for _, srv := range servers {
			fmt.Printf(" %s |", srv)
		}
		fmt.Printf("\n|---|%s\n", repeat("---|", len(servers)))
		for _, m := range metrics {
			if m.idle != idle {
				continue
			}
			med := map[string]float64{}
			cells := map[string]string{}
			for _, srv := range servers {
				var vals []float64
				failed := 0
				for _, l := range data[[2]string{s, srv}] {
					if l.Failed {
						failed++
						continue
					}
					vals = append(vals, m.get(l))
				}
				if len(vals) == 0 {
					cells[srv] = "—"
					if failed > 0 {
						cells[srv] = "failed"
					}
					continue
				}
				slices.Sort(vals)
				med[srv] = vals[len(vals)/2]
				cells[srv] = fmt.Sprintf("%s [%s–%s]", num(med[srv]), num(vals[0]), num(vals[len(vals)-1]))
			}
			fmt.Printf("| %s |", m.name)
			for _, srv := range servers {
				c := cells[srv]
				if base, ok := med["websock"]; ok && base > 0 && srv != "websock" && med[srv] > 0 {
					c += fmt.Sprintf(" (%.2f×)", med[srv]/base)
				}
				fmt.Printf(" %s |", c)
			}
			fmt.Println()
		}
		fmt.Println()
	}
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

func repeat(s string, n int) string {
	out := ""
	for i := 0; i < n; i++ {
		out += s
	}
	return out
}
