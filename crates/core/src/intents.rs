//! Typed request parameters, parsed from `parameters` with errors that name the
//! offending field (`parameters.users[0].apiKeys[1].curveType: unknown variant ...`).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use crate::activity_types::Operation;
use crate::error::{Error, Result};
use crate::model::ApiKeyCurve;

/// An API key to create (`v1ApiKeyParamsV2`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiKeyParams {
    /// Human-readable name.
    pub api_key_name: String,
    /// Compressed P-256 hex or Ed25519 hex.
    pub public_key: String,
    /// Curve of the key.
    pub curve_type: ApiKeyCurve,
    /// Lifetime in seconds (uint64 as a string, as Turnkey sends it).
    #[serde(default, deserialize_with = "opt_u64_string", skip_serializing_if = "Option::is_none")]
    pub expiration_seconds: Option<u64>,
}

/// A user to create (`v1UserParamsV4`, also accepted for V3), and a root user of a
/// new sub-organization (`v1RootUserParamsV5`, the same fields without `userTags`).
#[derive(Debug, Clone, Deserialize, Serialize)]
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
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateUsers {
    /// The users.
    pub users: Vec<UserParams>,
}

/// `v1DeleteUsersIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteUsers {
    /// Users to delete.
    pub user_ids: Vec<String>,
}

/// `v1UpdateUserIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
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
}

/// `v1CreateUserTagIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
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
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateApiKeys {
    /// Keys to add.
    pub api_keys: Vec<ApiKeyParams>,
    /// Owner.
    pub user_id: String,
}

/// `v1DeleteApiKeysIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteApiKeys {
    /// Owner.
    pub user_id: String,
    /// Keys to remove.
    pub api_key_ids: Vec<String>,
}

/// `v1CreateSubOrganizationIntentV8`.
#[derive(Debug, Clone, Deserialize, Serialize)]
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
    /// Accepted for compatibility.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_sms_auth: Option<bool>,
    /// Accepted for compatibility.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_otp_email_auth: Option<bool>,
    /// OTP sign-up (not yet supported; must be absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_token: Option<String>,
    /// OTP sign-up (not yet supported; must be absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_signature: Option<serde_json::Value>,
}

/// `v1UpdateRootQuorumIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateRootQuorum {
    /// Approvals needed.
    pub threshold: i64,
    /// Members.
    pub user_ids: Vec<String>,
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
        })
    }
}

/// Deserializes `raw` as `T`, prefixing errors with the JSON path under `parameters`.
pub fn typed<T: DeserializeOwned>(raw: &serde_json::value::RawValue) -> Result<T> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            Error::invalid(format!("parameters: {inner}"))
        } else {
            Error::invalid(format!("parameters.{path}: {inner}"))
        }
    })
}

/// Accepts a uint64 as Turnkey sends it (a decimal string) or as a JSON number.
fn opt_u64_string<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        S(String),
        N(u64),
    }
    match Option::<Num>::deserialize(d)? {
        None => Ok(None),
        Some(Num::N(n)) => Ok(Some(n)),
        Some(Num::S(s)) => s
            .parse::<u64>()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("expected a non-negative integer string, found `{s}`"))),
    }
}
