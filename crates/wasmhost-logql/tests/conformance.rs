//! The conformance suite: every file in `tests/conformance/` holds cases —
//! input lines, a query, and the answer Loki's query API gives for them
//! (derived from Loki's documented semantics), or the error Loki gives.
//! Each case runs through [`wasmhost_logql::run_query`] and must match
//! exactly.

use serde_json::Value;
use wasmhost_logql::{metric_json, parse, parse_rfc3339, run_query, Direction, MetricEvaluator, Options, Query, Steps};

fn time(v: &Value) -> i128 {
    parse_rfc3339(v.as_str().expect("times are RFC 3339 strings")).expect("a valid time")
}

fn run_case(file: &str, case: &Value) -> Result<(), String> {
    let name = format!("{file}: {}", case["name"].as_str().unwrap_or("?"));
    let query = case["query"].as_str().ok_or(format!("{name}: no query"))?;
    let lines: Vec<String> = case["lines"].as_array().map(|a| a.iter().map(|l| match l {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }).collect()).unwrap_or_default();
    let stream_labels: Vec<String> = match case.get("stream_labels") {
        Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
        _ => ["job", "lang", "module", "stream"].map(String::from).to_vec(),
    };
    let steps = if let Some(t) = case.get("time") {
        Some(Steps::Instant(Some(time(t))))
    } else if let Some(start) = case.get("start") {
        let step = wasmhost_logql::parse_duration(case["step"].as_str().unwrap_or("1m")).unwrap_or(60.0);
        Some(Steps::Range { start: time(start), end: time(&case["end"]), step: (step * 1e9) as i128 })
    } else {
        None
    };
    let window = case.get("start").map(|s| (time(s), time(&case["end"])));
    let opts = Options {
        stream_labels,
        steps,
        window: if matches!(steps, Some(Steps::Range { .. })) { window } else { None },
        limit: case.get("limit").and_then(Value::as_u64).map(|n| n as usize),
        direction: if case.get("direction").and_then(Value::as_str) == Some("forward") { Direction::Forward } else { Direction::Backward },
    };
    let got = parse(query).map_err(|e| e.to_string()).and_then(|q| run_query(&q, lines.iter().map(String::as_str), &opts).map_err(|e| e.to_string()));
    match (got, case.get("error"), case.get("expect")) {
        (Err(e), Some(Value::String(want)), _) => {
            if e.contains(want.as_str()) {
                Ok(())
            } else {
                Err(format!("{name}\n  query: {query}\n  error: {e}\n  wanted an error containing: {want}"))
            }
        }
        (Ok(v), None, Some(want)) => {
            if &v != want {
                return Err(format!("{name}\n  query: {query}\n  got:  {v}\n  want: {want}"));
            }
            // The answer is the same when the lines are split between evaluators
            // (as `wasmhost logs` does on several cores) and merged.
            if let Ok(Query::Metric(m)) = parse(query) {
                let new = || MetricEvaluator::new(m.clone(), opts.steps.unwrap_or(Steps::Instant(None)), opts.stream_labels.clone());
                let (mut a, mut b) = (new(), new());
                if a.mergeable() {
                    for (i, line) in lines.iter().enumerate() {
                        if i % 2 == 0 { a.push(line) } else { b.push(line) }
                    }
                    a.merge(b);
                    let merged = a.finish().map(|r| metric_json(&r)).map_err(|e| e.to_string());
                    if merged.as_ref() != Ok(want) {
                        return Err(format!("{name} (split and merged)\n  query: {query}\n  got:  {merged:?}\n  want: {want}"));
                    }
                }
            }
            Ok(())
        }
        (got, _, _) => Err(format!("{name}\n  query: {query}\n  got: {got:?}")),
    }
}

#[test]
fn conformance_suite() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
    files.sort();
    let mut failures = Vec::new();
    let mut count = 0;
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let cases: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        for case in cases.as_array().unwrap() {
            count += 1;
            if let Err(f) = run_case(&file, case) {
                failures.push(f);
            }
        }
    }
    assert!(count >= 50, "only {count} cases");
    assert!(failures.is_empty(), "{} of {count} cases failed:\n{}", failures.len(), failures.join("\n"));
}
