//! Static checking and compilation of an [`Expr`] into the evaluator's
//! tree: keywords and schema fields resolved to enums, literals folded
//! into constants, `Timestamp`/`CronSpan` parsed once, `filter(..).count()`
//! fused, and every statically detectable type error reported.

use std::fmt;

use crate::ast::{CmpOp, Expr, ExprKind, Name, Span};
use crate::error::Error;
use crate::time::{CronSpan, CronSpanError, Timestamp};
use crate::value::Const;

/// Which keywords a source text may use. Each policy field allows its
/// own set; [`Keywords::default`] allows all four.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Keywords {
    /// `activity`
    pub activity: bool,
    /// `approvers`
    pub approvers: bool,
    /// `credentials`
    pub credentials: bool,
    /// `time` (`time.now`)
    pub time: bool,
}

impl Keywords {
    /// All four keywords.
    pub const ALL: Keywords = Keywords { activity: true, approvers: true, credentials: true, time: true };
    /// A policy's or MFA policy's `condition`: `activity`.
    pub const CONDITION: Keywords = Keywords { activity: true, approvers: false, credentials: false, time: false };
    /// A policy's `consensus`: `approvers`, `credentials`.
    pub const CONSENSUS: Keywords = Keywords { activity: false, approvers: true, credentials: true, time: false };
    /// A session profile's `scope`: `activity`.
    pub const SCOPE: Keywords = Keywords::CONDITION;
    /// A policy's `time` field: `time`.
    pub const TIME: Keywords = Keywords { activity: false, approvers: false, credentials: false, time: true };

    fn allows(self, k: Root) -> bool {
        match k {
            Root::Activity => self.activity,
            Root::Approvers => self.approvers,
            Root::Credentials => self.credentials,
            Root::Time => self.time,
        }
    }

    fn allowed_list(self) -> String {
        let all = [Root::Activity, Root::Approvers, Root::Credentials, Root::Time];
        let names: Vec<String> =
            all.into_iter().filter(|k| self.allows(*k)).map(|k| format!("`{}`", k.name())).collect();
        names.join(", ")
    }
}

impl Default for Keywords {
    fn default() -> Self {
        Keywords::ALL
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    Activity,
    Approvers,
    Credentials,
    Time,
}

impl Root {
    fn from_name(s: &str) -> Option<Root> {
        Some(match s {
            "activity" => Root::Activity,
            "approvers" => Root::Approvers,
            "credentials" => Root::Credentials,
            "time" => Root::Time,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Root::Activity => "activity",
            Root::Approvers => "approvers",
            Root::Credentials => "credentials",
            Root::Time => "time",
        }
    }
}

/// A field resolved at compile time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Field {
    ActType,
    ActKind,
    ActResource,
    ActAction,
    ActParams,
    UserId,
    UserTags,
    UserEmail,
    UserAlias,
    CredId,
    CredUserId,
    CredType,
    CredCredentialId,
    CredPublicKey,
    /// A key of a JSON object (only known at run time).
    Key(Box<str>),
}

/// Which list function a lambda node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quant {
    Any,
    All,
    Filter,
    /// `filter(v, p).count()` fused: counts without building a list.
    CountIf,
}

/// A compiled expression.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) kind: NodeKind,
    pub(crate) span: Span,
}

#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    Const(Const),
    /// A list literal of constants.
    ConstList(Box<[Const]>),
    /// A list literal with computed elements.
    List(Box<[Node]>),
    Cron(Box<CronSpan>),
    Activity,
    Approvers,
    Credentials,
    TimeNow,
    /// A bound variable, counted from the innermost binder (0).
    Var(usize),
    Field(Box<Node>, Field),
    Index(Box<Node>, Box<Node>),
    Slice(Box<Node>, Option<Box<Node>>, Option<Box<Node>>),
    Not(Box<Node>),
    And(Box<[Node]>),
    Or(Box<[Node]>),
    Cmp(CmpOp, Box<Node>, Box<Node>),
    In(Box<Node>, Box<Node>),
    /// `list.q(v, body)`.
    Lambda(Quant, Box<Node>, Box<Node>),
    Contains(Box<Node>, Box<Node>),
    /// `<string field> == 'lit'` (or `!=` when the flag is false), the
    /// most common shape in policies. The field node is a `Field` whose
    /// base is `Activity` or a `Var`.
    StrEq(Box<Node>, Box<str>, bool),
    /// `<string field> in ['a', 'b', ..]`.
    StrIn(Box<Node>, Box<[Box<str>]>),
    Count(Box<Node>),
    /// Placeholder for a node that failed to check (never evaluated:
    /// compilation fails when any error was recorded).
    Invalid,
}

