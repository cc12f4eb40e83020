//! The command as a person meets it (issue 16): text output on a terminal
//! (through a pseudo-terminal, util-linux `script`), colour rules, `-q`/`-v`,
//! wasmtime's spellings, error messages, help and version.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::*;
use serde_json::Value;

fn p(path: &std::path::Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Runs wasmhost with `args` on a pseudo-terminal (stdin and stderr a TTY,
/// as at an interactive shell; stdout to /dev/null: the guest writes a line
/// to its inherited stdout in two writes, so a host line can land between
/// them — see the report of issue 16); `env` is added to a clean colour
/// environment. Returns what the terminal showed, `\r\n` made `\n`.
fn on_tty(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let command: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_wasmhost")).chain(args.iter().copied()).map(quote).collect();
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c", &format!("{} >/dev/null", command.join(" ")), "/dev/null"])
        .env("WASMHOST_CACHE_DIR", std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasmhost-test-cache"))
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("CLICOLOR")
        .env_remove("MODULE_TYPE")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("util-linux `script` runs");
    (out.status.code(), text(&out.stdout).replace("\r\n", "\n"))
}

fn with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = wasmhost();
    cmd.args(args).env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("running wasmhost")
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

// --- terminal output ---

#[test]
fn a_terminal_gets_the_guests_lines_and_one_short_line_per_event() {
    let (code, shown) = on_tty(&["run", p(&guest("c/hello"))], &[]);
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("\x1b[2m"), "metadata is dim on a terminal: {shown:?}");
    let plain = strip_ansi(&shown);
    let lines: Vec<&str> = plain.lines().collect();
    assert_eq!(lines.len(), 3, "start, stderr line, exit: {plain}");
    let start = lines.iter().find(|l| l.contains(" c/hello ") && (l.contains("compiled in") || l.contains("loaded in"))).expect("a start line");
    assert!(start.ends_with(" ms") || start.ends_with(" µs") || start.ends_with("(cached)"), "{start}");
    assert!(!plain.contains("sha256") && !plain.contains("module_path") && !plain.contains("lang_evidence"), "details only with -v: {plain}");
    let exit = lines.iter().find(|l| l.contains("exited with code 0 in ")).expect("an exit line");
    assert!(!exit.contains("exit_code="), "no word twice: {exit}");
    // The clock says its zone.
    let clock = start.split(' ').next().unwrap();
    assert!(clock.len() == 13 && clock.ends_with('Z') && clock.as_bytes()[2] == b':', "{clock}");
    // The guest's text itself is never styled.
    assert!(shown.contains("\x1b[0m hello from c on stderr\n"), "{shown:?}");
}

#[test]
fn verbose_shows_every_field_quiet_only_the_guest() {
    let (_, verbose) = on_tty(&["run", "-v", p(&guest("c/hello"))], &[("NO_COLOR", "1")]);
    assert!(verbose.contains("module_sha256=") && verbose.contains("lang_evidence=") && verbose.contains("#1 instance.start"), "{verbose}");
    let (code, quiet) = on_tty(&["run", "-q", p(&guest("c/hello"))], &[]);
    assert_eq!(code, Some(0));
    assert_eq!(quiet, "hello from c on stderr\n", "the guest's line alone");
    // -q keeps the error that ended an instance, said once, with its backtrace.
    let (code, quiet) = on_tty(&["run", "-q", p(&guest("c/trap"))], &[]);
    assert_eq!(code, Some(134));
    let lines: Vec<&str> = quiet.lines().collect();
    assert_eq!(lines[0], "about to trap", "{quiet}");
    assert_eq!(lines[1], "wasmhost: c/trap: trap: unreachable in explode (exit 134)", "{quiet}");
    assert!(lines[2..].iter().all(|l| l.starts_with("    ")), "{quiet}");
    // JSON lines stay complete whatever -q says.
    let out = run(&["run", "-q", "--log-format", "json", p(&guest("c/hello"))]);
    assert_eq!(json_lines(&out.stderr).len(), 3);
}

#[test]
fn colour_follows_no_color_clicolor_force_and_the_flag() {
    let hello = guest("c/hello");
    let args = ["run", p(&hello)];
    assert!(!on_tty(&args, &[("NO_COLOR", "1")]).1.contains('\x1b'), "NO_COLOR");
    assert!(!on_tty(&["run", "--color", "never", p(&hello)], &[]).1.contains('\x1b'), "--color never");
    assert!(on_tty(&["run", "--color", "always", p(&hello)], &[("NO_COLOR", "1")]).1.contains('\x1b'), "--color always beats NO_COLOR");
    // Into a pipe: text without colour, unless forced.
    let piped = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["run", "--log-format", "text"];
        args.extend_from_slice(extra);
        args.push(p(&hello));
        text(&with_env(&args, env).stderr)
    };
    assert!(!piped(&[], &[]).contains('\x1b'));
    assert!(piped(&[], &[("CLICOLOR_FORCE", "1")]).contains("\x1b[2m"));
    assert!(!piped(&[], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]).contains('\x1b'));
    assert!(piped(&["--color", "always"], &[]).contains('\x1b'));
}

