//! Parsing LogQL text into [`Query`]: the public entry, its errors, the
//! lexical helpers shared with the evaluator and the templates (Go string
//! literals, durations, byte sizes, Go regexes), and Loki's validation
//! rules with Loki's wording. The grammar itself is in `grammar.rs`,
//! written with the `winnow` combinators.

use crate::ast::*;
use crate::grammar::{self, BIN_LEVELS, RANGE_FNS, VECTOR_FNS};
use crate::unquote::{Rules, UnquoteError};

/// The deepest nesting of parentheses and sub-expressions accepted.
pub const MAX_DEPTH: usize = 256;

/// A query that cannot be parsed, is not valid LogQL, or uses what this
/// evaluator does not support.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Malformed text.
    #[error("parse error at byte {at}: {message}")]
    Syntax {
        /// Byte offset in the query.
        at: usize,
        /// What was wrong.
        message: String,
    },
    /// Well-formed but refused by Loki's validation; `message` is Loki's.
    #[error("parse error : {message}{}", hint.as_ref().map(|h| format!("\nhint: {h}")).unwrap_or_default())]
    Invalid {
        /// Loki's message.
        message: String,
        /// How to write it instead, when there is a portable form.
        hint: Option<String>,
    },
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("parse error : query nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// Valid LogQL this evaluator does not implement.
    #[error("unsupported LogQL: {0}")]
    Unsupported(String),
}

fn invalid(message: impl Into<String>) -> ParseError {
    ParseError::Invalid { message: message.into(), hint: None }
}


/// Unquotes the string literal (`"…"` with Go's escapes, or `` `…` ``
/// raw) at the start of `text` as Loki's lexer does; returns it and the
/// bytes consumed. Errors are Loki's (text/scanner's, then Prometheus'
/// unquoting's "invalid syntax").
pub(crate) fn unquote(text: &str) -> Result<(String, usize), ParseError> {
    crate::unquote::unquote(text, Rules::Loki).map_err(|e| {
        let (at, message) = match e {
            UnquoteError::Unterminated { at, .. } => (at, "literal not terminated"),
            UnquoteError::BadEscape { at } => (at, "invalid char escape"),
            UnquoteError::Syntax { at } => (at, "invalid syntax"),
        };
        ParseError::Syntax { at, message: message.into() }
    })
}

/// A duration in seconds: Prometheus units (`5m`, `1h30m`, `1d`, `1w`,
/// `1y`) and Go's (`1.5s`, `250ms`, `10us`, `10µs`, `100ns`).
pub fn parse_duration(text: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let n: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "d" => 86_400.0,
            "w" => 604_800.0,
            "y" => 31_536_000.0,
            unit => go_unit_seconds(unit)?,
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// Seconds in one of Go's `time.ParseDuration` units (`ns` to `h`), which
/// LogQL's durations extend with `d`, `w` and `y` and templates use as is.
pub(crate) fn go_unit_seconds(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" => 1e-9,
        "us" | "µs" | "μs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return None,
    })
}

/// A range's duration in seconds as Loki reads one (Prometheus'
/// `model.ParseDuration`): whole numbers with units from `y` down to
/// `ms`, each at most once, biggest first (`1h30m`); `0` alone.
pub(crate) fn prom_duration(text: &str) -> Option<f64> {
    const UNITS: [(&str, f64); 7] = [("y", 31_536_000.0), ("w", 604_800.0), ("d", 86_400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 1e-3)];
    if text == "0" {
        return Some(0.0);
    }
    let (mut rest, mut next, mut total) = (text, 0, 0.0);
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
        let k = next + UNITS[next..].iter().position(|(u, _)| *u == &rest[..unit_len])?;
        total += n * UNITS[k].1;
        next = k + 1;
        rest = &rest[unit_len..];
    }
    (!text.is_empty()).then_some(total)
}

/// A byte size as Loki reads one (humanize): `5B`, `20KB` (1000), `1KiB` (1024), `3.5MB`.
pub fn parse_bytes(text: &str) -> Option<f64> {
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let n: f64 = text[..split].trim().parse().ok()?;
    let unit = text[split..].trim().to_ascii_lowercase();
    let scale = match unit.as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "tb" | "t" => 1e12,
        "pb" | "p" => 1e15,
        "kib" | "ki" => 1024.0,
        "mib" | "mi" => 1024f64.powi(2),
        "gib" | "gi" => 1024f64.powi(3),
        "tib" | "ti" => 1024f64.powi(4),
        "pib" | "pi" => 1024f64.powi(5),
        _ => return None,
    };
    Some(n * scale)
}

