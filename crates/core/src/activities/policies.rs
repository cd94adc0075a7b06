//! Policies: CREATE_POLICY, CREATE_POLICIES, UPDATE_POLICY and DELETE_POLICY.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use twofold_policy::Keywords;

use super::{Activity, Done, ExecContext, results};
use crate::crypto;
use crate::error::{Error, Result};
use crate::fields::params;
use crate::model::{Effect, Policy, new_id};
use crate::store::StoreTx;
use crate::validate::{check_count, check_expression, check_ids, check_name};

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

/// `v1DeletePoliciesIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeletePolicies {
    /// The policies.
    pub policy_ids: Vec<String>,
}

results! {
    /// `v1DeletePoliciesResult`.
    DeletePoliciesResult { policy_ids: Vec<String> }
    /// `v1CreatePolicyResult`.
    CreatePolicyResult { policy_id: String }
    /// `v1CreatePoliciesResult`.
    CreatePoliciesResult { policy_ids: Vec<String> }
    /// `v1UpdatePolicyResultV2`.
    UpdatePolicyResult { policy_id: String }
    /// `v1DeletePolicyResult`.
    DeletePolicyResult { policy_id: String }
}

/// CREATE_POLICY.
impl Activity for CreatePolicy {
    type Output = CreatePolicyResult;

    fn check(&self) -> Result<()> {
        check_policy(self)
    }

    fn policy_params(&self) -> Value {
        params!(self; policy_name, effect)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<CreatePolicyResult>> {
        Ok(CreatePolicyResult { policy_id: insert_policy(tx, ctx.org_id, self, ctx.now).await? }.into())
    }
}

/// CREATE_POLICIES: all or none.
impl Activity for CreatePolicies {
    type Output = CreatePoliciesResult;

    fn check(&self) -> Result<()> {
        check_count("policies", self.policies.len(), 1)?;
        self.policies.iter().try_for_each(check_policy)
    }

    fn policy_params(&self) -> Value {
        params!(self; policy_names = self.policies.iter().map(|x| x.policy_name.as_str()).collect::<Vec<_>>())
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<CreatePoliciesResult>> {
        let mut policy_ids = Vec::with_capacity(self.policies.len());
        for policy in &self.policies {
            policy_ids.push(insert_policy(tx, ctx.org_id, policy, ctx.now).await?);
        }
        Ok(CreatePoliciesResult { policy_ids }.into())
    }
}

/// UPDATE_POLICY: the fields given; a blank expression clears it.
impl Activity for UpdatePolicy {
    type Output = UpdatePolicyResult;

    fn check(&self) -> Result<()> {
        if let Some(name) = &self.policy_name {
            check_name("policyName", name)?;
        }
        check_expression("policyCondition", self.policy_condition.as_deref(), Keywords::CONDITION)?;
        check_expression("policyConsensus", self.policy_consensus.as_deref(), Keywords::CONSENSUS)?;
        check_expression("time", self.time.as_deref(), Keywords::TIME)
    }

    fn policy_params(&self) -> Value {
        params!(self; policy_id)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<UpdatePolicyResult>> {
        let p = self;
        let mut policy = tx.get_policy(ctx.org_id, &p.policy_id).await?.ok_or_else(|| no_policy(&p.policy_id))?;
        if let Some(name) = &p.policy_name {
            policy.name = check_name("policyName", name)?;
        }
        if let Some(effect) = p.policy_effect {
            policy.effect = effect;
        }
        let set = |new: &Option<String>, old: &mut Option<String>| {
            if let Some(v) = new {
                *old = non_blank(Some(v));
            }
        };
        set(&p.policy_condition, &mut policy.condition);
        set(&p.policy_consensus, &mut policy.consensus);
        set(&p.time, &mut policy.time);
        if let Some(notes) = &p.policy_notes {
            policy.notes.clone_from(notes);
        }
        policy.updated_at = ctx.now;
        tx.update_policy(&policy).await?;
        Ok(UpdatePolicyResult { policy_id: policy.id }.into())
    }
}

/// DELETE_POLICY.
impl Activity for DeletePolicy {
    type Output = DeletePolicyResult;

    fn policy_params(&self) -> Value {
        params!(self; policy_id)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<DeletePolicyResult>> {
        if !tx.delete_policy(ctx.org_id, &self.policy_id).await? {
            return Err(no_policy(&self.policy_id));
        }
        Ok(DeletePolicyResult { policy_id: self.policy_id.clone() }.into())
    }
}

/// DELETE_POLICIES: every one named, or none (one that is not there fails the activity).
impl Activity for DeletePolicies {
    type Output = DeletePoliciesResult;

    fn check(&self) -> Result<()> {
        check_ids("policyIds", &self.policy_ids)
    }

    fn policy_params(&self) -> Value {
        params!(self; policy_ids)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<DeletePoliciesResult>> {
        for id in &self.policy_ids {
            if !tx.delete_policy(ctx.org_id, id).await? {
                return Err(no_policy(id));
            }
        }
        Ok(DeletePoliciesResult { policy_ids: self.policy_ids.clone() }.into())
    }
}

fn no_policy(id: &str) -> Error {
    Error::NotFound(format!("no policy `{}` in this organization", crypto::clip(id)))
}

fn non_blank(s: Option<&String>) -> Option<String> {
    s.filter(|v| !v.trim().is_empty()).cloned()
}

async fn insert_policy(tx: &mut dyn StoreTx, org_id: &str, p: &CreatePolicy, now: i64) -> Result<String> {
    let policy = Policy {
        id: new_id(),
        organization_id: org_id.to_owned(),
        name: check_name("policyName", &p.policy_name)?,
        effect: p.effect,
        condition: non_blank(p.condition.as_ref()),
        consensus: non_blank(p.consensus.as_ref()),
        time: non_blank(p.time.as_ref()),
        notes: p.notes.clone(),
        created_at: now,
        updated_at: now,
    };
    tx.insert_policy(&policy).await?;
    Ok(policy.id)
}

fn check_policy(p: &CreatePolicy) -> Result<()> {
    check_name("policyName", &p.policy_name)?;
    check_expression("condition", p.condition.as_deref(), Keywords::CONDITION)?;
    check_expression("consensus", p.consensus.as_deref(), Keywords::CONSENSUS)?;
    check_expression("time", p.time.as_deref(), Keywords::TIME)
}
