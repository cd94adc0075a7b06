//! Typed request parameters, parsed from `parameters` with errors that name the
//! offending field (`parameters.users[0].apiKeys[1].curveType: unknown variant ...`).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub(crate) use crate::fields::opt_u64_string;
use crate::model::{ApiKeyCurve, Effect, MethodGroup};

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
    #[serde(default, deserialize_with = "opt_u64_string", skip_serializing_if = "Option::is_none")]
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
    /// Passkeys to register (not accepted here yet; must be empty).
    #[serde(default)]
    pub authenticators: Vec<serde_json::Value>,
    /// OAuth providers (not supported; must be empty).
    #[serde(default)]
    pub oauth_providers: Vec<serde_json::Value>,
    /// Tag ids to attach (absent for root users).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_tags: Option<Vec<String>>,
}

/// `v1CreateUsersIntentV4`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateUsers {
    /// The users.
    pub users: Vec<UserParams>,
}

/// `v1DeleteUsersIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteUsers {
    /// Users to delete.
    pub user_ids: Vec<String>,
}

/// `v1UpdateUserIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateUser {
    /// The user to change.
    pub user_id: String,
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// New email (empty string clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_email: Option<String>,
    /// New tag set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_tag_ids: Option<Vec<String>>,
    /// New phone number (empty string clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_phone_number: Option<String>,
    /// A twofold extension (Turnkey's `update_user_email` field): a VERIFY_OTP token proving the
    /// new email address or phone number, which is then stored verified. Without it a changed
    /// contact is unverified and serves no OTP login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_token: Option<String>,
}

impl UpdateUser {
    /// What the update changes, as policies see it in `activity.params.changes`.
    pub fn changes(&self) -> Vec<&'static str> {
        [
            (self.user_name.is_some(), "NAME"),
            (self.user_email.is_some(), "EMAIL"),
            (self.user_phone_number.is_some(), "PHONE_NUMBER"),
            (self.user_tag_ids.is_some(), "TAGS"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect()
    }

    /// Whether it sets, changes or clears a login contact (email or phone): a factor change.
    pub fn changes_contact(&self) -> bool {
        self.user_email.is_some() || self.user_phone_number.is_some()
    }
}

/// `v1CreateUserTagIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateUserTag {
    /// Tag name.
    pub user_tag_name: String,
    /// Users to tag.
    #[serde(default)]
    pub user_ids: Vec<String>,
}

/// `v1CreateApiKeysIntentV2`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateApiKeys {
    /// Keys to add.
    pub api_keys: Vec<ApiKeyParams>,
    /// Owner.
    pub user_id: String,
}

/// `v1DeleteApiKeysIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteApiKeys {
    /// Owner.
    pub user_id: String,
    /// Keys to remove.
    pub api_key_ids: Vec<String>,
}

/// `v1CreateSubOrganizationIntentV8`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSubOrganization {
    /// Name of the new organization.
    pub sub_organization_name: String,
    /// Its root users (all join the root quorum).
    pub root_users: Vec<UserParams>,
    /// Root quorum threshold.
    pub root_quorum_threshold: i64,
    /// Wallets are out of scope for twofold; must be absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet: Option<serde_json::Value>,
    /// Accepted for compatibility; twofold has no email recovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_email_recovery: Option<bool>,
    /// Accepted for compatibility; twofold has no email auth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_email_auth: Option<bool>,
    /// Refuse SMS one-time codes for the new organization's users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_sms_auth: Option<bool>,
    /// Refuse email one-time codes for the new organization's users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_otp_email_auth: Option<bool>,
    /// OTP sign-up: a verification token for a root user's email or phone, which is then marked verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_token: Option<String>,
    /// OTP sign-up: the token's key signing the sign-up (needed with `verificationToken`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_signature: Option<crate::otp::ClientSignature>,
}

/// `v1UpdateRootQuorumIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateRootQuorum {
    /// Approvals needed.
    pub threshold: i64,
    /// Members.
    pub user_ids: Vec<String>,
}

/// `v1CreatePolicyIntentV3`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePolicy {
    /// Name.
    pub policy_name: String,
    /// ALLOW or DENY.
    pub effect: Effect,
    /// Which activities it covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Who must approve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consensus: Option<String>,
    /// Free text.
    #[serde(default)]
    pub notes: String,
    /// When it is in force (`time.now ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// `v1CreatePoliciesIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePolicies {
    /// The policies.
    pub policies: Vec<CreatePolicy>,
}

/// `v1UpdatePolicyIntentV2`: absent fields keep their value; an empty string clears
/// a condition, consensus or time.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdatePolicy {
    /// The policy.
    pub policy_id: String,
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
    /// New effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_effect: Option<Effect>,
    /// New condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_condition: Option<String>,
    /// New consensus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_consensus: Option<String>,
    /// New notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_notes: Option<String>,
    /// New time expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// `v1DeletePolicyIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeletePolicy {
    /// The policy.
    pub policy_id: String,
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
    pub totp_code: Option<String>,
    /// One of the voter's unused recovery codes, proving that factor too (and using it up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_code: Option<String>,
    /// A VERIFY_OTP token for the voter's email or phone, proving EMAIL_OTP / SMS_OTP (used up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_token: Option<String>,
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
    /// The registration challenge from `get_passkey_registration_options`.
    pub challenge: String,
    /// The authenticator's response.
    pub attestation: AttestationParams,
}

/// `v1CreateAuthenticatorsIntentV2`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAuthenticators {
    /// The passkeys.
    pub authenticators: Vec<AuthenticatorParams>,
    /// Their owner.
    pub user_id: String,
}

/// `v1DeleteAuthenticatorsIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteAuthenticators {
    /// Their owner.
    pub user_id: String,
    /// The passkeys to remove.
    pub authenticator_ids: Vec<String>,
}

/// twofold's `ACTIVITY_TYPE_CREATE_TOTP_AUTHENTICATOR`: a new, not yet active device.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTotpAuthenticator {
    /// Its owner.
    pub user_id: String,
    /// Human-readable name (default "Authenticator app").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator_name: Option<String>,
}

/// twofold's `ACTIVITY_TYPE_VERIFY_TOTP_AUTHENTICATOR`: the first code, which activates the device.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyTotpAuthenticator {
    /// Its owner.
    pub user_id: String,
    /// The device.
    pub totp_authenticator_id: String,
    /// A current code from the app.
    pub totp_code: String,
}

/// twofold's `ACTIVITY_TYPE_DELETE_TOTP_AUTHENTICATORS`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteTotpAuthenticators {
    /// Their owner.
    pub user_id: String,
    /// The devices to remove.
    pub totp_authenticator_ids: Vec<String>,
}

/// twofold's `ACTIVITY_TYPE_CREATE_RECOVERY_CODES`: a new set, replacing the old one.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRecoveryCodes {
    /// Their owner.
    pub user_id: String,
}

/// `v1StampLoginIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StampLogin {
    /// The session's public key (compressed P-256 hex), held by the client.
    pub public_key: String,
    /// Lifetime in seconds (default 900).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[serde(default, deserialize_with = "opt_u64_string", skip_serializing_if = "Option::is_none")]
    pub expiration_seconds: Option<u64>,
    /// Delete the user's other sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalidate_existing: Option<bool>,
    /// A session profile to bind the session to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_profile_id: Option<String>,
}

/// twofold's `ACTIVITY_TYPE_DELETE_SESSIONS`: log out sessions.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteSessions {
    /// Their owner.
    pub user_id: String,
    /// The sessions (their key ids) to delete; absent = all of the user's sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_ids: Option<Vec<String>>,
}

/// `v1SetIpAllowlistIntent` (+ twofold's `confirmLockout`): without `publicKey` it is
/// the organization's allow list, with one it is that API key's.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetIpAllowlist {
    /// The API key it applies to; absent = the whole organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Whether the list is in force (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The networks.
    #[serde(default)]
    pub rules: Vec<crate::network::IpRule>,
    /// `ALLOW` or `DENY` (default) when the client address cannot be determined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_evaluation_error: Option<String>,
    /// Save even if the rules would refuse the address the request comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_lockout: Option<bool>,
}

/// `v1RemoveIpAllowlistIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoveIpAllowlist {
    /// The API key whose list to remove; absent = the organization's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

/// twofold's organization deny list (`ACTIVITY_TYPE_SET_IP_DENYLIST`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetIpDenylist {
    /// Whether the list is in force (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The networks.
    #[serde(default)]
    pub rules: Vec<crate::network::IpRule>,
    /// Save even if the rules would refuse the address the request comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_lockout: Option<bool>,
}

/// `v1CreateMfaPolicyIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateMfaPolicy {
    /// The user it binds.
    pub user_id: String,
    /// Human-readable name.
    pub mfa_policy_name: String,
    /// When it applies (`activity.*`).
    pub condition: String,
    /// The steps, in order.
    pub required_authentication_methods: Vec<MethodGroup>,
    /// Evaluation rank, from 0: lowest first.
    pub order: i64,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// `v1UpdateMfaPolicyIntent`: absent fields stay as they are.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateMfaPolicy {
    /// The user it binds.
    pub user_id: String,
    /// The policy.
    pub mfa_policy_id: String,
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_policy_name: Option<String>,
    /// New condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// New steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_authentication_methods: Option<Vec<MethodGroup>>,
    /// New rank.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<i64>,
    /// New notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// `v1DeleteMfaPolicyIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteMfaPolicy {
    /// The user it binds.
    pub user_id: String,
    /// The policy.
    pub mfa_policy_id: String,
}

/// `v1CreateSessionProfileIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSessionProfile {
    /// Human-readable name.
    pub session_profile_name: String,
    /// The condition every activity of a bound session must satisfy.
    pub scope: String,
    /// Longest session lifetime, seconds (uint64 as a string).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[serde(default, deserialize_with = "opt_u64_string", skip_serializing_if = "Option::is_none")]
    pub expiration_seconds: Option<u64>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// twofold's `ACTIVITY_TYPE_CREATE_APP_ACTIVITY`: an application's own action.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAppActivity {
    /// The app's resource (`PAYOUT`), as policies see `activity.resource`.
    pub resource: String,
    /// The app's action (`CREATE`), as policies see `activity.action`.
    pub action: String,
    /// The app's data, as policies see `activity.params`.
    #[serde(default)]
    pub payload: serde_json::Map<String, serde_json::Value>,
}

/// `v1CreateWebhookEndpointIntent` (+ twofold's optional `secret`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWebhookEndpoint {
    /// The receiver's URL (https, or http for loopback receivers).
    pub url: String,
    /// Human-readable name.
    pub name: String,
    /// Event subscriptions (`ACTIVITY_UPDATES`); absent = activity updates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriptions: Option<Vec<WebhookSubscription>>,
    /// The signing secret (at least 32 characters); absent = generated and shown once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// `v1WebhookSubscriptionParams`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookSubscription {
    /// The event type; twofold delivers `ACTIVITY_UPDATES`.
    pub event_type: String,
    /// JSON filter criteria (kept, not interpreted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters_json: Option<String>,
    /// Whether it is in force (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
}

/// `v1DeleteWebhookEndpointIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteWebhookEndpoint {
    /// The endpoint.
    pub endpoint_id: String,
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
