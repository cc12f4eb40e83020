//! One run: its options (arguments, environment, preopens, labels,
//! `traceparent`, limits, stdin bytes, the record callback), the blocking
//! `wasmhost_run`, and its result (exit code, captured stdout, instance id,
//! outcome).
//!
//! A run's callback is the instance's own record tap
//! ([`wasmhost::RunOptions::on_record`]): each record is formatted and
//! handed to it as the instance makes it, on the thread the instance runs
//! on, with the instance's log locked — so it is never called concurrently
//! for one instance, and every call is over when `wasmhost_run` returns.
//! The host's pipeline has no part in it: a host without a routing config
//! feeds its one sink directly, as `wasmhost run` without `--config` does.

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_void, CString};
use std::path::PathBuf;
use std::time::Duration;

use wasmhost::{Limits, OutputBuffer, Preopen, RunOptions, Stdin};
use wasmhost_log::{Format, JsonFormat, LogRecord, RecordTap};

use crate::module::WasmhostModule;
use crate::{borrow, borrow_mut, bytes_arg, guard, into_handle, out, require_out, str_arg, take_handle, Error, Kind, WasmhostStatus};

/// Receives one record as one JSON line (`len` bytes including the final
/// `\n`; valid only during the call). Called on a library thread (the one
/// the instance runs on), never concurrently for one run; it must not call
/// `wasmhost_run`.
pub type WasmhostRecordFn = Option<unsafe extern "C" fn(user_data: *mut c_void, line: *const u8, len: usize)>;

/// A run's callback and the pointer it is given back.
#[derive(Clone, Copy)]
struct Callback {
    func: unsafe extern "C" fn(*mut c_void, *const u8, usize),
    user_data: *mut c_void,
}

// SAFETY: the C caller promises (docs/c-api.md) that `user_data` may be used
// from the library's threads, and that runs sharing one synchronise it; the
// library only passes it back, calling the callback of one run from one
// thread at a time (under the instance's log lock).
unsafe impl Send for Callback {}
unsafe impl Sync for Callback {}

thread_local! {
    /// Set while this thread is inside a record callback.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
    /// The line being handed to a callback: one buffer per thread, reused
    /// by every record formatted there (no allocation per record).
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1024));
}

impl Callback {
    /// The record tap that formats each record as the JSON sinks do and
    /// hands the line to the callback.
    fn tap(self) -> RecordTap {
        RecordTap::new(move |record: &LogRecord| {
            LINE.with(|line| match line.try_borrow_mut() {
                Ok(mut line) => self.deliver(record, &mut line),
                // Only a callback that made a record on this very thread
                // could get here; it gets a buffer of its own.
                Err(_) => self.deliver(record, &mut Vec::new()),
            })
        })
    }

    fn deliver(self, record: &LogRecord, line: &mut Vec<u8>) {
        line.clear();
        if JsonFormat.format(record, line).is_err() {
            return;
        }
        let outer = IN_CALLBACK.replace(true);
        // SAFETY: a C function pointer the caller registered, with its own
        // user data; the line is valid for the call.
        unsafe { (self.func)(self.user_data, line.as_ptr(), line.len()) };
        IN_CALLBACK.set(outer);
    }
}

/// The options of a run; `NULL` options run `_start` with no arguments,
/// an empty environment, no stdin and the host's limits. Not thread-safe
/// while being built; once built, one options handle may be used by any
/// number of concurrent `wasmhost_run` calls.
pub struct WasmhostRunOptions {
    pub(crate) options: RunOptions,
    stdout_limit: usize,
    callback: Option<Callback>,
}

/// Guest stdout kept by default: the gateway's response-size limit.
const DEFAULT_STDOUT_LIMIT: usize = 1 << 20;

impl Default for WasmhostRunOptions {
    fn default() -> Self {
        WasmhostRunOptions { options: RunOptions::default(), stdout_limit: DEFAULT_STDOUT_LIMIT, callback: None }
    }
}

