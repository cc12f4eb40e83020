//! `wasmhost run [OPTIONS] MODULE [ARGS...]`: flags named as `wasmtime run`'s.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use wasmhost::{Host, HostConfig, Lang, Limits, NamedGraph, Network, NnBackendKind, NnConfig, Pooling, Preopen, RunOptions, Stdin};
use wasmhost_export::ExportFactory;
use wasmhost_log::{GraceExceeded, InstanceContext, LiftConfig, LogSender, Pipeline, RoutingConfig};

use super::shutdown::Watcher;
use super::{log_sink, parse_duration, OutputArgs};

/// Arguments of `wasmhost run`.
#[derive(Args)]
pub struct RunArgs {
    /// Grant the guest a host directory: `HOST_DIR[::GUEST_DIR]` (as `wasmtime run --dir`).
    #[arg(long = "dir", value_name = "HOST_DIR[::GUEST_DIR]")]
    dirs: Vec<String>,
    /// Set `NAME=VAL` in the guest's environment, or pass `NAME` through from the host's.
    #[arg(long = "env", value_name = "NAME[=VAL]")]
    envs: Vec<String>,
    /// Call this exported function instead of `_start`. Core modules: its
    /// export name, with its arguments after the module. Components: a WAVE
    /// call such as `'greet("world", 2)'` or `'wasmhost:guest/math.divide(1.0, 4.0)'`
    /// (a bare name is looked for in exported instances too); the results
    /// are printed in WAVE (as `wasmtime run` 48).
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
    log_config: Option<PathBuf>,
    /// wasmtime's options file (TOML with `[wasm]`, `[wasi]`, `[codegen]`
    /// tables). A routing file given here is taken as `--log-config`, the
    /// spelling it had before.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The guest's `argv[0]` (as `wasmtime run --argv0`); default: the
    /// module's path as given.
    #[arg(long, value_name = "NAME")]
    argv0: Option<String>,
    /// wasmtime's codegen options: `-C cache=y|n`, `-C cache-config=FILE`.
    #[arg(short = 'C', long = "codegen", value_name = "KEY[=VAL][,...]", value_delimiter = ',')]
    codegen_options: Vec<String>,
    /// How the tagged lines look.
    #[command(flatten)]
    output: OutputArgs,
    /// Tag lines with this language instead of detecting it
    /// (rust, c, cpp, go, tinygo, zig, assemblyscript, python, javascript, swift, ruby, dotnet, unknown).
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
    /// Cut guest lines longer than this many bytes into pieces flagged
    /// `continued` (128 to 1048576).
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024, value_parser = parse_max_line)]
    max_line_bytes: usize,
    /// At the end (or after SIGTERM), how long the log sinks get to write
    /// what is queued; past it only the instances' closing events are
    /// written, and the lines left out are counted.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    drain_grace: Duration,
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
    /// wasmtime's spelling of the limits: `-W fuel=N,timeout=2s,max-memory-size=SIZE,max-table-elements=N`,
    /// and `-W epoch-interruption=y|n` (default: on when a timeout or several instances need it).
    #[arg(short = 'W', long = "wasm", value_name = "KEY=VAL[,...]", value_delimiter = ',')]
    wasm_options: Vec<String>,
    /// `-W epoch-interruption`: `None` decides from the timeout and `--instances`.
    #[arg(skip)]
    epoch_interruption: Option<bool>,
    /// The WASI-NN backend for ONNX models: `tract` (pure Rust, built in) or
    /// `ort` (onnxruntime, loaded from `$ORT_DYLIB_PATH`). WASI-NN is on for
    /// every module that imports `wasi_ephemeral_nn`.
    #[arg(long, value_name = "BACKEND", default_value = "tract")]
    nn_backend: NnBackendKind,
    /// Preload a model directory (holding `model.onnx`) that guests open with
    /// `load_by_name` and the directory's name (as `-S nn-graph=onnx::DIR`).
    #[arg(long = "nn-graph", value_name = "ENCODING::DIR")]
    nn_graphs: Vec<NamedGraph>,
    /// wasmtime's spelling of the WASI options: `-S nn[=y|n],nn-graph=ENCODING::DIR`,
    /// `-S inherit-env` (the host's whole environment, before `--env`), `-S cli` (always on),
    /// `-S preview0[=y|n]` (`wasi_unstable` imports; on by default, as in wasmtime),
    /// and for components' `wasi:sockets` (off by default, the sandbox): `-S inherit-network`
    /// (any address; turns TCP and UDP on), `-S tcp[=y|n]`, `-S udp[=y|n]`, `-S allow-ip-name-lookup[=y|n]`.
    #[arg(short = 'S', long = "wasi", value_name = "KEY[=VAL][,...]", value_delimiter = ',')]
    wasi_options: Vec<String>,
    /// Leave WASI-NN out (as `-S nn=n`): modules importing it fail to link.
    #[arg(long)]
    no_nn: bool,
    /// Run this many instances of the module concurrently, each with its own
    /// instance id and task (load and smoke tests). Exit status: the first
    /// non-zero exit code, else 0.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    instances: u32,
    /// Network sinks and metrics (`--loki`, `--otlp`, `--metrics-addr`).
    #[command(flatten)]
    export: super::export::ExportArgs,
    /// Link a core module under NAME for the module's imports from NAME
    /// (as `wasmtime run --preload NAME=PATH`; repeatable).
    #[arg(long = "preload", value_name = "NAME=PATH")]
    preloads: Vec<String>,
    /// `-S inherit-env`: the guest gets the host's environment.
    #[arg(skip)]
    inherit_env: bool,
    /// `-S preview0=n` unlinks `wasi_unstable` (linked by default, as in wasmtime).
    #[arg(skip = true)]
    preview0: bool,
    /// `-S inherit-network`, `-S tcp`, `-S udp`, `-S allow-ip-name-lookup`.
    #[arg(skip)]
    network: Network,
    /// `-C cache-config`'s `directory`.
    #[arg(skip)]
    cache_dir: Option<PathBuf>,
    /// The module to run (`.wasm` or `.wat`; `-` reads it from stdin).
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
    apply_options_file(&mut args)?;
    apply_wasm_options(&mut args)?;
    apply_wasi_options(&mut args)?;
    apply_codegen_options(&mut args)?;
    if !args.capture.contains(&CapturedStream::Stderr) {
        bail!("--capture must include stderr: guest stderr is always captured");
    }
    let limits = Limits { fuel: args.fuel, timeout: args.timeout, max_memory: args.max_memory, max_table_elements: args.max_table_elements };
    let from_stdin = args.module.as_os_str() == "-";
    let options = RunOptions {
        program_name: args.argv0.clone(),
        args: args.args.clone(),
        env: guest_env(&args.envs, args.inherit_env)?,
        preopens: args.dirs.iter().map(|d| preopen(d)).collect::<anyhow::Result<_>>()?,
        capture_stdout: args.capture.contains(&CapturedStream::Stdout),
        // One instance reads the host's stdin; several would race for it.
        // (A module read from stdin has used it up.)
        stdin: if args.instances == 1 && !from_stdin { Stdin::Inherit } else { Stdin::Null },
        labels: labels(&args.labels)?,
        invoke: args.invoke.clone(),
        network: args.network,
        limits: Some(limits),
        ..RunOptions::default()
    };
    let nn = (!args.no_nn).then(|| NnConfig { backend: args.nn_backend, graphs: args.nn_graphs.clone() });
    let routing = args.log_config.as_deref().map(|path| RoutingConfig::load(path).map(|c| (path, c))).transpose()?;
    let lift = match (args.lift, &routing) {
        (Some(OnOff::Off), _) => LiftConfig::off(),
        (on, Some((path, routing))) => {
            let config = routing.lift(path, LiftConfig::default())?;
            LiftConfig { enabled: config.enabled || on.is_some(), ..config }
        }
        (_, None) => LiftConfig::default(),
    };
    // Epoch checks cost compile time (a sixth more CPU on a large
    // component) and are needed only to stop a guest that computes: at a
    // timeout, and to let several instances on a worker take turns. One
    // instance without a timeout runs without them, as under `wasmtime run`;
    // Ctrl-C still stops it (the signal watcher closes its log).
    let epochs = args.epoch_interruption.unwrap_or(limits.timeout.is_some() || args.instances > 1);
    if limits.timeout.is_some() && !epochs {
        bail!("a timeout needs epoch interruption: drop -W epoch-interruption=n");
    }
    let mut config = HostConfig {
        max_line: args.max_line_bytes,
        fuel: limits.fuel.is_some(),
        nn,
        lift,
        preview0: args.preview0,
        epoch_interruption: epochs,
        ..HostConfig::default()
    };
    if let Some(dir) = &args.cache_dir {
        config.cache_dir = Some(dir.clone());
    }
    if args.no_cache {
        config.cache_dir = None;
    }
    // Several instances come from a pool, sized by what one instance takes
    // (a component holds several core instances).
    if args.instances > 1 {
        let slots = pool_slots_of(&args.module);
        config.pooling = Some(Pooling { max_instances: args.instances.saturating_mul(slots), ..Pooling::default() });
    }
    let mut host = Host::new(config)?;
    for spec in &args.preloads {
        let (name, path) = spec.split_once('=').with_context(|| format!("--preload {spec:?}: expected NAME=PATH"))?;
        host.preload(name, path.as_ref())?;
    }
    let host = Arc::new(host);
    let module = Arc::new(load_module(&host, &args.module, super::load_options(args.lang)?)?);
    let default_sink = log_sink(args.log_file.as_deref(), &args.output)?;
    let events_sink = || log_sink(args.log_file.as_deref(), &args.output);
    let (pipeline, exports) =
        super::export::pipeline(&args.export, routing, default_sink, events_sink, host.config().queue_capacity)?;

    // One instance runs on the calling thread (fast start); several on a
    // worker per core.
    let runtime = match args.instances {
        1 => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        _ => wasmhost::runtime_builder().build(),
    }
    .context("starting the tokio runtime")?;
    let senders: Vec<LogSender> = (0..args.instances).map(|_| pipeline.sender()).collect();
    // Whoever finishes the log takes it: this thread once the guests are
    // done, or the signal watcher when a guest cannot be stopped.
    let log_end = Arc::new(Mutex::new(Some(LogEnd { pipeline, exports, drain_grace: args.drain_grace, log_file: args.log_file.is_some() })));
    let watcher = {
        let (host, log_end) = (host.clone(), log_end.clone());
        // With epochs every guest stops within a tick, and the grace is a
        // backstop; without them a guest computing in wasm never stops.
        let grace = if epochs { STOP_GRACE } else { STUCK_GUEST_GRACE };
        Watcher::spawn(host.clone(), grace, move |signal, runtime| {
            let Some(end) = take(&log_end) else {
                return; // the guests just ended: `run` is finishing the log
            };
            runtime.block_on(async {
                // Closing a log waits for room in the pipeline, which the
                // finish makes (past its grace it writes host events only).
                let closing = tokio::spawn(async move { host.close_running().await });
                let _ = tokio::task::spawn_blocking(move || end.finish()).await;
                closing.abort();
            });
            // As a process killed by the signal would report it.
            std::process::exit(128 + signal);
        })?
    };
    let outcomes = runtime.block_on(async {
        // Each instance in a task of its own, so it has its own tokio task id.
        let tasks: Vec<_> = senders
            .into_iter()
            .map(|sender| {
                let (host, module, options) = (host.clone(), module.clone(), options.clone());
                tokio::spawn(async move { host.run(&module, options, sender).await })
            })
            .collect();
        let mut outcomes = Vec::with_capacity(tasks.len());
        for task in tasks {
            outcomes.push(match task.await {
                Ok(outcome) => outcome
                    .map(|o| {
                        print_results(&o.results);
                        o.exit_code
                    })
                    .map_err(anyhow::Error::from),
                Err(join) => Err(anyhow::anyhow!("an instance's task failed: {join}")),
            });
        }
        outcomes
    });
    // A guest that read the host's stdin leaves wasmtime-wasi's reader
    // blocked in read(2): do not wait for it.
    runtime.shutdown_background();
    let signal = watcher.guests_done();
    let Some(end) = take(&log_end) else {
        // The watcher gave up on a guest just now and is ending the process.
        loop {
            std::thread::park();
        }
    };
    if !end.finish() {
        return Ok(ExitCode::from(signal.map_or(1, |s| 128 + s as u8)));
    }
    if let Some(signal) = signal {
        // As a process killed by the signal would report it.
        return Ok(ExitCode::from(128 + signal as u8));
    }
    let mut exit = 0;
    for outcome in outcomes {
        let code = outcome?;
        if exit == 0 {
            exit = code;
        }
    }
    // Exit codes are bytes on Unix; `wasmtime run` passes the guest's code the same way.
    Ok(ExitCode::from(exit as u8))
}

