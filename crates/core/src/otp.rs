//! Email and SMS one-time codes as the domain sees them: the narrow port to the enclave
//! that generates, delivers and checks codes ([`OtpEnclave`]), the OTP activities'
//! parameters, the stored flow, and the abuse limits.
//!
//! The domain never holds a code: it stores the enclave's sealed state and hands the
//! client's HPKE-encrypted attempt back to the enclave. Core depends on this trait, not
//! on the `twofold-enclave` crate, so it stays free of SMTP, HTTP and socket code; the
//! binary wires the trait to an in-process or a remote enclave.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fields::Secret;
use crate::model::FactorKind;

/// How a code travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpChannel {
    /// By email (`OTP_TYPE_EMAIL`).
    Email,
    /// By SMS (`OTP_TYPE_SMS`).
    Sms,
}

impl OtpChannel {
    /// The Turnkey name, `OTP_TYPE_EMAIL` or `OTP_TYPE_SMS`.
    pub fn as_str(self) -> &'static str {
        match self {
            OtpChannel::Email => "OTP_TYPE_EMAIL",
            OtpChannel::Sms => "OTP_TYPE_SMS",
        }
    }

    /// Parses a Turnkey name; `field` names the parameter in the error.
    pub fn parse(s: &str, field: &str) -> Result<Self> {
        match s {
            "OTP_TYPE_EMAIL" => Ok(OtpChannel::Email),
            "OTP_TYPE_SMS" => Ok(OtpChannel::Sms),
            other => Err(Error::invalid(format!(
                "{field}: expected OTP_TYPE_EMAIL or OTP_TYPE_SMS, found `{}`",
                crate::crypto::clip(other)
            ))),
        }
    }

    /// The factor a verified code of this channel proves.
    pub fn factor(self) -> FactorKind {
        match self {
            OtpChannel::Email => FactorKind::EmailOtp,
            OtpChannel::Sms => FactorKind::SmsOtp,
        }
    }
}

/// What the enclave needs to start a flow.
#[derive(Debug, Clone)]
pub struct OtpStart {
    /// The organization the flow runs in (bound into the sealed state and the token).
    pub organization_id: String,
    /// Email or SMS.
    pub channel: OtpChannel,
    /// Email address or E.164 phone number.
    pub contact: String,
    /// Application name shown in the message.
    pub app_name: String,
    /// Code length, 6–9.
    pub otp_length: Option<u32>,
    /// Crockford base32 (default) or digits.
    pub alphanumeric: Option<bool>,
    /// Code lifetime in seconds, 1–600.
    pub expiration_seconds: Option<u64>,
    /// Display name of the sender.
    pub sender_name: Option<String>,
    /// Reply-To address.
    pub reply_to: Option<String>,
    /// SMS template with `{{.OtpCode}}`.
    pub sms_template: Option<String>,
    /// Now, ms.
    pub now_ms: i64,
}

/// A started flow: what the client gets, and the state to keep.
#[derive(Debug, Clone)]
pub struct OtpStarted {
    /// The flow's id.
    pub otp_id: String,
    /// The signed HPKE target bundle.
    pub target_bundle: String,
    /// The enclave's sealed state, opaque here.
    pub sealed_state: String,
    /// When the code expires, ms.
    pub expires_at_ms: i64,
}

/// One encrypted attempt at a flow.
#[derive(Debug, Clone)]
pub struct OtpAttempt {
    /// The flow's id.
    pub otp_id: String,
    /// Its organization.
    pub organization_id: String,
    /// The latest sealed state stored for it.
    pub sealed_state: String,
    /// The client's `{encappedPublic, ciphertext}`.
    pub encrypted_bundle: String,
    /// Verification token lifetime, seconds.
    pub token_expiration_seconds: Option<u64>,
    /// Now, ms.
    pub now_ms: i64,
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OtpVerdict {
    /// The code was right: a verification token.
    Verified {
        /// The ES256 verification token.
        token: String,
    },
    /// A wrong code; `attempts_left` more may be tried (0: the code is burned).
    Invalid {
        /// Attempts remaining.
        attempts_left: u32,
    },
    /// Burned by earlier wrong attempts.
    Exhausted,
    /// Past its lifetime.
    Expired,
    /// Already verified once.
    AlreadyUsed,
}

/// An attempt's verdict, the client-facing message and the state to persist whatever it is.
#[derive(Debug, Clone)]
pub struct OtpChecked {
    /// What happened.
    pub verdict: OtpVerdict,
    /// Text for the client (wrong codes say "Invalid OTP code", as SDKs match).
    pub message: String,
    /// The flow's new sealed state.
    pub sealed_state: String,
}

/// The claims of a verification token whose signature and expiry the enclave checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// Token id (single use is the coordinator's job).
    pub id: String,
    /// Email or SMS.
    pub channel: OtpChannel,
    /// The verified contact.
    pub contact: String,
    /// The organization whose flow issued it.
    pub organization_id: String,
    /// The client key (compressed P-256 hex) the token is bound to.
    pub public_key: String,
}

