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
