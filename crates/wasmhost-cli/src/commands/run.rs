//! `wasmhost run [OPTIONS] MODULE [ARGS...]`: flags named as `wasmtime run`'s.

use std::fs::OpenOptions;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use wasmhost::{Host, HostConfig, Lang, Preopen, RunOptions};
use wasmhost_log::{InstanceContext, JsonFormat, Pipeline, Sink, TextFormat, WriterSink};

/// Which form the tagged lines take.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Text on a terminal, JSON lines otherwise.
    Auto,
    /// JSON lines (the documented contract).
    Json,
    /// Readable text, coloured on a terminal.
    Text,
}

/// Arguments of `wasmhost run`.
#[derive(Args)]
pub struct RunArgs {
    /// Grant the guest a host directory: `HOST_DIR[::GUEST_DIR]` (as `wasmtime run --dir`).
    #[arg(long = "dir", value_name = "HOST_DIR[::GUEST_DIR]")]
    dirs: Vec<String>,
    /// Set `NAME=VAL` in the guest's environment, or pass `NAME` through from the host's.
    #[arg(long = "env", value_name = "NAME[=VAL]")]
    envs: Vec<String>,
    /// Call this exported function instead of `_start`.
    #[arg(long, value_name = "FUNCTION")]
    invoke: Option<String>,
    /// Streams to capture as tagged lines: `stderr` (default), `stdout,stderr`.
    /// Uncaptured stdout passes through to the host's stdout unchanged.
    #[arg(long, value_delimiter = ',', default_value = "stderr")]
    capture: Vec<CapturedStream>,
    /// Append the tagged lines to this file instead of the host's stderr.
    #[arg(long, value_name = "PATH")]
    log_file: Option<PathBuf>,
    /// Form of the tagged lines.
    #[arg(long, value_enum, default_value = "auto")]
    log_format: LogFormat,
    /// Tag lines with this language instead of detecting it
    /// (rust, c, cpp, go, tinygo, zig, assemblyscript, python, javascript, unknown).
    #[arg(long)]
    lang: Option<Lang>,
    /// Add `KEY=VALUE` to every line (repeatable), e.g. `--label job=gateway`.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Cut guest lines longer than this many bytes into pieces flagged `continued`.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024)]
    max_line_bytes: usize,
    /// Do not use the compile cache (as `wasmtime run -C cache=n`).
    #[arg(long)]
    no_cache: bool,
    /// The module to run (`.wasm` or `.wat`).
    module: PathBuf,
    /// Arguments for the guest.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CapturedStream {
    Stdout,
    Stderr,
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let options = RunOptions {
        program_name: None,
        args: args.args.clone(),
        env: guest_env(&args.envs)?,
        preopens: args.dirs.iter().map(|d| preopen(d)).collect::<anyhow::Result<_>>()?,
        capture_stdout: args.capture.contains(&CapturedStream::Stdout),
        inherit_stdin: true,
        labels: labels(&args.labels)?,
        invoke: args.invoke.clone(),
    };
    if !args.capture.contains(&CapturedStream::Stderr) {
        bail!("--capture must include stderr: guest stderr is always captured");
    }
    let mut config = HostConfig { max_line: args.max_line_bytes, ..HostConfig::default() };
    if args.no_cache {
        config.cache_dir = None;
    }
    let host = Host::new(config)?;
    let module = host.load_file_with(&args.module, super::load_options(args.lang)?)?;
    let pipeline = Pipeline::spawn(sink(&args)?, host.config().queue_capacity).context("starting the log pipeline")?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let sender = pipeline.sender();
    let outcome = runtime.block_on(async move {
        // A task of its own, so the instance has a tokio task id to be tagged with.
        tokio::spawn(async move { host.run(&module, options, sender).await }).await
    });
    // Every line accepted is written before the process exits.
    let report = pipeline.finish();
    let outcome = match outcome {
        Ok(outcome) => outcome?,
        Err(join) => bail!("the instance's task failed: {join}"),
    };
    if report.failed > 0 && args.log_file.is_some() {
        // The log file failed; stderr is still there to say so. (A closed
        // stderr has nobody to tell.)
        eprintln!(
            "wasmhost: warning: {} log lines could not be written: {}",
            report.failed,
            report.first_error.unwrap_or_default()
        );
    }
    // Exit codes are bytes on Unix; `wasmtime run` passes the guest's code the same way.
    Ok(ExitCode::from(outcome.exit_code as u8))
}

fn sink(args: &RunArgs) -> anyhow::Result<Box<dyn Sink>> {
    let sink: Box<dyn Sink> = match &args.log_file {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening log file {}", path.display()))?;
            match args.log_format {
                LogFormat::Text => Box::new(WriterSink::new(TextFormat { color: false }, file)),
                _ => Box::new(WriterSink::new(JsonFormat, file)),
            }
        }
        None => {
            let tty = std::io::stderr().is_terminal();
            match (args.log_format, tty) {
                (LogFormat::Json, _) | (LogFormat::Auto, false) => Box::new(WriterSink::new(JsonFormat, std::io::stderr())),
                _ => Box::new(WriterSink::new(TextFormat { color: tty }, std::io::stderr())),
            }
        }
    };
    Ok(sink)
}

/// `--dir HOST[::GUEST]`: the guest path defaults to the host path, as in `wasmtime run`.
fn preopen(spec: &str) -> anyhow::Result<Preopen> {
    let (host, guest) = spec.split_once("::").unwrap_or((spec, spec));
    if host.is_empty() || guest.is_empty() {
        bail!("--dir {spec:?}: expected HOST_DIR or HOST_DIR::GUEST_DIR");
    }
    let host = PathBuf::from(host);
    if !host.is_dir() {
        bail!("--dir {spec:?}: {} is not a directory", host.display());
    }
    Ok(Preopen { host, guest: guest.to_owned() })
}

/// `--env NAME=VAL` sets; `--env NAME` passes the host's value through (and
/// nothing when the host has none).
fn guest_env(specs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut env = Vec::new();
    for spec in specs {
        match spec.split_once('=') {
            Some(("", _)) => bail!("--env {spec:?}: the name is empty"),
            Some((name, value)) => env.push((name.to_owned(), value.to_owned())),
            None => {
                if let Ok(value) = std::env::var(spec) {
                    env.push((spec.clone(), value));
                }
            }
        }
    }
    Ok(env)
}

fn labels(specs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    specs
        .iter()
        .map(|spec| {
            let (key, value) = spec.split_once('=').with_context(|| format!("--label {spec:?}: expected KEY=VALUE"))?;
            InstanceContext::check_label_key(key).map_err(|reason| anyhow::anyhow!("--label {spec:?}: {reason}"))?;
            Ok((key.to_owned(), value.to_owned()))
        })
        .collect()
}
