//! A `Write` the test reads back while (or after) a log pipeline owns it:
//! for the tests that drive the library in-process (`all/embed*.rs`, and
//! `gateway.rs`, whose package has no `wasmhost` binary for `common/mod.rs`).

use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct Shared(pub Arc<Mutex<Vec<u8>>>);

impl Shared {
    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).expect("records are UTF-8")
    }
}

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
