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
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
results="$(mktemp)"
trap 'rm -f "$results"' EXIT

# key, name, then the command; prints wall seconds, lines/s, CPU seconds
# (user + system: on a loaded machine wall time says little) and peak RSS,
# and keeps them for the summary.
measure() {
    local key="$1" name="$2"; shift 2
    local t
    t="$( { /usr/bin/time -f '%e %M %U %S' "$@" > /dev/null; } 2>&1 | tail -1)"
    echo "$key $t" >> "$results"
    python3 -c 'import sys; s, kb, u, k = map(float, sys.argv[2].split()); n = int(sys.argv[3]); print(f"{sys.argv[1]:<58} {s:6.2f} s {n / s:>12,.0f} lines/s {u + k:6.2f} s CPU {kb / 1024:7.0f} MB")' "$name" "$t" "$LINES"
}
measure log 'wasmhost: {job="gateway"} | json | level="error"' \
    "$WASMHOST" logs --output raw '{job="gateway"} | json | level="error"' "$data"
measure jq_log 'jq: select(.job=="gateway" and .level=="error")' \
    jq -c 'select(.job=="gateway" and .level=="error")' "$data"
measure sum 'wasmhost: sum by (lang) (count_over_time({job="gateway"}[5m]))' \
    "$WASMHOST" logs 'sum by (lang) (count_over_time({job="gateway"}[5m]))' "$data"
measure sum_json 'wasmhost: the same with | json | __error__=""' \
    "$WASMHOST" logs 'sum by (lang) (count_over_time({job="gateway"} | json | __error__="" [5m]))' "$data"
measure range 'wasmhost: range query, 1 h in 1 m steps' \
    "$WASMHOST" logs --from 2026-11-25T18:00:00Z --to 2026-11-25T19:00:00Z --step 1m 'sum by (lang) (count_over_time({job="gateway"}[5m]))' "$data"
measure jq_sum 'jq: count by lang (no time window)' \
    jq -n 'reduce (inputs | select(.job=="gateway")) as $l ({}; .[$l.lang] += 1)' "$data"

# The goals, judged on this run; the load average says how much of the 2
# cores the run had (other jobs share the machine).
python3 - "$results" "$LINES" "$load_start" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    key, wall, kb, user, sys_ = line.split()
    rows[key] = (float(wall), float(kb) / 1024, float(user) + float(sys_))
n = int(sys.argv[2])
def verdict(ok): return "MET" if ok else "NOT MET"
print(f"\nSUMMARY: {n:,} lines, {sys.argv[5]} cores, load average {sys.argv[3]} at the start, {sys.argv[4]} at the end")
w, mb, cpu = rows["log"]
print(f"  log query + | json + label filter: {n / w:,.0f} lines/s ({w:.2f} s wall, {cpu:.2f} s CPU, {mb:.0f} MB)"
      f" -- goal >= 1,000,000 lines/s: {verdict(n / w >= 1e6)}; jq {rows['jq_log'][0]:.2f} s ({rows['jq_log'][0] / w:.1f}x slower)")
w, mb, cpu = rows["sum"]
print(f"  sum by (lang) (count_over_time(...[5m])): {w:.2f} s wall, {cpu:.2f} s CPU, {mb:.0f} MB"
      f" -- goal <= 2 s: {verdict(w <= 2)}, <= 200 MB: {verdict(mb <= 200)}; jq {rows['jq_sum'][0]:.2f} s ({rows['jq_sum'][0] / w:.1f}x slower)")
PY
