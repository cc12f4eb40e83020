//! Helpers shared by the integration tests: the real `wasmhost` binary, the
//! guests the Makefile builds, and the log-format schema.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// A guest built by `make guests`, e.g. `guest("c/hello")`.
pub fn guest(name: &str) -> PathBuf {
    let path = root().join("guests/build").join(format!("{name}.wasm"));
    assert!(path.exists(), "{} is missing: run `make guests` first (make test does)", path.display());
    path
}

pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// The binary under test, with a compile cache private to the test run.
pub fn wasmhost() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wasmhost"));
    cmd.env("WASMHOST_CACHE_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasmhost-test-cache"))
        .env_remove("MODULE_TYPE")
        .stdin(Stdio::null());
    cmd
}

pub fn run(args: &[&str]) -> Output {
    wasmhost().args(args).output().expect("running wasmhost")
}

/// Parses every line of `bytes` as JSON, failing the test on any other line.
pub fn json_lines(bytes: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(bytes).expect("log output is UTF-8");
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}")))
        .collect()
}

fn schema() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let text = std::fs::read_to_string(root().join("docs/log-format.schema.json")).expect("schema file");
        let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
        jsonschema::validator_for(&schema).expect("schema compiles")
    })
}

/// Fails the test unless every line is valid against docs/log-format.schema.json.
pub fn assert_schema_valid(lines: &[Value]) {
    for line in lines {
        let errors: Vec<String> = schema().iter_errors(line).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "line violates the schema: {errors:?}\n{line}");
    }
}

pub fn events<'a>(lines: &'a [Value], event: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["event"] == event).collect()
}

pub fn stderr_lines(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|l| l["stream"] == "stderr").collect()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
