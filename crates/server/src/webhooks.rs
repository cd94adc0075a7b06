//! The outbox worker: a background task asks the engine to deliver due messages; this
//! module POSTs the signed webhook events, with bounded time per attempt.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use twofold_core::Engine;
use twofold_core::notice::Notifier;
use twofold_core::webhook::{SIGNATURE_HEADER, SendOutcome, WebhookSender};

use crate::metrics::{CountingNotifier, CountingSender};

/// Longest one delivery attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the worker looks for due deliveries when there were none.
const IDLE_POLL: Duration = Duration::from_millis(250);

/// POSTs signed webhook events with `ureq` (no redirects: a receiver cannot bounce
/// signed events elsewhere, nor to an address the check below did not see). Unless
/// private targets are allowed, the connection goes only to addresses the endpoint's name
/// resolves to at delivery time that are public ([`twofold_core::webhook::is_public`]):
/// the check is made on the very addresses ureq then connects to, so DNS cannot answer
/// one address to a check and another to the connection.
#[derive(Debug, Clone)]
pub struct HttpWebhookSender {
    agent: ureq::Agent,
}

impl Default for HttpWebhookSender {
    fn default() -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(ATTEMPT_TIMEOUT))
            .http_status_as_error(false)
            .max_redirects(0)
            .build();
        let agent = ureq::Agent::with_parts(config, ureq::unversioned::transport::DefaultConnector::new(), PublicOnly);
        HttpWebhookSender { agent }
    }
}

/// What members see of a failed attempt (`lastError`): no more than this, so the delivery
/// log is no scanner of what the server can reach. The log keeps the detail.
const UNREACHABLE: &str = "unreachable";
/// `lastError` of an endpoint refused because it resolves to a non-public address.
const REFUSED: &str = "refused: the endpoint resolves to a loopback, link-local or private address";

/// Resolves like ureq does, then keeps the answer only if every address is public (or
/// private targets are allowed).
#[derive(Debug)]
struct PublicOnly;

impl ureq::unversioned::resolver::Resolver for PublicOnly {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let addrs = ureq::unversioned::resolver::DefaultResolver::default().resolve(uri, config, timeout)?;
        if twofold_core::webhook::private_targets_allowed()
            || addrs.iter().all(|a| twofold_core::webhook::is_public(a.ip()))
        {
            return Ok(addrs);
        }
        Err(ureq::Error::Io(std::io::Error::new(std::io::ErrorKind::PermissionDenied, REFUSED)))
    }
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn post(&self, url: &str, signature: &str, event_id: &str, body: &str) -> SendOutcome {
        let event = event_id.to_owned();
        let (agent, url, signature, event_id, body) =
            (self.agent.clone(), url.to_owned(), signature.to_owned(), event_id.to_owned(), body.to_owned());
        let task = tokio::task::spawn_blocking(move || {
            agent
                .post(&url)
                .header(SIGNATURE_HEADER, &signature)
                .header("Twofold-Event-Id", &event_id)
                .content_type("application/json")
                .send(body)
                .map(|r| r.status().as_u16())
        });
        let why = match tokio::time::timeout(ATTEMPT_TIMEOUT + Duration::from_secs(1), task).await {
            Ok(Ok(Ok(status))) => return SendOutcome::Status(status),
            Ok(Ok(Err(ureq::Error::Io(e))))
                if e.kind() == std::io::ErrorKind::PermissionDenied && e.to_string() == REFUSED =>
            {
                return SendOutcome::Unreachable(REFUSED.to_owned());
            }
            Ok(Ok(Err(e))) => e.to_string(),
            Ok(Err(e)) => format!("delivery task failed: {e}"),
            Err(_) => format!("no answer within {ATTEMPT_TIMEOUT:?}"),
        };
        tracing::info!(event_id = %event, error = %why, "webhook receiver unreachable");
        SendOutcome::Unreachable(UNREACHABLE.to_owned())
    }
}

/// Starts the background task delivering `engine`'s outbox (webhook events over HTTP,
/// notices through `notifier`) until aborted, counting each delivery in `metrics`.
pub fn spawn_outbox_worker(
    engine: Engine,
    notifier: Arc<dyn Notifier>,
    metrics: Arc<crate::Metrics>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let sender = CountingSender { inner: HttpWebhookSender::default(), metrics: metrics.clone() };
        let notifier = CountingNotifier { inner: notifier, metrics };
        loop {
            let codes = engine.deliver_owed_codes().await;
            match engine.deliver_outbox(&sender, &notifier).await.and_then(|n| codes.map(|c| n + c)) {
                Ok(0) => tokio::time::sleep(IDLE_POLL).await,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "outbox delivery failed; retrying shortly");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    })
}