#[test]
fn a_trap_is_one_line_saying_what_and_where_then_the_backtrace() {
    let out = run(&["run", "--log-format", "text", p(&guest("c/trap"))]);
    assert_eq!(out.status.code(), Some(134));
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    let at = lines.iter().position(|l| l.contains(" trap: ")).expect("a trap line");
    assert!(lines[at].ends_with(" trap: unreachable in explode (exit 134)"), "{err}");
    assert!(lines[at].starts_with(|c: char| c.is_ascii_digit()) && lines[at].contains(" ERROR "), "{err}");
    assert!(lines[at + 1].trim_start().starts_with("0: ") && lines[at + 1].ends_with("!explode"), "{err}");
    assert_eq!(err.matches("unreachable").count(), 1, "the trap is said once: {err}");
    assert!(lines.last().unwrap().contains(" exited with code 134 in "), "{err}");
}

#[test]
fn text_shows_labels_task_and_short_ids_that_differ() {
    let out = run(&["run", "--log-format", "text", "--instances", "3", "--label", "job=demo", p(&guest("c/hello"))]);
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    let exits: Vec<&str> = err.lines().filter(|l| l.contains("exited with code")).collect();
    assert_eq!(exits.len(), 3, "{err}");
    assert!(exits.iter().all(|l| l.contains(" job=demo ") && l.contains(" task=")), "{err}");
    let mut ids: Vec<&str> = exits.iter().map(|l| l.split_whitespace().nth(3).unwrap()).collect();
    assert!(ids.iter().all(|id| id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit())), "{ids:?}");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "instances started together tell apart: {err}");
}

