//! The rules: from [`ModuleFacts`] to a language, a confidence and evidence.
//!
//! Evidence comes in three tiers, trusted in this order:
//!
//! 1. **sections** — what toolchains write about themselves: `producers`
//!    (`processed-by` rustc / Go cmd/compile / TinyGo / clang, `language`
//!    read with knowledge of libc noise), DWARF producer strings, and
//!    toolchain-specific custom sections (`go:buildid`);
//! 2. **names** — function-name patterns in the `name` section (`~lib/` for
//!    AssemblyScript, `runtime.` for Go, `start.`/`Io.` for Zig, Rust's hashed
//!    `_ZN…17h…E`, C++'s `_Z` and `std::__2::`);
//! 3. **shape** — what survives stripping: strings a language's runtime puts
//!    in data segments, the global layout (`__stack_pointer` from wasm-ld vs
//!    Go's register globals), the WASI import set, the exports.
//!
//! The highest tier with *decisive* evidence (weight ≥ [`DECISIVE`]) decides;
//! weak evidence (a `C99` that wasi-libc's debug info puts into every clang,
//! rustc and Zig module) only adds up inside its tier. Confidence follows the
//! tier and how clearly the winner beats the others.

use serde::Serialize;

use crate::facts::ModuleFacts;
use crate::lang::Lang;

/// Weight from which one piece of evidence can decide its tier alone.
pub const DECISIVE: u32 = 10;

/// C evidence up to this weight (clang ran, `C99` in producers, wasi-libc's
/// strings, clang's memory layout) is what every wasm-ld-linked language
/// carries: it names C only when no other language has decisive evidence in
/// the same tier, and is not counted against that language's confidence.
const NOISE_MAX: u32 = 20;

/// How trusted a kind of evidence is; higher decides first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Only structure and data survive.
    Shape = 1,
    /// The `name` section's function names.
    Names = 2,
    /// Toolchain self-description: producers, DWARF, special sections.
    Sections = 3,
}

/// One observation and the language it points to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// The detector's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    /// The language, or `Unknown`.
    pub lang: Lang,
    /// 0.0 to 1.0: about 0.95 for toolchain sections, 0.85 for names, at
    /// most 0.7 for shape alone, 0 for unknown.
    pub confidence: f64,
    /// The tier that decided, if any.
    pub tier: Option<Tier>,
    /// Everything seen, strongest first.
    pub evidence: Vec<Evidence>,
}

impl Detection {
    /// The evidence as one line, e.g. for a log field:
    /// `sections: producers processed-by rustc 1.63.0; ...`.
    pub fn evidence_summary(&self) -> String {
        self.evidence
            .iter()
            .filter(|e| Some(e.lang) == Some(self.lang))
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
}

/// Detects the language of the module described by `facts`.
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
/// ```
pub fn detect_facts(facts: &ModuleFacts<'_>) -> Detection {
    let mut c = Collector(Vec::new());
    section_rules(facts, &mut c);
    name_rules(facts, &mut c);
    shape_rules(facts, &mut c);
    decide(c.0)
}

fn section_rules(f: &ModuleFacts<'_>, c: &mut Collector) {
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
            c.add(Lang::Javascript, T, 100, detail);
        } else if lower.contains("componentize-py") {
            c.add(Lang::Python, T, 100, detail);
        } else if lower.contains("zig") {
            c.add(Lang::Zig, T, 90, detail);
        } else if lower.contains("clang") {
            // clang compiles C, C++ and the C parts of every other toolchain:
            // it says "a C-family compiler ran", decisive only if nothing
            // else speaks.
            c.add(Lang::C, T, 20, detail);
        }
    }
    for v in f.producer_values("language") {
        let lower = v.name.to_ascii_lowercase();
        let detail = format!("producers language: {} {}", v.name, v.version);
        if lower == "rust" {
            c.add(Lang::Rust, T, 60, detail);
        } else if lower.starts_with("c_plus_plus") || lower.starts_with("c++") {
            c.add(Lang::Cpp, T, 60, detail);
        } else if lower.starts_with("go") {
            c.add(Lang::Go, T, 60, detail);
        } else if lower == "zig" {
            c.add(Lang::Zig, T, 60, detail);
        } else if lower == "javascript" {
            c.add(Lang::Javascript, T, 60, detail);
        } else if lower == "python" {
            c.add(Lang::Python, T, 60, detail);
        } else if lower == "assemblyscript" {
            c.add(Lang::Assemblyscript, T, 60, detail);
        } else if lower.starts_with('c') && lower[1..].chars().all(|ch| ch.is_ascii_digit()) {
            // C89/C99/C11/C17: wasi-libc's debug info writes this into
            // every module that links it, whatever its language.
            c.add(Lang::C, T, 5, format!("{detail} (also written by linked libc)"));
        }
    }
    if f.custom_sections.iter().any(|s| s == "go:buildid") {
        c.add(Lang::Go, T, 80, "custom section go:buildid (written by the Go linker)");
    }
    if let Some(debug_str) = f.debug_str {
        dwarf_producers(debug_str, c);
    }
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

