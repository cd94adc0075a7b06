//! Authorization policies.

use serde::{Deserialize, Serialize};

use super::{Cx, Db, NoFields, Query, not_found};
use crate::api::PolicyView;
use crate::error::Result;

/// `get_policy`'s request.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetPolicyRequest {
    /// The policy.
    pub policy_id: String,
}

/// `get_policy`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetPolicyResponse {
    /// The policy.
    pub policy: PolicyView,
}

/// `get_policy`.
pub(crate) struct GetPolicy;

impl Query for GetPolicy {
    type Request = GetPolicyRequest;
    type Response = GetPolicyResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: GetPolicyRequest) -> Result<GetPolicyResponse> {
        let policy = db
            .tx()
            .await?
            .get_policy(cx.org(), &req.policy_id)
            .await?
            .ok_or_else(|| not_found("policy", &req.policy_id))?;
        Ok(GetPolicyResponse { policy: PolicyView::from(&policy) })
    }
}

/// `list_policies`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListPoliciesResponse {
    /// Every policy.
    pub policies: Vec<PolicyView>,
}

/// `list_policies`.
pub(crate) struct ListPolicies;

impl Query for ListPolicies {
    type Request = NoFields;
    type Response = ListPoliciesResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, _: NoFields) -> Result<ListPoliciesResponse> {
        let policies = db.tx().await?.list_policies(cx.org()).await?;
        Ok(ListPoliciesResponse { policies: policies.iter().map(PolicyView::from).collect() })
    }
}

/// One policy's `get_active_policies` line (`v1ActivePolicyStatus`).
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ActivePolicyStatus {
    /// The policy's organization.
    pub organization_id: String,
    /// The policy.
    pub policy_id: String,
    /// Whether it is in its time window now (always, without one).
    pub active: bool,
    /// Its time expression, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_expr: Option<String>,
    /// Why the time expression could not be evaluated (the policy is then reported inactive,
    /// and a decision it takes part in fails closed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `get_active_policies`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetActivePoliciesResponse {
    /// Every policy, oldest first.
    pub statuses: Vec<ActivePolicyStatus>,
    /// When they were evaluated, ms since epoch (uint64 as a string).
    pub evaluated_at_ms: String,
}

/// `get_active_policies`: which policies are in their time window now.
pub(crate) struct GetActivePolicies;

impl Query for GetActivePolicies {
    type Request = NoFields;
    type Response = GetActivePoliciesResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, _: NoFields) -> Result<GetActivePoliciesResponse> {
        let policies = db.tx().await?.list_policies(cx.org()).await?;
        let statuses = policies
            .into_iter()
            .map(|p| {
                let window = crate::engine::in_time_window(cx.engine.programs(), &p, cx.now);
                ActivePolicyStatus {
                    organization_id: p.organization_id,
                    policy_id: p.id,
                    active: window.as_ref().is_ok_and(|active| *active),
                    time_expr: p.time,
                    error: window.err(),
                }
            })
            .collect();
        Ok(GetActivePoliciesResponse { statuses, evaluated_at_ms: cx.now.to_string() })
    }
}
