//! Formats: how a [`LogRecord`] becomes bytes. Transports live in [`crate::sink`].

use std::io;

use slog::{Key, Serializer, KV};

use crate::record::{FieldValue, Level, LogRecord};

/// Version of the JSON line format, written as `v` in every line. Bumped on
/// any change a consumer could notice other than a new optional key.
pub const FORMAT_VERSION: u64 = 1;

/// Turns a record into bytes appended to `out`, one line ending in `\n`.
pub trait Format: Send {
    /// Appends the formatted `record` to `out`.
    fn format(&self, record: &LogRecord, out: &mut Vec<u8>) -> io::Result<()>;
}

/// The public JSON-lines contract (`docs/log-format.md`), written through
/// `slog-json`: one flat object per line, keys LogQL's `| json` keeps as they are.
///
/// ```
/// use std::sync::Arc;
/// use wasmhost_log::{Format, InstanceContext, JsonFormat, Level, LogRecord};
/// let ctx = Arc::new(InstanceContext::new("id-1", "go", "main"));
/// let rec = LogRecord::event(ctx, 1, Level::Info, "instance.exit", "exit 0".into(),
///     vec![("exit_code", 0i64.into())]);
/// let mut out = Vec::new();
/// JsonFormat.format(&rec, &mut out).unwrap();
/// let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
/// assert_eq!(v["event"], "instance.exit");
/// assert_eq!(v["exit_code"], 0);
/// assert_eq!(v["lang"], "go");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonFormat;

/// Adapts a record to slog's key-value interface so `slog-json` writes it.
struct RecordKv<'a>(&'a LogRecord);

fn key(k: &'static str) -> Key {
    Key::from(k)
}

impl KV for RecordKv<'_> {
    fn serialize(&self, _: &slog::Record<'_>, s: &mut dyn Serializer) -> slog::Result {
        let r = self.0;
        let mut ts = String::with_capacity(30);
        crate::time::rfc3339_nanos(r.ts, &mut ts);
        s.emit_str(key("ts"), &ts)?;
        s.emit_str(key("level"), r.level.as_str())?;
        s.emit_str(key("msg"), &r.msg)?;
        s.emit_str(key("lang"), &r.ctx.lang)?;
        s.emit_str(key("module"), &r.ctx.module)?;
        s.emit_str(key("wasm_instance_id"), &r.ctx.wasm_instance_id)?;
        match r.ctx.task_id {
            Some(id) => s.emit_u64(key("task_id"), id)?,
            None => s.emit_none(key("task_id"))?,
        }
        s.emit_str(key("stream"), r.stream.as_str())?;
        s.emit_u64(key("seq"), r.seq)?;
        if let Some(event) = r.event {
            s.emit_str(key("event"), event)?;
        }
        if r.continued {
            s.emit_bool(key("continued"), true)?;
        }
        if r.invalid_utf8 {
            s.emit_bool(key("invalid_utf8"), true)?;
        }
        for (k, v) in &r.fields {
            emit_value(s, key(k), v)?;
        }
        if let Some(lifted) = &r.lifted {
            s.emit_str(key("lifted"), lifted.format)?;
            for (k, v) in &lifted.fields {
                emit_value(s, Key::from(k.clone()), v)?;
            }
        }
        for (k, v) in &r.ctx.labels {
            // Never a key twice: the library refuses such labels, and this
            // keeps a hand-built context from shadowing an event's figure.
            if r.fields.iter().any(|(f, _)| f == k) {
                continue;
            }
            s.emit_str(Key::from(k.clone()), v)?;
        }
        s.emit_u64(key("v"), FORMAT_VERSION)
    }
}

fn emit_value(s: &mut dyn Serializer, k: Key, v: &FieldValue) -> slog::Result {
    match v {
        FieldValue::Str(v) => s.emit_str(k, v),
        FieldValue::U64(v) => s.emit_u64(k, *v),
        FieldValue::I64(v) => s.emit_i64(k, *v),
        FieldValue::F64(v) => s.emit_f64(k, *v),
        FieldValue::Bool(v) => s.emit_bool(k, *v),
    }
}

/// slog wants the logger's values too; records carry all of theirs.
static NO_VALUES: std::sync::LazyLock<slog::OwnedKVList> =
    std::sync::LazyLock::new(|| slog::o!().into());

static RECORD_STATIC: slog::RecordStatic<'static> = slog::RecordStatic {
    location: &slog::RecordLocation {
        file: "",
        line: 0,
        column: 0,
        function: "",
        module: "",
    },
    tag: "",
    level: slog::Level::Info,
};

impl Format for JsonFormat {
    fn format(&self, record: &LogRecord, out: &mut Vec<u8>) -> io::Result<()> {
        use slog::Drain;
        // A Json drain over a borrowed buffer costs nothing to build (no
        // default keys, no allocation), so formatting stays independent of
        // where the bytes go.
        let drain = slog_json::Json::new(out).set_newlines(true).build();
        let kv = RecordKv(record);
        let msg = format_args!("");
        let rec = slog::Record::new(&RECORD_STATIC, &msg, slog::BorrowedKV(&kv));
        drain.log(&rec, &NO_VALUES)
    }
}

