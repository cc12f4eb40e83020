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

use crate::batch::{cut_groups, unix_nanos, Batch, Encoder, Encoding};

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

/// `logproto.EntryAdapter` as this crate sends it: the same fields and
/// numbers, with the line as `bytes` (the same wire type as `string`) so
/// the JSON line the format wrote goes out without a UTF-8 re-check or a
/// `String` per entry. Receivers decode it as [`EntryAdapter`].
#[derive(Clone, PartialEq, prost::Message)]
struct EntryOut {
    #[prost(message, optional, tag = "1")]
    timestamp: Option<Timestamp>,
    #[prost(bytes = "vec", tag = "2")]
    line: Vec<u8>,
    #[prost(message, repeated, tag = "3")]
    structured_metadata: Vec<LabelPairAdapter>,
}

/// One stream of the batch being built.
struct StreamBuf {
    /// The label set, as [`StreamAdapter::labels`].
    labels: String,
    /// JSON: the entries, serialised at [`Encoder::take`].
    entries: Vec<EntryAdapter>,
    /// Protobuf: the stream's `StreamAdapter.entries` fields, encoded as
    /// they arrive.
    encoded: Vec<u8>,
}

/// Protobuf key of `PushRequest.streams` and `StreamAdapter.entries`
/// (field number << 3 | 2, length-delimited): 1 and 2.
const STREAMS: u8 = 1 << 3 | 2;
const ENTRIES: u8 = 2 << 3 | 2;

