//! Runs WebAssembly guests on wasmtime with every log line tagged: which
//! language, which module, which instance, which tokio task.
//!
//! The pieces, in the order data walks through them:
//!
//! - [`Host`]: the wasmtime engine and the WASI preview1 linker
//!   (`wasmtime_wasi::p1`, the maintained successor of `wasi-common`), built
//!   once;
//! - [`LoadedModule`]: a module read, detected ([`wasmhost_detect`]),
//!   compiled (or taken from the compile cache) and linked, once;
//! - [`Host::run`]: one instance, with its own UUIDv7 kept in the wasmtime
//!   `Store` data, its stdout/stderr captured into an
//!   [`InstanceLog`](wasmhost_log::InstanceLog) and sent to a
//!   [`Pipeline`](wasmhost_log::Pipeline); its WASI-NN calls
//!   ([`wasmhost_nn`], on when [`HostConfig::nn`] is set) are events on the
//!   same log.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use wasmhost::log::{JsonFormat, Pipeline, WriterSink};
//! use wasmhost::{Host, HostConfig, RunOptions};
//!
//! let host = Host::new(HostConfig::default())?;
//! let module = host.load_file("guests/build/rust/hello.wasm".as_ref())?;
//! let pipeline = Pipeline::spawn(Box::new(WriterSink::new(JsonFormat, std::io::stderr())), 1024)?;
//! let options = RunOptions { labels: vec![("tenant".into(), "acme".into())], ..Default::default() };
//! let outcome = host.run(&module, options, pipeline.sender()).await?;
//! println!("instance {} exited with {}", outcome.wasm_instance_id, outcome.exit_code);
//! pipeline.shutdown().await; // every line written
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod cancel;
mod capture;
mod component;
mod error;
mod guest_log;
mod host;
mod inspect;
mod instance;
mod invoke;
mod limits;
mod module;
mod network;
mod trace;

pub use capture::OwnLine;
pub use cancel::CancelToken;
pub use error::{HostError, LoadError, RunError};
pub use host::{runtime_builder, Host, HostConfig, Pooling, EPOCH_TICK, EVENT_INTERVAL};
pub use guest_log::{MAX_PAIRS, MODULE as GUEST_LOG_MODULE};
pub use inspect::{inspect_file, Inspection};
pub use invoke::Value;
pub use instance::{Ended, InstanceState, OutputBuffer, Preopen, RunOptions, RunOutcome, Stdin, TRAP_EXIT_CODE};
/// The log pipeline, its records, formats and sinks ([`wasmhost_log`]),
/// re-exported so that an embedder needs only this crate:
/// `wasmhost::log::{Pipeline, JsonFormat, WriterSink, LogRecord, …}`.
pub use wasmhost_log as log;
pub use limits::{LimitHit, Limits};
pub use module::{is_component, pool_slots, CompileSource, LoadOptions, LoadedModule};
pub use network::Network;
pub use trace::TraceParent;
pub use wasmhost_detect::{BinaryKind, Lang, Origin};
pub use wasmhost_nn::{GlueErrors, NamedGraph, NnBackendKind, NnConfig};

/// The README's Rust examples, compiled and run as this crate's doc tests
/// (`cargo test --doc`): the embedding example must keep working as shown.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
