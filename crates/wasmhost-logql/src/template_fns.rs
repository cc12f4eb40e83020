//! The values and functions of `line_format`/`label_format` templates:
//! Go's types as templates see them ([`Value`]), Go's printing (`fmt`'s
//! `%v`, `print`, `printf`), truth and comparison rules, and the functions
//! Loki registers — Go's builtins, Loki's own (`__line__`, `__timestamp__`,
//! `count`, `bytes`, `duration`, `unixToTime`, `alignLeft`, …) and the
//! Sprig functions it picks (`trunc`, `substr`, `indent`, `addf`, `round`,
//! `fromJson`, `date`, `default`, …), each with Go's parameter types so a
//! wrong argument fails as it does in Loki. Times are UTC, as Loki runs.

use crate::eval::Labels;
use crate::gotime;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;

/// The functions a template may call (Go's builtins and Loki's set).
pub const FUNCTIONS: &[&str] = &[
    // Go's text/template builtins.
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt", "le", "gt", "ge", "html", "js", "urlquery",
    // Loki's own.
    "__line__", "__timestamp__", "ToLower", "ToUpper", "Replace", "Trim", "TrimLeft", "TrimRight", "TrimPrefix", "TrimSuffix", "TrimSpace",
    "regexReplaceAll", "regexReplaceAllLiteral", "count", "urldecode", "urlencode", "bytes", "duration", "duration_seconds", "unixEpochMillis",
    "unixEpochNanos", "toDateInZone", "unixToTime", "alignLeft", "alignRight",
    // The Sprig functions Loki registers.
    "b64enc", "b64dec", "lower", "upper", "title", "trunc", "substr", "contains", "hasPrefix", "hasSuffix", "indent", "nindent", "replace",
    "repeat", "trim", "trimAll", "trimSuffix", "trimPrefix", "int", "float64", "add", "sub", "mul", "div", "mod", "addf", "subf", "mulf",
    "divf", "max", "min", "maxf", "minf", "ceil", "floor", "round", "fromJson", "date", "toDate", "now", "unixEpoch", "default",
];

/// Go's integer types a template meets: constants and `len`/`count`/`int`
/// give `int`, Sprig's arithmetic `int64`, `index` on a string `uint8`.
/// Go refuses an `int64` where a function takes an `int`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum IntTy {
    Int,
    Int64,
    Uint8,
}

/// A template value.
#[derive(Debug, Clone)]
pub(crate) enum Value<'a> {
    /// Go's untyped nil (a missing JSON key, `fromJson` of bad input).
    Nil,
    Bool(bool),
    Int(i64, IntTy),
    Float(f64),
    Str(Cow<'a, str>),
    /// A `time.Time`: nanoseconds since the epoch.
    Time(i128),
    List(Rc<Vec<Value<'a>>>),
    Map(Rc<BTreeMap<String, Value<'a>>>),
    /// The data: the line's labels (Go's `map[string]string`).
    Labels(&'a Labels),
}

impl Value<'_> {
    /// Go's name for the value's type.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_, IntTy::Int) => "int",
            Value::Int(_, IntTy::Int64) => "int64",
            Value::Int(_, IntTy::Uint8) => "uint8",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Time(_) => "time.Time",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
            Value::Labels(_) => "map[string]string",
        }
    }
}

/// A function parameter's Go type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Ty {
    Str,
    Int,
    Float,
    Time,
    /// `interface{}` (or a builtin's `reflect.Value`): anything.
    Any,
}

impl Ty {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Ty::Str => "string",
            Ty::Int => "int",
            Ty::Float => "float64",
            Ty::Time => "time.Time",
            Ty::Any => "interface {}",
        }
    }
}

/// A function's parameters: fixed ones, then optionally any number of one type.
pub(crate) struct Sig {
    pub(crate) params: &'static [Ty],
    pub(crate) variadic: Option<Ty>,
}

/// The signature of function `name`; `None`: not defined.
pub(crate) fn signature(name: &str) -> Option<Sig> {
    use Ty::*;
    let fixed = |params: &'static [Ty]| Some(Sig { params, variadic: None });
    let var = |params: &'static [Ty], v: Ty| Some(Sig { params, variadic: Some(v) });
    match name {
        "__line__" | "__timestamp__" | "now" => fixed(&[]),
        "ToLower" | "ToUpper" | "TrimSpace" | "lower" | "upper" | "title" | "trim" | "urldecode" | "urlencode" | "bytes" | "duration"
        | "duration_seconds" | "unixToTime" | "b64enc" | "b64dec" | "fromJson" => fixed(&[Str]),
        "Trim" | "TrimLeft" | "TrimRight" | "TrimPrefix" | "TrimSuffix" | "count" | "contains" | "hasPrefix" | "hasSuffix" | "trimAll"
        | "trimSuffix" | "trimPrefix" | "toDate" => fixed(&[Str, Str]),
        "regexReplaceAll" | "regexReplaceAllLiteral" | "replace" | "toDateInZone" => fixed(&[Str, Str, Str]),
        "Replace" => fixed(&[Str, Str, Str, Int]),
        "unixEpoch" | "unixEpochMillis" | "unixEpochNanos" => fixed(&[Time]),
        "alignLeft" | "alignRight" | "trunc" | "indent" | "nindent" | "repeat" => fixed(&[Int, Str]),
        "substr" => fixed(&[Int, Int, Str]),
        "int" | "float64" | "ceil" | "floor" | "not" | "len" => fixed(&[Any]),
        "sub" | "div" | "mod" | "ne" | "lt" | "le" | "gt" | "ge" => fixed(&[Any, Any]),
        "add" | "addf" | "print" | "println" | "html" | "js" | "urlquery" => var(&[], Any),
        "and" | "or" | "mul" | "subf" | "mulf" | "divf" | "max" | "min" | "maxf" | "minf" | "default" | "index" | "slice" | "eq" => {
            var(&[Any], Any)
        }
        "round" => var(&[Any, Int], Float),
        "date" => fixed(&[Str, Any]),
        "printf" => var(&[Str], Any),
        _ => None,
    }
}

