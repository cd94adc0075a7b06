//! Evaluation of a compiled tree against a [`Context`].
//!
//! `&&` and `||` short-circuit, left to right: `false && x` is false and
//! `true || x` is true whatever `x` would do, so a guard such as
//! `activity.resource == 'PAYOUT' && activity.params.amount > 1` is simply
//! false for other activities. Everything else is strict, as in Turnkey:
//! `any`, `all`, `filter`, `in` and `contains` visit every element, and an
//! error anywhere they look (a missing field, a type mismatch, an index out
//! of range) fails the whole evaluation. Every step is charged to a
//! [`Budget`], so no program runs longer than its caller allows. Values
//! borrow from the context and the program; nothing on the common paths
//! allocates.

use std::cell::Cell;
use std::cmp::Ordering;
use std::rc::Rc;

use serde_json::Value as Json;

use crate::ast::{CmpOp, Span};
use crate::compile::{Field, Node, NodeKind, Quant};
use crate::error::Error;
use crate::value::{Context, List, Val};

/// Steps an evaluation may take when the caller sets no budget of its own:
/// far above any condition written by hand (those take tens of steps), far
/// below what would stall a server (a few milliseconds of work).
pub const DEFAULT_BUDGET: u64 = 100_000;

/// Bytes of string that one step pays for when strings are compared,
/// counted or sliced (work proportional to their length).
const BYTES_PER_STEP: usize = 64;

/// A count of evaluation steps, spent as a program runs: one per node
/// visited and per list element looked at, plus one per 64 bytes of string
/// compared or sliced. Deterministic (the same program on the same input
/// always takes the same steps, on any machine), unlike a wall-clock limit.
/// One budget may be shared by several evaluations (every policy of one
/// decision); once spent, every further step fails with
/// [`Error::BudgetExceeded`].
#[derive(Debug)]
pub struct Budget {
    limit: u64,
    left: Cell<u64>,
}

impl Budget {
    /// A budget of `limit` steps.
    pub fn new(limit: u64) -> Self {
        Budget { limit, left: Cell::new(limit) }
    }

    /// The steps it started with.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The steps spent so far.
    pub fn spent(&self) -> u64 {
        self.limit - self.left.get()
    }

    /// The steps still left.
    pub fn left(&self) -> u64 {
        self.left.get()
    }

    /// Takes `n` steps an evaluation made before (its result was remembered), at most all
    /// that are left: the budget then stands where that evaluation left it.
    pub fn charge(&self, n: u64) {
        self.left.set(self.left.get().saturating_sub(n));
    }

    /// Takes `n` steps, or fails at `span` when fewer are left.
    fn spend(&self, n: u64, span: Span) -> R<()> {
        match self.left.get().checked_sub(n) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => {
                self.left.set(0);
                Err(Box::new(Error::BudgetExceeded { limit: self.limit, span }))
            }
        }
    }

    /// One step, plus one per [`BYTES_PER_STEP`] bytes of `len`.
    fn spend_bytes(&self, len: usize, span: Span) -> R<()> {
        self.spend(1 + (len / BYTES_PER_STEP) as u64, span)
    }
}

type R<T> = Result<T, Box<Error>>;

/// The bound variables of enclosing `any`/`all`/`filter` calls, innermost
/// first; lives on the stack.
pub(crate) struct Env<'e, 'x> {
    val: Val<'x>,
    up: Option<&'e Env<'e, 'x>>,
}

fn lookup<'x>(env: Option<&Env<'_, 'x>>, depth: usize) -> Option<Val<'x>> {
    let mut e = env?;
    for _ in 0..depth {
        e = e.up?;
    }
    Some(e.val.clone())
}

fn type_error<T>(expected: &str, found: &Val<'_>, span: Span) -> R<T> {
    Err(Box::new(Error::RuntimeType { expected: expected.into(), found: found.type_name().into(), span }))
}

