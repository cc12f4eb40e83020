//! `line_format`/`label_format` templates: Go's `text/template` as Loki runs
//! it — the language (pipelines, parenthesised calls, `if`/`else if`/`with`/
//! `range` with `else`, `break`/`continue`, variables with Go's scoping,
//! `{{-`/`-}}` trimming, comments, `define`/`template`/`block`) over typed
//! values (strings, Go's `int`/`int64`/`float64`, bools, times, and the
//! maps and lists `fromJson` gives), with Go's type checks, and the
//! function set Loki registers (see [`crate::template_fns`]).
//!
//! The data is the line's label map, read with `missingkey=zero`: a missing
//! label is `""`. Executing may fail as in Go (a wrong argument type,
//! `div` by zero, a bad comparison); [`Template::render`] then returns Go's
//! message, and the evaluator flags the line `TemplateFormatErr` as Loki does.
//!
//! Own code: the `gtmpl` crate was considered, but it evaluates over its own
//! `Value` type and needs a `Context` built per line (a map copy of all
//! labels for every line), and has neither Go's typed function arguments
//! nor Loki's functions; this interpreter reads labels in place.

use crate::eval::Labels;
use crate::unquote::{Rules, UnquoteError};
use crate::template_fns::{self, Ty, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;

pub use crate::template_fns::FUNCTIONS;

/// Nesting bound for control structures and parentheses: a template is
/// parsed recursively, and a pathological one must fail, not overflow.
const MAX_NESTING: usize = 200;

/// A compiled template.
#[derive(Debug, Clone)]
pub struct Template {
    /// The template as written.
    pub source: String,
    root: Vec<Node>,
    /// `{{define}}`d templates by name.
    defined: BTreeMap<String, Vec<Node>>,
}

impl PartialEq for Template {
    fn eq(&self, other: &Template) -> bool {
        self.source == other.source
    }
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipe),
    /// `if`, `with` (`with: true`: the value becomes the dot), with their `else` lists.
    If { with: bool, pipe: Pipe, list: Vec<Node>, else_list: Vec<Node> },
    Range { pipe: Pipe, list: Vec<Node>, else_list: Vec<Node> },
    Break,
    Continue,
    /// `{{template "name" pipeline}}`.
    Call { pos: usize, name: String, pipe: Option<Pipe> },
}

#[derive(Debug, Clone)]
struct Pipe {
    /// Declared (`:=`) or assigned (`=`) variables, with the `$`.
    decl: Vec<String>,
    assign: bool,
    cmds: Vec<Cmd>,
}

#[derive(Debug, Clone)]
struct Cmd {
    pos: usize,
    /// The command as written: Go names the failing command in its errors.
    text: String,
    args: Vec<Arg>,
}

#[derive(Debug, Clone)]
struct Arg {
    pos: usize,
    text: String,
    term: Term,
    /// Fields read from the term's value: `.a.b` is `Dot` with `[a, b]`.
    chain: Vec<String>,
}

#[derive(Debug, Clone)]
enum Term {
    Dot,
    Var(String),
    Func(String),
    Str(String),
    Num(Num),
    Bool(bool),
    Nil,
    Pipe(Box<Pipe>),
}

/// A number constant: Go's untyped constants become `int` or `float64`
/// depending on where they are used.
#[derive(Debug, Clone)]
pub(crate) struct Num {
    text: String,
    int: Option<i64>,
    float: Option<f64>,
}

// ---------------------------------------------------------------- lexing

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Field(String),
    Dot,
    Var(String),
    Str(String),
    /// A number or character constant (its text, and the value of a character).
    Num(String, Option<i64>),
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: usize,
    end: usize,
}

/// A piece of the source: text, or one action's tokens.
enum Item {
    Text(String),
    Action { pos: usize, toks: Vec<Token> },
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// A parse error in Go's words: `template: line:3: …`.
fn perr(src: &str, pos: usize, msg: impl std::fmt::Display) -> String {
    let line = 1 + src[..pos.min(src.len())].matches('\n').count();
    format!("template: line:{line}: {msg}")
}

fn lex(src: &str) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    let mut at = 0;
    let mut trim_next = false;
    while at <= src.len() {
        let rest = &src[at..];
        let open = rest.find("{{");
        let mut text = &rest[..open.unwrap_or(rest.len())];
        if trim_next {
            text = text.trim_start_matches(is_space);
        }
        let Some(open) = open else {
            items.push(Item::Text(text.to_owned()));
            break;
        };
        let mut start = at + open + 2;
        let after = &src[start..];
        // `{{- ` trims the text before (the dash must be followed by a space).
        if after.starts_with('-') && after[1..].starts_with(is_space) {
            text = text.trim_end_matches(is_space);
            start += 1;
        }
        items.push(Item::Text(text.to_owned()));
        let (toks, end, trim) = lex_action(src, start)?;
        trim_next = trim;
        items.push(Item::Action { pos: at + open, toks });
        at = end;
    }
    Ok(items)
}

