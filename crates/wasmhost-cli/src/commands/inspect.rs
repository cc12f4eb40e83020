//! `wasmhost inspect MODULE [--json]`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use wasmhost::Lang;

/// Arguments of `wasmhost inspect`.
#[derive(Args)]
pub struct InspectArgs {
    /// The module (`.wasm` or `.wat`).
    module: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Use this language instead of detecting it (as `run --lang`).
    #[arg(long)]
    lang: Option<Lang>,
}

pub fn inspect(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let report = wasmhost::inspect_file(&args.module, super::load_options(args.lang)?)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("module:      {} ({:?})", report.module, report.kind);
    println!("language:    {} (confidence {:.2}, {:?})", report.lang, report.confidence, report.lang_source);
    let toolchain = report.toolchain.as_ref().map_or("unknown".to_owned(), |t| format!("{} ({})", t.name, t.evidence.join("; ")));
    println!("toolchain:   {toolchain}");
    let langs: Vec<String> = report
        .langs
        .iter()
        .map(|l| l.share.map_or(l.lang.to_string(), |s| format!("{} {:.0}%", l.lang, s * 100.0)))
        .collect();
    println!("languages:   {}", langs.join(", "));
    println!("evidence:");
    for e in &report.detection.evidence {
        let mark = if e.lang == report.detection.lang { "*" } else { " " };
        println!("  {mark} [{:?} {:>3}] {}: {}", e.tier, e.weight, e.lang, e.detail);
    }
    if report.detection.evidence.is_empty() {
        println!("    (none)");
    }
    println!("producers:");
    for field in &report.producers {
        let values: Vec<String> = field.values.iter().map(|v| format!("{} {}", v.name, v.version).trim().to_owned()).collect();
        println!("    {}: {}", field.name, values.join(", "));
    }
    println!("imports:");
    println!("    WASI preview1 ({}): {}", report.imports_wasi_p1.len(), report.imports_wasi_p1.join(", "));
    println!("    WASI-NN ({}): {}", report.imports_wasi_nn.len(), report.imports_wasi_nn.join(", "));
    println!("    wasmhost_log ({}): {}", report.imports_wasmhost_log.len(), report.imports_wasmhost_log.join(", "));
    let other: Vec<String> = report.imports_other.iter().map(|i| format!("{}.{} ({})", i.module, i.name, i.kind)).collect();
    println!("    other ({}): {}", other.len(), other.join(", "));
    let exports: Vec<String> = report.exports.iter().map(|e| format!("{} ({})", e.name, e.kind)).collect();
    println!("exports:     {}", exports.join(", "));
    if report.kind == wasmhost::BinaryKind::Component {
        println!("component imports ({}): {}", report.component_imports.len(), report.component_imports.join(", "));
        println!("component exports ({}): {}", report.component_exports.len(), report.component_exports.join(", "));
        println!("inner modules ({}): {}", report.inner_modules.len(), report.inner_modules.join(", "));
    }
    println!("custom sections: {}", report.custom_sections.join(", "));
    for m in &report.malformed {
        println!("malformed:   {m}");
    }
    Ok(ExitCode::SUCCESS)
}
