//! `line_format`/`label_format` templates: the part of Go `text/template`
//! Loki queries use — text, `{{ .label }}`, pipelines `{{ .a | ToUpper }}`,
//! function calls with string/number arguments, `{{if}}…{{else}}…{{end}}`,
//! `{{with}}` (`{{.}}` inside), variables (`{{$x := …}}`, `{{$x = …}}`,
//! scoped to their block; `range` is not supported: it iterates maps and
//! lists, such as `fromJson`'s, which a string-valued template cannot hold),
//! `{{-`/`-}}` trimming — and Loki's string and time functions (listed in
//! [`FUNCTIONS`]; `__timestamp__` is the entry's time). Every value is a
//! string, as every label is; a time is the text Go prints for it.
//!
//! Own code: the `gtmpl` crate was considered, but it evaluates over its own
//! `Value` type and needs a `Context` built per line (a map copy of all
//! labels for every line); this small interpreter reads labels in place.

/// The functions a template may call.
pub const FUNCTIONS: &[&str] = &[
    "ToLower", "ToUpper", "lower", "upper", "title", "trim", "trimSpace", "trimPrefix", "trimSuffix", "trimAll", "replace", "Replace",
    "default", "contains", "hasPrefix", "hasSuffix", "repeat", "substr", "regexReplaceAll", "regexReplaceAllLiteral", "printf", "len",
    "eq", "ne", "lt", "le", "gt", "ge", "and", "or", "not", "add", "sub", "mul", "div", "mod", "alignLeft", "alignRight",
    "__line__", "__timestamp__", "now", "date", "toDate", "unixEpoch", "unixEpochMillis", "unixEpochNanos", "unixToTime",
];

/// Functions without arguments: values in any position of a pipeline.
const NILADIC: &[&str] = &["__line__", "__timestamp__", "now"];

/// What a template renders for: the line and its time.
struct Entry<'a> {
    line: &'a str,
    /// Nanoseconds since the epoch.
    ts: i128,
}

/// A compiled template.
#[derive(Debug, Clone)]
pub struct Template {
    /// The template as written.
    pub source: String,
    nodes: Vec<Node>,
}

impl PartialEq for Template {
    fn eq(&self, other: &Template) -> bool {
        self.source == other.source
    }
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Vec<Command>),
    /// `{{if p}}…{{else}}…{{end}}`; `with`: `{{with p}}` also makes the
    /// value the dot (`{{.}}`) inside.
    If { with: bool, cond: Vec<Command>, then: Vec<Node>, otherwise: Vec<Node> },
    /// `{{$x := p}}` (declares: true) or `{{$x = p}}`: prints nothing.
    Assign(String, bool, Vec<Command>),
}

type Command = Vec<Arg>;

#[derive(Debug, Clone)]
enum Arg {
    /// `.name`.
    Field(String),
    /// `.` alone: the value of the innermost `with` (empty outside).
    Dot,
    /// `$name`.
    Var(String),
    Str(String),
    Func(String),
}

enum Tok {
    Text(String),
    Action(String),
}

impl Template {
    /// Compiles `source`; the error says what is wrong.
    pub fn new(source: &str) -> Result<Template, String> {
        let mut toks = Vec::new();
        let mut rest = source;
        let mut trim_next = false;
        while let Some(open) = rest.find("{{") {
            let mut text = &rest[..open];
            if trim_next {
                text = text.trim_start();
            }
            let after = &rest[open + 2..];
            let (trim_left, inner_start) = if after.starts_with("- ") || after.starts_with("-\t") { (true, 1) } else { (false, 0) };
            if trim_left {
                text = text.trim_end();
            }
            toks.push(Tok::Text(text.to_owned()));
            let close = after.find("}}").ok_or("unclosed action")?;
            let mut inner = &after[inner_start..close];
            trim_next = inner.ends_with(" -") || inner.ends_with("\t-");
            if trim_next {
                inner = &inner[..inner.len() - 1];
            }
            toks.push(Tok::Action(inner.trim().to_owned()));
            rest = &after[close + 2..];
        }
        toks.push(Tok::Text(if trim_next { rest.trim_start() } else { rest }.to_owned()));
        let mut it = toks.into_iter();
        let (nodes, end) = block(&mut it, &mut Vec::new())?;
        if end.is_some() {
            return Err(format!("unexpected {{{{{}}}}}", end.unwrap_or_default()));
        }
        Ok(Template { source: source.to_owned(), nodes })
    }