/// The log, once the guests are done: the pipeline and the network sinks.
struct LogEnd {
    pipeline: Pipeline,
    exports: Option<ExportFactory>,
    drain_grace: Duration,
    /// Lines go to a file (`--log-file`), so stderr can say what failed.
    log_file: bool,
}

impl LogEnd {
    /// Writes every line accepted, within a bounded grace (a slow or hung
    /// sink must not hold the process forever), and warns of what was left
    /// out. False when the sinks were stuck.
    fn finish(self) -> bool {
        // Network sinks get their own grace (shutdown_grace) from now on.
        if let Some(exports) = &self.exports {
            exports.begin_shutdown();
        }
        let report = match self.pipeline.finish_within(self.drain_grace) {
            Ok(report) => report,
            Err(GraceExceeded { grace, report: Some(report), .. }) => {
                warn(format!(
                    "the log sinks did not drain within {grace:?}: {} guest lines were left out (counted, not cut); the host events were written",
                    report.abandoned
                ));
                report
            }
            // The pipeline knows which instances it opened and never closed,
            // whether or not their tasks finished.
            Err(GraceExceeded { grace, report: None, unclosed }) => {
                warn(format!(
                    "the log sinks did not drain within {grace:?} and are stuck: lines are lost, and these instances may lack their closing events: {}",
                    list_ids(unclosed.into_iter())
                ));
                return false;
            }
        };
        if report.failed > 0 && self.log_file {
            // The log file failed; stderr is still there to say so. (A closed
            // stderr has nobody to tell.)
            warn(format!(
                "{} log lines could not be written: {}",
                report.failed,
                report.first_error.clone().unwrap_or_default()
            ));
        }
        if (report.abandoned > 0 || report.failed > 0) && !report.unclosed.is_empty() && report.first_error.is_none() {
            warn(format!("these instances' closing events were not written: {}", list_ids(report.unclosed.iter().cloned())));
        }
        true
    }
}

