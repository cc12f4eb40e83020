//! Parsing LogQL text into [`Query`]. Anything outside the supported subset
//! is an error that names the construct, never a silent mismatch.

use std::time::Duration;

use crate::ast::*;

/// A query that cannot be parsed, or uses what this evaluator does not support.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Malformed text.
    #[error("at {at}: {message}")]
    Syntax {
        /// Byte offset in the query.
        at: usize,
        /// What was wrong.
        message: String,
    },
    /// Valid LogQL this evaluator does not implement.
    #[error("unsupported LogQL: {0}")]
    Unsupported(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Dur(Duration),
    Sym(&'static str),
}

const SYMBOLS: [&str; 19] = ["|=", "|~", "!=", "!~", "=~", "==", ">=", "<=", "{", "}", "(", ")", "[", "]", ",", "|", "=", ">", "<"];

fn lex(text: &str) -> Result<Vec<(usize, Tok)>, ParseError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |at: usize, message: String| ParseError::Syntax { at, message };
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'"' || c == b'`' {
            let start = i;
            i += 1;
            let mut s = String::new();
            loop {
                let Some(&b) = bytes.get(i) else { return Err(err(start, "unterminated string".into())) };
                if b == c {
                    i += 1;
                    break;
                }
                if b == b'\\' && c == b'"' {
                    let Some(&e) = bytes.get(i + 1) else { return Err(err(i, "unterminated escape".into())) };
                    s.push(match e {
                        b'n' => '\n',
                        b't' => '\t',
                        b'\\' => '\\',
                        b'"' => '"',
                        other => return Err(err(i, format!("unknown escape \\{}", other as char))),
                    });
                    i += 2;
                } else {
                    let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
                    s.push(ch);
                    i += ch.len_utf8();
                }
            }
            out.push((start, Tok::Str(s)));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                i += 1;
            }
            let word = &text[start..i];
            let tok = match word.parse::<f64>() {
                Ok(n) => Tok::Num(n),
                Err(_) => Tok::Dur(parse_duration(word).ok_or_else(|| err(start, format!("not a number or duration: {word}")))?),
            };
            out.push((start, tok));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push((start, Tok::Ident(text[start..i].to_owned())));
        } else if let Some(sym) = SYMBOLS.iter().find(|s| text[i..].starts_with(**s)) {
            out.push((i, Tok::Sym(sym)));
            i += sym.len();
        } else {
            let ch = text[i..].chars().next().unwrap_or('?');
            return Err(err(i, format!("unexpected character {ch:?}")));
        }
    }
    Ok(out)
}

/// `5m`, `1h30m`, `10s`, `250ms` (Prometheus units: ms, s, m, h, d, w, y).
fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "ms" => {
                total += Duration::from_millis(n);
                rest = &rest[unit_len..];
                continue;
            }
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 604_800,
            "y" => 31_536_000,
            _ => return None,
        };
        total += Duration::from_secs(n.checked_mul(secs)?);
        rest = &rest[unit_len..];
    }
    Some(total)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    end: usize,
}

const STAGES_UNSUPPORTED: [&str; 10] =
    ["logfmt", "regexp", "pattern", "unpack", "unwrap", "label_format", "drop", "keep", "decolorize", "distinct"];
const RANGE_FNS: [(&str, RangeFn); 4] = [
    ("count_over_time", RangeFn::CountOverTime),
    ("rate", RangeFn::Rate),
    ("bytes_over_time", RangeFn::BytesOverTime),
    ("bytes_rate", RangeFn::BytesRate),
];
const VECTOR_FNS: [(&str, VectorFn); 5] =
    [("sum", VectorFn::Sum), ("count", VectorFn::Count), ("min", VectorFn::Min), ("max", VectorFn::Max), ("avg", VectorFn::Avg)];
