//! Static validation of activity parameters: everything that can be checked without
//! reading stored state is checked before an activity is recorded, so malformed input
//! gets a 400 and leaves nothing behind.

use std::collections::HashSet;

use crate::crypto;
use crate::error::{Error, Result};
use crate::intents::ApiKeyParams;
use twofold_policy::{Keywords, Program};

pub(crate) use crate::fields::{MAX_FIELD, check_email, check_name, check_phone};

/// Longest API key lifetime: ten years.
pub(crate) const MAX_KEY_LIFETIME_SECS: u64 = 10 * 365 * 24 * 3600;
/// Most items in one request (users, keys, ids).
pub(crate) const MAX_ITEMS: usize = 100;

/// Largest app activity payload, as JSON bytes: what conditions see as `activity.params`.
pub(crate) const MAX_APP_PAYLOAD_BYTES: usize = 64 * 1024;
/// Most elements of any list in an app activity payload (what `any`/`all`/`filter` iterate).
pub(crate) const MAX_APP_LIST_ITEMS: usize = 1_000;

/// Bounds the collections a condition can be made to iterate over.
pub(crate) fn check_app_payload(payload: &serde_json::Map<String, serde_json::Value>) -> Result<()> {
    let bytes = serde_json::to_vec(payload).map(|v| v.len()).unwrap_or(usize::MAX);
    if bytes > MAX_APP_PAYLOAD_BYTES {
        return Err(Error::invalid(format!(
            "parameters.payload: at most {MAX_APP_PAYLOAD_BYTES} bytes of JSON allowed, found {bytes}"
        )));
    }
    fn longest(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::Array(a) => a.iter().map(longest).fold(a.len(), usize::max),
            serde_json::Value::Object(m) => m.values().map(longest).max().unwrap_or(0),
            _ => 0,
        }
    }
    let items = payload.values().map(longest).max().unwrap_or(0);
    if items > MAX_APP_LIST_ITEMS {
        return Err(Error::invalid(format!(
            "parameters.payload: lists may have at most {MAX_APP_LIST_ITEMS} elements, found one with {items}"
        )));
    }
    Ok(())
}

pub(crate) fn check_count(field: &str, n: usize, min: usize) -> Result<()> {
    if n < min {
        return Err(Error::invalid(format!("parameters.{field}: at least {min} required, found {n}")));
    }
    if n > MAX_ITEMS {
        return Err(Error::invalid(format!("parameters.{field}: at most {MAX_ITEMS} allowed, found {n}")));
    }
    Ok(())
}

pub(crate) fn check_threshold(threshold: i64, members: usize) -> Result<()> {
    let members = i64::try_from(members).unwrap_or(i64::MAX);
    if threshold < 1 || threshold > members {
        return Err(Error::invalid(format!(
            "root quorum threshold must be between 1 and the number of members ({members}), found {threshold}"
        )));
    }
    Ok(())
}

/// A list of ids to act on: at least one, at most [`MAX_ITEMS`], none twice.
pub(crate) fn check_ids(field: &str, ids: &[String]) -> Result<()> {
    check_count(field, ids.len(), 1)?;
    unique(field, ids).map(drop)
}

pub(crate) fn unique<'a>(field: &str, ids: &'a [String]) -> Result<Vec<&'a String>> {
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(Error::invalid(format!("parameters.{field}: `{}` is listed twice", crypto::clip(id))));
        }
    }
    Ok(ids.iter().collect())
}

/// A new user's passkeys are well formed and it has no OAuth providers (not supported yet).
pub(crate) fn check_user_factors(
    authenticators: &[crate::intents::AuthenticatorParams],
    oauth: &[crate::intents::OauthProviderParams],
) -> Result<()> {
    if oauth.len() > 8 {
        return Err(Error::invalid("oauthProviders: at most 8 OAuth accounts per user"));
    }
    check_providers(oauth)?;
    if authenticators.len() > 8 {
        return Err(Error::invalid("authenticators: at most 8 passkeys per user"));
    }
    authenticators.iter().try_for_each(check_authenticator)
}