/// Evaluates a node that must produce a bool.
pub(crate) fn eval_bool<'x>(n: &'x Node, cx: &'x Context<'x>, env: Option<&Env<'_, 'x>>, b: &Budget) -> R<bool> {
    b.spend(1, n.span)?;
    match &n.kind {
        // Short-circuit: the first false operand decides, the rest are not run.
        NodeKind::And(items) => {
            for item in items {
                if !eval_bool(item, cx, env, b)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        // Short-circuit: the first true operand decides.
        NodeKind::Or(items) => {
            for item in items {
                if eval_bool(item, cx, env, b)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        NodeKind::Not(inner) => Ok(!eval_bool(inner, cx, env, b)?),
        NodeKind::StrEq(field, value, eq) => {
            let s = field_str(field, cx, env, b)?;
            b.spend_bytes(s.len().min(value.len()), n.span)?;
            Ok((s == &**value) == *eq)
        }
        NodeKind::StrIn(field, values) => {
            let s = field_str(field, cx, env, b)?;
            b.spend((values.len() as u64).saturating_mul(1 + (s.len() / BYTES_PER_STEP) as u64), n.span)?;
            Ok(values.iter().any(|v| **v == *s))
        }
        NodeKind::Const(crate::value::Const::Bool(b)) => Ok(*b),
        _ => eval_bool_rest(n, cx, env, b),
    }
}

/// The less common boolean nodes, kept out of `eval_bool` so its frame
/// stays small.
#[inline(never)]
fn eval_bool_rest<'x>(n: &'x Node, cx: &'x Context<'x>, env: Option<&Env<'_, 'x>>, b: &Budget) -> R<bool> {
    match &n.kind {
        NodeKind::Cmp(op, lhs, rhs) => {
            let l = operand(lhs, cx, env, b)?;
            let r = operand(rhs, cx, env, b)?;
            compare(*op, &l, &r, n.span, b)
        }
        NodeKind::In(needle, hay) => {
            let needle = operand(needle, cx, env, b)?;
            let hay = eval(hay, cx, env, b)?;
            match hay {
                Val::List(list) => contains(&list, &needle, n.span, b),
                Val::Cron(c) => match needle {
                    Val::Ts(t) => Ok(c.contains(t)),
                    other => type_error("timestamp", &other, n.span),
                },
                other => type_error("list", &other, n.span),
            }
        }
        NodeKind::Contains(list, item) => {
            let list = eval_list(list, cx, env, b)?;
            let item = eval(item, cx, env, b)?;
            contains(&list, &item, n.span, b)
        }
        NodeKind::Lambda(q @ (Quant::Any | Quant::All), list, body) => {
            let list = eval_list(list, cx, env, b)?;
            let (mut any, mut all) = (false, true);
            for i in 0..list.len() {
                b.spend(1, n.span)?;
                let inner = Env { val: list.get(i, n.span)?, up: env };
                let v = eval_bool(body, cx, Some(&inner), b)?;
                any |= v;
                all &= v;
            }
            Ok(if *q == Quant::Any { any } else { all })
        }
        _ => match eval(n, cx, env, b)? {
            Val::Bool(b) => Ok(b),
            other => type_error("bool", &other, n.span),
        },
    }
}

fn eval_list<'x>(n: &'x Node, cx: &'x Context<'x>, env: Option<&Env<'_, 'x>>, b: &Budget) -> R<List<'x>> {
    match n.kind {
        NodeKind::Approvers => Ok(List::Users(cx.approvers)),
        NodeKind::Credentials => Ok(List::Creds(cx.credentials)),
        _ => match eval(n, cx, env, b)? {
            Val::List(l) => Ok(l),
            other => type_error("list", &other, n.span),
        },
    }
}

fn eval_int<'x>(n: &'x Node, cx: &'x Context<'x>, env: Option<&Env<'_, 'x>>, b: &Budget) -> R<i128> {
    match eval(n, cx, env, b)? {
        Val::Int(i) => Ok(i),
        other => type_error("int", &other, n.span),
    }
}

/// The hot leaves (constants, fields of `activity` and of bound
/// variables) without entering the general evaluator and its large frame.
#[inline]
fn operand<'x>(n: &'x Node, cx: &'x Context<'x>, env: Option<&Env<'_, 'x>>, b: &Budget) -> R<Val<'x>> {
    match &n.kind {
        NodeKind::Const(c) => Ok(c.val()),
        NodeKind::Field(base, field) => {
            let base = match &base.kind {
                NodeKind::Activity => match &cx.activity {
                    Some(a) => Val::Activity(a),
                    None => return Err(unavailable("activity", base.span)),
                },
                NodeKind::Var(depth) => match lookup(env, *depth) {
                    Some(v) => v,
                    None => return Err(unavailable("variable", base.span)),
                },
                _ => eval(base, cx, env, b)?,
            };
            field_of(base, field, n.span)
        }
        _ => eval(n, cx, env, b),
    }
}

