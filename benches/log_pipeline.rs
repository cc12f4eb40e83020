//! The in-process cost per guest line of each step after the guest: line
//! splitting + record, JSON formatting (slog-json), and the whole instance
//! log → pipeline → sink path; and lifting on that path: plain lines with
//! lifting off and on (goal: on at most 5% slower), JSON lines lifted (the
//! shape of slog's JSON handler). The import API vs stderr: `benches/lift.sh`.
//!
//! `cargo bench -p wasmhost-log --bench log_pipeline`

use std::sync::{Arc, Mutex};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wasmhost_log::{
    lock, Format, InstanceContext, InstanceLog, JsonFormat, LiftConfig, Line, LineSplitter, LogRecord, Pipeline, Stream, WriterSink,
};

const LINE: &[u8] = b"line 00000001: the quick brown fox jumps over the lazy dog 0123456789\n";
const JSON: &[u8] =
    b"{\"time\":\"2026-11-25T10:00:00.123Z\",\"level\":\"WARN\",\"msg\":\"slow query\",\"table\":\"users\",\"ms\":120,\"req\":{\"id\":7,\"path\":\"/upper\"}}\n";

fn ctx() -> Arc<InstanceContext> {
    let mut ctx = InstanceContext::new("01a213e3-a333-7353-8127-04414368c55d", "c", "logger");
    ctx.task_id = Some(1);
    Arc::new(ctx)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("per line");
    group.throughput(Throughput::Elements(1));
    group.bench_function("split + record", |b| {
        let ctx = ctx();
        let mut splitter = LineSplitter::new(16 * 1024);
        b.iter(|| {
            splitter.push(LINE, |line| {
                std::hint::black_box(LogRecord::line(ctx.clone(), Stream::Stderr, 1, line));
            })
        })
    });
    group.bench_function("json format", |b| {
        let record = LogRecord::line(ctx(), Stream::Stderr, 1, Line { bytes: &LINE[..LINE.len() - 1], continued: false });
        let mut out = Vec::with_capacity(1 << 20);
        b.iter(|| {
            out.clear();
            JsonFormat.format(&record, &mut out).expect("formats");
        })
    });
    group.finish();

    let mut group = c.benchmark_group("pipeline");
    let n = 100_000u64;
    group.throughput(Throughput::Elements(n));
    group.sample_size(10);
    let off = LiftConfig::off();
    group.bench_function("100k lines to a discarding sink", |b| b.iter(|| lines(LINE, n, &off)));
    group.finish();

    let mut group = c.benchmark_group("lift");
    group.throughput(Throughput::Elements(n));
    group.sample_size(20);
    let on = LiftConfig::default();
    group.bench_function("plain lines, lifting off", |b| b.iter(|| lines(LINE, n, &off)));
    group.bench_function("plain lines, lifting on", |b| b.iter(|| lines(LINE, n, &on)));
    group.bench_function("JSON lines, lifting off", |b| b.iter(|| lines(JSON, n, &off)));
    group.bench_function("JSON lines, lifted", |b| b.iter(|| lines(JSON, n, &on)));
    group.finish();
}

/// Writes `n` copies of `line` through one instance log to a discarding
/// JSON sink, and waits until all are written.
fn lines(line: &[u8], n: u64, lift: &LiftConfig) {
    let pipeline = Pipeline::spawn(Box::new(WriterSink::new(JsonFormat, std::io::sink())), 16 * 1024).expect("spawns");
    let log = Mutex::new(InstanceLog::new(ctx(), pipeline.sender(), 16 * 1024).with_lift(lift));
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    rt.block_on(async {
        for _ in 0..n {
            lock(&log).write(Stream::Stderr, line);
            if lock(&log).is_backlogged() {
                InstanceLog::drain(&log).await.expect("open");
            }
        }
    });
    drop(log);
    assert_eq!(pipeline.finish().written, n);
}

criterion_group!(benches, bench);
criterion_main!(benches);
