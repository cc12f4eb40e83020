//! LogQL's grammar, written with the `winnow` parser combinators: a lexer
//! over the text (each token keeps its byte offset, for error messages),
//! then the grammar over the tokens, one function per rule of Loki's
//! `syntax.y`, returning the AST of `ast.rs`.
//!
//! Why winnow (chumsky and pest were weighed): it is small, quick to build,
//! maintained, and already in the workspace's lock file; it parses a token
//! slice as easily as text, and its parsers are plain functions, so the few
//! places where LogQL needs a token of lookahead (`a, b or c`, a stage word
//! used as a label name, the pipeline allowed after a range) stay readable.
//! pest's PEG would need a second pass to build the AST and has no
//! lexer/parser split; chumsky is heavier to build and recurses the same.
//!
//! Nesting is bounded: brackets deeper than [`MAX_DEPTH`] are refused by a
//! scan of the tokens before any rule runs, and every rule that recurses
//! goes through [`nested`], which counts levels in the stream's state — so
//! 20,000 nested parentheses are [`ParseError::TooDeep`], never a stack
//! overflow. Operator chains (`a + b + …`, `a and b and …`, `1 ^ 2 ^ …`)
//! are parsed by loops, but each operator nests the AST one level deeper
//! (and dropping, printing or evaluating it recurses), so [`deepen`]
//! counts them against the same budget; a run of signs (`+ + 1`) is a
//! flat repeat with its own bound.
//!
//! Where this grammar follows Loki rather than the hand-written parser it
//! replaced (the cases are in `tests/conformance/09_grammar.json`):
//! keywords in any case; a line filter's `or` takes `ip("…")`; a numeric
//! label filter takes `+5`; a pipeline may follow the range only when none
//! precedes it; a whole range expression may stand in parentheses
//! (`count_over_time(({…}[5m]))`); no trailing comma in a selector, a grouping or a parser's
//! parameters; `group_left`/`group_right` only after `on`/`ignoring`, and
//! not both of those; `vector()` and `topk`'s k take an unsigned number;
//! Loki's wording for a log query or a literal as a binary operation's leg.

use std::time::Duration;

use winnow::combinator::{alt, eof, opt, peek, preceded, repeat, separated, terminated};
use winnow::error::{ErrMode, ModalResult, ParserError};
use winnow::stream::{LocatingSlice, Location, Stateful, Stream, TokenSlice};
use winnow::token::{any, one_of, take_till, take_while};
use winnow::Parser;

use crate::ast::*;
use crate::parse::{compile, fmt_f64, parse_bytes, parse_duration, prom_duration, unquote, validate_range, ParseError, MAX_DEPTH};
use crate::pattern::Pattern;
use crate::template::Template;

/// A lexical token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    /// A duration, in seconds, and its text.
    Dur(f64, String),
    /// A byte size, and its text.
    Bytes(f64, String),
    Sym(&'static str),
}

/// A token and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    at: usize,
    tok: Tok,
}

/// Why a rule failed: `None` while it merely does not match here (winnow
/// then tries the next alternative), the error once the query is wrong.
#[derive(Debug)]
pub(crate) struct Failure(Option<ParseError>);

impl<I: Stream> ParserError<I> for Failure {
    type Inner = Self;
    fn from_input(_: &I) -> Self {
        Failure(None)
    }
    fn into_inner(self) -> Result<Self, Self> {
        Ok(self)
    }
}

type PResult<T> = ModalResult<T, Failure>;
type E = ErrMode<Failure>;

fn fatal<T>(e: ParseError) -> PResult<T> {
    Err(ErrMode::Cut(Failure(Some(e))))
}

fn invalid<T>(message: impl Into<String>) -> PResult<T> {
    fatal(ParseError::Invalid { message: message.into(), hint: None })
}

// ---------------------------------------------------------------- lexer

type Src<'s> = LocatingSlice<&'s str>;

/// Symbols, longest first where one is a prefix of another.
const SYMBOLS: [&str; 27] =
    ["|=", "|~", "|>", "!=", "!~", "!>", "=~", "==", ">=", "<=", "{", "}", "(", ")", "[", "]", ",", "|", "=", ">", "<", "+", "-", "*", "/", "%", "^"];

fn lex_error<T>(at: usize, message: String) -> PResult<T> {
    fatal(ParseError::Syntax { at, message })
}

/// One token, or `None` for whitespace and `#` comments.
fn token(i: &mut Src<'_>) -> PResult<Option<Token>> {
    let at = i.current_token_start();
    let rest: &str = **i;
    let c = peek(any).parse_next(i)?;
    match c {
        c if c.is_ascii_whitespace() => take_while(1.., |c: char| c.is_ascii_whitespace()).map(|_| None).parse_next(i),
        // A comment runs to the end of the line.
        '#' => take_till(0.., '\n').map(|_| None).parse_next(i),
        '"' | '`' => {
            let (s, len) = unquote(rest).or_else(|e| match e {
                ParseError::Syntax { at: inner, message } => lex_error(at + inner, message),
                other => fatal(other),
            })?;
            let _ = i.next_slice(len);
            Ok(Some(Token { at, tok: Tok::Str(s) }))
        }
        c if c.is_ascii_digit() || (c == '.' && rest[1..].starts_with(|d: char| d.is_ascii_digit())) => {
            let word = take_while(1.., |c: char| c.is_alphanumeric() || c == '.').parse_next(i)?;
            let tok = if let Ok(n) = word.parse::<f64>() {
                Tok::Num(n)
            } else if let Some(d) = parse_duration(word) {
                Tok::Dur(d, word.to_owned())
            } else if let Some(b) = parse_bytes(word) {
                Tok::Bytes(b, word.to_owned())
            } else {
                return lex_error(at, format!("not a valid duration string: {word:?}"));
            };
            Ok(Some(Token { at, tok }))
        }
        c if c.is_ascii_alphabetic() || c == '_' => {
            let word = take_while(1.., |c: char| c.is_ascii_alphanumeric() || c == '_').parse_next(i)?;
            Ok(Some(Token { at, tok: Tok::Ident(word.to_owned()) }))
        }
        _ => match SYMBOLS.iter().find(|s| rest.starts_with(**s)) {
            Some(sym) => {
                let _ = i.next_slice(sym.len());
                Ok(Some(Token { at, tok: Tok::Sym(sym) }))
            }
            None => lex_error(at, format!("unexpected character {c:?}")),
        },
    }
}

