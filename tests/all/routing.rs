//! Routing by LogQL selectors, the bounded pipeline's policies, and shutdown
//! on SIGTERM, through `wasmhost run --config`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::common::*;
use serde_json::Value;

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn read_lines(path: &Path) -> Vec<Value> {
    if !path.exists() {
        return Vec::new();
    }
    json_lines(&std::fs::read(path).unwrap())
}

#[test]
fn routes_split_a_mixed_run_into_the_right_files_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = d.join("routes.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[sinks.events]
type = "file"
path = "{events}"
[sinks.rust]
type = "file"
path = "{rust}"
[sinks.errors]
type = "file"
path = "{errors}"

[[routes]]
match = '{{event=~"instance\\.(trap|timeout)"}}'
sinks = ["events"]

[[routes]]
match = '{{level="error"}}'
sinks = ["errors"]
continue = true

[[routes]]
match = '{{lang="rust", stream="stderr"}}'
sinks = ["rust"]

[[routes]]
match = '{{lang=~".+", lang!="go"}} |= "panicked"'
sinks = ["errors"]
"#,
            events = p(&d.join("events.log")),
            rust = p(&d.join("rust.log")),
            errors = p(&d.join("errors.log"))
        ),
    )
    .unwrap();
    let default = d.join("default.log");
    for guest_name in ["rust/logger", "rust/trap", "go/hello", "c/trap", "c/hello"] {
        let out = wasmhost()
            .args(["run", "--config", p(&config), "--log-file", p(&default), p(&guest(guest_name)), "3"])
            .output()
            .unwrap();
        assert!(out.status.code().is_some(), "{guest_name}");
    }
    let files = ["events.log", "rust.log", "errors.log", "default.log"].map(|f| (f, read_lines(&d.join(f))));
    for (name, lines) in &files {
        assert_schema_valid(lines);
        assert!(!lines.is_empty(), "{name} got lines");
    }
    // Each file holds what its route selects.
    let [(_, events), (_, rust), (_, errors), (_, default_lines)] = &files;
    assert!(events.iter().all(|l| l["event"] == "instance.trap"));
    assert_eq!(events.len(), 2, "the Rust and C traps");
    assert!(rust.iter().all(|l| l["lang"] == "rust" && l["stream"] == "stderr"));
    assert!(errors.iter().all(|l| l["level"] == "error"));
    assert!(default_lines.iter().all(|l| l["level"] != "error" && !(l["lang"] == "rust" && l["stream"] == "stderr")));
    // Every line exactly once, except that errors also went on (continue).
    let key = |l: &Value| (l["wasm_instance_id"].as_str().unwrap().to_owned(), l["seq"].as_u64().unwrap());
    let mut seen = BTreeSet::new();
    for (name, lines) in &files {
        for l in lines {
            let dup = !seen.insert(key(l));
            let continued_error = *name != "errors.log" && l["level"] == "error" && l["event"] != "instance.trap";
            assert!(!dup || continued_error || errors.iter().any(|e| key(e) == key(l)), "{name}: {l}");
        }
    }
    // Nothing is missing: every instance's seq runs 1..=last.
    let ids: BTreeSet<String> = seen.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids.len(), 5);
    for id in ids {
        let seqs: Vec<u64> = seen.iter().filter(|(i, _)| *i == id).map(|(_, s)| *s).collect();
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "{id}");
    }
}

/// Runs the C logger for `n` lines with a config whose only sink is stdout,
/// read by a deliberately slow reader that pauses `pause` after every
/// 256 KiB. Returns the lines read and the peak RSS (kB) sampled while it ran.
fn through_slow_sink(config_body: &str, n: u64, pause: Duration) -> (Vec<String>, u64) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("slow.toml");
    std::fs::write(&config, config_body).unwrap();
    let mut child = wasmhost()
        .args(["run", "--config", p(&config), "--log-file", "/dev/null", p(&guest("c/logger")), &n.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut reader = BufReader::with_capacity(1 << 16, child.stdout.take().unwrap());
    let (mut lines, mut peak_kb, mut chunk) = (Vec::new(), 0u64, 0usize);
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        chunk += line.len();
        lines.push(std::mem::take(&mut line));
        if chunk > 256 << 10 {
            // Slow: 256 KiB, then a pause.
            chunk = 0;
            std::thread::sleep(pause);
            if let Ok(s) = std::fs::read_to_string(&status) {
                if let Some(kb) = s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()) {
                    peak_kb = peak_kb.max(kb);
                }
            }
        }
    }
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    (lines, peak_kb)
}

#[test]
fn a_million_lines_through_a_slow_sink_all_arrive_in_order_with_bounded_memory() {
    let n = 1_000_000;
    let config = "default_sinks = [\"out\"]\n[sinks.out]\ntype = \"stdout\"\nqueue = 4096\n";
    let (lines, peak_kb) = through_slow_sink(config, n, Duration::from_millis(2));
    assert_eq!(lines.len() as u64, n + 2, "every line and both events");
    for (expected, line) in (1u64..).zip(&lines) {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["seq"], expected);
        if v["stream"] == "stderr" {
            assert!(v["msg"].as_str().unwrap().starts_with(&format!("line {:08}:", expected - 1)));
        }
    }
    // The guest waited for the sink instead of the host buffering 250 MB.
    assert!(peak_kb > 0 && peak_kb < 200 * 1024, "peak RSS {peak_kb} kB");
}