/// Static types.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ty {
    Bool,
    Int,
    Str,
    Timestamp,
    CronSpan,
    Activity,
    User,
    Credential,
    Map,
    List(Box<Ty>),
    /// From `activity.params`: only known at run time.
    Dyn,
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Bool => f.write_str("bool"),
            Ty::Int => f.write_str("int"),
            Ty::Str => f.write_str("string"),
            Ty::Timestamp => f.write_str("timestamp"),
            Ty::CronSpan => f.write_str("cron span"),
            Ty::Activity => f.write_str("`activity`"),
            Ty::User => f.write_str("user"),
            Ty::Credential => f.write_str("credential"),
            Ty::Map => f.write_str("map"),
            Ty::List(t) => write!(f, "list<{t}>"),
            Ty::Dyn => f.write_str("value"),
        }
    }
}

impl Ty {
    fn is_scalar(&self) -> bool {
        matches!(self, Ty::Bool | Ty::Int | Ty::Str | Ty::Timestamp)
    }
}

const ACTIVITY_FIELDS: &[(&str, Field, Ty)] = &[
    ("type", Field::ActType, Ty::Str),
    ("kind", Field::ActKind, Ty::Str),
    ("resource", Field::ActResource, Ty::Str),
    ("action", Field::ActAction, Ty::Str),
    ("params", Field::ActParams, Ty::Map),
];
const CREDENTIAL_FIELDS: &[(&str, Field, Ty)] = &[
    ("id", Field::CredId, Ty::Str),
    ("user_id", Field::CredUserId, Ty::Str),
    ("type", Field::CredType, Ty::Str),
    ("credential_id", Field::CredCredentialId, Ty::Str),
    ("public_key", Field::CredPublicKey, Ty::Str),
];
// `tags` (list<string>) is handled separately: a const table cannot hold
// the boxed type.
const USER_FIELDS: &[(&str, Field, Ty)] = &[
    ("id", Field::UserId, Ty::Str),
    ("email", Field::UserEmail, Ty::Str),
    ("alias", Field::UserAlias, Ty::Str),
    ("name", Field::UserAlias, Ty::Str),
];

fn field_list(fields: &[(&str, Field, Ty)], extra: &[&str]) -> String {
    let names: Vec<String> =
        fields.iter().map(|(n, _, _)| *n).chain(extra.iter().copied()).map(|n| format!("`{n}`")).collect();
    names.join(", ")
}

const LIST_FUNCTIONS: &str = "`any`, `all`, `filter`, `contains`, `count`";
const GLOBAL_FUNCTIONS: &str = "`Timestamp`, `CronSpan`";

/// The result of compiling a source text.
pub(crate) struct Compiled {
    pub(crate) root: Node,
    pub(crate) fields_read: Vec<String>,
}

/// Checks and compiles `expr`; `Err` holds every error found.
pub(crate) fn compile(expr: &Expr, keywords: Keywords) -> Result<Compiled, Vec<Error>> {
    let mut c = Checker { keywords, scope: Vec::new(), errors: Vec::new(), paths: Vec::new() };
    let root = c.expr(expr);
    c.expect_bool(&root, "a boolean condition");
    if !c.errors.is_empty() {
        return Err(c.errors);
    }
    // Keep only leaf paths: `activity.params` is implied by
    // `activity.params.amount`.
    let mut fields: Vec<String> = Vec::new();
    for p in &c.paths {
        let implied = c.paths.iter().any(|q| {
            q.len() > p.len() && q.starts_with(p.as_str()) && matches!(q.as_bytes().get(p.len()), Some(b'.' | b'['))
        });
        if !implied && !fields.contains(p) {
            fields.push(p.clone());
        }
    }
    Ok(Compiled { root: root.node, fields_read: fields })
}

struct Var {
    name: String,
    ty: Ty,
    /// The path of the list the variable ranges over, plus `[]`.
    path: Option<String>,
}

struct Checker {
    keywords: Keywords,
    scope: Vec<Var>,
    errors: Vec<Error>,
    paths: Vec<String>,
}