/// How a run ended, with what it produced. Thread-safe to read.
pub struct WasmhostResult {
    exit_code: i32,
    stdout: Vec<u8>,
    instance_id: CString,
    outcome: CString,
}

/// New run options (the defaults above). Free with `wasmhost_run_options_free`.
#[no_mangle]
pub extern "C" fn wasmhost_run_options_new() -> *mut WasmhostRunOptions {
    into_handle(WasmhostRunOptions::default(), Kind::RunOptions)
}

/// Frees run options.
#[no_mangle]
pub extern "C" fn wasmhost_run_options_free(options: *mut WasmhostRunOptions) -> WasmhostStatus {
    guard(std::ptr::null_mut(), || take_handle(options, Kind::RunOptions, "options").map(drop))
}

/// Applies `set` to the options behind the handle.
fn with_options(options: *mut WasmhostRunOptions, error: *mut *mut c_char, set: impl FnOnce(&mut WasmhostRunOptions) -> Result<(), Error>) -> WasmhostStatus {
    guard(error, || set(borrow_mut(options, Kind::RunOptions, "options")?))
}

/// Appends one guest argument (after `argv[0]`, the module's path).
#[no_mangle]
pub extern "C" fn wasmhost_run_options_arg(options: *mut WasmhostRunOptions, arg: *const c_char, error: *mut *mut c_char) -> WasmhostStatus {
    with_options(options, error, |o| {
        o.options.args.push(str_arg(arg, "arg")?.to_owned());
        Ok(())
    })
}

/// Sets one variable of the guest's environment (which has only these).
#[no_mangle]
pub extern "C" fn wasmhost_run_options_env(options: *mut WasmhostRunOptions, name: *const c_char, value: *const c_char, error: *mut *mut c_char) -> WasmhostStatus {
    with_options(options, error, |o| {
        let name = str_arg(name, "name")?;
        if name.is_empty() || name.contains('=') {
            return Err(Error::new(WasmhostStatus::InvalidArgument, format!("environment name {name:?} is empty or has '='")));
        }
        o.options.env.push((name.to_owned(), str_arg(value, "value")?.to_owned()));
        Ok(())
    })
}

/// Makes host directory `host_dir` visible to the guest as `guest_dir`
/// (as `wasmhost run --dir HOST::GUEST`); nothing else is reachable.
#[no_mangle]
pub extern "C" fn wasmhost_run_options_preopen(options: *mut WasmhostRunOptions, host_dir: *const c_char, guest_dir: *const c_char, error: *mut *mut c_char) -> WasmhostStatus {
    with_options(options, error, |o| {
        let host = PathBuf::from(str_arg(host_dir, "host_dir")?);
        o.options.preopens.push(Preopen { host, guest: str_arg(guest_dir, "guest_dir")?.to_owned() });
        Ok(())
    })
}

/// Adds `key=value` to every record of the run (e.g. `job`, `route`). A key
/// of the format itself (`lang`, `trace_id`, …), one that is not a valid
/// label name, or one given twice makes `wasmhost_run` fail with
/// `WASMHOST_STATUS_RUN`.
#[no_mangle]
pub extern "C" fn wasmhost_run_options_label(options: *mut WasmhostRunOptions, key: *const c_char, value: *const c_char, error: *mut *mut c_char) -> WasmhostStatus {
    with_options(options, error, |o| {
        o.options.labels.push((str_arg(key, "key")?.to_owned(), str_arg(value, "value")?.to_owned()));
        Ok(())
    })
}

/// A W3C `traceparent`: its trace and parent ids go on every record as
/// `trace_id` and `span_id`. An invalid value is ignored, as the W3C spec asks.
#[no_mangle]
pub extern "C" fn wasmhost_run_options_traceparent(options: *mut WasmhostRunOptions, traceparent: *const c_char, error: *mut *mut c_char) -> WasmhostStatus {
    with_options(options, error, |o| {
        o.options.traceparent = Some(str_arg(traceparent, "traceparent")?.to_owned());
        Ok(())
    })
}

