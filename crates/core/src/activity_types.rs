//! The activity catalog: one row per submit endpoint — what it does, the intent type its
//! parameters parse into, its path, the resource/action pair policies see, and the activity
//! type versions it takes with the intent and result keys of Turnkey's v1Activity. The
//! [`Operation`] enum, [`KINDS`], the [`Intent`] enum, parsing and each intent's OpenAPI
//! schema all come from these rows; the engine's dispatch matches every [`Intent`] variant,
//! so a row without an executor does not compile.

use serde_json::value::RawValue;

use crate::error::Result;
use crate::intents::{self, typed};
use crate::{auth_proxy, enforcement, otp};

/// One accepted version of an activity type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeVersion {
    /// `ACTIVITY_TYPE_CREATE_USERS_V4`.
    pub type_name: &'static str,
    /// Key of the intent object in `activity.intent` (`createUsersIntentV4`).
    pub intent_key: &'static str,
    /// Key of the result object in `activity.result` (`createUsersResult`).
    pub result_key: &'static str,
}

/// A submit endpoint: `/public/v1/submit/<path>`.
#[derive(Debug, Clone, Copy)]
pub struct ActivityKind {
    /// The endpoint's last path segment.
    pub path: &'static str,
    /// What it does.
    pub operation: Operation,
    /// Accepted type versions, newest first; the first is what clients should send.
    pub versions: &'static [TypeVersion],
    /// `activity.resource` for policies.
    pub resource: &'static str,
    /// `activity.action` for policies.
    pub action: &'static str,
    /// Only the root quorum may approve it; no policy can grant it.
    pub root_only: bool,
}

const fn v(type_name: &'static str, intent_key: &'static str, result_key: &'static str) -> TypeVersion {
    TypeVersion { type_name, intent_key, result_key }
}

