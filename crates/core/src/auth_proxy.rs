//! The auth proxy an organization may enable: unauthenticated browsers run email-code
//! sign-in (and, when allowed, sign-up) through it, as the organization's service user.
//! This module holds its settings and the activities that change them; the pipeline
//! side is `engine::auth_proxy`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fields::params;

/// `allowedAuthMethods` value: email-code sign-in of existing users (on by default).
pub const EMAIL_OTP_LOGIN: &str = "AUTH_METHOD_EMAIL_OTP_LOGIN";
/// `allowedAuthMethods` value: email-code sign-up creating a sub-organization (off by default).
pub const EMAIL_OTP_SIGNUP: &str = "AUTH_METHOD_EMAIL_OTP_SIGNUP";
/// `allowedAuthMethods` value: passkey sign-up creating a sub-organization whose root user
/// has only the new passkey (@turnkey/core's `signUpWithPasskey`; off by default, and limited
/// per client address and per node).
pub const PASSKEY_SIGNUP: &str = "AUTH_METHOD_PASSKEY_SIGNUP";
const METHODS: &[&str] = &[EMAIL_OTP_LOGIN, EMAIL_OTP_SIGNUP, PASSKEY_SIGNUP];

/// What the proxy does for unauthenticated callers, stored as JSON with the proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuthProxyConfig {
    /// The flows it runs ([`EMAIL_OTP_LOGIN`], [`EMAIL_OTP_SIGNUP`]).
    pub allowed_auth_methods: Vec<String>,
    /// Application name in the email.
    pub app_name: String,
    /// Code length 6–9.
    pub otp_length: u32,
    /// Crockford base32 codes (else digits only).
    pub otp_alphanumeric: bool,
    /// Code lifetime, seconds (60–600).
    pub otp_expiration_seconds: u64,
    /// Verification-token lifetime, seconds (60–3600).
    pub verification_token_expiration_seconds: u64,
    /// Session lifetime, seconds (60–86400).
    pub session_expiration_seconds: u64,
    /// Display name of the sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_from_email_sender_name: Option<String>,
    /// Web origins (`https://app.example.com`) whose pages may call the proxy from a browser
    /// (CORS); the server's own pages always may.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

impl Default for AuthProxyConfig {
    fn default() -> Self {
        AuthProxyConfig {
            allowed_auth_methods: vec![EMAIL_OTP_LOGIN.to_owned()],
            app_name: "twofold".to_owned(),
            otp_length: 6,
            otp_alphanumeric: false,
            otp_expiration_seconds: 300,
            verification_token_expiration_seconds: 600,
            session_expiration_seconds: 900,
            send_from_email_sender_name: None,
            allowed_origins: Vec::new(),
        }
    }
}

impl AuthProxyConfig {
    /// Whether `method` is enabled.
    pub fn allows(&self, method: &str) -> bool {
        self.allowed_auth_methods.iter().any(|m| m == method)
    }

    /// The stored settings (defaults for anything an older row lacks).
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| Error::Internal(format!("stored auth proxy settings: {e}")))
    }

    /// The settings as stored.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// These settings with `changes` applied.
    pub fn with(&self, changes: &AuthProxyParams) -> Self {
        let mut next = self.clone();
        if let Some(m) = &changes.allowed_auth_methods {
            next.allowed_auth_methods = m.clone();
        }
        if let Some(v) = &changes.app_name {
            next.app_name = v.trim().to_owned();
        }
        if let Some(v) = changes.otp_length {
            next.otp_length = v;
        }
        if let Some(v) = changes.otp_alphanumeric {
            next.otp_alphanumeric = v;
        }
        if let Some(v) = changes.otp_expiration_seconds {
            next.otp_expiration_seconds = v;
        }
        if let Some(v) = changes.verification_token_expiration_seconds {
            next.verification_token_expiration_seconds = v;
        }
        if let Some(v) = changes.session_expiration_seconds {
            next.session_expiration_seconds = v;
        }
        if let Some(v) = &changes.send_from_email_sender_name {
            next.send_from_email_sender_name = Some(v.trim().to_owned()).filter(|s| !s.is_empty());
        }
        if let Some(origins) = &changes.allowed_origins {
            next.allowed_origins = origins.iter().filter_map(|o| normalize_origin(o).ok()).collect();
        }
        next
    }

    /// Whether a browser page at `origin` (the request's `Origin` header, already known not
    /// to be the server's own) may call the proxy.
    pub fn allows_origin(&self, origin: &str) -> bool {
        normalize_origin(origin).is_ok_and(|o| self.allowed_origins.contains(&o))
    }
}