/// What the guest reads on stdin: these `len` bytes (copied), then end of file.
#[no_mangle]
pub extern "C" fn wasmhost_run_options_stdin(options: *mut WasmhostRunOptions, bytes: *const u8, len: usize, error: *mut *mut c_char) -> WasmhostStatus {
    with_options(options, error, |o| {
        o.options.stdin = Stdin::Bytes(bytes_arg(bytes, len, "bytes")?.to_vec());
        Ok(())
    })
}

/// The most guest stdout bytes kept in the result (default 1 MiB); the
/// guest's writes beyond it fail.
#[no_mangle]
pub extern "C" fn wasmhost_run_options_stdout_limit(options: *mut WasmhostRunOptions, bytes: usize, error: *mut *mut c_char) -> WasmhostStatus {
    with_options(options, error, |o| {
        o.stdout_limit = bytes;
        Ok(())
    })
}

/// Limits of the run; 0 means none for each. They replace the host's
/// defaults. A timeout stops the guest with an `instance.timeout` event
/// (exit 134), fuel needs a host with fuel metering, memory and table
/// growth beyond the limits is refused.
#[no_mangle]
pub extern "C" fn wasmhost_run_options_limits(
    options: *mut WasmhostRunOptions,
    timeout_ms: u64,
    fuel: u64,
    max_memory_bytes: u64,
    max_table_elements: u64,
    error: *mut *mut c_char,
) -> WasmhostStatus {
    with_options(options, error, |o| {
        let size = |n: u64, what: &str| {
            usize::try_from(n).map_err(|_| Error::new(WasmhostStatus::InvalidArgument, format!("{what} {n} is too large")))
        };
        o.options.limits = Some(Limits {
            timeout: (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms)),
            fuel: (fuel > 0).then_some(fuel),
            max_memory: (max_memory_bytes > 0).then(|| size(max_memory_bytes, "max_memory_bytes")).transpose()?,
            max_table_elements: (max_table_elements > 0).then(|| size(max_table_elements, "max_table_elements")).transpose()?,
        });
        Ok(())
    })
}

/// Hands each record of the run to `callback` as one JSON line, besides
/// the host's sinks, as the instance makes it. `user_data` is passed back
/// as is; it must be usable from the library's threads, and concurrent
/// runs of options sharing it call the callback concurrently (each run's
/// own calls never overlap). NULL `callback` removes it.
#[no_mangle]
pub extern "C" fn wasmhost_run_options_callback(options: *mut WasmhostRunOptions, callback: WasmhostRecordFn, user_data: *mut c_void, error: *mut *mut c_char) -> WasmhostStatus {
    with_options(options, error, |o| {
        o.callback = callback.map(|func| Callback { func, user_data });
        Ok(())
    })
}

/// Runs one instance of `module` to its end on the host's runtime, blocking
/// the calling thread (any thread: the library's own are not needed).
/// `options` may be NULL. On success `*result` is the caller's, freed with
/// `wasmhost_result_free`; traps and limits are results, not errors. Another
/// thread stops the run with `wasmhost_cancel` when the options were given
/// a cancel handle (`wasmhost_run_options_cancel`).
#[no_mangle]
pub extern "C" fn wasmhost_run(module: *const WasmhostModule, options: *const WasmhostRunOptions, result: *mut *mut WasmhostResult, error: *mut *mut c_char) -> WasmhostStatus {
    guard(error, || {
        require_out(result, "result")?;
        if IN_CALLBACK.get() {
            return Err(Error::new(WasmhostStatus::Reentrant, "wasmhost_run called from a record callback"));
        }
        let module = borrow(module, Kind::Module, "module")?;
        let defaults = WasmhostRunOptions::default();
        let options = match options.is_null() {
            true => &defaults,
            false => borrow(options, Kind::RunOptions, "options")?,
        };
        out(result, into_handle(run(module, options)?, Kind::Result));
        Ok(())
    })
}

