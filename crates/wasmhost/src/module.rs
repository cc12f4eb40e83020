//! Loading a module once: read, detect the language, compile (or take the
//! compiled code from the cache), link. The result is instantiated many times.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmhost_detect::{BinaryKind, Detection, Lang, ModuleFacts, Resolved};
use wasmhost_log::FieldValue;
use wasmtime::component::Component;
use wasmtime::{Engine, Instance, InstancePre, Linker, Module, Store};

use crate::component::LinkedComponent;
use crate::error::{one_line, LoadError, RunError};
use crate::host::Host;
use crate::instance::InstanceState;

/// How the language of a module is chosen besides detection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Use this language, whatever detection says (`--lang`).
    pub lang: Option<Lang>,
    /// The `MODULE_TYPE` fall-back: used when detection has no evidence
    /// stronger than the module's shape. See [`wasmhost_detect::resolve`].
    pub module_type: Option<Lang>,
}

/// Where the module's machine code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompileSource {
    /// Compiled now, and stored in the cache for next time.
    Compiled,
    /// Loaded from the cache: not compiled again.
    Cache,
    /// Compiled now; no cache is configured or it could not be written.
    Uncached,
}

impl CompileSource {
    /// `compiled`, `cache` or `uncached`, as in the `instance.start` event.
    pub fn as_str(self) -> &'static str {
        match self {
            CompileSource::Compiled => "compiled",
            CompileSource::Cache => "cache",
            CompileSource::Uncached => "uncached",
        }
    }
}

/// A compiled, linked module, ready to be instantiated any number of times.
/// A clone shares the compiled code and copies only the module's facts
/// (names, detection evidence).
#[derive(Clone)]
pub struct LoadedModule {
    pub(crate) path: PathBuf,
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) sha256: String,
    pub(crate) detection: Detection,
    pub(crate) lang: Resolved,
    pub(crate) compile_source: CompileSource,
    pub(crate) compile_time: Duration,
    pub(crate) start_fields: Vec<(&'static str, FieldValue)>,
    /// Whether it imports WASI-NN: only then are its instances' polls
    /// watched for the NN glue's errors.
    pub(crate) imports_nn: bool,
    pub(crate) linked: Linked,
}

/// The compiled, linked code of a [`LoadedModule`].
#[derive(Clone)]
pub(crate) enum Linked {
    /// A core module: its `_start` (or `--invoke`) export is called.
    Core(InstancePre<InstanceState>),
    /// A core module whose imports include modules preloaded with
    /// [`Host::preload`]: linked per instance, in its store.
    Preloaded(Arc<Preloaded>),
    /// A component: its `wasi:cli/run` is called, or the function `--invoke` names.
    Component(LinkedComponent),
}

/// A core module and the modules preloaded for it (`--preload NAME=PATH`).
pub(crate) struct Preloaded {
    module: Module,
    /// Under their names, in the order given.
    preloads: Arc<Vec<(String, Module)>>,
    /// The host's linker when the module was loaded.
    linker: Arc<Linker<InstanceState>>,
}

impl Preloaded {
    /// Instantiates the preloaded modules in `store` and defines their
    /// exports under their names (as `wasmtime run --preload` does, through
    /// `Linker::module_async`: a module with `_start` gets a fresh instance
    /// per call, one without is instantiated once), then the module itself.
    pub(crate) async fn instantiate(&self, store: &mut Store<InstanceState>) -> wasmtime::Result<Instance> {
        let mut linker = (*self.linker).clone();
        for (name, module) in self.preloads.iter() {
            linker.module_async(&mut *store, name, module).await.map_err(|e| e.context(format!("preloaded module {name:?}")))?;
        }
        linker.instantiate_async(store, &self.module).await
    }
}

impl Linked {
    /// The core module, when it is one.
    pub(crate) fn core_module(&self) -> Option<&Module> {
        match self {
            Linked::Core(pre) => Some(pre.module()),
            Linked::Preloaded(p) => Some(&p.module),
            Linked::Component(_) => None,
        }
    }
}

