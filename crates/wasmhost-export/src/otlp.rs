//! OTLP logs: records mapped onto the OpenTelemetry log data model, using
//! the wire types of the `opentelemetry-proto` crate.
//!
//! | record | OTLP `LogRecord` |
//! |---|---|
//! | `ts` | `time_unix_nano` |
//! | when the sink encoded it | `observed_time_unix_nano` |
//! | `level` | `severity_number` (TRACE 1, DEBUG 5, INFO 9, WARN 13, ERROR 17) and `severity_text` (the level as written, `info`) |
//! | `msg` | `body` (a string) |
//! | `trace_id`, `span_id` labels (from `traceparent`) | `trace_id`, `span_id` (bytes) |
//! | `event` | `event_name` and the `event.name` attribute |
//! | `stream` `stdout`/`stderr` | `log.iostream` attribute (host events have none) |
//! | `exit_code` | `process.exit.code` attribute |
//! | `lifted` and the fields lifted from a guest's line (`guest_*`, ...) | attributes of the same name, typed; a lifted `trace_id`/`span_id` is the trace context |
//! | every other field and label | an attribute of the same name, typed |
//!
//! The attributes come in that order: the record's own, then its instance's
//! (`lang`, `module`, `wasm_instance_id`, `task_id`, labels).
//!
//! All records of one process share one resource (`service.name`,
//! `host.name`, `process.pid` and the configured attributes) and one scope
//! (`wasmhost`), so a request holds one `ResourceLogs` with one `ScopeLogs`.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord as OtlpRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use std::collections::HashMap;
use std::sync::Arc;

use prost::Message;
use wasmhost_log::{FieldValue, InstanceContext, Level, LogRecord, Stream};

use crate::batch::{cut_groups, halves, unix_nanos, Batch, Encoder, Encoding};

/// The OTel severity number of a level.
///
/// ```
/// assert_eq!(wasmhost_export::severity_number(wasmhost_log::Level::Warn), 13);
/// ```
pub fn severity_number(level: Level) -> i32 {
    match level {
        Level::Trace => 1,
        Level::Debug => 5,
        Level::Info => 9,
        Level::Warn => 13,
        Level::Error => 17,
    }
}

/// A string attribute.
pub(crate) fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.to_owned(), value: Some(AnyValue { value: Some(value) }) }
}

fn text(s: &str) -> any_value::Value {
    any_value::Value::StringValue(s.to_owned())
}

/// The resource of this process: `service.name`, `host.name`, `process.pid`,
/// then `attributes` (which may override the first two, as
/// `OTEL_RESOURCE_ATTRIBUTES` does in the SDKs).
pub fn resource(service_name: &str, attributes: &[(String, String)]) -> Resource {
    let mut attrs = vec![
        kv("service.name", text(service_name)),
        kv("host.name", text(&host_name())),
        kv("process.pid", any_value::Value::IntValue(std::process::id().into())),
    ];
    for (k, v) in attributes {
        attrs.retain(|a| &a.key != k);
        attrs.push(kv(k, text(v)));
    }
    Resource { attributes: attrs, dropped_attributes_count: 0, entity_refs: Vec::new() }
}

/// The machine's host name (Linux: the kernel's; else `$HOSTNAME`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// A field's value as an OTLP value of the same type.
fn typed(v: &FieldValue) -> any_value::Value {
    match v {
        FieldValue::Str(s) => text(s),
        FieldValue::U64(n) => any_value::Value::IntValue(*n as i64),
        FieldValue::I64(n) => any_value::Value::IntValue(*n),
        FieldValue::F64(n) => any_value::Value::DoubleValue(*n),
        FieldValue::Bool(b) => any_value::Value::BoolValue(*b),
    }
}