/// OAuth accounts to bind: each a name and a token that reads as a signed JWT (it is
/// verified when the activity executes), never claims without a token.
pub(crate) fn check_providers(providers: &[crate::intents::OauthProviderParams]) -> Result<()> {
    for p in providers {
        check_name("oauthProviders[].providerName", &p.provider_name)?;
        if p.oidc_claims.is_some() {
            return Err(Error::invalid(
                "parameters.oauthProviders[].oidcClaims: twofold binds an OAuth account only with an ID token \
                 proving it (oidcToken)",
            ));
        }
        crate::oidc::hint(p.oidc_token.expose())?;
    }
    Ok(())
}

/// A passkey to register: a name, and a short base64url challenge.
pub(crate) fn check_authenticator(a: &crate::intents::AuthenticatorParams) -> Result<()> {
    check_name("authenticators[].authenticatorName", &a.authenticator_name)?;
    let challenge = a.challenge.trim();
    if challenge.is_empty() || challenge.len() > 256 {
        return Err(Error::invalid("parameters.authenticators[].challenge: 1 to 256 base64url characters"));
    }
    Ok(())
}

pub(crate) fn optional(s: &str) -> Option<&str> {
    if s.is_empty() { None } else { Some(s) }
}

/// A validated API key: its verifying bytes and lifetime.
pub(crate) fn check_api_key(k: &ApiKeyParams) -> Result<(Vec<u8>, Option<i64>)> {
    check_name("apiKeyName", &k.api_key_name)?;
    let verify_key = crypto::parse_public_key(k.curve_type, &k.public_key)
        .map_err(|e| Error::invalid(format!("apiKeys[].publicKey: {e}")))?;
    let lifetime_ms = match k.expiration_seconds {
        None => None,
        Some(0) => return Err(Error::invalid("expirationSeconds must be positive")),
        Some(s) if s > MAX_KEY_LIFETIME_SECS => {
            return Err(Error::invalid(format!(
                "expirationSeconds must be at most {MAX_KEY_LIFETIME_SECS} (ten years)"
            )));
        }
        Some(s) => Some(i64::try_from(s).unwrap_or(i64::MAX / 2) * 1000),
    };
    Ok((verify_key, lifetime_ms))
}

pub(crate) fn check_keys(keys: &[ApiKeyParams]) -> Result<()> {
    if keys.len() > MAX_ITEMS {
        return Err(Error::invalid(format!("apiKeys: at most {MAX_ITEMS} allowed, found {}", keys.len())));
    }
    let mut seen = HashSet::new();
    for k in keys {
        check_api_key(k)?;
        if !seen.insert(k.public_key.to_ascii_lowercase()) {
            return Err(Error::invalid(format!(
                "apiKeys: public key `{}` is listed twice",
                crypto::clip(&k.public_key)
            )));
        }
    }
    Ok(())
}

pub(crate) fn check_person(name: &str, email: Option<&str>, phone: Option<&str>) -> Result<()> {
    check_name("userName", name)?;
    email.and_then(optional).map(check_email).transpose()?;
    phone.and_then(optional).map(check_phone).transpose()?;
    Ok(())
}

/// Most steps in one MFA policy, and most alternatives in one step.
const MAX_METHOD_GROUPS: usize = 10;

pub(crate) fn check_mfa_condition(condition: &str) -> Result<()> {
    if condition.trim().is_empty() {
        return Err(Error::invalid("parameters.condition: must not be empty (use `true` to cover every activity)"));
    }
    check_expression("parameters.condition", Some(condition), Keywords::CONDITION)
}

