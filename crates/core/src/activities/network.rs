//! IP lists: SET_IP_ALLOWLIST, REMOVE_IP_ALLOWLIST and SET_IP_DENYLIST.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Activity, Done, Empty, ExecContext};
use crate::crypto;
use crate::error::{Error, Result};
use crate::fields::params;
use crate::network::{IpRule, IpRuleSet, ListKind};
use crate::store::StoreTx;
use crate::validate::on_error;

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

/// SET_IP_ALLOWLIST: the organization's, or one API key's (which must exist here).
impl Activity for SetIpAllowlist {
    type Output = Empty;

    fn check(&self) -> Result<()> {
        crate::network::validate_rules("parameters.rules", &self.rules)?;
        self.on_evaluation_error.as_deref().map(on_error).transpose().map(drop)
    }

    fn policy_params(&self) -> Value {
        params!(self; public_key, rule_count = self.rules.len())
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<Empty>> {
        let p = self;
        let org_id = ctx.org_id;
        if let Some(pk) = &p.public_key
            && !tx.list_api_keys(org_id, None).await?.iter().any(|k| k.public_key.eq_ignore_ascii_case(pk))
        {
            return Err(Error::NotFound(format!(
                "no API key with public key `{}` in this organization",
                crypto::clip(pk)
            )));
        }
        let mode = p.on_evaluation_error.as_deref().map(on_error).transpose()?.unwrap_or("DENY");
        let set = rule_set(org_id, p.public_key.as_deref(), ListKind::Allow, p.enabled, mode, &p.rules, ctx.now);
        tx.put_ip_rule_set(&set).await?;
        Ok(Empty {}.into())
    }
}

/// REMOVE_IP_ALLOWLIST.
impl Activity for RemoveIpAllowlist {
    type Output = Empty;

    fn policy_params(&self) -> Value {
        params!(self; public_key)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<Empty>> {
        let pk = self.public_key.as_deref().map(str::to_ascii_lowercase);
        if !tx.delete_ip_rule_set(ctx.org_id, pk.as_deref(), ListKind::Allow).await? {
            return Err(Error::NotFound("there is no such IP allow list".to_owned()));
        }
        Ok(Empty {}.into())
    }
}

/// SET_IP_DENYLIST.
impl Activity for SetIpDenylist {
    type Output = Empty;

    fn check(&self) -> Result<()> {
        crate::network::validate_rules("parameters.rules", &self.rules)
    }

    fn policy_params(&self) -> Value {
        params!(self; rule_count = self.rules.len())
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<Empty>> {
        let set = rule_set(ctx.org_id, None, ListKind::Deny, self.enabled, "DENY", &self.rules, ctx.now);
        tx.put_ip_rule_set(&set).await?;
        Ok(Empty {}.into())
    }
}

/// A rule set as it will be stored: networks normalized, creation time stamped.
pub(crate) fn rule_set(
    org_id: &str,
    public_key: Option<&str>,
    kind: ListKind,
    enabled: Option<bool>,
    on_error: &str,
    rules: &[IpRule],
    now: i64,
) -> IpRuleSet {
    IpRuleSet {
        organization_id: org_id.to_owned(),
        public_key: public_key.map(str::to_ascii_lowercase),
        kind,
        enabled: enabled.unwrap_or(true),
        on_error: on_error.to_owned(),
        rules: rules
            .iter()
            .map(|r| IpRule {
                cidr: crate::network::parse_cidr(&r.cidr).map(|n| n.to_string()).unwrap_or_else(|| r.cidr.clone()),
                label: r.label.clone().filter(|l| !l.trim().is_empty()),
                created_at: Some(now.to_string()),
            })
            .collect(),
        updated_at: now,
    }
}
