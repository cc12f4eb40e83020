//! Errors that stop a test run before it starts (a test that fails is a
//! result, not an error).

use std::path::{Path, PathBuf};

/// A suite or an expectations file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// The path given is not a directory.
    #[error("{0}: not a directory")]
    NotADirectory(PathBuf),
    /// A file or directory could not be read.
    #[error("{path}: {error}")]
    Io {
        /// What was being read.
        path: PathBuf,
        /// Why it failed (in the message, not also a `source`: a report
        /// that prints the chain would say it twice).
        error: std::io::Error,
    },
    /// A spec, manifest or expectations file is not what the format says.
    #[error("{0}: {1}")]
    Spec(PathBuf, String),
    /// Two modules with the same name (`x.wasm` and `x.wat`).
    #[error("{0}: both a .wasm and a .wat test of this name")]
    Duplicate(PathBuf),
}

impl SuiteError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> SuiteError {
        SuiteError::Io { path: path.to_owned(), error: source }
    }
}