/// The enclave's published keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EnclavePublicKeys {
    /// Signing key, uncompressed hex: what clients pin to check target bundles and tokens.
    pub signing_public_key: String,
    /// The same key compressed.
    pub signing_public_key_compressed: String,
    /// Earlier signing keys whose tokens still verify.
    pub previous_signing_public_keys: Vec<String>,
}

/// The enclave as the domain uses it (implemented in the binary over `twofold-enclave`).
#[async_trait]
pub trait OtpEnclave: Send + Sync + Debug {
    /// The signing public keys.
    async fn public_keys(&self) -> Result<EnclavePublicKeys>;
    /// Generates a code and seals it with its message; nothing is sent yet.
    async fn start(&self, request: OtpStart) -> Result<OtpStarted>;
    /// Delivers a started flow's code from its sealed state; failures are errors naming the
    /// transport, and a finished or expired flow is refused.
    async fn deliver(&self, otp_id: &str, organization_id: &str, sealed_state: &str, now_ms: i64) -> Result<()>;
    /// Checks an attempt. Malformed input is an error that costs no attempt.
    async fn check(&self, attempt: OtpAttempt) -> Result<OtpChecked>;
    /// Checks a verification token's signature, shape and expiry.
    async fn verify_token(&self, token: &str, now_ms: i64) -> Result<TokenClaims>;
}

/// The enclave and the abuse limits, counted in the database.
#[derive(Debug, Clone)]
pub struct OtpConfig {
    /// The enclave; `None` leaves the OTP activities unavailable.
    pub enclave: Option<Arc<dyn OtpEnclave>>,
    /// Codes sent to one contact per rolling hour, counted separately for anonymous callers
    /// (the auth proxy) and for the organization's authenticated callers.
    pub sends_per_contact_per_hour: u32,
    /// Unverified, unexpired codes anonymous callers may have open in one organization (a client
    /// prefix with no open code still gets one past it, up to twice this).
    pub inflight_per_org: u32,
    /// Anonymous INIT_OTP requests one client prefix (/32 IPv4, /64 IPv6) may make per rolling minute.
    pub inits_per_ip_per_minute: u32,
    /// Unverified, unexpired codes anonymous callers from one client prefix may have open.
    pub inflight_per_ip: u32,
    /// Wrong codes per contact (across codes: a new code does not reset it) per failure window.
    pub max_failures: usize,
}

impl Default for OtpConfig {
    fn default() -> Self {
        OtpConfig {
            enclave: None,
            sends_per_contact_per_hour: 10,
            inflight_per_org: 1000,
            inits_per_ip_per_minute: 30,
            inflight_per_ip: 20,
            max_failures: 10,
        }
    }
}

/// Where a flow stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpFlowStatus {
    /// Counted against the limits; the code is not sent (yet, or delivery failed).
    Reserved,
    /// Sent and open.
    Pending,
    /// Verified once; the token is issued.
    Verified,
    /// Burned by wrong attempts.
    Failed,
}

impl OtpFlowStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OtpFlowStatus::Reserved => "RESERVED",
            OtpFlowStatus::Pending => "PENDING",
            OtpFlowStatus::Verified => "VERIFIED",
            OtpFlowStatus::Failed => "FAILED",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [OtpFlowStatus::Reserved, OtpFlowStatus::Pending, OtpFlowStatus::Verified, OtpFlowStatus::Failed]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One OTP flow as stored: metadata and the enclave's sealed state, never a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpFlow {
    /// Row id (the reservation).
    pub id: String,
    /// The enclave's flow id, once the code is sent.
    pub otp_id: Option<String>,
    /// Organization.
    pub organization_id: String,
    /// `OTP_TYPE_EMAIL` / `OTP_TYPE_SMS`.
    pub otp_type: String,
    /// Email address or phone number.
    pub contact: String,
    /// The prefix of the client address that asked (/32 IPv4, /64 IPv6), for the per-prefix limits.
    pub client_ip: Option<String>,
    /// Asked for by an anonymous caller (the auth proxy): counted against the anonymous limits.
    pub anonymous: bool,
    /// Fingerprint of the INIT activity.
    pub fingerprint: String,
    /// Where it stands.
    pub status: OtpFlowStatus,
    /// The enclave's sealed state.
    pub sealed_state: Option<String>,
    /// The token issued when it verified.
    pub verification_token: Option<String>,
    /// Fingerprint of the VERIFY activity that succeeded.
    pub verified_fingerprint: Option<String>,
    /// Created, ms.
    pub created_at: i64,
    /// Expires, ms.
    pub expires_at: i64,
    /// Last change, ms.
    pub updated_at: i64,
    /// While its code is owed a delivery: when the outbox worker may (re)try it, ms.
    pub deliver_after: Option<i64>,
    /// Delivery attempts made.
    pub delivery_attempts: i64,
}

