//! Routes and their thin handlers.

use axum::extract::{FromRef, Path, State};
use axum::http::HeaderMap;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::options;
use axum::{Json, Router};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use twofold_core::{Engine, Request};

use crate::error::ApiError;
use crate::extract::Stamped;

/// Request limits and how client addresses are found.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: std::sync::Arc<[ipnet::IpNet]>,
    /// Longest time to read a request body.
    pub body_read_timeout: std::time::Duration,
    /// The origins of the server's own pages (which need no CORS entry).
    pub public_origins: std::sync::Arc<twofold_core::auth_proxy::PublicOrigins>,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_body_bytes: 1024 * 1024,
            trusted_proxies: std::sync::Arc::new([]),
            body_read_timeout: crate::ConnectionTimeouts::default().body,
            public_origins: std::sync::Arc::default(),
        }
    }
}

/// Everything a handler may use, passed explicitly through axum `State`.
#[derive(Clone)]
pub struct AppState {
    /// The domain engine.
    pub engine: Engine,
    /// Request limits.
    pub limits: ServerLimits,
    /// Metrics and their protection.
    pub ops: crate::ops::Ops,
}

impl FromRef<AppState> for ServerLimits {
    fn from_ref(state: &AppState) -> Self {
        state.limits.clone()
    }
}

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    let api = Router::new()
        .route("/public/v1/submit/{name}", options(api_preflight).fallback(submit))
        .route("/public/v1/query/{name}", options(api_preflight).fallback(query));
    // Every other route comes from the one table the OpenAPI document is generated from.
    crate::openapi::FIXED_ROUTES
        .iter()
        .fold(api, |r, route| r.route(route.path, (route.route)()))
        .merge(crate::console::router())
        .merge(crate::auth_proxy::router())
        .fallback(no_route)
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::metrics::track))
        .with_state(state)
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(crate::ops::request_span))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(axum::middleware::map_response(crate::headers::secure))
}

/// The CORS preflight of an API call ([`crate::cors`]).
async fn api_preflight(State(s): State<AppState>, headers: HeaderMap) -> Response {
    crate::cors::preflight(&s, &headers, crate::cors::API_HEADERS).await
}

async fn submit(State(s): State<AppState>, Path(name): Path<String>, headers: HeaderMap, req: Stamped) -> Response {
    let request = match req.as_request(&headers, &s.limits) {
        Ok(request) => request,
        Err(e) => return e.into_response(),
    };
    let answer = s.engine.submit(&name, &request).await;
    let outcome = match &answer {
        Ok(activity) => Ok((activity.activity_type.as_str(), activity.status)),
        Err(e) => Err(ApiError::status_of(e)),
    };
    s.ops.metrics.observe_activity(&name, outcome);
    let answer = answer.and_then(|activity| {
        serde_json::to_value(twofold_core::api::ActivityResponse { activity })
            .map_err(|e| twofold_core::Error::Internal(format!("serialize the activity: {e}")))
    });
    respond(&request, &headers, &s.limits, answer)
}

async fn query(State(s): State<AppState>, Path(name): Path<String>, headers: HeaderMap, req: Stamped) -> Response {
    let request = match req.as_request(&headers, &s.limits) {
        Ok(request) => request,
        Err(e) => return e.into_response(),
    };
    let answer = s.engine.query(&name, &request).await;
    respond(&request, &headers, &s.limits, answer)
}

/// The JSON answer or error, with `X-Twofold-MFA-Enrollment-Due` whenever the
/// authenticated caller still has to enroll a factor, and the page's origin when its
/// organization allows it or it is one of the server's own pages (CORS).
fn respond(
    request: &Request<'_>,
    headers: &HeaderMap,
    limits: &ServerLimits,
    answer: twofold_core::Result<serde_json::Value>,
) -> Response {
    let own_page = crate::cors::own_origin(headers, &limits.public_origins);
    let mut response = match answer {
        Ok(body) => Json(body).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    };
    crate::cors::allow(&mut response, request.cors.get().map(String::as_str).or(own_page));
    if let Some(due) = request.enrollment_due().and_then(|d| axum::http::HeaderValue::from_str(&d).ok()) {
        response.headers_mut().insert(ENROLLMENT_DUE, due);
    }
    response
}

/// The header carrying the MFA enrollment deadline.
const ENROLLMENT_DUE: axum::http::HeaderName = axum::http::HeaderName::from_static("x-twofold-mfa-enrollment-due");

impl Stamped {
    /// The request for the engine: from a browser page of another origin than the server's
    /// own when its `Origin` says so (an `Origin` that is not text is refused).
    fn as_request<'a>(&'a self, headers: &'a HeaderMap, limits: &ServerLimits) -> Result<Request<'a>, ApiError> {
        let origin = crate::cors::cross_origin(headers, &limits.public_origins)?;
        Ok(Request::new(self.stamp.clone(), self.client_ip, &self.body).from_origin(origin))
    }
}

/// The passkey page, embedded in the binary (no files at run time); its one inline module
/// script is allowed by its hash, nothing else inline is.
pub(crate) async fn passkey_page() -> impl IntoResponse {
    static CSP: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| crate::headers::csp_allowing_inline(PASSKEY_PAGE));
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
            (axum::http::header::CONTENT_SECURITY_POLICY, CSP.clone()),
        ],
        PASSKEY_PAGE,
    )
}

const PASSKEY_PAGE: &str = include_str!("../../../web/passkey.html");

/// The passkey page's script.
pub(crate) async fn webauthn_js() -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../../../web/webauthn.js"))
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    if method != Method::POST && uri.path().starts_with("/public/") {
        return ApiError::MethodNotAllowed(method.to_string());
    }
    ApiError::NoRoute(uri.path().chars().take(200).collect())
}
