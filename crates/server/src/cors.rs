//! CORS: browser pages of other origins than the server's own call the public API and the
//! auth proxy, as Turnkey's browser SDK does. No cookie is read or set anywhere (requests
//! carry their own stamps), so no answer ever allows credentials.
//!
//! A preflight names no organization: it is answered for the server's own pages and for an
//! origin that at least one organization lists in `allowedOrigins` (one indexed read), and
//! tells any other origin nothing. The request itself names its organization: the engine refuses it before
//! anything happens unless that organization (or its parent) lists the origin, and the
//! answer, success or error, names the origin only then.

use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE,
    ORIGIN, VARY,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use twofold_core::auth_proxy::PublicOrigins;

use crate::error::ApiError;
use crate::routes::AppState;

/// What Turnkey's SDKs send to `/public/v1/*` (@turnkey/http, @turnkey/core): a JSON body,
/// one of the three stamps, and the SDK's version.
pub(crate) const API_HEADERS: &str = "content-type, x-client-version, x-stamp, x-stamp-webauthn, x-stamp-attested";

/// What @turnkey/core sends to the auth proxy: a JSON body, the proxy's config id and an
/// optional captcha token (and, from some versions, its own version).
pub(crate) const PROXY_HEADERS: &str = "content-type, x-auth-proxy-config-id, x-captcha-token, x-client-version";

/// The request's `Origin` when it is a page of another origin than the server's own (its
/// configured public origins, compared in full: scheme, host and port; `Host` plays no
/// part, the client chooses it); `None` for the server's own pages and for clients that
/// send no `Origin` (not browsers). An `Origin` that is not text is refused: it is not
/// taken for "no Origin".
pub(crate) fn cross_origin<'h>(headers: &'h HeaderMap, own: &PublicOrigins) -> Result<Option<&'h str>, ApiError> {
    let Some(value) = headers.get(ORIGIN) else { return Ok(None) };
    let origin = value.to_str().map_err(|_| {
        ApiError::from(twofold_core::Error::PermissionDenied(
            "the Origin header is not an origin (it holds bytes outside visible ASCII); the request is refused"
                .to_owned(),
        ))
    })?;
    Ok(if own.contains(origin) { None } else { Some(origin) })
}

/// The request's `Origin` when it is one of the server's own pages: they may call from
/// another port or host of the server's configured public origins (the console on another
/// port in development, the passkey page's origin behind a proxy), so they are answered
/// under CORS without an `allowedOrigins` entry.
pub(crate) fn own_origin<'h>(headers: &'h HeaderMap, own: &PublicOrigins) -> Option<&'h str> {
    headers.get(ORIGIN).and_then(|v| v.to_str().ok()).filter(|o| own.contains(o))
}

/// Names `origin` (one the organization allowed) in the answer; every answer varies by `Origin`.
pub(crate) fn allow(response: &mut Response, origin: Option<&str>) {
    let headers = response.headers_mut();
    headers.insert(VARY, HeaderValue::from_static("origin"));
    if let Some(value) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
}

/// The preflight of a POST with `allowed_headers`: 204, with the CORS headers only for an
/// origin some organization lists.
pub(crate) async fn preflight(s: &AppState, headers: &HeaderMap, allowed_headers: &'static str) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let origin = match (own_origin(headers, &s.limits.public_origins), cross_origin(headers, &s.limits.public_origins))
    {
        (Some(own), _) => own,
        // A store error tells the page nothing either: the browser then refuses the request.
        (None, Ok(Some(origin))) if s.engine.origin_allowed(origin, None).await.unwrap_or(false) => origin,
        _ => {
            allow(&mut response, None);
            return response;
        }
    };
    allow(&mut response, Some(origin));
    let out = response.headers_mut();
    out.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST"));
    out.insert(ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(allowed_headers));
    out.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    response
}
