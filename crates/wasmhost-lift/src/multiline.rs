//! Multi-line records: a Rust panic with its notes and backtrace, a Python
//! traceback, a Go panic with its goroutine dumps become one block instead
//! of forty lines.
//!
//! A [`Joiner`] sits after the line splitter of one stream. A line that
//! starts a block is held; the lines that continue it (by the shape each
//! runtime prints) are added; anything else ends it. A block is bounded:
//! [`Bounds::max_bytes`], [`Bounds::max_lines`], and [`Bounds::window`] — a
//! line that arrives after the window has passed since the block began ends
//! it instead of joining. A held block also leaves when the embedder calls
//! [`Joiner::flush`] (the host does before its own events and when the
//! guest ends), and when its window has passed: the embedder asks
//! [`Joiner::deadline`] and calls [`Joiner::flush_due`] then, so a guest that
//! prints a traceback and goes on sleeping does not keep it back. Pieces of
//! over-long lines (`continued`), and the tail piece after them, never start
//! or join a block.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use crate::level::Severity;
use crate::Parsed;

/// Which runtime's block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    /// `thread 'main' panicked at …` and what follows it.
    RustPanic,
    /// `Traceback (most recent call last):` … `ValueError: …`.
    PythonTraceback,
    /// `panic: …` / `fatal error: …` and the goroutine dumps.
    GoPanic,
}

impl Block {
    /// The `lifted` name.
    pub fn format(self) -> &'static str {
        match self {
            Block::RustPanic => "rust_panic",
            Block::PythonTraceback => "python_traceback",
            Block::GoPanic => "go_panic",
        }
    }

    fn starting(line: &[u8]) -> Option<(Block, Phase)> {
        match line.first()? {
            b't' if line.starts_with(b"thread '") && memchr::memmem::find(line, b"' panicked at ").is_some() => {
                // Since Rust 1.73 the message follows on its own lines.
                let phase = if line.ends_with(b":") { Phase::Message } else { Phase::Notes };
                Some((Block::RustPanic, phase))
            }
            b'T' if line == b"Traceback (most recent call last):" => Some((Block::PythonTraceback, Phase::Frames)),
            b'p' if line.starts_with(b"panic: ") => Some((Block::GoPanic, Phase::Frames)),
            b'f' if line.starts_with(b"fatal error: ") => Some((Block::GoPanic, Phase::Frames)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Rust ≥ 1.73: any line until `note:` or `stack backtrace:`.
    Message,
    /// Rust: notes and backtrace frames.
    Notes,
    /// Python/Go: indented frames and the runtime's own lines.
    Frames,
    /// Python: after the exception line, only a chained traceback goes on.
    Chained,
}

/// How big and how long a block may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Bytes of text in one block (lines and their newlines); a line that
    /// would pass it ends the block instead. Default 64 KiB.
    pub max_bytes: usize,
    /// Lines in one block. Default 256.
    pub max_lines: usize,
    /// Time from the block's first line after which no line joins it and
    /// the block leaves, whether or not another line came. Default 250 ms
    /// (runtimes print a panic in one go), so a held block is late by at
    /// most that.
    pub window: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds { max_bytes: 64 * 1024, max_lines: 256, window: Duration::from_millis(250) }
    }
}

/// What a [`Joiner`] gives back.
#[derive(Debug, PartialEq, Eq)]
pub enum Joined<'a> {
    /// A line that is no part of a block, as it came.
    Line {
        /// Its bytes.
        bytes: &'a [u8],
        /// It is a piece of a longer line that goes on.
        continued: bool,
        /// It is the last piece of a line that was cut: not a line of its
        /// own, so not to be lifted.
        tail: bool,
    },
    /// A whole block: its lines joined with `\n`.
    Block(Block, &'a [u8]),
}

/// Joins the lines of multi-line blocks of one stream. See the module
/// documentation.
///
/// ```
/// use wasmhost_lift::{Block, Joined, Joiner};
/// let mut j = Joiner::default();
/// let mut out = Vec::new();
/// let mut keep = |x: Joined<'_>| out.push(format!("{x:?}"));
/// for line in ["before", "panic: boom", "", "goroutine 1 [running]:", "main.main()", "\t/src/main.go:5 +0x1d", "after"] {
///     j.push(line.as_bytes(), false, &mut keep);
/// }
/// j.flush(&mut keep);
/// assert_eq!(out.len(), 3);
/// assert!(out[1].starts_with("Block(GoPanic"));
/// ```
#[derive(Debug, Default)]
pub struct Joiner {
    bounds: Bounds,
    held: Option<(Block, Phase)>,
    text: Vec<u8>,
    lines: usize,
    started: Option<Instant>,
    after_cut: bool,
}

impl Joiner {
    /// A joiner with these bounds.
    pub fn new(bounds: Bounds) -> Joiner {
        Joiner { bounds, ..Joiner::default() }
    }

