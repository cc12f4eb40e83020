//! Instances per second, in process: instantiate + run + tear down a C hello
//! guest, with its start/exit events through the log pipeline, on a 2-worker
//! tokio runtime. Goal: 100,000 per second on 2 cores.
//!
//! `cargo bench -p wasmhost --bench instantiate` (after `make guests`).

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wasmhost::{Host, HostConfig, LoadedModule, Pooling, RunOptions, OutputBuffer};
use wasmhost_log::{JsonFormat, Pipeline, WriterSink};

const BATCH: u64 = 10_000;

fn hosts() -> Vec<(&'static str, HostConfig)> {
    let base = HostConfig { cache_dir: None, ..HostConfig::default() };
    let pooled = |keep_resident| Pooling { max_instances: 1000, max_memory_size: 1 << 20 << 6, keep_resident };
    vec![
        ("on-demand", base.clone()),
        ("pooling", HostConfig { pooling: Some(pooled(0)), ..base.clone() }),
        ("pooling, 1 MiB resident", HostConfig { pooling: Some(pooled(1 << 20)), ..base }),
    ]
}

async fn run_batch(host: Arc<Host>, module: Arc<LoadedModule>, pipeline: &Pipeline) {
    // At most 256 instances at a time, like a gateway under steady load.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..BATCH {
        if tasks.len() >= 256 {
            tasks.join_next().await.expect("a task").expect("joins");
        }
        let (host, module, sender) = (host.clone(), module.clone(), pipeline.sender());
        tasks.spawn(async move {
            let options = RunOptions { stdout_buffer: Some(OutputBuffer::new(256)), ..RunOptions::default() };
            let outcome = host.run(&module, options, sender).await.expect("runs");
            assert_eq!(outcome.exit_code, 0);
        });
    }
    while tasks.join_next().await.is_some() {}
}

fn bench(c: &mut Criterion) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests/build/c/hello.wasm");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut group = c.benchmark_group("instantiate + run + teardown, C hello");
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(10);
    for (name, config) in hosts() {
        let host = Arc::new(Host::new(config).expect("host"));
        let module = Arc::new(host.load_file(&path).expect("run `make guests`"));
        let pipeline = Pipeline::spawn(Box::new(WriterSink::new(JsonFormat, std::io::sink())), 16 * 1024).expect("pipeline");
        group.bench_function(name, |b| b.iter(|| runtime.block_on(run_batch(host.clone(), module.clone(), &pipeline))));
        pipeline.finish();
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
