#!/usr/bin/env bash
# Runs every echo server through every scenario in interleaved rounds and
# writes the table of medians to ../docs/benchmarks.md.
#   bench/run.sh [rounds] [seconds] [rounds of the 100,000-connection scenarios]
# Each connection is a file descriptor in the client and in the server: the
# largest idle scenarios hold 100,000 connections, or as many as the hard
# RLIMIT_NOFILE leaves room for (raise it as root: ulimit -Hn, or
# LimitNOFILE= in a service unit).
set -euo pipefail
cd "$(dirname "$0")"
rounds=${1:-3}
secs=${2:-3}
many_rounds=${3:-$rounds}
# websock-events is websock's echo server with -events (websock.EventHandler);
# raw is the floor (echo/raw: no library, one epoll thread, one read and one
# write per echo; over TLS the same loop reading through crypto/tls), in the
# plain scenarios and the busy one over TLS. BENCH_SERVERS picks some of
# them, BENCH_SCENARIOS (an extended regular expression) some scenarios, and
# BENCH_DOC is where the tables go (../docs/benchmarks.md).
servers=${BENCH_SERVERS:-raw websock websock-events gorilla gws coder gobwas nbio}
scenarios=${BENCH_SCENARIOS:-.}
doc=${BENCH_DOC:-../docs/benchmarks.md}
compressing="websock websock-events gorilla gws coder nbio" # without context takeover
takeover="websock websock-events gws coder"
bin=$(mktemp -d)
results=${BENCH_RESULTS:-$bin/results.jsonl} # append to a file of earlier runs by naming it
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$bin"' EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fd_limit=$(ulimit -n)
many=100000
if ((fd_limit < many + 1000)); then many=$(((fd_limit - 1000) / 1000 * 1000)); fi
many_label=$(echo "$many" | sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta')

started=$(date +%s)
echo "building"
for s in $(echo "$servers" | sed 's/websock-events/websock/'); do go build -o "$bin/$s" "./echo/$s"; done
(cd .. && go build -o "$bin/websock-cli" ./cmd/websock)

port=9100
start_server() { # name, extra flags...
	local name=$1; shift
	port=$((port + 1))
	if [[ $name == websock-events ]]; then set -- -events "$@"; name=websock; fi
	"$bin/$name" -addr "127.0.0.1:$port" "$@" &
	pid=$!
	for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && return; sleep 0.05; done
	echo "$name did not start" >&2; exit 1
}

run() { # scenario, server, server flags, bench flags
	local scenario=$1 name=$2 sflags=$3; shift 3
	[[ " $servers " == *" $name "* ]] || return 0
	# raw: ws:// and wss://, and no idle scenario over TLS (a floor of CPU)
	[[ $name == raw && -n $sflags && ( $sflags != -tls || $scenario == *idle* ) ]] && return 0
	[[ $scenario =~ $scenarios ]] || return 0
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
	echo "round $r/$rounds" >&2
	for s in $servers; do run "32 B text, 64 conns" "$s" "" -c 64 -size 32 -text -d "${secs}s"; done
	for s in $servers; do run "16 KiB binary, 64 conns" "$s" "" -c 64 -size 16384 -d "${secs}s"; done
	for s in $servers; do run "32 B text over TLS, 64 conns" "$s" "-tls" -c 64 -size 32 -text -d "${secs}s"; done
	for s in $compressing; do run "1 KiB text compressed, 64 conns" "$s" "-compress" -c 64 -size 1024 -text -compress -d "${secs}s"; done
	for s in $takeover; do run "1 KiB text compressed with context takeover, 64 conns" "$s" "-compress -takeover" -c 64 -size 1024 -text -compress -takeover -d "${secs}s"; done
	for s in $servers; do run "10,000 idle connections (after one 32 B echo)" "$s" "" -idle -collect -c 10000 -size 32 -d 2s; done
	for s in $compressing; do run "10,000 idle connections, compressed without context takeover (after one 1 KiB echo)" "$s" "-compress" -idle -collect -compress -c 10000 -size 1024 -text -d 2s; done
	for s in $takeover; do run "1,000 idle connections, compressed with context takeover (after one 1 KiB echo)" "$s" "-compress -takeover" -idle -collect -compress -takeover -c 1000 -size 1024 -text -d 2s; done
	((r <= many_rounds)) || continue
	for s in $servers; do run "$many_label idle connections (after one 32 B echo)" "$s" "" -idle -collect -c "$many" -size 32 -d 2s; done
	for s in $servers; do run "$many_label idle connections over TLS (after one 32 B echo)" "$s" "-tls" -idle -collect -c "$many" -size 32 -d 2s; done
	for s in $compressing; do run "$many_label idle connections, compressed without context takeover (after one 1 KiB echo)" "$s" "-compress" -idle -collect -compress -c "$many" -size 1024 -text -d 2s; done
done

{
	echo "# Benchmarks"
	echo
	echo "Produced by \`bench/run.sh $rounds $secs $many_rounds\` on $(date -u +%Y-%m-%d): $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/^Mem:/ {print $2}') GiB, $(uname -sr), $(go version | cut -d' ' -f3),"
	echo "a machine shared with other work while it ran, which widens the ranges; the run took $((($(date +%s) - started + 59) / 60)) minutes."
	echo "The load generator (\`websock bench\`, closed loop) and the server share the machine's cores, which squeezes throughput ratios toward 1;"
	echo "server CPU per million messages (user and system, read from /proc) is the cleaner comparison. Medians of $rounds interleaved rounds"
	echo "($many_rounds for the $many_label-connection scenarios), min–max in brackets,"
	echo "ratio to websock in parentheses (for throughput, above 1 is better than websock; for CPU and memory, below 1 is)."
	echo "websock-events is websock's echo server on \`websock.EventHandler\`; gobwas has no permessage-deflate, and gorilla and nbio no context takeover."
	echo "raw is the floor (\`bench/echo/raw\`), in the plain scenarios: no library and no Go poller, one thread in epoll_wait, one read and one write per echo;"
	echo "and in the busy scenario over TLS, the same loop reading each socket through crypto/tls."
	echo
	echo "Idle scenarios: the connections open 64 at a time, each exchanging one message, from source addresses 127.0.0.2, 127.0.0.3, ..."
	echo "(10,000 each; ephemeral ports here: $(tr '\t' - < /proc/sys/net/ipv4/ip_local_port_range)). The server's RSS is read once it stops falling after a 2 s hold,"
	echo "less its RSS before the first connection, over the connections. The kernel's slab growth is machine-wide, so other work shows in it (below 10,000 connections it is noise)."
	echo "Every connection is a file descriptor in the client and in the server:"
	echo "the descriptor limit here is $fd_limit (hard RLIMIT_NOFILE, which cannot be raised here, not even as root; fs.nr_open is $(cat /proc/sys/fs/nr_open)),"
	if ((many < 100000)); then
		echo "so the 100,000-connection scenarios ran with $many_label connections. With \`ulimit -Hn\` raised, run.sh runs 100,000."
	else
		echo "enough for 100,000."
	fi
	echo
	go run ./cmd/report -project-idle "$many_label idle connections (after one 32 B echo)" < "$results"
} > "$doc"
echo "wrote $doc"
