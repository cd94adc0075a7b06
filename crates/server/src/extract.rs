//! The one extractor every API handler uses: the stamp headers, the client address
//! and the exact body bytes, read under the configured size limit. A bad stamp is
//! not refused here: the organization's IP rules must be applied first.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRef, FromRequest, Request};
use axum::http::{HeaderMap, Method};
use ipnet::IpNet;
use twofold_core::StampProof;

use crate::error::ApiError;
use crate::routes::ServerLimits;
use crate::stamp::{self, ATTESTED_STAMP_HEADER, STAMP_HEADER, WEBAUTHN_STAMP_HEADER};

/// A request on its way to the engine.
pub struct Stamped {
    /// The parsed `X-Stamp`, or why it is unusable.
    pub stamp: Result<StampProof, String>,
    /// The client's address.
    pub client_ip: Option<IpAddr>,
    /// The exact body bytes.
    pub body: Bytes,
}

fn read_stamp(headers: &HeaderMap) -> Result<StampProof, String> {
    if let Some(v) = headers.get(ATTESTED_STAMP_HEADER) {
        if headers.get(STAMP_HEADER).is_some() || headers.get(WEBAUTHN_STAMP_HEADER).is_some() {
            return Err("send one stamp: X-Stamp-Attested alone, not with X-Stamp or X-Stamp-Webauthn".to_owned());
        }
        return stamp::parse_attested(v.as_bytes()).map_err(|e| e.to_string());
    }
    match (headers.get(STAMP_HEADER), headers.get(WEBAUTHN_STAMP_HEADER)) {
        (Some(_), Some(_)) => Err("send one stamp: X-Stamp or X-Stamp-Webauthn, not both".to_owned()),
        (Some(v), None) => stamp::parse(v.as_bytes()).map_err(|e| e.to_string()),
        (None, Some(v)) => stamp::parse_webauthn(v.as_bytes()).map_err(|e| e.to_string()),
        (None, None) => Err("missing X-Stamp or X-Stamp-Webauthn header: every request must be stamped".to_owned()),
    }
}

/// The client address: the socket peer, or — only when the peer is a trusted proxy — the
/// client its forwarding chain names ([`twofold_core::network::client_behind`]), read from
/// every `X-Forwarded-For` line and every RFC 7239 `Forwarded` line. When a request carries
/// both and they name different clients, neither is believed: the client is
/// [`twofold_core::network::UNREPORTED_CLIENT`].
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    use twofold_core::network::{UNREPORTED_CLIENT, client_behind, forwarded_for_hops, forwarded_hops};
    let peer = peer?;
    let lines = |name: &str| headers.get_all(name).iter().map(|v| v.to_str().ok()).collect::<Vec<_>>();
    let (xff, forwarded) = (lines("x-forwarded-for"), lines("forwarded"));
    let by_xff = client_behind(peer, &forwarded_for_hops(xff.iter().copied()), trusted);
    let by_forwarded = client_behind(peer, &forwarded_hops(forwarded.iter().copied()), trusted);
    Some(match (xff.is_empty(), forwarded.is_empty()) {
        (_, true) => by_xff,
        (true, false) => by_forwarded,
        (false, false) if by_xff == by_forwarded => by_xff,
        (false, false) => UNREPORTED_CLIENT,
    })
}

impl<S> FromRequest<S> for Stamped
where
    S: Send + Sync,
    ServerLimits: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if req.method() != Method::POST {
            return Err(ApiError::MethodNotAllowed(req.method().to_string()));
        }
        let limits = ServerLimits::from_ref(state);
        let headers = req.headers();
        let stamp = read_stamp(headers);
        let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let client_ip = client_ip(peer, headers, &limits.trusted_proxies);
        if let Some(len) = headers
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            && len > limits.max_body_bytes
        {
            return Err(ApiError::PayloadTooLarge { limit: limits.max_body_bytes });
        }
        let read = axum::body::to_bytes(req.into_body(), limits.max_body_bytes);
        let body = tokio::time::timeout(limits.body_read_timeout, read)
            .await
            .map_err(|_| ApiError::BodyTimeout { secs: limits.body_read_timeout.as_secs() })?
            .map_err(|_| ApiError::PayloadTooLarge { limit: limits.max_body_bytes })?;
        Ok(Stamped { stamp, client_ip, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().expect("header"));
        h
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let proxy: IpNet = "10.0.0.0/8".parse().expect("net");
        let from = |peer: &str, h: &HeaderMap| client_ip(peer.parse().ok(), h, std::slice::from_ref(&proxy));
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        assert_eq!(from("192.0.2.9", &xff("203.0.113.5")), ip("192.0.2.9"), "untrusted peer: header ignored");
        assert_eq!(from("10.0.0.1", &xff("203.0.113.5")), ip("203.0.113.5"));
        assert_eq!(
            from("10.0.0.1", &xff("198.51.100.1, 203.0.113.5, 10.0.0.2")),
            ip("203.0.113.5"),
            "nearest untrusted hop"
        );
        assert_eq!(from("10.0.0.1", &xff("2001:db8::7")), ip("2001:db8::7"));
        assert_eq!(from("10.0.0.1", &xff("not-an-ip")), Some(twofold_core::network::UNREPORTED_CLIENT));
        let mut both = xff("203.0.113.5");
        both.append("forwarded", "for=198.51.100.1".parse().expect("header"));
        assert_eq!(from("10.0.0.1", &both), Some(twofold_core::network::UNREPORTED_CLIENT), "they disagree");
        let mut lines = xff("10.1.1.1");
        lines.append("x-forwarded-for", "203.0.113.5".parse().expect("header"));
        assert_eq!(from("10.0.0.1", &lines), ip("203.0.113.5"), "every line counts");
        assert_eq!(from("10.0.0.1", &HeaderMap::new()), ip("10.0.0.1"));
    }
}