/// Takes the log's end, once.
fn take(log_end: &Mutex<Option<LogEnd>>) -> Option<LogEnd> {
    log_end.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// Instance ids for a message: the first few and how many more.
fn list_ids(ids: impl Iterator<Item = String>) -> String {
    let ids: Vec<String> = ids.collect();
    match ids.len() {
        0..=5 => ids.join(", "),
        n => format!("{} and {} more", ids[..5].join(", "), n - 5),
    }
}

/// A warning on stderr that cannot hang the process: stderr may be the very
/// pipe whose reader stopped reading.
fn warn(message: String) {
    let (done_tx, done) = std::sync::mpsc::channel();
    let writer = std::thread::spawn(move || {
        eprintln!("wasmhost: warning: {message}");
        let _ = done_tx.send(());
    });
    if done.recv_timeout(Duration::from_secs(1)).is_ok() {
        let _ = writer.join();
    }
}

/// How long guests get to stop after a signal before their logs are closed
/// and the process exits without them. With epoch interruption they stop
/// at once (see `Host::stop_all`); this is a backstop.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// The same without epoch interruption: a guest blocked in a host call
/// still stops at once, a guest computing in wasm never does, and this is
/// how long Ctrl-C waits for it.
const STUCK_GUEST_GRACE: Duration = Duration::from_millis(250);

/// `--max-line-bytes`: within the host's floor and ceiling.
fn parse_max_line(text: &str) -> Result<usize, String> {
    let bytes = parse_size(text)?;
    wasmhost_log::check_max_line(bytes)
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
            "epoch-interruption" => args.epoch_interruption = Some(yes_no(&option, value)?),
            _ => bail!("-W {option:?}: supported keys are fuel, timeout, max-memory-size, max-table-elements, epoch-interruption"),
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
            ("inherit-env", v) => args.inherit_env = yes_no(&option, v)?,
            ("preview0", v) => args.preview0 = yes_no(&option, v)?,
            // WASI's CLI interfaces are always linked, as in wasmtime by default.
            ("cli" | "common", v) if yes_no(&option, v)? => {}
            // wasi:sockets, as wasmtime 48 sets them on the WASI context.
            ("inherit-network", v) => args.network.inherit = yes_no(&option, v)?,
            ("tcp", v) => args.network.tcp = Some(yes_no(&option, v)?),
            ("udp", v) => args.network.udp = Some(yes_no(&option, v)?),
            ("allow-ip-name-lookup", v) => args.network.ip_name_lookup = yes_no(&option, v)?,
            _ => bail!(
                "-S {option:?}: supported are cli, inherit-env[=y|n], preview0[=y|n], inherit-network[=y|n], tcp[=y|n], \
                 udp[=y|n], allow-ip-name-lookup[=y|n], nn[=y|n] and nn-graph=ENCODING::DIR"
            ),
        }
    }
    Ok(())
}

