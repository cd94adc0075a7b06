//! Checks and wire encodings of single fields, shared by every intent (names, emails, phone
//! numbers, Turnkey's integers-as-strings). A leaf: it knows no intent.

use serde::{Deserialize, Deserializer};

use crate::crypto;
use crate::error::{Error, Result};

/// The longest a name, email or other free-text field may be, in characters.
pub(crate) const MAX_FIELD: usize = 256;

/// A trimmed, non-empty, bounded name without control characters.
pub(crate) fn check_name(field: &str, name: &str) -> Result<String> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid(format!("{field} must not be empty")));
    }
    if trimmed.chars().count() > MAX_FIELD {
        return Err(Error::invalid(format!("{field} is longer than {MAX_FIELD} characters")));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Error::invalid(format!("{field} must not contain control characters")));
    }
    Ok(trimmed.to_owned())
}

/// An email address (`local@domain.tld`), bounded, without spaces.
pub(crate) fn check_email(email: &str) -> Result<String> {
    let valid = email.len() <= MAX_FIELD
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if valid {
        Ok(email.to_owned())
    } else {
        Err(Error::invalid(format!("userEmail `{}` is not an email address", crypto::clip(email))))
    }
}

/// A phone number in E.164 form.
pub(crate) fn check_phone(phone: &str) -> Result<String> {
    let digits = phone.strip_prefix('+').unwrap_or("");
    if (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(phone.to_owned())
    } else {
        Err(Error::invalid(format!(
            "userPhoneNumber `{}` must be in E.164 form, e.g. +14155550100",
            crypto::clip(phone)
        )))
    }
}

/// Accepts a uint64 as Turnkey sends it (a decimal string) or as a JSON number.
pub(crate) fn opt_u64_string<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        S(String),
        N(u64),
    }
    match Option::<Num>::deserialize(d)? {
        None => Ok(None),
        Some(Num::N(n)) => Ok(Some(n)),
        Some(Num::S(s)) => s
            .parse::<u64>()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("expected a non-negative integer string, found `{s}`"))),
    }
}

/// Writes a uint64 as Turnkey does: a decimal string (for [`opt_u64_string`] fields).
pub(crate) fn ser_opt_u64_string<S: serde::Serializer>(v: &Option<u64>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(n) => s.serialize_str(&n.to_string()),
        None => s.serialize_none(),
    }
}

/// A serde data error (wrong type, unknown field or variant) without serde's
/// " at line L column C": the field path already says where, and the position points into a
/// body the client may not have written itself (a CLI or SDK built it). Syntax errors keep
/// their position; only there does it help.
pub(crate) fn data_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if e.is_syntax() || e.is_eof() {
        return text;
    }
    let position = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&position).map_or(text.clone(), str::to_owned)
}

/// Registers `T` and every schema it refers to in the API document, and names it.
#[cfg(feature = "openapi")]
pub(crate) fn register_schema<T: utoipa::ToSchema>(
    components: utoipa::openapi::ComponentsBuilder,
) -> (utoipa::openapi::ComponentsBuilder, String) {
    let mut nested = Vec::new();
    T::schemas(&mut nested);
    (components.schema_from::<T>().schemas_from_iter(nested), T::name().into_owned())
}

/// A parameter that carries a secret (a one-time code, a verification token, an OTP attempt,
/// a webhook's signing secret). Declaring a field of this type is what makes it secret: before
/// a request's body is stored as an intent or a vote, every top-level `Secret` of its
/// parameters is sealed ([`secret_fields`] finds them), execution opens them again, and `Debug`
/// never shows the value, so no log line can carry one.
#[derive(Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct Secret(#[serde(serialize_with = "secret_or_marker")] String);

impl Secret {
    /// The secret, for the one place that checks or uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A secret holding `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

thread_local! {
    /// Set while [`secret_fields`] serializes an intent: secrets then write [`MARKER`].
    static MARKING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// What a secret serializes as while [`secret_fields`] looks for them.
const MARKER: &str = "\u{0}twofold-secret\u{0}";

fn secret_or_marker<S: serde::Serializer>(value: &str, s: S) -> std::result::Result<S::Ok, S::Error> {
    if MARKING.get() { s.serialize_str(MARKER) } else { s.serialize_str(value) }
}

/// Where `intent`'s [`Secret`]s are: a top-level field's name, or a dotted path into it
/// (`oauthProviders.*.oidcToken`, `*` for every element of a list). A new secret-carrying
/// field is covered the moment it is declared, wherever it is.
pub(crate) fn secret_fields<T: serde::Serialize>(intent: &T) -> Result<Vec<String>> {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            MARKING.set(false);
        }
    }
    MARKING.set(true);
    let marked = {
        let _reset = Reset;
        serde_json::to_value(intent)
    }
    .map_err(|e| Error::Internal(format!("an intent did not serialize: {e}")))?;
    let serde_json::Value::Object(fields) = marked else { return Ok(Vec::new()) };
    let mut paths = Vec::new();
    for (name, value) in &fields {
        marker_paths(value, name, &mut paths);
    }
    Ok(paths)
}

