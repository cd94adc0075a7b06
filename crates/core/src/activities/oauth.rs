//! OAuth (OpenID Connect) login: SET_OIDC_ISSUERS (twofold: the issuers an organization
//! trusts), CREATE_OAUTH_PROVIDERS and DELETE_OAUTH_PROVIDERS (a factor bound to or removed
//! from a user, under the binding rules of every factor), and OAUTH_LOGIN (a session for the
//! user an ID token names, the token bound to the session key by its nonce and spent once).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::factors::{StampLogin, create_session};
use super::users::human_user;
use super::{Activity, Credentials, Done, ExecContext, Intent, results};
use crate::crypto;
use crate::error::{Error, Result};
use crate::fields::{Secret, opt_u64_string, params};
pub use crate::intents::OauthProviderParams;
use crate::model::{OauthProvider, OidcIssuer, User, new_id};
use crate::oidc::{self, VerifiedToken};
use crate::store::StoreTx;
use crate::validate::check_providers;
use crate::validate::{check_count, check_ids, check_name};

/// Most issuers one organization trusts, and most audiences per issuer.
const MAX_ISSUERS: usize = 20;

/// One trusted issuer (`set_oidc_issuers`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OidcIssuerParams {
    /// The `iss` its tokens carry (`https://accounts.google.com`).
    pub issuer: String,
    /// The `aud` values (the app's client ids) accepted.
    pub audiences: Vec<String>,
    /// Where its signing keys are published (https; http only on loopback).
    pub jwks_url: String,
}

/// twofold's `ACTIVITY_TYPE_SET_OIDC_ISSUERS`: the issuers whose ID tokens log this
/// organization's users (and its direct sub-organizations' users) in; replaces the list.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetOidcIssuers {
    /// The issuers; empty trusts none.
    pub issuers: Vec<OidcIssuerParams>,
}

/// `v1CreateOauthProvidersIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateOauthProviders {
    /// The user.
    pub user_id: String,
    /// The providers (each token is sealed when stored).
    pub oauth_providers: Vec<OauthProviderParams>,
}

/// `v1DeleteOauthProvidersIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteOauthProviders {
    /// The user.
    pub user_id: String,
    /// The providers to unbind.
    pub provider_ids: Vec<String>,
}

/// `v1OauthLoginIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OauthLogin {
    /// The ID token; its `nonce` must be `sha256(publicKey)` (hex).
    pub oidc_token: Secret,
    /// The session's public key (compressed P-256 hex), held by the client.
    pub public_key: String,
    /// Lifetime in seconds (default 900).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[serde(
        default,
        deserialize_with = "opt_u64_string",
        serialize_with = "crate::fields::ser_opt_u64_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration_seconds: Option<u64>,
    /// Delete the user's other sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalidate_existing: Option<bool>,
    /// A session profile to bind the session to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_profile_id: Option<String>,
}

results! {
    /// twofold's `setOidcIssuersResult`: the issuers now trusted.
    SetOidcIssuersResult { issuers: Vec<String> }
    /// `v1CreateOauthProvidersResult`.
    CreateOauthProvidersResult { provider_ids: Vec<String> }
    /// `v1DeleteOauthProvidersResult`.
    DeleteOauthProvidersResult { provider_ids: Vec<String> }
    /// `v1OauthLoginResult`: the session token (whose it is, it says itself).
    OauthLoginResult { session: String }
}

/// The ID tokens an intent carries: their issuers' keys are fetched before its transaction.
pub(crate) fn oidc_tokens(intent: &Intent) -> Vec<&str> {
    match intent {
        Intent::OauthLogin(p) => vec![p.oidc_token.expose()],
        Intent::CreateOauthProviders(p) => p.oauth_providers.iter().map(|o| o.oidc_token.expose()).collect(),
        Intent::CreateUsers(p) => {
            p.users.iter().flat_map(|u| u.oauth_providers.iter()).map(|o| o.oidc_token.expose()).collect()
        }
        Intent::CreateSubOrganization(p) => {
            p.root_users.iter().flat_map(|u| u.oauth_providers.iter()).map(|o| o.oidc_token.expose()).collect()
        }
        _ => Vec::new(),
    }
}

