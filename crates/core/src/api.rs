//! Response shapes of the public API, in Turnkey's v1 wire format. Built from domain
//! records; storage rows never leak into responses.

use serde::Serialize;
use serde_json::value::RawValue;

use crate::model::{Activity, ApiKey, AuditEvent, Organization, Policy, PolicyEvaluationRecord, User, UserTag, Vote};

/// `{"seconds": "...", "nanos": "..."}`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Timestamp {
    /// Whole seconds since the epoch, as a string.
    pub seconds: String,
    /// Nanoseconds within the second, as a string.
    pub nanos: String,
}

impl Timestamp {
    /// From milliseconds since the epoch.
    pub fn from_ms(ms: i64) -> Self {
        Timestamp { seconds: ms.div_euclid(1000).to_string(), nanos: (ms.rem_euclid(1000) * 1_000_000).to_string() }
    }
}

/// `externaldatav1Credential`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    /// Public key hex.
    pub public_key: String,
    /// `CREDENTIAL_TYPE_...`.
    #[serde(rename = "type")]
    pub credential_type: &'static str,
}

/// `v1ApiKey`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    /// The key material.
    pub credential: Credential,
    /// Id.
    pub api_key_id: String,
    /// Name.
    pub api_key_name: String,
    /// Created.
    pub created_at: Timestamp,
    /// Updated.
    pub updated_at: Timestamp,
    /// Remaining lifetime at creation, in seconds, if it expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_seconds: Option<String>,
}

impl From<&ApiKey> for ApiKeyView {
    fn from(k: &ApiKey) -> Self {
        ApiKeyView {
            credential: Credential { public_key: k.public_key.clone(), credential_type: k.credential_type() },
            api_key_id: k.id.clone(),
            api_key_name: k.name.clone(),
            created_at: Timestamp::from_ms(k.created_at),
            updated_at: Timestamp::from_ms(k.updated_at),
            expiration_seconds: k.expires_at.map(|e| ((e - k.created_at).max(0) / 1000).to_string()),
        }
    }
}

/// `v1User`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// Id.
    pub user_id: String,
    /// Name.
    pub user_name: String,
    /// Email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_email: Option<String>,
    /// Phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_phone_number: Option<String>,
    /// Passkeys.
    pub authenticators: Vec<AuthenticatorView>,
    /// API keys.
    pub api_keys: Vec<ApiKeyView>,
    /// Tag ids.
    pub user_tags: Vec<String>,
    /// OAuth providers.
    pub oauth_providers: Vec<OauthProviderView>,
    /// Created.
    pub created_at: Timestamp,
    /// Updated.
    pub updated_at: Timestamp,
    /// Step-up MFA policies, by order.
    pub mfa_policies: Vec<MfaPolicyView>,
}

/// What a [`UserView`] is built from besides the user: rows of its organization (or of just
/// the user), each filtered to the user's own.
pub struct UserRows<'a> {
    /// API keys and sessions.
    pub keys: &'a [ApiKey],
    /// `(user id, tag id)` memberships.
    pub memberships: &'a [(String, String)],
    /// Passkeys.
    pub passkeys: &'a [crate::model::Factor],
    /// Step-up MFA policies.
    pub mfa_policies: &'a [crate::model::MfaPolicy],
    /// OAuth providers.
    pub oauth_providers: &'a [crate::model::OauthProvider],
}

/// `v1OauthProvider`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OauthProviderView {
    /// Id.
    pub provider_id: String,
    /// Name.
    pub provider_name: String,
    /// The token issuer.
    pub issuer: String,
    /// The audience (client id).
    pub audience: String,
    /// The subject (the account at the issuer).
    pub subject: String,
    /// Created.
    pub created_at: Timestamp,
    /// Updated.
    pub updated_at: Timestamp,
}

impl From<&crate::model::OauthProvider> for OauthProviderView {
    fn from(p: &crate::model::OauthProvider) -> Self {
        OauthProviderView {
            provider_id: p.id.clone(),
            provider_name: p.name.clone(),
            issuer: p.issuer.clone(),
            audience: p.audience.clone(),
            subject: p.subject.clone(),
            created_at: Timestamp::from_ms(p.created_at),
            updated_at: Timestamp::from_ms(p.updated_at),
        }
    }
}

