//! Domain records: what the store keeps and the engine reasons about.

use serde::{Deserialize, Serialize};

/// A fresh random UUID, as every id in twofold is.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `ACTIVITY_TYPE_CREATE_USERS_V4` -> `CREATE_USERS` (the policy language's `activity.kind`).
pub fn version_free(type_name: &str) -> &str {
    let base = type_name.strip_prefix("ACTIVITY_TYPE_").unwrap_or(type_name);
    match base.rsplit_once("_V") {
        Some((head, ver)) if !ver.is_empty() && ver.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => base,
    }
}

/// An organization (tenant). Sub-organizations name their parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// UUID.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// The parent organization, for sub-organizations.
    pub parent_id: Option<String>,
    /// How many root-quorum members must approve to bypass policies.
    pub root_quorum_threshold: i64,
    /// Creation time, ms since epoch.
    pub created_at: i64,
    /// Last change, ms since epoch.
    pub updated_at: i64,
}

/// A user of an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// UUID.
    pub id: String,
    /// Owning organization.
    pub organization_id: String,
    /// Display name, unique within the organization.
    pub name: String,
    /// Optional email address.
    pub email: Option<String>,
    /// Optional phone number (E.164).
    pub phone: Option<String>,
    /// Creation time, ms since epoch.
    pub created_at: i64,
    /// Last change, ms since epoch.
    pub updated_at: i64,
    /// When the email address was proven by an OTP verification token, ms since epoch.
    pub email_verified_at: Option<i64>,
    /// When the phone number was proven by an OTP verification token, ms since epoch.
    pub phone_verified_at: Option<i64>,
    /// The organization whose activity set the email address as the user was created (its own,
    /// or the parent that created its sub-organization); `None` once an update changed it
    /// without proof. See [`User::contact_serves_login`].
    pub email_vouched_by: Option<String>,
    /// As `email_vouched_by`, for the phone number.
    pub phone_vouched_by: Option<String>,
    /// When the user last became an administrator (an admin tag or the root quorum) after
    /// its creation, ms since epoch: the grace clock of `required for admins` starts there too.
    pub admin_since: Option<i64>,
    /// An API-only user (a service account, CREATE_API_ONLY_USERS): API keys only, never an
    /// authenticator, TOTP, recovery codes, a session or an OTP login; MFA enforcement does
    /// not ask it to enroll. Fixed at creation.
    pub api_only: bool,
}

impl User {
    /// Whether the user's email address (`email: true`) or phone number may serve an OTP login
    /// (or an approval by code) that names organization `named`, whose parent is `named_parent`:
    /// a code sent to it was verified once, or it was set as the user was created by `named`
    /// (or, for a user of `named` itself, by its parent). A contact an update set without proof
    /// never does, and neither does one a sub-organization set for itself when the login names
    /// its parent (anyone may sign up a sub-organization and give its users any address).
    pub fn contact_serves_login(&self, email: bool, named: &str, named_parent: Option<&str>) -> bool {
        let (verified, vouched) = if email {
            (self.email_verified_at, self.email_vouched_by.as_deref())
        } else {
            (self.phone_verified_at, self.phone_vouched_by.as_deref())
        };
        let Some(vouched) = vouched.filter(|_| verified.is_none()) else { return verified.is_some() };
        vouched == named || (self.organization_id == named && named_parent == Some(vouched))
    }
}

/// The curve of an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ApiKeyCurve {
    /// ECDSA over NIST P-256 with SHA-256.
    #[serde(rename = "API_KEY_CURVE_P256")]
    P256,
    /// Ed25519.
    #[serde(rename = "API_KEY_CURVE_ED25519")]
    Ed25519,
    /// ECDSA over secp256k1 with SHA-256 (`SIGNATURE_SCHEME_TK_API_SECP256K1`).
    #[serde(rename = "API_KEY_CURVE_SECP256K1")]
    Secp256k1,
}

