//! Reading a guest line's severity from its own words.
//!
//! Guests in every language prefix their stderr lines in a handful of ways
//! (`ERROR: ...`, `[warn] ...`, `W1125 ...` is too clever and left alone).
//! Reading that prefix lets `level="error"` find guest errors without the
//! guest changing a line; a line with no recognisable prefix is `info`.

use crate::record::Level;

/// The level a guest line announces in its first word, else `Info`.
///
/// Recognised, case-insensitive, optionally in `[...]` or `<...>` and followed
/// by `:`, ` `, `]`, `>` or `|`: the words of [`wasmhost_lift::level_word`]
/// (`trace`, `debug`/`dbg`, `info`, `warn`/`warning`, `error`/`err`,
/// `fatal`/`crit`/`critical`/`panic`, ...). A Rust panic message
/// (`thread '...' panicked at`) is an error too.
///
/// ```
/// use wasmhost_log::{level_of_line, Level};
/// assert_eq!(level_of_line("WARNING: low memory"), Level::Warn);
/// assert_eq!(level_of_line("[error] boom"), Level::Error);
/// assert_eq!(level_of_line("thread 'main' panicked at src/main.rs:2:5:"), Level::Error);
/// assert_eq!(level_of_line("errors are fine"), Level::Info);
/// ```
pub fn level_of_line(line: &str) -> Level {
    let trimmed = line.trim_start_matches([' ', '\t', '[', '<']);
    let word_end = trimmed
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(trimmed.len());
    let (word, rest) = trimmed.split_at(word_end);
    let delimited = rest.is_empty() || rest.starts_with([':', ' ', ']', '>', '|']);
    // `level_word` also reads `INFO2`-style suffixes, but `word` is letters only.
    if let Some(level) = delimited.then(|| wasmhost_lift::level_word(word)).flatten() {
        return crate::lift::level(level);
    }
    if line.starts_with("thread '") && line.contains("' panicked at") {
        return Level::Error;
    }
    Level::Info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(level_of_line("DEBUG x"), Level::Debug);
        assert_eq!(level_of_line("<trace> x"), Level::Trace);
        assert_eq!(level_of_line("Info| x"), Level::Info);
        assert_eq!(level_of_line("fatal"), Level::Error);
        assert_eq!(level_of_line("panic: runtime error: index out of range"), Level::Error);
        assert_eq!(level_of_line("warnings: 3"), Level::Info);
        assert_eq!(level_of_line(""), Level::Info);
        assert_eq!(level_of_line("ünïcode error: x"), Level::Info);
    }
}