/// How many events of one kind fall in a window, and when the oldest happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// How many.
    pub count: i64,
    /// The oldest, ms.
    pub oldest: Option<i64>,
}

/// `v1SmsCustomizationParams`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SmsCustomization {
    /// Text with `{{.OtpCode}}` (and optionally `{{.AppName}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

/// `v1InitOtpIntentV3`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InitOtp {
    /// `OTP_TYPE_EMAIL` or `OTP_TYPE_SMS`.
    pub otp_type: String,
    /// Email address or E.164 phone number.
    pub contact: String,
    /// Application name shown in the message.
    pub app_name: String,
    /// Code length 6–9 (default 9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otp_length: Option<u32>,
    /// Turnkey's email template options; accepted, not applied (twofold sends plain text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_customization: Option<serde_json::Value>,
    /// SMS text template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_customization: Option<SmsCustomization>,
    /// Client-side user identifier; accepted, not used (limits count contacts and addresses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_identifier: Option<String>,
    /// Custom From address; accepted, not applied (the enclave's configured sender is used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_from_email_address: Option<String>,
    /// Crockford base32 (default true) or digits only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alphanumeric: Option<bool>,
    /// Display name of the sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_from_email_sender_name: Option<String>,
    /// Code lifetime in seconds (default 300, at most 600).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[serde(
        default,
        deserialize_with = "crate::fields::opt_u64_string",
        serialize_with = "crate::fields::ser_opt_u64_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration_seconds: Option<u64>,
    /// Reply-To address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_email_address: Option<String>,
}

impl InitOtp {
    /// The channel named by `otpType`.
    pub fn channel(&self) -> Result<OtpChannel> {
        OtpChannel::parse(&self.otp_type, "parameters.otpType")
    }

    /// The contact as flows store and limits count it: trimmed, email lowercased.
    pub fn normalized_contact(&self) -> String {
        normalize_contact(&self.contact)
    }
}

/// The prefix anonymous OTP limits count a client by: its /32 for IPv4 (also when mapped into
/// IPv6), its /64 for IPv6 — one subscriber's allocation, so rotating through the addresses of
/// one's own /64 buys nothing.
pub fn client_prefix(ip: std::net::IpAddr) -> String {
    use std::net::{IpAddr, Ipv6Addr};
    match ip {
        IpAddr::V4(v4) => format!("{v4}/32"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("{v4}/32"),
            None => {
                let s = v6.segments();
                format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// A contact as stored and compared: trimmed, email addresses lowercased.
pub fn normalize_contact(contact: &str) -> String {
    let c = contact.trim();
    if c.contains('@') { c.to_ascii_lowercase() } else { c.to_owned() }
}

/// `v1VerifyOtpIntentV2`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyOtp {
    /// The flow from INIT_OTP.
    pub otp_id: String,
    /// `{encappedPublic, ciphertext}` from `encryptOtpCodeToBundle`.
    pub encrypted_otp_bundle: Secret,
    /// Verification token lifetime in seconds (default 3600, at most 86400).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[serde(
        default,
        deserialize_with = "crate::fields::opt_u64_string",
        serialize_with = "crate::fields::ser_opt_u64_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration_seconds: Option<u64>,
}

/// `v1ClientSignature`: the token's key signing what the token is used for.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientSignature {
    /// Compressed P-256 hex; must be the token's `public_key`.
    pub public_key: String,
    /// `CLIENT_SIGNATURE_SCHEME_API_P256`.
    pub scheme: String,
    /// Compact JSON naming the use, the token id and what is authorized.
    pub message: String,
    /// Raw r||s hex (64 bytes) ECDSA-P256 over SHA-256(message).
    pub signature: String,
}

/// `v1OtpLoginIntentV2`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OtpLogin {
    /// The token from VERIFY_OTP.
    pub verification_token: Secret,
    /// The session's public key (compressed P-256 hex).
    pub public_key: String,
    /// Signature by the token's key over the login message.
    pub client_signature: ClientSignature,
    /// Session lifetime in seconds (default 900).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[serde(
        default,
        deserialize_with = "crate::fields::opt_u64_string",
        serialize_with = "crate::fields::ser_opt_u64_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration_seconds: Option<u64>,
    /// Delete the user's other sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalidate_existing: Option<bool>,
    /// A session profile to bind the session to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_profile_id: Option<String>,
}

/// Longest encrypted attempt or token accepted.
const MAX_BLOB: usize = 8 * 1024;

/// Refuses an empty or oversized opaque parameter (`parameters.<field>`).
pub(crate) fn check_blob(field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::invalid(format!("parameters.{field}: must not be empty")));
    }
    if value.len() > MAX_BLOB {
        return Err(Error::invalid(format!("parameters.{field}: longer than {MAX_BLOB} bytes")));
    }
    Ok(())
}