fn run(module: &WasmhostModule, options: &WasmhostRunOptions) -> Result<WasmhostResult, Error> {
    let inner = &module.host;
    let runtime = inner.runtime.as_ref().ok_or_else(|| Error::new(WasmhostStatus::InvalidHandle, "the host is shutting down"))?;
    let stdout = OutputBuffer::new(options.stdout_limit);
    let run_options = RunOptions { stdout_buffer: Some(stdout.clone()), on_record: options.callback.map(Callback::tap), ..options.options.clone() };
    let (host, loaded, sender) = (inner.host.clone(), module.module.clone(), inner.sender()?);
    // One task per run (its id is the records' `task_id`), spawned here and
    // awaited through its small join handle: `block_on(host.run(..))` would
    // move the run's future (8.7 KiB) into `block_on` and again into the
    // task `Host::run` spawns outside one — a third of a call's instructions
    // went to those copies.
    let task = runtime.spawn(async move { host.run(&loaded, run_options, sender).await });
    let outcome = runtime
        .block_on(task)
        .map_err(|e| Error::new(WasmhostStatus::Panic, format!("the run's task failed: {e}")))?
        .map_err(|e| Error::new(WasmhostStatus::Run, e.to_string()))?;
    Ok(WasmhostResult {
        exit_code: outcome.exit_code,
        // One copy (the buffer's contents); the `Vec` takes it over.
        stdout: Vec::from(stdout.contents()),
        instance_id: CString::new(outcome.wasm_instance_id.to_string()).unwrap_or_default(),
        outcome: CString::new(outcome.ended.name()).unwrap_or_default(),
    })
}

/// The guest's exit code: its own, 134 after a trap or a limit that
/// stopped it, 1 after a host error. -1 for a handle that is not a live result.
#[no_mangle]
pub extern "C" fn wasmhost_result_exit_code(result: *const WasmhostResult) -> i32 {
    let mut code = -1;
    guard(std::ptr::null_mut(), || {
        code = borrow(result, Kind::Result, "result")?.exit_code;
        Ok(())
    });
    code
}

/// The guest's stdout: `*data` points at `*len` bytes owned by the result.
#[no_mangle]
pub extern "C" fn wasmhost_result_stdout(result: *const WasmhostResult, data: *mut *const u8, len: *mut usize, error: *mut *mut c_char) -> WasmhostStatus {
    guard(error, || {
        if data.is_null() || len.is_null() {
            return Err(Error::new(WasmhostStatus::NullArgument, "data or len is NULL"));
        }
        let result = borrow(result, Kind::Result, "result")?;
        // SAFETY: both checked non-NULL; the caller passes writable pointers.
        unsafe {
            *data = result.stdout.as_ptr();
            *len = result.stdout.len();
        }
        Ok(())
    })
}

/// The instance's UUIDv7 (its records' `wasm_instance_id`), owned by the
/// result; NULL for a handle that is not a live result.
#[no_mangle]
pub extern "C" fn wasmhost_result_instance_id(result: *const WasmhostResult) -> *const c_char {
    let mut id = std::ptr::null();
    guard(std::ptr::null_mut(), || {
        id = borrow(result, Kind::Result, "result")?.instance_id.as_ptr();
        Ok(())
    });
    id
}

/// How the instance ended: `exit`, `trap`, `timeout`, `out_of_fuel`,
/// `stopped` (the host shut down, or the run was cancelled with
/// `wasmhost_cancel`) or `error` (a host function failed) —
/// the event that closed its log (`instance.trap`, `instance.timeout`, …).
/// Owned by the result; NULL for a handle that is not a live result.
#[no_mangle]
pub extern "C" fn wasmhost_result_outcome(result: *const WasmhostResult) -> *const c_char {
    let mut outcome: *const c_char = std::ptr::null();
    guard(std::ptr::null_mut(), || {
        outcome = borrow(result, Kind::Result, "result")?.outcome.as_ptr();
        Ok(())
    });
    outcome
}

/// Frees a result (and the stdout and id it owns).
#[no_mangle]
pub extern "C" fn wasmhost_result_free(result: *mut WasmhostResult) -> WasmhostStatus {
    guard(std::ptr::null_mut(), || take_handle(result, Kind::Result, "result").map(drop))
}
