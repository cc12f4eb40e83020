//! Lifting guests' own log lines, and the `wasmhost_log` import, end to end:
//! the real binary on real guests of every language (issue 15).

use crate::common::*;
use serde_json::Value;

fn p(path: &std::path::Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Runs a guest; every line must be JSON and valid against the schema.
fn lines_of(args: &[&str]) -> (Option<i32>, Vec<Value>) {
    let out = run(args);
    let lines = json_lines(&out.stderr);
    assert_schema_valid(&lines);
    (out.status.code(), lines)
}

fn guest_lines(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|l| l["stream"] != "host").collect()
}

/// `(lifted, level, msg)` of a line.
fn lml(l: &Value) -> (&str, &str, &str) {
    (l["lifted"].as_str().unwrap_or("-"), l["level"].as_str().unwrap(), l["msg"].as_str().unwrap())
}

#[test]
fn c_prefixes_and_python_style_lines() {
    let (code, lines) = lines_of(&["run", p(&guest("c/formats")), "prefixes", "python"]);
    assert_eq!(code, Some(0));
    let g = guest_lines(&lines);
    let got: Vec<_> = g.iter().map(|l| lml(l)).collect();
    assert_eq!(
        got[..7],
        [
            ("prefix", "error", "disk full"),
            ("prefix", "warn", "low memory"),
            ("prefix", "info", "started"),
            ("prefix", "warn", "slow disk"),
            ("prefix", "error", "link down"),
            ("prefix", "info", "piped"),
            // Prose is not lifted (its first word still sets the level, as before).
            ("-", "error", "Error opening file is prose"),
        ]
    );
    assert_eq!(g[4]["guest_tag"], "net");
    assert_eq!(
        got[7..11],
        [
            ("python", "error", "disk full"),
            ("python", "warn", "slow query"),
            ("python", "info", "started"),
            ("python", "error", "out of memory"),
        ]
    );
    assert_eq!((g[7]["guest_logger"].as_str(), g[8]["guest_logger"].as_str()), (Some("root"), Some("app.db")));
    assert_eq!(g[9]["guest_ts"], "2026-11-25 10:00:00,123");
    assert_eq!(g[10]["guest_logger"], "app");
    // The traceback is one record, and the line after it its own.
    assert_eq!(g.len(), 13);
    let (lifted, level, msg) = lml(g[11]);
    assert_eq!((lifted, level), ("python_traceback", "error"));
    assert_eq!(msg.lines().count(), 6);
    assert!(msg.starts_with("Traceback (most recent call last):\n  File \"app.py\"") && msg.ends_with("ValueError: bad input"));
    assert_eq!(g[11]["guest_exception"], "ValueError");
    assert_eq!(lml(g[12]), ("-", "info", "after the traceback"));
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=lines.len() as u64).collect::<Vec<_>>(), "one seq per record, no gaps");
}