/// Passes `v` to a parameter of type `ty` as Go does (no conversions).
pub(crate) fn check_type(v: Value<'_>, ty: Ty) -> Result<Value<'_>, String> {
    match (ty, &v) {
        (Ty::Any, _) | (Ty::Str, Value::Str(_)) | (Ty::Int, Value::Int(_, IntTy::Int)) | (Ty::Float, Value::Float(_)) | (Ty::Time, Value::Time(_)) => Ok(v),
        (_, Value::Nil) => Err(format!("invalid value; expected {}", ty.name())),
        _ => Err(format!("wrong type for value; expected {}; got {}", ty.name(), v.type_name())),
    }
}

/// Go's truth: false, 0, nil and empty strings, lists and maps are false.
pub(crate) fn truth(v: &Value<'_>) -> bool {
    match v {
        Value::Nil => false,
        Value::Bool(b) => *b,
        Value::Int(n, _) => *n != 0,
        Value::Float(f) => *f != 0.0,
        Value::Str(s) => !s.is_empty(),
        Value::Time(_) => true,
        Value::List(l) => !l.is_empty(),
        Value::Map(m) => !m.is_empty(),
        Value::Labels(l) => !l.is_empty(),
    }
}

/// What an action prints: Go's `%v`, and `<no value>` for nil.
pub(crate) fn print_value(v: &Value<'_>, out: &mut String) {
    match v {
        Value::Nil => out.push_str("<no value>"),
        Value::Str(s) => out.push_str(s),
        v => fmt_v(v, out),
    }
}

/// Go's `fmt.Sprint` of one value.
pub(crate) fn display(v: &Value<'_>) -> String {
    let mut s = String::new();
    fmt_v(v, &mut s);
    s
}

fn fmt_v(v: &Value<'_>, out: &mut String) {
    match v {
        Value::Nil => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n, _) => {
            let _ = write!(out, "{n}");
        }
        Value::Float(f) => out.push_str(&go_float(*f, 'g', None)),
        Value::Str(s) => out.push_str(s),
        Value::Time(t) => out.push_str(&gotime::to_value(*t)),
        Value::List(l) => {
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_v(e, out);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                fmt_v(e, out);
            }
            out.push(']');
        }
        Value::Labels(l) => {
            out.push_str("map[");
            for (i, (k, e)) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                let _ = write!(out, "{k}:{e}");
            }
            out.push(']');
        }
    }
}

/// The shortest decimal digits of `f` (no sign) and its decimal exponent:
/// `f = d.ddd × 10^exp`.
fn shortest(f: f64) -> (String, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    (mant.replace('.', ""), exp.parse().unwrap_or(0))
}

/// Go's float formatting for verbs `e`, `f`, `g` (`%v` is `g` with the
/// shortest digits; `prec`: digits after the point, or significant for `g`).
fn go_float(f: f64, verb: char, prec: Option<usize>) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let sign = if f.is_sign_negative() && f != 0.0 { "-" } else { "" };
    let exp_form = |digits: &str, exp: i32| {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        format!("{sign}{first}{dot}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    };
    match verb.to_ascii_lowercase() {
        'e' => {
            let s = format!("{:.*e}", prec.unwrap_or(6), f.abs());
            let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
            let exp: i32 = exp.parse().unwrap_or(0);
            format!("{sign}{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
        }
        'f' => format!("{sign}{:.*}", prec.unwrap_or(6), f.abs()),
        _ => {
            let (digits, exp) = match prec {
                None => shortest(f),
                Some(p) => {
                    let s = format!("{:.*e}", p.max(1) - 1, f.abs());
                    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
                    let d = mant.replace('.', "");
                    (d.trim_end_matches('0').to_owned().max("0".into()), exp.parse().unwrap_or(0))
                }
            };
            let digits = if digits.is_empty() { "0".to_owned() } else { digits };
            let eprec = prec.map_or(6, |p| p.max(1) as i32);
            if exp < -4 || exp >= eprec {
                exp_form(&digits, exp)
            } else if exp < 0 {
                format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize))
            } else {
                let int_len = exp as usize + 1;
                if digits.len() <= int_len {
                    format!("{sign}{digits}{}", "0".repeat(int_len - digits.len()))
                } else {
                    format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
                }
            }
        }
    }
}

/// What the functions that read the entry see.
pub(crate) struct Context<'a> {
    pub(crate) line: &'a str,
    /// Nanoseconds since the epoch.
    pub(crate) ts: i128,
}

fn now_ns() -> i128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128)
}

/// Go's zero `time.Time`.
const ZERO_TIME: i128 = -62_135_596_800_000_000_000;

