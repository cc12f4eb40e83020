//! The command as a person meets it (issue 16): text output on a terminal
//! (through a pseudo-terminal, util-linux `script`), colour rules, `-q`/`-v`,
//! wasmtime's spellings, error messages, help and version.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::common::*;
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
    script(args, env, " >/dev/null")
}

/// [`on_tty`] with stdout on the terminal too.
fn all_on_tty(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    script(args, env, "")
}

/// Runs wasmhost under util-linux `script`, `redirect` appended to its command line.
fn script(args: &[&str], env: &[(&str, &str)], redirect: &str) -> (Option<i32>, String) {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let command: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_wasmhost")).chain(args.iter().copied()).map(quote).collect();
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c", &format!("{}{redirect}", command.join(" ")), "/dev/null"])
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
fn guest_stdout_and_host_lines_never_share_a_screen_line() {
    // The guest writes "half", a stderr line, sleeps, then " line\n".
    let (code, shown) = all_on_tty(&["run", "--color", "never", p(&fixture("half-line.wat"))], &[]);
    assert_eq!(code, Some(0), "{shown}");
    let lines: Vec<&str> = shown.lines().collect();
    assert!(lines.contains(&"half"), "the half line alone on its screen line: {lines:?}");
    assert!(lines.contains(&" line"), "{lines:?}");
    // Every host line starts with its time, none with the guest's text.
    let host = lines.iter().find(|l| l.ends_with("stderr: from stderr")).unwrap_or_else(|| panic!("{lines:?}"));
    assert!(host.as_bytes()[0].is_ascii_digit() && !host.starts_with("half"), "{host}");
    assert!(lines.iter().filter(|l| l.contains(" INFO ")).all(|l| l.as_bytes()[0].is_ascii_digit()), "{lines:?}");
}

#[test]
fn test_at_a_terminal_shows_progress_failures_at_once_and_logs_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("tty");
    std::fs::create_dir(&suite).unwrap();
    std::fs::write(suite.join("manifest.json"), r#"{ "name": "tty" }"#).unwrap();
    let add = |guest_name: &str, test: &str, spec: &str| {
        std::fs::copy(guest(guest_name), suite.join(format!("{test}.wasm"))).unwrap();
        std::fs::write(suite.join(format!("{test}.json")), spec).unwrap();
    };
    add("c/hello", "wrong", r#"{ "stdout": "something else\n" }"#);
    add("c/sleep", "slow", r#"{ "args": ["1500"] }"#);
    add("c/exit", "known", r#"{ "args": ["3"] }"#);
    let expectations = dir.path().join("known.toml");
    std::fs::write(&expectations, "expected_failures = [\"tty/known\"]\n").unwrap();
    let (code, shown) = all_on_tty(&["test", "-j", "3", "--expectations", p(&expectations), p(&suite)], &[]);
    assert_eq!(code, Some(1), "{shown}");
    let plain = strip_ansi(&shown);
    // The failure shows while the slow test still runs, before the bar is full.
    let fail = plain.find("FAIL tty/wrong: stdout line 1").unwrap_or_else(|| panic!("{plain:?}"));
    assert!(plain.find("3/3").is_some_and(|full| fail < full), "{plain:?}");
    assert!(plain.contains("2/3") || plain.contains("1/3"), "a progress bar: {plain:?}");
    assert_eq!(plain.matches("FAIL tty/wrong").count(), 1, "printed once: {plain:?}");
    let summary = plain.lines().filter(|l| l.contains(" passed, ")).last().unwrap();
    assert!(summary.ends_with("1 passed, 1 failed, 0 skipped, 1 expected failure"), "{summary:?}");
    // The tagged lines went to the file it named, not to the terminal.
    let named = plain.lines().find_map(|l| l.strip_prefix("the tests' tagged lines: ")).unwrap_or_else(|| panic!("{plain:?}"));
    let logged = std::fs::read_to_string(named.trim()).unwrap();
    let records = json_lines(logged.as_bytes());
    assert!(records.iter().any(|r| r["test"] == "wrong" && r["msg"] == "hello from c on stderr"), "{logged}");
    assert!(!plain.contains("hello from c on stderr") && !plain.contains("\"wasm_instance_id\""), "{plain:?}");
    let _ = std::fs::remove_file(named.trim());
}

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
fn wasi_preview0_links_wasi_unstable_modules() {
    let old = fixture("wasi-unstable.wat");
    let out = run(&["run", "--log-format", "json", p(&old)]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello from wasi_unstable\n");
    let lines = json_lines(&out.stderr);
    assert_eq!(stderr_lines(&lines).iter().map(|l| l["msg"].as_str().unwrap()).collect::<Vec<_>>(), ["stderr from wasi_unstable"]);
    assert_eq!(events(&lines, "instance.exit")[0]["exit_code"], 3);
    // Explicitly on, and off as wasmtime's `-S preview0=n`: then it does not link.
    assert_eq!(run(&["run", "-S", "preview0", p(&old)]).status.code(), Some(3));
    let out = run(&["run", "-S", "preview0=n", p(&old)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("wasi_unstable::fd_write"), "{}", text(&out.stderr));
}

#[test]
fn preload_links_a_module_under_its_name() {
    let (main, counter) = (fixture("preload-main.wat"), fixture("preload-counter.wat"));
    let preload = format!("counter={}", p(&counter));
    // One counter instance per run: its second answer is 2.
    let out = run(&["run", "--preload", &preload, p(&main)]);
    assert_eq!(out.status.code(), Some(42), "{}", text(&out.stderr));
    // Without it the import is unknown, named in one line.
    let out = run(&["run", p(&main)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("counter::next"), "{}", text(&out.stderr));
    // Under another name it satisfies nothing; a bad spelling is refused.
    let out = run(&["run", "--preload", &format!("other={}", p(&counter)), p(&main)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let out = run(&["run", "--preload", p(&counter), p(&main)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("expected NAME=PATH"), "{}", text(&out.stderr));
    // A preload that exports no such function is a load error naming it.
    let out = run(&["run", "--preload", &format!("counter={}", p(&fixture("plain.wat"))), p(&main)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("exports no \"next\""), "{}", text(&out.stderr));
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

#[test]
fn completions_register_with_the_shell_and_know_every_flag() {
    let out = run(&["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0));
    let script = text(&out.stdout);
    for word in ["inspect", "completions", "--preload", "--log-config", "--invoke"] {
        assert!(script.contains(word), "{word} in the bash script");
    }
    // Sourced by bash, it registers a completion function for `wasmhost`.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wasmhost.bash");
    std::fs::write(&file, &out.stdout).unwrap();
    let shell = Command::new("bash").args(["-c", &format!("source {} && complete -p wasmhost", p(&file))]).output().unwrap();
    assert!(text(&shell.stdout).contains("-F _wasmhost") && text(&shell.stdout).trim_end().ends_with(" wasmhost"), "{}{}", text(&shell.stdout), text(&shell.stderr));
    assert!(text(&run(&["completions", "zsh"]).stdout).starts_with("#compdef wasmhost"));
    assert!(text(&run(&["completions", "fish"]).stdout).contains("complete -c wasmhost"));
    let out = run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses an unknown shell: {}", text(&out.stderr));
}

#[test]
fn man_pages_render_for_the_command_and_each_subcommand() {
    let render = |page: &[u8]| {
        let mut nroff = Command::new("nroff").args(["-man", "-Tascii"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        nroff.stdin.take().unwrap().write_all(page).unwrap();
        let out = nroff.wait_with_output().unwrap();
        assert!(out.status.success());
        // Without the backspace overstrikes nroff uses for bold.
        let shown = text(&out.stdout);
        let mut plain = String::new();
        for c in shown.chars() {
            if c == '\u{8}' {
                plain.pop();
            } else {
                plain.push(c);
            }
        }
        // nroff justifies lines: one space wherever it put several.
        plain.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let main = run(&["man"]);
    assert_eq!(main.status.code(), Some(0));
    let page = render(&main.stdout);
    assert!(page.contains("NAME") && page.contains("wasmhost - Runs WebAssembly guests"), "{page}");
    assert!(page.contains("SUBCOMMANDS wasmhost-run(1) Run a WASI preview1 module"), "{page}");
    let run_page = render(&run(&["man", "run"]).stdout);
    assert!(run_page.contains("wasmhost-run") && run_page.contains("--preload") && run_page.contains("--invoke"), "{run_page}");
    let out = run(&["man", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no subcommand \"nope\" (there are run, inspect"), "{}", text(&out.stderr));
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
