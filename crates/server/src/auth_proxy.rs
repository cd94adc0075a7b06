//! The auth proxy's unauthenticated endpoints: a browser signs in with an email code
//! for an organization that enabled the proxy. Each request becomes an activity the
//! engine stamps with the organization's service key and runs like any other.
//!
//! Pages of other origins call it under CORS: a preflight is answered for any origin
//! (it only lets the browser send the request), and the request itself is refused before
//! anything happens unless the organization lists the page's origin in `allowedOrigins`;
//! only then does the answer name the origin in `Access-Control-Allow-Origin`.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE,
    ORIGIN, VARY,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use twofold_core::engine::ProxyFlow;

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
    let answer = s.engine.auth_proxy(flow, req.client_ip, origin, &req.body).await;
    let mut response = match answer.result {
        Ok(value) => Json(value).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(VARY, HeaderValue::from_static("origin"));
    if let Some(value) = answer.allow_origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    response
}

/// The CORS preflight: the browser may send a JSON POST; whether the page's origin may
/// use the proxy is decided on the request itself, which names the organization.
async fn preflight(headers: HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let out = response.headers_mut();
    out.insert(VARY, HeaderValue::from_static("origin"));
    if let Some(origin) = headers.get(ORIGIN).filter(|o| o.as_bytes() != b"null") {
        out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        out.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST"));
        out.insert(ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("content-type"));
        out.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
    response
}

/// The request's `Origin` when it is a page of another origin than the server's own (its
/// configured public origins, compared in full: scheme, host and port; `Host` plays no
/// part, the client chooses it); `None` for the server's own pages and for clients that
/// send no `Origin` (not browsers). An `Origin` that is not text is refused: it is not
/// taken for "no Origin".
fn cross_origin<'h>(
    headers: &'h HeaderMap,
    own: &twofold_core::auth_proxy::PublicOrigins,
) -> Result<Option<&'h str>, ApiError> {
    let Some(value) = headers.get(ORIGIN) else { return Ok(None) };
    let origin = value.to_str().map_err(|_| {
        ApiError::from(twofold_core::Error::PermissionDenied(
            "the Origin header is not an origin (it holds bytes outside visible ASCII); the request is refused"
                .to_owned(),
        ))
    })?;
    Ok(if own.contains(origin) { None } else { Some(origin) })
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
    response.headers_mut().insert(VARY, HeaderValue::from_static("origin"));
    let Ok(Some(origin)) = cross_origin(&headers, &s.limits.public_origins) else { return response };
    let Some(org) = query.organization_id else { return response };
    if s.engine.auth_proxy_allows_origin(&org, origin).await.unwrap_or(false)
        && let Ok(value) = HeaderValue::from_str(origin)
    {
        response.headers_mut().insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    response
}
