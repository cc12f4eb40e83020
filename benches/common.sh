# Sourced by the bench scripts (`source "$(dirname "$0")/common.sh"`): works
# from the repository root, uses the shared target dir, builds wasmhost and
# the guests, sets LINES and RUNS (overridable from the environment), and
# makes a scratch dir $out that is removed on exit, after the background
# processes listed in $pids are stopped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wasmhost-target}"
WASMHOST="$CARGO_TARGET_DIR/release/wasmhost"
LINES="${LINES:-1000000}"
RUNS="${RUNS:-5}"
make --no-print-directory build guests >/dev/null
out="$(mktemp -d)"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$out"' EXIT
