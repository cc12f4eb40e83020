#!/usr/bin/env bash
# Lays out the test suites under guests/build/suites in wasi-testsuite's
# format: the guests of every language (guests/suites/LANG/*.json specs,
# modules copied from guests/build/LANG) and the WASI conformance suites
# (modules compiled there by the Makefile), with their data directories.
set -euo pipefail
cd "$(dirname "$0")/.."
B=guests/build
S=$B/suites

for spec_dir in guests/suites/*/; do
    lang=$(basename "$spec_dir")
    out=$S/guests-$lang
    mkdir -p "$out"
    cp "$spec_dir"/*.json "$out/"
    for spec in "$spec_dir"/*.json; do
        name=$(basename "$spec" .json)
        [ "$name" = manifest ] && continue
        cp "$B/$lang/$name.wasm" "$out/$name.wasm"
    done
done
mkdir -p "$S/guests-c/data.dir"
printf 'granted\n' > "$S/guests-c/data.dir/greeting.txt"

for lang in c rust; do
    out=$S/wasi-$lang
    mkdir -p "$out/fs.dir"
    cp guests/conformance/$lang/*.json "$out/"
    printf 'fixture\n' > "$out/fs.dir/fixture.txt"
done
