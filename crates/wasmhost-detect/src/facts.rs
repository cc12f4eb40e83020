//! What a module says about itself, read without validating or compiling it.
//!
//! Reading is lenient: a section that does not parse is noted in
//! [`ModuleFacts::malformed`] and the rest is still read. Nothing here
//! panics on any input (see the property tests in `tests/`).

use serde::Serialize;
use wasmparser::{
    BinaryReaderError, ExternalKind, KnownCustom, Name, Operator, Parser, Payload, TypeRef,
};

/// One field of a `producers` section: `language`, `processed-by`, `sdk` or
/// any other name a toolchain wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProducersField {
    /// The field name.
    pub name: String,
    /// `(name, version)` pairs, in the order written.
    pub values: Vec<ProducerValue>,
}

/// One `(name, version)` pair of a producers field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProducerValue {
    /// E.g. `rustc`, `C99`.
    pub name: String,
    /// E.g. `1.63.0`; may be empty.
    pub version: String,
}

/// An import: module, name and kind (`func`, `memory`, `table`, `global`, `tag`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportFact {
    /// The module imported from, e.g. `wasi_snapshot_preview1`.
    pub module: String,
    /// The item's name.
    pub name: String,
    /// The item's kind.
    pub kind: &'static str,
}

/// An export: name and kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportFact {
    /// The exported name.
    pub name: String,
    /// The item's kind.
    pub kind: &'static str,
    /// The index of the exported item in its index space.
    pub index: u32,
}

/// A global's type and its initial value when that is a constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GlobalFact {
    /// `i32`, `i64`, `f32`, `f64`, `v128` or `ref`.
    pub ty: &'static str,
    /// Whether the global is mutable.
    pub mutable: bool,
    /// The initial value of an `i32.const` / `i64.const` initialiser.
    pub init: Option<i64>,
}

/// Whether the binary is a core module or a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BinaryKind {
    /// A core WebAssembly module.
    Module,
    /// A component (its nested core modules are read too).
    Component,
}

/// How many core modules of a component are read: real components have a
/// handful; the bound keeps hostile input cheap.
pub const MAX_INNER_MODULES: usize = 64;

/// Everything the detector looks at. Borrowed from the module's bytes.
#[derive(Debug, Clone)]
pub struct ModuleFacts<'a> {
    /// Core module or component.
    pub kind: BinaryKind,
    /// The `name` section's module name of the outermost module that has one.
    pub module_name: Option<String>,
    /// Module names of nested core modules (components only).
    pub inner_module_names: Vec<String>,
    /// Every producers field of every module, in order.
    pub producers: Vec<ProducersField>,
    /// The producers fields a component wrote about itself (not its
    /// modules'): where componentize-js names JavaScript.
    pub component_producers: Vec<ProducersField>,
    /// Function names from `name` sections, with the function index (in
    /// the function index space: imports first).
    pub function_names: Vec<(u32, &'a str)>,
    /// Functions imported (they come first in the function index space).
    pub imported_functions: u32,
    /// Body size in bytes of each defined function, in order.
    pub body_sizes: Vec<u32>,
    /// Each defined function's body, for following calls from the entry
    /// point (see `detect`). Not part of the serialised facts.
    pub(crate) bodies: Vec<wasmparser::FunctionBody<'a>>,
    /// Core modules nested in a component, each read on its own (at most
    /// [`MAX_INNER_MODULES`]).
    pub inner: Vec<ModuleFacts<'a>>,
    /// A component's own imports, by name: WIT interfaces such as
    /// `wasi:cli/environment@0.2.12` (empty for core modules).
    pub component_imports: Vec<String>,
    /// A component's own exports, by name (`wasi:cli/run@0.2.12`).
    pub component_exports: Vec<String>,
    /// Imports of every core module.
    pub imports: Vec<ImportFact>,
    /// Exports of the outermost core module.
    pub exports: Vec<ExportFact>,
    /// Globals defined (not imported) by the outermost core module.
    pub globals: Vec<GlobalFact>,
    /// Names of all custom sections.
    pub custom_sections: Vec<String>,
    /// Data segment contents.
    pub data: Vec<&'a [u8]>,
    /// The `.debug_str` DWARF section, where compilers name themselves.
    pub debug_str: Option<&'a [u8]>,
    /// Every `.debug_*` custom section of the first core module, by name.
    pub dwarf: Vec<(&'a str, &'a [u8])>,
    /// Initial pages of the first memory the module defines (not imports).
    pub memory_pages: Option<u64>,
    /// Functions defined (with bodies).
    pub function_count: u32,
    /// Bytes of the code section(s).
    pub code_size: u64,
    /// Sections that could not be read, with the reason. Evidence of nothing.
    pub malformed: Vec<String>,
    /// The binary itself could not be read past some point.
    pub parse_error: Option<String>,
}

