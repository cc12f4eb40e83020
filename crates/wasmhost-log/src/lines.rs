//! Splitting a guest's byte stream into lines, with a bound on memory.

/// The shortest line limit a host accepts: below it, a record's own fields
/// outweigh the text it carries.
pub const MIN_LINE_BYTES: usize = 128;

/// The longest line limit a host accepts (1 MiB): with the pipeline's byte
/// budget ([`crate::QUEUE_BYTES`]) this bounds what a guest can make the host
/// hold. Loki's own default limit for a line is 256 KB.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Checks a line limit against [`MIN_LINE_BYTES`] and [`MAX_LINE_BYTES`].
///
/// ```
/// assert!(wasmhost_log::check_max_line(16 * 1024).is_ok());
/// assert!(wasmhost_log::check_max_line(0).is_err());
/// assert!(wasmhost_log::check_max_line(100_000_000_000).is_err());
/// ```
pub fn check_max_line(bytes: usize) -> Result<usize, String> {
    match bytes {
        MIN_LINE_BYTES..=MAX_LINE_BYTES => Ok(bytes),
        _ => Err(format!("a line limit of {bytes} bytes is outside {MIN_LINE_BYTES}..={MAX_LINE_BYTES} (1 MiB)")),
    }
}

/// One line out of a [`LineSplitter`], without its `\n` (and without one
/// trailing `\r`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The line's bytes; not necessarily UTF-8.
    pub bytes: &'a [u8],
    /// The line was longer than the limit: this is a piece, and the line goes
    /// on in the next one.
    pub continued: bool,
}

/// Splits bytes written in arbitrary chunks into lines.
///
/// A line ends at `\n`. A line longer than `max_line` bytes is cut into
/// pieces of at most `max_line` bytes, each but the last flagged `continued`,
/// so an endless line never holds more than `max_line` bytes of memory. A cut
/// never splits a UTF-8 character: when one would straddle it, the piece ends
/// before the character (up to 3 bytes short) and the next one starts with
/// it. A last line without a newline is returned by [`LineSplitter::finish`].
///
/// ```
/// use wasmhost_log::LineSplitter;
/// let mut s = LineSplitter::new(4);
/// let mut lines = Vec::new();
/// s.push(b"ab\r\ncdefg", |l| lines.push((l.bytes.to_vec(), l.continued)));
/// s.finish(|l| lines.push((l.bytes.to_vec(), l.continued)));
/// assert_eq!(lines, vec![
///     (b"ab".to_vec(), false),
///     (b"cdef".to_vec(), true),
///     (b"g".to_vec(), false),
/// ]);
/// ```
#[derive(Debug)]
pub struct LineSplitter {
    partial: Vec<u8>,
    max_line: usize,
}

impl LineSplitter {
    /// A splitter that cuts lines longer than `max_line` bytes (at least 1).
    pub fn new(max_line: usize) -> Self {
        LineSplitter { partial: Vec::new(), max_line: max_line.max(1) }
    }

