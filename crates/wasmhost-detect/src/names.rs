//! Function names, attributed to the language that wrote the function, and
//! the code share of each language among the named functions.
//!
//! wasm-ld writes demangled names into the `name` section, Go, Zig and
//! AssemblyScript their own dotted or path-like names, so a name says which
//! front end compiled a function: `core::fmt::write::h1b2…` is Rust,
//! `std::exception::~exception()` C++ (a parameter list), `runtime.gcStart`
//! Go, `heap.WasmAllocator.alloc` Zig, `~lib/rt/tlsf/allocateBlock`
//! AssemblyScript, `PyObject_GetAttr` CPython, and a plain identifier C (or
//! an `extern "C"` function of any language). Toolchain code — wasm-ld's
//! `__wasm_call_ctors`, compiler-rt's `__multi3`, emscripten's `stackSave` —
//! is nobody's program and counts for no language.

use crate::facts::ModuleFacts;
use crate::lang::Lang;

/// What one function name says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Written in this language.
    Lang(Lang),
    /// A plain C identifier: C, or an `extern "C"`/exported function of
    /// another language.
    Plain,
    /// Toolchain or runtime support code.
    Toolchain,
    /// Says nothing (`$f12`, `wasm-function[3]`).
    Nothing,
}

/// Module-wide context needed to read dotted names: `main.main` and
/// `fmt.format` are Go in a module with Go's runtime, Zig in one with
/// Zig's standard library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dotted {
    Go,
    Zig,
    Neither,
}

/// Looks at all names once to tell whether dotted names are Go's or Zig's.
pub(crate) fn dotted_kind(names: &[(u32, &str)]) -> Dotted {
    let (mut go, mut zig) = (0u32, 0u32);
    for (_, n) in names {
        if n.starts_with("runtime.") || n.starts_with("_rt0_wasm") || n.starts_with("internal/") || n.starts_with("syscall/js.") {
            go += 1;
        } else if ["start.", "compiler_rt.", "heap.", "debug.", "Io.", "posix.", "builtin."].iter().any(|p| n.starts_with(p))
            || n.contains("__anon_")
            || n.contains("__struct_")
        {
            zig += 1;
        }
    }
    match (go, zig) {
        (0, 0) => Dotted::Neither,
        (g, z) if g >= z => Dotted::Go,
        _ => Dotted::Zig,
    }
}

/// What `name` says, given the module's [`Dotted`] kind.
pub(crate) fn classify(name: &str, dotted: Dotted) -> Class {
    if name.is_empty() || name.starts_with('$') || name.starts_with("wasm-function[") {
        return Class::Nothing;
    }
    if name.starts_with("~lib/") || name == "~start" || name.starts_with("~started") {
        // AssemblyScript's standard library is its runtime, but only
        // AssemblyScript links it: it names the language as surely.
        return Class::Lang(Lang::Assemblyscript);
    }
    if is_rust(name) {
        return Class::Lang(Lang::Rust);
    }
    if is_cpp(name) {
        return Class::Lang(Lang::Cpp);
    }
    if name.starts_with("Py") && name.contains('_') || name.starts_with("_Py") {
        return Class::Lang(Lang::Python);
    }
    if is_plain(name) {
        return if is_toolchain(name) { Class::Toolchain } else { Class::Plain };
    }
    if name.contains('.') && !name.contains(' ') {
        match dotted {
            Dotted::Go => return Class::Lang(Lang::Go),
            Dotted::Zig => return Class::Lang(Lang::Zig),
            Dotted::Neither => {}
        }
    }
    if name.contains('/') && !name.contains("::") && !name.contains(' ') {
        // AssemblyScript names functions by file path: `assembly/index/main`,
        // `src/sha256/hashBlocks`, methods with `#`.
        return Class::Lang(Lang::Assemblyscript);
    }
    Class::Nothing
}

/// Rust: legacy mangling `_ZN…17h<16 hex>E`, v0 `_R…`, and the demangled
/// forms wasm-ld writes: `…::h<16 hex>` or `core::`/`alloc::`/`std::` paths
/// without a C++ parameter list.
fn is_rust(name: &str) -> bool {
    if let Some(rest) = name.strip_prefix("_ZN") {
        let b = rest.as_bytes();
        return b.len() > 20
            && rest.ends_with('E')
            && b[b.len() - 20..b.len() - 17] == *b"17h"
            && b[b.len() - 17..b.len() - 1].iter().all(u8::is_ascii_hexdigit);
    }
    if name.starts_with("_R") && name.len() > 3 && name.as_bytes()[2].is_ascii_uppercase() {
        return true;
    }
    if let Some(pos) = name.rfind("::h") {
        let hash = &name[pos + 3..];
        if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return true;
        }
    }
    if name.contains('(') {
        return false;
    }
    let path = name.trim_start_matches('<');
    ["core::", "alloc::", "std::", "__rust_", "__rdl_", "__rg_"].iter().any(|p| path.starts_with(p))
        && !path.starts_with("std::__")
        || name.contains("{{closure}}")
}

