//! The crate's one error type, and its JSON / line:col form.

use std::fmt;

use serde::Serialize;

use crate::ast::Span;

/// Keywords of Turnkey's policy language that twofold does not support.
pub(crate) const TURNKEY_ONLY_KEYWORDS: &[&str] = &[
    "wallet",
    "wallet_account",
    "wallet_account_address",
    "private_key",
    "eth",
    "ethereum",
    "solana",
    "bitcoin",
    "btc",
    "tron",
    "sui",
    "aptos",
    "cosmos",
    "stellar",
    "ton",
    "xrp",
    "evm",
    "tx",
];

/// Everything that can go wrong: lexing, parsing, static checking (these
/// are reported together as [`Diagnostics`]) and evaluation.
///
/// Every variant carries the [`Span`] it concerns. Messages are lowercase
/// and quote user input in backticks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- lexing ----
    /// A string literal with no closing quote.
    #[error("unterminated string literal")]
    UnterminatedString {
        /// From the opening quote to the end of input.
        span: Span,
    },
    /// `"abc"`: the language only has single-quoted strings.
    #[error("double-quoted string `{text}`")]
    DoubleQuotedString {
        /// The string as written.
        text: String,
        /// Where.
        span: Span,
    },
    /// A backslash escape other than `\'` and `\\`.
    #[error("invalid escape `{text}` in string")]
    InvalidEscape {
        /// The escape as written.
        text: String,
        /// Where.
        span: Span,
    },
    /// A character that starts no token.
    #[error("unexpected character `{ch}`")]
    UnexpectedChar {
        /// The character.
        ch: char,
        /// Where.
        span: Span,
    },
    /// An integer literal outside the i128 range.
    #[error("integer literal `{text}` is out of range")]
    IntegerOutOfRange {
        /// The literal as written.
        text: String,
        /// Where.
        span: Span,
    },
    // ---- parsing ----
    /// The parser wanted one thing and found another.
    #[error("expected {expected} at {line}:{column}, found {found}")]
    Unexpected {
        /// What would have been accepted, e.g. "`)`".
        expected: String,
        /// What was there, e.g. "`approvers`" or "end of input".
        found: String,
        /// 1-based line of `span.start`.
        line: usize,
        /// 1-based column (in characters) of `span.start`.
        column: usize,
        /// The offending token.
        span: Span,
    },
    /// `a < b < c`.
    #[error("comparison operators cannot be chained")]
    ChainedComparison {
        /// The second operator.
        span: Span,
    },
    /// Nesting beyond [`MAX_DEPTH`](crate::MAX_DEPTH).
    #[error("expression is nested too deeply")]
    TooDeep {
        /// Where the limit was crossed.
        span: Span,
    },
    // ---- static checks ----
    /// An identifier that is neither a keyword nor a bound variable.
    #[error("unknown keyword `{name}`")]
    UnknownKeyword {
        /// The identifier.
        name: String,
        /// Where.
        span: Span,
    },
    /// A keyword the caller did not allow for this field.
    #[error("keyword `{name}` is not allowed here")]
    KeywordNotAllowed {
        /// The keyword.
        name: String,
        /// The keywords that are allowed, comma separated.
        allowed: String,
        /// Where.
        span: Span,
    },
    /// A field the schema does not know.
    #[error("unknown field `{field}` on {on}")]
    UnknownField {
        /// The field name.
        field: String,
        /// What it was read from, e.g. "`activity`".
        on: String,
        /// The fields that exist, comma separated.
        known: String,
        /// Where.
        span: Span,
    },
    /// A field read from a value that has no fields.
    #[error("{ty} has no field `{field}`")]
    NoFields {
        /// The value's type.
        ty: String,
        /// The field name.
        field: String,
        /// Where.
        span: Span,
    },
    /// A value of the wrong type (statically known).
    #[error("expected {expected}, found {found}")]
    TypeMismatch {
        /// The type that was needed.
        expected: String,
        /// The type that was there.
        found: String,
        /// Where.
        span: Span,
    },
    /// `==` etc. between two types that cannot be compared.
    #[error("cannot compare {lhs} with {rhs}")]
    CannotCompare {
        /// Left type.
        lhs: String,
        /// Right type.
        rhs: String,
        /// Where.
        span: Span,
    },
    /// `<` etc. on a type without an order (strings, bools).
    #[error("`{op}` is not defined for {ty}")]
    NotOrdered {
        /// The operator.
        op: String,
        /// The operand type.
        ty: String,
        /// Where.
        span: Span,
    },
    /// A function or list method that does not exist.
    #[error("unknown function `{name}`")]
    UnknownFunction {
        /// The name.
        name: String,
        /// The functions that exist here, comma separated.
        known: String,
        /// Where.
        span: Span,
    },
    /// Wrong number of arguments.
    #[error("`{name}` takes {expected} argument{}, found {found}", if *.expected == 1 { "" } else { "s" })]
    Arity {
        /// The function.
        name: String,
        /// How many it takes.
        expected: usize,
        /// How many were given.
        found: usize,
        /// Where.
        span: Span,
    },
    /// The first argument of `any`/`all`/`filter` is not a plain name.
    #[error("the first argument of `{func}` must be a variable name")]
    ExpectedVariable {
        /// The function.
        func: String,
        /// Where.
        span: Span,
    },
    /// A keyword used as a variable name.
    #[error("`{name}` is a keyword and cannot name a variable")]
    KeywordAsVariable {
        /// The name.
        name: String,
        /// Where.
        span: Span,
    },
    /// An argument that must be a string literal is not.
    #[error("the arguments of `{func}` must be string literals")]
    ExpectedLiteral {
        /// The function.
        func: String,
        /// Where.
        span: Span,
    },
    /// A bad `Timestamp(..)` argument.
    #[error("invalid timestamp `{text}`: {reason}")]
    InvalidTimestamp {
        /// The literal.
        text: String,
        /// Why it was rejected.
        reason: String,
        /// Where.
        span: Span,
    },
    /// A bad cron expression.
    #[error("invalid cron expression `{text}`: {reason}")]
    InvalidCron {
        /// The literal.
        text: String,
        /// Why it was rejected.
        reason: String,
        /// Where.
        span: Span,
    },
    /// A bad duration such as `8x`.
    #[error("invalid duration `{text}`")]
    InvalidDuration {
        /// The literal.
        text: String,
        /// Where.
        span: Span,
    },
    /// A time zone name not in the IANA database.
    #[error("unknown time zone `{text}`")]
    UnknownTimeZone {
        /// The literal.
        text: String,
        /// Where.
        span: Span,
    },
    // ---- evaluation ----
    /// A field or map key the value does not have.
    #[error("missing field `{field}`")]
    MissingField {
        /// The field or key.
        field: String,
        /// Where it was read.
        span: Span,
    },
    /// A keyword the evaluation context does not provide (e.g. no
    /// activity, or `time.now` without a clock reading).
    #[error("`{name}` is not available in this context")]
    Unavailable {
        /// The keyword or field.
        name: String,
        /// Where it was read.
        span: Span,
    },
    /// A value of the wrong type, found at run time.
    #[error("expected {expected}, found {found}")]
    RuntimeType {
        /// The type that was needed.
        expected: String,
        /// The type that was there.
        found: String,
        /// Where.
        span: Span,
    },
    /// A JSON number that is not an integer.
    #[error("non-integer number `{text}`")]
    NonInteger {
        /// The number as JSON.
        text: String,
        /// Where it was read.
        span: Span,
    },
    /// A JSON `null`.
    #[error("`null` value")]
    Null {
        /// Where it was read.
        span: Span,
    },
    /// A list index or slice bound outside the value.
    #[error("index {index} is out of range for length {len}")]
    OutOfRange {
        /// The index or bound.
        index: i128,
        /// The length.
        len: usize,
        /// Where.
        span: Span,
    },
    /// The evaluation took more steps than its [`Budget`](crate::Budget)
    /// allows; the expression is not decided (an error, which fails closed).
    #[error("condition exceeded its evaluation budget of {limit} steps")]
    BudgetExceeded {
        /// The budget's size in steps.
        limit: u64,
        /// The sub-expression that would have taken the next step.
        span: Span,
    },
    /// A slice whose start is after its end.
    #[error("slice start {start} is after its end {end}")]
    BadSlice {
        /// Start bound.
        start: i128,
        /// End bound.
        end: i128,
        /// Where.
        span: Span,
    },
}

