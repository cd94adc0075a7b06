//! Typed request parameters, parsed from `parameters` with errors that name the
//! offending field (`parameters.users[0].apiKeys[1].curveType: unknown variant ...`).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::activity_types::Operation;
use crate::enforcement::Change;
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

/// A parsed intent, one variant per [`Operation`].
#[derive(Debug, Clone)]
pub enum Intent {
    /// See [`CreateUsers`].
    CreateUsers(CreateUsers),
    /// See [`DeleteUsers`].
    DeleteUsers(DeleteUsers),
    /// See [`UpdateUser`].
    UpdateUser(UpdateUser),
    /// See [`CreateUserTag`].
    CreateUserTag(CreateUserTag),
    /// See [`CreateApiKeys`].
    CreateApiKeys(CreateApiKeys),
    /// See [`DeleteApiKeys`].
    DeleteApiKeys(DeleteApiKeys),
    /// See [`CreateSubOrganization`].
    CreateSubOrganization(CreateSubOrganization),
    /// See [`UpdateRootQuorum`].
    UpdateRootQuorum(UpdateRootQuorum),
    /// See [`CreatePolicy`].
    CreatePolicy(CreatePolicy),
    /// See [`CreatePolicies`].
    CreatePolicies(CreatePolicies),
    /// See [`UpdatePolicy`].
    UpdatePolicy(UpdatePolicy),
    /// See [`DeletePolicy`].
    DeletePolicy(DeletePolicy),
    /// An approval (`true`) or rejection (`false`) of another activity.
    Vote(bool, VoteIntent),
    /// See [`SetIpAllowlist`].
    SetIpAllowlist(SetIpAllowlist),
    /// See [`RemoveIpAllowlist`].
    RemoveIpAllowlist(RemoveIpAllowlist),
    /// See [`SetIpDenylist`].
    SetIpDenylist(SetIpDenylist),
    /// See [`CreateAuthenticators`].
    CreateAuthenticators(CreateAuthenticators),
    /// See [`DeleteAuthenticators`].
    DeleteAuthenticators(DeleteAuthenticators),
    /// See [`CreateTotpAuthenticator`].
    CreateTotpAuthenticator(CreateTotpAuthenticator),
    /// See [`VerifyTotpAuthenticator`].
    VerifyTotpAuthenticator(VerifyTotpAuthenticator),
    /// See [`DeleteTotpAuthenticators`].
    DeleteTotpAuthenticators(DeleteTotpAuthenticators),
    /// See [`CreateRecoveryCodes`].
    CreateRecoveryCodes(CreateRecoveryCodes),
    /// See [`StampLogin`].
    StampLogin(StampLogin),
    /// See [`DeleteSessions`].
    DeleteSessions(DeleteSessions),
    /// See [`CreateMfaPolicy`].
    CreateMfaPolicy(CreateMfaPolicy),
    /// See [`UpdateMfaPolicy`].
    UpdateMfaPolicy(UpdateMfaPolicy),
    /// See [`DeleteMfaPolicy`].
    DeleteMfaPolicy(DeleteMfaPolicy),
    /// See [`CreateSessionProfile`].
    CreateSessionProfile(CreateSessionProfile),
    /// See [`CreateAppActivity`].
    CreateAppActivity(CreateAppActivity),
    /// See [`CreateWebhookEndpoint`].
    CreateWebhookEndpoint(CreateWebhookEndpoint),
    /// See [`DeleteWebhookEndpoint`].
    DeleteWebhookEndpoint(DeleteWebhookEndpoint),
    /// A change to an MFA enforcement rule.
    MfaEnforcement(Change),
    /// See [`crate::otp::InitOtp`].
    InitOtp(crate::otp::InitOtp),
    /// See [`crate::otp::VerifyOtp`].
    VerifyOtp(crate::otp::VerifyOtp),
    /// See [`crate::otp::OtpLogin`].
    OtpLogin(crate::otp::OtpLogin),
    /// A change to the organization's auth proxy.
    AuthProxy(crate::auth_proxy::Change),
}

