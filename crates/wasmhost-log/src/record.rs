//! The log record: one line of a guest or one host event, with the context
//! of the instance that produced it.

use std::sync::Arc;
use std::time::SystemTime;

use crate::lines::Line;

/// Where a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// A line the guest wrote to its standard output (only when captured).
    Stdout,
    /// A line the guest wrote to its standard error.
    Stderr,
    /// An event of the host about the instance (start, exit, trap, ...).
    Host,
    /// A record the guest made through the `wasmhost_log` host import.
    Api,
}

impl Stream {
    /// The lower-case name used in the `stream` field.
    ///
    /// ```
    /// assert_eq!(wasmhost_log::Stream::Host.as_str(), "host");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Host => "host",
            Stream::Api => "api",
        }
    }
}

/// Severity of a record, written lower case in the `level` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Fine-grained diagnostics.
    Trace,
    /// Diagnostics.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that did not stop the instance.
    Warn,
    /// A failure: a trap, an error line, a broken module.
    Error,
}

impl Level {
    /// The lower-case name used in the `level` field.
    ///
    /// ```
    /// assert_eq!(wasmhost_log::Level::Warn.as_str(), "warn");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// What every record of one instance carries: set once when the instance is
/// created and shared by all its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceContext {
    /// The instance's UUIDv7, as text.
    pub wasm_instance_id: String,
    /// The detected (or overridden) guest language, e.g. `rust`.
    pub lang: String,
    /// The module's name (from the `name` section, else the file stem).
    pub module: String,
    /// The tokio task that runs the instance, when it runs inside one.
    pub task_id: Option<u64>,
    /// Extra labels from the embedder or `--label`, written as top-level keys.
    /// Their keys are checked by [`InstanceContext::check_label_key`].
    pub labels: Vec<(String, String)>,
}

/// Keys the format or an event writes itself (every key of
/// docs/log-format.schema.json; a test keeps the two the same): labels (and
/// fields lifted from a guest's own log line) may not reuse them, so a line
/// never has a key twice and never a label where a figure belongs.
pub const RESERVED_KEYS: &[&str] = &[
    // On every line.
    "v", "ts", "level", "msg", "lang", "module", "wasm_instance_id", "task_id", "stream", "seq",
    // On some lines.
    "event", "continued", "invalid_utf8", "trace_id", "span_id", "lifted",
    // wasi:logging records (components).
    "context",
    // Fields of events.
    "module_path", "module_size", "module_sha256", "lang_source", "lang_confidence", "lang_evidence", "toolchain",
    "compile", "compile_ms", "cache_error", "exit_code", "duration_ms", "trap_code", "trap_message",
    "backtrace", "timeout_ms", "elapsed_ms", "fuel_limit", "fuel_used", "max_memory", "requested",
    "limit", "current", "sink", "dropped", "backend", "encoding", "target", "model_bytes", "graph",
    "nn_call", "error",
    // Fields of the network sinks' events (`export.*`).
    "attempt", "lost", "path", "queued_bytes", "reason", "records", "retry_in_ms", "sent",
    "spooled_batches", "spooled_records", "status",
];

/// The fields that are stream labels in Loki's data model when nothing else is
/// configured: the few low-cardinality values that name a stream. Everything
/// else in a line (`wasm_instance_id`, `seq`, `msg`, ...) is reached through a
/// parser such as `| json`, as in Loki. One definition serves both the labels a
/// Loki push sends and the labels `wasmhost logs` treats as a stream's, so a
/// query answers the same on a file and in Loki.
///
/// ```
/// assert!(wasmhost_log::DEFAULT_STREAM_LABELS.contains(&"lang"));
/// assert!(!wasmhost_log::DEFAULT_STREAM_LABELS.contains(&"wasm_instance_id"));
/// ```
pub const DEFAULT_STREAM_LABELS: &[&str] = &["job", "lang", "module", "stream"];