const UNSUPPORTED_FNS: [&str; 16] = [
    "sum_over_time", "avg_over_time", "max_over_time", "min_over_time", "first_over_time", "last_over_time",
    "stddev_over_time", "stdvar_over_time", "quantile_over_time", "absent_over_time", "rate_counter", "topk",
    "bottomk", "stddev", "stdvar", "sort",
];

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }
    fn at(&self) -> usize {
        self.toks.get(self.pos).map(|(a, _)| *a).unwrap_or(self.end)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        t
    }
    fn syntax<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError::Syntax { at: self.at(), message: message.into() })
    }
    fn is_sym(&self, sym: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(s)) if *s == sym)
    }
    fn expect_sym(&mut self, sym: &str) -> Result<(), ParseError> {
        if self.is_sym(sym) {
            self.pos += 1;
            Ok(())
        } else {
            self.syntax(format!("expected `{sym}`"))
        }
    }
    fn ident(&mut self) -> Result<String, ParseError> {
        match self.next() {
            Some(Tok::Ident(s)) => Ok(s),
            _ => {
                self.pos -= 1;
                self.syntax("expected a label name")
            }
        }
    }
    fn string(&mut self) -> Result<String, ParseError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(s),
            _ => {
                self.pos -= 1;
                self.syntax("expected a quoted string")
            }
        }
    }

    fn query(&mut self) -> Result<Query, ParseError> {
        let q = match self.peek() {
            Some(Tok::Ident(name)) => {
                let name = name.clone();
                if UNSUPPORTED_FNS.contains(&name.as_str()) {
                    return Err(ParseError::Unsupported(format!("the function {name}")));
                }
                Query::Metric(self.metric()?)
            }
            _ => Query::Log(self.log_query()?),
        };
        match self.peek() {
            None => Ok(q),
            Some(Tok::Sym(s)) if ["==", ">", "<", ">=", "<=", "!="].contains(s) => {
                Err(ParseError::Unsupported(format!("binary operator `{s}` between a query and a value")))
            }
            Some(Tok::Ident(word)) if ["offset", "or", "and", "unless"].contains(&word.as_str()) => {
                Err(ParseError::Unsupported(format!("`{word}` after a query")))
            }
            _ => self.syntax("unexpected text after the query"),
        }
    }

    fn metric(&mut self) -> Result<MetricQuery, ParseError> {
        let name = self.ident()?;
        if let Some((_, func)) = RANGE_FNS.iter().find(|(n, _)| *n == name) {
            self.expect_sym("(")?;
            let query = self.log_query()?;
            self.expect_sym("[")?;
            let range = match self.next() {
                Some(Tok::Dur(d)) if !d.is_zero() => d,
                _ => {
                    self.pos -= 1;
                    return self.syntax("expected a range like [5m]");
                }
            };
            self.expect_sym("]")?;
            if matches!(self.peek(), Some(Tok::Ident(w)) if w == "offset") {
                return Err(ParseError::Unsupported("offset".into()));
            }
            self.expect_sym(")")?;
            let grouping = self.grouping()?;
            return Ok(MetricQuery::Range { func: *func, query, range, grouping });
        }
        if let Some((_, func)) = VECTOR_FNS.iter().find(|(n, _)| *n == name) {
            let mut grouping = self.grouping()?;
            self.expect_sym("(")?;
            if matches!(self.peek(), Some(Tok::Num(_))) {
                return Err(ParseError::Unsupported(format!("a parameter to {name}")));
            }
            let inner = Box::new(self.metric()?);
            self.expect_sym(")")?;
            if grouping.is_none() {
                grouping = self.grouping()?;
            }
            return Ok(MetricQuery::Vector { func: *func, grouping, inner });
        }
        Err(ParseError::Unsupported(format!("the function {name}")))
    }

    fn grouping(&mut self) -> Result<Option<Grouping>, ParseError> {
        let kind = match self.peek() {
            Some(Tok::Ident(w)) if w == "by" || w == "without" => w.clone(),
            _ => return Ok(None),
        };
        self.pos += 1;
        self.expect_sym("(")?;
        let mut labels = Vec::new();
        while !self.is_sym(")") {
            labels.push(self.ident()?);
            if !self.is_sym(")") {
                self.expect_sym(",")?;
            }
        }
        self.expect_sym(")")?;
        Ok(Some(if kind == "by" { Grouping::By(labels) } else { Grouping::Without(labels) }))
    }

    fn log_query(&mut self) -> Result<LogQuery, ParseError> {
        self.expect_sym("{")?;
        let mut selector = Vec::new();
        while !self.is_sym("}") {
            let label = self.ident()?;
            let op = self.match_op()?;
            let value = self.string()?;
            selector.push(matcher(label, op, value).map_err(|m| ParseError::Syntax { at: self.at(), message: m })?);
            if !self.is_sym("}") {
                self.expect_sym(",")?;
            }
        }
        self.expect_sym("}")?;
        if selector.is_empty() {
            return self.syntax("a stream selector needs at least one matcher");
        }
        let mut stages = Vec::new();
        loop {
            match self.peek() {
                Some(Tok::Sym(s)) if ["|=", "|~", "!=", "!~"].contains(s) => {
                    let s = *s;
                    self.pos += 1;
                    let text = self.string()?;
                    let regex = if s == "|~" || s == "!~" {
                        Some(regex::Regex::new(&text).map_err(|e| ParseError::Syntax { at: self.at(), message: format!("bad regex: {e}") })?)
                    } else {
                        None
                    };
                    stages.push(Stage::Line(LineFilter { keep_matching: s.starts_with('|'), text, regex }));
                }
                Some(Tok::Sym("|")) => {
                    self.pos += 1;
                    stages.push(self.stage()?);
                }
                _ => return Ok(LogQuery { selector, stages }),
            }
        }
    }

    fn stage(&mut self) -> Result<Stage, ParseError> {
        let word = match self.peek() {
            Some(Tok::Ident(w)) => w.clone(),
            Some(Tok::Sym("(")) => return Ok(Stage::Label(self.label_or()?)),
            _ => return self.syntax("expected a parser, filter or formatter after `|`"),
        };
        if word == "json" {
            self.pos += 1;
            // Only a `|` or a line filter may follow; a name is an extraction
            // parameter (`| json first="a"`).
            if matches!(self.peek(), Some(Tok::Ident(_))) {
                return Err(ParseError::Unsupported("| json with parameters".into()));
            }
            return Ok(Stage::Json);
        }
        if word == "line_format" {
            self.pos += 1;
            let template = self.string()?;
            check_template(&template)?;
            return Ok(Stage::LineFormat(template));
        }
        if STAGES_UNSUPPORTED.contains(&word.as_str()) {
            return Err(ParseError::Unsupported(format!("the `| {word}` stage")));
        }
        Ok(Stage::Label(self.label_or()?))
    }

    fn label_or(&mut self) -> Result<LabelFilter, ParseError> {
        let mut left = self.label_and()?;
        while matches!(self.peek(), Some(Tok::Ident(w)) if w == "or") {
            self.pos += 1;
            left = LabelFilter::Or(Box::new(left), Box::new(self.label_and()?));
        }
        Ok(left)
    }

    fn label_and(&mut self) -> Result<LabelFilter, ParseError> {
        let mut left = self.label_primary()?;
        loop {
            let and = matches!(self.peek(), Some(Tok::Ident(w)) if w == "and") || self.is_sym(",");
            if !and {
                return Ok(left);
            }
            self.pos += 1;
            left = LabelFilter::And(Box::new(left), Box::new(self.label_primary()?));
        }
    }

    fn label_primary(&mut self) -> Result<LabelFilter, ParseError> {
        if self.is_sym("(") {
            self.pos += 1;
            let inner = self.label_or()?;
            self.expect_sym(")")?;
            return Ok(inner);
        }
        let label = self.ident()?;
        let op = match self.next() {
            Some(Tok::Sym(s)) => s,
            _ => {
                self.pos -= 1;
                return self.syntax(format!("expected a comparison after `{label}`"));
            }
        };
        match self.next() {
            Some(Tok::Str(value)) => {
                let op = match op {
                    "=" => MatchOp::Eq,
                    "!=" => MatchOp::Ne,
                    "=~" => MatchOp::Re,
                    "!~" => MatchOp::NotRe,
                    other => return Err(ParseError::Unsupported(format!("`{other}` with a string value"))),
                };
                matcher(label, op, value).map(LabelFilter::Str).map_err(|m| ParseError::Syntax { at: self.at(), message: m })
            }
            Some(Tok::Num(value)) => {
                let op = match op {
                    "=" | "==" => NumOp::Eq,
                    "!=" => NumOp::Ne,
                    ">" => NumOp::Gt,
                    ">=" => NumOp::Ge,
                    "<" => NumOp::Lt,
                    "<=" => NumOp::Le,
                    other => return self.syntax(format!("`{other}` cannot compare with a number")),
                };
                Ok(LabelFilter::Num { label, op, value })
            }
            Some(Tok::Dur(_)) => Err(ParseError::Unsupported("duration comparisons in label filters".into())),
            Some(Tok::Ident(w)) => Err(ParseError::Unsupported(format!("`{w}` as a label filter value (bytes or function)"))),
            _ => {
                self.pos -= 1;
                self.syntax("expected a string or a number")
            }
        }
    }

    fn match_op(&mut self) -> Result<MatchOp, ParseError> {
        let op = match self.peek() {
            Some(Tok::Sym("=")) => MatchOp::Eq,
            Some(Tok::Sym("!=")) => MatchOp::Ne,
            Some(Tok::Sym("=~")) => MatchOp::Re,
            Some(Tok::Sym("!~")) => MatchOp::NotRe,
            _ => return self.syntax("expected =, !=, =~ or !~"),
        };
        self.pos += 1;
        Ok(op)
    }
}

