//! `wasmhost run` end to end: the real binary on real guests (issue: host core).

use std::io::Read;
use std::process::Stdio;

use crate::common::*;
use serde_json::Value;

fn p(path: &std::path::Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn stdout_passes_through_byte_exact() {
    let out = run(&["run", p(&guest("c/outputs")), "stdout", "2000"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let expected: String = (1..=2000).map(|i| format!("stdout line {i}\n")).collect();
    assert_eq!(text(&out.stdout), expected);
    // stderr carries only the tagged lines: start and exit events.
    let lines = json_lines(&out.stderr);
    assert_schema_valid(&lines);
    assert_eq!(lines.len(), 2);
}

#[test]
fn every_stderr_line_once_in_order_with_seq_and_one_uuid_v7() {
    let n = 500;
    let out = run(&["run", p(&guest("c/logger")), &n.to_string()]);
    assert_eq!(out.status.code(), Some(0));
    let lines = json_lines(&out.stderr);
    assert_schema_valid(&lines);
    let guest_lines = stderr_lines(&lines);
    assert_eq!(guest_lines.len(), n);
    for (i, line) in guest_lines.iter().enumerate() {
        let expected = format!("line {:08}: the quick brown fox jumps over the lazy dog 0123456789", i + 1);
        assert_eq!(line["msg"], expected.as_str());
        assert_eq!(line["lang"], "c");
        assert_eq!(line["module"], "logger");
        assert_eq!(line["level"], "info");
        assert!(line["task_id"].as_u64().is_some_and(|t| t >= 1), "task_id: {line}");
    }
    // seq counts every record of the instance, events included, from 1 with no gaps.
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=(n as u64 + 2)).collect::<Vec<_>>());
    let id = lines[0]["wasm_instance_id"].as_str().unwrap();
    assert!(lines.iter().all(|l| l["wasm_instance_id"] == id));
    let uuid = uuid::Uuid::parse_str(id).unwrap();
    assert_eq!(uuid.get_version_num(), 7);
    assert_eq!(lines[0]["event"], "instance.start");
    assert_eq!(lines.last().unwrap()["event"], "instance.exit");
}

#[test]
fn start_event_describes_the_module() {
    let module = guest("rust/hello");
    let out = run(&["run", p(&module)]);
    let lines = json_lines(&out.stderr);
    assert_schema_valid(&lines);
    let start = events(&lines, "instance.start")[0];
    let bytes = std::fs::read(&module).unwrap();
    assert_eq!(start["module_size"], bytes.len() as u64);
    assert_eq!(start["module_path"], p(&module));
    let sha = start["module_sha256"].as_str().unwrap();
    assert_eq!(sha.len(), 64);
    assert_eq!(start["lang"], "rust");
    assert_eq!(start["lang_source"], "detected");
    assert!(start["lang_evidence"].as_str().unwrap().contains("rustc"));
    // Debian's rustc links with its clang: the toolchain is rustc.
    assert_eq!(start["toolchain"], "rustc");
    assert!(start["lang_confidence"].as_f64().unwrap() > 0.9);
    let exit = events(&lines, "instance.exit")[0];
    assert_eq!(exit["exit_code"], 0);
    assert!(exit["duration_ms"].as_f64().unwrap() >= 0.0);
}

#[test]
fn two_runs_have_two_instance_ids() {
    let id = |out: std::process::Output| json_lines(&out.stderr)[0]["wasm_instance_id"].as_str().unwrap().to_owned();
    let a = id(run(&["run", p(&guest("c/hello"))]));
    let b = id(run(&["run", p(&guest("c/hello"))]));
    assert_ne!(a, b);
}

#[test]
fn module_type_and_lang_override_detection() {
    // No evidence at all: MODULE_TYPE is used.
    let out = wasmhost().arg("run").arg(fixture("plain.wat")).env("MODULE_TYPE", "rust").output().unwrap();
    let lines = json_lines(&out.stderr);
    assert_schema_valid(&lines);
    assert!(lines.iter().all(|l| l["lang"] == "rust"));
    assert_eq!(lines[0]["lang_source"], "environment");
    // Without it the fixture is unknown.
    let out = run(&["run", p(&fixture("plain.wat"))]);
    assert!(json_lines(&out.stderr).iter().all(|l| l["lang"] == "unknown"));
    // The toolchain's own word beats MODULE_TYPE ...
    let out = wasmhost().arg("run").arg(guest("c/hello")).env("MODULE_TYPE", "rust").output().unwrap();
    assert!(json_lines(&out.stderr).iter().all(|l| l["lang"] == "c"));
    // ... and --lang beats everything.
    let out = wasmhost().args(["run", "--lang", "go"]).arg(guest("c/hello")).env("MODULE_TYPE", "rust").output().unwrap();
    let lines = json_lines(&out.stderr);
    assert!(lines.iter().all(|l| l["lang"] == "go"));
    assert_eq!(lines[0]["lang_source"], "override");
    // A MODULE_TYPE that names no language is an error, not a silent guess.
    let out = wasmhost().arg("run").arg(guest("c/hello")).env("MODULE_TYPE", "cobol").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("MODULE_TYPE"));
}