impl ApiKeyCurve {
    /// The wire name (`API_KEY_CURVE_P256`).
    pub fn as_str(self) -> &'static str {
        match self {
            ApiKeyCurve::P256 => "API_KEY_CURVE_P256",
            ApiKeyCurve::Ed25519 => "API_KEY_CURVE_ED25519",
            ApiKeyCurve::Secp256k1 => "API_KEY_CURVE_SECP256K1",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "API_KEY_CURVE_P256" => Some(ApiKeyCurve::P256),
            "API_KEY_CURVE_ED25519" => Some(ApiKeyCurve::Ed25519),
            "API_KEY_CURVE_SECP256K1" => Some(ApiKeyCurve::Secp256k1),
            _ => None,
        }
    }

    /// The credential type of a key on this curve (`CREDENTIAL_TYPE_API_KEY_P256`).
    pub fn credential_type(self) -> &'static str {
        match self {
            ApiKeyCurve::P256 => "CREDENTIAL_TYPE_API_KEY_P256",
            ApiKeyCurve::Ed25519 => "CREDENTIAL_TYPE_API_KEY_ED25519",
            ApiKeyCurve::Secp256k1 => "CREDENTIAL_TYPE_API_KEY_SECP256K1",
        }
    }

    /// The stamp scheme that signs with a key on this curve.
    pub fn stamp_scheme(self) -> &'static str {
        match self {
            ApiKeyCurve::P256 => "SIGNATURE_SCHEME_TK_API_P256",
            ApiKeyCurve::Ed25519 => "SIGNATURE_SCHEME_TK_API_ED25519",
            ApiKeyCurve::Secp256k1 => "SIGNATURE_SCHEME_TK_API_SECP256K1",
        }
    }
}

/// An API key credential: a public key bound to one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// UUID (the `apiKeyId`).
    pub id: String,
    /// Owning organization.
    pub organization_id: String,
    /// Owning user.
    pub user_id: String,
    /// Human-readable name.
    pub name: String,
    /// Public key as clients send it: compressed SEC1 hex (P-256) or raw hex (Ed25519).
    pub public_key: String,
    /// Public key bytes in the form the verifier needs (uncompressed SEC1 for P-256).
    pub verify_key: Vec<u8>,
    /// Curve.
    pub curve: ApiKeyCurve,
    /// Creation time, ms since epoch.
    pub created_at: i64,
    /// Last change, ms since epoch.
    pub updated_at: i64,
    /// Expiry, ms since epoch; `None` never expires.
    pub expires_at: Option<i64>,
    /// A long-lived API key, or a session key from a login.
    pub kind: KeyKind,
    /// The session profile a session key is bound to.
    pub session_profile_id: Option<String>,
}

/// Whether a key pair credential is an API key or a login session's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A long-lived key a user or service holds.
    ApiKey,
    /// A short-lived read-write session key created by `stamp_login`.
    Session,
}

impl KeyKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::ApiKey => "API_KEY",
            KeyKind::Session => "SESSION",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "API_KEY" => Some(KeyKind::ApiKey),
            "SESSION" => Some(KeyKind::Session),
            _ => None,
        }
    }
}

impl ApiKey {
    /// The credential type clients see (`CREDENTIAL_TYPE_API_KEY_P256`,
    /// `CREDENTIAL_TYPE_READ_WRITE_SESSION_KEY_P256`).
    pub fn credential_type(&self) -> &'static str {
        match self.kind {
            KeyKind::Session => "CREDENTIAL_TYPE_READ_WRITE_SESSION_KEY_P256",
            KeyKind::ApiKey => self.curve.credential_type(),
        }
    }

    /// The authentication type a stamp by this key proves (`AUTHENTICATION_TYPE_API_KEY`).
    pub fn authentication_type(&self) -> &'static str {
        match self.kind {
            KeyKind::Session => "AUTHENTICATION_TYPE_SESSION",
            KeyKind::ApiKey => "AUTHENTICATION_TYPE_API_KEY",
        }
    }
}

/// The kinds of factor twofold keeps besides key pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FactorKind {
    /// A WebAuthn credential.
    Passkey,
    /// An RFC 6238 authenticator app.
    Totp,
    /// One saved recovery code of a set.
    RecoveryCode,
    /// An email one-time code, proven by an enclave verification token (never stored as a factor row).
    EmailOtp,
    /// An SMS one-time code, proven by an enclave verification token (never stored as a factor row).
    SmsOtp,
}

