//! A strict JSON reader for one log line: a JSON object becomes flat
//! `(key, value)` pairs the way Loki's `| json` makes them (see
//! [`crate::push_segment`]): nested objects joined with `_`, arrays and
//! nulls skipped, a repeated key keeps its last value. Anything that is not
//! exactly one object (an array, a scalar, broken or truncated JSON, nesting
//! deeper than [`MAX_DEPTH`]) is `None`: the line stays plain.
//!
//! Its string reader ([`string`]) is also the one wasmhost-logql's JSON
//! reader uses: one unescaper for the workspace.

use std::borrow::Cow;

use crate::keys::push_segment;
use crate::Value;

/// Objects nested deeper than this make the line plain (the reader recurses).
pub const MAX_DEPTH: usize = 64;

/// One flattened pair. `top` is the key as the guest wrote it when the value
/// sits at the top level (where `msg`, `level`, ... are looked for).
#[derive(Debug)]
pub(crate) struct Pair<'a> {
    pub key: String,
    pub top: Option<Cow<'a, str>>,
    pub value: Value<'a>,
}

/// Reads `line` (one JSON object, white space around allowed).
pub(crate) fn read_object(line: &str) -> Option<Vec<Pair<'_>>> {
    let mut r = Reader { s: line.as_bytes(), src: line, i: 0, out: Vec::new(), index: None };
    r.ws();
    r.object(&mut String::new(), 0)?;
    r.ws();
    (r.i == r.s.len()).then_some(r.out)
}

struct Reader<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
    out: Vec<Pair<'a>>,
    /// Key → position in `out`, built once there are many pairs (so a line
    /// with thousands of keys stays linear).
    index: Option<std::collections::HashMap<String, usize>>,
}

impl<'a> Reader<'a> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        self.ws();
        (self.s.get(self.i) == Some(&b)).then(|| self.i += 1)
    }

    fn object(&mut self, prefix: &mut String, depth: usize) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.eat(b'{')?;
        self.ws();
        if self.s.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Some(());
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.eat(b':')?;
            self.ws();
            let mark = prefix.len();
            push_segment(prefix, &key);
            match self.s.get(self.i)? {
                b'{' => self.object(prefix, depth + 1)?,
                b'[' => self.skip_array(depth + 1)?,
                _ => {
                    let value = self.scalar()?;
                    if let Some(value) = value {
                        let top = (depth == 0).then_some(key);
                        self.put(Pair { key: prefix.clone(), top, value });
                    }
                }
            }
            prefix.truncate(mark);
            self.ws();
            match self.s.get(self.i)? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Adds a pair; a key seen before keeps the new value (Loki: last wins).
    fn put(&mut self, pair: Pair<'a>) {
        if self.index.is_none() && self.out.len() >= 16 {
            self.index = Some(self.out.iter().enumerate().map(|(i, p)| (p.key.clone(), i)).collect());
        }
        let found = match &mut self.index {
            Some(index) => match index.get(&pair.key) {
                Some(&i) => Some(i),
                None => {
                    index.insert(pair.key.clone(), self.out.len());
                    None
                }
            },
            None => self.out.iter().position(|p| p.key == pair.key),
        };
        match found {
            Some(i) => self.out[i] = pair,
            None => self.out.push(pair),
        }
    }

    fn skip_array(&mut self, depth: usize) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.eat(b'[')?;
        self.ws();
        if self.s.get(self.i) == Some(&b']') {
            self.i += 1;
            return Some(());
        }
        loop {
            self.ws();
            match self.s.get(self.i)? {
                b'{' => {
                    // Arrays are skipped, but what is inside must still be JSON.
                    let saved = (std::mem::take(&mut self.out), self.index.take());
                    self.object(&mut String::new(), depth + 1)?;
                    (self.out, self.index) = saved;
                }
                b'[' => self.skip_array(depth + 1)?,
                _ => {
                    self.scalar()?;
                }
            }
            self.ws();
            match self.s.get(self.i)? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A string, number, boolean (`Some(Some)`) or null (`Some(None)`).
    fn scalar(&mut self) -> Option<Option<Value<'a>>> {
        match self.s.get(self.i)? {
            b'"' => Some(Some(Value::Str(self.string()?))),
            b't' => self.word(b"true").map(|_| Some(Value::Bool(true))),
            b'f' => self.word(b"false").map(|_| Some(Value::Bool(false))),
            b'n' => self.word(b"null").map(|_| None),
            _ => self.number().map(Some),
        }
    }

    fn word(&mut self, w: &[u8]) -> Option<()> {
        self.s[self.i..].starts_with(w).then(|| self.i += w.len())
    }

    fn number(&mut self) -> Option<Value<'a>> {
        let start = self.i;
        let digits = |r: &mut Self| {
            let from = r.i;
            while r.i < r.s.len() && r.s[r.i].is_ascii_digit() {
                r.i += 1;
            }
            r.i > from
        };
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let int_start = self.i;
        if !digits(self) || (self.s[int_start] == b'0' && self.i - int_start > 1) {
            return None;
        }
        let mut integer = true;
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            integer = false;
            digits(self).then_some(())?;
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            integer = false;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            digits(self).then_some(())?;
        }
        let text = &self.src[start..self.i];
        Some(number_value(text, integer))
    }

    fn string(&mut self) -> Option<Cow<'a, str>> {
        string(self.src, &mut self.i, false).ok()
    }
}