impl LoadedModule {
    /// The path it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The `name` section's module name, else the file stem.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Size of the file in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// SHA-256 of the file, lower-case hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }
    /// What the detector found.
    pub fn detection(&self) -> &Detection {
        &self.detection
    }
    /// The language its lines are tagged with, and where it came from.
    pub fn lang(&self) -> Resolved {
        self.lang
    }
    /// Whether the code was compiled now or came from the cache.
    pub fn compile_source(&self) -> CompileSource {
        self.compile_source
    }
    /// Time spent compiling or loading from the cache.
    pub fn compile_time(&self) -> Duration {
        self.compile_time
    }
    /// Whether it is a component (else a core module).
    pub fn is_component(&self) -> bool {
        matches!(self.linked, Linked::Component(_))
    }

    /// The export a run calls: `invoke`, else `_start`, which a core module
    /// must export as a function. A component's entry is its `wasi:cli/run`,
    /// which it must export unless `invoke` names a function (a WAVE call,
    /// checked by [`LinkedComponent::call`]).
    pub(crate) fn entry<'a>(&self, invoke: Option<&'a str>) -> Result<&'a str, RunError> {
        let entry = invoke.unwrap_or("_start");
        let exports: Vec<&str> = match &self.linked {
            Linked::Core(_) | Linked::Preloaded(_) => {
                let module = self.linked.core_module().into_iter();
                module.flat_map(|m| m.exports()).filter(|e| e.ty().func().is_some()).map(|e| e.name()).collect()
            }
            Linked::Component(_) if invoke.is_some() => return Ok(entry),
            Linked::Component(component) => return component.command().map(|_| crate::component::RUN_INTERFACE),
        };
        match exports.contains(&entry) {
            true => Ok(entry),
            false => Err(RunError::NoEntry { name: entry.to_owned(), exports: exports.join(", ") }),
        }
    }
}

/// Compiled code the cache can hold: core modules and components alike.
trait Code: Sized {
    fn compile(engine: &Engine, binary: &[u8]) -> wasmtime::Result<Self>;
    fn serialize(&self) -> wasmtime::Result<Vec<u8>>;
    /// # Safety
    /// `code` must be what `serialize` wrote (see `compile_cached`).
    unsafe fn deserialize(engine: &Engine, code: &[u8]) -> wasmtime::Result<Self>;
}

impl Code for Module {
    fn compile(engine: &Engine, binary: &[u8]) -> wasmtime::Result<Self> {
        Module::from_binary(engine, binary)
    }
    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        Module::serialize(self)
    }
    unsafe fn deserialize(engine: &Engine, code: &[u8]) -> wasmtime::Result<Self> {
        unsafe { Module::deserialize(engine, code) }
    }
}

impl Code for Component {
    fn compile(engine: &Engine, binary: &[u8]) -> wasmtime::Result<Self> {
        Component::from_binary(engine, binary)
    }
    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        Component::serialize(self)
    }
    unsafe fn deserialize(engine: &Engine, code: &[u8]) -> wasmtime::Result<Self> {
        unsafe { Component::deserialize(engine, code) }
    }
}

/// Whether `bytes` start with a component's header (a core module's, or
/// text format, otherwise). Enough to choose settings before loading.
///
/// ```
/// assert!(wasmhost::is_component(b"\0asm\x0d\0\x01\0"));
/// assert!(!wasmhost::is_component(b"\0asm\x01\0\0\0"));
/// ```
pub fn is_component(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\0asm") && bytes.get(6..8) == Some(&[1, 0])
}