/// The origins of the server's own pages (its configured public origins, the ones passkeys
/// are bound to): a page there is not cross-origin and needs no `allowedOrigins` entry.
/// Compared in full — scheme, host and port — never against the request's `Host`, which
/// the client chooses (DNS rebinding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicOrigins {
    origins: Vec<String>,
    any_port: bool,
}

impl PublicOrigins {
    /// The normalized `origins` (entries that are not origins are left out); with `any_port`
    /// (the `http://localhost` development default) an origin matches on any port.
    pub fn new<'a>(origins: impl IntoIterator<Item = &'a str>, any_port: bool) -> PublicOrigins {
        let origins =
            origins.into_iter().filter_map(|o| normalize_origin(o).ok()).map(|o| strip_port(&o, any_port)).collect();
        PublicOrigins { origins, any_port }
    }

    /// Whether `origin` (a request's `Origin` header) is one of the server's own.
    pub fn contains(&self, origin: &str) -> bool {
        normalize_origin(origin).is_ok_and(|o| self.origins.contains(&strip_port(&o, self.any_port)))
    }
}

impl Default for PublicOrigins {
    /// `http://localhost` on any port, the server's development default.
    fn default() -> Self {
        PublicOrigins::new(["http://localhost"], true)
    }
}

/// `origin` without its port when ports do not count.
fn strip_port(origin: &str, any_port: bool) -> String {
    let host_start = origin.find("://").map_or(0, |i| i + 3);
    match origin[host_start..].rfind(':') {
        Some(colon) if any_port && !origin[host_start..].ends_with(']') => origin[..host_start + colon].to_owned(),
        _ => origin.to_owned(),
    }
}

/// Refuses text an email header or a page would carry that holds control characters (CR,
/// LF and the other C0 and C1 controls), line or paragraph separators, or bidirectional
/// controls that reorder what a reader sees; the error names the field.
fn printable(field: &str, value: &str) -> Result<()> {
    let bidi =
        |c: char| matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    match value.chars().find(|c| c.is_control() || bidi(*c) || matches!(c, '\u{2028}' | '\u{2029}')) {
        Some(c) => Err(Error::invalid(format!(
            "parameters.{field}: must not contain control characters (found U+{:04X}); CR, LF, other C0/C1 \
             controls, line separators and bidirectional controls are refused",
            u32::from(c)
        ))),
        None => Ok(()),
    }
}

/// Most origins one proxy accepts.
const MAX_ORIGINS: usize = 20;

/// `scheme://host[:port]` in lower case without a default port, as browsers send `Origin`;
/// the reason when `raw` is not an http(s) origin (a path, credentials, a query or `*`).
pub fn normalize_origin(raw: &str) -> std::result::Result<String, &'static str> {
    // A host name is at most 253 characters; with a scheme and a port, 300 is generous.
    if raw.trim().len() > 300 {
        return Err("an origin is at most 300 characters");
    }
    let url = url::Url::parse(raw.trim()).map_err(|_| "not an origin like https://app.example.com")?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err("the scheme must be https or http");
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err("an origin has no credentials, query or fragment");
    }
    if url.path() != "/" {
        return Err("an origin has no path");
    }
    let host = url.host_str().ok_or("an origin names a host")?;
    Ok(match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

/// `v1EnableAuthProxyIntent` / `v1UpdateAuthProxyConfigIntent`: the settings to change
/// (Turnkey's enable intent is empty; twofold also takes the settings there).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthProxyParams {
    /// Flows to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_auth_methods: Option<Vec<String>>,
    /// Application name in the email (twofold extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_name: Option<String>,
    /// Code length 6–9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otp_length: Option<u32>,
    /// Crockford base32 codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otp_alphanumeric: Option<bool>,
    /// Code lifetime, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otp_expiration_seconds: Option<u64>,
    /// Verification-token lifetime, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_token_expiration_seconds: Option<u64>,
    /// Session lifetime, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_expiration_seconds: Option<u64>,
    /// Display name of the sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_from_email_sender_name: Option<String>,
    /// Web origins whose pages may call the proxy from a browser (replaces the list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_origins: Option<Vec<String>>,
}

