//! Signed webhooks: activity status changes are queued in the transaction that made
//! them (an outbox) and delivered to each of the organization's endpoints as JSON,
//! signed with HMAC-SHA256 like Stripe's: `Twofold-Signature: t=<unix secs>,v1=<hex>`
//! over `"<t>.<body>"`. Failed deliveries are retried with exponential backoff.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::model::{Activity, ActivityStatus, Channel, Delivery};
use crate::store::StoreTx;

/// The one event type twofold delivers.
pub const ACTIVITY_UPDATES: &str = "ACTIVITY_UPDATES";
/// The request header carrying the timestamp and signature.
pub const SIGNATURE_HEADER: &str = "Twofold-Signature";
/// The longest URL an endpoint or a key set may have.
pub(crate) const MAX_URL: usize = 2048;

/// Whether endpoints may target loopback, link-local, private and unique-local addresses:
/// process-wide, off unless `twofold serve --webhook-allow-private` turned it on at start-up.
static PRIVATE_TARGETS: AtomicBool = AtomicBool::new(false);

/// Lets (or stops letting) webhook endpoints target non-public addresses, for receivers on
/// the same host or network. Set once at start-up, before any request is served.
pub fn allow_private_targets(allowed: bool) {
    PRIVATE_TARGETS.store(allowed, Ordering::SeqCst);
}

/// Whether webhook endpoints may target non-public addresses ([`allow_private_targets`]).
pub fn private_targets_allowed() -> bool {
    PRIVATE_TARGETS.load(Ordering::SeqCst)
}

/// Whether a webhook may be delivered to `ip`: not loopback, unspecified, link-local
/// (169.254.0.0/16 holds cloud metadata services; fe80::/10), private (10/8, 172.16/12,
/// 192.168/16), shared (100.64/10), unique-local (fc00::/7), site-local, multicast, broadcast
/// or reserved; an IPv4 address inside IPv6 (mapped `::ffff:a.b.c.d`, compatible, NAT64
/// `64:ff9b::/96`, 6to4 `2002::/16`) is judged as that IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => public_v4(v4),
            None => public_v6(v6),
        },
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || a == 0
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (18..20).contains(&b)))
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        || (first & 0xfe00) == 0xfc00)
}

/// The IPv4 address an IPv6 address carries, where it carries one.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = ip.octets();
    let at = |i: usize| Ipv4Addr::new(o[i], o[i + 1], o[i + 2], o[i + 3]);
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        Some(v4)
    } else if (s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified())
        || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
    {
        // IPv4-compatible (deprecated) and NAT64 well-known prefix: the last 32 bits.
        Some(at(12))
    } else if s[0] == 0x2002 {
        Some(at(2))
    } else {
        None
    }
}

/// Checks an endpoint URL: absolute http(s), a host, no credentials in it; unless
/// [`private_targets_allowed`], not a literal non-public address nor `localhost`. (A name
/// is judged again on every delivery, by the address it resolves to then.)
pub fn check_url(raw: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid(format!("parameters.url: {why}, found `{}`", crate::crypto::clip(raw))));
    if raw.len() > MAX_URL {
        return bad("longer than 2048 characters");
    }
    let Ok(url) = url::Url::parse(raw) else { return bad("not an absolute URL") };
    if !matches!(url.scheme(), "https" | "http") {
        return bad("must be an http or https URL");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return bad("has no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return bad("must not carry credentials; the signature authenticates twofold to the receiver");
    }
    if !private_targets_allowed() {
        let private = match url.host() {
            Some(url::Host::Ipv4(v4)) => !is_public(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => !is_public(IpAddr::V6(v6)),
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                name == "localhost" || name.ends_with(".localhost")
            }
            None => true,
        };
        if private {
            return bad("targets a loopback, link-local or private address; webhooks go to public receivers \
                 (an operator allows local ones with --webhook-allow-private)");
        }
    }
    Ok(())
}

/// The `Twofold-Signature` value for `body` sent at `timestamp_secs`.
pub fn signature(secret: &[u8], timestamp_secs: i64, body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, format!("{timestamp_secs}.{body}").as_bytes());
    format!("t={timestamp_secs},v1={}", hex::encode(tag.as_ref()))
}

/// Checks a `Twofold-Signature` value in constant time, as a receiver would; `tolerance_secs`
/// bounds how old the timestamp may be (replay protection).
pub fn verify_signature(secret: &[u8], header: &str, body: &str, now_secs: i64, tolerance_secs: i64) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else { return false };
    if (now_secs - t).abs() > tolerance_secs {
        return false;
    }
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    ring::hmac::verify(&key, format!("{t}.{body}").as_bytes(), &v1).is_ok()
}

/// Delivery tunables.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Delay before the first retry; each further retry doubles it.
    pub retry_base_ms: i64,
    /// Longest delay between retries.
    pub retry_max_ms: i64,
    /// Attempts before a delivery is marked FAILED.
    pub max_attempts: i64,
    /// How long one node holds a delivery it is attempting.
    pub lease_ms: i64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig { retry_base_ms: 10_000, retry_max_ms: 3_600_000, max_attempts: 10, lease_ms: 60_000 }
    }
}

