//! `wasmhost run [OPTIONS] MODULE [ARGS...]`: flags named as `wasmtime run`'s.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use wasmhost::{Host, HostConfig, Lang, Limits, NamedGraph, NnBackendKind, NnConfig, Pooling, Preopen, RunOptions, Stdin};
use wasmhost_log::{GraceExceeded, InstanceContext, LiftConfig, Pipeline, RoutingConfig};

use super::{log_sink, parse_duration, LogFormat};

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
    /// Route lines to sinks by LogQL selectors (TOML; see docs/routing.md).
    /// Unmatched lines go to stderr or --log-file.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
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
    /// Lift the guest's own levels and fields out of its lines (JSON, logfmt,
    /// env_logger, tracing, Python, Zig, Go log, level prefixes; multi-line
    /// panics): `on` (default, with the config's `[lift]` rules) or `off`.
    #[arg(long, value_enum)]
    lift: Option<OnOff>,
    /// Cut guest lines longer than this many bytes into pieces flagged `continued`.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024)]
    max_line_bytes: usize,
    /// Do not use the compile cache (as `wasmtime run -C cache=n`).
    #[arg(long)]
    no_cache: bool,
    /// Stop the guest after burning this much fuel (as `-W fuel=N`).
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Stop the guest after this wall time, e.g. `500ms`, `2s`, `1m` (as `-W timeout=…`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Refuse linear memory growth beyond this size, e.g. `64MiB` (as `-W max-memory-size=…`).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_memory: Option<usize>,
    /// Refuse table growth beyond this many elements (as `-W max-table-elements=…`).
    #[arg(long, value_name = "N")]
    max_table_elements: Option<usize>,
    /// wasmtime's spelling of the limits: `-W fuel=N,timeout=2s,max-memory-size=SIZE,max-table-elements=N`.
    #[arg(short = 'W', value_name = "KEY=VAL[,...]", value_delimiter = ',')]
    wasm_options: Vec<String>,
    /// The WASI-NN backend for ONNX models: `tract` (pure Rust, built in) or
    /// `ort` (onnxruntime, loaded from `$ORT_DYLIB_PATH`). WASI-NN is on for
    /// every module that imports `wasi_ephemeral_nn`.
    #[arg(long, value_name = "BACKEND", default_value = "tract")]
    nn_backend: NnBackendKind,
    /// Preload a model directory (holding `model.onnx`) that guests open with
    /// `load_by_name` and the directory's name (as `-S nn-graph=onnx::DIR`).
    #[arg(long = "nn-graph", value_name = "ENCODING::DIR")]
    nn_graphs: Vec<NamedGraph>,
    /// wasmtime's spelling of the WASI options: `-S nn[=y|n],nn-graph=ENCODING::DIR`.
    #[arg(short = 'S', value_name = "KEY[=VAL][,...]", value_delimiter = ',')]
    wasi_options: Vec<String>,
    /// Leave WASI-NN out (as `-S nn=n`): modules importing it fail to link.
    #[arg(long)]
    no_nn: bool,
    /// Run this many instances of the module concurrently, each with its own
    /// instance id and task (load and smoke tests). Exit status: the first
    /// non-zero exit code, else 0.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    instances: u32,
    /// The module to run (`.wasm` or `.wat`).
    module: PathBuf,
    /// Arguments for the guest.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OnOff {
    On,
    Off,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CapturedStream {
    Stdout,
    Stderr,
}

pub fn run(mut args: RunArgs) -> anyhow::Result<ExitCode> {
    apply_wasm_options(&mut args)?;
    apply_wasi_options(&mut args)?;
    if !args.capture.contains(&CapturedStream::Stderr) {
        bail!("--capture must include stderr: guest stderr is always captured");
    }
    let limits = Limits { fuel: args.fuel, timeout: args.timeout, max_memory: args.max_memory, max_table_elements: args.max_table_elements };
    let options = RunOptions {
        args: args.args.clone(),
        env: guest_env(&args.envs)?,
        preopens: args.dirs.iter().map(|d| preopen(d)).collect::<anyhow::Result<_>>()?,
        capture_stdout: args.capture.contains(&CapturedStream::Stdout),
        // One instance reads the host's stdin; several would race for it.
        stdin: if args.instances == 1 { Stdin::Inherit } else { Stdin::Null },
        labels: labels(&args.labels)?,
        invoke: args.invoke.clone(),
        limits: Some(limits),
        ..RunOptions::default()
    };
    let nn = (!args.no_nn).then(|| NnConfig { backend: args.nn_backend, graphs: args.nn_graphs.clone() });
    let routing = args.config.as_deref().map(|path| RoutingConfig::load(path).map(|c| (path, c))).transpose()?;
    let lift = match (args.lift, &routing) {
        (Some(OnOff::Off), _) => LiftConfig::off(),
        (on, Some((path, routing))) => {
            let config = routing.lift(path, LiftConfig::default())?;
            LiftConfig { enabled: config.enabled || on.is_some(), ..config }
        }
        (_, None) => LiftConfig::default(),
    };
    let mut config = HostConfig { max_line: args.max_line_bytes, fuel: limits.fuel.is_some(), nn, lift, ..HostConfig::default() };
    if args.no_cache {
        config.cache_dir = None;
    }
    if args.instances > 1 {
        config.pooling = Some(Pooling { max_instances: args.instances, ..Pooling::default() });
    }
    let host = Arc::new(Host::new(config)?);
    let module = Arc::new(host.load_file_with(&args.module, super::load_options(args.lang)?)?);
    let default_sink = log_sink(args.log_file.as_deref(), args.log_format)?;
    let pipeline = match routing {
        None => Pipeline::spawn(default_sink, host.config().queue_capacity),
        Some((path, routing)) => {
            let (sinks, router) = routing.build(path, default_sink)?;
            Pipeline::routed(sinks, router, host.config().queue_capacity)
        }
    }
    .context("starting the log pipeline")?;

    // One instance runs on the calling thread (fast start); several on a
    // worker per core.
    let runtime = match args.instances {
        1 => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        _ => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
    }
    .context("starting the tokio runtime")?;
    let (codes, signal) = runtime.block_on(async {
        // Each instance in a task of its own, so it has its own tokio task id.
        let tasks: Vec<_> = (0..args.instances)
            .map(|_| {
                let (host, module, options, sender) = (host.clone(), module.clone(), options.clone(), pipeline.sender());
                tokio::spawn(async move { host.run(&module, options, sender).await })
            })
            .collect();
        let aborts: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
        let all = async {
            let mut codes = Vec::with_capacity(tasks.len());
            for task in tasks {
                codes.push(match task.await {
                    Ok(outcome) => outcome.map(|o| o.exit_code).map_err(anyhow::Error::from),
                    Err(join) if join.is_cancelled() => Ok(STOPPED_EXIT_CODE),
                    Err(join) => Err(anyhow::anyhow!("an instance's task failed: {join}")),
                });
            }
            codes
        };
        tokio::pin!(all);
        tokio::select! {
            codes = &mut all => (codes, None),
            signal = shutdown_signal() => {
                // Running guests stop at their next epoch tick and close their
                // logs; guests blocked in a host call get a moment, then go.
                host.stop_all();
                match tokio::time::timeout(STOP_GRACE, &mut all).await {
                    Ok(codes) => (codes, Some(signal)),
                    Err(_) => {
                        aborts.iter().for_each(|a| a.abort());
                        (all.await, Some(signal))
                    }
                }
            }
        }
    });
    drop(runtime);
    // Every line accepted is written before the process exits, within a
    // bounded grace (a hung sink must not hold the process forever).
    let report = match pipeline.finish_within(DRAIN_GRACE) {
        Ok(report) => report,
        Err(GraceExceeded(grace)) => {
            eprintln!("wasmhost: warning: the log sinks did not drain within {grace:?}; lines may be lost");
            return Ok(ExitCode::from(1));
        }
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
    if let Some(signal) = signal {
        // As a process killed by the signal would report it.
        return Ok(ExitCode::from(128 + signal as u8));
    }
    let mut exit = 0;
    for code in codes {
        let code = code?;
        if exit == 0 {
            exit = code;
        }
    }
    // Exit codes are bytes on Unix; `wasmtime run` passes the guest's code the same way.
    Ok(ExitCode::from(exit as u8))
}

/// How long guests get to stop after SIGINT/SIGTERM before their tasks are
/// dropped.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// How long the sinks get to drain at the end.
const DRAIN_GRACE: Duration = Duration::from_secs(10);

/// The exit code recorded for an instance dropped during shutdown.
const STOPPED_EXIT_CODE: i32 = 143;

/// Waits for SIGINT or SIGTERM and returns its number.
async fn shutdown_signal() -> i32 {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        // Without signal handlers there is nothing to wait for.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => 15,
        _ = int.recv() => 2,
    }
}

/// `-W fuel=N,timeout=D,max-memory-size=S,max-table-elements=N`, as
/// `wasmtime run` spells them; the long flags win when both are given.
fn apply_wasm_options(args: &mut RunArgs) -> anyhow::Result<()> {
    for option in std::mem::take(&mut args.wasm_options) {
        let (key, value) = option.split_once('=').with_context(|| format!("-W {option:?}: expected KEY=VALUE"))?;
        let bad = |e: String| anyhow::anyhow!("-W {option:?}: {e}");
        match key {
            "fuel" => { args.fuel.get_or_insert(value.parse().map_err(|e| bad(format!("{e}")))?); }
            "timeout" => { args.timeout.get_or_insert(parse_duration(value).map_err(bad)?); }
            "max-memory-size" => { args.max_memory.get_or_insert(parse_size(value).map_err(bad)?); }
            "max-table-elements" => { args.max_table_elements.get_or_insert(value.parse().map_err(|e| bad(format!("{e}")))?); }
            _ => bail!("-W {option:?}: supported keys are fuel, timeout, max-memory-size, max-table-elements"),
        }
    }
    Ok(())
}

/// `-S nn`, `-S nn=n`, `-S nn-graph=ENCODING::DIR`, as `wasmtime run` spells
/// them. Other WASI options of wasmtime's are refused by name, not ignored.
fn apply_wasi_options(args: &mut RunArgs) -> anyhow::Result<()> {
    for option in std::mem::take(&mut args.wasi_options) {
        let (key, value) = option.split_once('=').unwrap_or((option.as_str(), "y"));
        match (key, value) {
            ("nn", "y" | "yes" | "true") => {}
            ("nn", "n" | "no" | "false") => args.no_nn = true,
            ("nn-graph", spec) => args.nn_graphs.push(spec.parse().with_context(|| format!("-S {option:?}"))?),
            _ => bail!("-S {option:?}: supported are nn[=y|n] and nn-graph=ENCODING::DIR"),
        }
    }
    Ok(())
}

/// `65536`, `64KiB`, `64MiB`, `1GiB` (also `K`, `M`, `G`, `KB`…, all powers of 1024).
fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: usize = number.parse().map_err(|_| format!("{text:?} is not a size like 64MiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => return Err(format!("unknown unit {other:?} in {text:?}: use KiB, MiB or GiB")),
    };
    n.checked_mul(1usize << shift).ok_or_else(|| format!("{text:?} is too large"))
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
        .map(|spec| InstanceContext::parse_label(spec).map_err(|reason| anyhow::anyhow!("--label {spec:?}: {reason}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("99999999999999999999GiB").is_err());
    }
}