impl FactorKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            FactorKind::Passkey => "PASSKEY",
            FactorKind::Totp => "TOTP",
            FactorKind::RecoveryCode => "RECOVERY_CODE",
            FactorKind::EmailOtp => "EMAIL_OTP",
            FactorKind::SmsOtp => "SMS_OTP",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [FactorKind::Passkey, FactorKind::Totp, FactorKind::RecoveryCode].into_iter().find(|k| k.as_str() == s)
    }

    /// The authentication type proving this factor (`AUTHENTICATION_TYPE_TOTP`).
    pub fn authentication_type(self) -> &'static str {
        match self {
            FactorKind::Passkey => "AUTHENTICATION_TYPE_PASSKEY",
            FactorKind::Totp => "AUTHENTICATION_TYPE_TOTP",
            FactorKind::RecoveryCode => "AUTHENTICATION_TYPE_RECOVERY_CODE",
            FactorKind::EmailOtp => "AUTHENTICATION_TYPE_EMAIL_OTP",
            FactorKind::SmsOtp => "AUTHENTICATION_TYPE_SMS_OTP",
        }
    }
}

/// A factor bound to a user: a passkey, a TOTP device or one recovery code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Factor {
    /// UUID (`authenticatorId`, `totpAuthenticatorId`).
    pub id: String,
    /// Owning organization.
    pub organization_id: String,
    /// Owning user.
    pub user_id: String,
    /// What it is.
    pub kind: FactorKind,
    /// Human-readable name.
    pub name: String,
    /// A non-secret handle to find it by: a passkey's credential id, a recovery code's prefix.
    pub lookup: Option<String>,
    /// Non-secret details as JSON (a passkey's public credential, TOTP parameters).
    pub public_data: String,
    /// Sealed or hashed secret material (a sealed TOTP seed, a recovery code's argon2 hash).
    pub secret: Option<String>,
    /// A passkey's signature counter or a TOTP device's last accepted step; only moves forward.
    pub counter: i64,
    /// Usable for authentication (a TOTP device becomes active after its first code).
    pub active: bool,
    /// When a single-use factor was used, ms since epoch.
    pub used_at: Option<i64>,
    /// Creation time, ms since epoch.
    pub created_at: i64,
    /// Last change, ms since epoch.
    pub updated_at: i64,
    /// When it became usable for authentication (created, or a TOTP device's first code), ms
    /// since epoch; `None` while it is not.
    pub bound_at: Option<i64>,
}

/// A user tag, used by policies (`user.tags.contains('admin')`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserTag {
    /// UUID.
    pub id: String,
    /// Owning organization.
    pub organization_id: String,
    /// Name, unique within the organization.
    pub name: String,
    /// Creation time, ms since epoch.
    pub created_at: i64,
    /// Last change, ms since epoch.
    pub updated_at: i64,
}

/// Where an activity is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ActivityStatus {
    /// Recorded, not yet decided.
    #[serde(rename = "ACTIVITY_STATUS_CREATED")]
    Created,
    /// Being processed.
    #[serde(rename = "ACTIVITY_STATUS_PENDING")]
    Pending,
    /// Waiting for the initiator's further factors.
    #[serde(rename = "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED")]
    AuthenticatorsNeeded,
    /// Waiting for approvals from other users.
    #[serde(rename = "ACTIVITY_STATUS_CONSENSUS_NEEDED")]
    ConsensusNeeded,
    /// Executed.
    #[serde(rename = "ACTIVITY_STATUS_COMPLETED")]
    Completed,
    /// Denied or failed to execute.
    #[serde(rename = "ACTIVITY_STATUS_FAILED")]
    Failed,
    /// Rejected by voters.
    #[serde(rename = "ACTIVITY_STATUS_REJECTED")]
    Rejected,
}

impl ActivityStatus {
    /// Every status, for validating filters.
    pub const ALL: [ActivityStatus; 7] = [
        ActivityStatus::Created,
        ActivityStatus::Pending,
        ActivityStatus::AuthenticatorsNeeded,
        ActivityStatus::ConsensusNeeded,
        ActivityStatus::Completed,
        ActivityStatus::Failed,
        ActivityStatus::Rejected,
    ];

