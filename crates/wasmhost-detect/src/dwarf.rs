//! DWARF compile units: the language each one was written in, its file, and
//! how many bytes of code it describes. Units of the toolchain's own
//! sources (wasi-sdk's libc++ helpers, Rust's standard library, compiler-rt,
//! emscripten's libc) count for no program.

use gimli::{AttributeValue, EndianSlice, LittleEndian, SectionId};

use crate::facts::ModuleFacts;
use crate::lang::Lang;
use crate::names::CodeShares;

/// At most this many units are read: real modules have thousands at most.
const MAX_UNITS: usize = 20_000;
/// At most this many address ranges are summed per unit.
const MAX_RANGES: usize = 10_000;

/// Paths of toolchain and runtime sources, as compilers record them.
const TOOLCHAIN_PATHS: [&str; 13] = [
    "wasisdk://",
    "wasi-libc",
    "/rustc/",
    "library/std/",
    "library/core/",
    "library/alloc/",
    "compiler-rt",
    "compiler_builtins",
    "libcxx",
    "libc++",
    "emscripten/system",
    "/lib/std/",
    "/lib/compiler_rt",
];

/// One compile unit.
#[derive(Debug, Clone)]
pub(crate) struct Unit {
    /// Its language, when `DW_AT_language` (or the file's extension) says one
    /// wasmhost names.
    pub lang: Option<Lang>,
    /// `DW_AT_name`, with `DW_AT_comp_dir` when the name is relative.
    pub name: String,
    /// Bytes of code it describes.
    pub size: u64,
    /// A toolchain or runtime source.
    pub toolchain: bool,
}

/// Reads the compile units; an unreadable unit is skipped, malformed DWARF
/// is evidence of nothing.
pub(crate) fn compile_units(f: &ModuleFacts<'_>) -> Vec<Unit> {
    if !f.dwarf.iter().any(|(n, _)| *n == ".debug_info") {
        return Vec::new();
    }
    let section = |id: SectionId| -> Result<EndianSlice<'_, LittleEndian>, gimli::Error> {
        let data = f.dwarf.iter().find(|(n, _)| *n == id.name()).map_or(&[][..], |(_, d)| *d);
        Ok(EndianSlice::new(data, LittleEndian))
    };
    let Ok(dwarf) = gimli::Dwarf::load(section) else { return Vec::new() };
    let mut out = Vec::new();
    let mut headers = dwarf.units();
    while let Ok(Some(header)) = headers.next() {
        if out.len() >= MAX_UNITS {
            break;
        }
        let Ok(unit) = dwarf.unit(header) else { continue };
        let mut entries = unit.entries();
        let Ok(Some(root)) = entries.next_dfs() else { continue };
        let string = |attr| {
            let value = root.attr_value(attr)?;
            dwarf.attr_string(&unit, value).ok().map(|s| s.to_string_lossy().into_owned())
        };
        let name = string(gimli::DW_AT_name).unwrap_or_default();
        let dir = string(gimli::DW_AT_comp_dir).unwrap_or_default();
        let language = match root.attr_value(gimli::DW_AT_language) {
            Some(AttributeValue::Language(l)) => Some(l),
            _ => None,
        };
        let mut size = 0u64;
        if let Ok(mut ranges) = dwarf.unit_ranges(&unit) {
            for _ in 0..MAX_RANGES {
                match ranges.next() {
                    Ok(Some(r)) => size = size.saturating_add(r.end.saturating_sub(r.begin)),
                    _ => break,
                }
            }
        }
        let full = if name.starts_with('/') || dir.is_empty() { name.clone() } else { format!("{dir}/{name}") };
        let toolchain = TOOLCHAIN_PATHS.iter().any(|p| full.contains(p));
        out.push(Unit { lang: unit_lang(language, &name), name: full, size, toolchain });
    }
    out
}

fn unit_lang(language: Option<gimli::DwLang>, name: &str) -> Option<Lang> {
    // Zig marks its units C99; the file says Zig.
    if name.ends_with(".zig") {
        return Some(Lang::Zig);
    }
    let l = language?;
    Some(match l {
        gimli::DW_LANG_C | gimli::DW_LANG_C89 | gimli::DW_LANG_C99 | gimli::DW_LANG_C11 | gimli::DW_LANG_C17 => Lang::C,
        gimli::DW_LANG_C_plus_plus
        | gimli::DW_LANG_C_plus_plus_03
        | gimli::DW_LANG_C_plus_plus_11
        | gimli::DW_LANG_C_plus_plus_14
        | gimli::DW_LANG_C_plus_plus_17
        | gimli::DW_LANG_C_plus_plus_20 => Lang::Cpp,
        gimli::DW_LANG_Rust => Lang::Rust,
        gimli::DW_LANG_Go => Lang::Go,
        _ => return None,
    })
}

/// The code of the program's units (toolchain units left out) per language:
/// the attribution used when the `name` section says too little.
pub(crate) fn code_shares(units: &[Unit], total: u64) -> CodeShares {
    let mut shares = CodeShares { total, ..CodeShares::default() };
    for u in units {
        if u.toolchain {
            shares.toolchain += u.size;
            shares.named += u.size;
        } else if let Some(lang) = u.lang {
            shares.named += u.size;
            shares.add(lang, u.size, &u.name);
        }
    }
    shares.named = shares.named.min(total);
    shares
}