/// A checked sub-expression.
struct Checked {
    node: Node,
    ty: Ty,
    /// The field path it reads, for `fields_read` (`activity.params.x`).
    path: Option<String>,
}

fn node(kind: NodeKind, span: Span) -> Node {
    Node { kind, span }
}

impl Checker {
    /// Records an error; the node becomes `Invalid` with type `Dyn` so no
    /// follow-up errors are reported for it.
    fn fail(&mut self, e: Error, span: Span) -> Checked {
        self.errors.push(e);
        Checked { node: node(NodeKind::Invalid, span), ty: Ty::Dyn, path: None }
    }

    fn ok(kind: NodeKind, span: Span, ty: Ty) -> Checked {
        Checked { node: node(kind, span), ty, path: None }
    }

    fn expect_bool(&mut self, c: &Checked, expected: &str) {
        if !matches!(c.ty, Ty::Bool | Ty::Dyn) {
            self.errors.push(Error::TypeMismatch {
                expected: expected.into(),
                found: c.ty.to_string(),
                span: c.node.span,
            });
        }
    }

    fn expect_int(&mut self, c: &Checked) {
        if !matches!(c.ty, Ty::Int | Ty::Dyn) {
            self.errors.push(Error::TypeMismatch {
                expected: "int".into(),
                found: c.ty.to_string(),
                span: c.node.span,
            });
        }
    }

    fn with_path(&mut self, mut c: Checked, path: Option<String>) -> Checked {
        if let Some(p) = &path {
            self.paths.push(p.clone());
        }
        c.path = path;
        c
    }

    fn expr(&mut self, e: &Expr) -> Checked {
        let span = e.span;
        match &e.kind {
            ExprKind::Bool(b) => Self::ok(NodeKind::Const(Const::Bool(*b)), span, Ty::Bool),
            ExprKind::Int(i) => Self::ok(NodeKind::Const(Const::Int(*i)), span, Ty::Int),
            ExprKind::Str(s) => Self::ok(NodeKind::Const(Const::Str(s.as_str().into())), span, Ty::Str),
            ExprKind::List(items) => self.list(items, span),
            ExprKind::Ident(name) => self.ident(name, span),
            ExprKind::Member { base, field } => {
                if let ExprKind::Ident(name) = &base.kind
                    && name == "time"
                    && !self.scope.iter().any(|v| v.name == "time")
                {
                    return self.time_member(field, base.span, span);
                }
                let base = self.expr(base);
                self.member(base, field, span)
            }
            ExprKind::Index { base, index } => {
                let base = self.expr(base);
                let index = self.expr(index);
                self.index(base, index, span)
            }
            ExprKind::Slice { base, start, end } => {
                let base = self.expr(base);
                let start = start.as_deref().map(|s| self.expr(s));
                let end = end.as_deref().map(|s| self.expr(s));
                for b in start.iter().chain(end.iter()) {
                    self.expect_int(b);
                }
                let ty = match &base.ty {
                    t @ (Ty::List(_) | Ty::Str | Ty::Dyn) => t.clone(),
                    other => {
                        let found = other.to_string();
                        return self.fail(
                            Error::TypeMismatch { expected: "list or string".into(), found, span: base.node.span },
                            span,
                        );
                    }
                };
                let path = base.path.clone();
                let kind = NodeKind::Slice(
                    Box::new(base.node),
                    start.map(|s| Box::new(s.node)),
                    end.map(|s| Box::new(s.node)),
                );
                Checked { node: node(kind, span), ty, path }
            }
            ExprKind::Method { base, method, args } => self.method(base, method, args, span),
            ExprKind::Call { func, args } => self.call(func, args, span),
            ExprKind::Not(inner) => {
                let inner = self.expr(inner);
                self.expect_bool(&inner, "bool");
                Self::ok(NodeKind::Not(Box::new(inner.node)), span, Ty::Bool)
            }
            ExprKind::And(items) | ExprKind::Or(items) => {
                let mut nodes = Vec::with_capacity(items.len());
                for item in items {
                    let c = self.expr(item);
                    self.expect_bool(&c, "bool");
                    nodes.push(c.node);
                }
                let nodes = nodes.into_boxed_slice();
                let kind = if matches!(e.kind, ExprKind::And(_)) { NodeKind::And(nodes) } else { NodeKind::Or(nodes) };
                Self::ok(kind, span, Ty::Bool)
            }
            ExprKind::Compare { op, lhs, rhs } => {
                let lhs = self.expr(lhs);
                let rhs = self.expr(rhs);
                if let Err(err) = compare_types(*op, &lhs.ty, &rhs.ty, span) {
                    self.errors.push(err);
                }
                Self::ok(str_cmp(*op, lhs, rhs), span, Ty::Bool)
            }
            ExprKind::In { lhs, rhs } => {
                let lhs = self.expr(lhs);
                let rhs = self.expr(rhs);
                let err = match &rhs.ty {
                    Ty::List(elem) => compare_types(CmpOp::Eq, &lhs.ty, elem, span).err(),
                    Ty::CronSpan => (!matches!(lhs.ty, Ty::Timestamp | Ty::Dyn)).then(|| Error::TypeMismatch {
                        expected: "timestamp".into(),
                        found: lhs.ty.to_string(),
                        span: lhs.node.span,
                    }),
                    Ty::Dyn => (!(lhs.ty.is_scalar() || lhs.ty == Ty::Dyn)).then(|| Error::CannotCompare {
                        lhs: lhs.ty.to_string(),
                        rhs: "list element".into(),
                        span,
                    }),
                    other => Some(Error::TypeMismatch {
                        expected: "list or cron span after `in`".into(),
                        found: other.to_string(),
                        span: rhs.node.span,
                    }),
                };
                if let Some(err) = err {
                    self.errors.push(err);
                }
                Self::ok(str_in(lhs, rhs), span, Ty::Bool)
            }
        }
    }

