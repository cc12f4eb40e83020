//! One run: its options (arguments, environment, preopens, labels,
//! `traceparent`, limits, stdin bytes, the record callback), the blocking
//! `wasmhost_run`, and its result (exit code, captured stdout, instance id,
//! outcome).
//!
//! Records reach a run's callback through one tap sink on the host's
//! pipeline: a single thread calls every callback, in each instance's
//! order, so a callback is never called concurrently — for one instance or
//! for several. The tap finds the run by its tokio task id (each run is one
//! task, registered before its first record), and `wasmhost_run` returns
//! only after the instance's last record was handed to the callback.

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::{c_char, c_void, CString};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use wasmhost::{Limits, Preopen, RunError, RunOptions, Stdin, OutputBuffer};
use wasmhost_log::{Format, JsonFormat, LogRecord, Sink};

use crate::module::WasmhostModule;
use crate::{borrow, borrow_mut, bytes_arg, guard, into_handle, out, require_out, str_arg, take_handle, Error, Kind, WasmhostStatus};

/// Receives one record as one JSON line (`len` bytes including the final
/// `\n`; valid only during the call). Called on a library thread, never
/// concurrently with itself; it must not call `wasmhost_run`.
pub type WasmhostRecordFn = Option<unsafe extern "C" fn(user_data: *mut c_void, line: *const u8, len: usize)>;

/// A run's callback and the pointer it is given back.
#[derive(Clone, Copy)]
struct Callback {
    func: unsafe extern "C" fn(*mut c_void, *const u8, usize),
    user_data: *mut c_void,
}

// SAFETY: the C caller promises (docs/c-api.md) that `user_data` may be used
// from the library's callback thread; the library only passes it back.
unsafe impl Send for Callback {}

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
/// the host's sinks. `user_data` is passed back as is; it must be usable
/// from the library's thread. NULL `callback` removes it.
#[no_mangle]
pub extern "C" fn wasmhost_run_options_callback(options: *mut WasmhostRunOptions, callback: WasmhostRecordFn, user_data: *mut c_void, error: *mut *mut c_char) -> WasmhostStatus {
    with_options(options, error, |o| {
        o.callback = callback.map(|func| Callback { func, user_data });
        Ok(())
    })
}

thread_local! {
    /// Set on the thread that calls the record callbacks.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
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
    let run_options = RunOptions { stdout_buffer: Some(stdout.clone()), ..options.options.clone() };
    let (host, loaded, sender, taps, callback) =
        (inner.host.clone(), module.module.clone(), inner.sender()?, inner.taps.clone(), options.callback);
    // One task per run: its id is the records' `task_id`, and the tap's key.
    let task = runtime.spawn(async move {
        let task_id = current_task_id();
        if let (Some(callback), Some(id)) = (callback, task_id) {
            taps.register(id, callback);
        }
        (task_id, host.run(&loaded, run_options, sender).await)
    });
    let joined = runtime.block_on(task);
    let (task_id, outcome) = joined.map_err(|e| Error::new(WasmhostStatus::Panic, format!("the run's task failed: {e}")))?;
    if let (Some(_), Some(id)) = (callback, task_id) {
        // The instance's last record: `instance.exit`, or `instance.error`
        // when the set-up failed after `instance.start` was logged; nothing
        // when it failed before.
        let last = match &outcome {
            Ok(o) if o.log.lost == 0 => Some(Closing::Exit),
            Err(RunError::Instantiate(_)) => Some(Closing::Error),
            _ => None,
        };
        inner.taps.finish(id, last);
    }
    let outcome = outcome.map_err(|e| Error::new(WasmhostStatus::Run, e.to_string()))?;
    Ok(WasmhostResult {
        exit_code: outcome.exit_code,
        stdout: stdout.contents().to_vec(),
        instance_id: CString::new(outcome.wasm_instance_id.to_string()).unwrap_or_default(),
        outcome: CString::new(outcome.ended.name()).unwrap_or_default(),
    })
}

/// The current tokio task's id as records carry it (`task_id`).
fn current_task_id() -> Option<u64> {
    tokio::task::try_id().and_then(|t| t.to_string().parse().ok())
}

/// The record that closes an instance's log.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Closing {
    Exit,
    Error,
}

/// A registered run: its callback, and the closing records delivered so far.
struct Tap {
    callback: Callback,
    exit_seen: bool,
    error_seen: bool,
}

/// The runs whose records go to a callback, by task id.
#[derive(Default)]
pub(crate) struct Taps {
    runs: Mutex<HashMap<u64, Tap>>,
    delivered: Condvar,
}

impl Taps {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Tap>> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn register(&self, task_id: u64, callback: Callback) {
        self.lock().insert(task_id, Tap { callback, exit_seen: false, error_seen: false });
    }

    /// Waits until the run's closing record went through its callback, then
    /// forgets the run: its callback is never called after this.
    fn finish(&self, task_id: u64, last: Option<Closing>) {
        let mut runs = self.lock();
        while let Some(tap) = runs.get(&task_id) {
            let done = match last {
                None => true,
                Some(Closing::Exit) => tap.exit_seen,
                Some(Closing::Error) => tap.error_seen,
            };
            if done {
                break;
            }
            runs = self.delivered.wait(runs).unwrap_or_else(|e| e.into_inner());
        }
        runs.remove(&task_id);
    }

    /// The sink that calls the callbacks (on the pipeline's thread for it).
    pub(crate) fn sink(self: &Arc<Self>) -> TapSink {
        TapSink { taps: self.clone(), line: Vec::with_capacity(1024) }
    }
}

/// The pipeline sink behind every run's callback.
pub(crate) struct TapSink {
    taps: Arc<Taps>,
    line: Vec<u8>,
}

impl Sink for TapSink {
    fn write(&mut self, record: &LogRecord) -> std::io::Result<()> {
        let Some(task_id) = record.ctx.task_id else { return Ok(()) };
        let Some(callback) = self.taps.lock().get(&task_id).map(|t| t.callback) else { return Ok(()) };
        self.line.clear();
        JsonFormat.format(record, &mut self.line)?;
        IN_CALLBACK.set(true);
        // SAFETY: a C function pointer the caller registered, with its own
        // user data; the line is valid for the call.
        unsafe { (callback.func)(callback.user_data, self.line.as_ptr(), self.line.len()) };
        let closing = match record.event {
            Some("instance.exit") => Some(Closing::Exit),
            Some("instance.error") => Some(Closing::Error),
            _ => None,
        };
        if let Some(closing) = closing {
            if let Some(tap) = self.taps.lock().get_mut(&task_id) {
                match closing {
                    Closing::Exit => tap.exit_seen = true,
                    Closing::Error => tap.error_seen = true,
                }
            }
            self.taps.delivered.notify_all();
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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
