//! WASI-NN for wasmhost guests: preview1 guests import `wasi_ephemeral_nn`
//! and run ONNX models, and every call they make is an event on their own
//! log stream.
//!
//! - [`TractBackend`]: the default backend, ONNX on `tract-onnx` (pure
//!   Rust), plugged in through wasmtime-wasi-nn's public backend traits;
//! - the stock onnxruntime backend with the cargo feature `ort`
//!   ([`NnBackendKind::Ort`]), its library checked before it is used;
//! - [`NnHost`]: the backend and preloaded graphs a host shares, and a
//!   `WasiNnCtx` per instance whose calls report [`NnEvent`]s to an
//!   [`NnObserver`] (an instance's `InstanceLog` is one).
//!
//! The guest-facing ABI is wasmtime-wasi-nn's own witx glue
//! ([`wasmtime_wasi_nn::witx::add_to_linker`]); this crate adds no host
//! functions of its own. The errors that glue finds itself reach the
//! instance's log through `tracing` ([`GlueErrors`], [`observe_glue`]).
//!
//! ```
//! use wasmhost_nn::TractBackend;
//! use wasmtime_wasi_nn::backend::BackendInner;
//! use wasmtime_wasi_nn::wit::GraphEncoding;
//!
//! assert_eq!(TractBackend.encoding(), GraphEncoding::Onnx);
//! ```

#![warn(missing_docs)]

mod glue;
mod host;
mod log;
mod observe;
#[cfg(feature = "ort")]
mod ort;
mod tract;

use std::path::PathBuf;

pub use glue::{observe_glue, GlueErrors};
pub use host::{NamedGraph, NnBackendKind, NnConfig, NnHost};
pub use observe::{NnEvent, NnObserver};
pub use tract::TractBackend;
pub use wasmtime_wasi_nn::witx::{add_to_linker, WasiNnCtx};
/// The wasmtime-wasi-nn this crate is built on: its backend traits, for
/// embedders that plug in a backend of their own.
pub use wasmtime_wasi_nn;

/// Why WASI-NN could not be set up for a host.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    /// `--nn-backend` named no backend this build knows.
    #[error("unknown NN backend {0:?}: expected tract or ort")]
    UnknownBackend(String),
    /// The `ort` backend was asked for but not compiled in.
    #[error("this wasmhost was built without the `ort` feature: use the tract backend, or build with --features ort")]
    OrtNotBuilt,
    /// onnxruntime is missing or unusable.
    #[error("the ort backend cannot start: {0}")]
    Ort(String),
    /// A `--nn-graph` value is not `ENCODING::DIR`.
    #[error("{0:?} is not ENCODING::DIR (e.g. onnx::models/mlp)")]
    GraphSpec(String),
    /// A preloaded graph failed to load.
    #[error("preloading the graph in {dir}: {message}")]
    Graph {
        /// The graph's directory.
        dir: PathBuf,
        /// What went wrong.
        message: String,
    },
}
