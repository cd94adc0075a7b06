//! OAuth providers bound to users, and the OIDC issuers an organization trusts.

use serde::{Deserialize, Serialize};

use super::{Cx, Db, NoFields, Query};
use crate::api::OauthProviderView;
use crate::error::Result;

/// `get_oauth_providers`'s request.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetOauthProvidersRequest {
    /// One user's; every user's of the organization when absent.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// `get_oauth_providers`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetOauthProvidersResponse {
    /// The providers, oldest first.
    pub oauth_providers: Vec<OauthProviderView>,
}

/// `get_oauth_providers`.
pub(crate) struct GetOauthProviders;

impl Query for GetOauthProviders {
    type Request = GetOauthProvidersRequest;
    type Response = GetOauthProvidersResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: GetOauthProvidersRequest) -> Result<GetOauthProvidersResponse> {
        let providers = db.tx().await?.list_oauth_providers(cx.org(), req.user_id.as_deref()).await?;
        Ok(GetOauthProvidersResponse { oauth_providers: providers.iter().map(OauthProviderView::from).collect() })
    }
}

/// One trusted issuer, as `get_oidc_issuers` shows it.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OidcIssuerView {
    /// Who trusts it: the organization, or its parent (whose issuers its users log in with too).
    pub organization_id: String,
    /// `iss`.
    pub issuer: String,
    /// Accepted `aud` values.
    pub audiences: Vec<String>,
    /// Where its keys are published.
    pub jwks_url: String,
}

/// `get_oidc_issuers`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetOidcIssuersResponse {
    /// The organization's own, then its parent's.
    pub issuers: Vec<OidcIssuerView>,
}

/// `get_oidc_issuers` (twofold).
pub(crate) struct GetOidcIssuers;

impl Query for GetOidcIssuers {
    type Request = NoFields;
    type Response = GetOidcIssuersResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, _: NoFields) -> Result<GetOidcIssuersResponse> {
        let issuers = db.tx().await?.oidc_issuers(cx.org()).await?;
        let issuers = issuers
            .into_iter()
            .map(|i| OidcIssuerView {
                organization_id: i.organization_id,
                issuer: i.issuer,
                audiences: i.audiences,
                jwks_url: i.jwks_url,
            })
            .collect();
        Ok(GetOidcIssuersResponse { issuers })
    }
}