impl InstanceContext {
    /// A context with no task and no labels.
    ///
    /// ```
    /// let ctx = wasmhost_log::InstanceContext::new("id", "c", "hello");
    /// assert_eq!(ctx.lang, "c");
    /// ```
    pub fn new(id: impl Into<String>, lang: impl Into<String>, module: impl Into<String>) -> Self {
        InstanceContext {
            wasm_instance_id: id.into(),
            lang: lang.into(),
            module: module.into(),
            task_id: None,
            labels: Vec::new(),
        }
    }

    /// Checks that `key` can be a label: LogQL's `| json` keeps only keys made
    /// of `[A-Za-z0-9_]` that do not start with a digit (which also makes it
    /// a valid Loki label name and OpenTelemetry attribute name), keys
    /// starting with `__` are Loki's, and the format's own keys
    /// ([`RESERVED_KEYS`]) cannot be shadowed. Returns the reason when it cannot.
    ///
    /// ```
    /// use wasmhost_log::InstanceContext;
    /// assert!(InstanceContext::check_label_key("tenant").is_ok());
    /// assert!(InstanceContext::check_label_key("9lives").is_err());
    /// assert!(InstanceContext::check_label_key("seq").is_err());
    /// ```
    pub fn check_label_key(key: &str) -> Result<(), String> {
        let mut chars = key.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !first_ok || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "label key {key:?} must match [A-Za-z_][A-Za-z0-9_]* to survive LogQL's `| json`"
            ));
        }
        if key.starts_with("__") {
            return Err(format!("label key {key:?}: keys starting with `__` are reserved by Loki"));
        }
        if RESERVED_KEYS.contains(&key) {
            return Err(format!("label key {key:?} is a field of the log format itself (see docs/log-format.md)"));
        }
        Ok(())
    }

    /// Checks every key of `labels` with [`InstanceContext::check_label_key`],
    /// and that no key is given twice (a line never has a key twice).
    ///
    /// ```
    /// use wasmhost_log::InstanceContext;
    /// let label = |k: &str| (k.to_owned(), "x".to_owned());
    /// assert!(InstanceContext::check_labels(&[label("job"), label("tenant")]).is_ok());
    /// assert!(InstanceContext::check_labels(&[label("job"), label("job")]).is_err());
    /// assert!(InstanceContext::check_labels(&[label("exit_code")]).is_err());
    /// ```
    pub fn check_labels(labels: &[(String, String)]) -> Result<(), String> {
        for (i, (key, _)) in labels.iter().enumerate() {
            Self::check_label_key(key)?;
            if labels[..i].iter().any(|(k, _)| k == key) {
                return Err(format!("label key {key:?} is given twice"));
            }
        }
        Ok(())
    }

    /// Parses a `KEY=VALUE` label as given on a command line, checking the
    /// key with [`InstanceContext::check_label_key`].
    ///
    /// ```
    /// use wasmhost_log::InstanceContext;
    /// assert_eq!(InstanceContext::parse_label("job=gateway").unwrap(), ("job".into(), "gateway".into()));
    /// assert!(InstanceContext::parse_label("novalue").is_err());
    /// ```
    pub fn parse_label(spec: &str) -> Result<(String, String), String> {
        let (key, value) = spec.split_once('=').ok_or_else(|| "expected KEY=VALUE".to_owned())?;
        Self::check_label_key(key)?;
        Ok((key.to_owned(), value.to_owned()))
    }
}

/// A value of an event field.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// Text.
    Str(String),
    /// An unsigned integer (sizes, counts).
    U64(u64),
    /// A signed integer (exit codes).
    I64(i64),
    /// A float (durations in milliseconds, confidences).
    F64(f64),
    /// A flag.
    Bool(bool),
}