/// Groups records into Loki streams by their configured labels.
///
/// Protobuf entries are encoded when they arrive, into their stream's
/// buffer, from one reused entry (its line and metadata buffers keep their
/// capacity): a record costs the JSON line and a copy, not a handful of
/// `String`s that live until the batch is sent.
pub struct LokiEncoder {
    labels: Vec<String>,
    encoding: Encoding,
    streams: Vec<StreamBuf>,
    by_labels: HashMap<String, usize>,
    cache: HashMap<StreamKey, (Arc<InstanceContext>, usize)>,
    /// The last record's stream: consecutive records mostly share it, and
    /// this spares hashing the key.
    last: Option<(StreamKey, usize)>,
    /// The entry being encoded (protobuf).
    entry: EntryOut,
    records: u64,
    size: usize,
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
            last: None,
            entry: EntryOut::default(),
            records: 0,
            size: 0,
        }
    }

    fn stream_of(&mut self, record: &LogRecord) -> usize {
        let key = (Arc::as_ptr(&record.ctx) as usize, record.stream, record.level, record.event);
        if let Some((last, i)) = self.last {
            if last == key {
                return i;
            }
        }
        let i = match self.cache.get(&key) {
            Some((_, i)) => *i,
            None => {
                let i = self.new_stream(record);
                self.cache.insert(key, (record.ctx.clone(), i));
                i
            }
        };
        self.last = Some((key, i));
        i
    }

    fn new_stream(&mut self, record: &LogRecord) -> usize {
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
        match self.by_labels.get(&text) {
            Some(&i) => i,
            None => {
                self.streams.push(StreamBuf { labels: text.clone(), entries: Vec::new(), encoded: Vec::new() });
                self.by_labels.insert(text, self.streams.len() - 1);
                self.streams.len() - 1
            }
        }
    }

    /// Fills the reused entry's metadata pairs from the record, reusing
    /// their buffers.
    fn metadata(pairs: &mut Vec<LabelPairAdapter>, record: &LogRecord) {
        let mut n = 0;
        for name in STRUCTURED_METADATA {
            if let Some(value) = record.label(name) {
                if pairs.len() == n {
                    pairs.push(LabelPairAdapter::default());
                }
                let pair = &mut pairs[n];
                pair.name.clear();
                pair.name.push_str(name);
                pair.value.clear();
                pair.value.push_str(&value);
                n += 1;
            }
        }
        pairs.truncate(n);
    }

    fn protobuf_body(&mut self) -> Vec<u8> {
        use prost::Message;
        let heads: Vec<StreamAdapter> =
            self.streams.iter().map(|s| StreamAdapter { labels: s.labels.clone(), entries: Vec::new(), hash: 0 }).collect();
        let lens: Vec<usize> = heads.iter().zip(&self.streams).map(|(h, s)| h.encoded_len() + s.encoded.len()).collect();
        let total: usize = lens.iter().map(|&l| 1 + prost::length_delimiter_len(l) + l).sum();
        let mut out = Vec::with_capacity(total);
        for ((head, stream), len) in heads.iter().zip(&self.streams).zip(lens) {
            out.push(STREAMS);
            // Writing into a Vec cannot fail.
            let _ = prost::encode_length_delimiter(len, &mut out);
            let _ = head.encode(&mut out);
            out.extend_from_slice(&stream.encoded);
        }
        out
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

/// Splits a Loki push body (protobuf or JSON) into two requests holding
/// half of its entries each, the older half first in every stream (see
/// [`crate::Transport::split`]).
pub(crate) fn split(batch: &Batch) -> Result<(Batch, Batch), String> {
    use prost::Message;
    let back = |e: &dyn std::fmt::Display| format!("reading the batch back: {e}");
    let (first, rest, records) = match batch.encoding {
        Encoding::Protobuf => {
            let req = PushRequest::decode(batch.body.as_ref()).map_err(|e| back(&e))?;
            let total: usize = req.streams.iter().map(|s| s.entries.len()).sum();
            let cut = |s: &mut StreamAdapter, k: usize| StreamAdapter { labels: s.labels.clone(), entries: s.entries.split_off(k), hash: s.hash };
            let (first, rest) = cut_groups(req.streams, total / 2, |s| s.entries.len(), cut);
            let body = |streams| PushRequest { streams }.encode_to_vec();
            (body(first), body(rest), total)
        }
        Encoding::Json => {
            let mut v: serde_json::Value = serde_json::from_slice(&batch.body).map_err(|e| back(&e))?;
            let streams = v.get_mut("streams").and_then(|s| s.as_array_mut()).map(std::mem::take).ok_or("the body has no streams")?;
            let len = |s: &serde_json::Value| s["values"].as_array().map_or(0, Vec::len);
            let total: usize = streams.iter().map(len).sum();
            let cut = |s: &mut serde_json::Value, k: usize| {
                let tail = s["values"].as_array_mut().map(|v| v.split_off(k)).unwrap_or_default();
                serde_json::json!({ "stream": s["stream"].clone(), "values": tail })
            };
            let (first, rest) = cut_groups(streams, total / 2, len, cut);
            let body = |streams| serde_json::to_vec(&serde_json::json!({ "streams": streams })).unwrap_or_default();
            (body(first), body(rest), total)
        }
    };
    let half = (records / 2) as u64;
    Ok((
        Batch { body: first.into(), records: half, encoding: batch.encoding },
        Batch { body: rest.into(), records: records as u64 - half, encoding: batch.encoding },
    ))
}

impl Encoder for LokiEncoder {
    fn push(&mut self, record: &LogRecord) {
        use prost::Message;
        let i = self.stream_of(record);
        let ns = unix_nanos(record.ts);
        let timestamp = Timestamp { seconds: (ns / 1_000_000_000) as i64, nanos: (ns % 1_000_000_000) as i32 };
        let entry = &mut self.entry;
        entry.line.clear();
        // The format writes into a Vec, which cannot fail.
        let _ = JsonFormat.format(record, &mut entry.line);
        if entry.line.last() == Some(&b'\n') {
            entry.line.pop();
        }
        entry.timestamp = Some(timestamp);
        Self::metadata(&mut entry.structured_metadata, record);
        let stream = &mut self.streams[i];
        match self.encoding {
            Encoding::Protobuf => {
                let before = stream.encoded.len();
                stream.encoded.push(ENTRIES);
                let _ = entry.encode_length_delimited(&mut stream.encoded);
                self.size += stream.encoded.len() - before;
            }
            Encoding::Json => {
                // JSON from the format is UTF-8; the fallback only guards the type.
                let line = String::from_utf8_lossy(&entry.line).into_owned();
                self.size += line.len() + 80;
                let meta = entry.structured_metadata.clone();
                stream.entries.push(EntryAdapter { timestamp: Some(timestamp), line, structured_metadata: meta });
            }
        }
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
            Encoding::Protobuf => self.protobuf_body(),
            Encoding::Json => self.json_body(),
        };
        let batch = Batch { body: body.into(), records: self.records, encoding: self.encoding };
        self.streams.clear();
        self.by_labels.clear();
        self.cache.clear();
        self.last = None;
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

    /// A protobuf body built entry by entry decodes, with the public
    /// message types, to the streams and entries that were pushed.
    #[test]
    fn protobuf_body_decodes_as_a_push_request() {
        use prost::Message;
        use wasmhost_log::Line;
        let mut c = InstanceContext::new("id-a", "c", "logger");
        c.task_id = Some(3);
        let (a, b) = (Arc::new(c), Arc::new(InstanceContext::new("id-b", "go", "api")));
        let mut enc = LokiEncoder::new(vec!["lang".into(), "stream".into()], Encoding::Protobuf);
        let records = [
            LogRecord::line(a.clone(), Stream::Stderr, 1, Line { bytes: b"one", continued: false }),
            LogRecord::line(b.clone(), Stream::Stderr, 1, Line { bytes: b"two \xc3\xa9", continued: false }),
            LogRecord::line(a.clone(), Stream::Stderr, 2, Line { bytes: b"three", continued: false }),
            LogRecord::line(a, Stream::Stdout, 3, Line { bytes: b"four", continued: false }),
        ];
        for r in &records {
            enc.push(r);
        }
        let batch = enc.take();
        assert_eq!(batch.records, 4);
        let req = PushRequest::decode(batch.body.as_ref()).unwrap();
        let streams: Vec<(&str, Vec<&str>)> = req
            .streams
            .iter()
            .map(|s| (s.labels.as_str(), s.entries.iter().map(|e| e.line.split("\"msg\":\"").nth(1).unwrap().split('"').next().unwrap()).collect()))
            .collect();
        assert_eq!(
            streams,
            [
                (r#"{lang="c", stream="stderr"}"#, vec!["one", "three"]),
                (r#"{lang="go", stream="stderr"}"#, vec!["two é"]),
                (r#"{lang="c", stream="stdout"}"#, vec!["four"]),
            ]
        );
        let e = &req.streams[0].entries[1];
        let meta: Vec<(&str, &str)> = e.structured_metadata.iter().map(|p| (p.name.as_str(), p.value.as_str())).collect();
        assert_eq!(meta, [("wasm_instance_id", "id-a"), ("task_id", "3")]);
        let ns = unix_nanos(records[2].ts);
        assert_eq!(e.timestamp, Some(Timestamp { seconds: (ns / 1_000_000_000) as i64, nanos: (ns % 1_000_000_000) as i32 }));
        assert!(req.streams[1].entries[0].structured_metadata.iter().all(|p| p.name != "task_id"), "no task id, no pair");
        // The encoder starts over.
        assert!(PushRequest::decode(enc.take().body.as_ref()).unwrap().streams.is_empty());
    }

    /// Both encodings split into two valid bodies with half the entries
    /// each, every stream's older entries in the first.
    #[test]
    fn a_batch_splits_into_two_halves_of_its_entries() {
        use prost::Message;
        use wasmhost_log::Line;
        let (a, b) = (Arc::new(InstanceContext::new("id-a", "c", "x")), Arc::new(InstanceContext::new("id-b", "go", "y")));
        for encoding in [Encoding::Protobuf, Encoding::Json] {
            let mut enc = LokiEncoder::new(vec!["lang".into()], encoding);
            for (seq, ctx) in [(1, &a), (1, &b), (2, &a), (3, &a), (2, &b)] {
                enc.push(&LogRecord::line(ctx.clone(), Stream::Stderr, seq, Line { bytes: b"m", continued: false }));
            }
            let (first, rest) = split(&enc.take()).unwrap();
            assert_eq!((first.records, rest.records), (2, 3));
            // (labels, seq) in body order.
            let entries = |batch: &Batch| -> Vec<(String, u64)> {
                let seq = |line: &str| serde_json::from_str::<serde_json::Value>(line).unwrap()["seq"].as_u64().unwrap();
                match encoding {
                    Encoding::Protobuf => PushRequest::decode(batch.body.as_ref())
                        .unwrap()
                        .streams
                        .iter()
                        .flat_map(|s| s.entries.iter().map(|e| (s.labels.clone(), seq(&e.line))))
                        .collect(),
                    Encoding::Json => {
                        let v: serde_json::Value = serde_json::from_slice(&batch.body).unwrap();
                        let streams = v["streams"].as_array().unwrap().clone();
                        streams
                            .iter()
                            .flat_map(|s| s["values"].as_array().unwrap().iter().map(|e| (s["stream"]["lang"].to_string(), seq(e[1].as_str().unwrap()))).collect::<Vec<_>>())
                            .collect()
                    }
                }
            };
            let (one, two) = (entries(&first), entries(&rest));
            assert_eq!(one.iter().map(|e| e.1).collect::<Vec<_>>(), [1, 2], "{encoding:?}: stream c's oldest two");
            assert_eq!(two.iter().map(|e| e.1).collect::<Vec<_>>(), [3, 1, 2], "{encoding:?}: the rest of c, then go");
            assert_eq!(one[0].0, two[0].0, "{encoding:?}: the cut stream keeps its labels");
        }
    }

    #[test]
    fn per_instance_labels_are_refused() {
        assert!(check_labels(&["wasm_instance_id".into()]).is_err());
        assert!(check_labels(&["job".into(), "lang".into()]).is_ok());
    }
}