impl UserView {
    /// What a vote shows of a voter deleted since (with its organization): its id, nothing else.
    pub fn deleted(user_id: &str, at: i64) -> Self {
        UserView {
            user_id: user_id.to_owned(),
            user_name: "(deleted user)".to_owned(),
            user_email: None,
            user_phone_number: None,
            authenticators: Vec::new(),
            api_keys: Vec::new(),
            user_tags: Vec::new(),
            oauth_providers: Vec::new(),
            created_at: Timestamp::from_ms(at),
            updated_at: Timestamp::from_ms(at),
            mfa_policies: Vec::new(),
        }
    }

    /// Builds the view of `user` from `rows`.
    pub fn new(user: &User, rows: &UserRows<'_>) -> Self {
        let mine = |owner: &str| owner == user.id;
        let mut mfa_policies: Vec<&crate::model::MfaPolicy> =
            rows.mfa_policies.iter().filter(|p| mine(&p.user_id)).collect();
        mfa_policies.sort_by_key(|p| p.order);
        UserView {
            user_id: user.id.clone(),
            user_name: user.name.clone(),
            user_email: user.email.clone(),
            user_phone_number: user.phone.clone(),
            authenticators: rows
                .passkeys
                .iter()
                .filter(|f| mine(&f.user_id) && f.active)
                .map(AuthenticatorView::from)
                .collect(),
            api_keys: rows.keys.iter().filter(|k| mine(&k.user_id)).map(ApiKeyView::from).collect(),
            user_tags: rows.memberships.iter().filter(|(u, _)| mine(u)).map(|(_, t)| t.clone()).collect(),
            oauth_providers: rows
                .oauth_providers
                .iter()
                .filter(|p| mine(&p.user_id))
                .map(OauthProviderView::from)
                .collect(),
            created_at: Timestamp::from_ms(user.created_at),
            updated_at: Timestamp::from_ms(user.updated_at),
            mfa_policies: mfa_policies.into_iter().map(MfaPolicyView::from).collect(),
        }
    }
}

/// `datav1Tag`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TagView {
    /// Id.
    pub tag_id: String,
    /// Name.
    pub tag_name: String,
    /// Always `TAG_TYPE_USER`.
    pub tag_type: &'static str,
    /// Created.
    pub created_at: Timestamp,
    /// Updated.
    pub updated_at: Timestamp,
}

impl From<&UserTag> for TagView {
    fn from(t: &UserTag) -> Self {
        TagView {
            tag_id: t.id.clone(),
            tag_name: t.name.clone(),
            tag_type: "TAG_TYPE_USER",
            created_at: Timestamp::from_ms(t.created_at),
            updated_at: Timestamp::from_ms(t.updated_at),
        }
    }
}

/// `externaldatav1Quorum`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct QuorumView {
    /// Approvals needed.
    pub threshold: i64,
    /// Members.
    pub user_ids: Vec<String>,
}

/// `v1OrganizationData` (the parts twofold has).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OrganizationData {
    /// Id.
    pub organization_id: String,
    /// Name.
    pub name: String,
    /// Users.
    pub users: Vec<UserView>,
    /// Policies.
    pub policies: Vec<PolicyView>,
    /// Always empty: twofold holds no private keys.
    pub private_keys: Vec<serde_json::Value>,
    /// Always empty.
    pub invitations: Vec<serde_json::Value>,
    /// User tags.
    pub tags: Vec<TagView>,
    /// Root quorum.
    pub root_quorum: QuorumView,
    /// Features.
    pub features: Vec<FeatureView>,
    /// Always empty: twofold holds no wallets.
    pub wallets: Vec<serde_json::Value>,
}

