//! `| json` parsers on wasmhost's line shape (issue 13 asks for a fast JSON
//! parser, "simd-json or sonic-rs, measured"): this crate's own reader
//! (borrowing, Loki's rules) against sonic-rs's lazy object iterator and
//! serde_json's `Value`, each doing the same job — every top-level scalar
//! as text (numbers as written), and with Loki's parser hints only
//! `level`. Lines as `benches/logql-lines.py` writes them (~420 bytes,
//! 13 fields). Figures in BENCHMARKS.md, LogQL section.
//!
//! `cargo bench -p wasmhost-logql --features bench-sonic --bench json`
//! (sonic-rs is an optional dependency, so `make test` never builds it).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use sonic_rs::JsonValueTrait;
use wasmhost_logql::{visit_flat, Visit};

/// Lines of the benchmark file's shape, deterministic.
fn lines(n: usize) -> Vec<String> {
    let mut seed = 7u64;
    let mut next = move |m: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % m
    };
    let langs = ["rust", "go", "c", "zig", "python", "js"];
    let levels = ["info", "info", "info", "info", "info", "info", "info", "debug", "warn", "error"];
    let words = "request handled upstream latency cache miss retry user session token db query rows returned".split(' ').collect::<Vec<_>>();
    (0..n)
        .map(|i| {
            let msg: Vec<&str> = (0..12 + next(11)).map(|_| words[next(words.len() as u64) as usize]).collect();
            format!(
                r#"{{"ts":"2026-11-25T18:{:02}:{:02}.{:09}Z","level":"{}","msg":"{}","lang":"{}","module":"api","wasm_instance_id":"{:08x}-1c2d-4e5f-8a9b-{:012x}","task_id":{},"stream":"stderr","seq":{i},"v":1,"job":"gateway","traceparent":"00-{:032x}-{:016x}-01","duration_ms":{}.{:03}}}"#,
                i / 60 % 60,
                i % 60,
                next(1_000_000_000),
                levels[next(10) as usize],
                msg.join(" "),
                langs[next(6) as usize],
                next(1 << 32),
                next(1 << 40),
                1 + next(5000),
                u128::from(next(1 << 62)) << 64 | u128::from(next(1 << 62)),
                next(1 << 62),
                next(200),
                next(1000),
            )
        })
        .collect()
}

/// This crate's reader: every scalar (or only `level`) as text.
fn ours(line: &str, only_level: bool) -> usize {
    let mut total = 0;
    let _ = visit_flat(line, &mut |k, v| {
        if only_level && k != "level" {
            return Visit::More;
        }
        total += v.scalar_text().map_or(0, |t| t.len());
        if only_level {
            Visit::Done
        } else {
            Visit::More
        }
    });
    total
}

/// sonic-rs: the lazy object iterator, scalars as text (strings
/// unescaped, numbers as written); with hints, `sonic_rs::get`.
fn sonic(line: &str, only_level: bool) -> usize {
    if only_level {
        return sonic_rs::get(line, &["level"]).ok().and_then(|v| v.as_str().map(str::len)).unwrap_or(0);
    }
    let mut total = 0;
    for item in sonic_rs::to_object_iter(line) {
        let Ok((_key, v)) = item else { break };
        total += if let Some(s) = v.as_str() {
            s.len()
        } else if v.is_number() {
            v.as_raw_str().len()
        } else if let Some(b) = v.as_bool() {
            if b { 4 } else { 5 }
        } else {
            0
        };
    }
    total
}

/// serde_json: a `Value` per line (what the crate avoided; for scale).
fn serde(line: &str, only_level: bool) -> usize {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(line) else { return 0 };
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.len(),
        serde_json::Value::Number(n) => n.to_string().len(),
        serde_json::Value::Bool(b) => if *b { 4 } else { 5 },
        _ => 0,
    };
    if only_level {
        return map.get("level").map_or(0, text);
    }
    map.values().map(text).sum()
}

fn bench(c: &mut Criterion) {
    let lines = lines(1000);
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    // The three agree on what they extract.
    for only_level in [false, true] {
        let totals = [ours, sonic, serde].map(|f| lines.iter().map(|l| f(l, only_level)).sum::<usize>());
        assert!(totals[0] == totals[1] && totals[1] == totals[2] || !only_level && totals[0] == totals[1], "{totals:?}");
    }
    let mut g = c.benchmark_group("| json over 1000 lines");
    g.throughput(Throughput::Bytes(bytes as u64));
    for (what, only_level) in [("every field", false), ("only level (parser hints)", true)] {
        for (name, f) in [("wasmhost-logql", ours as fn(&str, bool) -> usize), ("sonic-rs", sonic), ("serde_json Value", serde)] {
            g.bench_function(format!("{what}: {name}"), |b| b.iter(|| lines.iter().map(|l| f(black_box(l), only_level)).sum::<usize>()));
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