/// The error [`Program::evaluate`](crate::Program::evaluate) returns; a
/// policy whose evaluation fails has outcome ERROR, which never allows.
pub type EvalError = Error;

/// The crate-wide result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn list_help(prefix: &str, items: &str) -> Option<String> {
    if items.is_empty() { None } else { Some(format!("{prefix}{items}")) }
}

impl Error {
    /// The source range this error is about.
    pub fn span(&self) -> Span {
        use Error::*;
        match self {
            UnterminatedString { span }
            | DoubleQuotedString { span, .. }
            | InvalidEscape { span, .. }
            | UnexpectedChar { span, .. }
            | IntegerOutOfRange { span, .. }
            | Unexpected { span, .. }
            | ChainedComparison { span }
            | TooDeep { span }
            | UnknownKeyword { span, .. }
            | KeywordNotAllowed { span, .. }
            | UnknownField { span, .. }
            | NoFields { span, .. }
            | TypeMismatch { span, .. }
            | CannotCompare { span, .. }
            | NotOrdered { span, .. }
            | UnknownFunction { span, .. }
            | Arity { span, .. }
            | ExpectedVariable { span, .. }
            | KeywordAsVariable { span, .. }
            | ExpectedLiteral { span, .. }
            | InvalidTimestamp { span, .. }
            | InvalidCron { span, .. }
            | InvalidDuration { span, .. }
            | UnknownTimeZone { span, .. }
            | MissingField { span, .. }
            | Unavailable { span, .. }
            | RuntimeType { span, .. }
            | NonInteger { span, .. }
            | Null { span }
            | OutOfRange { span, .. }
            | BadSlice { span, .. }
            | BudgetExceeded { span, .. } => *span,
        }
    }