/// Lexes one action from `start` (just inside `{{`): its tokens, where
/// the text after `}}` starts, and whether it ends with ` -}}`.
fn lex_action(src: &str, start: usize) -> Result<(Vec<Token>, usize, bool), String> {
    let b = src.as_bytes();
    let mut i = start;
    let mut toks = Vec::new();
    // A comment is the whole action: `{{/* … */}}`.
    let body = src[i..].trim_start_matches(is_space);
    if body.starts_with("/*") {
        let c = i + (src[i..].len() - body.len());
        let close = src[c..].find("*/").ok_or_else(|| perr(src, c, "unclosed comment"))? + c + 2;
        let tail = &src[close..];
        if let Some(r) = tail.strip_prefix("}}") {
            return Ok((toks, src.len() - r.len(), false));
        }
        if tail.starts_with(" -}}") || tail.starts_with("\t-}}") || tail.starts_with("\n-}}") || tail.starts_with("\r-}}") {
            return Ok((toks, close + 4, true));
        }
        return Err(perr(src, c, "comment ends before closing delimiter"));
    }
    let mut depth = 0usize;
    loop {
        if i >= b.len() {
            return Err(perr(src, start, "unclosed action"));
        }
        let c = src[i..].chars().next().unwrap_or(' ');
        if src[i..].starts_with("}}") {
            if depth > 0 {
                return Err(perr(src, i, "unclosed left paren"));
            }
            return Ok((toks, i + 2, false));
        }
        if is_space(c) {
            let ws_end = i + src[i..].find(|c: char| !is_space(c)).unwrap_or(src.len() - i);
            if src[ws_end..].starts_with("-}}") {
                if depth > 0 {
                    return Err(perr(src, i, "unclosed left paren"));
                }
                return Ok((toks, ws_end + 3, true));
            }
            i = ws_end;
            continue;
        }
        let pos = i;
        let tok = match c {
            '(' => {
                depth += 1;
                i += 1;
                Tok::LParen
            }
            ')' => {
                depth = depth.checked_sub(1).ok_or_else(|| perr(src, i, "unexpected right paren"))?;
                i += 1;
                Tok::RParen
            }
            '|' => {
                i += 1;
                Tok::Pipe
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '=' => {
                i += 1;
                Tok::Assign
            }
            ':' => {
                if !src[i..].starts_with(":=") {
                    return Err(perr(src, i, "expected :="));
                }
                i += 2;
                Tok::Declare
            }
            '"' | '`' => {
                let (s, len) = unquote(&src[i..]).map_err(|m| perr(src, i, m))?;
                i += len;
                Tok::Str(s)
            }
            '\'' => {
                let (ch, len) = char_constant(&src[i..]).map_err(|m| perr(src, i, m))?;
                i += len;
                Tok::Num(src[pos..i].to_owned(), Some(i64::from(u32::from(ch))))
            }
            '$' => {
                i += 1 + word_len(&src[i + 1..]);
                Tok::Var(src[pos..i].to_owned())
            }
            '.' if src[i + 1..].starts_with(|c: char| c.is_ascii_digit()) => {
                i += number_len(&src[i..]);
                Tok::Num(src[pos..i].to_owned(), None)
            }
            '.' => {
                let n = word_len(&src[i + 1..]);
                i += 1 + n;
                if n == 0 {
                    Tok::Dot
                } else {
                    Tok::Field(src[pos + 1..i].to_owned())
                }
            }
            '+' | '-' | '0'..='9' => {
                let n = number_len(&src[i..]);
                if n == 0 || (n == 1 && !c.is_ascii_digit()) {
                    return Err(perr(src, i, format!("bad character {c:?}")));
                }
                i += n;
                Tok::Num(src[pos..i].to_owned(), None)
            }
            c if c.is_alphabetic() || c == '_' => {
                i += word_len(&src[i..]);
                Tok::Ident(src[pos..i].to_owned())
            }
            c => return Err(perr(src, i, format!("unexpected {c:?} in command"))),
        };
        // Go separates terms from what follows: `.a.b` and `$x.y` are chains,
        // but `"a"x` is an error.
        if let Some(c) = src[i..].chars().next().filter(|c| matches!(tok, Tok::Str(_) | Tok::Num(..)) && (c.is_alphanumeric() || *c == '_' || *c == '.')) {
            return Err(perr(src, pos, format!("bad number syntax: {:?}", &src[pos..i + c.len_utf8()])));
        }
        toks.push(Token { tok, pos, end: i });
    }
}

fn word_len(s: &str) -> usize {
    s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len())
}

fn number_len(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let hex = b[i..].starts_with(b"0x") || b[i..].starts_with(b"0X");
    if hex || b[i..].starts_with(b"0o") || b[i..].starts_with(b"0b") {
        i += 2;
    }
    while i < b.len() {
        let c = b[i];
        let ok = c.is_ascii_digit()
            || c == b'_'
            || c == b'.'
            || (hex && c.is_ascii_hexdigit())
            || (!hex && (c == b'e' || c == b'E'))
            || (hex && (c == b'p' || c == b'P'))
            || ((c == b'+' || c == b'-') && i > 0 && matches!(b[i - 1], b'e' | b'E' | b'p' | b'P'));
        if !ok {
            break;
        }
        i += 1;
    }
    i
}

/// A Go string literal at the start of `s` (`"…"` with Go's escapes, or
/// `` `raw` ``), read as text/template does: its value and length; errors
/// in text/template's words.
pub(crate) fn unquote(s: &str) -> Result<(String, usize), String> {
    crate::unquote::unquote(s, Rules::Go).map_err(|e| {
        match e {
            UnquoteError::Unterminated { raw: true, .. } => "unterminated raw quoted string",
            UnquoteError::Unterminated { raw: false, .. } => "unterminated quoted string",
            UnquoteError::BadEscape { .. } | UnquoteError::Syntax { .. } => "invalid syntax",
        }
        .to_owned()
    })
}

/// A Go character constant (`'a'`, `'\n'`) at the start of `s`.
fn char_constant(s: &str) -> Result<(char, usize), String> {
    let end = s[1..].find('\'').ok_or("unterminated character constant")? + 1;
    let inner = &s[1..end];
    let (text, _) = unquote(&format!("\"{}\"", inner.replace("\\'", "'")))?;
    let mut it = text.chars();
    match (it.next(), it.next()) {
        (Some(c), None) => Ok((c, end + 1)),
        _ => Err(format!("malformed character constant: {}", &s[..=end])),
    }
}

