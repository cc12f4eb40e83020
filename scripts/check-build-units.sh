#!/usr/bin/env bash
# Checks that `cargo build --release -p wasmhost-cli` (what `make run` builds)
# compiles nothing that `cargo test --release --workspace` (what `make test`
# builds) would have to compile again: every dependency must be resolved with
# the same features, and so with the same dependencies below it. When they
# drift apart, `make test` after `make run` compiles wasmtime, cranelift and
# tract a second time (~10 minutes on 2 cores). The fix is to ask for the
# printed features in crates/wasmhost-workspace-hack/Cargo.toml.
#
# Workspace members are left out: they are compiled again whenever their
# source changes anyway, and the export crate's test receivers are a feature
# only its tests turn on.
#
# `--unit-graph` is unstable; RUSTC_BOOTSTRAP=1 lets this stable cargo print
# it without building anything (a few seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
RUSTC_BOOTSTRAP=1 $CARGO build --release -p wasmhost-cli --unit-graph -Z unstable-options >"$tmp/build.json"
RUSTC_BOOTSTRAP=1 $CARGO test --release --workspace --no-run --unit-graph -Z unstable-options >"$tmp/test.json"
python3 - "$tmp/build.json" "$tmp/test.json" <<'PY'
import json, sys

def units(path):
    """Each unit keyed by package, target and mode, with a signature of its
    features, profile and (recursively) everything it is built from."""
    graph = json.load(open(path))["units"]
    sig = {}
    def signature(i):
        if i not in sig:
            u = graph[i]
            deps = tuple(sorted(signature(d["index"]) for d in u["dependencies"]))
            sig[i] = hash((u["pkg_id"], u["target"]["name"], tuple(u["features"]),
                           json.dumps(u["profile"], sort_keys=True), u["mode"], deps))
        return sig[i]
    out = {}
    for i, u in enumerate(graph):
        out.setdefault((u["pkg_id"], u["target"]["name"], u["mode"]), {})[signature(i)] = set(u["features"])
    return out

build, test = units(sys.argv[1]), units(sys.argv[2])
rebuilt = sorted(k for k, sigs in build.items()
                 if not k[0].startswith("path+file://") and not set(sigs) <= set(test.get(k, {})))
if not rebuilt:
    print(f"check-build-units: the {len(build)} units `make run` builds are all reused by `make test`")
    sys.exit(0)
print(f"check-build-units: `make test` would compile {len(rebuilt)} dependencies again after `make run`:")
for key in rebuilt:
    want = set().union(*test.get(key, {}).values()) if key in test else set()
    have = set().union(*build[key].values())
    extra = sorted(want - have)
    print(f"  {key[0].split('#')[-1]} ({key[1]})" + (f": add features {extra}" if extra else ": a dependency below it differs"))
print("Ask for those features in crates/wasmhost-workspace-hack/Cargo.toml.")
sys.exit(1)
PY
