package main

import (
	"strings"
	"testing"
)

const sample = `{"scenario":"32 B text, 64 conns","server":"websock","result":{"msgs_per_sec":100,"server_cpu_sec_per_million":10,"server_user_sec_per_million":4,"server_sys_sec_per_million":6}}
{"scenario":"32 B text, 64 conns","server":"peer","result":{"msgs_per_sec":50,"server_cpu_sec_per_million":20,"server_user_sec_per_million":8,"server_sys_sec_per_million":12}}
{"scenario":"32 B text, 64 conns","server":"websock","result":{"msgs_per_sec":300,"server_cpu_sec_per_million":30,"server_user_sec_per_million":12,"server_sys_sec_per_million":18}}
{"scenario":"32 B text, 64 conns","server":"websock","result":{"msgs_per_sec":200,"server_cpu_sec_per_million":20,"server_user_sec_per_million":8,"server_sys_sec_per_million":12}}
{"scenario":"9 idle connections","server":"websock","result":{"server_rss_per_conn_kib":6,"kernel_slab_per_conn_kib":8,"connect_sec":1}}
{"scenario":"9 idle connections","server":"peer","result":{"server_rss_per_conn_kib":126,"kernel_slab_per_conn_kib":8,"connect_sec":2}}
{"scenario":"9 idle connections","server":"other","failed":true}
{"scenario":"9 idle connections","server":"even","result":{"server_rss_per_conn_kib":2}}
{"scenario":"9 idle connections","server":"even","result":{"server_rss_per_conn_kib":4}}
not json
`

func TestTables(t *testing.T) {
	res, err := read(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	res.tables(&b)
	out := b.String()
	for _, want := range []string{
		"## 32 B text, 64 conns\n\n| metric | websock | peer | other | even |",
		"| msgs/s | 200.0 [100.0–300.0] | 50.0 [50.0–50.0] (0.25×) | — |",
		"| server system CPU s per 1M msgs | 12.0 [6.00–18.0] | 12.0 [12.0–12.0] (1.00×) | — |",
		"| server RSS KiB per connection | 6.00 [6.00–6.00] | 126.0 [126.0–126.0] (21.00×) | failed | 3.00 [2.00–4.00] (0.50×) |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no line %q in\n%s", want, out)
		}
	}
	if _, idle, _ := strings.Cut(out, "## 9 idle"); strings.Contains(idle, "msgs/s") {
		t.Errorf("a throughput row in an idle table:\n%s", out)
	}
}

// TestTablesBase: with another base, the ratios are to its medians.
func TestTablesBase(t *testing.T) {
	res, err := read(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	res.base = "peer"
	var b strings.Builder
	res.tables(&b)
	want := "| msgs/s | 200.0 [100.0–300.0] (4.00×) | 50.0 [50.0–50.0] | — |"
	if !strings.Contains(b.String(), want) {
		t.Errorf("no line %q in\n%s", want, b.String())
	}
}

// TestProjection: 64 GiB over (RSS + half the slab growth) idle; at one
// message a second, 1e6 / (CPU s per million) connections a core, 16 cores.
func TestProjection(t *testing.T) {
	res, err := read(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	res.projection(&b, "9 idle connections", "32 B text, 64 conns")
	out := b.String()
	for _, want := range []string{
		"4.0 KiB of kernel memory per server socket",
		// websock: 64 GiB / 10 KiB = 6.71 M idle; 1e6/20 = 50 k a core, 800 k on 16.
		"| websock | 6.0 + 4.0 | 6.71 M | 50 k | 800 k (CPU) |",
		// peer: 64 GiB / 130 KiB = 516 k idle; 1e6/20 = 50 k a core, 800 k on 16.
		"| peer | 126.0 + 4.0 | 516 k | 50 k | 516 k (memory) |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "| other |") {
		t.Errorf("a row for a server that failed:\n%s", out)
	}
	b.Reset()
	res.projection(&b, "no such scenario", "32 B text, 64 conns")
	if b.Len() != 0 {
		t.Errorf("projection from nothing: %q", b.String())
	}
}
