#!/usr/bin/env bash
# Lifting end to end, `wasmhost run` to a log file (JSON lines lifted in
# process: `cargo bench -p wasmhost-log --bench log_pipeline -- lift`):
#  - LINES plain lines of the C logger, lifting on vs off (goal: on ≤ 5% slower);
#  - LINES JSON lines (Go slog's JSON shape, c/formats jsonlines), lifting off vs on;
#  - the wasmhost_log import vs the same text written to stderr (c/logapi).
# The cases run in turns (one run of each per round, RUNS rounds), so a change
# of load hits all of them alike; min and median per case, and the load average.
# With CALLGRIND=1 it counts instructions instead (valgrind, which load does not
# change): each case at CG_LINES lines minus the same case at 0 lines, per line.
# `benches/lift.sh` (LINES, RUNS, CALLGRIND, CG_LINES to change the defaults)
source "$(dirname "$0")/common.sh"
python3 - "$WASMHOST" "$out" "$LINES" "$RUNS" "${CALLGRIND:-0}" "${CG_LINES:-20000}" <<'PY'
import os, re, statistics, subprocess, sys, time
wasmhost, out, n, runs, callgrind, cg_lines = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1", int(sys.argv[6])
env = dict(os.environ, WASMHOST_CACHE_DIR=f"{out}/cache")
cases = [
    ("plain lines, --lift off", lambda k: ["--lift", "off", "guests/build/c/logger.wasm", str(k)]),
    ("plain lines, --lift on", lambda k: ["--lift", "on", "guests/build/c/logger.wasm", str(k)]),
    ("JSON lines, --lift off", lambda k: ["--lift", "off", "guests/build/c/formats.wasm", "jsonlines", str(k)]),
    ("JSON lines, --lift on", lambda k: ["--lift", "on", "guests/build/c/formats.wasm", "jsonlines", str(k)]),
    ("stderr text (c/logapi bench-stderr)", lambda k: ["guests/build/c/logapi.wasm", "bench-stderr", str(k)]),
    ("wasmhost_log import (c/logapi bench)", lambda k: ["guests/build/c/logapi.wasm", "bench", str(k)]),
]
def run(args, pre=()):
    subprocess.run([*pre, wasmhost, "run", "--log-file", f"{out}/x.log", *args], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.remove(f"{out}/x.log")
for _, args in cases:
    run(args(1))  # compile once into the cache: no run below compiles
print(f"load average before: {os.getloadavg()[0]:.1f}")
if callgrind:
    def instructions(args):
        log = f"{out}/cg.out"
        run(args, ["valgrind", "--tool=callgrind", "--smc-check=all-non-file", f"--callgrind-out-file={log}"])
        with open(log) as f:
            total = next(int(l.split()[1]) for l in f if l.startswith("summary:") or l.startswith("totals:"))
        os.remove(log)
        return total
    per = {}
    for name, args in cases:
        per[name] = (instructions(args(cg_lines)) - instructions(args(0))) / cg_lines
        print(f"{name}: {per[name]:,.0f} instructions/line (callgrind, {cg_lines} lines minus 0)")
    print(f"plain lines, on / off: {per['plain lines, --lift on'] / per['plain lines, --lift off']:.4f}")
    print(f"JSON lines, on / off: {per['JSON lines, --lift on'] / per['JSON lines, --lift off']:.3f}")
    sys.exit(0)
times = {name: [] for name, _ in cases}
for _ in range(runs):
    for name, args in cases:
        t = time.perf_counter()
        run(args(n))
        times[name].append(time.perf_counter() - t)
r = {}
for name, _ in cases:
    best, med = min(times[name]), statistics.median(times[name])
    r[name] = med
    print(f"{name}: min {best:.3f} s ({n / best:,.0f} lines/s), median {med:.3f} s ({n / med:,.0f} lines/s)")
print(f"load average after: {os.getloadavg()[0]:.1f}")
print(f"plain lines, on / off (medians): {r['plain lines, --lift on'] / r['plain lines, --lift off']:.3f}")
print(f"JSON lines, on / off (medians): {r['JSON lines, --lift on'] / r['JSON lines, --lift off']:.3f}")
print(f"import / stderr (medians): {r['wasmhost_log import (c/logapi bench)'] / r['stderr text (c/logapi bench-stderr)']:.3f}")
PY