/// A string field of `activity` or of a bound user or credential,
/// read without building intermediate values.
#[inline]
fn field_str<'x>(n: &'x Node, cx: &'x Context<'x>, env: Option<&Env<'_, 'x>>, b: &Budget) -> R<&'x str> {
    if let NodeKind::Field(base, field) = &n.kind {
        let fast = match (&base.kind, &cx.activity) {
            (NodeKind::Activity, Some(a)) => match field {
                Field::ActType => Some(a.activity_type),
                Field::ActKind => Some(a.kind),
                Field::ActResource => Some(a.resource),
                Field::ActAction => Some(a.action),
                _ => None,
            },
            (NodeKind::Var(depth), _) => match lookup_ref(env, *depth) {
                Some(Val::User(u)) => match field {
                    Field::UserId => Some(u.id),
                    Field::UserAlias => Some(u.alias),
                    _ => None,
                },
                Some(Val::Cred(c)) => match field {
                    Field::CredId => Some(c.id),
                    Field::CredUserId => Some(c.user_id),
                    Field::CredType => Some(c.credential_type),
                    Field::CredCredentialId => Some(c.credential_id),
                    Field::CredPublicKey => Some(c.public_key),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        };
        if let Some(s) = fast {
            return Ok(s);
        }
    }
    field_str_slow(n, cx, env, b)
}

/// Everything `field_str` does not handle directly (a missing activity
/// or email) takes the general path, which produces the right error.
#[inline(never)]
fn field_str_slow<'x>(n: &'x Node, cx: &'x Context<'x>, env: Option<&Env<'_, 'x>>, b: &Budget) -> R<&'x str> {
    match operand(n, cx, env, b)? {
        Val::Str(s) => Ok(s),
        other => type_error("string", &other, n.span),
    }
}

fn lookup_ref<'e, 'x>(env: Option<&'e Env<'e, 'x>>, depth: usize) -> Option<&'e Val<'x>> {
    let mut e = env?;
    for _ in 0..depth {
        e = e.up?;
    }
    Some(&e.val)
}

