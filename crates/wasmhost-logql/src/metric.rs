//! Metric queries, evaluated while the lines stream past: each range
//! aggregation keeps one accumulator per series and step, so memory is
//! bounded by series × steps, never by lines (except `quantile_over_time`,
//! which needs the values, and an instant query whose time is not given,
//! which keeps the samples of the newest range only).

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::ast::*;
use crate::eval::{convert, parse_rfc3339, Labels, ERROR_DETAILS_LABEL, ERROR_LABEL};

/// When a metric query is evaluated, in nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steps {
    /// One evaluation at this time; `None`: at the newest `ts` of the input.
    Instant(Option<i128>),
    /// Evaluations at `start`, `start + step`, … up to `end`.
    Range {
        /// First evaluation.
        start: i128,
        /// Last evaluation (inclusive).
        end: i128,
        /// Between evaluations (> 0).
        step: i128,
    },
}

/// A metric query that failed while being evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// A sample carried `__error__`: Loki's message, word for word.
    #[error(
        "pipeline error: '{kind}' for series: '{series}'.\nUse a label filter to intentionally skip this error. (e.g | __error__!=\"{kind}\").\nTo skip all potential errors you can match empty errors.(e.g __error__=\"\")\nThe label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )"
    )]
    Pipeline {
        /// The `__error__` value.
        kind: String,
        /// The series' labels as Prometheus prints them.
        series: String,
    },
    /// Too many steps for the range.
    #[error("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")]
    TooManySteps,
    /// Vector matching found several series on the "one" side.
    #[error("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)")]
    ManyToMany,
}

/// The result of a metric query.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricResult {
    /// An instant query: one value per series, at `time`.
    Vector {
        /// The evaluation time.
        time: i128,
        /// The series, sorted by labels.
        samples: Vec<(Labels, f64)>,
    },
    /// A range query: values per step per series.
    Matrix(Vec<(Labels, Vec<(i128, f64)>)>),
    /// A query of literals only.
    Scalar {
        /// The evaluation time.
        time: i128,
        /// The value.
        value: f64,
    },
}

#[derive(Debug, Clone, Default)]
struct Acc {
    n: u64,
    sum: f64,
    min: f64,
    max: f64,
    first: (i128, f64),
    last: (i128, f64),
    mean: f64,
    m2: f64,
    values: Vec<f64>,
    /// rate_counter: the increase with counter resets accounted for.
    increase: f64,
}

impl Acc {
    fn add(&mut self, ts: i128, v: f64, keep_values: bool) {
        if self.n == 0 {
            self.min = v;
            self.max = v;
            self.first = (ts, v);
            self.last = (ts, v);
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
            if ts < self.first.0 {
                self.first = (ts, v);
            }
            if ts >= self.last.0 {
                let prev = self.last.1;
                self.increase += if v < prev { v } else { v - prev };
                self.last = (ts, v);
            }
        }
        self.n += 1;
        self.sum += v;
        let delta = v - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (v - self.mean);
        if keep_values {
            self.values.push(v);
        }
    }

