//! The parsed form of a LogQL query. Every node prints back as LogQL
//! (`Display`, in `print.rs`), and `parse(print(ast)) == ast`.

use std::time::Duration;

/// A compiled regex that compares by its source text, so ASTs compare.
#[derive(Debug, Clone)]
pub struct Re {
    /// The regex as written (Go RE2 syntax).
    pub source: String,
    /// Compiled for Rust, with Go's meanings of `\d`, `\w`, `\s`, `\b`.
    pub regex: regex::Regex,
}

impl PartialEq for Re {
    fn eq(&self, other: &Re) -> bool {
        self.source == other.source && self.regex.as_str() == other.regex.as_str()
    }
}

/// A comparison of a label with a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `=~` (the regex must match the whole value, as in Loki)
    Re,
    /// `!~`
    NotRe,
}

/// A comparison of a label with a number, a duration or a byte size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumOp {
    /// `==` (or `=`)
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

/// `label op "value"`, compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    /// The label.
    pub label: String,
    /// The comparison.
    pub op: MatchOp,
    /// The value as written (unescaped).
    pub value: String,
    /// For `=~` and `!~`: the anchored regex, with Go's RE2 class meanings.
    pub regex: Option<Re>,
}

/// What a line filter compares the line with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineOp {
    /// `|=`: contains.
    Contains,
    /// `!=`: does not contain.
    NotContains,
    /// `|~`: the regex matches somewhere.
    Match,
    /// `!~`: the regex matches nowhere.
    NotMatch,
    /// `|>`: the pattern matches.
    Pattern,
    /// `!>`: the pattern does not match.
    NotPattern,
}

/// One value of a line filter, compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct LineValue {
    /// The text as written.
    pub text: String,
    /// For `|~`/`!~`: the unanchored regex.
    pub regex: Option<Re>,
    /// For `|>`/`!>`: the pattern.
    pub pattern: Option<crate::pattern::Pattern>,
    /// For `|= ip("…")`/`!= ip("…")`: the address, range or CIDR (`text`
    /// holds its spec); the filter looks for an address in the line.
    pub ip: Option<crate::eval::IpSpec>,
}

/// A line filter: `|= "x"`, `!= "x" or "y"`, `|~ "re"`, `|> "<_> x <_>"`.
#[derive(Debug, Clone, PartialEq)]
pub struct LineFilter {
    /// The comparison.
    pub op: LineOp,
    /// The values joined by `or` (Loki 3): a positive filter passes when
    /// any matches, a negative one when none does.
    pub values: Vec<LineValue>,
}

/// The unit a label filter's value is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A plain number: `> 10`.
    Number,
    /// A Go duration: `> 250ms` (compared in seconds).
    Duration,
    /// A byte size: `> 20MB` (compared in bytes).
    Bytes,
}

/// A label filter expression after a `|`.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFilter {
    /// A string comparison.
    Str(Matcher),
    /// A numeric, duration or bytes comparison.
    Num {
        /// The label.
        label: String,
        /// The comparison.
        op: NumOp,
        /// The value in the unit's base (seconds, bytes).
        value: f64,
        /// The value as written, for printing.
        text: String,
        /// How the label's value is read.
        unit: Unit,
    },
    /// `label = ip("10.0.0.0/8")` (or `!=`).
    Ip {
        /// The label.
        label: String,
        /// `true` for `=`, `false` for `!=`.
        equal: bool,
        /// The address, range or CIDR as written.
        spec: String,
    },
    /// Both.
    And(Box<LabelFilter>, Box<LabelFilter>),
    /// Either.
    Or(Box<LabelFilter>, Box<LabelFilter>),
}

/// `| label_format` items.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFormat {
    /// `dst=src`: rename.
    Rename {
        /// The new name.
        dst: String,
        /// The label renamed.
        src: String,
    },
    /// `dst="{{...}}"`: a template.
    Template {
        /// The label set.
        dst: String,
        /// The template.
        template: crate::template::Template,
    },
}

/// `| drop a, b="x"` and `| keep` items.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelName {
    /// A plain name.
    Name(String),
    /// A name with a matcher: only when it matches.
    Matcher(Matcher),
}

/// How `| unwrap` reads a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// As a float.
    Plain,
    /// `duration(label)` / `duration_seconds(label)`: a Go duration, in seconds.
    Duration,
    /// `bytes(label)`: a byte size, in bytes.
    Bytes,
}

/// One stage of a log pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// A line filter.
    Line(LineFilter),
    /// `| json` or `| json a="b.c", d`: fields become labels.
    Json(Vec<(String, String)>),
    /// `| logfmt [--strict] [--keep-empty] [a, b="c"]`.
    Logfmt {
        /// `--strict`: stop at the first malformed pair.
        strict: bool,
        /// `--keep-empty`: keep standalone keys as empty labels.
        keep_empty: bool,
        /// Extraction parameters.
        params: Vec<(String, String)>,
    },
    /// `| regexp "(?P<name>...)"`.
    Regexp(Re),
    /// `| pattern "<a> - <b>"`.
    Pattern(crate::pattern::Pattern),
    /// `| unpack`: a promtail `pack`ed line.
    Unpack,
    /// A label filter.
    Label(LabelFilter),
    /// `| line_format "template"`.
    LineFormat(crate::template::Template),
    /// `| label_format a=b, c="{{...}}"`.
    LabelFormat(Vec<LabelFormat>),
    /// `| drop a, b="x"`.
    Drop(Vec<LabelName>),
    /// `| keep a, b="x"`.
    Keep(Vec<LabelName>),
    /// `| decolorize`: strips ANSI colour sequences.
    Decolorize,
    /// `| distinct a, b` (Loki 3): a line passes only with values of these
    /// labels not seen on an earlier line.
    Distinct(Vec<String>, Seen),
}

