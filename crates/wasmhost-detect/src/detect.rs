//! The rules: from [`ModuleFacts`] to a language, a confidence, the share of
//! code of every language found, the toolchain, and the evidence.
//!
//! Evidence comes in three tiers:
//!
//! 1. **sections** — what toolchains write about themselves and the ABI
//!    they leave in imports and exports: `producers` (`processed-by` rustc /
//!    Go cmd/compile / TinyGo / wasm-bindgen, `language` read with knowledge
//!    of libc noise), DWARF producer strings, `go:buildid`, wasm-bindgen's
//!    `wbg` imports, Go's `gojs` imports, CPython's exported `Py…` API;
//! 2. **names** — the code itself, attributed per function by its name in the
//!    `name` section and weighed by body size (see [`crate::names`]); the
//!    language the entry point leads to decides, else the largest share;
//! 3. **shape** — what survives stripping: strings a language's runtime puts
//!    in data segments, the global layout, the import set.
//!
//! An interpreter or runtime hosting Python, JavaScript, Ruby or .NET
//! (libpython, CPython's API, MicroPython, StarlingMonkey, QuickJS, CRuby,
//! Mono) is tagged with the language it runs. Otherwise, when names cover
//! enough of the code, the code decides: `producers` lists
//! every language that was *linked* (`processed-by: rustc` appears when a C
//! program links one Rust crate), names say how much of the code each one
//! wrote. Without names, the highest tier with *decisive* evidence (weight
//! ≥ [`DECISIVE`]) decides. Confidence follows the tier and how clearly the
//! winner beats the others; below [`UNKNOWN_BELOW`] the tag is `unknown`.

use serde::{Deserialize, Serialize};

use crate::dwarf::Unit;
use crate::facts::ModuleFacts;
use crate::lang::Lang;
use crate::names::{self, CodeShares};

/// Weight from which one piece of evidence can decide its tier alone.
pub const DECISIVE: u32 = 10;

/// Below this confidence the detector answers `unknown` (and keeps the
/// evidence it had).
pub const UNKNOWN_BELOW: f64 = 0.3;

/// The most confidence one weak shape hint (weight under [`STRONG_HINT`])
/// can give a language: below [`UNKNOWN_BELOW`], so it is reported as
/// evidence of an `unknown` verdict, never as the verdict.
pub const WEAK_HINT_MAX: f64 = 0.25;

/// A shape hint from this weight on is specific to one language's runtime
/// (a string only its standard library contains).
pub const STRONG_HINT: u32 = 20;

/// Weight of an interpreter's marks (libpython, StarlingMonkey, QuickJS):
/// the module runs that language's programs, whatever it is written in.
const HOSTS: u32 = 100;

/// C evidence up to this weight (clang ran, `C99` in producers, wasi-libc's
/// strings, clang's memory layout) is what every wasm-ld-linked language
/// carries: it names C only when no other language has decisive evidence in
/// the same tier, and is not counted against that language's confidence.
const NOISE_MAX: u32 = 20;

/// Names decide over `producers` when the functions they attribute hold at
/// least this share of the code.
const NAMED_COVERAGE_MIN: f64 = 0.3;

/// How trusted a kind of evidence is; higher decides first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Only structure and data survive.
    Shape = 1,
    /// The code, attributed by the `name` section's function names.
    Names = 2,
    /// Toolchain self-description: producers, DWARF, special sections and
    /// the toolchain's import/export ABI.
    Sections = 3,
}

/// One observation and the language it points to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The language it points to.
    pub lang: Lang,
    /// How trusted this kind of evidence is.
    pub tier: Tier,
    /// How strongly it points there; [`DECISIVE`] or more decides a tier.
    pub weight: u32,
    /// What was seen, for people: e.g. `producers processed-by: rustc 1.63.0`.
    pub detail: String,
}

/// One language found in the module, with its share of the code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LangShare {
    /// The language.
    pub lang: Lang,
    /// Its share (0 to 1) of the code attributed by function names, toolchain
    /// code left out; `None` when the module has no names to attribute by.
    pub share: Option<f64>,
    /// What shows it.
    pub evidence: Vec<String>,
}

/// The toolchain that produced the module (the outermost one: wasm-bindgen
/// over rustc, emscripten over clang), with what shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Toolchain {
    /// A stable lower-case name: `wasi-sdk`, `emscripten`, `rustc`,
    /// `wasm-bindgen`, `go`, `tinygo`, `zig`, `asc`, `componentize-py`,
    /// `componentize-js`, `dotnet`, `swiftc`, `wit-component`, `clang`.
    pub name: String,
    /// What shows it.
    pub evidence: Vec<String>,
}

