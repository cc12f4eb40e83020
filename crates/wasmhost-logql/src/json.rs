//! A small zero-copy JSON reader with Loki's `| json` rules: numbers keep
//! their text as written (`1.50` stays `1.50`, as Loki's jsonparser hands
//! them over), strings are unescaped (a lone surrogate becomes U+FFFD, as in
//! Go), and errors carry the messages of the parser Loki uses
//! (buger/jsonparser), which Loki puts in `__error_details__`.
//!
//! Own code rather than serde_json: serde_json reformats numbers and builds
//! a map per object; this reader borrows from the line and is the hot path
//! of `{…} | json | …` queries.

use std::borrow::Cow;

/// Deepest nesting accepted: deeper input is an error, never a stack overflow.
const MAX_DEPTH: usize = 128;

/// A JSON value borrowing from its line.
#[derive(Debug, Clone, PartialEq)]
pub enum JVal<'a> {
    /// A string, unescaped.
    Str(Cow<'a, str>),
    /// A number, as written.
    Num(&'a str),
    /// `true`/`false`.
    Bool(bool),
    /// `null`.
    Null,
    /// An array.
    Arr(Vec<JVal<'a>>),
    /// An object, keys in order (duplicates kept).
    Obj(Vec<(Cow<'a, str>, JVal<'a>)>),
}

impl<'a> JVal<'a> {
    /// The text a label gets from a scalar (`None` for arrays and objects;
    /// `null` is the empty string).
    pub fn scalar_text(&self) -> Option<Cow<'_, str>> {
        match self {
            JVal::Str(s) => Some(Cow::Borrowed(s.as_ref())),
            JVal::Num(n) => Some(Cow::Borrowed(n)),
            JVal::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            JVal::Null => Some(Cow::Borrowed("")),
            _ => None,
        }
    }

    /// [`JVal::scalar_text`], keeping the borrow from the line.
    pub fn into_scalar_text(self) -> Option<Cow<'a, str>> {
        match self {
            JVal::Str(s) => Some(s),
            JVal::Num(n) => Some(Cow::Borrowed(n)),
            JVal::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
            JVal::Null => Some(Cow::Borrowed("")),
            _ => None,
        }
    }
}

pub const OBJECT_ERR: &str = "Value looks like object, but can't find closing '}' symbol";
const STRING_ERR: &str = "Value is string, but can't find closing '\"' symbol";
const ARRAY_ERR: &str = "Value is array, but can't find closing ']' symbol";
const VALUE_ERR: &str = "Value looks like Number/Boolean/None, but can't find its end: ',' or '}' symbol";
const MALFORMED: &str = "Malformed JSON error";
const ESCAPE_ERR: &str = "Encountered an invalid escape sequence in a string";

/// Parses `line` as one JSON object; the error is Loki's `__error_details__`.
pub fn parse_object(line: &str) -> Result<Vec<(Cow<'_, str>, JVal<'_>)>, &'static str> {
    let mut r = Reader { s: line, b: line.as_bytes(), i: 0 };
    r.ws();
    if r.b.get(r.i) != Some(&b'{') {
        return Err(OBJECT_ERR);
    }
    match r.value(0)? {
        JVal::Obj(fields) => {
            r.ws();
            if r.i != r.b.len() {
                return Err(MALFORMED);
            }
            Ok(fields)
        }
        _ => Err(OBJECT_ERR),
    }
}

