//! The Rust baseline of benches/capi-modes.sh: per-call latency of one
//! guest through the Rust embedding API (`Host::run` in a tokio task, as a
//! Rust gateway calls it) and through the C API's `wasmhost_run` called
//! in-process (what the static library costs without any foreign caller).
//!
//! `cargo bench --workspace --bench capi_latency -- [MODULE [N [ARGS]]]`
//!
//! `CAPI_LATENCY_MODE=rust` or `c-api` times only that one: what an
//! instruction count of one mode needs (`valgrind --tool=callgrind` on the
//! bench binary at two N; the difference over the difference in N is the
//! cost of one call, start-up excluded — BENCHMARKS.md).

use std::ffi::CString;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmhost::{Host, HostConfig, RunOptions};
use wasmhost_capi::host::{wasmhost_host_new, wasmhost_host_options_discard_default, wasmhost_host_options_new};
use wasmhost_capi::module::wasmhost_module_load_file;
use wasmhost_capi::run::{wasmhost_result_free, wasmhost_run, wasmhost_run_options_arg, wasmhost_run_options_new};
use wasmhost_log::{JsonFormat, Pipeline, WriterSink};

fn report(mode: &str, module: &str, mut times: Vec<Duration>, total: Duration, startup: Duration) {
    times.sort();
    let p = |q: f64| times[(q * (times.len() - 1) as f64) as usize].as_micros();
    let name = std::path::Path::new(module).file_name().unwrap().to_string_lossy();
    println!(
        "{mode:<8} {name:<12} calls={} p50={}us p99={}us calls/s={:.0} startup={:.1}ms",
        times.len(),
        p(0.50),
        p(0.99),
        times.len() as f64 / total.as_secs_f64(),
        startup.as_secs_f64() * 1000.0
    );
}

fn time(n: usize, mut call: impl FnMut()) -> (Vec<Duration>, Duration) {
    for _ in 0..100 {
        call();
    }
    let begin = Instant::now();
    let times = (0..n)
        .map(|_| {
            let t = Instant::now();
            call();
            t.elapsed()
        })
        .collect();
    (times, begin.elapsed())
}

fn main() {
    // `cargo bench` passes `--bench`; the rest are ours.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let module = args.first().cloned().unwrap_or_else(|| "guests/build/c/hello.wasm".into());
    let n: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(2000);
    let guest_args: Vec<String> = args.get(2).map(|a| a.split(',').map(str::to_owned).collect()).unwrap_or_default();

    let mode = std::env::var("CAPI_LATENCY_MODE").unwrap_or_default();
    if mode != "c-api" {
        rust_api(&module, n, &guest_args);
    }
    if mode != "rust" {
        c_api(&module, n, &guest_args);
    }
}

/// The Rust embedding API: `Host::run` in a task of its own.
fn rust_api(module: &str, n: usize, guest_args: &[String]) {
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let host = Arc::new(Host::new(HostConfig::default()).unwrap());
    let loaded = Arc::new(host.load_file(module.as_ref()).unwrap());
    let pipeline = Pipeline::spawn(Box::new(WriterSink::new(JsonFormat, std::io::sink())), 16 * 1024).unwrap();
    let startup = started.elapsed();
    let (times, total) = time(n, || {
        let (host, loaded, sender) = (host.clone(), loaded.clone(), pipeline.sender());
        let options = RunOptions { args: guest_args.to_vec(), stdout_buffer: Some(wasmhost::OutputBuffer::new(1 << 20)), ..RunOptions::default() };
        let outcome = runtime.block_on(runtime.spawn(async move { host.run(&loaded, options, sender).await })).unwrap().unwrap();
        assert_eq!(outcome.exit_code, 0);
    });
    report("rust", module, times, total, startup);
}

/// The C API, called in-process.
fn c_api(module: &str, n: usize, guest_args: &[String]) {
    let started = Instant::now();
    let options = wasmhost_host_options_new();
    wasmhost_host_options_discard_default(options, std::ptr::null_mut());
    let (mut chost, mut cmodule) = (std::ptr::null_mut(), std::ptr::null_mut());
    wasmhost_host_new(options, &mut chost, std::ptr::null_mut());
    let path = CString::new(module).unwrap();
    wasmhost_module_load_file(chost, path.as_ptr(), &mut cmodule, std::ptr::null_mut());
    let run_options = wasmhost_run_options_new();
    for arg in guest_args {
        let arg = CString::new(arg.as_str()).unwrap();
        wasmhost_run_options_arg(run_options, arg.as_ptr(), std::ptr::null_mut());
    }
    let startup = started.elapsed();
    let (times, total) = time(n, || {
        let mut result = std::ptr::null_mut();
        let status = wasmhost_run(cmodule, run_options, &mut result, std::ptr::null_mut());
        assert_eq!(status as i32, 0);
        wasmhost_result_free(result);
    });
    report("c-api", module, times, total, startup);
}
