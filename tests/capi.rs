//! The C API from C: tests/capi/example.c built with gcc against the static
//! and the shared library and run on real guests (misuse, traps, timeouts,
//! eight threads); its callback's records compared with the log file's; and
//! include/wasmhost.h compared with what cbindgen generates from the code.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// target/release (or debug): the test executable lives in its `deps`.
fn artifacts() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    exe.parent().and_then(Path::parent).expect("target dir").to_owned()
}

/// In `deps`, where cargo writes it whenever it builds it: cargo copies it up
/// to target/release only when it is built for itself (`cargo build`), so the
/// copy there may be older than the code under test.
fn library(name: &str) -> PathBuf {
    let path = artifacts().join("deps").join(name);
    assert!(path.exists(), "{} is missing: cargo builds it with the test", path.display());
    path
}

fn guests() -> PathBuf {
    let dir = root().join("guests/build");
    assert!(dir.join("c/logger.wasm").exists(), "{}: run `make guests` first (make test does)", dir.display());
    dir
}

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("docs/log-format.schema.json")).expect("schema file");
    jsonschema::validator_for(&serde_json::from_str(&text).expect("schema is JSON")).expect("schema compiles")
}

/// Builds tests/capi/`name`.c into `tmp` with `link` (the library and what
/// it needs).
fn build(tmp: &Path, name: &str, link: &[&str]) -> PathBuf {
    let exe = tmp.join(name);
    let status = Command::new("gcc")
        .args(["-std=c11", "-Wall", "-Werror", "-O1", "-o"])
        .arg(&exe)
        .arg(root().join(format!("tests/capi/{name}.c")))
        .arg("-I")
        .arg(crate_dir().join("include"))
        .args(link)
        .args(["-lpthread", "-ldl", "-lm"])
        .status()
        .expect("running gcc");
    assert!(status.success(), "gcc failed");
    exe
}

/// The static library and what linking it needs.
fn static_link() -> Vec<String> {
    // tract's assembly objects carry no .note.GNU-stack: say the stack is not executable.
    vec![library("libwasmhost_capi.a").to_string_lossy().into_owned(), "-Wl,-z,noexecstack".into()]
}

