//! Running a whole query over lines and answering in the shape of Loki's
//! query API (`{"status":"success","data":{"resultType":…,"result":[…]}}`),
//! so a result diffs directly against Loki's or logcli's.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::ast::{LogQuery, Query};
use crate::eval::{Labels, Passed};
use crate::metric::{EvalError, MetricEvaluator, MetricResult, Steps};

/// Which entries a log query keeps when a limit applies, and their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Newest first (Loki's default).
    #[default]
    Backward,
    /// Oldest first.
    Forward,
}

/// Collects the lines a log query passes into streams, keeping at most
/// `limit` entries (the newest for [`Direction::Backward`]), so memory is
/// bounded by the limit.
pub struct StreamsCollector {
    limit: Option<usize>,
    direction: Direction,
    entries: Vec<(i128, u64, Labels, String)>,
    seq: u64,
}

impl StreamsCollector {
    /// An empty collector.
    pub fn new(limit: Option<usize>, direction: Direction) -> StreamsCollector {
        StreamsCollector { limit, direction, entries: Vec::new(), seq: 0 }
    }

    /// Adds a passed line (without a `ts`, it counts as time 0).
    pub fn push(&mut self, p: Passed<'_>) {
        self.seq += 1;
        self.entries.push((p.ts.unwrap_or(0), self.seq, p.labels, p.text.into_owned()));
        if let Some(limit) = self.limit {
            if self.entries.len() >= limit.saturating_mul(2).max(1024) {
                self.trim(limit);
            }
        }
    }

    fn trim(&mut self, limit: usize) {
        match self.direction {
            Direction::Backward => self.entries.sort_by(|a, b| (b.0, b.1).cmp(&(a.0, a.1))),
            Direction::Forward => self.entries.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1))),
        }
        self.entries.truncate(limit);
    }

    /// The `data` of Loki's answer: streams sorted by labels, entries in
    /// the direction's order.
    pub fn finish(mut self) -> Value {
        let limit = self.limit.unwrap_or(usize::MAX);
        self.trim(limit);
        let mut streams: BTreeMap<Labels, Vec<Value>> = BTreeMap::new();
        for (ts, _, labels, text) in self.entries {
            streams.entry(labels).or_default().push(json!([ts.to_string(), text]));
        }
        let result: Vec<Value> = streams.into_iter().map(|(labels, values)| json!({"stream": labels, "values": values})).collect();
        json!({"status": "success", "data": {"resultType": "streams", "result": result}})
    }
}

/// A sample value as Prometheus writes it (Go's `FormatFloat(v, 'f', -1, 64)`).
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// A time as RFC 3339 text in UTC with the fraction it has, as logcli
/// prints entries: `2026-11-25T18:00:02.5Z`.
///
/// ```
/// assert_eq!(wasmhost_logql::format_rfc3339(1_795_629_602_500_000_000), "2026-11-25T18:00:02.5Z");
/// ```
pub fn format_rfc3339(ns: i128) -> String {
    crate::gotime::format(ns, "2006-01-02T15:04:05.999999999Z07:00")
}

/// A time in seconds as Prometheus writes it: a JSON number, millisecond precision.
pub fn format_time(ns: i128) -> Value {
    let ms = ns.div_euclid(1_000_000);
    if ms % 1000 == 0 {
        json!((ms / 1000) as i64)
    } else {
        serde_json::from_str(&format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000)).trim_end_matches('0').to_string())
            .unwrap_or(Value::Null)
    }
}

/// Loki's answer for a metric result.
pub fn metric_json(r: &MetricResult) -> Value {
    let data = match r {
        MetricResult::Vector { time, samples } => {
            let result: Vec<Value> =
                samples.iter().map(|(l, v)| json!({"metric": l, "value": [format_time(*time), format_value(*v)]})).collect();
            json!({"resultType": "vector", "result": result})
        }
        MetricResult::Matrix(series) => {
            let result: Vec<Value> = series
                .iter()
                .map(|(l, points)| {
                    let values: Vec<Value> = points.iter().map(|(t, v)| json!([format_time(*t), format_value(*v)])).collect();
                    json!({"metric": l, "values": values})
                })
                .collect();
            json!({"resultType": "matrix", "result": result})
        }
        MetricResult::Scalar { time, value } => json!({"resultType": "scalar", "result": [format_time(*time), format_value(*value)]}),
    };
    json!({"status": "success", "data": data})
}

/// What to run a query with.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The stream label set.
    pub stream_labels: Vec<String>,
    /// For metric queries: when (default: instant at the newest `ts`).
    pub steps: Option<Steps>,
    /// For log queries: `[from, to)` in nanoseconds.
    pub window: Option<(i128, i128)>,
    /// For log queries: at most this many entries.
    pub limit: Option<usize>,
    /// For log queries: which entries the limit keeps.
    pub direction: Direction,
}

/// Whether a log query's line falls in `window`.
pub fn in_window(p: &Passed<'_>, window: Option<(i128, i128)>) -> bool {
    match (window, p.ts) {
        (None, _) => true,
        (Some((from, to)), Some(ts)) => from <= ts && ts < to,
        (Some(_), None) => false,
    }
}

/// Runs `query` over `lines` and answers as Loki's query API does.
///
/// ```
/// let q = wasmhost_logql::parse(r#"count_over_time({job="a"}[5m])"#).unwrap();
/// let opts = wasmhost_logql::Options { stream_labels: vec!["job".into()], ..Default::default() };
/// let lines = [r#"{"ts":"2026-11-25T18:00:00Z","job":"a","seq":1}"#, r#"{"ts":"2026-11-25T18:00:01Z","job":"a","seq":2}"#];
/// let answer = wasmhost_logql::run_query(&q, lines, &opts).unwrap();
/// assert_eq!(answer["data"]["result"][0]["metric"], serde_json::json!({"job": "a"}));
/// assert_eq!(answer["data"]["result"][0]["value"][1], "2");
/// ```
pub fn run_query<'a>(query: &Query, lines: impl IntoIterator<Item = &'a str>, opts: &Options) -> Result<Value, EvalError> {
    match query {
        Query::Log(q) => Ok(run_log(q, lines, opts).finish()),
        Query::Metric(m) => {
            let mut ev = MetricEvaluator::new(m.clone(), opts.steps.unwrap_or(Steps::Instant(None)), opts.stream_labels.clone());
            for line in lines {
                ev.push(line);
            }
            Ok(metric_json(&ev.finish()?))
        }
    }
}

fn run_log<'a>(q: &LogQuery, lines: impl IntoIterator<Item = &'a str>, opts: &Options) -> StreamsCollector {
    let mut c = StreamsCollector::new(opts.limit, opts.direction);
    for line in lines {
        if let Some(p) = q.run(line, &opts.stream_labels) {
            if in_window(&p, opts.window) {
                c.push(p);
            }
        }
    }
    c
}