#[test]
fn json_and_logfmt_fields_flatten_as_loki_does() {
    let (_, lines) = lines_of(&["run", p(&guest("c/formats")), "json", "logfmt"]);
    let g = guest_lines(&lines);
    let first = g[0];
    assert_eq!(lml(first), ("json", "warn", "slow query"));
    assert_eq!(first["guest_ts"], "2026-11-25T10:00:00Z");
    assert_eq!(first["guest_db_table"], "users");
    assert_eq!(first["guest_db_stats_ms"], 120);
    assert_eq!(first["guest_cached"], false);
    assert_eq!(first["guest_ratio"], 0.25);
    assert!(first.get("guest_tags").is_none() && first.get("guest_note").is_none(), "arrays and nulls are skipped");

    // The reference: the guest's own line through `| json` (wasmhost-logql
    // implements Loki's rules) gives the same keys, under the prefix.
    let (_, raw) = lines_of(&["run", "--lift", "off", p(&guest("c/formats")), "json"]);
    let raw_line = guest_lines(&raw)[0]["msg"].as_str().unwrap().to_owned();
    let wasmhost_logql::Query::Log(query) = wasmhost_logql::parse(r#"{level="warn"} | json"#).unwrap() else { panic!() };
    let labels = query.run(&raw_line, &["level"]).expect("the raw line passes").labels;
    let mut compared = 0;
    for (key, value) in &labels {
        // `level` is the selector's stream label here, so Loki's `| json` calls
        // the line's own level `level_extracted`.
        if value.is_empty() || ["level", "level_extracted", "msg", "time"].contains(&key.as_str()) {
            continue; // nulls (Loki skips them); the keys that became level, msg, guest_ts
        }
        let lifted = &first[format!("guest_{key}")];
        let text = match lifted {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        assert_eq!(&text, value, "guest_{key}");
        compared += 1;
    }
    assert_eq!(compared, 7, "{labels:?}");
    assert_eq!(first["guest_http_status"], 200);
    assert_eq!(first["guest_user_agent"], "curl");

    assert_eq!(lml(g[1]), ("json", "error", "otel error"));
    assert_eq!(lml(g[2]), ("json", "error", "pino error"));
    assert_eq!(g[3]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(g[3]["span_id"], "00f067aa0ba902b7");
    assert_eq!(lml(g[4]), ("logfmt", "warn", "slow query"));
    assert_eq!((g[4]["guest_db_table"].as_str(), g[4]["guest_ms"].as_str()), (Some("users"), Some("120")));
    assert_eq!(lml(g[5]), ("logfmt", "error", "disk \"sda\" full"));
    assert_eq!(g[5]["guest_ts"], "2026-11-25T10:00:00Z");

}

#[test]
fn spoofing_host_fields_fails() {
    let (_, lines) = lines_of(&["run", "--label", "job=gateway", p(&guest("c/formats")), "spoof"]);
    let start = &lines[0];
    let g = guest_lines(&lines);
    for l in &g {
        assert_eq!(l["wasm_instance_id"], start["wasm_instance_id"]);
        assert_eq!((l["lang"].as_str(), l["module"].as_str(), l["stream"].as_str()), (Some("c"), Some("formats"), Some("stderr")));
        assert_eq!(l["job"], "gateway");
        assert_eq!(l["v"], 1);
        assert!(l.get("event").is_none());
        assert_eq!(l["guest_wasm_instance_id"].as_str().is_some(), true);
        assert_eq!(l["guest_job"], "fake");
    }
    assert_eq!(g[0]["guest_seq"], 1);
    assert_eq!(g[0]["seq"], 2);
    assert_eq!(g[0]["guest_event"], "instance.exit");
    assert_eq!(g[0]["guest_lifted"], "no");
    assert_eq!(g[0]["lifted"], "json");
    assert_eq!(g[0]["guest_v"], 2);
    assert_eq!(g[0]["guest_ts"], "then", "the guest's ts is its time, the host's stays");
    assert_ne!(g[0]["ts"], "then");
    assert_eq!(g[1]["lifted"], "logfmt");
    assert_eq!(g[1]["guest_seq"], "1");
    assert_eq!(events(&lines, "instance.exit").len(), 1, "a guest cannot end its own log");
}

#[test]
fn odd_input_stays_plain_and_whole() {
    let (code, lines) = lines_of(&["run", p(&guest("c/formats")), "odd"]);
    assert_eq!(code, Some(0));
    let g = guest_lines(&lines);
    let msgs: Vec<&str> = g.iter().map(|l| l["msg"].as_str().unwrap()).collect();
    assert_eq!(msgs, ["{\"msg\":\"broken\"", "[1,2,3]", "42", "\"just a string\"", "{\"msg\":\"bad \u{fffd} byte\"}", "", "x=1 is prose"]);
    for (i, l) in g.iter().enumerate() {
        if i == 5 {
            assert_eq!(l["lifted"], "json", "an empty object is a JSON line with nothing in it");
        } else {
            assert!(l.get("lifted").is_none(), "{l}");
        }
    }
    assert_eq!(g[4]["invalid_utf8"], true);

    // A 1 MiB JSON line cut into pieces: every byte kept, no piece lifted.
    let (_, lines) = lines_of(&["run", "--max-line-bytes", "65536", p(&guest("c/formats")), "longjson"]);
    let g = guest_lines(&lines);
    let total: usize = g[..g.len() - 1].iter().map(|l| l["msg"].as_str().unwrap().len()).sum();
    assert_eq!(total, "{\"msg\":\"".len() + (1 << 20) + "\",\"level\":\"error\"}".len());
    assert!(g.iter().all(|l| l.get("lifted").is_none()));
    assert!(g[..g.len() - 2].iter().all(|l| l["continued"] == true));
    assert_eq!(g.last().unwrap()["msg"], "after");
}

#[test]
fn rust_env_logger_tracing_and_a_multi_line_panic() {
    // The guest logs through the real env_logger 0.10 and tracing-subscriber
    // 0.3 (guests/rust/formats/Cargo.lock), in their default formats.
    let (code, lines) = lines_of(&["run", p(&guest("rust/formats")), "panic"]);
    assert_eq!(code, Some(134));
    let g = guest_lines(&lines);
    // The guest's own clock, as each crate writes it: RFC 3339 in seconds
    // (env_logger) and in microseconds (tracing-subscriber), in UTC.
    let shaped = |ts: &Value, fraction: usize| {
        let ts = ts.as_str().unwrap_or_default();
        let digits = ts.bytes().filter(u8::is_ascii_digit).count();
        ts.len() == 20 + fraction + usize::from(fraction > 0) && ts.ends_with('Z') && ts[..19].as_bytes()[10] == b'T' && digits == 14 + fraction
    };
    assert_eq!(lml(g[0]), ("env_logger", "error", "connection lost"));
    assert!(shaped(&g[0]["guest_ts"], 0), "{}", g[0]["guest_ts"]);
    assert_eq!(g[0]["guest_target"], "formats::db");
    assert_eq!(lml(g[1]), ("env_logger", "info", "started"));
    assert_eq!(g[1]["guest_target"], "formats");
    assert_eq!(lml(g[2]), ("tracing", "warn", "slow query"));
    assert!(shaped(&g[2]["guest_ts"], 6), "{}", g[2]["guest_ts"]);
    assert_eq!((g[2]["guest_table"].as_str(), g[2]["guest_ms"].as_str()), (Some("users"), Some("120")));
    assert_eq!(g[2]["guest_target"], "formats::db");
    assert_eq!(lml(g[3]), ("tracing", "error", "upstream failed"));
    assert_eq!((g[3]["guest_spans"].as_str(), g[3]["guest_target"].as_str()), (Some("request{id=7}"), Some("formats::http")));
    assert_eq!(g[3]["guest_status"], "503");
    assert_eq!(lml(g[4]), ("-", "info", "about to panic"));
    // rustc's panic message and its note: one record.
    assert_eq!(g.len(), 6, "{g:?}");
    let (lifted, level, msg) = lml(g[5]);
    assert_eq!((lifted, level), ("rust_panic", "error"));
    assert!(msg.starts_with("thread 'main' panicked at") && msg.contains("index out of bounds"), "{msg}");
    assert!(msg.lines().nth(1).unwrap().starts_with("note: run with `RUST_BACKTRACE=1`"), "{msg}");
    assert_eq!(g[5]["guest_thread"], "main");
    assert_eq!(events(&lines, "instance.trap").len(), 1);
}

#[test]
fn zig_std_log() {
    let (code, lines) = lines_of(&["run", p(&guest("zig/stdlog"))]);
    assert_eq!(code, Some(0));
    let got: Vec<_> = guest_lines(&lines).into_iter().map(|l| (lml(l), l["guest_scope"].as_str().map(str::to_owned))).collect();
    assert_eq!(
        got,
        [
            (("zig", "error", "disk full"), None),
            (("zig", "warn", "low memory: 512 KiB"), None),
            (("zig", "info", "started"), None),
            (("zig", "warn", "slow peer 10.0.0.7"), Some("net".into())),
            (("zig", "debug", "retry 3"), Some("net".into())),
        ]
    );
}

#[test]
fn go_slog_text_json_log_and_a_panic() {
    let (_, text) = lines_of(&["run", p(&guest("go/slog")), "text"]);
    let (_, json) = lines_of(&["run", p(&guest("go/slog")), "json"]);
    let (t, j) = (guest_lines(&text), guest_lines(&json));
    assert_eq!(lml(t[0]), ("logfmt", "warn", "slow query"));
    assert_eq!(lml(j[0]), ("json", "warn", "slow query"));
    // slog's group `req` is `req.id=7` in text and {"req":{"id":7}} in JSON:
    // both are guest_req_id, as `| logfmt` and `| json` would name them.
    assert_eq!(t[0]["guest_req_id"], "7");
    assert_eq!(j[0]["guest_req_id"], 7);
    assert_eq!((t[0]["guest_req_path"].as_str(), j[0]["guest_req_path"].as_str()), (Some("/upper"), Some("/upper")));
    assert!(t[0]["guest_ts"].as_str().unwrap().starts_with("20") && j[0]["guest_ts"].as_str().unwrap().starts_with("20"));
    assert_eq!(lml(t[1]), ("logfmt", "error", "disk full"));
    assert_eq!(lml(t[2]), ("logfmt", "debug", "detail with spaces"));
    assert_eq!(t[2]["guest_note"], "a b c");
    assert_eq!(lml(j[1]), ("json", "info", "custom level"), "slog's INFO+2");
    assert_eq!(lml(j[2]), ("json", "error", "disk full"));
    assert_eq!(j[2]["guest_wasm_instance_id"], "spoofed");
    assert_ne!(j[2]["wasm_instance_id"], "spoofed");

    let (_, log) = lines_of(&["run", p(&guest("go/slog")), "log"]);
    let l = guest_lines(&log);
    assert_eq!(lml(l[0]), ("go_log", "info", "plain message"));
    assert!(l[0]["guest_ts"].as_str().unwrap().contains('/'));
    assert_eq!(lml(l[1]), ("go_log", "error", "prefixed message"));
    assert_eq!(lml(l[2]), ("go_log", "info", "through the default logger"));
    assert_eq!(l[2]["guest_user"], "alice");

    let (code, panic) = lines_of(&["run", p(&guest("go/slog")), "panic"]);
    assert_eq!(code, Some(2));
    let g = guest_lines(&panic);
    assert_eq!(g.len(), 1, "the panic and its goroutine dumps are one record: {g:?}");
    let (lifted, level, msg) = lml(g[0]);
    assert_eq!((lifted, level), ("go_panic", "error"));
    assert!(msg.starts_with("panic: assignment to entry in nil map") && msg.contains("\ngoroutine 1 [running]:\nmain.main()"), "{msg}");
}

#[test]
fn lifting_can_be_turned_off_and_configured() {
    let (_, lines) = lines_of(&["run", "--lift", "off", p(&guest("c/formats")), "prefixes", "json"]);
    let g = guest_lines(&lines);
    assert!(g.iter().all(|l| l.get("lifted").is_none()));
    assert_eq!(g[0]["msg"], "ERROR disk full");
    assert_eq!(g[0]["level"], "error", "the first-word level stays without lifting");

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("routes.toml");
    let out_file = dir.path().join("slow.log");
    std::fs::write(
        &config,
        format!(
            "[sinks.slow]\ntype = \"file\"\npath = {:?}\n\n[[routes]]\nmatch = '{{lifted=\"json\", app_db_table=\"users\"}}'\nsinks = [\"slow\"]\n\n\
             [lift]\nprefix = \"app_\"\n[[lift.rules]]\nmatch = '{{module=\"nothing\"}}'\nenabled = false\n",
            out_file
        ),
    )
    .unwrap();
    let (code, rest) = lines_of(&["run", "--config", p(&config), p(&guest("c/formats")), "json"]);
    assert_eq!(code, Some(0));
    let routed = json_lines(&std::fs::read(&out_file).unwrap());
    assert_eq!(routed.len(), 1, "the route saw the lifted field");
    assert_eq!(routed[0]["app_db_table"], "users", "the prefix came from the config");
    assert_eq!(guest_lines(&rest).len(), 3);

    std::fs::write(&config, "[lift]\n[[lift.rules]]\nmatch = '{module=\"formats\"}'\nenabled = false\n").unwrap();
    let (_, lines) = lines_of(&["run", "--config", p(&config), p(&guest("c/formats")), "json"]);
    assert!(guest_lines(&lines).iter().all(|l| l.get("lifted").is_none()), "a rule turned it off for this module");

    std::fs::write(&config, "[lift]\nprefix = \"9bad\"\n").unwrap();
    let out = run(&["run", "--config", p(&config), p(&guest("c/formats")), "json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("lift prefix \"9bad\""), "{}", text(&out.stderr));
}

#[test]
fn wasmhost_logs_queries_lifted_fields() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("guests.log");
    let out = run(&["run", "--log-file", p(&file), p(&guest("go/slog")), "json"]);
    assert_eq!(out.status.code(), Some(0));
    let out = run(&["logs", r#"{module="slog"} | json | guest_req_id > 5 and level="warn""#, p(&file)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let found = json_lines(&out.stdout);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["msg"], "slow query");
}

#[test]
fn the_import_api_from_c_and_rust() {
    let (code, lines) = lines_of(&["run", "--label", "job=gateway", p(&guest("c/logapi"))]);
    assert_eq!(code, Some(0));
    let g = guest_lines(&lines);
    assert_eq!(g.len(), 3);
    assert_eq!((g[0]["stream"].as_str(), g[0]["lifted"].as_str()), (Some("api"), Some("import")));
    assert_eq!(lml(g[0]), ("import", "info", "hello from c through wasmhost_log"));
    assert_eq!(lml(g[1]), ("import", "warn", "slow query"));
    assert_eq!((g[1]["guest_table"].as_str(), g[1]["guest_ms"].as_str()), (Some("users"), Some("120")));
    assert_eq!(g[1]["guest_user_name"], "alice");
    assert_eq!(g[1]["guest_wasm_instance_id"], "spoofed");
    assert_eq!(g[1]["wasm_instance_id"], lines[0]["wasm_instance_id"]);
    assert_eq!(g[2]["stream"], "stderr");
    let seqs: Vec<u64> = g.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [2, 3, 4], "import records and stderr lines share one order");

    let (code, lines) = lines_of(&["run", p(&guest("rust/logapi"))]);
    assert_eq!(code, Some(0));
    let g = guest_lines(&lines);
    assert_eq!(lml(g[0]), ("import", "info", "hello from rust through wasmhost_log"));
    assert_eq!(lml(g[1]), ("import", "error", "request failed"));
    assert_eq!((g[1]["guest_status"].as_str(), g[1]["guest_route"].as_str(), g[1]["guest_seq"].as_str()), (Some("503"), Some("/upper"), Some("spoofed")));

    let out = run(&["inspect", "--json", p(&guest("c/logapi"))]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["imports_wasmhost_log"], serde_json::json!(["log", "log_kv"]));
    assert!(report["imports_other"].as_array().unwrap().iter().all(|i| i["module"] != "wasmhost_log"));
}

#[test]
fn bad_import_calls_end_that_instance_only() {
    for (guest_name, mode, says) in [
        ("c/logapi", "badptr", "wasmhost_log.log: the message at 0x7ffffff0 with length 64 is outside the guest's memory"),
        ("c/logapi", "badlen", "wasmhost_log.log: the message at"),
        ("c/logapi", "badlevel", "wasmhost_log.log: level 9 is not one of 0 (trace) to 4 (error)"),
        ("c/logapi", "badkv", "wasmhost_log.log_kv: value 0 at 0x7ffffff0 with length 8 is outside"),
        ("rust/logapi", "badptr", "outside the guest's memory"),
    ] {
        let (code, lines) = lines_of(&["run", p(&guest(guest_name)), mode]);
        assert_eq!(code, Some(1), "{guest_name} {mode}");
        let errors = events(&lines, "instance.error");
        assert_eq!(errors.len(), 1, "{guest_name} {mode}");
        assert!(errors[0]["msg"].as_str().unwrap().contains(says), "{guest_name} {mode}: {}", errors[0]["msg"]);
        assert!(!lines.iter().any(|l| l["msg"] == "not reached"));
        assert_eq!(lines.last().unwrap()["event"], "instance.exit");
    }
    // Each of several instances of one host ends on its own, with its own event.
    let (code, lines) = lines_of(&["run", "--instances", "3", p(&guest("c/logapi")), "badptr"]);
    assert_eq!(code, Some(1));
    assert_eq!(events(&lines, "instance.error").len(), 3);
    assert_eq!(events(&lines, "instance.exit").len(), 3);
}

#[test]
fn a_held_block_leaves_on_time_while_the_guest_sleeps() {
    use std::io::BufRead;
    use std::time::Instant;
    // The guest prints a traceback (nothing after it), then sleeps 1.5 s
    // before its next line. The block must arrive within its window
    // (250 ms by default), not with "woke" or at the end.
    let mut child = wasmhost()
        .args(["run", p(&guest("c/formats")), "traceback", "sleep"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running wasmhost");
    let mut got = Vec::new();
    for line in std::io::BufReader::new(child.stderr.take().unwrap()).lines() {
        got.push((Instant::now(), serde_json::from_str::<Value>(&line.unwrap()).expect("a JSON line")));
    }
    let exited = Instant::now();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let lines: Vec<Value> = got.iter().map(|(_, l)| l.clone()).collect();
    assert_schema_valid(&lines);
    let (seen, block) = got.iter().find(|(_, l)| l["lifted"] == "python_traceback").expect("the traceback record");
    assert_eq!(block["msg"].as_str().unwrap().lines().count(), 6, "the whole block, one record");
    assert_eq!(block["guest_exception"], "ValueError");
    let woke = &got.iter().find(|(_, l)| l["msg"] == "woke").expect("the line after the sleep").1;
    assert!(block["seq"].as_u64() < woke["seq"].as_u64());
    // Read by this test well before the guest's next line, not at its end
    // (a loaded machine can delay the reading, never make it early).
    assert!(exited.duration_since(*seen).as_millis() >= 700, "the block came {:?} before the end", exited.duration_since(*seen));
    // The host stamped it about one window after the guest wrote it: its
    // `ts` is well before the next line's.
    let ts = |l: &Value| ms_of_day(l["ts"].as_str().unwrap());
    let apart = (ts(woke) - ts(block)).rem_euclid(86_400_000);
    assert!(apart >= 1000, "block at {}, woke at {}", block["ts"], woke["ts"]);
}

/// Milliseconds into the day of a `ts` the host writes
/// (`2026-11-25T10:00:00.123456789Z`).
fn ms_of_day(ts: &str) -> i64 {
    let time = ts.split('T').nth(1).expect("a T");
    let mut parts = time.trim_end_matches('Z').split(':');
    let h: i64 = parts.next().unwrap().parse().unwrap();
    let m: i64 = parts.next().unwrap().parse().unwrap();
    let s: f64 = parts.next().unwrap().parse().unwrap();
    (h * 3600 + m * 60) * 1000 + (s * 1000.0) as i64
}

#[test]
fn guest_trace_ids_fill_the_trace_context_unless_the_run_has_one() {
    // No traceparent (`wasmhost run`): a guest's valid ids are the record's
    // trace context, lower-cased; invalid ones stay the guest's.
    let (_, lines) = lines_of(&["run", p(&guest("c/formats")), "trace"]);
    let g = guest_lines(&lines);
    let ids = |l: &Value, prefix: &str| (l[format!("{prefix}trace_id")].as_str().map(str::to_owned), l[format!("{prefix}span_id")].as_str().map(str::to_owned));
    let valid = (Some("0af7651916cd43dd8448eb211c80319c".to_owned()), Some("b7ad6b7169203331".to_owned()));
    assert_eq!(lml(g[0]), ("json", "info", "valid ids"));
    assert_eq!((ids(g[0], ""), ids(g[0], "guest_")), (valid.clone(), (None, None)));
    assert_eq!(ids(g[1], ""), (None, None), "an all-zero trace id and a short span id are no trace context");
    assert_eq!(ids(g[1], "guest_"), (Some("0".repeat(32)), Some("b7ad6b716920".to_owned())));
    assert_eq!(lml(g[2]), ("logfmt", "info", "logfmt ids"));
    assert_eq!(ids(g[2], ""), valid);
    assert!(lines.iter().filter(|l| l["stream"] == "host").all(|l| l.get("trace_id").is_none()), "the host's events have none");

    // With a traceparent (the header `wasmhost serve` takes from its
    // caller): the run's trace context is on every record, the guest's own
    // ids (valid or not) stay under the prefix.
    let dir = tempfile::tempdir().unwrap();
    let modules = dir.path().join("modules");
    std::fs::create_dir(&modules).unwrap();
    std::fs::copy(guest("c/formats"), modules.join("formats.wasm")).unwrap();
    let log = dir.path().join("records.log");
    let mut server = wasmhost()
        .args(["serve", "--listen", "127.0.0.1:0", "--modules", p(&modules), "--log-file", p(&log)])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting wasmhost serve");
    let mut said = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(server.stderr.take().unwrap()), &mut said).unwrap();
    let addr = said.strip_prefix("wasmhost serve: listening on ").and_then(|r| r.split_whitespace().next()).unwrap_or_else(|| panic!("{said:?}"));
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut http = std::net::TcpStream::connect(addr).unwrap();
    let request = format!("POST /run/formats?arg=trace HTTP/1.1\r\nhost: x\r\nconnection: close\r\ntraceparent: {traceparent}\r\ncontent-length: 0\r\n\r\n");
    std::io::Write::write_all(&mut http, request.as_bytes()).unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut http, &mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(std::process::Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap().success());
    assert!(server.wait().unwrap().success());
    let records = json_lines(&std::fs::read(&log).unwrap());
    assert_schema_valid(&records);
    let host = (Some("4bf92f3577b34da6a3ce929d0e0e4736".to_owned()), Some("00f067aa0ba902b7".to_owned()));
    let instance: Vec<&Value> = records.iter().filter(|r| r["module"] == "formats").collect();
    assert_eq!(instance.len(), 5, "start, three lines, exit");
    assert!(instance.iter().all(|r| ids(r, "") == host), "{instance:?}");
    let g = guest_lines(&records);
    assert_eq!((lml(g[0]), ids(g[0], "guest_")), (("json", "info", "valid ids"), (Some("0AF7651916CD43DD8448EB211C80319C".to_owned()), Some("B7AD6B7169203331".to_owned()))));
    assert_eq!(ids(g[1], "guest_"), (Some("0".repeat(32)), Some("b7ad6b716920".to_owned())));
    assert_eq!(ids(g[2], "guest_"), valid, "logfmt values as written");
}

#[test]
fn python_logging_and_its_traceback() {
    // CPython's own `logging` (a componentize-py guest): basicConfig's
    // default format, two asctime forms, logging.exception's traceback.
    let (code, lines) = lines_of(&["run", p(&guest("component/python-pylog"))]);
    assert_eq!(code, Some(0));
    let g = guest_lines(&lines);
    let got: Vec<_> = g.iter().map(|l| lml(l)).collect();
    assert_eq!(
        got[..5],
        [
            ("python", "error", "disk full"),
            ("python", "warn", "slow query"),
            ("python", "info", "started"),
            ("python", "error", "out of memory"),
            ("python", "error", "parse failed"),
        ]
    );
    let loggers: Vec<_> = g[..5].iter().map(|l| l["guest_logger"].as_str()).collect();
    assert_eq!(loggers, [Some("root"), Some("app.db"), None, Some("app"), Some("root")]);
    // asctime: `2026-11-28 17:13:27,614`, the guest's clock.
    for l in [g[2], g[3]] {
        let ts = l["guest_ts"].as_str().unwrap();
        assert!(ts.len() == 23 && ts.as_bytes()[10] == b' ' && ts.as_bytes()[19] == b',', "{ts}");
    }
    let (lifted, level, msg) = lml(g[5]);
    assert_eq!((lifted, level), ("python_traceback", "error"));
    assert!(msg.starts_with("Traceback (most recent call last):\n  File ") && msg.ends_with("ValueError: invalid literal for int() with base 10: 'not a number'"), "{msg}");
    assert_eq!(g[5]["guest_exception"], "ValueError");
    assert_eq!(lml(g[6]), ("-", "info", "after the traceback"));
    assert_eq!(g.len(), 7);
}