/// Every `*_ms` figure has at most three decimals (whole microseconds).
#[test]
fn durations_have_no_float_noise() {
    let mut checked = 0;
    for args in [vec!["run", "-W", "timeout=5s", p(&guest("c/hello"))], vec!["run", p(&guest("c/trap"))]] {
        let out = run(&args);
        let raw = text(&out.stderr);
        assert_schema_valid(&json_lines(&out.stderr));
        for line in raw.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            for (key, value) in v.as_object().unwrap() {
                if !key.ends_with("_ms") {
                    continue;
                }
                assert!(value.is_number(), "{key} in {line}");
                let written = line.split(&format!("\"{key}\":")).nth(1).unwrap();
                let number: String = written.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
                let decimals = number.split_once('.').map_or(0, |(_, d)| d.len());
                assert!(decimals <= 3, "{key}={number} in {line}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 5, "compile_ms, timeout_ms and duration_ms were seen ({checked})");
}

// --- wasmtime's spellings ---

fn stdout_of(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn run_is_the_default_subcommand_as_in_wasmtime() {
    let env = guest("c/env");
    assert!(stdout_of(&[p(&env), "one", "--two"]).contains("arg one\narg --two\n"));
    assert!(stdout_of(&["--env", "A=1", p(&env)]).contains("env A=1\n"));
}

#[test]
fn double_dash_argv0_and_the_rest_go_to_the_guest() {
    let env = guest("c/env");
    let out = stdout_of(&["run", "--argv0", "myprog", p(&env), "x"]);
    assert!(out.starts_with("arg myprog\narg x\n"), "{out}");
    let out = stdout_of(&["run", "--", p(&env), "--dir", "-v"]);
    assert!(out.contains("arg --dir\narg -v\n"), "{out}");
    let out = stdout_of(&["run", p(&env), "--", "--help"]);
    assert!(out.contains("arg --help\n"), "{out}");
}

#[test]
fn wasi_options_inherit_env_and_cli() {
    let env = guest("c/env");
    let mut cmd = wasmhost();
    let out = cmd.args(["run", "-S", "inherit-env", "--env", "OVER=cli", p(&env)]).env("FROM_HOST", "yes").env("OVER", "host").output().unwrap();
    let shown = text(&out.stdout);
    assert!(shown.contains("env FROM_HOST=yes\n") && shown.contains("env OVER=cli\n") && !shown.contains("OVER=host"), "{shown}");
    let out = wasmhost().args(["run", p(&env)]).env("FROM_HOST", "yes").output().unwrap();
    assert!(!text(&out.stdout).contains("FROM_HOST"), "only with inherit-env");
    assert!(stdout_of(&["run", "-S", "cli", "--wasi", "cli=y", p(&env)]).contains("arg "));
    let out = run(&["run", "-S", "threads", p(&env)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("-S \"threads\": supported are"), "{}", text(&out.stderr));
}

#[test]
fn codegen_cache_options() {
    let hello = guest("c/hello");
    let out = run(&["run", "-C", "cache=n", p(&hello)]);
    assert_eq!(json_lines(&out.stderr)[0]["compile"], "uncached");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cache.toml");
    let cache = dir.path().join("cache");
    std::fs::write(&config, format!("[cache]\nenabled = true\ndirectory = {:?}\n", cache.display().to_string())).unwrap();
    let out = run(&["run", "-C", &format!("cache-config={}", config.display()), p(&hello)]);
    assert_eq!(json_lines(&out.stderr)[0]["compile"], "compiled");
    assert!(std::fs::read_dir(&cache).unwrap().count() > 0, "the configured directory holds the entry");
    let out = run(&["run", "--codegen", &format!("cache-config={}", config.display()), p(&hello)]);
    assert_eq!(json_lines(&out.stderr)[0]["compile"], "cache");
}

#[test]
fn invoke_parses_arguments_and_prints_results() {
    let numbers = fixture("numbers.wat");
    assert_eq!(stdout_of(&["run", "--invoke", "add", p(&numbers), "2", "0x10"]), "18\n");
    assert_eq!(stdout_of(&["--invoke", "widen", p(&numbers), "-21", "5"]), "-42\n2.5\n");
    let out = run(&["run", "--invoke", "add", p(&numbers), "2", "two"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot invoke \"add\": argument 2 \"two\" is not an i32"), "{}", text(&out.stderr));
    let out = run(&["run", "--invoke", "add", p(&numbers), "2"]);
    assert!(text(&out.stderr).contains("it takes 2 arguments, 1 given"), "{}", text(&out.stderr));
}

#[test]
fn module_from_stdin() {
    let bytes = std::fs::read(guest("c/env")).unwrap();
    let mut child = wasmhost().args(["run", "-", "piped"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("arg piped\n"));
    assert_eq!(json_lines(&out.stderr)[0]["lang"], "c");
}

#[test]
fn precompiled_modules_are_refused_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let cwasm = dir.path().join("hello.cwasm");
    std::fs::write(&cwasm, b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0").unwrap();
    let out = run(&["run", p(&cwasm)]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("precompiled machine code (a .cwasm from `wasmtime compile`)"), "{err}");
}

#[test]
fn config_is_wasmtimes_options_file_and_still_takes_a_routing_file() {
    let dir = tempfile::tempdir().unwrap();
    let options = dir.path().join("wasmtime.toml");
    std::fs::write(&options, "[wasi]\ninherit-env = true\n[wasm]\ntimeout = \"5s\"\n").unwrap();
    let out = wasmhost().args(["run", "--config", p(&options), p(&guest("c/env"))]).env("FROM_HOST", "yes").output().unwrap();
    assert!(text(&out.stdout).contains("env FROM_HOST=yes\n"), "{}", text(&out.stderr));
    assert_eq!(json_lines(&out.stderr)[0]["timeout_ms"], 5000.0);
    // A routing file under the old spelling, and the new one.
    let routes = dir.path().join("routes.toml");
    let captured = dir.path().join("all.log");
    std::fs::write(&routes, format!("[sinks.all]\ntype = \"file\"\npath = {:?}\n\n[[routes]]\nmatch = '{{lang=\"c\"}}'\nsinks = [\"all\"]\n", captured.display().to_string())).unwrap();
    for flag in ["--config", "--log-config"] {
        let _ = std::fs::remove_file(&captured);
        let out = run(&["run", flag, p(&routes), p(&guest("c/hello"))]);
        assert_eq!(out.status.code(), Some(0), "{flag}: {}", text(&out.stderr));
        assert!(std::fs::read_to_string(&captured).unwrap_or_default().contains("hello from c on stderr"), "{flag}");
    }
}

// --- errors, help, version ---

#[test]
fn a_missing_file_says_the_os_error_once() {
    let out = run(&["run", "no/such/module.wasm"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "wasmhost: error: no/such/module.wasm: cannot read: No such file or directory (os error 2)\n");
    let out = run(&["no/such/module.wasm"]);
    assert_eq!(out.status.code(), Some(1), "the default subcommand too");
}

#[test]
fn every_subcommands_help_ends_with_examples() {
    for sub in [&[][..], &["run"], &["inspect"], &["test"], &["logs"]] {
        let mut args = sub.to_vec();
        args.push("--help");
        let out = run(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let help = text(&out.stdout);
        let tail = help.rsplit_once("Examples:\n").map(|(_, t)| t).unwrap_or_else(|| panic!("{args:?}: {help}"));
        assert!(tail.lines().count() >= 2 && tail.contains("wasmhost "), "{args:?}: {tail}");
    }
    let help = text(&run(&["--help"]).stdout);
    assert!(["run", "inspect", "test", "logs"].iter().all(|s| help.contains(&format!("  {s} "))), "{help}");
}

#[test]
fn version_names_the_wasmtime_it_runs_on() {
    let out = run(&["--version"]);
    let shown = text(&out.stdout);
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).unwrap();
    let wasmtime = lock.split("[[package]]").find(|p| p.contains("name = \"wasmtime\"\n")).unwrap();
    let version = wasmtime.lines().find_map(|l| l.strip_prefix("version = ")).unwrap().trim_matches('"');
    assert!(shown.contains(&format!("(wasmtime {version};")), "{shown} vs Cargo.lock's {version}");
    assert!(shown.starts_with("wasmhost ") && shown.contains("WASI-NN"), "{shown}");
}

#[test]
fn text_format_and_toml_errors_say_file_line_and_column_with_a_caret() {
    let dir = tempfile::tempdir().unwrap();
    let wat = dir.path().join("broken.wat");
    std::fs::write(&wat, "(module\n  (func $f (result i32)\n    i32.bogus))\n").unwrap();
    let out = run(&["run", p(&wat)]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("--> {}:3:5", wat.display())), "{err}");
    assert!(err.contains("3 |     i32.bogus") && err.contains("^"), "{err}");
    let toml = dir.path().join("routes.toml");
    std::fs::write(&toml, "[sinks.x]\ntype = \"file\" x\n").unwrap();
    let out = run(&["run", "--log-config", p(&toml), p(&guest("c/hello"))]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.starts_with(&format!("wasmhost: error: {}:2:15: ", toml.display())), "{err}");
    assert!(err.contains("2 | type = \"file\" x\n") && err.contains("^"), "{err}");
}
