//! Go string literals (`"…"` with escapes, `` `…` `` raw): the one reader
//! behind LogQL queries and `line_format`/`label_format` templates. The two
//! follow different Go code, so the rules differ in two places ([`Rules`]);
//! each caller words the errors as its reference does.
//!
//! Both: a raw newline inside `"…"` ends nothing (the literal is
//! unterminated); `\x` and octal escapes are bytes, so `"\xc3\xa9"` is `é`
//! (bytes that are no UTF-8 become U+FFFD: a Rust string cannot hold them,
//! Go's can); octal above `\377` and `\U` above U+10FFFF are errors.

/// Which Go code's rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rules {
    /// LogQL queries: Loki's lexer (Go's text/scanner, then Prometheus'
    /// `strutil.Unquote`): `\u` of a UTF-16 surrogate is U+FFFD, raw
    /// strings keep `\r`.
    Loki,
    /// Templates: Go's text/template (`strconv.Unquote`): `\u` of a
    /// surrogate is an error, raw strings lose `\r`.
    Go,
}

/// Why a literal could not be read; `at` is the byte offset of the
/// trouble from the literal's opening quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnquoteError {
    /// No closing quote (a raw newline inside `"…"` counts as none).
    Unterminated {
        /// Where the literal started (always 0) or the newline is.
        at: usize,
        /// A `` `raw` `` literal.
        raw: bool,
    },
    /// An escape Go does not have, or too few digits after `\x`, `\u`,
    /// `\U` or an octal escape (text/scanner's "invalid char escape").
    BadEscape {
        /// Where the `\` is.
        at: usize,
    },
    /// A well-formed escape of no allowed value: octal above `\377`, `\U`
    /// above U+10FFFF, a surrogate under [`Rules::Go`] ("invalid syntax").
    Syntax {
        /// Where the `\` is.
        at: usize,
    },
}

/// The Go string literal at the start of `text` (which starts with `"` or
/// `` ` ``): its value and its length in bytes.
pub(crate) fn unquote(text: &str, rules: Rules) -> Result<(String, usize), UnquoteError> {
    let b = text.as_bytes();
    if b.first() == Some(&b'`') {
        let end = memchr::memchr(b'`', &b[1..]).ok_or(UnquoteError::Unterminated { at: 0, raw: true })? + 1;
        let raw = &text[1..end];
        let value = if rules == Rules::Go { raw.replace('\r', "") } else { raw.to_owned() };
        return Ok((value, end + 1));
    }
    let mut out: Vec<u8> = Vec::new();
    let mut i = 1;
    loop {
        // Copy up to the next quote, escape or newline in one go.
        let run = b.get(i..).and_then(|r| r.iter().position(|c| matches!(c, b'"' | b'\\' | b'\n')));
        let Some(run) = run else { return Err(UnquoteError::Unterminated { at: 0, raw: false }) };
        out.extend_from_slice(&b[i..i + run]);
        i += run;
        match b[i] {
            b'"' => break,
            b'\n' => return Err(UnquoteError::Unterminated { at: i, raw: false }),
            _ => {
                let at = i;
                let bad = UnquoteError::BadEscape { at };
                let Some(&e) = b.get(i + 1) else { return Err(UnquoteError::Unterminated { at: 0, raw: false }) };
                // `n` digits in `radix` after the escape letter (or from the
                // first octal digit on).
                let digits = |from: usize, n: usize, radix: u32| -> Result<u32, UnquoteError> {
                    let d = b.get(from..from + n).ok_or(bad)?;
                    d.iter().try_fold(0u32, |v, c| Some(v * radix + char::from(*c).to_digit(radix)?)).ok_or(bad)
                };
                match e {
                    b'a' | b'b' | b'f' | b'n' | b'r' | b't' | b'v' | b'\\' | b'"' => {
                        out.push(match e {
                            b'a' => 7,
                            b'b' => 8,
                            b'f' => 12,
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'v' => 11,
                            other => other,
                        });
                        i += 2;
                    }
                    b'0'..=b'7' => {
                        let v = digits(i + 1, 3, 8)?;
                        out.push(u8::try_from(v).map_err(|_| UnquoteError::Syntax { at })?);
                        i += 4;
                    }
                    b'x' => {
                        out.push(digits(i + 2, 2, 16)? as u8);
                        i += 4;
                    }
                    b'u' | b'U' => {
                        let n = if e == b'u' { 4 } else { 8 };
                        let v = digits(i + 2, n, 16)?;
                        let c = match char::from_u32(v) {
                            Some(c) => c,
                            // A surrogate: Prometheus' unquoting encodes it
                            // as Go's utf8.EncodeRune does (U+FFFD); Go's
                            // strconv refuses it.
                            None if (0xD800..0xE000).contains(&v) && rules == Rules::Loki => '\u{fffd}',
                            None => return Err(UnquoteError::Syntax { at }),
                        };
                        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                        i += 2 + n;
                    }
                    // text/template's lexer ends a quoted string at a newline, escaped or not.
                    b'\n' if rules == Rules::Go => return Err(UnquoteError::Unterminated { at: i + 1, raw: false }),
                    _ => return Err(bad),
                }
            }
        }
    }
    let value = String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Ok((value, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_bytes_and_the_rules_differ_where_go_does() {
        let go = |s: &str| unquote(s, Rules::Go);
        let loki = |s: &str| unquote(s, Rules::Loki);
        assert_eq!(loki(r#""a\tb\"c\\" rest"#), Ok(("a\tb\"c\\".to_owned(), 11)));
        assert_eq!(loki(r#""\xc3\xa9\303\251\u00e9\U0001F600""#).map(|v| v.0), Ok("ééé😀".to_owned()));
        assert_eq!(loki(r#""\xff""#).map(|v| v.0), Ok("\u{fffd}".to_owned()));
        assert_eq!(loki(r#""\400""#), Err(UnquoteError::Syntax { at: 1 }));
        assert_eq!(loki(r#""\U00110000""#), Err(UnquoteError::Syntax { at: 1 }));
        assert_eq!(loki(r#""\q""#), Err(UnquoteError::BadEscape { at: 1 }));
        assert_eq!(loki(r#""\'""#), Err(UnquoteError::BadEscape { at: 1 }));
        assert_eq!(loki(r#""\x4""#), Err(UnquoteError::BadEscape { at: 1 }));
        assert_eq!(loki("\"a\nb\""), Err(UnquoteError::Unterminated { at: 2, raw: false }));
        assert_eq!(loki("\"ab"), Err(UnquoteError::Unterminated { at: 0, raw: false }));
        assert_eq!(loki("`a"), Err(UnquoteError::Unterminated { at: 0, raw: true }));
        // Where Prometheus' unquoting and Go's strconv part ways.
        assert_eq!(loki(r#""\ud800""#).map(|v| v.0), Ok("\u{fffd}".to_owned()));
        assert_eq!(go(r#""\ud800""#), Err(UnquoteError::Syntax { at: 1 }));
        assert_eq!(loki("`a\r\nb\\n`"), Ok(("a\r\nb\\n".to_owned(), 8)));
        assert_eq!(go("`a\r\nb\\n`"), Ok(("a\nb\\n".to_owned(), 8)));
    }
}
