//! Lifting in the pipeline: which instances lift their guests' lines
//! ([`LiftConfig`], on by default), and how a lifted line becomes its
//! record's `level`, `msg`, `lifted` and fields. Reading the line is
//! `wasmhost-lift`'s job; this module only decides and applies.
//!
//! A guest never sets a host field: its keys go under the prefix
//! (`guest_` by default), and a key that would still collide with one of
//! [`RESERVED_KEYS`] or the operator's labels gets `_extracted` appended,
//! as Loki does.

use std::sync::Arc;
use std::time::Instant;

use wasmhost_lift::{Joined, Joiner, Severity, Value};
use wasmhost_logql::{LabelSource, LogQuery, Query};

use crate::lines::Line;
use crate::record::{FieldValue, InstanceContext, Level, LogRecord, Stream, RESERVED_KEYS};
use crate::router::RouteError;

pub use wasmhost_lift::{Bounds, Lifter};

/// What lifting found in a record's line, as the record carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct Lifted {
    /// The format that matched (`json`, `logfmt`, `python_traceback`, ...;
    /// `import` for the `wasmhost_log` host import), written as `lifted`.
    pub format: &'static str,
    /// The guest's fields under their final names, written as top-level keys.
    pub fields: Vec<(String, FieldValue)>,
}

/// One per-instance rule: instances whose fields match `selector` lift (or
/// not) as `enabled` says. The first matching rule wins.
#[derive(Debug, Clone)]
pub struct LiftRule {
    selector: LogQuery,
    enabled: bool,
}

impl LiftRule {
    /// A rule from a LogQL stream selector over the instance's own fields
    /// (`lang`, `module`, `wasm_instance_id`, labels), e.g.
    /// `{module="legacy"}`. Pipelines are refused: a rule is decided once,
    /// when the instance starts, before it has written a line.
    ///
    /// ```
    /// assert!(wasmhost_log::LiftRule::new(r#"{lang="go"}"#, false).is_ok());
    /// assert!(wasmhost_log::LiftRule::new(r#"{lang="go"} |= "x""#, false).is_err());
    /// ```
    pub fn new(selector: &str, enabled: bool) -> Result<LiftRule, RouteError> {
        let not = |reason: &str| RouteError::NotRoutable { query: selector.into(), reason: reason.into() };
        let parsed = wasmhost_logql::parse(selector).map_err(|error| RouteError::Parse { query: selector.into(), error })?;
        match parsed {
            Query::Log(log) if log.stages.is_empty() => Ok(LiftRule { selector: log, enabled }),
            Query::Log(_) => Err(not("a lift rule is a stream selector only: it is decided before the instance writes a line")),
            _ => Err(not("a lift rule is a stream selector, not a metric")),
        }
    }
}

/// Lifting settings: on by default with the `guest_` prefix, multi-line
/// joining with [`Bounds::default`], no rules.
///
/// ```
/// use std::sync::Arc;
/// use wasmhost_log::{InstanceContext, LiftConfig, LiftRule};
/// let mut config = LiftConfig::default();
/// config.rules.push(LiftRule::new(r#"{module="legacy"}"#, false).unwrap());
/// assert!(config.enabled_for(&InstanceContext::new("id", "c", "app")));
/// assert!(!config.enabled_for(&InstanceContext::new("id", "c", "legacy")));
/// assert!(!LiftConfig::off().enabled_for(&InstanceContext::new("id", "c", "app")));
/// ```
#[derive(Debug, Clone)]
pub struct LiftConfig {
    /// Lift unless a rule says otherwise.
    pub enabled: bool,
    /// The parsers and the field prefix.
    pub lifter: Arc<Lifter>,
    /// Join multi-line panics and tracebacks into one record.
    pub multiline: bool,
    /// How big and long a joined block may be.
    pub bounds: Bounds,
    /// Per-instance exceptions, first match wins.
    pub rules: Vec<LiftRule>,
}

impl Default for LiftConfig {
    fn default() -> Self {
        LiftConfig { enabled: true, lifter: Arc::new(Lifter::default()), multiline: true, bounds: Bounds::default(), rules: Vec::new() }
    }
}

