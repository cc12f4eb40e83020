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

use crate::batch::{cut_groups, halves, unix_nanos, Batch, Encoder, Encoding};

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

/// What the encoder remembers of one [`StreamKey`] for the batch.
struct Slot {
    /// Holds the instance so its address (the key) is not reused.
    _ctx: Arc<InstanceContext>,
    /// Its stream in [`LokiEncoder::streams`].
    stream: usize,
    /// Its records' structured metadata as encoded `EntryAdapter` fields,
    /// once a record that takes it from the instance alone came by.
    metadata: Option<Vec<u8>>,
}

/// Protobuf keys (field number << 3 | wire type 2, length-delimited) of
/// the fields written by hand: `PushRequest.streams` and
/// `StreamAdapter.entries`, `EntryAdapter.timestamp` (1), `.line` (2) and
/// `.structuredMetadata` (3), `LabelPairAdapter.name` (1) and `.value` (2);
/// and `Timestamp.seconds` (1) and `.nanos` (2), varints (wire type 0).
const STREAMS: u8 = 1 << 3 | 2;
const ENTRIES: u8 = 2 << 3 | 2;
const FIELD_1: u8 = 1 << 3 | 2;
const FIELD_2: u8 = 2 << 3 | 2;
const FIELD_3: u8 = 3 << 3 | 2;
const SECONDS: u8 = 1 << 3;
const NANOS: u8 = 2 << 3;

/// Stream buffers [`LokiEncoder`] keeps for its next batches.
const SPARE_BUFFERS: usize = 4;

