#!/usr/bin/env bash
# Network sinks (issue 12): 1,000,000 lines of the C logger delivered to a
# loopback Loki receiver (protobuf + snappy), to an OTLP/gRPC receiver, and to
# Loki with a spool, against the file sink in the same run. Prints wall time,
# lines/s, CPU (user+sys) per 100k lines, and bytes on the wire per line.
# Goals: >= 1M lines/s each, wall <= 1.2x the file sink, spool adds <= 20%.
# The receivers (crates/wasmhost-export/examples/receiver.rs) acknowledge
# without decoding so that their CPU competes as little as possible with
# wasmhost's on this 2-core machine. `benches/export.sh`
source "$(dirname "$0")/common.sh"
# Only wasmhost-export (no wasmtime in its graph): `--workspace --features
# wasmhost-export/receivers` would rebuild the measured `wasmhost` binary
# with the test receivers (tonic's server, rcgen) linked in.
cargo build --release -q -p wasmhost-export --features receivers --example receiver
RECEIVER="$CARGO_TARGET_DIR/release/examples/receiver"

# A receiver runs until its stdin (a fifo held open here) closes.
start() { # kind name: sets $url
    mkfifo "$out/$2.in"
    "$RECEIVER" "$1" < "$out/$2.in" > "$out/$2.out" &
    pids+=($!)
    exec {fd}>"$out/$2.in"
    eval "fd_$2=$fd"
    until [ -s "$out/$2.out" ]; do sleep 0.05; done
    url=$(head -1 "$out/$2.out")
}
start loki loki; LOKI=$url
start grpc grpc; GRPC=$url
common='batch_bytes = 1048576
batch_wait = "200ms"'
printf 'default_sinks = ["loki"]\n[sinks.loki]\ntype = "loki"\nurl = "%s"\n%s\n' "$LOKI" "$common" > "$out/loki.toml"
printf 'default_sinks = ["loki"]\n[sinks.loki]\ntype = "loki"\nurl = "%s"\nspool_dir = "%s/spool"\n%s\n' "$LOKI" "$out" "$common" > "$out/spool.toml"
printf 'default_sinks = ["otlp"]\n[sinks.otlp]\ntype = "otlp"\nendpoint = "%s"\nprotocol = "grpc"\n%s\n' "$GRPC" "$common" > "$out/otlp.toml"
python3 - "$out" "$LINES" "$RUNS" "$WASMHOST" <<'PY'
import json, os, resource, statistics, subprocess, sys, time
out, n, runs, wasmhost = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
guest = "guests/build/c/logger.wasm"
cases = {
    "file sink": [wasmhost, "run", "--log-file", f"{out}/f.log", guest, str(n)],
    "loki (protobuf+snappy)": [wasmhost, "run", "--log-file", "/dev/null", "--config", f"{out}/loki.toml", guest, str(n)],
    "loki + spool": [wasmhost, "run", "--log-file", "/dev/null", "--config", f"{out}/spool.toml", guest, str(n)],
    "otlp grpc": [wasmhost, "run", "--log-file", "/dev/null", "--config", f"{out}/otlp.toml", guest, str(n)],
}
wall = {k: [] for k in cases}
cpu = {k: [] for k in cases}
for i in range(runs + 1):  # the first round warms the compile cache
    for k, cmd in cases.items():
        if os.path.exists(f"{out}/f.log"):
            os.remove(f"{out}/f.log")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        dt = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if i > 0:
            wall[k].append(dt)
            cpu[k].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
json.dump({"wall": wall, "cpu": cpu}, open(f"{out}/r.json", "w"))
base = statistics.median(wall["file sink"])
for k in cases:
    w, c = statistics.median(wall[k]), statistics.median(cpu[k])
    print(f"{k}: {w:.3f} s (median of {runs}), {n / w:,.0f} lines/s, {w / base:.2f}x file sink, CPU {c / n * 1e5 * 1000:.1f} ms per 100k lines")
spool = statistics.median(wall["loki + spool"]) / statistics.median(wall["loki (protobuf+snappy)"])
print(f"spool / loki wall: {spool:.2f}")
PY
eval "exec ${fd_loki}>&-; exec ${fd_grpc}>&-"
wait "${pids[@]}" 2>/dev/null || true
python3 - "$out" "$LINES" "$RUNS" <<'PY'
import sys
out, n, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def wire(name):
    return int(open(f"{out}/{name}.out").read().split("wire_bytes=")[1].split()[0])
# Loki served two cases (with and without spool), gRPC one; each runs+1 times.
print(f"loki bytes per line on the wire (snappy protobuf bodies): {wire('loki') / (2 * (runs + 1) * n):.1f}")
print(f"otlp grpc bytes per line (protobuf messages + gRPC frames): {wire('grpc') / ((runs + 1) * n):.1f}")
PY
