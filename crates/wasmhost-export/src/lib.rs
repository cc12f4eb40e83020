//! Network sinks for wasmhost's log pipeline, and the host's own metrics.
//!
//! - [`LokiEncoder`]: Loki's push API (protobuf + snappy, or JSON + gzip).
//! - [`OtlpEncoder`]: OTLP logs (gRPC, HTTP protobuf, HTTP JSON).
//! - [`NetworkSink`]: a [`wasmhost_log::Sink`] that batches through an
//!   encoder and delivers over a [`Transport`] from a worker thread, with
//!   retries, an optional disk [`Spool`] and a dead-letter file, over
//!   plain TCP or TLS ([`TlsSettings`]).
//! - [`ExportFactory`]: builds `type = "loki"` and `type = "otlp"` sinks of
//!   the routing config ([`wasmhost_log::SinkFactory`]); [`OtlpSettings`]
//!   reads the standard `OTEL_*` variables.
//! - [`Metrics`]: per-sink and per-instance-class counters in the Prometheus
//!   text format, served by [`Metrics::serve`].
//!
//! See `docs/export.md` for the configuration and the delivery guarantees.

#![warn(missing_docs)]

mod batch;
mod config;
mod deliver;
mod loki;
mod metrics;
mod otlp;
#[cfg(feature = "receivers")]
pub mod receivers;
mod rpc;
mod spool;
mod tls;
mod transport;

pub use batch::{Batch, Encoder, Encoding};
pub use config::{EnvFn, ExportFactory, LokiSettings, OtlpProtocol, OtlpSettings, OtlpTarget};
pub use deliver::{Delivery, EventFn, NetworkSink, ShutdownHandle};
pub use loki::{
    check_labels, parse_labels, EntryAdapter, LabelPairAdapter, LokiEncoder, PushRequest, StreamAdapter, Timestamp,
    PER_INSTANCE_FIELDS, STRUCTURED_METADATA,
};
pub use metrics::{Metrics, MetricsSink, Settled, SinkMetrics};
pub use otlp::{host_name, resource, severity_number, to_otlp, OtlpEncoder};
pub use spool::{Spool, SpoolEntry, SpoolError};
pub use tls::TlsSettings;
pub use transport::{compress, retry_after, Compression, Outcome, RetryRule, Transport};

/// The OTLP wire types this crate encodes with, for receivers and tests.
pub use opentelemetry_proto;

/// Locks a mutex even if a thread panicked while holding it: the data (a
/// batch being built, a registry) is still usable.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