/// How many pool slots one instance of `binary` takes (see
/// [`Pooling::max_instances`](crate::Pooling::max_instances)): 1 for a core
/// module; for a component, one per core instance it creates, nested
/// components included (each slot brings a memory and a table, the most one
/// core module may define in the pool).
///
/// ```
/// assert_eq!(wasmhost::pool_slots(b"\0asm\x01\0\0\0"), 1);
/// ```
pub fn pool_slots(binary: &[u8]) -> u32 {
    if !is_component(binary) {
        return 1;
    }
    let mut slots = 0u32;
    for payload in wasmparser::Parser::new(0).parse_all(binary) {
        match payload {
            Ok(wasmparser::Payload::InstanceSection(instances)) => {
                let made = instances.into_iter().filter(|i| matches!(i, Ok(wasmparser::Instance::Instantiate { .. }))).count();
                slots = slots.saturating_add(u32::try_from(made).unwrap_or(u32::MAX));
            }
            Ok(_) => {}
            // An unreadable component fails to load anyway, with wasmtime's words.
            Err(_) => break,
        }
    }
    slots.max(1)
}

/// Reads a module file, naming it in the error.
pub(crate) fn read_module(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|error| LoadError::Read { path: path.to_owned(), error })
}

/// The binary form of `bytes`: text format (`.wat`) is assembled, a binary
/// is passed through.
/// A module precompiled by `wasmtime compile` (`.cwasm`, an ELF object) is
/// refused in words: loading one runs its machine code unchecked, and the
/// host compiles and caches code itself.
pub(crate) fn to_binary<'a>(path: &Path, bytes: &'a [u8]) -> Result<std::borrow::Cow<'a, [u8]>, LoadError> {
    if bytes.starts_with(b"\x7fELF") {
        let reason = "it is precompiled machine code (a .cwasm from `wasmtime compile`), which wasmhost does not load: give it the .wasm (compiled code is cached)";
        return Err(LoadError::Invalid { path: path.to_owned(), reason: reason.into() });
    }
    wat::parse_bytes(bytes).map_err(|mut e| {
        // A `.wat` file's errors keep wat's `--> FILE:LINE:COL` and caret
        // view; anything else that is not a binary gets one line (a caret
        // under the bytes of a broken `.wasm` would mislead).
        let reason = if path.extension().is_some_and(|x| x == "wat") {
            e.set_path(path);
            e.to_string()
        } else {
            e.to_string().replace('\n', " ")
        };
        LoadError::Invalid { path: path.to_owned(), reason }
    })
}

/// The `name` section's module name, else the file stem.
pub(crate) fn module_name(facts: &ModuleFacts<'_>, path: &Path) -> String {
    facts.module_name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| {
        path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "module".into())
    })
}

impl Host {
    /// Loads a `.wasm` or `.wat` file. See [`Host::load_bytes`].
    pub fn load_file(&self, path: &Path) -> Result<LoadedModule, LoadError> {
        self.load_file_with(path, LoadOptions::default())
    }

    /// Loads a file with language options.
    pub fn load_file_with(&self, path: &Path, options: LoadOptions) -> Result<LoadedModule, LoadError> {
        self.load_bytes(path, &read_module(path)?, options)
    }

