//! Running log pipelines over lines, with Loki's data model: a line's
//! stream labels are only the configured low-cardinality set (taken from
//! the line's top-level JSON fields of those names); everything else is
//! reached through parsers (`| json`, `| logfmt`, …), exactly as in Loki.
//! Parser and filter errors flag the line with `__error__` and
//! `__error_details__` rather than dropping it, as Loki does.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::ast::*;
use crate::json::{self, JVal, Visit};

/// Labels of one line.
pub type Labels = BTreeMap<String, String>;

/// The label Loki flags errors with.
pub const ERROR_LABEL: &str = "__error__";
/// The label with the error's details.
pub const ERROR_DETAILS_LABEL: &str = "__error_details__";
/// The error a `line_format`/`label_format` template that fails to execute sets.
const TEMPLATE_ERROR: &str = "TemplateFormatErr";

/// Where label values come from: a parsed line's labels, or a log record's
/// own fields, so routes and queries share one matcher.
pub trait LabelSource {
    /// The value of `name`, or `None` when the line has no such label.
    fn label(&self, name: &str) -> Option<Cow<'_, str>>;
    /// Every label, for pipelines that rewrite labels.
    fn all_labels(&self) -> Labels;
}

impl LabelSource for Labels {
    fn label(&self, name: &str) -> Option<Cow<'_, str>> {
        self.get(name).map(|v| Cow::Borrowed(v.as_str()))
    }
    fn all_labels(&self) -> Labels {
        self.clone()
    }
}

impl Matcher {
    /// Whether a label's value (missing: `""`) satisfies this matcher.
    pub fn matches_value(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Eq => value == self.value,
            MatchOp::Ne => value != self.value,
            MatchOp::Re => self.regex.as_ref().is_some_and(|r| r.regex.is_match(value)),
            MatchOp::NotRe => !self.regex.as_ref().is_some_and(|r| r.regex.is_match(value)),
        }
    }

    /// Whether `labels` satisfy this matcher.
    pub fn matches(&self, labels: &(impl LabelSource + ?Sized)) -> bool {
        self.matches_value(labels.label(&self.label).as_deref().unwrap_or(""))
    }
}

/// An `ip("…")` filter's address, range or CIDR.
#[derive(Debug, Clone, PartialEq)]
pub enum IpSpec {
    /// One address.
    Addr(IpAddr),
    /// `a-b`, inclusive.
    Range(IpAddr, IpAddr),
    /// `addr/bits`.
    Cidr(IpAddr, u8),
}

impl IpSpec {
    /// Parses Loki's `ip()` argument.
    pub fn parse(spec: &str) -> Option<IpSpec> {
        let spec = spec.trim();
        if let Some((a, bits)) = spec.split_once('/') {
            let a: IpAddr = a.trim().parse().ok()?;
            let bits: u8 = bits.trim().parse().ok()?;
            let max = if a.is_ipv4() { 32 } else { 128 };
            return (bits <= max).then_some(IpSpec::Cidr(a, bits));
        }
        if let Some((a, b)) = spec.split_once('-') {
            let (a, b): (IpAddr, IpAddr) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            return (a.is_ipv4() == b.is_ipv4()).then_some(IpSpec::Range(a, b));
        }
        spec.parse().ok().map(IpSpec::Addr)
    }