/// A readable form for a terminal: time, level, language, module, a short
/// instance id, the sequence number, then the text; coloured by level when
/// `color` is set. Not a contract: use [`JsonFormat`] for machines.
///
/// Everything a guest controls (its text, its module name, labels, event
/// fields) is written with control characters escaped (`\x1b`, `\r`, `\0`,
/// …), so a guest cannot send escape sequences to the terminal, clear it, or
/// rewrite the prefix that says who wrote a line.
///
/// ```
/// use std::sync::Arc;
/// use wasmhost_log::{Format, InstanceContext, Line, LogRecord, Stream, TextFormat};
/// let ctx = Arc::new(InstanceContext::new("0190b6d2-aaaa", "c", "hello"));
/// let rec = LogRecord::line(ctx, Stream::Stderr, 7, Line { bytes: b"hi", continued: false });
/// let mut out = Vec::new();
/// TextFormat { color: false }.format(&rec, &mut out).unwrap();
/// let text = String::from_utf8(out).unwrap();
/// assert!(text.contains("c/hello 0190b6d2 #7 stderr: hi"), "{text}");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TextFormat {
    /// Colour the level with ANSI escapes.
    pub color: bool,
}

impl Format for TextFormat {
    fn format(&self, r: &LogRecord, out: &mut Vec<u8>) -> io::Result<()> {
        use std::io::Write;
        let mut ts = String::with_capacity(30);
        crate::time::rfc3339_nanos(r.ts, &mut ts);
        // HH:MM:SS.mmm is what a person reads; the full stamp is in JSON.
        let clock = ts.get(11..23).unwrap_or(&ts);
        let (on, off) = match (self.color, r.level) {
            (false, _) => ("", ""),
            (true, Level::Error) => ("\x1b[31m", "\x1b[0m"),
            (true, Level::Warn) => ("\x1b[33m", "\x1b[0m"),
            (true, Level::Info) => ("\x1b[32m", "\x1b[0m"),
            (true, _) => ("\x1b[2m", "\x1b[0m"),
        };
        let short_id = r.ctx.wasm_instance_id.get(..8).unwrap_or(&r.ctx.wasm_instance_id);
        write!(
            out,
            "{clock} {on}{:<5}{off} {}/{} {short_id} #{} {}",
            r.level.as_str().to_ascii_uppercase(),
            Escaped(&r.ctx.lang),
            Escaped(&r.ctx.module),
            r.seq,
            r.event.unwrap_or(r.stream.as_str()),
        )?;
        write!(out, ": {}", Escaped(&r.msg))?;
        let lifted = r.lifted.iter().flat_map(|l| l.fields.iter().map(|(k, v)| (k.as_str(), v)));
        for (k, v) in r.fields.iter().map(|(k, v)| (*k, v)).chain(lifted) {
            match v {
                FieldValue::Str(v) if v.contains('\n') => {
                    write!(out, "\n  {k}:")?;
                    for line in v.split('\n') {
                        write!(out, "\n    {}", Escaped(line))?;
                    }
                }
                FieldValue::Str(v) => write!(out, " {k}={v:?}")?,
                FieldValue::U64(v) => write!(out, " {k}={v}")?,
                FieldValue::I64(v) => write!(out, " {k}={v}")?,
                FieldValue::F64(v) => write!(out, " {k}={v}")?,
                FieldValue::Bool(v) => write!(out, " {k}={v}")?,
            }
        }
        if r.continued {
            out.extend_from_slice(" …".as_bytes());
        }
        out.push(b'\n');
        Ok(())
    }
}

/// Text shown with every control character escaped: C0 controls (ESC, BEL,
/// NUL, CR, …; a tab stays a tab), DEL, C1 controls (a lone `U+009B` is a
/// CSI on some terminals) and the bidirectional overrides that reorder what
/// is shown.
struct Escaped<'a>(&'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut rest = self.0;
        while let Some((i, c)) = rest.char_indices().find(|&(_, c)| needs_escape(c)) {
            f.write_str(&rest[..i])?;
            match c {
                '\r' => f.write_str("\\r")?,
                '\n' => f.write_str("\\n")?,
                '\0' => f.write_str("\\0")?,
                c if (c as u32) < 0x100 => write!(f, "\\x{:02x}", c as u32)?,
                c => write!(f, "\\u{{{:x}}}", c as u32)?,
            }
            rest = &rest[i + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\t') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InstanceContext, Line, Stream};
    use std::sync::Arc;

    fn text_of(module: &str, msg: &[u8]) -> String {
        let ctx = Arc::new(InstanceContext::new("0190b6d2-aaaa", "c", module));
        let rec = LogRecord::line(ctx, Stream::Stderr, 1, Line { bytes: msg, continued: false });
        let mut out = Vec::new();
        TextFormat { color: false }.format(&rec, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_escapes_what_a_terminal_would_obey() {
        let out = text_of("m", b"\x1b[2J\x1b]0;owned\x07\rINFO c/trusted: ok\0\x7f\xc2\x9b\xe2\x80\xae\tend");
        assert_eq!(
            out.split_once(": ").unwrap().1,
            "\\x1b[2J\\x1b]0;owned\\x07\\rINFO c/trusted: ok\\0\\x7f\\x9b\\u{202e}\tend\n"
        );
        assert_eq!(out.matches('\n').count(), 1);
        assert!(!out.bytes().any(|b| b < 0x20 && b != b'\n' && b != b'\t'), "{out:?}");
        // The module name comes from the guest's own name section.
        assert!(text_of("evil\x1b[31m", b"hi").contains("c/evil\\x1b[31m "));
        // Plain text is untouched.
        assert!(text_of("m", "héllo wörld €".as_bytes()).ends_with(": héllo wörld €\n"));
    }
}
