#!/usr/bin/env bash
# Runs every fuzz target for a fixed number of executions: scripts/fuzz.sh [scale]
# (scale multiplies the counts below; the default 1 takes a few seconds a target).
#
# Counts, not durations: with a duration (-fuzztime 5s) Go's fuzzing
# coordinator can fail a run that found nothing with "context deadline
# exceeded" when the deadline races its workers on a loaded machine
# (golang/go#75804, fixed after Go 1.26); a count has no deadline.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1}
for target in \
	". FuzzServerRead 30000" ". FuzzParseExtensions 50000" ". FuzzAcceptHeaders 50000" \
	"./internal/frame FuzzParse 300000" "./internal/frame FuzzParseClose 200000" \
	"./internal/utf8 FuzzValidator 200000" \
	"./internal/deflate FuzzDecompressor 20000" "./internal/deflate FuzzRoundTrip 20000"; do
	set -- $target
	n=$(($3 * scale))
	echo "== $2 (${n} executions)"
	log=$(mktemp)
	if go test -run '^$' -fuzz "^$2\$" -fuzztime "${n}x" "$1" > "$log" 2>&1; then
		grep -E "^(fuzz: elapsed|ok)" "$log" | tail -n 2
		rm -f "$log"
	else
		cat "$log"
		rm -f "$log"
		exit 1
	fi
done
