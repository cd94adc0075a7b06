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
/// signed events elsewhere).
#[derive(Debug, Clone)]
pub struct HttpWebhookSender {
    agent: ureq::Agent,
}

impl Default for HttpWebhookSender {
    fn default() -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(ATTEMPT_TIMEOUT))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        HttpWebhookSender { agent }
    }
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn post(&self, url: &str, signature: &str, event_id: &str, body: &str) -> SendOutcome {
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
        match tokio::time::timeout(ATTEMPT_TIMEOUT + Duration::from_secs(1), task).await {
            Ok(Ok(Ok(status))) => SendOutcome::Status(status),
            Ok(Ok(Err(e))) => SendOutcome::Unreachable(e.to_string()),
            Ok(Err(e)) => SendOutcome::Unreachable(format!("delivery task failed: {e}")),
            Err(_) => SendOutcome::Unreachable(format!("no answer within {ATTEMPT_TIMEOUT:?}")),
        }
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
            match engine.deliver_outbox(&sender, &notifier).await {
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