impl FieldValue {
    /// A duration as the log format writes it: milliseconds with at most
    /// three decimals (whole microseconds), so a line says `0.204`, never
    /// `0.20364100000000002` (the `*_ms` fields).
    ///
    /// ```
    /// use std::time::Duration;
    /// use wasmhost_log::FieldValue;
    /// assert_eq!(FieldValue::millis(Duration::from_micros(1500)), FieldValue::F64(1.5));
    /// assert_eq!(FieldValue::millis(Duration::from_nanos(203_641)), FieldValue::F64(0.204));
    /// ```
    pub fn millis(duration: std::time::Duration) -> FieldValue {
        let micros = duration.as_nanos().saturating_add(500) / 1000;
        // n / 1000 is the double nearest to the decimal n/1000, which JSON
        // (shortest round-trip) then writes with at most three decimals.
        FieldValue::F64(micros as f64 / 1000.0)
    }
}

impl From<String> for FieldValue {
    fn from(v: String) -> Self {
        FieldValue::Str(v)
    }
}
impl From<&str> for FieldValue {
    fn from(v: &str) -> Self {
        FieldValue::Str(v.to_owned())
    }
}
impl From<u64> for FieldValue {
    fn from(v: u64) -> Self {
        FieldValue::U64(v)
    }
}
impl From<i64> for FieldValue {
    fn from(v: i64) -> Self {
        FieldValue::I64(v)
    }
}
impl From<i32> for FieldValue {
    fn from(v: i32) -> Self {
        FieldValue::I64(v.into())
    }
}
impl From<f64> for FieldValue {
    fn from(v: f64) -> Self {
        FieldValue::F64(v)
    }
}
impl From<bool> for FieldValue {
    fn from(v: bool) -> Self {
        FieldValue::Bool(v)
    }
}

/// One log line of one instance.
#[derive(Debug, Clone)]
pub struct LogRecord {
    /// When the host saw the line (or the event happened).
    pub ts: SystemTime,
    /// Severity.
    pub level: Level,
    /// Which stream it came from.
    pub stream: Stream,
    /// Position among all records of the instance, from 1, without gaps.
    pub seq: u64,
    /// The text: a guest's line, or a host event's summary.
    pub msg: String,
    /// The line was longer than the limit and goes on in the next record.
    pub continued: bool,
    /// The guest's bytes were not valid UTF-8 and were replaced (lossy).
    pub invalid_utf8: bool,
    /// For host events: the event's name, e.g. `instance.exit`.
    pub event: Option<&'static str>,
    /// For host events: the event's figures, written as top-level keys.
    pub fields: Vec<(&'static str, FieldValue)>,
    /// The instance this record belongs to.
    pub ctx: Arc<InstanceContext>,
    /// What lifting found in a guest's line (see [`crate::LiftConfig`]).
    pub lifted: Option<Box<crate::Lifted>>,
}

impl LogRecord {
    /// A record for a line a guest wrote; its level is read from the line's
    /// own words (see [`crate::level_of_line`]).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wasmhost_log::{InstanceContext, Level, Line, LogRecord, Stream};
    /// let ctx = Arc::new(InstanceContext::new("id", "c", "m"));
    /// let line = Line { bytes: b"ERROR: disk full", continued: false };
    /// let rec = LogRecord::line(ctx, Stream::Stderr, 1, line);
    /// assert_eq!(rec.level, Level::Error);
    /// ```
    pub fn line(ctx: Arc<InstanceContext>, stream: Stream, seq: u64, line: Line<'_>) -> Self {
        let (msg, invalid_utf8) = match std::str::from_utf8(line.bytes) {
            Ok(s) => (s.to_owned(), false),
            Err(_) => (String::from_utf8_lossy(line.bytes).into_owned(), true),
        };
        LogRecord {
            ts: SystemTime::now(),
            level: crate::level::level_of_line(&msg),
            stream,
            seq,
            msg,
            continued: line.continued,
            invalid_utf8,
            event: None,
            fields: Vec::new(),
            ctx,
            lifted: None,
        }
    }

