//! `wasmhost test` on the project's suites and on suites made to fail.

use std::path::{Path, PathBuf};

use crate::common::*;
use serde_json::Value;

fn suites_dir() -> PathBuf {
    let dir = root().join("guests/build/suites");
    assert!(dir.is_dir(), "{} is missing: run `make suites`", dir.display());
    dir
}

fn count_modules(dir: &Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && path.extension().is_none_or(|e| e != "dir") {
            n += count_modules(&path);
        } else if path.extension().is_some_and(|e| e == "wasm") {
            n += 1;
        }
    }
    n
}

#[test]
fn the_project_suites_pass_with_reports_and_tagged_logs() {
    let out_dir = tempfile::tempdir().unwrap();
    let (junit, json, log) = (out_dir.path().join("junit.xml"), out_dir.path().join("results.jsonl"), out_dir.path().join("tests.log"));
    let out = wasmhost()
        .arg("test")
        .arg(suites_dir())
        .arg("--junit")
        .arg(&junit)
        .arg("--json")
        .arg(&json)
        .arg("--log-file")
        .arg(&log)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let n = count_modules(&suites_dir());
    assert!(n >= 38, "{n} tests");
    assert_eq!(stdout.lines().last().unwrap(), format!("{n} passed, 0 failed, 0 skipped"));

    // JUnit: well-formed, one suite per directory, every test there.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed JUnit XML");
    let suites: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name("testsuite")).map(|n| n.attribute("name").unwrap()).collect();
    for expected in ["guests-c", "guests-cpp", "guests-rust", "guests-go", "guests-zig", "guests-as", "wasi-c", "wasi-rust"] {
        assert!(suites.contains(&expected), "{expected} in {suites:?}");
    }
    assert_eq!(doc.descendants().filter(|n| n.has_tag_name("testcase")).count(), n);
    assert_eq!(doc.descendants().filter(|n| n.has_tag_name("failure")).count(), 0);

    // JSON: one object per test, with its instance id; its lines carry the test label.
    let results: Vec<Value> = json_lines(&std::fs::read(&json).unwrap());
    assert_eq!(results.len(), n);
    let logs = json_lines(&std::fs::read(&log).unwrap());
    assert_schema_valid(&logs);
    for r in &results {
        assert_eq!(r["outcome"], "passed", "{r}");
        let id = r["wasm_instance_id"].as_str().unwrap();
        let lines: Vec<&Value> = logs.iter().filter(|l| l["wasm_instance_id"] == id).collect();
        assert!(lines.len() >= 2, "{r}: its start and exit events are in the log");
        assert!(lines.iter().all(|l| l["test"] == r["name"] && l["suite"] == r["suite"]));
    }
    // The conformance suite cleaned up after itself.
    for lang in ["c", "rust"] {
        let dir = suites_dir().join(format!("wasi-{lang}/fs.dir"));
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["fixture.txt"], "{}", dir.display());
    }
}

/// A suite of real guests whose specs are partly wrong.
fn failing_suite() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("manifest.json"), r#"{ "name": "broken" }"#).unwrap();
    let copy = |guest_name: &str, test: &str, spec: &str| {
        std::fs::copy(guest(guest_name), d.join(format!("{test}.wasm"))).unwrap();
        std::fs::write(d.join(format!("{test}.json")), spec).unwrap();
    };
    copy("c/hello", "good", r#"{ "stdout": "hello from c\n" }"#);
    copy("c/hello", "wrong_stdout", r#"{ "stdout": "hello from c\nand more\n" }"#);
    copy("c/exit", "wrong_exit", r#"{ "args": ["3"] }"#);
    copy("c/spin", "hangs", "{}");
    copy("c/outputs", "control_chars", "{ \"args\": [\"badutf8\"], \"stderr\": \"<&>\\u0001\\\"\" }");
    copy("c/cat", "cleanup", r#"{ "args": ["work.dir/input.txt"], "dirs": ["work.dir"], "stdout": "in\n" }"#);
    std::fs::create_dir_all(d.join("work.dir/stale.cleanup/inner")).unwrap();
    std::fs::write(d.join("work.dir/old.cleanup"), "x").unwrap();
    std::fs::write(d.join("work.dir/input.txt"), "in\n").unwrap();
    dir
}

#[test]
fn failures_are_reported_with_their_reason() {
    let suite = failing_suite();
    let junit = suite.path().join("report.xml");
    let out = wasmhost()
        .args(["test", "--timeout", "300ms", "-j", "2", "--log-file", "/dev/null", "--junit"])
        .arg(&junit)
        .arg(suite.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let fail = |name: &str| stdout.lines().find(|l| l.starts_with(&format!("FAIL broken/{name}: "))).unwrap_or_else(|| panic!("{name}: {stdout}")).to_owned();
    assert!(fail("wrong_stdout").contains(r#"stdout line 2: expected "and more", got """#), "{stdout}");
    assert!(fail("wrong_exit").contains("exit code 3, expected 0"));
    assert!(fail("hangs").contains("timed out after 0.3 s"));
    assert!(fail("control_chars").contains("stderr line 1"));
    assert!(!stdout.contains("broken/good") && !stdout.contains("broken/cleanup"), "{stdout}");
    assert_eq!(stdout.lines().last().unwrap(), "2 passed, 4 failed, 0 skipped");
    // Stale artifacts were removed before the test; the fixture stays.
    assert!(!suite.path().join("work.dir/stale.cleanup").exists());
    assert!(!suite.path().join("work.dir/old.cleanup").exists());
    assert!(suite.path().join("work.dir/input.txt").exists());
    // The report stays well-formed whatever the guests printed.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed JUnit XML");
    let failures: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name("failure")).map(|n| n.attribute("message").unwrap()).collect();
    assert_eq!(failures.len(), 4);
}

#[test]
fn filter_and_expectations() {
    let suite = failing_suite();
    let out = wasmhost().args(["test", "--log-file", "/dev/null", "--filter", "wrong_"]).arg(suite.path()).output().unwrap();
    assert_eq!(text(&out.stdout).lines().last().unwrap(), "0 passed, 2 failed, 0 skipped");

    let expectations = suite.path().join("expectations.toml");
    std::fs::write(&expectations, "skip = [\"broken/hangs\", \"*/control_*\"]\nexpected_failures = [\"broken/wrong_*\", \"broken/good\"]\n").unwrap();
    let out = wasmhost()
        .args(["test", "--log-file", "/dev/null", "--expectations"])
        .arg(&expectations)
        .arg(suite.path())
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    // good passed although expected to fail: that is the one failure.
    // The two wrong_* failed as expected: counted as such, not as skipped.
    assert_eq!(stdout.lines().last().unwrap(), "1 passed, 1 failed, 2 skipped, 2 expected failures", "{stdout}");
    assert!(stdout.contains("FAIL broken/good: passed, but the expectations file says it fails"));
    assert_eq!(out.status.code(), Some(1));

    std::fs::write(&expectations, "skip = 3").unwrap();
    let out = wasmhost().args(["test", "--expectations"]).arg(&expectations).arg(suite.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("wasmhost: error: ") && text(&out.stderr).contains("expectations.toml"));
}

#[test]
fn broken_suites_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(guest("c/hello"), dir.path().join("t.wasm")).unwrap();
    std::fs::write(dir.path().join("t.json"), r#"{ "stdout": 3 }"#).unwrap();
    let out = wasmhost().arg("test").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("t.json"), "{}", text(&out.stderr));

    let out = wasmhost().args(["test", "/no/such/suite"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not a directory"));
}
