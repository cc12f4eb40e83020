//! Log records of wasmhost guests, from raw bytes to lines in a sink.
//!
//! Data walks one way through this crate:
//!
//! guest bytes → [`LineSplitter`] → [`LogRecord`] (with the instance's
//! [`InstanceContext`]) → [`Pipeline`] → [`Sink`] (a [`Format`] over a writer).
//!
//! Nothing here knows about wasmtime: an embedder can feed records from
//! anywhere, and the format can be tested without running a guest.
//!
//! ```
//! use std::sync::Arc;
//! use wasmhost_log::{InstanceContext, JsonFormat, LineSplitter, LogRecord, Stream, Format};
//!
//! let ctx = Arc::new(InstanceContext::new("0190b6d2-3c4e-7a00-8000-000000000000", "rust", "hello"));
//! let mut splitter = LineSplitter::new(16 * 1024);
//! let mut out = Vec::new();
//! let mut seq = 0;
//! splitter.push(b"hello\nwor", |line| {
//!     seq += 1;
//!     let record = LogRecord::line(ctx.clone(), Stream::Stderr, seq, line);
//!     JsonFormat.format(&record, &mut out).unwrap();
//! });
//! let text = String::from_utf8(out).unwrap();
//! assert!(text.contains(r#""msg":"hello""#));
//! assert!(text.ends_with("}\n"));
//! ```

#![warn(missing_docs)]

mod config;
mod format;
mod instance_log;
mod level;
mod lift;
mod lines;
mod pipeline;
mod record;
mod rotate;
mod router;
mod sink;
mod time;

pub use config::{ConfigError, RoutingConfig, SinkFactory, DEFAULT_QUEUE};
pub use format::{Detail, Format, JsonFormat, TextFormat, FORMAT_VERSION, TRAP_EXIT_CODE};
pub use level::level_of_line;
pub use lift::{import_record, Bounds, LiftConfig, LiftRule, Lifted, Lifter};
pub use lines::{check_max_line, Line, LineSplitter, MAX_LINE_BYTES, MIN_LINE_BYTES};
pub use instance_log::{lock, InstanceLog, LogCounters, RecordTap};
pub use pipeline::{
    GraceExceeded, LogSender, Pipeline, DROP_GRACE, PipelineClosed, PipelineReport, Policy, Reservation, SinkReport, SinkSpec, QUEUE_BYTES,
};
pub use rotate::RotatingFile;
pub use router::{Route, RouteError, Router};
pub use record::{FieldValue, InstanceContext, Level, LogRecord, Stream, DEFAULT_STREAM_LABELS, RESERVED_KEYS};
pub use sink::{Sink, WriterSink};
pub use time::rfc3339_nanos;