    /// Loki's ip line filter: whether any address in `line` is in this
    /// spec. Candidates start where an address may (a digit with a `.`
    /// within the next three bytes; hex digits then `:`, or `::` and a hex
    /// digit) and run over the address characters; a candidate that is no
    /// address, or not in the spec, is skipped whole.
    pub fn in_line(&self, line: &str) -> bool {
        let b = line.as_bytes();
        let hex = |c: u8| c.is_ascii_hexdigit();
        let v4 = |c: &u8| c.is_ascii_digit() || *c == b'.';
        let v6 = |c: &u8| c.is_ascii_hexdigit() || *c == b':' || *c == b'.';
        let mut i = 0;
        while i < b.len() {
            let v4_hint = i + 3 < b.len() && b[i].is_ascii_digit() && b[i + 1..i + 4].contains(&b'.');
            let v6_hint = i + 4 < b.len()
                && ((b[i] == b':' && b[i + 1] == b':' && hex(b[i + 2])) || (1..5).any(|k| b[i..i + k].iter().all(|c| hex(*c)) && b[i + k] == b':'));
            if v4_hint || v6_hint {
                let len = if v4_hint { b[i..].iter().take_while(|c| v4(c)).count() } else { b[i..].iter().take_while(|c| v6(c)).count() };
                if line[i..i + len].parse::<IpAddr>().is_ok_and(|ip| self.contains(ip)) {
                    return true;
                }
                i += len;
            }
            i += 1;
        }
        false
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let bits = |ip: IpAddr| match ip {
            IpAddr::V4(v) => (u128::from(u32::from(v)), 32u32),
            IpAddr::V6(v) => (u128::from(v), 128u32),
        };
        match *self {
            IpSpec::Addr(a) => a == ip,
            IpSpec::Range(a, b) => a.is_ipv4() == ip.is_ipv4() && bits(a).0 <= bits(ip).0 && bits(ip).0 <= bits(b).0,
            IpSpec::Cidr(net, n) => {
                let ((net, width), (ip, iw)) = (bits(net), bits(ip));
                let shift = width - u32::from(n);
                width == iw && (shift >= 128 || net >> shift == ip >> shift)
            }
        }
    }
}

/// A line that passed a log query: its (possibly reformatted) text and labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Passed<'l> {
    /// The line, after any `line_format` (borrowed from the input when no
    /// stage rewrote it: most queries copy nothing).
    pub text: Cow<'l, str>,
    /// Its labels after the pipeline.
    pub labels: Labels,
    /// Its `ts` field in nanoseconds since the epoch, if it has one.
    pub ts: Option<i128>,
}

/// One label of a line in a pipeline.
#[derive(Debug)]
struct Label<'l> {
    key: Cow<'l, str>,
    /// `None`: a stream label a stage removed (its name still clashes
    /// with parsed labels, as in Loki's labels builder).
    value: Option<Cow<'l, str>>,
    /// A stream label: a parsed label of the same name gets `_extracted`.
    base: bool,
}

/// A line's labels while it goes through a pipeline, held as Loki's labels
/// builder holds them: the stream labels (the base) and what stages added
/// or removed. Borrowed from the line, the stream label set and the query
/// wherever possible, so most lines copy no label; few enough that a
/// linear search beats a map. [`Labels`] is built only for callers that
/// read the labels.
#[derive(Debug, Default)]
pub(crate) struct LineLabels<'l>(Vec<Label<'l>>);

impl<'l> LineLabels<'l> {
    /// Every label of `labels` as a stream label.
    fn from_base(labels: &'l Labels) -> LineLabels<'l> {
        LineLabels(labels.iter().map(|(k, v)| Label { key: Cow::Borrowed(k), value: Some(Cow::Borrowed(v)), base: true }).collect())
    }
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|l| l.key == name)?.value.as_deref()
    }
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
    fn is_base(&self, name: &str) -> bool {
        self.0.iter().any(|l| l.base && l.key == name)
    }
    fn set(&mut self, key: Cow<'l, str>, value: Cow<'l, str>, base: bool) {
        match self.0.iter_mut().find(|l| l.key == key) {
            Some(l) => l.value = Some(value),
            None => self.0.push(Label { key, value: Some(value), base }),
        }
    }
    fn insert(&mut self, key: Cow<'l, str>, value: Cow<'l, str>) {
        self.set(key, value, false);
    }
    fn remove(&mut self, name: &str) -> Option<Cow<'l, str>> {
        let i = self.0.iter().position(|l| l.key == name)?;
        if self.0[i].base {
            self.0[i].value.take()
        } else {
            self.0.swap_remove(i).value
        }
    }
    fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        for l in &mut self.0 {
            if l.value.as_deref().is_some_and(|v| !keep(&l.key, v)) {
                l.value = None;
            }
        }
        self.0.retain(|l| l.base || l.value.is_some());
    }
    fn to_map(&self) -> Labels {
        self.0.iter().filter_map(|l| Some((l.key.to_string(), l.value.as_deref()?.to_owned()))).collect()
    }
    /// The labels `keep` accepts, copied out.
    pub(crate) fn into_map_of(self, keep: impl Fn(&str) -> bool) -> Labels {
        self.0.into_iter().filter(|l| keep(&l.key)).filter_map(|l| Some((l.key.into_owned(), l.value?.into_owned()))).collect()
    }
}

