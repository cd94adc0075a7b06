//! The organization and its sub-organizations.

use serde::{Deserialize, Serialize};

use super::{Cx, Db, NoFields, Pagination, Query};
use crate::api::{FeatureView, OrganizationData, QuorumView};
use crate::error::{Error, Result};
use crate::store::SubOrgFilter;

/// `get_organization`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetOrganizationResponse {
    /// The organization.
    pub organization_data: OrganizationData,
}

/// `get_organization`.
pub(crate) struct GetOrganization;

impl Query for GetOrganization {
    type Request = NoFields;
    type Response = GetOrganizationResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, _: NoFields) -> Result<GetOrganizationResponse> {
        let tx = db.tx().await?;
        let read;
        let org = if cx.org() == cx.caller.organization.id {
            &cx.caller.organization
        } else {
            read = tx
                .get_organization(cx.org())
                .await?
                .ok_or_else(|| Error::NotFound(format!("organization `{}` not found", cx.org())))?;
            &read
        };
        let users = crate::engine::user_views(tx, &org.id).await?;
        let tags = tx.list_user_tags(&org.id).await?;
        let quorum = tx.root_quorum_members(&org.id).await?;
        let policies = tx.list_policies(&org.id).await?;
        let features = crate::activities::features::features_of(tx, &org.id).await?;
        let organization_data = OrganizationData::new(org, users, &policies, &tags, quorum, features);
        Ok(GetOrganizationResponse { organization_data })
    }
}

/// `v1Config`.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Config {
    /// The features on.
    pub features: Vec<FeatureView>,
    /// The root quorum.
    pub quorum: QuorumView,
}

/// `get_organization_configs`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetOrganizationConfigsResponse {
    /// Features and root quorum.
    pub configs: Config,
}

/// `get_organization_configs`: the organization's features and root quorum.
pub(crate) struct GetOrganizationConfigs;

impl Query for GetOrganizationConfigs {
    type Request = NoFields;
    type Response = GetOrganizationConfigsResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, _: NoFields) -> Result<GetOrganizationConfigsResponse> {
        let tx = db.tx().await?;
        let org = tx
            .get_organization(cx.org())
            .await?
            .ok_or_else(|| Error::NotFound(format!("organization `{}` not found", cx.org())))?;
        let features = crate::activities::features::features_of(tx, &org.id).await?;
        let quorum =
            QuorumView { threshold: org.root_quorum_threshold, user_ids: tx.root_quorum_members(&org.id).await? };
        Ok(GetOrganizationConfigsResponse { configs: Config { features, quorum } })
    }
}

/// `list_suborgs`'s request.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ListSuborgsRequest {
    /// `NAME`, `USERNAME`, `EMAIL`, `PHONE_NUMBER`, `CREDENTIAL_ID` or `PUBLIC_KEY` (with `filterValue`).
    #[serde(default)]
    pub filter_type: Option<String>,
    /// What the filter matches: the sub-organization's name, or one of its users' name, email,
    /// phone number, passkey credential id or API key public key.
    #[serde(default)]
    pub filter_value: Option<String>,
    /// Page.
    #[serde(default)]
    pub pagination_options: Option<Pagination>,
}

/// `list_suborgs`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ListSuborgsResponse {
    /// Sub-organization ids, oldest first.
    pub organization_ids: Vec<String>,
}

