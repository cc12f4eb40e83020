//! The module handle: a module read, detected, compiled (or taken from the
//! compile cache) and linked once, then run any number of times, from any
//! number of threads at once.

use std::ffi::c_char;
use std::path::Path;
use std::sync::Arc;

use wasmhost::{LoadOptions, LoadedModule};

use crate::host::{HostInner, WasmhostHost};
use crate::{borrow, bytes_arg, guard, into_handle, out, require_out, str_arg, take_handle, Error, Kind, WasmhostStatus};

/// A loaded module: thread-safe. It keeps its host's engine and sinks alive
/// until it is freed.
pub struct WasmhostModule {
    pub(crate) host: Arc<HostInner>,
    pub(crate) module: Arc<LoadedModule>,
    /// The module's name, NUL-terminated, for `wasmhost_module_name`.
    name: std::ffi::CString,
}

fn load(host: *const WasmhostHost, module: *mut *mut WasmhostModule, load: impl FnOnce(&wasmhost::Host) -> Result<LoadedModule, wasmhost::LoadError>) -> Result<(), Error> {
    require_out(module, "module")?;
    let host = borrow(host, Kind::Host, "host")?;
    let loaded = load(&host.inner.host).map_err(|e| Error::new(WasmhostStatus::Load, e.to_string()))?;
    let name = std::ffi::CString::new(loaded.name().replace('\0', "")).unwrap_or_default();
    out(module, into_handle(WasmhostModule { host: host.inner.clone(), module: Arc::new(loaded), name }, Kind::Module));
    Ok(())
}

/// Loads a `.wasm` or `.wat` file. `MODULE_TYPE` in the environment names
/// the language when the module has no stronger evidence, as for the CLI.
#[no_mangle]
pub extern "C" fn wasmhost_module_load_file(host: *const WasmhostHost, path: *const c_char, module: *mut *mut WasmhostModule, error: *mut *mut c_char) -> WasmhostStatus {
    guard(error, || {
        let path = Path::new(str_arg(path, "path")?);
        load(host, module, |host| host.load_file_with(path, load_options()))
    })
}

/// Loads a module from `len` bytes (binary or text format); `name` names it
/// in errors and events, and is the module name when its `name` section has
/// none. The bytes are copied: the caller may free them on return.
#[no_mangle]
pub extern "C" fn wasmhost_module_load_bytes(
    host: *const WasmhostHost,
    name: *const c_char,
    bytes: *const u8,
    len: usize,
    module: *mut *mut WasmhostModule,
    error: *mut *mut c_char,
) -> WasmhostStatus {
    guard(error, || {
        let name = Path::new(str_arg(name, "name")?);
        let bytes = bytes_arg(bytes, len, "bytes")?;
        load(host, module, |host| host.load_bytes(name, bytes, load_options()))
    })
}

/// The language fall-back the CLI reads from `MODULE_TYPE`; an unknown
/// value is ignored here (the CLI refuses it, but a library must not fail
/// on its process's environment).
fn load_options() -> LoadOptions {
    let module_type = std::env::var("MODULE_TYPE").ok().and_then(|v| v.trim().parse().ok());
    LoadOptions { lang: None, module_type }
}

/// The module's name (as in its records' `module`); owned by the module.
/// NULL for a handle that is not a live module.
#[no_mangle]
pub extern "C" fn wasmhost_module_name(module: *const WasmhostModule) -> *const c_char {
    let mut name = std::ptr::null();
    guard(std::ptr::null_mut(), || {
        name = borrow(module, Kind::Module, "module")?.name.as_ptr();
        Ok(())
    });
    name
}

/// Frees a module. Runs in progress on other threads must have returned.
#[no_mangle]
pub extern "C" fn wasmhost_module_free(module: *mut WasmhostModule) -> WasmhostStatus {
    guard(std::ptr::null_mut(), || take_handle(module, Kind::Module, "module").map(drop))
}
