//! The twofold condition language (Turnkey-compatible): parse, check,
//! compile and evaluate policy `condition`, `consensus` and `time`
//! expressions, MFA-policy conditions and session-profile scopes.
//!
//! A source text is compiled once with [`Program::compile`], which reports
//! every syntax and static type error as [`Diagnostics`] (JSON-ready, with
//! spans and `line:col`). The compiled [`Program`] evaluates against a
//! borrowed [`Context`] without parsing and, on the common paths, without
//! allocating. `&&` and `||` short-circuit left to right (Turnkey's do not;
//! the answers differ only where Turnkey's would be an error); any error
//! that remains (a missing field, a type mismatch, a spent [`Budget`])
//! fails the whole evaluation, and the caller fails closed on it. Every
//! evaluation is charged to a [`Budget`] of counted steps. The language is
//! described for users in `docs/POLICY-LANGUAGE.md`.
//!
//! ```
//! use twofold_policy::{ActivityView, Context, Keywords, Program, UserView};
//!
//! let program = Program::compile(
//!     "activity.resource == 'PAYOUT' && activity.params.amount > 10000",
//!     Keywords::CONDITION,
//! )?;
//! assert_eq!(program.fields_read(), ["activity.resource", "activity.params.amount"]);
//!
//! let params = serde_json::json!({ "amount": 25000 });
//! let ctx = Context {
//!     activity: Some(ActivityView {
//!         activity_type: "ACTIVITY_TYPE_APP_PAYOUT",
//!         kind: "APP_PAYOUT",
//!         resource: "PAYOUT",
//!         action: "CREATE",
//!         params: &params,
//!     }),
//!     ..Context::default()
//! };
//! assert_eq!(program.evaluate(&ctx), Ok(true));
//!
//! // A field the activity does not have is an error, never `false`.
//! let empty = serde_json::json!({});
//! let ctx = Context {
//!     activity: Some(ActivityView { params: &empty, ..ctx.activity.unwrap() }),
//!     ..ctx
//! };
//! let err = program.evaluate(&ctx).unwrap_err();
//! assert_eq!(err.to_string(), "missing field `amount`");
//!
//! // Compile errors come all at once, with positions and advice.
//! let errs = Program::compile("wallet.id == \"x\"", Keywords::ALL).unwrap_err();
//! let json = serde_json::to_value(&errs)?;
//! assert_eq!(json[0]["message"], "unknown keyword `wallet`");
//! assert_eq!(json[1]["message"], "double-quoted string `\"x\"`");
//! assert_eq!(json[1]["line"], 1);
//! assert_eq!(json[1]["column"], 14);
//! assert_eq!(json[1]["help"], "strings use single quotes: 'x'");
//! # let _ = UserView { id: "", tags: &[], email: None, alias: "" };
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod ast;
mod compile;
mod error;
mod eval;
mod lexer;
mod parser;
mod rewrite;
mod time;
mod value;

use std::fmt;
use std::sync::Arc;

pub use ast::{Expr, Span};
pub use compile::Keywords;
pub use error::{Diagnostic, Diagnostics, Error, EvalError, Result, line_col};
pub use eval::{Budget, DEFAULT_BUDGET};
pub use parser::{MAX_DEPTH, parse};
pub use rewrite::{Rewrite, rewrite_comparisons};
pub use time::Timestamp;
pub use value::{ActivityView, Context, CredentialView, UserView};

/// A checked, compiled source text. Cheap to clone (shared), `Send` and
/// `Sync`; evaluate it as often as needed.
#[derive(Clone)]
pub struct Program {
    inner: Arc<Inner>,
}

struct Inner {
    source: String,
    keywords: Keywords,
    root: compile::Node,
    fields_read: Vec<String>,
}

impl Program {
    /// Parses and checks `src`, allowing the given keywords; returns every
    /// error found.
    pub fn compile(src: &str, keywords: Keywords) -> Result<Program, Diagnostics> {
        let (expr, mut errors) = parser::parse_recovering(src);
        let compiled = match expr.map(|e| compile::compile(&e, keywords)) {
            Some(Ok(c)) if errors.is_empty() => c,
            Some(Err(mut check_errors)) => {
                errors.append(&mut check_errors);
                return Err(Diagnostics::new(src, errors));
            }
            _ => return Err(Diagnostics::new(src, errors)),
        };
        Ok(Program {
            inner: Arc::new(Inner {
                source: src.to_owned(),
                keywords,
                root: compiled.root,
                fields_read: compiled.fields_read,
            }),
        })
    }

    /// Evaluates against `ctx` within [`DEFAULT_BUDGET`] steps. `Err`
    /// means outcome ERROR: something the program reads is missing or has
    /// the wrong type, or the budget ran out.
    pub fn evaluate(&self, ctx: &Context<'_>) -> Result<bool, EvalError> {
        self.evaluate_within(ctx, &Budget::new(DEFAULT_BUDGET))
    }

    /// Like [`evaluate`](Self::evaluate), charging every step to `budget`
    /// (which several evaluations may share).
    pub fn evaluate_within(&self, ctx: &Context<'_>, budget: &Budget) -> Result<bool, EvalError> {
        eval::eval_bool(&self.inner.root, ctx, None, budget).map_err(|e| *e)
    }

    /// Like [`evaluate_within`](Self::evaluate_within), and also says which
    /// sub-expression decided the result (or where the error arose).
    pub fn evaluate_explained(&self, ctx: &Context<'_>, budget: &Budget) -> Explanation {
        let root = &self.inner.root;
        let (result, span) = match eval::eval_bool(root, ctx, None, budget) {
            // Finding the deciding operand re-runs operands: on a budget of
            // its own, so explaining never changes the answer.
            Ok(v) => (Ok(v), eval::deciding(root, ctx, v, &Budget::new(budget.limit()))),
            Err(e) => {
                let span = e.span();
                (Err(*e), span)
            }
        };
        Explanation { result, span, text: span.text(&self.inner.source).to_owned() }
    }

    /// The source text it was compiled from.
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// The keywords it was compiled with.
    pub fn keywords(&self) -> Keywords {
        self.inner.keywords
    }

    /// The field paths it reads, in order of first appearance, e.g.
    /// `activity.params.amount` or `approvers[].tags` (elements of a list
    /// are written `[]`).
    pub fn fields_read(&self) -> &[String] {
        &self.inner.fields_read
    }

    /// `err` (from this program) as a JSON-ready diagnostic with its
    /// line and column.
    pub fn diagnose(&self, err: &Error) -> Diagnostic {
        err.to_diagnostic(&self.inner.source)
    }
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Program")
            .field("source", &self.inner.source)
            .field("keywords", &self.inner.keywords)
            .finish_non_exhaustive()
    }
}

/// The result of [`Program::evaluate_explained`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// What [`Program::evaluate`] returns.
    pub result: Result<bool, EvalError>,
    /// The deciding sub-expression, or where the error arose.
    pub span: Span,
    /// The source text of `span`.
    pub text: String,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.result {
            Ok(v) => write!(f, "{v}, decided by `{}`", self.text),
            Err(e) => write!(f, "error: {e} at `{}`", self.text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_is_send_sync() {
        fn check<T: Send + Sync + Clone>() {}
        check::<Program>();
        check::<Diagnostics>();
    }
}