#[test]
fn exit_codes_propagate() {
    for lang in ["c", "rust", "go", "zig", "cpp", "as"] {
        for code in [0, 1, 33] {
            let out = run(&["run", p(&guest(&format!("{lang}/exit"))), &code.to_string()]);
            assert_eq!(out.status.code(), Some(code), "{lang} exit {code}: {}", text(&out.stderr));
            let lines = json_lines(&out.stderr);
            assert_schema_valid(&lines);
            let exit = events(&lines, "instance.exit");
            assert_eq!(exit.len(), 1);
            assert_eq!(exit[0]["exit_code"], code);
            assert_eq!(exit[0]["level"], if code == 0 { "info" } else { "warn" });
        }
    }
}

#[test]
fn trap_logs_event_with_backtrace_and_exits_134() {
    let out = run(&["run", p(&fixture("trap-named.wat"))]);
    assert_eq!(out.status.code(), Some(134));
    let lines = json_lines(&out.stderr);
    assert_schema_valid(&lines);
    let trap = events(&lines, "instance.trap");
    assert_eq!(trap.len(), 1);
    assert_eq!(trap[0]["level"], "error");
    assert_eq!(trap[0]["trap_code"], "UnreachableCodeReached");
    let backtrace = trap[0]["backtrace"].as_str().unwrap();
    let frames: Vec<&str> = backtrace.lines().collect();
    assert_eq!(frames.len(), 3, "{backtrace}");
    assert!(frames[0].ends_with("trapper!inner") && frames[2].ends_with("trapper!outer"), "{backtrace}");
    // The trap comes before the closing exit event.
    assert_eq!(lines.last().unwrap()["event"], "instance.exit");
    assert_eq!(lines.last().unwrap()["exit_code"], 134);

    for lang in ["c", "cpp", "rust", "zig", "as"] {
        let out = run(&["run", p(&guest(&format!("{lang}/trap")))]);
        assert_eq!(out.status.code(), Some(134), "{lang}: {}", text(&out.stderr));
        let lines = json_lines(&out.stderr);
        assert_schema_valid(&lines);
        assert_eq!(events(&lines, "instance.trap").len(), 1, "{lang}");
        // What the guest wrote before trapping is not lost.
        assert!(stderr_lines(&lines).iter().any(|l| l["msg"].as_str().unwrap().starts_with("about to")), "{lang}");
    }
}

#[test]
fn go_panic_is_an_exit_not_a_trap() {
    let out = run(&["run", p(&guest("go/trap"))]);
    assert_eq!(out.status.code(), Some(2));
    let lines = json_lines(&out.stderr);
    assert!(events(&lines, "instance.trap").is_empty());
    let panic = stderr_lines(&lines).into_iter().find(|l| l["msg"].as_str().unwrap().starts_with("panic:")).expect("panic line");
    assert_eq!(panic["level"], "error");
}

#[test]
fn partial_crlf_and_invalid_utf8_lines() {
    let out = run(&["run", p(&guest("c/outputs")), "partial"]);
    let lines = json_lines(&out.stderr);
    let msgs: Vec<&str> = stderr_lines(&lines).iter().map(|l| l["msg"].as_str().unwrap()).collect();
    assert_eq!(msgs, ["first", "no newline at end"]);

    let out = run(&["run", p(&guest("c/outputs")), "crlf"]);
    let lines = json_lines(&out.stderr);
    let msgs: Vec<&str> = stderr_lines(&lines).iter().map(|l| l["msg"].as_str().unwrap()).collect();
    assert_eq!(msgs, ["one", "two"]);

    let out = run(&["run", p(&guest("c/outputs")), "badutf8"]);
    let lines = json_lines(&out.stderr);
    assert_schema_valid(&lines);
    let guest_lines = stderr_lines(&lines);
    assert_eq!(guest_lines[0]["msg"], "bad \u{fffd}\u{fffd} bytes");
    assert_eq!(guest_lines[0]["invalid_utf8"], true);
    assert_eq!(guest_lines[1]["msg"], "good");
    assert!(guest_lines[1].get("invalid_utf8").is_none());
}

