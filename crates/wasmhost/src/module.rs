//! Loading a module once: read, detect the language, compile (or take the
//! compiled code from the cache), link. The result is instantiated many times.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
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
    /// Maps the code from the file (no copy: only the pages used are read).
    /// # Safety
    /// The file must hold what `serialize` wrote (see `compile_cached`).
    unsafe fn deserialize_file(engine: &Engine, file: &Path) -> wasmtime::Result<Self>;
}

impl Code for Module {
    fn compile(engine: &Engine, binary: &[u8]) -> wasmtime::Result<Self> {
        Module::from_binary(engine, binary)
    }
    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        Module::serialize(self)
    }
    unsafe fn deserialize_file(engine: &Engine, file: &Path) -> wasmtime::Result<Self> {
        unsafe { Module::deserialize_file(engine, file) }
    }
}

impl Code for Component {
    fn compile(engine: &Engine, binary: &[u8]) -> wasmtime::Result<Self> {
        Component::from_binary(engine, binary)
    }
    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        Component::serialize(self)
    }
    unsafe fn deserialize_file(engine: &Engine, file: &Path) -> wasmtime::Result<Self> {
        unsafe { Component::deserialize_file(engine, file) }
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
        let name = module_name(&facts, path);
        // One hash: the cache key and the `module_sha256` field.
        let sha256 = hex::encode(Sha256::digest(bytes));
        let stem = self.cache_stem(&sha256);
        let stem = stem.as_deref();

        let started = Instant::now();
        let link_error = |reason: String| LoadError::Link { path: path.to_owned(), reason };
        let (linked, compile_source, cache_error, imports_nn) = if facts.kind == BinaryKind::Component {
            if !self.preloads.is_empty() {
                return Err(link_error("--preload cannot be used with components (as in wasmtime)".into()));
            }
            let (component, source, cache_error) = self.compile_cached::<Component>(&binary, stem).map_err(|e| invalid(one_line(&e)))?;
            let pre = crate::component::link(&self.component_linker, &component, &facts.component_imports).map_err(link_error)?;
            (Linked::Component(pre), source, cache_error, false)
        } else {
            let (module, source, cache_error) = self.compile_cached::<Module>(&binary, stem).map_err(|e| invalid(one_line(&e)))?;
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
        let (detection, detect_error) = self.detect_cached(&facts, stem);
        let lang = wasmhost_detect::resolve(&detection, options.lang, options.module_type);
        let cache_error = match (cache_error, detect_error) {
            (Some(code), Some(detect)) => Some(format!("{code}; {detect}")),
            (code, detect) => code.or(detect),
        };
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
        let stem = self.cache_stem(&hex::encode(Sha256::digest(&bytes)));
        let (module, _, _) = self.compile_cached::<Module>(&binary, stem.as_deref()).map_err(|e| invalid(one_line(&e)))?;
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

    /// Where the compile cache keeps what it knows of the module with this
    /// SHA-256 under this engine's settings: the path without its extension
    /// (`.crc.cwasm` for the code, `.detect` for the detection). `None`
    /// without a cache.
    fn cache_stem(&self, sha256: &str) -> Option<PathBuf> {
        let dir = self.config.cache_dir.as_ref()?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut hasher);
        Some(dir.join(format!("{sha256}-{:016x}", hasher.finish())))
    }

    /// Compiles `binary`, or loads the code compiled for the same bytes by an
    /// engine with the same settings (`stem`, from [`Host::cache_stem`]).
    /// Cache trouble never fails a load: the module is compiled instead, and
    /// the third value says what was wrong with the cached entry (for the
    /// `instance.start` event's `cache_error`).
    fn compile_cached<C: Code>(&self, binary: &[u8], stem: Option<&Path>) -> wasmtime::Result<(C, CompileSource, Option<String>)> {
        let Some(stem) = stem else {
            return Ok((C::compile(&self.engine, binary)?, CompileSource::Uncached, None));
        };
        // `.crc`: entries end in a CRC-32 (older `.cwasm` entries ended in a
        // SHA-256 and are left alone, never misread).
        let file = with_suffix(stem, ".crc.cwasm");
        let mut cache_error = None;
        // A file that cannot be read is a miss (most often: not there yet).
        match verified_file(&file) {
            // SAFETY: the code was written by `Module::serialize` of an
            // engine with the same compatibility hash, into the user's own
            // cache directory (the same trust wasmtime's own cache makes),
            // and it is byte for byte what was written: its CRC-32 matches
            // the one stored with it (wasmtime ignores those 4 bytes after
            // its ELF image). Entries are only ever replaced whole, by a
            // rename, so the path still names this file or a complete newer
            // one for the same key. Deserializing unchecked bytes could crash
            // the host (flipped bytes in machine code); a file that fails to
            // load is replaced.
            Ok(true) => match unsafe { C::deserialize_file(&self.engine, &file) } {
                Ok(module) => return Ok((module, CompileSource::Cache, None)),
                Err(e) => cache_error = Some(format!("{}: {}; compiled again", file.display(), one_line(&e))),
            },
            Ok(false) => cache_error = Some(format!("{}: the cached code fails its checksum; compiled again", file.display())),
            Err(_) => {}
        }
        let module = C::compile(&self.engine, binary)?;
        let stored = module.serialize().ok().and_then(|code| store(&file, code));
        let source = if stored.is_some() { CompileSource::Compiled } else { CompileSource::Uncached };
        Ok((module, source, cache_error))
    }

    /// The module's detection: kept beside its compiled code (`stem`), so
    /// that a warm start does not scan the module's data again (megabytes
    /// for an interpreter's component). An entry is used only when it
    /// passes its checksum and was made by the same detection rules; else
    /// the module is detected again and the entry replaced (the second
    /// value says what was wrong with a damaged one, for `cache_error`).
    fn detect_cached(&self, facts: &ModuleFacts<'_>, stem: Option<&Path>) -> (Detection, Option<String>) {
        let Some(stem) = stem else {
            return (wasmhost_detect::detect_facts(facts), None);
        };
        let file = with_suffix(stem, ".detect");
        let mut error = None;
        if let Ok(entry) = std::fs::read(&file) {
            match verified(&entry).map(serde_json::from_slice::<StoredDetection>) {
                Some(Ok(stored)) if stored.rules == wasmhost_detect::RULES => return (stored.detection, None),
                // Written by a build with other rules: not damage.
                Some(Ok(_)) => {}
                Some(Err(e)) => error = Some(format!("{}: {e}; detected again", file.display())),
                None => error = Some(format!("{}: the stored detection fails its checksum; detected again", file.display())),
            }
        }
        let detection = wasmhost_detect::detect_facts(facts);
        let stored = StoredDetection { rules: wasmhost_detect::RULES.to_owned(), detection };
        if let Ok(json) = serde_json::to_vec(&stored) {
            // A detection that cannot be stored is made again next time.
            let _ = store(&file, json);
        }
        (stored.detection, error)
    }
}

