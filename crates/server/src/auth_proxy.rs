//! The auth proxy's unauthenticated endpoints: a browser signs in with an email code
//! for an organization that enabled the proxy. Each request becomes an activity the
//! engine stamps with the organization's service key and runs like any other.
//!
//! Pages of other origins call it under CORS ([`crate::cors`]): the request is refused
//! before anything happens unless the organization lists the page's origin in
//! `allowedOrigins`; only then does the answer name the origin.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use twofold_core::engine::ProxyFlow;

use crate::cors::cross_origin;
use crate::error::ApiError;
use crate::extract::Stamped;
use crate::routes::AppState;

/// `/auth-proxy/v1/*`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(crate::openapi::AUTH_PROXY_KEYS, get(enclave_keys))
        .route("/auth-proxy/v1/{name}", post(flow).options(preflight))
}

async fn flow(State(s): State<AppState>, Path(name): Path<String>, headers: HeaderMap, req: Stamped) -> Response {
    let Some(flow) = ProxyFlow::from_path(&name) else {
        return ApiError::NoRoute(format!("/auth-proxy/v1/{name}")).into_response();
    };
    let origin = match cross_origin(&headers, &s.limits.public_origins) {
        Ok(origin) => origin,
        Err(e) => return e.into_response(),
    };
    // No stamp: the engine stamps the activity with the organization's service key.
    let config_id = headers.get("x-auth-proxy-config-id").and_then(|v| v.to_str().ok());
    let answer = s.engine.auth_proxy(flow, req.client_ip, origin, config_id, &req.body).await;
    let mut response = match answer.result {
        Ok(value) => Json(value).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    };
    let own = crate::cors::own_origin(&headers, &s.limits.public_origins);
    crate::cors::allow(&mut response, answer.allow_origin.as_deref().or(own));
    response
}

/// The CORS preflight of a proxy request.
async fn preflight(State(s): State<AppState>, headers: HeaderMap) -> Response {
    crate::cors::preflight(&s, &headers, crate::cors::PROXY_HEADERS).await
}

/// `?organizationId=`: whose `allowedOrigins` let a page of another origin read the keys.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeysQuery {
    organization_id: Option<String>,
}

/// `GET /auth-proxy/v1/enclave_keys`: the enclave's public keys, which a sign-in page pins.
/// A page of another origin may read them when the organization it names
/// (`?organizationId=`) lists its origin in `allowedOrigins`.
async fn enclave_keys(State(s): State<AppState>, headers: HeaderMap, Query(query): Query<KeysQuery>) -> Response {
    let mut response = match s.engine.auth_proxy_enclave_keys().await {
        Ok(keys) => Json(keys).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    };
    let origin = cross_origin(&headers, &s.limits.public_origins).ok().flatten();
    let allowed = match (origin, query.organization_id) {
        (Some(origin), Some(org)) => s.engine.origin_allowed(origin, Some(&org)).await.unwrap_or(false),
        _ => false,
    };
    let own = crate::cors::own_origin(&headers, &s.limits.public_origins);
    crate::cors::allow(&mut response, origin.filter(|_| allowed).or(own));
    response
}
