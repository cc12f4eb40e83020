//! `wasmhost serve --listen ADDR --modules DIR`: the sidecar
//! (`wasmhost_gateway::sidecar`) with the logging of `wasmhost run`: the
//! same `--config` routing, sinks and network exports.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use wasmhost::{Host, HostConfig, Limits, Pooling};
use wasmhost_gateway::sidecar::{load_dir, Sidecar, SidecarConfig};
use wasmhost_log::{InstanceContext, LiftConfig, RoutingConfig};

use super::{log_sink, parse_duration, OutputArgs};

/// Arguments of `wasmhost serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port; the one taken is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Serve every `.wasm`/`.wat` file of this directory as `POST /run/{file stem}`.
    #[arg(long, value_name = "DIR")]
    modules: PathBuf,
    /// Runs at once; beyond it requests get 503 with `Retry-After`.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    max_concurrent: u32,
    /// Largest request body (the guest's stdin) and response body (its stdout), in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = wasmhost_gateway::MAX_BODY)]
    max_body: usize,
    /// Stop each guest after this wall time, e.g. `2s`.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
    /// After SIGTERM/SIGINT, how long in-flight runs get to finish before
    /// their guests are stopped; then as long again for the sinks to drain.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    drain_grace: Duration,
    /// Add `KEY=VALUE` to every line (repeatable), e.g. `--label job=sidecar`.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Append the tagged lines to this file instead of stderr.
    #[arg(long, value_name = "PATH")]
    log_file: Option<PathBuf>,
    /// Route lines to sinks by LogQL selectors (TOML; see docs/routing.md).
    /// `--config` is the same flag: `serve` has no wasmtime options file.
    #[arg(long, alias = "config", value_name = "PATH")]
    log_config: Option<PathBuf>,
    /// Form, colour and detail of the tagged lines (as for `run`).
    #[command(flatten)]
    output: OutputArgs,
    /// Network sinks and metrics (`--loki`, `--otlp`, `--metrics-addr`).
    #[command(flatten)]
    export: super::export::ExportArgs,
}

pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let labels = args
        .labels
        .iter()
        .map(|spec| InstanceContext::parse_label(spec).map_err(|reason| anyhow::anyhow!("--label {spec:?}: {reason}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let routing = args.log_config.as_deref().map(|path| RoutingConfig::load(path).map(|c| (path, c))).transpose()?;
    let lift = match &routing {
        Some((path, routing)) => routing.lift(path, LiftConfig::default())?,
        None => LiftConfig::default(),
    };
    // A component takes one pool slot per core instance it creates: size
    // the pool for the largest module of the directory.
    let slots = std::fs::read_dir(&args.modules)
        .into_iter()
        .flatten()
        .filter_map(|entry| std::fs::read(entry.ok()?.path()).ok())
        .map(|bytes| wasmhost::pool_slots(&bytes))
        .max()
        .unwrap_or(1);
    let pooling = Pooling { max_instances: args.max_concurrent.saturating_mul(slots), ..Pooling::default() };
    let host = Arc::new(Host::new(HostConfig { pooling: Some(pooling), lift, ..HostConfig::default() })?);
    let modules = load_dir(&host, &args.modules)?;
    anyhow::ensure!(!modules.is_empty(), "{}: no .wasm or .wat modules to serve", args.modules.display());
    let default_sink = log_sink(args.log_file.as_deref(), &args.output)?;
    let events_sink = || log_sink(args.log_file.as_deref(), &args.output);
    let (pipeline, exports) = super::export::pipeline(&args.export, routing, default_sink, events_sink, host.config().queue_capacity)?;
    let config = SidecarConfig {
        max_concurrent: args.max_concurrent as usize,
        max_body: args.max_body,
        limits: Limits { timeout: Some(args.timeout), ..Limits::default() },
        labels,
        drain_grace: args.drain_grace,
    };
    let names: Vec<String> = modules.iter().map(|(name, _)| name.clone()).collect();
    let sidecar = Arc::new(Sidecar::new(host, modules, pipeline.sender(), config));
    let runtime = wasmhost::runtime_builder().build().context("starting the tokio runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("listening on {}", args.listen))?;
        // One line for whoever started us (the port, when 0 was asked for).
        eprintln!("wasmhost serve: listening on {} ({})", listener.local_addr()?, names.join(", "));
        sidecar.serve(listener, async { super::shutdown::shutdown_signal().await; }).await.context("serving")
    })?;
    runtime.shutdown_timeout(Duration::from_secs(1));
    if let Some(exports) = &exports {
        exports.begin_shutdown();
    }
    if let Err(e) = pipeline.finish_within(args.drain_grace) {
        eprintln!("wasmhost: warning: the log sinks did not drain within {:?}", e.grace);
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
