//! The web console: static pages and scripts embedded in the binary, served with strict
//! security headers. The pages talk to the API like any client, with stamped requests;
//! nothing here reads a cookie or touches the engine.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Console paths answered with the one page; its script picks what to show from the path.
pub const PAGES: &[&str] = &[
    "/",
    "/signin",
    "/mfa/setup",
    "/security-clearance/setup-2fa",
    "/admin/security",
    "/admin/security/mfa-policy",
    "/activities",
    "/policies",
    "/mfa-policies",
    "/audit",
];

use crate::headers::CSP;

const INDEX: &str = include_str!("../../../web/console/index.html");

/// Embedded assets under `/console/`: (name, content type, text).
const ASSETS: &[(&str, &str, &str)] = &[
    ("console.css", "text/css; charset=utf-8", include_str!("../../../web/console/console.css")),
    ("favicon.svg", "image/svg+xml", include_str!("../../../web/console/favicon.svg")),
    ("js/api.js", JS, include_str!("../../../web/console/js/api.js")),
    ("js/ui.js", JS, include_str!("../../../web/console/js/ui.js")),
    ("js/app.js", JS, include_str!("../../../web/console/js/app.js")),
    ("js/stepup.js", JS, include_str!("../../../web/console/js/stepup.js")),
    ("js/enforcement.js", JS, include_str!("../../../web/console/js/enforcement.js")),
    ("js/otp.js", JS, include_str!("../../../web/console/js/otp.js")),
    ("js/hpke.js", JS, include_str!("../../../web/console/js/hpke.js")),
    ("js/iplist.js", JS, include_str!("../../../web/console/js/iplist.js")),
    ("js/pages/signin.js", JS, include_str!("../../../web/console/js/pages/signin.js")),
    ("js/pages/setup.js", JS, include_str!("../../../web/console/js/pages/setup.js")),
    ("js/pages/security.js", JS, include_str!("../../../web/console/js/pages/security.js")),
    ("js/pages/mfa-enforcement.js", JS, include_str!("../../../web/console/js/pages/mfa-enforcement.js")),
    ("js/pages/activities.js", JS, include_str!("../../../web/console/js/pages/activities.js")),
    ("js/pages/policies.js", JS, include_str!("../../../web/console/js/pages/policies.js")),
    ("js/pages/audit.js", JS, include_str!("../../../web/console/js/pages/audit.js")),
];

const JS: &str = "text/javascript; charset=utf-8";

/// The console's routes, to merge into the API router.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    PAGES.iter().fold(Router::new(), |r, page| r.route(page, get(index))).route("/console/{*path}", get(asset))
}

/// Every embedded asset's path, as the router serves it.
pub(crate) fn asset_paths() -> Vec<String> {
    ASSETS.iter().map(|(name, _, _)| format!("/console/{name}")).collect()
}

/// Every embedded asset's media type (without parameters), in the order of [`asset_paths`].
pub(crate) fn asset_types() -> Vec<&'static str> {
    ASSETS.iter().map(|(_, t, _)| t.split(';').next().unwrap_or(t)).collect()
}

/// `/docs`: a page that renders `/openapi.json` (no CDN, no inline script).
pub(crate) async fn docs_page() -> Response {
    with_headers(StatusCode::OK, "text/html; charset=utf-8", "no-cache", include_str!("../../../web/docs/index.html"))
}

/// `/docs/docs.js`: the documentation page's script.
pub(crate) async fn docs_js() -> Response {
    with_headers(StatusCode::OK, JS, "no-cache", include_str!("../../../web/docs/docs.js"))
}

async fn index() -> Response {
    with_headers(StatusCode::OK, "text/html; charset=utf-8", "no-store", INDEX)
}

async fn asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == path) {
        Some((_, content_type, text)) => with_headers(StatusCode::OK, content_type, "no-cache", text),
        None => with_headers(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "no-store", "not found"),
    }
}

fn with_headers(status: StatusCode, content_type: &'static str, cache: &'static str, body: &'static str) -> Response {
    let mut resp = (status, body).into_response();
    let headers = resp.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CACHE_CONTROL, cache),
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
        (header::HeaderName::from_static("permissions-policy"), "camera=(), microphone=(), geolocation=()"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_the_page_imports_is_embedded() {
        for (name, _, text) in ASSETS {
            for line in text.lines().filter(|l| l.trim_start().starts_with("import ")) {
                let Some(target) = line.split('"').nth(1) else { continue };
                let Some(rest) = target.strip_prefix("/console/") else {
                    assert_eq!(target, "/assets/webauthn.js", "{name} imports {target}");
                    continue;
                };
                assert!(ASSETS.iter().any(|(n, _, _)| *n == rest), "{name} imports {target}, which is not embedded");
            }
        }
    }
}
