#!/usr/bin/env bash
# LogQL speed and memory on 1,000,000 realistic lines (~420 MB), against jq
# on the same file in the same run. Goals (issue #13): selector + `| json` +
# label filter >= 1M lines/s on 2 cores; `sum by (lang) (count_over_time(…
# [5m]))` <= 2 s and <= 200 MB RSS. `benches/logql.sh` (LINES=… to change).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wasmhost-target}"
# WASMHOST=path: measure that binary (a copy, while others use the shared target dir).
WASMHOST="${WASMHOST:-$CARGO_TARGET_DIR/release/wasmhost}"
LINES="${LINES:-1000000}"
command -v jq >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null; }
# --workspace: the features of the shared warm build (-p alone rebuilds wasmtime).
[ "$WASMHOST" != "$CARGO_TARGET_DIR/release/wasmhost" ] || cargo build --release -q --workspace --bin wasmhost
data="${LOGQL_BENCH_FILE:-$CARGO_TARGET_DIR/logql-bench-$LINES.jsonl}"
[ -s "$data" ] || python3 benches/logql-lines.py "$LINES" > "$data"
echo "$(wc -l < "$data") lines, $(du -m "$data" | cut -f1) MB, $(nproc) cores"
cat "$data" > /dev/null # the file in the page cache for every contender

# name, then the command; prints wall seconds, lines/s, CPU seconds (user +
# system: on a loaded machine wall time says little) and peak RSS.
measure() {
    local name="$1"; shift
    local t
    t="$( { /usr/bin/time -f '%e %M %U %S' "$@" > /dev/null; } 2>&1 | tail -1)"
    python3 -c 'import sys; s, kb, u, k = map(float, sys.argv[2].split()); n = int(sys.argv[3]); print(f"{sys.argv[1]:<58} {s:6.2f} s {n / s:>12,.0f} lines/s {u + k:6.2f} s CPU {kb / 1024:7.0f} MB")' "$name" "$t" "$LINES"
}
measure 'wasmhost: {job="gateway"} | json | level="error"' \
    "$WASMHOST" logs --output raw '{job="gateway"} | json | level="error"' "$data"
measure 'jq: select(.job=="gateway" and .level=="error")' \
    jq -c 'select(.job=="gateway" and .level=="error")' "$data"
measure 'wasmhost: sum by (lang) (count_over_time({job="gateway"}[5m]))' \
    "$WASMHOST" logs 'sum by (lang) (count_over_time({job="gateway"}[5m]))' "$data"
measure 'wasmhost: the same with | json | __error__=""' \
    "$WASMHOST" logs 'sum by (lang) (count_over_time({job="gateway"} | json | __error__="" [5m]))' "$data"
measure 'wasmhost: range query, 1 h in 1 m steps' \
    "$WASMHOST" logs --from 2026-11-25T18:00:00Z --to 2026-11-25T19:00:00Z --step 1m 'sum by (lang) (count_over_time({job="gateway"}[5m]))' "$data"
measure 'jq: count by lang (no time window)' \
    jq -n 'reduce (inputs | select(.job=="gateway")) as $l ({}; .[$l.lang] += 1)' "$data"
