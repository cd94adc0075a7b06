//! Prometheus metrics, counted in the HTTP layer from what the engine returns, so the
//! domain stays free of them: requests and latency per endpoint, activity outcomes, OTP
//! sends and verifications, lockouts (429s) and outbox deliveries. `/metrics` answers the
//! OpenMetrics text format, optionally behind a bearer token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use subtle::ConstantTimeEq;
use twofold_core::model::Channel;
use twofold_core::notice::Notifier;
use twofold_core::webhook::{SendOutcome, WebhookSender};

use crate::routes::AppState;

/// Labels of the request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: String,
    method: &'static str,
    status: u16,
}

/// Labels of the latency histogram and the lockout counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: String,
}

/// Labels of the activity counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActivityLabels {
    r#type: String,
    status: String,
}

/// Labels of the OTP and outbox counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    kind: &'static str,
    outcome: &'static str,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~8 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

/// Every counter and histogram of one server process, and the registry that prints them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    lockouts: Family<EndpointLabels, Counter>,
    activities: Family<ActivityLabels, Counter>,
    otp: Family<OutcomeLabels, Counter>,
    outbox: Family<OutcomeLabels, Counter>,
    conditions: Family<ConditionLabels, Counter>,
    /// Held while the condition counters catch up, so concurrent scrapes add each step once.
    syncing: std::sync::Mutex<()>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConditionLabels {
    result: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("twofold");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<EndpointLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let lockouts = Family::<EndpointLabels, Counter>::default();
        let activities = Family::<ActivityLabels, Counter>::default();
        let otp = Family::<OutcomeLabels, Counter>::default();
        let outbox = Family::<OutcomeLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by endpoint, method and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency by endpoint", latency.clone());
        registry.register(
            "lockouts",
            "Requests refused with 429 (rate limits, failed-guess lockouts)",
            lockouts.clone(),
        );
        registry.register(
            "activities",
            "Submitted activities by type and the status they ended in",
            activities.clone(),
        );
        registry.register(
            "otp",
            "One-time codes: kind=send (sent: made and handed to delivery after commit, whose failures are \
             logged and retried | failed | refused), kind=verify (verified|failed)",
            otp.clone(),
        );
        registry.register(
            "outbox_deliveries",
            "Outbox delivery attempts: kind=webhook|notice, outcome=delivered|rejected|unreachable|failed",
            outbox.clone(),
        );
        let conditions = Family::<ConditionLabels, Counter>::default();
        registry.register(
            "policy_condition_evaluations",
            "Policy expressions: result=evaluated, or result=remembered when a decision made on a read \
             snapshot is made again inside the write transaction without evaluating",
            conditions.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            lockouts,
            activities,
            otp,
            outbox,
            conditions,
            syncing: Default::default(),
        }
    }
}

impl Metrics {
    /// Counts one answered request; `method` must come from [`method_label`].
    pub fn observe_request(&self, endpoint: &str, method: &'static str, status: StatusCode, elapsed: Duration) {
        let endpoint = endpoint.to_owned();
        self.requests
            .get_or_create(&RequestLabels { endpoint: endpoint.clone(), method, status: status.as_u16() })
            .inc();
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.lockouts.get_or_create(&EndpointLabels { endpoint: endpoint.clone() }).inc();
        }
        self.latency.get_or_create(&EndpointLabels { endpoint }).observe(elapsed.as_secs_f64());
    }

    /// Counts the outcome of a submitted activity (`Ok((type, status))`) or its refusal,
    /// and for the OTP activities what became of the code.
    pub fn observe_activity(&self, endpoint: &str, outcome: Result<(&str, &str), StatusCode>) {
        if let Ok((activity_type, status)) = outcome {
            self.activities
                .get_or_create(&ActivityLabels { r#type: activity_type.to_owned(), status: status.to_owned() })
                .inc();
        }
        let completed = matches!(outcome, Ok((_, "ACTIVITY_STATUS_COMPLETED")));
        let (kind, outcome) = match (endpoint, outcome) {
            ("init_otp", Ok(_)) => ("send", if completed { "sent" } else { "failed" }),
            ("init_otp", Err(_)) => ("send", "refused"),
            ("verify_otp", _) => ("verify", if completed { "verified" } else { "failed" }),
            _ => return,
        };
        self.otp.get_or_create(&OutcomeLabels { kind, outcome }).inc();
    }

    /// Brings the condition counters up to the engine's totals (read at each scrape).
    pub fn observe_conditions(&self, (evaluated, remembered): (u64, u64)) {
        let _one_at_a_time = self.syncing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (result, total) in [("evaluated", evaluated), ("remembered", remembered)] {
            let counter = self.conditions.get_or_create(&ConditionLabels { result });
            counter.inc_by(total.saturating_sub(counter.get()));
        }
    }

    fn observe_delivery(&self, kind: &'static str, outcome: &'static str) {
        self.outbox.get_or_create(&OutcomeLabels { kind, outcome }).inc();
    }

    /// The OpenMetrics text of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// The label a request is counted under: the route's path, with the submit or query
/// endpoint's own name when it is one the server has (unknown names share one label, so
/// a scan cannot blow up the number of series).
pub(crate) fn endpoint_label(path: &str, matched: Option<&MatchedPath>) -> String {
    let named = |prefix: &str, name: &str, known: bool| {
        if known { format!("{prefix}{name}") } else { format!("{prefix}{{unknown}}") }
    };
    if let Some(name) = path.strip_prefix(SUBMIT_PREFIX) {
        return named(SUBMIT_PREFIX, name, twofold_core::activities::kind_for_path(name).is_some());
    }
    if let Some(name) = path.strip_prefix(QUERY_PREFIX) {
        return named(QUERY_PREFIX, name, twofold_core::query_paths().contains(&name));
    }
    matched.map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned())
}

/// The label a request's method is counted under: one of the methods of RFC 9110 (and
/// PATCH), or `other` for any other token, which a client may make up at will (HTTP lets a
/// method be any token, so counting it verbatim would let anyone add series without bound).
pub(crate) fn method_label(method: &axum::http::Method) -> &'static str {
    const STANDARD: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
    STANDARD.iter().find(|m| **m == method.as_str()).copied().unwrap_or("other")
}

