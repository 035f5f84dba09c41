#!/usr/bin/env bash
# Runs every fuzz target for a while (default 5s each): scripts/fuzz.sh [duration]
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-5s}
for target in \
	". FuzzServerRead" ". FuzzParseExtensions" ". FuzzAcceptHeaders" \
	"./internal/frame FuzzParse" "./internal/frame FuzzParseClose" \
	"./internal/utf8 FuzzValidator" \
	"./internal/deflate FuzzDecompressor" "./internal/deflate FuzzRoundTrip"; do
	set -- $target
	echo "== $2 ($t)"
	log=$(mktemp)
	if go test -run '^$' -fuzz "^$2\$" -fuzztime "$t" "$1" > "$log" 2>&1; then
		grep -E "^(fuzz: elapsed|ok)" "$log" | tail -n 2
		rm -f "$log"
	else
		cat "$log"
		rm -f "$log"
		exit 1
	fi
done
