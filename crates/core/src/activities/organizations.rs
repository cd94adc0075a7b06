//! Organizations: CREATE_SUB_ORGANIZATION (its root users and quorum; an OTP sign-up goes
//! through [`super::otp`]), UPDATE_ROOT_QUORUM and DELETE_SUB_ORGANIZATION.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::users::{existing_user, insert_keys, insert_passkeys, new_user};
use super::{Activity, Done, Empty, ExecContext, results};
use crate::error::{Error, Result};
use crate::fields::Secret;
use crate::fields::params;
use crate::intents::UserParams;
use crate::model::{Organization, new_id};
use crate::store::StoreTx;
use crate::validate::{check_count, check_keys, check_name, check_person, check_threshold, check_user_factors, unique};

/// `v1CreateSubOrganizationIntentV8`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Refuse SMS one-time codes for the new organization's users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_sms_auth: Option<bool>,
    /// Refuse email one-time codes for the new organization's users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_otp_email_auth: Option<bool>,
    /// OTP sign-up: a verification token for a root user's email or phone, which is then marked verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_token: Option<Secret>,
    /// OTP sign-up: the token's key signing the sign-up (needed with `verificationToken`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_signature: Option<crate::otp::ClientSignature>,
}

/// `v1UpdateRootQuorumIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateRootQuorum {
    /// Approvals needed.
    pub threshold: i64,
    /// Members.
    pub user_ids: Vec<String>,
}

/// `v1UpdateOrganizationNameIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateOrganizationName {
    /// The new name.
    pub organization_name: String,
}

/// `v1DeleteSubOrganizationIntent`: submitted to the sub-organization itself.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteSubOrganization {
    /// Accepted for compatibility: twofold holds no wallets or private keys to export first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_without_export: Option<bool>,
}

results! {
    /// `v1CreateSubOrganizationResultV7`.
    CreateSubOrganizationResult { sub_organization_id: String, root_user_ids: Vec<String> }
    /// `v1DeleteSubOrganizationResult`.
    DeleteSubOrganizationResult { sub_organization_uuid: String }
    /// `v1UpdateOrganizationNameResult`.
    UpdateOrganizationNameResult { organization_id: String, organization_name: String }
}

/// CREATE_SUB_ORGANIZATION: a sign-up with a verification token or OTP switches goes through
/// the OTP module, which creates the organization with [`new_sub_organization`].
impl Activity for CreateSubOrganization {
    type Output = CreateSubOrganizationResult;

    fn check(&self) -> Result<()> {
        let p = self;
        if p.wallet.is_some() {
            return Err(Error::invalid("parameters.wallet: twofold holds no wallets; omit `wallet`"));
        }
        match (&p.verification_token, &p.client_signature) {
            (Some(token), Some(signature)) => crate::otp::validate_signed_token(token.expose(), signature)?,
            (None, None) => {}
            _ => {
                return Err(Error::invalid(
                    "parameters.clientSignature: OTP sign-up needs both `verificationToken` and `clientSignature`",
                ));
            }
        }
        check_name("subOrganizationName", &p.sub_organization_name)?;
        check_count("rootUsers", p.root_users.len(), 1)?;
        check_threshold(p.root_quorum_threshold, p.root_users.len())?;
        for u in &p.root_users {
            if u.user_tags.is_some() {
                return Err(Error::invalid(
                    "parameters.rootUsers[].userTags: root users of a new sub-organization cannot carry tags",
                ));
            }
            check_user_factors(&u.authenticators, &u.oauth_providers)?;
            check_person(&u.user_name, u.user_email.as_deref(), u.user_phone_number.as_deref())?;
            check_keys(&u.api_keys)?;
        }
        Ok(())
    }

