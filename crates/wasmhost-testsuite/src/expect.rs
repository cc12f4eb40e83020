//! The expectations file (TOML), as wasi-testsuite's runner has one: tests to
//! skip and tests known to fail, by `suite/name` pattern (`*` matches any run
//! of characters).
//!
//! ```toml
//! skip = ["wasi-c/symlink_*"]
//! expected_failures = ["wasi-rust/readdir_order"]
//! ```

use std::path::Path;

use serde::Deserialize;

use crate::error::SuiteError;

/// Tests to skip and tests expected to fail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// Patterns of tests not to run.
    #[serde(default)]
    pub skip: Vec<String>,
    /// Patterns of tests that fail today: their failure is not a failure of
    /// the run, their passing is.
    #[serde(default)]
    pub expected_failures: Vec<String>,
}

impl Expectations {
    /// Reads an expectations file.
    pub fn load(path: &Path) -> Result<Expectations, SuiteError> {
        let text = std::fs::read_to_string(path).map_err(|e| SuiteError::io(path, e))?;
        toml::from_str(&text).map_err(|e| SuiteError::Spec(path.to_owned(), e.to_string().trim().replace('\n', " ")))
    }

    /// Why `suite/name` is skipped, if it is.
    pub fn skip_reason(&self, full_name: &str) -> Option<String> {
        self.skip.iter().find(|p| matches(p, full_name)).map(|p| format!("skipped by the expectations file ({p})"))
    }

    /// Whether `suite/name` is expected to fail.
    pub fn expects_failure(&self, full_name: &str) -> bool {
        self.expected_failures.iter().any(|p| matches(p, full_name))
    }
}

/// `*` matches any run of characters; everything else itself.
///
/// ```
/// # use wasmhost_testsuite::pattern_matches as matches;
/// assert!(matches("wasi-c/fs_*", "wasi-c/fs_files"));
/// assert!(matches("*/clock*", "wasi-rust/clocks"));
/// assert!(!matches("wasi-c/fs", "wasi-c/fs_files"));
/// ```
pub fn matches(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i == parts.len() - 1 {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}
