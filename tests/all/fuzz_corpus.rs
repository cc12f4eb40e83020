//! Every input the fuzzers keep (`fuzz/corpus/TARGET/`, seeds and what
//! `make fuzz` found) fed to its target's function as a plain test, so
//! `make test` replays them without a fuzzing toolchain: a crash the fuzzer
//! once found stays found.

#[path = "../../fuzz/harness.rs"]
mod harness;

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no corpus", dir.display());
    for file in files {
        let data = std::fs::read(&file).unwrap();
        // A panic names the input that caused it.
        let result = std::panic::catch_unwind(|| run(&data));
        assert!(result.is_ok(), "{target}: {} fails", file.display());
    }
}

#[test]
fn detect_corpus() {
    replay("detect", harness::detect);
}

#[test]
fn lines_corpus() {
    replay("lines", harness::lines);
}

#[test]
fn logql_corpus() {
    replay("logql", harness::logql);
}

#[test]
fn routing_corpus() {
    replay("routing", harness::routing);
}
