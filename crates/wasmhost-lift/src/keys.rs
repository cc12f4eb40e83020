//! Field names as Loki's `| json` and `| logfmt` make them, so that a query
//! written for the guest's own line works on the lifted one (under the
//! prefix).
//!
//! Loki's rules (pkg/logql/log, checked against its parser): a key is
//! trimmed of white space; a key that is then empty adds nothing; a key that
//! starts with a digit gets a leading `_`; every character outside
//! `[A-Za-z0-9_]` becomes one `_`; nested object keys are joined with `_`.

/// Appends `key`, sanitised, to `out` as the next segment of a flattened key
/// (with a `_` between segments when `out` already has one).
///
/// ```
/// let mut key = String::from("request");
/// wasmhost_lift::push_segment(&mut key, " user-agent ");
/// assert_eq!(key, "request_user_agent");
/// let mut key = String::new();
/// wasmhost_lift::push_segment(&mut key, "2xx");
/// assert_eq!(key, "_2xx");
/// ```
pub fn push_segment(out: &mut String, key: &str) {
    if !out.is_empty() {
        out.push('_');
    }
    let key = key.trim();
    if key.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }));
}

/// Whether `key` is usable as a top-level field name as it is.
pub(crate) fn is_clean(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(parts: &[&str]) -> String {
        let mut out = String::new();
        for p in parts {
            push_segment(&mut out, p);
        }
        out
    }

    #[test]
    fn loki_rules() {
        assert_eq!(flat(&["a", "b"]), "a_b");
        assert_eq!(flat(&["a.b", "c d"]), "a_b_c_d");
        assert_eq!(flat(&["1", "2"]), "_1__2");
        assert_eq!(flat(&["é"]), "_");
        assert_eq!(flat(&["  x  "]), "x");
        assert!(is_clean("guest_x") && !is_clean("9x") && !is_clean("a-b") && !is_clean(""));
    }
}