/// The detector's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// The language, or `Unknown`.
    pub lang: Lang,
    /// 0.0 to 1.0: about 0.95 for toolchain sections, 0.9 for code
    /// attributed by names, at most 0.7 for shape alone, 0 for unknown.
    pub confidence: f64,
    /// The tier that decided, if any.
    pub tier: Option<Tier>,
    /// Everything seen, strongest first.
    pub evidence: Vec<Evidence>,
    /// Every language found, largest share first.
    pub langs: Vec<LangShare>,
    /// The toolchain, when something shows it.
    pub toolchain: Option<Toolchain>,
}

impl Detection {
    /// Nothing seen: `unknown`, confidence 0.
    ///
    /// ```
    /// assert_eq!(wasmhost_detect::Detection::unknown().lang, wasmhost_detect::Lang::Unknown);
    /// ```
    pub fn unknown() -> Self {
        Detection { lang: Lang::Unknown, confidence: 0.0, tier: None, evidence: Vec::new(), langs: Vec::new(), toolchain: None }
    }

    /// The evidence as one line, e.g. for a log field:
    /// `sections: producers processed-by rustc 1.63.0; ...`. For `unknown`,
    /// the hints that were too weak to name a language.
    pub fn evidence_summary(&self) -> String {
        self.evidence
            .iter()
            .filter(|e| self.lang == Lang::Unknown || e.lang == self.lang)
            .map(|e| e.detail.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

struct Collector(Vec<Evidence>);

impl Collector {
    fn add(&mut self, lang: Lang, tier: Tier, weight: u32, detail: impl Into<String>) {
        self.0.push(Evidence { lang, tier, weight, detail: detail.into() });
    }

    fn has(&self, lang: Lang, min_weight: u32) -> bool {
        self.0.iter().any(|e| e.lang == lang && e.weight >= min_weight)
    }
}

/// Detects the language of the module (or component) described by `facts`.
///
/// ```
/// // A module with only a producers section naming rustc.
/// let mut bytes = b"\0asm\x01\0\0\0".to_vec();
/// let payload = b"\x09producers\x01\x0cprocessed-by\x01\x05rustc\x061.95.0";
/// bytes.push(0);
/// bytes.push(payload.len() as u8);
/// bytes.extend_from_slice(payload);
/// let detection = wasmhost_detect::detect(&bytes);
/// assert_eq!(detection.lang, wasmhost_detect::Lang::Rust);
/// assert!(detection.confidence > 0.9);
/// assert_eq!(detection.toolchain.unwrap().name, "rustc");
/// ```
pub fn detect_facts(facts: &ModuleFacts<'_>) -> Detection {
    if facts.kind == crate::facts::BinaryKind::Component {
        return crate::component::detect_component(facts);
    }
    let mut code = names::code_shares(facts);
    if let Some(owner) = plain_names_owner(facts) {
        code.reattribute_plain(owner);
    }
    if !c_toolchain_seen(facts, &code) {
        code.forget_plain();
    }
    let units = crate::dwarf::compile_units(facts);
    if code.coverage() < NAMED_COVERAGE_MIN {
        // No telling names: DWARF's compile units attribute the code.
        let by_units = crate::dwarf::code_shares(&units, code.total);
        if by_units.coverage() > code.coverage() {
            code = by_units;
        }
    }
    let markers = markers_found(facts);
    let mut c = Collector(Vec::new());
    section_rules(facts, &code, &markers, &mut c);
    unit_rules(&units, &mut c);
    abi_rules(facts, &mut c);
    name_rules(&code, &mut c);
    shape_rules(facts, &markers, &mut c);
    let toolchain = crate::toolchain::toolchain(facts, &c.0);
    let mut d = decide(c.0, &code, tinygo_layout(facts));
    d.langs = langs(&d.evidence, &code);
    d.toolchain = toolchain;
    d
}

fn section_rules(f: &ModuleFacts<'_>, code: &CodeShares, markers: &[bool], c: &mut Collector) {
    use Tier::Sections as T;
    for v in f.producer_values("processed-by") {
        let lower = v.name.to_ascii_lowercase();
        let detail = format!("producers processed-by: {} {}", v.name, v.version);
        if lower.starts_with("rustc") {
            c.add(Lang::Rust, T, 100, detail);
        } else if lower.contains("tinygo") {
            c.add(Lang::Tinygo, T, 100, detail);
        } else if lower.starts_with("go ") || lower == "go" || lower.contains("cmd/compile") {
            c.add(Lang::Go, T, 100, detail);
        } else if lower.contains("assemblyscript") {
            c.add(Lang::Assemblyscript, T, 100, detail);
        } else if lower.contains("componentizejs") || lower.contains("starlingmonkey") {
            c.add(Lang::Javascript, T, HOSTS, detail);
        } else if lower.contains("componentize-py") {
            c.add(Lang::Python, T, HOSTS, detail);
        } else if lower == "wasm-bindgen" || lower.starts_with("wit-bindgen-rust") {
            // Both generate Rust glue: only Rust code links them.
            c.add(Lang::Rust, T, 80, detail);
        } else if lower == "walrus" {
            c.add(Lang::Rust, T, 30, format!("{detail} (wasm-bindgen's rewriter)"));
        } else if lower.starts_with("wit-bindgen-c") {
            c.add(Lang::C, T, 40, detail);
        } else if lower.contains("zig") && !lower.contains("clang") {
            c.add(Lang::Zig, T, 90, detail);
        } else if lower.contains("clang") {
            // clang compiles C, C++ and the C parts of every other toolchain
            // (zig cc's clang mentions zig-bootstrap): it says "a C-family
            // compiler ran", decisive only if nothing else speaks.
            c.add(Lang::C, T, NOISE_MAX, detail);
        }
    }
    let wasi_sdk = f.producer_values("processed-by").any(|v| v.name.contains("wasi-sdk") || v.version.contains("wasi-sdk"));
    for v in f.producer_values("language") {
        let lower = v.name.to_ascii_lowercase();
        let detail = format!("producers language: {} {}", v.name, v.version);
        if lower == "rust" {
            c.add(Lang::Rust, T, 60, detail);
        } else if lower.starts_with("c_plus_plus") || lower.starts_with("c++") {
            if wasi_sdk && !cpp_corroborated(f, code, markers) {
                // wasi-sdk ≥ 20 links libc++'s int128 helpers into every C
                // program: its C++ compile unit is the toolchain's.
                c.add(Lang::Cpp, T, 8, format!("{detail} (wasi-sdk links a libc++ source into C programs; no C++ code or libc++ seen)"));
            } else {
                c.add(Lang::Cpp, T, 60, detail);
            }
        } else if lower.starts_with("go") {
            c.add(Lang::Go, T, 60, detail);
        } else if lower == "zig" {
            c.add(Lang::Zig, T, 60, detail);
        } else if lower == "javascript" {
            c.add(Lang::Javascript, T, HOSTS, detail);
        } else if lower == "python" {
            c.add(Lang::Python, T, HOSTS, detail);
        } else if lower == "assemblyscript" {
            c.add(Lang::Assemblyscript, T, 60, detail);
        } else if lower.starts_with('c') && lower[1..].chars().all(|ch| ch.is_ascii_digit()) {
            // C89/C99/C11/C17: wasi-libc's debug info writes this into
            // every module that links it, whatever its language.
            c.add(Lang::C, T, 5, format!("{detail} (also written by linked libc)"));
        }
    }
    if let Some(s) = f.custom_sections.iter().find(|s| s.starts_with(".swift") || s.starts_with("swift5_")) {
        c.add(Lang::Swift, T, 80, format!("custom section {s} (written by the Swift compiler)"));
    }
    if f.custom_sections.iter().any(|s| s == "go:buildid") {
        c.add(Lang::Go, T, 80, "custom section go:buildid (written by the Go linker)");
    }
    if let Some(debug_str) = f.debug_str {
        dwarf_producers(debug_str, c);
    }
}

/// DWARF compile units as evidence: each language's program units, and the
/// toolchain's units named as such (wasi-sdk's libc++ file in a C program).
fn unit_rules(units: &[Unit], c: &mut Collector) {
    use Tier::Sections as T;
    let program: u64 = units.iter().filter(|u| !u.toolchain && u.lang.is_some()).map(|u| u.size).sum();
    let mut langs: Vec<(Lang, u64, u32, &str)> = Vec::new();
    for u in units.iter().filter(|u| !u.toolchain) {
        let Some(lang) = u.lang else { continue };
        match langs.iter_mut().find(|(l, _, _, _)| *l == lang) {
            Some((_, size, n, _)) => {
                *size += u.size;
                *n += 1;
            }
            None => langs.push((lang, u.size, 1, u.name.as_str())),
        }
    }
    for (lang, size, n, example) in langs {
        let share = if program == 0 { 0.0 } else { size as f64 / program as f64 };
        let weight = ((share * 100.0).round() as u32).max(1);
        c.add(lang, T, weight, format!("DWARF: {n} {lang} compile units ({:.0}% of the program's code), e.g. {example}", share * 100.0));
    }
    let toolchain: Vec<&Unit> = units.iter().filter(|u| u.toolchain && u.lang.is_some()).collect();
    if let Some(u) = toolchain.iter().find(|u| u.lang == Some(Lang::Cpp)).or(toolchain.first()) {
        if let Some(lang) = u.lang {
            c.add(lang, T, 0, format!("DWARF: {} toolchain compile units (not the program's), e.g. {}", toolchain.len(), u.name));
        }
    }
}

/// Whether a C toolchain shows besides plain names: its own functions
/// (`__wasm_call_ctors`, compiler-rt, libc internals), wasm-ld's stack
/// pointer, clang or a C language in `producers`, emscripten's imports.
fn c_toolchain_seen(f: &ModuleFacts<'_>, code: &CodeShares) -> bool {
    code.toolchain > 0
        || wasm_ld_stack_pointer(f).is_some()
        || f.producer_values("processed-by").any(|v| v.name.contains("clang"))
        || f.producer_values("language").any(|v| v.name.starts_with('C'))
        || emscripten_imports(f).is_some()
}

/// When `producers` lists languages and C is not among them, plain names
/// are that language's `extern "C"`/`#[no_mangle]` functions, not C code
/// (a `no_std` Rust module names its exports plainly and links no libc).
fn plain_names_owner(f: &ModuleFacts<'_>) -> Option<Lang> {
    let mut langs = f.producer_values("language").map(|v| v.name.to_ascii_lowercase()).peekable();
    langs.peek()?;
    let mut owner = None;
    for l in langs {
        match l.as_str() {
            "rust" => owner = Some(Lang::Rust),
            "zig" => owner = Some(Lang::Zig),
            l if l.starts_with("go") => owner = Some(Lang::Go),
            _ => return None,
        }
    }
    owner
}

/// Whether anything besides `producers` shows C++: C++ names, libc++'s type
/// names in data, or imported C++ symbols (a side module's libc++ calls).
fn cpp_corroborated(f: &ModuleFacts<'_>, code: &CodeShares, markers: &[bool]) -> bool {
    code.share(Lang::Cpp) > 0.0
        || f.imports.iter().any(|i| i.name.starts_with("_Z") || i.name.starts_with("__cxa_"))
        || DATA_MARKERS.iter().zip(markers).any(|(m, found)| m.0 == Lang::Cpp && *found)
}

/// DWARF compile units name their compiler (`DW_AT_producer`), usually as a
/// string in `.debug_str`: `zig 0.17.1`, `clang version 14.0.6`,
/// `clang LLVM (rustc version 1.63.0)`.
fn dwarf_producers(debug_str: &[u8], c: &mut Collector) {
    use Tier::Sections as T;
    for s in debug_str.split(|&b| b == 0) {
        let Ok(s) = std::str::from_utf8(s) else { continue };
        if let Some(version) = s.strip_prefix("zig ") {
            if version.starts_with(|ch: char| ch.is_ascii_digit()) {
                c.add(Lang::Zig, T, 90, format!("DWARF producer: {s}"));
                return;
            }
        } else if s.contains("(rustc version ") {
            c.add(Lang::Rust, T, 90, format!("DWARF producer: {s}"));
            return;
        }
    }
}

/// The ABI a toolchain's glue leaves in imports and exports: it survives
/// stripping and names the language as surely as `producers`.
fn abi_rules(f: &ModuleFacts<'_>, c: &mut Collector) {
    use Tier::Sections as T;
    if let Some(i) = f.imports.iter().find(|i| i.module == "wbg" || i.module == "__wbindgen_placeholder__" || i.name.starts_with("__wbindgen_") || i.name.starts_with("__wbg_")) {
        c.add(Lang::Rust, T, 80, format!("imports {}.{} (wasm-bindgen's glue, Rust only)", i.module, i.name));
    }
    let gojs: Vec<&str> = f.imports.iter().filter(|i| i.module == "gojs").map(|i| i.name.as_str()).collect();
    if gojs.iter().any(|n| n.starts_with("runtime.ticks") || n.starts_with("runtime.sleepTicks")) {
        c.add(Lang::Tinygo, T, 80, "imports gojs.runtime.ticks (TinyGo's wasm_exec.js)");
    } else if gojs.iter().any(|n| n.starts_with("runtime.") || n.starts_with("syscall/js.")) {
        c.add(Lang::Go, T, 80, format!("imports {} functions from gojs (Go's js/wasm wasm_exec.js)", gojs.len()));
    }
    if f.imports.iter().any(|i| i.module == "env" && (i.name == "syscall/js.valueGet" || i.name == "runtime.ticks")) {
        c.add(Lang::Tinygo, T, 80, "imports env.syscall/js.* (TinyGo's wasm_exec.js)");
    }
    let py_exports = f.exports.iter().filter(|e| e.name.starts_with("Py") || e.name.starts_with("_Py")).count();
    if py_exports >= 20 {
        c.add(Lang::Python, T, HOSTS, format!("exports {py_exports} Py*/_Py* symbols (CPython's C API)"));
    }
    // MicroPython's JavaScript port exports its embedding API (`mp_js_*`).
    let mp_exports = f.exports.iter().filter(|e| e.kind == "func" && e.name.starts_with("mp_js_")).count();
    if mp_exports >= 3 {
        c.add(Lang::Python, T, HOSTS, format!("exports {mp_exports} mp_js_* functions (MicroPython's JavaScript port)"));
    }
    // .NET's runtime (Mono, in C) exports its embedding API to the SDK's
    // JS loader; it runs .NET assemblies as CPython runs Python.
    let mono_exports = f.exports.iter().filter(|e| e.kind == "func" && e.name.starts_with("mono_wasm_")).count();
    if mono_exports >= 10 {
        c.add(Lang::Dotnet, T, HOSTS, format!("exports {mono_exports} mono_wasm_* functions (the .NET runtime, Mono)"));
    }
    // The .NET SDK wraps every assembly (IL) in a Webcil module whose only
    // code hands the payload to the runtime.
    if ["getWebcilPayload", "getWebcilSize"].iter().all(|n| f.exports.iter().any(|e| e.kind == "func" && e.name == *n)) {
        c.add(Lang::Dotnet, T, HOSTS, "exports getWebcilPayload and getWebcilSize (a .NET assembly in the SDK's Webcil wrapper)");
    }
}

/// The code shares as evidence (see [`crate::names`]).
fn name_rules(code: &CodeShares, c: &mut Collector) {
    use Tier::Names as T;
    for &(lang, count) in &code.counts {
        let share = code.share(lang);
        let example = code.examples.iter().find(|(l, _)| *l == lang).map_or("", |(_, e)| e.as_str());
        let what = if lang == Lang::C { "plain C names" } else { "names" };
        c.add(
            lang,
            T,
            ((share * 100.0).round() as u32).max(1),
            format!("{count} functions with {what} ({:.0}% of named code), e.g. {example}", share * 100.0),
        );
    }
    if let Some((lang, path)) = &code.entry {
        c.add(*lang, T, 50, format!("entry point: {path}"));
    }
}

/// TinyGo links with wasm-ld (a `__stack_pointer`-style global first), gc Go
/// keeps its own register globals and no stack pointer initialised above 0.
pub(crate) fn tinygo_layout(f: &ModuleFacts<'_>) -> bool {
    wasm_ld_stack_pointer(f).is_some() && go_register_globals(f) < 4
}

/// wasm-ld's layout: global 0 is a mutable i32 initialised to the top of the
/// stack (non-zero), the value of `__stack_pointer`.
fn wasm_ld_stack_pointer(f: &ModuleFacts<'_>) -> Option<i64> {
    let g = f.globals.first()?;
    (g.ty == "i32" && g.mutable && g.init.is_some_and(|v| v > 0)).then_some(g.init?)
}

/// gc Go's wasm backend keeps machine registers in mutable i64 globals that
/// start at 0.
fn go_register_globals(f: &ModuleFacts<'_>) -> usize {
    f.globals.iter().filter(|g| g.ty == "i64" && g.mutable && g.init == Some(0)).count()
}

/// Strings that a language's runtime or standard library leaves in data
/// segments, found even in stripped modules.
pub(crate) const DATA_MARKERS: &[(Lang, &str, u32)] = &[
    (Lang::Rust, "library/std/src/", 30),
    (Lang::Rust, "library/core/src/", 30),
    (Lang::Rust, "RUST_BACKTRACE", 30),
    (Lang::Go, "GODEBUG", 30),
    (Lang::Go, "goroutine ", 20),
    (Lang::Go, "runtime: ", 10),
    // TinyGo's and gc Go's panic texts.
    (Lang::Go, "panic: runtime error: ", 20),
    (Lang::Go, "nil map writes", 10),
    // Go's standard library, in gc Go and TinyGo alike.
    (Lang::Go, "internal/reflectlite", 20),
    (Lang::Go, "reflect: call of reflect.", 20),
    (Lang::Cpp, "NSt3__2", 30),
    (Lang::Cpp, "NSt3__1", 30),
    (Lang::Cpp, "St9exception", 30),
    (Lang::Cpp, "N10__cxxabiv1", 30),
    (Lang::Cpp, "pure virtual function called", 20),
    (Lang::Zig, "aborting due to recursive panic", 25),
    (Lang::Zig, "reached unreachable code", 15),
    (Lang::Zig, "UnsupportedReparsePointType", 20),
    // AssemblyScript strings are UTF-16: "~lib/".
    (Lang::Assemblyscript, "~\0l\0i\0b\0/\0", 30),
    (Lang::Python, "Py_Initialize", 30),
    (Lang::Javascript, "StarlingMonkey", HOSTS),
    (Lang::Javascript, "SpiderMonkey", 20),
    // QuickJS keeps its source file names for assertions.
    (Lang::Javascript, "quickjs.c", HOSTS),
    // The Swift standard library's messages and source paths.
    (Lang::Swift, "Unexpectedly found nil while unwrapping an Optional value", 30),
    (Lang::Swift, "Swift/ContiguousArrayBuffer.swift", 30),
    // CRuby defines this constant (`ruby -v`'s text) at start-up.
    (Lang::Ruby, "RUBY_DESCRIPTION", HOSTS),
    // wasi-libc's strerror table: a C runtime is linked (C, C++ or others).
    (Lang::C, "No error information", 4),
];

/// Which of [`DATA_MARKERS`] the data segments contain, found in one pass
/// over the data (Go modules carry megabytes in thousands of segments).
fn markers_found(f: &ModuleFacts<'_>) -> Vec<bool> {
    static SEARCHER: std::sync::OnceLock<Option<aho_corasick::AhoCorasick>> = std::sync::OnceLock::new();
    let mut found = vec![false; DATA_MARKERS.len()];
    let searcher = SEARCHER.get_or_init(|| aho_corasick::AhoCorasick::new(DATA_MARKERS.iter().map(|(_, m, _)| m.as_bytes())).ok());
    let Some(searcher) = searcher else { return found };
    for data in &f.data {
        // Non-overlapping matches: no marker is part of another one.
        for m in searcher.find_iter(*data) {
            found[m.pattern().as_usize()] = true;
        }
        if found.iter().all(|f| *f) {
            break;
        }
    }
    found
}

/// A dynamically linked module: `dylink.0`, or the imports of a position-
/// independent module (its data and table bases).
pub(crate) fn is_side_module(f: &ModuleFacts<'_>) -> bool {
    f.custom_sections.iter().any(|s| s == "dylink.0")
        || f.imports.iter().any(|i| i.module == "env" && (i.name == "__memory_base" || i.name == "__table_base"))
}

/// Some imports, all from `env` or the GOT (a side module linked against an
/// emscripten main module, not a WASI program).
pub(crate) fn imports_only_env(f: &ModuleFacts<'_>) -> bool {
    !f.imports.is_empty() && f.imports.iter().all(|i| matches!(i.module.as_str(), "env" | "GOT.mem" | "GOT.func"))
}

/// What `emscripten` leaves in the import section: its JS library's
/// functions (`emscripten_*`, `__syscall_*`), or, minified by closure, one
/// import module `a` with one- or two-letter names.
pub(crate) fn emscripten_imports(f: &ModuleFacts<'_>) -> Option<String> {
    if let Some(i) = f.imports.iter().find(|i| {
        i.module == "env" && (i.name.starts_with("emscripten_") || i.name.starts_with("__syscall_") || i.name.starts_with("_emscripten_") || i.name.starts_with("invoke_"))
    }) {
        return Some(format!("imports env.{} (emscripten's JS runtime)", i.name));
    }
    let minified = !f.imports.is_empty() && f.imports.iter().all(|i| i.module == "a" && i.name.len() <= 2);
    let short_exports = f.exports.iter().filter(|e| e.name.len() <= 2).count();
    (minified && short_exports * 2 >= f.exports.len())
        .then(|| format!("{} imports all from module `a` with minified names (emscripten with closure)", f.imports.len()))
}

fn shape_rules(f: &ModuleFacts<'_>, markers: &[bool], c: &mut Collector) {
    use Tier::Shape as T;
    // The Swift runtime is C++ and links libc++: its type names are the
    // runtime's, as wasi-libc's are every C-linked language's.
    let swift = DATA_MARKERS.iter().zip(markers).any(|((lang, _, _), found)| *lang == Lang::Swift && *found);
    for ((lang, marker, weight), found) in DATA_MARKERS.iter().zip(markers) {
        if *found {
            let shown = marker.replace('\0', "");
            if *lang == Lang::Cpp && swift {
                c.add(Lang::Cpp, T, 0, format!("data segment contains {shown:?} (the Swift runtime's libc++)"));
                continue;
            }
            // An interpreter's marks decide as sections do.
            let tier = if *weight >= HOSTS { Tier::Sections } else { T };
            c.add(*lang, tier, *weight, format!("data segment contains {shown:?}"));
        }
    }

    let go_globals = go_register_globals(f);
    let stack_pointer = wasm_ld_stack_pointer(f);
    if go_globals >= 4 {
        c.add(Lang::Go, T, 20, format!("{go_globals} mutable i64 globals starting at 0 (gc Go's register globals)"));
    }
    let wasi_funcs: Vec<&str> = f
        .imports
        .iter()
        .filter(|i| i.module == "wasi_snapshot_preview1" && i.kind == "func")
        .map(|i| i.name.as_str())
        .collect();
    let mut sorted = wasi_funcs.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() < wasi_funcs.len() && wasi_funcs.contains(&"sched_yield") {
        c.add(Lang::Go, T, 10, "imports a WASI function twice and sched_yield (gc Go's syscall layout)");
    }
    let side_module = is_side_module(f);
    if let Some(i) = f.imports.iter().find(|i| i.name.starts_with("_Z") || i.name.starts_with("__cxa_")) {
        c.add(Lang::Cpp, T, 30, format!("imports the C++ symbol {}.{} (libc++ from the main module)", i.module, i.name));
    }
    if f.imports.iter().any(|i| i.module == "env" && i.name == "abort" && i.kind == "func")
        && stack_pointer.is_none()
        && !side_module
    {
        c.add(Lang::Assemblyscript, T, 15, "imports env.abort without a wasm-ld stack pointer (AssemblyScript's runtime)");
    }
    let emscripten = emscripten_imports(f).or_else(|| {
        (side_module && imports_only_env(f))
            .then(|| "a dylink.0 side module importing only env (emscripten's SIDE_MODULE)".to_owned())
    });
    if let Some(emscripten) = &emscripten {
        // Emscripten compiles C and C++ alike; libc++'s type names or
        // exception ABI say C++, their absence (with emscripten's libc) C.
        if !c.has(Lang::Cpp, DECISIVE) {
            c.add(Lang::C, T, STRONG_HINT, format!("{emscripten}, and no libc++ type names, exception ABI or C++ imports"));
        }
    }
    match stack_pointer {
        // rustc, Zig and TinyGo all put a 1 MiB stack first: a hint, never
        // a verdict on its own.
        Some(1_048_576) if f.exports.iter().any(|e| e.name == "__heap_base" || e.name == "__data_end") => {
            c.add(Lang::Rust, T, 12, "stack pointer starts at exactly 1 MiB and __heap_base/__data_end are exported (rustc's wasm-ld defaults; Zig and TinyGo can look the same)")
        }
        Some(1_048_576) => c.add(Lang::Rust, T, 8, "stack pointer starts at exactly 1 MiB (rustc's stack-first default; Zig and TinyGo can look the same)"),
        Some(16_777_216) => c.add(Lang::Zig, T, 8, "stack pointer starts at exactly 16 MiB (Zig's stack-first default)"),
        // Emscripten's layout is clang's: already counted above.
        Some(sp) if sp % 65_536 != 0 && emscripten.is_none() && !wasi_funcs.is_empty() && !c.has(Lang::Cpp, DECISIVE) => {
            // clang's layout linked with wasi-libc is wasi-sdk's C or C++,
            // as emscripten's imports are: no libc++ says C (a guess from
            // an absence, kept under 0.5 like emscripten's).
            c.add(Lang::C, T, STRONG_HINT, format!("stack pointer starts at {sp}, right after the data (clang's data-first default), wasi-libc's imports, and no libc++ type names, exception ABI or C++ imports"))
        }
        Some(sp) if sp % 65_536 != 0 && emscripten.is_none() => c.add(
            Lang::C,
            T,
            DECISIVE,
            format!("stack pointer starts at {sp}, right after the data (clang's data-first default)"),
        ),
        _ => {}
    }
    let exports_memory = f.exports.iter().any(|e| e.kind == "memory");
    if f.memory_pages == Some(0) && exports_memory && stack_pointer.is_none() && go_globals == 0 {
        // asc sizes memory by the static data: zero pages when there is
        // none. wasm-ld (a stack) and Go always start with pages.
        c.add(Lang::Assemblyscript, T, 8, "exports a memory of 0 initial pages and has no stack pointer (asc sizes memory by its data)");
    }
    if !f.globals.is_empty() && stack_pointer.is_none() && go_globals < 4 {
        let zero_init = f.globals.iter().filter(|g| g.ty == "i32" && g.mutable && g.init == Some(0)).count();
        // A tiny module has one runtime global; a larger one several.
        let enough = if f.function_count <= 8 { 1 } else { 2 };
        if zero_init >= enough && f.function_count < 2_000 {
            c.add(Lang::Assemblyscript, T, 6, format!("{zero_init} mutable i32 globals starting at 0 and no wasm-ld stack pointer (AssemblyScript's runtime globals)"));
        }
    }
}

/// Go compiled by TinyGo: TinyGo's own word, or Go code laid out by wasm-ld.
fn go_or_tinygo(evidence: &[Evidence], tinygo_layout: bool) -> Lang {
    if tinygo_layout || evidence.iter().any(|e| e.lang == Lang::Tinygo && e.weight >= DECISIVE) {
        Lang::Tinygo
    } else {
        Lang::Go
    }
}

/// The language the attributed code says: the entry point's, else the
/// largest share. C++ anywhere in a C-family program makes it C++ (its
/// `main` and its libc have plain names).
fn code_verdict(code: &CodeShares) -> Option<Lang> {
    let family = |lang: Lang| if lang == Lang::C && code.share(Lang::Cpp) >= 0.01 { Lang::Cpp } else { lang };
    if let Some((lang, _)) = code.entry {
        return Some(family(lang));
    }
    code.bytes.iter().max_by_key(|(_, b)| *b).map(|(l, _)| family(*l))
}

fn decide(mut evidence: Vec<Evidence>, code: &CodeShares, tinygo_layout: bool) -> Detection {
    evidence.sort_by(|a, b| b.tier.cmp(&a.tier).then(b.weight.cmp(&a.weight)));
    let fix_go = |lang: Lang| if lang == Lang::Go { go_or_tinygo(&evidence, tinygo_layout) } else { lang };
    let done = |lang: Lang, confidence: f64, tier: Tier, evidence: Vec<Evidence>| {
        let confidence = (confidence * 100.0).round() / 100.0;
        if confidence < UNKNOWN_BELOW {
            return Detection { evidence, ..Detection::unknown() };
        }
        Detection { lang, confidence, tier: Some(tier), evidence, langs: Vec::new(), toolchain: None }
    };

    // An interpreter runs the language it hosts.
    if let Some(host) = evidence.iter().find(|e| e.weight >= HOSTS && matches!(e.lang, Lang::Python | Lang::Javascript | Lang::Ruby | Lang::Dotnet)) {
        let lang = host.lang;
        return done(lang, 0.95, Tier::Sections, evidence);
    }

    // Named code decides which of the linked languages wrote the program.
    if code.coverage() >= NAMED_COVERAGE_MIN {
        if let Some(lang) = code_verdict(code) {
            let lang = fix_go(lang);
            let sections_agree = evidence.iter().any(|e| e.tier == Tier::Sections && e.lang == lang && e.weight > NOISE_MAX);
            let clear = code.entry.is_some() || code.share(lang) >= 0.5;
            let confidence = match (sections_agree, clear) {
                (true, true) => 0.95,
                (false, true) => 0.9,
                (true, false) => 0.85,
                (false, false) => 0.7,
            };
            return done(lang, confidence, Tier::Names, evidence);
        }
    }

    // A tier decides with one decisive piece; the shape tier also with
    // weak hints that add up to it for one language.
    let adds_up = |lang: Lang| {
        let pieces = evidence.iter().filter(|e| e.tier == Tier::Shape && e.lang == lang && e.weight > 0);
        pieces.clone().count() >= 2 && pieces.map(|e| e.weight).sum::<u32>() >= DECISIVE
    };
    let deciding = [Tier::Sections, Tier::Names, Tier::Shape].into_iter().find(|t| {
        evidence.iter().any(|e| e.tier == *t && (e.weight >= DECISIVE || (*t == Tier::Shape && adds_up(e.lang))))
    });
    let Some(deciding) = deciding else {
        // Only hints too weak to decide anything: kept as evidence.
        return Detection { evidence, ..Detection::unknown() };
    };
    let in_tier = |e: &&Evidence| e.tier == deciding;
    let other_decisive = evidence.iter().filter(in_tier).any(|e| e.lang != Lang::C && e.weight >= DECISIVE);
    let considered: Vec<&Evidence> = evidence
        .iter()
        .filter(in_tier)
        .filter(|e| !(other_decisive && e.lang == Lang::C && e.weight <= NOISE_MAX))
        .collect();
    let mut scores: Vec<(Lang, u32, u32)> = Vec::new(); // language, weight, pieces
    for e in &considered {
        let lang = fix_go(e.lang);
        match scores.iter_mut().find(|(l, _, _)| *l == lang) {
            Some((_, s, n)) => {
                *s += e.weight;
                *n += 1;
            }
            None => scores.push((lang, e.weight, 1)),
        }
    }
    scores.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let Some(&(lang, top, pieces)) = scores.first() else {
        return Detection { evidence, ..Detection::unknown() };
    };
    let total: u32 = scores.iter().map(|(_, s, _)| s).sum();
    let share = f64::from(top) / f64::from(total);
    let confidence = match deciding {
        Tier::Sections => 0.95 * share,
        Tier::Names => 0.85 * share,
        Tier::Shape if pieces == 1 && top < STRONG_HINT => WEAK_HINT_MAX.min(0.7 * share),
        Tier::Shape => (0.35 + 0.35 * (f64::from(top) / 60.0).min(1.0)) * share,
    };
    done(lang, confidence, deciding, evidence)
}

/// Every language found: with its share of named code when there are names,
/// else every language with decisive evidence.
fn langs(evidence: &[Evidence], code: &CodeShares) -> Vec<LangShare> {
    let mut out: Vec<LangShare> = Vec::new();
    let named = code.coverage() > 0.0;
    for e in evidence.iter().filter(|e| e.weight >= DECISIVE || e.tier == Tier::Names) {
        match out.iter_mut().find(|l| l.lang == e.lang) {
            Some(l) => l.evidence.push(e.detail.clone()),
            None => out.push(LangShare {
                lang: e.lang,
                share: named.then(|| (code.share(e.lang) * 1000.0).round() / 1000.0),
                evidence: vec![e.detail.clone()],
            }),
        }
    }
    out.sort_by(|a, b| b.share.unwrap_or(0.0).total_cmp(&a.share.unwrap_or(0.0)));
    out
}
