//! Security headers on every answer, set in one place so no handler can forget them:
//! `X-Content-Type-Options: nosniff` everywhere; `Cache-Control: no-store` on every JSON
//! answer (they carry recovery codes, TOTP seeds, webhook secrets, and errors about them);
//! a Content-Security-Policy, `frame-ancestors 'none'` and `X-Frame-Options: DENY` on every
//! HTML page and script that does not bring a stricter policy of its own.

use axum::http::{HeaderValue, header};
use axum::response::Response;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// No inline script or style, nothing from elsewhere, never framed; QR codes arrive as data: PNGs.
pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                              connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; \
                              frame-ancestors 'none'";

/// Adds the headers every answer of its media type must carry.
pub(crate) async fn secure(mut response: Response) -> Response {
    let media = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_ascii_lowercase())
        .unwrap_or_default();
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if media == "application/json" || media.ends_with("+json") {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if matches!(media.as_str(), "text/html" | "text/javascript" | "application/javascript") {
        if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
            headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
        }
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("no-referrer"));
    }
    response
}

/// [`CSP`] that also allows the inline scripts of `html` by their SHA-256 hashes (and no other).
pub(crate) fn csp_allowing_inline(html: &str) -> String {
    let hashes: Vec<String> = inline_scripts(html)
        .map(|script| format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script))))
        .collect();
    CSP.replacen("script-src 'self'", &format!("script-src 'self' {}", hashes.join(" ")), 1)
}

/// The text of each inline `<script ...>...</script>` element of `html`.
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    html.split("<script").skip(1).filter_map(|rest| {
        let (open, body) = rest.split_once('>')?;
        if open.contains("src=") {
            return None;
        }
        body.split_once("</script>").map(|(text, _)| text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_allowed_by_hash_only() {
        let csp = csp_allowing_inline("<p><script type=\"module\">go()</script><script src=\"/a.js\"></script>");
        let expected = base64::engine::general_purpose::STANDARD.encode(Sha256::digest("go()"));
        assert!(csp.contains(&format!("script-src 'self' 'sha256-{expected}';")), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{csp}");
    }
}
