//! The host's own metrics (Prometheus text format through
//! `prometheus-client`): per sink, what the delivery did; per instance class
//! (module and language), what the instances did, counted from the records
//! themselves as they pass a [`MetricsSink`].
//!
//! ```
//! use wasmhost_export::{Metrics, Settled};
//! let metrics = Metrics::new();
//! metrics.sink("loki").settle(Settled::Sent, 3);
//! let text = metrics.render();
//! assert!(text.contains(r#"wasmhost_sink_records_sent_total{sink="loki"} 3"#));
//! assert!(text.contains(r#"wasmhost_sink_batches_sent_total{sink="loki"} 1"#));
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use wasmhost_log::{FieldValue, LogRecord, Sink, Stream};

type Labels = Vec<(&'static str, String)>;

fn latency_histogram() -> Histogram {
    // 1 ms … ~33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Every metric of the host, in one registry.
pub struct Metrics {
    registry: Mutex<Registry>,
    /// Per outcome: (batches, records).
    outcomes: [(Family<Labels, Counter>, Family<Labels, Counter>); 4],
    records_rejected: Family<Labels, Counter>,
    retried: Family<Labels, Counter>,
    spool_bytes: Family<Labels, Gauge>,
    queue_depth: Family<Labels, Gauge>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    started: Family<Labels, Counter>,
    exits: Family<Labels, Counter>,
    traps: Family<Labels, Counter>,
    timeouts: Family<Labels, Counter>,
    lines: Family<Labels, Counter>,
}

/// Where a batch ended. Every batch a sink takes ends in exactly one of
/// these (or is still queued or spooled when the process exits), and is
/// counted once, with its records, under that outcome's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The receiver acknowledged it (`wasmhost_sink_{batches,records}_sent_total`).
    Sent = 0,
    /// The receiver refused it for good and it is in the dead-letter file
    /// (`…_dead_lettered_total`).
    DeadLettered = 1,
    /// Given up after `max_retries` and written to the dead-letter file
    /// (`…_failed_total`).
    Failed = 2,
    /// Lost: refused or given up with no dead-letter file to hold it (or
    /// one that could not be written), left in memory at shutdown without a
    /// spool, or a corrupt spool file (`…_dropped_total`).
    Dropped = 3,
}

/// The metric names of each [`Settled`] outcome: (batches, records).
const OUTCOMES: [(&str, &str, &str); 4] = [
    ("wasmhost_sink_batches_sent", "wasmhost_sink_records_sent", "acknowledged by the receiver"),
    ("wasmhost_sink_batches_dead_lettered", "wasmhost_sink_records_dead_lettered", "refused by the receiver, kept in the dead-letter file"),
    ("wasmhost_sink_batches_failed", "wasmhost_sink_records_failed", "given up after max_retries, kept in the dead-letter file"),
    ("wasmhost_sink_batches_dropped", "wasmhost_sink_records_dropped", "lost: no dead-letter file, no spool at shutdown, or a corrupt spool file"),
];

/// One sink's metrics, ready to update.
#[derive(Clone)]
pub struct SinkMetrics {
    /// Per [`Settled`] outcome: (batches, records).
    outcomes: [(Counter, Counter); 4],
    /// Records an OTLP receiver rejected in a partial success (their batch
    /// counts as sent, the rest of its records as records sent).
    pub records_rejected: Counter,
    /// Attempts that failed and were retried.
    pub retried: Counter,
    /// Bytes in the sink's spool directory.
    pub spool_bytes: Gauge,
    /// Batches waiting to be sent.
    pub queue_depth: Gauge,
    /// Seconds per successful request.
    pub latency: Histogram,
}

impl SinkMetrics {
    /// Counts one batch of `records` records under `outcome`.
    pub fn settle(&self, outcome: Settled, records: u64) {
        let (batches, recs) = &self.outcomes[outcome as usize];
        batches.inc();
        recs.inc_by(records);
    }

    /// Batches counted under `outcome` so far.
    pub fn batches(&self, outcome: Settled) -> u64 {
        self.outcomes[outcome as usize].0.get()
    }

    /// Records counted under `outcome` so far.
    pub fn records(&self, outcome: Settled) -> u64 {
        self.outcomes[outcome as usize].1.get()
    }
}

impl Metrics {
    /// A registry with every family registered.
    pub fn new() -> Arc<Metrics> {
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            outcomes: Default::default(),
            records_rejected: Family::default(),
            retried: Family::default(),
            spool_bytes: Family::default(),
            queue_depth: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            started: Family::default(),
            exits: Family::default(),
            traps: Family::default(),
            timeouts: Family::default(),
            lines: Family::default(),
        };
        {
            let mut r = crate::lock(&m.registry);
            for ((batches, records), (batch_name, record_name, what)) in m.outcomes.iter().zip(OUTCOMES) {
                r.register(batch_name, format!("Batches {what}"), batches.clone());
                r.register(record_name, format!("Records in batches {what}"), records.clone());
            }
            r.register("wasmhost_sink_records_rejected", "Records an OTLP receiver rejected in a partial success", m.records_rejected.clone());
            r.register("wasmhost_sink_batches_retried", "Batch attempts that failed and were retried", m.retried.clone());
            r.register("wasmhost_sink_spool_bytes", "Bytes waiting in the sink's spool", m.spool_bytes.clone());
            r.register("wasmhost_sink_queue_depth", "Batches waiting to be sent", m.queue_depth.clone());
            r.register("wasmhost_sink_send_latency_seconds", "Time per acknowledged request", m.latency.clone());
            r.register("wasmhost_instances_started", "Instances started, by module and lang", m.started.clone());
            r.register("wasmhost_instance_exits", "Instance exits, by module, lang and exit code", m.exits.clone());
            r.register("wasmhost_instance_traps", "Instances ended by a trap", m.traps.clone());
            r.register("wasmhost_instance_timeouts", "Instances stopped at their timeout", m.timeouts.clone());
            r.register("wasmhost_guest_lines", "Guest lines, by lang and stream", m.lines.clone());
        }
        Arc::new(m)
    }

    /// The handles of the sink called `name`.
    pub fn sink(&self, name: &str) -> SinkMetrics {
        let l: Labels = vec![("sink", name.to_owned())];
        SinkMetrics {
            outcomes: std::array::from_fn(|i| {
                let (batches, records) = &self.outcomes[i];
                (batches.get_or_create(&l).clone(), records.get_or_create(&l).clone())
            }),
            records_rejected: self.records_rejected.get_or_create(&l).clone(),
            retried: self.retried.get_or_create(&l).clone(),
            spool_bytes: self.spool_bytes.get_or_create(&l).clone(),
            queue_depth: self.queue_depth.get_or_create(&l).clone(),
            latency: self.latency.get_or_create(&l).clone(),
        }
    }

    /// Counts what one record says about its instance.
    pub fn observe(&self, r: &LogRecord) {
        let class = || -> Labels { vec![("module", r.ctx.module.clone()), ("lang", r.ctx.lang.clone())] };
        match (r.stream, r.event) {
            (Stream::Host, Some("instance.start")) => drop(self.started.get_or_create(&class()).inc()),
            (Stream::Host, Some("instance.exit")) => {
                let code = r.fields.iter().find(|(k, _)| *k == "exit_code").map(|(_, v)| match v {
                    FieldValue::I64(n) => n.to_string(),
                    FieldValue::U64(n) => n.to_string(),
                    _ => "unknown".into(),
                });
                let mut l = class();
                l.push(("code", code.unwrap_or_else(|| "unknown".into())));
                self.exits.get_or_create(&l).inc();
            }
            (Stream::Host, Some("instance.trap")) => drop(self.traps.get_or_create(&class()).inc()),
            (Stream::Host, Some("instance.timeout")) => drop(self.timeouts.get_or_create(&class()).inc()),
            (Stream::Stdout | Stream::Stderr, _) => {
                let l: Labels = vec![("lang", r.ctx.lang.clone()), ("stream", r.stream.as_str().to_owned())];
                self.lines.get_or_create(&l).inc();
            }
            _ => {}
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &crate::lock(&self.registry));
        out
    }

    /// Serves [`Metrics::render`] on `GET /metrics` (any path, in fact) at
    /// `addr` from a thread of its own; returns the bound address (port 0
    /// picks one).
    pub fn serve(self: &Arc<Self>, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let metrics = self.clone();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        std::thread::Builder::new().name("wasmhost-metrics".into()).spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                loop {
                    let Ok((stream, _)) = listener.accept().await else { continue };
                    let metrics = metrics.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |_req| {
                            let body = metrics.render();
                            async move {
                                hyper::Response::builder()
                                    .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
                                    .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                            }
                        });
                        let io = hyper_util::rt::TokioIo::new(stream);
                        let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                    });
                }
            })
        })?;
        Ok(local)
    }
}

/// A sink that only counts: route every record to it (as `wasmhost run
/// --metrics-addr` does) and the per-instance metrics follow.
pub struct MetricsSink(pub Arc<Metrics>);

impl Sink for MetricsSink {
    fn write(&mut self, record: &LogRecord) -> std::io::Result<()> {
        self.0.observe(record);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