/// Evaluates any node.
pub(crate) fn eval<'x>(n: &'x Node, cx: &'x Context<'x>, env: Option<&Env<'_, 'x>>, b: &Budget) -> R<Val<'x>> {
    let span = n.span;
    b.spend(1, span)?;
    Ok(match &n.kind {
        NodeKind::Const(c) => c.val(),
        NodeKind::ConstList(cs) => Val::List(List::Consts(cs)),
        NodeKind::List(items) => {
            let mut vals = Vec::with_capacity(items.len());
            for item in items {
                vals.push(eval(item, cx, env, b)?);
            }
            Val::List(List::Owned(Rc::from(vals)))
        }
        NodeKind::Cron(c) => Val::Cron(c),
        NodeKind::Activity => match &cx.activity {
            Some(a) => Val::Activity(a),
            None => return Err(unavailable("activity", span)),
        },
        NodeKind::Approvers => Val::List(List::Users(cx.approvers)),
        NodeKind::Credentials => Val::List(List::Creds(cx.credentials)),
        NodeKind::TimeNow => match cx.now {
            Some(t) => Val::Ts(t),
            None => return Err(unavailable("time.now", span)),
        },
        NodeKind::Var(depth) => match lookup(env, *depth) {
            Some(v) => v,
            None => return Err(unavailable("variable", span)),
        },
        NodeKind::Field(base, field) => {
            let base = eval(base, cx, env, b)?;
            field_of(base, field, span)?
        }
        NodeKind::Index(base, index) => {
            let base = eval(base, cx, env, b)?;
            let index = eval(index, cx, env, b)?;
            match (base, index) {
                (Val::List(l), Val::Int(i)) => {
                    let len = l.len();
                    match usize::try_from(i) {
                        Ok(u) if u < len => l.get(u, span)?,
                        _ => {
                            return Err(Box::new(Error::OutOfRange { index: i, len, span }));
                        }
                    }
                }
                (Val::Map(m), Val::Str(k)) => key(m, k, span)?,
                (Val::List(_), other) => return type_error("int index", &other, span),
                (Val::Map(_), other) => return type_error("string key", &other, span),
                (other, _) => return type_error("list or map", &other, span),
            }
        }
        NodeKind::Slice(base, start, end) => {
            let base = eval(base, cx, env, b)?;
            let start = match start {
                Some(s) => Some(eval_int(s, cx, env, b)?),
                None => None,
            };
            let end = match end {
                Some(e) => Some(eval_int(e, cx, env, b)?),
                None => None,
            };
            match base {
                Val::List(l) => {
                    let (from, to) = bounds(start, end, l.len(), span)?;
                    match l.slice(from, to) {
                        Some(l) => Val::List(l),
                        None => return Err(out_of_range(to as i128, l.len(), span)),
                    }
                }
                Val::Str(s) => {
                    b.spend_bytes(s.len(), span)?;
                    let len = s.chars().count();
                    let (from, to) = bounds(start, end, len, span)?;
                    let byte = |c: usize| s.char_indices().nth(c).map_or(s.len(), |(i, _)| i);
                    match s.get(byte(from)..byte(to)) {
                        Some(sub) => Val::Str(sub),
                        None => return Err(out_of_range(to as i128, len, span)),
                    }
                }
                other => return type_error("list or string", &other, span),
            }
        }
        NodeKind::Lambda(Quant::Filter, list, body) => {
            let list = eval_list(list, cx, env, b)?;
            let mut kept = Vec::new();
            for i in 0..list.len() {
                b.spend(1, span)?;
                let inner = Env { val: list.get(i, span)?, up: env };
                if eval_bool(body, cx, Some(&inner), b)? {
                    kept.push(inner.val);
                }
            }
            Val::List(List::Owned(Rc::from(kept)))
        }
        NodeKind::Lambda(Quant::CountIf, list, body) => {
            let list = eval_list(list, cx, env, b)?;
            let mut count: i128 = 0;
            for i in 0..list.len() {
                b.spend(1, span)?;
                let inner = Env { val: list.get(i, span)?, up: env };
                if eval_bool(body, cx, Some(&inner), b)? {
                    count += 1;
                }
            }
            Val::Int(count)
        }
        NodeKind::Count(list) => Val::Int(eval_list(list, cx, env, b)?.len() as i128),
        NodeKind::And(_)
        | NodeKind::Or(_)
        | NodeKind::Not(_)
        | NodeKind::Cmp(..)
        | NodeKind::In(..)
        | NodeKind::Contains(..)
        | NodeKind::StrEq(..)
        | NodeKind::StrIn(..)
        | NodeKind::Lambda(Quant::Any | Quant::All, ..) => Val::Bool(eval_bool(n, cx, env, b)?),
        NodeKind::Invalid => return Err(unavailable("expression", span)),
    })
}

fn unavailable(name: &str, span: Span) -> Box<Error> {
    Box::new(Error::Unavailable { name: name.into(), span })
}

fn out_of_range(index: i128, len: usize, span: Span) -> Box<Error> {
    Box::new(Error::OutOfRange { index, len, span })
}

/// Checks slice bounds against `len`: `0 <= start <= end <= len`.
fn bounds(start: Option<i128>, end: Option<i128>, len: usize, span: Span) -> R<(usize, usize)> {
    let a = start.unwrap_or(0);
    let b = end.unwrap_or(len as i128);
    let check = |i: i128| match usize::try_from(i) {
        Ok(u) if u <= len => Ok(u),
        _ => Err(out_of_range(i, len, span)),
    };
    let (ua, ub) = (check(a)?, check(b)?);
    if ua > ub {
        return Err(Box::new(Error::BadSlice { start: a, end: b, span }));
    }
    Ok((ua, ub))
}

fn key<'x>(m: &'x serde_json::Map<String, Json>, k: &str, span: Span) -> R<Val<'x>> {
    match m.get(k) {
        Some(v) => Val::from_json(v, span),
        None => Err(Box::new(Error::MissingField { field: k.into(), span })),
    }
}