    /// Loads a module from bytes (binary or text format); `path` names it in
    /// errors and events and gives the module name when the `name` section
    /// has none.
    pub fn load_bytes(&self, path: &Path, bytes: &[u8], options: LoadOptions) -> Result<LoadedModule, LoadError> {
        let invalid = |reason: String| LoadError::Invalid { path: path.to_owned(), reason };
        let binary = to_binary(path, bytes)?;
        let facts = ModuleFacts::read(&binary);
        let detection = wasmhost_detect::detect_facts(&facts);
        let lang = wasmhost_detect::resolve(&detection, options.lang, options.module_type);
        let name = module_name(&facts, path);
        let sha256 = hex::encode(Sha256::digest(bytes));

        let started = Instant::now();
        let link_error = |reason: String| LoadError::Link { path: path.to_owned(), reason };
        let (linked, compile_source, cache_error, imports_nn) = if facts.kind == BinaryKind::Component {
            if !self.preloads.is_empty() {
                return Err(link_error("--preload cannot be used with components (as in wasmtime)".into()));
            }
            let (component, source, cache_error) = self.compile_cached::<Component>(&binary, &sha256).map_err(|e| invalid(one_line(&e)))?;
            let pre = crate::component::link(&self.component_linker, &component, &facts.component_imports).map_err(link_error)?;
            (Linked::Component(pre), source, cache_error, false)
        } else {
            let (module, source, cache_error) = self.compile_cached::<Module>(&binary, &sha256).map_err(|e| invalid(one_line(&e)))?;
            let imports_nn = module.imports().any(|import| import.module() == "wasi_ephemeral_nn");
            let linked = match self.preloads.is_empty() {
                true => Linked::Core(self.linker.instantiate_pre(&module).map_err(|e| link_error(one_line(&e)))?),
                false => {
                    self.check_preloaded_imports(&module).map_err(link_error)?;
                    Linked::Preloaded(Arc::new(Preloaded { module, preloads: self.preloads.clone(), linker: self.linker.clone() }))
                }
            };
            (linked, source, cache_error, imports_nn)
        };
        let compile_time = started.elapsed();
        // What every instance's `instance.start` event says of the module:
        // the same for all of them, so built here once, not per instance.
        let mut start_fields = vec![
            ("module_path", path.display().to_string().into()),
            ("module_size", (bytes.len() as u64).into()),
            ("module_sha256", sha256.as_str().into()),
            ("lang_source", lang.origin.as_str().into()),
            ("lang_confidence", lang.confidence.into()),
            ("lang_evidence", detection.evidence_summary().into()),
            ("toolchain", detection.toolchain.as_ref().map_or("unknown", |t| t.name.as_str()).into()),
            ("compile", compile_source.as_str().into()),
            ("compile_ms", FieldValue::millis(compile_time)),
        ];
        if let Some(error) = cache_error {
            start_fields.push(("cache_error", error.into()));
        }
        Ok(LoadedModule {
            path: path.to_owned(),
            name,
            size: bytes.len() as u64,
            sha256,
            detection,
            lang,
            compile_source,
            compile_time,
            start_fields,
            imports_nn,
            linked,
        })
    }

    /// Preloads the core module at `path` under `name` for the modules
    /// loaded after this call, as `wasmtime run --preload NAME=PATH`: their
    /// imports from `name` are its exports, instantiated in each instance's
    /// own store before the module itself. Compiled through the cache.
    ///
    /// ```
    /// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut host = wasmhost::Host::new(Default::default())?;
    /// let lib = std::env::temp_dir().join("wasmhost-doc-lib.wat");
    /// std::fs::write(&lib, r#"(module (func (export "answer") (result i32) i32.const 42))"#)?;
    /// host.preload("lib", &lib)?;
    /// # Ok(()) }
    /// # demo().unwrap();
    /// ```
    pub fn preload(&mut self, name: &str, path: &Path) -> Result<(), LoadError> {
        let bytes = read_module(path)?;
        let binary = to_binary(path, &bytes)?;
        let invalid = |reason: String| LoadError::Invalid { path: path.to_owned(), reason };
        if is_component(&binary) {
            return Err(invalid("a component cannot be preloaded (as in wasmtime): --preload takes core modules".into()));
        }
        if name.is_empty() {
            return Err(invalid("the preload's name is empty".into()));
        }
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let (module, _, _) = self.compile_cached::<Module>(&binary, &sha256).map_err(|e| invalid(one_line(&e)))?;
        Arc::make_mut(&mut self.preloads).push((name.to_owned(), module));
        Ok(())
    }

