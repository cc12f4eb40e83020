//! `inspect`: what a module says about itself and what the detector makes of
//! it, without compiling it.

use std::path::{Path, PathBuf};

use serde::Serialize;
use wasmhost_detect::{
    BinaryKind, Detection, ExportFact, ImportFact, LangShare, ModuleFacts, ProducersField, Resolved, Toolchain,
};

use crate::error::LoadError;
use crate::module::{module_name, read_module, to_binary, LoadOptions};

/// The report of [`inspect_file`]; serialises to the `inspect --json` object.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// The file.
    pub path: PathBuf,
    /// `module` or `component`.
    pub kind: BinaryKind,
    /// The language the instance's lines would be tagged with.
    pub lang: wasmhost_detect::Lang,
    /// Its confidence, 0.0 to 1.0.
    pub confidence: f64,
    /// Where the language came from: `detected`, `override`, `environment`.
    pub lang_source: wasmhost_detect::Origin,
    /// Every language found, with its share of the code and evidence
    /// (`c` 96% + `rust` 4% for a C program linking a Rust crate).
    pub langs: Vec<LangShare>,
    /// The toolchain (`wasi-sdk`, `emscripten`, `wasm-bindgen`, …) and what shows it.
    pub toolchain: Option<Toolchain>,
    /// The detector's full answer, evidence included.
    pub detection: Detection,
    /// The module name (name section, else the file stem).
    pub module: String,
    /// The `name` section's module name only.
    pub name_section_module: Option<String>,
    /// All producers fields.
    pub producers: Vec<ProducersField>,
    /// Imports from `wasi_snapshot_preview1` / `wasi_unstable`.
    pub imports_wasi_p1: Vec<String>,
    /// Imports from `wasi_ephemeral_nn`.
    pub imports_wasi_nn: Vec<String>,
    /// Imports from `wasmhost_log`, the host's logging API (docs/guest-api.md).
    pub imports_wasmhost_log: Vec<String>,
    /// All other imports.
    pub imports_other: Vec<ImportFact>,
    /// Exports.
    pub exports: Vec<ExportFact>,
    /// A component's imports as WIT names (`wasi:cli/environment@0.2.12`).
    pub component_imports: Vec<String>,
    /// A component's exports as WIT names (`wasi:cli/run@0.2.12`).
    pub component_exports: Vec<String>,
    /// A component's core modules: their `name` section's name, else `#N`.
    pub inner_modules: Vec<String>,
    /// Names of all custom sections.
    pub custom_sections: Vec<String>,
    /// Sections that could not be read (evidence of nothing).
    pub malformed: Vec<String>,
}

/// Reads and inspects a `.wasm` or `.wat` file. Fails only when the file
/// cannot be read or its structure is broken; malformed custom sections
/// are reported in [`Inspection::malformed`].
///
/// ```no_run
/// let report = wasmhost::inspect_file("guests/build/go/hello.wasm".as_ref(), Default::default()).unwrap();
/// assert_eq!(report.lang, wasmhost::Lang::Go);
/// ```
pub fn inspect_file(path: &Path, options: LoadOptions) -> Result<Inspection, LoadError> {
    let bytes = read_module(path)?;
    let binary = to_binary(path, &bytes)?;
    let facts = ModuleFacts::read(&binary);
    // A structural error (bad header, truncated section) makes the file
    // unrunnable, as `run` would say; malformed custom-section contents do not.
    if let Some(error) = &facts.parse_error {
        return Err(LoadError::Invalid { path: path.to_owned(), reason: error.clone() });
    }
    let detection = wasmhost_detect::detect_facts(&facts);
    let Resolved { lang, confidence, origin } = wasmhost_detect::resolve(&detection, options.lang, options.module_type);
    let (mut p1, mut nn, mut log, mut other) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for import in facts.imports.iter().cloned() {
        match import.module.as_str() {
            "wasi_snapshot_preview1" | "wasi_unstable" => p1.push(import.name),
            "wasi_ephemeral_nn" => nn.push(import.name),
            crate::guest_log::MODULE => log.push(import.name),
            _ => other.push(import),
        }
    }
    let module = module_name(&facts, path);
    Ok(Inspection {
        path: path.to_owned(),
        kind: facts.kind,
        lang,
        confidence,
        lang_source: origin,
        langs: detection.langs.clone(),
        toolchain: detection.toolchain.clone(),
        detection,
        module,
        name_section_module: facts.module_name.clone(),
        producers: facts.producers.clone(),
        imports_wasi_p1: p1,
        imports_wasi_nn: nn,
        imports_wasmhost_log: log,
        imports_other: other,
        exports: facts.exports.clone(),
        component_imports: facts.component_imports.clone(),
        component_exports: facts.component_exports.clone(),
        inner_modules: facts
            .inner
            .iter()
            .enumerate()
            .map(|(i, m)| m.module_name.clone().unwrap_or_else(|| format!("#{i}")))
            .collect(),
        custom_sections: facts.custom_sections.clone(),
        malformed: facts.malformed.clone(),
    })
}