    fn list(&mut self, items: &[Expr], span: Span) -> Checked {
        let mut elem = Ty::Dyn;
        let mut nodes = Vec::with_capacity(items.len());
        for item in items {
            let c = self.expr(item);
            if elem == Ty::Dyn {
                elem = c.ty.clone();
            } else if c.ty != Ty::Dyn && c.ty != elem {
                self.errors.push(Error::TypeMismatch {
                    expected: format!("{elem} (list elements must all have one type)"),
                    found: c.ty.to_string(),
                    span: c.node.span,
                });
            }
            nodes.push(c.node);
        }
        let consts: Option<Vec<Const>> = nodes
            .iter()
            .map(|n| match &n.kind {
                NodeKind::Const(c) => Some(c.clone()),
                _ => None,
            })
            .collect();
        let kind = match consts {
            Some(cs) => NodeKind::ConstList(cs.into_boxed_slice()),
            None => NodeKind::List(nodes.into_boxed_slice()),
        };
        Self::ok(kind, span, Ty::List(Box::new(elem)))
    }

    fn ident(&mut self, name: &str, span: Span) -> Checked {
        if let Some(pos) = self.scope.iter().rposition(|v| v.name == name) {
            let depth = self.scope.len() - 1 - pos;
            let (ty, path) = match self.scope.get(pos) {
                Some(v) => (v.ty.clone(), v.path.clone()),
                None => (Ty::Dyn, None),
            };
            let c = Self::ok(NodeKind::Var(depth), span, ty);
            return self.with_path(c, path);
        }
        let Some(root) = Root::from_name(name) else {
            return self.fail(Error::UnknownKeyword { name: name.into(), span }, span);
        };
        if !self.keywords.allows(root) {
            let allowed = self.keywords.allowed_list();
            return self.fail(Error::KeywordNotAllowed { name: name.into(), allowed, span }, span);
        }
        let (kind, ty) = match root {
            Root::Activity => (NodeKind::Activity, Ty::Activity),
            Root::Approvers => (NodeKind::Approvers, Ty::List(Box::new(Ty::User))),
            Root::Credentials => (NodeKind::Credentials, Ty::List(Box::new(Ty::Credential))),
            // `time.now` is handled by `time_member`; `time` alone has no
            // value.
            Root::Time => {
                return self
                    .fail(Error::TypeMismatch { expected: "`time.now`".into(), found: "`time`".into(), span }, span);
            }
        };
        let c = Self::ok(kind, span, ty);
        self.with_path(c, Some(name.into()))
    }