    fn policy_params(&self) -> Value {
        params!(self; sub_organization_name)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<CreateSubOrganizationResult>> {
        let p = self;
        if p.verification_token.is_some() || p.disable_sms_auth.is_some() || p.disable_otp_email_auth.is_some() {
            return super::otp::sign_up(tx, ctx, p).await.map(Done::from);
        }
        new_sub_organization(tx, ctx, p).await.map(Done::from)
    }
}

/// The sub-organization itself, its root users (whose contacts the parent vouches for) and
/// its root quorum; `{subOrganizationId, rootUserIds}`.
pub(crate) async fn new_sub_organization(
    tx: &mut dyn StoreTx,
    ctx: &ExecContext<'_>,
    p: &CreateSubOrganization,
) -> Result<CreateSubOrganizationResult> {
    let (org_id, now) = (ctx.org_id, ctx.now);
    let sub = Organization {
        id: new_id(),
        name: check_name("subOrganizationName", &p.sub_organization_name)?,
        parent_id: Some(org_id.to_owned()),
        root_quorum_threshold: p.root_quorum_threshold,
        created_at: now,
        updated_at: now,
    };
    tx.insert_organization(&sub).await?;
    let mut root_ids = Vec::with_capacity(p.root_users.len());
    for u in &p.root_users {
        let (email, phone) = (u.user_email.as_deref(), u.user_phone_number.as_deref());
        let user = new_user(&sub.id, org_id, &u.user_name, email, phone, now)?;
        tx.insert_user(&user).await?;
        insert_keys(tx, &sub.id, &user.id, &u.api_keys, now).await?;
        insert_passkeys(tx, ctx, &sub.id, &user, &u.authenticators).await?;
        super::oauth::bind_providers(tx, ctx, &user, &u.oauth_providers).await?;
        root_ids.push(user.id);
    }
    tx.set_root_quorum(&sub.id, p.root_quorum_threshold, &root_ids, now).await?;
    Ok(CreateSubOrganizationResult { sub_organization_id: sub.id, root_user_ids: root_ids })
}

/// UPDATE_ROOT_QUORUM: existing users only.
impl Activity for UpdateRootQuorum {
    type Output = Empty;

    fn check(&self) -> Result<()> {
        check_count("userIds", self.user_ids.len(), 1)?;
        check_threshold(self.threshold, self.user_ids.len())?;
        unique("userIds", &self.user_ids).map(drop)
    }

    fn policy_params(&self) -> Value {
        params!(self; threshold, user_ids)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<Empty>> {
        for uid in &self.user_ids {
            existing_user(tx, ctx.org_id, uid).await?;
        }
        tx.set_root_quorum(ctx.org_id, self.threshold, &self.user_ids, ctx.now).await?;
        Ok(Empty {}.into())
    }
}

/// DELETE_SUB_ORGANIZATION: the organization the activity is submitted to, which must be a
/// sub-organization without sub-organizations of its own. Its users and everything they
/// could sign in with go at once; its history stays (see `Organizations::delete_organization`).
impl Activity for DeleteSubOrganization {
    type Output = DeleteSubOrganizationResult;

    fn policy_params(&self) -> Value {
        params!(self; delete_without_export)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<DeleteSubOrganizationResult>> {
        let org = tx
            .get_organization(ctx.org_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("organization `{}` not found", ctx.org_id)))?;
        if org.parent_id.is_none() {
            return Err(Error::FailedPrecondition(
                "the installation's root organization cannot be deleted; submit delete_sub_organization to a \
                 sub-organization"
                    .to_owned(),
            ));
        }
        let children = tx.list_sub_organizations(ctx.org_id).await?;
        if !children.is_empty() {
            return Err(Error::FailedPrecondition(format!(
                "this organization has {} sub-organization(s) of its own; delete them first",
                children.len()
            )));
        }
        tx.delete_organization(ctx.org_id, ctx.now).await?;
        Ok(DeleteSubOrganizationResult { sub_organization_uuid: org.id }.into())
    }
}

/// UPDATE_ORGANIZATION_NAME: the organization the activity is submitted to.
impl Activity for UpdateOrganizationName {
    type Output = UpdateOrganizationNameResult;

    fn check(&self) -> Result<()> {
        check_name("organizationName", &self.organization_name).map(drop)
    }

    fn policy_params(&self) -> Value {
        params!(self; organization_name)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<UpdateOrganizationNameResult>> {
        let name = check_name("organizationName", &self.organization_name)?;
        if !tx.rename_organization(ctx.org_id, &name, ctx.now).await? {
            return Err(Error::NotFound(format!("organization `{}` not found", ctx.org_id)));
        }
        Ok(UpdateOrganizationNameResult { organization_id: ctx.org_id.to_owned(), organization_name: name }.into())
    }
}
