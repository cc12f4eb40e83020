//! Parsing LogQL text into [`Query`], then Loki's validation rules with
//! Loki's wording. A lexer and a precedence-climbing recursive descent with
//! an explicit nesting budget ([`MAX_DEPTH`]): deep input is an error, never
//! a stack overflow.
//!
//! Why not a combinator crate (winnow, nom and chumsky were weighed): the
//! corners of LogQL's yacc grammar — `a, b or c` meaning `a and (b or c)`
//! (yacc's shift preference), words such as `or`/`offset` ending a stage,
//! pipelines allowed after the range — came out plainer as code; a
//! combinator parser recurses just the same, so the depth budget is needed
//! either way; and this way the crate adds no dependency. The grammar is
//! pinned by the conformance cases and the print/parse round-trip property.

use std::time::Duration;

use crate::ast::*;
use crate::pattern::Pattern;
use crate::template::Template;

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

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    /// A duration, in seconds, and its text.
    Dur(f64, String),
    /// A byte size, and its text.
    Bytes(f64, String),
    Sym(&'static str),
}

const SYMBOLS: [&str; 30] = [
    "|=", "|~", "|>", "!=", "!~", "!>", "=~", "==", ">=", "<=", "{", "}", "(", ")", "[", "]", ",", "|", "=", ">", "<", "+", "-", "*", "/",
    "%", "^", "\u{0}", "\u{0}", "\u{0}",
];

/// Unquotes a Go string literal (`"…"` with escapes, or `` `…` `` raw) at the
/// start of `text`; returns it and the bytes consumed.
pub(crate) fn unquote(text: &str) -> Result<(String, usize), ParseError> {
    let bytes = text.as_bytes();
    let quote = bytes[0];
    let err = |at: usize, message: &str| ParseError::Syntax { at, message: message.into() };
    let mut s = String::new();
    let mut i = 1;
    loop {
        let Some(&b) = bytes.get(i) else { return Err(err(0, "unterminated string")) };
        if b == quote {
            return Ok((s, i + 1));
        }
        if b == b'\\' && quote == b'"' {
            let Some(&e) = bytes.get(i + 1) else { return Err(err(i, "unterminated escape")) };
            let hex = |from: usize, n: usize| text.get(from..from + n).and_then(|h| u32::from_str_radix(h, 16).ok());
            let (c, len) = match e {
                b'n' => ('\n', 2),
                b't' => ('\t', 2),
                b'r' => ('\r', 2),
                b'a' => ('\u{7}', 2),
                b'b' => ('\u{8}', 2),
                b'f' => ('\u{c}', 2),
                b'v' => ('\u{b}', 2),
                b'\\' => ('\\', 2),
                b'"' => ('"', 2),
                b'x' => (hex(i + 2, 2).and_then(char::from_u32).ok_or_else(|| err(i, "bad \\x escape"))?, 4),
                b'u' => (hex(i + 2, 4).and_then(char::from_u32).ok_or_else(|| err(i, "bad \\u escape"))?, 6),
                b'U' => (hex(i + 2, 8).and_then(char::from_u32).ok_or_else(|| err(i, "bad \\U escape"))?, 10),
                b'0'..=b'7' => {
                    let v = text.get(i + 1..i + 4).and_then(|o| u32::from_str_radix(o, 8).ok()).filter(|v| *v < 256);
                    (v.and_then(char::from_u32).ok_or_else(|| err(i, "bad octal escape"))?, 4)
                }
                other => return Err(err(i, &format!("unknown escape sequence \\{}", other as char))),
            };
            s.push(c);
            i += len;
        } else {
            let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
            s.push(ch);
            i += ch.len_utf8();
        }
    }
}

