//! Session profiles: CREATE_SESSION_PROFILE, an immutable scope sessions are bound to.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use twofold_policy::Keywords;

use super::{Activity, Done, ExecContext, results};
use crate::crypto;
use crate::error::{Error, Result};
use crate::fields::opt_u64_string;
use crate::fields::params;
use crate::model::{SessionProfile, new_id};
use crate::store::StoreTx;
use crate::validate::{MAX_KEY_LIFETIME_SECS, check_expression, check_name};

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
    #[serde(
        default,
        deserialize_with = "opt_u64_string",
        serialize_with = "crate::fields::ser_opt_u64_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration_seconds: Option<u64>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

results! {
    /// `createSessionProfileResult`.
    CreateSessionProfileResult { session_profile_id: String }
}

/// The session profile `id`, if `org_id` may use it: it was created by that
/// organization or one of its ancestors.
pub(crate) async fn usable_profile(tx: &mut dyn StoreTx, org_id: &str, id: &str) -> Result<SessionProfile> {
    let unknown = || Error::NotFound(format!("no session profile `{}` for this organization", crypto::clip(id)));
    let profile = tx.get_session_profile(id).await?.ok_or_else(unknown)?;
    let mut org = Some(org_id.to_owned());
    // Bounded walk up the parent chain (sub-organizations nest one level in practice).
    for _ in 0..16 {
        let Some(current) = org else { break };
        if current == profile.organization_id {
            return Ok(profile);
        }
        org = tx.get_organization(&current).await?.and_then(|o| o.parent_id);
    }
    Err(unknown())
}

/// CREATE_SESSION_PROFILE: an immutable session scope.
impl Activity for CreateSessionProfile {
    type Output = CreateSessionProfileResult;

    fn check(&self) -> Result<()> {
        check_name("sessionProfileName", &self.session_profile_name)?;
        if self.scope.trim().is_empty() {
            return Err(Error::invalid("parameters.scope: must not be empty (use `true` for an unrestricted scope)"));
        }
        check_expression("parameters.scope", Some(&self.scope), Keywords::CONDITION)?;
        if self.expiration_seconds.is_some_and(|s| s == 0 || s > MAX_KEY_LIFETIME_SECS) {
            return Err(Error::invalid(format!(
                "parameters.expirationSeconds: must be between 1 and {MAX_KEY_LIFETIME_SECS}"
            )));
        }
        Ok(())
    }

    fn policy_params(&self) -> Value {
        params!(self; session_profile_name, expiration_seconds)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<CreateSessionProfileResult>> {
        let profile = SessionProfile {
            id: new_id(),
            organization_id: ctx.org_id.to_owned(),
            name: check_name("sessionProfileName", &self.session_profile_name)?,
            scope: self.scope.clone(),
            expiration_seconds: self.expiration_seconds.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
            notes: self.notes.clone().unwrap_or_default(),
            created_at: ctx.now,
        };
        tx.insert_session_profile(&profile).await?;
        Ok(CreateSessionProfileResult { session_profile_id: profile.id }.into())
    }
}