struct Reader<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<JVal<'a>, &'static str> {
        if depth > MAX_DEPTH {
            return Err(MALFORMED);
        }
        self.ws();
        match self.b.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(JVal::Obj(fields));
                }
                loop {
                    self.ws();
                    let key = self.key()?;
                    let v = self.value(depth + 1)?;
                    fields.push((key, v));
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(JVal::Obj(fields));
                        }
                        _ => return Err(OBJECT_ERR),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(JVal::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(JVal::Arr(items));
                        }
                        _ => return Err(ARRAY_ERR),
                    }
                }
            }
            Some(b'"') => Ok(JVal::Str(self.string()?)),
            Some(b't') => self.word("true", JVal::Bool(true)),
            Some(b'f') => self.word("false", JVal::Bool(false)),
            Some(b'n') => self.word("null", JVal::Null),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                while matches!(self.b.get(self.i), Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')) {
                    self.i += 1;
                }
                let text = &self.s[start..self.i];
                // The scan admits only number characters; a number must end in a digit.
                if !text.as_bytes().last().is_some_and(u8::is_ascii_digit) {
                    return Err(VALUE_ERR);
                }
                Ok(JVal::Num(text))
            }
            _ => Err(MALFORMED),
        }
    }

    fn word(&mut self, w: &str, v: JVal<'a>) -> Result<JVal<'a>, &'static str> {
        if self.s[self.i..].starts_with(w) {
            self.i += w.len();
            Ok(v)
        } else {
            Err(VALUE_ERR)
        }
    }

    /// At a `"`: the unescaped string (the workspace's one JSON string
    /// reader, in wasmhost-lift; lenient about raw control characters, as
    /// Loki's parser is).
    fn string(&mut self) -> Result<Cow<'a, str>, &'static str> {
        wasmhost_lift::json_string(self.s, &mut self.i, true).map_err(|e| match e {
            wasmhost_lift::StringError::BadEscape => ESCAPE_ERR,
            wasmhost_lift::StringError::Unterminated | wasmhost_lift::StringError::ControlChar => STRING_ERR,
        })
    }

    /// At `{` or `[`: skips the value without building it (strings are
    /// skipped whole, so brackets inside them do not count).
    fn skip_nested(&mut self) -> Option<()> {
        let mut depth = 0usize;
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'"' => {
                    self.string().ok()?;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        self.i += 1;
                        return Some(());
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
        None
    }

    /// At an object member: its key, the `:` after it and the white
    /// space before the value (every object loop starts this way).
    fn key(&mut self) -> Result<Cow<'a, str>, &'static str> {
        if let Some(key) = self.plain_key() {
            return Ok(Cow::Borrowed(key));
        }
        if self.b.get(self.i) != Some(&b'"') {
            return Err(OBJECT_ERR);
        }
        let key = self.string()?;
        self.ws();
        if self.b.get(self.i) != Some(&b':') {
            return Err(OBJECT_ERR);
        }
        self.i += 1;
        self.ws();
        Ok(key)
    }

    /// [`Reader::key`] for a key without escapes (every key, in practice),
    /// read in place: a byte loop, as keys are short (the general string
    /// reader's vectorised search costs more than it saves on them).
    /// `None`, with nothing consumed, when the key is not of that kind.
    fn plain_key(&mut self) -> Option<&'a str> {
        let b = self.b;
        if b.get(self.i) != Some(&b'"') {
            return None;
        }
        let start = self.i + 1;
        // The closing quote, eight bytes at a time (a key takes one or two
        // words), then byte by byte at the end of the line.
        let mut end = start;
        loop {
            let Some(word) = b.get(end..end + 8) else {
                end += b.get(end..)?.iter().position(|c| matches!(c, b'"' | b'\\'))?;
                break;
            };
            let w = u64::from_le_bytes(word.try_into().ok()?);
            let hit = has_byte(w, b'"') | has_byte(w, b'\\');
            if hit != 0 {
                // The lowest flagged byte is the first match (a false flag
                // can only sit above a true one).
                end += (hit.trailing_zeros() / 8) as usize;
                break;
            }
            end += 8;
        }
        if b[end] == b'\\' {
            return None;
        }
        let mut at = end + 1;
        let space = |at: &mut usize| {
            while matches!(b.get(*at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                *at += 1;
            }
        };
        space(&mut at);
        if b.get(at) != Some(&b':') {
            return None;
        }
        at += 1;
        space(&mut at);
        self.i = at;
        Some(&self.s[start..end])
    }

    /// At a scalar: skips it without unescaping or building anything.
    fn skip_scalar(&mut self) -> Option<()> {
        match self.b.get(self.i)? {
            b'"' => loop {
                self.i += 1;
                self.i += memchr::memchr2(b'"', b'\\', &self.b[self.i..])?;
                if self.b[self.i] == b'"' {
                    self.i += 1;
                    return Some(());
                }
                self.i += 1;
            },
            _ => {
                while matches!(self.b.get(self.i), Some(b'-' | b'+' | b'.' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')) {
                    self.i += 1;
                }
                Some(())
            }
        }
    }
}

/// The bytes of `w` equal to `c`, flagged by their top bit (the classic
/// zero-byte test on `w ^ c…c`; flags above the first match may be false).
fn has_byte(w: u64, c: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let x = w ^ (ONES * u64::from(c));
    x.wrapping_sub(ONES) & !x & (ONES << 7)
}

/// What a [`visit_flat`] visitor says after each value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    /// Go on.
    More,
    /// Every label the query needs is in: stop reading (Loki's parser
    /// short-circuit; the rest of the line is not checked for errors).
    Done,
}

