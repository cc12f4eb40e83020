//! Suites and tests on disk, in the wasi-testsuite "legacy" format: a
//! directory of `NAME.wasm` (or `.wat`) modules, each with an optional
//! `NAME.json` spec, and an optional `manifest.json` naming the suite.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::SuiteError;

/// What a test expects and how it is run. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Arguments after the program name.
    #[serde(default)]
    pub args: Vec<String>,
    /// The guest's whole environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// A directory (relative to the suite) preopened as the guest's `/`.
    pub root: Option<String>,
    /// Directories (relative to the suite) preopened under their own names.
    #[serde(default)]
    pub dirs: Vec<String>,
    /// The expected exit code (default 0).
    #[serde(default)]
    pub exit_code: i32,
    /// The expected stdout, compared exactly when given.
    pub stdout: Option<String>,
    /// The expected stderr, compared exactly when given.
    pub stderr: Option<String>,
}

/// One test: a module and its spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    /// The module's file name without extension.
    pub name: String,
    /// The module file.
    pub module: PathBuf,
    /// Its spec (the default when there is no `NAME.json`).
    pub spec: Spec,
}

/// A directory of tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suite {
    /// `manifest.json`'s `name`, else the directory's name.
    pub name: String,
    /// The directory: tests run with it as their working directory.
    pub dir: PathBuf,
    /// Its tests, sorted by name.
    pub tests: Vec<TestCase>,
}

#[derive(Deserialize)]
struct Manifest {
    name: Option<String>,
}

/// Finds the suites under `dir`: every directory holding a `manifest.json`,
/// or `dir` itself when there is none.
///
/// ```no_run
/// let suites = wasmhost_testsuite::discover("tests/wasi".as_ref()).unwrap();
/// for suite in &suites {
///     println!("{}: {} tests", suite.name, suite.tests.len());
/// }
/// ```
pub fn discover(dir: &Path) -> Result<Vec<Suite>, SuiteError> {
    if !dir.is_dir() {
        return Err(SuiteError::NotADirectory(dir.to_owned()));
    }
    let mut manifests = Vec::new();
    find_manifests(dir, &mut manifests)?;
    if manifests.is_empty() {
        manifests.push(dir.to_owned());
    }
    manifests.sort();
    manifests.iter().map(|d| read_suite(d)).collect()
}

fn find_manifests(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SuiteError> {
    if dir.join("manifest.json").is_file() {
        out.push(dir.to_owned());
    }
    for entry in std::fs::read_dir(dir).map_err(|e| SuiteError::io(dir, e))? {
        let path = entry.map_err(|e| SuiteError::io(dir, e))?.path();
        // Test data directories (`*.dir`, `*.cleanup`) hold no suites.
        let data = path.extension().is_some_and(|e| e == "dir" || e == "cleanup");
        if path.is_dir() && !data && !path.is_symlink() {
            find_manifests(&path, out)?;
        }
    }
    Ok(())
}

fn read_suite(dir: &Path) -> Result<Suite, SuiteError> {
    let manifest = dir.join("manifest.json");
    let named = if manifest.is_file() {
        let text = std::fs::read_to_string(&manifest).map_err(|e| SuiteError::io(&manifest, e))?;
        serde_json::from_str::<Manifest>(&text).map_err(|e| SuiteError::Spec(manifest.clone(), e.to_string()))?.name
    } else {
        None
    };
    let name = named.unwrap_or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| ".".into()));
    let mut tests = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| SuiteError::io(dir, e))? {
        let module = entry.map_err(|e| SuiteError::io(dir, e))?.path();
        let is_module = module.is_file() && module.extension().is_some_and(|e| e == "wasm" || e == "wat");
        if !is_module {
            continue;
        }
        let spec_path = module.with_extension("json");
        let spec = if spec_path.is_file() {
            let text = std::fs::read_to_string(&spec_path).map_err(|e| SuiteError::io(&spec_path, e))?;
            serde_json::from_str(&text).map_err(|e| SuiteError::Spec(spec_path.clone(), e.to_string()))?
        } else {
            Spec::default()
        };
        let name = module.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        tests.push(TestCase { name, module, spec });
    }
    tests.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(pair) = tests.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(SuiteError::Duplicate(dir.join(&pair[0].name)));
    }
    Ok(Suite { name, dir: dir.to_owned(), tests })
}