/// `v1FeatureName`: Turnkey's organization features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[allow(missing_docs, reason = "Turnkey's names say it")]
pub enum FeatureName {
    #[serde(rename = "FEATURE_NAME_ROOT_USER_EMAIL_RECOVERY")]
    RootUserEmailRecovery,
    #[serde(rename = "FEATURE_NAME_WEBAUTHN_ORIGINS")]
    WebauthnOrigins,
    #[serde(rename = "FEATURE_NAME_EMAIL_AUTH")]
    EmailAuth,
    #[serde(rename = "FEATURE_NAME_EMAIL_RECOVERY")]
    EmailRecovery,
    #[serde(rename = "FEATURE_NAME_WEBHOOK")]
    Webhook,
    #[serde(rename = "FEATURE_NAME_SMS_AUTH")]
    SmsAuth,
    #[serde(rename = "FEATURE_NAME_OTP_EMAIL_AUTH")]
    OtpEmailAuth,
    #[serde(rename = "FEATURE_NAME_AUTH_PROXY")]
    AuthProxy,
    #[serde(rename = "FEATURE_NAME_SOLANA_RENT_PREFUND_ENABLED")]
    SolanaRentPrefundEnabled,
    #[serde(rename = "FEATURE_NAME_SWAP_CONFIG")]
    SwapConfig,
    #[serde(rename = "FEATURE_NAME_EARN_CONFIG")]
    EarnConfig,
}

/// `v1Feature`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeatureView {
    /// The feature.
    pub name: FeatureName,
    /// Its value (empty for an on/off feature).
    pub value: String,
}

impl FeatureView {
    /// The features an organization's OTP switches (`disable_sms`, `disable_email`) leave on.
    pub fn of_otp_switches(sms_off: bool, email_off: bool) -> Vec<FeatureView> {
        [(FeatureName::OtpEmailAuth, email_off), (FeatureName::SmsAuth, sms_off)]
            .into_iter()
            .filter(|(_, off)| !off)
            .map(|(name, _)| FeatureView { name, value: String::new() })
            .collect()
    }
}

impl OrganizationData {
    /// Builds the view.
    pub fn new(
        org: &Organization,
        users: Vec<UserView>,
        policies: &[crate::model::Policy],
        tags: &[UserTag],
        quorum: Vec<String>,
        features: Vec<FeatureView>,
    ) -> Self {
        OrganizationData {
            organization_id: org.id.clone(),
            name: org.name.clone(),
            users,
            policies: policies.iter().map(PolicyView::from).collect(),
            private_keys: Vec::new(),
            invitations: Vec::new(),
            tags: tags.iter().map(TagView::from).collect(),
            root_quorum: QuorumView { threshold: org.root_quorum_threshold, user_ids: quorum },
            features,
            wallets: Vec::new(),
        }
    }
}

/// `v1Vote`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct VoteView {
    /// Id.
    pub id: String,
    /// Voter id.
    pub user_id: String,
    /// Voter (a voter deleted since, with its organization, shows as `(deleted user)`).
    pub user: UserView,
    /// Activity id.
    pub activity_id: String,
    /// `VOTE_SELECTION_APPROVED` / `_REJECTED`.
    pub selection: &'static str,
    /// Stamped message.
    pub message: String,
    /// Stamp public key.
    pub public_key: String,
    /// Stamp signature.
    pub signature: String,
    /// Stamp scheme.
    pub scheme: String,
    /// When.
    pub created_at: Timestamp,
}

impl VoteView {
    /// Builds the view; `user` is the voter if still present.
    pub fn new(v: &Vote, user: Option<UserView>) -> Self {
        VoteView {
            id: v.id.clone(),
            user_id: v.user_id.clone(),
            user: user.unwrap_or_else(|| UserView::deleted(&v.user_id, v.created_at)),
            activity_id: v.activity_id.clone(),
            selection: if v.approve { "VOTE_SELECTION_APPROVED" } else { "VOTE_SELECTION_REJECTED" },
            message: v.message.clone(),
            public_key: v.public_key.clone(),
            signature: v.signature.clone(),
            scheme: v.scheme.clone(),
            created_at: Timestamp::from_ms(v.created_at),
        }
    }
}

/// `rpcStatus`, as an activity's `failure`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Failure {
    /// gRPC-style code.
    pub code: i32,
    /// What went wrong.
    pub message: String,
    /// Always empty.
    #[serde(default)]
    pub details: Vec<serde_json::Value>,
}

/// `v1Activity`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ActivityView {
    /// Id.
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// Status.
    pub status: &'static str,
    /// Type.
    #[serde(rename = "type")]
    pub activity_type: String,
    /// `{"<intentKey>": {...}}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub intent: Box<RawValue>,
    /// `{"<resultKey>": {...}}` or `{}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub result: Box<RawValue>,
    /// Votes, oldest first.
    pub votes: Vec<VoteView>,
    /// `sha256:<hex>` of the request body.
    pub fingerprint: String,
    /// Whether the caller may approve now.
    pub can_approve: bool,
    /// Whether the caller may reject now.
    pub can_reject: bool,
    /// Created.
    pub created_at: Timestamp,
    /// Updated.
    pub updated_at: Timestamp,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).unwrap_or_else(|_| empty_object())
}

