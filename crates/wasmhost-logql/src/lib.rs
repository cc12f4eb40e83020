//! LogQL that Grafana Loki agrees with, over JSON-lines files.
//!
//! Loki's data model: a line's stream labels are only the configured
//! low-cardinality set (the caller passes it; wasmhost's is
//! `wasmhost_log::DEFAULT_STREAM_LABELS`), taken from the line's top-level
//! fields of those names. Everything else — `wasm_instance_id`, `seq`, `msg`
//! — is reached through parsers (`| json`, `| logfmt`, …), exactly as in
//! Loki, so `count_over_time({job="gateway"}[5m])` is one series per stream.
//!
//! The grammar is LogQL v3 (see the crate README section in the workspace
//! README for what is and is not implemented); validation follows Loki with
//! Loki's wording ([`ParseError::Invalid`]); errors in pipelines flag lines
//! with `__error__`/`__error_details__`, and a metric query whose samples
//! carry `__error__` fails with Loki's pipeline error ([`EvalError`]).
//!
//! The parser is written on the `winnow` combinator crate (small, quick to
//! build, maintained, already in the workspace's lock file; chumsky and
//! pest were weighed — pest's PEG needs a second pass to build the AST,
//! chumsky is heavier to build): one function per rule of Loki's grammar,
//! over tokens that keep their byte offsets for error messages. Nesting is
//! bounded by [`MAX_DEPTH`] — parentheses and operator chains alike — so
//! deep input is [`ParseError::TooDeep`], never a stack overflow.
//!
//! ```
//! use wasmhost_logql::{parse, MetricEvaluator, MetricResult, Query, Steps};
//! let lines = [
//!     r#"{"ts":"2026-11-25T18:00:00Z","job":"gw","lang":"rust","task_id":1,"msg":"a"}"#,
//!     r#"{"ts":"2026-11-25T18:00:01Z","job":"gw","lang":"rust","task_id":1,"msg":"b"}"#,
//!     r#"{"ts":"2026-11-25T18:00:02Z","job":"gw","lang":"go","task_id":2,"msg":"c"}"#,
//! ];
//! let q = r#"sum by (lang, task_id) (count_over_time({job="gw"} | json | __error__="" [5m]))"#;
//! let Query::Metric(q) = parse(q).unwrap() else { panic!() };
//! let mut ev = MetricEvaluator::new(q, Steps::Instant(None), vec!["job".into(), "lang".into()]);
//! for l in lines {
//!     ev.push(l);
//! }
//! let MetricResult::Vector { samples, .. } = ev.finish().unwrap() else { panic!() };
//! assert_eq!(samples.len(), 2);
//! assert_eq!((samples[1].0["lang"].as_str(), samples[1].0["task_id"].as_str(), samples[1].1), ("rust", "1", 2.0));
//! ```
#![warn(missing_docs)]

mod api;
mod ast;
mod eval;
mod gotime;
mod grammar;
mod json;
mod metric;
mod parse;
mod pattern;
mod print;
mod template;
mod template_fns;
mod unquote;

pub use api::{format_rfc3339, format_time, format_value, in_window, metric_json, run_query, Direction, Options, StreamsCollector};
pub use ast::*;
/// Loki's `| json` reader, public for the benchmark against other JSON
/// parsers (`benches/json.rs`).
#[doc(hidden)]
pub use json::{visit_flat, JVal, Visit};
pub use eval::{parse_rfc3339, IpSpec, LabelSource, Labels, Passed, ERROR_DETAILS_LABEL, ERROR_LABEL};
pub use metric::{prom_labels, EvalError, MetricEvaluator, MetricResult, Steps};
pub use parse::{go_regex, parse, parse_bytes, parse_duration, ParseError, MAX_DEPTH};
pub use pattern::Pattern;
pub use print::quote;
pub use template::{Template, FUNCTIONS};