impl LabelSource for LineLabels<'_> {
    fn label(&self, name: &str) -> Option<Cow<'_, str>> {
        self.get(name).map(Cow::Borrowed)
    }
    fn all_labels(&self) -> Labels {
        self.to_map()
    }
}

/// Labels a label filter can flag with an error.
trait FlagLabels: LabelSource {
    /// Sets `__error__` to `kind` and `__error_details__` to `details`.
    fn flag(&mut self, kind: &'static str, details: String);
}

impl FlagLabels for Labels {
    fn flag(&mut self, kind: &'static str, details: String) {
        self.insert(ERROR_LABEL.into(), kind.into());
        self.insert(ERROR_DETAILS_LABEL.into(), details);
    }
}

impl FlagLabels for LineLabels<'_> {
    fn flag(&mut self, kind: &'static str, details: String) {
        self.insert(Cow::Borrowed(ERROR_LABEL), Cow::Borrowed(kind));
        self.insert(Cow::Borrowed(ERROR_DETAILS_LABEL), Cow::Owned(details));
    }
}

/// The state of one line going through a pipeline.
struct LineState<'l> {
    text: Cow<'l, str>,
    labels: LineLabels<'l>,
    /// Labels parsers need to extract (after renaming); `None`: all.
    needed: Option<&'l [String]>,
    /// The line's `ts` text, read only if something needs the time.
    ts: Option<Cow<'l, str>>,
}

/// The name a parsed label gets: `<name>_extracted` when a stream label
/// has the name; `None` when nothing downstream reads it. With parser
/// hints the name is borrowed from them (every name there is one of them).
fn parsed_name<'l>(labels: &LineLabels<'l>, needed: Option<&'l [String]>, name: &str) -> Option<Cow<'l, str>> {
    let clash = labels.is_base(name);
    if let Some(needed) = needed {
        let wanted = |n: &&String| match n.strip_suffix("_extracted") {
            Some(stem) if clash => stem == name,
            _ => !clash && *n == name,
        };
        return needed.iter().find(wanted).map(|n| Cow::Borrowed(n.as_str()));
    }
    Some(Cow::Owned(if clash { format!("{name}_extracted") } else { name.to_owned() }))
}

impl<'l> LineState<'l> {
    /// The entry's time for templates (nanoseconds; 0 when the line has none).
    fn ts(&self) -> i128 {
        self.ts.as_deref().and_then(parse_rfc3339).unwrap_or(0)
    }
    fn has_error(&self) -> bool {
        self.labels.contains(ERROR_LABEL)
    }
    fn set_error(&mut self, kind: &'static str, details: String) {
        if !self.has_error() {
            self.labels.flag(kind, details);
        }
    }
    fn set_parsed(&mut self, name: &str, value: String) {
        if let Some(key) = parsed_name(&self.labels, self.needed, name) {
            self.labels.insert(key, Cow::Owned(value));
        }
    }
}

impl LogQuery {
    /// Runs one JSON line through the selector and the pipeline. Stream
    /// labels are the line's top-level fields named in `stream_labels`.
    ///
    /// ```
    /// let q = match wasmhost_logql::parse(r#"{lang="go"} |= "panic" | json"#).unwrap() {
    ///     wasmhost_logql::Query::Log(q) => q,
    ///     _ => unreachable!(),
    /// };
    /// let passed = q.run(r#"{"lang":"go","seq":3,"msg":"panic: boom"}"#, &["lang"]).unwrap();
    /// assert_eq!(passed.labels["lang"], "go");
    /// assert_eq!(passed.labels["lang_extracted"], "go");
    /// assert_eq!(passed.labels["seq"], "3");
    /// assert!(q.run(r#"{"lang":"c","msg":"panic: boom"}"#, &["lang"]).is_none());
    /// ```
    pub fn run<'l>(&self, line: &'l str, stream_labels: &'l [impl AsRef<str>]) -> Option<Passed<'l>> {
        self.run_with(line, stream_labels, None)
    }

