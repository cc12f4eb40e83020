//! Lifting a guest's own log line: its level, message and fields become
//! fields of the host's record instead of a string inside a string.
//!
//! One job: one captured line (or one multi-line block, see [`Joiner`]) in,
//! a [`Lifted`] out — or `None`, and the line stays plain, unchanged. The
//! crate knows nothing about wasmtime or the host's record; it never fails
//! and never panics on guest input.
//!
//! Formats, tried by the line's first byte so a plain line costs a few
//! comparisons ([`Lifter::lift`] says which shapes lead where):
//!
//! | `format` | example |
//! |---|---|
//! | `json` | `{"level":"warn","msg":"slow","req":{"id":7}}` (slog, zap, zerolog, pino, bunyan, OTel) |
//! | `logfmt` | `time=… level=WARN msg="slow" req.id=7` (Go slog's text handler) |
//! | `env_logger` | `[2026-11-25T10:00:00Z ERROR my_crate] disk full` |
//! | `tracing` | `2026-11-25T10:00:00.123456Z  WARN my_crate::db: slow query ms=120` |
//! | `python` | `ERROR:root:disk full`, `2026-11-25 10:00:00,123 ERROR disk full`, `… - app - ERROR - …` |
//! | `zig` | `error: disk full`, `warning(net): slow` (std.log) |
//! | `go_log` | `2026/11/25 10:00:00 ERROR: disk full`, `ERROR: 2026/11/25 10:00:00 main.go:12: …` |
//! | `prefix` | `ERROR disk full`, `WARN: slow`, `[info] up`, `<warn> slow`, `E/net: down` |
//! | `rust_panic`, `python_traceback`, `go_panic` | multi-line blocks joined by [`Joiner`] |
//!
//! ```
//! use wasmhost_lift::{Lifter, Severity, Value};
//! let lifter = Lifter::new("guest_").unwrap();
//! let line = r#"{"level":"warn","msg":"slow","req":{"id":7},"wasm_instance_id":"x"}"#;
//! let lifted = lifter.lift(line, "go", &|k| k == "wasm_instance_id").unwrap();
//! assert_eq!(lifted.format, "json");
//! assert_eq!(lifted.level, Some(Severity::Warn));
//! assert_eq!(lifted.msg, "slow");
//! assert_eq!(lifted.fields[0], ("guest_req_id".to_string(), Value::Int(7)));
//! assert_eq!(lifted.fields[1].0, "guest_wasm_instance_id");
//! assert!(lifter.lift("just a line", "c", &|_| false).is_none());
//! ```

#![warn(missing_docs)]

mod json;
mod keys;
mod level;
mod multiline;
mod text;

use std::borrow::Cow;

pub use json::{string as json_string, StringError, MAX_DEPTH};
pub use keys::push_segment;
pub use level::{level_word, otel_severity, Severity};
pub use multiline::{Block, Bounds, Joined, Joiner};

/// A lifted field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// Text (logfmt and text formats give only text).
    Str(Cow<'a, str>),
    /// A JSON integer.
    Int(i64),
    /// A JSON integer above `i64::MAX`.
    UInt(u64),
    /// Any other JSON number.
    Float(f64),
    /// A JSON boolean.
    Bool(bool),
}

impl Value<'_> {
    /// The value with its text owned.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::Int(n) => Value::Int(n),
            Value::UInt(n) => Value::UInt(n),
            Value::Float(f) => Value::Float(f),
            Value::Bool(b) => Value::Bool(b),
        }
    }
}

/// What lifting found in one line.
#[derive(Debug, Clone, PartialEq)]
pub struct Lifted<'a> {
    /// Which format matched (the table above), written as `lifted`.
    pub format: &'static str,
    /// The guest's severity, when the line said one.
    pub level: Option<Severity>,
    /// The guest's message (empty when a JSON object has none).
    pub msg: Cow<'a, str>,
    /// Fields under their final names: the prefix's `ts`, `trace_id` and
    /// `span_id` when valid and free, and every other field as prefix +
    /// flattened key. No name is taken (see [`Lifter::lift`]) or repeated.
    pub fields: Vec<(String, Value<'a>)>,
}

/// The prefix is not a usable start of a field name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPrefix(pub String);

impl std::fmt::Display for BadPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "lift prefix {:?} must be non-empty and match [A-Za-z_][A-Za-z0-9_]*", self.0)
    }
}

impl std::error::Error for BadPrefix {}

/// The lifter: the field prefix, and the parsers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifter {
    prefix: String,
}