// ---------------------------------------------------------------- parsing

struct Parser<'s> {
    src: &'s str,
    items: std::vec::IntoIter<Item>,
    /// Variables in scope, innermost last (`$` is always there).
    vars: Vec<String>,
    defined: BTreeMap<String, Vec<Node>>,
    range_depth: usize,
    depth: usize,
}

/// How a list ended: `{{end}}`, `{{else}}` (with what follows `else`), or the source's end.
enum End {
    Eof,
    /// `{{end}}` at this position.
    At(usize),
    Else(usize, Vec<Token>),
}

impl Template {
    /// Compiles `source`; the error says what is wrong, in Go's words.
    pub fn new(source: &str) -> Result<Template, String> {
        let items = lex(source)?;
        let mut p = Parser { src: source, items: items.into_iter(), vars: vec!["$".into()], defined: BTreeMap::new(), range_depth: 0, depth: 0 };
        let (root, end) = p.list()?;
        match end {
            End::Eof => {}
            End::At(pos) => return Err(perr(source, pos, "unexpected {{end}}")),
            End::Else(pos, _) => return Err(perr(source, pos, "unexpected {{else}}")),
        }
        Ok(Template { source: source.to_owned(), root, defined: p.defined })
    }

    /// The labels the template reads; `None` when it may read any (it
    /// uses the whole map: `{{ . }}`, `$`, `range .`, `index . "x"`).
    pub fn fields(&self) -> Option<Vec<String>> {
        let mut out = Vec::new();
        let mut all = false;
        for list in std::iter::once(&self.root).chain(self.defined.values()) {
            fields_of(list, &mut out, &mut all);
        }
        (!all).then_some(out)
    }

    /// Renders with `labels` as the data, `line` as `__line__` and `ts`
    /// (nanoseconds since the epoch) as `__timestamp__`. The error is Go's
    /// execution error (`template: line:1:3: executing "line" at <…>: …`),
    /// naming the template `name` (Loki's are `line` and `label`).
    pub fn render(&self, name: &str, labels: &Labels, line: &str, ts: i128) -> Result<String, String> {
        let mut ex = Exec { t: self, ctx: template_fns::Context { line, ts }, vars: vec![("$", Value::Labels(labels))], out: String::new(), depth: 0 };
        match ex.list(&self.root, &Value::Labels(labels)) {
            Ok(_) => Ok(ex.out),
            Err(e) => Err(e.message(name, &self.source)),
        }
    }
}

fn fields_of(nodes: &[Node], out: &mut Vec<String>, all: &mut bool) {
    fn pipe(p: &Pipe, out: &mut Vec<String>, all: &mut bool) {
        for cmd in &p.cmds {
            for a in &cmd.args {
                match &a.term {
                    // `.a` on the root reads label `a`; a bare `.` or `$` may read any.
                    Term::Dot | Term::Var(_) if a.chain.is_empty() => *all = true,
                    Term::Var(v) if v == "$" => out.push(a.chain[0].clone()),
                    Term::Dot => out.push(a.chain[0].clone()),
                    Term::Pipe(p) => pipe(p, out, all),
                    _ => {}
                }
            }
        }
    }
    for n in nodes {
        match n {
            Node::Text(_) | Node::Break | Node::Continue => {}
            Node::Action(p) => pipe(p, out, all),
            Node::If { pipe: p, list, else_list, .. } | Node::Range { pipe: p, list, else_list } => {
                pipe(p, out, all);
                fields_of(list, out, all);
                fields_of(else_list, out, all);
            }
            Node::Call { pipe: Some(p), .. } => pipe(p, out, all),
            Node::Call { pipe: None, .. } => {}
        }
    }
}

