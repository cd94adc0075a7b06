//! OAuth providers bound to users, and the OIDC issuers an organization trusts.

use serde::{Deserialize, Serialize};

use super::{Cx, Db, NoFields, Query};
use crate::api::Timestamp;
use crate::error::Result;
use crate::model::OauthProvider;

/// `get_oauth_providers`'s request.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetOauthProvidersRequest {
    /// One user's; every user's of the organization when absent.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// `v1OauthProvider`.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OauthProviderView {
    /// Id.
    pub provider_id: String,
    /// Name.
    pub provider_name: String,
    /// The token issuer.
    pub issuer: String,
    /// The audience (client id).
    pub audience: String,
    /// The subject (the account at the issuer).
    pub subject: String,
    /// Created.
    pub created_at: Timestamp,
    /// Updated.
    pub updated_at: Timestamp,
}

impl From<&OauthProvider> for OauthProviderView {
    fn from(p: &OauthProvider) -> Self {
        OauthProviderView {
            provider_id: p.id.clone(),
            provider_name: p.name.clone(),
            issuer: p.issuer.clone(),
            audience: p.audience.clone(),
            subject: p.subject.clone(),
            created_at: Timestamp::from_ms(p.created_at),
            updated_at: Timestamp::from_ms(p.updated_at),
        }
    }
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
