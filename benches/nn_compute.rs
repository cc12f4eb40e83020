//! WASI-NN `compute` latency through a guest vs the same model run natively
//! through the same backend in the same process. Goal: guest ≤ 1.1× native.
//!
//! One iteration is what the C guest (guests/c/nn.c --repeat N) does per
//! round: `set_input` + `compute` + `get_output`. The guest side is timed by
//! the guest itself around its loop (so instantiation is not counted), and
//! includes everything the host adds: wiggle's argument checks, the copies in
//! and out of linear memory, and one `nn.compute` log event per round through
//! the log pipeline. The native side calls the same tract backend's traits.
//!
//! `cargo bench -p wasmhost --bench nn_compute` (after `make guests`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use wasmhost::{Host, HostConfig, Preopen, RunOptions, OutputBuffer};
use wasmhost_log::{JsonFormat, Pipeline, WriterSink};
use wasmhost_nn::wasmtime_wasi_nn::backend::{BackendInner, Id};
use wasmhost_nn::wasmtime_wasi_nn::wit::{ExecutionTarget, Tensor, TensorType};
use wasmhost_nn::TractBackend;

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests/build/nn")
}

/// The guests' `ramp` input: value i is (i % 17) / 17 - 0.5.
fn ramp(dims: &[u32]) -> Tensor {
    let count = dims.iter().product::<u32>() as usize;
    let data = (0..count).flat_map(|i| ((i % 17) as f32 / 17.0 - 0.5).to_le_bytes()).collect();
    Tensor { dimensions: dims.to_vec(), ty: TensorType::Fp32, data }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let host = Host::new(HostConfig { cache_dir: None, ..HostConfig::default() }).expect("host");
    let guest = host.load_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests/build/c/nn.wasm")).expect("run `make guests`");
    let pipeline = Pipeline::spawn(Box::new(WriterSink::new(JsonFormat, std::io::sink())), 16 * 1024).expect("pipeline");

    for (model, dims) in [("mlp", [1u32, 4]), ("wide", [8, 256])] {
        let mut group = c.benchmark_group(format!("set_input+compute+get_output, {model} {}x{}", dims[0], dims[1]));
        group.measurement_time(Duration::from_secs(5));

        let bytes = std::fs::read(models().join(model).join("model.onnx")).expect("run `make guests`");
        let graph = TractBackend.load(&[&bytes], ExecutionTarget::Cpu).expect("loads");
        let mut context = graph.init_execution_context().expect("context");
        let input = ramp(&dims);
        group.bench_function("native tract", |b| {
            b.iter(|| {
                context.set_input(Id::Index(0), &input).expect("set_input");
                context.compute().expect("compute");
                context.get_output(Id::Index(0)).expect("get_output")
            })
        });

        group.bench_function("guest (C) through wasmhost", |b| {
            b.iter_custom(|iterations| {
                let stderr = OutputBuffer::new(1 << 16);
                let options = RunOptions {
                    args: vec![
                        format!("file:/nn/{model}/model.onnx"),
                        format!("{}x{}=ramp", dims[0], dims[1]),
                        "--repeat".into(),
                        iterations.to_string(),
                    ],
                    preopens: vec![Preopen { host: models(), guest: "/nn".into() }],
                    stdout_buffer: Some(OutputBuffer::new(1 << 16)),
                    stderr_copy: Some(stderr.clone()),
                    ..RunOptions::default()
                };
                let outcome = runtime.block_on(host.run(&guest, options, pipeline.sender())).expect("runs");
                assert_eq!(outcome.exit_code, 0, "{:?}", outcome.ended);
                let said = String::from_utf8_lossy(&stderr.contents()).into_owned();
                let per_iteration: u64 = said
                    .lines()
                    .find_map(|l| l.strip_prefix("iter_ns="))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("the guest printed no iter_ns: {said}"));
                Duration::from_nanos(per_iteration * iterations)
            })
        });
        group.finish();
    }
    pipeline.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
