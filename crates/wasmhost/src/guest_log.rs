//! The `wasmhost_log` host import: core-module guests hand the host a
//! record (level, message, key/value pairs) instead of writing text to
//! stderr. The ABI is in `docs/guest-api.md`; the record is
//! [`wasmhost_log::import_record`]'s (stream `api`, `lifted: "import"`, the
//! guest's keys under the lift prefix).
//!
//! A pointer or length outside the guest's memory, an unknown level, or a
//! message or field list beyond the bounds ends that instance with an
//! `instance.error` event naming the call and the bad argument.

use wasmhost_log::{import_record, lock, Level};
use wasmtime::{Caller, Extern, Linker};

use crate::instance::InstanceState;

/// The import module's name.
pub const MODULE: &str = "wasmhost_log";

/// Most key/value pairs one `log_kv` call may pass.
pub const MAX_PAIRS: u32 = 256;

/// Levels as the ABI numbers them.
fn level(n: i32) -> Option<Level> {
    Some(match n {
        0 => Level::Trace,
        1 => Level::Debug,
        2 => Level::Info,
        3 => Level::Warn,
        4 => Level::Error,
        _ => return None,
    })
}

/// Links `log(level, msg_ptr, msg_len)` and
/// `log_kv(level, msg_ptr, msg_len, kv_ptr, kv_count)`.
pub(crate) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    linker.func_wrap(MODULE, "log", |mut caller: Caller<'_, InstanceState>, lvl: i32, ptr: i32, len: i32| {
        record(&mut caller, "log", lvl, (ptr, len), None)
    })?;
    linker.func_wrap(
        MODULE,
        "log_kv",
        |mut caller: Caller<'_, InstanceState>, lvl: i32, ptr: i32, len: i32, kv_ptr: i32, kv_count: i32| {
            record(&mut caller, "log_kv", lvl, (ptr, len), Some((kv_ptr, kv_count)))
        },
    )?;
    Ok(())
}

/// The guest's bytes at `ptr..ptr+len` (both read as unsigned), or why not.
fn slice<'m>(memory: &'m [u8], call: &str, what: &str, (ptr, len): (i32, i32)) -> wasmtime::Result<&'m [u8]> {
    let (start, len) = (ptr as u32 as usize, len as u32 as usize);
    start.checked_add(len).and_then(|end| memory.get(start..end)).ok_or_else(|| {
        wasmtime::Error::msg(format!(
            "{MODULE}.{call}: {what} at {start:#x} with length {len} is outside the guest's memory ({} bytes)",
            memory.len()
        ))
    })
}

fn record(
    caller: &mut Caller<'_, InstanceState>,
    call: &str,
    lvl: i32,
    msg: (i32, i32),
    kv: Option<(i32, i32)>,
) -> wasmtime::Result<()> {
    let fail = |reason: String| Err(wasmtime::Error::msg(format!("{MODULE}.{call}: {reason}")));
    let Some(level) = level(lvl) else { return fail(format!("level {lvl} is not one of 0 (trace) to 4 (error)")) };
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return fail("the module exports no memory named `memory`".into());
    };
    let (memory, state) = memory.data_and_store_mut(&mut *caller);
    let max = state.guest_log_max;
    let text = slice(memory, call, "the message", msg)?;
    if text.len() > max {
        return fail(format!("the message is {} bytes, more than the {max}-byte line limit", text.len()));
    }
    let mut pairs: Vec<(&[u8], &[u8])> = Vec::new();
    if let Some((kv_ptr, count)) = kv {
        if count as u32 > MAX_PAIRS {
            return fail(format!("{} key/value pairs, more than {MAX_PAIRS}", count as u32));
        }
        let table = slice(memory, call, "the key/value table", (kv_ptr, count.wrapping_mul(16)))?;
        let mut total = text.len();
        for (i, entry) in table.chunks_exact(16).enumerate() {
            let word = |at: usize| i32::from_le_bytes([entry[at], entry[at + 1], entry[at + 2], entry[at + 3]]);
            let key = slice(memory, call, &format!("key {i}"), (word(0), word(4)))?;
            let value = slice(memory, call, &format!("value {i}"), (word(8), word(12)))?;
            total += key.len() + value.len();
            pairs.push((key, value));
        }
        if total > max {
            return fail(format!("the message and fields are {total} bytes, more than the {max}-byte line limit"));
        }
    }
    let log = state.limiter.log.clone();
    let mut log = lock(&log);
    let record = import_record(&state.lift, log.context(), level, text, &pairs);
    log.guest_record(record);
    Ok(())
}
