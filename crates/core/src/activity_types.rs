//! The activities twofold accepts: for each submit endpoint, the activity type
//! versions it takes, the intent and result keys of Turnkey's v1Activity, and the
//! resource/action pair policies see.

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

/// What a submit endpoint does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Create users with API keys and tags.
    CreateUsers,
    /// Delete users.
    DeleteUsers,
    /// Change a user's name, email, phone or tags.
    UpdateUser,
    /// Create a user tag.
    CreateUserTag,
    /// Add API keys to a user.
    CreateApiKeys,
    /// Remove API keys of a user.
    DeleteApiKeys,
    /// Create a sub-organization with its root users.
    CreateSubOrganization,
    /// Replace the root quorum.
    UpdateRootQuorum,
    /// Create one policy.
    CreatePolicy,
    /// Create several policies.
    CreatePolicies,
    /// Change a policy.
    UpdatePolicy,
    /// Delete a policy.
    DeletePolicy,
    /// Approve another activity by fingerprint.
    ApproveActivity,
    /// Reject another activity by fingerprint.
    RejectActivity,
    /// Set an organization's or an API key's IP allow list.
    SetIpAllowlist,
    /// Remove an IP allow list.
    RemoveIpAllowlist,
    /// Set an organization's IP deny list.
    SetIpDenylist,
    /// Register passkeys.
    CreateAuthenticators,
    /// Remove passkeys.
    DeleteAuthenticators,
    /// Start enrolling an authenticator app.
    CreateTotpAuthenticator,
    /// Activate an authenticator app with its first code.
    VerifyTotpAuthenticator,
    /// Remove authenticator apps.
    DeleteTotpAuthenticators,
    /// Generate a new set of recovery codes.
    CreateRecoveryCodes,
    /// Create a read-write session for a client-held key.
    StampLogin,
    /// Delete sessions.
    DeleteSessions,
    /// Send an email or SMS one-time code from the enclave.
    InitOtp,
    /// Check an encrypted one-time code; issue a verification token.
    VerifyOtp,
    /// Create a session with a verification token.
    OtpLogin,
    /// Add a step-up rule for a user.
    CreateMfaPolicy,
    /// Change a step-up rule.
    UpdateMfaPolicy,
    /// Remove a step-up rule.
    DeleteMfaPolicy,
    /// Create an immutable session scope.
    CreateSessionProfile,
    /// An application's own action, gated like any activity.
    CreateAppActivity,
    /// Register a receiver of activity status changes.
    CreateWebhookEndpoint,
    /// Remove a webhook receiver.
    DeleteWebhookEndpoint,
    /// Set the global MFA enforcement rule or an organization's override.
    SetMfaEnforcement,
    /// Delete an organization's MFA enforcement override (back to the global rule).
    ResetMfaEnforcement,
    /// Turn on the organization's auth proxy (service user, sealed key, settings).
    EnableAuthProxy,
    /// Turn the auth proxy off and delete its key.
    DisableAuthProxy,
    /// Change the auth proxy's settings.
    UpdateAuthProxyConfig,
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