/// What `.detect` entries hold (as JSON, followed by its CRC-32).
#[derive(Serialize, Deserialize)]
struct StoredDetection {
    /// [`wasmhost_detect::RULES`] of the build that detected.
    rules: String,
    detection: Detection,
}

/// `stem` with `suffix` appended to its file name.
fn with_suffix(stem: &Path, suffix: &str) -> PathBuf {
    let mut path = stem.as_os_str().to_owned();
    path.push(suffix);
    PathBuf::from(path)
}

/// Writes a cache entry: `data` followed by its CRC-32 (little endian),
/// written then renamed into place, so that a concurrent reader never sees
/// half a file and an entry is never changed in place. The temporary name is
/// unique per process and per write: a gateway's threads may store the same
/// module at once, and two writers sharing one temporary file could truncate
/// each other's bytes before the rename.
fn store(file: &Path, mut data: Vec<u8>) -> Option<()> {
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    std::fs::create_dir_all(file.parent()?).ok()?;
    data.extend_from_slice(&crc32fast::hash(&data).to_le_bytes());
    let write = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = file.with_extension(format!("tmp{}-{write}", std::process::id()));
    let written = std::fs::write(&tmp, data).and_then(|()| std::fs::rename(&tmp, file));
    if written.is_err() {
        // A full disk or a vanished directory: leave no partial file behind.
        let _ = std::fs::remove_file(&tmp);
    }
    written.ok()
}

/// Whether the cache entry at `file` passes its checksum (see
/// [`verified`]), read in pieces rather than into memory: the code is then
/// mapped from the file, never copied (tens of MB for a Python component).
fn verified_file(file: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let mut reader = std::fs::File::open(file)?;
    let Some(mut left) = reader.metadata()?.len().checked_sub(4) else {
        return Ok(false);
    };
    let mut hasher = crc32fast::Hasher::new();
    let mut buffer = vec![0; 256 << 10];
    while left > 0 {
        let piece = usize::try_from(left).map_or(buffer.len(), |left| left.min(buffer.len()));
        reader.read_exact(&mut buffer[..piece])?;
        hasher.update(&buffer[..piece]);
        left -= piece as u64;
    }
    let mut crc = [0; 4];
    reader.read_exact(&mut crc)?;
    Ok(hasher.finalize().to_le_bytes() == crc)
}

