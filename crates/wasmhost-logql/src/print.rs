//! Printing an AST back as LogQL text that parses to the same AST (used in
//! hints, and checked by the property tests).

use std::fmt::{self, Display, Formatter};
use std::time::Duration;

use crate::ast::*;
use crate::parse::{fmt_f64, op_name};

/// A Go double-quoted string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns % 1_000_000_000 == 0 {
        let s = ns / 1_000_000_000;
        for (unit, secs) in [("d", 86_400), ("h", 3600), ("m", 60)] {
            if s % secs == 0 {
                return format!("{}{unit}", s / secs);
            }
        }
        format!("{s}s")
    } else if ns % 1_000_000 == 0 {
        format!("{}ms", ns / 1_000_000)
    } else {
        format!("{ns}ns")
    }
}

impl Display for Matcher {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            MatchOp::Eq => "=",
            MatchOp::Ne => "!=",
            MatchOp::Re => "=~",
            MatchOp::NotRe => "!~",
        };
        write!(f, "{}{op}{}", self.label, quote(&self.value))
    }
}

impl Display for LabelFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            LabelFilter::Str(m) => write!(f, "{m}"),
            LabelFilter::Num { label, op, text, .. } => {
                let op = match op {
                    NumOp::Eq => "==",
                    NumOp::Ne => "!=",
                    NumOp::Gt => ">",
                    NumOp::Ge => ">=",
                    NumOp::Lt => "<",
                    NumOp::Le => "<=",
                };
                write!(f, "{label} {op} {text}")
            }
            LabelFilter::Ip { label, equal, spec } => write!(f, "{label}{}ip({})", if *equal { "=" } else { "!=" }, quote(spec)),
            LabelFilter::And(a, b) => write!(f, "({a} and {b})"),
            LabelFilter::Or(a, b) => write!(f, "({a} or {b})"),
        }
    }
}

fn list<T: Display>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn params(p: &[(String, String)]) -> String {
    p.iter().map(|(k, v)| format!("{k}={}", quote(v))).collect::<Vec<_>>().join(", ")
}

impl Display for LabelName {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            LabelName::Name(n) => write!(f, "{n}"),
            LabelName::Matcher(m) => write!(f, "{m}"),
        }
    }
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Line(l) => {
                let op = match l.op {
                    LineOp::Contains => "|=",
                    LineOp::NotContains => "!=",
                    LineOp::Match => "|~",
                    LineOp::NotMatch => "!~",
                    LineOp::Pattern => "|>",
                    LineOp::NotPattern => "!>",
                };
                let values: Vec<String> =
                    l.values.iter().map(|v| if v.ip.is_some() { format!("ip({})", quote(&v.text)) } else { quote(&v.text) }).collect();
                write!(f, "{op} {}", values.join(" or "))
            }
            Stage::Json(p) if p.is_empty() => write!(f, "| json"),
            Stage::Json(p) => write!(f, "| json {}", params(p)),
            Stage::Logfmt { strict, keep_empty, params: p } => {
                write!(f, "| logfmt")?;
                if *strict {
                    write!(f, " --strict")?;
                }
                if *keep_empty {
                    write!(f, " --keep-empty")?;
                }
                if !p.is_empty() {
                    write!(f, " {}", params(p))?;
                }
                Ok(())
            }
            Stage::Regexp(re) => write!(f, "| regexp {}", quote(&re.source)),
            Stage::Pattern(p) => write!(f, "| pattern {}", quote(&p.source)),
            Stage::Unpack => write!(f, "| unpack"),
            Stage::Label(l) => write!(f, "| {l}"),
            Stage::LineFormat(t) => write!(f, "| line_format {}", quote(&t.source)),
            Stage::LabelFormat(items) => {
                let items: Vec<String> = items
                    .iter()
                    .map(|i| match i {
                        LabelFormat::Rename { dst, src } => format!("{dst}={src}"),
                        LabelFormat::Template { dst, template } => format!("{dst}={}", quote(&template.source)),
                    })
                    .collect();
                write!(f, "| label_format {}", items.join(", "))
            }
            Stage::Drop(items) => write!(f, "| drop {}", list(items)),
            Stage::Keep(items) => write!(f, "| keep {}", list(items)),
            Stage::Decolorize => write!(f, "| decolorize"),
            Stage::Distinct(names, _) => write!(f, "| distinct {}", names.join(", ")),
        }
    }
}


impl Display for LogQuery {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}", list(&self.selector))?;
        for s in &self.stages {
            write!(f, " {s}")?;
        }
        Ok(())
    }
}

impl Display for Grouping {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Grouping::By(l) => write!(f, "by ({})", l.join(", ")),
            Grouping::Without(l) => write!(f, "without ({})", l.join(", ")),
        }
    }
}

impl Display for MetricQuery {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            MetricQuery::Range { func, param, query, unwrap, range, offset, grouping } => {
                write!(f, "{}(", func.name())?;
                if let Some(p) = param {
                    write!(f, "{}, ", fmt_f64(*p))?;
                }
                write!(f, "{query}")?;
                if let Some(u) = unwrap {
                    match u.conversion {
                        Conversion::Plain => write!(f, " | unwrap {}", u.label)?,
                        Conversion::Duration => write!(f, " | unwrap duration({})", u.label)?,
                        Conversion::Bytes => write!(f, " | unwrap bytes({})", u.label)?,
                    }
                    for pf in &u.post_filters {
                        write!(f, " | {pf}")?;
                    }
                }
                let gap = if query.stages.is_empty() && unwrap.is_none() { "" } else { " " };
                write!(f, "{gap}[{}]", duration(*range))?;
                if let Some(o) = offset {
                    write!(f, " offset {}", duration(*o))?;
                }
                write!(f, ")")?;
                if let Some(g) = grouping {
                    write!(f, " {g}")?;
                }
                Ok(())
            }
            MetricQuery::Vector { func, grouping, param, inner } => {
                write!(f, "{}", func.name())?;
                if let Some(g) = grouping {
                    write!(f, " {g} ")?;
                }
                write!(f, "(")?;
                if let Some(p) = param {
                    write!(f, "{}, ", fmt_f64(*p))?;
                }
                write!(f, "{inner})")
            }
            MetricQuery::Binary { op, bool_modifier, matching, lhs, rhs } => {
                write!(f, "({lhs} {}", op_name(*op))?;
                if *bool_modifier {
                    write!(f, " bool")?;
                }
                if let Some((on, labels)) = &matching.on {
                    write!(f, " {} ({})", if *on { "on" } else { "ignoring" }, labels.join(", "))?;
                }
                if let Some((left, labels)) = &matching.group {
                    write!(f, " {} ({})", if *left { "group_left" } else { "group_right" }, labels.join(", "))?;
                }
                write!(f, " {rhs})")
            }
            MetricQuery::Literal(v) => write!(f, "{}", fmt_f64(*v)),
            MetricQuery::Vector1(v) => write!(f, "vector({})", fmt_f64(*v)),
            MetricQuery::LabelReplace { inner, dst, replacement, src, regex } => {
                write!(f, "label_replace({inner}, {}, {}, {}, {})", quote(dst), quote(replacement), quote(src), quote(&regex.source))
            }
        }
    }
}

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Query::Log(l) => write!(f, "{l}"),
            Query::Metric(m) => write!(f, "{m}"),
        }
    }
}
