//! Loki's `pattern` expressions: literals and `<name>`/`<_>` captures, for
//! the `| pattern` parser and the `|>`/`!>` line filters.

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    /// The pattern as written.
    pub source: String,
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Literal(String),
    /// `None` for `<_>`.
    Capture(Option<String>),
}

impl Pattern {
    /// Compiles `source`. `need_capture`: the `| pattern` parser needs at
    /// least one named capture (Loki: "at least one capture is required").
    pub fn new(source: &str, need_capture: bool) -> Result<Pattern, String> {
        let mut nodes: Vec<Node> = Vec::new();
        let mut rest = source;
        let mut literal = String::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('<') {
                let end = after.find('>').filter(|&e| e > 0 && (after[..e] == *"_" || is_name(&after[..e])));
                if let Some(end) = end {
                    if !literal.is_empty() {
                        nodes.push(Node::Literal(std::mem::take(&mut literal)));
                    }
                    if matches!(nodes.last(), Some(Node::Capture(_))) {
                        return Err("found consecutive capture: invalid expression".into());
                    }
                    let name = &after[..end];
                    if name != "_" && nodes.iter().any(|n| *n == Node::Capture(Some(name.to_owned()))) {
                        return Err(format!("duplicate capture name ({name}): invalid expression"));
                    }
                    nodes.push(Node::Capture((name != "_").then(|| name.to_owned())));
                    rest = &after[end + 1..];
                    continue;
                }
            }
            let ch = rest.chars().next().unwrap_or(' ');
            literal.push(ch);
            rest = &rest[ch.len_utf8()..];
        }
        if !literal.is_empty() {
            nodes.push(Node::Literal(literal));
        }
        if need_capture && !nodes.iter().any(|n| matches!(n, Node::Capture(Some(_)))) {
            return Err("at least one capture is required: invalid expression".into());
        }
        if nodes.is_empty() {
            return Err("empty pattern: invalid expression".into());
        }
        Ok(Pattern { source: source.to_owned(), nodes })
    }

    /// Loki's `| pattern` matching: a leading literal must start the line;
    /// each capture runs to the next literal; a literal not found ends the
    /// match with the capture taking the rest.
    pub fn captures<'l>(&self, line: &'l str) -> Vec<(&str, &'l str)> {
        let mut out = Vec::new();
        let mut nodes = &self.nodes[..];
        let mut rest = line;
        if let Some(Node::Literal(l)) = nodes.first() {
            if !rest.starts_with(l.as_str()) {
                return out;
            }
            rest = &rest[l.len()..];
            nodes = &nodes[1..];
        }
        while let Some(Node::Capture(name)) = nodes.first() {
            let Some(Node::Literal(l)) = nodes.get(1) else {
                if let Some(n) = name {
                    out.push((n.as_str(), rest));
                }
                return out;
            };
            nodes = &nodes[2..];
            match rest.find(l.as_str()) {
                None => {
                    if let Some(n) = name {
                        out.push((n.as_str(), rest));
                    }
                    return out;
                }
                Some(i) => {
                    if let Some(n) = name {
                        out.push((n.as_str(), &rest[..i]));
                    }
                    rest = &rest[i + l.len()..];
                }
            }
        }
        out
    }

    /// The `|>` test: every literal appears in order, the first at the
    /// start when the pattern starts with one, the last at the end when it
    /// ends with one.
    pub fn matches(&self, line: &str) -> bool {
        let mut rest = line;
        let last = self.nodes.len() - 1;
        for (i, node) in self.nodes.iter().enumerate() {
            let Node::Literal(l) = node else { continue };
            if i == 0 {
                if !rest.starts_with(l.as_str()) {
                    return false;
                }
                rest = &rest[l.len()..];
            } else if i == last {
                return rest.ends_with(l.as_str());
            } else {
                match rest.find(l.as_str()) {
                    Some(p) => rest = &rest[p + l.len()..],
                    None => return false,
                }
            }
        }
        true
    }
}

fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_') && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_as_loki() {
        let p = Pattern::new(r#"<ip> - - [<_>] "<method> <uri> <_>" <status>"#, true).unwrap();
        let got = p.captures(r#"10.0.0.1 - - [25/Nov/2026] "GET /x HTTP/1.1" 200"#);
        assert_eq!(got, [("ip", "10.0.0.1"), ("method", "GET"), ("uri", "/x"), ("status", "200")]);
        assert!(Pattern::new("<a><b>", true).is_err());
        assert!(Pattern::new("<_> x", true).is_err());
        let f = Pattern::new("<_> error <_>", false).unwrap();
        assert!(f.matches("a error b") && !f.matches("a warn b"));
    }
}