    /// A block is held, waiting for more lines or a flush.
    pub fn is_holding(&self) -> bool {
        self.held.is_some()
    }

    /// Offers the next line (without its newline); `continued` as the line
    /// splitter said. Calls `emit` for whatever is complete.
    pub fn push(&mut self, line: &[u8], continued: bool, emit: &mut dyn FnMut(Joined<'_>)) {
        let tail = std::mem::replace(&mut self.after_cut, continued);
        if continued || tail {
            self.flush(emit);
            emit(Joined::Line { bytes: line, continued, tail });
            return;
        }
        if let Some((block, phase)) = self.held {
            match self.continues(block, phase, line) {
                Some(next) if self.has_room(line) => {
                    self.add(line);
                    self.held = Some((block, next));
                    return;
                }
                _ => self.flush(emit),
            }
        }
        match Block::starting(line) {
            Some(start) => {
                self.held = Some(start);
                self.started = Some(Instant::now());
                self.text.clear();
                self.text.extend_from_slice(line);
                self.lines = 1;
            }
            None => emit(Joined::Line { bytes: line, continued: false, tail: false }),
        }
    }

    /// When the held block's window ends: no line joins it after this, so
    /// the embedder should let it out then ([`Joiner::flush_due`]).
    /// `None` when nothing is held.
    pub fn deadline(&self) -> Option<Instant> {
        self.held?;
        self.started.map(|t| t + self.bounds.window)
    }

    /// Emits the held block if its window has ended by `now`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use wasmhost_lift::{Bounds, Joiner};
    /// let mut j = Joiner::new(Bounds { window: Duration::from_millis(100), ..Bounds::default() });
    /// let mut blocks = 0;
    /// j.push(b"Traceback (most recent call last):", false, &mut |_| blocks += 1);
    /// let due = j.deadline().unwrap();
    /// j.flush_due(due - Duration::from_millis(1), &mut |_| blocks += 1);
    /// assert_eq!(blocks, 0, "still open: a frame may follow");
    /// j.flush_due(due, &mut |_| blocks += 1);
    /// assert_eq!(blocks, 1);
    /// assert_eq!(j.deadline(), None);
    /// ```
    pub fn flush_due(&mut self, now: Instant, emit: &mut dyn FnMut(Joined<'_>)) {
        if self.deadline().is_some_and(|due| due <= now) {
            self.flush(emit);
        }
    }

    /// Emits the held block, if any.
    pub fn flush(&mut self, emit: &mut dyn FnMut(Joined<'_>)) {
        if let Some((block, _)) = self.held.take() {
            emit(Joined::Block(block, &self.text));
            self.text.clear();
            // A big block's buffer is not kept for the life of the instance.
            self.text.shrink_to(4096);
        }
    }

    fn has_room(&self, line: &[u8]) -> bool {
        self.lines < self.bounds.max_lines
            && self.text.len() + 1 + line.len() <= self.bounds.max_bytes
            && self.deadline().is_some_and(|due| Instant::now() < due)
    }

    fn add(&mut self, line: &[u8]) {
        self.text.push(b'\n');
        self.text.extend_from_slice(line);
        self.lines += 1;
    }

    /// Whether `line` continues the block, and the phase after it.
    fn continues(&self, block: Block, phase: Phase, line: &[u8]) -> Option<Phase> {
        let indented = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        match (block, phase) {
            (Block::RustPanic, Phase::Message) => {
                Some(if line.starts_with(b"note: ") || line == b"stack backtrace:" { Phase::Notes } else { Phase::Message })
            }
            (Block::RustPanic, _) => {
                (indented || line.starts_with(b"note: ") || line == b"stack backtrace:").then_some(Phase::Notes)
            }
            (Block::PythonTraceback, Phase::Chained) => {
                if line == b"Traceback (most recent call last):" {
                    Some(Phase::Frames)
                } else {
                    (line.is_empty()
                        || line.starts_with(b"During handling of the above exception")
                        || line.starts_with(b"The above exception was the direct cause"))
                    .then_some(Phase::Chained)
                }
            }
            (Block::PythonTraceback, _) => Some(if indented { Phase::Frames } else { Phase::Chained }),
            (Block::GoPanic, _) => {
                let call = line.ends_with(b")") && line.iter().position(|&b| b == b'(').is_some_and(|i| !line[..i].contains(&b' '));
                (line.is_empty()
                    || indented
                    || call
                    || line.starts_with(b"goroutine ")
                    || line.starts_with(b"created by ")
                    || line.starts_with(b"[signal ")
                    || line.starts_with(b"exit status "))
                .then_some(Phase::Frames)
            }
        }
    }
}

/// A block's level, message and fields: the whole text is the message.
pub(crate) fn parse_block(block: Block, text: &str) -> Parsed<'_> {
    let mut p = Parsed { format: block.format(), level: Some(Severity::Error), msg: Cow::Borrowed(text), ..Parsed::default() };
    match block {
        Block::PythonTraceback => {
            // The last unindented line is `ExceptionType: message`.
            let last = text.lines().rev().find(|l| !l.is_empty() && !l.starts_with([' ', '\t']));
            if let Some(exc) = last.and_then(|l| l.split(':').next()).filter(|e| !e.contains(' ') && !e.starts_with("Traceback")) {
                p.fields.push((Cow::Borrowed("exception"), crate::Value::Str(Cow::Borrowed(exc))));
            }
        }
        Block::RustPanic => {
            if let Some(thread) = text.strip_prefix("thread '").and_then(|t| t.split_once("' panicked")).map(|(t, _)| t) {
                p.fields.push((Cow::Borrowed("thread"), crate::Value::Str(Cow::Borrowed(thread))));
            }
        }
        Block::GoPanic => {}
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(lines: &[&str], bounds: Bounds) -> Vec<String> {
        let mut j = Joiner::new(bounds);
        let mut out = Vec::new();
        let mut keep = |x: Joined<'_>| {
            out.push(match x {
                Joined::Line { bytes, .. } => String::from_utf8_lossy(bytes).into_owned(),
                Joined::Block(b, text) => format!("{}<{}>", b.format(), String::from_utf8_lossy(text)),
            })
        };
        for l in lines {
            j.push(l.as_bytes(), false, &mut keep);
        }
        j.flush(&mut keep);
        out
    }

    #[test]
    fn rust_panic_new_and_old() {
        let got = join(
            &[
                "thread 'main' panicked at src/main.rs:2:5:",
                "index out of bounds",
                "stack backtrace:",
                "   0: rust_begin_unwind",
                "note: Some details are omitted",
                "next",
            ],
            Bounds::default(),
        );
        assert_eq!(got.len(), 2);
        assert!(got[0].starts_with("rust_panic<thread 'main'") && got[0].ends_with("omitted>"), "{got:?}");
        let got = join(&["thread 'main' panicked at 'boom', src/main.rs:2:5", "note: run with `RUST_BACKTRACE=1`", "after"], Bounds::default());
        assert_eq!(got, ["rust_panic<thread 'main' panicked at 'boom', src/main.rs:2:5\nnote: run with `RUST_BACKTRACE=1`>", "after"]);
    }

    #[test]
    fn python_traceback_with_chain() {
        let lines = [
            "Traceback (most recent call last):",
            "  File \"a.py\", line 1, in <module>",
            "KeyError: 'x'",
            "",
            "During handling of the above exception, another exception occurred:",
            "",
            "Traceback (most recent call last):",
            "  File \"a.py\", line 3, in <module>",
            "ValueError: bad",
            "after",
        ];
        let got = join(&lines, Bounds::default());
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].ends_with("ValueError: bad>"));
        assert_eq!(got[1], "after");
        let text = lines[..9].join("\n");
        let p = parse_block(Block::PythonTraceback, &text);
        assert_eq!(p.fields[0].1, crate::Value::Str("ValueError".into()));
    }