impl Parser<'_> {
    fn err(&self, pos: usize, msg: impl std::fmt::Display) -> String {
        perr(self.src, pos, msg)
    }

    /// Nodes up to `{{end}}`, `{{else…}}` or the end of the source.
    fn list(&mut self) -> Result<(Vec<Node>, End), String> {
        let mut nodes = Vec::new();
        while let Some(item) = self.items.next() {
            let (pos, toks) = match item {
                Item::Text(t) if t.is_empty() => continue,
                Item::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Item::Action { toks, .. } if toks.is_empty() => continue, // a comment
                Item::Action { pos, toks, .. } => (pos, toks),
            };
            let keyword = match &toks[0].tok {
                Tok::Ident(w) => w.as_str(),
                _ => "",
            };
            match keyword {
                "end" => {
                    if toks.len() > 1 {
                        return Err(self.err(pos, "unexpected token in end"));
                    }
                    return Ok((nodes, End::At(pos)));
                }
                "else" => return Ok((nodes, End::Else(pos, toks[1..].to_vec()))),
                "if" | "with" | "range" => nodes.push(self.control(keyword, pos, &toks[1..])?),
                "break" | "continue" => {
                    if self.range_depth == 0 {
                        return Err(self.err(pos, format!("{{{{{keyword}}}}} outside {{{{range}}}}")));
                    }
                    if toks.len() > 1 {
                        return Err(self.err(pos, format!("unexpected token in {{{{{keyword}}}}}")));
                    }
                    nodes.push(if keyword == "break" { Node::Break } else { Node::Continue });
                }
                "define" | "block" => {
                    let name = match toks.get(1).map(|t| &t.tok) {
                        Some(Tok::Str(s)) => s.clone(),
                        _ => return Err(self.err(pos, format!("unexpected token in {keyword} clause"))),
                    };
                    let pipe = if keyword == "block" { Some(self.pipe(pos, &toks[2..], false)?) } else { None };
                    let outer = std::mem::replace(&mut self.vars, vec!["$".into()]);
                    let (body, end) = self.nested_list()?;
                    self.vars = outer;
                    if !matches!(end, End::At(_)) {
                        return Err(self.err(pos, "unexpected EOF"));
                    }
                    self.defined.insert(name.clone(), body);
                    if keyword == "block" {
                        nodes.push(Node::Call { pos, name, pipe });
                    }
                }
                "template" => {
                    let name = match toks.get(1).map(|t| &t.tok) {
                        Some(Tok::Str(s)) => s.clone(),
                        _ => return Err(self.err(pos, "unexpected token in template clause")),
                    };
                    let pipe = if toks.len() > 2 { Some(self.pipe(pos, &toks[2..], false)?) } else { None };
                    nodes.push(Node::Call { pos, name, pipe });
                }
                _ => nodes.push(Node::Action(self.pipe(pos, &toks, false)?)),
            }
        }
        Ok((nodes, End::Eof))
    }

    fn nested_list(&mut self) -> Result<(Vec<Node>, End), String> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.err(self.src.len(), "template nested too deeply"));
        }
        let r = self.list();
        self.depth -= 1;
        r
    }

    /// `if`/`with`/`range` after the keyword, through its `{{end}}`
    /// (`{{else if …}}` nests another `if` in the else list).
    fn control(&mut self, keyword: &str, pos: usize, toks: &[Token]) -> Result<Node, String> {
        // `{{else if}}` chains recurse here too.
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.err(pos, "template nested too deeply"));
        }
        let node = self.control_body(keyword, pos, toks);
        self.depth -= 1;
        node
    }

    fn control_body(&mut self, keyword: &str, pos: usize, toks: &[Token]) -> Result<Node, String> {
        let mark = self.vars.len();
        let pipe = self.pipe(pos, toks, keyword == "range")?;
        if keyword == "range" {
            self.range_depth += 1;
        }
        let (list, end) = self.nested_list()?;
        if keyword == "range" {
            self.range_depth -= 1;
        }
        let else_list = match end {
            End::Eof => return Err(self.err(self.src.len(), "unexpected EOF")),
            End::At(_) => Vec::new(),
            End::Else(epos, rest) if rest.is_empty() => {
                let (else_list, end) = self.nested_list()?;
                match end {
                    End::At(_) => else_list,
                    End::Else(p, _) => return Err(self.err(p, "expected end; found {{else}}")),
                    End::Eof => return Err(self.err(epos, "unexpected EOF")),
                }
            }
            // `{{else if p}}` / `{{else with p}}`: the chain shares the one `{{end}}`.
            End::Else(epos, rest) => match &rest[0].tok {
                Tok::Ident(k) if (k == "if" || k == "with") && keyword != "range" => {
                    let k = k.clone();
                    vec![self.control(&k, epos, &rest[1..])?]
                }
                _ => return Err(self.err(epos, "unexpected token in else")),
            },
        };
        self.vars.truncate(mark);
        Ok(match keyword {
            "range" => Node::Range { pipe, list, else_list },
            k => Node::If { with: k == "with", pipe, list, else_list },
        })
    }

    /// A pipeline, with its declaration (`$x :=`, `$i, $e :=` in `range`, `$x =`).
    fn pipe(&mut self, pos: usize, toks: &[Token], in_range: bool) -> Result<Pipe, String> {
        let mut decl = Vec::new();
        let mut assign = false;
        let mut rest = toks;
        // `$x :=` / `$x =` / `$i, $e :=`.
        if let Some(Tok::Var(v)) = rest.first().map(|t| &t.tok) {
            match rest.get(1).map(|t| &t.tok) {
                Some(Tok::Declare) | Some(Tok::Assign) => {
                    assign = rest[1].tok == Tok::Assign;
                    decl.push(v.clone());
                    rest = &rest[2..];
                }
                Some(Tok::Comma) if in_range => match (rest.get(2).map(|t| &t.tok), rest.get(3).map(|t| &t.tok)) {
                    (Some(Tok::Var(w)), Some(Tok::Declare | Tok::Assign)) => {
                        assign = rest[3].tok == Tok::Assign;
                        decl.extend([v.clone(), w.clone()]);
                        rest = &rest[4..];
                    }
                    _ => return Err(self.err(pos, "range can only initialize variables")),
                },
                Some(Tok::Comma) => return Err(self.err(pos, "too many declarations in command")),
                _ => {}
            }
        }
        for v in &decl {
            if assign {
                if !self.vars.contains(v) {
                    return Err(self.err(pos, format!("undefined variable {v:?}")));
                }
            } else {
                self.vars.push(v.clone());
            }
        }
        let (cmds, used) = self.cmds(pos, rest)?;
        if used != rest.len() {
            return Err(self.err(rest[used].pos, "unexpected right paren"));
        }
        if cmds.is_empty() {
            return Err(self.err(pos, "missing value for command"));
        }
        Ok(Pipe { decl, assign, cmds })
    }

    /// Commands separated by `|`, up to an unmatched `)` or the end; how many tokens they used.
    fn cmds(&mut self, pos: usize, toks: &[Token]) -> Result<(Vec<Cmd>, usize), String> {
        let mut cmds = Vec::new();
        let mut i = 0;
        loop {
            let start = i;
            let mut args = Vec::new();
            while i < toks.len() && !matches!(toks[i].tok, Tok::Pipe | Tok::RParen) {
                let (arg, used) = self.operand(&toks[i..])?;
                args.push(arg);
                i += used;
            }
            if args.is_empty() {
                if i < toks.len() || !cmds.is_empty() {
                    return Err(self.err(toks.get(i).map_or(pos, |t| t.pos), "missing value for command"));
                }
                return Ok((cmds, i));
            }
            let (p0, p1) = (toks[start].pos, toks[i - 1].end);
            // Only the first command may be a plain value: later ones receive the piped value.
            if !cmds.is_empty() && !matches!(args[0].term, Term::Func(_)) && args[0].chain.is_empty() {
                return Err(self.err(p0, format!("non executable command in pipeline stage {}", cmds.len() + 1)));
            }
            cmds.push(Cmd { pos: p0, text: self.src[p0..p1].to_owned(), args });
            if i < toks.len() && toks[i].tok == Tok::Pipe {
                i += 1;
                continue;
            }
            return Ok((cmds, i));
        }
    }

    /// One operand and the fields chained to it; how many tokens it used.
    fn operand(&mut self, toks: &[Token]) -> Result<(Arg, usize), String> {
        let t = &toks[0];
        let mut used = 1;
        let mut chain = Vec::new();
        let term = match &t.tok {
            Tok::Dot => Term::Dot,
            Tok::Field(f) => {
                chain.push(f.clone());
                Term::Dot
            }
            Tok::Var(v) => {
                if !self.vars.contains(v) {
                    return Err(self.err(t.pos, format!("undefined variable {v:?}")));
                }
                Term::Var(v.clone())
            }
            Tok::Str(s) => Term::Str(s.clone()),
            Tok::Num(text, ch) => Term::Num(number(text, *ch).ok_or_else(|| self.err(t.pos, format!("bad number syntax: {text:?}")))?),
            Tok::Ident(w) => match w.as_str() {
                "true" | "false" => Term::Bool(w == "true"),
                "nil" => Term::Nil,
                w if template_fns::signature(w).is_some() => Term::Func(w.to_owned()),
                w => return Err(self.err(t.pos, format!("function {w:?} not defined"))),
            },
            Tok::LParen => {
                self.depth += 1;
                if self.depth > MAX_NESTING {
                    return Err(self.err(t.pos, "template nested too deeply"));
                }
                let (cmds, n) = self.cmds(t.pos, &toks[1..])?;
                self.depth -= 1;
                if toks.get(1 + n).map(|t| &t.tok) != Some(&Tok::RParen) {
                    return Err(self.err(t.pos, "unclosed left paren"));
                }
                if cmds.is_empty() {
                    return Err(self.err(t.pos, "missing value for parenthesized pipeline"));
                }
                used = n + 2;
                Term::Pipe(Box::new(Pipe { decl: Vec::new(), assign: false, cmds }))
            }
            Tok::RParen | Tok::Pipe => return Err(self.err(t.pos, "missing value for command")),
            Tok::Declare | Tok::Assign | Tok::Comma => return Err(self.err(t.pos, format!("unexpected {:?} in operand", &self.src[t.pos..t.end]))),
        };
        // Fields written right after the term (`.a.b`, `$x.y`, `(…).z`).
        let mut end = toks[used - 1].end;
        while let Some(Token { tok: Tok::Field(f), pos, end: e }) = toks.get(used) {
            if *pos != end {
                break;
            }
            if matches!(term, Term::Func(_) | Term::Str(_) | Term::Num(_) | Term::Bool(_) | Term::Nil) {
                return Err(self.err(*pos, format!("unexpected . after term {:?}", &self.src[t.pos..end])));
            }
            chain.push(f.clone());
            end = *e;
            used += 1;
        }
        Ok((Arg { pos: t.pos, text: self.src[t.pos..end].to_owned(), term, chain }, used))
    }
}