    /// `time.<field>`: only `time.now` exists.
    fn time_member(&mut self, field: &Name, base_span: Span, span: Span) -> Checked {
        if !self.keywords.time {
            let allowed = self.keywords.allowed_list();
            return self.fail(Error::KeywordNotAllowed { name: "time".into(), allowed, span: base_span }, span);
        }
        if field.name != "now" {
            return self.fail(
                Error::UnknownField {
                    field: field.name.clone(),
                    on: "`time`".into(),
                    known: "`now`".into(),
                    span: field.span,
                },
                span,
            );
        }
        let c = Self::ok(NodeKind::TimeNow, span, Ty::Timestamp);
        self.with_path(c, Some("time.now".into()))
    }

    fn member(&mut self, base: Checked, field: &Name, span: Span) -> Checked {
        let name = field.name.as_str();
        let path = base.path.as_ref().map(|p| format!("{p}.{name}"));
        let table: &[(&str, Field, Ty)] = match &base.ty {
            Ty::Activity => ACTIVITY_FIELDS,
            Ty::Credential => CREDENTIAL_FIELDS,
            Ty::User if name == "tags" => {
                let c = Checked {
                    node: node(NodeKind::Field(Box::new(base.node), Field::UserTags), span),
                    ty: Ty::List(Box::new(Ty::Str)),
                    path: None,
                };
                return self.with_path(c, path);
            }
            Ty::User => USER_FIELDS,
            Ty::Map | Ty::Dyn => {
                let c = Checked {
                    node: node(NodeKind::Field(Box::new(base.node), Field::Key(name.into())), span),
                    ty: Ty::Dyn,
                    path: None,
                };
                return self.with_path(c, path);
            }
            other => {
                let ty = other.to_string();
                return self.fail(Error::NoFields { ty, field: name.into(), span: field.span }, span);
            }
        };
        match table.iter().find(|(n, _, _)| *n == name) {
            Some((_, f, ty)) => {
                let c = Checked {
                    node: node(NodeKind::Field(Box::new(base.node), f.clone()), span),
                    ty: ty.clone(),
                    path: None,
                };
                self.with_path(c, path)
            }
            None => {
                let on = match &base.path {
                    Some(p) if base.ty == Ty::Activity => format!("`{p}`"),
                    _ => base.ty.to_string(),
                };
                let extra: &[&str] = if base.ty == Ty::User { &["tags"] } else { &[] };
                self.fail(
                    Error::UnknownField { field: name.into(), on, known: field_list(table, extra), span: field.span },
                    span,
                )
            }
        }
    }

    fn index(&mut self, base: Checked, index: Checked, span: Span) -> Checked {
        let key_const = match &index.node.kind {
            NodeKind::Const(Const::Str(s)) => Some(s.clone()),
            _ => None,
        };
        let (ty, want) = match &base.ty {
            Ty::List(elem) => ((**elem).clone(), Some(Ty::Int)),
            Ty::Map => (Ty::Dyn, Some(Ty::Str)),
            Ty::Dyn => (Ty::Dyn, None),
            other => {
                let found = other.to_string();
                return self.fail(
                    Error::TypeMismatch { expected: "list or map before `[`".into(), found, span: base.node.span },
                    span,
                );
            }
        };
        match want {
            Some(w) if index.ty != w && index.ty != Ty::Dyn => {
                return self.fail(
                    Error::TypeMismatch { expected: w.to_string(), found: index.ty.to_string(), span: index.node.span },
                    span,
                );
            }
            None if !matches!(index.ty, Ty::Int | Ty::Str | Ty::Dyn) => {
                return self.fail(
                    Error::TypeMismatch {
                        expected: "int or string".into(),
                        found: index.ty.to_string(),
                        span: index.node.span,
                    },
                    span,
                );
            }
            _ => {}
        }
        let path = match (&base.path, &key_const) {
            (Some(p), Some(k)) => Some(format!("{p}.{k}")),
            (Some(p), None) => Some(format!("{p}[]")),
            _ => None,
        };
        // `m['key']` on a map is the same lookup as `m.key`.
        let kind = match key_const {
            Some(k) if matches!(base.ty, Ty::Map | Ty::Dyn) => NodeKind::Field(Box::new(base.node), Field::Key(k)),
            _ => NodeKind::Index(Box::new(base.node), Box::new(index.node)),
        };
        let c = Self::ok(kind, span, ty);
        self.with_path(c, path)
    }