    /// [`LogQuery::run`], extracting only the `needed` labels in parsers
    /// (as Loki's parser hints do) when the caller reads no others: see
    /// [`LogQuery::referenced_labels`].
    pub fn run_with<'l>(&self, line: &'l str, stream_labels: &'l [impl AsRef<str>], needed: Option<&'l [String]>) -> Option<Passed<'l>> {
        let (text, labels, ts) = self.run_line(line, stream_labels, needed)?;
        Some(Passed { text, labels: labels.into_map_of(|_| true), ts: ts.as_deref().and_then(parse_rfc3339) })
    }

    /// [`LogQuery::run_with`] for callers that print only the line (raw
    /// output): its text when it passes and its time is in `window`
    /// (`[from, to)`; `None`: any time, and the time is not even read).
    /// Nothing is copied for a line that passes unchanged.
    pub fn run_text<'l>(
        &self,
        line: &'l str,
        stream_labels: &'l [impl AsRef<str>],
        needed: Option<&'l [String]>,
        window: Option<(i128, i128)>,
    ) -> Option<Cow<'l, str>> {
        let (text, _, ts) = self.run_line(line, stream_labels, needed)?;
        match window {
            None => Some(text),
            Some((from, to)) => ts.as_deref().and_then(parse_rfc3339).filter(|t| from <= *t && *t < to).map(|_| text),
        }
    }

    /// The pipeline's answer for one line: its text, its labels, and the
    /// text of its `ts` (parsed only by callers that need the time).
    pub(crate) fn run_line<'l>(
        &self,
        line: &'l str,
        stream_labels: &'l [impl AsRef<str>],
        needed: Option<&'l [String]>,
    ) -> Option<(Cow<'l, str>, LineLabels<'l>, Option<Cow<'l, str>>)> {
        // Room for the stream labels and a few parsed ones: one allocation.
        let mut labels = LineLabels(Vec::with_capacity(stream_labels.len() + 4));
        let mut ts = None;
        // Only the stream labels' values and `ts` are read (index
        // `stream_labels.len()` stands for `ts`); the rest is skipped.
        // A key of no wanted length is passed over without a comparison.
        let lengths = stream_labels.iter().fold(1u64 << 2, |m, s| m | 1u64.checked_shl(s.as_ref().len() as u32).unwrap_or(0));
        let pick = |k: &str| {
            if k.len() < 64 && lengths & 1 << k.len() == 0 {
                return None;
            }
            stream_labels.iter().position(|s| s.as_ref() == k).or_else(|| (k == "ts").then_some(stream_labels.len()))
        };
        json::scan_top(line, pick, &mut |at, v| {
            let name = stream_labels.get(at).map_or("ts", |s| s.as_ref());
            if name == "ts" {
                if let JVal::Str(s) = &v {
                    ts = Some(s.clone());
                }
            }
            if let Some(text) = v.into_scalar_text().filter(|t| !t.is_empty()).filter(|_| at < stream_labels.len()) {
                labels.set(Cow::Borrowed(name), text, true);
            }
        });
        if !self.selector.iter().all(|m| m.matches(&labels)) {
            return None;
        }
        let mut state = LineState { text: Cow::Borrowed(line), labels, needed, ts };
        self.run_stages(&mut state)?;
        Some((state.text, state.labels, state.ts))
    }

    /// Whether lines must go through this query one at a time in input
    /// order: `| distinct` remembers earlier lines (Loki keeps the earliest).
    pub fn is_ordered(&self) -> bool {
        self.stages.iter().any(|s| matches!(s, Stage::Distinct(..)))
    }

    /// Every label name a stage reads (filters, formats, `drop`/`keep`):
    /// the labels parsers must extract when the caller reads no others;
    /// `None` when a template may read any label (`{{ . }}`, `range $`).
    pub fn referenced_labels(&self) -> Option<Vec<String>> {
        fn filter(f: &LabelFilter, out: &mut Vec<String>) {
            match f {
                LabelFilter::Str(m) => out.push(m.label.clone()),
                // Numeric and ip filters read `__error__` too: a flagged line passes them.
                LabelFilter::Num { label, .. } | LabelFilter::Ip { label, .. } => out.extend([label.clone(), ERROR_LABEL.to_owned()]),
                LabelFilter::And(a, b) | LabelFilter::Or(a, b) => {
                    filter(a, out);
                    filter(b, out);
                }
            }
        }
        let mut out = Vec::new();
        for stage in &self.stages {
            match stage {
                Stage::Label(f) => filter(f, &mut out),
                Stage::LineFormat(t) => out.extend(t.fields()?),
                Stage::LabelFormat(items) => {
                    for item in items {
                        match item {
                            LabelFormat::Rename { dst, src } => out.extend([dst.clone(), src.clone()]),
                            LabelFormat::Template { dst, template } => {
                                out.push(dst.clone());
                                out.extend(template.fields()?);
                            }
                        }
                    }
                }
                // `keep` decides which labels survive: every other one is dropped anyway.
                Stage::Drop(items) | Stage::Keep(items) => out.extend(items.iter().map(|i| match i {
                    LabelName::Name(n) => n.clone(),
                    LabelName::Matcher(m) => m.label.clone(),
                })),
                Stage::Distinct(names, _) => out.extend(names.iter().cloned()),
                Stage::Line(_) | Stage::Json(_) | Stage::Logfmt { .. } | Stage::Regexp(_) | Stage::Pattern(_) | Stage::Unpack | Stage::Decolorize => {}
            }
        }
        Some(out)
    }

    /// For routing: whether a record passes this query — labels come from
    /// `labels` (a record's own fields), line filters see `line`. Metric
    /// stages cannot appear here (a route is a log query).
    pub fn matches_record(&self, labels: &(impl LabelSource + ?Sized), line: &str) -> bool {
        if !self.selector.iter().all(|m| m.matches(labels)) {
            return false;
        }
        // Fast path: filters only, read in place.
        if self.stages.iter().all(|s| matches!(s, Stage::Line(_) | Stage::Label(LabelFilter::Str(_)))) {
            return self.stages.iter().all(|stage| match stage {
                Stage::Line(f) => f.passes(line),
                Stage::Label(LabelFilter::Str(m)) => m.matches(labels),
                _ => true,
            });
        }
        let all = labels.all_labels();
        let mut state = LineState { text: Cow::Borrowed(line), labels: LineLabels::from_base(&all), needed: None, ts: None };
        self.run_stages(&mut state).is_some()
    }

    fn run_stages<'l>(&self, st: &mut LineState<'l>) -> Option<()> {
        for stage in &self.stages {
            match stage {
                Stage::Line(f) => {
                    if !f.passes(&st.text) {
                        return None;
                    }
                }
                Stage::Json(params) if params.is_empty() => {
                    // Values borrow from the line unless a stage rewrote it.
                    let result = match &st.text {
                        Cow::Borrowed(text) => json_flat(*text, &mut st.labels, st.needed, |v| v),
                        Cow::Owned(text) => json_flat(text, &mut st.labels, st.needed, |v| Cow::Owned(v.into_owned())),
                    };
                    // Loki keeps what it extracted before an error, and flags the line.
                    if let Err(details) = result {
                        st.set_error("JSONParserErr", details.into());
                    }
                }
                Stage::Json(params) => match json::parse_object(&st.text) {
                    Ok(fields) => {
                        let mut found = Vec::new();
                        for (name, expr) in params {
                            if let Some(key) = parsed_name(&st.labels, st.needed, name) {
                                let v = json::parse_path(expr).and_then(|p| json::select(&fields, &p)).unwrap_or_default();
                                found.push((key, v));
                            }
                        }
                        for (k, v) in found {
                            st.labels.insert(k, Cow::Owned(v));
                        }
                    }
                    Err(details) => st.set_error("JSONParserErr", details.into()),
                },
                Stage::Logfmt { strict, keep_empty, params } => match logfmt(&st.text, *strict, *keep_empty) {
                    Ok(pairs) => {
                        if params.is_empty() {
                            for (k, v) in pairs {
                                let mut key = String::new();
                                json::sanitize_key(&k, true, &mut key);
                                st.set_parsed(&key, v);
                            }
                        } else {
                            for (name, key) in params {
                                let v = pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default();
                                st.set_parsed(name, v);
                            }
                        }
                    }
                    Err(details) => st.set_error("LogfmtParserErr", details),
                },
                Stage::Regexp(re) => {
                    if let Some(caps) = re.regex.captures(&st.text) {
                        let found: Vec<(String, String)> = re
                            .regex
                            .capture_names()
                            .flatten()
                            .filter_map(|n| caps.name(n).map(|m| (n.to_owned(), m.as_str().to_owned())))
                            .collect();
                        for (k, v) in found {
                            st.set_parsed(&k, v);
                        }
                    }
                }
                Stage::Pattern(p) => {
                    let found: Vec<(String, String)> = p.captures(&st.text).into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
                    for (k, v) in found {
                        st.set_parsed(&k, v);
                    }
                }
                Stage::Unpack => match json::parse_object(&st.text) {
                    Ok(fields) => {
                        let mut entry = None;
                        let mut found = Vec::new();
                        for (k, v) in &fields {
                            if let JVal::Str(s) = v {
                                if k == "_entry" {
                                    entry = Some(s.to_string());
                                } else {
                                    found.push((k.to_string(), s.to_string()));
                                }
                            }
                        }
                        for (k, v) in found {
                            st.set_parsed(&k, v);
                        }
                        if let Some(e) = entry {
                            st.text = Cow::Owned(e);
                        }
                    }
                    Err(details) => st.set_error("JSONParserErr", details.into()),
                },
                Stage::Label(f) => {
                    if !f.process_in(&mut st.labels) {
                        return None;
                    }
                }
                // A template that fails to execute leaves the line as it was and
                // flags it, as Loki does.
                Stage::LineFormat(t) => match t.render("line", &st.labels.to_map(), &st.text, st.ts()) {
                    Ok(text) => st.text = Cow::Owned(text),
                    Err(details) => st.set_error(TEMPLATE_ERROR, details),
                },
                Stage::LabelFormat(items) => {
                    // Loki's templates in one stage all read the labels as the
                    // stage's first template found them.
                    let mut data: Option<Labels> = None;
                    for item in items {
                        match item {
                            LabelFormat::Rename { dst, src } => {
                                if let Some(v) = st.labels.remove(src) {
                                    st.labels.insert(Cow::Owned(dst.clone()), v);
                                }
                            }
                            LabelFormat::Template { dst, template } => {
                                let data = data.get_or_insert_with(|| st.labels.to_map());
                                match template.render("label", data, &st.text, st.ts()) {
                                    Ok(v) => {
                                        st.labels.insert(Cow::Owned(dst.clone()), Cow::Owned(v));
                                    }
                                    Err(details) => st.set_error(TEMPLATE_ERROR, details),
                                }
                            }
                        }
                    }
                }
                Stage::Drop(items) => st.labels.retain(|k, v| !items.iter().any(|i| i.selects(k, v))),
                // Loki holds errors apart from the labels: `keep` leaves them (only `drop` removes them).
                Stage::Keep(items) => {
                    st.labels.retain(|k, v| k == ERROR_LABEL || k == ERROR_DETAILS_LABEL || items.iter().any(|i| i.selects(k, v)))
                }
                Stage::Decolorize => {
                    let text = decolorize(&st.text);
                    st.text = Cow::Owned(text);
                }
                Stage::Distinct(names, seen) => {
                    if !seen.first_time(names, &st.labels) {
                        return None;
                    }
                }
            }
        }
        Some(())
    }
}

