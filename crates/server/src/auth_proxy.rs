//! The auth proxy's unauthenticated endpoints: a browser signs in with an email code
//! for an organization that enabled the proxy. Each request becomes an activity the
//! engine stamps with the organization's service key and runs like any other.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use twofold_core::engine::ProxyFlow;

use crate::error::ApiError;
use crate::extract::Stamped;
use crate::routes::AppState;

/// `/auth-proxy/v1/*`.
pub fn router() -> Router<AppState> {
    Router::new().route(crate::openapi::AUTH_PROXY_KEYS, get(enclave_keys)).route("/auth-proxy/v1/{name}", post(flow))
}

async fn flow(
    State(s): State<AppState>,
    Path(name): Path<String>,
    req: Stamped,
) -> Result<Json<serde_json::Value>, ApiError> {
    let flow = ProxyFlow::from_path(&name).ok_or_else(|| ApiError::NoRoute(format!("/auth-proxy/v1/{name}")))?;
    // No stamp: the engine stamps the activity with the organization's service key.
    Ok(Json(s.engine.auth_proxy(flow, req.client_ip, &req.body).await?))
}

async fn enclave_keys(State(s): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(s.engine.auth_proxy_enclave_keys().await?))
}