/// A number constant as Go's parser reads it: an integer value when the
/// number is whole, a float value when it parses as one.
fn number(text: &str, ch: Option<i64>) -> Option<Num> {
    if let Some(c) = ch {
        return Some(Num { text: text.to_owned(), int: Some(c), float: Some(c as f64) });
    }
    let clean = text.replace('_', "");
    let (neg, digits) = match clean.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let radix = |p: &str, r: u32| digits.strip_prefix(p).and_then(|d| i64::from_str_radix(d, r).ok());
    let int = radix("0x", 16)
        .or_else(|| radix("0X", 16))
        .or_else(|| radix("0o", 8))
        .or_else(|| radix("0b", 2))
        .or_else(|| if digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit()) { i64::from_str_radix(digits, 8).ok() } else { None })
        .or_else(|| digits.parse::<i64>().ok())
        .map(|n| if neg { -n } else { n });
    let float = int.map(|n| n as f64).or_else(|| clean.parse::<f64>().ok().filter(|f| f.is_finite()));
    // A whole float (`3.0`, `1e3`) is an integer too.
    let int = int.or_else(|| float.filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18).map(|f| f as i64));
    (int.is_some() || float.is_some()).then(|| Num { text: text.to_owned(), int, float })
}

// ---------------------------------------------------------------- execution

/// An execution error: where, which command, what.
struct ExecError {
    pos: usize,
    context: String,
    msg: String,
}

impl ExecError {
    /// Go's wording: `template: line:1:3: executing "line" at <div 1 0>: error calling div: …`.
    fn message(&self, name: &str, src: &str) -> String {
        let before = &src[..self.pos.min(src.len())];
        let line = 1 + before.matches('\n').count();
        let col = before.rfind('\n').map_or(self.pos, |nl| self.pos - nl - 1);
        format!("template: {name}:{line}:{col}: executing {name:?} at <{}>: {}", self.context, self.msg)
    }
}

type R<T> = Result<T, ExecError>;

#[derive(PartialEq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

