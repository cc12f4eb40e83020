//! `wasmhost-gateway --listen ADDR --route /path=module.wasm ...`: the example
//! gateway as a command. Tagged lines go to stderr as JSON. On SIGTERM or
//! Ctrl-C it drains: requests in flight finish (within `--drain-grace-ms`,
//! then their guests are stopped), every line is written, exit 0.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use wasmhost::{Host, HostConfig, Limits, Pooling};
use wasmhost_gateway::Gateway;
use wasmhost_log::{JsonFormat, Pipeline, WriterSink};

/// Serves WebAssembly guests over HTTP, one instance per request.
#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// `PATH=MODULE`: requests to PATH run MODULE (repeatable).
    #[arg(long = "route", value_name = "PATH=MODULE", required = true)]
    routes: Vec<String>,
    /// Stop a guest after this many milliseconds.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// Add `KEY=VALUE` to every line, e.g. `job=gateway`.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// After SIGTERM or Ctrl-C, how long requests in flight get to finish
    /// before their guests are stopped.
    #[arg(long, default_value_t = 10_000)]
    drain_grace_ms: u64,
}

/// Resolves at the first SIGTERM or SIGINT.
async fn shutdown_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut int) = (signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?);
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Not `#[tokio::main]`: guests that compute must not delay the timers of
    // guests that sleep (see `wasmhost::runtime_builder`).
    wasmhost::runtime_builder().build().context("starting the tokio runtime")?.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    // WASI-NN errors found by wasmtime-wasi-nn's glue become nn.error lines of
    // the instance; a gateway with a tracing subscriber of its own skips this.
    let _ = tracing::subscriber::set_global_default(wasmhost::GlueErrors);
    let host = Arc::new(Host::new(HostConfig { pooling: Some(Pooling::default()), ..HostConfig::default() })?);
    let mut routes = Vec::new();
    for spec in &args.routes {
        let (path, module) = spec.split_once('=').with_context(|| format!("--route {spec:?}: expected PATH=MODULE"))?;
        routes.push((path.to_owned(), host.load_file(module.as_ref())?));
    }
    let pipeline = Pipeline::spawn(Box::new(WriterSink::new(JsonFormat, std::io::stderr())), 16 * 1024)?;
    let limits = Limits { timeout: Some(Duration::from_millis(args.timeout_ms)), ..Limits::default() };
    let labels = args
        .labels
        .iter()
        .map(|spec| wasmhost_log::InstanceContext::parse_label(spec).map_err(|reason| anyhow::anyhow!("--label {spec:?}: {reason}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let gateway = Arc::new(Gateway::new(host, routes, pipeline.sender(), limits).with_labels(labels));
    let listener = tokio::net::TcpListener::bind(&args.listen).await.with_context(|| format!("listening on {}", args.listen))?;
    eprintln!("wasmhost-gateway: listening on {}", listener.local_addr()?);
    let signal = shutdown_signal();
    let grace = Duration::from_millis(args.drain_grace_ms);
    gateway.serve_until(listener, async { let _ = signal.await; }, grace).await?;
    eprintln!("wasmhost-gateway: drained");
    // The gateway (and its senders) are gone: every line gets written.
    let report = pipeline.shutdown().await;
    if let Some(error) = report.first_error {
        anyhow::bail!("writing the log: {error}");
    }
    Ok(())
}