    #[test]
    fn go_panic_with_goroutines() {
        let lines = [
            "panic: runtime error: index out of range [5] with length 3",
            "",
            "goroutine 1 [running]:",
            "main.main()",
            "\t/src/main.go:9 +0x2",
            "",
            "goroutine 2 [sleep]:",
            "time.Sleep(0x3b9aca00)",
            "created by main.main in goroutine 1",
            "done",
        ];
        let got = join(&lines, Bounds::default());
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], "done");
    }

    #[test]
    fn bounds_end_blocks() {
        let mut lines = vec!["panic: x"];
        lines.extend(std::iter::repeat("\tframe").take(10));
        let got = join(&lines, Bounds { max_lines: 4, ..Bounds::default() });
        assert_eq!(got.len(), 8, "a block of 4 lines, then the rest as lines");
        let got = join(&lines, Bounds { max_bytes: 20, ..Bounds::default() });
        assert!(got[0].len() <= 20 + "go_panic<>".len());
        // Past the window a continuation line is a line of its own.
        let mut j = Joiner::new(Bounds { window: Duration::from_millis(1), ..Bounds::default() });
        let mut n = 0;
        j.push(b"panic: x", false, &mut |_| n += 1);
        std::thread::sleep(Duration::from_millis(5));
        j.push(b"\tframe", false, &mut |_| n += 1);
        assert_eq!(n, 2);
        assert!(!j.is_holding());
    }

    #[test]
    fn cut_lines_never_join() {
        let mut j = Joiner::default();
        let mut out = Vec::new();
        j.push(b"panic: x", false, &mut |x| out.push(format!("{x:?}")));
        j.push(b"\tpiece", true, &mut |x| out.push(format!("{x:?}")));
        j.push(b"panic: tail", false, &mut |x| out.push(format!("{x:?}")));
        assert_eq!(out.len(), 3);
        assert!(out[2].contains("tail: true"));
        assert!(!j.is_holding());
    }
}
