//! `wasmhost run`'s network sinks and metrics: `--loki`, `--otlp`, the
//! `OTEL_*` variables, `--metrics-addr`, and `type = "loki"`/`"otlp"` sinks
//! of a routing config (docs/export.md).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::Args;
use wasmhost_export::{ExportFactory, LokiSettings, Metrics, MetricsSink, OtlpProtocol, OtlpSettings};
use wasmhost_log::{Pipeline, Policy, RoutingConfig, Router, Sink, SinkSpec, DEFAULT_QUEUE};

/// The flags.
#[derive(Args)]
pub struct ExportArgs {
    /// Also push every line to Loki at this URL (`http://loki:3100`, or
    /// `https://…` checked against the system's roots; protobuf + snappy,
    /// stream labels job, lang, module, stream).
    #[arg(long, value_name = "URL")]
    loki: Option<String>,
    /// Also send every line as OTLP logs to this endpoint (`http://collector:4318`,
    /// or `:4317` with `--otlp-protocol grpc`). Without it, the standard
    /// `OTEL_EXPORTER_OTLP_(LOGS_)ENDPOINT` or `OTEL_LOGS_EXPORTER=otlp` turn it on.
    #[arg(long, value_name = "URL")]
    otlp: Option<String>,
    /// `grpc`, `http/protobuf` or `http/json` (default: `OTEL_EXPORTER_OTLP_PROTOCOL`, else http/protobuf).
    #[arg(long, value_name = "PROTOCOL", value_parser = OtlpProtocol::parse)]
    otlp_protocol: Option<OtlpProtocol>,
    /// Serve the host's metrics (Prometheus text) at this address, e.g. `127.0.0.1:9464`.
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,
}

/// The pipeline, and the factory whose sinks need [`ExportFactory::begin_shutdown`].
pub fn pipeline(
    args: &ExportArgs,
    config: Option<(&Path, RoutingConfig)>,
    default_sink: Box<dyn Sink>,
    events_sink: impl FnOnce() -> anyhow::Result<Box<dyn Sink>>,
    capacity: usize,
) -> anyhow::Result<(Pipeline, Option<ExportFactory>)> {
    let env = |name: &str| std::env::var(name).ok();
    let wants_otlp = args.otlp.is_some() || OtlpSettings::wanted_by_env(&env);
    if config.is_none() && args.loki.is_none() && !wants_otlp && args.metrics_addr.is_none() {
        return Ok((Pipeline::spawn(default_sink, capacity).context("starting the log pipeline")?, None));
    }
    let metrics = Metrics::new();
    if let Some(addr) = args.metrics_addr {
        metrics.serve(addr).with_context(|| format!("serving metrics on {addr}"))?;
    }
    // The sinks' own events go straight to stderr (or --log-file), not
    // through the pipeline: the last one is said after the pipeline closed.
    let events_out = Mutex::new(events_sink()?);
    let events = Arc::new(move |record: wasmhost_log::LogRecord| {
        let mut out = events_out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.write(&record).and_then(|()| out.flush());
    });
    let factory = ExportFactory::new(metrics.clone(), events, |name| std::env::var(name).ok());
    let (mut specs, mut router) = match config {
        Some((path, routing)) => routing.build_with(path, default_sink, &factory)?,
        None => (vec![SinkSpec { name: "default".into(), sink: default_sink, policy: Policy::Block, queue: DEFAULT_QUEUE }], Router::new(vec![0])),
    };
    let tap = |name: &str, sink: Box<dyn Sink>, specs: &mut Vec<SinkSpec>, router: Router| {
        specs.push(SinkSpec { name: name.into(), sink, policy: Policy::Block, queue: DEFAULT_QUEUE });
        router.tap(specs.len() - 1)
    };
    if let Some(url) = &args.loki {
        let sink = factory.loki("loki", LokiSettings::new(url)).map_err(|e| anyhow::anyhow!("--loki {url}: {e}"))?;
        router = tap("loki", sink, &mut specs, router);
    }
    if wants_otlp {
        let settings = OtlpSettings { endpoint: args.otlp.clone(), protocol: args.otlp_protocol, ..OtlpSettings::default() };
        let sink = factory.otlp("otlp", settings).map_err(|e| anyhow::anyhow!("--otlp: {e}"))?;
        router = tap("otlp", sink, &mut specs, router);
    }
    if args.metrics_addr.is_some() {
        router = tap("metrics", Box::new(MetricsSink(metrics)), &mut specs, router);
    }
    let pipeline = Pipeline::routed(specs, router, capacity).context("starting the log pipeline")?;
    Ok((pipeline, Some(factory)))
}