    /// The load-time check of a module linked with preloads: its imports
    /// from a preload's name are that module's exports (types, and the
    /// host's own imports, are checked when it is instantiated).
    fn check_preloaded_imports(&self, module: &Module) -> Result<(), String> {
        for import in module.imports() {
            // A later preload of the same name wins, as definitions do in a linker.
            if let Some((name, preload)) = self.preloads.iter().rev().find(|(name, _)| name == import.module()) {
                if preload.get_export(import.name()).is_none() {
                    return Err(format!("unknown import: `{}::{}`: the module preloaded as {name:?} exports no {:?}", import.module(), import.name(), import.name()));
                }
            }
        }
        Ok(())
    }

    /// Compiles `binary`, or loads the code compiled for the same bytes by an
    /// engine with the same settings. Cache trouble never fails a load: the
    /// module is compiled instead, and the third value says what was wrong
    /// with the cached entry (for the `instance.start` event's `cache_error`).
    fn compile_cached<C: Code>(&self, binary: &[u8], sha256: &str) -> wasmtime::Result<(C, CompileSource, Option<String>)> {
        let Some(dir) = &self.config.cache_dir else {
            return Ok((C::compile(&self.engine, binary)?, CompileSource::Uncached, None));
        };
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut hasher);
        // `.crc`: entries end in a CRC-32 (older `.cwasm` entries ended in a
        // SHA-256 and are left alone, never misread).
        let file = dir.join(format!("{sha256}-{:016x}.crc.cwasm", hasher.finish()));
        let mut cache_error = None;
        if let Ok(entry) = std::fs::read(&file) {
            match verified(&entry) {
                // SAFETY: the code was written by `Module::serialize` of an
                // engine with the same compatibility hash, into the user's
                // own cache directory (the same trust wasmtime's own cache
                // makes), and it is byte for byte what was written: its
                // CRC-32 matches the one stored with it. Deserializing
                // unchecked bytes could crash the host (flipped bytes in
                // machine code); a file that fails to load is replaced.
                Some(code) => match unsafe { C::deserialize(&self.engine, code) } {
                    Ok(module) => return Ok((module, CompileSource::Cache, None)),
                    Err(e) => cache_error = Some(format!("{}: {}; compiled again", file.display(), one_line(&e))),
                },
                None => cache_error = Some(format!("{}: the cached code fails its checksum; compiled again", file.display())),
            }
        }
        let module = C::compile(&self.engine, binary)?;
        let stored = module.serialize().ok().and_then(|mut code| {
            std::fs::create_dir_all(dir).ok()?;
            code.extend_from_slice(&crc32fast::hash(&code).to_le_bytes());
            // Write then rename, so a concurrent reader never sees half a file.
            let tmp = file.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, code).ok()?;
            std::fs::rename(&tmp, &file).ok()
        });
        let source = if stored.is_some() { CompileSource::Compiled } else { CompileSource::Uncached };
        Ok((module, source, cache_error))
    }
}

/// A cache entry is the serialized code followed by its CRC-32 (little
/// endian): the code, when the checksum matches. A CRC, not a cryptographic
/// digest: it guards against damage (flipped bits, torn writes), not against
/// someone who can write the user's cache directory, who could write a
/// matching digest just as well; and it checks the 40 MB of a Python
/// component in a few ms where SHA-256 took ~25 ms of every warm start.
fn verified(entry: &[u8]) -> Option<&[u8]> {
    let split = entry.len().checked_sub(4)?;
    let (code, crc) = entry.split_at(split);
    (crc32fast::hash(code).to_le_bytes().as_slice() == crc).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_entries_are_verified() {
        let mut entry = b"machine code".to_vec();
        entry.extend_from_slice(&crc32fast::hash(&entry).to_le_bytes());
        assert_eq!(verified(&entry), Some(&b"machine code"[..]));
        for i in 0..entry.len() {
            let mut flipped = entry.clone();
            flipped[i] ^= 0x10;
            assert_eq!(verified(&flipped), None, "byte {i}");
        }
        assert_eq!(verified(&entry[..10]), None);
        assert_eq!(verified(b""), None);
    }
}