/// Why a JSON string could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringError {
    /// No closing `"`.
    Unterminated,
    /// A `\` escape JSON does not have (or a `\u` without four hex digits).
    BadEscape,
    /// A raw control character (below U+0020), which strict JSON forbids.
    ControlChar,
}

/// The one JSON string reader of the workspace (lifting guest lines here,
/// LogQL's `| json` in wasmhost-logql): at the `"` at byte `*at` of `src`,
/// the string's text, unescaped, with `*at` moved past the closing quote.
/// Borrowed when there is no escape. A lone UTF-16 surrogate becomes
/// U+FFFD (as Go's decoders make it). `control_chars`: accept raw control
/// characters, as Loki's lenient JSON parser does.
///
/// ```
/// let src = r#""a\u00e9\ud800b" rest"#;
/// let mut at = 0;
/// assert_eq!(wasmhost_lift::json_string(src, &mut at, false).unwrap(), "aé\u{fffd}b");
/// assert_eq!(&src[at..], " rest");
/// ```
pub fn string<'a>(src: &'a str, at: &mut usize, control_chars: bool) -> Result<Cow<'a, str>, StringError> {
    let s = src.as_bytes();
    if s.get(*at) != Some(&b'"') {
        return Err(StringError::Unterminated);
    }
    let start = *at + 1;
    let clean = |text: &str| control_chars || !text.bytes().any(|b| b < 0x20);
    // Fast path: no escapes.
    let end = memchr::memchr2(b'"', b'\\', &s[start..]).ok_or(StringError::Unterminated)? + start;
    if s[end] == b'"' {
        *at = end + 1;
        let text = &src[start..end];
        return if clean(text) { Ok(Cow::Borrowed(text)) } else { Err(StringError::ControlChar) };
    }
    let mut out = String::from(&src[start..end]);
    if !clean(&out) {
        return Err(StringError::ControlChar);
    }
    let mut i = end;
    loop {
        match *s.get(i).ok_or(StringError::Unterminated)? {
            b'"' => {
                *at = i + 1;
                return Ok(Cow::Owned(out));
            }
            b'\\' => {
                let e = *s.get(i + 1).ok_or(StringError::Unterminated)?;
                i += 2;
                match e {
                    b'"' => out.push('"'),
                    b'\\' => out.push('\\'),
                    b'/' => out.push('/'),
                    b'b' => out.push('\u{8}'),
                    b'f' => out.push('\u{c}'),
                    b'n' => out.push('\n'),
                    b'r' => out.push('\r'),
                    b't' => out.push('\t'),
                    b'u' => {
                        let hi = hex4(src, &mut i)?;
                        let mut c = char::from_u32(hi);
                        if (0xD800..0xDC00).contains(&hi) && src[i..].starts_with("\\u") {
                            let mut j = i + 2;
                            let lo = hex4(src, &mut j)?;
                            if (0xDC00..0xE000).contains(&lo) {
                                c = char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00));
                                i = j;
                            }
                        }
                        out.push(c.unwrap_or('\u{fffd}'));
                    }
                    _ => return Err(StringError::BadEscape),
                }
            }
            _ => {
                // Copy up to the next quote or escape in one go (both are
                // ASCII, so the cut is on a character boundary).
                let next = memchr::memchr2(b'"', b'\\', &s[i..]).ok_or(StringError::Unterminated)? + i;
                let chunk = &src[i..next];
                if !clean(chunk) {
                    return Err(StringError::ControlChar);
                }
                out.push_str(chunk);
                i = next;
            }
        }
    }
}

