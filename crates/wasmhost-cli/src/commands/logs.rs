//! `wasmhost logs QUERY [FILES...]`: a LogQL query over JSON-lines files (or
//! stdin), printing matching lines or, for metric queries, one sample a line.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use wasmhost_logql::{format_sample, parse, Query};

/// Arguments of `wasmhost logs`.
#[derive(Args)]
pub struct LogsArgs {
    /// The LogQL query, e.g. `{job="gateway"} | json | lang="rust"`.
    query: String,
    /// JSON-lines files to read (default: stdin).
    files: Vec<PathBuf>,
}

pub fn logs(args: LogsArgs) -> anyhow::Result<ExitCode> {
    let query = parse(&args.query).with_context(|| format!("query {:?}", args.query))?;
    let mut readers: Vec<(String, Box<dyn BufRead>)> = Vec::new();
    if args.files.is_empty() {
        readers.push(("stdin".into(), Box::new(BufReader::new(std::io::stdin()))));
    }
    for path in &args.files {
        let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        readers.push((path.display().to_string(), Box::new(BufReader::new(file))));
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match query {
        Query::Log(q) => each_line(readers, |line| match q.run(line) {
            // A reader that went away (`| head`) ends the output.
            Some(passed) => writeln!(out, "{}", passed.text).is_ok(),
            None => true,
        })?,
        Query::Metric(q) => {
            let mut lines = Vec::new();
            each_line(readers, |line| {
                lines.push(line.to_owned());
                true
            })?;
            for sample in q.evaluate(lines.iter().map(String::as_str)) {
                if writeln!(out, "{}", format_sample(&sample)).is_err() {
                    break;
                }
            }
        }
    }
    let _ = out.flush();
    Ok(ExitCode::SUCCESS)
}

/// Calls `f` with every line of every reader, in order, until it returns
/// false. Lines that are not UTF-8 are read lossily, as the host writes them.
fn each_line(readers: Vec<(String, Box<dyn BufRead>)>, mut f: impl FnMut(&str) -> bool) -> anyhow::Result<()> {
    for (name, reader) in readers {
        for line in reader.split(b'\n') {
            let line = line.with_context(|| format!("reading {name}"))?;
            if !f(&String::from_utf8_lossy(&line)) {
                return Ok(());
            }
        }
    }
    Ok(())
}