fn lex(text: &str) -> Result<Vec<(usize, Tok)>, ParseError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |at: usize, message: String| ParseError::Syntax { at, message };
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'#' {
            // A comment runs to the end of the line.
            i = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
        } else if c == b'"' || c == b'`' {
            let (s, len) = unquote(&text[i..]).map_err(|e| match e {
                ParseError::Syntax { at, message } => err(i + at, message),
                other => other,
            })?;
            out.push((i, Tok::Str(s)));
            i += len;
        } else if c.is_ascii_digit() || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let start = i;
            for ch in text[i..].chars() {
                if ch.is_alphanumeric() || ch == '.' {
                    i += ch.len_utf8();
                } else {
                    break;
                }
            }
            let word = &text[start..i];
            let tok = if let Ok(n) = word.parse::<f64>() {
                Tok::Num(n)
            } else if let Some(d) = parse_duration(word) {
                Tok::Dur(d, word.to_owned())
            } else if let Some(b) = parse_bytes(word) {
                Tok::Bytes(b, word.to_owned())
            } else {
                return Err(err(start, format!("not a valid duration string: {word:?}")));
            };
            out.push((start, tok));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push((start, Tok::Ident(text[start..i].to_owned())));
        } else if let Some(sym) = SYMBOLS.iter().find(|s| s.as_bytes()[0] != 0 && text[i..].starts_with(**s)) {
            out.push((i, Tok::Sym(sym)));
            i += sym.len();
        } else {
            let ch = text[i..].chars().next().unwrap_or('?');
            return Err(err(i, format!("unexpected character {ch:?}")));
        }
    }
    Ok(out)
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
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            "w" => 604_800.0,
            "y" => 31_536_000.0,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    Some(total)
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

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    end: usize,
    depth: usize,
}

const RANGE_FNS: [(&str, RangeFn); 15] = [
    ("count_over_time", RangeFn::CountOverTime),
    ("rate", RangeFn::Rate),
    ("rate_counter", RangeFn::RateCounter),
    ("bytes_over_time", RangeFn::BytesOverTime),
    ("bytes_rate", RangeFn::BytesRate),
    ("absent_over_time", RangeFn::AbsentOverTime),
    ("sum_over_time", RangeFn::SumOverTime),
    ("avg_over_time", RangeFn::AvgOverTime),
    ("min_over_time", RangeFn::MinOverTime),
    ("max_over_time", RangeFn::MaxOverTime),
    ("stddev_over_time", RangeFn::StddevOverTime),
    ("stdvar_over_time", RangeFn::StdvarOverTime),
    ("quantile_over_time", RangeFn::QuantileOverTime),
    ("first_over_time", RangeFn::FirstOverTime),
    ("last_over_time", RangeFn::LastOverTime),
];
const VECTOR_FNS: [(&str, VectorFn); 11] = [
    ("sum", VectorFn::Sum),
    ("count", VectorFn::Count),
    ("min", VectorFn::Min),
    ("max", VectorFn::Max),
    ("avg", VectorFn::Avg),
    ("stddev", VectorFn::Stddev),
    ("stdvar", VectorFn::Stdvar),
    ("topk", VectorFn::Topk),
    ("bottomk", VectorFn::Bottomk),
    ("sort", VectorFn::Sort),
    ("sort_desc", VectorFn::SortDesc),
];

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

/// Binary operators from the loosest to the tightest.
const BIN_LEVELS: [&[(&str, BinOp)]; 5] = [
    &[("or", BinOp::Or)],
    &[("and", BinOp::And), ("unless", BinOp::Unless)],
    &[("==", BinOp::Eq), ("!=", BinOp::Ne), (">", BinOp::Gt), (">=", BinOp::Ge), ("<", BinOp::Lt), ("<=", BinOp::Le)],
    &[("+", BinOp::Add), ("-", BinOp::Sub)],
    &[("*", BinOp::Mul), ("/", BinOp::Div), ("%", BinOp::Mod)],
];