/// C++: Itanium mangling `_Z…` (that is not Rust's), libc++'s inline
/// namespace, and demangled names with a parameter list.
fn is_cpp(name: &str) -> bool {
    if name.starts_with("_Z") {
        return true;
    }
    if name.contains("std::__2::") || name.contains("std::__1::") {
        return true;
    }
    if name.starts_with("__cxa_") || name.starts_with("__cxx_global") || name.starts_with("__gxx_") {
        return true;
    }
    // `ns::f(int)`, `f()`, `A::~A()`, `operator new(unsigned long)`.
    match name.find('(') {
        Some(open) if open > 0 && name.contains(')') => {
            let head = &name[..open];
            head.starts_with("operator") || head.contains("::") || is_plain(head)
        }
        _ => false,
    }
}

fn is_plain(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Plain names that belong to the toolchain rather than any program:
/// double-underscore helpers (wasm-ld, compiler-rt, libc internals) and the
/// emscripten and wasi-libc support functions.
fn is_toolchain(name: &str) -> bool {
    name.starts_with("__")
        || name.starts_with("emscripten_")
        || name.starts_with("_emscripten_")
        || name.starts_with("dlmalloc")
        || matches!(
            name,
            "_start" | "_initialize" | "stackSave" | "stackRestore" | "stackAlloc" | "dynCall" | "abort" | "__original_main"
        )
}

/// The code of a module, attributed by function name.
#[derive(Debug, Clone, Default)]
pub(crate) struct CodeShares {
    /// Bytes of code per language (`Lang::C` holds plain names).
    pub bytes: Vec<(Lang, u64)>,
    /// Bytes of toolchain code.
    pub toolchain: u64,
    /// Bytes of all defined functions.
    pub total: u64,
    /// Bytes of functions that have a name saying something.
    pub named: u64,
    /// Number of functions per language, for the evidence text.
    pub counts: Vec<(Lang, u32)>,
    /// An example name per language.
    pub examples: Vec<(Lang, String)>,
    /// The language the entry point leads to, with the path that shows it.
    pub entry: Option<(Lang, String)>,
}

impl CodeShares {
    /// The share of attributed program code (toolchain code excluded) that
    /// is `lang`'s.
    pub fn share(&self, lang: Lang) -> f64 {
        let program: u64 = self.bytes.iter().map(|(_, b)| b).sum();
        let mine = self.bytes.iter().find(|(l, _)| *l == lang).map_or(0, |(_, b)| *b);
        if program == 0 { 0.0 } else { mine as f64 / program as f64 }
    }

    /// How much of the code has a telling name, 0 to 1.
    pub fn coverage(&self) -> f64 {
        if self.total == 0 { 0.0 } else { self.named as f64 / self.total as f64 }
    }

    /// Counts the plain-named code as `owner`'s.
    pub fn reattribute_plain(&mut self, owner: Lang) {
        let Some(pos) = self.bytes.iter().position(|(l, _)| *l == Lang::C) else { return };
        let (_, plain) = self.bytes.remove(pos);
        let count = self.counts.iter().position(|(l, _)| *l == Lang::C).map_or(0, |p| self.counts.remove(p).1);
        self.examples.retain(|(l, _)| *l != Lang::C);
        let example = format!("{count} plain names, counted as {owner}");
        self.add(owner, plain, &example);
        if let Some((_, c)) = self.counts.iter_mut().find(|(l, _)| *l == owner) {
            *c += count.saturating_sub(1);
        }
        if let Some((l, _)) = &mut self.entry {
            if *l == Lang::C {
                *l = owner;
            }
        }
    }

    /// Forgets the plain-named code: with nothing else showing a C
    /// toolchain (a hand-written `.wat` with `$names`), plain names are
    /// just names.
    pub fn forget_plain(&mut self) {
        if let Some(pos) = self.bytes.iter().position(|(l, _)| *l == Lang::C) {
            let (_, plain) = self.bytes.remove(pos);
            self.named -= plain;
        }
        self.counts.retain(|(l, _)| *l != Lang::C);
        self.examples.retain(|(l, _)| *l != Lang::C);
        if self.entry.as_ref().is_some_and(|(l, _)| *l == Lang::C) {
            self.entry = None;
        }
    }

    pub(crate) fn add(&mut self, lang: Lang, size: u64, name: &str) {
        match self.bytes.iter_mut().find(|(l, _)| *l == lang) {
            Some((_, b)) => *b += size,
            None => self.bytes.push((lang, size)),
        }
        match self.counts.iter_mut().find(|(l, _)| *l == lang) {
            Some((_, c)) => *c += 1,
            None => {
                self.counts.push((lang, 1));
                self.examples.push((lang, name.chars().take(80).collect()));
            }
        }
    }
}

/// Entry points, in the order looked for: the C-ABI `main` that wasi-libc's
/// `_start` calls (rustc, clang and Zig all define one), then the commands'
/// and Go's start functions.
const ENTRY_NAMES: [&str; 6] = ["__main_argc_argv", "main", "__original_main", "__main_void", "_rt0_wasm_wasip1", "_start"];

/// How far calls are followed from the entry point, and how many functions
/// at most are looked at: bounded work whatever the module.
const ENTRY_DEPTH: usize = 4;
const ENTRY_VISITS: usize = 64;
/// Operators read per function when looking for its calls.
const OPS_PER_FUNCTION: usize = 4_096;

/// A plain-named function with a body up to this size is a shim (rustc's
/// C-ABI `main` that only calls `std::rt::lang_start`, Zig's `_start`):
/// the entry point's language is the one it leads to. A larger one is the
/// program's own C code.
const SHIM_MAX: u32 = 64;

/// Attributes every named function's code to a language, and finds the
/// language the entry point leads to.
pub(crate) fn code_shares(f: &ModuleFacts<'_>) -> CodeShares {
    let mut shares = CodeShares { total: f.body_sizes.iter().map(|s| u64::from(*s)).sum(), ..CodeShares::default() };
    let dotted = dotted_kind(&f.function_names);
    let mut class_of = std::collections::HashMap::with_capacity(f.function_names.len());
    for &(index, name) in &f.function_names {
        let class = classify(name, dotted);
        class_of.insert(index, (class, name));
        let Some(size) = body_size(f, index) else { continue };
        let size = u64::from(size);
        match class {
            Class::Lang(lang) => {
                shares.named += size;
                shares.add(lang, size, name);
            }
            Class::Plain => {
                shares.named += size;
                shares.add(Lang::C, size, name);
            }
            Class::Toolchain => {
                shares.named += size;
                shares.toolchain += size;
            }
            Class::Nothing => {}
        }
    }
    shares.entry = entry_language(f, &class_of);
    shares
}

fn body_size(f: &ModuleFacts<'_>, func: u32) -> Option<u32> {
    f.body_sizes.get(func.checked_sub(f.imported_functions)? as usize).copied()
}

/// The entry point's language. A function whose name says a language is
/// that language; from a plain-named entry, direct calls are followed
/// through toolchain functions and shims: the program's own plain code
/// (larger than a shim) makes it C, else the first language reached
/// (`main` → `std::rt::lang_start::h…` is Rust).
fn entry_language(
    f: &ModuleFacts<'_>,
    class_of: &std::collections::HashMap<u32, (Class, &str)>,
) -> Option<(Lang, String)> {
    let by_name = |wanted: &str| {
        f.function_names
            .iter()
            .find(|(_, n)| *n == wanted)
            .map(|(i, _)| *i)
            .or_else(|| f.exports.iter().find(|e| e.kind == "func" && e.name == wanted).map(|e| e.index))
    };
    let (start_name, start) = ENTRY_NAMES.iter().find_map(|n| by_name(n).map(|i| (*n, i)))?;
    let class = |func: u32| class_of.get(&func).copied().unwrap_or((Class::Nothing, ""));
    if let (Class::Lang(lang), _) = class(start) {
        return Some((lang, format!("{start_name} is {lang} code")));
    }
    if class(start).0 == Class::Toolchain {
        // A runtime's own start function (TinyGo's `_start` inlines its
        // scheduler) calls libc helpers (`arc4random`) next to its runtime:
        // the language it calls directly is the program's, its plain
        // callees are the libc it links.
        let runtime = calls(f, start).into_iter().find_map(|callee| match class(callee) {
            (Class::Lang(lang), name) if body_size(f, callee).is_some() => Some((lang, format!("{start_name} → {name}"))),
            _ => None,
        });
        if runtime.is_some() {
            return runtime;
        }
    }
    let is_shim = |func: u32| body_size(f, func).is_some_and(|s| s <= SHIM_MAX);
    let mut seen = std::collections::HashSet::from([start]);
    let mut frontier = vec![(start, start_name.to_owned())];
    let mut reached: Option<(Lang, String)> = None;
    for _ in 0..ENTRY_DEPTH {
        let mut next = Vec::new();
        for (func, path) in frontier {
            for callee in calls(f, func) {
                // Imports are the host's, not the program's code.
                if body_size(f, callee).is_none() || seen.len() >= ENTRY_VISITS || !seen.insert(callee) {
                    continue;
                }
                let (class, name) = class(callee);
                let path = format!("{path} → {name}");
                match class {
                    Class::Lang(lang) => {
                        reached.get_or_insert((lang, path));
                    }
                    Class::Plain if !is_shim(callee) => {
                        return Some((Lang::C, format!("{path} (the program's own plain C code)")));
                    }
                    Class::Plain | Class::Toolchain => next.push((callee, path)),
                    Class::Nothing => {}
                }
            }
        }
        frontier = next;
    }
    reached.or_else(|| {
        // Only plain names below the entry point: a C program.
        class_of.contains_key(&start).then(|| (Lang::C, format!("{start_name} calls only plain C names")))
    })
}

/// The functions `func` calls directly (bounded: the first 64).
fn calls(f: &ModuleFacts<'_>, func: u32) -> Vec<u32> {
    let Some(defined) = func.checked_sub(f.imported_functions) else { return Vec::new() };
    let Some(body) = f.bodies.get(defined as usize) else { return Vec::new() };
    let Ok(reader) = body.get_operators_reader() else { return Vec::new() };
    let mut out = Vec::new();
    for op in reader.into_iter().take(OPS_PER_FUNCTION) {
        match op {
            Ok(wasmparser::Operator::Call { function_index }) | Ok(wasmparser::Operator::ReturnCall { function_index }) => {
                out.push(function_index);
                if out.len() >= 64 {
                    break;
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_attributed_to_their_language() {
        let cases = [
            ("_ZN4core3fmt5write17h0123456789abcdefE", Lang::Rust),
            ("core::fmt::write::h0123456789abcdef", Lang::Rust),
            ("<alloc::string::String as core::fmt::Write>::write_str", Lang::Rust),
            ("std::rt::lang_start::{{closure}}", Lang::Rust),
            ("std::exception::~exception()", Lang::Cpp),
            ("std::__2::basic_string<char>::append(char const*)", Lang::Cpp),
            ("_ZNSt3__212basic_stringIcEE", Lang::Cpp),
            ("log_line(char const*)", Lang::Cpp),
            ("operator new(unsigned long)", Lang::Cpp),
            ("~lib/rt/tlsf/allocateBlock", Lang::Assemblyscript),
            ("assembly/index/hashBlocks", Lang::Assemblyscript),
            ("PyObject_GetAttr", Lang::Python),
            ("_PyEval_EvalFrameDefault", Lang::Python),
        ];
        for (name, lang) in cases {
            assert_eq!(classify(name, Dotted::Neither), Class::Lang(lang), "{name}");
        }
        assert_eq!(classify("runtime.gcStart", Dotted::Go), Class::Lang(Lang::Go));
        assert_eq!(classify("heap.WasmAllocator.alloc", Dotted::Zig), Class::Lang(Lang::Zig));
        assert_eq!(classify("md_parse", Dotted::Neither), Class::Plain);
        assert_eq!(classify("__multi3", Dotted::Neither), Class::Toolchain);
        assert_eq!(classify("$f12", Dotted::Neither), Class::Nothing);
    }

    #[test]
    fn dotted_names_are_go_with_go_runtime_and_zig_with_zig_std() {
        assert_eq!(dotted_kind(&[(0, "runtime.main"), (1, "main.main")]), Dotted::Go);
        assert_eq!(dotted_kind(&[(0, "start._start"), (1, "main.main"), (2, "heap.alloc")]), Dotted::Zig);
        assert_eq!(dotted_kind(&[(0, "main")]), Dotted::Neither);
    }
}
