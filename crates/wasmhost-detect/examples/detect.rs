//! Prints the detected language of each module given on the command line.
//!
//! `cargo run --example detect -p wasmhost-detect -- guests/build/*/*.wasm`
fn main() {
    for path in std::env::args().skip(1) {
        match std::fs::read(&path) {
            Ok(bytes) => {
                let d = wasmhost_detect::detect(&bytes);
                let toolchain = d.toolchain.as_ref().map_or("-", |t| t.name.as_str());
                let langs: Vec<String> =
                    d.langs.iter().map(|l| l.share.map_or(l.lang.to_string(), |s| format!("{} {:.0}%", l.lang, s * 100.0))).collect();
                println!(
                    "{path}: {} {:.2} {:?} toolchain {toolchain} langs [{}] [{}]",
                    d.lang,
                    d.confidence,
                    d.tier,
                    langs.join(", "),
                    d.evidence_summary()
                );
            }
            Err(e) => eprintln!("{path}: {e}"),
        }
    }
}