/// Groups records into Loki streams by their configured labels.
///
/// Protobuf entries are written by hand into their stream's buffer as they
/// arrive — the same bytes prost writes for [`EntryAdapter`] (a unit test
/// compares them) — from the JSON line formatted into one reused buffer,
/// and the structured metadata encoded once per instance: a record costs
/// its JSON line and a copy of it, no allocation.
pub struct LokiEncoder {
    labels: Vec<String>,
    encoding: Encoding,
    streams: Vec<StreamBuf>,
    by_labels: HashMap<String, usize>,
    slots: Vec<Slot>,
    cache: HashMap<StreamKey, usize>,
    /// The last record's slot: consecutive records mostly share it, and
    /// this spares hashing the key.
    last: Option<(StreamKey, usize)>,
    /// The JSON line being encoded.
    line: Vec<u8>,
    /// Metadata of a record that has its own (fields, lifted fields).
    metadata: Vec<u8>,
    /// JSON: the metadata pairs of the entry being built.
    pairs: Vec<LabelPairAdapter>,
    /// Stream buffers of earlier batches, emptied, for the next streams:
    /// a fresh buffer would grow (and be copied) from nothing every batch.
    spare: Vec<Vec<u8>>,
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
            slots: Vec::new(),
            cache: HashMap::new(),
            last: None,
            line: Vec::new(),
            metadata: Vec::new(),
            pairs: Vec::new(),
            spare: Vec::new(),
            records: 0,
            size: 0,
        }
    }

    fn slot_of(&mut self, record: &LogRecord) -> usize {
        let key = (Arc::as_ptr(&record.ctx) as usize, record.stream, record.level, record.event);
        if let Some((last, i)) = self.last {
            if last == key {
                return i;
            }
        }
        let i = match self.cache.get(&key) {
            Some(&i) => i,
            None => {
                let stream = self.new_stream(record);
                self.slots.push(Slot { _ctx: record.ctx.clone(), stream, metadata: None });
                self.cache.insert(key, self.slots.len() - 1);
                self.slots.len() - 1
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
                let encoded = self.spare.pop().unwrap_or_default();
                self.streams.push(StreamBuf { labels: text.clone(), entries: Vec::new(), encoded });
                self.by_labels.insert(text, self.streams.len() - 1);
                self.streams.len() - 1
            }
        }
    }

    /// Fills the JSON entry's metadata pairs from the record, reusing
    /// their buffers.
    fn metadata_pairs(pairs: &mut Vec<LabelPairAdapter>, record: &LogRecord) {
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

    /// Appends the record's structured metadata as encoded
    /// `EntryAdapter.structuredMetadata` fields.
    fn encode_metadata(record: &LogRecord, out: &mut Vec<u8>) {
        for name in STRUCTURED_METADATA {
            if let Some(value) = record.label(name) {
                // proto3: empty strings are left out, as prost does.
                let field = |text: &str| if text.is_empty() { 0 } else { 1 + prost::length_delimiter_len(text.len()) + text.len() };
                out.push(FIELD_3);
                put_len(out, field(name) + field(&value));
                put_bytes(out, FIELD_1, name.as_bytes());
                put_bytes(out, FIELD_2, value.as_bytes());
            }
        }
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

/// Appends a length as a protobuf varint (into a Vec: cannot fail).
fn put_len(out: &mut Vec<u8>, len: usize) {
    let _ = prost::encode_length_delimiter(len, out);
}

/// Appends a length-delimited field unless `bytes` is empty (proto3's
/// default, which prost leaves out).
fn put_bytes(out: &mut Vec<u8>, key: u8, bytes: &[u8]) {
    if !bytes.is_empty() {
        out.push(key);
        put_len(out, bytes.len());
        out.extend_from_slice(bytes);
    }
}

/// Appends one `StreamAdapter.entries` field: an `EntryAdapter` with this
/// timestamp, line and already encoded metadata fields — byte for byte
/// what prost writes for the same entry.
fn write_entry(out: &mut Vec<u8>, ts: Timestamp, line: &[u8], metadata: &[u8]) {
    let varint = |v: u64| prost::encoding::encoded_len_varint(v);
    // int64 as a 64-bit varint, int32 sign-extended (nanos are never negative).
    let ts_len = if ts.seconds != 0 { 1 + varint(ts.seconds as u64) } else { 0 } + if ts.nanos != 0 { 1 + varint(ts.nanos as u64) } else { 0 };
    let line_len = if line.is_empty() { 0 } else { 1 + varint(line.len() as u64) + line.len() };
    let len = 1 + varint(ts_len as u64) + ts_len + line_len + metadata.len();
    out.reserve(1 + varint(len as u64) + len);
    out.push(ENTRIES);
    put_len(out, len);
    out.push(FIELD_1);
    put_len(out, ts_len);
    if ts.seconds != 0 {
        out.push(SECONDS);
        prost::encoding::encode_varint(ts.seconds as u64, out);
    }
    if ts.nanos != 0 {
        out.push(NANOS);
        prost::encoding::encode_varint(ts.nanos as u64, out);
    }
    put_bytes(out, FIELD_2, line);
    out.extend_from_slice(metadata);
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
    Ok(halves(batch.encoding, first, rest, records))
}

impl Encoder for LokiEncoder {
    fn push(&mut self, record: &LogRecord) {
        let slot = self.slot_of(record);
        let ns = unix_nanos(record.ts);
        let timestamp = Timestamp { seconds: (ns / 1_000_000_000) as i64, nanos: (ns % 1_000_000_000) as i32 };
        self.line.clear();
        // The format writes into a Vec, which cannot fail.
        let _ = JsonFormat.format(record, &mut self.line);
        if self.line.last() == Some(&b'\n') {
            self.line.pop();
        }
        match self.encoding {
            Encoding::Protobuf => {
                let Slot { stream, metadata, .. } = &mut self.slots[slot];
                // Without fields of its own, a record's metadata is its instance's.
                let metadata: &[u8] = if record.fields.is_empty() && record.lifted.is_none() {
                    metadata.get_or_insert_with(|| {
                        let mut m = Vec::new();
                        Self::encode_metadata(record, &mut m);
                        m
                    })
                } else {
                    self.metadata.clear();
                    Self::encode_metadata(record, &mut self.metadata);
                    &self.metadata
                };
                let encoded = &mut self.streams[*stream].encoded;
                let before = encoded.len();
                write_entry(encoded, timestamp, &self.line, metadata);
                self.size += encoded.len() - before;
            }
            Encoding::Json => {
                // JSON from the format is UTF-8; the fallback only guards the type.
                let line = String::from_utf8_lossy(&self.line).into_owned();
                self.size += line.len() + 80;
                Self::metadata_pairs(&mut self.pairs, record);
                let entry = EntryAdapter { timestamp: Some(timestamp), line, structured_metadata: self.pairs.clone() };
                self.streams[self.slots[slot].stream].entries.push(entry);
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
        // A few are kept (each may have grown to a whole batch's size).
        for stream in self.streams.drain(..).take(SPARE_BUFFERS) {
            let mut encoded = stream.encoded;
            encoded.clear();
            self.spare.push(encoded);
        }
        self.spare.truncate(SPARE_BUFFERS);
        self.by_labels.clear();
        self.slots.clear();
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

    /// The hand-written entries are prost's bytes for the same
    /// `EntryAdapter`: zero seconds or nanos, an empty line, an empty
    /// metadata value, lengths of one, two and three varint bytes.
    #[test]
    fn entries_are_written_as_prost_writes_them() {
        use prost::Message;
        let long = "x".repeat(20_000);
        for (seconds, nanos) in [(1_700_000_000, 123_456_789), (0, 5), (7, 0), (0, 0)] {
            for line in ["", "{\"msg\":\"é\"}", &long[..200], &long] {
                for pairs in [vec![], vec![("wasm_instance_id", "0193-ab"), ("task_id", "7")], vec![("trace_id", "")]] {
                    let structured_metadata: Vec<LabelPairAdapter> =
                        pairs.iter().map(|(n, v)| LabelPairAdapter { name: n.to_string(), value: v.to_string() }).collect();
                    let timestamp = Timestamp { seconds, nanos };
                    let entry = EntryAdapter { timestamp: Some(timestamp), line: line.to_owned(), structured_metadata: structured_metadata.clone() };
                    let mut want = vec![ENTRIES];
                    entry.encode_length_delimited(&mut want).unwrap();
                    let mut metadata = Vec::new();
                    for p in &structured_metadata {
                        metadata.push(FIELD_3);
                        p.encode_length_delimited(&mut metadata).unwrap();
                    }
                    let mut got = Vec::new();
                    write_entry(&mut got, timestamp, line.as_bytes(), &metadata);
                    assert_eq!(got, want, "{seconds} {nanos} line of {} bytes, {pairs:?}", line.len());
                }
            }
        }
        // And the metadata as the encoder writes it from a record.
        let mut c = InstanceContext::new("id-a", "c", "m");
        c.task_id = Some(3);
        let record = LogRecord::line(Arc::new(c), Stream::Stderr, 1, wasmhost_log::Line { bytes: b"x", continued: false });
        let mut got = Vec::new();
        LokiEncoder::encode_metadata(&record, &mut got);
        let mut want = Vec::new();
        for (name, value) in [("wasm_instance_id", "id-a"), ("task_id", "3")] {
            want.push(FIELD_3);
            LabelPairAdapter { name: name.into(), value: value.into() }.encode_length_delimited(&mut want).unwrap();
        }
        assert_eq!(got, want);
    }

    #[test]
    fn per_instance_labels_are_refused() {
        assert!(check_labels(&["wasm_instance_id".into()]).is_err());
        assert!(check_labels(&["job".into(), "lang".into()]).is_ok());
    }
}
