//! Session profiles (immutable scopes for sessions, checked on every activity such a
//! session submits), app activities (an application's own actions, gated like any
//! other) and webhook endpoints with their delivery.

use super::decide::Subject;
use super::{Caller, Engine};
use crate::activities::Intent;
use crate::activities::{ActivityKind, TypeVersion};
use crate::crypto;
use crate::error::{Error, Result};
use crate::model::{Channel, Delivery, DeliveryStatus, KeyKind};
use crate::notice::Notifier;
use crate::webhook::{self, SendOutcome, WebhookSender};

/// The session profile the caller's session is bound to, if it is a scoped session.
fn profile_of(caller: &Caller) -> Option<&str> {
    caller
        .credential
        .api_key
        .as_ref()
        .filter(|k| k.kind == KeyKind::Session)
        .and_then(|k| k.session_profile_id.as_deref())
}

impl Engine {
    /// Refuses an activity outside the scope of the session profile the caller's session is bound to.
    pub(super) async fn check_session_scope(
        &self,
        caller: &Caller,
        kind: &'static ActivityKind,
        version: &'static TypeVersion,
        intent: &Intent,
        now: i64,
    ) -> Result<()> {
        let Some(profile_id) = profile_of(caller) else { return Ok(()) };
        // A login contact the session gives its own user would log in again outside the scope.
        if intent.credentials().is_some_and(|c| c.contact && c.user_id == caller.user.id) {
            return Err(Error::PermissionDenied(format!(
                "this session is bound to session profile `{profile_id}`: it may not change its own user's email or \
                 phone (a new login contact would open sessions outside the profile's scope)"
            )));
        }
        let params = intent.policy_params();
        let subject = Subject::of(kind, version, intent, &params);
        self.within_scope(profile_id, &subject, now).await
    }

    /// Refuses a query made with a session bound to a session profile whose scope does not
    /// allow it: queries are seen as `activity.type` `QUERY_<NAME>`, with the resource and
    /// the `READ` action of their catalog row. `None` for the queries every session needs of
    /// itself (whoami, its own user, the public keys).
    pub(crate) async fn check_query_scope(
        &self,
        caller: &Caller,
        name: &str,
        resource: Option<&'static str>,
        now: i64,
    ) -> Result<()> {
        let (Some(profile_id), Some(resource)) = (profile_of(caller), resource) else { return Ok(()) };
        let query_type = format!("QUERY_{}", name.to_ascii_uppercase());
        let params = serde_json::Value::Object(serde_json::Map::new());
        let subject = Subject { activity_type: &query_type, resource, action: "READ", params: &params };
        self.within_scope(profile_id, &subject, now).await
    }

    /// Whether session profile `profile_id`'s scope allows `subject` (an error fails closed).
    async fn within_scope(&self, profile_id: &str, subject: &Subject<'_>, now: i64) -> Result<()> {
        let profile = {
            let mut tx = self.store.read().await?;
            tx.get_session_profile(profile_id).await?
        };
        let Some(profile) = profile else {
            return Err(Error::PermissionDenied(format!(
                "this session is bound to session profile `{profile_id}`, which does not exist"
            )));
        };
        let verdict = subject.holds(&self.programs, "condition", &profile.scope, &[], now);
        let why = match verdict {
            Ok(true) => return Ok(()),
            Ok(false) => "does not allow".to_owned(),
            Err(e) => format!("could not be evaluated ({e}) for"),
        };
        Err(Error::PermissionDenied(format!(
            "this session is bound to session profile `{}` ({}) whose scope `{}` {why} {} ({}/{})",
            profile.name, profile.id, profile.scope, subject.activity_type, subject.resource, subject.action
        )))
    }

    /// Delivers due outbox messages (at most one batch) — webhook events through
    /// `sender`, notices through `notifier` — and returns how many were attempted.
    pub async fn deliver_outbox(&self, sender: &dyn WebhookSender, notifier: &dyn Notifier) -> Result<usize> {
        let config = &self.config.webhooks;
        let now = self.clock.now_ms();
        let leased = {
            let mut tx = self.store.write().await?;
            let leased = tx.lease_deliveries(now, now + config.lease_ms, 32).await?;
            tx.commit().await?;
            leased
        };
        for mut d in leased.iter().cloned() {
            d.attempts += 1;
            let (outcome, permanent) = match d.channel {
                Channel::Webhook => self.post_webhook(sender, &d).await?,
                Channel::Email | Channel::Sms => (send_notice(notifier, &d).await, false),
            };
            let now = self.clock.now_ms();
            match outcome {
                SendOutcome::Status(code) if (200..300).contains(&code) => {
                    d.status = DeliveryStatus::Delivered;
                    d.delivered_at = Some(now);
                    d.last_status = Some(i64::from(code));
                    d.last_error = None;
                }
                failed => {
                    let (status, error) = match failed {
                        SendOutcome::Status(code) => (Some(i64::from(code)), format!("the receiver answered {code}")),
                        SendOutcome::Unreachable(why) => (None, why),
                    };
                    d.last_status = status;
                    d.last_error = Some(crypto::clip(&error).to_owned());
                    if permanent || d.attempts >= config.max_attempts {
                        d.status = DeliveryStatus::Failed;
                    } else {
                        d.next_attempt_at = config.next_attempt(d.attempts, now);
                    }
                }
            }
            d.lease_until = 0;
            let mut tx = self.store.write().await?;
            tx.update_delivery(&d).await?;
            if d.channel == Channel::Email {
                let outcome = match (&d.status, &d.last_error) {
                    (DeliveryStatus::Delivered, _) => Ok(()),
                    (_, error) => Err(error.clone().unwrap_or_default()),
                };
                let retried = d.status == DeliveryStatus::Pending;
                let event = crate::notice::email_event(
                    &d.organization_id,
                    &d.id,
                    &self.config.mail_from,
                    &d.target,
                    outcome,
                    retried,
                    now,
                );
                tx.insert_email_event(&event).await?;
            }
            tx.commit().await?;
            tracing::info!(delivery_id = %d.id, channel = d.channel.as_str(), status = d.status.as_str(),
                attempts = d.attempts, "outbox delivery attempted");
        }
        Ok(leased.len())
    }

    /// Signs and POSTs one webhook event; `true` alongside the outcome when retrying is pointless.
    async fn post_webhook(&self, sender: &dyn WebhookSender, d: &Delivery) -> Result<(SendOutcome, bool)> {
        let endpoint = self.store.read().await?.get_webhook_endpoint(&d.target).await?;
        let Some(e) = endpoint else {
            return Ok((SendOutcome::Unreachable("the endpoint was deleted".to_owned()), true));
        };
        if !e.active {
            return Ok((SendOutcome::Unreachable("the endpoint is inactive".to_owned()), true));
        }
        let secret = self.config.factors.secrets.open(&webhook::secret_context(&e.id), &e.secret)?;
        let signature = webhook::signature(&secret, self.clock.now_ms() / 1000, &d.payload);
        Ok((sender.post(&e.url, &signature, &d.id, &d.payload).await, false))
    }
}

/// Hands one notice to `notifier`; a sent notice counts as status 200.
async fn send_notice(notifier: &dyn Notifier, d: &Delivery) -> SendOutcome {
    let Some(notice) = crate::notice::Notice::from_payload(&d.payload) else {
        return SendOutcome::Unreachable("the stored notice is not readable".to_owned());
    };
    match notifier.notify(d.channel, &d.target, &notice.subject, &notice.text).await {
        Ok(()) => SendOutcome::Status(200),
        Err(why) => SendOutcome::Unreachable(why),
    }
}