/// Every submit endpoint twofold serves.
pub const KINDS: &[ActivityKind] = &[
    ActivityKind {
        path: "create_users",
        operation: Operation::CreateUsers,
        versions: &[
            v("ACTIVITY_TYPE_CREATE_USERS_V4", "createUsersIntentV4", "createUsersResult"),
            v("ACTIVITY_TYPE_CREATE_USERS_V3", "createUsersIntentV3", "createUsersResult"),
        ],
        resource: "USER",
        action: "CREATE",
        root_only: false,
    },
    ActivityKind {
        path: "delete_users",
        operation: Operation::DeleteUsers,
        versions: &[v("ACTIVITY_TYPE_DELETE_USERS", "deleteUsersIntent", "deleteUsersResult")],
        resource: "USER",
        action: "DELETE",
        root_only: false,
    },
    ActivityKind {
        path: "update_user",
        operation: Operation::UpdateUser,
        versions: &[v("ACTIVITY_TYPE_UPDATE_USER", "updateUserIntent", "updateUserResult")],
        resource: "USER",
        action: "UPDATE",
        root_only: false,
    },
    ActivityKind {
        path: "create_user_tag",
        operation: Operation::CreateUserTag,
        versions: &[v("ACTIVITY_TYPE_CREATE_USER_TAG", "createUserTagIntent", "createUserTagResult")],
        resource: "USER",
        action: "CREATE",
        root_only: false,
    },
    ActivityKind {
        path: "create_api_keys",
        operation: Operation::CreateApiKeys,
        versions: &[v("ACTIVITY_TYPE_CREATE_API_KEYS_V2", "createApiKeysIntentV2", "createApiKeysResult")],
        resource: "CREDENTIAL",
        action: "CREATE",
        root_only: false,
    },
    ActivityKind {
        path: "delete_api_keys",
        operation: Operation::DeleteApiKeys,
        versions: &[v("ACTIVITY_TYPE_DELETE_API_KEYS", "deleteApiKeysIntent", "deleteApiKeysResult")],
        resource: "CREDENTIAL",
        action: "DELETE",
        root_only: false,
    },
    ActivityKind {
        path: "create_sub_organization",
        operation: Operation::CreateSubOrganization,
        versions: &[v(
            "ACTIVITY_TYPE_CREATE_SUB_ORGANIZATION_V8",
            "createSubOrganizationIntentV8",
            "createSubOrganizationResultV8",
        )],
        resource: "ORGANIZATION",
        action: "CREATE",
        root_only: false,
    },
    ActivityKind {
        path: "update_root_quorum",
        operation: Operation::UpdateRootQuorum,
        versions: &[v("ACTIVITY_TYPE_UPDATE_ROOT_QUORUM", "updateRootQuorumIntent", "updateRootQuorumResult")],
        resource: "ORGANIZATION",
        action: "UPDATE",
        root_only: true,
    },
    ActivityKind {
        path: "create_policy",
        operation: Operation::CreatePolicy,
        versions: &[v("ACTIVITY_TYPE_CREATE_POLICY_V3", "createPolicyIntentV3", "createPolicyResult")],
        resource: "POLICY",
        action: "CREATE",
        root_only: false,
    },
    ActivityKind {
        path: "create_policies",
        operation: Operation::CreatePolicies,
        versions: &[v("ACTIVITY_TYPE_CREATE_POLICIES", "createPoliciesIntent", "createPoliciesResult")],
        resource: "POLICY",
        action: "CREATE",
        root_only: false,
    },
    ActivityKind {
        path: "update_policy",
        operation: Operation::UpdatePolicy,
        versions: &[v("ACTIVITY_TYPE_UPDATE_POLICY_V2", "updatePolicyIntentV2", "updatePolicyResultV2")],
        resource: "POLICY",
        action: "UPDATE",
        root_only: false,
    },
    ActivityKind {
        path: "delete_policy",
        operation: Operation::DeletePolicy,
        versions: &[v("ACTIVITY_TYPE_DELETE_POLICY", "deletePolicyIntent", "deletePolicyResult")],
        resource: "POLICY",
        action: "DELETE",
        root_only: false,
    },
    ActivityKind {
        path: "approve_activity",
        operation: Operation::ApproveActivity,
        versions: &[v("ACTIVITY_TYPE_APPROVE_ACTIVITY", "approveActivityIntent", "approveActivityResult")],
        resource: "ACTIVITY",
        action: "APPROVE",
        root_only: false,
    },
    ActivityKind {
        path: "reject_activity",
        operation: Operation::RejectActivity,
        versions: &[v("ACTIVITY_TYPE_REJECT_ACTIVITY", "rejectActivityIntent", "rejectActivityResult")],
        resource: "ACTIVITY",
        action: "REJECT",
        root_only: false,
    },
    ActivityKind {
        path: "set_ip_allowlist",
        operation: Operation::SetIpAllowlist,
        versions: &[v("ACTIVITY_TYPE_SET_IP_ALLOWLIST", "setIpAllowlistIntent", "setIpAllowlistResult")],
        resource: "SECURITY_SETTINGS",
        action: "UPDATE",
        root_only: false,
    },
    ActivityKind {
        path: "remove_ip_allowlist",
        operation: Operation::RemoveIpAllowlist,
        versions: &[v("ACTIVITY_TYPE_REMOVE_IP_ALLOWLIST", "removeIpAllowlistIntent", "removeIpAllowlistResult")],
        resource: "SECURITY_SETTINGS",
        action: "DELETE",
        root_only: false,
    },
    ActivityKind {
        path: "set_ip_denylist",
        operation: Operation::SetIpDenylist,
        versions: &[v("ACTIVITY_TYPE_SET_IP_DENYLIST", "setIpDenylistIntent", "setIpDenylistResult")],
        resource: "SECURITY_SETTINGS",
        action: "UPDATE",
        root_only: false,
    },
    ActivityKind {
        path: "create_authenticators",
        operation: Operation::CreateAuthenticators,
        versions: &[v(
            "ACTIVITY_TYPE_CREATE_AUTHENTICATORS_V2",
            "createAuthenticatorsIntentV2",
            "createAuthenticatorsResult",
        )],
        resource: "AUTHENTICATOR",
        action: "CREATE",
        root_only: false,
    },
    ActivityKind {
        path: "delete_authenticators",
        operation: Operation::DeleteAuthenticators,
        versions: &[v(
            "ACTIVITY_TYPE_DELETE_AUTHENTICATORS",
            "deleteAuthenticatorsIntent",
            "deleteAuthenticatorsResult",
        )],
        resource: "AUTHENTICATOR",
        action: "DELETE",
        root_only: false,
    },
    ActivityKind {
        path: "create_totp_authenticator",
        operation: Operation::CreateTotpAuthenticator,
        versions: &[v(
            "ACTIVITY_TYPE_CREATE_TOTP_AUTHENTICATOR",
            "createTotpAuthenticatorIntent",
            "createTotpAuthenticatorResult",
        )],
        resource: "AUTHENTICATOR",
        action: "CREATE",
        root_only: false,
    },
    ActivityKind {
        path: "verify_totp_authenticator",
        operation: Operation::VerifyTotpAuthenticator,
        versions: &[v(
            "ACTIVITY_TYPE_VERIFY_TOTP_AUTHENTICATOR",
            "verifyTotpAuthenticatorIntent",
            "verifyTotpAuthenticatorResult",
        )],
        resource: "AUTHENTICATOR",
        action: "UPDATE",
        root_only: false,
    },
    ActivityKind {
        path: "delete_totp_authenticators",
        operation: Operation::DeleteTotpAuthenticators,
        versions: &[v(
            "ACTIVITY_TYPE_DELETE_TOTP_AUTHENTICATORS",
            "deleteTotpAuthenticatorsIntent",
            "deleteTotpAuthenticatorsResult",
        )],
        resource: "AUTHENTICATOR",
        action: "DELETE",
        root_only: false,
    },
    ActivityKind {
        path: "create_recovery_codes",
        operation: Operation::CreateRecoveryCodes,
        versions: &[v("ACTIVITY_TYPE_CREATE_RECOVERY_CODES", "createRecoveryCodesIntent", "createRecoveryCodesResult")],
        resource: "AUTHENTICATOR",
        action: "CREATE",
        root_only: false,
    },
    ActivityKind {
        path: "stamp_login",
        operation: Operation::StampLogin,
        versions: &[v("ACTIVITY_TYPE_STAMP_LOGIN", "stampLoginIntent", "stampLoginResult")],
        resource: "SESSION",
        action: "CREATE",
        root_only: false,
    },
    ActivityKind {
        path: "delete_sessions",
        operation: Operation::DeleteSessions,
        versions: &[v("ACTIVITY_TYPE_DELETE_SESSIONS", "deleteSessionsIntent", "deleteSessionsResult")],
        resource: "SESSION",
        action: "DELETE",
        root_only: false,
    },
    ActivityKind {
        path: "create_mfa_policy",
        operation: Operation::CreateMfaPolicy,
        versions: &[v("ACTIVITY_TYPE_CREATE_MFA_POLICY", "createMfaPolicyIntent", "createMfaPolicyResult")],
        resource: "MFA_POLICY",
        action: "CREATE",
        root_only: false,
    },
    ActivityKind {
        path: "update_mfa_policy",
        operation: Operation::UpdateMfaPolicy,
        versions: &[v("ACTIVITY_TYPE_UPDATE_MFA_POLICY", "updateMfaPolicyIntent", "updateMfaPolicyResult")],
        resource: "MFA_POLICY",
        action: "UPDATE",
        root_only: false,
    },
    ActivityKind {
        path: "delete_mfa_policy",
        operation: Operation::DeleteMfaPolicy,
        versions: &[v("ACTIVITY_TYPE_DELETE_MFA_POLICY", "deleteMfaPolicyIntent", "deleteMfaPolicyResult")],
        resource: "MFA_POLICY",
        action: "DELETE",
        root_only: false,
    },
    ActivityKind {
        path: "create_session_profile",
        operation: Operation::CreateSessionProfile,
        versions: &[v(
            "ACTIVITY_TYPE_CREATE_SESSION_PROFILE",
            "createSessionProfileIntent",
            "createSessionProfileResult",
        )],
        resource: "SESSION_PROFILE",
        action: "CREATE",
        root_only: false,
    },
    ActivityKind {
        path: "create_app_activity",
        operation: Operation::CreateAppActivity,
        versions: &[v("ACTIVITY_TYPE_CREATE_APP_ACTIVITY", "createAppActivityIntent", "createAppActivityResult")],
        // Placeholders: an app activity's resource and action are its own (`Intent::resource_action`).
        resource: "APP",
        action: "CREATE",
        root_only: false,
    },
    ActivityKind {
        path: "create_webhook_endpoint",
        operation: Operation::CreateWebhookEndpoint,
        versions: &[v(
            "ACTIVITY_TYPE_CREATE_WEBHOOK_ENDPOINT",
            "createWebhookEndpointIntent",
            "createWebhookEndpointResult",
        )],
        resource: "WEBHOOK_ENDPOINT",
        action: "CREATE",
        root_only: false,
    },
    ActivityKind {
        path: "delete_webhook_endpoint",
        operation: Operation::DeleteWebhookEndpoint,
        versions: &[v(
            "ACTIVITY_TYPE_DELETE_WEBHOOK_ENDPOINT",
            "deleteWebhookEndpointIntent",
            "deleteWebhookEndpointResult",
        )],
        resource: "WEBHOOK_ENDPOINT",
        action: "DELETE",
        root_only: false,
    },
    ActivityKind {
        path: "set_mfa_enforcement",
        operation: Operation::SetMfaEnforcement,
        versions: &[v("ACTIVITY_TYPE_SET_MFA_ENFORCEMENT", "setMfaEnforcementIntent", "setMfaEnforcementResult")],
        resource: "SECURITY_SETTINGS",
        action: "UPDATE",
        root_only: false,
    },
    ActivityKind {
        path: "reset_mfa_enforcement",
        operation: Operation::ResetMfaEnforcement,
        versions: &[v("ACTIVITY_TYPE_RESET_MFA_ENFORCEMENT", "resetMfaEnforcementIntent", "resetMfaEnforcementResult")],
        resource: "SECURITY_SETTINGS",
        action: "DELETE",
        root_only: false,
    },
    ActivityKind {
        path: "init_otp",
        operation: Operation::InitOtp,
        versions: &[v("ACTIVITY_TYPE_INIT_OTP_V3", "initOtpIntentV3", "initOtpResultV2")],
        resource: "OTP",
        action: "CREATE",
        root_only: false,
    },
    ActivityKind {
        path: "verify_otp",
        operation: Operation::VerifyOtp,
        versions: &[v("ACTIVITY_TYPE_VERIFY_OTP_V2", "verifyOtpIntentV2", "verifyOtpResult")],
        resource: "OTP",
        action: "VERIFY",
        root_only: false,
    },
    ActivityKind {
        path: "otp_login",
        operation: Operation::OtpLogin,
        versions: &[v("ACTIVITY_TYPE_OTP_LOGIN_V2", "otpLoginIntentV2", "otpLoginResult")],
        resource: "AUTH",
        action: "CREATE",
        root_only: false,
    },
    ActivityKind {
        path: "enable_auth_proxy",
        operation: Operation::EnableAuthProxy,
        versions: &[v("ACTIVITY_TYPE_ENABLE_AUTH_PROXY", "enableAuthProxyIntent", "enableAuthProxyResult")],
        resource: "AUTH",
        action: "UPDATE",
        root_only: false,
    },
    ActivityKind {
        path: "disable_auth_proxy",
        operation: Operation::DisableAuthProxy,
        versions: &[v("ACTIVITY_TYPE_DISABLE_AUTH_PROXY", "disableAuthProxyIntent", "disableAuthProxyResult")],
        resource: "AUTH",
        action: "DELETE",
        root_only: false,
    },
    ActivityKind {
        path: "update_auth_proxy_config",
        operation: Operation::UpdateAuthProxyConfig,
        versions: &[v(
            "ACTIVITY_TYPE_UPDATE_AUTH_PROXY_CONFIG",
            "updateAuthProxyConfigIntent",
            "updateAuthProxyConfigResult",
        )],
        resource: "AUTH",
        action: "UPDATE",
        root_only: false,
    },
];

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