fn empty_object() -> Box<RawValue> {
    #[expect(clippy::expect_used, reason = "a constant that is valid JSON")]
    RawValue::from_string("{}".to_owned()).expect("`{}` is valid JSON")
}

impl ActivityView {
    /// Adds `fields` to the result object under `result_key`, for this response only.
    pub fn reveal(&mut self, result_key: &str, fields: &serde_json::Value) {
        let mut result: serde_json::Value = serde_json::from_str(self.result.get()).unwrap_or_default();
        if let (Some(target), Some(extra)) =
            (result.get_mut(result_key).and_then(|r| r.as_object_mut()), fields.as_object())
        {
            target.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        if let Ok(raw) = RawValue::from_string(result.to_string()) {
            self.result = raw;
        }
    }

    /// Builds the view for `caller_user_id`.
    pub fn new(a: &Activity, votes: Vec<VoteView>, caller_user_id: &str) -> Self {
        use crate::model::ActivityStatus;
        let voted = votes.iter().any(|v| v.user_id == caller_user_id);
        // Held for the initiator's own step-up, the initiator approves it (with the proof) or
        // cancels it; others vote on activities that wait for consensus.
        let initiator_steps_up =
            a.status == ActivityStatus::AuthenticatorsNeeded && a.initiator_user_id == caller_user_id;
        let votes_now = initiator_steps_up || (a.status == ActivityStatus::ConsensusNeeded && !voted);
        ActivityView {
            id: a.id.clone(),
            organization_id: a.organization_id.clone(),
            status: a.status.as_str(),
            activity_type: a.activity_type.clone(),
            intent: raw(&a.intent),
            result: a.result.as_deref().map(raw).unwrap_or_else(empty_object),
            votes,
            fingerprint: a.fingerprint.clone(),
            can_approve: votes_now,
            can_reject: votes_now,
            created_at: Timestamp::from_ms(a.created_at),
            updated_at: Timestamp::from_ms(a.updated_at),
            failure: a.failure.as_deref().and_then(|f| serde_json::from_str(f).ok()),
        }
    }
}

/// The answer of every submit endpoint: the activity, whatever its status.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivityResponse {
    /// The activity (`v1Activity`).
    pub activity: ActivityView,
}

/// `v1GetWhoamiResponse`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Whoami {
    /// Caller's organization.
    pub organization_id: String,
    /// Its name.
    pub organization_name: String,
    /// Caller's user id.
    pub user_id: String,
    /// Caller's user name.
    pub username: String,
    /// What the MFA enforcement rule asks of the caller (a twofold extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_enrollment: Option<EnrollmentView>,
}

/// `v1Policy`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PolicyView {
    /// Id.
    pub policy_id: String,
    /// Name.
    pub policy_name: String,
    /// `EFFECT_ALLOW` / `EFFECT_DENY`.
    pub effect: &'static str,
    /// Created.
    pub created_at: Timestamp,
    /// Updated.
    pub updated_at: Timestamp,
    /// Notes.
    pub notes: String,
    /// Consensus expression (empty if none).
    pub consensus: String,
    /// Condition expression (empty if none).
    pub condition: String,
    /// Time expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

impl From<&Policy> for PolicyView {
    fn from(p: &Policy) -> Self {
        PolicyView {
            policy_id: p.id.clone(),
            policy_name: p.name.clone(),
            effect: p.effect.as_str(),
            created_at: Timestamp::from_ms(p.created_at),
            updated_at: Timestamp::from_ms(p.updated_at),
            notes: p.notes.clone(),
            consensus: p.consensus.clone().unwrap_or_default(),
            condition: p.condition.clone().unwrap_or_default(),
            time: p.time.clone(),
        }
    }
}

