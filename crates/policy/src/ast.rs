//! The syntax tree: what the parser produces and the pretty-printer prints.
//!
//! Every node carries the byte [`Span`] of the source it came from.
//! Parentheses leave no node behind; [`Display`](fmt::Display) puts back
//! exactly the ones the precedence rules need, so printing and re-parsing
//! yields the same tree (ignoring spans).

use std::fmt;

use serde::Serialize;

/// A byte range `start..end` in the source text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Span {
    /// First byte of the range.
    pub start: usize,
    /// One past the last byte of the range.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`.
    pub const fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    /// The text this span covers in `src`, or `""` when out of range.
    pub fn text(self, src: &str) -> &str {
        src.get(self.start..self.end).unwrap_or("")
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(span: Span) -> Self {
        (span.start, span.end.saturating_sub(span.start)).into()
    }
}

/// A name with its span: a field, a function, a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// The identifier as written.
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// An expression node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    /// What kind of expression this is.
    pub kind: ExprKind,
    /// The source range of the whole expression.
    pub span: Span,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator as written in source.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Gt => ">",
            CmpOp::Le => "<=",
            CmpOp::Ge => ">=",
        }
    }

    /// Whether this is `==` or `!=` (the only operators strings support).
    pub fn is_equality(self) -> bool {
        matches!(self, CmpOp::Eq | CmpOp::Ne)
    }
}

/// The shapes an expression can take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprKind {
    /// `true` / `false`
    Bool(bool),
    /// An integer literal (i128 range).
    Int(i128),
    /// A single-quoted string literal, escapes resolved.
    Str(String),
    /// `[a, b, ...]`
    List(Vec<Expr>),
    /// A bare identifier: a keyword (`activity`, ...) or a bound variable.
    Ident(String),
    /// `base.field`
    Member {
        /// The value whose field is read.
        base: Box<Expr>,
        /// The field name.
        field: Name,
    },
    /// `base[index]`: list index or map key.
    Index {
        /// The list or map.
        base: Box<Expr>,
        /// The index or key.
        index: Box<Expr>,
    },
    /// `base[start..end]`, either bound optional.
    Slice {
        /// The list or string.
        base: Box<Expr>,
        /// Inclusive start, default 0.
        start: Option<Box<Expr>>,
        /// Exclusive end, default the length.
        end: Option<Box<Expr>>,
    },
    /// `base.method(args)`: `any`, `all`, `filter`, `contains`, `count`.
    Method {
        /// The list the function runs on.
        base: Box<Expr>,
        /// The function name.
        method: Name,
        /// The arguments as written.
        args: Vec<Expr>,
    },
    /// `Name(args)`: `Timestamp(..)`, `CronSpan(..)`.
    Call {
        /// The function name.
        func: Name,
        /// The arguments as written.
        args: Vec<Expr>,
    },
    /// `!operand`
    Not(Box<Expr>),
    /// `a && b && ...` (two or more operands, flattened within one chain).
    And(Vec<Expr>),
    /// `a || b || ...` (two or more operands, flattened within one chain).
    Or(Vec<Expr>),
    /// `lhs op rhs`
    Compare {
        /// The operator.
        op: CmpOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `lhs in rhs`
    In {
        /// The needle.
        lhs: Box<Expr>,
        /// The list (or `CronSpan`).
        rhs: Box<Expr>,
    },
}

impl Expr {
    /// A node of `kind` covering `span`.
    pub fn new(kind: ExprKind, span: Span) -> Self {
        Expr { kind, span }
    }