    /// Advice on how to fix it, when there is some.
    pub fn help(&self) -> Option<String> {
        use Error::*;
        match self {
            UnterminatedString { .. } => Some("close the string with `'`".into()),
            DoubleQuotedString { text, .. } => {
                let inner = text.trim_matches('"');
                let mut lit = String::new();
                // Writing to a String cannot fail.
                let _ = crate::ast::write_str_literal(&mut lit, inner);
                Some(format!("strings use single quotes: {lit}"))
            }
            InvalidEscape { .. } => Some("the only escapes are `\\'` (quote) and `\\\\` (backslash)".into()),
            UnexpectedChar { ch: '&', .. } => Some("use `&&` for logical and".into()),
            UnexpectedChar { ch: '|', .. } => Some("use `||` for logical or".into()),
            UnexpectedChar { ch: '=', .. } => Some("use `==` to compare".into()),
            UnexpectedChar { ch: '"', .. } => Some("strings use single quotes".into()),
            IntegerOutOfRange { .. } => Some("integers must fit in 128 bits (i128)".into()),
            ChainedComparison { .. } => Some("join comparisons with `&&`: `a < b && b < c`".into()),
            TooDeep { .. } => Some(format!("nesting is limited to {} levels; split the condition", crate::MAX_DEPTH)),
            UnknownKeyword { name, .. } if TURNKEY_ONLY_KEYWORDS.contains(&name.as_str()) => Some(format!(
                "`{name}` is a Turnkey wallet/chain keyword, which is not supported by twofold; \
                     conditions can use `activity`, `approvers`, `credentials` and `time`"
            )),
            UnknownKeyword { .. } => Some(
                "expressions start from `activity`, `approvers`, `credentials`, `time` \
                 or a variable bound by `any`/`all`/`filter`"
                    .into(),
            ),
            KeywordNotAllowed { allowed, .. } if allowed.is_empty() => Some("no keywords are allowed here".into()),
            KeywordNotAllowed { allowed, .. } => list_help("allowed here: ", allowed),
            UnknownField { known, .. } => list_help("known fields: ", known),
            NoFields { ty, .. } if ty.starts_with("list") => {
                Some("to look inside a list use `.any(x, ..)`, `.all(x, ..)` or an index `[0]`".into())
            }
            CannotCompare { lhs, rhs, .. } if lhs == rhs => {
                Some("only ints, strings, bools and timestamps can be compared".into())
            }
            CannotCompare { .. } => Some("both sides of a comparison must have the same type".into()),
            NotOrdered { ty, .. } if ty.contains("string") => Some("strings support only `==` and `!=`".into()),
            UnknownFunction { known, .. } => list_help("available: ", known),
            ExpectedVariable { func, .. } => Some(format!("for example `approvers.{func}(u, u.id == '..')`")),
            InvalidTimestamp { .. } => Some("use RFC 3339, e.g. `'2026-01-01T00:00:00Z'`".into()),
            InvalidCron { .. } => {
                Some("use five fields: minute hour day-of-month month day-of-week, e.g. `'0 9 * * 1-5'`".into())
            }
            InvalidDuration { .. } => {
                Some("use hours, minutes and seconds such as `'8h'`, `'30m'`, `'90s'` or `'1h30m'`".into())
            }
            UnknownTimeZone { .. } => Some("use an IANA time zone name such as `'Europe/Berlin'` or `'UTC'`".into()),
            NonInteger { .. } => Some("the policy language only has integers".into()),
            BudgetExceeded { .. } => Some(
                "the condition does too much work for this input (nested list functions over a large list); \
                 simplify it or bound the input"
                    .into(),
            ),
            _ => None,
        }
    }

