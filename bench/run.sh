#!/usr/bin/env bash
# Runs every echo server through every scenario in interleaved rounds and
# writes the table of medians to ../docs/benchmarks.md.
#   bench/run.sh [rounds] [seconds]
set -euo pipefail
cd "$(dirname "$0")"
rounds=${1:-3}
secs=${2:-3}
servers="websock gorilla gws coder gobwas"
bin=$(mktemp -d)
results="$bin/results.jsonl"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$bin"' EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

echo "building"
for s in $servers; do go build -o "$bin/$s" "./echo/$s"; done
(cd .. && go build -o "$bin/websock-cli" ./cmd/websock)

port=9100
start_server() { # name, extra flags...
	local name=$1; shift
	port=$((port + 1))
	"$bin/$name" -addr "127.0.0.1:$port" "$@" &
	pid=$!
	for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && return; sleep 0.05; done
	echo "$name did not start" >&2; exit 1
}

run() { # scenario, server, server flags, bench flags
	local scenario=$1 name=$2 sflags=$3; shift 3
	start_server "$name" $sflags
	local scheme=ws
	[[ "$sflags" == *-tls* ]] && scheme=wss
	if out=$("$bin/websock-cli" bench -json -insecure -pid "$pid" "$@" "$scheme://127.0.0.1:$port/" 2>/dev/null); then
		echo "{\"scenario\":\"$scenario\",\"server\":\"$name\",\"result\":$out}" >> "$results"
	else
		echo "{\"scenario\":\"$scenario\",\"server\":\"$name\",\"failed\":true}" >> "$results"
	fi
	kill "$pid"; wait "$pid" 2>/dev/null || true
}

for r in $(seq "$rounds"); do
	echo "round $r/$rounds"
	for s in $servers; do run "32 B text, 64 conns" "$s" "" -c 64 -size 32 -text -d "${secs}s"; done
	for s in $servers; do run "16 KiB binary, 64 conns" "$s" "" -c 64 -size 16384 -d "${secs}s"; done
	for s in $servers; do run "32 B text over TLS, 64 conns" "$s" "-tls" -c 64 -size 32 -text -d "${secs}s"; done
	for s in websock gorilla gws coder; do run "1 KiB text compressed, 64 conns" "$s" "-compress" -c 64 -size 1024 -text -compress -d "${secs}s"; done
	for s in websock gws coder; do run "1 KiB text compressed with context takeover, 64 conns" "$s" "-compress -takeover" -c 64 -size 1024 -text -compress -takeover -d "${secs}s"; done
	for s in $servers; do run "10,000 idle connections (after one 32 B echo)" "$s" "" -idle -c 10000 -size 32 -d 2s; done
	for s in websock gorilla gws coder; do run "10,000 idle connections, compressed without context takeover (after one 1 KiB echo)" "$s" "-compress" -idle -compress -c 10000 -size 1024 -text -d 2s; done
	for s in websock gws coder; do run "1,000 idle connections, compressed with context takeover (after one 1 KiB echo)" "$s" "-compress -takeover" -idle -compress -takeover -c 1000 -size 1024 -text -d 2s; done
done

{
	echo "# Benchmarks"
	echo
	echo "Produced by \`bench/run.sh $rounds $secs\` on $(date -u +%Y-%m-%d): $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(uname -sr), $(go version | cut -d' ' -f3)."
	echo "The load generator (\`websock bench\`, closed loop) and the server share the machine's cores, which squeezes throughput ratios toward 1;"
	echo "server CPU per million messages (user+system, read from /proc) is the cleaner comparison. Medians of $rounds interleaved rounds, min–max in brackets,"
	echo "ratio to websock in parentheses (for throughput, above 1 is better than websock; for CPU and memory, below 1 is)."
	echo
	go run ./cmd/report < "$results"
} > ../docs/benchmarks.md
echo "wrote docs/benchmarks.md"
