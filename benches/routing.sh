#!/usr/bin/env bash
# Routing cost: 1,000,000 lines of the C logger through 1 route vs 10 routes
# to a file sink. The 10-route config is the worst case: nine routes that do
# not match (each a selector and a regex label filter) before the one that
# does. Goal: 10 routes cost at most 10% more than one. `benches/routing.sh`
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wasmhost-target}"
WASMHOST="$CARGO_TARGET_DIR/release/wasmhost"
LINES="${LINES:-1000000}"
make --no-print-directory build guests >/dev/null
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
route() { printf '[[routes]]\nmatch = '"'"'%s'"'"'\nsinks = ["file"]\n' "$1"; }
sink() { printf '[sinks.file]\ntype = "file"\npath = "%s/routed.log"\n' "$out"; }
{ sink; route '{lang="c"}'; } > "$out/one.toml"
{ sink; for i in 1 2 3 4 5 6 7 8 9; do route "{lang=\"go\", module=~\"m$i.*\"} |= \"never$i\""; done; route '{lang="c"}'; } > "$out/ten.toml"
hyperfine --warmup 1 --runs "${RUNS:-5}" --export-json "$out/r.json" \
    -n "no config (no router)" "rm -f $out/*.log; $WASMHOST run --log-file $out/plain.log guests/build/c/logger.wasm $LINES" \
    -n "1 route" "rm -f $out/*.log; $WASMHOST run --config $out/one.toml guests/build/c/logger.wasm $LINES" \
    -n "10 routes" "rm -f $out/*.log; $WASMHOST run --config $out/ten.toml guests/build/c/logger.wasm $LINES"
python3 - "$out/r.json" "$LINES" <<'PY'
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
n = int(sys.argv[2])
for k, v in r.items():
    print(f"{k}: {v:.3f} s, {n / v:,.0f} lines/s")
print(f"10 routes / 1 route: {r['10 routes'] / r['1 route']:.3f}")
PY
