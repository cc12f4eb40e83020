#!/usr/bin/env bash
# Components (issue 14): instantiate + run of the Python and JavaScript hello
# components, compile cache cold and warm, against `wasmtime run` 48.0.8 on
# the same files; and the C hello as a component against the same C hello as
# a core module. Not part of CI; `benches/components.sh`.
#
# The wasmtime CLI is $WASMTIME (default: $WASMTIME_ROOT/bin/wasmtime, where
# run-vs-wasmtime.sh installs it). Without it the wasmtime rows are left out,
# and the script says so first and last.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wasmhost-target}"
WASMTIME="${WASMTIME:-${WASMTIME_ROOT:-$HOME/.cache/wasmhost-bench/wasmtime-48.0.8}/bin/wasmtime}"
WASMHOST="$CARGO_TARGET_DIR/release/wasmhost"
RUNS="${RUNS:-10}"
command -v hyperfine >/dev/null || { apt-get install -y -q hyperfine || sudo apt-get install -y -q hyperfine; }
# --workspace: the same features as `make test`'s build (no wasmtime rebuild).
cargo build --release --workspace -q
make --no-print-directory guests >/dev/null
missing="no wasmtime CLI at $WASMTIME: set WASMTIME=/path/to/wasmtime (48.0.8; benches/run-vs-wasmtime.sh installs one) for the comparison rows"
if [ -x "$WASMTIME" ]; then
    echo "wasmtime: $("$WASMTIME" --version)"
else
    echo "components.sh: $missing" >&2
fi
echo "wasmhost: $("$WASMHOST" --version); load: $(cut -d' ' -f1-3 /proc/loadavg)"

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
export WASMHOST_CACHE_DIR="$out/cache"
py=guests/build/component/python-app.wasm
js=guests/build/component/js-app.wasm
c_core=guests/build/c/hello.wasm
c_comp=guests/build/component/c-hello.wasm
have_wasmtime=false
[ -x "$WASMTIME" ] && have_wasmtime=true

# Each command once before it is timed, so that a failure says which and why
# (hyperfine only says that one run exited non-zero).
check() { "$@" >/dev/null 2>"$out/err" || { echo "components.sh: failed: $*" >&2; tail -5 "$out/err" >&2; exit 1; }; }
for guest in "$py" "$js"; do
    # componentize-js's engine imports wasi:http (for fetch) even when the
    # script never uses it: wasmhost links those imports as traps, `wasmtime
    # run` needs `-S http` (its `-W unknown-imports-trap=y` covers core
    # modules' imports only, and refuses this component).
    wt_flags=""
    [ "$guest" = "$js" ] && wt_flags="-S http"
    echo "== $guest: cold (compile every run)"
    check $WASMHOST run --no-cache --log-file /dev/null "$guest"
    args=(-n "wasmhost run --no-cache" "$WASMHOST run --no-cache --log-file /dev/null $guest")
    $have_wasmtime && { check $WASMTIME run -C cache=n $wt_flags "$guest"; args+=(-n "wasmtime run -C cache=n" "$WASMTIME run -C cache=n $wt_flags $guest"); }
    hyperfine --runs 3 -N --export-markdown "$out/cold.md" "${args[@]}" >/dev/null; cat "$out/cold.md"
    echo "== $guest: compile cache warm"
    check $WASMHOST run --log-file /dev/null "$guest"
    args=(-n "wasmhost run" "$WASMHOST run --log-file /dev/null $guest")
    $have_wasmtime && { check $WASMTIME run $wt_flags "$guest"; args+=(-n "wasmtime run" "$WASMTIME run $wt_flags $guest"); }
    hyperfine --warmup 2 --runs "$RUNS" -N --export-markdown "$out/warm.md" "${args[@]}" >/dev/null; cat "$out/warm.md"
done
echo "== C hello: core module vs the same module as a component (cache warm)"
"$WASMHOST" run --log-file /dev/null "$c_core" >/dev/null; "$WASMHOST" run --log-file /dev/null "$c_comp" >/dev/null
hyperfine --warmup 3 --runs 50 -N --export-markdown "$out/c.md" \
    -n "core module" "$WASMHOST run --log-file /dev/null $c_core" \
    -n "component" "$WASMHOST run --log-file /dev/null $c_comp" >/dev/null
cat "$out/c.md"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
$have_wasmtime || echo "components.sh: $missing" >&2