/// Sprig's `toInt64` (spf13/cast): numbers truncate, strings parse as Go
/// integers (`0x1f`, `3.0`), anything else is 0.
fn to_i64(v: &Value<'_>) -> i64 {
    match v {
        Value::Int(n, _) => *n,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => parse_go_int(trim_zero_decimal(s)).unwrap_or(0),
        _ => 0,
    }
}

/// Sprig's `toFloat64`.
fn to_f64(v: &Value<'_>) -> f64 {
    match v {
        Value::Int(n, _) => *n as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn trim_zero_decimal(s: &str) -> &str {
    match s.split_once('.') {
        Some((int, frac)) if !frac.is_empty() && frac.bytes().all(|b| b == b'0') => int,
        _ => s,
    }
}

/// `strconv.ParseInt(s, 0, 64)`: a sign, then `0x`/`0o`/`0b`/`0` prefixes.
fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, d) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = d.to_ascii_lowercase();
    let n = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()?
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()?
    } else if d.len() > 1 && d.starts_with('0') {
        i64::from_str_radix(&d[1..], 8).ok()?
    } else if d.bytes().all(|b| b.is_ascii_digit()) && !d.is_empty() {
        d.parse().ok()?
    } else {
        return None;
    };
    Some(if neg { -n } else { n })
}

/// A float as an exact decimal `m × 10^e` (its shortest digits, as the
/// `decimal` package Sprig's float arithmetic uses reads it).
fn decimal(f: f64) -> Option<(i128, i32)> {
    if !f.is_finite() {
        return None;
    }
    let (digits, exp) = shortest(f);
    let m: i128 = digits.parse().ok()?;
    Some((if f < 0.0 { -m } else { m }, exp - (digits.len() as i32 - 1)))
}

/// `a + b` or `a × b` in exact decimal arithmetic, back to the nearest float
/// (`addf 0.1 0.2` is 0.3 in Loki); plain floats when the decimals overflow.
fn decimal_op(a: f64, b: f64, mul: bool) -> f64 {
    let exact = || -> Option<f64> {
        let ((ma, ea), (mb, eb)) = (decimal(a)?, decimal(b)?);
        let (m, e) = if mul {
            (ma.checked_mul(mb)?, ea + eb)
        } else {
            let e = ea.min(eb);
            let scale = |m: i128, by: i32| 10i128.checked_pow(u32::try_from(by).ok()?).and_then(|p| m.checked_mul(p));
            (scale(ma, ea - e)?.checked_add(scale(mb, eb - e)?)?, e)
        };
        format!("{m}e{e}").parse().ok()
    };
    exact().unwrap_or(if mul { a * b } else { a + b })
}

/// Go's `strings.Title`: upper-cases letters that follow a separator.
fn title(s: &str) -> String {
    let sep = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            !(c.is_alphanumeric()) && c.is_whitespace()
        }
    };
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if sep(prev) { c.to_uppercase().collect::<String>() } else { c.to_string() };
            prev = c;
            out
        })
        .collect()
}

/// `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// `url.QueryUnescape`.
fn query_unescape(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok().filter(|_| h.bytes().all(|c| c.is_ascii_hexdigit())));
                match hex {
                    Some(v) => out.push(v),
                    None => return Err(format!("invalid URL escape {:?}", &s[i..(i + 3).min(s.len())])),
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64enc(s: &str) -> String {
    let mut out = String::new();
    for chunk in s.as_bytes().chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() { B64[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

/// Sprig's `b64dec`: the decoded text, or Go's error text when the input is not base64.
fn b64dec(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let bad = |at: usize| format!("illegal base64 data at input byte {at}");
    if !b.len().is_multiple_of(4) {
        // Go reports the first byte it cannot place.
        let at = b.iter().position(|c| !B64.contains(c)).unwrap_or(b.len() / 4 * 4);
        return bad(at);
    }
    for (q, quad) in b.chunks(4).enumerate() {
        let mut n = 0u32;
        let mut pad = 0;
        for (i, c) in quad.iter().enumerate() {
            let v = match B64.iter().position(|x| x == c) {
                Some(v) if pad == 0 => v as u32,
                _ if *c == b'=' && i >= 2 && q == b.len() / 4 - 1 => {
                    pad += 1;
                    0
                }
                _ => return bad(q * 4 + i),
            };
            n |= v << (18 - 6 * i);
        }
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8][..3 - pad]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `time.ParseDuration`, in seconds: unlike LogQL's durations
/// ([`crate::parse_duration`]) it has no `d`/`w`/`y`, and Go's error texts.
fn go_duration(orig: &str) -> Result<f64, String> {
    let invalid = || format!("time: invalid duration {orig:?}");
    let (neg, mut s) = match orig.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, orig.strip_prefix('+').unwrap_or(orig)),
    };
    if s == "0" {
        return Ok(0.0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total = 0.0;
    while !s.is_empty() {
        let n = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
        let num = &s[..n];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(invalid());
        }
        let value: f64 = num.parse().map_err(|_| invalid())?;
        s = &s[n..];
        let u = s.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(s.len());
        let scale = match &s[..u] {
            "" => return Err(format!("time: missing unit in duration {orig:?}")),
            unit => crate::parse::go_unit_seconds(unit).ok_or_else(|| format!("time: unknown unit {unit:?} in duration {orig:?}"))?,
        };
        total += value * scale;
        s = &s[u..];
    }
    Ok(if neg { -total } else { total })
}

/// go-humanize's `ParseBytes`: `"20 KB"`, `"1.5MiB"`, `"1,024"`.
fn humanize_bytes(s: &str) -> Result<f64, String> {
    let digits = s.find(|c: char| !(c.is_numeric() || c == '.' || c == ',')).unwrap_or(s.len());
    let num = s[..digits].replace(',', "");
    let f: f64 = num.parse().map_err(|_| format!("strconv.ParseFloat: parsing {num:?}: invalid syntax"))?;
    let unit = s[digits..].trim().to_lowercase();
    let scale: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1024f64.powi(2),
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1024f64.powi(3),
        "t" | "tb" => 1e12,
        "ti" | "tib" => 1024f64.powi(4),
        "p" | "pb" => 1e15,
        "pi" | "pib" => 1024f64.powi(5),
        "e" | "eb" => 1e18,
        "ei" | "eib" => 1024f64.powi(6),
        _ => return Err(format!("unhandled size name: {unit}")),
    };
    let v = f * scale;
    if v >= u64::MAX as f64 {
        return Err(format!("too large: {s}"));
    }
    // Go returns a whole number of bytes.
    Ok(v.trunc())
}

fn json_value<'a>(v: serde_json::Value) -> Value<'a> {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(b),
        // Go decodes every JSON number as a float64.
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::Str(Cow::Owned(s)),
        serde_json::Value::Array(a) => Value::List(Rc::new(a.into_iter().map(json_value).collect())),
        serde_json::Value::Object(o) => Value::Map(Rc::new(o.into_iter().map(|(k, v)| (k, json_value(v))).collect())),
    }
}

#[derive(PartialEq, Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Float,
    Str,
    Invalid,
    Other,
}

fn kind(v: &Value<'_>) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(..) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::Str,
        Value::Nil => Kind::Invalid,
        _ => Kind::Other,
    }
}