/// Parsers' common output, before the names are made final.
#[derive(Debug, Default)]
pub(crate) struct Parsed<'a> {
    pub format: &'static str,
    pub level: Option<Severity>,
    pub msg: Cow<'a, str>,
    pub ts: Option<Value<'a>>,
    pub trace_id: Option<Cow<'a, str>>,
    pub span_id: Option<Cow<'a, str>>,
    /// Keys already flattened and sanitised, without the prefix.
    pub fields: Vec<(Cow<'a, str>, Value<'a>)>,
}

impl Lifter {
    /// A lifter writing guest fields as `prefix` + the guest's key. The
    /// prefix must be a field name itself (`guest_` by default), so that no
    /// lifted key can be one of the host's.
    ///
    /// ```
    /// assert!(wasmhost_lift::Lifter::new("app_").is_ok());
    /// assert!(wasmhost_lift::Lifter::new("").is_err());
    /// assert!(wasmhost_lift::Lifter::new("9-").is_err());
    /// ```
    pub fn new(prefix: &str) -> Result<Lifter, BadPrefix> {
        if !keys::is_clean(prefix) {
            return Err(BadPrefix(prefix.to_owned()));
        }
        Ok(Lifter { prefix: prefix.to_owned() })
    }

    /// The field prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Lifts one line the guest wrote (without its newline). `lang` is the
    /// detected language (`rust`, `python`, `zig`, ...): it names the format
    /// where two look alike (`error: x` is Zig's std.log in a Zig guest, a
    /// plain prefix elsewhere). `taken` says which names the record has
    /// already (the host's keys and the operator's labels): a lifted field
    /// that would reuse one gets `_extracted` appended, as Loki does.
    ///
    /// Returns `None` when no format matches: the line stays plain.
    pub fn lift<'a>(&self, line: &'a str, lang: &str, taken: &dyn Fn(&str) -> bool) -> Option<Lifted<'a>> {
        let parsed = match *line.as_bytes().first()? {
            b'{' => text::json(line)?,
            b'[' => text::bracketed(line, lang)?,
            b'0'..=b'9' => text::dated(line)?,
            b'<' => text::prefixed(line, lang)?,
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => text::worded(line, lang)?,
            _ => return None,
        };
        Some(self.finish(parsed, taken))
    }

    /// Lifts a multi-line block the [`Joiner`] put together.
    ///
    /// ```
    /// use wasmhost_lift::{Block, Lifter, Severity};
    /// let text = "Traceback (most recent call last):\n  File \"app.py\", line 3, in <module>\nValueError: bad";
    /// let lifted = Lifter::new("guest_").unwrap().lift_block(Block::PythonTraceback, text, &|_| false);
    /// assert_eq!(lifted.format, "python_traceback");
    /// assert_eq!(lifted.level, Some(Severity::Error));
    /// assert_eq!(lifted.fields[0].0, "guest_exception");
    /// ```
    pub fn lift_block<'a>(&self, block: Block, text: &'a str, taken: &dyn Fn(&str) -> bool) -> Lifted<'a> {
        self.finish(multiline::parse_block(block, text), taken)
    }

    /// Fields a guest gave as key/value pairs (the `wasmhost_log` import):
    /// every key under the prefix, sanitised as Loki's `| logfmt` would;
    /// `trace_id` and `span_id` become the trace context when valid and
    /// free, as in a JSON line.
    ///
    /// ```
    /// let l = wasmhost_lift::Lifter::default();
    /// let fields = l.structured([("user id", "7"), ("user id", "8")], &|_| false);
    /// assert_eq!(fields[0].0, "guest_user_id");
    /// assert_eq!(fields[1].0, "guest_user_id_extracted");
    /// ```
    pub fn structured<'a>(&self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>, taken: &dyn Fn(&str) -> bool) -> Vec<(String, Value<'a>)> {
        let mut p = Parsed::default();
        for (key, value) in pairs {
            let value = Cow::Borrowed(value);
            match key {
                "trace_id" if p.trace_id.is_none() => p.trace_id = Some(value),
                "span_id" if p.span_id.is_none() => p.span_id = Some(value),
                _ => {
                    let mut flat = String::new();
                    push_segment(&mut flat, key);
                    p.fields.push((Cow::Owned(flat), Value::Str(value)));
                }
            }
        }
        self.finish(p, taken).fields
    }

    fn finish<'a>(&self, p: Parsed<'a>, taken: &dyn Fn(&str) -> bool) -> Lifted<'a> {
        let mut fields: Vec<(String, Value<'a>)> = Vec::with_capacity(p.fields.len() + 3);
        // Names given so far, indexed once there are many (a 16 KiB JSON
        // line can have thousands of fields).
        let mut index: Option<std::collections::HashSet<String>> = None;
        let mut put = |name: &str, value: Value<'a>, fields: &mut Vec<(String, Value<'a>)>| {
            let mut key = String::with_capacity(self.prefix.len() + name.len());
            key.push_str(&self.prefix);
            key.push_str(name);
            if index.is_none() && fields.len() >= 32 {
                index = Some(fields.iter().map(|(k, _)| k.clone()).collect());
            }
            let used = |key: &str, fields: &[(String, Value<'a>)]| match &index {
                Some(index) => index.contains(key),
                None => fields.iter().any(|(k, _)| k == key),
            };
            while taken(&key) || used(&key, fields) {
                key.push_str("_extracted");
            }
            if let Some(index) = &mut index {
                index.insert(key.clone());
            }
            fields.push((key, value));
        };
        if let Some(ts) = p.ts {
            put("ts", ts, &mut fields);
        }
        for (name, id, len) in [("trace_id", p.trace_id, 32), ("span_id", p.span_id, 16)] {
            let Some(id) = id else { continue };
            if valid_id(&id, len) && !taken(name) {
                fields.push((name.to_owned(), Value::Str(Cow::Owned(id.to_ascii_lowercase()))));
            } else {
                put(name, Value::Str(id), &mut fields);
            }
        }
        for (key, value) in p.fields {
            if !key.is_empty() {
                put(&key, value, &mut fields);
            }
        }
        Lifted { format: p.format, level: p.level, msg: p.msg, fields }
    }
}