#[test]
fn the_drop_policy_counts_exactly_what_it_drops() {
    let n = 300_000;
    let config = "default_sinks = [\"out\"]\n[sinks.out]\ntype = \"stdout\"\npolicy = \"drop\"\nqueue = 64\n";
    // ~25 MB/s: far slower than any guest writing 300k lines, so the
    // 64-record queue must overflow.
    let (lines, _) = through_slow_sink(config, n, Duration::from_millis(10));
    let records: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_schema_valid(&records);
    let dropped: u64 = records.iter().filter(|r| r["event"] == "pipeline.dropped").map(|r| r["dropped"].as_u64().unwrap()).sum();
    let delivered = records.iter().filter(|r| r["event"] != "pipeline.dropped").count() as u64;
    assert!(dropped > 0, "the slow sink made the pipeline drop");
    assert_eq!(delivered + dropped, n + 2, "delivered + dropped = all");
    // What arrived is in order, and the pipeline's events have their own seq.
    let seqs: Vec<u64> = records.iter().filter(|r| r["module"] != "wasmhost").map(|r| r["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let pipeline_seqs: Vec<u64> = records.iter().filter(|r| r["module"] == "wasmhost").map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(pipeline_seqs, (1..=pipeline_seqs.len() as u64).collect::<Vec<_>>());
}

#[test]
fn sigterm_stops_the_guest_and_keeps_everything_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.log");
    let child = wasmhost()
        .args(["run", "--log-file", p(&log), p(&guest("c/logger")), "1000000000"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let killed = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143));
    let lines = read_lines(&log);
    assert!(lines.len() > 1000, "it ran: {}", lines.len());
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "no gap: every accepted line is there");
    let n = lines.len();
    assert_eq!(lines[n - 2]["event"], "instance.stopped");
    assert_eq!(lines[n - 1]["event"], "instance.exit");
}

#[test]
fn bad_configs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let deep_route = format!("[[routes]]\nmatch = '{{lang=\"rust\"}} | {}a=\"1\"{}'\nsinks = [\"default\"]\n", "(".repeat(10_000), ")".repeat(10_000));
    for (body, says) in [
        ("[sinks.x]\ntype = \"carrier-pigeon\"\n", "carrier-pigeon"),
        ("[[routes]]\nmatch = 'count_over_time({lang=\"rust\"}[5m])'\nsinks = [\"default\"]\n", "not a metric"),
        ("[[routes]]\nmatch = '{lang=\"rust\"}'\nsinks = [\"nowhere\"]\n", "nowhere"),
        ("[[routes]]\nmatch = '{lang=rust}'\nsinks = [\"default\"]\n", "route"),
        ("[sinks.f]\ntype = \"file\"\n", "path"),
        ("unknown_key = 1\n", "unknown_key"),
        // Issue #18 item 7: deep nesting in a route is an error, not a stack overflow.
        (deep_route.as_str(), "nested deeper than 256 levels"),
    ] {
        let config = dir.path().join("bad.toml");
        std::fs::write(&config, body).unwrap();
        let out = wasmhost().args(["run", "--config", p(&config), p(&guest("c/hello"))]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{body}");
        let err = text(&out.stderr);
        assert!(err.starts_with("wasmhost: error: ") && err.contains("bad.toml") && err.contains(says), "{body}: {err}");
    }
}

#[test]
fn file_sinks_rotate_by_size_keeping_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let config = dir.path().join("rotate.toml");
    std::fs::write(
        &config,
        format!("default_sinks = [\"app\"]\n[sinks.app]\ntype = \"file\"\npath = \"{}\"\nmax_bytes = 65536\nkeep = 2\n", p(&log)),
    )
    .unwrap();
    let out = wasmhost().args(["run", "--config", p(&config), p(&guest("c/logger")), "5000"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let rotated = |n: usize| dir.path().join(format!("app.log.{n}"));
    assert!(rotated(1).exists() && rotated(2).exists(), "rotated twice at least");
    assert!(!rotated(3).exists(), "only `keep` old files are kept");
    // Every file holds whole, valid lines, within the size limit (one
    // buffered write may land on top of a file just under it).
    let mut seqs = Vec::new();
    for path in [rotated(2), rotated(1), log.clone()] {
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size <= 2 * 65536, "{}: {size} bytes", path.display());
        let lines = json_lines(&std::fs::read(&path).unwrap());
        assert_schema_valid(&lines);
        seqs.extend(lines.iter().map(|l| l["seq"].as_u64().unwrap()));
    }
    // Oldest to newest, the kept files are one contiguous tail of the run.
    let last = *seqs.last().unwrap();
    assert_eq!(last, 5002, "the exit event is in the current file");
    assert_eq!(seqs, ((last - seqs.len() as u64 + 1)..=last).collect::<Vec<_>>());
}