/// Checks `token` with `org_id`'s trusted issuers, and `bound` on what it says (the login's
/// nonce), before it is spent: a token is accepted once, and one refused is not used up.
async fn spend_verified(
    tx: &mut dyn StoreTx,
    ctx: &ExecContext<'_>,
    org_id: &str,
    token: &str,
    bound: impl FnOnce(&VerifiedToken) -> Result<()>,
) -> Result<VerifiedToken> {
    let trusted = tx.oidc_issuers(org_id).await?;
    let verified = oidc::verify(token, &trusted, ctx.oidc, ctx.now)?;
    bound(&verified)?;
    if !tx.spend_oidc_token(&verified.hash, verified.expires_at + oidc::LEEWAY_MS, ctx.now).await? {
        return Err(Error::Unauthenticated("the OIDC token was used before; get a new one".to_owned()));
    }
    Ok(verified)
}

/// Binds to `user` the OAuth accounts `providers`' tokens prove, checked with the issuers
/// the acting organization trusts (its own and its parent's: a new sub-organization's root
/// user is checked with its creator's); returns the providers' ids.
pub(crate) async fn bind_providers(
    tx: &mut dyn StoreTx,
    ctx: &ExecContext<'_>,
    user: &User,
    providers: &[OauthProviderParams],
) -> Result<Vec<String>> {
    let mut ids = Vec::with_capacity(providers.len());
    for p in providers {
        let token = spend_verified(tx, ctx, ctx.org_id, p.oidc_token.expose(), |_| Ok(())).await?;
        let provider = OauthProvider {
            id: new_id(),
            organization_id: user.organization_id.clone(),
            user_id: user.id.clone(),
            name: check_name("providerName", &p.provider_name)?,
            issuer: token.issuer,
            audience: token.audience,
            subject: token.subject,
            created_at: ctx.now,
            updated_at: ctx.now,
        };
        tx.insert_oauth_provider(&provider).await?;
        ids.push(provider.id);
    }
    Ok(ids)
}

fn check_jwks_url(url: &str) -> Result<()> {
    if url.len() > crate::webhook::MAX_URL {
        return Err(Error::invalid(format!("jwksUrl: longer than {} characters", crate::webhook::MAX_URL)));
    }
    let parsed = url::Url::parse(url).map_err(|e| Error::invalid(format!("jwksUrl: {e}")))?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback) {
        return Ok(());
    }
    Err(Error::invalid(format!("jwksUrl: must be https (http only on loopback), found `{}`", crypto::clip(url))))
}

/// SET_OIDC_ISSUERS: root quorum only, as login trust is (Turnkey's organization features are).
impl Activity for SetOidcIssuers {
    type Output = SetOidcIssuersResult;

    fn check(&self) -> Result<()> {
        check_count("issuers", self.issuers.len(), 0)?;
        if self.issuers.len() > MAX_ISSUERS {
            return Err(Error::invalid(format!("issuers: at most {MAX_ISSUERS}")));
        }
        for (i, p) in self.issuers.iter().enumerate() {
            let at = |what: &str| format!("issuers[{i}].{what}");
            if p.issuer.trim().is_empty() || p.issuer.len() > crate::fields::MAX_FIELD {
                return Err(Error::invalid(format!("{}: 1 to {} characters", at("issuer"), crate::fields::MAX_FIELD)));
            }
            if p.audiences.is_empty() || p.audiences.len() > MAX_ISSUERS {
                return Err(Error::invalid(format!("{}: 1 to {MAX_ISSUERS} client ids", at("audiences"))));
            }
            if p.audiences.iter().any(|a| a.is_empty() || a.len() > crate::fields::MAX_FIELD) {
                return Err(Error::invalid(format!(
                    "{}: each 1 to {} characters",
                    at("audiences"),
                    crate::fields::MAX_FIELD
                )));
            }
            check_jwks_url(&p.jwks_url).map_err(|e| Error::invalid(format!("issuers[{i}].{e}")))?;
            if self.issuers[..i].iter().any(|o| o.issuer == p.issuer) {
                return Err(Error::invalid(format!("{}: `{}` is listed twice", at("issuer"), crypto::clip(&p.issuer))));
            }
        }
        Ok(())
    }

