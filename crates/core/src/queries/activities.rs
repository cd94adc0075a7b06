//! Activities: one, a page of them, the decisions taken on one, and the dry run.

use serde::{Deserialize, Serialize};

use super::{ActivityRequest, Cx, Db, Pagination, Query, activity_in};
use crate::api::{ActivityView, DryRunView, PolicyEvaluationView};
use crate::engine::DryRunAsk;
use crate::error::{Error, Result};
use crate::model::{ActivityFilter, ActivityStatus};

/// `get_activity`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetActivityResponse {
    /// The activity, as the caller sees it.
    pub activity: ActivityView,
}

/// `get_activity`.
pub(crate) struct GetActivity;

impl Query for GetActivity {
    type Request = ActivityRequest;
    type Response = GetActivityResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: ActivityRequest) -> Result<GetActivityResponse> {
        let tx = db.tx().await?;
        let activity = activity_in(tx, cx.org(), &req.activity_id).await?;
        Ok(GetActivityResponse { activity: crate::engine::activity_view(tx, &activity, &cx.caller.user.id).await? })
    }
}

/// `list_activities`'s request.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ListActivitiesRequest {
    /// Only these statuses (`ACTIVITY_STATUS_...`).
    #[serde(default)]
    pub filter_by_status: Vec<String>,
    /// Only these types (`ACTIVITY_TYPE_...`).
    #[serde(default)]
    pub filter_by_type: Vec<String>,
    /// Page.
    #[serde(default)]
    pub pagination_options: Option<Pagination>,
}

/// `list_activities`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListActivitiesResponse {
    /// Newest first.
    pub activities: Vec<ActivityView>,
}

/// `list_activities`.
pub(crate) struct ListActivities;

impl Query for ListActivities {
    type Request = ListActivitiesRequest;
    type Response = ListActivitiesResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: ListActivitiesRequest) -> Result<ListActivitiesResponse> {
        let page = req.pagination_options.unwrap_or_default();
        if page.before.is_some() && page.after.is_some() {
            return Err(Error::invalid("paginationOptions: give `before` or `after`, not both"));
        }
        let statuses = req
            .filter_by_status
            .iter()
            .map(|s| {
                ActivityStatus::parse(s).ok_or_else(|| {
                    Error::invalid(format!("filterByStatus: unknown activity status `{}`", crate::crypto::clip(s)))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        for t in &req.filter_by_type {
            if !t.starts_with("ACTIVITY_TYPE_") || t.len() > 128 {
                return Err(Error::invalid(format!(
                    "filterByType: `{}` is not an activity type",
                    crate::crypto::clip(t)
                )));
            }
        }
        let filter = ActivityFilter {
            statuses,
            types: req.filter_by_type,
            limit: page.limit()?,
            before: page.before,
            after: page.after,
        };
        let tx = db.tx().await?;
        let activities = tx.list_activities(cx.org(), &filter).await?.ok_or_else(|| {
            Error::invalid("paginationOptions: unknown cursor; pass an activity id from a previous page")
        })?;
        let mut views = Vec::with_capacity(activities.len());
        for a in &activities {
            views.push(crate::engine::activity_view(tx, a, &cx.caller.user.id).await?);
        }
        Ok(ListActivitiesResponse { activities: views })
    }
}

/// `get_policy_evaluations`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetPolicyEvaluationsResponse {
    /// One record per decision taken on the activity.
    pub policy_evaluations: Vec<PolicyEvaluationView>,
}

/// `get_policy_evaluations`.
pub(crate) struct GetPolicyEvaluations;

impl Query for GetPolicyEvaluations {
    type Request = ActivityRequest;
    type Response = GetPolicyEvaluationsResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: ActivityRequest) -> Result<GetPolicyEvaluationsResponse> {
        let tx = db.tx().await?;
        let activity = activity_in(tx, cx.org(), &req.activity_id).await?;
        let records = tx.list_policy_evaluations(&activity.id).await?;
        Ok(GetPolicyEvaluationsResponse {
            policy_evaluations: records.iter().map(PolicyEvaluationView::from).collect(),
        })
    }
}

/// The unsigned activity of a dry run: just what decides it.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnsignedActivity {
    /// `ACTIVITY_TYPE_...`.
    #[serde(rename = "type")]
    pub activity_type: String,
    /// The intent, as a submit would carry it.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub parameters: Box<serde_json::value::RawValue>,
}

/// `evaluate_activity`'s request.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EvaluateActivityRequest {
    /// Who would submit it (with its first API key); the caller, with this request's
    /// credential, when absent.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The address it would come from, for the IP rules; this request's when absent.
    #[serde(default)]
    pub client_ip: Option<String>,
    /// The activity.
    pub activity: UnsignedActivity,
}

/// `evaluate_activity`.
pub(crate) struct EvaluateActivity;

impl Query for EvaluateActivity {
    type Request = EvaluateActivityRequest;
    type Response = DryRunView;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: EvaluateActivityRequest) -> Result<DryRunView> {
        let client_ip = req
            .client_ip
            .as_deref()
            .map(|ip| {
                ip.parse().map_err(|_| {
                    Error::invalid(format!("clientIp: `{}` is not an IP address", crate::crypto::clip(ip)))
                })
            })
            .transpose()?;
        let ask = DryRunAsk {
            user_id: req.user_id.as_deref(),
            activity_type: &req.activity.activity_type,
            parameters: &req.activity.parameters,
            client_ip,
        };
        cx.engine.dry_run(db.tx().await?, cx.caller, cx.request, ask, cx.now).await
    }
}
