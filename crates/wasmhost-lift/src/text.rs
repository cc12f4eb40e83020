//! The line parsers, one per shape of a line's start. Each returns `None` as
//! soon as the line leaves its format, so a plain line is cheap to refuse.

use std::borrow::Cow;

use crate::level::{level_word, numeric_level, Severity};
use crate::{json, Parsed, Value};

/// Keys that carry the message, the level and the time, in order of
/// preference; the first present wins, the others stay fields.
const MSG_KEYS: &[&str] = &["msg", "message", "text"];
const LEVEL_KEYS: &[&str] = &["level", "lvl", "severity", "levelname", "severity_text", "severity_number"];
const TIME_KEYS: &[&str] = &["time", "ts", "timestamp"];

/// One field before the roles are given out: the guest's own key (for the
/// well-known names), the flattened key, the value.
type Item<'a> = (Option<Cow<'a, str>>, Cow<'a, str>, Value<'a>);

/// Gives `msg`, `level`, time and trace ids their places; the rest are fields.
fn roles<'a>(format: &'static str, mut items: Vec<Item<'a>>) -> Parsed<'a> {
    let mut p = Parsed { format, ..Parsed::default() };
    if let Some(Value::Str(s)) = take(&mut items, MSG_KEYS, |_, v| matches!(v, Value::Str(_))) {
        p.msg = s;
    }
    p.level = take_map(&mut items, LEVEL_KEYS, |name, v| match v {
        Value::Str(s) => level_word(s.trim()),
        Value::Int(n) => numeric_level(name, *n),
        _ => None,
    });
    p.ts = take(&mut items, TIME_KEYS, |_, _| true);
    for (name, slot) in [("trace_id", &mut p.trace_id), ("span_id", &mut p.span_id)] {
        if let Some(Value::Str(s)) = take(&mut items, &[name], |_, v| matches!(v, Value::Str(_))) {
            *slot = Some(s);
        }
    }
    p.fields = items.into_iter().map(|(_, k, v)| (k, v)).collect();
    p
}

/// Removes the first item (by the order of `names`) whose value `ok` accepts.
fn take<'a>(items: &mut Vec<Item<'a>>, names: &[&str], ok: impl Fn(&str, &Value<'a>) -> bool) -> Option<Value<'a>> {
    let mut value = None;
    take_map(items, names, |name, v| ok(name, v).then(|| value = Some(v.clone())));
    value
}

/// Removes the first item (by the order of `names`) that `map` maps, and
/// returns what it mapped to.
fn take_map<'a, T>(items: &mut Vec<Item<'a>>, names: &[&str], mut map: impl FnMut(&str, &Value<'a>) -> Option<T>) -> Option<T> {
    for name in names {
        for i in 0..items.len() {
            if items[i].0.as_deref() == Some(*name) {
                if let Some(out) = map(name, &items[i].2) {
                    items.remove(i);
                    return Some(out);
                }
            }
        }
    }
    None
}

/// `{...}`: one JSON object.
pub(crate) fn json(line: &str) -> Option<Parsed<'_>> {
    let pairs = json::read_object(line)?;
    let items = pairs.into_iter().map(|p| (p.top, Cow::Owned(p.key), p.value)).collect();
    Some(roles("json", items))
}

/// logfmt pairs, or `None` unless the whole of `s` is `key=value` pairs
/// (values bare or double-quoted); bare keys are refused, so prose with one
/// `=` in it stays prose.
pub(crate) fn logfmt(s: &str) -> Option<Vec<(&str, Cow<'_, str>)>> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    loop {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        let start = i;
        while i < b.len() && b[i] > b' ' && b[i] != b'=' && b[i] != b'"' {
            i += 1;
        }
        if i == start || b.get(i) != Some(&b'=') {
            return None;
        }
        let key = &s[start..i];
        i += 1;
        let value = if b.get(i) == Some(&b'"') {
            i += 1;
            let mut v = String::new();
            let mut chunk = i;
            loop {
                match *b.get(i)? {
                    b'"' => break,
                    b'\\' => {
                        v.push_str(&s[chunk..i]);
                        let e = *b.get(i + 1)?;
                        v.push(match e {
                            b'n' => '\n',
                            b't' => '\t',
                            b'r' => '\r',
                            b'"' => '"',
                            b'\\' => '\\',
                            _ => return None,
                        });
                        i += 2;
                        chunk = i;
                    }
                    _ => i += 1,
                }
            }
            v.push_str(&s[chunk..i]);
            i += 1;
            if i < b.len() && b[i] != b' ' {
                return None;
            }
            Cow::Owned(v)
        } else {
            let vs = i;
            while i < b.len() && b[i] != b' ' {
                if b[i] == b'"' {
                    return None;
                }
                i += 1;
            }
            Cow::Borrowed(&s[vs..i])
        };
        out.push((key, value));
    }
    (!out.is_empty()).then_some(out)
}