    /// The wire name (`ACTIVITY_STATUS_COMPLETED`).
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityStatus::Created => "ACTIVITY_STATUS_CREATED",
            ActivityStatus::Pending => "ACTIVITY_STATUS_PENDING",
            ActivityStatus::AuthenticatorsNeeded => "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED",
            ActivityStatus::ConsensusNeeded => "ACTIVITY_STATUS_CONSENSUS_NEEDED",
            ActivityStatus::Completed => "ACTIVITY_STATUS_COMPLETED",
            ActivityStatus::Failed => "ACTIVITY_STATUS_FAILED",
            ActivityStatus::Rejected => "ACTIVITY_STATUS_REJECTED",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// One activity: a submitted request and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// UUID.
    pub id: String,
    /// Organization it acts in.
    pub organization_id: String,
    /// `ACTIVITY_TYPE_...`.
    pub activity_type: String,
    /// The intent, as `{"<intentKey>": parameters}` JSON.
    pub intent: String,
    /// Current status.
    pub status: ActivityStatus,
    /// `sha256:<hex>` of the exact request body.
    pub fingerprint: String,
    /// The result, as `{"<resultKey>": ...}` JSON, once completed.
    pub result: Option<String>,
    /// Why it failed: `{"code":..,"message":..}` JSON.
    pub failure: Option<String>,
    /// Who submitted it.
    pub initiator_user_id: String,
    /// With which credential.
    pub initiator_credential_id: String,
    /// Creation time, ms since epoch.
    pub created_at: i64,
    /// Last change, ms since epoch.
    pub updated_at: i64,
}

/// A vote on an activity: the initiator's implicit approval or a later approval/rejection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    /// UUID.
    pub id: String,
    /// The activity voted on.
    pub activity_id: String,
    /// The voter.
    pub user_id: String,
    /// The credential whose stamp carried the vote.
    pub credential_id: String,
    /// `true` approves, `false` rejects.
    pub approve: bool,
    /// The stamped message (the request body).
    pub message: String,
    /// The stamp's public key.
    pub public_key: String,
    /// The stamp's signature.
    pub signature: String,
    /// The stamp's scheme.
    pub scheme: String,
    /// Authentication types the vote proved (its stamp's own type, plus a TOTP or recovery code).
    pub proofs: Vec<String>,
    /// Time of the vote, ms since epoch.
    pub created_at: i64,
}

/// Filters and cursor for listing activities, newest first.
#[derive(Debug, Clone, Default)]
pub struct ActivityFilter {
    /// Only these statuses (empty = all).
    pub statuses: Vec<ActivityStatus>,
    /// Only these types (empty = all).
    pub types: Vec<String>,
    /// Page size.
    pub limit: i64,
    /// Return activities newer than this activity id.
    pub before: Option<String>,
    /// Return activities older than this activity id.
    pub after: Option<String>,
}

/// A policy's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Effect {
    /// Allows what it matches.
    #[serde(rename = "EFFECT_ALLOW")]
    Allow,
    /// Denies what it matches; a matching DENY always wins.
    #[serde(rename = "EFFECT_DENY")]
    Deny,
}

impl Effect {
    /// The wire name (`EFFECT_ALLOW`).
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "EFFECT_ALLOW",
            Effect::Deny => "EFFECT_DENY",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "EFFECT_ALLOW" => Some(Effect::Allow),
            "EFFECT_DENY" => Some(Effect::Deny),
            _ => None,
        }
    }
}

/// An organization's policy: an effect and condition-language expressions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// UUID.
    pub id: String,
    /// Owning organization.
    pub organization_id: String,
    /// Human-readable name.
    pub name: String,
    /// ALLOW or DENY.
    pub effect: Effect,
    /// Which activities it covers (`activity.*`); absent = all.
    pub condition: Option<String>,
    /// Who must approve (`approvers`, `credentials`); absent = nobody beyond the initiator.
    pub consensus: Option<String>,
    /// When it is in force (`time.now`); absent = always.
    pub time: Option<String>,
    /// Free text.
    pub notes: String,
    /// Creation time, ms since epoch.
    pub created_at: i64,
    /// Last change, ms since epoch.
    pub updated_at: i64,
}

