//! The one-time move of stored texts to Turnkey's resource names. Before 2026-12 twofold
//! named the resources of passkeys, authenticator apps and recovery codes `AUTHENTICATOR`,
//! of logins and sessions `SESSION`, and of OTP login and the auth proxy `AUTH`; Turnkey's
//! names (`CREDENTIAL`, `AUTH`, `AUTH_PROXY`) merge and split those sets, so no renaming of
//! values keeps a condition's meaning. The rewrite replaces each comparison with the old
//! value by the activity and query types it covered, so what a stored policy, MFA policy or
//! session profile allows, denies or asks for does not change, and audits every change.

use serde::Serialize;

use super::Engine;
use crate::audit::{self, NewEvent};
use crate::error::{Error, Result};
use crate::store::StoreTx;

/// The row of `pending_rewrites` this rewrite takes.
const REWRITE: &str = "turnkey-resource-names";

/// The activity and query kinds (`activity.kind`, version-free types) an old resource name covered.
fn old_resource(value: &str) -> Option<String> {
    let types: &[&str] = match value {
        "AUTHENTICATOR" => &[
            "CREATE_AUTHENTICATORS",
            "DELETE_AUTHENTICATORS",
            "CREATE_TOTP_AUTHENTICATOR",
            "VERIFY_TOTP_AUTHENTICATOR",
            "DELETE_TOTP_AUTHENTICATORS",
            "CREATE_RECOVERY_CODES",
            "QUERY_GET_AUTHENTICATORS",
            "QUERY_GET_AUTHENTICATOR",
            "QUERY_GET_PASSKEY_REGISTRATION_OPTIONS",
            "QUERY_GET_TOTP_AUTHENTICATORS",
            "QUERY_GET_RECOVERY_CODES_STATUS",
        ],
        "SESSION" => &["STAMP_LOGIN", "DELETE_SESSIONS", "QUERY_LIST_SESSIONS"],
        "AUTH" => &[
            "OTP_LOGIN",
            "ENABLE_AUTH_PROXY",
            "DISABLE_AUTH_PROXY",
            "UPDATE_AUTH_PROXY_CONFIG",
            "QUERY_GET_AUTH_PROXY_CONFIG",
        ],
        _ => return None,
    };
    let quoted: Vec<String> = types.iter().map(|t| format!("'{t}'")).collect();
    Some(format!("activity.kind in [{}]", quoted.join(", ")))
}

/// `text` with its comparisons of `activity.resource` with an old name rewritten.
pub(crate) fn rewrite(text: &str) -> twofold_policy::Rewrite {
    twofold_policy::rewrite_comparisons(text, &["activity", "resource"], old_resource)
}

/// What the audit log records of one rewritten (or unrewritable) text.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rewritten<'a> {
    /// `condition`, `consensus` or `scope`.
    field: &'a str,
    before: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    rewrite: &'a str,
}

/// One text's rewrite: the new text if it changed; audited either way it was touched.
async fn rewrite_one(
    tx: &mut dyn StoreTx,
    org_id: &str,
    now: i64,
    (event_type, subject, field): (&str, &str, &str),
    text: &str,
) -> Result<Option<String>> {
    let (after, reason, outcome) = match rewrite(text) {
        twofold_policy::Rewrite::Unchanged => return Ok(None),
        twofold_policy::Rewrite::Rewritten(after) => (Some(after), None, "SUCCEEDED"),
        twofold_policy::Rewrite::NeedsReview(reason) => (None, Some(reason), "NEEDS_REVIEW"),
    };
    let details =
        Rewritten { field, before: text, after: after.as_deref(), reason: reason.as_deref(), rewrite: REWRITE };
    let details = serde_json::to_value(&details).map_err(|e| Error::Internal(e.to_string()))?;
    let event = NewEvent {
        event_type,
        outcome,
        actor_user_id: None,
        actor_credential_id: None,
        subject: Some(subject),
        details,
    };
    audit::append(tx, org_id, now, event).await?;
    if let Some(reason) = &reason {
        tracing::warn!(organization_id = %org_id, subject, field, reason, "stored text names an old resource");
    }
    Ok(after)
}

impl Engine {
    /// Runs the rewrite once per installation (the first node to start after the upgrade
    /// takes it, in one transaction): every policy condition and consensus, MFA policy
    /// condition and session-profile scope of every organization. Returns how many texts
    /// changed.
    pub async fn rewrite_legacy_resource_names(&self) -> Result<u64> {
        let mut tx = self.store.write().await?;
        if !tx.take_pending_rewrite(REWRITE).await? {
            return Ok(0);
        }
        let now = self.clock.now_ms();
        let mut changed = 0;
        let orgs = match tx.installation_root().await? {
            Some(root) => tx.organization_tree(&root).await?,
            None => Vec::new(),
        };
        for org in &orgs {
            let org_id = org.id.as_str();
            for mut policy in tx.list_policies(org_id).await? {
                let mut touched = false;
                for (field, text) in [("condition", &mut policy.condition), ("consensus", &mut policy.consensus)] {
                    let Some(before) = text.clone() else { continue };
                    let subject = ("POLICY_REWRITTEN", policy.id.as_str(), field);
                    if let Some(after) = rewrite_one(&mut *tx, org_id, now, subject, &before).await? {
                        *text = Some(after);
                        touched = true;
                    }
                }
                if touched {
                    policy.updated_at = now;
                    tx.update_policy(&policy).await?;
                    changed += 1;
                }
            }
            for mut policy in tx.list_mfa_policies(org_id, None).await? {
                let subject = ("MFA_POLICY_REWRITTEN", policy.id.as_str(), "condition");
                if let Some(after) = rewrite_one(&mut *tx, org_id, now, subject, &policy.condition).await? {
                    policy.condition = after;
                    policy.updated_at = now;
                    tx.update_mfa_policy(&policy).await?;
                    changed += 1;
                }
            }
            for profile in tx.list_session_profiles(org_id).await? {
                let subject = ("SESSION_PROFILE_REWRITTEN", profile.id.as_str(), "scope");
                if let Some(after) = rewrite_one(&mut *tx, org_id, now, subject, &profile.scope).await? {
                    tx.rewrite_session_profile_scope(&profile.id, &after).await?;
                    changed += 1;
                }
            }
        }
        tx.commit().await?;
        if changed > 0 {
            tracing::info!(changed, "stored conditions moved to Turnkey's resource names");
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_names_become_the_types_they_covered() {
        let twofold_policy::Rewrite::Rewritten(text) = rewrite("activity.resource == 'SESSION'") else {
            panic!("rewritten")
        };
        assert_eq!(text, "(activity.kind in ['STAMP_LOGIN', 'DELETE_SESSIONS', 'QUERY_LIST_SESSIONS'])");
        assert_eq!(rewrite("activity.resource == 'CREDENTIAL'"), twofold_policy::Rewrite::Unchanged);
        // Every type named is one the catalog has (a typo here would silently match nothing).
        for old in ["AUTHENTICATOR", "SESSION", "AUTH"] {
            let text = old_resource(old).unwrap_or_default();
            for name in text.split('\'').skip(1).step_by(2) {
                let known = crate::activities::KINDS
                    .iter()
                    .any(|k| k.versions.iter().any(|v| crate::model::version_free(v.type_name) == name))
                    || name
                        .strip_prefix("QUERY_")
                        .is_some_and(|q| crate::queries::query_paths().iter().any(|p| p.eq_ignore_ascii_case(q)));
                assert!(known, "{old}: {name} is no activity or query type");
            }
        }
    }
}