/// Builds the example with `link` (the library and what it needs), runs it,
/// and checks what it printed and logged.
fn build_and_run(tmp: &Path, link: &[&str]) {
    let exe = build(tmp, "example", link);
    let log = tmp.join("records.log");
    let output = Command::new(&exe)
        .arg(guests())
        .arg(&log)
        .env("WASMHOST_CACHE_DIR", tmp.join("cache"))
        .env_remove("MODULE_TYPE")
        .output()
        .expect("running the example");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stdout.contains("done 0 failures"), "example failed:\n{stdout}\n{stderr}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
    // Every check ran (a crash would cut the list short).
    for check in [
        "hello_records",
        "env_args",
        "preopen_granted",
        "preopen_refused",
        "load_bytes_run",
        "trap_event",
        "spin_timeout",
        "cancel_spin",
        "cancel_spin_events",
        "cancel_sleep",
        "cancel_sleep_events",
        "invalid_utf8",
        "options_double_free",
        "threads",
        "module_outlives_host",
    ] {
        assert!(stdout.lines().any(|l| l == format!("ok {check}")), "check {check} did not pass:\n{stdout}");
    }

    // The callback's records are the sink's, line for line.
    let hello_id = stdout.lines().find_map(|l| l.strip_prefix("instance hello ")).expect("hello's instance id").to_owned();
    let callback: Vec<&str> = stdout.lines().filter_map(|l| l.strip_prefix("record hello ")).collect();
    let logged_text = std::fs::read_to_string(&log).expect("log file");
    let logged: Vec<&str> = logged_text.lines().filter(|l| l.contains(&hello_id)).collect();
    assert_eq!(callback, logged, "the callback and the log file disagree");
    let records: Vec<Value> = callback.iter().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(records.iter().map(|r| r["event"].as_str().unwrap_or("line")).collect::<Vec<_>>(), ["instance.start", "line", "instance.exit"]);
    for record in &records {
        assert_eq!(record["wasm_instance_id"], hello_id.as_str());
        assert_eq!((record["job"].as_str(), record["route"].as_str()), (Some("capi"), Some("/hello")));
        assert_eq!(record["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(record["lang"], "c");
    }
    assert_eq!(records[1]["msg"], "hello from c on stderr");

    // Every line of every run reached the file and fits the format's schema:
    // hello, upper, env, two cats, one from bytes, two traps, a timeout, two cancelled,
    // 8 threads × 5 runs, the last one.
    let schema = schema();
    let lines: Vec<Value> = logged_text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    for line in &lines {
        let errors: Vec<String> = schema.iter_errors(line).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}: {line}");
    }
    let exits = lines.iter().filter(|l| l["event"] == "instance.exit").count();
    assert_eq!(exits, 1 + 1 + 1 + 2 + 1 + 2 + 1 + 2 + 8 * (4 + 1) + 1, "one instance.exit per run");
    let seqs_ok = lines.iter().filter(|l| l["event"] == "instance.exit").all(|exit| {
        let id = &exit["wasm_instance_id"];
        let seqs: Vec<u64> = lines.iter().filter(|l| &l["wasm_instance_id"] == id).filter_map(|l| l["seq"].as_u64()).collect();
        seqs == (1..=seqs.len() as u64).collect::<Vec<_>>()
    });
    assert!(seqs_ok, "every instance's records arrive in order, without gaps");
}

#[test]
fn the_c_example_against_the_static_library() {
    let tmp = tempfile::tempdir().unwrap();
    let link = static_link();
    build_and_run(tmp.path(), &link.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn the_c_example_against_the_shared_library() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = library("libwasmhost_capi.so");
    let rpath = format!("-Wl,-rpath,{}", lib.parent().unwrap().display());
    build_and_run(tmp.path(), &[lib.to_str().unwrap(), &rpath]);
}

/// The header is cbindgen's output for the code as it is: an API change
/// without a regenerated header fails here (`WASMHOST_BLESS=1` rewrites it).
#[test]
fn the_header_is_generated_from_the_code() {
    let dir = crate_dir();
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new().with_crate(&dir).with_config(config).generate().expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let path = dir.join("include/wasmhost.h");
    if std::env::var_os("WASMHOST_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("writing the header");
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{} is not what cbindgen generates from the code: regenerate it with \
         `WASMHOST_BLESS=1 cargo test --release --workspace --test capi -- header`",
        path.display()
    );
}

/// The records `config.c` printed for each of its runs, by run name.
fn records_by_run(stdout: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut runs = std::collections::BTreeMap::<String, Vec<String>>::new();
    for line in stdout.lines() {
        if let Some((run, record)) = line.strip_prefix("record ").and_then(|l| l.split_once(' ')) {
            runs.entry(run.to_owned()).or_default().push(record.to_owned());
        }
    }
    runs
}

fn events(lines: &[String]) -> Vec<String> {
    lines.iter().map(|l| serde_json::from_str::<Value>(l).expect("a JSON line")["event"].as_str().unwrap_or("line").to_owned()).collect()
}

fn event<'a>(records: &'a [Value], name: &str) -> &'a Value {
    records.iter().find(|r| r["event"] == name).unwrap_or_else(|| panic!("no {name} in {records:?}"))
}