/// `y`/`n` as wasmtime's boolean options spell them (also `yes`, `true`, …).
fn yes_no(option: &str, value: &str) -> anyhow::Result<bool> {
    match value {
        "y" | "yes" | "true" => Ok(true),
        "n" | "no" | "false" => Ok(false),
        _ => bail!("{option:?}: expected y or n"),
    }
}

/// `-C cache=y|n` (as `--no-cache`), `-C cache-config=FILE`: wasmtime's
/// cache settings file, whose `[cache] enabled` and `directory` keys are
/// honoured (other keys tune wasmtime's own cache, which wasmhost does not use).
fn apply_codegen_options(args: &mut RunArgs) -> anyhow::Result<()> {
    for option in std::mem::take(&mut args.codegen_options) {
        let (key, value) = option.split_once('=').unwrap_or((option.as_str(), "y"));
        match key {
            "cache" => args.no_cache |= !yes_no(&format!("-C {option}"), value)?,
            "cache-config" => {
                let text = std::fs::read_to_string(value).with_context(|| format!("-C cache-config: {value}"))?;
                let table: toml::Table = text.parse().with_context(|| format!("-C cache-config: {value}"))?;
                let cache = table.get("cache").and_then(|c| c.as_table());
                if cache.and_then(|c| c.get("enabled")).and_then(|e| e.as_bool()) == Some(false) {
                    args.no_cache = true;
                }
                if let Some(dir) = cache.and_then(|c| c.get("directory")).and_then(|d| d.as_str()) {
                    args.cache_dir = Some(PathBuf::from(dir));
                }
            }
            _ => bail!("-C {option:?}: supported are cache=y|n and cache-config=FILE"),
        }
    }
    Ok(())
}

