//! The parsed form of a LogQL query.

use std::time::Duration;

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

/// A comparison of a label with a number.
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
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label.
    pub label: String,
    /// The comparison.
    pub op: MatchOp,
    /// The value as written.
    pub value: String,
    /// For `=~` and `!~`: the anchored regex.
    pub regex: Option<regex::Regex>,
}

/// A line filter: `|= "x"`, `!= "x"`, `|~ "re"`, `!~ "re"`.
#[derive(Debug, Clone)]
pub struct LineFilter {
    /// Keep lines that contain / match (`|=`, `|~`), or that do not.
    pub keep_matching: bool,
    /// The text, for `|=` and `!=`.
    pub text: String,
    /// The regex, for `|~` and `!~` (unanchored, as in Loki).
    pub regex: Option<regex::Regex>,
}

/// A label filter expression after a `|`.
#[derive(Debug, Clone)]
pub enum LabelFilter {
    /// A string comparison.
    Str(Matcher),
    /// A numeric comparison.
    Num {
        /// The label.
        label: String,
        /// The comparison.
        op: NumOp,
        /// The number.
        value: f64,
    },
    /// Both.
    And(Box<LabelFilter>, Box<LabelFilter>),
    /// Either.
    Or(Box<LabelFilter>, Box<LabelFilter>),
}

/// One stage of a log pipeline.
#[derive(Debug, Clone)]
pub enum Stage {
    /// A line filter.
    Line(LineFilter),
    /// `| json`: the line's JSON fields become labels.
    Json,
    /// A label filter.
    Label(LabelFilter),
    /// `| line_format "template"` with `{{.label}}` placeholders.
    LineFormat(String),
}

/// A log query: a stream selector and a pipeline.
#[derive(Debug, Clone)]
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
    /// Lines per second in the range.
    Rate,
    /// Bytes of the lines in the range.
    BytesOverTime,
    /// Bytes per second.
    BytesRate,
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
}

/// A metric query.
#[derive(Debug, Clone)]
pub enum MetricQuery {
    /// `count_over_time({…} | … [5m]) by (…)`.
    Range {
        /// The function.
        func: RangeFn,
        /// The log query it counts.
        query: LogQuery,
        /// The range.
        range: Duration,
        /// An optional grouping.
        grouping: Option<Grouping>,
    },
    /// `sum by (…) (metric)`.
    Vector {
        /// The function.
        func: VectorFn,
        /// The grouping (none: everything in one group).
        grouping: Option<Grouping>,
        /// What it aggregates.
        inner: Box<MetricQuery>,
    },
}

/// A whole query.
#[derive(Debug, Clone)]
pub enum Query {
    /// Lines.
    Log(LogQuery),
    /// Numbers per label set.
    Metric(MetricQuery),
}
