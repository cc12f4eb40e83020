//! `wasmhost logs` answers the seed's two queries on the host's own output.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::Value;

#[test]
fn the_seed_queries_run_as_written_on_real_output() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("gateway.log");
    for (guest_name, args) in [("rust/logger", "3"), ("c/logger", "2"), ("rust/hello", ""), ("go/hello", "")] {
        let mut cmd = wasmhost();
        cmd.args(["run", "--label", "job=gateway", "--log-file"]).arg(&log).arg(guest(guest_name));
        if !args.is_empty() {
            cmd.arg(args);
        }
        assert_eq!(cmd.output().unwrap().status.code(), Some(0));
    }
    // Noise the queries must not trip on: another job, and a line that is not JSON.
    let out = wasmhost().args(["run", "--label", "job=batch", "--log-file"]).arg(&log).arg(guest("rust/hello")).output().unwrap();
    assert!(out.status.success());
    let mut written = std::fs::read_to_string(&log).unwrap();
    written.push_str("not json at all\n");
    std::fs::write(&log, &written).unwrap();
    let all = json_lines(&written.lines().filter(|l| l.starts_with('{')).collect::<Vec<_>>().join("\n").into_bytes());

    // 1. {job="gateway"} | json | lang="rust" | wasm_instance_id="<id>"
    let rust_logger_id = all
        .iter()
        .find(|l| l["lang"] == "rust" && l["module"] == "logger")
        .unwrap()["wasm_instance_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let query = format!(r#"{{job="gateway"}} | json | lang="rust" | wasm_instance_id="{rust_logger_id}""#);
    let out = wasmhost().arg("logs").arg(&query).arg(&log).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let got = json_lines(&out.stdout);
    let expected: Vec<&Value> = all.iter().filter(|l| l["wasm_instance_id"] == rust_logger_id.as_str()).collect();
    assert_eq!(got.len(), 5, "start, 3 lines, exit");
    assert_eq!(got.iter().collect::<Vec<_>>(), expected);

    // 2. count_over_time({job="gateway"} | json | __error__="" [5m]) by (lang, task_id)
    let query = r#"count_over_time({job="gateway"} | json | __error__="" [5m]) by (lang, task_id)"#;
    let out = wasmhost().arg("logs").arg(query).arg(&log).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    for l in all.iter().filter(|l| l["job"] == "gateway") {
        *want.entry(format!("{{lang={:?}, task_id=\"{}\"}}", l["lang"].as_str().unwrap(), l["task_id"])).or_default() += 1;
    }
    let want: Vec<String> = want.into_iter().map(|(k, n)| format!("{k} {n}")).collect();
    assert_eq!(text(&out.stdout).lines().collect::<Vec<_>>(), want);

    // Lines from stdin, and a line_format.
    let out = wasmhost()
        .args(["logs", r#"{job="batch"} | json | event="instance.exit" | line_format "{{.module}} exited {{.exit_code}}""#])
        .stdin(std::fs::File::open(&log).unwrap())
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "hello exited 0\n");
}

#[test]
fn bad_queries_are_clear_errors() {
    for (query, says) in [(r#"{job="x"} | logfmt"#, "logfmt"), (r#"{job="x""#, "expected"), ("topk(3, x)", "topk")] {
        let out = wasmhost().args(["logs", query, "/dev/null"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{query}");
        let err = text(&out.stderr);
        assert!(err.starts_with("wasmhost: error: query") && err.contains(says), "{query}: {err}");
    }
    let out = wasmhost().args(["logs", r#"{job="x"}"#, "/no/such/file"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/no/such/file"));
}
