//! Parse speed: every query of the conformance suite (valid and invalid
//! ones alike, as `wasmhost logs` and the router meet them), and one query
//! nested to just under the depth bound. Figures go in BENCHMARKS.md,
//! "LogQL parser (issue 13)".

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use wasmhost_logql::{parse, MAX_DEPTH};

fn conformance_queries() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the conformance directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut queries = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("a readable case file");
        let cases: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        for case in cases.as_array().into_iter().flatten() {
            if let Some(q) = case["query"].as_str() {
                queries.push(q.to_owned());
            }
        }
    }
    queries
}

fn bench(c: &mut Criterion) {
    let queries = conformance_queries();
    c.bench_function(&format!("parse the {} conformance queries", queries.len()), |b| {
        b.iter(|| {
            for q in &queries {
                let _ = black_box(parse(black_box(q)));
            }
        })
    });
    let n = MAX_DEPTH / 2 - 2;
    let deep = format!(r#"sum(count_over_time({{job="x"}} | {}a="1"{} [5m]))"#, "(".repeat(n), ")".repeat(n));
    c.bench_function(&format!("parse a label filter nested {n} deep"), |b| b.iter(|| parse(black_box(&deep)).expect("valid")));
}

criterion_group!(benches, bench);
criterion_main!(benches);
