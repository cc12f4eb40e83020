//! `wasmhost logs QUERY [FILES...]`: a LogQL query over JSON-lines files (or
//! stdin) with Loki's data model and answers: `--output json` is Loki's
//! query API JSON, `text` is for people, `raw` is the lines alone.

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use wasmhost_logql::{
    format_rfc3339, format_value, in_window, metric_json, parse, parse_duration, parse_rfc3339, prom_labels, Direction, MetricEvaluator,
    MetricResult, Query, Steps, StreamsCollector,
};

/// How results are written.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    /// Loki's query API JSON (`{"status":"success","data":{"resultType":…}}`).
    Json,
    /// Labels and values for people (the default on a terminal).
    Text,
    /// Log lines as they are; metric samples as text (the default otherwise).
    Raw,
}

/// Which end of the results `--limit` keeps.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Dir {
    /// Newest first (Loki's default).
    Backward,
    /// Oldest first.
    Forward,
}

/// Arguments of `wasmhost logs`.
#[derive(Args)]
pub struct LogsArgs {
    /// The LogQL query, e.g. `{job="gateway"} | json | lang="rust"`.
    query: String,
    /// JSON-lines files to read (default: stdin).
    files: Vec<PathBuf>,
    /// Stream labels: the top-level fields that are Loki stream labels
    /// (default: the set the Loki sink pushes: job,lang,module,stream).
    /// Everything else is reached through `| json`, as in Loki.
    #[arg(long, value_delimiter = ',')]
    stream_labels: Option<Vec<String>>,
    /// Instant query time (RFC 3339 or Unix seconds). Default: the newest
    /// `ts` of the lines the query selects (a file has no "now").
    #[arg(long, conflicts_with_all = ["from", "since"])]
    time: Option<String>,
    /// Range query start (RFC 3339 or Unix seconds); makes a metric query a range query.
    #[arg(long)]
    from: Option<String>,
    /// Range query end (default: now).
    #[arg(long)]
    to: Option<String>,
    /// Range query start relative to `--to`, e.g. `1h`.
    #[arg(long, conflicts_with = "from")]
    since: Option<String>,
    /// Range query resolution, e.g. `1m` (default: Loki's, range/250, at least 1s).
    #[arg(long)]
    step: Option<String>,
    /// At most this many log lines (default: all; with `--output json` set
    /// one to bound memory).
    #[arg(long)]
    limit: Option<usize>,
    /// Which lines `--limit` keeps and their order in `--output json`.
    #[arg(long, value_enum, default_value = "backward")]
    direction: Dir,
    /// Output format (default: text on a terminal, raw otherwise).
    #[arg(long, value_enum)]
    output: Option<Output>,
}

/// Nanoseconds since the epoch of RFC 3339 text or Unix seconds.
fn parse_time(text: &str) -> anyhow::Result<i128> {
    if let Some(ns) = parse_rfc3339(text) {
        return Ok(ns);
    }
    let secs: f64 = text.parse().with_context(|| format!("{text:?} is neither RFC 3339 nor Unix seconds"))?;
    Ok((secs * 1e9) as i128)
}

fn parse_dur(text: &str) -> anyhow::Result<i128> {
    let secs = parse_duration(text).filter(|s| *s > 0.0).with_context(|| format!("{text:?} is not a duration like 5m"))?;
    Ok((secs * 1e9) as i128)
}

fn now_ns() -> i128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128)
}