/// Splits `text` into tokens.
pub(crate) fn lex(text: &str) -> Result<Vec<Token>, ParseError> {
    let mut src = LocatingSlice::new(text);
    terminated(
        repeat(0.., token).fold(Vec::new, |mut toks: Vec<Token>, t| {
            toks.extend(t);
            toks
        }),
        eof,
    )
    .parse_next(&mut src)
    .map_err(|e| into_error(e, text.len()))
}

/// Refuses bracket nesting deeper than [`MAX_DEPTH`] before any rule runs.
pub(crate) fn check_nesting(toks: &[Token]) -> Result<(), ParseError> {
    let mut nesting = 0usize;
    for t in toks {
        match t.tok {
            Tok::Sym("(" | "{" | "[") => {
                nesting += 1;
                if nesting > MAX_DEPTH {
                    return Err(ParseError::TooDeep);
                }
            }
            Tok::Sym(")" | "}" | "]") => nesting = nesting.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn into_error(e: E, at: usize) -> ParseError {
    match e {
        ErrMode::Backtrack(Failure(Some(e))) | ErrMode::Cut(Failure(Some(e))) => e,
        _ => ParseError::Syntax { at, message: "syntax error: unexpected text".into() },
    }
}

// ---------------------------------------------------------------- grammar

/// What the grammar carries along: the nesting level, and the text's
/// length (the offset reported at its end).
#[derive(Debug)]
pub(crate) struct Nesting {
    depth: usize,
    end: usize,
}

type Input<'t> = Stateful<TokenSlice<'t, Token>, Nesting>;

/// A parsed expression before it is known to be a log or a metric query.
enum Expr {
    Log(LogQuery),
    Metric(MetricQuery),
}

/// Where the next token starts (the end of the text after the last).
fn at(i: &Input<'_>) -> usize {
    i.input.first().map_or(i.state.end, |t| t.at)
}

/// The token `n` ahead, without consuming anything.
fn ahead<'a>(i: &'a Input<'_>, n: usize) -> Option<&'a Tok> {
    i.input.get(n).map(|t| &t.tok)
}

fn syntax<T>(i: &Input<'_>, message: impl Into<String>) -> PResult<T> {
    fatal(ParseError::Syntax { at: at(i), message: message.into() })
}

/// Runs `rule` one nesting level deeper: every recursive rule goes through here.
fn nested<T>(i: &mut Input<'_>, rule: impl FnOnce(&mut Input<'_>) -> PResult<T>) -> PResult<T> {
    i.state.depth += 1;
    if i.state.depth > MAX_DEPTH {
        return fatal(ParseError::TooDeep);
    }
    let result = rule(i);
    i.state.depth -= 1;
    result
}

/// One more level of the tree being built: each operator of a chain
/// (`a + b + …`, `a and b and …`) nests the AST one level deeper, as a
/// parenthesis does, so it counts against the same budget. The caller
/// restores the level when the chain ends.
fn deepen(i: &mut Input<'_>) -> PResult<()> {
    i.state.depth += 1;
    if i.state.depth > MAX_DEPTH {
        return fatal(ParseError::TooDeep);
    }
    Ok(())
}

/// Runs `chain`, then restores the nesting level it deepened.
fn chain<T>(i: &mut Input<'_>, chain: impl FnOnce(&mut Input<'_>) -> PResult<T>) -> PResult<T> {
    let level = i.state.depth;
    let result = chain(i);
    i.state.depth = level;
    result
}

/// The symbol `s`.
fn sym<'t>(s: &'static str) -> impl Parser<Input<'t>, (), E> {
    one_of(move |t: &Token| t.tok == Tok::Sym(s)).void()
}

/// The keyword `w`: Loki's lexer reads keywords in any case (`BY`, `Json`).
fn word<'t>(w: &'static str) -> impl Parser<Input<'t>, (), E> {
    one_of(move |t: &Token| matches!(&t.tok, Tok::Ident(x) if x.eq_ignore_ascii_case(w))).void()
}

/// `p`, or the syntax error `message` where it does not match.
fn expect<'t, O>(mut p: impl Parser<Input<'t>, O, E>, message: &'static str) -> impl Parser<Input<'t>, O, E> {
    move |i: &mut Input<'t>| match p.parse_next(i) {
        Err(ErrMode::Backtrack(Failure(None))) => syntax(i, message),
        other => other,
    }
}

fn expect_sym<'t>(s: &'static str) -> impl Parser<Input<'t>, (), E> {
    move |i: &mut Input<'t>| match sym(s).parse_next(i) {
        Err(ErrMode::Backtrack(_)) => syntax(i, format!("syntax error: expected `{s}`")),
        other => other,
    }
}

fn is_sym(i: &Input<'_>, s: &str) -> bool {
    matches!(ahead(i, 0), Some(Tok::Sym(x)) if *x == s)
}

fn is_word(i: &Input<'_>, w: &str) -> bool {
    matches!(ahead(i, 0), Some(Tok::Ident(x)) if x.eq_ignore_ascii_case(w))
}

fn any_ident(i: &mut Input<'_>) -> PResult<String> {
    any.verify_map(|t: &Token| match &t.tok {
        Tok::Ident(s) => Some(s.clone()),
        _ => None,
    })
    .parse_next(i)
}

fn any_string(i: &mut Input<'_>) -> PResult<String> {
    any.verify_map(|t: &Token| match &t.tok {
        Tok::Str(s) => Some(s.clone()),
        _ => None,
    })
    .parse_next(i)
}