/// `--config FILE`: wasmtime's options file when its tables are wasmtime's
/// (`[wasm]`, `[wasi]`, `[codegen]`, … — their keys are the `-W`, `-S`,
/// `-C` options, which the command line overrides); otherwise the routing
/// file of `--log-config`, as `--config` was before.
fn apply_options_file(args: &mut RunArgs) -> anyhow::Result<()> {
    const WASMTIME_TABLES: &[&str] = &["optimize", "codegen", "debug", "wasm", "wasi", "record"];
    let Some(path) = args.config.take() else { return Ok(()) };
    let text = std::fs::read_to_string(&path).with_context(|| format!("--config {}", path.display()))?;
    let table: toml::Table = match text.parse() {
        Ok(table) => table,
        // Not TOML at all: the routing loader says where, with its caret view.
        Err(_) => toml::Table::new(),
    };
    if table.is_empty() || !table.keys().all(|k| WASMTIME_TABLES.contains(&k.as_str())) {
        if args.log_config.is_some() {
            bail!("--config {} is a routing file, and --log-config names another", path.display());
        }
        args.log_config = Some(path);
        return Ok(());
    }
    for (group, values) in &table {
        let values = values.as_table().with_context(|| format!("--config {}: [{group}] must be a table", path.display()))?;
        let target = match group.as_str() {
            "wasm" => &mut args.wasm_options,
            "wasi" => &mut args.wasi_options,
            "codegen" => &mut args.codegen_options,
            other => bail!("--config {}: wasmhost takes no [{other}] options", path.display()),
        };
        for (key, value) in values {
            let value = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Boolean(b) => if *b { "y" } else { "n" }.to_owned(),
                toml::Value::Integer(n) => n.to_string(),
                other => bail!("--config {}: {group}.{key} is a {}, not a value wasmhost takes", path.display(), other.type_str()),
            };
            // After the command line's: the first of a key wins.
            target.push(format!("{key}={value}"));
        }
    }
    Ok(())
}