/// Loki's `| json` without parameters over `text`, into `labels` (values
/// made to live as long as the labels by `keep`).
fn json_flat<'t, 'l>(
    text: &'t str,
    labels: &mut LineLabels<'l>,
    needed: Option<&'l [String]>,
    keep: impl Fn(Cow<'t, str>) -> Cow<'l, str>,
) -> Result<(), &'static str> {
    // With parser hints, reading stops once every needed label is in
    // (Loki short-circuits the same way).
    let wanted = needed.map(|n| n.iter().enumerate().filter(|(i, a)| !n[..*i].contains(a)).count());
    if wanted == Some(0) {
        // Nothing downstream reads a label: Loki does not parse.
        return Ok(());
    }
    // Which needed labels were found, by their first index in `needed`:
    // a bit set (a vector past 128 labels).
    let (mut found, mut found_past, mut distinct) = (0u128, Vec::new(), 0);
    json::visit_flat(text, &mut |k, v| {
        let (Some(key), Some(value)) = (parsed_name(labels, needed, k), v.into_scalar_text()) else { return Visit::More };
        if let Some(n) = needed {
            let i = n.iter().position(|x| *x == key).unwrap_or(0);
            let new = if i < 128 {
                let bit = 1u128 << i;
                let new = found & bit == 0;
                found |= bit;
                new
            } else if found_past.contains(&i) {
                false
            } else {
                found_past.push(i);
                true
            };
            distinct += usize::from(new);
        }
        // Loki's unescaping gives "" for a value with U+FFFD in it
        // (Prometheus refuses the rune).
        let value = if value.contains('\u{fffd}') { Cow::Borrowed("") } else { keep(value) };
        labels.insert(key, value);
        if wanted == Some(distinct) {
            Visit::Done
        } else {
            Visit::More
        }
    })
}