/// What a `| distinct` stage has seen: per label, the values of the lines
/// before. State across lines, so a query with `distinct` runs its lines
/// in order on one thread ([`LogQuery::is_ordered`]); a clone starts empty.
#[derive(Debug, Default)]
pub struct Seen(std::sync::Mutex<std::collections::HashMap<String, std::collections::HashSet<String>>>);

impl Seen {
    /// Loki's rule, label by label in the stage's order: a label the line
    /// lacks lets the line pass (what was recorded stays recorded); a value
    /// seen before drops it; else the value is recorded.
    pub fn first_time(&self, names: &[String], labels: &(impl crate::eval::LabelSource + ?Sized)) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut keep = false;
        for name in names {
            let Some(value) = labels.label(name) else { return true };
            if !seen.entry(name.clone()).or_default().insert(value.into_owned()) {
                return false;
            }
            keep = true;
        }
        keep
    }
}

impl Clone for Seen {
    fn clone(&self) -> Seen {
        Seen::default()
    }
}

impl PartialEq for Seen {
    /// The state is not part of the query.
    fn eq(&self, _: &Seen) -> bool {
        true
    }
}

/// A log query: a stream selector and a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct LogQuery {
    /// The stream selector's matchers.
    pub selector: Vec<Matcher>,
    /// The pipeline, in order.
    pub stages: Vec<Stage>,
}

/// Which labels a grouping keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grouping {
    /// `by (a, b)`: only these.
    By(Vec<String>),
    /// `without (a, b)`: all but these.
    Without(Vec<String>),
}

/// A range aggregation over a log query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeFn {
    /// Lines in the range.
    CountOverTime,
    /// Lines (or unwrapped values) per second.
    Rate,
    /// A counter's per-second rate, from unwrapped values.
    RateCounter,
    /// Bytes of the lines in the range.
    BytesOverTime,
    /// Bytes per second.
    BytesRate,
    /// 1 when there is no line in the range.
    AbsentOverTime,
    /// Sum of unwrapped values.
    SumOverTime,
    /// Average of unwrapped values.
    AvgOverTime,
    /// Minimum of unwrapped values.
    MinOverTime,
    /// Maximum of unwrapped values.
    MaxOverTime,
    /// Population standard deviation of unwrapped values.
    StddevOverTime,
    /// Population variance of unwrapped values.
    StdvarOverTime,
    /// φ-quantile of unwrapped values.
    QuantileOverTime,
    /// The first unwrapped value.
    FirstOverTime,
    /// The last unwrapped value.
    LastOverTime,
}

/// A vector aggregation over a metric query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorFn {
    /// `sum`
    Sum,
    /// `count`
    Count,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `avg`
    Avg,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk(k, …)`
    Topk,
    /// `bottomk(k, …)`
    Bottomk,
    /// `sort`
    Sort,
    /// `sort_desc`
    SortDesc,
}

/// A binary operator between metric expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
}

/// `on (…)` / `ignoring (…)` and `group_left`/`group_right`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VectorMatching {
    /// `Some(true, labels)`: `on`; `Some(false, labels)`: `ignoring`.
    pub on: Option<(bool, Vec<String>)>,
    /// `Some(true, …)`: `group_left (…)`; `Some(false, …)`: `group_right (…)`.
    pub group: Option<(bool, Vec<String>)>,
}

/// An unwrap: which label becomes the sample value, then post-filters.
#[derive(Debug, Clone, PartialEq)]
pub struct Unwrap {
    /// The label.
    pub label: String,
    /// How it is read.
    pub conversion: Conversion,
    /// Label filters after the unwrap (`| unwrap x | __error__=""`).
    pub post_filters: Vec<LabelFilter>,
}

/// A metric query.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricQuery {
    /// `count_over_time({…} | … [5m] offset 1h)`, `quantile_over_time(0.9, … | unwrap x [5m]) by (…)`.
    Range {
        /// The function.
        func: RangeFn,
        /// The parameter (quantile's φ).
        param: Option<f64>,
        /// The log query it reads.
        query: LogQuery,
        /// The unwrap, for the `*_over_time` family.
        unwrap: Option<Unwrap>,
        /// The range.
        range: Duration,
        /// The offset.
        offset: Option<Duration>,
        /// An optional grouping (only where Loki allows one).
        grouping: Option<Grouping>,
    },
    /// `sum by (…) (metric)`, `topk(3, metric)`.
    Vector {
        /// The function.
        func: VectorFn,
        /// The grouping (none: everything in one group).
        grouping: Option<Grouping>,
        /// topk/bottomk's k.
        param: Option<f64>,
        /// What it aggregates.
        inner: Box<MetricQuery>,
    },
    /// `a + on (x) b`, `a > bool 3`.
    Binary {
        /// The operator.
        op: BinOp,
        /// The `bool` modifier of comparisons.
        bool_modifier: bool,
        /// `on`/`ignoring`/`group_*`.
        matching: VectorMatching,
        /// Left side.
        lhs: Box<MetricQuery>,
        /// Right side.
        rhs: Box<MetricQuery>,
    },
    /// A number.
    Literal(f64),
    /// `vector(1)`.
    Vector1(f64),
    /// `label_replace(v, "dst", "$1", "src", "re")`.
    LabelReplace {
        /// The input.
        inner: Box<MetricQuery>,
        /// The label set.
        dst: String,
        /// The replacement, with `$1`/`${name}`.
        replacement: String,
        /// The label read.
        src: String,
        /// The anchored regex.
        regex: Re,
    },
}

/// A whole query.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// Lines.
    Log(LogQuery),
    /// Numbers per label set.
    Metric(MetricQuery),
}
