//! Fingerprints the detector's source (`RULES` in the crate): a host that
//! keeps detections beside its compile cache keys them by it, so that a
//! build whose rules changed detects again instead of reusing old verdicts.

use std::hash::Hasher;

fn main() {
    println!("cargo:rerun-if-changed=src");
    let mut files: Vec<_> = std::fs::read_dir("src").expect("src/").map(|e| e.expect("src/ entry").path()).collect();
    files.sort();
    // FNV-1a: stable across Rust releases, which std's hasher does not promise.
    let mut hash = Fnv(0xcbf2_9ce4_8422_2325);
    for file in files {
        hash.write(file.to_string_lossy().as_bytes());
        hash.write(&std::fs::read(&file).expect("readable source"));
    }
    println!("cargo:rustc-env=WASMHOST_DETECT_RULES={}-{:016x}", std::env::var("CARGO_PKG_VERSION").unwrap_or_default(), hash.finish());
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}
