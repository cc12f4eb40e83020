//! Formats: how a [`LogRecord`] becomes bytes. Transports live in [`crate::sink`].

use std::io;

use slog::{Key, Serializer, KV};

use crate::record::{FieldValue, Level, LogRecord, Stream};

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

/// A readable form for a terminal: time (UTC, marked `Z`), level, language
/// and module, a short instance id (the random tail of its UUIDv7: the head
/// is a timestamp, the same for every instance of a run), the task and the
/// labels, then the text. Not a contract: use [`JsonFormat`] for machines.
///
/// How much it says is [`Detail`]: a host event is one short line at
/// [`Detail::Normal`] (`compiled in 6 ms`, `exited with code 0 in 3 ms`,
/// `trap: unreachable in explode (exit 134)` with the backtrace below), every
/// field and the sequence number at [`Detail::Verbose`]. With `color`,
/// metadata is dim, the level coloured, the guest's text plain.
///
/// Everything a guest controls (its text, its module name, labels, event
/// fields) is written with control characters escaped (`\x1b`, `\r`, `\0`,
/// …), so a guest cannot send escape sequences to the terminal, clear it, or
/// rewrite the prefix that says who wrote a line.
///
/// ```
/// use std::sync::Arc;
/// use wasmhost_log::{Format, InstanceContext, Line, LogRecord, Stream, TextFormat};
/// let ctx = Arc::new(InstanceContext::new("019ac9a1-7f3e-7b21-9d4c-0f6e2a1b3c4d", "c", "hello"));
/// let rec = LogRecord::line(ctx, Stream::Stderr, 7, Line { bytes: b"hi", continued: false });
/// let mut out = Vec::new();
/// TextFormat::default().format(&rec, &mut out).unwrap();
/// let text = String::from_utf8(out).unwrap();
/// assert!(text.ends_with("Z INFO  c/hello 2a1b3c4d stderr: hi\n"), "{text}");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TextFormat {
    /// Write ANSI colours: the level coloured, metadata dim.
    pub color: bool,
    /// How much of each record is shown.
    pub detail: Detail,
}

/// How much [`TextFormat`] shows (`-q`, default, `-v` on the command line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Detail {
    /// The guest's own lines, bare, and the errors that ended an instance
    /// (a trap, a limit, a host failure); nothing else.
    Quiet,
    /// A prefix on every line; a host event as one short summary.
    #[default]
    Normal,
    /// Every field of every record, with its sequence number.
    Verbose,
}

/// ANSI styles, or nothing when colour is off.
struct Style {
    dim: &'static str,
    level: &'static str,
    reset: &'static str,
}

impl Style {
    fn new(color: bool, level: Level) -> Style {
        if !color {
            return Style { dim: "", level: "", reset: "" };
        }
        let level = match level {
            Level::Error => "\x1b[1;31m",
            Level::Warn => "\x1b[33m",
            Level::Info => "\x1b[32m",
            _ => "\x1b[2m",
        };
        Style { dim: "\x1b[2m", level, reset: "\x1b[0m" }
    }
}

/// The events whose end makes an instance fail: shown even by [`Detail::Quiet`].
const FAILURES: &[&str] = &["instance.trap", "instance.timeout", "instance.out_of_fuel", "instance.error"];

