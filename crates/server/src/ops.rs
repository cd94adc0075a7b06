//! What operators use: liveness, readiness (database and enclave), and the state the
//! metrics endpoint needs.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::metrics::Metrics;
use crate::routes::AppState;

/// How long one readiness check may take before it counts as down.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Metrics and their protection.
#[derive(Debug, Clone, Default)]
pub struct Ops {
    /// The process's counters.
    pub metrics: Arc<Metrics>,
    /// When set, `/metrics` answers only `Authorization: Bearer <token>`.
    pub metrics_token: Option<Arc<str>>,
}

/// `GET /healthz`: the process is up and serving HTTP.
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 when the database answers and so does the enclave (in-process, or
/// behind `serve --enclave`), else 503 naming what is down. Details go to the log only.
pub(crate) async fn readyz(State(s): State<AppState>) -> Response {
    let database = check("database", s.engine.store().ping()).await;
    let enclave = match s.engine.otp_enclave() {
        None => "not configured",
        Some(enclave) => check("enclave", enclave.public_keys()).await,
    };
    let ready = database == "ok" && enclave != "unreachable";
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({ "status": if ready { "ready" } else { "not ready" }, "database": database, "enclave": enclave });
    (status, Json(body)).into_response()
}

/// `"ok"` if `probe` succeeds within [`READY_TIMEOUT`], else `"unreachable"` (the reason is logged).
async fn check<T, E: std::fmt::Display>(
    what: &'static str,
    probe: impl std::future::Future<Output = Result<T, E>>,
) -> &'static str {
    match tokio::time::timeout(READY_TIMEOUT, probe).await {
        Ok(Ok(_)) => "ok",
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: {what} unreachable");
            "unreachable"
        }
        Err(_) => {
            tracing::warn!("readiness: {what} did not answer within {READY_TIMEOUT:?}");
            "unreachable"
        }
    }
}

/// The span every request's log lines are recorded in: method, path and the request id
/// that the response's `X-Request-Id` header repeats.
pub(crate) fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %request_id)
}
