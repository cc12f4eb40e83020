//! Hardening (issue 18; the Ctrl-C and label parts of issue 16): limits and
//! signals that hold for guests blocked in a host call, readers that go away,
//! shutdowns that lose nothing silently, bounded lines, guest bytes that
//! cannot drive the terminal, labels that cannot corrupt a record, a compile
//! cache that cannot crash the host. Real binary, guests built from source.
//!
//! Timing bounds are generous (a loaded 2-core CI machine): each is far
//! below what the broken behaviour took (20 s sleeps, endless runs).

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;

fn p(path: &std::path::Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn signal(child: &Child, name: &str) {
    let status = std::process::Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

/// Reads the child's stderr until its first line (`instance.start`: the
/// guest is about to run), keeping everything read.
fn wait_for_start(child: &mut Child) -> (BufReader<std::process::ChildStderr>, String) {
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert!(first.contains("instance.start"), "{first}");
    (reader, first)
}

/// The instance's last two lines are its closing events, stopped then exit.
fn assert_closed_by_stop(lines: &[Value], exit_code: i64) {
    let n = lines.len();
    assert!(n >= 3, "{lines:?}");
    assert_eq!(lines[n - 2]["event"], "instance.stopped", "{lines:?}");
    assert_eq!(lines[n - 1]["event"], "instance.exit");
    assert_eq!(lines[n - 1]["exit_code"], exit_code);
}

// Item 1: --timeout stops a guest blocked in a host call.
#[test]
fn a_timeout_stops_a_guest_sleeping_in_poll_oneoff() {
    for flags in [["--timeout", "500ms"], ["-W", "timeout=500ms"]] {
        let started = Instant::now();
        let out = wasmhost().arg("run").args(flags).arg(guest("c/sleep")).arg("20000").output().unwrap();
        let elapsed = started.elapsed();
        assert_eq!(out.status.code(), Some(134), "{}", text(&out.stderr));
        assert!(elapsed >= Duration::from_millis(500) && elapsed < Duration::from_secs(5), "{flags:?}: {elapsed:?}");
        let lines = json_lines(&out.stderr);
        assert_schema_valid(&lines);
        let timeout = events(&lines, "instance.timeout");
        assert_eq!(timeout.len(), 1, "{lines:?}");
        assert_eq!(timeout[0]["timeout_ms"], 500.0);
        let elapsed_ms = timeout[0]["elapsed_ms"].as_f64().unwrap();
        assert!((500.0..4000.0).contains(&elapsed_ms), "{elapsed_ms}");
        assert!(stderr_lines(&lines).is_empty(), "it never woke up to write");
        assert_eq!(lines.last().unwrap()["event"], "instance.exit");
        assert_eq!(lines.last().unwrap()["exit_code"], 134);
    }
}

#[test]
fn a_timeout_stops_a_guest_waiting_on_stdin() {
    let started = Instant::now();
    let mut child = wasmhost()
        .args(["run", "--timeout", "500ms", p(&guest("c/readin"))])
        .stdin(Stdio::piped()) // kept open: the guest would wait forever
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // wait_with_output closes the child's stdin: hold it open until the end.
    let stdin = child.stdin.take();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let elapsed = started.elapsed();
    assert_eq!(out.status.code(), Some(134), "{}", text(&out.stderr));
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let lines = json_lines(&out.stderr);
    assert_schema_valid(&lines);
    assert_eq!(stderr_lines(&lines)[0]["msg"], "reading stdin");
    assert_eq!(events(&lines, "instance.timeout").len(), 1);
    assert_eq!(lines.last().unwrap()["event"], "instance.exit");
}

// Item 3 (and issue 16): Ctrl-C / SIGTERM on a blocked guest.
#[test]
fn ctrl_c_on_a_sleeping_guest_ends_within_200ms_with_both_events() {
    // The best of three attempts, so a scheduling hiccup of a loaded machine
    // does not fail it; the bug this guards against took 2 s every time.
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let mut child = wasmhost()
            .args(["run", p(&guest("c/sleep")), "60000"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (mut reader, first) = wait_for_start(&mut child);
        std::thread::sleep(Duration::from_millis(100)); // the guest is in poll_oneoff
        let sent = Instant::now();
        signal(&child, "INT");
        let status = child.wait().unwrap();
        best = best.min(sent.elapsed());
        assert_eq!(status.code(), Some(130));
        let mut rest = String::new();
        reader.read_to_string(&mut rest).unwrap();
        let lines = json_lines(format!("{first}{rest}").as_bytes());
        assert_schema_valid(&lines);
        assert_closed_by_stop(&lines, 134);
        let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, [1, 2, 3]);
    }
    assert!(best < Duration::from_millis(200), "Ctrl-C took {best:?}");
}

// One instance without a timeout runs without epoch checks (as under
// `wasmtime run`): nothing can stop a guest computing in wasm, yet Ctrl-C
// still ends the process at once and the guest's log still closes.
#[test]
fn ctrl_c_on_a_spinning_guest_closes_its_log_with_or_without_epochs() {
    for (extra, why) in [(&[][..], "could not be interrupted"), (&["-W", "epoch-interruption=y"][..], "the host is shutting down")] {
        let mut child = wasmhost()
            .arg("run")
            .args(extra)
            .arg(guest("c/spin"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (mut reader, first) = wait_for_start(&mut child);
        let mut second = String::new();
        reader.read_line(&mut second).unwrap();
        assert!(second.contains("spinning"), "{second}");
        let sent = Instant::now();
        signal(&child, "INT");
        let status = child.wait().unwrap();
        assert!(sent.elapsed() < Duration::from_millis(1500), "{extra:?}: {:?}", sent.elapsed());
        assert_eq!(status.code(), Some(130), "{extra:?}");
        let mut rest = String::new();
        reader.read_to_string(&mut rest).unwrap();
        let lines = json_lines(format!("{first}{second}{rest}").as_bytes());
        assert_schema_valid(&lines);
        assert_closed_by_stop(&lines, 134);
        let stopped = &lines[lines.len() - 2];
        assert!(stopped["msg"].as_str().unwrap().contains(why), "{extra:?}: {stopped}");
        let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, [1, 2, 3, 4], "{extra:?}");
    }
    // A timeout needs the checks: asking for both is refused, clearly.
    let out = run(&["run", "-W", "epoch-interruption=n", "--timeout", "1s", p(&guest("c/spin"))]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("a timeout needs epoch interruption"), "{}", text(&out.stderr));
}

#[test]
fn sigterm_stops_guests_blocked_on_stdin_and_in_sleeps_at_once() {
    let mut child = wasmhost()
        .args(["run", p(&guest("c/readin"))])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _stdin = child.stdin.take(); // open, never written
    let (mut reader, first) = wait_for_start(&mut child);
    let mut second = String::new();
    reader.read_line(&mut second).unwrap();
    assert!(second.contains("reading stdin"), "{second}");
    let sent = Instant::now();
    signal(&child, "TERM");
    let status = child.wait().unwrap();
    assert!(sent.elapsed() < Duration::from_millis(1500), "{:?}", sent.elapsed());
    assert_eq!(status.code(), Some(143));
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    let lines = json_lines(format!("{first}{second}{rest}").as_bytes());
    assert_schema_valid(&lines);
    assert_closed_by_stop(&lines, 134);

    // Many sleeping instances: each closes its own log.
    let mut child = wasmhost()
        .args(["run", "--instances", "20", p(&guest("c/sleep")), "60000"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut out = String::new();
    for _ in 0..20 {
        reader.read_line(&mut out).unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    let sent = Instant::now();
    signal(&child, "TERM");
    let status = child.wait().unwrap();
    assert!(sent.elapsed() < Duration::from_millis(1500), "{:?}", sent.elapsed());
    assert_eq!(status.code(), Some(143));
    reader.read_to_string(&mut out).unwrap();
    let lines = json_lines(out.as_bytes());
    assert_schema_valid(&lines);
    let mut by_instance: std::collections::BTreeMap<&str, Vec<Value>> = Default::default();
    for line in &lines {
        by_instance.entry(line["wasm_instance_id"].as_str().unwrap()).or_default().push(line.clone());
    }
    assert_eq!(by_instance.len(), 20);
    for lines in by_instance.values() {
        assert_closed_by_stop(lines, 134);
    }
}

// Item 5: SIGHUP is a shutdown like SIGTERM.
#[test]
fn sighup_flushes_and_exits_129() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.log");
    let mut child = wasmhost()
        .args(["run", "--log-file", p(&log), p(&guest("c/logger")), "1000000000"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    signal(&child, "HUP");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(129));
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(err.is_empty(), "{err}");
    let lines = json_lines(&std::fs::read(&log).unwrap());
    assert!(lines.len() > 100, "it ran: {}", lines.len());
    assert_schema_valid(&lines);
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "every accepted line, whole");
    assert_closed_by_stop(&lines, 134);
}

// Item 2: a reader that goes away ends the run.
#[test]
fn a_log_reader_that_goes_away_gives_the_guest_epipe() {
    // `wasmhost run --capture stdout,stderr flood 2>&1 | head -1`, and the
    // default stderr flood into `head -c 100`.
    for capture in [&["--capture", "stdout,stderr"][..], &[][..]] {
        let stream = if capture.is_empty() { "stderr" } else { "stdout" };
        let started = Instant::now();
        let mut child = wasmhost()
            .arg("run")
            .args(capture)
            .args([p(&guest("c/flood")), stream])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut head = [0u8; 100];
        child.stderr.as_mut().unwrap().read_exact(&mut head).unwrap();
        drop(child.stderr.take());
        let status = child.wait().unwrap();
        assert!(started.elapsed() < Duration::from_secs(10), "{capture:?}: {:?}", started.elapsed());
        assert_eq!(status.code(), Some(32), "{capture:?}: the guest saw EPIPE and stopped");
    }
}

// Item 2, uncaptured stdout: the guest's stdout is the host's, and a reader
// that went away reaches the guest as EPIPE too. (wasmtime-wasi 48's inherited
// stdout, which `wasmtime run` uses, says EIO here: a broken pipe becomes a
// closed stream, which preview1 can only call EIO; wasmhost passes the OS
// error through, as for its captured streams.)
#[test]
fn uncaptured_stdout_into_a_closed_pipe_gives_the_guest_epipe() {
    let started = Instant::now();
    let mut child = wasmhost().args(["run", p(&guest("c/flood")), "stdout"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut head = [0u8; 100];
    child.stdout.as_mut().unwrap().read_exact(&mut head).unwrap();
    assert!(head.starts_with(b"flood 0000000001: "), "{}", text(&head));
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(out.status.code(), Some(32), "the guest saw EPIPE and stopped: {}", text(&out.stderr));
    let lines = json_lines(&out.stderr);
    assert_schema_valid(&lines);
    assert_eq!(lines.last().unwrap()["event"], "instance.exit");
    assert_eq!(lines.last().unwrap()["exit_code"], 32);
}

// Item 12: the lost-line count is exact. It counts the records the host
// accepted and could not write. Once every sink has failed, the guest's own
// writes fail (ENOSPC here) and make no records, as writing to the full disk
// itself would: with `--log-file /dev/full` alone, a guest's lines are
// refused as soon as the first record has failed.
#[test]
fn a_full_disk_loses_lines_counted_exactly() {
    let dir = tempfile::tempdir().unwrap();
    // Beside a working sink every line is accepted, and the full disk loses
    // exactly what the working sink wrote: several 64 KiB buffers' worth.
    let ok = dir.path().join("ok.log");
    let config = dir.path().join("routes.toml");
    std::fs::write(&config, format!("default_sinks = [\"default\", \"ok\"]\n[sinks.ok]\ntype = \"file\"\npath = {:?}\n", p(&ok))).unwrap();
    let out = run(&["run", "--log-file", "/dev/full", "--config", p(&config), p(&guest("c/logger")), "3000"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let records = json_lines(&std::fs::read(&ok).unwrap()).len();
    assert_eq!(records, 3002, "start, 3000 lines, exit");
    let err = text(&out.stderr);
    assert_eq!(err.matches("could not be written").count(), 1, "{err}");
    assert!(err.contains(&format!("warning: {records} log lines could not be written: No space left on device")), "{err}");
    // Alone: instance.start fails at once; the guest's line, written 300 ms
    // later, is refused (the guest ignores that), and instance.exit fails.
    let out = run(&["run", "--log-file", "/dev/full", p(&guest("c/sleep")), "300"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("warning: 2 log lines could not be written: No space left on device"), "{err}");
    // A guest that checks its writes is told: its write fails (ENOSPC).
    let started = Instant::now();
    let out = run(&["run", "--log-file", "/dev/full", p(&guest("c/flood"))]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(10));
}

// Item 4: SIGTERM with a slow log reader.
#[test]
fn sigterm_with_a_slow_reader_writes_whole_lines_closing_events_and_the_count() {
    let mut child = wasmhost()
        .args(["run", "--drain-grace", "1s", p(&guest("c/flood"))])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    // A reader of 4 KiB every 20 ms: the queue (16,384 lines) takes many
    // seconds to drain.
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stderr.read(&mut buf) {
                Ok(0) | Err(_) => return all,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    std::thread::sleep(Duration::from_millis(1500));
    let sent = Instant::now();
    signal(&child, "TERM");
    let status = child.wait().unwrap();
    assert!(sent.elapsed() < Duration::from_secs(8), "grace 1 s, then 2 s at most: {:?}", sent.elapsed());
    assert_eq!(status.code(), Some(143));
    let out = String::from_utf8(reader.join().unwrap()).unwrap();
    let (json, warning): (Vec<&str>, Vec<&str>) = out.lines().partition(|l| l.starts_with('{'));
    // Only whole lines: every line parses.
    let lines = json_lines(json.join("\n").as_bytes());
    assert_schema_valid(&lines);
    assert_closed_by_stop(&lines, 134);
    assert_eq!(warning.len(), 1, "{warning:?}");
    let left_out: u64 = warning[0]
        .split("drain within 1s: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count: {}", warning[0]));
    // Exact: what was written and what was left out make every seq.
    let last_seq = lines.last().unwrap()["seq"].as_u64().unwrap();
    assert!(left_out > 0);
    assert_eq!(lines.len() as u64 + left_out, last_seq, "{}", warning[0]);
}

// Item 4, the worst case: a log reader that reads nothing at all. After the
// grace and 2 s more the sink is given up on: the run ends and says which
// instances may lack their closing events.
#[test]
fn sigterm_with_a_reader_that_reads_nothing_names_the_instances_left_unclosed() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("log.fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    // Held open and never read: the sink's writes block once the pipe is full.
    let held = std::fs::OpenOptions::new().read(true).write(true).open(&fifo).unwrap();
    let child = wasmhost()
        .args(["run", "--drain-grace", "500ms", "--log-file", p(&fifo), p(&guest("c/flood"))])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let sent = Instant::now();
    signal(&child, "TERM");
    let out = child.wait_with_output().unwrap();
    assert!(sent.elapsed() < Duration::from_secs(9), "2 s for the guests, the 0.5 s grace, 2 s more: {:?}", sent.elapsed());
    assert_eq!(out.status.code(), Some(143), "{}", text(&out.stderr));
    let mut first = String::new();
    BufReader::new(held).read_line(&mut first).unwrap();
    let start: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(start["event"], "instance.start");
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("wasmhost: warning: the log sinks did not drain within 500ms and are stuck"), "{err}");
    assert!(err.contains(start["wasm_instance_id"].as_str().unwrap()), "names the instance: {err}");
}

// Item 6: a corrupted compile-cache entry is detected, not run.
#[test]
fn a_corrupted_cache_entry_is_compiled_again_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("hello.wasm");
    std::fs::copy(guest("c/hello"), &module).unwrap();
    let cache = dir.path().join("cache");
    let start = || {
        let out = wasmhost().env("WASMHOST_CACHE_DIR", &cache).arg("run").arg(&module).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let lines = json_lines(&out.stderr);
        assert_schema_valid(&lines);
        lines[0].clone()
    };
    assert_eq!(start()["compile"], "compiled");
    // The code's entry (the detection beside it has a test of its own, in the wasmhost crate).
    let entry = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).find(|p| p.extension().is_some_and(|x| x == "cwasm")).unwrap();
    let good = std::fs::read(&entry).unwrap();
    // Flipped bytes in the code, in its middle and at the end (the checksum).
    for at in [good.len() / 2, good.len() / 3, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x5a;
        std::fs::write(&entry, &bad).unwrap();
        let event = start();
        assert_eq!(event["compile"], "compiled", "byte {at}");
        assert!(event["cache_error"].as_str().unwrap().contains("checksum"), "{event}");
        // Replaced by a good entry.
        let event = start();
        assert_eq!(event["compile"], "cache");
        assert!(event.get("cache_error").is_none());
    }
}

// Item 8: the line limit has a floor and a ceiling.
#[test]
fn max_line_bytes_out_of_range_is_a_clear_error() {
    for value in ["0", "100", "100000000000", "2MiB"] {
        let out = run(&["run", "--max-line-bytes", value, p(&guest("c/hello"))]);
        assert_eq!(out.status.code(), Some(2), "{value}");
        let err = text(&out.stderr);
        assert!(err.contains("--max-line-bytes") && err.contains("outside 128..=1048576"), "{value}: {err}");
    }
    let out = run(&["run", "--max-line-bytes", "1MiB", p(&guest("c/hello"))]);
    assert_eq!(out.status.code(), Some(0));
}

/// A field of /proc/PID/status, in KiB (`VmHWM`, `VmRSS`).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field}: {status}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// CPU time the process has used so far, in clock ticks (utime + stime).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

// Item 8: one endless line into a reader that reads nothing. The line is cut
// into 1 MiB pieces; the queue holds 16,384 records, so only its byte bound
// (64 MiB) keeps memory from growing to 16 GiB: the guest must come to a
// halt (the process goes idle) with a small peak RSS.
#[test]
fn an_endless_line_into_a_stalled_reader_keeps_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("log.fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let mut child = wasmhost()
        .args(["run", "--max-line-bytes", "1MiB", "--log-file", p(&fifo), p(&guest("c/endless"))])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Opened (so the host's open of the FIFO returns) and not read.
    let reader = std::fs::File::open(&fifo).unwrap();
    let pid = child.id();
    // Idle: under 10 ticks (100 ms) of CPU in 1 s — the guest waits for
    // room, and waits asleep (it once spun on its own wake-ups).
    let started = Instant::now();
    let mut before = cpu_ticks(pid);
    let idle = loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = cpu_ticks(pid);
        if now - before < 10 {
            break true;
        }
        before = now;
        if started.elapsed() > Duration::from_secs(60) {
            break false;
        }
    };
    let hwm_mib = status_kib(pid, "VmHWM") / 1024;
    assert!(idle, "the guest never came to a halt: {hwm_mib} MiB at {:?}", started.elapsed());
    // 64 MiB of queue, the pieces being assembled and formatted, and the
    // host itself (~35 MiB): far below what 16,384 pieces of 1 MiB would take.
    assert!(hwm_mib < 256, "peak RSS {hwm_mib} MiB");
    // Now read it all: whole JSON lines, the pieces flagged `continued`.
    signal(&child, "TERM");
    let lines: Vec<Value> = BufReader::new(reader).lines().map(|l| serde_json::from_str(&l.unwrap()).unwrap()).collect();
    assert_eq!(child.wait().unwrap().code(), Some(143));
    assert_closed_by_stop(&lines, 134);
    let pieces = stderr_lines(&lines);
    // Every piece but the last (the guest's unfinished tail) is a full MiB.
    let (_, full) = pieces.split_last().unwrap();
    assert!(full.iter().all(|l| l["continued"] == true && l["msg"].as_str().unwrap().len() == 1 << 20));
    // The halt came from a full queue: tens of MiB of pieces were waiting.
    assert!(full.len() >= 32, "{} pieces", full.len());
}

// Item 11: a character straddling the cut is kept whole.
#[test]
fn a_utf8_character_across_the_line_limit_is_not_destroyed() {
    for (pad, ch) in [(127, "\\xe2\\x82\\xac"), (126, "\\xf0\\x9f\\x98\\x80"), (127, "\\xc3\\xa9")] {
        let out = run(&["run", "--max-line-bytes", "128", p(&guest("c/bytes")), "--pad", &pad.to_string(), &format!("{ch}uro\\n")]);
        assert_eq!(out.status.code(), Some(0));
        let lines = json_lines(&out.stderr);
        assert_schema_valid(&lines);
        let pieces = stderr_lines(&lines);
        assert_eq!(pieces.len(), 2, "{pieces:?}");
        assert_eq!(pieces[0]["msg"], "x".repeat(pad));
        assert_eq!(pieces[0]["continued"], true);
        let second = pieces[1]["msg"].as_str().unwrap();
        assert!(second.ends_with("uro") && !second.contains('\u{fffd}'), "{second}");
        assert!(pieces.iter().all(|l| l.get("invalid_utf8").is_none()), "{pieces:?}");
    }
}

// Item 9: control bytes from a guest never reach the terminal raw.
#[test]
fn text_output_escapes_guest_control_bytes() {
    let hostile = "\\x1b[2J\\x1b]0;pwned\\x07\\r12:00:00.000 INFO  c/trusted 00000000 #1 stderr: all good\\x00\\x9b\\n";
    let out = run(&["run", "--log-format", "text", p(&guest("c/bytes")), hostile]);
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(!err.bytes().any(|b| (b < 0x20 && b != b'\n') || b == 0x7f), "{err:?}");
    let line = err.lines().find(|l| l.contains(" stderr: ")).unwrap();
    assert!(line.contains(r"stderr: \x1b[2J\x1b]0;pwned\x07\r12:00:00.000 INFO  c/trusted"), "{line}");
    assert!(line.contains(r"all good\0"), "{line}");
    // JSON keeps the guest's text exact, escaped by JSON itself.
    let out = run(&["run", p(&guest("c/bytes")), hostile]);
    let lines = json_lines(&out.stderr);
    assert!(stderr_lines(&lines)[0]["msg"].as_str().unwrap().starts_with("\u{1b}[2J\u{1b}]0;pwned\u{7}\r12:00"));
}

// Item 10 (and issue 16): labels cannot corrupt a record.
#[test]
fn reserved_and_invalid_label_keys_are_refused() {
    for bad in ["exit_code=0", "trace_id=x", "span_id=x", "dropped=1", "lang=go", "seq=1", "cache_error=x", "event=x", "ts=0"] {
        let out = run(&["run", "--label", bad, p(&guest("c/exit")), "7"]);
        assert_eq!(out.status.code(), Some(1), "{bad}");
        let err = text(&out.stderr);
        assert!(err.contains("--label") && err.contains("is a field of the log format itself"), "{bad}: {err}");
        assert_eq!(err.lines().count(), 1);
    }
    for (bad, says) in [("has-dash=x", "must match"), ("9lives=x", "must match"), ("__name__=x", "`__`"), ("=x", "must match")] {
        let err = text(&run(&["run", "--label", bad, p(&guest("c/hello"))]).stderr);
        assert!(err.contains(says), "{bad}: {err}");
    }
    let out = run(&["run", "--label", "job=a", "--label", "job=b", p(&guest("c/hello"))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("\"job\" is given twice"));
}

#[test]
fn every_key_of_the_schema_is_reserved() {
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(root().join("docs/log-format.schema.json")).unwrap()).unwrap();
    let mut schema_keys: Vec<&str> = schema["properties"].as_object().unwrap().keys().map(String::as_str).collect();
    let mut reserved = wasmhost_log::RESERVED_KEYS.to_vec();
    schema_keys.sort_unstable();
    reserved.sort_unstable();
    assert_eq!(reserved, schema_keys, "RESERVED_KEYS and the schema's keys must be the same list");
}

// Item 13: errors that say what to do, and say it once.
#[test]
fn errors_name_their_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let dir_path = p(dir.path());
    for args in [vec!["run", dir_path], vec!["run", "--log-file", dir_path, p(&guest("c/hello"))]] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert_eq!(err.matches("Is a directory").count(), 1, "{err}");
    }
    // Rotation that would keep nothing but the last write is refused.
    let config = dir.path().join("zero.toml");
    std::fs::write(&config, format!("[sinks.f]\ntype = \"file\"\npath = \"{dir_path}/f.log\"\nmax_bytes = 0\nkeep = 0\n")).unwrap();
    let out = run(&["run", "--config", p(&config), p(&guest("c/hello"))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("max_bytes must be at least 1"), "{}", text(&out.stderr));
}

// Exit status 2 for a command line that cannot be parsed (clap's usage
// errors, as `wasmtime` 48 gives them: its main is `Wasmtime::parse()`), 1 for
// every error found after parsing — README "Exit status".
#[test]
fn usage_errors_exit_2_and_other_errors_exit_1() {
    let hello = guest("c/hello");
    for args in [vec!["run", "--no-such-flag", p(&hello)], vec!["run"], vec!["run", "--instances", "none", p(&hello)], vec!["--frobnicate"]] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.starts_with("error: ") && err.contains("--help"), "{args:?}: {err}");
    }
    // A word that is no subcommand is a module, as `wasmtime WORD` runs one.
    for args in [vec!["run", "no-such-module.wasm"], vec!["frobnicate"]] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(text(&out.stderr).starts_with("wasmhost: error: "), "{args:?}");
    }
    let out = run(&["run", "--label", "seq=1", p(&hello)]);
    assert_eq!(out.status.code(), Some(1), "checked after parsing");
}

#[test]
fn too_many_instances_for_the_kernel_point_at_max_map_count() {
    let current: u64 = std::fs::read_to_string("/proc/sys/vm/max_map_count").unwrap().trim().parse().unwrap();
    // Each pooled instance's stack guard page splits a mapping: 40,000 need
    // more than the default 65,530. A machine tuned higher has no error to show.
    if current > 80_000 {
        eprintln!("vm.max_map_count is {current}: 40,000 instances fit, nothing to check");
        return;
    }
    let out = run(&["run", "--instances", "40000", p(&guest("c/hello"))]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("vm.max_map_count = {current}")) && err.contains("sysctl"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