    /// Adds what another evaluator saw of the same series and step.
    fn merge(&mut self, o: Acc) {
        if o.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = o;
            return;
        }
        let n = (self.n + o.n) as f64;
        let delta = o.mean - self.mean;
        self.m2 += o.m2 + delta * delta * self.n as f64 * o.n as f64 / n;
        self.mean += delta * o.n as f64 / n;
        self.n += o.n;
        self.sum += o.sum;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        if o.first.0 < self.first.0 {
            self.first = o.first;
        }
        if o.last.0 >= self.last.0 {
            self.last = o.last;
        }
        self.increase += o.increase;
        self.values.extend(o.values);
    }

    /// `rate_counter`: Prometheus' extrapolated rate of a counter as Loki
    /// computes it — the increase (resets count from zero), stretched
    /// from the first-to-last interval towards the range's start (at most
    /// to where the counter would have been zero; half a sample interval
    /// when the gap is larger than 1.1 intervals), per second of the
    /// range. Loki measures the range from the first sample and ends it at
    /// the last one, and gives 0 for fewer than two samples.
    fn extrapolated_rate(&self, range_secs: f64) -> f64 {
        if self.n < 2 {
            return 0.0;
        }
        // Loki's samples have millisecond timestamps.
        let ms = |t: i128| t.div_euclid(1_000_000);
        let sampled = (ms(self.last.0) - ms(self.first.0)) as f64 / 1000.0;
        let average = sampled / (self.n - 1) as f64;
        let mut to_start = range_secs;
        let result = self.increase;
        if result > 0.0 && self.first.1 >= 0.0 {
            to_start = to_start.min(sampled * (self.first.1 / result));
        }
        let threshold = average * 1.1;
        let mut interval = sampled;
        interval += if to_start < threshold { to_start } else { average / 2.0 };
        // The range ends at the last sample: nothing to add unless every
        // sample has the same time.
        interval += if 0.0 < threshold { 0.0 } else { average / 2.0 };
        result * (interval / sampled) / range_secs
    }

    fn value(&mut self, func: RangeFn, param: Option<f64>, range_secs: f64) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let var = self.m2 / self.n as f64;
        Some(match func {
            RangeFn::CountOverTime => self.n as f64,
            RangeFn::BytesOverTime | RangeFn::SumOverTime => self.sum,
            RangeFn::Rate | RangeFn::BytesRate => self.sum / range_secs,
            RangeFn::RateCounter => self.extrapolated_rate(range_secs),
            RangeFn::AbsentOverTime => return None,
            RangeFn::AvgOverTime => self.sum / self.n as f64,
            RangeFn::MinOverTime => self.min,
            RangeFn::MaxOverTime => self.max,
            RangeFn::StddevOverTime => var.sqrt(),
            RangeFn::StdvarOverTime => var,
            RangeFn::FirstOverTime => self.first.1,
            RangeFn::LastOverTime => self.last.1,
            RangeFn::QuantileOverTime => quantile(param.unwrap_or(0.5), &mut self.values),
        })
    }
}

/// Prometheus' quantile: linear interpolation between closest ranks.
fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(f64::total_cmp);
    let rank = q * (values.len() - 1) as f64;
    let lower = rank.floor() as usize;
    let upper = (lower + 1).min(values.len() - 1);
    let weight = rank - rank.floor();
    values[lower] * (1.0 - weight) + values[upper] * weight
}

/// One range aggregation being fed.
struct RangeState {
    query: LogQuery,
    func: RangeFn,
    param: Option<f64>,
    unwrap: Option<Unwrap>,
    range: i128,
    offset: i128,
    grouping: Option<Grouping>,
    /// The labels of a `sum by (…)` right around an additive aggregation
    /// (count, rate, bytes, sum): the series can be summed while lines
    /// stream, one per group instead of one per label set.
    sum_by: Option<Vec<String>>,
    /// Steps mode: accumulators per step.
    series: HashMap<Labels, Vec<Acc>>,
    /// Unknown-end instant mode: samples of the newest range.
    pending: HashMap<Labels, VecDeque<(i128, f64)>>,
    /// Equality matchers of the selector, for absent_over_time's labels.
    absent_labels: Labels,
    /// The labels parsers must extract; `None`: all (the series need them).
    needed: Option<Vec<String>>,
    error: Option<EvalError>,
}

/// A metric query being evaluated over streamed lines.
///
/// ```
/// use wasmhost_logql::{parse, Query, Steps, MetricEvaluator, MetricResult};
/// let Query::Metric(q) = parse(r#"sum by (lang) (count_over_time({job="a"} | json | __error__="" [5m]))"#).unwrap() else { panic!() };
/// let mut ev = MetricEvaluator::new(q, Steps::Instant(None), vec!["job".into(), "lang".into()]);
/// ev.push(r#"{"ts":"2026-11-25T18:00:00Z","job":"a","lang":"go","seq":1}"#);
/// ev.push(r#"{"ts":"2026-11-25T18:00:01Z","job":"a","lang":"go","seq":2}"#);
/// let MetricResult::Vector { samples, .. } = ev.finish().unwrap() else { panic!() };
/// assert_eq!(samples.len(), 1);
/// assert_eq!((samples[0].0["lang"].as_str(), samples[0].1), ("go", 2.0));
/// ```
pub struct MetricEvaluator {
    query: MetricQuery,
    steps: Steps,
    times: Vec<i128>,
    stream_labels: Vec<String>,
    ranges: Vec<RangeState>,
    newest: Option<i128>,
}

/// Loki's limit on points per series.
const MAX_STEPS: i128 = 11_000;

