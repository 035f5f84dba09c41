#!/usr/bin/env bash
# Where an echo server's CPU goes: runs one bench/echo server under a
# 64-connection closed-loop echo load, samples it with perf (cpu-clock,
# call graphs, kernel included), and prints the share of its CPU spent in
# the kernel, in the write and read system calls (and, inside them, the
# kernel's part), in epoll_wait, futex and nanosleep, and in the loopback
# delivery that runs inside the write (softirq: the peer's receive path).
#   bench/profile.sh SERVER [size] [server flags...]
# SERVER is a bench/echo directory, or websock-events. Needs perf (Debian:
# linux-perf) and kernel symbols (kptr_restrict 0, perf_event_paranoid <= 2).
set -euo pipefail
cd "$(dirname "$0")"
name=$1
size=${2:-32}
shift $(($# < 2 ? $# : 2))
command -v perf >/dev/null || { echo "perf is missing (apt-get install linux-perf)" >&2; exit 1; }
bin=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$bin"' EXIT
dir=$name
if [[ $name == websock-events ]]; then dir=websock; set -- -events "$@"; fi
go build -o "$bin/server" "./echo/$dir"
(cd .. && go build -o "$bin/websock-cli" ./cmd/websock)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin/server" -addr "127.0.0.1:$port" "$@" &
pid=$!
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
"$bin/websock-cli" bench -c 64 -size "$size" -d 6s "ws://127.0.0.1:$port/" > "$bin/bench.txt" 2>&1 &
load=$!
sleep 1 # connected and warm: sample the 4 s in the middle of the load
perf record -q -e cpu-clock -F 4000 -g -p "$pid" -o "$bin/perf.data" -- sleep 4 > /dev/null 2>&1
wait $load
dso=$(perf report -i "$bin/perf.data" --no-children --sort dso --stdio -g none 2> /dev/null)
children=$(perf report -i "$bin/perf.data" --children --sort sym --stdio -g none 2> /dev/null)
share() { echo "$children" | awk -v s="$1" '$NF == s { print $1; exit }'; }
echo "$name, $size B echoes, 64 connections: $(grep msgs/s "$bin/bench.txt" | tail -n 1 | xargs)"
echo "  kernel                     $(echo "$dso" | awk '/kernel.kallsyms/ { print $1; exit }')"
for call in write:ksys_write writev:do_writev read:ksys_read epoll_wait:do_epoll_wait futex:__x64_sys_futex nanosleep:__x64_sys_nanosleep; do
	printf '  %-26s %s\n' "${call%%:*}" "$(share "${call#*:}")"
done
echo "  loopback delivery (softirq, inside the writes) $(share do_softirq.part.0)"
