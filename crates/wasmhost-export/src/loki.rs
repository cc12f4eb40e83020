//! Loki's push API: the wire messages of `POST /loki/api/v1/push` and the
//! encoder that groups records into streams.
//!
//! The protobuf messages mirror Loki's `pkg/push/push.proto` field by field
//! (Loki's own Go types are gogoproto "adapters" over the same numbers):
//!
//! | message | field | number |
//! |---|---|---|
//! | `PushRequest` | `streams` (repeated `StreamAdapter`) | 1 |
//! | `StreamAdapter` | `labels` (string, `{k="v", ...}`) | 1 |
//! | | `entries` (repeated `EntryAdapter`) | 2 |
//! | | `hash` (uint64, unused by clients) | 3 |
//! | `EntryAdapter` | `timestamp` (`google.protobuf.Timestamp`) | 1 |
//! | | `line` (string) | 2 |
//! | | `structuredMetadata` (repeated `LabelPairAdapter`) | 3 |
//! | `LabelPairAdapter` | `name` | 1 |
//! | | `value` | 2 |
//! | `Timestamp` | `seconds` (int64), `nanos` (int32) | 1, 2 |
//!
//! The body is snappy-compressed in the *block* format (Go's `snappy.Encode`,
//! what Promtail and Alloy send), with `Content-Type: application/x-protobuf`.

use std::collections::HashMap;
use std::sync::Arc;

use wasmhost_log::{Format, InstanceContext, JsonFormat, Level, LogRecord, Stream};
use wasmhost_logql::LabelSource;

use crate::batch::{unix_nanos, Batch, Encoder, Encoding};

/// `logproto.PushRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    /// The streams.
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

/// `logproto.StreamAdapter`: one stream's entries.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    /// The label set in LogQL's selector syntax, e.g. `{lang="c", stream="stderr"}`.
    #[prost(string, tag = "1")]
    pub labels: String,
    /// The entries, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    /// Set by Loki's distributors; clients leave it 0.
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// `logproto.EntryAdapter`: one line.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    /// When.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    /// The line.
    #[prost(string, tag = "2")]
    pub line: String,
    /// Loki 3 structured metadata: per-line labels that are not stream labels.
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

/// `logproto.LabelPairAdapter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPairAdapter {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// Fields that name one instance or one line: never stream labels (each
/// value would make a stream of its own; Loki's index grows with streams).
pub const PER_INSTANCE_FIELDS: &[&str] =
    &["wasm_instance_id", "task_id", "trace_id", "span_id", "seq", "ts", "msg", "continued", "invalid_utf8", "v"];

/// The structured metadata every entry carries when the record has it.
pub const STRUCTURED_METADATA: &[&str] = &["wasm_instance_id", "task_id", "trace_id"];

/// Checks a configured stream label set.
pub fn check_labels(labels: &[String]) -> Result<(), String> {
    for l in labels {
        if PER_INSTANCE_FIELDS.contains(&l.as_str()) {
            return Err(format!(
                "{l:?} cannot be a stream label: it differs per instance or line, and every value would be a stream of its own (it is in the line and in structured metadata)"
            ));
        }
    }
    Ok(())
}