/// The policy outcomes one decision on an activity was made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyEvaluationRecord {
    /// UUID.
    pub id: String,
    /// The activity.
    pub activity_id: String,
    /// Its organization.
    pub organization_id: String,
    /// The vote that triggered the decision.
    pub vote_id: String,
    /// JSON array of `{policyId, outcome, reason}`.
    pub evaluations: String,
    /// When, ms since epoch.
    pub created_at: i64,
}

/// How a user proves themselves (`AUTHENTICATION_TYPE_*`), as MFA policies name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AuthenticationType {
    /// A WebAuthn stamp.
    #[serde(rename = "AUTHENTICATION_TYPE_PASSKEY")]
    Passkey,
    /// An API key stamp.
    #[serde(rename = "AUTHENTICATION_TYPE_API_KEY")]
    ApiKey,
    /// A session key stamp.
    #[serde(rename = "AUTHENTICATION_TYPE_SESSION")]
    Session,
    /// An email one-time code, by its verification token.
    #[serde(rename = "AUTHENTICATION_TYPE_EMAIL_OTP")]
    EmailOtp,
    /// An SMS one-time code, by its verification token.
    #[serde(rename = "AUTHENTICATION_TYPE_SMS_OTP")]
    SmsOtp,
    /// An OAuth login (accepted in policies; twofold does not issue OAuth proofs).
    #[serde(rename = "AUTHENTICATION_TYPE_OAUTH")]
    Oauth,
    /// An authenticator-app code (twofold extension).
    #[serde(rename = "AUTHENTICATION_TYPE_TOTP")]
    Totp,
    /// A recovery code (twofold extension).
    #[serde(rename = "AUTHENTICATION_TYPE_RECOVERY_CODE")]
    RecoveryCode,
}

impl AuthenticationType {
    /// Every type, in the order documentation lists them.
    pub const ALL: [AuthenticationType; 8] = [
        AuthenticationType::Passkey,
        AuthenticationType::ApiKey,
        AuthenticationType::Session,
        AuthenticationType::EmailOtp,
        AuthenticationType::SmsOtp,
        AuthenticationType::Oauth,
        AuthenticationType::Totp,
        AuthenticationType::RecoveryCode,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthenticationType::Passkey => "AUTHENTICATION_TYPE_PASSKEY",
            AuthenticationType::ApiKey => "AUTHENTICATION_TYPE_API_KEY",
            AuthenticationType::Session => "AUTHENTICATION_TYPE_SESSION",
            AuthenticationType::EmailOtp => "AUTHENTICATION_TYPE_EMAIL_OTP",
            AuthenticationType::SmsOtp => "AUTHENTICATION_TYPE_SMS_OTP",
            AuthenticationType::Oauth => "AUTHENTICATION_TYPE_OAUTH",
            AuthenticationType::Totp => "AUTHENTICATION_TYPE_TOTP",
            AuthenticationType::RecoveryCode => "AUTHENTICATION_TYPE_RECOVERY_CODE",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// One method an MFA step accepts: a type, optionally one specific credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthMethod {
    /// The authentication type.
    #[serde(rename = "type")]
    pub kind: AuthenticationType,
    /// Only this credential (authenticator, API key, TOTP device, session key) counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// One MFA step: satisfied by proving any one of its methods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MethodGroup {
    /// The alternatives.
    pub any: Vec<AuthMethod>,
}

/// A user's step-up rule: when `condition` holds for an activity the user initiates
/// (and no MFA policy of theirs with a lower `order` does), every group must be proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaPolicy {
    /// UUID.
    pub id: String,
    /// Owning organization (the user's).
    pub organization_id: String,
    /// The user it binds.
    pub user_id: String,
    /// Human-readable name.
    pub name: String,
    /// Which activities it covers (`activity.*`).
    pub condition: String,
    /// The steps, in order.
    pub required_methods: Vec<MethodGroup>,
    /// Evaluation rank: lowest first; the first whose condition holds is the only one enforced.
    pub order: i64,
    /// Free text.
    pub notes: String,
    /// Creation time, ms since epoch.
    pub created_at: i64,
    /// Last change, ms since epoch.
    pub updated_at: i64,
}