fn sanitized(key: &str) -> Cow<'_, str> {
    if crate::keys::is_clean(key) {
        Cow::Borrowed(key)
    } else {
        let mut out = String::new();
        crate::keys::push_segment(&mut out, key);
        Cow::Owned(out)
    }
}

fn logfmt_items<'a>(pairs: Vec<(&'a str, Cow<'a, str>)>) -> Vec<Item<'a>> {
    pairs.into_iter().map(|(k, v)| (Some(Cow::Borrowed(k)), sanitized(k), Value::Str(v))).collect()
}

/// The message of a text format with `k=v` fields after it (tracing's fmt,
/// slog's default handler): the fields are the longest tail that is logfmt.
fn split_fields(s: &str) -> (&str, Vec<Item<'_>>) {
    let b = s.as_bytes();
    let mut tries = 0;
    let mut i = 0;
    while i < b.len() && tries < 8 {
        if i == 0 || b[i - 1] == b' ' {
            let key_end = b[i..].iter().position(|&c| !(c.is_ascii_alphanumeric() || c == b'_' || c == b'.'));
            if let Some(k) = key_end.filter(|&k| k > 0 && b[i + k] == b'=') {
                let _ = k;
                tries += 1;
                if let Some(pairs) = logfmt(&s[i..]) {
                    return (s[..i].trim_end(), logfmt_items(pairs));
                }
            }
        }
        i += 1;
    }
    (s, Vec::new())
}

fn field<'a>(key: &'static str, value: &'a str) -> (Cow<'a, str>, Value<'a>) {
    (Cow::Borrowed(key), Value::Str(Cow::Borrowed(value)))
}

fn is_upper(word: &str) -> bool {
    word.bytes().all(|b| b.is_ascii_uppercase())
}

/// `[info] msg` and env_logger's `[2026-11-25T10:00:00Z ERROR my_crate] msg`.
pub(crate) fn bracketed<'a>(line: &'a str, _lang: &str) -> Option<Parsed<'a>> {
    let close = line.as_bytes().iter().take(160).position(|&b| b == b']')?;
    let inner = &line[1..close];
    let rest = &line[close + 1..];
    let rest = rest.strip_prefix(':').unwrap_or(rest);
    let msg = rest.strip_prefix(' ').unwrap_or(rest);
    let mut tokens = inner.split_whitespace();
    let first = tokens.next()?;
    if let Some(level) = level_word(first).filter(|_| inner.trim() == first) {
        return Some(Parsed { format: "prefix", level: Some(level), msg: Cow::Borrowed(msg), ..Parsed::default() });
    }
    // env_logger: [TIMESTAMP] LEVEL [TARGET]
    let (ts, level_text) = match first.as_bytes()[0].is_ascii_digit() {
        true => (Some(first), tokens.next()?),
        false => (None, first),
    };
    if !is_upper(level_text) {
        return None;
    }
    let level = level_word(level_text)?;
    let target = tokens.next();
    if tokens.next().is_some() {
        return None;
    }
    let mut p = Parsed { format: "env_logger", level: Some(level), msg: Cow::Borrowed(msg), ..Parsed::default() };
    p.ts = ts.map(|t| Value::Str(Cow::Borrowed(t)));
    p.fields.extend(target.map(|t| field("target", t)));
    Some(p)
}

