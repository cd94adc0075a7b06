//! Tokens to [`Expr`]: a recursive-descent parser with error recovery.
//!
//! Precedence, loosest first: `||`, `&&`, `!`, comparisons and `in`
//! (not chainable), postfix (`.field`, `[i]`, `[a..b]`, `.f(..)`).

use crate::ast::{CmpOp, Expr, ExprKind, Name, Span};
use crate::error::{Diagnostics, Error, line_col};
use crate::lexer::{Tok, Token, lex};

/// The deepest nesting the parser accepts (parentheses, `!`, list and
/// argument brackets, and each step of a `.`/`[]` chain count one level).
/// Keeps every recursive pass over the tree well inside the stack.
pub const MAX_DEPTH: usize = 64;

/// Parses `src` into a syntax tree, reporting every error the parser
/// could recover from.
pub fn parse(src: &str) -> Result<Expr, Diagnostics> {
    match parse_recovering(src) {
        (Some(e), errors) if errors.is_empty() => Ok(e),
        (_, errors) => Err(Diagnostics::new(src, errors)),
    }
}

/// Parses `src`, returning a tree whenever the parser got through (even
/// if the lexer had to repair the input, e.g. a double-quoted string), so
/// the checker can add its own errors; and every error found. The tree is
/// `None` only if `errors` is non-empty.
pub(crate) fn parse_recovering(src: &str) -> (Option<Expr>, Vec<Error>) {
    let mut errors = Vec::new();
    let toks = lex(src, &mut errors);
    let mut p = Parser { src, toks, pos: 0, errors: Vec::new(), depth: 0, aborted: false };
    let expr = p.parse_expr();
    if !p.at(&Tok::Eof) && p.errors.is_empty() && errors.is_empty() {
        p.unexpected("`&&`, `||` or end of input");
    }
    let parsed_cleanly = p.errors.is_empty();
    errors.append(&mut p.errors);
    match expr {
        Some(e) if parsed_cleanly => (Some(e), errors),
        _ => {
            if errors.is_empty() {
                // INVARIANT: a parse function returns None only after
                // recording an error; keep a diagnostic regardless.
                errors.push(Error::Unexpected {
                    expected: "an expression".into(),
                    found: "nothing".into(),
                    line: 1,
                    column: 1,
                    span: Span::new(0, src.len()),
                });
            }
            (None, errors)
        }
    }
}

static EOF: Token = Token { tok: Tok::Eof, span: Span::new(0, 0) };

struct Parser<'s> {
    src: &'s str,
    toks: Vec<Token>,
    pos: usize,
    errors: Vec<Error>,
    depth: usize,
    /// Set when nesting went too deep: the rest of the input is skipped
    /// and no further errors are recorded.
    aborted: bool,
}

