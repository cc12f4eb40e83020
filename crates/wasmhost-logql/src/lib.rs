//! A LogQL parser and evaluator for JSON log lines, as wasmhost writes them.
//!
//! Supported: stream selectors (`=`, `!=`, `=~`, `!~`), line filters (`|=`,
//! `!=`, `|~`, `!~`), `| json` with Loki's rules (nested keys flattened with
//! `_`, other characters replaced by `_`, `__error__` on lines that are not
//! JSON), label filters (string and numeric comparisons, `and`/`or`/`,`,
//! parentheses), `| line_format` with `{{.label}}`, the range aggregations
//! `count_over_time`, `rate`, `bytes_over_time`, `bytes_rate` with `by`/
//! `without`, and the vector aggregations `sum`, `count`, `min`, `max`, `avg`.
//! Anything else is a [`ParseError::Unsupported`] that names the construct.
//!
//! ```
//! use wasmhost_logql::{parse, Query};
//! let lines = [
//!     r#"{"ts":"2026-11-25T18:00:00Z","lang":"rust","task_id":1,"msg":"a"}"#,
//!     r#"{"ts":"2026-11-25T18:00:01Z","lang":"rust","task_id":1,"msg":"b"}"#,
//!     r#"{"ts":"2026-11-25T18:00:02Z","lang":"go","task_id":2,"msg":"c"}"#,
//!     "not json",
//! ];
//! let Query::Metric(q) = parse(r#"count_over_time({lang=~".+"} | json | __error__="" [5m]) by (lang)"#).unwrap() else { panic!() };
//! let samples = q.evaluate(lines);
//! assert_eq!(samples.len(), 2);
//! assert_eq!((samples[1].labels["lang"].as_str(), samples[1].value), ("rust", 2.0));
//! ```
#![warn(missing_docs)]

mod ast;
mod eval;
mod parse;

pub use ast::*;
pub use eval::{format_sample, parse_rfc3339, LabelSource, Labels, Passed, Sample};
pub use parse::{parse, ParseError};