/// `externalactivityv1PolicyEvaluation`: the outcomes one decision was made with.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PolicyEvaluationView {
    /// Id.
    pub id: String,
    /// The activity.
    pub activity_id: String,
    /// Its organization.
    pub organization_id: String,
    /// The vote that triggered the decision.
    pub vote_id: String,
    /// `[{policyId, outcome, reason}]` (`reason` is a twofold extension).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub policy_evaluations: Box<RawValue>,
    /// When.
    pub created_at: Timestamp,
}

impl From<&PolicyEvaluationRecord> for PolicyEvaluationView {
    fn from(r: &PolicyEvaluationRecord) -> Self {
        PolicyEvaluationView {
            id: r.id.clone(),
            activity_id: r.activity_id.clone(),
            organization_id: r.organization_id.clone(),
            vote_id: r.vote_id.clone(),
            policy_evaluations: raw(&r.evaluations),
            created_at: Timestamp::from_ms(r.created_at),
        }
    }
}

/// An audit event as the API shows it (`details` as JSON, times as `{seconds, nanos}`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditEventView {
    /// Id.
    pub id: String,
    /// Chain.
    pub organization_id: String,
    /// Position in the chain.
    pub seq: i64,
    /// When.
    pub created_at: Timestamp,
    /// What happened.
    pub event_type: String,
    /// How it ended.
    pub outcome: String,
    /// Who.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_user_id: Option<String>,
    /// With which credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_credential_id: Option<String>,
    /// What it concerns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// More.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: Box<RawValue>,
    /// The previous event's hash.
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
}

impl From<&AuditEvent> for AuditEventView {
    fn from(e: &AuditEvent) -> Self {
        AuditEventView {
            id: e.id.clone(),
            organization_id: e.organization_id.clone(),
            seq: e.seq,
            created_at: Timestamp::from_ms(e.at),
            event_type: e.event_type.clone(),
            outcome: e.outcome.clone(),
            actor_user_id: e.actor_user_id.clone(),
            actor_credential_id: e.actor_credential_id.clone(),
            subject: e.subject.clone(),
            details: raw(&e.details),
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }
}

/// `v1Authenticator`: a passkey as clients see it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatorView {
    /// Id.
    pub authenticator_id: String,
    /// Name.
    pub authenticator_name: String,
    /// The WebAuthn credential id (base64url).
    pub credential_id: Option<String>,
    /// `AUTHENTICATOR_TRANSPORT_...` as registered.
    pub transports: serde_json::Value,
    /// The attestation format (`none`, `packed`, ...).
    pub attestation_type: String,
    /// The authenticator model's AAGUID.
    pub aaguid: String,
    /// Always empty.
    pub model: String,
    /// The credential.
    pub credential: Credential,
    /// Created.
    pub created_at: Timestamp,
    /// Updated.
    pub updated_at: Timestamp,
}

impl From<&crate::model::Factor> for AuthenticatorView {
    fn from(f: &crate::model::Factor) -> Self {
        let data: serde_json::Value = serde_json::from_str(&f.public_data).unwrap_or_default();
        let attestation = crate::factors::passkey::attestation_format(&data["passkey"]).unwrap_or_default();
        AuthenticatorView {
            authenticator_id: f.id.clone(),
            authenticator_name: f.name.clone(),
            credential_id: f.lookup.clone(),
            transports: data["transports"].clone(),
            attestation_type: attestation,
            aaguid: data["passkey"]["cred"]["attestation"]["metadata"]["aaguid"].as_str().unwrap_or("").to_owned(),
            model: String::new(),
            credential: Credential {
                public_key: f.lookup.clone().unwrap_or_default(),
                credential_type: "CREDENTIAL_TYPE_WEBAUTHN_AUTHENTICATOR",
            },
            created_at: Timestamp::from_ms(f.created_at),
            updated_at: Timestamp::from_ms(f.updated_at),
        }
    }
}

/// An authenticator app as clients see it (never its seed).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TotpAuthenticatorView {
    /// Id.
    pub totp_authenticator_id: String,
    /// Name.
    pub authenticator_name: String,
    /// Whether its first code activated it.
    pub active: bool,
    /// HMAC algorithm (`SHA1`).
    pub algorithm: String,
    /// Code length.
    pub digits: u8,
    /// Step length in seconds.
    pub period: u64,
    /// Created.
    pub created_at: Timestamp,
    /// Updated.
    pub updated_at: Timestamp,
}