pub(crate) fn check_method_groups(groups: &[crate::model::MethodGroup]) -> Result<()> {
    let field = "requiredAuthenticationMethods";
    if groups.is_empty() || groups.len() > MAX_METHOD_GROUPS {
        return Err(Error::invalid(format!("parameters.{field}: 1 to {MAX_METHOD_GROUPS} steps required")));
    }
    for (i, group) in groups.iter().enumerate() {
        if group.any.is_empty() || group.any.len() > MAX_METHOD_GROUPS {
            return Err(Error::invalid(format!(
                "parameters.{field}[{i}].any: 1 to {MAX_METHOD_GROUPS} methods required"
            )));
        }
        for (j, m) in group.any.iter().enumerate() {
            if m.kind == crate::model::AuthenticationType::Oauth {
                return Err(Error::invalid(format!(
                    "parameters.{field}[{i}].any[{j}].type: twofold does not offer OAuth logins, so \
                     AUTHENTICATION_TYPE_OAUTH could never be proven"
                )));
            }
            if m.id.as_deref().is_some_and(|id| id.trim().is_empty() || id.len() > MAX_FIELD) {
                return Err(Error::invalid(format!(
                    "parameters.{field}[{i}].any[{j}].id: must be 1 to {MAX_FIELD} characters when given"
                )));
            }
        }
    }
    Ok(())
}

pub(crate) fn check_order(order: i64) -> Result<()> {
    if (0..=1_000_000).contains(&order) {
        Ok(())
    } else {
        Err(Error::invalid(format!("parameters.order: must be between 0 and 1000000, found {order}")))
    }
}

/// An app activity's resource or action: `PAYOUT`, `CREATE` (upper-case letters, digits, `_`).
pub(crate) fn check_app_word(field: &str, word: &str) -> Result<()> {
    let ok = (1..=64).contains(&word.len())
        && word.as_bytes()[0].is_ascii_uppercase()
        && word.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "parameters.{field}: expected 1 to 64 upper-case letters, digits or `_` starting with a letter, found `{}`",
            crypto::clip(word)
        )))
    }
}

/// A one-time code field: 6 to 8 digits.
pub(crate) fn check_code(field: &str, code: &str) -> Result<()> {
    if (6..=8).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Error::invalid(format!("parameters.{field}: expected 6 to 8 digits")))
    }
}

/// Longest policy expression accepted.
const MAX_EXPRESSION: usize = 16 * 1024;

/// Compiles a policy expression; an empty or absent one is fine. Errors carry every
/// diagnostic with its `line:col`.
pub(crate) fn check_expression(field: &str, src: Option<&str>, keywords: Keywords) -> Result<()> {
    let Some(src) = src.filter(|s| !s.trim().is_empty()) else { return Ok(()) };
    if src.len() > MAX_EXPRESSION {
        return Err(Error::invalid(format!("{field}: longer than {MAX_EXPRESSION} bytes")));
    }
    Program::compile(src, keywords).map(drop).map_err(|diags| {
        let parts: Vec<String> = diags
            .diagnostics()
            .into_iter()
            .map(|d| {
                // Parser messages may already name the position; say it once.
                let at = format!(" at {}:{}", d.line, d.column);
                let place = if d.message.contains(&at) { String::new() } else { at };
                match d.help {
                    Some(help) => format!("{}{place} (help: {help})", d.message),
                    None => format!("{}{place}", d.message),
                }
            })
            .collect();
        Error::invalid(format!("{field}: {}", parts.join("; ")))
    })
}

/// `onEvaluationError`: `ALLOW` or `DENY` (Turnkey's prefixed names accepted).
pub(crate) fn on_error(mode: &str) -> Result<&'static str> {
    match mode.trim_start_matches("ON_EVALUATION_ERROR_") {
        "ALLOW" => Ok("ALLOW"),
        "DENY" => Ok("DENY"),
        _ => Err(Error::invalid(format!(
            "parameters.onEvaluationError: expected `ALLOW` or `DENY`, found `{}`",
            crypto::clip(mode)
        ))),
    }
}
