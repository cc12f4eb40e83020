//! Prints the detected language of each module given on the command line.
//!
//! `cargo run --example detect -p wasmhost-detect -- guests/build/*/*.wasm`
fn main() {
    for path in std::env::args().skip(1) {
        match std::fs::read(&path) {
            Ok(bytes) => {
                let d = wasmhost_detect::detect(&bytes);
                println!("{path}: {} {:.2} {:?} [{}]", d.lang, d.confidence, d.tier, d.evidence_summary());
            }
            Err(e) => eprintln!("{path}: {e}"),
        }
    }
}