fn name_rules(f: &ModuleFacts<'_>, c: &mut Collector) {
    use Tier::Names as T;
    let mut counts = [0u32; 6]; // as, go, zig, rust, cpp, python
    for name in &f.function_names {
        if name.starts_with("~lib/") || *name == "~start" {
            counts[0] += 1;
        } else if name.starts_with("runtime.") || *name == "main.main" || name.starts_with("_rt0_wasm") {
            counts[1] += 1;
        } else if ["start.", "compiler_rt.", "Io.", "heap.", "debug.", "mem.", "std."]
            .iter()
            .any(|p| name.starts_with(p))
        {
            counts[2] += 1;
        } else if is_rust_symbol(name) {
            counts[3] += 1;
        } else if name.starts_with("_Z") || name.contains("std::__2::") || name.contains("std::__1::") {
            counts[4] += 1;
        } else if name.starts_with("_Py") || name.starts_with("Py") && name.contains('_') {
            counts[5] += 1;
        }
    }
    let langs = [Lang::Assemblyscript, Lang::Go, Lang::Zig, Lang::Rust, Lang::Cpp, Lang::Python];
    let examples = [
        "~lib/ or ~start",
        "runtime. or main.main",
        "start. / Io. / heap. / compiler_rt.",
        "Rust-mangled (_ZN…17h…E, _R…) or core::/std::",
        "C++-mangled (_Z…) or std::__2::",
        "CPython's Py/_Py",
    ];
    for ((lang, example), count) in langs.into_iter().zip(examples).zip(counts) {
        if count > 0 {
            let lang = if lang == Lang::Go && tinygo_layout(f) { Lang::Tinygo } else { lang };
            c.add(
                lang,
                T,
                (9 + count).min(50),
                format!("{count} function names like {example}"),
            );
        }
    }
    for inner in &f.inner_module_names {
        if inner.starts_with("libpython") {
            c.add(Lang::Python, T, 50, format!("nested module {inner}"));
        }
    }
}

/// Rust's legacy mangling ends in a 16-hex-digit hash (`17h…E`); v0 mangling
/// starts with `_R`; demangled names mention core::, alloc:: or std:: (but not
/// libc++'s std::__2::).
fn is_rust_symbol(name: &str) -> bool {
    if let Some(rest) = name.strip_prefix("_ZN") {
        let bytes = rest.as_bytes();
        return bytes.len() > 20
            && rest.ends_with('E')
            && bytes[bytes.len() - 20..bytes.len() - 17] == *b"17h"
            && bytes[bytes.len() - 17..bytes.len() - 1].iter().all(u8::is_ascii_hexdigit);
    }
    name.starts_with("_R")
        || name.starts_with("core::")
        || name.starts_with("alloc::")
        || (name.starts_with("std::") && !name.starts_with("std::__"))
        || name.starts_with("<core::")
        || name.starts_with("<alloc::")
        || name.starts_with("<std::")
}