impl MetricEvaluator {
    /// Prepares `query` for evaluation at `steps`, with `stream_labels` as
    /// the stream label set.
    pub fn new(query: MetricQuery, steps: Steps, stream_labels: Vec<String>) -> MetricEvaluator {
        let mut ranges = Vec::new();
        collect_ranges(&query, None, &mut ranges);
        let times = match steps {
            Steps::Instant(Some(t)) => vec![t],
            Steps::Instant(None) => Vec::new(),
            Steps::Range { start, end, step } => {
                let n = if end < start || step <= 0 { 0 } else { (end - start) / step + 1 };
                (0..n.min(MAX_STEPS + 1)).map(|i| start + i * step).collect()
            }
        };
        MetricEvaluator { query, steps, times, stream_labels, ranges, newest: None }
    }

    /// Feeds one line.
    pub fn push(&mut self, line: &str) {
        let unknown_end = matches!(self.steps, Steps::Instant(None));
        for r in &mut self.ranges {
            if r.error.is_some() {
                continue;
            }
            let Some((text, line_labels, ts)) = r.query.run_line(line, &self.stream_labels, r.needed.as_deref()) else { continue };
            let ts = ts.as_deref().and_then(parse_rfc3339);
            if let Some(ts) = ts {
                self.newest = Some(self.newest.map_or(ts, |n| n.max(ts)));
            }
            let Some(ts) = ts.or(if unknown_end { self.newest } else { None }) else { continue };
            // A `sum by` without unwrap reads only its own labels: only
            // those are copied out of the line (all when it has an error,
            // which names the series).
            let mut labels = match (&r.unwrap, &r.sum_by) {
                (None, Some(keep)) if !line_labels.contains(ERROR_LABEL) => line_labels.into_map_of(|k| keep.iter().any(|n| n == k)),
                _ => line_labels.into_map_of(|_| true),
            };
            let value = match &r.unwrap {
                None => match r.func {
                    RangeFn::BytesOverTime | RangeFn::BytesRate => text.len() as f64,
                    _ => 1.0,
                },
                Some(u) => {
                    let unit = match u.conversion {
                        Conversion::Plain => Unit::Number,
                        Conversion::Duration => Unit::Duration,
                        Conversion::Bytes => Unit::Bytes,
                    };
                    let raw = labels.remove(&u.label).unwrap_or_default();
                    let v = if labels.contains_key(ERROR_LABEL) {
                        0.0
                    } else {
                        match convert(&raw, unit) {
                            Ok(v) => v,
                            Err(details) => {
                                labels.insert(ERROR_LABEL.into(), "SampleExtractionErr".into());
                                labels.insert(ERROR_DETAILS_LABEL.into(), details);
                                0.0
                            }
                        }
                    };
                    if !u.post_filters.iter().all(|f| f.process(&mut labels)) {
                        continue;
                    }
                    v
                }
            };
            let key = match &r.sum_by {
                // A sample with an error keeps its labels: the query fails naming them.
                Some(keep) if !labels.contains_key(ERROR_LABEL) => {
                    labels.retain(|k, _| keep.contains(k));
                    labels
                }
                _ => group(labels, r.grouping.as_ref()),
            };
            if let Some(kind) = key.get(ERROR_LABEL) {
                r.error = Some(EvalError::Pipeline { kind: kind.clone(), series: prom_labels(&key) });
                continue;
            }
            if unknown_end {
                let newest = self.newest.unwrap_or(ts);
                let window = r.range + r.offset;
                let samples = r.pending.entry(key).or_default();
                samples.push_back((ts, value));
                // Everything older than the newest range can never count
                // again. Lines come mostly in time order, so the old ones
                // are at the front (a straggler inside is dropped by
                // `finish`); a retain over the whole range per line was
                // half of a `count_over_time`'s time.
                while samples.front().is_some_and(|(t, _)| *t <= newest - window) {
                    samples.pop_front();
                }
            } else {
                let keep = r.func == RangeFn::QuantileOverTime;
                let steps = self.times.len();
                let first = step_index_ceil(ts + r.offset, &self.steps).max(0);
                let accs = r.series.entry(key).or_insert_with(|| vec![Acc::default(); steps]);
                let mut i = first as usize;
                while i < steps && self.times[i] - r.offset - r.range < ts {
                    if ts <= self.times[i] - r.offset {
                        accs[i].add(ts, value, keep);
                    }
                    i += 1;
                }
            }
        }
    }