/// An instance's fields as a stream selector sees them.
struct ContextLabels<'a>(&'a InstanceContext);

impl LabelSource for ContextLabels<'_> {
    fn label(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        use std::borrow::Cow::Borrowed;
        let c = self.0;
        match name {
            "lang" => Some(Borrowed(&c.lang)),
            "module" => Some(Borrowed(&c.module)),
            "wasm_instance_id" => Some(Borrowed(&c.wasm_instance_id)),
            _ => c.labels.iter().find(|(k, _)| k == name).map(|(_, v)| Borrowed(v.as_str())),
        }
    }

    fn all_labels(&self) -> wasmhost_logql::Labels {
        let c = self.0;
        [("lang", &c.lang), ("module", &c.module), ("wasm_instance_id", &c.wasm_instance_id)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.clone()))
            .chain(c.labels.iter().cloned())
            .collect()
    }
}

impl LiftConfig {
    /// Lifting off: every line stays as the guest wrote it.
    pub fn off() -> LiftConfig {
        LiftConfig { enabled: false, ..LiftConfig::default() }
    }

    /// Whether the instance `ctx` lifts its lines.
    pub fn enabled_for(&self, ctx: &InstanceContext) -> bool {
        let labels = ContextLabels(ctx);
        self.rules.iter().find(|r| r.selector.matches_record(&labels, "")).map_or(self.enabled, |r| r.enabled)
    }

    /// The lifting state of one instance, or `None` when it does not lift.
    pub(crate) fn for_instance(&self, ctx: &InstanceContext) -> Option<LineLifter> {
        self.enabled_for(ctx).then(|| LineLifter {
            lifter: self.lifter.clone(),
            joiners: self.multiline.then(|| Box::new([Joiner::new(self.bounds), Joiner::new(self.bounds)])),
        })
    }
}

/// Whether the record of `ctx` already has the key `key`.
fn taken(ctx: &InstanceContext, key: &str) -> bool {
    // trace_id/span_id are the record's trace context: a guest's own (the
    // lifter keeps only valid ones) fill it when the run has no traceparent.
    let trace_context = key == "trace_id" || key == "span_id";
    (RESERVED_KEYS.contains(&key) && !trace_context) || ctx.labels.iter().any(|(k, _)| k == key)
}

/// The host's level for a guest's severity (fatal is written as error).
pub(crate) fn level(s: Severity) -> Level {
    match s {
        Severity::Trace => Level::Trace,
        Severity::Debug => Level::Debug,
        Severity::Info => Level::Info,
        Severity::Warn => Level::Warn,
        Severity::Error | Severity::Fatal => Level::Error,
    }
}

fn field_value(v: Value<'_>) -> FieldValue {
    match v {
        Value::Str(s) => FieldValue::Str(s.into_owned()),
        Value::Int(n) => FieldValue::I64(n),
        Value::UInt(n) => FieldValue::U64(n),
        Value::Float(f) => FieldValue::F64(f),
        Value::Bool(b) => FieldValue::Bool(b),
    }
}

/// What was lifted, owned, so it can replace the text it was read from.
struct Owned(Option<Level>, Box<Lifted>, String);

impl Owned {
    fn of(lifted: wasmhost_lift::Lifted<'_>) -> Owned {
        let fields = lifted.fields.into_iter().map(|(k, v)| (k, field_value(v))).collect();
        Owned(lifted.level.map(level), Box::new(Lifted { format: lifted.format, fields }), lifted.msg.into_owned())
    }

    fn apply(self, record: &mut LogRecord) {
        let Owned(level, lifted, msg) = self;
        if let Some(level) = level {
            record.level = level;
        }
        record.lifted = Some(lifted);
        record.msg = msg;
    }
}

/// One instance's lifting: the lifter and, with multi-line joining, one
/// joiner per captured stream.
pub(crate) struct LineLifter {
    lifter: Arc<Lifter>,
    joiners: Option<Box<[Joiner; 2]>>,
}