const BAD_COMPARISON: &str = "incompatible types for comparison";

/// Go's `eq` for two values.
fn equal(a: &Value<'_>, b: &Value<'_>) -> Result<bool, String> {
    let (ka, kb) = (kind(a), kind(b));
    if ka != kb {
        return if ka == Kind::Invalid || kb == Kind::Invalid { Ok(false) } else { Err(BAD_COMPARISON.into()) };
    }
    Ok(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x, _), Value::Int(y, _)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Nil, Value::Nil) => true,
        (Value::Time(x), Value::Time(y)) => x == y,
        _ => return Err(format!("non-comparable type {}: {}", display(b), b.type_name())),
    })
}

/// Go's `lt`.
fn less(a: &Value<'_>, b: &Value<'_>) -> Result<bool, String> {
    let (ka, kb) = (kind(a), kind(b));
    if matches!(ka, Kind::Bool | Kind::Invalid | Kind::Other) || matches!(kb, Kind::Bool | Kind::Invalid | Kind::Other) {
        return Err("invalid type for comparison".into());
    }
    if ka != kb {
        return Err(BAD_COMPARISON.into());
    }
    Ok(match (a, b) {
        (Value::Int(x, _), Value::Int(y, _)) => x < y,
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::Str(x), Value::Str(y)) => x < y,
        _ => false,
    })
}

/// `fmt.Sprint`: a space between operands when neither is a string.
fn sprint(args: &[Value<'_>]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = matches!(a, Value::Str(_));
        if i > 0 && !is_str && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        fmt_v(a, &mut out);
    }
    out
}

/// The text `html`, `js` and `urlquery` escape: a lone string, or `fmt.Sprint` of the arguments.
fn builtin_text(args: &[Value<'_>]) -> String {
    match args {
        [Value::Str(s)] => s.to_string(),
        _ => sprint(args),
    }
}

/// A `printf` directive's flags, width and precision.
#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

impl Spec {
    fn pad(&self, s: String, numeric: bool) -> String {
        let len = s.chars().count();
        let Some(w) = self.width.filter(|w| *w > len) else { return s };
        let fill = w - len;
        if self.minus {
            s + &" ".repeat(fill)
        } else if self.zero {
            // Zeros go after a number's sign.
            match s.strip_prefix(['-', '+']).filter(|_| numeric) {
                Some(rest) => format!("{}{}{rest}", &s[..1], "0".repeat(fill)),
                None => "0".repeat(fill) + &s,
            }
        } else {
            " ".repeat(fill) + &s
        }
    }
}

/// Go's `fmt.Sprintf`, for the verbs templates use.
fn sprintf(format: &str, args: &[Value<'_>]) -> String {
    let mut out = String::new();
    let mut next = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                _ => break,
            }
            chars.next();
        }
        let mut number = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| -> Option<usize> {
            if chars.peek() == Some(&'*') {
                chars.next();
                let n = args.get(next).map(to_i64);
                next += 1;
                return n.map(|n| n.max(0) as usize);
            }
            let mut n = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0usize).saturating_mul(10).saturating_add(d as usize));
                chars.next();
            }
            n
        };
        // Go refuses widths and precisions over a million.
        spec.width = number(&mut chars);
        if spec.width.is_some_and(|w| w > 1_000_000) {
            out.push_str("%!(BADWIDTH)");
            spec.width = None;
        }
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(number(&mut chars).unwrap_or(0));
            if spec.prec.is_some_and(|p| p > 1_000_000) {
                out.push_str("%!(BADPREC)");
                spec.prec = None;
            }
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        next += 1;
        out.push_str(&format_arg(verb, &spec, arg));
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args[next..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{}={}", a.type_name(), display(a));
        }
        out.push(')');
    }
    out
}

