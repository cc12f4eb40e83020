//! `wasmhost logs` answers the seed's two queries on the host's own output.

use std::collections::BTreeMap;

use crate::common::*;
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

    // 2. The seed's `count_over_time(…) by (lang, task_id)` is refused as Loki refuses it,
    //    with the portable form as a hint; that form answers.
    let invalid = r#"count_over_time({job="gateway"} | json | __error__="" [5m]) by (lang, task_id)"#;
    let out = wasmhost().arg("logs").arg(invalid).arg(&log).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("grouping not allowed for count_over_time aggregation"), "{err}");
    let query = r#"sum by (lang, task_id) (count_over_time({job="gateway"} | json | __error__="" [5m]))"#;
    assert!(err.contains(query), "the hint gives the portable form: {err}");
    let out = wasmhost().arg("logs").arg(query).arg(&log).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    for l in all.iter().filter(|l| l["job"] == "gateway") {
        *want.entry(format!("{{lang={:?}, task_id=\"{}\"}}", l["lang"].as_str().unwrap(), l["task_id"])).or_default() += 1;
    }
    let want: Vec<String> = want.into_iter().map(|(k, n)| format!("{k} {n}")).collect();
    assert_eq!(text(&out.stdout).lines().collect::<Vec<_>>(), want);

    // The same as Loki's query API answer, and Loki's data model: without a
    // parser the series are the streams (job, lang, module, stream), not the lines.
    let out = wasmhost().args(["logs", "--output", "json", r#"count_over_time({job="gateway"}[5m])"#]).arg(&log).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["status"], "success");
    assert_eq!(answer["data"]["resultType"], "vector");
    let mut streams: BTreeMap<String, usize> = BTreeMap::new();
    for l in all.iter().filter(|l| l["job"] == "gateway") {
        *streams.entry(format!("{}/{}/{}", l["lang"], l["module"], l["stream"])).or_default() += 1;
    }
    let got: BTreeMap<String, usize> = answer["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let m = &s["metric"];
            assert_eq!(m.as_object().unwrap().len(), 4, "only stream labels: {m}");
            (format!("{}/{}/{}", m["lang"], m["module"], m["stream"]), s["value"][1].as_str().unwrap().parse().unwrap())
        })
        .collect();
    assert_eq!(got, streams);

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
    let deep = format!(r#"{{job="x"}} | {}a="1"{}"#, "(".repeat(20_000), ")".repeat(20_000));
    for (query, says) in [
        (r#"{job="x""#, "expected"),
        ("topk(3, x)", "unexpected IDENTIFIER"),
        (r#"{job=~".*"}"#, "at least one regexp or equality matcher that does not have an empty-compatible value"),
        // Issue #18 item 7: deep nesting is an error, not a stack overflow.
        (deep.as_str(), "nested deeper than 256 levels"),
    ] {
        let out = wasmhost().args(["logs", query, "/dev/null"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{query}");
        let err = text(&out.stderr);
        assert!(err.starts_with("wasmhost: error: query") && err.contains(says), "{query}: {err}");
    }
    // A metric query over lines its pipeline flags fails as Loki's does.
    let dir = tempfile::tempdir().unwrap();
    let lines = dir.path().join("flagged.log");
    std::fs::write(&lines, "{\"ts\":\"2026-11-25T18:00:00Z\",\"job\":\"x\",\"n\":\"abc\"}\n").unwrap();
    let out = wasmhost().args(["logs", r#"count_over_time({job="x"} | json | n > 1 [5m])"#]).arg(&lines).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("pipeline error: 'LabelFilterErr' for series:"), "{}", text(&out.stderr));
    let out = wasmhost().args(["logs", r#"count_over_time({job="x"} | json | n > 1 | __error__="" [5m])"#]).arg(&lines).output().unwrap();
    assert_eq!((out.status.code(), text(&out.stdout)), (Some(0), String::new()));
    let out = wasmhost().args(["logs", r#"{job="x"}"#, "/no/such/file"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/no/such/file"));
}

/// The time and shape flags: `--time` (RFC 3339 or Unix seconds), a range
/// query with `--from`/`--to`/`--step` or `--since`, `--stream-labels`,
/// `--limit` with `--direction`, and the three outputs, with the answers
/// Loki gives for the same lines (a range `[r]` at time t holds (t-r, t]).
#[test]
fn time_range_and_output_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lines.log");
    let line = |sec: u32, job: &str, lang: &str| format!(r#"{{"ts":"2026-11-25T18:00:0{sec}Z","job":"{job}","lang":"{lang}","stream":"stderr","msg":"m{sec}"}}"#);
    let lines = [line(1, "gw", "rust"), line(2, "gw", "go"), line(3, "gw", "rust"), line(4, "batch", "c")];
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let logs = |args: &[&str]| {
        let out = wasmhost().arg("logs").args(args).arg(&file).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let json = |args: &[&str]| -> Value { serde_json::from_str(&logs(&[&["--output", "json"], args].concat())).unwrap() };
    let sum = r#"sum(count_over_time({job="gw"}[2s]))"#;

    // Instant: the window (18:00:00, 18:00:02] holds the first two lines; Unix seconds say the same.
    let at_2 = serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1795629602, "2"]}]}});
    assert_eq!(json(&["--time", "2026-11-25T18:00:02Z", sum]), at_2);
    assert_eq!(json(&["--time", "1795629602", sum]), at_2);
    // Without --time: the newest `ts` of the lines the query selects (18:00:03): (01, 03] holds two.
    assert_eq!(logs(&[sum]), "{} 2\n");

    // Range: steps at :00 (no line: no point, as in Loki), :02 and :04.
    let matrix = serde_json::json!({"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}, "values": [[1795629602, "2"], [1795629604, "1"]]}]}});
    assert_eq!(json(&["--from", "2026-11-25T18:00:00Z", "--to", "2026-11-25T18:00:04Z", "--step", "2s", sum]), matrix);
    assert_eq!(json(&["--since", "4s", "--to", "1795629604", "--step", "2s", sum]), matrix);
    assert_eq!(
        logs(&["--output", "text", "--since", "4s", "--to", "1795629604", "--step", "2s", sum]),
        "{}\n  2026-11-25T18:00:02Z 2\n  2026-11-25T18:00:04Z 1\n"
    );

    // Stream labels decide the series: with only `job`, the gw lines are one stream.
    assert_eq!(logs(&["--stream-labels", "job", "--time", "1795629604", r#"count_over_time({job="gw"}[5m])"#]), "{job=\"gw\"} 3\n");
    assert_eq!(logs(&["--time", "1795629604", r#"count_over_time({job="gw"}[5m])"#]), "{job=\"gw\", lang=\"go\", stream=\"stderr\"} 1\n{job=\"gw\", lang=\"rust\", stream=\"stderr\"} 2\n");

    // Log queries: raw lines in input order; --limit with the direction Loki's API has.
    assert_eq!(logs(&[r#"{job="gw"} |= "m""#]), lines[..3].join("\n") + "\n");
    let first = json(&["--limit", "1", "--direction", "forward", r#"{job="gw"}"#]);
    assert_eq!(first["data"]["result"], serde_json::json!([{"stream": {"job": "gw", "lang": "rust", "stream": "stderr"}, "values": [["1795629601000000000", lines[0]]]}]));
    let newest = json(&["--limit", "1", r#"{job="gw"}"#]);
    assert_eq!(newest["data"]["result"][0]["values"][0][1], lines[2].as_str());
    assert_eq!(logs(&["--output", "text", "--limit", "1", r#"{lang="go"} | json msg | line_format "{{.msg}}!""#]), "2026-11-25T18:00:02Z {job=\"gw\", lang=\"go\", msg=\"m2\", stream=\"stderr\"} m2!\n");

    // Bad flag values are clear errors.
    for (args, says) in [(["--step", "soon"], "--step"), (["--time", "yesterday"], "--time")] {
        let out = wasmhost().arg("logs").args(args).arg(sum).arg(&file).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(text(&out.stderr).contains(says), "{args:?}: {}", text(&out.stderr));
    }
}