    /// Whether [`MetricEvaluator::merge`] gives the same answer as one
    /// evaluator seeing every line in order: not for `rate_counter`, whose
    /// counter resets need the lines in order, nor with `| distinct`.
    pub fn mergeable(&self) -> bool {
        self.ranges.iter().all(|r| r.func != RangeFn::RateCounter && !r.query.is_ordered())
    }

    /// Takes in what `other` (same query and steps) saw of other lines, so
    /// evaluators on several threads make one answer.
    pub fn merge(&mut self, other: MetricEvaluator) {
        self.newest = match (self.newest, other.newest) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for (mine, theirs) in self.ranges.iter_mut().zip(other.ranges) {
            if mine.error.is_none() {
                mine.error = theirs.error;
            }
            for (labels, accs) in theirs.series {
                match mine.series.entry(labels) {
                    std::collections::hash_map::Entry::Occupied(mut e) => {
                        for (a, b) in e.get_mut().iter_mut().zip(accs) {
                            a.merge(b);
                        }
                    }
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(accs);
                    }
                }
            }
            for (labels, samples) in theirs.pending {
                mine.pending.entry(labels).or_default().extend(samples);
            }
        }
    }

    /// The result.
    pub fn finish(mut self) -> Result<MetricResult, EvalError> {
        if let Steps::Range { start, end, step } = self.steps {
            if step > 0 && (end - start) / step > MAX_STEPS {
                return Err(EvalError::TooManySteps);
            }
        }
        for r in &mut self.ranges {
            if let Some(e) = r.error.take() {
                return Err(e);
            }
        }
        let instant_time = match self.steps {
            Steps::Instant(t) => Some(t.or(self.newest).unwrap_or(0)),
            Steps::Range { .. } => None,
        };
        if let Some(t) = instant_time {
            self.times = vec![t];
            // Fold pending samples into one accumulator per series.
            for r in &mut self.ranges {
                let keep = r.func == RangeFn::QuantileOverTime;
                for (labels, samples) in r.pending.drain() {
                    let mut acc = Acc::default();
                    for (ts, v) in samples {
                        if ts > t - r.offset - r.range && ts <= t - r.offset {
                            acc.add(ts, v, keep);
                        }
                    }
                    r.series.insert(labels, vec![acc]);
                }
            }
        }
        if matches!(self.query, MetricQuery::Literal(_)) || only_literals(&self.query) {
            let v = eval(&self.query, &mut self.ranges, &self.times, &mut 0)?;
            let value = v.first().and_then(|s| s.first()).map_or(0.0, |(_, v)| *v);
            return Ok(MetricResult::Scalar { time: instant_time.unwrap_or(0), value });
        }
        let per_step = eval(&self.query, &mut self.ranges, &self.times, &mut 0)?;
        let sorted = matches!(self.query, MetricQuery::Vector { func: VectorFn::Sort | VectorFn::SortDesc | VectorFn::Topk | VectorFn::Bottomk, .. });
        match instant_time {
            Some(time) => {
                let mut samples = per_step.into_iter().next().unwrap_or_default();
                if !sorted {
                    samples.sort_by(|a, b| a.0.cmp(&b.0));
                }
                Ok(MetricResult::Vector { time, samples })
            }
            None => {
                let mut series: BTreeMap<Labels, Vec<(i128, f64)>> = BTreeMap::new();
                for (i, samples) in per_step.into_iter().enumerate() {
                    for (labels, v) in samples {
                        series.entry(labels).or_default().push((self.times[i], v));
                    }
                }
                Ok(MetricResult::Matrix(series.into_iter().collect()))
            }
        }
    }
}

fn only_literals(q: &MetricQuery) -> bool {
    match q {
        MetricQuery::Literal(_) => true,
        MetricQuery::Binary { lhs, rhs, .. } => only_literals(lhs) && only_literals(rhs),
        _ => false,
    }
}

/// The first step index whose time is ≥ `t`.
fn step_index_ceil(t: i128, steps: &Steps) -> i128 {
    match *steps {
        Steps::Range { start, step, .. } if step > 0 => {
            let d = t - start;
            if d <= 0 {
                0
            } else {
                (d + step - 1) / step
            }
        }
        _ => 0,
    }
}