fn format_arg(verb: char, spec: &Spec, arg: &Value<'_>) -> String {
    let bad = || match arg {
        Value::Nil => format!("%!{verb}(<nil>)"),
        a => format!("%!{verb}({}={})", a.type_name(), display(a)),
    };
    let signed = |s: String, neg: bool| {
        if neg {
            s
        } else if spec.plus {
            format!("+{s}")
        } else if spec.space {
            format!(" {s}")
        } else {
            s
        }
    };
    let s = match (verb, arg) {
        ('T', a) => return spec.pad(a.type_name().to_owned(), false),
        ('v', Value::Float(f)) | ('e' | 'E' | 'f' | 'F' | 'g' | 'G', Value::Float(f)) => {
            let v = if verb == 'v' { 'g' } else { verb };
            let s = go_float(*f, v, spec.prec);
            let s = if verb.is_ascii_uppercase() { s.to_uppercase() } else { s };
            return spec.pad(signed(s, *f < 0.0), true);
        }
        ('v' | 'd', Value::Int(n, _)) => match spec.prec {
            Some(p) => return spec.pad(signed(format!("{}{:0p$}", if *n < 0 { "-" } else { "" }, n.unsigned_abs()), *n < 0), true),
            None => return spec.pad(signed(n.to_string(), *n < 0), true),
        },
        ('x' | 'X' | 'o' | 'O' | 'b', Value::Int(n, _)) => {
            let a = n.unsigned_abs();
            let body = match verb {
                'x' => format!("{}{a:x}", if spec.sharp { "0x" } else { "" }),
                'X' => format!("{}{a:X}", if spec.sharp { "0X" } else { "" }),
                'o' => format!("{}{a:o}", if spec.sharp { "0" } else { "" }),
                'O' => format!("0o{a:o}"),
                _ => format!("{a:b}"),
            };
            return spec.pad(signed(format!("{}{body}", if *n < 0 { "-" } else { "" }), *n < 0), true);
        }
        ('c', Value::Int(n, _)) => char::from_u32(*n as u32).unwrap_or('\u{FFFD}').to_string(),
        ('q', Value::Int(n, _)) => format!("'{}'", char::from_u32(*n as u32).unwrap_or('\u{FFFD}')),
        ('U', Value::Int(n, _)) => format!("U+{n:04X}"),
        ('v' | 's', Value::Str(s)) => match spec.prec {
            Some(p) => s.chars().take(p).collect(),
            None => s.to_string(),
        },
        ('q', Value::Str(s)) => crate::quote(s),
        ('x' | 'X', Value::Str(s)) => {
            let hex: String = s.bytes().map(|b| format!("{b:02x}")).collect();
            if verb == 'X' {
                hex.to_uppercase()
            } else {
                hex
            }
        }
        ('v' | 't', Value::Bool(b)) => b.to_string(),
        ('v' | 's', Value::Time(t)) => gotime::to_value(*t),
        ('q', Value::Time(t)) => crate::quote(&gotime::to_value(*t)),
        ('v', Value::Nil) => "<nil>".into(),
        ('v' | 's', Value::Labels(_)) | ('v', Value::Map(_) | Value::List(_)) => display(arg),
        // Other verbs on a list or map apply to each element, as in Go.
        (_, Value::List(l)) => {
            let parts: Vec<String> = l.iter().map(|e| format_arg(verb, spec, e)).collect();
            format!("[{}]", parts.join(" "))
        }
        (_, Value::Map(m)) => {
            let parts: Vec<String> = m.iter().map(|(k, e)| format!("{}:{}", format_arg(verb, spec, &Value::Str(Cow::Borrowed(k))), format_arg(verb, spec, e))).collect();
            format!("map[{}]", parts.join(" "))
        }
        _ => bad(),
    };
    spec.pad(s, false)
}

fn js_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' | '>' | '&' | '=' => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c if (c as u32) < 0x20 || c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn html_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `index` for one step.
fn index_one<'a>(item: Value<'a>, key: &Value<'a>) -> Result<Value<'a>, String> {
    let position = |len: usize| -> Result<usize, String> {
        match key {
            Value::Int(n, _) if *n >= 0 && (*n as usize) < len => Ok(*n as usize),
            Value::Int(n, _) => Err(format!("index out of range: {n}")),
            Value::Nil => Err("cannot index slice/array with nil".into()),
            k => Err(format!("cannot index slice/array with type {}", k.type_name())),
        }
    };
    let map_key = || match key {
        Value::Str(k) => Ok(k.to_string()),
        k => Err(format!("value has type {}; should be string", k.type_name())),
    };
    match item {
        Value::List(l) => Ok(l[position(l.len())?].clone()),
        Value::Str(s) => Ok(Value::Int(i64::from(s.as_bytes()[position(s.len())?]), IntTy::Uint8)),
        Value::Map(m) => Ok(m.get(&map_key()?).cloned().unwrap_or(Value::Nil)),
        Value::Labels(l) => Ok(Value::Str(Cow::Borrowed(l.get(&map_key()?).map_or("", String::as_str)))),
        Value::Nil => Err("index of untyped nil".into()),
        other => Err(format!("can't index item of type {}", other.type_name())),
    }
}

