//! IP allow and deny lists.

use serde::{Deserialize, Serialize};

use super::{Cx, Db, Query};
use crate::error::{Error, Result};
use crate::network::{IpRule, ListKind};

/// One network of a list, as the API shows it.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IpRuleView {
    /// Network in CIDR form.
    pub cidr: String,
    /// Free text, e.g. `office VPN`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// When the rule was saved: ms since epoch, as a string (Turnkey's `v1IpAllowlistRule`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

impl From<&IpRule> for IpRuleView {
    fn from(r: &IpRule) -> Self {
        IpRuleView {
            cidr: r.cidr.clone(),
            label: r.label.clone(),
            created_at: r.created_at.as_deref().filter(|ms| ms.parse::<i64>().is_ok()).map(str::to_owned),
        }
    }
}

/// An IP list query's request.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IpListRequest {
    /// An API key's own allow list; the organization's when absent.
    #[serde(default)]
    pub public_key: Option<String>,
}

/// An IP list; an absent list reads as empty and disabled.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IpListView {
    /// The organization.
    pub organization_id: String,
    /// The networks.
    pub rules: Vec<IpRuleView>,
    /// A disabled list is ignored.
    pub enabled: bool,
    /// What happens when the client address is unknown: `ALLOW` or `DENY`.
    pub on_evaluation_error: String,
    /// The API key the list is for, if it is a key's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

async fn ip_list(cx: &Cx<'_>, db: &mut Db, req: IpListRequest, kind: ListKind) -> Result<IpListView> {
    let pk = req.public_key.as_deref().map(str::to_ascii_lowercase);
    if kind == ListKind::Deny && pk.is_some() {
        return Err(Error::invalid("publicKey: deny lists are organization-wide; omit `publicKey`"));
    }
    let sets = db.tx().await?.ip_rule_sets(cx.org(), pk.as_deref()).await?;
    let set = sets.iter().find(|s| s.kind == kind && s.public_key == pk);
    Ok(IpListView {
        organization_id: cx.org().to_owned(),
        rules: set.map(|s| s.rules.iter().map(IpRuleView::from).collect()).unwrap_or_default(),
        enabled: set.is_some_and(|s| s.enabled),
        on_evaluation_error: set.map_or("DENY", |s| s.on_error.as_str()).to_owned(),
        public_key: pk,
    })
}

/// `get_ip_allowlist`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetIpAllowlistResponse {
    /// The list.
    pub allowlist: IpListView,
}

/// `get_ip_allowlist`.
pub(crate) struct GetIpAllowlist;

impl Query for GetIpAllowlist {
    type Request = IpListRequest;
    type Response = GetIpAllowlistResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: IpListRequest) -> Result<GetIpAllowlistResponse> {
        Ok(GetIpAllowlistResponse { allowlist: ip_list(cx, db, req, ListKind::Allow).await? })
    }
}

/// `get_ip_denylist`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetIpDenylistResponse {
    /// The list.
    pub denylist: IpListView,
}

/// `get_ip_denylist`.
pub(crate) struct GetIpDenylist;

impl Query for GetIpDenylist {
    type Request = IpListRequest;
    type Response = GetIpDenylistResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: IpListRequest) -> Result<GetIpDenylistResponse> {
        Ok(GetIpDenylistResponse { denylist: ip_list(cx, db, req, ListKind::Deny).await? })
    }
}
