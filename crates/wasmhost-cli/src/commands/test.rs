//! `wasmhost test [OPTIONS] DIR...`: runs directories of guest test programs
//! (wasi-testsuite's legacy format) in parallel and reports them.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use wasmhost::{Host, HostConfig};
use wasmhost_log::Pipeline;
use wasmhost_testsuite::{discover, json_lines, junit, run_suites, Expectations, Outcome, RunConfig, Summary, TestResult};

use super::{log_sink, parse_duration, OutputArgs};

/// Arguments of `wasmhost test`.
#[derive(Args)]
pub struct TestArgs {
    /// Suite directories: each directory with a manifest.json below them is a
    /// suite, or the directory itself.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// Tests running at once (default: the number of cores).
    #[arg(short = 'j', long)]
    jobs: Option<usize>,
    /// Per-test time limit; a test that hits it fails.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    timeout: Duration,
    /// Run only the tests whose `suite/name` contains this.
    #[arg(long)]
    filter: Option<String>,
    /// A TOML file: `skip = [...]`, `expected_failures = [...]` (patterns with `*`).
    #[arg(long, value_name = "FILE")]
    expectations: Option<PathBuf>,
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// Write one JSON object per test here.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Append the tests' tagged log lines here. Default: stderr, or, at a
    /// terminal (where a progress bar shows), a new file in the temporary
    /// directory, whose path is printed.
    #[arg(long, value_name = "PATH")]
    log_file: Option<PathBuf>,
    /// How the tagged lines look.
    #[command(flatten)]
    output: OutputArgs,
}

pub fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let mut suites = Vec::new();
    for dir in &args.dirs {
        suites.extend(discover(dir)?);
    }
    let mut config = RunConfig { timeout: args.timeout, filter: args.filter.clone(), ..RunConfig::default() };
    if let Some(jobs) = args.jobs {
        config.jobs = jobs.max(1);
    }
    if let Some(path) = &args.expectations {
        config.expectations = Expectations::load(path)?;
    }
    let host = Arc::new(Host::new(HostConfig::default())?);
    // At a terminal the progress bar is on stderr, and the tests' tagged
    // lines would scroll it away: they go to a file unless told otherwise.
    let tty = std::io::stderr().is_terminal();
    let log_file = match (&args.log_file, tty) {
        (Some(path), _) => Some(path.clone()),
        (None, true) => Some(default_log_file()),
        (None, false) => None,
    };
    let pipeline = Pipeline::spawn(log_sink(log_file.as_deref(), &args.output)?, host.config().queue_capacity)
        .context("starting the log pipeline")?;
    let total: usize = suites.iter().map(|s| s.tests.len()).sum();
    let runtime = wasmhost::runtime_builder()
        .worker_threads(config.jobs.clamp(1, std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)))
        .build()
        .context("starting the tokio runtime")?;
    let bar = match tty {
        true => {
            if let (Some(path), None) = (&log_file, &args.log_file) {
                eprintln!("the tests' tagged lines: {}", path.display());
            }
            let style = ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} {elapsed} {wide_msg}")
                .context("the progress bar's template")?
                .progress_chars("=> ");
            ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr()).with_style(style)
        }
        false => ProgressBar::hidden(),
    };
    let results = runtime.block_on(run_suites(host, &suites, &config, pipeline.sender(), |r| {
        bar.inc(1);
        bar.set_message(r.full_name());
        // At a terminal a failure shows at once, above the bar.
        if tty {
            if let Some(line) = failure_line(r) {
                bar.suspend(|| println!("{line}"));
            }
        }
    }));
    bar.finish_and_clear();
    drop(runtime);
    pipeline.finish();
    if !tty {
        results.iter().filter_map(failure_line).for_each(|line| println!("{line}"));
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, junit(&results)).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.json {
        std::fs::write(path, json_lines(&results)).with_context(|| format!("writing {}", path.display()))?;
    }
    let summary = Summary::of(&results);
    println!("{summary}");
    if let (true, Some(path), None) = (tty, &log_file, &args.log_file) {
        eprintln!("the tests' tagged lines: {}", path.display());
    }
    Ok(if summary.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `FAIL suite/name: reason [wasm_instance_id …]` for a failed test.
fn failure_line(r: &TestResult) -> Option<String> {
    let Outcome::Failed(reason) = &r.outcome else { return None };
    let id = r.wasm_instance_id.as_deref().map(|id| format!(" [wasm_instance_id {id}]")).unwrap_or_default();
    Some(format!("FAIL {}: {reason}{id}", r.full_name()))
}

/// A new file for the tagged lines of a run at a terminal:
/// `$TMPDIR/wasmhost-test-UNIXTIME-PID.log`.
fn default_log_file() -> PathBuf {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    std::env::temp_dir().join(format!("wasmhost-test-{secs}-{}.log", std::process::id()))
}