impl LineLifter {
    /// Turns one line into records (none while a block is held; a held
    /// block and the line after it at once). `seq` is left 0 for the caller.
    pub(crate) fn push(&mut self, ctx: &Arc<InstanceContext>, stream: Stream, line: Line<'_>, emit: &mut dyn FnMut(LogRecord)) {
        let lifter = &self.lifter;
        match self.joiners.as_deref_mut() {
            Some(joiners) => {
                let joiner = &mut joiners[usize::from(stream == Stream::Stdout)];
                joiner.push(line.bytes, line.continued, &mut |joined| emit(record(lifter, ctx, stream, joined)));
            }
            None => emit(record(lifter, ctx, stream, Joined::Line { bytes: line.bytes, continued: line.continued, tail: false })),
        }
    }

    /// Some block is held.
    pub(crate) fn is_holding(&self) -> bool {
        self.joiners.as_deref().is_some_and(|j| j.iter().any(Joiner::is_holding))
    }

    /// When the first held block's window ends (`None`: nothing held).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.joiners.as_deref()?.iter().filter_map(Joiner::deadline).min()
    }

    /// Emits the held blocks of both streams: all of them, or with `due_by`
    /// those whose window has ended by then.
    pub(crate) fn flush(&mut self, due_by: Option<Instant>, ctx: &Arc<InstanceContext>, emit: &mut dyn FnMut(LogRecord)) {
        let lifter = &self.lifter;
        for (joiner, stream) in self.joiners.iter_mut().flat_map(|j| j.iter_mut()).zip([Stream::Stderr, Stream::Stdout]) {
            let emit = &mut |joined: Joined<'_>| emit(record(lifter, ctx, stream, joined));
            match due_by {
                Some(now) => joiner.flush_due(now, emit),
                None => joiner.flush(emit),
            }
        }
    }
}

/// A record for one line or block, lifted when its format is known. A
/// piece of a cut line, and invalid UTF-8, stay as they are.
fn record(lifter: &Lifter, ctx: &Arc<InstanceContext>, stream: Stream, joined: Joined<'_>) -> LogRecord {
    let taken = |k: &str| taken(ctx, k);
    match joined {
        Joined::Line { bytes, continued, tail } => {
            let mut record = LogRecord::line(ctx.clone(), stream, 0, Line { bytes, continued });
            if !(continued || tail || record.invalid_utf8) {
                if let Some(lifted) = lifter.lift(&record.msg, &ctx.lang, &taken).map(Owned::of) {
                    lifted.apply(&mut record);
                }
            }
            record
        }
        Joined::Block(block, bytes) => {
            let mut record = LogRecord::line(ctx.clone(), stream, 0, Line { bytes, continued: false });
            if record.invalid_utf8 {
                record.level = Level::Error;
            } else {
                Owned::of(lifter.lift_block(block, &record.msg, &taken)).apply(&mut record);
            }
            record
        }
    }
}

