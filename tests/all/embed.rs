//! The library as a gateway embeds it: one host, modules loaded once, many
//! instances on tokio, each with its own context, limits and lines.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use wasmhost::{Ended, Host, HostConfig, LimitHit, Limits, Pooling, RunOptions, Stdin};
use wasmhost_log::{JsonFormat, Pipeline, WriterSink};

fn guest(name: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests/build").join(format!("{name}.wasm"));
    assert!(path.exists(), "{}: run `make guests`", path.display());
    path
}

use crate::shared::Shared;

fn capture() -> (Pipeline, Shared) {
    let out = Shared::default();
    let pipeline = Pipeline::spawn(Box::new(WriterSink::new(JsonFormat, out.clone())), 4096).unwrap();
    (pipeline, out)
}

fn lines(out: &Shared) -> Vec<Value> {
    out.text().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn config() -> HostConfig {
    HostConfig { cache_dir: None, ..HostConfig::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_labels_and_traceparent_on_every_line() {
    let host = Host::new(config()).unwrap();
    let module = host.load_file(&guest("rust/hello")).unwrap();
    let (pipeline, out) = capture();
    let options = RunOptions {
        labels: vec![("request_id".into(), "req-42".into()), ("tenant".into(), "acme".into())],
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        ..RunOptions::default()
    };
    let outcome = host.run(&module, options, pipeline.sender()).await.unwrap();
    assert_eq!(outcome.exit_code, 0);
    assert_eq!(outcome.log.lines, 1);
    assert!(outcome.log.bytes > 0);
    pipeline.finish();
    let emitted = lines(&out);
    assert_eq!(emitted.len(), 3);
    for line in &emitted {
        assert_eq!(line["request_id"], "req-42");
        assert_eq!(line["tenant"], "acme");
        assert_eq!(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(line["span_id"], "00f067aa0ba902b7");
        assert_eq!(line["wasm_instance_id"], outcome.wasm_instance_id.to_string());
    }

    // An invalid traceparent is ignored, as the W3C spec asks.
    let (pipeline, out) = capture();
    let options = RunOptions { traceparent: Some("not-a-trace".into()), ..RunOptions::default() };
    host.run(&module, options, pipeline.sender()).await.unwrap();
    pipeline.finish();
    assert!(lines(&out).iter().all(|l| l.get("trace_id").is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_bytes_in_stdout_buffer_out() {
    let host = Host::new(config()).unwrap();
    let module = host.load_file(&guest("c/cat")).unwrap();
    let (pipeline, _out) = capture();
    let stdout = wasmhost::OutputBuffer::new(1 << 20);
    let options = RunOptions {
        args: vec!["/dev/stdin".into()],
        stdin: Stdin::Bytes(b"request body\n".to_vec()),
        stdout_buffer: Some(stdout.clone()),
        ..RunOptions::default()
    };
    let outcome = host.run(&module, options, pipeline.sender()).await.unwrap();
    pipeline.finish();
    // WASI has no /dev/stdin: cat reports the error; the buffer stays empty.
    assert_eq!(outcome.exit_code, 1);
    assert!(stdout.contents().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_stops_one_instance_while_others_finish() {
    let host = Arc::new(Host::new(config()).unwrap());
    let spin = Arc::new(host.load_file(&guest("c/spin")).unwrap());
    let logger = Arc::new(host.load_file(&guest("c/logger")).unwrap());
    let (pipeline, out) = capture();
    let limits = Limits { timeout: Some(Duration::from_millis(300)), ..Limits::default() };
    let mut tasks = Vec::new();
    for i in 0..4 {
        let (host, sender) = (host.clone(), pipeline.sender());
        let module = if i % 2 == 0 { spin.clone() } else { logger.clone() };
        let options = RunOptions { limits: Some(limits), args: vec!["1000".into()], ..RunOptions::default() };
        tasks.push(tokio::spawn(async move { host.run(&module, options, sender).await.unwrap() }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    for (i, o) in outcomes.iter().enumerate() {
        if i % 2 == 0 {
            assert_eq!(o.ended, Ended::Limit(LimitHit::Timeout { limit: Duration::from_millis(300) }));
            assert_eq!(o.limits_hit, vec![LimitHit::Timeout { limit: Duration::from_millis(300) }]);
        } else {
            assert_eq!((o.exit_code, &o.ended), (0, &Ended::Exit));
            assert_eq!(o.log.lines, 1000);
        }
    }
    pipeline.finish();
    assert_eq!(lines(&out).iter().filter(|l| l["event"] == "instance.timeout").count(), 2);
    // The host is still fine afterwards.
    let (pipeline, _) = capture();
    let again = host.run(&logger, RunOptions::default(), pipeline.sender()).await.unwrap();
    assert_eq!(again.exit_code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuel_needs_a_metering_host_and_is_reported() {
    let host = Host::new(config()).unwrap();
    let module = host.load_file(&guest("c/hello")).unwrap();
    let (pipeline, _) = capture();
    let options = RunOptions { limits: Some(Limits { fuel: Some(1000), ..Limits::default() }), ..RunOptions::default() };
    let err = host.run(&module, options, pipeline.sender()).await.unwrap_err();
    assert!(matches!(err, wasmhost::RunError::FuelNotMetered), "{err}");

    let host = Host::new(HostConfig { fuel: true, ..config() }).unwrap();
    let module = host.load_file(&guest("c/spin")).unwrap();
    let options = RunOptions { limits: Some(Limits { fuel: Some(50_000), ..Limits::default() }), ..RunOptions::default() };
    let outcome = host.run(&module, options, pipeline.sender()).await.unwrap();
    assert_eq!(outcome.ended, Ended::Limit(LimitHit::OutOfFuel { limit: 50_000 }));
    assert_eq!(outcome.fuel_used, Some(50_000));
    pipeline.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_is_a_typed_hit() {
    let host = Host::new(HostConfig { default_limits: Limits { max_memory: Some(2 << 20), ..Limits::default() }, ..config() }).unwrap();
    let module = host.load_file(&guest("c/grow")).unwrap();
    let (pipeline, _) = capture();
    let outcome = host.run(&module, RunOptions::default(), pipeline.sender()).await.unwrap();
    pipeline.finish();
    assert_eq!(outcome.exit_code, 3);
    assert!(matches!(outcome.limits_hit.as_slice(), [LimitHit::Memory { limit, .. }] if *limit == 2 << 20), "{:?}", outcome.limits_hit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_host_runs_many_instances_of_one_loaded_module() {
    let host = Arc::new(Host::new(HostConfig { pooling: Some(Pooling { max_instances: 64, max_memory_size: 64 << 20, keep_resident: 1 << 20 }), ..config() }).unwrap());
    let module = Arc::new(host.load_file(&guest("c/hello")).unwrap());
    let (pipeline, out) = capture();
    let mut tasks = Vec::new();
    for _ in 0..500 {
        let (host, module, sender) = (host.clone(), module.clone(), pipeline.sender());
        tasks.push(tokio::spawn(async move {
            let stdout = wasmhost::OutputBuffer::new(4096);
            let options = RunOptions { stdout_buffer: Some(stdout.clone()), ..RunOptions::default() };
            let outcome = host.run(&module, options, sender).await.unwrap();
            (outcome, stdout.contents())
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let (outcome, stdout) = t.await.unwrap();
        assert_eq!(outcome.exit_code, 0);
        assert_eq!(&stdout[..], b"hello from c\n");
        ids.insert(outcome.wasm_instance_id);
    }
    assert_eq!(ids.len(), 500);
    pipeline.finish();
    assert_eq!(lines(&out).len(), 1500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_host_function_ends_only_its_instance() {
    let mut host = Host::new(config()).unwrap();
    host.linker_mut().func_wrap("test", "boom", || -> () { panic!("boom from the host") }).unwrap();
    let host = Arc::new(host);
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/host-call.wat");
    let boom = Arc::new(host.load_file(&fixture).unwrap());
    let logger = Arc::new(host.load_file(&guest("c/logger")).unwrap());
    let (pipeline, out) = capture();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let (host, sender) = (host.clone(), pipeline.sender());
        let module = if i % 2 == 0 { boom.clone() } else { logger.clone() };
        tasks.push(tokio::spawn(async move { host.run(&module, RunOptions::default(), sender).await.unwrap() }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let outcome = task.await.expect("the task itself survives");
        if i % 2 == 0 {
            assert_eq!(outcome.exit_code, 1);
            assert!(matches!(&outcome.ended, Ended::Error { message } if message.contains("boom from the host")), "{:?}", outcome.ended);
        } else {
            assert_eq!((outcome.exit_code, outcome.log.lines), (0, 10));
        }
    }
    pipeline.finish();
    let errors: Vec<Value> = lines(&out).into_iter().filter(|l| l["event"] == "instance.error").collect();
    assert_eq!(errors.len(), 3);
    assert!(errors[0]["msg"].as_str().unwrap().contains("a host function panicked"));
}

/// wasmtime-wasi-nn 48 panics (`unimplemented!("guest error conversion")`)
/// when a guest hands it a pointer outside its memory. Only that instance may
/// end; the others, computing at the same time on the same host, finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_nn_pointer_ends_only_its_instance() {
    let host = Arc::new(Host::new(config()).unwrap());
    let module = Arc::new(host.load_file(&guest("c/nn")).unwrap());
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests/build/nn");
    let (pipeline, out) = capture();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let (host, module, sender) = (host.clone(), module.clone(), pipeline.sender());
        let mut args: Vec<String> = vec!["file:/nn/mlp/model.onnx".into(), "1x4=0.5,-1,2,0.25".into(), "--repeat".into(), "50".into()];
        if i % 2 == 0 {
            args.push("--bad-pointer".into());
        }
        let stdout = wasmhost::OutputBuffer::new(1 << 16);
        let options = RunOptions {
            args,
            preopens: vec![wasmhost::Preopen { host: models.clone(), guest: "/nn".into() }],
            stdout_buffer: Some(stdout.clone()),
            ..RunOptions::default()
        };
        tasks.push(tokio::spawn(async move { (host.run(&module, options, sender).await.unwrap(), stdout) }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let (outcome, stdout) = task.await.expect("the task itself survives");
        if i % 2 == 0 {
            assert_eq!(outcome.exit_code, 1);
            assert!(
                matches!(&outcome.ended, Ended::Error { message } if message.contains("guest error conversion")),
                "{:?}",
                outcome.ended
            );
        } else {
            assert_eq!(outcome.exit_code, 0, "{:?}", outcome.ended);
            let printed = String::from_utf8(stdout.contents().to_vec()).unwrap();
            assert!(printed.starts_with("output 0: 0.18465"), "{printed}");
        }
    }
    pipeline.finish();
    let emitted = lines(&out);
    assert_eq!(emitted.iter().filter(|l| l["event"] == "instance.error").count(), 3);
    assert_eq!(emitted.iter().filter(|l| l["event"] == "nn.compute").count(), 150);
}

/// A sink slower than inference: `nn.compute` events are made in synchronous
/// host calls, which cannot wait for the pipeline, so the guest waits at its
/// next epoch tick. It computes at the sink's pace instead of its events
/// piling up in memory, and every event arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nn_events_slow_the_guest_to_a_slow_sinks_pace() {
    /// Takes 50 µs per line it is given.
    struct SlowSink(Shared);
    impl std::io::Write for SlowSink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            for _ in buf.iter().filter(|b| **b == b'\n') {
                std::thread::sleep(Duration::from_micros(50));
            }
            self.0.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let host = Host::new(config()).unwrap();
    let module = host.load_file(&guest("c/nn")).unwrap();
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests/build/nn");
    let out = Shared::default();
    let pipeline = Pipeline::spawn(Box::new(WriterSink::new(JsonFormat, SlowSink(out.clone()))), 64).unwrap();
    let said = wasmhost::OutputBuffer::new(1 << 16);
    let options = RunOptions {
        args: vec!["file:/nn/mlp/model.onnx".into(), "1x4=0.5,-1,2,0.25".into(), "--repeat".into(), "3000".into()],
        preopens: vec![wasmhost::Preopen { host: models, guest: "/nn".into() }],
        stdout_buffer: Some(wasmhost::OutputBuffer::new(1 << 16)),
        stderr_copy: Some(said.clone()),
        ..RunOptions::default()
    };
    let outcome = host.run(&module, options, pipeline.sender()).await.unwrap();
    assert_eq!(outcome.exit_code, 0, "{:?}", outcome.ended);
    let said = String::from_utf8(said.contents().to_vec()).unwrap();
    let iter_ns: u64 = said.lines().find_map(|l| l.strip_prefix("iter_ns=")).and_then(|n| n.parse().ok()).expect(&said);
    // Unthrottled, a round takes ~4 µs here; the sink takes 50 µs a line.
    assert!(iter_ns >= 25_000, "the guest ran at {iter_ns} ns a round, faster than the sink can write");
    pipeline.finish();
    assert_eq!(lines(&out).iter().filter(|l| l["event"] == "nn.compute").count(), 3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifting_is_a_host_setting_with_a_per_run_override() {
    let off = Host::new(HostConfig { lift: wasmhost_log::LiftConfig::off(), ..config() }).unwrap();
    let on = Host::new(config()).unwrap();
    for (host, run_lift, lifted) in [(&on, None, true), (&on, Some(false), false), (&off, None, false), (&off, Some(true), true)] {
        let module = host.load_file(&guest("c/formats")).unwrap();
        let (pipeline, out) = capture();
        let options = RunOptions { args: vec!["json".into()], lift: run_lift, ..RunOptions::default() };
        assert_eq!(host.run(&module, options, pipeline.sender()).await.unwrap().exit_code, 0);
        pipeline.finish();
        let first = lines(&out).into_iter().find(|l| l["stream"] == "stderr").unwrap();
        assert_eq!(first.get("lifted").is_some(), lifted, "{run_lift:?}: {first}");
        assert_eq!(first["msg"] == "slow query", lifted);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_wasmhost_log_call_ends_only_its_instance() {
    let host = Arc::new(Host::new(config()).unwrap());
    let bad = Arc::new(host.load_file(&guest("c/logapi")).unwrap());
    let good = Arc::new(host.load_file(&guest("c/logger")).unwrap());
    let (pipeline, out) = capture();
    let runs: Vec<_> = [(bad, "badptr"), (good, "200")]
        .into_iter()
        .map(|(module, arg)| {
            let (host, sender) = (host.clone(), pipeline.sender());
            let options = RunOptions { args: vec![arg.into()], ..RunOptions::default() };
            tokio::spawn(async move { host.run(&module, options, sender).await.unwrap() })
        })
        .collect();
    let mut outcomes = Vec::new();
    for run in runs {
        outcomes.push(run.await.unwrap());
    }
    pipeline.finish();
    assert_eq!(outcomes[0].exit_code, 1);
    assert!(matches!(&outcomes[0].ended, Ended::Error { message } if message.contains("outside the guest's memory")));
    assert_eq!((outcomes[1].exit_code, outcomes[1].log.lines), (0, 200));
    let good_id = outcomes[1].wasm_instance_id.to_string();
    let good_lines = lines(&out).into_iter().filter(|l| l["wasm_instance_id"] == good_id.as_str() && l["stream"] == "stderr").count();
    assert_eq!(good_lines, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_returns_and_streams_its_own_records_with_a_task_id() {
    // Awaited in the test's body, outside any task: `run` gives the instance one.
    assert!(tokio::task::try_id().is_none());
    let host = Host::new(config()).unwrap();
    let module = host.load_file(&guest("c/upper")).unwrap();
    let (pipeline, out) = capture();
    let streamed = Arc::new(Mutex::new(Vec::new()));
    let tap = {
        let streamed = streamed.clone();
        wasmhost::log::RecordTap::new(move |r| streamed.lock().unwrap().push((r.seq, r.msg.clone())))
    };
    let options = RunOptions { stdin: Stdin::Bytes(b"abc".to_vec()), keep_records: true, on_record: Some(tap), ..RunOptions::default() };
    let outcome = host.run(&module, options, pipeline.sender()).await.unwrap();
    let report = pipeline.shutdown().await;
    let written = lines(&out);
    assert_eq!(report.written as usize, written.len());
    // The same records, in the same order, in all three places.
    let kept: Vec<(u64, String)> = outcome.records.iter().map(|r| (r.seq, r.msg.clone())).collect();
    let piped: Vec<(u64, String)> = written.iter().map(|l| (l["seq"].as_u64().unwrap(), l["msg"].as_str().unwrap().to_owned())).collect();
    assert_eq!(kept, piped);
    assert_eq!(*streamed.lock().unwrap(), kept);
    assert!(kept.iter().any(|(_, msg)| msg == "handled 3 bytes"), "{kept:?}");
    assert_eq!(outcome.records.last().unwrap().event, Some("instance.exit"));
    let task = outcome.records[0].ctx.task_id.expect("a task id without tokio::spawn");
    assert!(written.iter().all(|l| l["task_id"] == task), "{written:?}");

    // Not asked for: nothing kept.
    let (pipeline, _out) = capture();
    let options = RunOptions { stdin: Stdin::Bytes(b"abc".to_vec()), ..RunOptions::default() };
    assert!(host.run(&module, options, pipeline.sender()).await.unwrap().records.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_run_future_outside_a_task_stops_the_guest() {
    let host = Host::new(config()).unwrap();
    let module = host.load_file(&guest("c/sleep")).unwrap();
    let (pipeline, out) = capture();
    let options = RunOptions { args: vec!["5000".into()], ..RunOptions::default() };
    let started = std::time::Instant::now();
    let run = tokio::time::timeout(Duration::from_millis(200), host.run(&module, options, pipeline.sender())).await;
    assert!(run.is_err(), "the guest sleeps 5 s");
    // The run's task was aborted with the future: its sender is gone, so the
    // pipeline shuts down now rather than when the guest would have woken.
    pipeline.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert!(lines(&out).iter().all(|l| l["msg"] != "slept 5000 ms"));
}

/// A component takes `pool_slots` of a pool's slots (one per core instance
/// it creates): a pool of exactly that many runs it again and again (the
/// slots come back), one slot fewer cannot instantiate it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_sized_by_pool_slots_runs_a_component() {
    let path = guest("component/js-app");
    let slots = wasmhost::pool_slots(&std::fs::read(&path).unwrap());
    assert!(slots > 1, "a componentize-js component creates several core instances: {slots}");
    let pooled = |max_instances| Host::new(HostConfig { pooling: Some(Pooling { max_instances, ..Pooling::default() }), ..config() }).unwrap();
    let host = pooled(slots);
    let module = host.load_file(&path).unwrap();
    let (pipeline, _) = capture();
    for _ in 0..3 {
        let stdout = wasmhost::OutputBuffer::new(4096);
        let options = RunOptions { stdout_buffer: Some(stdout.clone()), ..RunOptions::default() };
        let outcome = host.run(&module, options, pipeline.sender()).await.unwrap();
        assert_eq!((outcome.exit_code, &stdout.contents()[..]), (0, &b"hello from javascript\n"[..]));
    }
    let host = pooled(slots - 1);
    let module = host.load_file(&path).unwrap();
    let refused = host.run(&module, RunOptions::default(), pipeline.sender()).await;
    assert!(matches!(&refused, Err(wasmhost::RunError::Instantiate(_))), "{:?}", refused.map(|o| o.exit_code));
    pipeline.finish();
}
