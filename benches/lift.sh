#!/usr/bin/env bash
# Lifting end to end, `wasmhost run` to a log file (best of RUNS runs; JSON
# lines lifted in process: `cargo bench -p wasmhost-log --bench log_pipeline`):
#  - 1,000,000 plain lines of the C logger, lifting on vs off (goal: on ≤ 5% slower);
#  - the wasmhost_log import vs the same text written to stderr (c/logapi).
# `benches/lift.sh` (LINES, RUNS to change the defaults)
source "$(dirname "$0")/common.sh"
python3 - "$WASMHOST" "$out" "$LINES" "$RUNS" <<'PY'
import subprocess, sys, time
wasmhost, out, n, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def best(args):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([wasmhost, "run", "--log-file", f"{out}/x.log", *args], check=True)
        times.append(time.perf_counter() - t)
        subprocess.run(["rm", "-f", f"{out}/x.log"])
    return min(times)
cases = [
    ("plain lines, --lift off", ["--lift", "off", "guests/build/c/logger.wasm", str(n)]),
    ("plain lines, --lift on", ["--lift", "on", "guests/build/c/logger.wasm", str(n)]),
    ("stderr text (c/logapi bench-stderr)", ["guests/build/c/logapi.wasm", "bench-stderr", str(n)]),
    ("wasmhost_log import (c/logapi bench)", ["guests/build/c/logapi.wasm", "bench", str(n)]),
]
r = {}
for name, args in cases:
    r[name] = best(args)
    print(f"{name}: {r[name]:.3f} s, {n / r[name]:,.0f} lines/s")
print(f"plain lines, on / off: {r['plain lines, --lift on'] / r['plain lines, --lift off']:.3f}")
print(f"import / stderr: {r['wasmhost_log import (c/logapi bench)'] / r['stderr text (c/logapi bench-stderr)']:.3f}")
PY
