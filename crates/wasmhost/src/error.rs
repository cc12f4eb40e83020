//! Typed errors of the library API: loading a module, and running one.

use std::path::PathBuf;

/// A module could not be turned into something runnable. Each variant says
/// which step failed; `Display` names the file and the reason in one line.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The module's path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not a WebAssembly module (or text format) wasmtime accepts.
    #[error("{path}: not a valid WebAssembly module: {reason}")]
    Invalid {
        /// The module's path.
        path: PathBuf,
        /// wasmtime's reason, on one line.
        reason: String,
    },
    /// The binary is a component; `wasmhost run` runs core modules.
    #[error("{path}: is a WebAssembly component; only core modules (WASI preview1) can be run")]
    Component {
        /// The module's path.
        path: PathBuf,
    },
    /// The module imports something the host does not provide.
    #[error("{path}: cannot link: {reason}")]
    Link {
        /// The module's path.
        path: PathBuf,
        /// wasmtime's reason, e.g. an unknown import.
        reason: String,
    },
}

/// Creating the host failed (engine settings, cache directory).
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// wasmtime rejected the engine configuration.
    #[error("cannot create the wasmtime engine: {0}")]
    Engine(String),
    /// The WASI functions could not be added to the linker.
    #[error("cannot set up WASI: {0}")]
    Wasi(String),
    /// WASI-NN could not be set up: an unusable backend or a graph that
    /// does not preload.
    #[error("cannot set up WASI-NN: {0}")]
    Nn(wasmhost_nn::NnError),
}

/// Setting up an instance failed before the guest ran.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A `--dir` could not be opened.
    #[error("cannot open directory {host} for the guest: {source}")]
    Preopen {
        /// The host directory.
        host: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The module does not export the function to call.
    #[error("the module exports no function {name:?} to call (exports: {exports})")]
    NoEntry {
        /// The function asked for.
        name: String,
        /// The functions it does export.
        exports: String,
    },
    /// Fuel was asked for on a host built without fuel metering.
    #[error("a fuel limit needs a host built with fuel metering (HostConfig::fuel)")]
    FuelNotMetered,
    /// Instantiation failed (e.g. a start function trapped, limits).
    #[error("cannot instantiate: {0}")]
    Instantiate(String),
}

/// One-line rendering of an error chain (wasmtime's errors are multi-part).
pub(crate) fn one_line(err: &wasmtime::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string().replace('\n', " ");
        if !parts.iter().any(|p| p.contains(text.trim())) {
            parts.push(text.trim().to_owned());
        }
    }
    parts.join(": ")
}
