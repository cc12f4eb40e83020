//! `--invoke FUNC ARGS…` on core modules as `wasmtime run` does it: the
//! arguments parsed into the function's parameter types, its results returned
//! as [`Value`]s and printed one a line. (Components' WAVE calls are in
//! `component.rs`.)

use std::fmt;

use wasmtime::{FuncType, Val, ValType};

use crate::error::RunError;

/// A value a function takes or returns, of one of the number types.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `i32`.
    I32(i32),
    /// `i64`.
    I64(i64),
    /// `f32`.
    F32(f32),
    /// `f64`.
    F64(f64),
    /// `v128`, as an unsigned integer.
    V128(u128),
    /// All the results of a component's function, WAVE-encoded as
    /// `wasmtime run --invoke` prints them: the value when there is one
    /// (`"hi"`, `[1, 2]`, `ok(3)`, `{x: 1, y: 2}`), else a parenthesised
    /// list (`()` for none).
    Wave(String),
}

impl fmt::Display for Value {
    /// As `wasmtime run --invoke` prints results: decimal integers, floats as
    /// Rust writes them, `v128` as one unsigned integer, WAVE as it is.
    ///
    /// ```
    /// use wasmhost::Value;
    /// assert_eq!(Value::I32(-7).to_string(), "-7");
    /// assert_eq!(Value::F64(2.5).to_string(), "2.5");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::I32(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::F32(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::V128(v) => write!(f, "{v}"),
            Value::Wave(text) => f.write_str(text),
        }
    }
}

impl Value {
    pub(crate) fn from_val(val: &Val) -> Option<Value> {
        Some(match val {
            Val::I32(v) => Value::I32(*v),
            Val::I64(v) => Value::I64(*v),
            Val::F32(bits) => Value::F32(f32::from_bits(*bits)),
            Val::F64(bits) => Value::F64(f64::from_bits(*bits)),
            Val::V128(v) => Value::V128(v.as_u128()),
            _ => return None,
        })
    }
}

/// Parses `args` into the parameters of `func` (decimal or `0x` hex
/// integers, floats); extra arguments stay the guest's `argv` only.
pub(crate) fn params(name: &str, func: &FuncType, args: &[String]) -> Result<Vec<Val>, RunError> {
    let bad = |reason: String| RunError::InvokeArgs { name: name.to_owned(), reason };
    let mut args = args.iter();
    func.params()
        .enumerate()
        .map(|(i, ty)| {
            let text = args.next().ok_or_else(|| bad(format!("it takes {} arguments, {i} given", func.params().len())))?;
            let wrong = |e: &dyn fmt::Display| bad(format!("argument {} {text:?} is not {}: {e}", i + 1, type_name(&ty)));
            Ok(match ty {
                ValType::I32 => Val::I32(int(text).and_then(|v| i32::try_from(v).map_err(|e| e.to_string())).map_err(|e| wrong(&e))?),
                ValType::I64 => Val::I64(int(text).map_err(|e| wrong(&e))?),
                ValType::F32 => Val::F32(text.parse::<f32>().map_err(|e| wrong(&e))?.to_bits()),
                ValType::F64 => Val::F64(text.parse::<f64>().map_err(|e| wrong(&e))?.to_bits()),
                other => return Err(bad(format!("parameters of type {other} cannot be given on a command line"))),
            })
        })
        .collect()
}

/// A decimal or `0x` hexadecimal integer; hex covers the unsigned range too.
fn int(text: &str) -> Result<i64, String> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let value = match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).map(|v| v as i64).map_err(|e| e.to_string())?,
        None => return text.parse::<i64>().map_err(|e| e.to_string()),
    };
    Ok(if negative { value.wrapping_neg() } else { value })
}

fn type_name(ty: &ValType) -> &'static str {
    match ty {
        ValType::I32 => "an i32",
        ValType::I64 => "an i64",
        ValType::F32 => "an f32",
        ValType::F64 => "an f64",
        _ => "a number",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_take_decimal_and_hex() {
        assert_eq!(int("42"), Ok(42));
        assert_eq!(int("-3"), Ok(-3));
        assert_eq!(int("0xff"), Ok(255));
        assert!(int("forty").is_err());
    }
}