    /// Bytes held for a line not yet ended.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// Feeds `bytes`; calls `emit` for every line they complete.
    pub fn push(&mut self, mut bytes: &[u8], mut emit: impl FnMut(Line<'_>)) {
        while !bytes.is_empty() {
            let room = self.max_line - self.partial.len();
            match memchr_newline(&bytes[..bytes.len().min(room + 1)]) {
                Some(i) => {
                    let (line, rest) = (&bytes[..i], &bytes[i + 1..]);
                    if self.partial.is_empty() {
                        emit(Line { bytes: strip_cr(line), continued: false });
                    } else {
                        self.partial.extend_from_slice(line);
                        emit(Line { bytes: strip_cr(&self.partial), continued: false });
                        self.partial.clear();
                    }
                    bytes = rest;
                }
                None if bytes.len() > room => {
                    // The line reaches the limit without a newline in reach:
                    // emit a full piece (less a character it would split)
                    // and go on.
                    let (piece, rest) = bytes.split_at(room);
                    if self.partial.is_empty() {
                        let keep = self.max_line - split_char(piece, self.max_line);
                        emit(Line { bytes: &piece[..keep], continued: true });
                        bytes = &bytes[keep..];
                    } else {
                        self.partial.extend_from_slice(piece);
                        let keep = self.max_line - split_char(&self.partial, self.max_line);
                        emit(Line { bytes: &self.partial[..keep], continued: true });
                        self.partial.drain(..keep);
                        bytes = rest;
                    }
                }
                None => {
                    self.partial.extend_from_slice(bytes);
                    bytes = &[];
                }
            }
        }
    }

    /// Emits the last line if it had no newline. Call at the end of the stream.
    pub fn finish(&mut self, mut emit: impl FnMut(Line<'_>)) {
        if !self.partial.is_empty() {
            emit(Line { bytes: strip_cr(&self.partial), continued: false });
            self.partial.clear();
        }
    }
}

/// How many bytes at the end of a full piece of `max_line` bytes are the
/// start of a UTF-8 character that the cut would split (0 to 3). Only a
/// well-formed start counts: other bytes are cut where they fall. Never the
/// whole piece, so every piece makes progress.
fn split_char(piece: &[u8], max_line: usize) -> usize {
    for back in 1..=3.min(piece.len()) {
        let b = piece[piece.len() - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back
        }
        let needs = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return 0,
        };
        return if needs > back && back < max_line { back } else { 0 };
    }
    0
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(max: usize, chunks: &[&[u8]]) -> Vec<(String, bool)> {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, |l| out.push((String::from_utf8_lossy(l.bytes).into_owned(), l.continued)));
        }
        s.finish(|l| out.push((String::from_utf8_lossy(l.bytes).into_owned(), l.continued)));
        out
    }

    #[test]
    fn chunk_boundaries_do_not_matter() {
        let whole = split(100, &[b"one\ntwo\nthree\n"]);
        let bytewise: Vec<&[u8]> = b"one\ntwo\nthree\n".chunks(1).collect();
        assert_eq!(whole, split(100, &bytewise));
        assert_eq!(whole.len(), 3);
    }

    #[test]
    fn exact_limit_line_is_not_continued() {
        assert_eq!(split(3, &[b"abc\n"]), vec![("abc".into(), false)]);
        assert_eq!(split(3, &[b"ab", b"c\n"]), vec![("abc".into(), false)]);
        assert_eq!(split(3, &[b"abc", b"\n"]), vec![("abc".into(), false)]);
        assert_eq!(split(3, &[b"abc", b"d\n"]), vec![("abc".into(), true), ("d".into(), false)]);
    }

    #[test]
    fn long_line_is_cut_and_bounded() {
        let mut s = LineSplitter::new(1024);
        let mut pieces = 0;
        let mut total = 0;
        for _ in 0..1024 {
            s.push(&[b'x'; 1024], |l| {
                assert!(l.continued);
                pieces += 1;
                total += l.bytes.len();
            });
            assert!(s.pending() <= 1024);
        }
        // The last full piece may still be the end of the line: it is held
        // until the next byte or the end of the stream says which.
        s.finish(|l| {
            assert!(!l.continued);
            pieces += 1;
            total += l.bytes.len();
        });
        assert_eq!((pieces, total), (1024, 1024 * 1024));
    }

    #[test]
    fn a_character_straddling_the_cut_is_kept_whole() {
        // "é" is 2 bytes, "€" 3, "😀" 4: each placed across the cut at 8.
        for (text, first) in [("1234567é9", "1234567"), ("123456€89", "123456"), ("12345😀9", "12345"), ("1234567😀", "1234567")] {
            let whole = format!("{text}\n");
            for chunks in [vec![whole.as_bytes()], whole.as_bytes().chunks(1).collect(), whole.as_bytes().chunks(3).collect()] {
                let out = split(8, &chunks);
                assert_eq!(out[0], (first.to_owned(), true), "{text}");
                assert_eq!(out.iter().map(|(s, _)| s.as_str()).collect::<String>(), text, "{text}: nothing lost or replaced");
                assert!(out.iter().all(|(s, _)| s.len() <= 8 && !s.contains('\u{fffd}')));
            }
        }
        // Bytes that are not UTF-8 are cut where they fall.
        let mut s = LineSplitter::new(4);
        let mut pieces = Vec::new();
        s.push(b"abc\xff\xffx\n", |l| pieces.push(l.bytes.to_vec()));
        assert_eq!(pieces, [b"abc\xff".to_vec(), b"\xffx".to_vec()]);
    }

    #[test]
    fn empty_lines_and_crlf() {
        assert_eq!(
            split(10, &[b"\n\r\na\r\n"]),
            vec![("".into(), false), ("".into(), false), ("a".into(), false)]
        );
    }
}