/// Loki's `| json` without parameters in one pass, building nothing: `f`
/// gets each string, number and boolean with its flattened key (nested
/// keys joined with `_`, cleaned as [`sanitize_key`] does); `null` is
/// skipped, as Loki's `| json` skips it (the label stays unset, an earlier
/// value of the key stays); arrays are checked and skipped. The error is
/// Loki's `__error_details__`; `f` may have been called before it.
pub fn visit_flat<'a>(line: &'a str, f: &mut impl FnMut(&str, JVal<'a>) -> Visit) -> Result<(), &'static str> {
    let mut r = Reader { s: line, b: line.as_bytes(), i: 0 };
    r.ws();
    if r.b.get(r.i) != Some(&b'{') {
        return Err(OBJECT_ERR);
    }
    let mut prefix = String::new();
    if r.visit_object(&mut prefix, 0, f)? == Visit::Done {
        return Ok(());
    }
    r.ws();
    if r.i != r.b.len() {
        return Err(MALFORMED);
    }
    Ok(())
}

impl<'a> Reader<'a> {
    /// At `{`: visits the members' scalars under `prefix`.
    fn visit_object(&mut self, prefix: &mut String, depth: usize, f: &mut impl FnMut(&str, JVal<'a>) -> Visit) -> Result<Visit, &'static str> {
        if depth > MAX_DEPTH {
            return Err(MALFORMED);
        }
        self.i += 1;
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(Visit::More);
        }
        let len = prefix.len();
        loop {
            self.ws();
            let key = self.key()?;
            let nested = matches!(self.b.get(self.i), Some(b'{' | b'['));
            // A scalar under a key that needs no cleaning and no prefix (every
            // member of a flat line, in practice) is named by the key as is.
            let plain = len == 0
                && !nested
                && !(depth == 0 && key.as_bytes().first().is_some_and(u8::is_ascii_digit))
                && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            let visit = if plain {
                match self.value(depth + 1)? {
                    JVal::Null => Visit::More,
                    v => f(&key, v),
                }
            } else {
                if len > 0 {
                    prefix.push('_');
                }
                sanitize_key(&key, depth == 0, prefix);
                let visit = match self.b.get(self.i) {
                    Some(b'{') => self.visit_object(prefix, depth + 1, f)?,
                    Some(b'[') => {
                        self.value(depth + 1)?;
                        Visit::More
                    }
                    _ => match self.value(depth + 1)? {
                        JVal::Null => Visit::More,
                        v => f(prefix, v),
                    },
                };
                prefix.truncate(len);
                visit
            };
            if visit == Visit::Done {
                return Ok(Visit::Done);
            }
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Visit::More);
                }
                _ => return Err(OBJECT_ERR),
            }
        }
    }
}

/// Calls `f` with each top-level member of the object `line` whose key
/// `pick` accepts (with what `pick` said of the key: an index into the
/// caller's wanted keys) and whose value is a scalar; every other value is
/// skipped without being decoded or built: what stream labels and `ts`
/// need, fast. Stops quietly at malformed input.
pub fn scan_top<'a>(line: &'a str, pick: impl Fn(&str) -> Option<usize>, f: &mut impl FnMut(usize, JVal<'a>)) {
    let mut r = Reader { s: line, b: line.as_bytes(), i: 0 };
    r.ws();
    if r.b.get(r.i) != Some(&b'{') {
        return;
    }
    r.i += 1;
    loop {
        r.ws();
        let Ok(key) = r.key() else { return };
        match r.b.get(r.i) {
            Some(b'{' | b'[') => {
                if r.skip_nested().is_none() {
                    return;
                }
            }
            _ => match pick(&key) {
                Some(at) => match r.value(0) {
                    Ok(v) => f(at, v),
                    Err(_) => return,
                },
                None => {
                    if r.skip_scalar().is_none() {
                        return;
                    }
                }
            },
        }
        r.ws();
        match r.b.get(r.i) {
            Some(b',') => r.i += 1,
            _ => return,
        }
    }
}

/// Loki's label-name cleaning: characters outside `[A-Za-z0-9_]` become
/// `_`; a top-level key starting with a digit gets a `_` in front.
pub fn sanitize_key(key: &str, top: bool, out: &mut String) {
    let key = key.trim();
    if top && key.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        out.push('_');
    }
    if key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        out.push_str(key);
    } else {
        out.extend(key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }));
    }
}