/// A record for a call of the `wasmhost_log` import: `msg` and `pairs` as
/// the guest gave them, its keys under the prefix. `seq` is left 0.
///
/// ```
/// use std::sync::Arc;
/// use wasmhost_log::{import_record, InstanceContext, Level, LiftConfig};
/// let ctx = Arc::new(InstanceContext::new("id", "c", "m"));
/// let rec = import_record(&LiftConfig::default(), &ctx, Level::Warn, b"slow", &[(b"ms", b"120"), (b"seq", b"x")]);
/// let lifted = rec.lifted.unwrap();
/// assert_eq!(lifted.format, "import");
/// assert_eq!(lifted.fields[1].0, "guest_seq");
/// ```
pub fn import_record(config: &LiftConfig, ctx: &Arc<InstanceContext>, level: Level, msg: &[u8], pairs: &[(&[u8], &[u8])]) -> LogRecord {
    let mut record = LogRecord::line(ctx.clone(), Stream::Api, 0, Line { bytes: msg, continued: false });
    record.level = level;
    let text: Vec<(std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)> =
        pairs.iter().map(|(k, v)| (String::from_utf8_lossy(k), String::from_utf8_lossy(v))).collect();
    record.invalid_utf8 |= pairs.iter().any(|(k, v)| std::str::from_utf8(k).is_err() || std::str::from_utf8(v).is_err());
    let fields = config.lifter.structured(text.iter().map(|(k, v)| (k.as_ref(), v.as_ref())), &|k| taken(ctx, k));
    let fields = fields.into_iter().map(|(k, v)| (k, field_value(v))).collect();
    record.lifted = Some(Box::new(Lifted { format: "import", fields }));
    record
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::{lock, Format, InstanceLog, JsonFormat, Pipeline, Router, Sink};

    /// A sink that keeps what it is given, formatted as JSON.
    struct Keep(Arc<Mutex<Vec<serde_json::Value>>>);

    impl Sink for Keep {
        fn write(&mut self, record: &LogRecord) -> std::io::Result<()> {
            let mut out = Vec::new();
            JsonFormat.format(record, &mut out)?;
            self.0.lock().unwrap().push(serde_json::from_slice(&out).expect("one JSON line"));
            Ok(())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn run(config: &LiftConfig, labels: &[(&str, &str)], bytes: &[u8]) -> Vec<serde_json::Value> {
        let kept = Arc::new(Mutex::new(Vec::new()));
        let pipeline = Pipeline::spawn(Box::new(Keep(kept.clone())), 1024).unwrap();
        let mut ctx = InstanceContext::new("0190b6d2-3c4e-7a00-8000-000000000000", "go", "app");
        ctx.labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let log = Mutex::new(InstanceLog::new(Arc::new(ctx), pipeline.sender(), 4096).with_lift(config));
        lock(&log).write(Stream::Stderr, bytes);
        lock(&log).event(Level::Info, "instance.exit", "exited".into(), vec![("exit_code", 0i64.into())]);
        lock(&log).finish_streams();
        drop(log);
        pipeline.finish();
        let lines = kept.lock().unwrap().clone();
        lines
    }

    #[test]
    fn lifted_json_cannot_spoof_the_host() {
        let line = br#"{"level":"error","msg":"boom","wasm_instance_id":"evil","seq":99,"lang":"c","lifted":"no","job":"fake","guest_x":1,"x":2}"#;
        let lines = run(&LiftConfig::default(), &[("job", "gateway"), ("guest_x", "label")], &[line.as_slice(), b"\n"].concat());
        let l = &lines[0];
        assert_eq!((l["level"].as_str(), l["msg"].as_str(), l["lifted"].as_str()), (Some("error"), Some("boom"), Some("json")));
        assert_eq!(l["wasm_instance_id"], "0190b6d2-3c4e-7a00-8000-000000000000");
        assert_eq!((l["seq"].as_u64(), l["lang"].as_str(), l["job"].as_str()), (Some(1), Some("go"), Some("gateway")));
        assert_eq!(l["guest_wasm_instance_id"], "evil");
        assert_eq!(l["guest_seq"], 99);
        assert_eq!(l["guest_lifted"], "no");
        assert_eq!(l["guest_job"], "fake");
        // The guest's own `guest_x` and `x` both meet the operator's label `guest_x`.
        assert_eq!(l["guest_guest_x"], 1);
        assert_eq!(l["guest_x"], "label");
        assert_eq!(l["guest_x_extracted"], 2);
        // The line has each key once.
        let text = serde_json::to_string(l).unwrap();
        assert_eq!(text.matches("\"wasm_instance_id\"").count(), 1);
    }

    #[test]
    fn blocks_are_one_record_and_keep_order() {
        let bytes = b"before\npanic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t/src/main.go:5 +0x1d\nexit status 2\n";
        let lines = run(&LiftConfig::default(), &[], bytes);
        let msgs: Vec<&str> = lines.iter().map(|l| l["msg"].as_str().unwrap()).collect();
        assert_eq!(msgs[0], "before");
        assert!(msgs[1].starts_with("panic: boom\n\ngoroutine 1 [running]:") && msgs[1].ends_with("exit status 2"), "{msgs:?}");
        assert_eq!(lines[1]["lifted"], "go_panic");
        assert_eq!(lines[1]["level"], "error");
        assert_eq!(lines[2]["event"], "instance.exit");
        let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, [1, 2, 3]);
        // An event while a block is held lets the block out first.
        let lines = run(&LiftConfig::default(), &[], b"Traceback (most recent call last):\n  File \"x\", line 1\n");
        assert_eq!(lines[0]["lifted"], "python_traceback");
        assert_eq!(lines[0]["msg"].as_str().unwrap().lines().count(), 2);
        assert_eq!(lines[1]["event"], "instance.exit");
    }

    #[test]
    fn off_and_rules_leave_lines_alone() {
        let bytes = b"ERROR: disk full\n{\"msg\":\"m\"}\n";
        for config in [LiftConfig::off(), LiftConfig { rules: vec![LiftRule::new(r#"{module="app"}"#, false).unwrap()], ..LiftConfig::default() }] {
            let lines = run(&config, &[], bytes);
            assert_eq!(lines[0]["msg"], "ERROR: disk full");
            assert_eq!(lines[0]["level"], "error", "the old first-word level stays");
            assert_eq!(lines[1]["msg"], "{\"msg\":\"m\"}");
            assert!(lines.iter().all(|l| l.get("lifted").is_none()));
        }
        let on = run(&LiftConfig::default(), &[], bytes);
        assert_eq!((on[0]["msg"].as_str(), on[0]["lifted"].as_str()), (Some("disk full"), Some("prefix")));
    }

    #[test]
    fn odd_input_stays_plain() {
        let mut bytes = b"{\"msg\":\"cut".to_vec();
        bytes.extend(std::iter::repeat(b'x').take(5000));
        bytes.extend_from_slice(b"\"}\n[1,2]\n\"s\"\n{\"a\":\n\xff\xfe {\"msg\":\"x\"}\n{\"msg\":\"bad \xff\"}\n");
        let lines = run(&LiftConfig::default(), &[], &bytes);
        assert_eq!(lines[0]["continued"], true);
        assert!(lines[0].get("lifted").is_none());
        assert!(lines[1].get("lifted").is_none(), "the tail of a cut JSON line is not lifted");
        assert!(lines[1]["msg"].as_str().unwrap().ends_with("xx\"}"));
        for (l, msg) in lines[2..5].iter().zip(["[1,2]", "\"s\"", "{\"a\":"]) {
            assert_eq!(l["msg"], msg);
            assert!(l.get("lifted").is_none());
        }
        assert!(lines[5].get("lifted").is_none() && lines[5]["invalid_utf8"] == true);
        assert!(lines[6].get("lifted").is_none() && lines[6]["invalid_utf8"] == true);
    }

    #[test]
    fn routes_see_lifted_fields() {
        let router = Router::new(vec![0]).route(r#"{guest_user="alice", lifted="logfmt"}"#, vec![1], false).unwrap();
        let ctx = Arc::new(InstanceContext::new("id", "go", "m"));
        let lifter = Lifter::default();
        let rec = record(&lifter, &ctx, Stream::Stderr, Joined::Line { bytes: b"level=warn msg=hi user=alice", continued: false, tail: false });
        let mut dests = Vec::new();
        router.destinations(&rec, &mut dests);
        assert_eq!(dests, [1]);
        assert_eq!(rec.level, Level::Warn);
    }

    #[test]
    fn import_records_keep_host_keys() {
        let ctx = Arc::new(InstanceContext::new("id", "c", "m"));
        let rec = import_record(&LiftConfig::default(), &ctx, Level::Info, b"hi", &[(b"wasm_instance_id", b"x"), (b"trace_id", b"4bf92f3577b34da6a3ce929d0e0e4736"), (b"k\xff", b"v")]);
        assert_eq!(rec.stream, Stream::Api);
        assert!(rec.invalid_utf8);
        let keys: Vec<&str> = rec.lifted.as_ref().unwrap().fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["trace_id", "guest_wasm_instance_id", "guest_k_"]);
    }
}