/// `<warn> msg`.
pub(crate) fn prefixed<'a>(line: &'a str, _lang: &str) -> Option<Parsed<'a>> {
    let close = line.as_bytes().iter().take(12).position(|&b| b == b'>')?;
    let level = level_word(&line[1..close])?;
    let rest = &line[close + 1..];
    let msg = rest.strip_prefix(' ').unwrap_or(rest);
    Some(Parsed { format: "prefix", level: Some(level), msg: Cow::Borrowed(msg), ..Parsed::default() })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DateKind {
    /// `2026-11-25T10:00:00Z`
    Iso,
    /// `2026-11-25 10:00:00,123` (Python's asctime has the comma)
    Spaced { comma: bool },
    /// `2026/11/25 10:00:00` (Go's log)
    Slashed,
}

/// A date and time at the start of `s`: its end and kind.
fn date(s: &str) -> Option<(usize, DateKind)> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let sep = b[4];
    if !(digits(0..4) && (sep == b'-' || sep == b'/') && digits(5..7) && b[7] == sep && digits(8..10)) {
        return None;
    }
    if !(digits(11..13) && b[13] == b':' && digits(14..16) && b[16] == b':' && digits(17..19)) {
        return None;
    }
    let mut kind = match (sep, b[10]) {
        (b'-', b'T') => DateKind::Iso,
        (b'-', b' ') => DateKind::Spaced { comma: false },
        (b'/', b' ') => DateKind::Slashed,
        _ => return None,
    };
    let mut i = 19;
    if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        if b[i] == b',' {
            if kind != (DateKind::Spaced { comma: false }) {
                return None;
            }
            kind = DateKind::Spaced { comma: true };
        }
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    if kind == DateKind::Iso {
        match b.get(i) {
            Some(b'Z') => i += 1,
            Some(b'+' | b'-') if b.len() >= i + 6 && digits(i + 1..i + 3) && b[i + 3] == b':' && digits(i + 4..i + 6) => i += 6,
            _ => {}
        }
    }
    (b.get(i) == Some(&b' ')).then_some((i, kind))
}

/// Lines that start with a date: tracing's fmt, Python's asctime forms, Go's log.
pub(crate) fn dated(line: &str) -> Option<Parsed<'_>> {
    let (end, kind) = date(line)?;
    let ts = &line[..end];
    let rest = &line[end + 1..];
    let mut p = match kind {
        DateKind::Iso => tracing(rest.trim_start_matches(' '))?,
        DateKind::Spaced { comma } => asctime(rest, comma)?,
        DateKind::Slashed => go_log(rest, None),
    };
    p.ts = Some(Value::Str(Cow::Borrowed(ts)));
    Some(p)
}

/// tracing_subscriber's fmt after the time: `LEVEL [spans: ][target: ]message k=v`.
fn tracing(rest: &str) -> Option<Parsed<'_>> {
    let (word, rest) = rest.split_once(' ')?;
    if !is_upper(word) {
        return None;
    }
    let level = level_word(word)?;
    let mut body = rest.trim_start_matches(' ');
    let mut p = Parsed { format: "tracing", level: Some(level), ..Parsed::default() };
    if let Some((head, tail)) = body.split_once(": ") {
        if head.contains('{') {
            p.fields.push(field("spans", head));
            body = tail;
        }
    }
    if let Some((head, tail)) = body.split_once(": ") {
        if !head.is_empty() && head.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':') {
            p.fields.push(field("target", head));
            body = tail;
        }
    }
    let (msg, fields) = split_fields(body);
    p.msg = Cow::Borrowed(msg);
    p.fields.extend(fields.into_iter().map(|(_, k, v)| (k, v)));
    Some(p)
}