struct Exec<'a, 't> {
    t: &'t Template,
    ctx: template_fns::Context<'a>,
    vars: Vec<(&'t str, Value<'a>)>,
    out: String,
    depth: usize,
}

impl<'a, 't> Exec<'a, 't> {
    fn list(&mut self, nodes: &'t [Node], dot: &Value<'a>) -> R<Flow> {
        for n in nodes {
            match n {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipe(p, dot)?;
                    // An action that declares or assigns prints nothing.
                    if p.decl.is_empty() {
                        template_fns::print_value(&v, &mut self.out);
                    }
                }
                Node::If { with, pipe, list, else_list } => {
                    let mark = self.vars.len();
                    let v = self.pipe(pipe, dot)?;
                    let flow = if template_fns::truth(&v) {
                        if *with {
                            self.list(list, &v)?
                        } else {
                            self.list(list, dot)?
                        }
                    } else {
                        self.list(else_list, dot)?
                    };
                    self.vars.truncate(mark);
                    if flow != Flow::Normal {
                        return Ok(flow);
                    }
                }
                Node::Range { pipe, list, else_list } => {
                    let mark = self.vars.len();
                    self.range(pipe, list, else_list, dot)?;
                    self.vars.truncate(mark);
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
                Node::Call { pos, name, pipe } => {
                    let body = self.t.defined.get(name).ok_or_else(|| ExecError {
                        pos: *pos,
                        context: format!("{{{{template {name:?}}}}}"),
                        msg: format!("no such template {name:?}"),
                    })?;
                    let v = match pipe {
                        Some(p) => self.pipe(p, dot)?,
                        None => Value::Nil,
                    };
                    self.depth += 1;
                    if self.depth > MAX_NESTING {
                        return Err(ExecError { pos: *pos, context: format!("{{{{template {name:?}}}}}"), msg: "exceeded maximum template depth".into() });
                    }
                    // A called template sees only its own `$` (the value passed).
                    let outer = std::mem::replace(&mut self.vars, vec![("$", v.clone())]);
                    let r = self.list(body, &v);
                    self.vars = outer;
                    self.depth -= 1;
                    r?;
                }
            }
        }
        Ok(Flow::Normal)
    }

    fn range(&mut self, pipe: &'t Pipe, list: &'t [Node], else_list: &'t [Node], dot: &Value<'a>) -> R<()> {
        let v = self.pipe_value(pipe, dot)?;
        let items: Vec<(Value<'a>, Value<'a>)> = match &v {
            Value::List(l) => l.iter().enumerate().map(|(i, e)| (Value::Int(i as i64, template_fns::IntTy::Int), e.clone())).collect(),
            Value::Map(m) => m.iter().map(|(k, e)| (Value::Str(Cow::Owned(k.clone())), e.clone())).collect(),
            Value::Labels(l) => l.iter().map(|(k, e)| (Value::Str(Cow::Borrowed(k.as_str())), Value::Str(Cow::Borrowed(e.as_str())))).collect(),
            // Go 1.22 ranges over an integer.
            Value::Int(n, _) => {
                if pipe.decl.len() > 1 {
                    return Err(self.err_at_pipe(pipe, format!("can't use {n} to iterate over more than one variable")));
                }
                (0..*n).map(|i| (Value::Int(i, template_fns::IntTy::Int), Value::Int(i, template_fns::IntTy::Int))).collect()
            }
            Value::Nil => Vec::new(),
            other => return Err(self.err_at_pipe(pipe, format!("range can't iterate over {}", template_fns::display(other)))),
        };
        if items.is_empty() {
            self.list(else_list, dot)?;
            return Ok(());
        }
        for (k, e) in items {
            let mark = self.vars.len();
            match pipe.decl.as_slice() {
                [one] => self.set_var(one, e.clone(), pipe.assign),
                [a, b] => {
                    self.set_var(a, k, pipe.assign);
                    self.set_var(b, e.clone(), pipe.assign);
                }
                _ => {}
            }
            let flow = self.list(list, &e)?;
            self.vars.truncate(mark);
            if flow == Flow::Break {
                break;
            }
        }
        Ok(())
    }

    fn err_at_pipe(&self, pipe: &Pipe, msg: String) -> ExecError {
        let c = &pipe.cmds[0];
        ExecError { pos: c.pos, context: c.text.clone(), msg }
    }

    fn set_var(&mut self, name: &'t str, v: Value<'a>, assign: bool) {
        match self.vars.iter_mut().rev().find(|(n, _)| *n == name).filter(|_| assign) {
            Some(slot) => slot.1 = v,
            None => self.vars.push((name, v)),
        }
    }