impl Parser<'_> {
    fn token(&self) -> &Token {
        // INVARIANT: `toks` ends with Eof and `pos` never moves past it;
        // the fallback only keeps this total.
        self.toks.get(self.pos).unwrap_or(&EOF)
    }

    fn peek(&self) -> &Tok {
        &self.token().tok
    }

    fn at(&self, t: &Tok) -> bool {
        self.peek() == t
    }

    fn bump(&mut self) -> Token {
        let t = self.token().clone();
        if t.tok != Tok::Eof {
            self.pos += 1;
        }
        t
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.at(t) {
            self.bump();
            true
        } else {
            false
        }
    }

    /// End of the last consumed token.
    fn prev_end(&self) -> usize {
        match self.pos.checked_sub(1).and_then(|i| self.toks.get(i)) {
            Some(t) => t.span.end,
            None => 0,
        }
    }

    fn start(&self) -> usize {
        self.token().span.start
    }

    fn span_from(&self, start: usize) -> Span {
        Span::new(start, self.prev_end().max(start))
    }

    fn push(&mut self, e: Error) {
        if !self.aborted {
            self.errors.push(e);
        }
    }

    fn unexpected(&mut self, expected: &str) {
        let t = self.token();
        let span = t.span;
        let found = t.tok.describe();
        let (line, column) = line_col(self.src, span.start);
        self.push(Error::Unexpected { expected: expected.to_owned(), found, line, column, span });
    }

    /// Enters one nesting level; false (and the rest of the input skipped)
    /// once the limit is crossed.
    fn enter(&mut self) -> bool {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let span = self.token().span;
            self.push(Error::TooDeep { span });
            self.aborted = true;
            self.pos = self.toks.len().saturating_sub(1);
            false
        } else {
            true
        }
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// After an error inside brackets: skip to the matching `close`
    /// (consuming it) or to the end.
    fn recover_to(&mut self, close: &Tok) {
        let mut level = 0usize;
        loop {
            match self.peek() {
                Tok::Eof => return,
                Tok::LParen | Tok::LBracket => level += 1,
                t @ (Tok::RParen | Tok::RBracket) => {
                    if level == 0 {
                        if t == close {
                            self.bump();
                        }
                        return;
                    }
                    level -= 1;
                }
                _ => {}
            }
            self.bump();
        }
    }

    fn parse_expr(&mut self) -> Option<Expr> {
        if !self.enter() {
            return None;
        }
        let e = self.parse_or();
        self.leave();
        e
    }

    fn parse_or(&mut self) -> Option<Expr> {
        self.chain(&Tok::OrOr, Self::parse_and, ExprKind::Or)
    }

    fn parse_and(&mut self) -> Option<Expr> {
        self.chain(&Tok::AndAnd, Self::parse_not, ExprKind::And)
    }

    /// `operand (op operand)*`, flattened into one n-ary node.
    fn chain(
        &mut self,
        op: &Tok,
        operand: fn(&mut Self) -> Option<Expr>,
        make: fn(Vec<Expr>) -> ExprKind,
    ) -> Option<Expr> {
        let start = self.start();
        let first = operand(self);
        if !self.at(op) {
            return first;
        }
        let mut ok = first.is_some();
        let mut items: Vec<Expr> = first.into_iter().collect();
        while self.eat(op) {
            match operand(self) {
                Some(e) => items.push(e),
                None => ok = false,
            }
        }
        ok.then(|| Expr::new(make(items), self.span_from(start)))
    }

    fn parse_not(&mut self) -> Option<Expr> {
        let start = self.start();
        if self.eat(&Tok::Bang) {
            if !self.enter() {
                return None;
            }
            let inner = self.parse_not();
            self.leave();
            return Some(Expr::new(ExprKind::Not(Box::new(inner?)), self.span_from(start)));
        }
        self.parse_cmp()
    }

    fn cmp_op(&self) -> Option<Option<CmpOp>> {
        Some(match self.peek() {
            Tok::EqEq => Some(CmpOp::Eq),
            Tok::Ne => Some(CmpOp::Ne),
            Tok::Lt => Some(CmpOp::Lt),
            Tok::Gt => Some(CmpOp::Gt),
            Tok::Le => Some(CmpOp::Le),
            Tok::Ge => Some(CmpOp::Ge),
            Tok::In => None,
            _ => return None,
        })
    }

    fn parse_cmp(&mut self) -> Option<Expr> {
        let start = self.start();
        let lhs = self.parse_postfix();
        let Some(op) = self.cmp_op() else {
            return lhs;
        };
        self.bump();
        let rhs = self.parse_postfix();
        let span = self.span_from(start);
        // Report `a < b < c` and parse on past it.
        let mut chained = false;
        while self.cmp_op().is_some() {
            let span = self.bump().span;
            if !chained {
                self.push(Error::ChainedComparison { span });
            }
            chained = true;
            self.parse_postfix();
        }
        let (lhs, rhs) = (Box::new(lhs?), Box::new(rhs?));
        if chained {
            return None;
        }
        let kind = match op {
            Some(op) => ExprKind::Compare { op, lhs, rhs },
            None => ExprKind::In { lhs, rhs },
        };
        Some(Expr::new(kind, span))
    }

    fn parse_name(&mut self, what: &str) -> Option<Name> {
        let t = self.token().clone();
        let name = match &t.tok {
            Tok::Ident(s) => s.clone(),
            Tok::True => "true".into(),
            Tok::False => "false".into(),
            Tok::In => "in".into(),
            _ => {
                self.unexpected(what);
                return None;
            }
        };
        self.bump();
        Some(Name { name, span: t.span })
    }

    fn parse_postfix(&mut self) -> Option<Expr> {
        let start = self.start();
        let mut expr = self.parse_primary();
        let mut steps = 0;
        loop {
            match self.peek() {
                Tok::Dot => {
                    self.bump();
                    let name = self.parse_name("a field or function name after `.`");
                    let args = if self.at(&Tok::LParen) { Some(self.parse_args()) } else { None };
                    let (Some(base), Some(name)) = (expr, name) else {
                        expr = None;
                        break;
                    };
                    let base = Box::new(base);
                    let kind = match args {
                        Some(args) => ExprKind::Method { base, method: name, args: args? },
                        None => ExprKind::Member { base, field: name },
                    };
                    expr = Some(Expr::new(kind, self.span_from(start)));
                }
                Tok::LBracket => {
                    self.bump();
                    let kind = self.parse_bracket();
                    expr = match (expr, kind) {
                        (Some(base), Some(b)) => {
                            let base = Box::new(base);
                            let kind = match b {
                                Bracket::Index(index) => ExprKind::Index { base, index: Box::new(index) },
                                Bracket::Slice(start, end) => {
                                    ExprKind::Slice { base, start: start.map(Box::new), end: end.map(Box::new) }
                                }
                            };
                            Some(Expr::new(kind, self.span_from(start)))
                        }
                        _ => None,
                    };
                }
                _ => break,
            }
            steps += 1;
            if !self.enter() {
                expr = None;
                break;
            }
        }
        self.depth = self.depth.saturating_sub(steps);
        expr
    }

    /// After `[`: an index `i]` or a slice `a..b]` (either bound optional).
    fn parse_bracket(&mut self) -> Option<Bracket> {
        let start = if self.at(&Tok::DotDot) {
            None
        } else {
            match self.parse_expr() {
                Some(e) => Some(e),
                None => {
                    self.recover_to(&Tok::RBracket);
                    return None;
                }
            }
        };
        let result = if self.eat(&Tok::DotDot) {
            let end = if self.at(&Tok::RBracket) {
                None
            } else {
                match self.parse_expr() {
                    Some(e) => Some(e),
                    None => {
                        self.recover_to(&Tok::RBracket);
                        return None;
                    }
                }
            };
            Bracket::Slice(start, end)
        } else {
            match start {
                Some(i) => Bracket::Index(i),
                None => {
                    self.unexpected("an index");
                    self.recover_to(&Tok::RBracket);
                    return None;
                }
            }
        };
        if !self.eat(&Tok::RBracket) {
            self.unexpected("`]`");
            self.recover_to(&Tok::RBracket);
            return None;
        }
        Some(result)
    }

    /// `( a, b, ... )`, starting at the `(`.
    fn parse_args(&mut self) -> Option<Vec<Expr>> {
        self.bump();
        self.parse_seq(&Tok::RParen, "`,` or `)`")
    }

    /// Comma-separated expressions up to `close` (consumed). A trailing
    /// comma is accepted.
    fn parse_seq(&mut self, close: &Tok, expected: &str) -> Option<Vec<Expr>> {
        let mut items = Vec::new();
        let mut ok = true;
        loop {
            if self.eat(close) {
                break;
            }
            match self.parse_expr() {
                Some(e) => items.push(e),
                None => {
                    self.recover_to(close);
                    return None;
                }
            }
            if self.eat(close) {
                break;
            }
            if !self.eat(&Tok::Comma) {
                self.unexpected(expected);
                self.recover_to(close);
                ok = false;
                break;
            }
        }
        ok.then_some(items)
    }

    fn parse_primary(&mut self) -> Option<Expr> {
        let t = self.token().clone();
        let start = t.span.start;
        let kind = match t.tok {
            Tok::True => {
                self.bump();
                ExprKind::Bool(true)
            }
            Tok::False => {
                self.bump();
                ExprKind::Bool(false)
            }
            Tok::Int(v) => {
                self.bump();
                match i128::try_from(v) {
                    Ok(v) => ExprKind::Int(v),
                    Err(_) => {
                        self.push(Error::IntegerOutOfRange { text: v.to_string(), span: t.span });
                        return None;
                    }
                }
            }
            Tok::Minus => {
                self.bump();
                let Tok::Int(v) = *self.peek() else {
                    self.unexpected("an integer after `-`");
                    return None;
                };
                let span = self.bump().span;
                match 0i128.checked_sub_unsigned(v) {
                    Some(v) => ExprKind::Int(v),
                    None => {
                        self.push(Error::IntegerOutOfRange { text: format!("-{v}"), span: Span::new(start, span.end) });
                        return None;
                    }
                }
            }
            Tok::Str(s) => {
                self.bump();
                ExprKind::Str(s)
            }
            Tok::Ident(name) => {
                self.bump();
                if self.at(&Tok::LParen) {
                    let args = self.parse_args()?;
                    ExprKind::Call { func: Name { name, span: t.span }, args }
                } else {
                    ExprKind::Ident(name)
                }
            }
            Tok::LParen => {
                self.bump();
                let inner = self.parse_expr();
                if !self.eat(&Tok::RParen) {
                    if inner.is_some() {
                        self.unexpected("`)`");
                    }
                    self.recover_to(&Tok::RParen);
                    return None;
                }
                // Parentheses leave no node; the span of the inner
                // expression widens to include them.
                let mut e = inner?;
                e.span = self.span_from(start);
                return Some(e);
            }
            Tok::LBracket => {
                self.bump();
                if !self.enter() {
                    return None;
                }
                let items = self.parse_seq(&Tok::RBracket, "`,` or `]`");
                self.leave();
                ExprKind::List(items?)
            }
            ref other => {
                self.unexpected("an expression");
                // Stop at tokens an enclosing construct can resume from;
                // skip anything else so parsing always moves on.
                if !matches!(other, Tok::RParen | Tok::RBracket | Tok::Comma | Tok::AndAnd | Tok::OrOr | Tok::Eof) {
                    self.bump();
                }
                return None;
            }
        };
        Some(Expr::new(kind, self.span_from(start)))
    }
}

enum Bracket {
    Index(Expr),
    Slice(Option<Expr>, Option<Expr>),
}
