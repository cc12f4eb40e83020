//! Which toolchain produced a module: the outermost one that left a mark
//! (wasm-bindgen over rustc, emscripten over clang), with what shows it.

use crate::detect::{emscripten_imports, imports_only_env, is_side_module, tinygo_layout, Evidence, Toolchain, DECISIVE};
use crate::facts::ModuleFacts;
use crate::lang::Lang;

/// The toolchains in the order they are reported when several left marks:
/// a packager or binding generator before the compiler under it.
const ORDER: [&str; 14] = [
    "componentize-py",
    "componentize-js",
    "dotnet",
    "wasm-bindgen",
    "emscripten",
    "tinygo",
    "go",
    "asc",
    "zig",
    "swiftc",
    "wit-component",
    "wasi-sdk",
    "rustc",
    "clang",
];

/// Finds every toolchain mark and returns the first in [`ORDER`].
pub(crate) fn toolchain(f: &ModuleFacts<'_>, evidence: &[Evidence]) -> Option<Toolchain> {
    let mut marks: Vec<(&'static str, String)> = Vec::new();
    for v in f.producer_values("processed-by") {
        let lower = format!("{} {}", v.name, v.version).to_ascii_lowercase();
        let detail = format!("producers processed-by: {} {}", v.name, v.version);
        let name = match () {
            _ if lower.contains("componentize-py") => "componentize-py",
            _ if lower.contains("componentizejs") => "componentize-js",
            _ if lower.starts_with("wasm-bindgen ") || lower.starts_with("walrus ") => "wasm-bindgen",
            _ if lower.contains("tinygo") => "tinygo",
            _ if lower.contains("cmd/compile") || lower.starts_with("go ") => "go",
            _ if lower.contains("assemblyscript") => "asc",
            _ if lower.contains("zig") => "zig",
            _ if lower.starts_with("wit-component") => "wit-component",
            _ if lower.contains("clang") && lower.contains("wasi-sdk") => "wasi-sdk",
            _ if lower.starts_with("rustc") => "rustc",
            _ if lower.contains("clang") => "clang",
            _ => continue,
        };
        marks.push((name, detail));
    }
    if let Some(e) = emscripten_imports(f) {
        marks.push(("emscripten", e));
    }
    if is_side_module(f) && imports_only_env(f) && !marks.iter().any(|(n, _)| *n == "wasi-sdk") {
        marks.push(("emscripten", "side module importing only env (emscripten's SIDE_MODULE)".to_owned()));
    }
    for e in evidence.iter().filter(|e| e.weight >= DECISIVE) {
        let name = match e.lang {
            Lang::Rust if e.detail.contains("wasm-bindgen") => "wasm-bindgen",
            Lang::Rust => "rustc",
            // Go's strings laid out by wasm-ld: TinyGo built it.
            Lang::Tinygo => "tinygo",
            Lang::Go if tinygo_layout(f) => "tinygo",
            Lang::Go => "go",
            Lang::Assemblyscript => "asc",
            Lang::Zig => "zig",
            Lang::Dotnet => "dotnet",
            Lang::Swift => "swiftc",
            _ => continue,
        };
        marks.push((name, e.detail.clone()));
    }
    let name = ORDER.iter().find(|n| marks.iter().any(|(m, _)| m == *n))?;
    let evidence = marks.into_iter().filter(|(m, _)| m == name).map(|(_, d)| d).collect();
    Some(Toolchain { name: (*name).to_owned(), evidence })
}