impl Intent {
    /// Parses `parameters` for `operation`; errors name the field at fault.
    pub fn parse(operation: Operation, parameters: &serde_json::value::RawValue) -> Result<Intent> {
        Ok(match operation {
            Operation::CreateUsers => Intent::CreateUsers(typed(parameters)?),
            Operation::DeleteUsers => Intent::DeleteUsers(typed(parameters)?),
            Operation::UpdateUser => Intent::UpdateUser(typed(parameters)?),
            Operation::CreateUserTag => Intent::CreateUserTag(typed(parameters)?),
            Operation::CreateApiKeys => Intent::CreateApiKeys(typed(parameters)?),
            Operation::DeleteApiKeys => Intent::DeleteApiKeys(typed(parameters)?),
            Operation::CreateSubOrganization => Intent::CreateSubOrganization(typed(parameters)?),
            Operation::UpdateRootQuorum => Intent::UpdateRootQuorum(typed(parameters)?),
            Operation::CreatePolicy => Intent::CreatePolicy(typed(parameters)?),
            Operation::CreatePolicies => Intent::CreatePolicies(typed(parameters)?),
            Operation::UpdatePolicy => Intent::UpdatePolicy(typed(parameters)?),
            Operation::DeletePolicy => Intent::DeletePolicy(typed(parameters)?),
            Operation::ApproveActivity => Intent::Vote(true, typed(parameters)?),
            Operation::RejectActivity => Intent::Vote(false, typed(parameters)?),
            Operation::SetIpAllowlist => Intent::SetIpAllowlist(typed(parameters)?),
            Operation::RemoveIpAllowlist => Intent::RemoveIpAllowlist(typed(parameters)?),
            Operation::SetIpDenylist => Intent::SetIpDenylist(typed(parameters)?),
            Operation::CreateAuthenticators => Intent::CreateAuthenticators(typed(parameters)?),
            Operation::DeleteAuthenticators => Intent::DeleteAuthenticators(typed(parameters)?),
            Operation::CreateTotpAuthenticator => Intent::CreateTotpAuthenticator(typed(parameters)?),
            Operation::VerifyTotpAuthenticator => Intent::VerifyTotpAuthenticator(typed(parameters)?),
            Operation::DeleteTotpAuthenticators => Intent::DeleteTotpAuthenticators(typed(parameters)?),
            Operation::CreateRecoveryCodes => Intent::CreateRecoveryCodes(typed(parameters)?),
            Operation::StampLogin => Intent::StampLogin(typed(parameters)?),
            Operation::DeleteSessions => Intent::DeleteSessions(typed(parameters)?),
            Operation::CreateMfaPolicy => Intent::CreateMfaPolicy(typed(parameters)?),
            Operation::UpdateMfaPolicy => Intent::UpdateMfaPolicy(typed(parameters)?),
            Operation::DeleteMfaPolicy => Intent::DeleteMfaPolicy(typed(parameters)?),
            Operation::CreateSessionProfile => Intent::CreateSessionProfile(typed(parameters)?),
            Operation::CreateAppActivity => Intent::CreateAppActivity(typed(parameters)?),
            Operation::CreateWebhookEndpoint => Intent::CreateWebhookEndpoint(typed(parameters)?),
            Operation::DeleteWebhookEndpoint => Intent::DeleteWebhookEndpoint(typed(parameters)?),
            Operation::SetMfaEnforcement => Intent::MfaEnforcement(Change::Set(typed(parameters)?)),
            Operation::ResetMfaEnforcement => Intent::MfaEnforcement(Change::Reset(typed(parameters)?)),
            Operation::InitOtp => Intent::InitOtp(typed(parameters)?),
            Operation::VerifyOtp => Intent::VerifyOtp(typed(parameters)?),
            Operation::OtpLogin => Intent::OtpLogin(typed(parameters)?),
            Operation::EnableAuthProxy => Intent::AuthProxy(crate::auth_proxy::Change::Enable(typed(parameters)?)),
            Operation::DisableAuthProxy => Intent::AuthProxy(crate::auth_proxy::Change::Disable(typed(parameters)?)),
            Operation::UpdateAuthProxyConfig => {
                Intent::AuthProxy(crate::auth_proxy::Change::Update(typed(parameters)?))
            }
        })
    }