/// Decodes `n` bytes of hex (a W3C trace or span id); `None` if malformed.
fn hex_bytes(s: &str, n: usize) -> Option<Vec<u8>> {
    if s.len() != n * 2 {
        return None;
    }
    (0..n).map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

/// The attributes every record of an instance shares (`lang`, `module`,
/// `wasm_instance_id`, `task_id`, its labels) and the trace context its
/// labels give (`traceparent`), empty when none.
fn instance_part(ctx: &InstanceContext) -> (Vec<KeyValue>, Vec<u8>, Vec<u8>) {
    let mut attrs = Vec::with_capacity(4 + ctx.labels.len());
    attrs.push(kv("lang", text(&ctx.lang)));
    attrs.push(kv("module", text(&ctx.module)));
    attrs.push(kv("wasm_instance_id", text(&ctx.wasm_instance_id)));
    if let Some(task) = ctx.task_id {
        attrs.push(kv("task_id", any_value::Value::IntValue(task as i64)));
    }
    let (mut trace_id, mut span_id) = (Vec::new(), Vec::new());
    for (k, v) in &ctx.labels {
        match k.as_str() {
            "trace_id" => trace_id = hex_bytes(v, 16).unwrap_or_default(),
            "span_id" => span_id = hex_bytes(v, 8).unwrap_or_default(),
            _ => attrs.push(kv(k, text(v))),
        }
    }
    (attrs, trace_id, span_id)
}

/// The record's own part: everything but [`instance_part`]'s attributes
/// and trace context.
fn record_part(record: &LogRecord, observed: u64) -> OtlpRecord {
    let lifted = record.lifted.as_ref().map_or(0, |l| l.fields.len() + 1);
    let mut attrs = Vec::with_capacity(4 + record.fields.len() + lifted);
    match record.stream {
        Stream::Stdout | Stream::Stderr => attrs.push(kv("log.iostream", text(record.stream.as_str()))),
        // Host events and `wasmhost_log` import records come from no I/O stream.
        Stream::Host | Stream::Api => {}
    }
    attrs.push(kv("seq", any_value::Value::IntValue(record.seq as i64)));
    if let Some(event) = record.event {
        attrs.push(kv("event.name", text(event)));
    }
    if record.continued {
        attrs.push(kv("continued", any_value::Value::BoolValue(true)));
    }
    if record.invalid_utf8 {
        attrs.push(kv("invalid_utf8", any_value::Value::BoolValue(true)));
    }
    for (k, v) in &record.fields {
        let key = match *k {
            "exit_code" => "process.exit.code",
            other => other,
        };
        attrs.push(kv(key, typed(v)));
    }
    let (mut trace_id, mut span_id) = (Vec::new(), Vec::new());
    if let Some(lifted) = &record.lifted {
        attrs.push(kv("lifted", text(lifted.format)));
        for (k, v) in &lifted.fields {
            // A guest's own trace context (lifting keeps only valid ids, and
            // only when the run has no traceparent) is the record's.
            match (k.as_str(), v) {
                ("trace_id", FieldValue::Str(id)) => trace_id = hex_bytes(id, 16).unwrap_or_default(),
                ("span_id", FieldValue::Str(id)) => span_id = hex_bytes(id, 8).unwrap_or_default(),
                _ => attrs.push(kv(k, typed(v))),
            }
        }
    }
    OtlpRecord {
        time_unix_nano: unix_nanos(record.ts),
        observed_time_unix_nano: observed,
        severity_number: severity_number(record.level),
        severity_text: record.level.as_str().to_owned(),
        body: Some(AnyValue { value: Some(text(&record.msg)) }),
        attributes: attrs,
        dropped_attributes_count: 0,
        flags: 0,
        trace_id,
        span_id,
        event_name: record.event.unwrap_or_default().to_owned(),
    }
}

/// Maps one record onto the OTel log data model (the table above).
pub fn to_otlp(record: &LogRecord, observed: u64) -> OtlpRecord {
    let (attrs, trace_id, span_id) = instance_part(&record.ctx);
    let mut r = record_part(record, observed);
    r.attributes.extend(attrs);
    // A record has a lifted trace context only when its instance has none.
    if r.trace_id.is_empty() {
        r.trace_id = trace_id;
    }
    if r.span_id.is_empty() {
        r.span_id = span_id;
    }
    r
}

/// Protobuf keys (field number << 3 | 2, length-delimited) of the nested
/// messages a request is made of, from opentelemetry-proto's definitions:
/// `ExportLogsServiceRequest.resource_logs` = 1, `ResourceLogs.resource` = 1,
/// `ResourceLogs.scope_logs` = 2, `ScopeLogs.scope` = 1,
/// `ScopeLogs.log_records` = 2, `LogRecord.attributes` = 6.
const FIELD_1: u8 = 1 << 3 | 2;
const FIELD_2: u8 = 2 << 3 | 2;
const ATTRIBUTES: u8 = 6 << 3 | 2;

/// One instance's part of every record, encoded once per batch.
struct Instance {
    /// Holds the context so its address (the cache key) is not reused.
    _ctx: Arc<InstanceContext>,
    /// The shared attributes as encoded `LogRecord.attributes` entries.
    attributes: Vec<u8>,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
}

/// Builds `ExportLogsServiceRequest`s (protobuf or OTLP JSON).
///
/// Protobuf bodies are built as records arrive: each record is encoded
/// with the crate's `LogRecord` type right away, and the attributes every
/// record of an instance shares are encoded once per batch and appended to
/// each (a repeated field may be split, protobuf concatenates it). That
/// keeps a record's cost to its own fields instead of a dozen `String`s.
pub struct OtlpEncoder {
    resource: Resource,
    encoding: Encoding,
    /// JSON: the records, serialised at [`Encoder::take`].
    records: Vec<OtlpRecord>,
    /// Protobuf: the encoded `ScopeLogs.log_records` entries so far.
    body: Vec<u8>,
    instances: HashMap<usize, Instance>,
    count: u64,
    size: usize,
}

impl OtlpEncoder {
    /// An encoder for this process's resource.
    pub fn new(resource: Resource, encoding: Encoding) -> OtlpEncoder {
        OtlpEncoder { resource, encoding, records: Vec::new(), body: Vec::new(), instances: HashMap::new(), count: 0, size: 0 }
    }

    fn scope() -> InstrumentationScope {
        InstrumentationScope { name: "wasmhost".into(), version: env!("CARGO_PKG_VERSION").into(), attributes: Vec::new(), dropped_attributes_count: 0 }
    }

    fn push_protobuf(&mut self, record: &LogRecord, observed: u64) {
        let ctx = &record.ctx;
        let instance = self.instances.entry(Arc::as_ptr(ctx) as usize).or_insert_with(|| {
            let (attrs, trace_id, span_id) = instance_part(ctx);
            let mut attributes = Vec::new();
            for a in &attrs {
                attributes.push(ATTRIBUTES);
                // Writing into a Vec cannot fail.
                let _ = a.encode_length_delimited(&mut attributes);
            }
            Instance { _ctx: ctx.clone(), attributes, trace_id, span_id }
        });
        let mut r = record_part(record, observed);
        if r.trace_id.is_empty() {
            r.trace_id.clone_from(&instance.trace_id);
        }
        if r.span_id.is_empty() {
            r.span_id.clone_from(&instance.span_id);
        }
        let len = r.encoded_len() + instance.attributes.len();
        self.body.push(FIELD_2);
        let _ = prost::encode_length_delimiter(len, &mut self.body);
        let _ = r.encode(&mut self.body);
        self.body.extend_from_slice(&instance.attributes);
    }

    /// The request around the encoded records.
    fn protobuf_body(&mut self) -> Vec<u8> {
        let nested = |len: usize| 1 + prost::length_delimiter_len(len) + len;
        let (resource, scope) = (self.resource.encoded_len(), Self::scope().encoded_len());
        let scope_logs = nested(scope) + self.body.len();
        let resource_logs = nested(resource) + nested(scope_logs);
        let mut out = Vec::with_capacity(nested(resource_logs));
        out.push(FIELD_1);
        let _ = prost::encode_length_delimiter(resource_logs, &mut out);
        out.push(FIELD_1);
        let _ = self.resource.encode_length_delimited(&mut out);
        out.push(FIELD_2);
        let _ = prost::encode_length_delimiter(scope_logs, &mut out);
        out.push(FIELD_1);
        let _ = Self::scope().encode_length_delimited(&mut out);
        out.extend_from_slice(&self.body);
        self.body.clear();
        out
    }
}

/// Splits an `ExportLogsServiceRequest` body (protobuf or OTLP/JSON) into
/// two requests holding half of its log records each, the older half
/// first, each under the same resource and scope (see
/// [`crate::Transport::split`]).
pub(crate) fn split(batch: &Batch) -> Result<(Batch, Batch), String> {
    let request: ExportLogsServiceRequest = match batch.encoding {
        Encoding::Protobuf => ExportLogsServiceRequest::decode(batch.body.as_ref()).map_err(|e| e.to_string()),
        Encoding::Json => serde_json::from_slice(&batch.body).map_err(|e| e.to_string()),
    }
    .map_err(|e| format!("reading the batch back: {e}"))?;
    let scope_len = |s: &ScopeLogs| s.log_records.len();
    let resource_len = |r: &ResourceLogs| r.scope_logs.iter().map(scope_len).sum::<usize>();
    let total: usize = request.resource_logs.iter().map(resource_len).sum();
    let cut_scope = |s: &mut ScopeLogs, k: usize| ScopeLogs { scope: s.scope.clone(), log_records: s.log_records.split_off(k), schema_url: s.schema_url.clone() };
    let cut_resource = |r: &mut ResourceLogs, k: usize| {
        let (first, rest) = cut_groups(std::mem::take(&mut r.scope_logs), k, scope_len, cut_scope);
        r.scope_logs = first;
        ResourceLogs { resource: r.resource.clone(), scope_logs: rest, schema_url: r.schema_url.clone() }
    };
    let (first, rest) = cut_groups(request.resource_logs, total / 2, resource_len, cut_resource);
    let body = |resource_logs| {
        let request = ExportLogsServiceRequest { resource_logs };
        match batch.encoding {
            Encoding::Protobuf => request.encode_to_vec(),
            Encoding::Json => serde_json::to_vec(&request).unwrap_or_default(),
        }
    };
    Ok(halves(batch.encoding, body(first), body(rest), total))
}

impl Encoder for OtlpEncoder {
    fn push(&mut self, record: &LogRecord) {
        let observed = unix_nanos(std::time::SystemTime::now());
        match self.encoding {
            Encoding::Protobuf => {
                self.push_protobuf(record, observed);
                self.size = self.body.len();
            }
            Encoding::Json => {
                self.size += record.msg.len() + 200;
                self.records.push(to_otlp(record, observed));
            }
        }
        self.count += 1;
    }

    fn records(&self) -> u64 {
        self.count
    }

    fn size(&self) -> usize {
        self.size
    }

    fn take(&mut self) -> Batch {
        let records = std::mem::take(&mut self.count);
        self.size = 0;
        self.instances.clear();
        let body = match self.encoding {
            Encoding::Protobuf => self.protobuf_body(),
            // The crate's serde mapping is OTLP/JSON: camelCase keys, hex
            // trace ids, 64-bit integers as strings.
            Encoding::Json => {
                let request = ExportLogsServiceRequest {
                    resource_logs: vec![ResourceLogs {
                        resource: Some(self.resource.clone()),
                        scope_logs: vec![ScopeLogs {
                            scope: Some(Self::scope()),
                            log_records: std::mem::take(&mut self.records),
                            schema_url: String::new(),
                        }],
                        schema_url: String::new(),
                    }],
                };
                serde_json::to_vec(&request).unwrap_or_default()
            }
        };
        Batch { body: body.into(), records, encoding: self.encoding }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The protobuf body built record by record decodes, with the crate's
    /// types, to exactly the request of [`to_otlp`]'s records.
    #[test]
    fn protobuf_body_is_the_request_of_the_mapped_records() {
        use wasmhost_log::Line;
        let mut traced = InstanceContext::new("id-a", "c", "logger");
        traced.task_id = Some(7);
        traced.labels = vec![("job".into(), "gw".into()), ("trace_id".into(), "4bf92f3577b34da6a3ce929d0e0e4736".into())];
        let (a, b) = (Arc::new(traced), Arc::new(InstanceContext::new("id-b", "go", "api")));
        let mut lifted = LogRecord::line(b.clone(), Stream::Stdout, 2, Line { bytes: b"x", continued: false });
        lifted.lifted = Some(Box::new(wasmhost_log::Lifted {
            format: "json",
            fields: vec![("guest_ms".into(), FieldValue::U64(5)), ("span_id".into(), "00f067aa0ba902b7".to_owned().into())],
        }));
        let records = vec![
            LogRecord::line(a.clone(), Stream::Stderr, 1, Line { bytes: b"ERROR: disk full", continued: false }),
            LogRecord::line(b.clone(), Stream::Stdout, 1, Line { bytes: b"hello", continued: false }),
            lifted,
            LogRecord::event(a, 2, Level::Warn, "instance.exit", "exit 3".into(), vec![("exit_code", 3i64.into())]),
        ];
        let res = resource("svc", &[]);
        let mut enc = OtlpEncoder::new(res.clone(), Encoding::Protobuf);
        for r in &records {
            enc.push(r);
        }
        assert_eq!(enc.records(), 4);
        let batch = enc.take();
        let got = ExportLogsServiceRequest::decode(batch.body.as_ref()).unwrap();
        let observed: Vec<u64> = got.resource_logs[0].scope_logs[0].log_records.iter().map(|r| r.observed_time_unix_nano).collect();
        let want = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(res),
                scope_logs: vec![ScopeLogs {
                    scope: Some(OtlpEncoder::scope()),
                    log_records: records.iter().zip(observed).map(|(r, o)| to_otlp(r, o)).collect(),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        assert_eq!(got, want);
        let recs = &got.resource_logs[0].scope_logs[0].log_records;
        assert_eq!(recs[0].trace_id.len(), 16, "the label's trace context");
        assert_eq!((recs[2].trace_id.len(), recs[2].span_id.len()), (0, 8), "the lifted span id");
        // The next batch starts empty.
        enc.push(&records[1]);
        let next = ExportLogsServiceRequest::decode(enc.take().body.as_ref()).unwrap();
        assert_eq!(next.resource_logs[0].scope_logs[0].log_records.len(), 1);
    }

    /// OTLP/JSON as the spec writes it, on the wire (not only as the same
    /// crate reads it back): camelCase keys, trace and span ids in hex (not
    /// base64), 64-bit timestamps as decimal strings, enums as integers.
    #[test]
    fn json_body_is_otlp_json_on_the_wire() {
        use wasmhost_log::Line;
        let mut traced = InstanceContext::new("id-a", "c", "logger");
        traced.labels = vec![("trace_id".into(), "4bf92f3577b34da6a3ce929d0e0e4736".into()), ("span_id".into(), "00f067aa0ba902b7".into())];
        let mut enc = OtlpEncoder::new(resource("svc", &[]), Encoding::Json);
        enc.push(&LogRecord::line(Arc::new(traced), Stream::Stderr, 1, Line { bytes: b"ERROR: disk full", continued: false }));
        let v: serde_json::Value = serde_json::from_slice(&enc.take().body).unwrap();
        let r = &v["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
        assert_eq!(r["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(r["spanId"], "00f067aa0ba902b7");
        assert_eq!(r["severityNumber"], 17);
        assert_eq!(r["severityText"], "error");
        assert_eq!(r["body"]["stringValue"], "ERROR: disk full");
        for key in ["timeUnixNano", "observedTimeUnixNano"] {
            let ns = r[key].as_str().unwrap_or_else(|| panic!("{key} as a string: {r}"));
            assert!(ns.len() >= 19 && ns.bytes().all(|b| b.is_ascii_digit()), "{key}: {ns}");
        }
        assert!(r.get("time_unix_nano").is_none() && r.get("trace_id").is_none());
        let service = &v["resourceLogs"][0]["resource"]["attributes"].as_array().unwrap().iter().find(|a| a["key"] == "service.name").unwrap()["value"];
        assert_eq!(service["stringValue"], "svc");
    }

    /// Both encodings split into two valid requests with half the records
    /// each, under the same resource and scope, older records first.
    #[test]
    fn a_batch_splits_into_two_halves_under_the_same_resource() {
        use wasmhost_log::Line;
        let ctx = Arc::new(InstanceContext::new("id-a", "c", "logger"));
        for encoding in [Encoding::Protobuf, Encoding::Json] {
            let mut enc = OtlpEncoder::new(resource("svc", &[]), encoding);
            for seq in 1..=5 {
                enc.push(&LogRecord::line(ctx.clone(), Stream::Stderr, seq, Line { bytes: b"m", continued: false }));
            }
            let (first, rest) = split(&enc.take()).unwrap();
            assert_eq!((first.records, rest.records), (2, 3));
            let read = |batch: &Batch| -> ExportLogsServiceRequest {
                match encoding {
                    Encoding::Protobuf => ExportLogsServiceRequest::decode(batch.body.as_ref()).unwrap(),
                    Encoding::Json => serde_json::from_slice(&batch.body).unwrap(),
                }
            };
            let (one, two) = (read(&first), read(&rest));
            let seqs = |r: &ExportLogsServiceRequest| -> Vec<i64> {
                r.resource_logs[0].scope_logs[0]
                    .log_records
                    .iter()
                    .map(|l| match l.attributes.iter().find(|a| a.key == "seq").and_then(|a| a.value.clone()).and_then(|v| v.value) {
                        Some(any_value::Value::IntValue(n)) => n,
                        other => panic!("{other:?}"),
                    })
                    .collect()
            };
            assert_eq!((seqs(&one), seqs(&two)), (vec![1, 2], vec![3, 4, 5]), "{encoding:?}");
            assert_eq!(one.resource_logs[0].resource, two.resource_logs[0].resource, "{encoding:?}");
            assert_eq!(two.resource_logs[0].scope_logs[0].scope, Some(OtlpEncoder::scope()), "{encoding:?}");
        }
    }

    #[test]
    fn hex_ids_decode_or_are_left_empty() {
        assert_eq!(hex_bytes("0af7651916cd43dd", 8).unwrap()[0], 0x0a);
        assert!(hex_bytes("xyz", 8).is_none());
        assert!(hex_bytes("0af7651916cd43dg", 8).is_none());
    }
}