fn unsigned(i: &mut Input<'_>) -> PResult<f64> {
    any.verify_map(|t: &Token| match t.tok {
        Tok::Num(n) => Some(n),
        _ => None,
    })
    .parse_next(i)
}

fn ident(i: &mut Input<'_>) -> PResult<String> {
    expect(any_ident, "syntax error: expected a label name").parse_next(i)
}

fn string(i: &mut Input<'_>) -> PResult<String> {
    expect(any_string, "syntax error: expected a quoted string").parse_next(i)
}

/// Loki's NUMBER: an unsigned number.
fn number(i: &mut Input<'_>) -> PResult<f64> {
    expect(unsigned, "syntax error: expected a number").parse_next(i)
}

/// Loki's literalExpr: a number with an optional sign.
fn literal(i: &mut Input<'_>) -> PResult<f64> {
    let neg = opt(alt((sym("-").value(true), sym("+").value(false)))).parse_next(i)?;
    Ok(if neg == Some(true) { -unsigned(i)? } else { unsigned(i)? })
}

pub(crate) const RANGE_FNS: [(&str, RangeFn); 15] = [
    ("count_over_time", RangeFn::CountOverTime),
    ("rate", RangeFn::Rate),
    ("rate_counter", RangeFn::RateCounter),
    ("bytes_over_time", RangeFn::BytesOverTime),
    ("bytes_rate", RangeFn::BytesRate),
    ("absent_over_time", RangeFn::AbsentOverTime),
    ("sum_over_time", RangeFn::SumOverTime),
    ("avg_over_time", RangeFn::AvgOverTime),
    ("min_over_time", RangeFn::MinOverTime),
    ("max_over_time", RangeFn::MaxOverTime),
    ("stddev_over_time", RangeFn::StddevOverTime),
    ("stdvar_over_time", RangeFn::StdvarOverTime),
    ("quantile_over_time", RangeFn::QuantileOverTime),
    ("first_over_time", RangeFn::FirstOverTime),
    ("last_over_time", RangeFn::LastOverTime),
];

pub(crate) const VECTOR_FNS: [(&str, VectorFn); 11] = [
    ("sum", VectorFn::Sum),
    ("count", VectorFn::Count),
    ("min", VectorFn::Min),
    ("max", VectorFn::Max),
    ("avg", VectorFn::Avg),
    ("stddev", VectorFn::Stddev),
    ("stdvar", VectorFn::Stdvar),
    ("topk", VectorFn::Topk),
    ("bottomk", VectorFn::Bottomk),
    ("sort", VectorFn::Sort),
    ("sort_desc", VectorFn::SortDesc),
];

/// Binary operators from the loosest to the tightest (`^`, tighter still, is apart).
pub(crate) const BIN_LEVELS: [&[(&str, BinOp)]; 5] = [
    &[("or", BinOp::Or)],
    &[("and", BinOp::And), ("unless", BinOp::Unless)],
    &[("==", BinOp::Eq), ("!=", BinOp::Ne), (">", BinOp::Gt), (">=", BinOp::Ge), ("<", BinOp::Lt), ("<=", BinOp::Le)],
    &[("+", BinOp::Add), ("-", BinOp::Sub)],
    &[("*", BinOp::Mul), ("/", BinOp::Div), ("%", BinOp::Mod)],
];

/// The whole query: an expression, then nothing.
pub(crate) fn query(toks: &[Token], end: usize) -> Result<Query, ParseError> {
    let mut i = Input { input: TokenSlice::new(toks), state: Nesting { depth: 0, end } };
    let q = match expr(&mut i, 0).map_err(|e| into_error(e, at(&i)))? {
        Expr::Log(l) => Query::Log(l),
        Expr::Metric(m) => Query::Metric(m),
    };
    if !i.input.is_empty() {
        let message = if is_sym(&i, "|") && matches!(ahead(&i, 1), Some(Tok::Ident(w)) if w == "unwrap") {
            "syntax error: unwrap is only allowed in a range aggregation"
        } else if is_sym(&i, "[") {
            "syntax error: a range like [5m] needs a range aggregation around it, e.g. count_over_time(…[5m])"
        } else {
            "syntax error: unexpected text after the query"
        };
        return Err(ParseError::Syntax { at: at(&i), message: message.into() });
    }
    Ok(q)
}

/// `binOpExpr` at one precedence level: operands of the next level joined
/// by this level's operators, left-associative.
fn expr(i: &mut Input<'_>, level: usize) -> PResult<Expr> {
    if level == BIN_LEVELS.len() {
        return power(i);
    }
    chain(i, |i| {
        let mut lhs = expr(i, level + 1)?;
        while let Some(op) = opt(bin_op(level)).parse_next(i)? {
            deepen(i)?;
            let modifier = bin_modifier(i, op)?;
            let rhs = expr(i, level + 1)?;
            lhs = binary(op, modifier, lhs, rhs)?;
        }
        Ok(lhs)
    })
}

/// `a ^ b ^ c`: right-associative, parsed as a flat list then folded, so
/// a long chain needs no recursion.
fn power(i: &mut Input<'_>) -> PResult<Expr> {
    let (mut operands, mut modifiers) = chain(i, |i| {
        let mut operands = vec![unary(i)?];
        let mut modifiers = Vec::new();
        while opt(sym("^")).parse_next(i)?.is_some() {
            deepen(i)?;
            modifiers.push(bin_modifier(i, BinOp::Pow)?);
            operands.push(unary(i)?);
        }
        Ok((operands, modifiers))
    })?;
    // Fold from the right: the modifier written after a `^` belongs to it.
    let mut rhs = operands.pop().expect("at least one operand");
    while let (Some(lhs), Some(m)) = (operands.pop(), modifiers.pop()) {
        rhs = binary(BinOp::Pow, m, lhs, rhs)?;
    }
    Ok(rhs)
}

