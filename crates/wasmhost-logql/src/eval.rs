//! Evaluating a query over JSON lines.
//!
//! Stream labels are the line's own top-level fields (strings, numbers and
//! booleans as text). `| json` adds every field, nested ones flattened with
//! `_` and names cleaned to `[A-Za-z0-9_]`, or sets `__error__` to
//! `JSONParserErr` on a line that is not a JSON object. A missing label
//! equals `""`, as in Loki.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::ast::*;

/// Labels of one line.
pub type Labels = BTreeMap<String, String>;

/// Where label values come from: a parsed line's labels, or a log record's
/// own fields, so routes and queries share one matcher.
pub trait LabelSource {
    /// The value of `name`, or `None` when the line has no such label.
    fn label(&self, name: &str) -> Option<std::borrow::Cow<'_, str>>;
}

impl LabelSource for Labels {
    fn label(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        self.get(name).map(|v| std::borrow::Cow::Borrowed(v.as_str()))
    }
}

impl Matcher {
    /// Whether `labels` satisfy this matcher.
    pub fn matches(&self, labels: &(impl LabelSource + ?Sized)) -> bool {
        let value = labels.label(&self.label);
        let value = value.as_deref().unwrap_or("");
        match self.op {
            MatchOp::Eq => value == self.value,
            MatchOp::Ne => value != self.value,
            MatchOp::Re => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::NotRe => !self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }
}

impl LabelFilter {
    /// Whether `labels` pass this filter.
    pub fn matches(&self, labels: &(impl LabelSource + ?Sized)) -> bool {
        match self {
            LabelFilter::Str(m) => m.matches(labels),
            LabelFilter::Num { label, op, value } => {
                // A value that is not a number does not pass a numeric filter.
                let Some(v) = labels.label(label).and_then(|v| v.trim().parse::<f64>().ok()) else { return false };
                match op {
                    NumOp::Eq => v == *value,
                    NumOp::Ne => v != *value,
                    NumOp::Gt => v > *value,
                    NumOp::Ge => v >= *value,
                    NumOp::Lt => v < *value,
                    NumOp::Le => v <= *value,
                }
            }
            LabelFilter::And(a, b) => a.matches(labels) && b.matches(labels),
            LabelFilter::Or(a, b) => a.matches(labels) || b.matches(labels),
        }
    }
}

/// A line that passed a log query: its (possibly reformatted) text and labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Passed {
    /// The line, after any `line_format`.
    pub text: String,
    /// Its labels after the pipeline.
    pub labels: Labels,
    /// Its `ts` field in nanoseconds since the epoch, if it has one.
    pub ts: Option<i128>,
}

impl LogQuery {
    /// Runs one line through the selector and the pipeline.
    ///
    /// ```
    /// let q = match wasmhost_logql::parse(r#"{lang="go"} |= "panic""#).unwrap() {
    ///     wasmhost_logql::Query::Log(q) => q,
    ///     _ => unreachable!(),
    /// };
    /// assert!(q.run(r#"{"lang":"go","msg":"panic: boom"}"#).is_some());
    /// assert!(q.run(r#"{"lang":"c","msg":"panic: boom"}"#).is_none());
    /// ```
    pub fn run(&self, line: &str) -> Option<Passed> {
        let parsed: Option<serde_json::Map<String, Value>> = serde_json::from_str(line).ok();
        let mut labels = Labels::new();
        if let Some(fields) = &parsed {
            for (k, v) in fields {
                if let Some(text) = scalar(v) {
                    labels.insert(k.clone(), text);
                }
            }
        }
        if !self.selector.iter().all(|m| m.matches(&labels)) {
            return None;
        }
        let mut text = line.to_owned();
        for stage in &self.stages {
            match stage {
                Stage::Line(f) => {
                    if !f.passes(&text) {
                        return None;
                    }
                }
                Stage::Json => match &parsed {
                    Some(fields) => flatten("", fields, &mut labels),
                    None => {
                        labels.insert("__error__".into(), "JSONParserErr".into());
                    }
                },
                Stage::Label(f) => {
                    if !f.matches(&labels) {
                        return None;
                    }
                }
                Stage::LineFormat(template) => text = render(template, &labels),
            }
        }
        let ts = parsed.as_ref().and_then(|f| f.get("ts")).and_then(Value::as_str).and_then(parse_rfc3339);
        Some(Passed { text, labels, ts })
    }
}

impl LineFilter {
    /// Whether `line` passes this filter.
    pub fn passes(&self, line: &str) -> bool {
        let hit = match &self.regex {
            Some(r) => r.is_match(line),
            None => line.contains(&self.text),
        };
        hit == self.keep_matching
    }
}

impl LogQuery {
    /// For routing: whether a record passes this query without parsing a
    /// line — labels come from `labels`, line filters see `line`. Only
    /// selectors, line filters and label filters may be used (checked by
    /// [`LogQuery::check_routable`]).
    pub fn matches_record(&self, labels: &(impl LabelSource + ?Sized), line: &str) -> bool {
        self.selector.iter().all(|m| m.matches(labels))
            && self.stages.iter().all(|stage| match stage {
                Stage::Line(f) => f.passes(line),
                Stage::Label(f) => f.matches(labels),
                Stage::Json | Stage::LineFormat(_) => true,
            })
    }

