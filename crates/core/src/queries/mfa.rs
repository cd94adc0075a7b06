//! MFA enforcement rules, step-up policies and where a step-up stands.

use serde::{Deserialize, Serialize};

use super::{Cx, Db, NoFields, Query, UserRequest, activity_in};
use crate::api::{MfaPolicyView, MfaStatusView};
use crate::enforcement::{EnforcementRule, RuleView};
use crate::engine::{check_visible, effective_rule};
use crate::error::Result;

/// `get_mfa_enforcement`'s request.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetMfaEnforcementRequest {
    /// An organization at or below the caller's; the caller's when absent.
    #[serde(default)]
    pub target_organization_id: Option<String>,
}

/// `get_mfa_enforcement`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetMfaEnforcementResponse {
    /// The rule in force, with its source.
    pub mfa_enforcement: RuleView,
    /// The organization's API-only users (the first [`EXEMPT_SHOWN`]), whom no rule asks to
    /// enroll: they sign with their API keys and never sign in.
    pub api_only_users: Vec<ExemptUser>,
}

/// How many API-only users `get_mfa_enforcement` names.
pub const EXEMPT_SHOWN: u32 = 100;

/// A user the enforcement rule does not ask to enroll.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExemptUser {
    /// The user.
    pub user_id: String,
    /// Its name.
    pub user_name: String,
}

/// `get_mfa_enforcement`: the rule in force for the caller's organization (or one under it).
pub(crate) struct GetMfaEnforcement;

impl Query for GetMfaEnforcement {
    type Request = GetMfaEnforcementRequest;
    type Response = GetMfaEnforcementResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: GetMfaEnforcementRequest) -> Result<GetMfaEnforcementResponse> {
        let target = req.target_organization_id.as_deref().unwrap_or(cx.org());
        let tx = db.tx().await?;
        check_visible(tx, cx.org(), target).await?;
        let rule = effective_rule(tx, target).await?;
        let exempt = tx.api_only_users(target, EXEMPT_SHOWN).await?;
        Ok(GetMfaEnforcementResponse {
            mfa_enforcement: RuleView::new(&rule, Some(target)),
            api_only_users: exempt.into_iter().map(|u| ExemptUser { user_id: u.id, user_name: u.name }).collect(),
        })
    }
}

/// One organization and the rule in force for it.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OrganizationRule {
    /// The organization.
    pub organization_id: String,
    /// Its name.
    pub organization_name: String,
    /// Its parent, if it is a sub-organization.
    pub parent_organization_id: Option<String>,
    /// The rule in force, with its source.
    pub mfa_enforcement: RuleView,
}

/// `list_mfa_enforcements`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListMfaEnforcementsResponse {
    /// The global rule.
    pub global: RuleView,
    /// The caller's organization first, then those below it, oldest first.
    pub organizations: Vec<OrganizationRule>,
}

/// `list_mfa_enforcements`: the global rule, and every organization from the caller's down.
pub(crate) struct ListMfaEnforcements;

impl Query for ListMfaEnforcements {
    type Request = NoFields;
    type Response = ListMfaEnforcementsResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, _: NoFields) -> Result<ListMfaEnforcementsResponse> {
        let tx = db.tx().await?;
        let mut orgs = tx.organization_tree(cx.org()).await?;
        // The caller's own organization heads the list; the rest stay oldest first.
        orgs.sort_by_key(|o| o.id != cx.org());
        let rules = tx.list_mfa_enforcement_rules().await?;
        let global = rules.iter().find(|r| r.organization_id.is_none()).cloned();
        let organizations = orgs
            .iter()
            .map(|o| {
                let own = rules.iter().find(|r| r.organization_id.as_deref() == Some(o.id.as_str())).cloned();
                OrganizationRule {
                    organization_id: o.id.clone(),
                    organization_name: o.name.clone(),
                    parent_organization_id: o.parent_id.clone(),
                    mfa_enforcement: RuleView::new(&EnforcementRule::effective(own, global.clone()), Some(&o.id)),
                }
            })
            .collect();
        let global = global.unwrap_or_else(EnforcementRule::default_global);
        Ok(ListMfaEnforcementsResponse { global: RuleView::new(&global, None), organizations })
    }
}

/// `get_mfa_policies`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetMfaPoliciesResponse {
    /// The user's step-up rules, by order.
    pub mfa_policies: Vec<MfaPolicyView>,
}

/// `get_mfa_policies`.
pub(crate) struct GetMfaPolicies;

impl Query for GetMfaPolicies {
    type Request = UserRequest;
    type Response = GetMfaPoliciesResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: UserRequest) -> Result<GetMfaPoliciesResponse> {
        let tx = db.tx().await?;
        crate::engine::existing_user(tx, cx.org(), &req.user_id).await?;
        let policies = tx.list_mfa_policies(cx.org(), Some(&req.user_id)).await?;
        Ok(GetMfaPoliciesResponse { mfa_policies: policies.iter().map(MfaPolicyView::from).collect() })
    }
}

/// `get_mfa_policy`'s request.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetMfaPolicyRequest {
    /// The user it binds.
    pub user_id: String,
    /// The rule.
    pub mfa_policy_id: String,
}

/// `get_mfa_policy`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetMfaPolicyResponse {
    /// The rule.
    pub mfa_policy: MfaPolicyView,
}

/// `get_mfa_policy`.
pub(crate) struct GetMfaPolicy;

impl Query for GetMfaPolicy {
    type Request = GetMfaPolicyRequest;
    type Response = GetMfaPolicyResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: GetMfaPolicyRequest) -> Result<GetMfaPolicyResponse> {
        let policy = crate::engine::owned_policy(db.tx().await?, cx.org(), &req.user_id, &req.mfa_policy_id).await?;
        Ok(GetMfaPolicyResponse { mfa_policy: MfaPolicyView::from(&policy) })
    }
}

/// `get_mfa_status`'s request.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetMfaStatusRequest {
    /// The activity.
    pub activity_id: String,
    /// Only this voter; every voter when absent.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// `get_mfa_status`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetMfaStatusResponse {
    /// One entry per voter an MFA policy binds.
    pub mfa_statuses: Vec<MfaStatusView>,
}

/// `get_mfa_status`: the step-up standing on an activity, as settling would compute it now.
pub(crate) struct GetMfaStatus;

impl Query for GetMfaStatus {
    type Request = GetMfaStatusRequest;
    type Response = GetMfaStatusResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: GetMfaStatusRequest) -> Result<GetMfaStatusResponse> {
        let tx = db.tx().await?;
        let activity = activity_in(tx, cx.org(), &req.activity_id).await?;
        let statuses =
            crate::engine::activity_states(cx.engine.programs(), tx, &activity, req.user_id.as_deref(), cx.now).await?;
        Ok(GetMfaStatusResponse { mfa_statuses: statuses.iter().filter_map(|s| s.view()).collect() })
    }
}
