//! Runs directories of WASI test modules on wasmhost: the wasi-testsuite
//! "legacy" format (a module per test, an optional JSON spec beside it),
//! in parallel (tests that preopen the same directory take turns), each
//! test in its own instance with its own UUID and tagged log lines, and reports the results as text, JUnit XML and JSON lines.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use wasmhost_testsuite::{discover, run_suites, RunConfig, Summary};
//! use wasmhost_log::{JsonFormat, Pipeline, WriterSink};
//!
//! let host = Arc::new(wasmhost::Host::new(Default::default())?);
//! let suites = discover("tests/wasi".as_ref())?;
//! let pipeline = Pipeline::spawn(Box::new(WriterSink::new(JsonFormat, std::io::sink())), 4096)?;
//! let results = run_suites(host, &suites, &RunConfig::default(), pipeline.sender(), |_| {}).await;
//! println!("{}", Summary::of(&results));
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod error;
mod expect;
mod report;
mod runner;
mod spec;

pub use error::SuiteError;
pub use expect::{matches as pattern_matches, Expectations};
pub use report::{json_lines, junit, Summary};
pub use runner::{run_suites, Outcome, RunConfig, TestResult};
pub use spec::{discover, Spec, Suite, TestCase};