/// An operator of `level`.
fn bin_op<'t>(level: usize) -> impl Parser<Input<'t>, BinOp, E> {
    any.verify_map(move |t: &Token| {
        BIN_LEVELS[level]
            .iter()
            .find(|(name, _)| match &t.tok {
                Tok::Sym(s) => s == name,
                Tok::Ident(w) => w.eq_ignore_ascii_case(name),
                _ => false,
            })
            .map(|&(_, op)| op)
    })
}

/// Loki's binOpModifier: `[bool] [on|ignoring (…) [group_left|group_right [(…)]]]`.
fn bin_modifier(i: &mut Input<'_>, op: BinOp) -> PResult<(bool, VectorMatching)> {
    let bool_modifier = is_word(i, "bool");
    if bool_modifier {
        if !matches!(op, BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Ge | BinOp::Lt | BinOp::Le) {
            return syntax(i, "syntax error: bool modifier can only be used on comparison operators");
        }
        word("bool").parse_next(i)?;
    }
    let mut matching = VectorMatching::default();
    let on = opt(alt((word("on").value(true), word("ignoring").value(false)))).parse_next(i)?;
    if let Some(on) = on {
        matching.on = Some((on, label_list(i)?));
        let group = opt(alt((word("group_left").value(true), word("group_right").value(false)))).parse_next(i)?;
        if let Some(left) = group {
            let labels = if is_sym(i, "(") { label_list(i)? } else { Vec::new() };
            matching.group = Some((left, labels));
        }
    }
    Ok((bool_modifier, matching))
}

/// Joins two operands, with Loki's rules on what may be joined.
fn binary(op: BinOp, (bool_modifier, matching): (bool, VectorMatching), lhs: Expr, rhs: Expr) -> PResult<Expr> {
    let name = crate::parse::op_name(op);
    // Loki names the Go type of a log query found where a metric belongs.
    let go_type = |l: &LogQuery| if l.stages.is_empty() { "*syntax.MatchersExpr" } else { "*syntax.PipelineExpr" };
    let (lhs, rhs) = match (lhs, rhs) {
        (Expr::Metric(l), Expr::Metric(r)) => (l, r),
        (Expr::Log(l), _) => return invalid(format!("unexpected type for left leg of binary operation ({name}): {}", go_type(&l))),
        (_, Expr::Log(r)) => return invalid(format!("unexpected type for right leg of binary operation ({name}): {}", go_type(&r))),
    };
    if matches!(op, BinOp::And | BinOp::Or | BinOp::Unless) {
        for (leg, side) in [(&lhs, "left"), (&rhs, "right")] {
            if let MetricQuery::Literal(v) = leg {
                return invalid(format!("unexpected literal for {side} leg of logical/set binary operation ({name}): {v:.6}"));
            }
        }
    }
    Ok(Expr::Metric(MetricQuery::Binary { op, bool_modifier, matching, lhs: Box::new(lhs), rhs: Box::new(rhs) }))
}

/// An operand: a literal, `( expr )`, a log query or a function.
fn unary(i: &mut Input<'_>) -> PResult<Expr> {
    // `+ + 1`: a flat run of signs, bounded like nesting.
    let pluses: usize = repeat(0.., (sym("+"), peek(not_number))).parse_next(i)?;
    if pluses > MAX_DEPTH {
        return fatal(ParseError::TooDeep);
    }
    nested(i, |i| match ahead(i, 0) {
        Some(Tok::Sym("-" | "+")) if matches!(ahead(i, 1), Some(Tok::Num(_))) => literal.map(MetricQuery::Literal).map(Expr::Metric).parse_next(i),
        Some(Tok::Num(_)) => unsigned.map(MetricQuery::Literal).map(Expr::Metric).parse_next(i),
        Some(Tok::Sym("(")) => {
            sym("(").parse_next(i)?;
            let inner = expr(i, 0)?;
            expect_sym(")").parse_next(i)?;
            Ok(inner)
        }
        Some(Tok::Sym("{")) => log_query.map(Expr::Log).parse_next(i),
        Some(Tok::Ident(_)) => function.map(Expr::Metric).parse_next(i),
        _ => syntax(i, "syntax error: expected a selector, a function or a number"),
    })
}

/// After a `+`: anything but `+ 1` (which is a literal) keeps the run going.
fn not_number(i: &mut Input<'_>) -> PResult<()> {
    if matches!(ahead(i, 0), Some(Tok::Num(_))) {
        return Err(ErrMode::Backtrack(Failure(None)));
    }
    Ok(())
}

