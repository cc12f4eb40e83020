#!/usr/bin/env bash
# Per-call latency of the same guests through the four ways in: the Rust
# API and the C API in-process (benches/capi_latency.rs), and from one Go
# program the static library, the shared library and the sidecar over
# keep-alive HTTP (bindings/go/wasmhost/examples/bench). Figures in
# BENCHMARKS.md ("C API, Go and sidecar").
#
#   benches/capi-modes.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
T=${CARGO_TARGET_DIR:-$HOME/.cache/wasmhost-target}
go_() {
    env CGO_ENABLED=1 GOTOOLCHAIN=local GOCACHE="$PWD/../../../guests/build/.go-cache" GOPATH="$PWD/../../../guests/build/.go-path" \
        CGO_LDFLAGS="-L$T/release/deps -Wl,-rpath,$T/release/deps" "$PWD/../../../.venv/bin/go" "$@"
}
cargo build --release --workspace
out=$(mktemp -d)
SIDECAR=
trap 'if [ -n "$SIDECAR" ]; then kill $SIDECAR 2>/dev/null || true; fi; rm -rf "$out"' EXIT
(cd bindings/go/wasmhost && go_ build -o "$out/bench-static" ./examples/bench && go_ build -tags wasmhost_shared -o "$out/bench-shared" ./examples/bench)
mkdir "$out/modules" && cp guests/build/c/hello.wasm guests/build/c/logger.wasm "$out/modules/"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
t0=$(date +%s%N)
"$T/release/wasmhost" serve --listen 127.0.0.1:0 --modules "$out/modules" --log-file /dev/null 2> "$out/serve.err" &
SIDECAR=$!
for _ in $(seq 1000); do grep -q "listening on" "$out/serve.err" 2>/dev/null && break; sleep 0.01; done
echo "sidecar start-up (spawn to listening, 2 modules): $(( ($(date +%s%N) - t0) / 1000000 )) ms"
ADDR=$(sed -n 's/^wasmhost serve: listening on \([^ ]*\).*/\1/p' "$out/serve.err")
for guest in "guests/build/c/hello.wasm" "guests/build/c/logger.wasm 10"; do
    set -- $guest
    module=$1; args=${2:-}
    cargo bench --workspace --bench capi_latency -- "$PWD/$module" "$N" $args 2>/dev/null | grep -E '^(rust|c-api)'
    "$out/bench-static" -module "$module" -n "$N" -args "$args"
    "$out/bench-shared" -module "$module" -n "$N" -args "$args"
    "$out/bench-static" -module "$module" -n "$N" -args "$args" -sidecar "http://$ADDR"
    echo "sidecar server $(grep VmRSS /proc/$SIDECAR/status | tr -s ' \t' ' ')"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