/// Rewrites a Go (RE2) regex for Rust's `regex`: Go's `\d`, `\w`, `\s`,
/// `\b` and their negations are ASCII-only, Rust's are Unicode-aware.
pub fn go_regex(re: &str) -> String {
    let mut out = String::with_capacity(re.len());
    let mut chars = re.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('d' | 'w' | 's' | 'D' | 'W' | 'S')) => {
                    let set = match e.to_ascii_lowercase() {
                        'd' => "0-9",
                        'w' => "0-9A-Za-z_",
                        _ => "\\t\\n\\f\\r ",
                    };
                    match (in_class, e.is_ascii_uppercase()) {
                        (true, false) => out.push_str(set),
                        (true, true) => out.push_str(&format!("&&[^{set}]")),
                        (false, false) => out.push_str(&format!("[{set}]")),
                        (false, true) => out.push_str(&format!("[^{set}]")),
                    }
                }
                Some(e @ ('b' | 'B')) if !in_class => {
                    out.push_str("(?-u:\\");
                    out.push(e);
                    out.push(')');
                }
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` or `^]` right after `[` is a literal.
                let rest = chars.as_str();
                for lit in ["^]", "]", "^"] {
                    if rest.starts_with(lit) {
                        out.push_str(lit);
                        chars.nth(lit.len() - 1);
                        break;
                    }
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

pub(crate) fn compile(re: &str, anchored: bool) -> Result<Re, String> {
    let go = go_regex(re);
    let text = if anchored { format!("^(?:{go})$") } else { go };
    regex::Regex::new(&text).map(|regex| Re { source: re.to_owned(), regex }).map_err(|e| format!("error parsing regexp: {e}"))
}


impl RangeFn {
    /// Its LogQL name.
    pub fn name(self) -> &'static str {
        RANGE_FNS.iter().find(|(_, f)| *f == self).map_or("", |(n, _)| n)
    }
}

impl VectorFn {
    /// Its LogQL name.
    pub fn name(self) -> &'static str {
        VECTOR_FNS.iter().find(|(_, f)| *f == self).map_or("", |(n, _)| n)
    }
}


pub(crate) fn op_name(op: BinOp) -> &'static str {
    BIN_LEVELS.iter().flat_map(|l| l.iter()).find(|(_, o)| *o == op).map_or("^", |(n, _)| n)
}

/// A number as LogQL text that parses back to the same `f64`.
pub(crate) fn fmt_f64(v: f64) -> String {
    format!("{v:?}")
}

/// Loki's rules for range aggregations, with its messages.
pub(crate) fn validate_range(q: &MetricQuery) -> Result<(), ParseError> {
    let MetricQuery::Range { func, grouping, unwrap, .. } = q else { return Ok(()) };
    use RangeFn::*;
    if let Some(g) = grouping {
        if !matches!(func, AvgOverTime | StddevOverTime | StdvarOverTime | QuantileOverTime | MaxOverTime | MinOverTime | FirstOverTime | LastOverTime)
        {
            let labels = match g {
                Grouping::By(l) => format!("by ({})", l.join(", ")),
                Grouping::Without(l) => format!("without ({})", l.join(", ")),
            };
            let mut inner = q.clone();
            if let MetricQuery::Range { grouping, .. } = &mut inner {
                *grouping = None;
            }
            return Err(ParseError::Invalid {
                message: format!("grouping not allowed for {} aggregation", func.name()),
                hint: Some(format!("aggregate the result instead, which Loki and Prometheus accept: sum {labels} ({inner})")),
            });
        }
    }
    if unwrap.is_some() {
        if matches!(func, CountOverTime | BytesOverTime | BytesRate) {
            return Err(invalid(format!("invalid aggregation {} with unwrap", func.name())));
        }
    } else if !matches!(func, BytesOverTime | BytesRate | CountOverTime | Rate | AbsentOverTime) {
        return Err(invalid(format!("invalid aggregation {} without unwrap", func.name())));
    }
    Ok(())
}

/// Loki's rule: a selector needs one matcher that does not match the empty string.
fn validate_selectors(q: &Query) -> Result<(), ParseError> {
    fn selector(s: &[Matcher]) -> Result<(), ParseError> {
        if s.iter().all(|m| m.matches_value("")) {
            return Err(invalid(
                "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will",
            ));
        }
        Ok(())
    }
    fn metric(m: &MetricQuery) -> Result<(), ParseError> {
        match m {
            MetricQuery::Range { query, .. } => selector(&query.selector),
            MetricQuery::Vector { inner, .. } | MetricQuery::LabelReplace { inner, .. } => metric(inner),
            MetricQuery::Binary { lhs, rhs, .. } => metric(lhs).and_then(|()| metric(rhs)),
            MetricQuery::Literal(_) | MetricQuery::Vector1(_) => Ok(()),
        }
    }
    match q {
        Query::Log(l) => selector(&l.selector),
        Query::Metric(m) => metric(m),
    }
}

/// Parses and validates a LogQL query.
///
/// ```
/// use wasmhost_logql::{parse, Query};
/// assert!(matches!(parse(r#"{job="gateway"} | json | lang="rust""#).unwrap(), Query::Log(_)));
/// let err = parse(r#"count_over_time({job="x"}[5m]) by (lang)"#).unwrap_err().to_string();
/// assert!(err.starts_with("parse error : grouping not allowed for count_over_time aggregation"));
/// assert!(err.contains(r#"sum by (lang) (count_over_time({job="x"}[5m]))"#));
/// ```
pub fn parse(text: &str) -> Result<Query, ParseError> {
    let toks = grammar::lex(text)?;
    grammar::check_nesting(&toks)?;
    // A short query cannot nest deep (a level takes a token or more), so it
    // runs on the caller's stack. A longer one runs on a stack of its own: a
    // nesting level costs a few KB of stack in a release build and tens of
    // KB in a debug one, so the depth budget must not depend on the caller's
    // stack (a tokio worker or a test thread has 2 MB). Only the pages used
    // are ever committed; starting the thread costs ~0.1 ms, as much as the
    // rest of a parse, hence the short path.
    let q = if toks.len() <= INLINE_TOKENS {
        std::panic::catch_unwind(|| grammar::query(&toks, text.len()))
            .unwrap_or_else(|_| Err(ParseError::Unsupported("the parser panicked".into())))?
    } else {
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("logql-parse".into())
                .stack_size(PARSE_STACK)
                .spawn_scoped(scope, || grammar::query(&toks, text.len()))
                .map_err(|e| ParseError::Unsupported(format!("cannot start the parser thread: {e}")))?
                .join()
                .unwrap_or_else(|_| Err(ParseError::Unsupported("the parser panicked".into())))
        })?
    };
    validate_selectors(&q)?;
    Ok(q)
}