/// A range aggregation, a vector aggregation, `vector(n)` or `label_replace(…)`.
fn function(i: &mut Input<'_>) -> PResult<MetricQuery> {
    let name_at = at(i);
    let name = any_ident(i)?;
    let lower = name.to_ascii_lowercase();
    if let Some(&(_, func)) = RANGE_FNS.iter().find(|(n, _)| *n == lower) {
        expect_sym("(").parse_next(i)?;
        let param = if func == RangeFn::QuantileOverTime { Some(param(i)?) } else { None };
        let (query, unwrap, range, offset) = nested(i, log_range)?;
        expect_sym(")").parse_next(i)?;
        let grouping = opt(grouping).parse_next(i)?;
        let q = MetricQuery::Range { func, param, query, unwrap, range, offset, grouping };
        validate_range(&q).or_else(fatal)?;
        return Ok(q);
    }
    if let Some(&(_, func)) = VECTOR_FNS.iter().find(|(n, _)| *n == lower) {
        let before = opt(grouping).parse_next(i)?;
        expect_sym("(").parse_next(i)?;
        let param = if matches!(func, VectorFn::Topk | VectorFn::Bottomk) {
            let k = param(i)?;
            if k.fract() != 0.0 || k < 1.0 {
                return invalid(format!("invalid parameter {name}({k},"));
            }
            Some(k)
        } else {
            None
        };
        let Expr::Metric(inner) = expr(i, 0)? else {
            return syntax(i, format!("syntax error: {name} needs a metric query, not a log query"));
        };
        expect_sym(")").parse_next(i)?;
        let grouping = match before {
            Some(g) => Some(g),
            None => opt(grouping).parse_next(i)?,
        };
        if matches!(func, VectorFn::Sort | VectorFn::SortDesc) && grouping.is_some() {
            return invalid(format!("grouping not allowed for {name} aggregation"));
        }
        return Ok(MetricQuery::Vector { func, grouping, param, inner: Box::new(inner) });
    }
    match lower.as_str() {
        "vector" => {
            expect_sym("(").parse_next(i)?;
            let n = number(i)?;
            expect_sym(")").parse_next(i)?;
            Ok(MetricQuery::Vector1(n))
        }
        "label_replace" => {
            expect_sym("(").parse_next(i)?;
            let Expr::Metric(inner) = expr(i, 0)? else {
                return syntax(i, "syntax error: label_replace needs a metric query");
            };
            let mut arg = preceded(expect_sym(","), string);
            let (dst, replacement, src, re) = (arg.parse_next(i)?, arg.parse_next(i)?, arg.parse_next(i)?, arg.parse_next(i)?);
            expect_sym(")").parse_next(i)?;
            let regex = compile(&re, true).or_else(|e| invalid(format!("invalid regex in label_replace: {e}")))?;
            Ok(MetricQuery::LabelReplace { inner: Box::new(inner), dst, replacement, src, regex })
        }
        _ => fatal(ParseError::Syntax { at: name_at, message: format!("syntax error: unexpected IDENTIFIER {name:?}") }),
    }
}

/// A function's leading number parameter and its comma.
fn param(i: &mut Input<'_>) -> PResult<f64> {
    let n = number(i)?;
    expect_sym(",").parse_next(i)?;
    Ok(n)
}

type LogRange = (LogQuery, Option<Unwrap>, Duration, Option<Duration>);

/// Loki's logRangeExpr: `{…} | … [5m] offset 1h`, `({…} | …)[5m]`,
/// `{…}[5m] | …`, each with an optional unwrap, or one in parentheses.
fn log_range(i: &mut Input<'_>) -> PResult<LogRange> {
    if opt(sym("(")).parse_next(i)?.is_some() {
        if is_sym(i, "(") {
            let inner = nested(i, log_range)?;
            expect_sym(")").parse_next(i)?;
            return Ok(inner);
        }
        let query = log_query(i)?;
        let unwrap = opt(unwrap).parse_next(i)?;
        if opt(sym(")")).parse_next(i)?.is_some() {
            let (range, offset) = range(i)?;
            return Ok((query, unwrap, range, offset));
        }
        // `({…} … [5m])`: a whole range expression in parentheses.
        let inner = range_and_pipeline(i, query, unwrap)?;
        expect_sym(")").parse_next(i)?;
        return Ok(inner);
    }
    let query = log_query(i)?;
    let unwrap = opt(unwrap).parse_next(i)?;
    range_and_pipeline(i, query, unwrap)
}

/// The range after a selector, then the pipeline Loki allows after the
/// range only where there was none before it.
fn range_and_pipeline(i: &mut Input<'_>, mut query: LogQuery, mut unwrap: Option<Unwrap>) -> PResult<LogRange> {
    let (range, offset) = range(i)?;
    if query.stages.is_empty() && unwrap.is_none() {
        stages(i, &mut query.stages)?;
        unwrap = opt(self::unwrap).parse_next(i)?;
    }
    Ok((query, unwrap, range, offset))
}

/// `[5m]` and an optional `offset 1h`.
fn range(i: &mut Input<'_>) -> PResult<(Duration, Option<Duration>)> {
    let open = at(i);
    expect_sym("[").parse_next(i)?;
    let (text_at, text) = (at(i), match ahead(i, 0) {
        Some(Tok::Dur(_, t)) => t.clone(),
        _ => String::new(),
    });
    let range = duration(i)?;
    let close = at(i);
    expect_sym("]").parse_next(i)?;
    // Loki reads what stands between the brackets, spaces and all, with
    // Prometheus' duration rules alone (an offset also takes Go's, so
    // `offset 1.5m` is fine but `[1.5m]` is not).
    if text_at != open + 1 || close != text_at + text.len() || prom_duration(&text).is_none() {
        let raw = format!("{}{text}{}", " ".repeat(text_at - open - 1), " ".repeat(close - text_at - text.len()));
        return lex_error(text_at, format!("not a valid duration string: {raw:?}"));
    }
    let offset = opt(preceded(word("offset"), duration)).parse_next(i)?;
    Ok((range, offset))
}

fn duration(i: &mut Input<'_>) -> PResult<Duration> {
    expect(
        any.verify_map(|t: &Token| match t.tok {
            Tok::Dur(secs, _) if secs > 0.0 && secs.is_finite() && secs < 1e12 => Some(Duration::from_secs_f64(secs)),
            _ => None,
        }),
        "syntax error: expected a duration like 5m",
    )
    .parse_next(i)
}

/// `| unwrap label`, `| unwrap duration(label)`, then label filters.
fn unwrap(i: &mut Input<'_>) -> PResult<Unwrap> {
    (sym("|"), word("unwrap")).parse_next(i)?;
    let conversion = match (ahead(i, 0), ahead(i, 1)) {
        (Some(Tok::Ident(w)), Some(Tok::Sym("("))) => {
            let c = match w.to_ascii_lowercase().as_str() {
                "duration" | "duration_seconds" => Conversion::Duration,
                "bytes" => Conversion::Bytes,
                other => return syntax(i, format!("syntax error: unknown unwrap conversion {other:?}")),
            };
            (any, any).parse_next(i)?;
            c
        }
        _ => Conversion::Plain,
    };
    let label = ident(i)?;
    if conversion != Conversion::Plain {
        expect_sym(")").parse_next(i)?;
    }
    let mut post_filters: Vec<LabelFilter> = repeat(0.., preceded((sym("|"), peek(not_stage_word)), label_or)).parse_next(i)?;
    post_filters.shrink_to_fit();
    Ok(Unwrap { label, conversion, post_filters })
}