impl<'a> ModuleFacts<'a> {
    /// Reads what `bytes` says about itself. Never fails: what cannot be read
    /// is recorded in [`ModuleFacts::malformed`] or [`ModuleFacts::parse_error`].
    ///
    /// ```
    /// let bytes = b"\0asm\x01\0\0\0";
    /// let facts = wasmhost_detect::ModuleFacts::read(bytes);
    /// assert!(facts.parse_error.is_none());
    /// assert!(facts.imports.is_empty());
    /// ```
    pub fn read(bytes: &'a [u8]) -> Self {
        let mut facts = ModuleFacts {
            kind: BinaryKind::Module,
            module_name: None,
            inner_module_names: Vec::new(),
            producers: Vec::new(),
            component_producers: Vec::new(),
            function_names: Vec::new(),
            imported_functions: 0,
            body_sizes: Vec::new(),
            bodies: Vec::new(),
            inner: Vec::new(),
            component_imports: Vec::new(),
            component_exports: Vec::new(),
            imports: Vec::new(),
            exports: Vec::new(),
            globals: Vec::new(),
            custom_sections: Vec::new(),
            data: Vec::new(),
            debug_str: None,
            dwarf: Vec::new(),
            memory_pages: None,
            function_count: 0,
            code_size: 0,
            malformed: Vec::new(),
            parse_error: None,
        };
        // Depth of nesting: 0 is the outermost binary. Exports and globals
        // are taken from the first core module only; for a component that is
        // its first nested module, which is where its code lives.
        let mut modules_seen = 0u32;
        let mut depth = 0i32;
        let mut nested = Vec::new();
        for payload in Parser::new(0).parse_all(bytes) {
            let payload = match payload {
                Ok(p) => p,
                Err(e) => {
                    facts.parse_error = Some(e.to_string());
                    break;
                }
            };
            match payload {
                Payload::Version { encoding, .. } => {
                    depth += 1;
                    match encoding {
                        wasmparser::Encoding::Component if depth == 1 => {
                            facts.kind = BinaryKind::Component
                        }
                        wasmparser::Encoding::Module => modules_seen += 1,
                        _ => {}
                    }
                }
                Payload::End(_) => depth -= 1,
                Payload::ModuleSection { unchecked_range, .. } if nested.len() < MAX_INNER_MODULES => {
                    nested.push(unchecked_range)
                }
                Payload::ComponentImportSection(reader) if depth == 1 => {
                    for import in reader {
                        match import {
                            Ok(i) => facts.component_imports.push(i.name.name.to_owned()),
                            Err(e) => facts.malformed.push(format!("component import section: {e}")),
                        }
                    }
                }
                Payload::ComponentExportSection(reader) if depth == 1 => {
                    for export in reader {
                        match export {
                            Ok(e) => facts.component_exports.push(e.name.name.to_owned()),
                            Err(e) => facts.malformed.push(format!("component export section: {e}")),
                        }
                    }
                }
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        match import {
                            Ok(i) => {
                                if modules_seen == 1 && depth == 1 && matches!(i.ty, TypeRef::Func(_) | TypeRef::FuncExact(_)) {
                                    facts.imported_functions += 1;
                                }
                                facts.imports.push(ImportFact {
                                module: i.module.to_owned(),
                                name: i.name.to_owned(),
                                kind: type_ref_kind(i.ty),
                                })
                            }
                            Err(e) => {
                                facts.note_malformed("import", &e);
                                break;
                            }
                        }
                    }
                }
                Payload::ExportSection(reader) if modules_seen == 1 => {
                    for export in reader {
                        match export {
                            Ok(e) => facts.exports.push(ExportFact {
                                name: e.name.to_owned(),
                                kind: external_kind(e.kind),
                                index: e.index,
                            }),
                            Err(e) => {
                                facts.note_malformed("export", &e);
                                break;
                            }
                        }
                    }
                }
                Payload::GlobalSection(reader) if modules_seen == 1 => {
                    for global in reader {
                        match global {
                            Ok(g) => facts.globals.push(GlobalFact {
                                ty: val_type(g.ty.content_type),
                                mutable: g.ty.mutable,
                                init: const_init(&g.init_expr),
                            }),
                            Err(e) => {
                                facts.note_malformed("global", &e);
                                break;
                            }
                        }
                    }
                }
                Payload::MemorySection(reader) if modules_seen == 1 && depth == 1 => {
                    if let Some(Ok(memory)) = reader.into_iter().next() {
                        facts.memory_pages = Some(memory.initial);
                    }
                }
                Payload::DataSection(reader) => {
                    for data in reader {
                        match data {
                            Ok(d) => facts.data.push(d.data),
                            Err(e) => {
                                facts.note_malformed("data", &e);
                                break;
                            }
                        }
                    }
                }
                Payload::CodeSectionStart { count, size, .. } => {
                    facts.function_count += count;
                    facts.code_size += u64::from(size);
                }
                Payload::CodeSectionEntry(body) if modules_seen == 1 && depth == 1 => {
                    facts.body_sizes.push(u32::try_from(body.range().len()).unwrap_or(u32::MAX));
                    facts.bodies.push(body);
                }
                Payload::CustomSection(reader) => {
                    facts.custom_sections.push(reader.name().to_owned());
                    match reader.as_known() {
                        KnownCustom::Producers(p) => {
                            let before = facts.producers.len();
                            facts.read_producers(p);
                            if facts.kind == BinaryKind::Component && depth == 1 {
                                facts.component_producers = facts.producers[before..].to_vec();
                            }
                        }
                        KnownCustom::Name(n) => facts.read_names(n, modules_seen, depth),
                        _ if reader.name().starts_with(".debug_") => {
                            if reader.name() == ".debug_str" {
                                facts.debug_str = Some(reader.data());
                            }
                            if modules_seen == 1 && depth == 1 {
                                facts.dwarf.push((reader.name(), reader.data()));
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        // Each nested module read on its own, so that evidence can say
        // which module spoke; the flat lists above stay what `inspect` shows.
        for range in nested {
            if let Some(inner) = bytes.get(range) {
                facts.inner.push(ModuleFacts::read(inner));
            }
        }
        facts
    }

    fn note_malformed(&mut self, section: &str, e: &BinaryReaderError) {
        self.malformed.push(format!("{section} section: {e}"));
    }

    fn read_producers(&mut self, reader: wasmparser::ProducersSectionReader<'a>) {
        // A field is kept only when all of it reads: half a field is not
        // evidence the toolchain meant to give.
        for field in reader {
            let field = match field {
                Ok(f) => f,
                Err(e) => return self.note_malformed("producers", &e),
            };
            let mut values = Vec::new();
            for value in field.values {
                match value {
                    Ok(v) => values.push(ProducerValue {
                        name: v.name.to_owned(),
                        version: v.version.to_owned(),
                    }),
                    Err(e) => return self.note_malformed("producers", &e),
                }
            }
            self.producers.push(ProducersField { name: field.name.to_owned(), values });
        }
    }

    fn read_names(&mut self, reader: wasmparser::NameSectionReader<'a>, modules_seen: u32, depth: i32) {
        for name in reader {
            match name {
                Ok(Name::Module { name, .. }) => {
                    if self.kind == BinaryKind::Component && depth > 1 {
                        self.inner_module_names.push(name.to_owned());
                    }
                    if self.module_name.is_none() && modules_seen <= 1 {
                        self.module_name = Some(name.to_owned());
                    }
                }
                // Function indices are those of the first core module; the
                // names of nested modules are read with the module itself.
                Ok(Name::Function(map)) if modules_seen <= 1 && depth <= 1 => {
                    for naming in map {
                        match naming {
                            Ok(n) => self.function_names.push((n.index, n.name)),
                            Err(e) => return self.note_malformed("name", &e),
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => return self.note_malformed("name", &e),
            }
        }
    }

    /// The values of the producers field `field` (e.g. `processed-by`).
    pub fn producer_values<'s>(&'s self, field: &'s str) -> impl Iterator<Item = &'s ProducerValue> + 's {
        self.producers.iter().filter(move |f| f.name == field).flat_map(|f| f.values.iter())
    }
}

fn type_ref_kind(ty: TypeRef) -> &'static str {
    match ty {
        TypeRef::Func(_) | TypeRef::FuncExact(_) => "func",
        TypeRef::Table(_) => "table",
        TypeRef::Memory(_) => "memory",
        TypeRef::Global(_) => "global",
        TypeRef::Tag(_) => "tag",
    }
}

fn external_kind(kind: ExternalKind) -> &'static str {
    match kind {
        ExternalKind::Func | ExternalKind::FuncExact => "func",
        ExternalKind::Table => "table",
        ExternalKind::Memory => "memory",
        ExternalKind::Global => "global",
        ExternalKind::Tag => "tag",
    }
}

fn val_type(ty: wasmparser::ValType) -> &'static str {
    match ty {
        wasmparser::ValType::I32 => "i32",
        wasmparser::ValType::I64 => "i64",
        wasmparser::ValType::F32 => "f32",
        wasmparser::ValType::F64 => "f64",
        wasmparser::ValType::V128 => "v128",
        wasmparser::ValType::Ref(_) => "ref",
    }
}

fn const_init(expr: &wasmparser::ConstExpr<'_>) -> Option<i64> {
    match expr.get_operators_reader().read().ok()? {
        Operator::I32Const { value } => Some(value.into()),
        Operator::I64Const { value } => Some(value),
        _ => None,
    }
}