impl From<&crate::model::Factor> for TotpAuthenticatorView {
    fn from(f: &crate::model::Factor) -> Self {
        let params: crate::factors::totp::TotpParams = serde_json::from_str(&f.public_data).unwrap_or_default();
        TotpAuthenticatorView {
            totp_authenticator_id: f.id.clone(),
            authenticator_name: f.name.clone(),
            active: f.active,
            algorithm: params.algorithm,
            digits: params.digits,
            period: params.period,
            created_at: Timestamp::from_ms(f.created_at),
            updated_at: Timestamp::from_ms(f.updated_at),
        }
    }
}

/// `v1MfaPolicy`: a user's step-up rule.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MfaPolicyView {
    /// Id.
    pub mfa_policy_id: String,
    /// Name.
    pub mfa_policy_name: String,
    /// Which activities it covers.
    pub condition: String,
    /// The steps, in order.
    pub required_authentication_methods: Vec<crate::model::MethodGroup>,
    /// Evaluation rank, lowest first.
    pub order: i64,
    /// Notes.
    pub notes: String,
    /// Created.
    pub created_at: Timestamp,
    /// Updated.
    pub updated_at: Timestamp,
}

impl From<&crate::model::MfaPolicy> for MfaPolicyView {
    fn from(p: &crate::model::MfaPolicy) -> Self {
        MfaPolicyView {
            mfa_policy_id: p.id.clone(),
            mfa_policy_name: p.name.clone(),
            condition: p.condition.clone(),
            required_authentication_methods: p.required_methods.clone(),
            order: p.order,
            notes: p.notes.clone(),
            created_at: Timestamp::from_ms(p.created_at),
            updated_at: Timestamp::from_ms(p.updated_at),
        }
    }
}

/// One method proven towards an MFA policy.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProvenMethod {
    /// `AUTHENTICATION_METHOD_...`.
    #[serde(rename = "type")]
    pub method: String,
    /// The credential that proved it.
    pub id: String,
}

/// `v1MfaStatus`: where a user stands on an activity's step-up.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MfaStatusView {
    /// The policy enforced.
    pub mfa_policy_id: String,
    /// The user.
    pub user_id: String,
    /// Whether every step is proven.
    pub satisfied: bool,
    /// What was proven, step by step.
    pub satisfied_methods: Vec<ProvenMethod>,
    /// The steps.
    pub required_methods: Vec<crate::model::MethodGroup>,
    /// Why the policy applies though its condition errored (fail closed), if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `v1SessionProfile`: an immutable session scope.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SessionProfileView {
    /// Id.
    pub session_profile_id: String,
    /// Name.
    pub session_profile_name: String,
    /// The capability sessions made with it are held to.
    pub scope: String,
    /// Session lifetime, seconds, as a string (absent: the server's maximum).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_seconds: Option<String>,
    /// Notes.
    pub notes: String,
    /// Created.
    pub created_at: Timestamp,
    /// Updated (profiles never change).
    pub updated_at: Timestamp,
}

impl From<&crate::model::SessionProfile> for SessionProfileView {
    fn from(p: &crate::model::SessionProfile) -> Self {
        SessionProfileView {
            session_profile_id: p.id.clone(),
            session_profile_name: p.name.clone(),
            scope: p.scope.clone(),
            expiration_seconds: p.expiration_seconds.map(|s| s.to_string()),
            notes: p.notes.clone(),
            created_at: Timestamp::from_ms(p.created_at),
            updated_at: Timestamp::from_ms(p.created_at),
        }
    }
}

/// `v1WebhookEndpointData` (never the secret).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpointView {
    /// Id.
    pub endpoint_id: String,
    /// Owning organization.
    pub organization_id: String,
    /// Where deliveries go.
    pub url: String,
    /// Name.
    pub name: String,
    /// Whether it receives deliveries.
    pub is_active: bool,
    /// The event types it receives.
    pub subscriptions: serde_json::Value,
}

impl From<&crate::model::WebhookEndpoint> for WebhookEndpointView {
    fn from(e: &crate::model::WebhookEndpoint) -> Self {
        WebhookEndpointView {
            endpoint_id: e.id.clone(),
            organization_id: e.organization_id.clone(),
            url: e.url.clone(),
            name: e.name.clone(),
            is_active: e.active,
            subscriptions: serde_json::from_str(&e.subscriptions).unwrap_or_default(),
        }
    }
}