fn not_stage_word(i: &mut Input<'_>) -> PResult<()> {
    match ahead(i, 0) {
        Some(Tok::Ident(w)) if is_stage_word(&w.to_ascii_lowercase()) => Err(ErrMode::Backtrack(Failure(None))),
        _ => Ok(()),
    }
}

/// `by (…)` or `without (…)`.
fn grouping(i: &mut Input<'_>) -> PResult<Grouping> {
    alt((preceded(word("by"), label_list).map(Grouping::By), preceded(word("without"), label_list).map(Grouping::Without))).parse_next(i)
}

/// `(a, b)`, possibly empty.
fn label_list(i: &mut Input<'_>) -> PResult<Vec<String>> {
    expect_sym("(").parse_next(i)?;
    let labels: Vec<String> = separated(0.., any_ident, sym(",")).parse_next(i)?;
    // Not the end: a missing comma, or (Loki's `labels` rule has no
    // trailing comma) a comma with no name after it.
    if !is_sym(i, ")") {
        if !labels.is_empty() {
            expect_sym(",").parse_next(i)?;
        }
        ident(i)?;
    }
    expect_sym(")").parse_next(i)?;
    Ok(labels)
}

/// A selector and its pipeline.
fn log_query(i: &mut Input<'_>) -> PResult<LogQuery> {
    expect_sym("{").parse_next(i)?;
    if is_sym(i, "}") {
        return syntax(i, "syntax error: unexpected }, expecting IDENTIFIER");
    }
    let selector: Vec<Matcher> = separated(1.., matcher, sym(",")).parse_next(i)?;
    if !is_sym(i, "}") {
        expect_sym(",").parse_next(i)?;
    }
    expect_sym("}").parse_next(i)?;
    let mut stages = Vec::new();
    self::stages(i, &mut stages)?;
    Ok(LogQuery { selector, stages })
}

/// `label op "value"` of a selector.
fn matcher(i: &mut Input<'_>) -> PResult<Matcher> {
    let label = ident(i)?;
    let op = expect(match_op, "syntax error: expected =, !=, =~ or !~").parse_next(i)?;
    let value = string(i)?;
    make_matcher(i, label, op, value)
}

fn match_op(i: &mut Input<'_>) -> PResult<MatchOp> {
    any.verify_map(|t: &Token| match t.tok {
        Tok::Sym("=") => Some(MatchOp::Eq),
        Tok::Sym("!=") => Some(MatchOp::Ne),
        Tok::Sym("=~") => Some(MatchOp::Re),
        Tok::Sym("!~") => Some(MatchOp::NotRe),
        _ => None,
    })
    .parse_next(i)
}

fn make_matcher(i: &Input<'_>, label: String, op: MatchOp, value: String) -> PResult<Matcher> {
    let regex = match op {
        MatchOp::Re | MatchOp::NotRe => Some(compile(&value, true).or_else(|m| syntax(i, m))?),
        _ => None,
    };
    Ok(Matcher { label, op, value, regex })
}

fn line_op(i: &mut Input<'_>) -> PResult<LineOp> {
    any.verify_map(|t: &Token| match t.tok {
        Tok::Sym("|=") => Some(LineOp::Contains),
        Tok::Sym("!=") => Some(LineOp::NotContains),
        Tok::Sym("|~") => Some(LineOp::Match),
        Tok::Sym("!~") => Some(LineOp::NotMatch),
        Tok::Sym("|>") => Some(LineOp::Pattern),
        Tok::Sym("!>") => Some(LineOp::NotPattern),
        _ => None,
    })
    .parse_next(i)
}

/// Loki's pipelineExpr: line filters and `| stage`s, up to a `| unwrap`.
fn stages(i: &mut Input<'_>, stages: &mut Vec<Stage>) -> PResult<()> {
    loop {
        if let Some(op) = opt(line_op).parse_next(i)? {
            stages.push(Stage::Line(line_filter(i, op)?));
        } else if opt((sym("|"), peek(not_unwrap))).parse_next(i)?.is_some() {
            stages.push(stage(i)?);
        } else {
            return Ok(());
        }
    }
}

fn not_unwrap(i: &mut Input<'_>) -> PResult<()> {
    if is_word(i, "unwrap") {
        return Err(ErrMode::Backtrack(Failure(None)));
    }
    Ok(())
}