/// One step of a `| json a="b.c[0]"` path.
#[derive(Debug, Clone, PartialEq)]
pub enum PathStep {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// Parses Loki's JSON expression syntax: `a.b`, `a[0]`, `["a b"].c`.
pub fn parse_path(expr: &str) -> Option<Vec<PathStep>> {
    let mut steps = Vec::new();
    let b = expr.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' if !steps.is_empty() => i += 1,
            b'[' => {
                let close = expr[i..].find(']')? + i;
                let inner = expr[i + 1..close].trim();
                if let Some(q) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                    steps.push(PathStep::Key(q.to_owned()));
                } else {
                    steps.push(PathStep::Index(inner.parse().ok()?));
                }
                i = close + 1;
            }
            _ => {
                let end = expr[i..].find(['.', '[']).map_or(b.len(), |e| e + i);
                if end == i {
                    return None;
                }
                steps.push(PathStep::Key(expr[i..end].to_owned()));
                i = end;
            }
        }
    }
    (!steps.is_empty()).then_some(steps)
}

/// The value at `path`: scalars as text, objects and arrays as their JSON.
pub fn select(fields: &[(Cow<'_, str>, JVal<'_>)], path: &[PathStep]) -> Option<String> {
    let (first, rest) = path.split_first()?;
    let PathStep::Key(k) = first else { return None };
    let mut v = &fields.iter().rev().find(|(key, _)| key == k)?.1;
    for step in rest {
        v = match (step, v) {
            (PathStep::Key(k), JVal::Obj(f)) => &f.iter().rev().find(|(key, _)| key == k)?.1,
            (PathStep::Index(n), JVal::Arr(a)) => a.get(*n)?,
            _ => return None,
        };
    }
    Some(match v.scalar_text() {
        Some(t) => t.into_owned(),
        None => to_json(v),
    })
}

fn to_json(v: &JVal<'_>) -> String {
    match v {
        JVal::Str(s) => serde_json::to_string(s.as_ref()).unwrap_or_default(),
        JVal::Num(n) => (*n).to_owned(),
        JVal::Bool(b) => b.to_string(),
        JVal::Null => "null".into(),
        JVal::Arr(a) => format!("[{}]", a.iter().map(to_json).collect::<Vec<_>>().join(",")),
        JVal::Obj(f) => format!(
            "{{{}}}",
            f.iter().map(|(k, v)| format!("{}:{}", serde_json::to_string(k.as_ref()).unwrap_or_default(), to_json(v))).collect::<Vec<_>>().join(",")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_text_and_strings_unescape() {
        let line = r#"{"a":1.50,"b":"x\u00e9\ud800y","c":null,"1st":true,"d":{"e-f":[1],"g":2}}"#;
        let f = parse_object(line).unwrap();
        let mut got = Vec::new();
        visit_flat(line, &mut |k, v| {
            got.push((k.to_owned(), v.scalar_text().unwrap_or_default().into_owned()));
            Visit::More
        })
        .unwrap();
        // `null` is skipped, as Loki's `| json` does.
        let want = [("a", "1.50"), ("b", "xé\u{fffd}y"), ("_1st", "true"), ("d_g", "2")];
        assert_eq!(got, want.map(|(a, b)| (a.to_owned(), b.to_owned())));
        assert_eq!(select(&f, &parse_path(r#"d["e-f"][0]"#).unwrap()).as_deref(), Some("1"));
        assert_eq!(select(&f, &parse_path("d").unwrap()).as_deref(), Some(r#"{"e-f":[1],"g":2}"#));
    }

    #[test]
    fn keys_of_every_length_are_found_whole() {
        // Keys around the eight-byte words the key scan reads, plain and
        // escaped, and one running into the end of the line.
        for n in 0..20 {
            let k = "k".repeat(n);
            let line = format!(r#"{{"{k}":1,"a\"{k}":2}}"#);
            let mut got = Vec::new();
            visit_flat(&line, &mut |key, v| {
                got.push((key.to_owned(), v.scalar_text().unwrap_or_default().into_owned()));
                Visit::More
            })
            .unwrap();
            assert_eq!(got, [(k.clone(), "1".to_owned()), (format!("a_{k}"), "2".to_owned())], "{line}");
            assert_eq!(visit_flat(&format!(r#"{{"{k}"#), &mut |_, _| Visit::More), Err(STRING_ERR), "{k}");
        }
    }

    #[test]
    fn errors_are_jsonparser_messages_and_depth_is_bounded() {
        assert_eq!(parse_object("plain text"), Err(OBJECT_ERR));
        assert_eq!(parse_object(r#"{"a":"x"#), Err(STRING_ERR));
        assert_eq!(parse_object(r#"{"a":[1,2}"#), Err(ARRAY_ERR));
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(parse_object(&deep), Err(MALFORMED));
    }
}