/// `filterType` and `filterValue`, both or neither.
fn sub_org_filter(kind: Option<&str>, value: Option<&str>) -> Result<Option<SubOrgFilter>> {
    let (kind, value) = match (kind, value) {
        (None, None) => return Ok(None),
        (Some(kind), Some(value)) if !value.is_empty() && value.len() <= crate::fields::MAX_FIELD => (kind, value),
        (Some(_), Some(_)) => {
            return Err(Error::invalid(format!("filterValue: 1 to {} characters required", crate::fields::MAX_FIELD)));
        }
        _ => return Err(Error::invalid("filterType and filterValue: give both or neither")),
    };
    let value = value.to_owned();
    Ok(Some(match kind {
        "NAME" => SubOrgFilter::Name(value),
        "USERNAME" => SubOrgFilter::UserName(value),
        "EMAIL" => SubOrgFilter::Email(value),
        "PHONE_NUMBER" => SubOrgFilter::PhoneNumber(value),
        "CREDENTIAL_ID" => SubOrgFilter::CredentialId(value),
        "PUBLIC_KEY" => SubOrgFilter::PublicKey(value),
        "OIDC_TOKEN" | "WALLET_ACCOUNT_ADDRESS" => {
            return Err(Error::invalid(format!(
                "filterType: `{kind}` matches nothing on this server (it holds no OAuth providers or wallets)"
            )));
        }
        other => {
            return Err(Error::invalid(format!(
                "filterType: expected NAME, USERNAME, EMAIL, PHONE_NUMBER, CREDENTIAL_ID or PUBLIC_KEY, found `{}`",
                crate::crypto::clip(other)
            )));
        }
    }))
}

/// `list_suborgs`.
pub(crate) struct ListSuborgs;

impl Query for ListSuborgs {
    type Request = ListSuborgsRequest;
    type Response = ListSuborgsResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: ListSuborgsRequest) -> Result<ListSuborgsResponse> {
        let filter = sub_org_filter(req.filter_type.as_deref(), req.filter_value.as_deref())?;
        let page = req.pagination_options.unwrap_or_default();
        let tx = db.tx().await?;
        let ids = match &filter {
            Some(filter) => tx.sub_organizations_with(cx.org(), filter).await?,
            None => tx.list_sub_organizations(cx.org()).await?,
        };
        Ok(ListSuborgsResponse { organization_ids: page_of(&ids, &page)? })
    }
}

/// The page of `ids` (oldest first) that `page` asks for.
fn page_of(ids: &[String], page: &Pagination) -> Result<Vec<String>> {
    let limit = usize::try_from(page.limit()?).unwrap_or(super::DEFAULT_LIMIT as usize);
    let position = |cursor: &str| {
        ids.iter().position(|id| id == cursor).ok_or_else(|| {
            Error::invalid(format!("paginationOptions: unknown cursor `{}`", crate::crypto::clip(cursor)))
        })
    };
    Ok(match (&page.before, &page.after) {
        (Some(_), Some(_)) => return Err(Error::invalid("paginationOptions: give `before` or `after`, not both")),
        (None, Some(after)) => ids.iter().skip(position(after)? + 1).take(limit).cloned().collect(),
        (Some(before), None) => {
            let end = position(before)?;
            ids[end.saturating_sub(limit)..end].to_vec()
        }
        (None, None) => ids.iter().take(limit).cloned().collect(),
    })
}

/// `list_verified_suborgs` (`getVerifiedSubOrgIds`): the sub-organizations with a user whose
/// email or phone number was proven by a code, optionally the one given.
pub(crate) struct ListVerifiedSuborgs;

impl Query for ListVerifiedSuborgs {
    type Request = ListSuborgsRequest;
    type Response = ListSuborgsResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: ListSuborgsRequest) -> Result<ListSuborgsResponse> {
        let filter = match sub_org_filter(req.filter_type.as_deref(), req.filter_value.as_deref())? {
            None => SubOrgFilter::AnyVerified,
            Some(SubOrgFilter::Email(v)) => SubOrgFilter::VerifiedEmail(v),
            Some(SubOrgFilter::PhoneNumber(v)) => SubOrgFilter::VerifiedPhoneNumber(v),
            Some(_) => return Err(Error::invalid("filterType: expected EMAIL or PHONE_NUMBER (verified contacts)")),
        };
        let page = req.pagination_options.unwrap_or_default();
        let ids = db.tx().await?.sub_organizations_with(cx.org(), &filter).await?;
        Ok(ListSuborgsResponse { organization_ids: page_of(&ids, &page)? })
    }
}