/// Python's `%(asctime)s …` forms after the time: `LEVEL msg`, `LEVEL: msg`,
/// `[LEVEL] msg`, `- name - LEVEL - msg`. Without Python's comma it is a
/// generic time-and-level prefix.
fn asctime(rest: &str, comma: bool) -> Option<Parsed<'_>> {
    let format = if comma { "python" } else { "prefix" };
    if let Some(dashed) = rest.strip_prefix("- ") {
        let mut parts = dashed.splitn(3, " - ");
        let (name, word, msg) = (parts.next()?, parts.next()?, parts.next()?);
        let level = level_word(word)?;
        let mut p = Parsed { format, level: Some(level), msg: Cow::Borrowed(msg), ..Parsed::default() };
        p.fields.push(field("logger", name));
        return Some(p);
    }
    let (word, msg) = rest.split_once(' ').unwrap_or((rest, ""));
    let word = word.strip_prefix('[').and_then(|w| w.strip_suffix(']')).unwrap_or(word);
    let word = word.strip_suffix(':').unwrap_or(word);
    let level = level_word(word)?;
    Some(Parsed { format, level: Some(level), msg: Cow::Borrowed(msg), ..Parsed::default() })
}

/// Go's `log` after the date (and an optional prefix before it, whose level
/// word is `level`): `[file.go:12: ][LEVEL: |LEVEL ]msg [k=v ...]`.
fn go_log(rest: &str, level: Option<Severity>) -> Parsed<'_> {
    let mut p = Parsed { format: "go_log", level, ..Parsed::default() };
    let mut body = rest;
    if let Some((first, tail)) = body.split_once(' ') {
        // Lshortfile/Llongfile: `main.go:12:`
        if let Some(file) = first.strip_suffix(':').filter(|f| f.contains(".go:")) {
            p.fields.push(field("file", file));
            body = tail;
        }
    }
    let (word, tail) = body.split_once(' ').unwrap_or((body, ""));
    let (bare, colon) = match word.strip_suffix(':') {
        Some(w) => (w, true),
        None => (word, false),
    };
    if p.level.is_none() && is_upper(bare) {
        if let Some(level) = level_word(bare) {
            p.level = Some(level);
            if colon {
                body = tail;
            } else {
                // slog's default handler: `INFO msg k=v`.
                let (msg, fields) = split_fields(tail);
                p.msg = Cow::Borrowed(msg);
                p.fields.extend(fields.into_iter().map(|(_, k, v)| (k, v)));
                return p;
            }
        }
    }
    p.msg = Cow::Borrowed(body);
    p
}

const ZIG_LEVELS: &[&str] = &["error", "warning", "info", "debug"];