    /// A host event about the instance.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wasmhost_log::{InstanceContext, Level, LogRecord};
    /// let ctx = Arc::new(InstanceContext::new("id", "c", "m"));
    /// let rec = LogRecord::event(ctx, 3, Level::Info, "instance.exit", "exited with 0".into(),
    ///     vec![("exit_code", 0i64.into())]);
    /// assert_eq!(rec.event, Some("instance.exit"));
    /// ```
    pub fn event(
        ctx: Arc<InstanceContext>,
        seq: u64,
        level: Level,
        event: &'static str,
        msg: String,
        fields: Vec<(&'static str, FieldValue)>,
    ) -> Self {
        LogRecord {
            ts: SystemTime::now(),
            level,
            stream: Stream::Host,
            seq,
            msg,
            continued: false,
            invalid_utf8: false,
            event: Some(event),
            fields,
            ctx,
            lifted: None,
        }
    }
}

impl wasmhost_logql::LabelSource for LogRecord {
    /// A record's labels are its JSON line's fields, as text: what a route's
    /// selector and label filters see.
    fn label(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        use std::borrow::Cow;
        let text = |s: &str| Some(Cow::Owned(s.to_owned()));
        match name {
            "level" => Some(Cow::Borrowed(self.level.as_str())),
            "msg" => Some(Cow::Borrowed(&self.msg)),
            "lang" => Some(Cow::Borrowed(&self.ctx.lang)),
            "module" => Some(Cow::Borrowed(&self.ctx.module)),
            "wasm_instance_id" => Some(Cow::Borrowed(&self.ctx.wasm_instance_id)),
            "stream" => Some(Cow::Borrowed(self.stream.as_str())),
            "task_id" => self.ctx.task_id.map(|t| Cow::Owned(t.to_string())),
            "seq" => Some(Cow::Owned(self.seq.to_string())),
            "event" => self.event.map(Cow::Borrowed),
            "continued" => self.continued.then_some(Cow::Borrowed("true")),
            "invalid_utf8" => self.invalid_utf8.then_some(Cow::Borrowed("true")),
            "lifted" => self.lifted.as_ref().map(|l| Cow::Borrowed(l.format)),
            "v" => text(&crate::format::FORMAT_VERSION.to_string()),
            "ts" => {
                let mut ts = String::new();
                crate::time::rfc3339_nanos(self.ts, &mut ts);
                Some(Cow::Owned(ts))
            }
            _ => {
                let lifted = self.lifted.iter().flat_map(|l| l.fields.iter().map(|(k, v)| (k.as_str(), v)));
                if let Some((_, v)) = self.fields.iter().map(|(k, v)| (*k, v)).chain(lifted).find(|(k, _)| *k == name) {
                    return Some(Cow::Owned(match v {
                        FieldValue::Str(s) => s.clone(),
                        FieldValue::U64(n) => n.to_string(),
                        FieldValue::I64(n) => n.to_string(),
                        FieldValue::F64(n) => n.to_string(),
                        FieldValue::Bool(b) => b.to_string(),
                    }));
                }
                self.ctx.labels.iter().find(|(k, _)| k == name).map(|(_, v)| Cow::Borrowed(v.as_str()))
            }
        }
    }

    /// Every field of the record's JSON line, for routes whose pipeline
    /// rewrites labels (`| label_format`, `| drop`, …).
    fn all_labels(&self) -> wasmhost_logql::Labels {
        const OWN: [&str; 13] =
            ["level", "msg", "lang", "module", "wasm_instance_id", "stream", "task_id", "seq", "event", "continued", "invalid_utf8", "v", "ts"];
        let names = OWN.iter().copied().chain(self.fields.iter().map(|(k, _)| *k)).chain(self.ctx.labels.iter().map(|(k, _)| k.as_str()));
        names.filter_map(|n| self.label(n).map(|v| (n.to_owned(), v.into_owned()))).collect()
    }
}