    /// The fields policies see as `activity.params` (snake_case, documented in docs/API.md).
    pub fn policy_params(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Intent::CreateUsers(p) => json!({
                "user_names": p.users.iter().map(|u| u.user_name.as_str()).collect::<Vec<_>>(),
                "user_tags": p.users.iter().flat_map(|u| u.user_tags.iter().flatten()).collect::<Vec<_>>(),
            }),
            Intent::DeleteUsers(p) => json!({ "user_ids": p.user_ids }),
            Intent::UpdateUser(p) => json!({
                "user_id": p.user_id,
                "user_tag_ids": p.user_tag_ids.clone().unwrap_or_default(),
                "user_name": p.user_name,
                "user_email": p.user_email,
                "user_phone_number": p.user_phone_number,
                "changes": p.changes(),
                "with_verification_token": p.verification_token.is_some(),
            }),
            Intent::CreateUserTag(p) => json!({ "user_tag_name": p.user_tag_name, "user_ids": p.user_ids }),
            Intent::CreateApiKeys(p) => json!({ "user_id": p.user_id }),
            Intent::DeleteApiKeys(p) => json!({ "user_id": p.user_id, "api_key_ids": p.api_key_ids }),
            Intent::CreateSubOrganization(p) => json!({ "sub_organization_name": p.sub_organization_name }),
            Intent::UpdateRootQuorum(p) => json!({ "threshold": p.threshold, "user_ids": p.user_ids }),
            Intent::CreatePolicy(p) => json!({ "policy_name": p.policy_name, "effect": p.effect }),
            Intent::CreatePolicies(p) => {
                json!({ "policy_names": p.policies.iter().map(|x| x.policy_name.as_str()).collect::<Vec<_>>() })
            }
            Intent::UpdatePolicy(p) => json!({ "policy_id": p.policy_id }),
            Intent::DeletePolicy(p) => json!({ "policy_id": p.policy_id }),
            Intent::Vote(_, p) => json!({ "fingerprint": p.fingerprint }),
            Intent::SetIpAllowlist(p) => json!({ "public_key": p.public_key, "rule_count": p.rules.len() }),
            Intent::RemoveIpAllowlist(p) => json!({ "public_key": p.public_key }),
            Intent::SetIpDenylist(p) => json!({ "rule_count": p.rules.len() }),
            Intent::CreateAuthenticators(p) => json!({ "user_id": p.user_id }),
            Intent::DeleteAuthenticators(p) => {
                json!({ "user_id": p.user_id, "authenticator_ids": p.authenticator_ids })
            }
            Intent::CreateTotpAuthenticator(p) => json!({ "user_id": p.user_id }),
            Intent::VerifyTotpAuthenticator(p) => {
                json!({ "user_id": p.user_id, "totp_authenticator_id": p.totp_authenticator_id })
            }
            Intent::DeleteTotpAuthenticators(p) => {
                json!({ "user_id": p.user_id, "totp_authenticator_ids": p.totp_authenticator_ids })
            }
            Intent::CreateRecoveryCodes(p) => json!({ "user_id": p.user_id }),
            Intent::StampLogin(p) => json!({
                "public_key": p.public_key,
                "expiration_seconds": p.expiration_seconds,
                "session_profile_id": p.session_profile_id,
            }),
            Intent::DeleteSessions(p) => json!({ "user_id": p.user_id, "session_ids": p.session_ids }),
            Intent::CreateMfaPolicy(p) => json!({ "user_id": p.user_id, "order": p.order }),
            Intent::UpdateMfaPolicy(p) => json!({ "user_id": p.user_id, "mfa_policy_id": p.mfa_policy_id }),
            Intent::DeleteMfaPolicy(p) => json!({ "user_id": p.user_id, "mfa_policy_id": p.mfa_policy_id }),
            Intent::CreateSessionProfile(p) => {
                json!({ "session_profile_name": p.session_profile_name, "expiration_seconds": p.expiration_seconds })
            }
            Intent::CreateAppActivity(p) => serde_json::Value::Object(p.payload.clone()),
            Intent::CreateWebhookEndpoint(p) => json!({ "url": p.url, "name": p.name }),
            Intent::DeleteWebhookEndpoint(p) => json!({ "endpoint_id": p.endpoint_id }),
            Intent::MfaEnforcement(change) => change.policy_params(),
            Intent::InitOtp(p) => json!({ "otp_type": p.otp_type, "contact": p.contact, "app_name": p.app_name }),
            Intent::VerifyOtp(p) => json!({ "otp_id": p.otp_id }),
            Intent::OtpLogin(p) => json!({
                "public_key": p.public_key,
                "expiration_seconds": p.expiration_seconds,
                "session_profile_id": p.session_profile_id,
            }),
            Intent::AuthProxy(change) => change.policy_params(),
        }
    }

    /// `activity.resource` and `activity.action` when the intent names its own (app
    /// activities); `None` for built-in activities, whose kind decides them.
    pub fn resource_action(&self) -> Option<(&str, &str)> {
        match self {
            Intent::CreateAppActivity(p) => Some((&p.resource, &p.action)),
            _ => None,
        }
    }

    /// The user whose credentials this intent manages, for "users may always manage
    /// their own credentials". A login contact (email, phone) is one: an update that changes
    /// one names its user (and may change nothing else of the caller's own user).
    pub fn own_credential_target(&self) -> Option<&str> {
        match self {
            Intent::UpdateUser(p) if p.changes_contact() => Some(&p.user_id),
            Intent::CreateApiKeys(p) => Some(&p.user_id),
            Intent::DeleteApiKeys(p) => Some(&p.user_id),
            Intent::CreateAuthenticators(p) => Some(&p.user_id),
            Intent::DeleteAuthenticators(p) => Some(&p.user_id),
            Intent::CreateTotpAuthenticator(p) => Some(&p.user_id),
            Intent::VerifyTotpAuthenticator(p) => Some(&p.user_id),
            Intent::DeleteTotpAuthenticators(p) => Some(&p.user_id),
            Intent::CreateRecoveryCodes(p) => Some(&p.user_id),
            Intent::DeleteSessions(p) => Some(&p.user_id),
            _ => None,
        }
    }

    /// The parameters of this intent that carry a secret (a webhook's signing secret, a
    /// one-time code, an OTP attempt or verification token), by their JSON name, each
    /// with its value. The one declaration both redaction before anything is stored and
    /// opening before execution read; a new secret-carrying parameter is added here.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut String)> {
        let fields: Vec<(&'static str, Option<&mut String>)> = match self {
            Intent::CreateWebhookEndpoint(p) => vec![("secret", p.secret.as_mut())],
            Intent::Vote(_, p) => vec![
                ("totpCode", p.totp_code.as_mut()),
                ("recoveryCode", p.recovery_code.as_mut()),
                ("verificationToken", p.verification_token.as_mut()),
            ],
            Intent::VerifyTotpAuthenticator(p) => vec![("totpCode", Some(&mut p.totp_code))],
            Intent::VerifyOtp(p) => vec![("encryptedOtpBundle", Some(&mut p.encrypted_otp_bundle))],
            Intent::OtpLogin(p) => vec![("verificationToken", Some(&mut p.verification_token))],
            Intent::CreateSubOrganization(p) => vec![("verificationToken", p.verification_token.as_mut())],
            Intent::UpdateUser(p) => vec![("verificationToken", p.verification_token.as_mut())],
            _ => Vec::new(),
        };
        fields.into_iter().filter_map(|(name, value)| value.map(|v| (name, v))).collect()
    }

    /// The JSON names of the secret-carrying parameters present in this intent.
    pub fn secret_fields(&self) -> Vec<&'static str> {
        self.clone().secrets_mut().into_iter().map(|(name, _)| name).collect()
    }

    /// Whether this intent binds or removes a factor or a permanent credential (an API key
    /// authenticates as its user for as long as it exists): such changes need fresh
    /// authentication, proof at the account's level when they are the user's own, and send
    /// the user a notice. A login contact set, changed or cleared counts as a factor.
    pub fn changes_factors(&self) -> bool {
        if let Intent::UpdateUser(p) = self {
            return p.changes_contact();
        }
        matches!(
            self,
            Intent::CreateAuthenticators(_)
                | Intent::DeleteAuthenticators(_)
                | Intent::VerifyTotpAuthenticator(_)
                | Intent::DeleteTotpAuthenticators(_)
                | Intent::CreateRecoveryCodes(_)
                | Intent::CreateApiKeys(_)
                | Intent::DeleteApiKeys(_)
        )
    }
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
