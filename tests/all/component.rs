//! WASI 0.2 components under `wasmhost run` (issue 14): Python and
//! JavaScript components built from source, C and Rust core modules adapted
//! into commands, all with the core modules' line contract.

use crate::common::*;
use serde_json::Value;

fn p(path: &std::path::Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Runs a component and checks what every run must hold: schema-valid lines,
/// one instance id (a UUIDv7) on all of them, `instance.start` first and
/// `instance.exit` (with the process's exit code) last.
fn run_component(args: &[&str]) -> (std::process::Output, Vec<Value>) {
    let out = run(args);
    let lines = json_lines(&out.stderr);
    assert_schema_valid(&lines);
    assert!(lines.len() >= 2, "{}", text(&out.stderr));
    assert_eq!(lines[0]["event"], "instance.start", "{}", text(&out.stderr));
    let exit = lines.last().unwrap();
    assert_eq!(exit["event"], "instance.exit");
    assert_eq!(exit["exit_code"].as_i64().map(|c| c as i32), out.status.code());
    let id = lines[0]["wasm_instance_id"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    assert!(lines.iter().all(|l| l["wasm_instance_id"] == id && l["lang"] == lines[0]["lang"]));
    (out, lines)
}

fn messages(lines: &[Value]) -> Vec<&str> {
    stderr_lines(lines).iter().map(|l| l["msg"].as_str().unwrap()).collect()
}

#[test]
fn python_and_javascript_components_exit_write_and_are_tagged() {
    for (lang, name) in [("python", "component/python-app"), ("javascript", "component/js-app")] {
        for code in [0, 3, 255] {
            let (out, lines) = run_component(&["run", p(&guest(name)), &code.to_string()]);
            assert_eq!(out.status.code(), Some(code), "{lang}: {}", text(&out.stderr));
            assert_eq!(text(&out.stdout), format!("hello from {lang}\n"), "{lang}: stdout byte-exact");
            assert_eq!(messages(&lines), [format!("hello from {lang} on stderr"), format!("{lang} exits with {code}")]);
            for line in stderr_lines(&lines) {
                assert_eq!(line["lang"], lang);
                assert_eq!(line["module"], name.trim_start_matches("component/"));
                assert_eq!(line["level"], "info");
                assert!(line["task_id"].as_u64().is_some(), "{line}");
            }
            assert_eq!(lines[0]["lang_source"], "detected");
        }
        // `run` returning its error is exit status 1, as under `wasmtime run`.
        let (out, _) = run_component(&["run", p(&guest(name)), "0", "fail"]);
        assert_eq!(out.status.code(), Some(1), "{lang}");
    }
}

#[test]
fn adapted_c_and_rust_components_behave_as_their_core_modules() {
    for lang in ["c", "rust"] {
        let core = run(&["run", p(&guest(&format!("{lang}/hello")))]);
        let (out, lines) = run_component(&["run", p(&guest(&format!("component/{lang}-hello")))]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(out.stdout, core.stdout, "{lang}: the same stdout bytes");
        assert_eq!(messages(&lines), messages(&json_lines(&core.stderr)));
        assert_eq!(lines[0]["lang"], lang, "{}", lines[0]);
    }
    // The preview1 adapter turns `proc_exit(n)` into wasi:cli/exit's
    // `exit(err)` for any n != 0: exit status 1, as under `wasmtime run`.
    for (code, status) in [(0, 0), (1, 1), (33, 1)] {
        let (out, _) = run_component(&["run", p(&guest("component/c-exit")), &code.to_string()]);
        assert_eq!(out.status.code(), Some(status), "proc_exit({code})");
    }
}

#[test]
fn a_trap_in_a_component_is_a_trap_event_and_134() {
    let (out, lines) = run_component(&["run", p(&guest("component/c-trap"))]);
    assert_eq!(out.status.code(), Some(134));
    assert_eq!(messages(&lines), ["about to trap"]);
    let trap = events(&lines, "instance.trap");
    assert_eq!(trap.len(), 1);
    assert_eq!(trap[0]["trap_code"], "UnreachableCodeReached");
    let backtrace = trap[0]["backtrace"].as_str().unwrap();
    assert!(backtrace.contains("explode"), "{backtrace}");
}

#[test]
fn limits_hold_for_components() {
    for name in ["component/c-spin", "component/python-app", "component/js-app"] {
        let module = guest(name);
        let mut args = vec!["run", "--timeout", "300ms", p(&module)];
        if !name.ends_with("c-spin") {
            args.extend(["0", "spin"]);
        }
        let (out, lines) = run_component(&args);
        assert_eq!(out.status.code(), Some(134), "{name}: {}", text(&out.stderr));
        assert_eq!(events(&lines, "instance.timeout").len(), 1, "{name}");
    }
    let (out, lines) = run_component(&["run", "--fuel", "1000000", p(&guest("component/c-spin"))]);
    assert_eq!(out.status.code(), Some(134));
    assert_eq!(events(&lines, "instance.out_of_fuel").len(), 1);
    assert_eq!(events(&lines, "instance.exit")[0]["fuel_used"], 1_000_000);

    // Growth past the limit is refused and logged. (The adapted c-grow then
    // traps in the preview1 adapter, "assertion failed at adapter line
    // 2857" — as it does without a limit once malloc grows memory: the
    // adapter jco 1.35 bundles, not the limit.)
    let (_, lines) = run_component(&["run", "--max-memory", "4MiB", p(&guest("component/c-grow"))]);
    let refused = events(&lines, "instance.memory_limit");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["limit"], 4 << 20);
    assert!(refused[0]["requested"].as_u64().unwrap() > 4 << 20);
}

#[test]
fn a_component_importing_what_the_host_lacks_names_the_import() {
    let out = run(&["run", p(&fixture("component-missing-import.wat"))]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("wasmhost: error: "), "{err}");
    assert!(err.contains("wasmhost:test/missing@1.0.0"), "{err}");
    // A component that is no command says so.
    let out = run(&["run", p(&fixture("component-no-run.wat"))]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("wasi:cli/run"), "{err}");
}

#[test]
fn wasi_logging_calls_are_records_with_level_and_context() {
    for lang in ["python", "javascript"] {
        let file = if lang == "python" { "component/python-logger" } else { "component/js-logger" };
        let (out, lines) = run_component(&["run", p(&guest(file))]);
        assert_eq!(out.status.code(), Some(0), "{lang}: {}", text(&out.stderr));
        let guest: Vec<(&str, &str, &str, Option<&str>)> = lines
            .iter()
            .filter(|l| l["stream"] != "host")
            .map(|l| (l["stream"].as_str().unwrap(), l["level"].as_str().unwrap(), l["msg"].as_str().unwrap(), l["context"].as_str()))
            .collect();
        let starts = format!("{lang} logger starts");
        let ready = format!("{lang} logger ready");
        let ends = format!("{lang} logger ends");
        assert_eq!(
            guest,
            [
                ("stderr", "info", starts.as_str(), None),
                ("api", "info", ready.as_str(), Some("startup")),
                ("api", "warn", "slow query took 120 ms", Some("db")),
                ("api", "debug", "no context here", None),
                ("api", "error", "out of space", Some("disk")),
                ("stderr", "info", ends.as_str(), None),
            ],
            "{lang}: records in order, among the stderr lines"
        );
        for line in lines.iter().filter(|l| l["stream"] == "api") {
            assert_eq!(line["lifted"], "wasi_logging");
            assert_eq!(line["lang"], lang);
        }
        // seq runs through lines, records and events alike.
        let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, (1..=lines.len() as u64).collect::<Vec<_>>());
    }
}

#[test]
fn components_are_detected_and_inspected() {
    let expected = [
        ("component/python-app", "python", "componentize-py"),
        ("component/js-app", "javascript", "componentize-js"),
        ("component/c-hello", "c", "clang"),
        ("component/rust-hello", "rust", "rustc"),
    ];
    for (name, lang, toolchain) in expected {
        let out = run(&["inspect", "--json", p(&guest(name))]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["kind"], "component", "{name}");
        assert_eq!(report["lang"], lang, "{name}: {}", report["detection"]);
        assert_eq!(report["toolchain"]["name"], toolchain, "{name}");
        let imports: Vec<&str> = report["component_imports"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let exports: Vec<&str> = report["component_exports"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert!(imports.iter().any(|i| i.starts_with("wasi:cli/stderr@0.2.")), "{name}: {imports:?}");
        assert!(exports.iter().any(|e| e.starts_with("wasi:cli/run@0.2.")), "{name}: {exports:?}");
        // The preview1 adapter is evidence of nothing, whatever it contains.
        let evidence = report["detection"]["evidence"].as_array().unwrap();
        assert!(evidence.iter().all(|e| !(e["detail"].as_str().unwrap().contains("adapter") && e["weight"].as_u64() != Some(0))));
    }
    let out = run(&["inspect", "--json", p(&guest("component/python-logger"))]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let inner: Vec<&str> = report["inner_modules"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(inner.iter().any(|m| m.starts_with("libpython3.")), "{inner:?}");
    assert!(report["component_imports"].as_array().unwrap().iter().any(|i| i == "wasi:logging/logging"));
    // The text form lists them too.
    let out = run(&["inspect", p(&guest("component/js-logger"))]);
    let report = text(&out.stdout);
    assert!(report.contains("component imports") && report.contains("wasi:logging/logging"), "{report}");
}

#[test]
fn a_core_module_and_components_of_three_languages_side_by_side_in_a_suite() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("mixed");
    std::fs::create_dir(&suite).unwrap();
    std::fs::write(suite.join("manifest.json"), r#"{ "name": "mixed" }"#).unwrap();
    let tests = [
        ("core-c", "c/hello", "c", "hello from c\n", 0),
        ("python", "component/python-app", "python", "hello from python\n", 5),
        ("javascript", "component/js-app", "javascript", "hello from javascript\n", 6),
        ("rust", "component/rust-hello", "rust", "hello from rust\n", 0),
    ];
    for (name, guest_name, _, stdout, code) in tests {
        std::fs::copy(guest(guest_name), suite.join(format!("{name}.wasm"))).unwrap();
        let spec = serde_json::json!({ "args": [code.to_string()], "exit_code": code, "stdout": stdout });
        std::fs::write(suite.join(format!("{name}.json")), spec.to_string()).unwrap();
    }
    let (results, log) = (dir.path().join("results.jsonl"), dir.path().join("tests.log"));
    let out = wasmhost().args(["test", "-j", "4", "--json"]).arg(&results).arg("--log-file").arg(&log).arg(&suite).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(text(&out.stdout).lines().last().unwrap(), "4 passed, 0 failed, 0 skipped");
    let results = json_lines(&std::fs::read(&results).unwrap());
    let logs = json_lines(&std::fs::read(&log).unwrap());
    assert_schema_valid(&logs);
    for (name, _, lang, _, _) in tests {
        let result = results.iter().find(|r| r["name"] == name).unwrap();
        let id = result["wasm_instance_id"].as_str().unwrap();
        let lines: Vec<&Value> = logs.iter().filter(|l| l["wasm_instance_id"] == id).collect();
        assert!(lines.len() >= 3, "{name}");
        assert!(lines.iter().all(|l| l["lang"] == lang && l["module"] == name && l["test"] == name), "{name}: {lines:?}");
    }
}

#[test]
fn many_instances_of_a_component_keep_their_own_ids() {
    let (n, module) = (4, guest("component/js-app"));
    let out = run(&["run", "--instances", &n.to_string(), p(&module), "7"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    // Every instance's stdout arrives whole; instances write to the one
    // stdout concurrently and the engine writes a line in two calls, so
    // lines of different instances may interleave (as under `wasmtime run`).
    let stdout = text(&out.stdout);
    assert_eq!(stdout.matches('\n').count(), n, "{stdout:?}");
    assert_eq!(stdout.replace('\n', ""), "hello from javascript".repeat(n), "{stdout:?}");
    let lines = json_lines(&out.stderr);
    assert_schema_valid(&lines);
    let mut ids: Vec<&str> = events(&lines, "instance.exit").iter().map(|l| l["wasm_instance_id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n);
    for id in ids {
        let mine: Vec<&str> = lines.iter().filter(|l| l["wasm_instance_id"] == id && l["stream"] == "stderr").map(|l| l["msg"].as_str().unwrap()).collect();
        assert_eq!(mine, ["hello from javascript on stderr", "javascript exits with 7"]);
    }
}

/// What the `net` guest (guests/component/python/net.py) did: its exit
/// code, stdout, and the message of its last stderr line.
fn net(switches: &[&str], what: &str, target: &str) -> (Option<i32>, String, String) {
    let module = guest("component/python-net");
    let mut args = vec!["run"];
    args.extend_from_slice(switches);
    args.extend([p(&module), what, target]);
    let (out, lines) = run_component(&args);
    let said = messages(&lines).last().map(|m| m.to_string()).unwrap_or_default();
    (out.status.code(), text(&out.stdout), said)
}

#[test]
fn network_is_off_by_default_and_the_wasmtime_switches_open_it() {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let nothing_arrived = |listener: &std::net::TcpListener| matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    // The sandbox: no socket, and `-S tcp` alone allows TCP sockets but
    // still no address (as wasmtime's context builder).
    for switches in [&[][..], &["-S", "tcp"], &["-S", "inherit-network,tcp=n"], &["-S", "inherit-network=n"]] {
        let (code, stdout, said) = net(switches, "tcp", &port);
        assert_eq!((code, stdout.as_str(), said.as_str()), (Some(1), "", "tcp: access-denied"), "{switches:?}");
        assert!(nothing_arrived(&listener), "{switches:?}");
    }
    // Inherited, TCP comes with it; the bytes arrive.
    for switches in [&["-S", "inherit-network"][..], &["-S", "inherit-network=y", "-S", "tcp=y"]] {
        let (code, stdout, said) = net(switches, "tcp", &port);
        assert_eq!((code, stdout.as_str()), (Some(0), "tcp: ok\n"), "{switches:?}: {said}");
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_nonblocking(false).unwrap();
        let mut received = String::new();
        stream.read_to_string(&mut received).unwrap();
        assert_eq!(received, "hello over tcp\n");
    }

    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let udp_port = udp.local_addr().unwrap().port().to_string();
    for switches in [&[][..], &["-S", "udp"], &["-S", "inherit-network,udp=n"]] {
        let (code, _, said) = net(switches, "udp", &udp_port);
        assert_eq!((code, said.as_str()), (Some(1), "udp: access-denied"), "{switches:?}");
    }
    let (code, stdout, said) = net(&["-S", "inherit-network"], "udp", &udp_port);
    assert_eq!((code, stdout.as_str()), (Some(0), "udp: ok\n"), "{said}");
    let mut datagram = [0u8; 64];
    let (n, _) = udp.recv_from(&mut datagram).unwrap();
    assert_eq!(&datagram[..n], b"hello over udp");

    // Name lookup is its own switch; inheriting the network does not give it.
    for switches in [&[][..], &["-S", "inherit-network"]] {
        let (code, _, said) = net(switches, "lookup", "localhost");
        assert_eq!((code, said.as_str()), (Some(1), "lookup: permanent-resolver-failure"), "{switches:?}");
    }
    let (code, stdout, _) = net(&["-S", "allow-ip-name-lookup"], "lookup", "localhost");
    assert_eq!(code, Some(0));
    assert!(stdout.starts_with("lookup: ok ") && stdout.contains("127.0.0.1"), "{stdout:?}");

    // The switches also come from wasmtime's options file.
    let dir = tempfile::tempdir().unwrap();
    let options = dir.path().join("wasmtime.toml");
    std::fs::write(&options, "[wasi]\ninherit-network = true\n").unwrap();
    let (code, stdout, _) = net(&["--config", p(&options)], "tcp", &port);
    assert_eq!((code, stdout.as_str()), (Some(0), "tcp: ok\n"));

    // A value that is not a boolean is refused by name.
    let out = run(&["run", "-S", "tcp=maybe", p(&guest("component/python-net")), "tcp", &port]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("\"tcp=maybe\": expected y or n"), "{}", text(&out.stderr));
}

/// `wasmhost run --invoke CALL calc`: exit code, stdout, stderr.
fn invoke(call: &str) -> (Option<i32>, String, String) {
    let out = run(&["run", "--invoke", call, p(&guest("component/js-calc"))]);
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn invoke_calls_a_component_function_with_wave_arguments_and_prints_wave_results() {
    for (call, printed) in [
        ("add(2, 40)", "42"),
        ("add(-7, 2)", "-5"),
        (r#"greet("wasm", 2)"#, r#"["hello wasm #1", "hello wasm #2"]"#),
        ("reset()", "()"),
        // A bare name is looked for in the exported instances too.
        ("add-points({x: 1, y: 2}, {x: 10, y: -20})", "{x: 11, y: -18}"),
        ("wasmhost:guest/math.divide(1.0, 4.0)", "ok(0.25)"),
        ("divide(1.0, 0.0)", r#"err("division by zero")"#),
        (r#"first-word("  hello world")"#, r#"some("hello")"#),
        (r#"wasmhost:guest/text.first-word("   ")"#, "none"),
        ("wasmhost:guest/text.describe()", r#""text""#),
    ] {
        let (code, stdout, stderr) = invoke(call);
        assert_eq!(code, Some(0), "{call}: {stderr}");
        assert_eq!(stdout, format!("{printed}\n"), "{call}");
    }
    // The call runs in a tagged instance like any other.
    let out = run(&["run", "--invoke", r#"greet("log", 1)"#, p(&guest("component/js-calc"))]);
    let lines = json_lines(&out.stderr);
    assert_schema_valid(&lines);
    assert_eq!(messages(&lines), ["greeting log 1 times"]);
    assert!(lines.iter().all(|l| l["lang"] == "javascript" && l["module"] == "js-calc"));
    assert_eq!(events(&lines, "instance.exit")[0]["exit_code"], 0);

    // A command's own run is a function too (its version goes last, as in WIT item names).
    let out = run(&["run", "--invoke", "wasi:cli/run.run@0.2.12()", p(&guest("component/js-app"))]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello from javascript\nok\n");
}

#[test]
fn invoke_on_a_component_refuses_what_does_not_fit_in_one_line() {
    let refused = |call: &str, expected: &[&str]| {
        let (code, stdout, stderr) = invoke(call);
        assert_eq!(code, Some(1), "{call}: {stderr}");
        assert_eq!(stdout, "", "{call}");
        assert_eq!(stderr.lines().count(), 1, "{call}: {stderr}");
        for part in expected {
            assert!(stderr.contains(part), "{call}: {part:?} not in {stderr}");
        }
    };
    refused("describe()", &["several exported instances", "`wasmhost:guest/math.describe`", "`wasmhost:guest/text.describe`"]);
    refused("nope()", &["\"nope\"", "add, greet, reset, wasmhost:guest/math.add-points"]);
    refused("wasmhost:guest/math.nope()", &["wasmhost:guest/math.nope"]);
    refused("add(1)", &["cannot invoke \"add(1)\""]);
    refused(r#"add("one", 2)"#, &["cannot invoke"]);
    refused("add(1, 2", &["not a WAVE function call"]);
    refused("add", &["not a WAVE function call"]);
    // A library with no wasi:cli/run has nothing to run without --invoke.
    let out = run(&["run", p(&guest("component/js-calc"))]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("wasi:cli/run") && err.contains("add, greet, reset"), "{err}");
}

#[test]
fn instances_of_components_of_each_language_come_from_a_pool() {
    for (name, stdout) in [("component/python-app", "hello from python\n"), ("component/c-hello", "hello from c\n"), ("component/rust-hello", "hello from rust\n")] {
        let n = 3;
        let out = run(&["run", "--instances", &n.to_string(), p(&guest(name))]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout).matches(stdout.trim_end()).count(), n, "{name}");
        let lines = json_lines(&out.stderr);
        assert_schema_valid(&lines);
        assert_eq!(events(&lines, "instance.exit").len(), n, "{name}");
    }
}