/// A host from the CLI's routing TOML (sinks, routes, `[lift]`), the
/// compile cache seen through `instance.start`'s `compile`, and fuel,
/// timeout and memory limits with their events, all through the C API.
#[test]
fn a_host_from_a_routing_config_with_the_compile_cache_and_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let link = static_link();
    let exe = build(tmp.path(), "config", &link.iter().map(String::as_str).collect::<Vec<_>>());
    let (all, limits) = (tmp.path().join("all.log"), tmp.path().join("limits.log"));
    let config = tmp.path().join("routes.toml");
    std::fs::write(
        &config,
        format!(
            r#"default_sinks = ["all"]

[sinks.all]
type = "file"
path = "{}"

[sinks.limits]
type = "file"
path = "{}"

[[routes]]
match = '{{event=~"instance\\.(trap|timeout|out_of_fuel|memory_limit)"}}'
sinks = ["limits", "all"]

[lift]
prefix = "g_"
"#,
            all.display(),
            limits.display()
        ),
    )
    .unwrap();
    let broken = tmp.path().join("broken.toml");
    std::fs::write(&broken, "[sinks.x]\ntype = \"carrier-pigeon\"\n").unwrap();
    let output = Command::new(&exe)
        .arg(guests())
        .arg(&config)
        .arg(&broken)
        .env("WASMHOST_CACHE_DIR", tmp.path().join("cache"))
        .env_remove("MODULE_TYPE")
        .output()
        .expect("running the config program");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && stdout.contains("done 0 failures"), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let runs = records_by_run(&stdout);
    let parsed = |run: &str| -> Vec<Value> { runs[run].iter().map(|l| serde_json::from_str(l).expect("a JSON line")).collect() };

    // The compile cache: compiled, then taken from the cache; off: uncached.
    for (run, compile) in [("compile_first", "compiled"), ("compile_second", "cache"), ("uncached", "uncached")] {
        let start = &parsed(run)[0];
        assert_eq!((start["event"].as_str(), start["compile"].as_str()), (Some("instance.start"), Some(compile)), "{run}: {start}");
        assert!(start["compile_ms"].is_number(), "{start}");
    }
    assert!(std::fs::read_dir(tmp.path().join("cache")).unwrap().count() >= 1, "the cache directory holds the compiled code");
    assert!(stdout.lines().any(|l| l.starts_with("error unmetered ") && l.contains("fuel")), "{stdout}");
    assert!(!runs.contains_key("unmetered"), "no record for a run that could not start");

    // Fuel: stopped with instance.out_of_fuel, the limit on start and the event.
    let fuel = parsed("fuel");
    assert_eq!(events(&runs["fuel"]), ["instance.start", "line", "instance.out_of_fuel", "instance.exit"]);
    assert_eq!(event(&fuel, "instance.start")["fuel_limit"], 2_000_000);
    assert_eq!(event(&fuel, "instance.out_of_fuel")["fuel_limit"], 2_000_000);
    assert_eq!(event(&fuel, "instance.exit")["exit_code"], 134);
    assert!(event(&fuel, "instance.exit")["fuel_used"].as_u64().is_some_and(|used| used > 0), "{fuel:?}");
    // Wall time.
    let timeout = parsed("timeout");
    assert_eq!(events(&runs["timeout"]), ["instance.start", "line", "instance.timeout", "instance.exit"]);
    assert_eq!(event(&timeout, "instance.start")["timeout_ms"], 200.0);
    assert_eq!(event(&timeout, "instance.timeout")["timeout_ms"], 200.0);
    // Memory: growth refused once, the guest's malloc fails, it exits 3.
    let memory = parsed("memory");
    assert_eq!(event(&memory, "instance.start")["max_memory"], 8 << 20);
    let refused = event(&memory, "instance.memory_limit");
    assert_eq!((refused["limit"].as_u64(), refused["level"].as_str()), (Some(8 << 20), Some("warn")));
    assert!(refused["requested"].as_u64().unwrap() > 8 << 20, "{refused}");
    // (Its `error: ` prefix is lifted into the level.)
    assert!(memory.iter().any(|r| r["level"] == "error" && r["msg"].as_str().is_some_and(|m| m.starts_with("malloc failed after "))), "{memory:?}");
    assert_eq!(event(&memory, "instance.exit")["exit_code"], 3);
    // [lift] of the config: the guest's own JSON fields under its prefix.
    let lifted = parsed("lift");
    assert!(lifted.iter().any(|r| r["lifted"] == "json" && r.as_object().unwrap().keys().any(|k| k.starts_with("g_"))), "{lifted:?}");
    assert!(!lifted.iter().any(|r| r.as_object().unwrap().keys().any(|k| k.starts_with("guest_"))), "{lifted:?}");

    // The routes: every record of the config's host went to `all`, byte for
    // byte as its callback had it; the limit and trap events to `limits` too.
    let host_runs = ["compile_first", "compile_second", "fuel", "timeout", "memory", "trap", "lift"];
    let mut expected: Vec<&String> = host_runs.iter().flat_map(|run| &runs[*run]).collect();
    let all_text = std::fs::read_to_string(&all).expect("the all sink's file");
    let mut written: Vec<String> = all_text.lines().map(str::to_owned).collect();
    expected.sort();
    written.sort();
    assert_eq!(written.iter().collect::<Vec<_>>(), expected, "the all sink and the callbacks differ");
    let limits_text = std::fs::read_to_string(&limits).expect("the limits sink's file");
    assert_eq!(
        events(&limits_text.lines().map(str::to_owned).collect::<Vec<_>>()),
        ["instance.out_of_fuel", "instance.timeout", "instance.memory_limit", "instance.trap"]
    );
    let schema = schema();
    for line in all_text.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        assert!(schema.iter_errors(&record).next().is_none(), "{line}");
    }
}