/// `v1EnableAuthProxyIntent`: the settings to start with.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct EnableAuthProxy(pub AuthProxyParams);

/// `v1UpdateAuthProxyConfigIntent`: the settings to change.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct UpdateAuthProxyConfig(pub AuthProxyParams);

/// `v1DisableAuthProxyIntent` (empty).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DisableAuthProxy {}

/// A change to an organization's auth proxy (borrowed from its intent).
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// `ENABLE_AUTH_PROXY`.
    Enable(&'a AuthProxyParams),
    /// `UPDATE_AUTH_PROXY_CONFIG`.
    Update(&'a AuthProxyParams),
    /// `DISABLE_AUTH_PROXY`.
    Disable(&'a DisableAuthProxy),
}

fn in_range(field: &str, value: u64, min: u64, max: u64) -> Result<()> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(Error::invalid(format!("parameters.{field}: must be between {min} and {max}, found {value}")))
}

impl Change<'_> {
    /// Checks the parameters before anything is recorded.
    pub fn validate(&self) -> Result<()> {
        let (Change::Enable(p) | Change::Update(p)) = self else { return Ok(()) };
        if let Some(methods) = &p.allowed_auth_methods
            && let Some(bad) = methods.iter().find(|m| !METHODS.contains(&m.as_str()))
        {
            return Err(Error::invalid(format!(
                "parameters.allowedAuthMethods: unknown method `{}`; expected {}",
                crate::crypto::clip(bad),
                METHODS.join(" or ")
            )));
        }
        for (field, value) in [("appName", &p.app_name), ("sendFromEmailSenderName", &p.send_from_email_sender_name)] {
            if let Some(text) = value {
                printable(field, text)?;
            }
        }
        for (i, text) in p.allowed_auth_methods.iter().flatten().enumerate() {
            printable(&format!("allowedAuthMethods[{i}]"), text)?;
        }
        for (i, text) in p.allowed_origins.iter().flatten().enumerate() {
            printable(&format!("allowedOrigins[{i}]"), text)?;
        }
        if let Some(name) = &p.app_name
            && (name.trim().is_empty() || name.len() > 64)
        {
            return Err(Error::invalid("parameters.appName: must be 1 to 64 characters"));
        }
        if let Some(name) = &p.send_from_email_sender_name
            && name.len() > 64
        {
            return Err(Error::invalid("parameters.sendFromEmailSenderName: at most 64 characters"));
        }
        if let Some(origins) = &p.allowed_origins {
            if origins.len() > MAX_ORIGINS {
                return Err(Error::invalid(format!(
                    "parameters.allowedOrigins: at most {MAX_ORIGINS} origins, found {}",
                    origins.len()
                )));
            }
            for (i, origin) in origins.iter().enumerate() {
                if let Err(why) = normalize_origin(origin) {
                    return Err(Error::invalid(format!(
                        "parameters.allowedOrigins[{i}]: `{}`: {why}",
                        crate::crypto::clip(origin)
                    )));
                }
            }
        }
        if let Some(v) = p.otp_length {
            in_range("otpLength", u64::from(v), 6, 9)?;
        }
        if let Some(v) = p.otp_expiration_seconds {
            in_range("otpExpirationSeconds", v, 60, 600)?;
        }
        if let Some(v) = p.verification_token_expiration_seconds {
            in_range("verificationTokenExpirationSeconds", v, 60, 3600)?;
        }
        if let Some(v) = p.session_expiration_seconds {
            in_range("sessionExpirationSeconds", v, 60, 86_400)?;
        }
        Ok(())
    }

    /// What policies see as `activity.params`.
    pub fn policy_params(&self) -> serde_json::Value {
        match self {
            Change::Enable(p) | Change::Update(p) => {
                params!(p; allowed_auth_methods)
            }
            Change::Disable(_) => serde_json::Value::Object(serde_json::Map::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalized_as_browsers_send_them() {
        assert_eq!(normalize_origin("https://App.Example.com/"), Ok("https://app.example.com".to_owned()));
        assert_eq!(normalize_origin("https://app.example.com:443"), Ok("https://app.example.com".to_owned()));
        assert_eq!(normalize_origin("http://127.0.0.1:5173"), Ok("http://127.0.0.1:5173".to_owned()));
        let long = format!("https://{}.example", "a".repeat(300));
        for bad in [
            long.as_str(),
            "*",
            "null",
            "app.example.com",
            "ftp://a.example",
            "https://a.example/login",
            "https://u:p@a.example",
            "https://a.example/?q=1",
            "https://a.example/#x",
        ] {
            assert!(normalize_origin(bad).is_err(), "{bad}");
        }
        let config = AuthProxyConfig::default().with(&AuthProxyParams {
            allowed_origins: Some(vec!["https://app.example.com".into()]),
            ..Default::default()
        });
        assert!(config.allows_origin("https://app.example.com"));
        assert!(!config.allows_origin("https://app.example.com.evil.example"));
        assert!(!config.allows_origin("http://app.example.com"), "the scheme is part of the origin");
    }

    #[test]
    fn own_origins_match_in_full() {
        let own = PublicOrigins::new(["https://auth.example.com"], false);
        assert!(own.contains("https://auth.example.com") && own.contains("https://Auth.Example.com:443"));
        assert!(!own.contains("http://auth.example.com"), "the scheme counts");
        assert!(!own.contains("https://auth.example.com:8443"), "the port counts");
        assert!(!own.contains("https://evil.test"));
        let dev = PublicOrigins::default();
        assert!(dev.contains("http://localhost:5173") && dev.contains("http://localhost"));
        assert!(!dev.contains("http://127.0.0.1:5173") && !dev.contains("https://localhost:5173"));
    }

    #[test]
    fn control_characters_are_refused_by_field() {
        for bad in
            ["App\r\nBcc: x@evil.test", "tab\there", "del\u{7f}", "c1\u{85}", "bidi\u{202E}gnp.exe", "ls\u{2028}"]
        {
            let err = Change::Update(&AuthProxyParams { app_name: Some(bad.into()), ..Default::default() })
                .validate()
                .expect_err("refused")
                .to_string();
            assert!(err.contains("parameters.appName") && err.contains("control"), "{bad:?}: {err}");
        }
        let sender = AuthProxyParams { send_from_email_sender_name: Some("Ops\nX: y".into()), ..Default::default() };
        assert!(
            Change::Update(&sender).validate().expect_err("refused").to_string().contains("sendFromEmailSenderName")
        );
        let origin =
            AuthProxyParams { allowed_origins: Some(vec!["https://a\n.example".into()]), ..Default::default() };
        assert!(Change::Update(&origin).validate().expect_err("refused").to_string().contains("allowedOrigins[0]"));
        let fine = AuthProxyParams { app_name: Some("Café Ünïcode".into()), ..Default::default() };
        assert!(Change::Update(&fine).validate().is_ok());
    }

    #[test]
    fn defaults_allow_login_only_and_changes_apply() {
        let config = AuthProxyConfig::default();
        assert!(config.allows(EMAIL_OTP_LOGIN) && !config.allows(EMAIL_OTP_SIGNUP));
        let changes = AuthProxyParams {
            allowed_auth_methods: Some(vec![EMAIL_OTP_LOGIN.into(), EMAIL_OTP_SIGNUP.into()]),
            otp_length: Some(8),
            ..Default::default()
        };
        let next = config.with(&changes);
        assert!(next.allows(EMAIL_OTP_SIGNUP));
        assert_eq!((next.otp_length, next.otp_expiration_seconds), (8, 300));
        assert_eq!(AuthProxyConfig::from_json(&next.to_json()).expect("round trip"), next);
    }

    #[test]
    fn bad_settings_name_their_field() {
        let bad = |p: AuthProxyParams| Change::Update(&p).validate().expect_err("refused").to_string();
        assert!(bad(AuthProxyParams { otp_length: Some(5), ..Default::default() }).contains("otpLength"));
        assert!(
            bad(AuthProxyParams { allowed_auth_methods: Some(vec!["PASSWORD".into()]), ..Default::default() })
                .contains("allowedAuthMethods")
        );
        assert!(bad(AuthProxyParams { app_name: Some(" ".into()), ..Default::default() }).contains("appName"));
    }
}
