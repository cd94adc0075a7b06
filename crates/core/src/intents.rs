//! Typed request parameters, parsed from `parameters` with errors that name the
//! offending field (`parameters.users[0].apiKeys[1].curveType: unknown variant ...`).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fields::Secret;
pub(crate) use crate::fields::opt_u64_string;
use crate::model::ApiKeyCurve;

/// An API key to create (`v1ApiKeyParamsV2`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiKeyParams {
    /// Human-readable name.
    pub api_key_name: String,
    /// Compressed P-256 hex or Ed25519 hex.
    pub public_key: String,
    /// Curve of the key.
    pub curve_type: ApiKeyCurve,
    /// Lifetime in seconds (uint64 as a string, as Turnkey sends it).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[serde(
        default,
        deserialize_with = "opt_u64_string",
        serialize_with = "crate::fields::ser_opt_u64_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration_seconds: Option<u64>,
}

/// A user to create (`v1UserParamsV4`, also accepted for V3), and a root user of a
/// new sub-organization (`v1RootUserParamsV5`, the same fields without `userTags`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserParams {
    /// Display name.
    pub user_name: String,
    /// Optional email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_email: Option<String>,
    /// Optional phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_phone_number: Option<String>,
    /// API keys to create for the user.
    #[serde(default)]
    pub api_keys: Vec<ApiKeyParams>,
    /// Passkeys to register with the user (see `activities::factors::new_passkey`).
    #[serde(default)]
    pub authenticators: Vec<AuthenticatorParams>,
    /// OAuth accounts to bind, each proven by an ID token (see `activities::oauth`).
    #[serde(default)]
    pub oauth_providers: Vec<OauthProviderParams>,
    /// Tag ids to attach (absent for root users).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_tags: Option<Vec<String>>,
}

/// `v1ApproveActivityIntent` / `v1RejectActivityIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VoteIntent {
    /// The activity's fingerprint (`sha256:<hex>`).
    pub fingerprint: String,
    /// A current code of one of the voter's TOTP devices, proving that factor too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp_code: Option<Secret>,
    /// One of the voter's unused recovery codes, proving that factor too (and using it up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_code: Option<Secret>,
    /// A VERIFY_OTP token for the voter's email or phone, proving EMAIL_OTP / SMS_OTP (used up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_token: Option<Secret>,
}

/// Deserializes `raw` as `T`, prefixing errors with the JSON path under `parameters`.
pub fn typed<T: DeserializeOwned>(raw: &serde_json::value::RawValue) -> Result<T> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let what = crate::fields::data_error(&inner);
        if path == "." {
            Error::invalid(format!("parameters: {what}"))
        } else {
            Error::invalid(format!("parameters.{path}: {what}"))
        }
    })
}

/// `v1Attestation`: a WebAuthn registration response, base64url values.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttestationParams {
    /// Credential id.
    pub credential_id: String,
    /// Client data JSON.
    pub client_data_json: String,
    /// Attestation object.
    pub attestation_object: String,
    /// `AUTHENTICATOR_TRANSPORT_*`.
    #[serde(default)]
    pub transports: Vec<String>,
}

/// `v1AuthenticatorParamsV2`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthenticatorParams {
    /// Human-readable name.
    pub authenticator_name: String,
    /// The registration challenge: one from `get_passkey_registration_options`, or one the client made (base64url).
    pub challenge: String,
    /// The authenticator's response.
    pub attestation: AttestationParams,
}

/// `v1OauthProviderParams`: an OAuth account, proven by an ID token.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OauthProviderParams {
    /// Its name.
    pub provider_name: String,
    /// An ID token proving the OAuth account (spent by the activity that binds it).
    pub oidc_token: Secret,
    /// V2's claims without a token: refused (an account is bound only with proof of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc_claims: Option<serde_json::Value>,
}