/// A parsed expression before it is known to be a log or a metric query.
enum Expr {
    Log(LogQuery),
    Metric(MetricQuery),
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }
    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n).map(|(_, t)| t)
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
    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w == word)
    }
    fn eat_sym(&mut self, sym: &str) -> bool {
        let yes = self.is_sym(sym);
        self.pos += usize::from(yes);
        yes
    }
    fn expect_sym(&mut self, sym: &str) -> Result<(), ParseError> {
        if self.eat_sym(sym) {
            Ok(())
        } else {
            self.syntax(format!("syntax error: expected `{sym}`"))
        }
    }
    fn ident(&mut self) -> Result<String, ParseError> {
        match self.peek() {
            Some(Tok::Ident(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => self.syntax("syntax error: expected a label name"),
        }
    }
    fn string(&mut self) -> Result<String, ParseError> {
        match self.peek() {
            Some(Tok::Str(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => self.syntax("syntax error: expected a quoted string"),
        }
    }
    fn number(&mut self) -> Result<f64, ParseError> {
        let neg = self.eat_sym("-");
        match self.peek() {
            Some(Tok::Num(n)) => {
                let n = if neg { -*n } else { *n };
                self.pos += 1;
                Ok(n)
            }
            _ => self.syntax("syntax error: expected a number"),
        }
    }
    /// Enters one nesting level; every recursive rule goes through here.
    fn deeper(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::TooDeep);
        }
        Ok(())
    }

    fn expr(&mut self, level: usize) -> Result<Expr, ParseError> {
        if level == BIN_LEVELS.len() {
            let lhs = self.unary()?;
            // `^` is right-associative and binds tightest.
            return if self.is_sym("^") { self.binary_rhs(lhs, BinOp::Pow, level) } else { Ok(lhs) };
        }
        let mut lhs = self.expr(level + 1)?;
        loop {
            let op = BIN_LEVELS[level].iter().find(|(name, _)| match self.peek() {
                Some(Tok::Sym(s)) => s == name,
                Some(Tok::Ident(w)) => w == name,
                _ => false,
            });
            let Some(&(_, op)) = op else { break };
            lhs = self.binary_rhs(lhs, op, level + 1)?;
        }
        Ok(lhs)
    }

    /// After `lhs`, at the operator: modifiers and the right side.
    fn binary_rhs(&mut self, lhs: Expr, op: BinOp, rhs_level: usize) -> Result<Expr, ParseError> {
        self.pos += 1;
        let bool_modifier = self.is_word("bool");
        if bool_modifier {
            if !matches!(op, BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Ge | BinOp::Lt | BinOp::Le) {
                return self.syntax("syntax error: bool modifier can only be used on comparison operators");
            }
            self.pos += 1;
        }
        let mut matching = VectorMatching::default();
        for (word, on) in [("on", true), ("ignoring", false)] {
            if self.is_word(word) {
                self.pos += 1;
                matching.on = Some((on, self.label_list()?));
            }
        }
        for (word, left) in [("group_left", true), ("group_right", false)] {
            if self.is_word(word) {
                self.pos += 1;
                let labels = if self.is_sym("(") { self.label_list()? } else { Vec::new() };
                matching.group = Some((left, labels));
            }
        }
        let rhs = if op == BinOp::Pow { self.expr(BIN_LEVELS.len())? } else { self.expr(rhs_level)? };
        let (Expr::Metric(lhs), Expr::Metric(rhs)) = (lhs, rhs) else {
            return self.syntax("syntax error: unexpected binary operator between log queries");
        };
        if matches!(op, BinOp::And | BinOp::Or | BinOp::Unless)
            && (matches!(lhs, MetricQuery::Literal(_)) || matches!(rhs, MetricQuery::Literal(_)))
        {
            return Err(invalid(format!("unexpected literal for right leg of logical/set binary operation ({}): {}", op_name(op), "scalar")));
        }
        Ok(Expr::Metric(MetricQuery::Binary { op, bool_modifier, matching, lhs: Box::new(lhs), rhs: Box::new(rhs) }))
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        self.deeper()?;
        let result = self.unary_inner();
        self.depth -= 1;
        result
    }

    fn unary_inner(&mut self) -> Result<Expr, ParseError> {
        if self.is_sym("-") && matches!(self.peek_at(1), Some(Tok::Num(_))) {
            return Ok(Expr::Metric(MetricQuery::Literal(self.number()?)));
        }
        if self.eat_sym("+") {
            return self.unary();
        }
        match self.peek().cloned() {
            Some(Tok::Num(n)) => {
                self.pos += 1;
                Ok(Expr::Metric(MetricQuery::Literal(n)))
            }
            Some(Tok::Sym("(")) => {
                self.pos += 1;
                let inner = self.expr(0)?;
                self.expect_sym(")")?;
                Ok(inner)
            }
            Some(Tok::Sym("{")) => {
                let q = self.log_query()?;
                Ok(Expr::Log(q))
            }
            Some(Tok::Ident(name)) => Ok(Expr::Metric(self.function(&name)?)),
            _ => self.syntax("syntax error: expected a selector, a function or a number"),
        }
    }

    fn function(&mut self, name: &str) -> Result<MetricQuery, ParseError> {
        self.pos += 1;
        if let Some(&(_, func)) = RANGE_FNS.iter().find(|(n, _)| *n == name) {
            self.expect_sym("(")?;
            let param = if func == RangeFn::QuantileOverTime { Some(self.param()?) } else { None };
            let (query, unwrap, range, offset) = self.log_range()?;
            self.expect_sym(")")?;
            let grouping = self.grouping()?;
            let q = MetricQuery::Range { func, param, query, unwrap, range, offset, grouping };
            validate_range(&q)?;
            return Ok(q);
        }
        if let Some(&(_, func)) = VECTOR_FNS.iter().find(|(n, _)| *n == name) {
            let mut grouping = self.grouping()?;
            self.expect_sym("(")?;
            let param = if matches!(func, VectorFn::Topk | VectorFn::Bottomk) {
                let k = self.param()?;
                if k.fract() != 0.0 || k < 1.0 {
                    return Err(invalid(format!("invalid parameter {name}({k},")));
                }
                Some(k)
            } else {
                None
            };
            let Expr::Metric(inner) = self.expr(0)? else {
                return self.syntax(format!("syntax error: {name} needs a metric query, not a log query"));
            };
            self.expect_sym(")")?;
            if grouping.is_none() {
                grouping = self.grouping()?;
            }
            if matches!(func, VectorFn::Sort | VectorFn::SortDesc) && grouping.is_some() {
                return Err(invalid(format!("grouping not allowed for {name} aggregation")));
            }
            return Ok(MetricQuery::Vector { func, grouping, param, inner: Box::new(inner) });
        }
        match name {
            "vector" => {
                self.expect_sym("(")?;
                let n = self.number()?;
                self.expect_sym(")")?;
                Ok(MetricQuery::Vector1(n))
            }
            "label_replace" => {
                self.expect_sym("(")?;
                let Expr::Metric(inner) = self.expr(0)? else {
                    return self.syntax("syntax error: label_replace needs a metric query");
                };
                let mut args = Vec::new();
                for _ in 0..4 {
                    self.expect_sym(",")?;
                    args.push(self.string()?);
                }
                self.expect_sym(")")?;
                let regex = compile(&args[3], true).map_err(|e| invalid(format!("invalid regex in label_replace: {e}")))?;
                Ok(MetricQuery::LabelReplace {
                    inner: Box::new(inner),
                    dst: args[0].clone(),
                    replacement: args[1].clone(),
                    src: args[2].clone(),
                    regex,
                })
            }
            _ => {
                self.pos -= 1;
                self.syntax(format!("syntax error: unexpected IDENTIFIER {name:?}"))
            }
        }
    }

    fn param(&mut self) -> Result<f64, ParseError> {
        let n = self.number()?;
        self.expect_sym(",")?;
        Ok(n)
    }

    /// `{…} | … [5m] offset 1h`, `({…} | …)[5m]`, `{…}[5m] | …`, with an optional unwrap.
    fn log_range(&mut self) -> Result<(LogQuery, Option<Unwrap>, Duration, Option<Duration>), ParseError> {
        self.deeper()?;
        let (query, mut unwrap, range, offset) = if self.is_sym("(") {
            self.pos += 1;
            let inner = if self.is_sym("(") {
                let (q, u, r, o) = self.log_range()?;
                self.expect_sym(")")?;
                self.depth -= 1;
                return Ok((q, u, r, o));
            } else {
                let q = self.log_query()?;
                let u = self.unwrap()?;
                self.expect_sym(")")?;
                (q, u)
            };
            let (range, offset) = self.range()?;
            (inner.0, inner.1, range, offset)
        } else {
            let mut q = self.log_query()?;
            let mut u = self.unwrap()?;
            let (range, offset) = self.range()?;
            // Loki also accepts the pipeline after the range.
            if u.is_none() && (self.is_sym("|") || self.line_op().is_some()) {
                self.stages(&mut q.stages)?;
                u = self.unwrap()?;
            }
            (q, u, range, offset)
        };
        if let Some(u) = &mut unwrap {
            u.post_filters.shrink_to_fit();
        }
        self.depth -= 1;
        Ok((query, unwrap, range, offset))
    }

    fn range(&mut self) -> Result<(Duration, Option<Duration>), ParseError> {
        self.expect_sym("[")?;
        let range = self.duration()?;
        self.expect_sym("]")?;
        let offset = if self.is_word("offset") {
            self.pos += 1;
            Some(self.duration()?)
        } else {
            None
        };
        Ok((range, offset))
    }

    fn duration(&mut self) -> Result<Duration, ParseError> {
        match self.peek() {
            Some(Tok::Dur(secs, _)) if *secs > 0.0 && secs.is_finite() && *secs < 1e12 => {
                let d = Duration::from_secs_f64(*secs);
                self.pos += 1;
                Ok(d)
            }
            _ => self.syntax("syntax error: expected a duration like 5m"),
        }
    }

    /// `| unwrap label`, `| unwrap duration(label)`, then label filters.
    fn unwrap(&mut self) -> Result<Option<Unwrap>, ParseError> {
        if !(self.is_sym("|") && matches!(self.peek_at(1), Some(Tok::Ident(w)) if w == "unwrap")) {
            return Ok(None);
        }
        self.pos += 2;
        let conversion = match self.peek() {
            Some(Tok::Ident(w)) if matches!(self.peek_at(1), Some(Tok::Sym("("))) => {
                let c = match w.as_str() {
                    "duration" | "duration_seconds" => Conversion::Duration,
                    "bytes" => Conversion::Bytes,
                    other => return self.syntax(format!("syntax error: unknown unwrap conversion {other:?}")),
                };
                self.pos += 2;
                c
            }
            _ => Conversion::Plain,
        };
        let label = self.ident()?;
        if conversion != Conversion::Plain {
            self.expect_sym(")")?;
        }
        let mut post_filters = Vec::new();
        while self.is_sym("|") && !matches!(self.peek_at(1), Some(Tok::Ident(w)) if is_stage_word(w)) {
            self.pos += 1;
            post_filters.push(self.label_or()?);
        }
        Ok(Some(Unwrap { label, conversion, post_filters }))
    }

    fn grouping(&mut self) -> Result<Option<Grouping>, ParseError> {
        let by = match self.peek() {
            Some(Tok::Ident(w)) if w == "by" => true,
            Some(Tok::Ident(w)) if w == "without" => false,
            _ => return Ok(None),
        };
        self.pos += 1;
        let labels = self.label_list()?;
        Ok(Some(if by { Grouping::By(labels) } else { Grouping::Without(labels) }))
    }

    fn label_list(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect_sym("(")?;
        let mut labels = Vec::new();
        while !self.is_sym(")") {
            labels.push(self.ident()?);
            if !self.is_sym(")") {
                self.expect_sym(",")?;
            }
        }
        self.expect_sym(")")?;
        Ok(labels)
    }

    fn log_query(&mut self) -> Result<LogQuery, ParseError> {
        self.expect_sym("{")?;
        let mut selector = Vec::new();
        while !self.is_sym("}") {
            let label = self.ident()?;
            let op = self.match_op()?;
            let value = self.string()?;
            selector.push(self.matcher(label, op, value)?);
            if !self.is_sym("}") {
                self.expect_sym(",")?;
            }
        }
        if selector.is_empty() {
            return self.syntax("syntax error: unexpected }, expecting IDENTIFIER");
        }
        self.expect_sym("}")?;
        let mut stages = Vec::new();
        self.stages(&mut stages)?;
        Ok(LogQuery { selector, stages })
    }

    fn line_op(&self) -> Option<LineOp> {
        match self.peek() {
            Some(Tok::Sym("|=")) => Some(LineOp::Contains),
            Some(Tok::Sym("!=")) => Some(LineOp::NotContains),
            Some(Tok::Sym("|~")) => Some(LineOp::Match),
            Some(Tok::Sym("!~")) => Some(LineOp::NotMatch),
            Some(Tok::Sym("|>")) => Some(LineOp::Pattern),
            Some(Tok::Sym("!>")) => Some(LineOp::NotPattern),
            _ => None,
        }
    }

    fn stages(&mut self, stages: &mut Vec<Stage>) -> Result<(), ParseError> {
        loop {
            if let Some(op) = self.line_op() {
                self.pos += 1;
                let mut values = vec![self.line_value(op)?];
                while self.is_word("or") && matches!(self.peek_at(1), Some(Tok::Str(_))) {
                    self.pos += 1;
                    values.push(self.line_value(op)?);
                }
                stages.push(Stage::Line(LineFilter { op, values }));
            } else if self.is_sym("|") && !matches!(self.peek_at(1), Some(Tok::Ident(w)) if w == "unwrap") {
                self.pos += 1;
                stages.push(self.stage()?);
            } else {
                return Ok(());
            }
        }
    }

    fn line_value(&mut self, op: LineOp) -> Result<LineValue, ParseError> {
        if self.is_word("ip") && self.peek_at(1) == Some(&Tok::Sym("(")) {
            let at = self.at();
            if !matches!(op, LineOp::Contains | LineOp::NotContains) {
                return Err(ParseError::Syntax { at, message: "syntax error: ip() line filters take only |= and !=".into() });
            }
            self.pos += 1;
            self.expect_sym("(")?;
            let text = self.string()?;
            self.expect_sym(")")?;
            let Some(ip) = crate::eval::IpSpec::parse(&text) else {
                return Err(ParseError::Syntax { at, message: format!("invalid ip pattern: {text:?}") });
            };
            return Ok(LineValue { text, regex: None, pattern: None, ip: Some(ip) });
        }
        let text = self.string()?;
        let at = self.at();
        let regex = match op {
            LineOp::Match | LineOp::NotMatch => Some(compile(&text, false).map_err(|m| ParseError::Syntax { at, message: m })?),
            _ => None,
        };
        let pattern = match op {
            LineOp::Pattern | LineOp::NotPattern => Some(Pattern::new(&text, false).map_err(|m| ParseError::Syntax { at, message: m })?),
            _ => None,
        };
        Ok(LineValue { text, regex, pattern, ip: None })
    }

    fn stage(&mut self) -> Result<Stage, ParseError> {
        let word = match self.peek() {
            Some(Tok::Ident(w)) => w.clone(),
            Some(Tok::Sym("(")) => return Ok(Stage::Label(self.label_or()?)),
            _ => return self.syntax("syntax error: expected a parser, filter or formatter after `|`"),
        };
        // A stage word followed by a comparison is a label of that name.
        if matches!(self.peek_at(1), Some(Tok::Sym("=" | "!=" | "=~" | "!~" | ">" | ">=" | "<" | "<=" | "=="))) {
            return Ok(Stage::Label(self.label_or()?));
        }
        let at = self.at();
        let bad = |m: String| ParseError::Syntax { at, message: m };
        match word.as_str() {
            "json" => {
                self.pos += 1;
                Ok(Stage::Json(self.params(true)?))
            }
            "logfmt" => {
                self.pos += 1;
                let (mut strict, mut keep_empty) = (false, false);
                while self.is_sym("-") && self.peek_at(1) == Some(&Tok::Sym("-")) {
                    self.pos += 2;
                    match self.next() {
                        Some(Tok::Ident(f)) if f == "strict" => strict = true,
                        Some(Tok::Ident(f)) if f == "keep" && self.eat_sym("-") && self.is_word("empty") => {
                            self.pos += 1;
                            keep_empty = true;
                        }
                        _ => return Err(bad("syntax error: unknown logfmt flag".into())),
                    }
                }
                Ok(Stage::Logfmt { strict, keep_empty, params: self.params(false)? })
            }
            "regexp" => {
                self.pos += 1;
                let text = self.string()?;
                let re = compile(&text, false).map_err(bad)?;
                if re.regex.capture_names().flatten().next().is_none() {
                    return Err(bad("at least one named capture must be supported".into()));
                }
                Ok(Stage::Regexp(re))
            }
            "pattern" => {
                self.pos += 1;
                Ok(Stage::Pattern(Pattern::new(&self.string()?, true).map_err(bad)?))
            }
            "unpack" => {
                self.pos += 1;
                Ok(Stage::Unpack)
            }
            "decolorize" => {
                self.pos += 1;
                Ok(Stage::Decolorize)
            }
            "line_format" => {
                self.pos += 1;
                Ok(Stage::LineFormat(Template::new(&self.string()?).map_err(bad)?))
            }
            "label_format" => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    let dst = self.ident()?;
                    self.expect_sym("=")?;
                    items.push(match self.peek() {
                        Some(Tok::Str(_)) => LabelFormat::Template { dst, template: Template::new(&self.string()?).map_err(bad)? },
                        _ => LabelFormat::Rename { dst, src: self.ident()? },
                    });
                    if !self.eat_sym(",") {
                        break;
                    }
                }
                Ok(Stage::LabelFormat(items))
            }
            "drop" | "keep" => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    let name = self.ident()?;
                    items.push(match self.match_op_opt() {
                        Some(op) => {
                            self.pos += 1;
                            let value = self.string()?;
                            LabelName::Matcher(self.matcher(name, op, value)?)
                        }
                        None => LabelName::Name(name),
                    });
                    if !self.eat_sym(",") {
                        break;
                    }
                }
                Ok(if word == "drop" { Stage::Drop(items) } else { Stage::Keep(items) })
            }
            "unwrap" => self.syntax("syntax error: unwrap is only allowed in a range aggregation"),
            "distinct" => {
                self.pos += 1;
                let mut names = vec![self.ident()?];
                while self.eat_sym(",") {
                    names.push(self.ident()?);
                }
                Ok(Stage::Distinct(names, Seen::default()))
            }
            _ => Ok(Stage::Label(self.label_or()?)),
        }
    }

    /// `a, b="c.d"` extraction parameters of `| json` / `| logfmt`.
    fn params(&mut self, paths: bool) -> Result<Vec<(String, String)>, ParseError> {
        let mut params = Vec::new();
        while matches!(self.peek(), Some(Tok::Ident(_))) && !self.is_word("or") && !self.is_word("offset") {
            let name = self.ident()?;
            let expr = if self.eat_sym("=") { self.string()? } else { name.clone() };
            if paths && crate::json::parse_path(&expr).is_none() {
                return self.syntax(format!("syntax error: invalid JSON expression {expr:?}"));
            }
            params.push((name, expr));
            if !self.eat_sym(",") {
                break;
            }
        }
        Ok(params)
    }

    /// `a or b`: `or` binds loosest of the label-filter operators.
    fn label_or(&mut self) -> Result<LabelFilter, ParseError> {
        self.deeper()?;
        let mut left = self.label_and()?;
        while self.is_word("or") {
            self.pos += 1;
            left = LabelFilter::Or(Box::new(left), Box::new(self.label_and()?));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn label_and(&mut self) -> Result<LabelFilter, ParseError> {
        let mut left = self.label_unit()?;
        while self.is_word("and") {
            self.pos += 1;
            left = LabelFilter::And(Box::new(left), Box::new(self.label_unit()?));
        }
        Ok(left)
    }

    /// A primary, then `,` (or a juxtaposed filter) whose right side runs to
    /// the end of the expression, as Loki's grammar resolves it:
    /// `a, b or c` is `a and (b or c)`; `a and b or c` is `(a and b) or c`.
    fn label_unit(&mut self) -> Result<LabelFilter, ParseError> {
        let left = self.label_primary()?;
        let juxtaposed = matches!(self.peek(), Some(Tok::Ident(w)) if !matches!(w.as_str(), "and" | "or" | "unless" | "offset" | "by" | "without" | "on" | "ignoring" | "bool"))
            && matches!(self.peek_at(1), Some(Tok::Sym("=" | "!=" | "=~" | "!~" | ">" | ">=" | "<" | "<=" | "==")));
        if self.eat_sym(",") || juxtaposed {
            return Ok(LabelFilter::And(Box::new(left), Box::new(self.label_or()?)));
        }
        Ok(left)
    }

    fn label_primary(&mut self) -> Result<LabelFilter, ParseError> {
        if self.eat_sym("(") {
            let inner = self.label_or()?;
            self.expect_sym(")")?;
            return Ok(inner);
        }
        let label = self.ident()?;
        let op = match self.next() {
            Some(Tok::Sym(s)) => s,
            _ => {
                self.pos -= 1;
                return self.syntax(format!("syntax error: expected a comparison after `{label}`"));
            }
        };
        let num_op = match op {
            "=" | "==" => Some(NumOp::Eq),
            "!=" => Some(NumOp::Ne),
            ">" => Some(NumOp::Gt),
            ">=" => Some(NumOp::Ge),
            "<" => Some(NumOp::Lt),
            "<=" => Some(NumOp::Le),
            _ => None,
        };
        let neg = self.eat_sym("-");
        let sign = if neg { -1.0 } else { 1.0 };
        let minus = if neg { "-" } else { "" };
        let (value, text, unit) = match self.next() {
            Some(Tok::Str(value)) if !neg => {
                let op = match op {
                    "=" => MatchOp::Eq,
                    "!=" => MatchOp::Ne,
                    "=~" => MatchOp::Re,
                    "!~" => MatchOp::NotRe,
                    other => {
                        self.pos -= 1;
                        return self.syntax(format!("syntax error: `{other}` cannot compare with a string"));
                    }
                };
                return Ok(LabelFilter::Str(self.matcher(label, op, value)?));
            }
            Some(Tok::Ident(w)) if w == "ip" && !neg && (op == "=" || op == "!=") => {
                self.expect_sym("(")?;
                let spec = self.string()?;
                self.expect_sym(")")?;
                if crate::eval::IpSpec::parse(&spec).is_none() {
                    return Err(invalid(format!("invalid ip filter {spec:?}")));
                }
                return Ok(LabelFilter::Ip { label, equal: op == "=", spec });
            }
            Some(Tok::Num(n)) => (sign * n, None, Unit::Number),
            Some(Tok::Dur(d, t)) => (sign * d, Some(format!("{minus}{t}")), Unit::Duration),
            Some(Tok::Bytes(b, t)) => (sign * b, Some(format!("{minus}{t}")), Unit::Bytes),
            _ => {
                self.pos -= 1;
                return self.syntax("syntax error: expected a string, a number, a duration or a byte size");
            }
        };
        let Some(op) = num_op else {
            return self.syntax(format!("syntax error: `{op}` cannot compare with a number"));
        };
        let text = text.unwrap_or_else(|| fmt_f64(value));
        Ok(LabelFilter::Num { label, op, value, text, unit })
    }

    fn match_op_opt(&self) -> Option<MatchOp> {
        match self.peek() {
            Some(Tok::Sym("=")) => Some(MatchOp::Eq),
            Some(Tok::Sym("!=")) => Some(MatchOp::Ne),
            Some(Tok::Sym("=~")) => Some(MatchOp::Re),
            Some(Tok::Sym("!~")) => Some(MatchOp::NotRe),
            _ => None,
        }
    }

    fn match_op(&mut self) -> Result<MatchOp, ParseError> {
        match self.match_op_opt() {
            Some(op) => {
                self.pos += 1;
                Ok(op)
            }
            None => self.syntax("syntax error: expected =, !=, =~ or !~"),
        }
    }

    fn matcher(&self, label: String, op: MatchOp, value: String) -> Result<Matcher, ParseError> {
        let regex = match op {
            MatchOp::Re | MatchOp::NotRe => Some(compile(&value, true).map_err(|m| ParseError::Syntax { at: self.at(), message: m })?),
            _ => None,
        };
        Ok(Matcher { label, op, value, regex })
    }
}

fn is_stage_word(w: &str) -> bool {
    matches!(w, "json" | "logfmt" | "regexp" | "pattern" | "unpack" | "line_format" | "label_format" | "drop" | "keep" | "decolorize" | "unwrap" | "distinct")
}

pub(crate) fn op_name(op: BinOp) -> &'static str {
    BIN_LEVELS.iter().flat_map(|l| l.iter()).find(|(_, o)| *o == op).map_or("^", |(n, _)| n)
}