    /// Routes filter a record's own fields: `| json` and `| line_format`
    /// have nothing to do there and are refused.
    pub fn check_routable(&self) -> Result<(), String> {
        match self.stages.iter().find(|s| matches!(s, Stage::Json | Stage::LineFormat(_))) {
            Some(Stage::Json) => Err("a route matches the line's own fields: `| json` is not needed (nor allowed)".into()),
            Some(_) => Err("a route cannot reformat lines: `| line_format` is not allowed".into()),
            None => Ok(()),
        }
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Loki's `| json`: nested keys joined with `_`, characters outside
/// `[A-Za-z0-9_]` replaced by `_`; arrays are skipped.
fn flatten(prefix: &str, fields: &serde_json::Map<String, Value>, labels: &mut Labels) {
    for (k, v) in fields {
        let clean: String = k.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
        let key = if prefix.is_empty() { clean } else { format!("{prefix}_{clean}") };
        match v {
            Value::Object(inner) => flatten(&key, inner, labels),
            Value::Array(_) => {}
            Value::Null => {
                labels.insert(key, String::new());
            }
            other => {
                if let Some(text) = scalar(other) {
                    labels.insert(key, text);
                }
            }
        }
    }
}

fn render(template: &str, labels: &Labels) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find("}}") else { break };
        let name = rest[open + 2..open + close].trim().trim_start_matches('.');
        out.push_str(labels.get(name).map(String::as_str).unwrap_or(""));
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    out
}

/// Nanoseconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
pub fn parse_rfc3339(ts: &str) -> Option<i128> {
    let b = ts.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b't' && b[10] != b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| ts.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, s) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut nanos: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &ts[start..i];
        let padded = format!("{:0<9}", &digits[..digits.len().min(9)]);
        nanos = padded.parse().ok()?;
    }
    let offset_secs = match &ts[i..] {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) => {
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            sign * (tz[1..3].parse::<i64>().ok()? * 3600 + tz[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + s - offset_secs;
    Some(i128::from(secs) * 1_000_000_000 + i128::from(nanos))
}

/// One series of a metric result.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Its labels.
    pub labels: Labels,
    /// Its value.
    pub value: f64,
}

impl MetricQuery {
    /// Evaluates over `lines` as an instant query at the newest `ts` among
    /// them (local files have no "now"): the range covers `(end - range, end]`.
    /// Lines without a `ts` count as at the end. Series come sorted by labels.
    pub fn evaluate<'a>(&self, lines: impl IntoIterator<Item = &'a str>) -> Vec<Sample> {
        let mut passed: Vec<Passed> = Vec::new();
        let query = self.log_query();
        for line in lines {
            if let Some(p) = query.run(line) {
                passed.push(p);
            }
        }
        let end = passed.iter().filter_map(|p| p.ts).max().unwrap_or(0);
        self.samples(&passed, end)
    }

    fn log_query(&self) -> &LogQuery {
        match self {
            MetricQuery::Range { query, .. } => query,
            MetricQuery::Vector { inner, .. } => inner.log_query(),
        }
    }

    fn samples(&self, passed: &[Passed], end: i128) -> Vec<Sample> {
        match self {
            MetricQuery::Range { func, range, grouping, .. } => {
                let start = end - range.as_nanos() as i128;
                let mut series: BTreeMap<Labels, f64> = BTreeMap::new();
                for p in passed {
                    let ts = p.ts.unwrap_or(end);
                    if ts <= start || ts > end {
                        continue;
                    }
                    let amount = match func {
                        RangeFn::CountOverTime | RangeFn::Rate => 1.0,
                        RangeFn::BytesOverTime | RangeFn::BytesRate => p.text.len() as f64,
                    };
                    *series.entry(group(&p.labels, grouping.as_ref())).or_default() += amount;
                }
                let per_second = matches!(func, RangeFn::Rate | RangeFn::BytesRate);
                series
                    .into_iter()
                    .map(|(labels, v)| Sample { labels, value: if per_second { v / range.as_secs_f64() } else { v } })
                    .collect()
            }
            MetricQuery::Vector { func, grouping, inner } => {
                let mut groups: BTreeMap<Labels, Vec<f64>> = BTreeMap::new();
                for s in inner.samples(passed, end) {
                    let key = match grouping {
                        Some(g) => group(&s.labels, Some(g)),
                        None => Labels::new(),
                    };
                    groups.entry(key).or_default().push(s.value);
                }
                groups
                    .into_iter()
                    .map(|(labels, vs)| {
                        let value = match func {
                            VectorFn::Sum => vs.iter().sum(),
                            VectorFn::Count => vs.len() as f64,
                            VectorFn::Min => vs.iter().cloned().fold(f64::INFINITY, f64::min),
                            VectorFn::Max => vs.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                            VectorFn::Avg => vs.iter().sum::<f64>() / vs.len() as f64,
                        };
                        Sample { labels, value }
                    })
                    .collect()
            }
        }
    }
}

fn group(labels: &Labels, grouping: Option<&Grouping>) -> Labels {
    match grouping {
        None => labels.clone(),
        Some(Grouping::By(keep)) => labels.iter().filter(|(k, _)| keep.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect(),
        Some(Grouping::Without(drop)) => labels.iter().filter(|(k, _)| !drop.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect(),
    }
}

/// `{a="1", b="2"} 3` as Loki's CLI prints a sample.
pub fn format_sample(sample: &Sample) -> String {
    let labels: Vec<String> = sample.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}} {}", labels.join(", "), sample.value)
}
