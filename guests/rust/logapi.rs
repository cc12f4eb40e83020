// logapi: logs through the wasmhost_log import from Rust
// (guests/include/wasmhost_log.rs) instead of stderr.
#[path = "../include/wasmhost_log.rs"]
mod wasmhost_log;

use wasmhost_log::Level;

fn main() {
    wasmhost_log::log(Level::Info, "hello from rust through wasmhost_log");
    wasmhost_log::log_kv(Level::Error, "request failed", &[("status", "503"), ("route", "/upper"), ("seq", "spoofed")]);
    if std::env::args().nth(1).as_deref() == Some("badptr") {
        unsafe { wasmhost_log::log_raw(2, 0x7fff_fff0 as *const u8, 64) };
    }
}