impl LabelName {
    fn selects(&self, name: &str, value: &str) -> bool {
        match self {
            LabelName::Name(n) => n == name,
            LabelName::Matcher(m) => m.label == name && m.matches_value(value),
        }
    }
}

/// `key=value key="quoted value" flag` pairs; in strict mode a malformed
/// pair is an error, otherwise it is skipped.
fn logfmt(line: &str, strict: bool, keep_empty: bool) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        let key_end = rest.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(rest.len());
        let key = &rest[..key_end];
        rest = &rest[key_end..];
        if key.is_empty() {
            if strict {
                return Err(format!("logfmt syntax error at pos {}: unexpected '='", line.len() - rest.len() + 1));
            }
            rest = rest.trim_start_matches('=');
        }
        if let Some(after) = rest.strip_prefix('=') {
            let value;
            if after.starts_with('"') {
                match unquote_logfmt(after) {
                    Some((v, len)) => {
                        value = v;
                        rest = &after[len..];
                    }
                    None => {
                        if strict {
                            return Err(format!("logfmt syntax error at pos {}: unterminated quoted value", line.len() + 1));
                        }
                        value = after[1..].to_owned();
                        rest = "";
                    }
                }
            } else {
                let end = after.find(char::is_whitespace).unwrap_or(after.len());
                value = after[..end].to_owned();
                rest = &after[end..];
            }
            if !key.is_empty() {
                out.push((key.to_owned(), value));
            }
        } else if !key.is_empty() && keep_empty {
            out.push((key.to_owned(), String::new()));
        }
        rest = rest.trim_start();
    }
    Ok(out)
}