impl Default for Lifter {
    /// The `guest_` prefix.
    fn default() -> Self {
        Lifter { prefix: "guest_".into() }
    }
}

/// A W3C id: `len` hex digits, not all zero.
fn valid_id(id: &str, len: usize) -> bool {
    id.len() == len && id.bytes().all(|b| b.is_ascii_hexdigit()) && id.bytes().any(|b| b != b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> bool {
        false
    }

    #[test]
    fn trace_context_when_valid_and_free() {
        let l = Lifter::default();
        let line = r#"{"msg":"m","trace_id":"4BF92F3577B34DA6A3CE929D0E0E4736","span_id":"00f067aa0ba902b7"}"#;
        let got = l.lift(line, "go", &none).unwrap();
        assert_eq!(got.fields[0], ("trace_id".into(), Value::Str("4bf92f3577b34da6a3ce929d0e0e4736".into())));
        assert_eq!(got.fields[1].0, "span_id");
        // The operator's traceparent owns them: the guest's go under the prefix.
        let got = l.lift(line, "go", &|k| k == "trace_id" || k == "span_id").unwrap();
        assert_eq!(got.fields[0].0, "guest_trace_id");
        assert_eq!(got.fields[1].0, "guest_span_id");
        // Invalid ids are plain fields.
        let got = l.lift(r#"{"trace_id":"00000000000000000000000000000000","span_id":"xyz"}"#, "go", &none).unwrap();
        assert_eq!(got.fields[0].0, "guest_trace_id");
        assert_eq!(got.fields[1].0, "guest_span_id");
    }

    #[test]
    fn taken_names_get_extracted() {
        let l = Lifter::new("g_").unwrap();
        let got = l.lift(r#"{"time":"t1","ts":"t2","x":1}"#, "c", &|k| k == "g_x").unwrap();
        let keys: Vec<&str> = got.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["g_ts", "g_ts_extracted", "g_x_extracted"]);
    }

    #[test]
    fn many_fields_stay_unique() {
        let pairs: Vec<(String, String)> = (0..200).map(|i| (format!("k{}", i % 50), i.to_string())).collect();
        let got = Lifter::default().structured(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), &|k| k == "guest_k7");
        let mut keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys.len(), 200);
        assert_eq!(keys[7], "guest_k7_extracted");
        assert_eq!(keys[57], "guest_k7_extracted_extracted");
        assert_eq!(keys[50], "guest_k0_extracted");
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 200);
    }

    #[test]
    fn plain_lines_stay_plain() {
        let l = Lifter::default();
        for line in [
            "", "line 00000001: the quick brown fox", "hello from c on stderr", "Error opening file", "warnings: 3",
            "[1, 2, 3]", "[]", "42", "{not json}", "{\"a\":1", "\u{fffd} bad", "-- done --", "12 apples", "   indented",
            "about to trap", "x", "http://example.com", "2026 was a year",
        ] {
            assert!(l.lift(line, "c", &none).is_none(), "{line:?}: {:?}", l.lift(line, "c", &none));
        }
    }
}