/// A step-up approval: one more method proven by a user on an activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaProof {
    /// UUID.
    pub id: String,
    /// The activity.
    pub activity_id: String,
    /// Who proved it.
    pub user_id: String,
    /// The credential proven (authenticator, API key, session key or TOTP device id).
    pub credential_id: String,
    /// The `AUTHENTICATION_TYPE_*` proven.
    pub method: String,
    /// The stamped request body.
    pub message: String,
    /// The stamp's public key.
    pub public_key: String,
    /// The stamp's signature.
    pub signature: String,
    /// The stamp's scheme.
    pub scheme: String,
    /// When, ms since epoch.
    pub created_at: i64,
}

/// An immutable scope for sessions, created by an organization for itself and its sub-orgs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionProfile {
    /// UUID.
    pub id: String,
    /// The organization that created it.
    pub organization_id: String,
    /// Human-readable name.
    pub name: String,
    /// A condition every activity of such a session must satisfy.
    pub scope: String,
    /// Longest lifetime of a session bound to it, seconds.
    pub expiration_seconds: Option<i64>,
    /// Free text.
    pub notes: String,
    /// Creation time, ms since epoch.
    pub created_at: i64,
}

/// What happened to one email twofold sent (never what it said).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailEvent {
    /// UUID.
    pub id: String,
    /// The organization it was sent for.
    pub organization_id: String,
    /// The message (an OTP flow's or a notice's id): its events share it.
    pub message_id: String,
    /// `Send`, `Bounce` or `DeliveryDelay`.
    pub event_type: String,
    /// The sender address.
    pub from_address: String,
    /// The recipient (lowercase).
    pub to_address: String,
    /// Why a delivery failed, as the transport said it (clipped).
    pub diagnostic: Option<String>,
    /// When, ms since epoch.
    pub created_at: i64,
}

/// An OpenID Connect issuer an organization trusts for OAuth login (`set_oidc_issuers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcIssuer {
    /// The organization that trusts it (its direct sub-organizations log in with it too).
    pub organization_id: String,
    /// The `iss` its tokens carry.
    pub issuer: String,
    /// The `aud` values (client ids) accepted.
    pub audiences: Vec<String>,
    /// Where its signing keys (a JWK set) are published.
    pub jwks_url: String,
    /// When it was set, ms since epoch.
    pub created_at: i64,
}

/// An OAuth provider bound to a user: the issuer, audience and subject of a verified ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OauthProvider {
    /// UUID (the `providerId`).
    pub id: String,
    /// The user's organization.
    pub organization_id: String,
    /// The user.
    pub user_id: String,
    /// Its name.
    pub name: String,
    /// The token's `iss`.
    pub issuer: String,
    /// The token's `aud`.
    pub audience: String,
    /// The token's `sub`.
    pub subject: String,
    /// Created, ms since epoch.
    pub created_at: i64,
    /// Last change, ms since epoch.
    pub updated_at: i64,
}

/// Where an organization's activity status changes are delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// UUID.
    pub id: String,
    /// Owning organization.
    pub organization_id: String,
    /// Human-readable name.
    pub name: String,
    /// The receiver's URL.
    pub url: String,
    /// The signing secret, sealed with the secrets key.
    pub secret: String,
    /// Subscriptions as Turnkey lists them (JSON array).
    pub subscriptions: String,
    /// Whether deliveries are made.
    pub active: bool,
    /// Creation time, ms since epoch.
    pub created_at: i64,
    /// Last change, ms since epoch.
    pub updated_at: i64,
}

/// Where one webhook event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not yet accepted by the receiver; retried with backoff.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed.
    Failed,
}

