//! The activity catalog: one row per submit endpoint — what it does, the intent type its
//! parameters parse into, its path, the resource/action pair policies see, and the activity
//! type versions it takes with the intent and result keys of Turnkey's v1Activity. The
//! [`Operation`] enum, [`KINDS`], the [`Intent`] enum, parsing, checks, dispatch and each
//! intent's and result's OpenAPI schema all come from these rows. Every intent type
//! implements [`Activity`] (its checks, what policies see, its executor and result type),
//! so a row without an executor does not compile.
//!
//! A new activity is its row here and one file under this module (or an `impl Activity`
//! beside the feature it executes in); see docs/ARCHITECTURE.md.

pub mod apps;
mod context;
pub mod factors;
pub mod features;
pub mod mfa;
pub mod network;
pub mod oauth;
pub mod organizations;
pub mod otp;
pub mod policies;
pub mod profiles;
pub mod users;
pub mod webhooks;

use serde_json::value::RawValue;

use crate::error::Result;
use crate::intents::{self, typed};
pub use crate::model::version_free;
use crate::store::StoreTx;
use crate::{auth_proxy, enforcement};
#[cfg(feature = "openapi")]
pub use context::shown;
pub use context::{Activity, Credentials, Documented, Done, Empty, ExecContext, FactorConfig};
pub(crate) use context::{Executed, results, shows};

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

            /// Checks everything that does not depend on stored state ([`Activity::check`]).
            pub fn check(&self) -> Result<()> {
                match self {
                    $(Intent::$op(p) => p.check(),)+
                }
            }

            /// The fields policies see as `activity.params` ([`Activity::policy_params`]).
            pub fn policy_params(&self) -> serde_json::Value {
                match self {
                    $(Intent::$op(p) => p.policy_params(),)+
                }
            }

            /// The resource and action an intent names itself ([`Activity::resource_action`]).
            pub fn resource_action(&self) -> Option<(&str, &str)> {
                match self {
                    $(Intent::$op(p) => p.resource_action(),)+
                }
            }

            /// Whose credentials it manages, if anyone's ([`Activity::credentials`]).
            pub fn credentials(&self) -> Option<Credentials<'_>> {
                match self {
                    $(Intent::$op(p) => p.credentials(),)+
                }
            }

            /// The parameters as JSON (secrets included: for the one place that reopens them).
            pub(crate) fn to_json(&self) -> Result<serde_json::Value> {
                let value = match self {
                    $(Intent::$op(p) => serde_json::to_value(p),)+
                };
                value.map_err(|e| crate::error::Error::Internal(format!("an intent did not serialize: {e}")))
            }

            /// The JSON names of its parameters that hold a [`Secret`](crate::fields::Secret):
            /// what is sealed before the body is stored and opened before execution.
            pub fn secret_fields(&self) -> Result<Vec<String>> {
                match self {
                    $(Intent::$op(p) => crate::fields::secret_fields(p),)+
                }
            }

            /// Runs the intent's executor ([`Activity::execute`]) and stores its result untyped.
            pub(crate) async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Executed> {
                match self {
                    $(Intent::$op(p) => p.execute(tx, ctx).await?.into_executed(),)+
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

            /// Registers the result type's schema (and those it refers to) and names it.
            #[cfg(feature = "openapi")]
            pub fn result_schema(
                self,
                components: utoipa::openapi::ComponentsBuilder,
            ) -> (utoipa::openapi::ComponentsBuilder, String) {
                match self {
                    $(Operation::$op => crate::fields::register_schema::<<$ty as Activity>::Output>(components),)+
                }
            }

            /// Registers the schema of what the activity shows once beside its result, if anything.
            #[cfg(feature = "openapi")]
            pub fn shown_schema(
                self,
                components: utoipa::openapi::ComponentsBuilder,
            ) -> (utoipa::openapi::ComponentsBuilder, Option<String>) {
                match self {
                    $(Operation::$op => <$ty as Activity>::shown_schema(components),)+
                }
            }
        }
    };
    (@root) => { false };
    (@root root_only) => { true };
}