/// Builds the catalog from its rows: `Op(IntentType) "path" RESOURCE/ACTION [root_only] [versions];`.
macro_rules! catalog {
    ($(
        $(#[doc = $doc:literal])*
        $op:ident($ty:ty) $path:literal $resource:ident / $action:ident $($root:ident)? [
            $(($type_name:literal, $intent_key:literal, $result_key:literal)),+ $(,)?
        ];
    )+) => {
        /// What a submit endpoint does.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Operation {
            $($(#[doc = $doc])* $op,)+
        }

        /// Every submit endpoint twofold serves.
        pub const KINDS: &[ActivityKind] = &[$(
            ActivityKind {
                path: $path,
                operation: Operation::$op,
                versions: &[$(v($type_name, $intent_key, $result_key)),+],
                resource: stringify!($resource),
                action: stringify!($action),
                root_only: catalog!(@root $($root)?),
            },
        )+];

        /// A parsed intent, one variant per [`Operation`].
        #[derive(Debug, Clone)]
        pub enum Intent {
            $($(#[doc = $doc])* $op($ty),)+
        }

        impl Intent {
            /// Parses `parameters` for `operation`; errors name the field at fault.
            pub fn parse(operation: Operation, parameters: &RawValue) -> Result<Intent> {
                Ok(match operation {
                    $(Operation::$op => Intent::$op(typed(parameters)?),)+
                })
            }

            /// The operation this intent is for.
            pub fn operation(&self) -> Operation {
                match self {
                    $(Intent::$op(_) => Operation::$op,)+
                }
            }
        }

        impl Operation {
            /// Registers the intent type's schema (and those it refers to) and names it.
            #[cfg(feature = "openapi")]
            pub fn intent_schema(
                self,
                components: utoipa::openapi::ComponentsBuilder,
            ) -> (utoipa::openapi::ComponentsBuilder, String) {
                match self {
                    $(Operation::$op => crate::fields::register_schema::<$ty>(components),)+
                }
            }
        }
    };
    (@root) => { false };
    (@root root_only) => { true };
}

catalog! {
    /// Create users with API keys and tags.
    CreateUsers(intents::CreateUsers) "create_users" USER/CREATE [
        ("ACTIVITY_TYPE_CREATE_USERS_V4", "createUsersIntentV4", "createUsersResult"),
        ("ACTIVITY_TYPE_CREATE_USERS_V3", "createUsersIntentV3", "createUsersResult"),
    ];
    /// Delete users.
    DeleteUsers(intents::DeleteUsers) "delete_users" USER/DELETE [
        ("ACTIVITY_TYPE_DELETE_USERS", "deleteUsersIntent", "deleteUsersResult"),
    ];
    /// Change a user's name, email, phone or tags.
    UpdateUser(intents::UpdateUser) "update_user" USER/UPDATE [
        ("ACTIVITY_TYPE_UPDATE_USER", "updateUserIntent", "updateUserResult"),
    ];
    /// Create a user tag.
    CreateUserTag(intents::CreateUserTag) "create_user_tag" USER/CREATE [
        ("ACTIVITY_TYPE_CREATE_USER_TAG", "createUserTagIntent", "createUserTagResult"),
    ];
    /// Add API keys to a user.
    CreateApiKeys(intents::CreateApiKeys) "create_api_keys" CREDENTIAL/CREATE [
        ("ACTIVITY_TYPE_CREATE_API_KEYS_V2", "createApiKeysIntentV2", "createApiKeysResult"),
    ];
    /// Remove API keys of a user.
    DeleteApiKeys(intents::DeleteApiKeys) "delete_api_keys" CREDENTIAL/DELETE [
        ("ACTIVITY_TYPE_DELETE_API_KEYS", "deleteApiKeysIntent", "deleteApiKeysResult"),
    ];
    /// Create a sub-organization with its root users.
    CreateSubOrganization(intents::CreateSubOrganization) "create_sub_organization" ORGANIZATION/CREATE [
        ("ACTIVITY_TYPE_CREATE_SUB_ORGANIZATION_V8", "createSubOrganizationIntentV8", "createSubOrganizationResultV8"),
    ];
    /// Replace the root quorum.
    UpdateRootQuorum(intents::UpdateRootQuorum) "update_root_quorum" ORGANIZATION/UPDATE root_only [
        ("ACTIVITY_TYPE_UPDATE_ROOT_QUORUM", "updateRootQuorumIntent", "updateRootQuorumResult"),
    ];
    /// Create one policy.
    CreatePolicy(intents::CreatePolicy) "create_policy" POLICY/CREATE [
        ("ACTIVITY_TYPE_CREATE_POLICY_V3", "createPolicyIntentV3", "createPolicyResult"),
    ];
    /// Create several policies.
    CreatePolicies(intents::CreatePolicies) "create_policies" POLICY/CREATE [
        ("ACTIVITY_TYPE_CREATE_POLICIES", "createPoliciesIntent", "createPoliciesResult"),
    ];
    /// Change a policy.
    UpdatePolicy(intents::UpdatePolicy) "update_policy" POLICY/UPDATE [
        ("ACTIVITY_TYPE_UPDATE_POLICY_V2", "updatePolicyIntentV2", "updatePolicyResultV2"),
    ];
    /// Delete a policy.
    DeletePolicy(intents::DeletePolicy) "delete_policy" POLICY/DELETE [
        ("ACTIVITY_TYPE_DELETE_POLICY", "deletePolicyIntent", "deletePolicyResult"),
    ];
    /// Approve another activity by fingerprint.
    ApproveActivity(intents::VoteIntent) "approve_activity" ACTIVITY/APPROVE [
        ("ACTIVITY_TYPE_APPROVE_ACTIVITY", "approveActivityIntent", "approveActivityResult"),
    ];
    /// Reject another activity by fingerprint.
    RejectActivity(intents::VoteIntent) "reject_activity" ACTIVITY/REJECT [
        ("ACTIVITY_TYPE_REJECT_ACTIVITY", "rejectActivityIntent", "rejectActivityResult"),
    ];
    /// Set an organization's or an API key's IP allow list.
    SetIpAllowlist(intents::SetIpAllowlist) "set_ip_allowlist" SECURITY_SETTINGS/UPDATE [
        ("ACTIVITY_TYPE_SET_IP_ALLOWLIST", "setIpAllowlistIntent", "setIpAllowlistResult"),
    ];
    /// Remove an IP allow list.
    RemoveIpAllowlist(intents::RemoveIpAllowlist) "remove_ip_allowlist" SECURITY_SETTINGS/DELETE [
        ("ACTIVITY_TYPE_REMOVE_IP_ALLOWLIST", "removeIpAllowlistIntent", "removeIpAllowlistResult"),
    ];
    /// Set an organization's IP deny list.
    SetIpDenylist(intents::SetIpDenylist) "set_ip_denylist" SECURITY_SETTINGS/UPDATE [
        ("ACTIVITY_TYPE_SET_IP_DENYLIST", "setIpDenylistIntent", "setIpDenylistResult"),
    ];
    /// Register passkeys.
    CreateAuthenticators(intents::CreateAuthenticators) "create_authenticators" AUTHENTICATOR/CREATE [
        ("ACTIVITY_TYPE_CREATE_AUTHENTICATORS_V2", "createAuthenticatorsIntentV2", "createAuthenticatorsResult"),
    ];
    /// Remove passkeys.
    DeleteAuthenticators(intents::DeleteAuthenticators) "delete_authenticators" AUTHENTICATOR/DELETE [
        ("ACTIVITY_TYPE_DELETE_AUTHENTICATORS", "deleteAuthenticatorsIntent", "deleteAuthenticatorsResult"),
    ];
    /// Start enrolling an authenticator app.
    CreateTotpAuthenticator(intents::CreateTotpAuthenticator) "create_totp_authenticator" AUTHENTICATOR/CREATE [
        ("ACTIVITY_TYPE_CREATE_TOTP_AUTHENTICATOR", "createTotpAuthenticatorIntent", "createTotpAuthenticatorResult"),
    ];
    /// Activate an authenticator app with its first code.
    VerifyTotpAuthenticator(intents::VerifyTotpAuthenticator) "verify_totp_authenticator" AUTHENTICATOR/UPDATE [
        ("ACTIVITY_TYPE_VERIFY_TOTP_AUTHENTICATOR", "verifyTotpAuthenticatorIntent", "verifyTotpAuthenticatorResult"),
    ];
    /// Remove authenticator apps.
    DeleteTotpAuthenticators(intents::DeleteTotpAuthenticators) "delete_totp_authenticators" AUTHENTICATOR/DELETE [
        ("ACTIVITY_TYPE_DELETE_TOTP_AUTHENTICATORS", "deleteTotpAuthenticatorsIntent", "deleteTotpAuthenticatorsResult"),
    ];
    /// Generate a new set of recovery codes.
    CreateRecoveryCodes(intents::CreateRecoveryCodes) "create_recovery_codes" AUTHENTICATOR/CREATE [
        ("ACTIVITY_TYPE_CREATE_RECOVERY_CODES", "createRecoveryCodesIntent", "createRecoveryCodesResult"),
    ];
    /// Create a read-write session for a client-held key.
    StampLogin(intents::StampLogin) "stamp_login" SESSION/CREATE [
        ("ACTIVITY_TYPE_STAMP_LOGIN", "stampLoginIntent", "stampLoginResult"),
    ];
    /// Delete sessions.
    DeleteSessions(intents::DeleteSessions) "delete_sessions" SESSION/DELETE [
        ("ACTIVITY_TYPE_DELETE_SESSIONS", "deleteSessionsIntent", "deleteSessionsResult"),
    ];
    /// Add a step-up rule for a user.
    CreateMfaPolicy(intents::CreateMfaPolicy) "create_mfa_policy" MFA_POLICY/CREATE [
        ("ACTIVITY_TYPE_CREATE_MFA_POLICY", "createMfaPolicyIntent", "createMfaPolicyResult"),
    ];
    /// Change a step-up rule.
    UpdateMfaPolicy(intents::UpdateMfaPolicy) "update_mfa_policy" MFA_POLICY/UPDATE [
        ("ACTIVITY_TYPE_UPDATE_MFA_POLICY", "updateMfaPolicyIntent", "updateMfaPolicyResult"),
    ];
    /// Remove a step-up rule.
    DeleteMfaPolicy(intents::DeleteMfaPolicy) "delete_mfa_policy" MFA_POLICY/DELETE [
        ("ACTIVITY_TYPE_DELETE_MFA_POLICY", "deleteMfaPolicyIntent", "deleteMfaPolicyResult"),
    ];
    /// Create an immutable session scope.
    CreateSessionProfile(intents::CreateSessionProfile) "create_session_profile" SESSION_PROFILE/CREATE [
        ("ACTIVITY_TYPE_CREATE_SESSION_PROFILE", "createSessionProfileIntent", "createSessionProfileResult"),
    ];
    /// An application's own action, gated like any activity.
    CreateAppActivity(intents::CreateAppActivity) "create_app_activity" APP/CREATE [
        ("ACTIVITY_TYPE_CREATE_APP_ACTIVITY", "createAppActivityIntent", "createAppActivityResult"),
    ];
    /// Register a receiver of activity status changes.
    CreateWebhookEndpoint(intents::CreateWebhookEndpoint) "create_webhook_endpoint" WEBHOOK_ENDPOINT/CREATE [
        ("ACTIVITY_TYPE_CREATE_WEBHOOK_ENDPOINT", "createWebhookEndpointIntent", "createWebhookEndpointResult"),
    ];
    /// Remove a webhook receiver.
    DeleteWebhookEndpoint(intents::DeleteWebhookEndpoint) "delete_webhook_endpoint" WEBHOOK_ENDPOINT/DELETE [
        ("ACTIVITY_TYPE_DELETE_WEBHOOK_ENDPOINT", "deleteWebhookEndpointIntent", "deleteWebhookEndpointResult"),
    ];
    /// Set the global MFA enforcement rule or an organization's override.
    SetMfaEnforcement(enforcement::SetMfaEnforcement) "set_mfa_enforcement" SECURITY_SETTINGS/UPDATE [
        ("ACTIVITY_TYPE_SET_MFA_ENFORCEMENT", "setMfaEnforcementIntent", "setMfaEnforcementResult"),
    ];
    /// Delete an organization's MFA enforcement override (back to the global rule).
    ResetMfaEnforcement(enforcement::ResetMfaEnforcement) "reset_mfa_enforcement" SECURITY_SETTINGS/DELETE [
        ("ACTIVITY_TYPE_RESET_MFA_ENFORCEMENT", "resetMfaEnforcementIntent", "resetMfaEnforcementResult"),
    ];
    /// Send an email or SMS one-time code from the enclave.
    InitOtp(otp::InitOtp) "init_otp" OTP/CREATE [
        ("ACTIVITY_TYPE_INIT_OTP_V3", "initOtpIntentV3", "initOtpResultV2"),
    ];
    /// Check an encrypted one-time code; issue a verification token.
    VerifyOtp(otp::VerifyOtp) "verify_otp" OTP/VERIFY [
        ("ACTIVITY_TYPE_VERIFY_OTP_V2", "verifyOtpIntentV2", "verifyOtpResult"),
    ];
    /// Create a session with a verification token.
    OtpLogin(otp::OtpLogin) "otp_login" AUTH/CREATE [
        ("ACTIVITY_TYPE_OTP_LOGIN_V2", "otpLoginIntentV2", "otpLoginResult"),
    ];
    /// Turn on the organization's auth proxy (service user, sealed key, settings).
    EnableAuthProxy(auth_proxy::AuthProxyParams) "enable_auth_proxy" AUTH/UPDATE [
        ("ACTIVITY_TYPE_ENABLE_AUTH_PROXY", "enableAuthProxyIntent", "enableAuthProxyResult"),
    ];
    /// Turn the auth proxy off and delete its key.
    DisableAuthProxy(auth_proxy::DisableAuthProxy) "disable_auth_proxy" AUTH/DELETE [
        ("ACTIVITY_TYPE_DISABLE_AUTH_PROXY", "disableAuthProxyIntent", "disableAuthProxyResult"),
    ];
    /// Change the auth proxy's settings.
    UpdateAuthProxyConfig(auth_proxy::AuthProxyParams) "update_auth_proxy_config" AUTH/UPDATE [
        ("ACTIVITY_TYPE_UPDATE_AUTH_PROXY_CONFIG", "updateAuthProxyConfigIntent", "updateAuthProxyConfigResult"),
    ];
}

impl Intent {
    /// An approval (`true`) or rejection (`false`) of the activity the intent names.
    pub fn vote(&self) -> Option<(bool, &intents::VoteIntent)> {
        match self {
            Intent::ApproveActivity(p) => Some((true, p)),
            Intent::RejectActivity(p) => Some((false, p)),
            _ => None,
        }
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
            Intent::ApproveActivity(p) | Intent::RejectActivity(p) => json!({ "fingerprint": p.fingerprint }),
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
            Intent::SetMfaEnforcement(p) => enforcement::Change::Set(p).policy_params(),
            Intent::ResetMfaEnforcement(p) => enforcement::Change::Reset(p).policy_params(),
            Intent::InitOtp(p) => json!({ "otp_type": p.otp_type, "contact": p.contact, "app_name": p.app_name }),
            Intent::VerifyOtp(p) => json!({ "otp_id": p.otp_id }),
            Intent::OtpLogin(p) => json!({
                "public_key": p.public_key,
                "expiration_seconds": p.expiration_seconds,
                "session_profile_id": p.session_profile_id,
            }),
            Intent::EnableAuthProxy(p) => auth_proxy::Change::Enable(p).policy_params(),
            Intent::UpdateAuthProxyConfig(p) => auth_proxy::Change::Update(p).policy_params(),
            Intent::DisableAuthProxy(p) => auth_proxy::Change::Disable(p).policy_params(),
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
            Intent::ApproveActivity(p) | Intent::RejectActivity(p) => vec![
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

/// The submit endpoint with this path segment.
pub fn kind_for_path(path: &str) -> Option<&'static ActivityKind> {
    KINDS.iter().find(|k| k.path == path)
}

/// The endpoint and version for an activity type name.
pub fn kind_for_type(type_name: &str) -> Option<(&'static ActivityKind, &'static TypeVersion)> {
    KINDS.iter().find_map(|k| k.versions.iter().find(|v| v.type_name == type_name).map(|v| (k, v)))
}

/// `ACTIVITY_TYPE_CREATE_USERS_V4` -> `CREATE_USERS` (the policy language's `activity.kind`).
pub fn version_free(type_name: &str) -> &str {
    let base = type_name.strip_prefix("ACTIVITY_TYPE_").unwrap_or(type_name);
    match base.rsplit_once("_V") {
        Some((head, ver)) if !ver.is_empty() && ver.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_maps_back_to_its_kind() {
        for kind in KINDS {
            for ver in kind.versions {
                let (k, v2) = kind_for_type(ver.type_name).expect("type is known");
                assert_eq!(k.path, kind.path);
                assert_eq!(v2, ver);
            }
        }
    }

    #[test]
    fn version_free_strips_prefix_and_version() {
        assert_eq!(version_free("ACTIVITY_TYPE_CREATE_USERS_V4"), "CREATE_USERS");
        assert_eq!(version_free("ACTIVITY_TYPE_DELETE_USERS"), "DELETE_USERS");
        assert_eq!(version_free("ACTIVITY_TYPE_CREATE_SUB_ORGANIZATION_V8"), "CREATE_SUB_ORGANIZATION");
    }
}
