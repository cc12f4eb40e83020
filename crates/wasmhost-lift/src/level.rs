//! Severity words and numbers of the logging libraries guests use.

/// A guest's severity, as lifting found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// `trace`, OTel 1–4.
    Trace,
    /// `debug`, OTel 5–8.
    Debug,
    /// `info`, `notice`, OTel 9–12.
    Info,
    /// `warn`, `warning`, OTel 13–16.
    Warn,
    /// `error`, OTel 17–20.
    Error,
    /// `fatal`, `critical`, `panic`, OTel 21–24 (a host writes it as error).
    Fatal,
}

/// A level word, any case: `trace`, `debug`/`dbg`/`verbose`, `info`/`notice`,
/// `warn`/`warning`, `error`/`err`, `fatal`/`crit`/`critical`/`panic`/
/// `dpanic`/`alert`/`emerg`. OTel's `INFO2`-style severity texts count as
/// their word; slog's `INFO+2`/`DEBUG-2` are read on slog's scale.
///
/// ```
/// use wasmhost_lift::{level_word, Severity};
/// assert_eq!(level_word("WARNING"), Some(Severity::Warn));
/// assert_eq!(level_word("INFO+4"), Some(Severity::Warn));
/// assert_eq!(level_word("ERROR3"), Some(Severity::Error));
/// assert_eq!(level_word("errors"), None);
/// ```
pub fn level_word(word: &str) -> Option<Severity> {
    // Every line that is not lifted asks this of its first word: refuse by
    // length and first letter before anything else.
    let b = word.as_bytes();
    if b.len() < 3 || !matches!(b[0] | 0x20, b'a' | b'c' | b'd' | b'e' | b'f' | b'i' | b'n' | b'p' | b't' | b'v' | b'w') {
        return None;
    }
    let end = b.iter().take(9).position(|c| !c.is_ascii_alphabetic()).unwrap_or(b.len().min(9));
    if !(3..=8).contains(&end) {
        return None;
    }
    let (name, rest) = word.split_at(end);
    let mut lower = [0u8; 8];
    for (dst, src) in lower.iter_mut().zip(name.bytes()) {
        *dst = src.to_ascii_lowercase();
    }
    let base = match &lower[..name.len()] {
        b"trace" => Severity::Trace,
        b"debug" | b"dbg" | b"verbose" => Severity::Debug,
        b"info" | b"notice" => Severity::Info,
        b"warn" | b"warning" => Severity::Warn,
        b"error" | b"err" => Severity::Error,
        b"fatal" | b"crit" | b"critical" | b"panic" | b"dpanic" | b"alert" | b"emerg" => Severity::Fatal,
        _ => return None,
    };
    if rest.is_empty() {
        return Some(base);
    }
    // OTel severity text: the word and a digit 2–4 (`INFO2`).
    if rest.len() == 1 && (b'2'..=b'4').contains(&rest.as_bytes()[0]) {
        return Some(base);
    }
    // slog: `INFO+2` is 2 on slog's scale.
    let offset: i64 = match rest.as_bytes()[0] {
        b'+' => rest[1..].parse().ok()?,
        b'-' => rest.parse().ok()?,
        _ => return None,
    };
    let slog_base = match base {
        Severity::Debug => -4,
        Severity::Info => 0,
        Severity::Warn => 4,
        Severity::Error => 8,
        _ => return None,
    };
    Some(slog_number(slog_base + offset))
}

fn slog_number(n: i64) -> Severity {
    match n {
        ..=-1 => Severity::Debug,
        0..=3 => Severity::Info,
        4..=7 => Severity::Warn,
        _ => Severity::Error,
    }
}

/// An OpenTelemetry severity number (1–24).
///
/// ```
/// use wasmhost_lift::{otel_severity, Severity};
/// assert_eq!(otel_severity(17), Some(Severity::Error));
/// assert_eq!(otel_severity(0), None);
/// ```
pub fn otel_severity(n: i64) -> Option<Severity> {
    Some(match n {
        1..=4 => Severity::Trace,
        5..=8 => Severity::Debug,
        9..=12 => Severity::Info,
        13..=16 => Severity::Warn,
        17..=20 => Severity::Error,
        21..=24 => Severity::Fatal,
        _ => return None,
    })
}

/// A numeric level under a `level`/`lvl` key. The scales overlap, so the
/// first that claims the number wins:
/// pino/bunyan (10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal);
/// zap (-1 debug, 1 warn, 2 error, 3 dpanic, 5 fatal);
/// slog (-4 debug, 0 info, 4 warn, 8 error, values between rounding down);
/// then OTel severity numbers (9–24). Under `severity` or
/// `severity_number` a number is always OTel's.
pub(crate) fn numeric_level(key: &str, n: i64) -> Option<Severity> {
    if key.starts_with("severity") || key.starts_with("Severity") {
        return otel_severity(n);
    }
    match n {
        10 => Some(Severity::Trace),
        20 => Some(Severity::Debug),
        30 => Some(Severity::Info),
        40 => Some(Severity::Warn),
        50 => Some(Severity::Error),
        60 => Some(Severity::Fatal),
        -1 => Some(Severity::Debug),
        1 => Some(Severity::Warn),
        2 => Some(Severity::Error),
        3 | 5 => Some(Severity::Fatal),
        ..=8 => Some(slog_number(n)),
        _ => otel_severity(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        for (w, s) in [
            ("trace", Severity::Trace),
            ("DEBUG", Severity::Debug),
            ("Info", Severity::Info),
            ("notice", Severity::Info),
            ("warn", Severity::Warn),
            ("ERR", Severity::Error),
            ("CRITICAL", Severity::Fatal),
            ("dpanic", Severity::Fatal),
            ("DEBUG-2", Severity::Debug),
            ("INFO+2", Severity::Info),
            ("WARN+4", Severity::Error),
            ("FATAL4", Severity::Fatal),
        ] {
            assert_eq!(level_word(w), Some(s), "{w}");
        }
        for w in ["", "informational", "warnings", "INFO5", "INFO+x", "x"] {
            assert_eq!(level_word(w), None, "{w}");
        }
    }

    #[test]
    fn numbers() {
        // slog
        assert_eq!(numeric_level("level", -4), Some(Severity::Debug));
        assert_eq!(numeric_level("level", 0), Some(Severity::Info));
        assert_eq!(numeric_level("level", 4), Some(Severity::Warn));
        assert_eq!(numeric_level("level", 8), Some(Severity::Error));
        // zap
        assert_eq!(numeric_level("level", -1), Some(Severity::Debug));
        assert_eq!(numeric_level("level", 1), Some(Severity::Warn));
        assert_eq!(numeric_level("level", 2), Some(Severity::Error));
        // pino
        assert_eq!(numeric_level("lvl", 30), Some(Severity::Info));
        assert_eq!(numeric_level("level", 50), Some(Severity::Error));
        // OTel
        assert_eq!(numeric_level("level", 13), Some(Severity::Warn));
        assert_eq!(numeric_level("severity", 9), Some(Severity::Info));
        assert_eq!(numeric_level("severity_number", 2), Some(Severity::Trace));
        assert_eq!(numeric_level("severity", 99), None);
        assert_eq!(numeric_level("level", 1000), None);
    }
}
