//! Signed webhooks: activity status changes are queued in the transaction that made
//! them (an outbox) and delivered to each of the organization's endpoints as JSON,
//! signed with HMAC-SHA256 like Stripe's: `Twofold-Signature: t=<unix secs>,v1=<hex>`
//! over `"<t>.<body>"`. Failed deliveries are retried with exponential backoff.

use async_trait::async_trait;
use serde_json::json;

use crate::error::{Error, Result};
use crate::model::{Activity, ActivityStatus, Channel, Delivery, DeliveryStatus};
use crate::store::StoreTx;

/// The one event type twofold delivers.
pub const ACTIVITY_UPDATES: &str = "ACTIVITY_UPDATES";
/// The request header carrying the timestamp and signature.
pub const SIGNATURE_HEADER: &str = "Twofold-Signature";
/// Longest endpoint URL accepted.
const MAX_URL: usize = 2048;

/// Checks an endpoint URL: absolute http(s), a host, no credentials in it.
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

/// Queues an `ACTIVITY_UPDATES` event about `activity` (now in its new status, formerly
/// `from`) for each active endpoint of its organization, in the caller's transaction.
pub async fn enqueue(tx: &mut dyn StoreTx, activity: &Activity, from: ActivityStatus, now: i64) -> Result<()> {
    let endpoints = tx.list_webhook_endpoints(&activity.organization_id).await?;
    for endpoint in endpoints.iter().filter(|e| e.active) {
        let id = crate::engine::new_id();
        let payload = json!({
            "id": id,
            "type": ACTIVITY_UPDATES,
            "createdAt": crate::api::Timestamp::from_ms(now),
            "data": {
                "activityId": activity.id,
                "organizationId": activity.organization_id,
                "activityType": activity.activity_type,
                "fingerprint": activity.fingerprint,
                "status": activity.status.as_str(),
                "previousStatus": from.as_str(),
            },
        });
        let event = Delivery::pending(
            id,
            Channel::Webhook,
            endpoint.id.clone(),
            activity,
            ACTIVITY_UPDATES,
            payload.to_string(),
            now,
        );
        tx.insert_delivery(&event).await?;
    }
    Ok(())
}

/// The sealing context of an endpoint's secret.
pub fn secret_context(endpoint_id: &str) -> String {
    format!("webhook-secret:{endpoint_id}")
}

/// The delivery-log view of `d`.
pub fn delivery_view(d: &Delivery) -> serde_json::Value {
    json!({
        "deliveryId": d.id,
        "endpointId": d.target,
        "eventType": d.event_type,
        "activityId": d.subject,
        "status": d.status.as_str(),
        "attempts": d.attempts,
        "lastStatusCode": d.last_status,
        "lastError": d.last_error,
        "nextAttemptAt": (d.status == DeliveryStatus::Pending).then(|| crate::api::Timestamp::from_ms(d.next_attempt_at)),
        "deliveredAt": d.delivered_at.map(crate::api::Timestamp::from_ms),
        "createdAt": crate::api::Timestamp::from_ms(d.created_at),
        "payload": serde_json::from_str::<serde_json::Value>(&d.payload).unwrap_or_default(),
    })
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
    fn urls_are_checked() {
        assert!(check_url("https://hooks.example.com/twofold").is_ok());
        assert!(check_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(check_url("ftp://example.com").is_err());
        assert!(check_url("https://user:pw@example.com").is_err());
        assert!(check_url("not a url").is_err());
    }
}