impl DeliveryStatus {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "PENDING",
            DeliveryStatus::Delivered => "DELIVERED",
            DeliveryStatus::Failed => "FAILED",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [DeliveryStatus::Pending, DeliveryStatus::Delivered, DeliveryStatus::Failed]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// How an outbox message leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// A signed POST to a webhook endpoint.
    Webhook,
    /// An email notice to a user.
    Email,
    /// A text message notice to a user's phone.
    Sms,
}

impl Channel {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Webhook => "WEBHOOK",
            Channel::Email => "EMAIL",
            Channel::Sms => "SMS",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Channel::Webhook, Channel::Email, Channel::Sms].into_iter().find(|c| c.as_str() == s)
    }
}

impl Delivery {
    /// A new message about `activity`, due now: `(channel, target)` says where it goes.
    pub fn pending(
        id: String,
        channel: Channel,
        target: String,
        activity: &Activity,
        event_type: &str,
        payload: String,
        now: i64,
    ) -> Self {
        Delivery {
            id,
            channel,
            target,
            organization_id: activity.organization_id.clone(),
            event_type: event_type.to_owned(),
            subject: activity.id.clone(),
            payload,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            lease_until: 0,
            last_error: None,
            last_status: None,
            delivered_at: None,
            created_at: now,
        }
    }
}

/// One message in the outbox: a webhook event for one endpoint, or a notice for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// UUID (also the event id a webhook receiver sees).
    pub id: String,
    /// How it leaves.
    pub channel: Channel,
    /// The webhook endpoint id, or the email address.
    pub target: String,
    /// Its organization.
    pub organization_id: String,
    /// `ACTIVITY_UPDATES`, `FACTOR_NOTICE`.
    pub event_type: String,
    /// The activity it is about.
    pub subject: String,
    /// The JSON body delivered (a notice: `{subject, text}`).
    pub payload: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due, ms since epoch.
    pub next_attempt_at: i64,
    /// Until when a node holds it for an attempt, ms since epoch.
    pub lease_until: i64,
    /// What went wrong last.
    pub last_error: Option<String>,
    /// The receiver's last HTTP status.
    pub last_status: Option<i64>,
    /// When it was accepted.
    pub delivered_at: Option<i64>,
    /// Creation time, ms since epoch.
    pub created_at: i64,
}

/// An organization's auth proxy (`ENABLE_AUTH_PROXY`): the service user the proxy acts
/// as, its API key (private key sealed), the policy that lets it sign users in, and its
/// settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthProxy {
    /// The organization that opted in.
    pub organization_id: String,
    /// The configuration's own id (`X-Auth-Proxy-Config-ID`).
    pub config_id: String,
    /// The service user.
    pub user_id: String,
    /// The service user's API key.
    pub api_key_id: String,
    /// The ALLOW policy created with it.
    pub policy_id: String,
    /// The key's P-256 scalar, sealed with the installation's secrets key.
    pub sealed_key: String,
    /// The settings, JSON (`AuthProxyConfig`).
    pub config: String,
    /// Creation time, ms since epoch.
    pub created_at: i64,
    /// Last change, ms since epoch.
    pub updated_at: i64,
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// UUID.
    pub id: String,
    /// The chain it belongs to.
    pub organization_id: String,
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When, ms since epoch.
    pub at: i64,
    /// What happened (`ACTIVITY_STATUS`, `VOTE`, `STAMP_REJECTED`, ...).
    pub event_type: String,
    /// How it ended (`ACTIVITY_STATUS_COMPLETED`, `APPROVED`, `DENIED`, ...).
    pub outcome: String,
    /// Who, if known.
    pub actor_user_id: Option<String>,
    /// With which credential, if known.
    pub actor_credential_id: Option<String>,
    /// What it concerns (an activity id, ...).
    pub subject: Option<String>,
    /// More, as a JSON object (never secrets).
    pub details: String,
    /// The previous event's hash.
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
}

/// A signed checkpoint of an organization's tree, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheckpoint {
    /// Whose log.
    pub organization_id: String,
    /// The tree size it signs.
    pub size: i64,
    /// The tree head, hex.
    pub root: String,
    /// The C2SP signed note.
    pub note: String,
    /// When it was signed, ms.
    pub created_at: i64,
}