pub fn logs(args: LogsArgs) -> anyhow::Result<ExitCode> {
    let query = parse(&args.query).with_context(|| {
        // A long query is named by its start: the error says what is wrong with it.
        let shown: String = args.query.chars().take(120).collect();
        let more = if shown.len() < args.query.len() { "…" } else { "" };
        format!("query {shown:?}{more}")
    })?;
    let stream_labels: Vec<String> =
        args.stream_labels.clone().unwrap_or_else(|| wasmhost_log::DEFAULT_STREAM_LABELS.iter().map(|s| s.to_string()).collect());
    let ranged = args.from.is_some() || args.to.is_some() || args.since.is_some() || args.step.is_some();
    let steps = if ranged {
        let end = match &args.to {
            Some(t) => parse_time(t).context("--to")?,
            None => now_ns(),
        };
        let start = match (&args.from, &args.since) {
            (Some(f), _) => parse_time(f).context("--from")?,
            (None, Some(s)) => end - parse_dur(s).context("--since")?,
            (None, None) => end - 3_600_000_000_000,
        };
        anyhow::ensure!(start <= end, "the range ends before it starts");
        let step = match &args.step {
            Some(s) => parse_dur(s).context("--step")?,
            // Loki's default: a 250th of the range, at least a second.
            None => (((end - start) / 1_000_000_000) / 250).max(1) * 1_000_000_000,
        };
        Steps::Range { start, end, step }
    } else {
        Steps::Instant(args.time.as_deref().map(parse_time).transpose().context("--time")?)
    };
    let output = args.output.unwrap_or(if std::io::stdout().is_terminal() { Output::Text } else { Output::Raw });
    let mut readers: Vec<(String, Box<dyn BufRead + Send>)> = Vec::new();
    if args.files.is_empty() {
        readers.push(("stdin".into(), Box::new(BufReader::new(std::io::stdin()))));
    }
    for path in &args.files {
        let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        readers.push((path.display().to_string(), Box::new(BufReader::with_capacity(1 << 20, file))));
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match query {
        Query::Log(q) => {
            let window = match steps {
                Steps::Range { start, end, .. } => Some((start, end)),
                Steps::Instant(_) => None,
            };
            if output == Output::Json {
                let direction = if args.direction == Dir::Forward { Direction::Forward } else { Direction::Backward };
                let mut c = StreamsCollector::new(args.limit, direction);
                each_line(readers, |line| {
                    if let Some(p) = q.run(line, &stream_labels).filter(|p| in_window(p, window)) {
                        c.push(p);
                    }
                    true
                })?;
                let _ = writeln!(out, "{}", c.finish());
            } else if output == Output::Raw && args.limit.is_none() && !q.is_ordered() {
                // Only the lines are printed: parsers extract only what filters read.
                let needed = q.referenced_labels();
                let run = |chunk: &[u8], buf: &mut Vec<u8>| {
                    for_lines(chunk, |line| {
                        if let Some(text) = q.run_text(line, &stream_labels, needed.as_deref(), window) {
                            buf.extend_from_slice(text.as_bytes());
                            buf.push(b'\n');
                        }
                    })
                };
                parallel(readers, || (), |_, chunk, buf| run(chunk, buf), |buf| out.write_all(buf).is_ok(), |_| ())?;
            } else {
                let mut left = args.limit.unwrap_or(usize::MAX);
                each_line(readers, |line| {
                    if left == 0 {
                        return false;
                    }
                    let Some(p) = q.run(line, &stream_labels).filter(|p| in_window(p, window)) else { return true };
                    left -= 1;
                    // A reader that went away (`| head`) ends the output.
                    match output {
                        Output::Text => {
                            let ts = p.ts.map(format_rfc3339).unwrap_or_default();
                            writeln!(out, "{ts} {} {}", prom_labels(&p.labels), p.text).is_ok()
                        }
                        _ => writeln!(out, "{}", p.text).is_ok(),
                    }
                })?;
            }
        }
        Query::Metric(m) => {
            let new = || MetricEvaluator::new(m.clone(), steps, stream_labels.clone());
            let mut total = new();
            if total.mergeable() {
                parallel(readers, new, |ev, chunk, _| for_lines(chunk, |line| ev.push(line)), |_| true, |ev| total.merge(ev))?;
            } else {
                each_line(readers, |line| {
                    total.push(line);
                    true
                })?;
            }
            let result = total.finish()?;
            if output == Output::Json {
                let _ = writeln!(out, "{}", metric_json(&result));
            } else {
                write_metric_text(&mut out, &result);
            }
        }
    }
    let _ = out.flush();
    Ok(ExitCode::SUCCESS)
}

/// Calls `f` with each line of a chunk of whole lines (lossily decoded
/// when not UTF-8, as the host writes them).
fn for_lines(chunk: &[u8], mut f: impl FnMut(&str)) {
    // A chunk is nearly always UTF-8 as a whole: checked once, and split
    // with str's word-at-a-time search for the newline.
    if let Ok(text) = std::str::from_utf8(chunk) {
        text.split('\n').filter(|l| !l.is_empty()).for_each(f);
        return;
    }
    for line in chunk.split(|b| *b == b'\n') {
        if line.is_empty() {
            continue;
        }
        match std::str::from_utf8(line) {
            Ok(l) => f(l),
            Err(_) => f(&String::from_utf8_lossy(line)),
        }
    }
}

/// Chunks read for the workers: about 1 MiB of whole lines each.
const CHUNK: usize = 1 << 20;

/// Runs `work` over chunks of whole lines on every core: each worker has
/// its own state (`init`), fills an output buffer per chunk, and the
/// buffers are written in input order (`emit`, false: stop). At the end
/// each worker's state goes to `fold`. At most two chunks per worker are
/// in flight, so memory stays bounded whatever the input size.
fn parallel<S: Send>(
    readers: Vec<(String, Box<dyn BufRead + Send>)>,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, &[u8], &mut Vec<u8>) + Sync,
    mut emit: impl FnMut(&[u8]) -> bool,
    mut fold: impl FnMut(S),
) -> anyhow::Result<()> {
    use std::sync::mpsc::sync_channel;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).max(1);
    let (chunk_tx, chunk_rx) = sync_channel::<(u64, Vec<u8>)>(workers * 2);
    let chunk_rx = std::sync::Mutex::new(chunk_rx);
    let (out_tx, out_rx) = sync_channel::<(u64, Vec<u8>)>(workers * 2);
    // Set when `emit` says stop (a reader of our output went away): the
    // reader stops reading and the workers stop working.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let stopped = || stop.load(std::sync::atomic::Ordering::Relaxed);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let mut handles = Vec::new();
        for _ in 0..workers {
            let out_tx = out_tx.clone();
            let (chunk_rx, init, work, stopped) = (&chunk_rx, &init, &work, &stopped);
            handles.push(scope.spawn(move || {
                let mut state = init();
                loop {
                    let next = chunk_rx.lock().map_or(None, |rx| rx.recv().ok());
                    let Some((seq, chunk)) = next else { break };
                    let mut buf = Vec::new();
                    if !stopped() {
                        work(&mut state, &chunk, &mut buf);
                    }
                    if out_tx.send((seq, buf)).is_err() {
                        break;
                    }
                }
                state
            }));
        }
        drop(out_tx);
        let stopped = &stopped;
        let reader = scope.spawn(move || -> anyhow::Result<()> {
            let mut seq = 0;
            for (name, mut reader) in readers {
                let mut carry: Vec<u8> = Vec::new();
                while !stopped() {
                    let mut chunk = std::mem::take(&mut carry);
                    chunk.reserve(CHUNK);
                    // Read into the spare room as is (no zero-filling first).
                    let n = (&mut reader).take(CHUNK as u64).read_to_end(&mut chunk).with_context(|| format!("reading {name}"))?;
                    if n == 0 {
                        if !chunk.is_empty() && chunk_tx.send((seq, chunk)).is_err() {
                            return Ok(());
                        }
                        seq += 1;
                        break;
                    }
                    // Whole lines only: the tail goes to the next chunk (all of
                    // it while a line is longer than a chunk).
                    match chunk.iter().rposition(|b| *b == b'\n') {
                        Some(end) => carry = chunk.split_off(end + 1),
                        None => {
                            carry = chunk;
                            continue;
                        }
                    }
                    if chunk_tx.send((seq, chunk)).is_err() {
                        return Ok(());
                    }
                    seq += 1;
                }
            }
            Ok(())
        });
        // Buffers come back in any order; they leave in input order.
        let mut pending = std::collections::BTreeMap::new();
        let mut next = 0;
        let mut writing = true;
        for (seq, buf) in out_rx.iter() {
            pending.insert(seq, buf);
            while let Some(buf) = pending.remove(&next) {
                writing = writing && emit(&buf);
                if !writing {
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                next += 1;
            }
        }
        let read = reader.join().map_err(|_| anyhow::anyhow!("the reader thread panicked"))?;
        for h in handles {
            fold(h.join().map_err(|_| anyhow::anyhow!("a worker thread panicked"))?);
        }
        read
    })
}

