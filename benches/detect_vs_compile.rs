//! Language detection against compilation, on the largest guest (Go, ~2.5 MB):
//! detection must cost under 1% of compiling the module.
//!
//! `cargo bench -p wasmhost --bench detect_vs_compile` (after `make guests`).

use criterion::{criterion_group, criterion_main, Criterion};

fn guest(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests/build").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}: run `make guests`", path.display()))
}

fn bench(c: &mut Criterion) {
    let engine = wasmtime::Engine::default();
    for name in ["go/hello.wasm", "stripped/go-hello.wasm", "rust/hello.wasm"] {
        let bytes = guest(name);
        let mut group = c.benchmark_group(name);
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