impl Format for TextFormat {
    fn format(&self, r: &LogRecord, out: &mut Vec<u8>) -> io::Result<()> {
        use std::io::Write;
        let guest = r.stream != Stream::Host;
        if self.detail == Detail::Quiet {
            if guest {
                write!(out, "{}", Escaped(&r.msg))?;
                write_fields(out, &[], r, false)?;
                out.push(b'\n');
            } else if r.event.is_some_and(|e| FAILURES.contains(&e)) {
                write!(out, "wasmhost: {}/{}: ", Escaped(&r.ctx.lang), Escaped(&r.ctx.module))?;
                write_summary(out, r)?;
            }
            return Ok(());
        }
        let style = Style::new(self.color, r.level);
        let Style { dim, reset, .. } = style;
        let mut ts = String::with_capacity(30);
        crate::time::rfc3339_nanos(r.ts, &mut ts);
        // HH:MM:SS.mmm and its zone is what a person reads; the full stamp
        // is in JSON.
        let clock = ts.get(11..23).unwrap_or(&ts);
        write!(
            out,
            "{dim}{clock}Z{reset} {}{:<5}{reset} {}/{} {dim}{}",
            style.level,
            r.level.as_str().to_ascii_uppercase(),
            Escaped(&r.ctx.lang),
            Escaped(&r.ctx.module),
            short_id(&r.ctx.wasm_instance_id),
        )?;
        if let Some(task) = r.ctx.task_id {
            write!(out, " task={task}")?;
        }
        for (k, v) in &r.ctx.labels {
            write!(out, " {k}={}", Quoted(v))?;
        }
        if self.detail == Detail::Verbose {
            write!(out, " #{} {}", r.seq, r.event.unwrap_or(r.stream.as_str()))?;
        } else if guest {
            write!(out, " {}", r.stream.as_str())?;
        }
        match (self.detail, guest) {
            (Detail::Verbose, _) | (_, true) => {
                write!(out, ":{reset} {}", Escaped(&r.msg))?;
                // Lifted fields are the guest's own words: always shown;
                // an event's figures only when asked for.
                let fields: &[(&'static str, FieldValue)] = if self.detail == Detail::Verbose { &r.fields } else { &[] };
                write_fields(out, fields, r, true)?;
                if r.continued {
                    out.extend_from_slice(" …".as_bytes());
                }
                out.push(b'\n');
            }
            (_, false) => {
                write!(out, "{reset} ")?;
                write_summary(out, r)?;
            }
        }
        Ok(())
    }
}

/// The last 8 hex digits of a UUID: random in a UUIDv7 (its first 12 are the
/// millisecond timestamp), so they tell apart instances started together.
fn short_id(id: &str) -> &str {
    id.get(id.len().saturating_sub(8)..).unwrap_or(id)
}

/// ` key=value` for each field, then the lifted ones; a multi-line string
/// value (a backtrace, a panic) below the line, indented.
fn write_fields(out: &mut Vec<u8>, fields: &[(&'static str, FieldValue)], r: &LogRecord, multiline: bool) -> io::Result<()> {
    use std::io::Write;
    let lifted = r.lifted.iter().flat_map(|l| l.fields.iter().map(|(k, v)| (k.as_str(), v)));
    for (k, v) in fields.iter().map(|(k, v)| (*k, v)).chain(lifted) {
        match v {
            FieldValue::Str(v) if multiline && v.contains('\n') => {
                write!(out, "\n  {k}:")?;
                for line in v.split('\n') {
                    write!(out, "\n    {}", Escaped(line))?;
                }
            }
            FieldValue::Str(v) => write!(out, " {k}={}", Quoted(v))?,
            FieldValue::U64(v) => write!(out, " {k}={v}")?,
            FieldValue::I64(v) => write!(out, " {k}={v}")?,
            FieldValue::F64(v) => write!(out, " {k}={v}")?,
            FieldValue::Bool(v) => write!(out, " {k}={v}")?,
        }
    }
    Ok(())
}

/// One short line saying what a host event means, then (for a trap) its
/// backtrace below; ends with `\n`.
fn write_summary(out: &mut Vec<u8>, r: &LogRecord) -> io::Result<()> {
    use std::io::Write;
    let field = |name: &str| r.fields.iter().find(|(k, _)| *k == name).map(|(_, v)| v);
    let text = |name: &str| match field(name) {
        Some(FieldValue::Str(s)) => Some(s.as_str()),
        _ => None,
    };
    let millis = |name: &str| match field(name) {
        Some(FieldValue::F64(ms)) => Some(Millis(*ms)),
        _ => None,
    };
    match r.event.unwrap_or_default() {
        "instance.start" => {
            let took = millis("compile_ms").unwrap_or(Millis(0.0));
            match text("compile") {
                Some("cache") => write!(out, "loaded in {took} (cached)")?,
                Some("uncached") => write!(out, "compiled in {took} (no cache)")?,
                _ => write!(out, "compiled in {took}")?,
            }
            if let Some(error) = text("cache_error") {
                write!(out, "; the cache entry was not used: {}", Escaped(error))?;
            }
        }
        "instance.exit" => {
            write!(out, "{}", Escaped(&r.msg))?;
            if let Some(took) = millis("duration_ms") {
                write!(out, " in {took}")?;
            }
            if let Some(FieldValue::U64(fuel)) = field("fuel_used") {
                write!(out, ", {fuel} fuel used")?;
            }
        }
        "instance.trap" => {
            let backtrace = text("backtrace").unwrap_or_default();
            let what = match text("trap_code") {
                Some(code) => trap_words(code),
                None => None,
            };
            match what {
                Some(what) => write!(out, "trap: {what}")?,
                None => write!(out, "trap: {}", Escaped(text("trap_message").unwrap_or(&r.msg)))?,
            }
            // The innermost frame's function: `0: 0x1a2 - trap!explode`.
            if let Some(func) = backtrace.lines().next().and_then(|f| f.rsplit_once('!')).map(|(_, f)| f) {
                write!(out, " in {}", Escaped(func))?;
            }
            write!(out, " (exit {TRAP_EXIT_CODE})")?;
            for frame in backtrace.lines() {
                write!(out, "\n    {}", Escaped(frame))?;
            }
        }
        _ => write!(out, "{}", Escaped(&r.msg))?,
    }
    out.push(b'\n');
    Ok(())
}

/// The exit status of an instance that trapped, as `wasmtime run`'s on Unix
/// (128 + SIGABRT).
pub const TRAP_EXIT_CODE: i32 = 134;

/// A few words for wasmtime's trap codes (the `trap_code` field, its `Debug`
/// name), as a person says them.
fn trap_words(code: &str) -> Option<&'static str> {
    Some(match code {
        "UnreachableCodeReached" => "unreachable",
        "MemoryOutOfBounds" => "out-of-bounds memory access",
        "HeapMisaligned" => "misaligned memory access",
        "TableOutOfBounds" => "out-of-bounds table access",
        "IndirectCallToNull" => "call to a null function reference",
        "BadSignature" => "indirect call type mismatch",
        "IntegerOverflow" => "integer overflow",
        "IntegerDivisionByZero" => "integer divide by zero",
        "BadConversionToInteger" => "invalid conversion to integer",
        "StackOverflow" => "stack overflow",
        "NullReference" => "null reference",
        "AtomicWaitNonSharedMemory" => "atomic wait on non-shared memory",
        _ => return None,
    })
}

/// Milliseconds as a person reads them: `6 ms`, `420 µs`, `1.25 s`.
struct Millis(f64);

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            ms if ms >= 1000.0 => write!(f, "{:.2} s", ms / 1000.0),
            ms if ms >= 1.0 => write!(f, "{ms:.0} ms"),
            ms => write!(f, "{:.0} µs", ms * 1000.0),
        }
    }
}