    /// This error as a JSON-ready diagnostic, with the line and column of
    /// its span in `src`.
    pub fn to_diagnostic(&self, src: &str) -> Diagnostic {
        let span = self.span();
        let (line, column) = line_col(src, span.start);
        Diagnostic { message: self.to_string(), line, column, start: span.start, end: span.end, help: self.help() }
    }
}

impl miette::Diagnostic for Error {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Error::help(self).map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(miette::LabeledSpan::underline(self.span()))))
    }
}

/// 1-based line and column (counted in characters) of byte `offset`.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut col = 1;
    for (i, c) in src.char_indices() {
        if i >= offset {
            break;
        }
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

/// One problem in a policy, as the server returns it:
/// `{message, line, column, start, end, help}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// What is wrong, lowercase.
    pub message: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Byte offset where the problem starts.
    pub start: usize,
    /// Byte offset where it ends.
    pub end: usize,
    /// How to fix it, if known.
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)?;
        if let Some(help) = &self.help {
            write!(f, " (help: {help})")?;
        }
        Ok(())
    }
}

/// All problems found in one source text; never empty.
///
/// Serializes as a JSON array of [`Diagnostic`]s. Implements
/// [`miette::Diagnostic`] with every error as a related diagnostic, so a
/// CLI can render them against the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics {
    source: String,
    errors: Vec<Error>,
}

impl Diagnostics {
    pub(crate) fn new(source: &str, mut errors: Vec<Error>) -> Self {
        errors.sort_by_key(|e| (e.span().start, e.span().end));
        errors.dedup();
        Diagnostics { source: source.to_owned(), errors }
    }

    /// The errors, in source order.
    pub fn errors(&self) -> &[Error] {
        &self.errors
    }

    /// The errors as JSON-ready diagnostics with line and column.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        self.errors.iter().map(|e| e.to_diagnostic(&self.source)).collect()
    }

    /// The source text the errors refer to.
    pub fn source_text(&self) -> &str {
        &self.source
    }
}

impl Serialize for Diagnostics {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.diagnostics().serialize(s)
    }
}

/// One line per error: `line:col: message (help: ..)`.
impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics().iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl miette::Diagnostic for Diagnostics {
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        Some(Box::new(self.errors.iter().map(|e| e as &dyn miette::Diagnostic)))
    }
}