/// Go's `slice`.
fn slice<'a>(item: Value<'a>, idx: &[Value<'a>]) -> Result<Value<'a>, String> {
    let len = match &item {
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Nil => return Err("slice of untyped nil".into()),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    if idx.len() > 2 {
        return Err(format!("too many slice indexes: {}", idx.len()));
    }
    let mut bounds = [0, len];
    for (i, v) in idx.iter().enumerate() {
        bounds[i] = match v {
            Value::Int(n, _) if *n >= 0 && *n as usize <= len => *n as usize,
            Value::Int(n, _) => return Err(format!("index out of range: {n}")),
            v => return Err(format!("cannot index slice/array with type {}", v.type_name())),
        };
    }
    if bounds[0] > bounds[1] {
        return Err(format!("invalid slice index: {} > {}", bounds[0], bounds[1]));
    }
    Ok(match item {
        Value::Str(s) => Value::Str(Cow::Owned(s.get(bounds[0]..bounds[1]).ok_or("slice splits a character")?.to_owned())),
        Value::List(l) => Value::List(Rc::new(l[bounds[0]..bounds[1]].to_vec())),
        _ => Value::Nil,
    })
}

/// The largest text a function builds: Go would try to allocate any size;
/// one line's template must not exhaust memory.
const MAX_OUTPUT: usize = 1 << 26;

/// `count` copies of `unit` bytes, if within [`MAX_OUTPUT`].
fn bounded(count: i64, unit: usize) -> Result<usize, String> {
    let n = usize::try_from(count).unwrap_or(0);
    if n.saturating_mul(unit.max(1)) > MAX_OUTPUT {
        return Err(format!("output of {n} × {unit} bytes is over the {MAX_OUTPUT}-byte limit"));
    }
    Ok(n)
}

/// Calls `name` with arguments already checked against its [`signature`].
pub(crate) fn call<'a>(name: &str, mut a: Vec<Value<'a>>, ctx: &Context<'a>) -> Result<Value<'a>, String> {
    let s = |i: usize| match a.get(i) {
        Some(Value::Str(s)) => s.as_ref(),
        _ => "",
    };
    let int = |i: usize| match a.get(i) {
        Some(Value::Int(n, _)) => *n,
        _ => 0,
    };
    let time = |i: usize| match a.get(i) {
        Some(Value::Time(t)) => *t,
        _ => 0,
    };
    let owned = |t: String| Value::Str(Cow::Owned(t));
    let b = Value::Bool;
    let runes = |t: &str| t.chars().collect::<Vec<char>>();
    let regex = |re: &str| regex::Regex::new(&crate::go_regex(re)).map_err(|e| format!("error parsing regexp: {e}"));
    Ok(match name {
        "__line__" => Value::Str(Cow::Borrowed(ctx.line)),
        "__timestamp__" => Value::Time(ctx.ts),
        "now" => Value::Time(now_ns()),
        "ToLower" | "lower" => owned(s(0).to_lowercase()),
        "ToUpper" | "upper" => owned(s(0).to_uppercase()),
        "title" => owned(title(s(0))),
        "TrimSpace" | "trim" => owned(s(0).trim().to_owned()),
        "Trim" => owned(s(0).trim_matches(|c| s(1).contains(c)).to_owned()),
        "TrimLeft" => owned(s(0).trim_start_matches(|c| s(1).contains(c)).to_owned()),
        "TrimRight" => owned(s(0).trim_end_matches(|c| s(1).contains(c)).to_owned()),
        "TrimPrefix" => owned(s(0).strip_prefix(s(1)).unwrap_or(s(0)).to_owned()),
        "TrimSuffix" => owned(s(0).strip_suffix(s(1)).unwrap_or(s(0)).to_owned()),
        "trimAll" => owned(s(1).trim_matches(|c| s(0).contains(c)).to_owned()),
        "trimPrefix" => owned(s(1).strip_prefix(s(0)).unwrap_or(s(1)).to_owned()),
        "trimSuffix" => owned(s(1).strip_suffix(s(0)).unwrap_or(s(1)).to_owned()),
        "Replace" if int(3) < 0 => owned(s(0).replace(s(1), s(2))),
        "Replace" => owned(s(0).replacen(s(1), s(2), int(3) as usize)),
        "replace" => owned(s(2).replace(s(0), s(1))),
        "regexReplaceAll" => owned(regex(s(0))?.replace_all(s(1), s(2)).into_owned()),
        "regexReplaceAllLiteral" => owned(regex(s(0))?.replace_all(s(1), regex::NoExpand(s(2))).into_owned()),
        "count" => Value::Int(regex(s(0))?.find_iter(s(1)).count() as i64, IntTy::Int),
        "urlencode" => owned(query_escape(s(0))),
        "urldecode" => owned(query_unescape(s(0))?),
        "b64enc" => owned(b64enc(s(0))),
        "b64dec" => owned(b64dec(s(0))),
        "bytes" => Value::Float(humanize_bytes(s(0))?),
        "duration" | "duration_seconds" => Value::Float(go_duration(s(0))?),
        "contains" => b(s(1).contains(s(0))),
        "hasPrefix" => b(s(1).starts_with(s(0))),
        "hasSuffix" => b(s(1).ends_with(s(0))),
        "repeat" if int(0) < 0 => return Err("strings: negative Repeat count".into()),
        "repeat" => owned(s(1).repeat(bounded(int(0), s(1).len())?)),
        "indent" | "nindent" => {
            let pad = " ".repeat(bounded(int(0).max(0), s(1).matches('\n').count() + 1)?);
            let body = format!("{pad}{}", s(1).replace('\n', &format!("\n{pad}")));
            owned(if name == "nindent" { format!("\n{body}") } else { body })
        }
        "trunc" => {
            let (n, r) = (int(0), runes(s(1)));
            let l = r.len() as i64;
            owned(if n < 0 && l + n > 0 {
                r[(l + n) as usize..].iter().collect()
            } else if n >= 0 && l > n {
                r[..n as usize].iter().collect()
            } else {
                s(1).to_owned()
            })
        }
        // Loki's rune-safe `substr`: a negative start takes a prefix, a negative or long end the rest.
        "substr" => {
            let r = runes(s(2));
            let l = r.len() as i64;
            let (start, end) = (int(0).min(l), int(1).min(l));
            owned(if start < 0 {
                if end < 0 {
                    String::new()
                } else {
                    r[..end as usize].iter().collect()
                }
            } else if end < 0 {
                r[start as usize..].iter().collect()
            } else if start > end {
                String::new()
            } else {
                r[start as usize..end as usize].iter().collect()
            })
        }
        "alignLeft" | "alignRight" => {
            let (n, r) = (int(0), runes(s(1)));
            let l = r.len() as i64;
            owned(if n < 0 || n == l {
                s(1).to_owned()
            } else if n > l {
                let pad = " ".repeat(bounded(n - l, 1)?);
                if name == "alignLeft" {
                    format!("{}{pad}", s(1))
                } else {
                    format!("{pad}{}", s(1))
                }
            } else if name == "alignLeft" {
                r[..n as usize].iter().collect()
            } else {
                r[(l - n) as usize..].iter().collect()
            })
        }
        "unixEpoch" => owned(time(0).div_euclid(1_000_000_000).to_string()),
        "unixEpochMillis" => owned(time(0).div_euclid(1_000_000).to_string()),
        "unixEpochNanos" => owned(time(0).to_string()),
        // Loki reads the unit from the number of digits: days, seconds, ms, µs or ns.
        "unixToTime" => {
            let n: i64 = s(0).parse().map_err(|_| format!("unable to parse time '{}': strconv.ParseInt: parsing {:?}: invalid syntax", s(0), s(0)))?;
            let scale: i128 = match s(0).len() {
                5 => 86_400_000_000_000,
                10 => 1_000_000_000,
                13 => 1_000_000,
                16 => 1_000,
                19 => 1,
                _ => return Err(format!("unable to parse time '{}': %!w(<nil>)", s(0))),
            };
            Value::Time(i128::from(n) * scale)
        }
        // The server's zone is UTC; Go's zero time when the text does not fit the layout.
        "toDate" => Value::Time(gotime::parse(s(0), s(1)).unwrap_or(ZERO_TIME)),
        "toDateInZone" => Value::Time(gotime::parse(s(0), s(2)).unwrap_or(ZERO_TIME)),
        "date" => {
            let t = match a.get(1) {
                Some(Value::Time(t)) => *t,
                Some(Value::Int(n, IntTy::Int | IntTy::Int64)) => i128::from(*n) * 1_000_000_000,
                _ => now_ns(),
            };
            owned(gotime::format(t, s(0)))
        }
        "int" => Value::Int(to_i64(&a[0]), IntTy::Int),
        "float64" => Value::Float(to_f64(&a[0])),
        "add" => Value::Int(a.iter().map(to_i64).fold(0i64, i64::wrapping_add), IntTy::Int64),
        "sub" => Value::Int(to_i64(&a[0]).wrapping_sub(to_i64(&a[1])), IntTy::Int64),
        "mul" => Value::Int(a.iter().map(to_i64).fold(1i64, i64::wrapping_mul), IntTy::Int64),
        "div" | "mod" => {
            let (x, y) = (to_i64(&a[0]), to_i64(&a[1]));
            if y == 0 {
                return Err("runtime error: integer divide by zero".into());
            }
            Value::Int(if name == "div" { x.wrapping_div(y) } else { x.wrapping_rem(y) }, IntTy::Int64)
        }
        "max" => Value::Int(a.iter().map(to_i64).max().unwrap_or(0), IntTy::Int64),
        "min" => Value::Int(a.iter().map(to_i64).min().unwrap_or(0), IntTy::Int64),
        "addf" => Value::Float(a.iter().map(to_f64).fold(0.0, |x, y| decimal_op(x, y, false))),
        "subf" => Value::Float(a[1..].iter().map(to_f64).fold(to_f64(&a[0]), |x, y| decimal_op(x, -y, false))),
        "mulf" => Value::Float(a[1..].iter().map(to_f64).fold(to_f64(&a[0]), |x, y| decimal_op(x, y, true))),
        "divf" => {
            let mut x = to_f64(&a[0]);
            for y in a[1..].iter().map(to_f64) {
                if y == 0.0 {
                    return Err("decimal division by 0".into());
                }
                x /= y;
            }
            Value::Float(x)
        }
        "maxf" => Value::Float(a[1..].iter().map(to_f64).fold(to_f64(&a[0]), f64::max)),
        "minf" => Value::Float(a[1..].iter().map(to_f64).fold(to_f64(&a[0]), f64::min)),
        "ceil" => Value::Float(to_f64(&a[0]).ceil()),
        "floor" => Value::Float(to_f64(&a[0]).floor()),
        "round" => {
            let round_on = match a.get(2) {
                Some(Value::Float(f)) => *f,
                _ => 0.5,
            };
            let pow = 10f64.powi(int(1) as i32);
            let digit = pow * to_f64(&a[0]);
            let r = if digit.fract() >= round_on { digit.ceil() } else { digit.floor() };
            Value::Float(r / pow)
        }
        "fromJson" => serde_json::from_str(s(0)).map_or(Value::Nil, json_value),
        // Sprig: the first argument unless the given value is set.
        "default" => match a.get(1) {
            Some(v) if truth(v) => a.swap_remove(1),
            _ => a.swap_remove(0),
        },
        "not" => b(!truth(&a[0])),
        "len" => match &a[0] {
            Value::Str(t) => Value::Int(t.len() as i64, IntTy::Int),
            Value::List(l) => Value::Int(l.len() as i64, IntTy::Int),
            Value::Map(m) => Value::Int(m.len() as i64, IntTy::Int),
            Value::Labels(l) => Value::Int(l.len() as i64, IntTy::Int),
            Value::Nil => return Err("len of untyped nil".into()),
            other => return Err(format!("len of type {}", other.type_name())),
        },
        "index" => {
            let mut rest = a.split_off(1);
            let mut item = a.swap_remove(0);
            for key in rest.drain(..) {
                item = index_one(item, &key)?;
            }
            item
        }
        "slice" => {
            let rest = a.split_off(1);
            slice(a.swap_remove(0), &rest)?
        }
        "print" => owned(sprint(&a)),
        "println" => owned(a.iter().map(display).collect::<Vec<_>>().join(" ") + "\n"),
        "printf" => owned(sprintf(s(0), &a[1..])),
        "eq" => {
            for other in &a[1..] {
                if equal(&a[0], other)? {
                    return Ok(b(true));
                }
            }
            b(false)
        }
        "ne" => b(!equal(&a[0], &a[1])?),
        "lt" => b(less(&a[0], &a[1])?),
        "le" => b(less(&a[0], &a[1])? || equal(&a[0], &a[1])?),
        "gt" => b(!(less(&a[0], &a[1])? || equal(&a[0], &a[1])?)),
        "ge" => b(!less(&a[0], &a[1])?),
        "html" => owned(html_escape(&builtin_text(&a))),
        "js" => owned(js_escape(&builtin_text(&a))),
        "urlquery" => owned(query_escape(&builtin_text(&a))),
        other => return Err(format!("{other:?} is not a defined function")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_number_printing() {
        let v = |f: f64| go_float(f, 'g', None);
        assert_eq!([v(10.5), v(3.0), v(1e6), v(123456.0), v(1234567.0), v(0.0001), v(0.00001), v(-2.5)], [
            "10.5",
            "3",
            "1e+06",
            "123456",
            "1.234567e+06",
            "0.0001",
            "1e-05",
            "-2.5"
        ]);
        assert_eq!(decimal_op(0.1, 0.2, false), 0.3);
        assert_eq!(decimal_op(5.5, 2.5, true), 13.75);
        let args = [Value::Float(2.5172), Value::Str("ab".into()), Value::Int(-7, IntTy::Int), Value::Int(-7, IntTy::Int)];
        assert_eq!(sprintf("%.2f|%5s|%-5d|%05d|%x|%z", &args[..]), "2.52|   ab|-7   |-0007|%!x(MISSING)|%!z(MISSING)");
        assert_eq!(sprintf("%d %s", &[Value::Str("x".into()), Value::Int(1, IntTy::Int), Value::Nil]), "%!d(string=x) %!s(int=1)%!(EXTRA <nil>=<nil>)");
    }

    #[test]
    fn conversions_follow_go_and_sprig() {
        assert_eq!(go_duration("1h30m"), Ok(5400.0));
        assert_eq!(go_duration("1d"), Err(r#"time: unknown unit "d" in duration "1d""#.into()));
        assert_eq!(go_duration("5"), Err(r#"time: missing unit in duration "5""#.into()));
        assert_eq!(humanize_bytes("1.5 KiB"), Ok(1536.0));
        assert_eq!(humanize_bytes("3 zz"), Err("unhandled size name: zz".into()));
        assert_eq!((b64enc("hello"), b64dec("aGVsbG8="), b64dec("a")), ("aGVsbG8=".into(), "hello".into(), "illegal base64 data at input byte 0".into()));
        assert_eq!((query_escape("a b&c/é"), query_unescape("a+b%26").unwrap()), ("a+b%26c%2F%C3%A9".into(), "a b&".into()));
        assert_eq!(query_unescape("%zz"), Err(r#"invalid URL escape "%zz""#.into()));
        assert_eq!([to_i64(&Value::Str("0x10".into())), to_i64(&Value::Str("3.0".into())), to_i64(&Value::Str("3.5".into()))], [16, 3, 0]);
        assert_eq!(title("hello wide-world_x"), "Hello Wide-World_x");
    }
}