    fn method(&mut self, base: &Expr, method: &Name, args: &[Expr], span: Span) -> Checked {
        let base = self.expr(base);
        let name = method.name.as_str();
        let elem = match &base.ty {
            Ty::List(elem) => (**elem).clone(),
            Ty::Dyn => Ty::Dyn,
            other => {
                let found = other.to_string();
                // Keep checking the arguments for their own errors.
                for a in args {
                    if !matches!(name, "any" | "all" | "filter") {
                        self.expr(a);
                    }
                }
                return self.fail(
                    Error::TypeMismatch {
                        expected: format!("a list before `.{name}(..)`"),
                        found,
                        span: base.node.span,
                    },
                    span,
                );
            }
        };
        let arity = match name {
            "any" | "all" | "filter" => 2,
            "contains" => 1,
            "count" => 0,
            _ => {
                return self.fail(
                    Error::UnknownFunction { name: name.into(), known: LIST_FUNCTIONS.into(), span: method.span },
                    span,
                );
            }
        };
        if args.len() != arity {
            return self.fail(Error::Arity { name: name.into(), expected: arity, found: args.len(), span }, span);
        }
        let list_path = base.path.clone();
        match (name, args) {
            ("count", _) => {
                // `l.filter(v, p).count()` counts without building a list.
                let kind = match base.node.kind {
                    NodeKind::Lambda(Quant::Filter, list, body) => NodeKind::Lambda(Quant::CountIf, list, body),
                    kind => NodeKind::Count(Box::new(node(kind, base.node.span))),
                };
                let c = Self::ok(kind, span, Ty::Int);
                self.with_path(c, list_path)
            }
            ("contains", [item]) => {
                let item = self.expr(item);
                if let Err(e) = compare_types(CmpOp::Eq, &elem, &item.ty, item.node.span) {
                    self.errors.push(e);
                }
                Self::ok(NodeKind::Contains(Box::new(base.node), Box::new(item.node)), span, Ty::Bool)
            }
            (_, [var, body]) => {
                let ExprKind::Ident(var_name) = &var.kind else {
                    return self.fail(Error::ExpectedVariable { func: name.into(), span: var.span }, span);
                };
                if Root::from_name(var_name).is_some() {
                    return self.fail(Error::KeywordAsVariable { name: var_name.clone(), span: var.span }, span);
                }
                self.scope.push(Var {
                    name: var_name.clone(),
                    ty: elem.clone(),
                    path: list_path.as_ref().map(|p| format!("{p}[]")),
                });
                let body = self.expr(body);
                self.scope.pop();
                self.expect_bool(&body, "bool");
                let (q, ty) = match name {
                    "any" => (Quant::Any, Ty::Bool),
                    "all" => (Quant::All, Ty::Bool),
                    _ => (Quant::Filter, base.ty.clone()),
                };
                let c = Self::ok(NodeKind::Lambda(q, Box::new(base.node), Box::new(body.node)), span, ty);
                if q == Quant::Filter {
                    // A filtered list reads the same fields as its source.
                    Checked { path: list_path, ..c }
                } else {
                    c
                }
            }
            _ => self.fail(Error::Arity { name: name.into(), expected: arity, found: args.len(), span }, span),
        }
    }

    /// `Timestamp('..')` and `CronSpan('..', '..', '..')`: string literal
    /// arguments, parsed now so evaluation never parses.
    fn call(&mut self, func: &Name, args: &[Expr], span: Span) -> Checked {
        let name = func.name.as_str();
        let arity = match name {
            "Timestamp" => 1,
            "CronSpan" => 3,
            _ => {
                let known = if matches!(name, "any" | "all" | "filter" | "contains" | "count") {
                    format!("{GLOBAL_FUNCTIONS}; list functions are called on a list, e.g. `approvers.{name}(..)`")
                } else {
                    GLOBAL_FUNCTIONS.into()
                };
                return self.fail(Error::UnknownFunction { name: name.into(), known, span: func.span }, span);
            }
        };
        if args.len() != arity {
            return self.fail(Error::Arity { name: name.into(), expected: arity, found: args.len(), span }, span);
        }
        let mut lits: Vec<(&str, Span)> = Vec::with_capacity(arity);
        for a in args {
            match &a.kind {
                ExprKind::Str(s) => lits.push((s, a.span)),
                _ => {
                    return self.fail(Error::ExpectedLiteral { func: name.into(), span: a.span }, span);
                }
            }
        }
        match lits.as_slice() {
            [(text, at)] => match Timestamp::parse_rfc3339(text) {
                Ok(t) => Self::ok(NodeKind::Const(Const::Ts(t)), span, Ty::Timestamp),
                Err(reason) => self.fail(
                    Error::InvalidTimestamp { text: (*text).into(), reason: reason.to_lowercase(), span: *at },
                    span,
                ),
            },
            [(cron, cs), (dur, ds), (tz, ts)] => match CronSpan::new(cron, dur, tz) {
                Ok(c) => Self::ok(NodeKind::Cron(Box::new(c)), span, Ty::CronSpan),
                Err(errs) => {
                    for e in errs {
                        self.errors.push(match e {
                            CronSpanError::Cron(reason) => {
                                Error::InvalidCron { text: (*cron).into(), reason, span: *cs }
                            }
                            CronSpanError::Duration => Error::InvalidDuration { text: (*dur).into(), span: *ds },
                            CronSpanError::TimeZone => Error::UnknownTimeZone { text: (*tz).into(), span: *ts },
                        });
                    }
                    Checked { node: node(NodeKind::Invalid, span), ty: Ty::CronSpan, path: None }
                }
            },
            _ => self.fail(Error::Arity { name: name.into(), expected: arity, found: args.len(), span }, span),
        }
    }
}