    /// The labels the template reads.
    pub fn fields(&self) -> Vec<String> {
        fn walk(nodes: &[Node], out: &mut Vec<String>) {
            let pipe = |p: &[Command], out: &mut Vec<String>| {
                out.extend(p.iter().flatten().filter_map(|a| match a {
                    Arg::Field(n) => Some(n.clone()),
                    _ => None,
                }))
            };
            for n in nodes {
                match n {
                    Node::Text(_) => {}
                    Node::Action(p) => pipe(p, out),
                    Node::If { cond, then, otherwise, .. } => {
                        pipe(cond, out);
                        walk(then, out);
                        walk(otherwise, out);
                    }
                    Node::Assign(_, _, p) => pipe(p, out),
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.nodes, &mut out);
        out
    }

    /// Renders with `label` giving values (missing: empty) and `line` as `__line__`.
    /// `ts` (nanoseconds since the epoch) is the entry's time, for `__timestamp__`.
    pub fn render(&self, label: &dyn Fn(&str) -> Option<String>, line: &str, ts: i128) -> String {
        let mut out = String::new();
        render(&self.nodes, &mut Scope { label, entry: Entry { line, ts }, dot: String::new(), vars: Vec::new() }, &mut out);
        out
    }
}

/// Parses nodes up to `{{else}}`/`{{end}}` (returned) or the end.
/// `vars`: the variables declared so far in scope (a block's own end with it).
fn block(it: &mut impl Iterator<Item = Tok>, vars: &mut Vec<String>) -> Result<(Vec<Node>, Option<String>), String> {
    let outer = vars.len();
    let result = block_in_scope(it, vars);
    vars.truncate(outer);
    result
}

fn block_in_scope(it: &mut impl Iterator<Item = Tok>, vars: &mut Vec<String>) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while let Some(tok) = it.next() {
        match tok {
            Tok::Text(t) if t.is_empty() => {}
            Tok::Text(t) => nodes.push(Node::Text(t)),
            Tok::Action(a) if a == "end" || a == "else" => return Ok((nodes, Some(a))),
            Tok::Action(a) if a.starts_with("/*") => {}
            Tok::Action(a) => {
                let control = a.strip_prefix("if ").map(|c| (false, c)).or_else(|| a.strip_prefix("with ").map(|c| (true, c)));
                if let Some((with, cond)) = control {
                    let cond = pipeline(cond)?;
                    let (then, end) = block(it, vars)?;
                    let otherwise = match end.as_deref() {
                        Some("else") => {
                            let (o, end) = block(it, vars)?;
                            if end.as_deref() != Some("end") {
                                return Err("missing {{end}}".into());
                            }
                            o
                        }
                        Some("end") => Vec::new(),
                        _ => return Err("missing {{end}}".into()),
                    };
                    nodes.push(Node::If { with, cond, then, otherwise });
                } else if let Some((name, declare, value)) = assignment(&a) {
                    if declare {
                        vars.push(name.to_owned());
                    } else if !vars.iter().any(|v| v == name) {
                        return Err(format!("undefined variable \"${name}\""));
                    }
                    nodes.push(Node::Assign(name.to_owned(), declare, pipeline(value)?));
                } else {
                    nodes.push(Node::Action(pipeline(&a)?));
                }
            }
        }
    }
    Ok((nodes, None))
}

/// `$x := p` → `("x", true, "p")`; `$x = p` → `("x", false, "p")`.
fn assignment(action: &str) -> Option<(&str, bool, &str)> {
    let rest = action.strip_prefix('$')?;
    let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    let (name, after) = rest.split_at(end);
    let after = after.trim_start();
    if let Some(v) = after.strip_prefix(":=") {
        Some((name, true, v))
    } else {
        after.strip_prefix('=').filter(|v| !v.starts_with('=')).map(|v| (name, false, v))
    }
}

fn pipeline(text: &str) -> Result<Vec<Command>, String> {
    let mut commands = vec![Vec::new()];
    let mut rest = text.trim();
    while !rest.is_empty() {
        let c = rest.as_bytes()[0];
        if c == b'|' {
            commands.push(Vec::new());
            rest = rest[1..].trim_start();
            continue;
        }
        let arg = if c == b'"' || c == b'`' {
            let (s, len) = crate::parse::unquote(rest).map_err(|e| e.to_string())?;
            rest = &rest[len..];
            Arg::Str(s)
        } else {
            let end = rest.find([' ', '\t', '|']).unwrap_or(rest.len());
            let word = &rest[..end];
            rest = &rest[end..];
            if word == "." {
                Arg::Dot
            } else if let Some(name) = word.strip_prefix('$') {
                Arg::Var(name.to_owned())
            } else if let Some(name) = word.strip_prefix('.') {
                Arg::Field(name.to_owned())
            } else if word.parse::<f64>().is_ok() {
                Arg::Str(word.to_owned())
            } else if FUNCTIONS.contains(&word) {
                Arg::Func(word.to_owned())
            } else {
                return Err(format!("function {word:?} not defined"));
            }
        };
        commands.last_mut().ok_or("empty pipeline")?.push(arg);
        rest = rest.trim_start();
    }
    if commands.iter().any(Vec::is_empty) {
        return Err("missing value for command".into());
    }
    Ok(commands)
}

/// What a template sees while rendering.
struct Scope<'a> {
    label: &'a dyn Fn(&str) -> Option<String>,
    entry: Entry<'a>,
    /// The dot of the innermost `with`.
    dot: String,
    /// Variables in scope, innermost last.
    vars: Vec<(String, String)>,
}