    /// Runs a pipeline, then declares or assigns its variables (`range` binds its own per item).
    fn pipe(&mut self, p: &'t Pipe, dot: &Value<'a>) -> R<Value<'a>> {
        let v = self.pipe_value(p, dot)?;
        if let [name] = p.decl.as_slice() {
            self.set_var(name, v.clone(), p.assign);
        }
        Ok(v)
    }

    fn pipe_value(&mut self, p: &'t Pipe, dot: &Value<'a>) -> R<Value<'a>> {
        let mut prev: Option<Value<'a>> = None;
        for cmd in &p.cmds {
            prev = Some(self.command(cmd, dot, prev)?);
        }
        Ok(prev.unwrap_or(Value::Nil))
    }

    fn command(&mut self, cmd: &'t Cmd, dot: &Value<'a>, fin: Option<Value<'a>>) -> R<Value<'a>> {
        let first = &cmd.args[0];
        if let (Term::Func(name), true) = (&first.term, first.chain.is_empty()) {
            return self.call(name, first.pos, (cmd.pos, &cmd.text), &cmd.args[1..], dot, fin);
        }
        let has_args = cmd.args.len() > 1 || fin.is_some();
        if has_args {
            let msg = match (&first.term, first.chain.last()) {
                (_, Some(field)) => format!("{field} is not a method but has arguments"),
                _ => format!("can't give argument to non-function {}", first.text),
            };
            return Err(ExecError { pos: first.pos, context: first.text.clone(), msg });
        }
        if matches!(first.term, Term::Nil) {
            return Err(ExecError { pos: first.pos, context: first.text.clone(), msg: "nil is not a command".into() });
        }
        self.operand(first, dot, Ty::Any)
    }

    /// An operand's value, checked against the parameter type it is passed to.
    fn operand(&mut self, a: &'t Arg, dot: &Value<'a>, ty: Ty) -> R<Value<'a>> {
        let err = |msg: String| ExecError { pos: a.pos, context: a.text.clone(), msg };
        let base = match &a.term {
            Term::Str(s) => match ty {
                Ty::Str | Ty::Any => Value::Str(Cow::Owned(s.clone())),
                _ => return Err(err(constant_mismatch(ty, &a.text))),
            },
            Term::Num(n) => match (ty, n.int, n.float) {
                (Ty::Int, Some(i), _) => Value::Int(i, template_fns::IntTy::Int),
                (Ty::Float, _, Some(f)) => Value::Float(f),
                // An untyped constant becomes an int unless written as a float.
                (Ty::Any, Some(i), _) if !n.text.contains(['.', 'e', 'E', 'p', 'P']) || n.text.starts_with("0x") || n.text.starts_with('\'') => {
                    Value::Int(i, template_fns::IntTy::Int)
                }
                (Ty::Any, _, Some(f)) => Value::Float(f),
                _ => return Err(err(constant_mismatch(ty, &a.text))),
            },
            Term::Bool(b) => match ty {
                Ty::Any => Value::Bool(*b),
                _ => return Err(err(constant_mismatch(ty, &a.text))),
            },
            Term::Nil => match ty {
                Ty::Any => Value::Nil,
                _ => return Err(err(format!("cannot assign nil to {}", ty.name()))),
            },
            Term::Dot => dot.clone(),
            Term::Var(name) => self.vars.iter().rev().find(|(n, _)| *n == name.as_str()).map(|(_, v)| v.clone()).unwrap_or(Value::Nil),
            Term::Func(name) => self.call(name, a.pos, (a.pos, &a.text), &[], dot, None)?,
            Term::Pipe(p) => {
                self.depth += 1;
                let v = self.pipe_value(p, dot);
                self.depth -= 1;
                v?
            }
        };
        let mut v = base;
        for field in &a.chain {
            v = match v {
                Value::Labels(l) => Value::Str(Cow::Borrowed(l.get(field).map_or("", String::as_str))),
                Value::Map(m) => m.get(field).cloned().unwrap_or(Value::Nil),
                Value::Nil => return Err(err(format!("nil pointer evaluating interface {{}}.{field}"))),
                other => return Err(err(format!("can't evaluate field {field} in type {}", other.type_name()))),
            };
        }
        template_fns::check_type(v, ty).map_err(err)
    }

    /// Calls a function: `args` are the written arguments, `fin` the piped value (last).
    /// `ident`: where the function's name is; `site`: the calling command (position and text).
    fn call(&mut self, name: &str, ident: usize, site: (usize, &str), args: &'t [Arg], dot: &Value<'a>, fin: Option<Value<'a>>) -> R<Value<'a>> {
        let sig = template_fns::signature(name).ok_or_else(|| ExecError { pos: ident, context: name.to_owned(), msg: format!("{name:?} is not a defined function") })?;
        let given = args.len() + usize::from(fin.is_some());
        let fixed = sig.params.len();
        if (sig.variadic.is_none() && given != fixed) || given < fixed {
            let want = if sig.variadic.is_some() { format!("at least {fixed}") } else { fixed.to_string() };
            return Err(ExecError { pos: ident, context: name.to_owned(), msg: format!("wrong number of args for {name}: want {want} got {given}") });
        }
        let ty_of = |i: usize| sig.params.get(i).copied().or(sig.variadic).unwrap_or(Ty::Any);
        // `and`/`or` stop at the first argument that decides (Go 1.18).
        if name == "and" || name == "or" {
            let mut v = Value::Nil;
            for a in args {
                v = self.operand(a, dot, Ty::Any)?;
                if template_fns::truth(&v) == (name == "or") {
                    return Ok(v);
                }
            }
            return Ok(fin.unwrap_or(v));
        }
        let mut vals = Vec::with_capacity(given);
        for (i, a) in args.iter().enumerate() {
            vals.push(self.operand(a, dot, ty_of(i))?);
        }
        let at = |msg: String| ExecError { pos: site.0, context: site.1.to_owned(), msg };
        if let Some(f) = fin {
            vals.push(template_fns::check_type(f, ty_of(args.len())).map_err(at)?);
        }
        template_fns::call(name, vals, &self.ctx).map_err(|e| at(format!("error calling {name}: {e}")))
    }
}

