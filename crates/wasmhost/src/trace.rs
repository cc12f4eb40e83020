//! W3C Trace Context: the `traceparent` header, so every line of an instance
//! run for a request can be joined with that request's trace.

/// The ids of a valid `traceparent` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    /// 32 lower-case hex digits, not all zero.
    pub trace_id: String,
    /// 16 lower-case hex digits, not all zero: the caller's span.
    pub parent_id: String,
}

impl TraceParent {
    /// Parses `version-traceid-parentid-flags` as the W3C spec says: version
    /// `ff` and all-zero ids are invalid; a future version may carry more
    /// fields after the flags. Returns `None` for anything invalid.
    ///
    /// ```
    /// use wasmhost::TraceParent;
    /// let t = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    /// assert_eq!(t.parent_id, "00f067aa0ba902b7");
    /// assert!(TraceParent::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none());
    /// ```
    pub fn parse(value: &str) -> Option<TraceParent> {
        let value = value.trim();
        let mut parts = value.split('-');
        let (version, trace_id, parent_id, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
        let valid = hex(version, 2)
            && version != "ff"
            && hex(trace_id, 32)
            && nonzero(trace_id)
            && hex(parent_id, 16)
            && nonzero(parent_id)
            && hex(flags, 2)
            && (version != "00" || parts.next().is_none());
        valid.then(|| TraceParent { trace_id: trace_id.to_owned(), parent_id: parent_id.to_owned() })
    }
}