fn render(nodes: &[Node], scope: &mut Scope<'_>, out: &mut String) {
    // Variables declared in a block go out of scope at its end, as in Go.
    let outer = scope.vars.len();
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&run(p, scope)),
            Node::If { with, cond, then, otherwise } => {
                let v = run(cond, scope);
                if !truthy(&v) {
                    render(otherwise, scope, out);
                } else if *with {
                    let outer_dot = std::mem::replace(&mut scope.dot, v);
                    render(then, scope, out);
                    scope.dot = outer_dot;
                } else {
                    render(then, scope, out);
                }
            }
            Node::Assign(name, declare, p) => {
                let v = run(p, scope);
                match scope.vars.iter_mut().rev().find(|(n, _)| n == name).filter(|_| !declare) {
                    Some(slot) => slot.1 = v,
                    None => scope.vars.push((name.clone(), v)),
                }
            }
        }
    }
    scope.vars.truncate(outer);
}

fn truthy(v: &str) -> bool {
    !v.is_empty() && v != "false" && v != "0"
}

fn now_ns() -> i128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128)
}

fn run(p: &[Command], scope: &Scope<'_>) -> String {
    let mut prev: Option<String> = None;
    for cmd in p {
        let value = |a: &Arg| match a {
            Arg::Field(n) => (scope.label)(n).unwrap_or_default(),
            Arg::Dot => scope.dot.clone(),
            Arg::Var(n) => scope.vars.iter().rev().find(|(v, _)| v == n).map(|(_, v)| v.clone()).unwrap_or_default(),
            Arg::Str(s) => s.clone(),
            Arg::Func(f) if f == "__line__" => scope.entry.line.to_owned(),
            Arg::Func(f) if f == "__timestamp__" => crate::gotime::to_value(scope.entry.ts),
            Arg::Func(f) if f == "now" => crate::gotime::to_value(now_ns()),
            Arg::Func(_) => String::new(),
        };
        let result = match &cmd[0] {
            Arg::Func(f) if !NILADIC.contains(&f.as_str()) => {
                let mut args: Vec<String> = cmd[1..].iter().map(value).collect();
                args.extend(prev.take());
                call(f, &args)
            }
            first => value(first),
        };
        prev = Some(result);
    }
    prev.unwrap_or_default()
}