fn unquote_logfmt(s: &str) -> Option<(String, usize)> {
    crate::parse::unquote(s).ok()
}

fn decolorize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl LineFilter {
    /// Whether `line` passes this filter.
    pub fn passes(&self, line: &str) -> bool {
        let hit = |v: &LineValue| match (&v.regex, &v.pattern, &v.ip) {
            (Some(r), _, _) => r.regex.is_match(line),
            (_, Some(p), _) => p.matches(line),
            (_, _, Some(ip)) => ip.in_line(line),
            _ => line.contains(v.text.as_str()),
        };
        let any = self.values.iter().any(hit);
        match self.op {
            LineOp::Contains | LineOp::Match | LineOp::Pattern => any,
            LineOp::NotContains | LineOp::NotMatch | LineOp::NotPattern => !any,
        }
    }
}

/// Go's `strconv.ParseFloat` error text.
fn float_err(v: &str) -> String {
    format!("strconv.ParseFloat: parsing {}: invalid syntax", go_quote(v))
}

/// Go's `%q` of a string (enough for error details).
fn go_quote(v: &str) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Reads a value in a unit; the error is Go's message.
pub(crate) fn convert(v: &str, unit: Unit) -> Result<f64, String> {
    match unit {
        Unit::Number => v.trim().parse::<f64>().ok().filter(|_| !v.trim().is_empty()).ok_or_else(|| float_err(v)),
        Unit::Duration => crate::parse::parse_duration(v.trim()).ok_or_else(|| format!("time: invalid duration {}", go_quote(v))),
        Unit::Bytes => crate::parse::parse_bytes(v).ok_or_else(|| format!("strconv.ParseFloat: parsing {}: invalid syntax", go_quote(v))),
    }
}

