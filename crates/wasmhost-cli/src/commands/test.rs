//! `wasmhost test [OPTIONS] DIR...`: runs directories of guest test programs
//! (wasi-testsuite's legacy format) in parallel and reports them.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use wasmhost::{Host, HostConfig};
use wasmhost_log::Pipeline;
use wasmhost_testsuite::{discover, json_lines, junit, run_suites, Expectations, Outcome, RunConfig, Summary};

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
    /// Append the tests' tagged log lines here instead of to stderr.
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
    let pipeline = Pipeline::spawn(log_sink(args.log_file.as_deref(), &args.output)?, host.config().queue_capacity)
        .context("starting the log pipeline")?;
    let total: usize = suites.iter().map(|s| s.tests.len()).sum();
    let runtime = wasmhost::runtime_builder()
        .worker_threads(config.jobs.clamp(1, std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)))
        .build()
        .context("starting the tokio runtime")?;
    let tty = std::io::stdout().is_terminal();
    let done = AtomicUsize::new(0);
    let results = runtime.block_on(run_suites(host, &suites, &config, pipeline.sender(), |r| {
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if tty {
            print!("\r\x1b[K[{n}/{total}] {}", r.full_name());
            let _ = std::io::stdout().flush();
        }
    }));
    drop(runtime);
    pipeline.finish();
    if tty {
        print!("\r\x1b[K");
    }
    for r in &results {
        if let Outcome::Failed(reason) = &r.outcome {
            let id = r.wasm_instance_id.as_deref().map(|id| format!(" [wasm_instance_id {id}]")).unwrap_or_default();
            println!("FAIL {}: {reason}{id}", r.full_name());
        }
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, junit(&results)).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.json {
        std::fs::write(path, json_lines(&results)).with_context(|| format!("writing {}", path.display()))?;
    }
    let summary = Summary::of(&results);
    println!("{summary}");
    Ok(if summary.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