fn num(s: &str) -> f64 {
    s.trim().parse().unwrap_or(0.0)
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

fn call(f: &str, a: &[String]) -> String {
    let arg = |i: usize| a.get(i).map(String::as_str).unwrap_or("");
    let last = a.last().map(String::as_str).unwrap_or("");
    let b = |x: bool| x.to_string();
    match f {
        "ToLower" | "lower" => last.to_lowercase(),
        "ToUpper" | "upper" => last.to_uppercase(),
        "title" => last
            .split(' ')
            .map(|w| {
                let mut c = w.chars();
                c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
            })
            .collect::<Vec<String>>()
            .join(" "),
        "trim" | "trimSpace" => last.trim().to_owned(),
        "trimPrefix" => last.strip_prefix(arg(0)).unwrap_or(last).to_owned(),
        "trimSuffix" => last.strip_suffix(arg(0)).unwrap_or(last).to_owned(),
        "trimAll" => last.trim_matches(|c| arg(0).contains(c)).to_owned(),
        "replace" => last.replace(arg(0), arg(1)),
        "Replace" => {
            let n = num(arg(3));
            if n < 0.0 {
                arg(0).replace(arg(1), arg(2))
            } else {
                arg(0).replacen(arg(1), arg(2), n as usize)
            }
        }
        "default" => {
            if a.len() < 2 || last.is_empty() {
                arg(0).to_owned()
            } else {
                last.to_owned()
            }
        }
        "contains" => b(last.contains(arg(0))),
        "hasPrefix" => b(last.starts_with(arg(0))),
        "hasSuffix" => b(last.ends_with(arg(0))),
        "repeat" => last.repeat(num(arg(0)).max(0.0) as usize),
        "substr" => {
            let chars: Vec<char> = last.chars().collect();
            let start = (num(arg(0)).max(0.0) as usize).min(chars.len());
            let end = if num(arg(1)) < 0.0 { chars.len() } else { (num(arg(1)) as usize).min(chars.len()) };
            chars[start..end.max(start)].iter().collect()
        }
        "regexReplaceAll" | "regexReplaceAllLiteral" => match regex::Regex::new(&crate::parse::go_regex(arg(0))) {
            Ok(re) if f == "regexReplaceAll" => re.replace_all(arg(1), arg(2)).into_owned(),
            Ok(re) => re.replace_all(arg(1), regex::NoExpand(arg(2))).into_owned(),
            Err(_) => String::new(),
        },
        "printf" => {
            let mut out = String::new();
            let mut args = a[1.min(a.len())..].iter();
            let mut chars = arg(0).chars().peekable();
            while let Some(c) = chars.next() {
                if c != '%' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('%') => out.push('%'),
                    Some('d') => out.push_str(&fmt_num(num(args.next().map(String::as_str).unwrap_or("")).trunc())),
                    Some(_) => out.push_str(args.next().map(String::as_str).unwrap_or("%!v(MISSING)")),
                    None => out.push('%'),
                }
            }
            out
        }
        "len" => last.chars().count().to_string(),
        "eq" => b(arg(0) == arg(1)),
        "ne" => b(arg(0) != arg(1)),
        "lt" | "le" | "gt" | "ge" => {
            let (x, y) = (arg(0), arg(1));
            let ord = match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(p), Ok(q)) => p.partial_cmp(&q).unwrap_or(std::cmp::Ordering::Equal),
                _ => x.cmp(y),
            };
            b(match f {
                "lt" => ord.is_lt(),
                "le" => ord.is_le(),
                "gt" => ord.is_gt(),
                _ => ord.is_ge(),
            })
        }
        "and" => a.iter().find(|v| !truthy(v)).unwrap_or(&last.to_owned()).clone(),
        "or" => a.iter().find(|v| truthy(v)).unwrap_or(&last.to_owned()).clone(),
        "not" => b(!truthy(last)),
        "add" => fmt_num(a.iter().map(|v| num(v)).sum()),
        "sub" => fmt_num(num(arg(0)) - num(arg(1))),
        "mul" => fmt_num(a.iter().map(|v| num(v)).product()),
        "div" if num(arg(1)) != 0.0 => fmt_num((num(arg(0)) / num(arg(1))).trunc()),
        "mod" if num(arg(1)) != 0.0 => fmt_num(num(arg(0)) % num(arg(1))),
        "alignLeft" | "alignRight" => {
            let n = num(arg(0)).max(0.0) as usize;
            let chars: Vec<char> = last.chars().collect();
            if chars.len() >= n {
                chars[..n].iter().collect()
            } else if f == "alignLeft" {
                format!("{last:<n$}")
            } else {
                format!("{last:>n$}")
            }
        }
        // Times travel as Go prints them (see `gotime`); Sprig's `date`
        // formats the current time when given something else.
        "date" => crate::gotime::format(crate::gotime::from_value(arg(1)).unwrap_or_else(now_ns), arg(0)),
        // Go's zero time when the text does not fit the layout.
        "toDate" => crate::gotime::to_value(crate::gotime::parse(arg(0), arg(1)).unwrap_or(-62_135_596_800_000_000_000)),
        "unixEpoch" | "unixEpochMillis" | "unixEpochNanos" => match crate::gotime::from_value(last) {
            Some(t) => match f {
                "unixEpoch" => t.div_euclid(1_000_000_000),
                "unixEpochMillis" => t.div_euclid(1_000_000),
                _ => t,
            }
            .to_string(),
            None => String::new(),
        },
        // Loki reads the unit from the number of digits: days, seconds,
        // milliseconds, microseconds or nanoseconds.
        "unixToTime" => {
            let scale: Option<i128> = match last.len() {
                5 => Some(86_400_000_000_000),
                10 => Some(1_000_000_000),
                13 => Some(1_000_000),
                16 => Some(1_000),
                19 => Some(1),
                _ => None,
            };
            match (scale, last.parse::<i64>()) {
                (Some(s), Ok(n)) => crate::gotime::to_value(i128::from(n) * s),
                _ => String::new(),
            }
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn render_map(t: &Template, labels: &BTreeMap<String, String>, line: &str) -> String {
        t.render(&|n| labels.get(n).cloned(), line, 1_795_629_845_120_000_000)
    }

    #[test]
    fn go_template_subset() {
        let labels: BTreeMap<String, String> =
            [("a", "Hello"), ("n", "3"), ("e", "")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let r = |s: &str| render_map(&Template::new(s).unwrap(), &labels, "the line");
        assert_eq!(r("{{.a}} {{ .a | ToUpper }} {{ ToLower .a }}"), "Hello HELLO hello");
        assert_eq!(r(r#"{{ .e | default "none" }}|{{ if .e }}y{{ else }}n{{ end }}"#), "none|n");
        assert_eq!(r(r#"{{ printf "%s=%d" .a .n }} {{ __line__ | replace "line" "row" }}"#), "Hello=3 the row");
        assert_eq!(r("x  {{- .a -}}  y"), "xHelloy");
        assert!(Template::new("{{ nope .a }}").is_err());
        assert!(Template::new("{{ if .a }}x").is_err());
        assert_eq!(r(r#"{{ __timestamp__ | date "15:04:05.000" }} {{ __timestamp__ | unixEpochMillis }}"#), "18:04:05.120 1795629845120");
        assert_eq!(r(r#"{{ toDate "2006-01-02" "2026-11-25" | unixEpoch }} {{ unixToTime "1795629845" }}"#), "1795564800 2026-11-25 18:04:05 +0000 UTC");
        // `with` sets the dot; variables are scoped to their block.
        assert_eq!(r(r#"{{ with .a }}[{{ . }}]{{ else }}none{{ end }} {{ with .e }}x{{ else }}none{{ end }}"#), "[Hello] none");
        assert_eq!(r(r#"{{ $x := .a | ToUpper }}{{ if .n }}{{ $x = "in" }}{{ $y := 1 }}{{ end }}{{ $x }}{{ $y }}"#), "in");
        assert_eq!(r(r#"{{ $n := .n }}{{ with .a }}{{ $n }}{{ . }}{{ end }}"#), "3Hello");
        assert!(Template::new("{{ $z = 1 }}").is_err());
    }
}