catalog! {
    /// Create users with API keys and tags.
    CreateUsers(users::CreateUsers) "create_users" USER/CREATE [
        ("ACTIVITY_TYPE_CREATE_USERS_V4", "createUsersIntentV4", "createUsersResult"),
        ("ACTIVITY_TYPE_CREATE_USERS_V3", "createUsersIntentV3", "createUsersResult"),
    ];
    /// Create API-only users (service accounts: API keys, no sign-in).
    CreateApiOnlyUsers(users::CreateApiOnlyUsers) "create_api_only_users" USER/CREATE [
        ("ACTIVITY_TYPE_CREATE_API_ONLY_USERS", "createApiOnlyUsersIntent", "createApiOnlyUsersResult"),
    ];
    /// Delete users.
    DeleteUsers(users::DeleteUsers) "delete_users" USER/DELETE [
        ("ACTIVITY_TYPE_DELETE_USERS", "deleteUsersIntent", "deleteUsersResult"),
    ];
    /// Change a user's name, email, phone or tags.
    UpdateUser(users::UpdateUser) "update_user" USER/UPDATE [
        ("ACTIVITY_TYPE_UPDATE_USER", "updateUserIntent", "updateUserResult"),
    ];
    /// Rename a user.
    UpdateUserName(users::UpdateUserName) "update_user_name" USER/UPDATE [
        ("ACTIVITY_TYPE_UPDATE_USER_NAME", "updateUserNameIntent", "updateUserNameResult"),
    ];
    /// Set, change or clear a user's email (a login contact).
    UpdateUserEmail(users::UpdateUserEmail) "update_user_email" USER/UPDATE [
        ("ACTIVITY_TYPE_UPDATE_USER_EMAIL", "updateUserEmailIntent", "updateUserEmailResult"),
    ];
    /// Set, change or clear a user's phone number (a login contact).
    UpdateUserPhoneNumber(users::UpdateUserPhoneNumber) "update_user_phone_number" USER/UPDATE [
        ("ACTIVITY_TYPE_UPDATE_USER_PHONE_NUMBER", "updateUserPhoneNumberIntent", "updateUserPhoneNumberResult"),
    ];
    /// Create a user tag.
    CreateUserTag(users::CreateUserTag) "create_user_tag" USER/CREATE [
        ("ACTIVITY_TYPE_CREATE_USER_TAG", "createUserTagIntent", "createUserTagResult"),
    ];
    /// Rename a user tag and move users in and out of it.
    UpdateUserTag(users::UpdateUserTag) "update_user_tag" USER/UPDATE [
        ("ACTIVITY_TYPE_UPDATE_USER_TAG", "updateUserTagIntent", "updateUserTagResult"),
    ];
    /// Delete user tags, all or none.
    DeleteUserTags(users::DeleteUserTags) "delete_user_tags" USER/DELETE [
        ("ACTIVITY_TYPE_DELETE_USER_TAGS", "deleteUserTagsIntent", "deleteUserTagsResult"),
    ];
    /// Add API keys to a user.
    CreateApiKeys(users::CreateApiKeys) "create_api_keys" CREDENTIAL/CREATE [
        ("ACTIVITY_TYPE_CREATE_API_KEYS_V2", "createApiKeysIntentV2", "createApiKeysResult"),
    ];
    /// Remove API keys of a user.
    DeleteApiKeys(users::DeleteApiKeys) "delete_api_keys" CREDENTIAL/DELETE [
        ("ACTIVITY_TYPE_DELETE_API_KEYS", "deleteApiKeysIntent", "deleteApiKeysResult"),
    ];
    /// Create a sub-organization with its root users.
    CreateSubOrganization(organizations::CreateSubOrganization) "create_sub_organization" ORGANIZATION/CREATE [
        ("ACTIVITY_TYPE_CREATE_SUB_ORGANIZATION_V8", "createSubOrganizationIntentV8", "createSubOrganizationResultV8"),
    ];
    /// Rename the organization (root quorum only).
    UpdateOrganizationName(organizations::UpdateOrganizationName) "update_organization_name" ORGANIZATION/UPDATE root_only [
        ("ACTIVITY_TYPE_UPDATE_ORGANIZATION_NAME", "updateOrganizationNameIntent", "updateOrganizationNameResult"),
    ];
    /// Delete the sub-organization it is submitted to, with its users and credentials (root quorum only).
    DeleteSubOrganization(organizations::DeleteSubOrganization) "delete_sub_organization" ORGANIZATION/DELETE root_only [
        ("ACTIVITY_TYPE_DELETE_SUB_ORGANIZATION", "deleteSubOrganizationIntent", "deleteSubOrganizationResult"),
    ];
    /// Replace the root quorum.
    UpdateRootQuorum(organizations::UpdateRootQuorum) "update_root_quorum" ORGANIZATION/UPDATE root_only [
        ("ACTIVITY_TYPE_UPDATE_ROOT_QUORUM", "updateRootQuorumIntent", "updateRootQuorumResult"),
    ];
    /// Create one policy.
    CreatePolicy(policies::CreatePolicy) "create_policy" POLICY/CREATE [
        ("ACTIVITY_TYPE_CREATE_POLICY_V3", "createPolicyIntentV3", "createPolicyResult"),
    ];
    /// Create several policies.
    CreatePolicies(policies::CreatePolicies) "create_policies" POLICY/CREATE [
        ("ACTIVITY_TYPE_CREATE_POLICIES", "createPoliciesIntent", "createPoliciesResult"),
    ];
    /// Change a policy.
    UpdatePolicy(policies::UpdatePolicy) "update_policy" POLICY/UPDATE [
        ("ACTIVITY_TYPE_UPDATE_POLICY_V2", "updatePolicyIntentV2", "updatePolicyResultV2"),
    ];
    /// Delete a policy.
    DeletePolicy(policies::DeletePolicy) "delete_policy" POLICY/DELETE [
        ("ACTIVITY_TYPE_DELETE_POLICY", "deletePolicyIntent", "deletePolicyResult"),
    ];
    /// Delete several policies, all or none.
    DeletePolicies(policies::DeletePolicies) "delete_policies" POLICY/DELETE [
        ("ACTIVITY_TYPE_DELETE_POLICIES", "deletePoliciesIntent", "deletePoliciesResult"),
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
    SetIpAllowlist(network::SetIpAllowlist) "set_ip_allowlist" SECURITY_SETTINGS/UPDATE [
        ("ACTIVITY_TYPE_SET_IP_ALLOWLIST", "setIpAllowlistIntent", "setIpAllowlistResult"),
    ];
    /// Remove an IP allow list.
    RemoveIpAllowlist(network::RemoveIpAllowlist) "remove_ip_allowlist" SECURITY_SETTINGS/DELETE [
        ("ACTIVITY_TYPE_REMOVE_IP_ALLOWLIST", "removeIpAllowlistIntent", "removeIpAllowlistResult"),
    ];
    /// Set an organization's IP deny list.
    SetIpDenylist(network::SetIpDenylist) "set_ip_denylist" SECURITY_SETTINGS/UPDATE [
        ("ACTIVITY_TYPE_SET_IP_DENYLIST", "setIpDenylistIntent", "setIpDenylistResult"),
    ];
    /// Register passkeys.
    CreateAuthenticators(factors::CreateAuthenticators) "create_authenticators" CREDENTIAL/CREATE [
        ("ACTIVITY_TYPE_CREATE_AUTHENTICATORS_V2", "createAuthenticatorsIntentV2", "createAuthenticatorsResult"),
    ];
    /// Remove passkeys.
    DeleteAuthenticators(factors::DeleteAuthenticators) "delete_authenticators" CREDENTIAL/DELETE [
        ("ACTIVITY_TYPE_DELETE_AUTHENTICATORS", "deleteAuthenticatorsIntent", "deleteAuthenticatorsResult"),
    ];
    /// Start enrolling an authenticator app.
    CreateTotpAuthenticator(factors::CreateTotpAuthenticator) "create_totp_authenticator" CREDENTIAL/CREATE [
        ("ACTIVITY_TYPE_CREATE_TOTP_AUTHENTICATOR", "createTotpAuthenticatorIntent", "createTotpAuthenticatorResult"),
    ];
    /// Activate an authenticator app with its first code.
    VerifyTotpAuthenticator(factors::VerifyTotpAuthenticator) "verify_totp_authenticator" CREDENTIAL/UPDATE [
        ("ACTIVITY_TYPE_VERIFY_TOTP_AUTHENTICATOR", "verifyTotpAuthenticatorIntent", "verifyTotpAuthenticatorResult"),
    ];
    /// Remove authenticator apps.
    DeleteTotpAuthenticators(factors::DeleteTotpAuthenticators) "delete_totp_authenticators" CREDENTIAL/DELETE [
        ("ACTIVITY_TYPE_DELETE_TOTP_AUTHENTICATORS", "deleteTotpAuthenticatorsIntent", "deleteTotpAuthenticatorsResult"),
    ];
    /// Generate a new set of recovery codes.
    CreateRecoveryCodes(factors::CreateRecoveryCodes) "create_recovery_codes" CREDENTIAL/CREATE [
        ("ACTIVITY_TYPE_CREATE_RECOVERY_CODES", "createRecoveryCodesIntent", "createRecoveryCodesResult"),
    ];
    /// Create a read-write session for a client-held key.
    StampLogin(factors::StampLogin) "stamp_login" AUTH/CREATE [
        ("ACTIVITY_TYPE_STAMP_LOGIN", "stampLoginIntent", "stampLoginResult"),
    ];
    /// Delete sessions.
    DeleteSessions(factors::DeleteSessions) "delete_sessions" AUTH/DELETE [
        ("ACTIVITY_TYPE_DELETE_SESSIONS", "deleteSessionsIntent", "deleteSessionsResult"),
    ];
    /// Add a step-up rule for a user.
    CreateMfaPolicy(mfa::CreateMfaPolicy) "create_mfa_policy" MFA_POLICY/CREATE [
        ("ACTIVITY_TYPE_CREATE_MFA_POLICY", "createMfaPolicyIntent", "createMfaPolicyResult"),
    ];
    /// Change a step-up rule.
    UpdateMfaPolicy(mfa::UpdateMfaPolicy) "update_mfa_policy" MFA_POLICY/UPDATE [
        ("ACTIVITY_TYPE_UPDATE_MFA_POLICY", "updateMfaPolicyIntent", "updateMfaPolicyResult"),
    ];
    /// Remove a step-up rule.
    DeleteMfaPolicy(mfa::DeleteMfaPolicy) "delete_mfa_policy" MFA_POLICY/DELETE [
        ("ACTIVITY_TYPE_DELETE_MFA_POLICY", "deleteMfaPolicyIntent", "deleteMfaPolicyResult"),
    ];
    /// Create an immutable session scope.
    CreateSessionProfile(profiles::CreateSessionProfile) "create_session_profile" SESSION_PROFILE/CREATE [
        ("ACTIVITY_TYPE_CREATE_SESSION_PROFILE", "createSessionProfileIntent", "createSessionProfileResult"),
    ];
    /// An application's own action, gated like any activity.
    CreateAppActivity(apps::CreateAppActivity) "create_app_activity" APP/CREATE [
        ("ACTIVITY_TYPE_CREATE_APP_ACTIVITY", "createAppActivityIntent", "createAppActivityResult"),
    ];
    /// Register a receiver of activity status changes.
    CreateWebhookEndpoint(webhooks::CreateWebhookEndpoint) "create_webhook_endpoint" WEBHOOK_ENDPOINT/CREATE [
        ("ACTIVITY_TYPE_CREATE_WEBHOOK_ENDPOINT", "createWebhookEndpointIntent", "createWebhookEndpointResult"),
    ];
    /// Remove a webhook receiver.
    DeleteWebhookEndpoint(webhooks::DeleteWebhookEndpoint) "delete_webhook_endpoint" WEBHOOK_ENDPOINT/DELETE [
        ("ACTIVITY_TYPE_DELETE_WEBHOOK_ENDPOINT", "deleteWebhookEndpointIntent", "deleteWebhookEndpointResult"),
    ];
    /// Change a webhook receiver's URL, name or state.
    UpdateWebhookEndpoint(webhooks::UpdateWebhookEndpoint) "update_webhook_endpoint" WEBHOOK_ENDPOINT/UPDATE [
        ("ACTIVITY_TYPE_UPDATE_WEBHOOK_ENDPOINT", "updateWebhookEndpointIntent", "updateWebhookEndpointResult"),
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
    InitOtp(crate::otp::InitOtp) "init_otp" OTP/CREATE [
        ("ACTIVITY_TYPE_INIT_OTP_V3", "initOtpIntentV3", "initOtpResultV2"),
    ];
    /// Check an encrypted one-time code; issue a verification token.
    VerifyOtp(crate::otp::VerifyOtp) "verify_otp" OTP/VERIFY [
        ("ACTIVITY_TYPE_VERIFY_OTP_V2", "verifyOtpIntentV2", "verifyOtpResult"),
    ];
    /// Create a session with a verification token.
    OtpLogin(crate::otp::OtpLogin) "otp_login" AUTH/CREATE [
        ("ACTIVITY_TYPE_OTP_LOGIN_V2", "otpLoginIntentV2", "otpLoginResult"),
    ];
    /// Turn an organization feature on (its one-time-code channels).
    SetOrganizationFeature(features::SetOrganizationFeature) "set_organization_feature" CONFIG/UPDATE root_only [
        ("ACTIVITY_TYPE_SET_ORGANIZATION_FEATURE", "setOrganizationFeatureIntent", "setOrganizationFeatureResult"),
    ];
    /// Turn an organization feature off.
    RemoveOrganizationFeature(features::RemoveOrganizationFeature) "remove_organization_feature" CONFIG/DELETE root_only [
        ("ACTIVITY_TYPE_REMOVE_ORGANIZATION_FEATURE", "removeOrganizationFeatureIntent", "removeOrganizationFeatureResult"),
    ];
    /// Trust OIDC issuers for OAuth login (twofold).
    SetOidcIssuers(oauth::SetOidcIssuers) "set_oidc_issuers" CONFIG/UPDATE root_only [
        ("ACTIVITY_TYPE_SET_OIDC_ISSUERS", "setOidcIssuersIntent", "setOidcIssuersResult"),
    ];
    /// Bind OAuth accounts to a user, each proven by an ID token.
    CreateOauthProviders(oauth::CreateOauthProviders) "create_oauth_providers" CREDENTIAL/CREATE [
        ("ACTIVITY_TYPE_CREATE_OAUTH_PROVIDERS_V2", "createOauthProvidersIntentV2", "createOauthProvidersResultV2"),
        ("ACTIVITY_TYPE_CREATE_OAUTH_PROVIDERS", "createOauthProvidersIntent", "createOauthProvidersResult"),
    ];
    /// Unbind OAuth accounts from a user.
    DeleteOauthProviders(oauth::DeleteOauthProviders) "delete_oauth_providers" CREDENTIAL/DELETE [
        ("ACTIVITY_TYPE_DELETE_OAUTH_PROVIDERS", "deleteOauthProvidersIntent", "deleteOauthProvidersResult"),
    ];
    /// Create a session with an OIDC ID token bound to the session key.
    OauthLogin(oauth::OauthLogin) "oauth_login" AUTH/CREATE [
        ("ACTIVITY_TYPE_OAUTH_LOGIN", "oauthLoginIntent", "oauthLoginResult"),
    ];
    /// Turn on the organization's auth proxy (service user, sealed key, settings).
    EnableAuthProxy(auth_proxy::EnableAuthProxy) "enable_auth_proxy" AUTH_PROXY/UPDATE [
        ("ACTIVITY_TYPE_ENABLE_AUTH_PROXY", "enableAuthProxyIntent", "enableAuthProxyResult"),
    ];
    /// Turn the auth proxy off and delete its key.
    DisableAuthProxy(auth_proxy::DisableAuthProxy) "disable_auth_proxy" AUTH_PROXY/DELETE [
        ("ACTIVITY_TYPE_DISABLE_AUTH_PROXY", "disableAuthProxyIntent", "disableAuthProxyResult"),
    ];
    /// Change the auth proxy's settings.
    UpdateAuthProxyConfig(auth_proxy::UpdateAuthProxyConfig) "update_auth_proxy_config" AUTH_PROXY/UPDATE [
        ("ACTIVITY_TYPE_UPDATE_AUTH_PROXY_CONFIG", "updateAuthProxyConfigIntent", "updateAuthProxyConfigResult"),
    ];
}

impl Intent {
    /// The user whose credentials this intent manages, for "users may always manage their own
    /// credentials".
    pub fn own_credential_target(&self) -> Option<&str> {
        self.credentials().map(|c| c.user_id)
    }

    /// Whether it binds or removes a factor or a permanent credential.
    pub fn changes_factors(&self) -> bool {
        self.credentials().is_some_and(|c| c.binds)
    }

    /// An approval (`true`) or rejection (`false`) of the activity the intent names.
    pub fn vote(&self) -> Option<(bool, &intents::VoteIntent)> {
        match self {
            Intent::ApproveActivity(p) => Some((true, p)),
            Intent::RejectActivity(p) => Some((false, p)),
            _ => None,
        }
    }
}

/// The submit endpoint with this path segment.
pub fn kind_for_path(path: &str) -> Option<&'static ActivityKind> {
    KINDS.iter().find(|k| k.path == path)
}

/// Turnkey's legacy OTP endpoints, which twofold does not serve (the coordinator would make
/// and see the code; Turnkey is retiring them too), each with the flow to use instead.
pub const RETIRED: &[(&str, &str)] = &[
    (
        "email_auth",
        "ACTIVITY_TYPE_EMAIL_AUTH_V3 (and its earlier versions) is not served: the code and the credential bundle it emails are made outside \
         the enclave. Use init_otp (ACTIVITY_TYPE_INIT_OTP_V3, otpType OTP_TYPE_EMAIL), verify_otp \
         (ACTIVITY_TYPE_VERIFY_OTP_V2) and otp_login (ACTIVITY_TYPE_OTP_LOGIN_V2); see docs/API.md",
    ),
    (
        "init_otp_auth",
        "ACTIVITY_TYPE_INIT_OTP_AUTH_V3 (and its earlier versions) is not served. Use init_otp (ACTIVITY_TYPE_INIT_OTP_V3), then verify_otp \
         (ACTIVITY_TYPE_VERIFY_OTP_V2) and otp_login (ACTIVITY_TYPE_OTP_LOGIN_V2); see docs/API.md",
    ),
    (
        "otp_auth",
        "ACTIVITY_TYPE_OTP_AUTH is not served. Use verify_otp (ACTIVITY_TYPE_VERIFY_OTP_V2) with the code sealed \
         to the enclave, then otp_login (ACTIVITY_TYPE_OTP_LOGIN_V2); see docs/API.md",
    ),
];

/// The refusal of a submit path no row serves; for a retired Turnkey endpoint it names the
/// flow to use instead.
pub fn unknown_endpoint(path: &str) -> crate::error::Error {
    match RETIRED.iter().find(|(p, _)| *p == path) {
        Some((p, instead)) => crate::error::Error::NotFound(format!("`{p}`: {instead}")),
        None => crate::error::Error::NotFound(format!("unknown submit endpoint `{}`", crate::crypto::clip(path))),
    }
}

/// The endpoint and version for an activity type name.
pub fn kind_for_type(type_name: &str) -> Option<(&'static ActivityKind, &'static TypeVersion)> {
    KINDS.iter().find_map(|k| k.versions.iter().find(|v| v.type_name == type_name).map(|v| (k, v)))
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