/// One webhook delivery, as its log shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// Id.
    pub delivery_id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// What happened.
    pub event_type: String,
    /// The activity it is about.
    pub activity_id: String,
    /// `PENDING`, `DELIVERED` or `FAILED`.
    pub status: &'static str,
    /// Attempts so far.
    pub attempts: i64,
    /// The receiver's last HTTP status.
    pub last_status_code: Option<i64>,
    /// The last failure.
    pub last_error: Option<String>,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<Timestamp>,
    /// When it was delivered.
    pub delivered_at: Option<Timestamp>,
    /// Created.
    pub created_at: Timestamp,
    /// What is (or was) sent.
    pub payload: serde_json::Value,
}

impl From<&crate::model::Delivery> for DeliveryView {
    fn from(d: &crate::model::Delivery) -> Self {
        DeliveryView {
            delivery_id: d.id.clone(),
            endpoint_id: d.target.clone(),
            event_type: d.event_type.clone(),
            activity_id: d.subject.clone(),
            status: d.status.as_str(),
            attempts: d.attempts,
            last_status_code: d.last_status,
            last_error: d.last_error.clone(),
            next_attempt_at: (d.status == crate::model::DeliveryStatus::Pending)
                .then(|| Timestamp::from_ms(d.next_attempt_at)),
            delivered_at: d.delivered_at.map(Timestamp::from_ms),
            created_at: Timestamp::from_ms(d.created_at),
            payload: serde_json::from_str(&d.payload).unwrap_or_default(),
        }
    }
}

/// `get_whoami`'s `mfaEnrollment`: what the MFA enforcement rule asks of the caller.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollmentView {
    /// Whether the rule requires this user to enrol.
    pub required: bool,
    /// RFC 3339, only while the user still has to enrol.
    pub deadline: Option<String>,
    /// Whether the user has a verified factor.
    pub enrolled: bool,
    /// Whether the grace period is over, by the server's clock.
    pub overdue: bool,
}

/// `evaluate_activity`'s answer: what an activity would come to, and why.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DryRunView {
    /// `DECISION_ALLOW`, `DECISION_DENY`, `DECISION_CONSENSUS_NEEDED` or
    /// `DECISION_AUTHENTICATORS_NEEDED` (the initiator's step-up MFA would hold it).
    pub decision: &'static str,
    /// The stage that decided: `IP_RULES`, `AUTH_PROXY`, `MFA_ENFORCEMENT`,
    /// `FRESH_AUTHENTICATION`, `SESSION_SCOPE`, `MFA_POLICY` or `POLICY`.
    pub stage: &'static str,
    /// Why, in one sentence.
    pub reason: String,
    /// The activity as policies see it.
    pub activity: DryRunActivity,
    /// Each policy's outcome.
    pub policy_evaluations: Vec<DryRunEvaluation>,
}

/// The activity of a dry run, as policies see it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DryRunActivity {
    /// `ACTIVITY_TYPE_...`.
    #[serde(rename = "type")]
    pub activity_type: String,
    /// The type without its version suffix.
    pub kind: String,
    /// `activity.resource`.
    pub resource: String,
    /// `activity.action`.
    pub action: String,
    /// `activity.params`.
    pub params: serde_json::Value,
}

/// One policy's outcome in a dry run.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DryRunEvaluation {
    /// The policy.
    pub policy_id: String,
    /// Its name.
    pub policy_name: String,
    /// `OUTCOME_...`.
    pub outcome: &'static str,
    /// Why.
    pub reason: String,
    /// The expression that decided it, if one did.
    pub deciding: Option<DecidingView>,
}

/// The part of a policy that decided its outcome.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecidingView {
    /// `condition`, `consensus` or `time`.
    pub field: &'static str,
    /// Its source text.
    pub text: String,
    /// Byte range start in the field's source.
    pub start: usize,
    /// Byte range end.
    pub end: usize,
}

/// `get_passkey_registration_options`'s answer: a WebAuthn ceremony the server issued.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RegistrationOptions {
    /// The ceremony's challenge, to send back with the attestation.
    pub challenge: String,
    /// `PublicKeyCredentialCreationOptions`, for `navigator.credentials.create`.
    pub public_key: serde_json::Value,
}
