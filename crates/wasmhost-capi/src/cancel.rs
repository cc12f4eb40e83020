//! The cancel handle: stops a run that `wasmhost_run` is blocked in, from
//! another thread (a C gateway whose client went away, a Go context that
//! was cancelled). Wraps a [`wasmhost::CancelToken`].

use std::ffi::c_char;

use wasmhost::CancelToken;

use crate::run::WasmhostRunOptions;
use crate::{borrow, borrow_mut, guard, into_handle, take_handle, Kind, WasmhostStatus};

/// Stops the runs whose options it was given (`wasmhost_run_options_cancel`).
/// Thread-safe: `wasmhost_cancel` may be called from any thread, any number
/// of times, while `wasmhost_run` blocks another; it must not race
/// `wasmhost_cancel_free` of the same handle (as with `free(3)`).
pub struct WasmhostCancel {
    token: CancelToken,
}

/// A new cancel handle, not cancelled. Free with `wasmhost_cancel_free`.
#[no_mangle]
pub extern "C" fn wasmhost_cancel_new() -> *mut WasmhostCancel {
    into_handle(WasmhostCancel { token: CancelToken::new() }, Kind::Cancel)
}

/// Stops every run given this handle: a guest running wasm at its next
/// epoch tick (10 ms), a guest blocked in a host call (sleeping, reading
/// stdin) at once. Its `wasmhost_run` then returns a result whose outcome
/// is `stopped` (exit code 134), after the records `instance.stopped`
/// ("stopped: the run was cancelled") and `instance.exit`. A run that
/// starts with a handle already cancelled stops at once. Idempotent; for
/// good (a handle cannot be reset).
#[no_mangle]
pub extern "C" fn wasmhost_cancel(cancel: *const WasmhostCancel) -> WasmhostStatus {
    guard(std::ptr::null_mut(), || {
        borrow(cancel, Kind::Cancel, "cancel")?.token.cancel();
        Ok(())
    })
}

/// Frees a cancel handle. Options (and runs) it was given keep working:
/// they hold their own reference, which only this handle could cancel.
#[no_mangle]
pub extern "C" fn wasmhost_cancel_free(cancel: *mut WasmhostCancel) -> WasmhostStatus {
    guard(std::ptr::null_mut(), || take_handle(cancel, Kind::Cancel, "cancel").map(drop))
}

/// Makes the runs of these options stoppable by `cancel` (NULL removes it).
/// One handle may serve many runs: cancelling it stops all of them.
#[no_mangle]
pub extern "C" fn wasmhost_run_options_cancel(options: *mut WasmhostRunOptions, cancel: *const WasmhostCancel, error: *mut *mut c_char) -> WasmhostStatus {
    guard(error, || {
        let token = match cancel.is_null() {
            true => None,
            false => Some(borrow(cancel, Kind::Cancel, "cancel")?.token.clone()),
        };
        borrow_mut(options, Kind::RunOptions, "options")?.options.cancel = token;
        Ok(())
    })
}
