//! Splitting a guest's byte stream into lines, with a bound on memory.

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
/// pieces of `max_line` bytes, each but the last flagged `continued`, so an
/// endless line never holds more than `max_line` bytes of memory. A last line
/// without a newline is returned by [`LineSplitter::finish`].
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
                    // emit a full piece and go on.
                    let (piece, rest) = bytes.split_at(room);
                    if self.partial.is_empty() {
                        emit(Line { bytes: piece, continued: true });
                    } else {
                        self.partial.extend_from_slice(piece);
                        emit(Line { bytes: &self.partial, continued: true });
                        self.partial.clear();
                    }
                    bytes = rest;
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
    fn empty_lines_and_crlf() {
        assert_eq!(
            split(10, &[b"\n\r\na\r\n"]),
            vec![("".into(), false), ("".into(), false), ("a".into(), false)]
        );
    }
}