/// Go's message for a constant passed where its kind does not fit.
fn constant_mismatch(ty: Ty, text: &str) -> String {
    match ty {
        Ty::Str => format!("expected string; found {text}"),
        Ty::Int => format!("expected integer; found {text}"),
        Ty::Float => format!("expected float; found {text}"),
        Ty::Time | Ty::Any => format!("can't handle {text} for arg of type {}", ty.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Labels {
        [("a", "Hello"), ("n", "3"), ("e", ""), ("j", r#"{"q":[{"x":1},{"x":2.5}],"s":"v"}"#)].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn r(src: &str) -> Result<String, String> {
        Template::new(src)?.render("line", &labels(), "the line", 1_795_629_845_120_000_000)
    }

    #[test]
    fn go_template_language() {
        let ok = |s: &str| r(s).unwrap();
        assert_eq!(ok("{{.a}} {{ .a | ToUpper }} {{ ToLower .a }}"), "Hello HELLO hello");
        assert_eq!(ok(r#"{{ .e | default "none" }}|{{ if .e }}y{{ else }}n{{ end }}"#), "none|n");
        assert_eq!(ok("x  {{- .a -}}  y {{- /* c */ -}} z"), "xHelloyz");
        assert_eq!(ok(r#"{{ if eq .a "x" }}1{{ else if eq .a "Hello" }}2{{ else }}3{{ end }}"#), "2");
        assert_eq!(ok(r#"{{ with .a }}[{{ . }}]{{ else }}none{{ end }} {{ with .e }}x{{ else with .n }}n={{.}}{{ end }}"#), "[Hello] n=3");
        assert_eq!(ok(r#"{{ $x := .a | upper }}{{ if .n }}{{ $x = "in" }}{{ $y := 1 }}{{ end }}{{ $x }}"#), "in");
        assert_eq!(ok(r#"{{ range $i, $e := (fromJson .j).q }}{{ $i }}:{{ $e.x }};{{ end }}"#), "0:1;1:2.5;");
        assert_eq!(ok(r#"{{ range $k, $v := fromJson .j }}{{ $k }} {{ end }}"#), "q s ");
        assert_eq!(ok(r#"{{ range (fromJson .j).q }}{{ if gt .x 2.0 }}{{ break }}{{ end }}{{ .x }}{{ else }}empty{{ end }}"#), "1");
        assert_eq!(ok(r#"{{ range (fromJson "[]") }}x{{ else }}empty{{ end }} {{ range 3 }}{{ . }}{{ end }}"#), "empty 012");
        assert_eq!(ok(r#"{{ index (fromJson .j) "s" }} {{ len .a }} {{ index .a 1 }} {{ $.a }}"#), "v 5 101 Hello");
        assert_eq!(ok(r#"{{ print 1 2 "x" 3 }}|{{ println "a" 1 }}|{{ printf "%05.1f|%-4s|%x|%q|%v" 3.14159 "ab" 255 "h\"i" .n }}"#), "1 2x3|a 1\n|003.1|ab  |ff|\"h\\\"i\"|3");
        assert_eq!(ok(r#"{{ define "t" }}<{{ . }}>{{ end }}{{ template "t" .a }}"#), "<Hello>");
        assert_eq!(ok(r#"{{ and 1 0 "x" }} {{ or 0 "" "y" }} {{ not .e }} {{ and .a .n }}"#), "0 y true 3");
        assert_eq!(ok(r#"{{ fromJson "bad" }} {{ (fromJson .j).none }}"#), "<no value> <no value>");
    }

    proptest::proptest! {
        /// Any source is compiled or refused, and what compiles renders or
        /// fails: never a panic.
        #[test]
        fn any_template_is_an_answer(parts in proptest::collection::vec(proptest::sample::select(vec![
            "{{", "}}", "{{-", " -}}", " ", ".a", ".j", "$", "$x", ":=", "=", "|", "(", ")", "if", "else", "end", "range", "with",
            "break", "define", "template", "\"t\"", "\"x\"", "1", "-2.5", "'c'", "printf", "\"%d%s%q%5.1f\"", "index", "slice",
            "fromJson", "eq", "lt", "and", "len", "substr", "trunc", "repeat", "div", "addf", "round", "nil", "true", "é", "/*", "*/",
        ]), 0..24)) {
            if let Ok(t) = Template::new(&parts.concat()) {
                let _ = t.render("line", &labels(), "the line", 0);
            }
        }
    }

    #[test]
    fn parse_errors_in_go_words() {
        let err = |s: &str| Template::new(s).unwrap_err();
        assert_eq!(err("{{ nope .a }}"), r#"template: line:1: function "nope" not defined"#);
        assert_eq!(err("{{ if .a }}x"), "template: line:1: unexpected EOF");
        assert_eq!(err("{{ $z = 1 }}"), r#"template: line:1: undefined variable "$z""#);
        assert_eq!(err("{{ end }}"), "template: line:1: unexpected {{end}}");
        assert_eq!(err("{{ break }}"), "template: line:1: {{break}} outside {{range}}");
        assert_eq!(err("{{ .a | \"x\" }}"), "template: line:1: non executable command in pipeline stage 2");
        assert!(Template::new(&format!("{}1{}", "{{ (".repeat(5000), ") }}".repeat(5000))).is_err());
    }

    #[test]
    fn execution_errors_in_go_words() {
        assert_eq!(r("{{ div 1 0 }}").unwrap_err(), r#"template: line:1:3: executing "line" at <div 1 0>: error calling div: runtime error: integer divide by zero"#);
        assert_eq!(r(r#"{{ if eq .n 3 }}x{{ end }}"#).unwrap_err(), r#"template: line:1:6: executing "line" at <eq .n 3>: error calling eq: incompatible types for comparison"#);
        assert_eq!(r("{{ trunc .n .a }}").unwrap_err(), r#"template: line:1:9: executing "line" at <.n>: wrong type for value; expected int; got string"#);
        assert_eq!(r("{{ .a.b }}").unwrap_err(), r#"template: line:1:3: executing "line" at <.a.b>: can't evaluate field b in type string"#);
        assert_eq!(r("{{ upper 5 }}").unwrap_err(), r#"template: line:1:9: executing "line" at <5>: expected string; found 5"#);
    }
}