/// A number as LogQL text that parses back to the same `f64`.
pub(crate) fn fmt_f64(v: f64) -> String {
    format!("{v:?}")
}

/// Loki's rules for range aggregations, with its messages.
fn validate_range(q: &MetricQuery) -> Result<(), ParseError> {
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
    let toks = lex(text)?;
    // Bracket nesting beyond the budget is refused before any recursion.
    let mut nesting = 0usize;
    for (_, t) in &toks {
        match t {
            Tok::Sym("(" | "{" | "[") => {
                nesting += 1;
                if nesting > MAX_DEPTH {
                    return Err(ParseError::TooDeep);
                }
            }
            Tok::Sym(")" | "}" | "]") => nesting = nesting.saturating_sub(1),
            _ => {}
        }
    }
    // The descent runs on a stack of its own: a nesting level costs ~6 KB
    // of stack in a release build and ~30 KB in a debug one, so the depth
    // budget must not depend on the caller's stack (a tokio worker or a
    // test thread has 2 MB). Only the pages used are ever committed.
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("logql-parse".into())
            .stack_size(PARSE_STACK)
            .spawn_scoped(scope, || parse_tokens(text, toks))
            .map_err(|e| ParseError::Unsupported(format!("cannot start the parser thread: {e}")))?
            .join()
            .unwrap_or_else(|_| Err(ParseError::Unsupported("the parser panicked".into())))
    })
}

/// The parser thread's stack: [`MAX_DEPTH`] levels of a debug build, twice over.
const PARSE_STACK: usize = 2 * MAX_DEPTH * 32 * 1024;

fn parse_tokens(text: &str, toks: Vec<(usize, Tok)>) -> Result<Query, ParseError> {
    let mut p = Parser { toks, pos: 0, end: text.len(), depth: 0 };
    let q = match p.expr(0)? {
        Expr::Log(l) => Query::Log(l),
        Expr::Metric(m) => Query::Metric(m),
    };
    if p.pos < p.toks.len() {
        if p.is_sym("|") && matches!(p.peek_at(1), Some(Tok::Ident(w)) if w == "unwrap") {
            return p.syntax("syntax error: unwrap is only allowed in a range aggregation");
        }
        if p.is_sym("[") {
            return p.syntax("syntax error: a range like [5m] needs a range aggregation around it, e.g. count_over_time(…[5m])");
        }
        return p.syntax("syntax error: unexpected text after the query");
    }
    validate_selectors(&q)?;
    Ok(q)
}