/// Loads the module from its file, or from stdin for `-` (as `wasmtime run -`).
fn load_module(host: &Host, path: &std::path::Path, options: wasmhost::LoadOptions) -> anyhow::Result<wasmhost::LoadedModule> {
    if path.as_os_str() != "-" {
        return Ok(host.load_file_with(path, options)?);
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes).context("reading the module from stdin")?;
    Ok(host.load_bytes(std::path::Path::new("stdin"), &bytes, options)?)
}

/// `--invoke`'s results on stdout, one a line, as `wasmtime run` prints them.
fn print_results(results: &[wasmhost::Value]) {
    for value in results {
        println!("{value}");
    }
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
/// nothing when the host has none); `-S inherit-env` starts from the host's
/// whole environment, which `--env` then overrides.
fn guest_env(specs: &[String], inherit: bool) -> anyhow::Result<Vec<(String, String)>> {
    let mut env: Vec<(String, String)> = if inherit { std::env::vars().collect() } else { Vec::new() };
    if inherit {
        // A later --env of the same name wins.
        env.retain(|(name, _)| !specs.iter().any(|s| s.split_once('=').map_or(s.as_str(), |(n, _)| n) == name));
    }
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
    let labels = specs
        .iter()
        .map(|spec| InstanceContext::parse_label(spec).map_err(|reason| anyhow::anyhow!("--label {spec:?}: {reason}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    InstanceContext::check_labels(&labels).map_err(|reason| anyhow::anyhow!("--label: {reason}"))?;
    Ok(labels)
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

/// The pool slots one instance of the file takes (an unreadable file takes
/// one, and is loaded and reported as usual).
fn pool_slots_of(path: &std::path::Path) -> u32 {
    std::fs::read(path).map_or(1, |bytes| wasmhost::pool_slots(&bytes))
}