fn matcher(label: String, op: MatchOp, value: String) -> Result<Matcher, String> {
    let regex = match op {
        MatchOp::Re | MatchOp::NotRe => Some(regex::Regex::new(&format!("^(?:{value})$")).map_err(|e| format!("bad regex: {e}"))?),
        _ => None,
    };
    Ok(Matcher { label, op, value, regex })
}

/// `line_format` here supports `{{.label}}` placeholders only.
fn check_template(template: &str) -> Result<(), ParseError> {
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else {
            return Err(ParseError::Syntax { at: 0, message: "unclosed {{ in line_format".into() });
        };
        let inside = rest[open + 2..open + close].trim();
        let name = inside.strip_prefix('.').unwrap_or("");
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(ParseError::Unsupported(format!("line_format template action {{{{{inside}}}}} (only {{{{.label}}}})")));
        }
        rest = &rest[open + close + 2..];
    }
    Ok(())
}

/// Parses a LogQL query.
///
/// ```
/// use wasmhost_logql::{parse, Query};
/// assert!(matches!(parse(r#"{job="gateway"} | json | lang="rust""#).unwrap(), Query::Log(_)));
/// assert!(parse(r#"{job="x"} | logfmt"#).unwrap_err().to_string().contains("logfmt"));
/// ```
pub fn parse(text: &str) -> Result<Query, ParseError> {
    let toks = lex(text)?;
    let mut p = Parser { toks, pos: 0, end: text.len() };
    p.query()
}