/// Makes the range states in evaluation order. `sum_by`: the labels of a
/// `sum by (…)` directly around, which are then all a series needs.
fn collect_ranges(q: &MetricQuery, sum_by: Option<&[String]>, out: &mut Vec<RangeState>) {
    match q {
        MetricQuery::Range { func, param, query, unwrap, range, offset, grouping } => {
            let absent_labels =
                query.selector.iter().filter(|m| m.op == MatchOp::Eq).map(|m| (m.label.clone(), m.value.clone())).collect();
            let keys = match grouping {
                Some(Grouping::By(labels)) => Some(labels.as_slice()),
                Some(Grouping::Without(_)) => None,
                None => sum_by,
            };
            let needed = keys.and_then(|keys| {
                let mut needed = query.referenced_labels()?;
                needed.extend(keys.iter().cloned());
                if let Some(u) = unwrap {
                    needed.push(u.label.clone());
                    for f in &u.post_filters {
                        needed.extend(LogQuery { selector: Vec::new(), stages: vec![Stage::Label(f.clone())] }.referenced_labels()?);
                    }
                }
                Some(needed)
            });
            out.push(RangeState {
                query: query.clone(),
                func: *func,
                param: *param,
                unwrap: unwrap.clone(),
                range: range.as_nanos() as i128,
                offset: offset.map_or(0, |o| o.as_nanos() as i128),
                grouping: grouping.clone(),
                sum_by: match (grouping, sum_by) {
                    (None, Some(keys))
                        if matches!(func, RangeFn::CountOverTime | RangeFn::Rate | RangeFn::BytesOverTime | RangeFn::BytesRate | RangeFn::SumOverTime) =>
                    {
                        Some(keys.to_vec())
                    }
                    _ => None,
                },
                series: HashMap::new(),
                pending: HashMap::new(),
                absent_labels,
                needed,
                error: None,
            })
        }
        MetricQuery::Vector { func: VectorFn::Sum, grouping: Some(Grouping::By(labels)), inner, .. } => collect_ranges(inner, Some(labels), out),
        MetricQuery::Vector { func: VectorFn::Sum, grouping: None, inner, .. } => collect_ranges(inner, Some(&[]), out),
        MetricQuery::Vector { inner, .. } | MetricQuery::LabelReplace { inner, .. } => collect_ranges(inner, None, out),
        MetricQuery::Binary { lhs, rhs, .. } => {
            collect_ranges(lhs, None, out);
            collect_ranges(rhs, None, out);
        }
        MetricQuery::Literal(_) | MetricQuery::Vector1(_) => {}
    }
}

type Vector = Vec<(Labels, f64)>;

/// Evaluates `q` at every step; `next` walks the range states in the order
/// [`collect_ranges`] made them.
fn eval(q: &MetricQuery, ranges: &mut [RangeState], times: &[i128], next: &mut usize) -> Result<Vec<Vector>, EvalError> {
    Ok(match q {
        MetricQuery::Range { .. } => {
            let r = &mut ranges[*next];
            *next += 1;
            let range_secs = r.range as f64 / 1e9;
            let mut out: Vec<Vector> = vec![Vec::new(); times.len()];
            for (labels, accs) in r.series.iter_mut() {
                for (i, acc) in accs.iter_mut().enumerate() {
                    if let Some(v) = acc.value(r.func, r.param, range_secs) {
                        out[i].push((labels.clone(), v));
                    }
                }
            }
            if r.func == RangeFn::AbsentOverTime {
                for (i, step) in out.iter_mut().enumerate() {
                    let any = r.series.values().any(|accs| accs.get(i).is_some_and(|a| a.n > 0));
                    if !any {
                        step.push((r.absent_labels.clone(), 1.0));
                    }
                }
            }
            out
        }
        MetricQuery::Literal(v) => vec![vec![(Labels::new(), *v)]; times.len().max(1)],
        MetricQuery::Vector1(v) => vec![vec![(Labels::new(), *v)]; times.len().max(1)],
        MetricQuery::Vector { func, grouping, param, inner } => {
            let steps = eval(inner, ranges, times, next)?;
            steps.into_iter().map(|v| aggregate(*func, grouping.as_ref(), *param, v)).collect()
        }
        MetricQuery::LabelReplace { inner, dst, replacement, src, regex } => {
            let steps = eval(inner, ranges, times, next)?;
            steps
                .into_iter()
                .map(|v| {
                    v.into_iter()
                        .map(|(mut labels, value)| {
                            let source = labels.get(src).cloned().unwrap_or_default();
                            if let Some(caps) = regex.regex.captures(&source) {
                                let mut out = String::new();
                                caps.expand(replacement, &mut out);
                                if out.is_empty() {
                                    labels.remove(dst);
                                } else {
                                    labels.insert(dst.clone(), out);
                                }
                            }
                            (labels, value)
                        })
                        .collect()
                })
                .collect()
        }
        MetricQuery::Binary { op, bool_modifier, matching, lhs, rhs } => {
            let l_scalar = only_literals(lhs);
            let r_scalar = only_literals(rhs);
            let left = eval(lhs, ranges, times, next)?;
            let right = eval(rhs, ranges, times, next)?;
            let mut out = Vec::new();
            for (l, r) in left.into_iter().zip(right) {
                out.push(binary(*op, *bool_modifier, matching, l, l_scalar, r, r_scalar)?);
            }
            out
        }
    })
}