/// TinyGo links with wasm-ld (a `__stack_pointer`-style global first), gc Go
/// keeps its own register globals and no stack pointer initialised above 0.
fn tinygo_layout(f: &ModuleFacts<'_>) -> bool {
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
const DATA_MARKERS: &[(Lang, &str, u32)] = &[
    (Lang::Rust, "library/std/src/", 30),
    (Lang::Rust, "library/core/src/", 30),
    (Lang::Rust, "RUST_BACKTRACE", 30),
    (Lang::Go, "GODEBUG", 30),
    (Lang::Go, "goroutine ", 20),
    (Lang::Go, "runtime: ", 10),
    (Lang::Cpp, "NSt3__2", 30),
    (Lang::Cpp, "NSt3__1", 30),
    (Lang::Cpp, "St9exception", 30),
    (Lang::Cpp, "N10__cxxabiv1", 30),
    (Lang::Zig, "aborting due to recursive panic", 25),
    (Lang::Zig, "reached unreachable code", 15),
    (Lang::Zig, "UnsupportedReparsePointType", 20),
    // AssemblyScript strings are UTF-16: "~lib/".
    (Lang::Assemblyscript, "~\0l\0i\0b\0/\0", 30),
    (Lang::Python, "Py_Initialize", 30),
    (Lang::Javascript, "StarlingMonkey", 30),
    (Lang::Javascript, "SpiderMonkey", 20),
    // wasi-libc's strerror table: a C runtime is linked (C, C++ or others).
    (Lang::C, "No error information", 4),
];

fn shape_rules(f: &ModuleFacts<'_>, c: &mut Collector) {
    use Tier::Shape as T;
    let mut found = vec![false; DATA_MARKERS.len()];
    for data in &f.data {
        for (i, (_, marker, _)) in DATA_MARKERS.iter().enumerate() {
            if !found[i] && memchr::memmem::find(data, marker.as_bytes()).is_some() {
                found[i] = true;
            }
        }
    }
    for (i, (lang, marker, weight)) in DATA_MARKERS.iter().enumerate() {
        if found[i] {
            let shown = marker.replace('\0', "");
            c.add(*lang, T, *weight, format!("data segment contains {shown:?}"));
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
    if f.imports.iter().any(|i| i.module == "env" && i.name == "abort" && i.kind == "func")
        && stack_pointer.is_none()
    {
        c.add(Lang::Assemblyscript, T, 15, "imports env.abort without a wasm-ld stack pointer (AssemblyScript's runtime)");
    }
    match stack_pointer {
        Some(1_048_576) if f.exports.iter().any(|e| e.name == "__heap_base" || e.name == "__data_end") => {
            c.add(Lang::Rust, T, 12, "stack pointer starts at exactly 1 MiB and __heap_base/__data_end are exported (rustc's wasm-ld defaults)")
        }
        Some(1_048_576) => c.add(Lang::Rust, T, 8, "stack pointer starts at exactly 1 MiB (rustc's stack-first default)"),
        Some(16_777_216) => c.add(Lang::Zig, T, 8, "stack pointer starts at exactly 16 MiB (Zig's stack-first default)"),
        Some(sp) if sp % 65_536 != 0 => c.add(
            Lang::C,
            T,
            NOISE_MAX.min(DECISIVE),
            format!("stack pointer starts at {sp}, right after the data (clang's data-first default)"),
        ),
        _ => {}
    }
    if !f.globals.is_empty() && stack_pointer.is_none() && go_globals < 4 {
        let zero_init = f.globals.iter().filter(|g| g.ty == "i32" && g.mutable && g.init == Some(0)).count();
        if zero_init >= 2 && f.function_count < 2_000 {
            c.add(Lang::Assemblyscript, T, 6, format!("{zero_init} mutable i32 globals starting at 0 and no wasm-ld stack pointer (AssemblyScript's runtime globals)"));
        }
    }
}

fn decide(mut evidence: Vec<Evidence>) -> Detection {
    evidence.sort_by(|a, b| b.tier.cmp(&a.tier).then(b.weight.cmp(&a.weight)));
    let deciding = [Tier::Sections, Tier::Names, Tier::Shape]
        .into_iter()
        .find(|t| evidence.iter().any(|e| e.tier == *t && e.weight >= DECISIVE));
    let in_tier = |e: &&Evidence| deciding.is_none_or(|t| e.tier == t);
    let other_decisive = evidence
        .iter()
        .filter(in_tier)
        .any(|e| e.lang != Lang::C && e.weight >= DECISIVE);
    let considered: Vec<&Evidence> = evidence
        .iter()
        .filter(in_tier)
        .filter(|e| !(other_decisive && e.lang == Lang::C && e.weight <= NOISE_MAX))
        .collect();
    let mut scores: Vec<(Lang, u32)> = Vec::new();
    for e in &considered {
        match scores.iter_mut().find(|(l, _)| *l == e.lang) {
            Some((_, s)) => *s += e.weight,
            None => scores.push((e.lang, e.weight)),
        }
    }
    scores.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let Some(&(lang, top)) = scores.first() else {
        return Detection { lang: Lang::Unknown, confidence: 0.0, tier: None, evidence };
    };
    let total: u32 = scores.iter().map(|(_, s)| s).sum();
    let share = f64::from(top) / f64::from(total);
    let confidence = match deciding {
        Some(Tier::Sections) => 0.95 * share,
        Some(Tier::Names) => 0.85 * share,
        Some(Tier::Shape) => (0.35 + 0.35 * (f64::from(top) / 60.0).min(1.0)) * share,
        None => 0.2 * share,
    };
    Detection { lang, confidence: (confidence * 100.0).round() / 100.0, tier: deciding, evidence }
}