/// A cache entry is its data (serialized code, or a stored detection)
/// followed by its CRC-32 (little endian): the data, when the checksum matches. A CRC, not a cryptographic
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

    /// A scratch cache directory, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("wasmhost-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            Scratch(dir)
        }
        fn entry(&self, extension: &str) -> PathBuf {
            let entries = std::fs::read_dir(&self.0).unwrap().map(|e| e.unwrap().path());
            entries.filter(|p| p.to_string_lossy().ends_with(extension)).next().unwrap()
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn cache_files_are_verified_in_pieces() {
        let scratch = Scratch::new("verify-file");
        let file = scratch.0.join("entry");
        // More than one piece of the reader's buffer.
        let data: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        store(&file, data.clone()).unwrap();
        assert!(verified_file(&file).unwrap());
        let good = std::fs::read(&file).unwrap();
        assert_eq!(verified(&good), Some(&data[..]));
        for at in [0, 300_000, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 1;
            std::fs::write(&file, &bad).unwrap();
            assert!(!verified_file(&file).unwrap(), "byte {at}");
        }
        std::fs::write(&file, b"abc").unwrap();
        assert!(!verified_file(&file).unwrap());
        assert!(verified_file(&scratch.0.join("missing")).is_err());
    }

    #[test]
    fn threads_storing_one_entry_at_once_leave_one_whole_file() {
        let scratch = Scratch::new("store-race");
        let file = scratch.0.join("entry.crc.cwasm");
        let data: Vec<u8> = (0..4_000_000u32).map(|i| (i % 253) as u8).collect();
        std::thread::scope(|threads| {
            for _ in 0..8 {
                threads.spawn(|| store(&file, data.clone()).unwrap());
            }
        });
        assert!(verified_file(&file).unwrap());
        let left: Vec<_> = std::fs::read_dir(&scratch.0).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, [std::ffi::OsString::from("entry.crc.cwasm")], "no temporary file stays behind");
    }

    #[test]
    fn detections_are_kept_beside_the_code_checked_and_made_again_when_damaged() {
        let scratch = Scratch::new("detect-cache");
        let host = Host::new(crate::HostConfig { cache_dir: Some(scratch.0.clone()), nn: None, ..Default::default() }).unwrap();
        let wat = br#"(module (@producers (language "Rust" "1.63.0")) (func (export "_start")))"#;
        let path = Path::new("m.wat");
        let load = || host.load_bytes(path, wat, LoadOptions::default()).unwrap();
        let cache_error = |m: &LoadedModule| m.start_fields.iter().find(|(k, _)| *k == "cache_error").map(|(_, v)| format!("{v:?}"));
        let first = load();
        assert_eq!((first.lang().lang, first.compile_source()), (Lang::Rust, CompileSource::Compiled));
        let second = load();
        assert_eq!(second.compile_source(), CompileSource::Cache);
        assert_eq!(second.detection(), first.detection());
        assert_eq!(cache_error(&second), None);

        // The stored detection is what a warm load uses: the module is not read for it.
        let file = scratch.entry(".detect");
        let stored = |rules: &str, lang: &str| {
            let mut json: serde_json::Value = serde_json::from_slice(verified(&std::fs::read(&file).unwrap()).unwrap()).unwrap();
            json["rules"] = rules.into();
            json["detection"]["lang"] = lang.into();
            store(&file, serde_json::to_vec(&json).unwrap()).unwrap();
        };
        stored(wasmhost_detect::RULES, "go");
        assert_eq!(load().lang().lang, Lang::Go);

        // Made by other rules: detected again, silently, and stored anew.
        stored("0.0.0-other", "go");
        let again = load();
        assert_eq!((again.lang().lang, cache_error(&again)), (Lang::Rust, None));
        assert_eq!(load().detection(), first.detection());

        // Damaged: detected again, said in `cache_error`, and replaced.
        let good = std::fs::read(&file).unwrap();
        for at in [good.len() / 2, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x20;
            std::fs::write(&file, &bad).unwrap();
            let damaged = load();
            assert_eq!(damaged.detection(), first.detection(), "byte {at}");
            assert!(cache_error(&damaged).is_some_and(|e| e.contains("fails its checksum; detected again")), "byte {at}");
            assert_eq!(cache_error(&load()), None);
        }
        // Intact but not a detection: detected again, and said.
        store(&file, b"{}".to_vec()).unwrap();
        let unreadable = load();
        assert_eq!(unreadable.detection(), first.detection());
        assert!(cache_error(&unreadable).is_some_and(|e| e.contains("detected again")));
        assert_eq!(load().compile_source(), CompileSource::Cache, "the code entry stays");
    }
}
