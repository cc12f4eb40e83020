//! The wasmhost logging import for Rust guests (wasm32-wasi core modules):
//! `#[path = "…/wasmhost_log.rs"] mod wasmhost_log;` then
//! `wasmhost_log::log(Level::Warn, "slow")` or
//! `wasmhost_log::log_kv(Level::Warn, "slow", &[("ms", "120")])`.
//! ABI: docs/guest-api.md. Works with rustc 1.63 and later, no crates.
#![allow(dead_code)]

/// Levels as the ABI numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Level {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
}

/// One key/value pair as the ABI lays it out (four u32s).
#[repr(C)]
struct Kv {
    key: *const u8,
    key_len: u32,
    value: *const u8,
    value_len: u32,
}

#[link(wasm_import_module = "wasmhost_log")]
extern "C" {
    #[link_name = "log"]
    fn raw_log(level: i32, msg: *const u8, msg_len: u32);
    #[link_name = "log_kv"]
    fn raw_log_kv(level: i32, msg: *const u8, msg_len: u32, kv: *const Kv, kv_count: u32);
}

/// Logs `msg` at `level`.
pub fn log(level: Level, msg: &str) {
    unsafe { raw_log(level as i32, msg.as_ptr(), msg.len() as u32) }
}

/// Logs `msg` at `level` with fields.
pub fn log_kv(level: Level, msg: &str, fields: &[(&str, &str)]) {
    let kv: Vec<Kv> = fields
        .iter()
        .map(|(k, v)| Kv { key: k.as_ptr(), key_len: k.len() as u32, value: v.as_ptr(), value_len: v.len() as u32 })
        .collect();
    unsafe { raw_log_kv(level as i32, msg.as_ptr(), msg.len() as u32, kv.as_ptr(), kv.len() as u32) }
}

/// Calls the raw import with any pointer and length (for testing the host's checks).
pub unsafe fn log_raw(level: i32, msg: *const u8, msg_len: u32) {
    raw_log(level, msg, msg_len)
}