/// A value bare when it is one plain word, else quoted with Rust's escapes.
struct Quoted<'a>(&'a str);

impl std::fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        if !self.0.is_empty() && self.0.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:/@+".contains(c)) {
            return f.write_str(self.0);
        }
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' | '\\' => escape(c, f)?,
                c if needs_escape(c) => escape(c, f)?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
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
            escape(c, f)?;
            rest = &rest[i + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// One escaped character, as Rust writes it in a string literal.
fn escape(c: char, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    match c {
        '\r' => f.write_str("\\r"),
        '\n' => f.write_str("\\n"),
        '\0' => f.write_str("\\0"),
        '"' | '\\' => write!(f, "\\{c}"),
        c if (c as u32) < 0x100 => write!(f, "\\x{:02x}", c as u32),
        c => write!(f, "\\u{{{:x}}}", c as u32),
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
        TextFormat::default().format(&rec, &mut out).unwrap();
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

    fn event(name: &'static str, level: Level, msg: &str, fields: Vec<(&'static str, FieldValue)>) -> LogRecord {
        let mut ctx = InstanceContext::new("019ac9a1-7f3e-7b21-9d4c-0f6e2a1b3c4d", "c", "trap");
        ctx.task_id = Some(3);
        ctx.labels = vec![("job".into(), "gateway".into()), ("note".into(), "two words".into())];
        LogRecord::event(Arc::new(ctx), 2, level, name, msg.into(), fields)
    }

    fn show(format: TextFormat, r: &LogRecord) -> String {
        let mut out = Vec::new();
        format.format(r, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Everything after the clock: the time changes from run to run.
    fn after_clock(line: &str) -> &str {
        line.split_once("Z ").unwrap().1
    }

    #[test]
    fn events_are_one_short_line_unless_verbose() {
        let start = event("instance.start", Level::Info, "starting t.wasm", vec![
            ("module_path", "t.wasm".into()), ("module_sha256", "ab12".into()),
            ("compile", "compiled".into()), ("compile_ms", FieldValue::F64(6.2)),
        ]);
        let normal = show(TextFormat::default(), &start);
        assert_eq!(after_clock(&normal), "INFO  c/trap 2a1b3c4d task=3 job=gateway note=\"two words\" compiled in 6 ms\n");
        let cached = event("instance.start", Level::Info, "", vec![("compile", "cache".into()), ("compile_ms", FieldValue::F64(0.42))]);
        assert!(show(TextFormat::default(), &cached).ends_with(" loaded in 420 µs (cached)\n"));
        let verbose = show(TextFormat { detail: Detail::Verbose, color: false }, &start);
        assert!(verbose.contains(" #2 instance.start: starting t.wasm module_path=t.wasm module_sha256=ab12 compile=compiled compile_ms=6.2\n"), "{verbose}");
        assert_eq!(show(TextFormat { detail: Detail::Quiet, color: false }, &start), "");

        let exit = event("instance.exit", Level::Info, "exited with code 0", vec![("exit_code", 0i64.into()), ("duration_ms", FieldValue::F64(1250.0))]);
        assert!(show(TextFormat::default(), &exit).ends_with(" exited with code 0 in 1.25 s\n"));
    }

    #[test]
    fn a_trap_says_what_and_where_first_then_the_backtrace() {
        let trap = event("instance.trap", Level::Error, "trapped: wasm `unreachable` instruction executed", vec![
            ("trap_code", "UnreachableCodeReached".into()),
            ("trap_message", "wasm `unreachable` instruction executed".into()),
            ("backtrace", "0: 0x1a2 - trap!explode\n1: 0x1b0 - trap!main".into()),
        ]);
        let text = show(TextFormat::default(), &trap);
        let mut lines = text.lines();
        assert!(lines.next().unwrap().ends_with(" trap: unreachable in explode (exit 134)"), "{text}");
        assert_eq!(lines.collect::<Vec<_>>(), ["    0: 0x1a2 - trap!explode", "    1: 0x1b0 - trap!main"]);
        assert_eq!(text.matches("unreachable").count(), 1, "the message once: {text}");
        // -q keeps the errors that ended an instance.
        let quiet = show(TextFormat { detail: Detail::Quiet, color: false }, &trap);
        assert!(quiet.starts_with("wasmhost: c/trap: trap: unreachable in explode (exit 134)\n    0: "), "{quiet}");
    }

    #[test]
    fn quiet_is_the_guests_text_and_colour_leaves_it_plain() {
        let ctx = Arc::new(InstanceContext::new("019ac9a1-7f3e-7b21-9d4c-0f6e2a1b3c4d", "c", "m"));
        let line = LogRecord::line(ctx, Stream::Stderr, 1, Line { bytes: b"ERROR: disk \x1b full", continued: false });
        assert_eq!(show(TextFormat { detail: Detail::Quiet, color: true }, &line), "ERROR: disk \\x1b full\n");
        let coloured = show(TextFormat { detail: Detail::Normal, color: true }, &line);
        assert!(coloured.starts_with("\x1b[2m"), "the clock is dim: {coloured:?}");
        assert!(coloured.contains("\x1b[1;31mERROR\x1b[0m"), "{coloured:?}");
        assert!(coloured.ends_with("stderr:\x1b[0m ERROR: disk \\x1b full\n"), "the text plain: {coloured:?}");
        assert!(!show(TextFormat::default(), &line).contains('\x1b'));
    }

    #[test]
    fn short_ids_are_the_random_tail() {
        assert_eq!(short_id("019ac9a1-7f3e-7b21-9d4c-0f6e2a1b3c4d"), "2a1b3c4d");
        assert_eq!(short_id("abc"), "abc");
    }
}