impl WebhookConfig {
    /// When attempt number `attempts + 1` is due after `attempts` failures, from `now`.
    pub fn next_attempt(&self, attempts: i64, now: i64) -> i64 {
        let shift = u32::try_from((attempts - 1).clamp(0, 30)).unwrap_or(30);
        now + self.retry_base_ms.saturating_mul(1_i64 << shift).min(self.retry_max_ms)
    }
}

/// What a receiver answered.
#[derive(Debug, Clone)]
pub enum SendOutcome {
    /// An HTTP status (2xx = accepted).
    Status(u16),
    /// No answer: connection refused, timeout, TLS failure.
    Unreachable(String),
}

/// Sends one signed webhook request; the server implements it over HTTP.
#[async_trait]
pub trait WebhookSender: Send + Sync {
    /// POSTs `body` to `url` with the signature header; never panics, never hangs past its timeout.
    async fn post(&self, url: &str, signature: &str, event_id: &str, body: &str) -> SendOutcome;
}

/// An `ACTIVITY_UPDATES` event, as receivers get it (signed).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    id: &'a str,
    r#type: &'a str,
    created_at: crate::api::Timestamp,
    data: EventData<'a>,
}

/// What changed: the activity, its new and its former status.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct EventData<'a> {
    activity_id: &'a str,
    organization_id: &'a str,
    activity_type: &'a str,
    fingerprint: &'a str,
    status: &'a str,
    previous_status: &'a str,
}

/// Queues an `ACTIVITY_UPDATES` event about `activity` (now in its new status, formerly
/// `from`) for each active endpoint of its organization, in the caller's transaction.
pub async fn enqueue(tx: &mut dyn StoreTx, activity: &Activity, from: ActivityStatus, now: i64) -> Result<()> {
    let endpoints = tx.list_webhook_endpoints(&activity.organization_id).await?;
    for endpoint in endpoints.iter().filter(|e| e.active) {
        let id = crate::model::new_id();
        let payload = Event {
            id: &id,
            r#type: ACTIVITY_UPDATES,
            created_at: crate::api::Timestamp::from_ms(now),
            data: EventData {
                activity_id: &activity.id,
                organization_id: &activity.organization_id,
                activity_type: &activity.activity_type,
                fingerprint: &activity.fingerprint,
                status: activity.status.as_str(),
                previous_status: from.as_str(),
            },
        };
        let payload = serde_json::to_string(&payload).map_err(|e| Error::Internal(e.to_string()))?;
        let event =
            Delivery::pending(id, Channel::Webhook, endpoint.id.clone(), activity, ACTIVITY_UPDATES, payload, now);
        tx.insert_delivery(&event).await?;
    }
    Ok(())
}

/// The sealing context of an endpoint's secret.
pub fn secret_context(endpoint_id: &str) -> String {
    format!("webhook-secret:{endpoint_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_expire() {
        let sig = signature(b"0123456789abcdef0123456789abcdef", 1_700_000_000, "{\"a\":1}");
        assert!(verify_signature(b"0123456789abcdef0123456789abcdef", &sig, "{\"a\":1}", 1_700_000_100, 300));
        assert!(!verify_signature(b"0123456789abcdef0123456789abcdef", &sig, "{\"a\":2}", 1_700_000_100, 300));
        assert!(!verify_signature(b"another secret of enough length!!", &sig, "{\"a\":1}", 1_700_000_100, 300));
        assert!(!verify_signature(b"0123456789abcdef0123456789abcdef", &sig, "{\"a\":1}", 1_700_001_000, 300));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let c = WebhookConfig { retry_base_ms: 1000, retry_max_ms: 5000, max_attempts: 5, lease_ms: 1000 };
        assert_eq!(c.next_attempt(1, 0), 1000);
        assert_eq!(c.next_attempt(2, 0), 2000);
        assert_eq!(c.next_attempt(3, 0), 4000);
        assert_eq!(c.next_attempt(4, 0), 5000);
    }

    #[test]
    fn only_public_addresses_are_targets() {
        for private in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "fc00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "::127.0.0.1",
        ] {
            assert!(!is_public(private.parse().expect("ip")), "{private}");
        }
        for public in ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().expect("ip")), "{public}");
        }
    }

    #[test]
    fn urls_are_checked() {
        assert!(check_url("https://hooks.example.com/twofold").is_ok());
        for private in [
            "http://127.0.0.1:8080/hook",
            "http://127.1/hook",
            "http://0x7f000001/hook",
            "http://2130706433/hook",
            "http://[::1]/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[fe80::1]/",
            "http://10.0.0.1/",
            "http://localhost:8080/",
            "http://api.LOCALHOST./",
        ] {
            assert!(check_url(private).is_err(), "{private}");
        }
        assert!(check_url("ftp://example.com").is_err());
        assert!(check_url("https://user:pw@example.com").is_err());
        assert!(check_url("not a url").is_err());
    }
}