fn apply(op: BinOp, a: f64, b: f64) -> f64 {
    match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::Mod => a % b,
        BinOp::Pow => a.powf(b),
        BinOp::Eq => f64::from(u8::from(a == b)),
        BinOp::Ne => f64::from(u8::from(a != b)),
        BinOp::Gt => f64::from(u8::from(a > b)),
        BinOp::Ge => f64::from(u8::from(a >= b)),
        BinOp::Lt => f64::from(u8::from(a < b)),
        BinOp::Le => f64::from(u8::from(a <= b)),
        BinOp::And | BinOp::Or | BinOp::Unless => a,
    }
}

fn is_comparison(op: BinOp) -> bool {
    matches!(op, BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Ge | BinOp::Lt | BinOp::Le)
}

/// One step of a binary operation, with Prometheus' vector matching.
fn binary(op: BinOp, bool_mod: bool, m: &VectorMatching, l: Vector, ls: bool, r: Vector, rs: bool) -> Result<Vector, EvalError> {
    let keep_or_value = |labels: Labels, a: f64, b: f64, value_from_left: bool| -> Option<(Labels, f64)> {
        let v = apply(op, a, b);
        if is_comparison(op) {
            if bool_mod {
                let mut labels = labels;
                labels.remove("__name__");
                return Some((labels, v));
            }
            return (v == 1.0).then_some((labels, if value_from_left { a } else { b }));
        }
        Some((labels, v))
    };
    if ls || rs {
        // Vector–scalar (or scalar–scalar).
        let (vector, scalar, vec_left) = if rs { (l, r.first().map_or(0.0, |x| x.1), true) } else { (r, l.first().map_or(0.0, |x| x.1), false) };
        return Ok(vector
            .into_iter()
            .filter_map(|(labels, v)| if vec_left { keep_or_value(labels, v, scalar, true) } else { keep_or_value(labels, scalar, v, false) })
            .collect());
    }
    let sig = |labels: &Labels| -> Labels {
        match &m.on {
            Some((true, names)) => labels.iter().filter(|(k, _)| names.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect(),
            Some((false, names)) => labels.iter().filter(|(k, _)| !names.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect(),
            None => labels.clone(),
        }
    };
    match op {
        BinOp::And => {
            let rsigs: Vec<Labels> = r.iter().map(|(l, _)| sig(l)).collect();
            return Ok(l.into_iter().filter(|(labels, _)| rsigs.contains(&sig(labels))).collect());
        }
        BinOp::Unless => {
            let rsigs: Vec<Labels> = r.iter().map(|(l, _)| sig(l)).collect();
            return Ok(l.into_iter().filter(|(labels, _)| !rsigs.contains(&sig(labels))).collect());
        }
        BinOp::Or => {
            let lsigs: Vec<Labels> = l.iter().map(|(l, _)| sig(l)).collect();
            let mut out = l;
            out.extend(r.into_iter().filter(|(labels, _)| !lsigs.contains(&sig(labels))));
            return Ok(out);
        }
        _ => {}
    }
    // group_right: swap sides so the "many" side is always the left.
    let (many, one, swapped, include) = match &m.group {
        Some((false, inc)) => (r, l, true, inc.clone()),
        Some((true, inc)) => (l, r, false, inc.clone()),
        None => (l, r, false, Vec::new()),
    };
    let mut index: HashMap<Labels, (Labels, f64)> = HashMap::new();
    for (labels, v) in one {
        if index.insert(sig(&labels), (labels, v)).is_some() {
            return Err(EvalError::ManyToMany);
        }
    }
    let mut out = Vec::new();
    let mut seen: HashMap<Labels, ()> = HashMap::new();
    for (labels, v) in many {
        let Some((one_labels, ov)) = index.get(&sig(&labels)) else { continue };
        let result_labels = if m.group.is_some() {
            let mut res = labels.clone();
            for name in &include {
                match one_labels.get(name) {
                    Some(val) => res.insert(name.clone(), val.clone()),
                    None => res.remove(name),
                };
            }
            res
        } else {
            sig(&labels)
        };
        if m.group.is_none() && seen.insert(result_labels.clone(), ()).is_some() {
            return Err(EvalError::ManyToMany);
        }
        let (a, b) = if swapped { (*ov, v) } else { (v, *ov) };
        let mut result_labels = result_labels;
        if is_comparison(op) && !bool_mod {
            // A filtering comparison keeps the left side's labels.
            result_labels = if swapped { one_labels.clone() } else { labels.clone() };
        }
        if let Some(s) = keep_or_value(result_labels, a, b, true) {
            out.push(s);
        }
    }
    Ok(out)
}

fn aggregate(func: VectorFn, grouping: Option<&Grouping>, param: Option<f64>, v: Vector) -> Vector {
    match func {
        VectorFn::Sort | VectorFn::SortDesc => {
            let mut v = v;
            v.sort_by(|a, b| a.1.total_cmp(&b.1));
            if func == VectorFn::SortDesc {
                v.reverse();
            }
            return v;
        }
        VectorFn::Topk | VectorFn::Bottomk => {
            let k = param.unwrap_or(1.0) as usize;
            let mut groups: BTreeMap<Labels, Vector> = BTreeMap::new();
            for (labels, value) in v {
                let key = grouping.map_or_else(Labels::new, |g| group(labels.clone(), Some(g)));
                groups.entry(key).or_default().push((labels, value));
            }
            let mut out = Vec::new();
            for (_, mut members) in groups {
                members.sort_by(|a, b| if func == VectorFn::Topk { b.1.total_cmp(&a.1) } else { a.1.total_cmp(&b.1) });
                members.truncate(k);
                out.extend(members);
            }
            return out;
        }
        _ => {}
    }
    let mut groups: BTreeMap<Labels, Vec<f64>> = BTreeMap::new();
    for (labels, value) in v {
        let key = grouping.map_or_else(Labels::new, |g| group(labels, Some(g)));
        groups.entry(key).or_default().push(value);
    }
    groups
        .into_iter()
        .map(|(labels, vs)| {
            let n = vs.len() as f64;
            let mean = vs.iter().sum::<f64>() / n;
            let var = vs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
            let value = match func {
                VectorFn::Sum => vs.iter().sum(),
                VectorFn::Count => n,
                VectorFn::Min => vs.iter().cloned().fold(f64::INFINITY, f64::min),
                VectorFn::Max => vs.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                VectorFn::Avg => mean,
                VectorFn::Stddev => var.sqrt(),
                VectorFn::Stdvar => var,
                _ => f64::NAN,
            };
            (labels, value)
        })
        .collect()
}

/// The labels a grouping keeps, in place: every line goes through here, and
/// collecting a new map per line (a vector, a sort, a rebuild) was a
/// quarter of a `sum by` query's instructions.
fn group(mut labels: Labels, grouping: Option<&Grouping>) -> Labels {
    match grouping {
        None => {}
        Some(Grouping::By(keep)) => labels.retain(|k, _| keep.contains(k)),
        Some(Grouping::Without(drop)) => labels.retain(|k, _| !drop.contains(k)),
    }
    labels
}

/// `{a="1", b="2"}` as Prometheus prints labels.
pub fn prom_labels(labels: &Labels) -> String {
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={}", serde_json::to_string(v).unwrap_or_default())).collect();
    format!("{{{}}}", parts.join(", "))
}