#[test]
fn a_one_mib_line_without_newline_is_split_not_lost() {
    let size = 1 << 20;
    let out = run(&["run", p(&guest("c/outputs")), "longline", &size.to_string()]);
    assert_eq!(out.status.code(), Some(0));
    let lines = json_lines(&out.stderr);
    assert_schema_valid(&lines);
    let pieces = stderr_lines(&lines);
    assert_eq!(pieces.len(), size / 16384);
    let total: usize = pieces.iter().map(|l| l["msg"].as_str().unwrap().len()).sum();
    assert_eq!(total, size);
    assert!(pieces[..pieces.len() - 1].iter().all(|l| l["continued"] == true));
    assert!(pieces.last().unwrap().get("continued").is_none());
    assert!(pieces.iter().all(|l| l["msg"].as_str().unwrap().bytes().all(|b| b == b'x')));

    // The limit is configurable.
    let out = run(&["run", "--max-line-bytes", "1000", p(&guest("c/outputs")), "longline", "2500"]);
    let lens: Vec<usize> = stderr_lines(&json_lines(&out.stderr)).iter().map(|l| l["msg"].as_str().unwrap().len()).collect();
    assert_eq!(lens, [1000, 1000, 500]);
}

/// One clear line naming the file, a non-zero exit, no panic.
fn assert_clean_error(out: &std::process::Output, file: &str, reason: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("wasmhost: error: "), "{err}");
    assert!(err.contains(file), "names the file: {err}");
    assert!(err.contains(reason), "says why ({reason}): {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn broken_modules_give_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.wasm");
    assert_clean_error(&run(&["run", p(&missing)]), "missing.wasm", "cannot read");

    let not_wasm = dir.path().join("notes.wasm");
    std::fs::write(&not_wasm, "these are not the bytes you are looking for").unwrap();
    assert_clean_error(&run(&["run", p(&not_wasm)]), "notes.wasm", "not a valid WebAssembly module");

    let truncated = dir.path().join("truncated.wasm");
    let bytes = std::fs::read(guest("c/hello")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert_clean_error(&run(&["run", p(&truncated)]), "truncated.wasm", "not a valid WebAssembly module");

    let empty = dir.path().join("empty.wasm");
    std::fs::write(&empty, b"").unwrap();
    assert_clean_error(&run(&["run", p(&empty)]), "empty.wasm", "not a valid WebAssembly module");

    assert_clean_error(&run(&["run", p(&fixture("unknown-import.wat"))]), "unknown-import.wat", "launch_missiles");
    assert_clean_error(&run(&["run", p(&fixture("no-start.wat"))]), "_start", "answer");
}

#[test]
fn invoke_calls_another_export() {
    let out = run(&["run", "--invoke", "answer", p(&fixture("no-start.wat"))]);
    assert_eq!(out.status.code(), Some(42));
}

#[test]
fn dir_grants_exactly_what_it_says() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "do not read").unwrap();
    let granted = tempfile::tempdir().unwrap();
    std::fs::write(granted.path().join("data.txt"), "granted contents\n").unwrap();
    let spec = format!("{}::/data", granted.path().display());

    let out = run(&["run", "--dir", &spec, p(&guest("c/cat")), "/data/data.txt"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "granted contents\n");

    let secret = outside.path().join("secret.txt");
    for path in [p(&secret).to_owned(), "/data/../secret.txt".to_owned(), "/etc/passwd".to_owned()] {
        let out = run(&["run", "--dir", &spec, p(&guest("c/cat")), &path]);
        assert_eq!(out.status.code(), Some(1), "{path} must not be readable");
        assert!(out.stdout.is_empty());
        let lines = json_lines(&out.stderr);
        // `error: cannot open …`, its level prefix lifted (docs/log-format.md).
        assert!(stderr_lines(&lines)[0]["msg"].as_str().unwrap().starts_with("cannot open"));
        assert_eq!(stderr_lines(&lines)[0]["lifted"], "prefix");
        assert_eq!(stderr_lines(&lines)[0]["level"], "error");
    }
    // Without --dir nothing is reachable.
    let out = run(&["run", p(&guest("c/cat")), "/data/data.txt"]);
    assert_eq!(out.status.code(), Some(1));

    let out = run(&["run", "--dir", "/no/such/dir", p(&guest("c/cat")), "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/no/such/dir"));
}

#[test]
fn env_and_args_reach_the_guest() {
    let out = wasmhost()
        .args(["run", "--env", "GREETING=hi there", "--env", "FROM_HOST", "--env", "NOT_SET_ANYWHERE"])
        .arg(guest("c/env"))
        .args(["--flag", "two words"])
        .env("FROM_HOST", "inherited")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("arg ") && lines[0].ends_with("env.wasm"));
    assert_eq!(&lines[1..], ["arg --flag", "arg two words", "env GREETING=hi there", "env FROM_HOST=inherited"]);
}