/// The parser thread's stack: [`MAX_DEPTH`] levels of a debug build, twice over.
const PARSE_STACK: usize = 2 * MAX_DEPTH * 32 * 1024;

/// Queries of at most this many tokens parse on the caller's stack: at their
/// deepest they need under 512 KB even in a debug build (tested below).
const INLINE_TOKENS: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    /// The deepest queries that still take the short path, each shape of
    /// recursion, parse on a 512 KB stack in this (debug) build.
    #[test]
    fn short_queries_fit_a_small_stack() {
        let fill = |open: &str, inner: &str, close: &str, fixed: usize, per: usize| {
            let n = (INLINE_TOKENS - fixed) / per;
            format!("{}{inner}{}", open.repeat(n), close.repeat(n))
        };
        let queries = [
            fill("(", "1", ")", 1, 2),
            format!(r#"{{job="x"}} | {}"#, fill("(", r#"a="1""#, ")", 9, 2)),
            format!(r#"{{job="x"}} | a="1"{}"#, r#", a="1""#.repeat((INLINE_TOKENS - 9) / 4)),
            fill("sum(", "vector(1)", ")", 4, 3),
            format!("count_over_time({})", fill("(", r#"{job="x"}[5m]"#, ")", 11, 2)),
            fill("- 1 + (", "1", ")", 1, 5),
            format!("{}1", "+ ".repeat(INLINE_TOKENS - 1)),
        ];
        for q in queries {
            let toks = grammar::lex(&q).unwrap();
            assert!(toks.len() <= INLINE_TOKENS && toks.len() > INLINE_TOKENS - 5, "{} tokens: {q}", toks.len());
            let parsed = std::thread::Builder::new().stack_size(512 * 1024).spawn(move || parse(&q).map(|_| ())).unwrap().join();
            assert!(matches!(parsed, Ok(Ok(()))), "{parsed:?}");
        }
    }
}
