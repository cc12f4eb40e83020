//! Language detection against compilation, on the largest guest (Go, ~2.5 MB)
//! and the largest module of the real-world corpus (after `make corpus`):
//! detection must cost under 1% of compiling the module.
//!
//! `cargo bench -p wasmhost --bench detect_vs_compile` (after `make guests corpus`).

use criterion::{criterion_group, criterion_main, Criterion};

fn guest(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests/build").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}: run `make guests`", path.display()))
}

/// The largest module of the detection corpus (scripts/fetch-corpus.py).
fn largest_corpus_module() -> (String, Vec<u8>) {
    let dir = std::env::var_os("WASMHOST_CORPUS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/wasmhost-corpus"))
        .join("modules");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}: run `make corpus`", dir.display()));
    let largest = entries.flatten().max_by_key(|e| e.metadata().map_or(0, |m| m.len())).expect("a corpus module");
    let name = format!("corpus/{}", largest.file_name().to_string_lossy());
    (name, std::fs::read(largest.path()).expect("readable"))
}

fn bench(c: &mut Criterion) {
    let engine = wasmtime::Engine::default();
    let modules = ["go/hello.wasm", "stripped/go-hello.wasm", "rust/hello.wasm"].map(|n| (n.to_owned(), guest(n)));
    for (name, bytes) in modules.into_iter().chain([largest_corpus_module()]) {
        let mut group = c.benchmark_group(&name);
        group.bench_function("detect", |b| b.iter(|| wasmhost_detect::detect(std::hint::black_box(&bytes))));
        group.sample_size(10);
        group.bench_function("compile", |b| {
            b.iter(|| wasmtime::Module::from_binary(&engine, std::hint::black_box(&bytes)).expect("compiles"))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
