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

    #[test]
    fn data_errors_lose_their_position_and_syntax_errors_keep_it() {
        let wrong: serde_json::Error = serde_json::from_str::<Option<String>>("5").expect_err("a number");
        assert_eq!(data_error(&wrong), "invalid type: integer `5`, expected a string");
        let broken: serde_json::Error = serde_json::from_str::<Option<String>>("\"open").expect_err("unterminated");
        assert!(data_error(&broken).contains("line 1 column"), "{}", data_error(&broken));
    }
}
