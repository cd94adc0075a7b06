//! What a program is evaluated against ([`Context`] and its views), and
//! the run-time values the evaluator passes around.

use std::rc::Rc;

use serde_json::Value as Json;

use crate::ast::Span;
use crate::error::Error;
use crate::time::{CronSpan, Timestamp};

/// The activity being authorized (keyword `activity`).
#[derive(Debug, Clone, Copy)]
pub struct ActivityView<'a> {
    /// Full type with version, e.g. `ACTIVITY_TYPE_CREATE_USERS_V4`.
    pub activity_type: &'a str,
    /// Version-free kind, e.g. `CREATE_USERS`.
    pub kind: &'a str,
    /// Resource, e.g. `USER`, `POLICY` or an app-defined one.
    pub resource: &'a str,
    /// Action, e.g. `CREATE`, `DELETE`.
    pub action: &'a str,
    /// The documented parameters as a JSON object (`activity.params`).
    pub params: &'a Json,
}

/// A user who approved the activity (element of `approvers`).
#[derive(Debug, Clone, Copy)]
pub struct UserView<'a> {
    /// User id.
    pub id: &'a str,
    /// Tag ids or names the user carries.
    pub tags: &'a [String],
    /// Email, if the user has one (reading a missing one is an error).
    pub email: Option<&'a str>,
    /// Display name; readable as `alias` and `name`.
    pub alias: &'a str,
}

/// A credential used to approve (element of `credentials`).
#[derive(Debug, Clone, Copy)]
pub struct CredentialView<'a> {
    /// Credential id.
    pub id: &'a str,
    /// The user it belongs to.
    pub user_id: &'a str,
    /// e.g. `CREDENTIAL_TYPE_WEBAUTHN_AUTHENTICATOR`.
    pub credential_type: &'a str,
    /// The authenticator's credential id (WebAuthn) or key id.
    pub credential_id: &'a str,
    /// The public key, hex.
    pub public_key: &'a str,
}

/// Everything a program may read. Borrowed, so a caller builds one per
/// request without copying; parts a field does not use can stay empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// `activity`; reading it when `None` is an evaluation error.
    pub activity: Option<ActivityView<'a>>,
    /// `approvers`.
    pub approvers: &'a [UserView<'a>],
    /// `credentials`.
    pub credentials: &'a [CredentialView<'a>],
    /// `time.now`; reading it when `None` is an evaluation error.
    pub now: Option<Timestamp>,
}

/// A constant known at compile time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Const {
    Bool(bool),
    Int(i128),
    Str(Box<str>),
    Ts(Timestamp),
}

impl Const {
    pub(crate) fn val(&self) -> Val<'_> {
        match self {
            Const::Bool(b) => Val::Bool(*b),
            Const::Int(i) => Val::Int(*i),
            Const::Str(s) => Val::Str(s),
            Const::Ts(t) => Val::Ts(*t),
        }
    }
}

/// A run-time value. Borrowed from the context or the program; only the
/// result of `filter` owns anything.
#[derive(Debug, Clone)]
pub(crate) enum Val<'x> {
    Bool(bool),
    Int(i128),
    Str(&'x str),
    Ts(Timestamp),
    Cron(&'x CronSpan),
    Activity(&'x ActivityView<'x>),
    User(&'x UserView<'x>),
    Cred(&'x CredentialView<'x>),
    Map(&'x serde_json::Map<String, Json>),
    List(List<'x>),
}

/// A run-time list.
#[derive(Debug, Clone)]
pub(crate) enum List<'x> {
    Users(&'x [UserView<'x>]),
    Creds(&'x [CredentialView<'x>]),
    Json(&'x [Json]),
    Strings(&'x [String]),
    Consts(&'x [Const]),
    Owned(Rc<[Val<'x>]>),
}

impl<'x> Val<'x> {
    /// The type name used in messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Val::Bool(_) => "bool",
            Val::Int(_) => "int",
            Val::Str(_) => "string",
            Val::Ts(_) => "timestamp",
            Val::Cron(_) => "cron span",
            Val::Activity(_) => "activity",
            Val::User(_) => "user",
            Val::Cred(_) => "credential",
            Val::Map(_) => "map",
            Val::List(_) => "list",
        }
    }

    /// Converts a JSON value read at `span`.
    pub(crate) fn from_json(v: &'x Json, span: Span) -> Result<Val<'x>, Box<Error>> {
        Ok(match v {
            Json::Bool(b) => Val::Bool(*b),
            Json::String(s) => Val::Str(s),
            Json::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Val::Int(i128::from(i))
                } else if let Some(u) = n.as_u64() {
                    Val::Int(i128::from(u))
                } else if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 1e18) {
                    // An integral float such as `2.0`; the bound keeps the
                    // conversion exact.
                    Val::Int(f as i128)
                } else {
                    return Err(Box::new(Error::NonInteger { text: n.to_string(), span }));
                }
            }
            Json::Array(a) => Val::List(List::Json(a)),
            Json::Object(m) => Val::Map(m),
            Json::Null => return Err(Box::new(Error::Null { span })),
        })
    }
}

impl<'x> List<'x> {
    pub(crate) fn len(&self) -> usize {
        match self {
            List::Users(l) => l.len(),
            List::Creds(l) => l.len(),
            List::Json(l) => l.len(),
            List::Strings(l) => l.len(),
            List::Consts(l) => l.len(),
            List::Owned(l) => l.len(),
        }
    }

    /// Element `i`, which must be `< len()`; `span` is blamed for a bad
    /// JSON element.
    pub(crate) fn get(&self, i: usize, span: Span) -> Result<Val<'x>, Box<Error>> {
        let missing = || Box::new(Error::OutOfRange { index: i as i128, len: self.len(), span });
        Ok(match self {
            List::Users(l) => Val::User(l.get(i).ok_or_else(missing)?),
            List::Creds(l) => Val::Cred(l.get(i).ok_or_else(missing)?),
            List::Json(l) => Val::from_json(l.get(i).ok_or_else(missing)?, span)?,
            List::Strings(l) => Val::Str(l.get(i).ok_or_else(missing)?),
            List::Consts(l) => l.get(i).ok_or_else(missing)?.val(),
            List::Owned(l) => l.get(i).ok_or_else(missing)?.clone(),
        })
    }

    /// Elements `start..end`, which must be in range.
    pub(crate) fn slice(&self, start: usize, end: usize) -> Option<List<'x>> {
        Some(match self {
            List::Users(l) => List::Users(l.get(start..end)?),
            List::Creds(l) => List::Creds(l.get(start..end)?),
            List::Json(l) => List::Json(l.get(start..end)?),
            List::Strings(l) => List::Strings(l.get(start..end)?),
            List::Consts(l) => List::Consts(l.get(start..end)?),
            List::Owned(l) => List::Owned(l.get(start..end)?.into()),
        })
    }
}