/// Key of the stream cache: the instance (kept alive so its address is not
/// reused), the stream, and the per-record values a label may name.
type StreamKey = (usize, Stream, Level, Option<&'static str>);

/// Groups records into Loki streams by their configured labels.
pub struct LokiEncoder {
    labels: Vec<String>,
    encoding: Encoding,
    streams: Vec<StreamAdapter>,
    by_labels: HashMap<String, usize>,
    cache: HashMap<StreamKey, (Arc<InstanceContext>, usize)>,
    records: u64,
    size: usize,
    /// The last line's length: the next line's buffer is allocated once, at
    /// about the right size, and becomes the entry's `String` without a copy.
    line_hint: usize,
}

impl LokiEncoder {
    /// An encoder with these stream label names (checked with [`check_labels`]).
    pub fn new(mut labels: Vec<String>, encoding: Encoding) -> LokiEncoder {
        // Loki sorts a stream's labels; so do we, so one stream has one key.
        labels.sort();
        labels.dedup();
        LokiEncoder {
            labels,
            encoding,
            streams: Vec::new(),
            by_labels: HashMap::new(),
            cache: HashMap::new(),
            records: 0,
            size: 0,
            line_hint: 256,
        }
    }

    fn stream_of(&mut self, record: &LogRecord) -> usize {
        let key = (Arc::as_ptr(&record.ctx) as usize, record.stream, record.level, record.event);
        if let Some((_, i)) = self.cache.get(&key) {
            return *i;
        }
        let mut text = String::from("{");
        for name in &self.labels {
            if let Some(value) = record.label(name) {
                if value.is_empty() {
                    continue;
                }
                if text.len() > 1 {
                    text.push_str(", ");
                }
                text.push_str(name);
                text.push('=');
                // A Go-quoted string, as Loki's parser reads it.
                text.push_str(&serde_json::to_string(value.as_ref()).unwrap_or_default());
            }
        }
        text.push('}');
        let i = match self.by_labels.get(&text) {
            Some(&i) => i,
            None => {
                self.streams.push(StreamAdapter { labels: text.clone(), entries: Vec::new(), hash: 0 });
                self.by_labels.insert(text, self.streams.len() - 1);
                self.streams.len() - 1
            }
        };
        self.cache.insert(key, (record.ctx.clone(), i));
        i
    }

    fn json_body(&self) -> Vec<u8> {
        let streams: Vec<serde_json::Value> = self
            .streams
            .iter()
            .map(|s| {
                let values: Vec<serde_json::Value> = s
                    .entries
                    .iter()
                    .map(|e| {
                        let ts = e.timestamp.unwrap_or_default();
                        let ns = (ts.seconds as i128 * 1_000_000_000 + ts.nanos as i128).to_string();
                        let meta: serde_json::Map<String, serde_json::Value> =
                            e.structured_metadata.iter().map(|p| (p.name.clone(), p.value.clone().into())).collect();
                        serde_json::json!([ns, e.line, meta])
                    })
                    .collect();
                serde_json::json!({ "stream": parse_labels(&s.labels), "values": values })
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({ "streams": streams })).unwrap_or_default()
    }
}

/// Reads back a label set written by [`LokiEncoder`] (`{a="x", b="y"}`) as a
/// JSON object; the values are JSON strings already.
pub fn parse_labels(text: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    let inner = text.trim_start_matches('{').trim_end_matches('}');
    let mut rest = inner;
    while let Some((name, after)) = rest.split_once('=') {
        let name = name.trim_start_matches(", ").trim();
        // The value is a JSON string; find its end with a streaming parser.
        let mut values = serde_json::Deserializer::from_str(after).into_iter::<String>();
        let Some(Ok(value)) = values.next() else { break };
        out.insert(name.to_owned(), value.into());
        rest = &after[values.byte_offset()..];
    }
    out
}

impl Encoder for LokiEncoder {
    fn push(&mut self, record: &LogRecord) {
        let i = self.stream_of(record);
        let mut line = Vec::with_capacity(self.line_hint);
        // The format writes into a Vec, which cannot fail.
        let _ = JsonFormat.format(record, &mut line);
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        self.line_hint = line.len() + 32;
        // JSON from the format is UTF-8; the fallback only guards the type.
        let line = String::from_utf8(line).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        let mut meta = Vec::with_capacity(3);
        for name in STRUCTURED_METADATA {
            if let Some(value) = record.label(name) {
                meta.push(LabelPairAdapter { name: (*name).to_owned(), value: value.into_owned() });
            }
        }
        let ns = unix_nanos(record.ts);
        let timestamp = Timestamp { seconds: (ns / 1_000_000_000) as i64, nanos: (ns % 1_000_000_000) as i32 };
        self.size += line.len() + 80;
        self.streams[i].entries.push(EntryAdapter { timestamp: Some(timestamp), line, structured_metadata: meta });
        self.records += 1;
    }

    fn records(&self) -> u64 {
        self.records
    }

    fn size(&self) -> usize {
        self.size
    }

    fn take(&mut self) -> Batch {
        let body = match self.encoding {
            Encoding::Protobuf => prost::Message::encode_to_vec(&PushRequest { streams: std::mem::take(&mut self.streams) }),
            Encoding::Json => {
                let body = self.json_body();
                self.streams.clear();
                body
            }
        };
        let batch = Batch { body: body.into(), records: self.records, encoding: self.encoding };
        self.by_labels.clear();
        self.cache.clear();
        self.records = 0;
        self.size = 0;
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_through_the_selector_text() {
        let m = parse_labels(r#"{job="a\"b", lang="c"}"#);
        assert_eq!(m["job"], "a\"b");
        assert_eq!(m["lang"], "c");
    }

    #[test]
    fn per_instance_labels_are_refused() {
        assert!(check_labels(&["wasm_instance_id".into()]).is_err());
        assert!(check_labels(&["job".into(), "lang".into()]).is_ok());
    }
}
