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
//! | every other field and label | an attribute of the same name, typed |
//!
//! All records of one process share one resource (`service.name`,
//! `host.name`, `process.pid` and the configured attributes) and one scope
//! (`wasmhost`), so a request holds one `ResourceLogs` with one `ScopeLogs`.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord as OtlpRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use wasmhost_log::{FieldValue, Level, LogRecord, Stream};

use crate::batch::{unix_nanos, Batch, Encoder, Encoding};

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

/// Decodes `n` bytes of hex (a W3C trace or span id); `None` if malformed.
fn hex_bytes(s: &str, n: usize) -> Option<Vec<u8>> {
    if s.len() != n * 2 {
        return None;
    }
    (0..n).map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

/// Maps one record onto the OTel log data model (the table above).
pub fn to_otlp(record: &LogRecord, observed: u64) -> OtlpRecord {
    let ctx = &record.ctx;
    let mut attrs = Vec::with_capacity(8 + record.fields.len() + ctx.labels.len());
    attrs.push(kv("lang", text(&ctx.lang)));
    attrs.push(kv("module", text(&ctx.module)));
    attrs.push(kv("wasm_instance_id", text(&ctx.wasm_instance_id)));
    if let Some(task) = ctx.task_id {
        attrs.push(kv("task_id", any_value::Value::IntValue(task as i64)));
    }
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
        let value = match v {
            FieldValue::Str(s) => text(s),
            FieldValue::U64(n) => any_value::Value::IntValue(*n as i64),
            FieldValue::I64(n) => any_value::Value::IntValue(*n),
            FieldValue::F64(n) => any_value::Value::DoubleValue(*n),
            FieldValue::Bool(b) => any_value::Value::BoolValue(*b),
        };
        attrs.push(kv(key, value));
    }
    let (mut trace_id, mut span_id) = (Vec::new(), Vec::new());
    for (k, v) in &ctx.labels {
        match k.as_str() {
            "trace_id" => trace_id = hex_bytes(v, 16).unwrap_or_default(),
            "span_id" => span_id = hex_bytes(v, 8).unwrap_or_default(),
            _ => attrs.push(kv(k, text(v))),
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

/// Builds `ExportLogsServiceRequest`s (protobuf or OTLP JSON).
pub struct OtlpEncoder {
    resource: Resource,
    encoding: Encoding,
    records: Vec<OtlpRecord>,
    size: usize,
}

impl OtlpEncoder {
    /// An encoder for this process's resource.
    pub fn new(resource: Resource, encoding: Encoding) -> OtlpEncoder {
        OtlpEncoder { resource, encoding, records: Vec::new(), size: 0 }
    }
}

impl Encoder for OtlpEncoder {
    fn push(&mut self, record: &LogRecord) {
        let observed = unix_nanos(std::time::SystemTime::now());
        self.size += record.msg.len() + 200;
        self.records.push(to_otlp(record, observed));
    }

    fn records(&self) -> u64 {
        self.records.len() as u64
    }

    fn size(&self) -> usize {
        self.size
    }

    fn take(&mut self) -> Batch {
        let records = self.records.len() as u64;
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(self.resource.clone()),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "wasmhost".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        attributes: Vec::new(),
                        dropped_attributes_count: 0,
                    }),
                    log_records: std::mem::take(&mut self.records),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        self.size = 0;
        let body = match self.encoding {
            Encoding::Protobuf => prost::Message::encode_to_vec(&request),
            // The crate's serde mapping is OTLP/JSON: camelCase keys, hex
            // trace ids, 64-bit integers as strings.
            Encoding::Json => serde_json::to_vec(&request).unwrap_or_default(),
        };
        Batch { body: body.into(), records, encoding: self.encoding }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids_decode_or_are_left_empty() {
        assert_eq!(hex_bytes("0af7651916cd43dd", 8).unwrap()[0], 0x0a);
        assert!(hex_bytes("xyz", 8).is_none());
        assert!(hex_bytes("0af7651916cd43dg", 8).is_none());
    }
}
