//! Limits and concurrency through `wasmhost run` (issue: embedding API).

use std::collections::{BTreeMap, BTreeSet};

use crate::common::*;
use serde_json::Value;

fn p(path: &std::path::Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn an_endless_loop_ends_at_the_timeout() {
    for flags in [vec!["--timeout", "300ms"], vec!["-W", "timeout=300ms"]] {
        let started = std::time::Instant::now();
        let out = wasmhost().arg("run").args(&flags).arg(guest("c/spin")).output().unwrap();
        let elapsed = started.elapsed();
        assert_eq!(out.status.code(), Some(134), "{}", text(&out.stderr));
        assert!(elapsed.as_millis() < 5000, "stopped promptly: {elapsed:?}");
        let lines = json_lines(&out.stderr);
        assert_schema_valid(&lines);
        let timeout = events(&lines, "instance.timeout");
        assert_eq!(timeout.len(), 1);
        assert_eq!(timeout[0]["timeout_ms"], 300.0);
        let elapsed_ms = timeout[0]["elapsed_ms"].as_f64().unwrap();
        assert!((300.0..2000.0).contains(&elapsed_ms), "{elapsed_ms}");
        assert_eq!(lines[0]["timeout_ms"], 300.0, "the start event states the limit");
        assert!(events(&lines, "instance.trap").is_empty());
    }
}

#[test]
fn fuel_runs_out_and_is_counted() {
    let out = run(&["run", "--fuel", "1000000", p(&guest("c/spin"))]);
    assert_eq!(out.status.code(), Some(134));
    let lines = json_lines(&out.stderr);
    assert_schema_valid(&lines);
    let event = events(&lines, "instance.out_of_fuel");
    assert_eq!(event.len(), 1);
    assert_eq!(event[0]["fuel_limit"], 1_000_000);

    // Enough fuel: the guest finishes and the exit event says what it burned.
    let out = run(&["run", "-W", "fuel=100000000", p(&guest("c/hello"))]);
    assert_eq!(out.status.code(), Some(0));
    let lines = json_lines(&out.stderr);
    let used = events(&lines, "instance.exit")[0]["fuel_used"].as_u64().unwrap();
    assert!(used > 0 && used < 100_000_000, "{used}");
}

#[test]
fn memory_growth_beyond_the_limit_is_refused_and_logged() {
    let out = run(&["run", "--max-memory", "4MiB", p(&guest("c/grow"))]);
    assert_eq!(out.status.code(), Some(3), "the guest saw malloc fail: {}", text(&out.stderr));
    let lines = json_lines(&out.stderr);
    assert_schema_valid(&lines);
    let event = events(&lines, "instance.memory_limit");
    assert_eq!(event.len(), 1, "one event however often it retries");
    assert_eq!(event[0]["limit"], 4 << 20);
    assert!(event[0]["requested"].as_u64().unwrap() > 4 << 20);
    let msg = stderr_lines(&lines)[0]["msg"].as_str().unwrap().to_owned();
    assert!(msg.starts_with("malloc failed after"), "{msg}"); // `error: ` lifted as the level
    // Without the limit the same guest gets what it asks for.
    let out = run(&["run", p(&guest("c/grow")), "32"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn bad_limit_flags_are_clear_errors() {
    for flags in [["--timeout", "soon"], ["--max-memory", "lots"], ["-W", "speed=fast"], ["--instances", "0"]] {
        let out = wasmhost().arg("run").args(flags).arg(guest("c/hello")).output().unwrap();
        assert_ne!(out.status.code(), Some(0), "{flags:?}");
        assert!(!text(&out.stderr).contains("panicked"), "{flags:?}");
    }
}

#[test]
fn a_thousand_concurrent_instances_keep_their_lines_apart() {
    let n_lines = 20;
    let out = run(&["run", "--instances", "1000", p(&guest("c/logger")), &n_lines.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", &text(&out.stderr)[..2000.min(out.stderr.len())]);
    let lines = json_lines(&out.stderr);
    let mut by_instance: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for line in &lines {
        by_instance.entry(line["wasm_instance_id"].as_str().unwrap().to_owned()).or_default().push(line);
    }
    assert_eq!(by_instance.len(), 1000);
    let mut task_ids = BTreeSet::new();
    for (id, lines) in &by_instance {
        assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
        let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, (1..=n_lines + 2).collect::<Vec<u64>>(), "{id}: every seq once, in order");
        let msgs: Vec<&str> = lines.iter().filter(|l| l["stream"] == "stderr").map(|l| l["msg"].as_str().unwrap()).collect();
        let expected: Vec<String> =
            (1..=n_lines).map(|i| format!("line {i:08}: the quick brown fox jumps over the lazy dog 0123456789")).collect();
        assert_eq!(msgs, expected, "{id}: its own lines, none of another's");
        let tasks: BTreeSet<u64> = lines.iter().map(|l| l["task_id"].as_u64().unwrap()).collect();
        assert_eq!(tasks.len(), 1, "{id}: one task");
        task_ids.extend(tasks);
    }
    // All 1000 tasks were alive at once, so their ids are distinct.
    assert_eq!(task_ids.len(), 1000);
}
