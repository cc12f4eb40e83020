//! Typed errors of the library API: loading a module, and running one.

use std::path::PathBuf;

/// A module could not be turned into something runnable. Each variant says
/// which step failed; `Display` names the file and the reason in one line.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read. (The I/O error is part of the message,
    /// not a `source` as well: a report that prints the chain would say it twice.)
    #[error("{path}: cannot read: {error}")]
    Read {
        /// The module's path.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The bytes are not a WebAssembly module (or text format) wasmtime accepts.
    #[error("{path}: not a valid WebAssembly module: {reason}")]
    Invalid {
        /// The module's path.
        path: PathBuf,
        /// wasmtime's reason, on one line.
        reason: String,
    },
    /// The module or component imports something the host does not
    /// provide, or a component is not a `wasi:cli/command`.
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
    /// A setting of the [`HostConfig`](crate::HostConfig) is out of range.
    #[error("{0}")]
    Config(String),
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
    #[error("cannot open directory {host} for the guest: {error}")]
    Preopen {
        /// The host directory.
        host: PathBuf,
        /// The I/O error (in the message, not also a `source`).
        error: std::io::Error,
    },
    /// The module does not export the function to call.
    #[error("the module exports no function {name:?} to call (exports: {exports})")]
    NoEntry {
        /// The function asked for.
        name: String,
        /// The functions it does export.
        exports: String,
    },
    /// A label cannot be used: its key is one of the format's own, not a
    /// valid label name, or given twice.
    #[error("{0}")]
    Label(String),
    /// Fuel was asked for on a host built without fuel metering.
    #[error("a fuel limit needs a host built with fuel metering (HostConfig::fuel)")]
    FuelNotMetered,
    /// A timeout was asked for on a host built without epoch interruption:
    /// nothing could stop a guest computing past it.
    #[error("a timeout needs a host built with epoch interruption (HostConfig::epoch_interruption)")]
    TimeoutNeedsEpochs,
    /// `--invoke`'s arguments do not fit the function's parameters.
    #[error("cannot invoke {name:?}: {reason}")]
    InvokeArgs {
        /// The function.
        name: String,
        /// What does not fit.
        reason: String,
    },
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

/// Adds what to do when wasmtime ran out of memory mappings (many pooled
/// instances: each needs about 6, and the kernel allows
/// `vm.max_map_count`, 65,530 by default) to an error that says so.
pub(crate) fn with_map_count_hint(message: String) -> String {
    let mapping_failed = ["guard page", "mmap", "mprotect", "Cannot allocate memory"].iter().any(|m| message.contains(m));
    if !mapping_failed {
        return message;
    }
    let current = std::fs::read_to_string("/proc/sys/vm/max_map_count").map(|v| v.trim().to_owned()).unwrap_or_else(|_| "unknown".into());
    format!(
        "{message} (the kernel's limit on memory mappings, vm.max_map_count = {current}, is likely reached: \
         each pooled instance needs about 6; raise it, e.g. `sysctl -w vm.max_map_count=262144`, or run fewer instances)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_failures_point_at_max_map_count() {
        let hint = with_map_count_hint("failed to protect stack guard page: Cannot allocate memory (os error 12)".into());
        assert!(hint.contains("vm.max_map_count = "), "{hint}");
        assert!(hint.contains("sysctl -w vm.max_map_count"), "{hint}");
        assert_eq!(with_map_count_hint("unknown import".into()), "unknown import");
    }
}