fn field_of<'x>(base: Val<'x>, field: &Field, span: Span) -> R<Val<'x>> {
    Ok(match (base, field) {
        (Val::Activity(a), Field::ActType) => Val::Str(a.activity_type),
        (Val::Activity(a), Field::ActKind) => Val::Str(a.kind),
        (Val::Activity(a), Field::ActResource) => Val::Str(a.resource),
        (Val::Activity(a), Field::ActAction) => Val::Str(a.action),
        (Val::Activity(a), Field::ActParams) => match a.params {
            Json::Object(m) => Val::Map(m),
            other => Val::from_json(other, span)?,
        },
        (Val::User(u), Field::UserId) => Val::Str(u.id),
        (Val::User(u), Field::UserTags) => Val::List(List::Strings(u.tags)),
        (Val::User(u), Field::UserEmail) => match u.email {
            Some(e) => Val::Str(e),
            None => {
                return Err(Box::new(Error::MissingField { field: "email".into(), span }));
            }
        },
        (Val::User(u), Field::UserAlias) => Val::Str(u.alias),
        (Val::Cred(c), Field::CredId) => Val::Str(c.id),
        (Val::Cred(c), Field::CredUserId) => Val::Str(c.user_id),
        (Val::Cred(c), Field::CredType) => Val::Str(c.credential_type),
        (Val::Cred(c), Field::CredCredentialId) => Val::Str(c.credential_id),
        (Val::Cred(c), Field::CredPublicKey) => Val::Str(c.public_key),
        (Val::Map(m), Field::Key(k)) => key(m, k, span)?,
        (other, _) => return type_error("map", &other, span),
    })
}

/// `needle in list`: strictly typed, every element is compared.
fn contains(list: &List<'_>, needle: &Val<'_>, span: Span, b: &Budget) -> R<bool> {
    let mut found = false;
    for i in 0..list.len() {
        b.spend(1, span)?;
        found |= compare(CmpOp::Eq, needle, &list.get(i, span)?, span, b)?;
    }
    Ok(found)
}

fn compare(op: CmpOp, l: &Val<'_>, r: &Val<'_>, span: Span, budget: &Budget) -> R<bool> {
    let ord = match (l, r) {
        (Val::Int(a), Val::Int(b)) => a.cmp(b),
        (Val::Ts(a), Val::Ts(b)) => a.cmp(b),
        (Val::Str(a), Val::Str(b)) if op.is_equality() => {
            budget.spend_bytes(a.len().min(b.len()), span)?;
            return Ok((a == b) == (op == CmpOp::Eq));
        }
        (Val::Bool(a), Val::Bool(b)) if op.is_equality() => {
            return Ok((a == b) == (op == CmpOp::Eq));
        }
        (Val::Str(_), Val::Str(_)) | (Val::Bool(_), Val::Bool(_)) => {
            return Err(Box::new(Error::NotOrdered {
                op: op.as_str().into(),
                ty: format!("{}s", l.type_name()),
                span,
            }));
        }
        _ => {
            return Err(Box::new(Error::CannotCompare { lhs: l.type_name().into(), rhs: r.type_name().into(), span }));
        }
    };
    Ok(match op {
        CmpOp::Eq => ord == Ordering::Equal,
        CmpOp::Ne => ord != Ordering::Equal,
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::Le => ord != Ordering::Greater,
        CmpOp::Ge => ord != Ordering::Less,
    })
}

/// For an evaluation that produced `value`, the sub-expression that
/// decided it: descends through `&&`, `||` and `!` to the first operand
/// that forced the result. Slow path only; re-evaluates operands.
pub(crate) fn deciding<'x>(n: &'x Node, cx: &'x Context<'x>, value: bool, b: &Budget) -> Span {
    match &n.kind {
        NodeKind::And(items) if !value => items
            .iter()
            .find(|i| matches!(eval_bool(i, cx, None, b), Ok(false)))
            .map_or(n.span, |i| deciding(i, cx, false, b)),
        NodeKind::Or(items) if value => items
            .iter()
            .find(|i| matches!(eval_bool(i, cx, None, b), Ok(true)))
            .map_or(n.span, |i| deciding(i, cx, true, b)),
        NodeKind::Not(inner) => deciding(inner, cx, !value, b),
        _ => n.span,
    }
}