impl LabelFilter {
    /// Loki's label filter: whether the line stays; a numeric comparison
    /// on a value that is not a number keeps the line and flags it with
    /// `__error__="LabelFilterErr"` (a line already flagged passes
    /// numeric filters: only string matchers can remove it).
    pub fn process(&self, labels: &mut Labels) -> bool {
        self.process_in(labels)
    }

    fn process_in(&self, labels: &mut impl FlagLabels) -> bool {
        match self {
            LabelFilter::Str(m) => m.matches(&*labels),
            LabelFilter::Num { label, op, value, unit, .. } => {
                if labels.label(ERROR_LABEL).is_some() {
                    return true;
                }
                let Some(converted) = labels.label(label).map(|raw| convert(&raw, *unit)) else { return false };
                match converted {
                    Ok(v) => match op {
                        NumOp::Eq => v == *value,
                        NumOp::Ne => v != *value,
                        NumOp::Gt => v > *value,
                        NumOp::Ge => v >= *value,
                        NumOp::Lt => v < *value,
                        NumOp::Le => v <= *value,
                    },
                    Err(details) => {
                        labels.flag("LabelFilterErr", details);
                        true
                    }
                }
            }
            LabelFilter::Ip { label, equal, spec } => {
                if labels.label(ERROR_LABEL).is_some() {
                    return true;
                }
                let Some(spec) = IpSpec::parse(spec) else { return false };
                let hit = labels.label(label).and_then(|v| v.trim().parse::<IpAddr>().ok()).is_some_and(|ip| spec.contains(ip));
                hit == *equal
            }
            LabelFilter::And(a, b) => {
                let l = a.process_in(labels);
                let r = b.process_in(labels);
                l && r
            }
            LabelFilter::Or(a, b) => a.process_in(labels) || b.process_in(labels),
        }
    }
}

/// Nanoseconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
pub fn parse_rfc3339(ts: &str) -> Option<i128> {
    let b = ts.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b't' && b[10] != b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    // Plain digits (the usual case) are summed in place; anything else
    // goes to `str::parse`, whose rules this has always followed.
    let num = |r: std::ops::Range<usize>| match b.get(r.clone())? {
        d if d.iter().all(u8::is_ascii_digit) => Some(d.iter().fold(0i64, |n, c| n * 10 + i64::from(c - b'0'))),
        _ => ts.get(r)?.parse::<i64>().ok(),
    };
    let (y, mo, d, h, mi, s) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut nanos: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        // The first nine digits, padded with zeros: nanoseconds.
        for k in 0..9 {
            let d = if start + k < i { i64::from(b[start + k] - b'0') } else { 0 };
            nanos = nanos * 10 + d;
        }
    }
    let offset_secs = match ts.get(i..)? {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) => {
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            sign * (tz.get(1..3)?.parse::<i64>().ok()? * 3600 + tz.get(4..6)?.parse::<i64>().ok()? * 60)
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