/// Whether `lhs op rhs` is well-typed.
fn compare_types(op: CmpOp, lhs: &Ty, rhs: &Ty, span: Span) -> Result<(), Error> {
    let comparable = |t: &Ty| t.is_scalar() || *t == Ty::Dyn;
    let cannot = || Error::CannotCompare { lhs: lhs.to_string(), rhs: rhs.to_string(), span };
    if !comparable(lhs) || !comparable(rhs) {
        return Err(cannot());
    }
    if lhs != rhs && *lhs != Ty::Dyn && *rhs != Ty::Dyn {
        return Err(cannot());
    }
    if !op.is_equality() {
        let known = if *lhs == Ty::Dyn { rhs } else { lhs };
        if matches!(known, Ty::Str | Ty::Bool) {
            return Err(Error::NotOrdered { op: op.as_str().into(), ty: format!("{known}s"), span });
        }
    }
    Ok(())
}

/// Whether `c` is a statically string-typed field of `activity` or of a
/// bound variable: the subject of the `StrEq`/`StrIn` fast paths.
fn is_str_field(c: &Checked) -> bool {
    c.ty == Ty::Str
        && matches!(&c.node.kind, NodeKind::Field(base, f)
            if matches!(base.kind, NodeKind::Activity | NodeKind::Var(_))
                && !matches!(f, Field::Key(_)))
}

/// `field == 'lit'` / `'lit' != field` as `StrEq`, else a plain `Cmp`.
fn str_cmp(op: CmpOp, lhs: Checked, rhs: Checked) -> NodeKind {
    let literal = |c: &Checked| matches!(c.node.kind, NodeKind::Const(Const::Str(_)));
    let (field, lit) = match (is_str_field(&lhs), is_str_field(&rhs)) {
        (true, _) if literal(&rhs) => (lhs, rhs),
        (_, true) if literal(&lhs) => (rhs, lhs),
        _ => return NodeKind::Cmp(op, Box::new(lhs.node), Box::new(rhs.node)),
    };
    match (op.is_equality(), lit.node.kind) {
        (true, NodeKind::Const(Const::Str(value))) => NodeKind::StrEq(Box::new(field.node), value, op == CmpOp::Eq),
        // Unreachable for well-typed input (strings are not ordered); keep
        // the operands in source order for the error message.
        (_, kind) => {
            let lit = Box::new(node(kind, lit.node.span));
            if field.node.span.start < lit.span.start {
                NodeKind::Cmp(op, Box::new(field.node), lit)
            } else {
                NodeKind::Cmp(op, lit, Box::new(field.node))
            }
        }
    }
}

/// `field in ['a', 'b']` as `StrIn`, else a plain `In`.
fn str_in(lhs: Checked, rhs: Checked) -> NodeKind {
    if is_str_field(&lhs)
        && let NodeKind::ConstList(items) = &rhs.node.kind
    {
        let strs: Option<Vec<Box<str>>> = items
            .iter()
            .map(|c| match c {
                Const::Str(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        if let Some(strs) = strs {
            return NodeKind::StrIn(Box::new(lhs.node), strs.into_boxed_slice());
        }
    }
    NodeKind::In(Box::new(lhs.node), Box::new(rhs.node))
}