    fn policy_params(&self) -> Value {
        params!(self; issuers = self.issuers.iter().map(|i| i.issuer.as_str()).collect::<Vec<_>>())
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<SetOidcIssuersResult>> {
        let issuers: Vec<OidcIssuer> = self
            .issuers
            .iter()
            .map(|p| OidcIssuer {
                organization_id: ctx.org_id.to_owned(),
                issuer: p.issuer.clone(),
                audiences: p.audiences.clone(),
                jwks_url: p.jwks_url.clone(),
                created_at: ctx.now,
            })
            .collect();
        tx.set_oidc_issuers(ctx.org_id, &issuers).await?;
        Ok(SetOidcIssuersResult { issuers: issuers.into_iter().map(|i| i.issuer).collect() }.into())
    }
}

/// CREATE_OAUTH_PROVIDERS: binds the OAuth accounts the tokens prove (a factor: proven at the
/// account's level like any other binding); an account is bound to one user anywhere.
impl Activity for CreateOauthProviders {
    type Output = CreateOauthProvidersResult;

    fn check(&self) -> Result<()> {
        check_count("oauthProviders", self.oauth_providers.len(), 1)?;
        check_providers(&self.oauth_providers)
    }

    fn policy_params(&self) -> Value {
        params!(self; user_id)
    }

    fn credentials(&self) -> Option<Credentials<'_>> {
        Credentials::binding(&self.user_id)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<CreateOauthProvidersResult>> {
        let user = human_user(tx, ctx.org_id, &self.user_id).await?;
        let provider_ids = bind_providers(tx, ctx, &user, &self.oauth_providers).await?;
        Ok(CreateOauthProvidersResult { provider_ids }.into())
    }
}

/// DELETE_OAUTH_PROVIDERS: all or none.
impl Activity for DeleteOauthProviders {
    type Output = DeleteOauthProvidersResult;

    fn check(&self) -> Result<()> {
        check_ids("providerIds", &self.provider_ids)
    }

    fn policy_params(&self) -> Value {
        params!(self; user_id, provider_ids)
    }

    fn credentials(&self) -> Option<Credentials<'_>> {
        Credentials::binding(&self.user_id)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<DeleteOauthProvidersResult>> {
        for id in &self.provider_ids {
            if !tx.delete_oauth_provider(ctx.org_id, &self.user_id, id).await? {
                return Err(Error::NotFound(format!(
                    "user `{}` has no OAuth provider `{}`",
                    crypto::clip(&self.user_id),
                    crypto::clip(id)
                )));
            }
        }
        Ok(DeleteOauthProvidersResult { provider_ids: self.provider_ids.clone() }.into())
    }
}

/// OAUTH_LOGIN: a session for the user (of this organization, or of a direct
/// sub-organization) bound to the token's issuer, audience and subject, through the
/// stamp-login path.
impl Activity for OauthLogin {
    type Output = OauthLoginResult;

    fn check(&self) -> Result<()> {
        crypto::parse_public_key(crate::model::ApiKeyCurve::P256, &self.public_key)
            .map(drop)
            .map_err(|e| Error::invalid(format!("parameters.publicKey: {e}")))?;
        oidc::hint(self.oidc_token.expose()).map(drop)
    }

    fn policy_params(&self) -> Value {
        params!(self; public_key, expiration_seconds, session_profile_id)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<OauthLoginResult>> {
        let expected = [oidc::nonce_for(&self.public_key), oidc::nonce_for(&self.public_key.to_ascii_lowercase())];
        let for_this_key = |token: &VerifiedToken| match token.nonce.as_deref() {
            Some(n) if expected.iter().any(|e| e.eq_ignore_ascii_case(n)) => Ok(()),
            _ => Err(Error::Unauthenticated(
                "the OIDC token's nonce is not sha256(publicKey): it was not issued for this session key".to_owned(),
            )),
        };
        let token = spend_verified(tx, ctx, ctx.org_id, self.oidc_token.expose(), for_this_key).await?;
        let provider = tx
            .oauth_provider_for(ctx.org_id, &token.issuer, &token.subject, &token.audience)
            .await?
            .ok_or_else(|| Error::NotFound("no user of this organization has this OAuth account".to_owned()))?;
        let request = StampLogin {
            public_key: self.public_key.clone(),
            expiration_seconds: self.expiration_seconds,
            invalidate_existing: self.invalidate_existing,
            session_profile_id: self.session_profile_id.clone(),
        };
        let session = create_session(tx, ctx, &provider.organization_id, &provider.user_id, &request).await?;
        Ok(OauthLoginResult { session: session.session }.into())
    }
}