/// A line filter's values: `"a"`, `"a" or "b"`, `ip("…")`, `"a" or ip("…")`.
fn line_filter(i: &mut Input<'_>, op: LineOp) -> PResult<LineFilter> {
    let first = line_value(i, op)?;
    let more: Vec<LineValue> = repeat(0.., preceded((word("or"), peek(or_operand)), |i: &mut Input<'_>| line_value(i, op))).parse_next(i)?;
    let mut values = Vec::with_capacity(1 + more.len());
    values.push(first);
    values.extend(more);
    Ok(LineFilter { op, values })
}

/// What may follow a line filter's `or`: a string, or `ip(`.
fn or_operand(i: &mut Input<'_>) -> PResult<()> {
    match (ahead(i, 0), ahead(i, 1)) {
        (Some(Tok::Str(_)), _) => Ok(()),
        (Some(Tok::Ident(w)), Some(Tok::Sym("("))) if w.eq_ignore_ascii_case("ip") => Ok(()),
        _ => Err(ErrMode::Backtrack(Failure(None))),
    }
}

fn line_value(i: &mut Input<'_>, op: LineOp) -> PResult<LineValue> {
    if is_word(i, "ip") && matches!(ahead(i, 1), Some(Tok::Sym("("))) {
        let at = at(i);
        if !matches!(op, LineOp::Contains | LineOp::NotContains) {
            return fatal(ParseError::Syntax { at, message: "syntax error: ip() line filters take only |= and !=".into() });
        }
        let text = ip_call(i)?;
        let Some(ip) = crate::eval::IpSpec::parse(&text) else {
            return fatal(ParseError::Syntax { at, message: format!("invalid ip pattern: {text:?}") });
        };
        return Ok(LineValue { text, regex: None, pattern: None, ip: Some(ip) });
    }
    let text = string(i)?;
    let at = at(i);
    let bad = |m: String| ErrMode::Cut(Failure(Some(ParseError::Syntax { at, message: m })));
    let regex = match op {
        LineOp::Match | LineOp::NotMatch => Some(compile(&text, false).map_err(bad)?),
        _ => None,
    };
    let pattern = match op {
        LineOp::Pattern | LineOp::NotPattern => Some(Pattern::new(&text, false).map_err(bad)?),
        _ => None,
    };
    Ok(LineValue { text, regex, pattern, ip: None })
}

/// `ip("…")`: the spec.
fn ip_call(i: &mut Input<'_>) -> PResult<String> {
    word("ip").parse_next(i)?;
    expect_sym("(").parse_next(i)?;
    let spec = string(i)?;
    expect_sym(")").parse_next(i)?;
    Ok(spec)
}

fn is_stage_word(w: &str) -> bool {
    matches!(
        w,
        "json" | "logfmt" | "regexp" | "pattern" | "unpack" | "line_format" | "label_format" | "drop" | "keep" | "decolorize" | "unwrap" | "distinct"
    )
}

/// One stage after a `|`.
fn stage(i: &mut Input<'_>) -> PResult<Stage> {
    let word = match ahead(i, 0) {
        Some(Tok::Ident(w)) => w.to_ascii_lowercase(),
        Some(Tok::Sym("(")) => return label_or.map(Stage::Label).parse_next(i),
        _ => return syntax(i, "syntax error: expected a parser, filter or formatter after `|`"),
    };
    // A stage word followed by a comparison is a label of that name.
    if matches!(ahead(i, 1), Some(Tok::Sym("=" | "!=" | "=~" | "!~" | ">" | ">=" | "<" | "<=" | "=="))) {
        return label_or.map(Stage::Label).parse_next(i);
    }
    let at = at(i);
    let bad = |m: String| ParseError::Syntax { at, message: m };
    if !is_stage_word(&word) {
        return label_or.map(Stage::Label).parse_next(i);
    }
    if word == "unwrap" {
        return syntax(i, "syntax error: unwrap is only allowed in a range aggregation");
    }
    any.parse_next(i)?;
    Ok(match word.as_str() {
        "json" => Stage::Json(params(i, true)?),
        "logfmt" => {
            let flags: Vec<&str> = repeat(0.., logfmt_flag).parse_next(i)?;
            let params = params(i, false)?;
            Stage::Logfmt { strict: flags.contains(&"strict"), keep_empty: flags.contains(&"keep-empty"), params }
        }
        "regexp" => {
            let text = string(i)?;
            let re = compile(&text, false).map_err(|m| ErrMode::Cut(Failure(Some(bad(m)))))?;
            if re.regex.capture_names().flatten().next().is_none() {
                return fatal(bad("at least one named capture must be supported".into()));
            }
            Stage::Regexp(re)
        }
        "pattern" => Stage::Pattern(Pattern::new(&string(i)?, true).map_err(|m| ErrMode::Cut(Failure(Some(bad(m)))))?),
        "unpack" => Stage::Unpack,
        "decolorize" => Stage::Decolorize,
        "line_format" => Stage::LineFormat(Template::new(&string(i)?).map_err(|m| ErrMode::Cut(Failure(Some(bad(m)))))?),
        "label_format" => {
            let item = |i: &mut Input<'_>| -> PResult<LabelFormat> {
                let dst = ident(i)?;
                expect_sym("=").parse_next(i)?;
                Ok(match ahead(i, 0) {
                    Some(Tok::Str(_)) => {
                        LabelFormat::Template { dst, template: Template::new(&string(i)?).map_err(|m| ErrMode::Cut(Failure(Some(bad(m)))))? }
                    }
                    _ => LabelFormat::Rename { dst, src: ident(i)? },
                })
            };
            Stage::LabelFormat(separated(1.., item, sym(",")).parse_next(i)?)
        }
        "drop" | "keep" => {
            let items: Vec<LabelName> = separated(1.., named_matcher, sym(",")).parse_next(i)?;
            if word == "drop" {
                Stage::Drop(items)
            } else {
                Stage::Keep(items)
            }
        }
        _ => Stage::Distinct(separated(1.., ident, sym(",")).parse_next(i)?, Seen::default()),
    })
}

/// `--strict` or `--keep-empty`.
fn logfmt_flag(i: &mut Input<'_>) -> PResult<&'static str> {
    (sym("-"), sym("-")).parse_next(i)?;
    let at = at(i);
    let flag = alt((word("strict").value("strict"), (word("keep"), sym("-"), word("empty")).value("keep-empty"))).parse_next(i);
    flag.or_else(|_| fatal(ParseError::Syntax { at, message: "syntax error: unknown logfmt flag".into() }))
}

/// `a` or `a="x"` of `| drop` / `| keep`.
fn named_matcher(i: &mut Input<'_>) -> PResult<LabelName> {
    let name = ident(i)?;
    match opt(match_op).parse_next(i)? {
        Some(op) => {
            let value = string(i)?;
            Ok(LabelName::Matcher(make_matcher(i, name, op, value)?))
        }
        None => Ok(LabelName::Name(name)),
    }
}

/// `a, b="c.d"` extraction parameters of `| json` / `| logfmt`.
fn params(i: &mut Input<'_>, paths: bool) -> PResult<Vec<(String, String)>> {
    let param = |i: &mut Input<'_>| -> PResult<(String, String)> {
        let name = any_ident.verify(|w: &String| !w.eq_ignore_ascii_case("or") && !w.eq_ignore_ascii_case("offset")).parse_next(i)?;
        let expr = match opt(sym("=")).parse_next(i)? {
            Some(()) => string(i)?,
            None => name.clone(),
        };
        if paths && crate::json::parse_path(&expr).is_none() {
            return syntax(i, format!("syntax error: invalid JSON expression {expr:?}"));
        }
        Ok((name, expr))
    };
    let params: Vec<(String, String)> = separated(0.., param, sym(",")).parse_next(i)?;
    if !params.is_empty() && opt(sym(",")).parse_next(i)?.is_some() {
        // A trailing comma: the next must be a parameter.
        return syntax(i, "syntax error: expected a label name");
    }
    Ok(params)
}

/// `a or b`: `or` binds loosest of the label-filter operators.
fn label_or(i: &mut Input<'_>) -> PResult<LabelFilter> {
    nested(i, |i| label_chain(i, "or", label_and, LabelFilter::Or))
}

fn label_and(i: &mut Input<'_>) -> PResult<LabelFilter> {
    label_chain(i, "and", label_unit, LabelFilter::And)
}

/// `operand (keyword operand)*`, joined from the left.
fn label_chain(
    i: &mut Input<'_>,
    keyword: &'static str,
    operand: fn(&mut Input<'_>) -> PResult<LabelFilter>,
    join: fn(Box<LabelFilter>, Box<LabelFilter>) -> LabelFilter,
) -> PResult<LabelFilter> {
    chain(i, |i| {
        let mut left = operand(i)?;
        while opt(word(keyword)).parse_next(i)?.is_some() {
            deepen(i)?;
            left = join(Box::new(left), Box::new(operand(i)?));
        }
        Ok(left)
    })
}

/// A primary, then `,` (or a juxtaposed filter) whose right side runs to
/// the end of the expression, as Loki's grammar resolves it (yacc prefers
/// the shift): `a, b or c` is `a and (b or c)`; `a and b or c` is `(a and b) or c`.
fn label_unit(i: &mut Input<'_>) -> PResult<LabelFilter> {
    let left = label_primary(i)?;
    let juxtaposed = matches!(ahead(i, 0), Some(Tok::Ident(w)) if !matches!(w.to_ascii_lowercase().as_str(), "and" | "or" | "unless" | "offset" | "by" | "without" | "on" | "ignoring" | "bool"))
        && matches!(ahead(i, 1), Some(Tok::Sym("=" | "!=" | "=~" | "!~" | ">" | ">=" | "<" | "<=" | "==")));
    if juxtaposed || opt(sym(",")).parse_next(i)?.is_some() {
        return Ok(LabelFilter::And(Box::new(left), Box::new(label_or(i)?)));
    }
    Ok(left)
}

/// `( filter )`, `label op "value"`, `label op 5`/`5s`/`5MB`, `label = ip("…")`.
fn label_primary(i: &mut Input<'_>) -> PResult<LabelFilter> {
    if opt(sym("(")).parse_next(i)?.is_some() {
        let inner = label_or(i)?;
        expect_sym(")").parse_next(i)?;
        return Ok(inner);
    }
    let label = ident(i)?;
    let op = match ahead(i, 0) {
        Some(Tok::Sym(s)) => *s,
        _ => return syntax(i, format!("syntax error: expected a comparison after `{label}`")),
    };
    any.parse_next(i)?;
    let num_op = match op {
        "=" | "==" => Some(NumOp::Eq),
        "!=" => Some(NumOp::Ne),
        ">" => Some(NumOp::Gt),
        ">=" => Some(NumOp::Ge),
        "<" => Some(NumOp::Lt),
        "<=" => Some(NumOp::Le),
        _ => None,
    };
    let sign = opt(alt((sym("-").value(-1.0), sym("+").value(1.0)))).parse_next(i)?;
    let minus = if sign == Some(-1.0) { "-" } else { "" };
    let value_at = at(i);
    let (value, text, unit) = match ahead(i, 0).cloned() {
        Some(Tok::Str(value)) if sign.is_none() => {
            let op = match op {
                "=" => MatchOp::Eq,
                "!=" => MatchOp::Ne,
                "=~" => MatchOp::Re,
                "!~" => MatchOp::NotRe,
                other => return syntax(i, format!("syntax error: `{other}` cannot compare with a string")),
            };
            any.parse_next(i)?;
            return Ok(LabelFilter::Str(make_matcher(i, label, op, value)?));
        }
        Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("ip") && sign.is_none() && (op == "=" || op == "!=") => {
            let spec = ip_call(i)?;
            if crate::eval::IpSpec::parse(&spec).is_none() {
                return invalid(format!("invalid ip filter {spec:?}"));
            }
            return Ok(LabelFilter::Ip { label, equal: op == "=", spec });
        }
        Some(Tok::Num(n)) => (sign.unwrap_or(1.0) * n, None, Unit::Number),
        // Loki's literalExpr takes `+`; a duration or a byte size only `-`.
        Some(Tok::Dur(d, t)) if sign != Some(1.0) => (sign.unwrap_or(1.0) * d, Some(format!("{minus}{t}")), Unit::Duration),
        Some(Tok::Bytes(b, t)) if sign != Some(1.0) => (sign.unwrap_or(1.0) * b, Some(format!("{minus}{t}")), Unit::Bytes),
        _ => {
            return fatal(ParseError::Syntax { at: value_at, message: "syntax error: expected a string, a number, a duration or a byte size".into() })
        }
    };
    any.parse_next(i)?;
    let Some(op) = num_op else {
        return syntax(i, format!("syntax error: `{op}` cannot compare with a number"));
    };
    let text = text.unwrap_or_else(|| fmt_f64(value));
    Ok(LabelFilter::Num { label, op, value, text, unit })
}