    /// A copy of this tree with every span set to the default, for
    /// comparing trees by shape.
    pub fn without_spans(&self) -> Expr {
        let b = |e: &Expr| Box::new(e.without_spans());
        let n = |n: &Name| Name { name: n.name.clone(), span: Span::default() };
        let v = |es: &[Expr]| es.iter().map(Expr::without_spans).collect();
        let kind = match &self.kind {
            ExprKind::Bool(x) => ExprKind::Bool(*x),
            ExprKind::Int(x) => ExprKind::Int(*x),
            ExprKind::Str(x) => ExprKind::Str(x.clone()),
            ExprKind::Ident(x) => ExprKind::Ident(x.clone()),
            ExprKind::List(es) => ExprKind::List(v(es)),
            ExprKind::Member { base, field } => ExprKind::Member { base: b(base), field: n(field) },
            ExprKind::Index { base, index } => ExprKind::Index { base: b(base), index: b(index) },
            ExprKind::Slice { base, start, end } => {
                ExprKind::Slice { base: b(base), start: start.as_deref().map(b), end: end.as_deref().map(b) }
            }
            ExprKind::Method { base, method, args } => {
                ExprKind::Method { base: b(base), method: n(method), args: v(args) }
            }
            ExprKind::Call { func, args } => ExprKind::Call { func: n(func), args: v(args) },
            ExprKind::Not(e) => ExprKind::Not(b(e)),
            ExprKind::And(es) => ExprKind::And(v(es)),
            ExprKind::Or(es) => ExprKind::Or(v(es)),
            ExprKind::Compare { op, lhs, rhs } => ExprKind::Compare { op: *op, lhs: b(lhs), rhs: b(rhs) },
            ExprKind::In { lhs, rhs } => ExprKind::In { lhs: b(lhs), rhs: b(rhs) },
        };
        Expr::new(kind, Span::default())
    }

    /// Binding strength, higher binds tighter: 1 `||`, 2 `&&`, 3 `!`,
    /// 4 comparison / `in`, 5 postfix and atoms.
    fn precedence(&self) -> u8 {
        match self.kind {
            ExprKind::Or(_) => 1,
            ExprKind::And(_) => 2,
            ExprKind::Not(_) => 3,
            ExprKind::Compare { .. } | ExprKind::In { .. } => 4,
            _ => 5,
        }
    }
}

/// Writes `s` as a single-quoted literal, escaping `'` and `\`.
pub(crate) fn write_str_literal(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('\'')?;
    for c in s.chars() {
        if c == '\'' || c == '\\' {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('\'')
}

/// Prints `e`, in parentheses when its precedence is below `min`.
fn child(f: &mut fmt::Formatter<'_>, e: &Expr, min: u8) -> fmt::Result {
    if e.precedence() < min { write!(f, "({e})") } else { write!(f, "{e}") }
}

fn list(f: &mut fmt::Formatter<'_>, es: &[Expr]) -> fmt::Result {
    for (i, e) in es.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{e}")?;
    }
    Ok(())
}

/// Canonical source form; re-parses to the same tree (ignoring spans).
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Bool(b) => write!(f, "{b}"),
            ExprKind::Int(i) => write!(f, "{i}"),
            ExprKind::Str(s) => write_str_literal(f, s),
            ExprKind::Ident(name) => f.write_str(name),
            ExprKind::List(es) => {
                f.write_str("[")?;
                list(f, es)?;
                f.write_str("]")
            }
            ExprKind::Member { base, field } => {
                child(f, base, 5)?;
                write!(f, ".{}", field.name)
            }
            ExprKind::Index { base, index } => {
                child(f, base, 5)?;
                write!(f, "[{index}]")
            }
            ExprKind::Slice { base, start, end } => {
                child(f, base, 5)?;
                f.write_str("[")?;
                if let Some(s) = start {
                    write!(f, "{s}")?;
                }
                f.write_str("..")?;
                if let Some(e) = end {
                    write!(f, "{e}")?;
                }
                f.write_str("]")
            }
            ExprKind::Method { base, method, args } => {
                child(f, base, 5)?;
                write!(f, ".{}(", method.name)?;
                list(f, args)?;
                f.write_str(")")
            }
            ExprKind::Call { func, args } => {
                write!(f, "{}(", func.name)?;
                list(f, args)?;
                f.write_str(")")
            }
            // `!` binds looser than comparisons: `!a == b` is `!(a == b)`.
            ExprKind::Not(e) => {
                f.write_str("!")?;
                child(f, e, 3)
            }
            // A nested chain of the same operator keeps its parentheses so
            // the re-parsed tree keeps its nesting.
            ExprKind::And(es) | ExprKind::Or(es) => {
                let (op, min) = if matches!(self.kind, ExprKind::And(_)) { (" && ", 3) } else { (" || ", 2) };
                for (i, e) in es.iter().enumerate() {
                    if i > 0 {
                        f.write_str(op)?;
                    }
                    child(f, e, min)?;
                }
                Ok(())
            }
            ExprKind::Compare { op, lhs, rhs } => {
                child(f, lhs, 5)?;
                write!(f, " {} ", op.as_str())?;
                child(f, rhs, 5)
            }
            ExprKind::In { lhs, rhs } => {
                child(f, lhs, 5)?;
                f.write_str(" in ")?;
                child(f, rhs, 5)
            }
        }
    }
}
