//! Step-up rules: CREATE_MFA_POLICY, UPDATE_MFA_POLICY and DELETE_MFA_POLICY.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::users::existing_user;
use super::{Activity, Done, ExecContext, results};
use crate::crypto;
use crate::error::{Error, Result};
use crate::fields::params;
use crate::model::{MethodGroup, MfaPolicy, new_id};
use crate::store::StoreTx;
use crate::validate::{check_method_groups, check_mfa_condition, check_name, check_order};

/// `v1CreateMfaPolicyIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateMfaPolicy {
    /// The user it binds.
    pub user_id: String,
    /// Human-readable name.
    pub mfa_policy_name: String,
    /// When it applies (`activity.*`).
    pub condition: String,
    /// The steps, in order.
    pub required_authentication_methods: Vec<MethodGroup>,
    /// Evaluation rank, from 0: lowest first.
    pub order: i64,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// `v1UpdateMfaPolicyIntent`: absent fields stay as they are.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateMfaPolicy {
    /// The user it binds.
    pub user_id: String,
    /// The policy.
    pub mfa_policy_id: String,
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_policy_name: Option<String>,
    /// New condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// New steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_authentication_methods: Option<Vec<MethodGroup>>,
    /// New rank.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<i64>,
    /// New notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// `v1DeleteMfaPolicyIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteMfaPolicy {
    /// The user it binds.
    pub user_id: String,
    /// The policy.
    pub mfa_policy_id: String,
}

results! {
    /// `v1CreateMfaPolicyResult`.
    CreateMfaPolicyResult { mfa_policy_id: String }
    /// `v1UpdateMfaPolicyResult`.
    UpdateMfaPolicyResult { mfa_policy_id: String }
    /// `v1DeleteMfaPolicyResult`.
    DeleteMfaPolicyResult { mfa_policy_id: String }
}

/// CREATE_MFA_POLICY: a step-up rule for a user.
impl Activity for CreateMfaPolicy {
    type Output = CreateMfaPolicyResult;

    fn check(&self) -> Result<()> {
        check_name("mfaPolicyName", &self.mfa_policy_name)?;
        check_mfa_condition(&self.condition)?;
        check_method_groups(&self.required_authentication_methods)?;
        check_order(self.order)
    }

    fn policy_params(&self) -> Value {
        params!(self; user_id, order)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<CreateMfaPolicyResult>> {
        existing_user(tx, ctx.org_id, &self.user_id).await?;
        let policy = MfaPolicy {
            id: new_id(),
            organization_id: ctx.org_id.to_owned(),
            user_id: self.user_id.clone(),
            name: check_name("mfaPolicyName", &self.mfa_policy_name)?,
            condition: self.condition.clone(),
            required_methods: self.required_authentication_methods.clone(),
            order: self.order,
            notes: self.notes.clone().unwrap_or_default(),
            created_at: ctx.now,
            updated_at: ctx.now,
        };
        tx.insert_mfa_policy(&policy).await?;
        Ok(CreateMfaPolicyResult { mfa_policy_id: policy.id }.into())
    }
}

/// UPDATE_MFA_POLICY: changes the fields given of one of the user's step-up rules.
impl Activity for UpdateMfaPolicy {
    type Output = UpdateMfaPolicyResult;

    fn check(&self) -> Result<()> {
        if let Some(name) = &self.mfa_policy_name {
            check_name("mfaPolicyName", name)?;
        }
        if let Some(condition) = &self.condition {
            check_mfa_condition(condition)?;
        }
        if let Some(groups) = &self.required_authentication_methods {
            check_method_groups(groups)?;
        }
        self.order.map(check_order).transpose().map(drop)
    }

    fn policy_params(&self) -> Value {
        params!(self; user_id, mfa_policy_id)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<UpdateMfaPolicyResult>> {
        let p = self;
        let mut policy = owned_policy(tx, ctx.org_id, &p.user_id, &p.mfa_policy_id).await?;
        if let Some(name) = &p.mfa_policy_name {
            policy.name = check_name("mfaPolicyName", name)?;
        }
        if let Some(condition) = &p.condition {
            policy.condition.clone_from(condition);
        }
        if let Some(groups) = &p.required_authentication_methods {
            policy.required_methods.clone_from(groups);
        }
        if let Some(order) = p.order {
            policy.order = order;
        }
        if let Some(notes) = &p.notes {
            policy.notes.clone_from(notes);
        }
        policy.updated_at = ctx.now;
        tx.update_mfa_policy(&policy).await?;
        Ok(UpdateMfaPolicyResult { mfa_policy_id: policy.id }.into())
    }
}

/// DELETE_MFA_POLICY: removes one of the user's step-up rules.
impl Activity for DeleteMfaPolicy {
    type Output = DeleteMfaPolicyResult;

    fn policy_params(&self) -> Value {
        params!(self; user_id, mfa_policy_id)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<DeleteMfaPolicyResult>> {
        owned_policy(tx, ctx.org_id, &self.user_id, &self.mfa_policy_id).await?;
        tx.delete_mfa_policy(ctx.org_id, &self.user_id, &self.mfa_policy_id).await?;
        Ok(DeleteMfaPolicyResult { mfa_policy_id: self.mfa_policy_id.clone() }.into())
    }
}

pub(crate) async fn owned_policy(tx: &mut dyn StoreTx, org_id: &str, user_id: &str, id: &str) -> Result<MfaPolicy> {
    tx.get_mfa_policy(org_id, id).await?.filter(|p| p.user_id == user_id).ok_or_else(|| {
        Error::NotFound(format!(
            "no MFA policy `{}` for user `{}` in this organization",
            crypto::clip(id),
            crypto::clip(user_id)
        ))
    })
}