/// Where the activity endpoints live.
pub(crate) const SUBMIT_PREFIX: &str = "/public/v1/submit/";
/// Where the query endpoints live.
pub(crate) const QUERY_PREFIX: &str = "/public/v1/query/";

/// Middleware counting every request by endpoint and status, with its latency.
pub(crate) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let endpoint = endpoint_label(request.uri().path(), request.extensions().get::<MatchedPath>());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    state.ops.metrics.observe_request(&endpoint, method, response.status(), started.elapsed());
    response
}

/// `GET /metrics`: the OpenMetrics text; with a token configured, only for `Authorization: Bearer <token>`.
pub(crate) async fn serve(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.ops.metrics_token {
        let offered = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !bool::from(offered.as_bytes().ct_eq(token.as_bytes())) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "metrics need Authorization: Bearer <metrics token>\n",
            )
                .into_response();
        }
    }
    state.ops.metrics.observe_conditions(state.engine.condition_evaluations());
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.ops.metrics.render())
        .into_response()
}

/// A webhook sender that counts what became of each attempt.
pub(crate) struct CountingSender<S> {
    /// The real sender.
    pub inner: S,
    /// Where to count.
    pub metrics: Arc<Metrics>,
}

#[async_trait]
impl<S: WebhookSender + Send + Sync> WebhookSender for CountingSender<S> {
    async fn post(&self, url: &str, signature: &str, event_id: &str, body: &str) -> SendOutcome {
        let outcome = self.inner.post(url, signature, event_id, body).await;
        let label = match &outcome {
            SendOutcome::Status(s) if (200..300).contains(s) => "delivered",
            SendOutcome::Status(_) => "rejected",
            SendOutcome::Unreachable(_) => "unreachable",
        };
        self.metrics.observe_delivery("webhook", label);
        outcome
    }
}

/// A notifier that counts delivered and failed notices.
pub(crate) struct CountingNotifier {
    /// The real notifier.
    pub inner: Arc<dyn Notifier>,
    /// Where to count.
    pub metrics: Arc<Metrics>,
}

#[async_trait]
impl Notifier for CountingNotifier {
    async fn notify(&self, channel: Channel, to: &str, subject: &str, text: &str) -> Result<(), String> {
        let result = self.inner.notify(channel, to, subject, text).await;
        self.metrics.observe_delivery("notice", if result.is_ok() { "delivered" } else { "failed" });
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_endpoint_names_share_one_label() {
        assert_eq!(endpoint_label("/public/v1/submit/create_users", None), "/public/v1/submit/create_users");
        assert_eq!(endpoint_label("/public/v1/submit/no_such_thing", None), "/public/v1/submit/{unknown}");
        assert_eq!(endpoint_label("/public/v1/query/get_whoami", None), "/public/v1/query/get_whoami");
        assert_eq!(endpoint_label("/public/v1/query/x%20y", None), "/public/v1/query/{unknown}");
        assert_eq!(endpoint_label("/nope", None), "unmatched");
    }

    #[test]
    fn made_up_methods_share_one_label() {
        assert_eq!(method_label(&axum::http::Method::POST), "POST");
        let odd = axum::http::Method::from_bytes(b"XYZZY").expect("a token");
        assert_eq!(method_label(&odd), "other");
    }

    #[test]
    fn rendered_text_names_every_family() {
        let m = Metrics::default();
        m.observe_request("/healthz", "GET", StatusCode::OK, Duration::from_millis(2));
        m.observe_request("/public/v1/submit/approve_activity", "POST", StatusCode::TOO_MANY_REQUESTS, Duration::ZERO);
        m.observe_activity("init_otp", Ok(("ACTIVITY_TYPE_INIT_OTP_V3", "ACTIVITY_STATUS_COMPLETED")));
        m.observe_delivery("webhook", "delivered");
        let text = m.render();
        for needle in [
            r#"twofold_http_requests_total{endpoint="/healthz",method="GET",status="200"} 1"#,
            r#"twofold_lockouts_total{endpoint="/public/v1/submit/approve_activity"} 1"#,
            r#"twofold_http_request_duration_seconds_bucket{le="0.004",endpoint="/healthz"} 1"#,
            r#"twofold_activities_total{type="ACTIVITY_TYPE_INIT_OTP_V3",status="ACTIVITY_STATUS_COMPLETED"} 1"#,
            r#"twofold_otp_total{kind="send",outcome="sent"} 1"#,
            r#"twofold_outbox_deliveries_total{kind="webhook",outcome="delivered"} 1"#,
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }
}
