//! What each fuzz target does with its input, shared by the targets
//! (`fuzz/fuzz_targets/`, run by `make fuzz`) and by the test that replays
//! every corpus file (`tests/all/fuzz_corpus.rs`, run by `make test`). Each
//! function must never panic, whatever the bytes; the assertions are the
//! properties the fuzzer hunts for violations of.
#![allow(dead_code)] // each target uses one function

use std::path::Path;

use wasmhost_log::LineSplitter;

/// Language detection over arbitrary bytes: a verdict, never a panic.
pub fn detect(data: &[u8]) {
    let detection = wasmhost_detect::detect(data);
    let _ = detection.evidence_summary();
}

/// The line splitter: the first byte chooses the line limit, the second
/// how the rest is chunked. Whatever it is fed, no byte is lost or invented
/// (only the `\n` that end lines and one `\r` before each go), no piece is
/// over the limit, and a cut never splits a well-formed UTF-8 character.
pub fn lines(data: &[u8]) {
    let [limit, chunk, input @ ..] = data else { return };
    let max_line = usize::from(*limit % 64) + 4;
    let chunk = usize::from(*chunk % 16) + 1;
    let mut splitter = LineSplitter::new(max_line);
    let mut pieces: Vec<(Vec<u8>, bool)> = Vec::new();
    for part in input.chunks(chunk) {
        splitter.push(part, |l| pieces.push((l.bytes.to_vec(), l.continued)));
        assert!(splitter.pending() <= max_line);
    }
    splitter.finish(|l| pieces.push((l.bytes.to_vec(), l.continued)));

    let mut rebuilt = Vec::new();
    for (bytes, continued) in &pieces {
        assert!(bytes.len() <= max_line, "a piece over the limit");
        rebuilt.extend_from_slice(bytes);
        if !continued {
            rebuilt.push(b'\n');
        }
    }
    // The input without its line ends' `\r`, each line ended by `\n`.
    let mut expected = Vec::new();
    let mut lines = input.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        if last && line.is_empty() {
            break;
        }
        expected.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        expected.push(b'\n');
    }
    if pieces.iter().all(|(b, c)| !c || !b.ends_with(b"\r")) {
        assert_eq!(rebuilt, expected, "bytes lost or invented");
    }
    if std::str::from_utf8(input).is_ok() {
        for (bytes, _) in &pieces {
            let whole = std::str::from_utf8(bytes).is_ok();
            // A piece of valid text is valid text, unless a `\r` was taken
            // from its end — which never splits a character.
            assert!(whole, "a cut split a character: {bytes:?}");
        }
    }
}

/// The LogQL parser (`wasmhost logs`, `--config` routes): a query or an
/// error, never a panic.
pub fn logql(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = wasmhost_logql::parse(text);
    }
}

/// The routing config (TOML): parsed or refused, never a panic. Nothing
/// is opened: only parsing is fuzzed.
pub fn routing(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = wasmhost_log::RoutingConfig::parse(text, Path::new("fuzz.toml"));
    }
}