/// Pushes the path of every [`MARKER`] in `value` (found at `at`), each path once.
fn marker_paths(value: &serde_json::Value, at: &str, paths: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) if s == MARKER && !paths.iter().any(|p| p == at) => paths.push(at.to_owned()),
        serde_json::Value::Array(items) => items.iter().for_each(|item| marker_paths(item, &format!("{at}.*"), paths)),
        serde_json::Value::Object(map) => map.iter().for_each(|(k, v)| marker_paths(v, &format!("{at}.{k}"), paths)),
        _ => {}
    }
}

/// Applies `f` to every value at `path` (as [`secret_fields`] names it) in `value`.
pub(crate) fn each_at(
    value: &mut serde_json::Value,
    path: &str,
    f: &mut dyn FnMut(&mut serde_json::Value) -> Result<()>,
) -> Result<()> {
    let steps: Vec<&str> = path.split('.').collect();
    fn walk(
        value: &mut serde_json::Value,
        steps: &[&str],
        f: &mut dyn FnMut(&mut serde_json::Value) -> Result<()>,
    ) -> Result<()> {
        let Some((step, rest)) = steps.split_first() else { return f(value) };
        match (value, *step) {
            (serde_json::Value::Array(items), "*") => items.iter_mut().try_for_each(|item| walk(item, rest, f)),
            (serde_json::Value::Object(map), key) => match map.get_mut(key) {
                Some(inner) => walk(inner, rest, f),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }
    walk(value, &steps, f)
}

/// What policies see of an intent (`activity.params`): `params!(p; user_id, rule_count = p.rules.len())`
/// puts the intent's own fields under their (snake_case) names, so a parameter cannot name a
/// field the intent lacks, and computed ones under the name given.
macro_rules! params {
    ($intent:ident; $($name:ident $(= $value:expr)?),* $(,)?) => {{
        let mut map = serde_json::Map::new();
        $(map.insert(stringify!($name).to_owned(), $crate::fields::param(params!(@value $intent $name $($value)?)));)*
        serde_json::Value::Object(map)
    }};
    (@value $intent:ident $name:ident) => { &$intent.$name };
    (@value $intent:ident $name:ident $value:expr) => { &$value };
}
pub(crate) use params;

/// One policy parameter as JSON (plain data: strings, numbers, lists and enums of them).
pub(crate) fn param(value: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct WithSecrets {
        totp_code: Option<Secret>,
        webhook_secret: Secret,
        absent: Option<Secret>,
        name: String,
    }

    #[derive(serde::Serialize)]
    struct Nested {
        inner: Vec<Secret>,
    }

    #[test]
    fn secrets_are_found_by_their_type_written_as_sent_and_never_debug_printed() {
        let intent = WithSecrets {
            totp_code: Some(Secret::new("123456")),
            webhook_secret: Secret::new("whsec_abc"),
            absent: None,
            name: "Secret(redacted)".to_owned(),
        };
        assert_eq!(secret_fields(&intent).expect("top level"), ["totpCode", "webhookSecret"]);
        let sent = serde_json::to_value(&intent).expect("json");
        assert_eq!((sent["totpCode"].as_str(), sent["webhookSecret"].as_str()), (Some("123456"), Some("whsec_abc")));
        assert!(!format!("{:?}", intent.webhook_secret).contains("whsec"));
        let nested = Nested { inner: vec![Secret::new("x"), Secret::new("y")] };
        assert_eq!(secret_fields(&nested).expect("nested"), ["inner.*"], "a nested secret is found by its path");
        assert_eq!(serde_json::to_value(Secret::new("y")).expect("json"), "y", "marking is over");
    }

    #[test]
    fn data_errors_lose_their_position_and_syntax_errors_keep_it() {
        let wrong: serde_json::Error = serde_json::from_str::<Option<String>>("5").expect_err("a number");
        assert_eq!(data_error(&wrong), "invalid type: integer `5`, expected a string");
        let broken: serde_json::Error = serde_json::from_str::<Option<String>>("\"open").expect_err("unterminated");
        assert!(data_error(&broken).contains("line 1 column"), "{}", data_error(&broken));
    }
}