fn check_range(field: &str, value: Option<u64>, min: u64, max: u64) -> Result<()> {
    match value {
        Some(v) if !(min..=max).contains(&v) => {
            Err(Error::invalid(format!("parameters.{field}: must be between {min} and {max}, found {v}")))
        }
        _ => Ok(()),
    }
}

/// Static checks of INIT_OTP parameters (the enclave checks the contact's shape again).
pub(crate) fn validate_init(p: &InitOtp) -> Result<()> {
    let channel = p.channel()?;
    match channel {
        OtpChannel::Email => crate::fields::check_email(p.contact.trim()).map(drop),
        OtpChannel::Sms => crate::fields::check_phone(p.contact.trim()).map(drop),
    }
    .map_err(|e| Error::invalid(format!("parameters.contact: {e}")))?;
    crate::fields::check_name("appName", &p.app_name)?;
    check_range("otpLength", p.otp_length.map(u64::from), 6, 9)?;
    check_range("expirationSeconds", p.expiration_seconds, 1, 600)?;
    if let Some(t) = p.sms_customization.as_ref().and_then(|c| c.template.as_deref())
        && !t.contains("{{.OtpCode}}")
    {
        return Err(Error::invalid("parameters.smsCustomization.template: must contain `{{.OtpCode}}`"));
    }
    Ok(())
}

/// Static checks of VERIFY_OTP parameters.
pub(crate) fn validate_verify(p: &VerifyOtp) -> Result<()> {
    check_blob("otpId", &p.otp_id)?;
    check_blob("encryptedOtpBundle", p.encrypted_otp_bundle.expose())?;
    check_range("expirationSeconds", p.expiration_seconds, 1, 86_400)
}

/// Static checks of a client signature and the token it goes with.
pub(crate) fn validate_signed_token(token: &str, signature: &ClientSignature) -> Result<()> {
    check_blob("verificationToken", token)?;
    if signature.scheme != "CLIENT_SIGNATURE_SCHEME_API_P256" {
        return Err(Error::invalid(format!(
            "parameters.clientSignature.scheme: expected CLIENT_SIGNATURE_SCHEME_API_P256, found `{}`",
            crate::crypto::clip(&signature.scheme)
        )));
    }
    check_blob("clientSignature.message", &signature.message)?;
    crate::crypto::parse_public_key(crate::model::ApiKeyCurve::P256, &signature.public_key)
        .map_err(|e| Error::invalid(format!("parameters.clientSignature.publicKey: {e}")))?;
    Ok(())
}

/// Static checks of OTP_LOGIN parameters.
pub(crate) fn validate_login(p: &OtpLogin) -> Result<()> {
    validate_signed_token(p.verification_token.expose(), &p.client_signature)?;
    crate::crypto::parse_public_key(crate::model::ApiKeyCurve::P256, &p.public_key)
        .map_err(|e| Error::invalid(format!("parameters.publicKey: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod prefix_tests {
    use super::client_prefix;

    #[test]
    fn clients_are_counted_by_their_slash_32_or_slash_64() {
        let p = |s: &str| client_prefix(s.parse().expect("address"));
        assert_eq!(p("127.0.0.2"), "127.0.0.2/32");
        assert_eq!(p("::ffff:10.1.2.3"), "10.1.2.3/32", "a mapped IPv4 address is that IPv4 address");
        assert_eq!(p("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(p("2001:db8:1:2:ffff::1"), p("2001:db8:1:2::9"), "one /64 is one client");
        assert_ne!(p("2001:db8:1:2::1"), p("2001:db8:1:3::1"));
    }
}