/// Four hex digits at `*i`, moved past.
fn hex4(src: &str, i: &mut usize) -> Result<u32, StringError> {
    let text = src.get(*i..*i + 4).filter(|t| t.bytes().all(|b| b.is_ascii_hexdigit())).ok_or(StringError::BadEscape)?;
    *i += 4;
    u32::from_str_radix(text, 16).map_err(|_| StringError::BadEscape)
}

/// A JSON number as a value: integers exactly (i64, else u64), other
/// numbers as f64; a number no f64 holds (`1e999`) keeps its text.
pub(crate) fn number_value(text: &str, integer: bool) -> Value<'_> {
    if integer {
        if let Ok(n) = text.parse::<i64>() {
            return Value::Int(n);
        }
        if let Ok(n) = text.parse::<u64>() {
            return Value::UInt(n);
        }
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => Value::Float(f),
        _ => Value::Str(Cow::Borrowed(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(line: &str) -> Option<Vec<(String, String)>> {
        read_object(line).map(|v| v.into_iter().map(|p| (p.key, format!("{:?}", p.value))).collect())
    }

    #[test]
    fn flattening_follows_loki() {
        let got = pairs(r#"{"a":{"b":1,"c d":{"e":"x"}},"arr":[1,{"z":2}],"n":null,"t":true,"1x":2.5,"e":{}}"#).unwrap();
        let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a_b", "a_c_d_e", "t", "_1x"]);
        assert_eq!(got[0].1, "Int(1)");
        assert_eq!(got[3].1, "Float(2.5)");
    }

    #[test]
    fn last_value_wins() {
        let got = pairs(r#"{"a":1,"a":2,"b.c":3,"b":{"c":4}}"#).unwrap();
        assert_eq!(got, [("a".into(), "Int(2)".into()), ("b_c".into(), "Int(4)".into())]);
        let many: String = (0..40).map(|i| format!("\"k{}\":{i},", i % 20)).collect();
        let got = pairs(&format!("{{{many}\"end\":0}}")).unwrap();
        assert_eq!(got.len(), 21);
        assert_eq!(got[3], ("k3".into(), "Int(23)".into()));
    }

    #[test]
    fn strings_and_numbers() {
        let got = pairs(r#"{"s":"a\"b\\c\n\u00e9\ud83d\ude00\ud800x","big":18446744073709551615,"neg":-3,"huge":1e999,"f":-0.5e2}"#)
            .unwrap();
        // A lone surrogate is U+FFFD, as in Go.
        assert_eq!(got[0].1, format!("{:?}", Value::Str("a\"b\\c\né😀\u{fffd}x".into())));
        assert_eq!(got[1].1, "UInt(18446744073709551615)");
        assert_eq!(got[2].1, "Int(-3)");
        assert_eq!(got[3].1, format!("{:?}", Value::Str("1e999".into())));
        assert_eq!(got[4].1, "Float(-50.0)");
    }

    #[test]
    fn not_one_object() {
        for line in [
            "", "[]", "[{\"a\":1}]", "3", "\"s\"", "null", "{", "{\"a\":1", "{\"a\":1}}", "{\"a\":01}", "{\"a\":1.}",
            "{\"a\":\"x\ty\"}", "{\"a\":tru}", "{'a':1}", "{\"a\":1,}", "{\"a\" 1}", "{\"a\":\"\\x\"}", "{\"a\":[1,}",
        ] {
            assert!(read_object(line).is_none(), "{line:?}");
        }
        let deep = format!("{}{}", "{\"a\":".repeat(MAX_DEPTH + 1), "}".repeat(MAX_DEPTH + 1));
        assert!(read_object(&deep).is_none());
        let ok = format!("{}1{}", "{\"a\":".repeat(MAX_DEPTH - 1), "}".repeat(MAX_DEPTH - 1));
        assert!(read_object(&ok).is_some());
        assert!(read_object(" {} ").unwrap().is_empty());
    }
}
