//! The optional second backend: wasmtime-wasi-nn's stock `onnx` backend over
//! onnxruntime, loaded at run time from `$ORT_DYLIB_PATH`.
//!
//! `ort` panics when the library is missing or too old, on the first call
//! that needs it, which would be inside some guest's `load`. So the host
//! opens the library itself first, checks its version, and only then hands
//! the path to `ort`: a missing library is an error at start-up.

use std::ffi::CStr;
use std::path::PathBuf;

use crate::NnError;

/// Where PyPI's `onnxruntime` wheel keeps the library, for the error message.
const HINT: &str = "set ORT_DYLIB_PATH to libonnxruntime.so, e.g. from PyPI's onnxruntime wheel: \
                    .venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.*";

/// Checks that `$ORT_DYLIB_PATH` names an onnxruntime `ort` can use, and
/// tells `ort` to use it. Returns the library's version.
pub(crate) fn init() -> Result<String, NnError> {
    let path = std::env::var_os("ORT_DYLIB_PATH")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| NnError::Ort(format!("ORT_DYLIB_PATH is not set: {HINT}")))?;
    if !path.is_file() {
        return Err(NnError::Ort(format!("{} does not exist: {HINT}", path.display())));
    }
    let version = library_version(&path)?;
    let minor: u32 = version.split('.').nth(1).and_then(|m| m.parse().ok()).unwrap_or(0);
    if minor < ort::MINOR_VERSION {
        return Err(NnError::Ort(format!(
            "{} is onnxruntime {version}; this build needs 1.{} or newer",
            path.display(),
            ort::MINOR_VERSION
        )));
    }
    ort::init_from(path.display().to_string())
        .with_name("wasmhost")
        .commit()
        .map_err(|e| NnError::Ort(format!("initialising onnxruntime from {}: {e}", path.display())))?;
    Ok(version)
}

fn library_version(path: &std::path::Path) -> Result<String, NnError> {
    let fail = |e: &dyn std::fmt::Display| NnError::Ort(format!("{} is not a usable onnxruntime: {e}", path.display()));
    // SAFETY: loading runs the library's initialisers; it is the library
    // the operator named for exactly this use. `OrtGetApiBase` has this
    // signature in every onnxruntime release, and returns a static table.
    unsafe {
        let library = libloading::Library::new(path).map_err(|e| fail(&e))?;
        let get_base: libloading::Symbol<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase> =
            library.get(b"OrtGetApiBase").map_err(|e| fail(&e))?;
        let base = get_base();
        if base.is_null() {
            return Err(fail(&"OrtGetApiBase returned null"));
        }
        let version = ((*base).GetVersionString)();
        Ok(CStr::from_ptr(version).to_string_lossy().into_owned())
    }
}
