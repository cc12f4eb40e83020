#!/usr/bin/env bash
# Whole-command benchmarks, wasmhost against `wasmtime run` 48.0.8 on the same
# guests, same machine, same run. Not part of CI (it takes minutes); `make bench`.
#
#   1. throughput: the C logger writing 1,000,000 stderr lines of ~80 bytes,
#      wasmhost tagging them as JSON into a file vs wasmtime writing them to
#      /dev/null (one write(2) per line);
#   2. cold start: `run hello.wasm`, both with their compile cache warm.
#
# wasmtime-cli 48.0.8 is installed into $WASMTIME_ROOT when absent.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wasmhost-target}"
WASMTIME_ROOT="${WASMTIME_ROOT:-$HOME/.cache/wasmhost-bench/wasmtime-48.0.8}"
WASMTIME="$WASMTIME_ROOT/bin/wasmtime"
WASMHOST="$CARGO_TARGET_DIR/release/wasmhost"
LINES="${LINES:-1000000}"
RUNS="${RUNS:-10}"

if [ ! -x "$WASMTIME" ]; then
    cargo install wasmtime-cli --version 48.0.8 --locked --root "$WASMTIME_ROOT"
fi
command -v hyperfine >/dev/null || { apt-get install -y -q hyperfine || sudo apt-get install -y -q hyperfine; }
make --no-print-directory build guests >/dev/null

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
logger=guests/build/c/logger.wasm
hello=guests/build/c/hello.wasm
# Warm both compile caches.
"$WASMTIME" run "$logger" 1 2>/dev/null; "$WASMHOST" run --log-file /dev/null "$logger" 1
"$WASMTIME" run "$hello" >/dev/null 2>&1; "$WASMHOST" run --log-file /dev/null "$hello" >/dev/null

echo "== throughput: $LINES stderr lines"
hyperfine --warmup 1 --runs "$RUNS" --export-json "$out/throughput.json" \
    -n "wasmtime run (stderr to /dev/null)" "$WASMTIME run $logger $LINES 2>/dev/null" \
    -n "wasmhost run (JSON lines to a file)" "rm -f $out/log; $WASMHOST run --log-file $out/log $logger $LINES"
echo "== cold start: hello, compile cache warm"
hyperfine --warmup 3 --runs 50 -N --export-json "$out/start.json" \
    -n "wasmtime run hello.wasm" "$WASMTIME run $hello" \
    -n "wasmhost run hello.wasm" "$WASMHOST run --log-file /dev/null $hello"

python3 - "$out" "$LINES" <<'PY'
import json, sys
out, lines = sys.argv[1], int(sys.argv[2])
t = {r["command"]: r["mean"] for r in json.load(open(f"{out}/throughput.json"))["results"]}
wt, wh = t["wasmtime run (stderr to /dev/null)"], t["wasmhost run (JSON lines to a file)"]
print(f"throughput: wasmtime {lines/wt:,.0f} lines/s ({wt:.3f} s), wasmhost {lines/wh:,.0f} tagged lines/s ({wh:.3f} s), ratio wasmhost/wasmtime {wh/wt:.2f}")
s = {r["command"]: r["mean"] for r in json.load(open(f"{out}/start.json"))["results"]}
a, b = s["wasmtime run hello.wasm"], s["wasmhost run hello.wasm"]
print(f"cold start: wasmtime {a*1000:.2f} ms, wasmhost {b*1000:.2f} ms, ratio {b/a:.2f}")
PY