#[test]
fn capture_stdout_tags_it_too() {
    let out = run(&["run", "--capture", "stdout,stderr", p(&guest("c/outputs")), "both"]);
    assert!(out.stdout.is_empty());
    let lines = json_lines(&out.stderr);
    assert_schema_valid(&lines);
    let guest_lines: Vec<(String, String)> = lines
        .iter()
        .filter(|l| l["stream"] != "host")
        .map(|l| (l["stream"].as_str().unwrap().to_owned(), l["msg"].as_str().unwrap().to_owned()))
        .collect();
    let expect = [("stdout", "out 1"), ("stderr", "err 1"), ("stdout", "out 2"), ("stderr", "err 2")];
    assert_eq!(guest_lines, expect.map(|(s, m)| (s.to_owned(), m.to_owned())));
}

#[test]
fn log_file_appends_and_labels_tag_every_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("guests.log");
    for _ in 0..2 {
        let out = run(&["run", "--log-file", p(&log), "--label", "job=gateway", "--label", "tenant=acme", p(&guest("go/hello"))]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(text(&out.stdout), "hello from go\n");
        assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    }
    let lines = json_lines(&std::fs::read(&log).unwrap());
    assert_schema_valid(&lines);
    assert_eq!(lines.len(), 6);
    assert!(lines.iter().all(|l| l["job"] == "gateway" && l["tenant"] == "acme" && l["lang"] == "go"));
    let ids: std::collections::BTreeSet<&str> = lines.iter().map(|l| l["wasm_instance_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2);

    for bad in ["seq=1", "9lives=x", "has-dash=x", "__name__=x", "novalue"] {
        let out = run(&["run", "--label", bad, p(&guest("c/hello"))]);
        assert_eq!(out.status.code(), Some(1), "{bad}");
        assert!(text(&out.stderr).contains("--label"), "{bad}");
    }
}

#[test]
fn text_format_is_readable() {
    let out = run(&["run", "--log-format", "text", p(&guest("c/hello"))]);
    let err = text(&out.stderr);
    assert!(err.lines().any(|l| l.contains("INFO") && l.contains("c/hello") && l.ends_with("stderr: hello from c on stderr")), "{err}");
    assert!(serde_json::from_str::<Value>(err.lines().next().unwrap()).is_err());
}

#[test]
fn closed_stdout_ends_the_run_without_a_panic() {
    // Like `wasmhost run ... | head -1`: the reader goes away early.
    let mut child = wasmhost()
        .args(["run", p(&guest("c/outputs")), "stdout", "200000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = child.wait().unwrap();
    assert!(status.code().is_some(), "ended by a signal: {status:?}");
    assert!(!err.contains("panicked"), "{err}");
    let lines = json_lines(err.as_bytes());
    assert_eq!(lines.last().unwrap()["event"], "instance.exit");
}

#[test]
fn closed_stderr_ends_the_run_without_a_panic() {
    let mut child = wasmhost()
        .args(["run", p(&guest("c/logger")), "100000"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "the guest's exit code, not a crash");
}

#[test]
fn the_compile_cache_is_used_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("hello.wasm");
    std::fs::copy(guest("c/hello"), &module).unwrap();
    let cache = dir.path().join("cache");
    let compile = |extra: &[&str]| {
        let out = wasmhost().env("WASMHOST_CACHE_DIR", &cache).arg("run").args(extra).arg(&module).output().unwrap();
        json_lines(&out.stderr)[0]["compile"].as_str().unwrap().to_owned()
    };
    assert_eq!(compile(&[]), "compiled");
    assert_eq!(compile(&[]), "cache");
    assert_eq!(compile(&["--no-cache"]), "uncached");
    // A different engine setting (fuel metering changes the machine code)
    // is compiled again, and cached beside the first.
    assert_eq!(compile(&["--fuel", "1000000000"]), "compiled");
    assert_eq!(compile(&["--fuel", "1000000000"]), "cache");
    assert_eq!(compile(&[]), "cache");
    // So are epoch checks (on for a timeout, off by default for one instance).
    assert_eq!(compile(&["--timeout", "1m"]), "compiled");
    assert_eq!(compile(&["-W", "epoch-interruption=y"]), "cache");
    assert_eq!(compile(&[]), "cache");
    // A changed module is compiled again.
    let mut bytes = std::fs::read(&module).unwrap();
    bytes.extend_from_slice(b"\0\x05\x04note");
    std::fs::write(&module, bytes).unwrap();
    assert_eq!(compile(&[]), "compiled");
    assert_eq!(compile(&[]), "cache");
}