/// Lines that start with a word: logfmt, Python's default, Zig's std.log,
/// Android-style `E/tag:`, Go's log with a level prefix, level prefixes.
pub(crate) fn worded<'a>(line: &'a str, lang: &str) -> Option<Parsed<'a>> {
    let b = line.as_bytes();
    // `E/tag: msg`, `W/tag(123): msg`
    if b.get(1) == Some(&b'/') {
        let level = match b[0] {
            b'V' => Severity::Trace,
            b'D' => Severity::Debug,
            b'I' => Severity::Info,
            b'W' => Severity::Warn,
            b'E' => Severity::Error,
            b'F' => Severity::Fatal,
            _ => return None,
        };
        let (tag, msg) = line[2..].split_once(": ")?;
        let tag = tag.split_once('(').map_or(tag, |(t, _)| t);
        if tag.is_empty() || tag.contains(' ') {
            return None;
        }
        let mut p = Parsed { format: "prefix", level: Some(level), msg: Cow::Borrowed(msg), ..Parsed::default() };
        p.fields.push(field("tag", tag));
        return Some(p);
    }
    // logfmt: the first token is `key=` (only the first word is scanned).
    if memchr::memchr3(b'=', b' ', b'"', b).is_some_and(|i| b[i] == b'=') {
        return logfmt(line).map(|pairs| roles("logfmt", logfmt_items(pairs)));
    }
    let word_end = b.iter().take(10).position(|c| !c.is_ascii_alphabetic()).unwrap_or(b.len());
    let (word, rest) = line.split_at(word_end);
    if word.len() > 9 {
        return None;
    }
    let level = level_word(word)?;
    let plain = |format: &'static str, msg: &'a str| {
        Some(Parsed { format, level: Some(level), msg: Cow::Borrowed(msg), ..Parsed::default() })
    };
    let zig_word = ZIG_LEVELS.contains(&word);
    match rest.as_bytes().first() {
        None => plain("prefix", ""),
        // Zig: `warning(net): msg`
        Some(b'(') if zig_word => {
            let (scope, msg) = rest[1..].split_once("): ")?;
            if scope.is_empty() || !scope.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
                return None;
            }
            let mut p = plain("zig", msg)?;
            p.fields.push(field("scope", scope));
            Some(p)
        }
        Some(b':') => {
            let after = &rest[1..];
            match after.as_bytes().first() {
                None => plain("prefix", ""),
                Some(b' ') => {
                    let msg = &after[1..];
                    if date(msg).is_some_and(|(_, k)| k == DateKind::Slashed) {
                        return dated(msg).map(|mut p| {
                            p.level = Some(level);
                            p
                        });
                    }
                    plain(if zig_word && lang == "zig" { "zig" } else { "prefix" }, msg)
                }
                // Python's default `LEVEL:logger:msg` (and old env_logger's `LEVEL:target: msg`).
                Some(_) if is_upper(word) => {
                    let (name, msg) = after.split_once(':')?;
                    if name.is_empty() || name.contains(' ') {
                        return None;
                    }
                    let (format, msg) = match lang {
                        "rust" => ("env_logger", msg.strip_prefix(' ').unwrap_or(msg)),
                        _ => ("python", msg),
                    };
                    let mut p = plain(format, msg)?;
                    p.fields.push(field(if format == "python" { "logger" } else { "target" }, name));
                    Some(p)
                }
                Some(_) => None,
            }
        }
        Some(b' ') if is_upper(word) => {
            let msg = &rest[1..];
            if date(msg).is_some_and(|(_, k)| k == DateKind::Slashed) {
                let (end, _) = date(msg)?;
                let mut p = go_log(&msg[end + 1..], Some(level));
                p.ts = Some(Value::Str(Cow::Borrowed(&msg[..end])));
                return Some(p);
            }
            plain("prefix", msg)
        }
        Some(b'|') => plain("prefix", rest[1..].trim_start_matches(' ')),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::{Lifted, Lifter, Severity, Value};

    fn lift<'a>(line: &'a str, lang: &str) -> Lifted<'a> {
        Lifter::default().lift(line, lang, &|_| false).unwrap_or_else(|| panic!("not lifted: {line:?}"))
    }

    fn fields(l: &Lifted<'_>) -> Vec<(String, String)> {
        l.fields
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::Str(s) => s.to_string(),
                    other => format!("{other:?}"),
                };
                (k.clone(), v)
            })
            .collect()
    }

    fn f(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn json_objects() {
        let l = lift(
            r#"{"time":"2026-11-25T10:00:00Z","level":"ERROR","msg":"disk full","dev":{"name":"sda","free":0},"tags":["a"],"ok":false}"#,
            "go",
        );
        assert_eq!((l.format, l.level, &*l.msg), ("json", Some(Severity::Error), "disk full"));
        assert_eq!(
            fields(&l),
            f(&[("guest_ts", "2026-11-25T10:00:00Z"), ("guest_dev_name", "sda"), ("guest_dev_free", "Int(0)"), ("guest_ok", "Bool(false)")])
        );
        // zerolog: message; zap: numeric level; pino: numeric time.
        let l = lift(r#"{"level":"warn","message":"m","msg":5}"#, "go");
        assert_eq!((&*l.msg, l.level), ("m", Some(Severity::Warn)));
        assert_eq!(fields(&l), f(&[("guest_msg", "Int(5)")]));
        let l = lift(r#"{"level":1,"ts":1732528800.5,"msg":"zap"}"#, "go");
        assert_eq!(l.level, Some(Severity::Warn));
        assert_eq!(fields(&l), f(&[("guest_ts", "Float(1732528800.5)")]));
        let l = lift(r#"{"level":50,"time":1732528800000,"msg":"pino"}"#, "javascript");
        assert_eq!(l.level, Some(Severity::Error));
        let l = lift(r#"{"severity":"WARNING","text":"t"}"#, "c");
        assert_eq!((&*l.msg, l.level), ("t", Some(Severity::Warn)));
        let l = lift(r#"{"severity_number":17,"body":"b"}"#, "c");
        assert_eq!(l.level, Some(Severity::Error));
        assert_eq!(fields(&l), f(&[("guest_body", "b")]));
        // slog's JSON handler with a custom level.
        let l = lift(r#"{"time":"t","level":"INFO+2","msg":"m"}"#, "go");
        assert_eq!(l.level, Some(Severity::Info));
        // A level nobody knows stays a field; no message is an empty one.
        let l = lift(r#"{"level":"chatty","n":1}"#, "c");
        assert_eq!((l.level, &*l.msg), (None, ""));
        assert_eq!(fields(&l), f(&[("guest_level", "chatty"), ("guest_n", "Int(1)")]));
        // Keys with characters Loki replaces.
        let l = lift(r#"{"http.status":200,"user-agent":"x","a":{"b c":{"9d":1}}}"#, "c");
        assert_eq!(fields(&l), f(&[("guest_http_status", "Int(200)"), ("guest_user_agent", "x"), ("guest_a_b_c__9d", "Int(1)")]));
    }

    #[test]
    fn logfmt_and_slog_text() {
        let l = lift(r#"time=2026-11-25T10:00:00.000Z level=WARN msg="slow query" db.ms=120 user=alice"#, "go");
        assert_eq!((l.format, l.level, &*l.msg), ("logfmt", Some(Severity::Warn), "slow query"));
        assert_eq!(fields(&l), f(&[("guest_ts", "2026-11-25T10:00:00.000Z"), ("guest_db_ms", "120"), ("guest_user", "alice")]));
        let l = lift(r#"level=error msg="quote \" and \\ inside" err="x y""#, "c");
        assert_eq!(&*l.msg, "quote \" and \\ inside");
        assert_eq!(fields(&l), f(&[("guest_err", "x y")]));
        for prose in ["x=1 is the answer", "a=\"unterminated", "k=v\"x", "=v", "a=\"b\"c"] {
            assert!(Lifter::default().lift(prose, "c", &|_| false).is_none(), "{prose}");
        }
    }

    #[test]
    fn rust_formats() {
        let l = lift("[2026-11-25T10:00:00Z ERROR my_crate::db] connection lost", "rust");
        assert_eq!((l.format, l.level, &*l.msg), ("env_logger", Some(Severity::Error), "connection lost"));
        assert_eq!(fields(&l), f(&[("guest_ts", "2026-11-25T10:00:00Z"), ("guest_target", "my_crate::db")]));
        let l = lift("[INFO  my_crate] up", "rust");
        assert_eq!((l.format, l.level, &*l.msg), ("env_logger", Some(Severity::Info), "up"));
        let l = lift("2026-11-25T10:00:00.123456Z  WARN my_crate::db: slow query ms=120 table=\"users x\"", "rust");
        assert_eq!((l.format, l.level, &*l.msg), ("tracing", Some(Severity::Warn), "slow query"));
        assert_eq!(
            fields(&l),
            f(&[("guest_ts", "2026-11-25T10:00:00.123456Z"), ("guest_target", "my_crate::db"), ("guest_ms", "120"), ("guest_table", "users x")])
        );
        let l = lift("2026-11-25T10:00:00Z ERROR request{id=7}: app::handler: failed", "rust");
        assert_eq!(&*l.msg, "failed");
        assert_eq!(fields(&l)[1..], f(&[("guest_spans", "request{id=7}"), ("guest_target", "app::handler")]));
        let l = lift("2026-11-25T10:00:00+01:00  INFO no target here", "rust");
        assert_eq!(&*l.msg, "no target here");
        let l = lift("ERROR:my_crate: old env_logger", "rust");
        assert_eq!((l.format, &*l.msg), ("env_logger", "old env_logger"));
    }

    #[test]
    fn python_formats() {
        let l = lift("ERROR:root:disk full", "python");
        assert_eq!((l.format, l.level, &*l.msg), ("python", Some(Severity::Error), "disk full"));
        assert_eq!(fields(&l), f(&[("guest_logger", "root")]));
        let l = lift("WARNING:app.db:slow: 3 s", "c");
        assert_eq!((l.level, &*l.msg), (Some(Severity::Warn), "slow: 3 s"));
        let l = lift("CRITICAL:root:", "c");
        assert_eq!((l.level, &*l.msg), (Some(Severity::Fatal), ""));
        let l = lift("2026-11-25 10:00:00,123 ERROR disk full", "python");
        assert_eq!((l.format, l.level, &*l.msg), ("python", Some(Severity::Error), "disk full"));
        assert_eq!(fields(&l), f(&[("guest_ts", "2026-11-25 10:00:00,123")]));
        let l = lift("2026-11-25 10:00:00,123 - app - WARNING - slow", "python");
        assert_eq!((l.level, &*l.msg), (Some(Severity::Warn), "slow"));
        assert_eq!(fields(&l)[1], ("guest_logger".into(), "app".into()));
        let l = lift("2026-11-25 10:00:00.5 [debug] generic", "c");
        assert_eq!((l.format, l.level, &*l.msg), ("prefix", Some(Severity::Debug), "generic"));
    }

    #[test]
    fn zig_std_log() {
        let l = lift("error: disk full", "zig");
        assert_eq!((l.format, l.level, &*l.msg), ("zig", Some(Severity::Error), "disk full"));
        let l = lift("warning(net): slow peer", "zig");
        assert_eq!((l.format, l.level, &*l.msg), ("zig", Some(Severity::Warn), "slow peer"));
        assert_eq!(fields(&l), f(&[("guest_scope", "net")]));
        let l = lift("debug(my_scope): x", "c");
        assert_eq!(l.format, "zig");
        assert_eq!(lift("error: disk full", "c").format, "prefix");
    }

    #[test]
    fn go_log() {
        let l = lift("2026/11/25 10:00:00 plain message", "go");
        assert_eq!((l.format, l.level, &*l.msg), ("go_log", None, "plain message"));
        assert_eq!(fields(&l), f(&[("guest_ts", "2026/11/25 10:00:00")]));
        let l = lift("2026/11/25 10:00:00.123456 main.go:12: ERROR: failed", "go");
        assert_eq!((l.level, &*l.msg), (Some(Severity::Error), "failed"));
        assert_eq!(fields(&l), f(&[("guest_ts", "2026/11/25 10:00:00.123456"), ("guest_file", "main.go:12")]));
        let l = lift("ERROR: 2026/11/25 10:00:00 prefixed", "go");
        assert_eq!((l.format, l.level, &*l.msg), ("go_log", Some(Severity::Error), "prefixed"));
        let l = lift("WARN 2026/11/25 10:00:00 prefixed", "go");
        assert_eq!((l.format, l.level), ("go_log", Some(Severity::Warn)));
        // slog's default handler writes through log.
        let l = lift("2026/11/25 10:00:00 INFO hello user=alice n=3", "go");
        assert_eq!((l.level, &*l.msg), (Some(Severity::Info), "hello"));
        assert_eq!(fields(&l)[1..], f(&[("guest_user", "alice"), ("guest_n", "3")]));
    }

    #[test]
    fn level_prefixes() {
        for (line, level, msg) in [
            ("ERROR disk full", Severity::Error, "disk full"),
            ("WARN: low memory", Severity::Warn, "low memory"),
            ("Warning: low memory", Severity::Warn, "low memory"),
            ("[info] started", Severity::Info, "started"),
            ("[ERROR]: failed", Severity::Error, "failed"),
            ("<warn> slow", Severity::Warn, "slow"),
            ("INFO| piped", Severity::Info, "piped"),
            ("FATAL", Severity::Fatal, ""),
            ("error:", Severity::Error, ""),
            ("E/net: down", Severity::Error, "down"),
            ("W/net(123): flaky", Severity::Warn, "flaky"),
        ] {
            let l = lift(line, "c");
            assert_eq!((l.format, l.level, &*l.msg), ("prefix", Some(level), msg), "{line}");
        }
        assert_eq!(fields(&lift("E/net: down", "c")), f(&[("guest_tag", "net")]));
        // A capitalised word followed by a space is prose, not a level.
        for prose in ["Error opening file", "Info about things", "[not a level] x", "X/y: z", "error(bad scope): x", "<b> x"] {
            assert!(Lifter::default().lift(prose, "c", &|_| false).is_none(), "{prose}");
        }
    }
}