/// `{a="1", b="2"} 3` per sample, as logcli prints an instant vector; a
/// matrix lists each series' points (RFC 3339 time, value) under it.
fn write_metric_text(out: &mut impl Write, result: &MetricResult) {
    let _ = match result {
        MetricResult::Vector { samples, .. } => samples.iter().try_for_each(|(l, v)| writeln!(out, "{} {}", prom_labels(l), format_value(*v))),
        MetricResult::Scalar { value, .. } => writeln!(out, "{}", format_value(*value)),
        MetricResult::Matrix(series) => series.iter().try_for_each(|(l, points)| {
            writeln!(out, "{}", prom_labels(l))?;
            points.iter().try_for_each(|(t, v)| writeln!(out, "  {} {}", format_rfc3339(*t), format_value(*v)))
        }),
    };
}

/// Calls `f` with every line of every reader, in order, until it returns
/// false. Lines that are not UTF-8 are read lossily, as the host writes them.
fn each_line(readers: Vec<(String, Box<dyn BufRead + Send>)>, mut f: impl FnMut(&str) -> bool) -> anyhow::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    for (name, mut reader) in readers {
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf).with_context(|| format!("reading {name}"))?;
            if n == 0 {
                break;
            }
            if buf.last() == Some(&b'\n') {
                buf.pop();
            }
            let keep_going = match std::str::from_utf8(&buf) {
                Ok(line) => f(line),
                Err(_) => f(&String::from_utf8_lossy(&buf)),
            };
            if !keep_going {
                return Ok(());
            }
        }
    }
    Ok(())
}
