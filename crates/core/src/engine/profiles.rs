//! Session profiles (immutable scopes for sessions, checked on every activity such a
//! session submits), app activities (an application's own actions, gated like any
//! other) and webhook endpoints with their delivery.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::decide::Subject;
use super::factors::{ExecContext, Executed};
use super::{Caller, Engine, new_id, parse_body};
use crate::activity_types::{ActivityKind, TypeVersion};
use crate::api::Timestamp;
use crate::crypto;
use crate::error::{Error, Result};
use crate::intents::Intent;
use crate::model::{Channel, Delivery, DeliveryStatus, KeyKind, SessionProfile, WebhookEndpoint};
use crate::notice::Notifier;
use crate::store::StoreTx;
use crate::webhook::{self, SendOutcome, WebhookSender};

/// The session profile `id`, if `org_id` may use it: it was created by that
/// organization or one of its ancestors.
pub(super) async fn usable_profile(tx: &mut dyn StoreTx, org_id: &str, id: &str) -> Result<SessionProfile> {
    let unknown = || Error::NotFound(format!("no session profile `{}` for this organization", crypto::clip(id)));
    let profile = tx.get_session_profile(id).await?.ok_or_else(unknown)?;
    let mut org = Some(org_id.to_owned());
    // Bounded walk up the parent chain (sub-organizations nest one level in practice).
    for _ in 0..16 {
        let Some(current) = org else { break };
        if current == profile.organization_id {
            return Ok(profile);
        }
        org = tx.get_organization(&current).await?.and_then(|o| o.parent_id);
    }
    Err(unknown())
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
        let Some(profile_id) = caller
            .credential
            .api_key
            .as_ref()
            .filter(|k| k.kind == KeyKind::Session)
            .and_then(|k| k.session_profile_id.as_deref())
        else {
            return Ok(());
        };
        // A login contact the session gives its own user would log in again outside the scope.
        if matches!(intent, Intent::UpdateUser(p) if p.changes_contact())
            && intent.own_credential_target() == Some(caller.user.id.as_str())
        {
            return Err(Error::PermissionDenied(format!(
                "this session is bound to session profile `{profile_id}`: it may not change its own user's email or \
                 phone (a new login contact would open sessions outside the profile's scope)"
            )));
        }
        let profile = {
            let mut tx = self.store.read().await?;
            tx.get_session_profile(profile_id).await?
        };
        let Some(profile) = profile else {
            return Err(Error::PermissionDenied(format!(
                "this session is bound to session profile `{profile_id}`, which does not exist"
            )));
        };
        let params = intent.policy_params();
        let subject = Subject::of(kind, version, intent, &params);
        let verdict = subject.holds(&self.programs, "condition", &profile.scope, &[], now);
        let why = match verdict {
            Ok(true) => return Ok(()),
            Ok(false) => "does not allow".to_owned(),
            Err(e) => format!("could not be evaluated ({e}) for"),
        };
        Err(Error::PermissionDenied(format!(
            "this session is bound to session profile `{}` ({}) whose scope `{}` {why} {} ({}/{})",
            profile.name, profile.id, profile.scope, version.type_name, subject.resource, subject.action
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
        let secret = self.config.factors.secrets.open(&webhook::secret_context(&e.id), &e.secret)?;
        let signature = webhook::signature(&secret, self.clock.now_ms() / 1000, &d.payload);
        Ok((sender.post(&e.url, &signature, &d.id, &d.payload).await, false))
    }
}

/// Executes a session-profile, app-activity or webhook intent; `None` if `intent` is none of them.
pub(super) async fn execute(tx: &mut dyn StoreTx, ctx: &ExecContext<'_>, intent: &Intent) -> Option<Result<Executed>> {
    Some(match intent {
        Intent::CreateSessionProfile(p) => {
            async {
                let profile = SessionProfile {
                    id: new_id(),
                    organization_id: ctx.org_id.to_owned(),
                    name: crate::validate::check_name("sessionProfileName", &p.session_profile_name)?,
                    scope: p.scope.clone(),
                    expiration_seconds: p.expiration_seconds.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
                    notes: p.notes.clone().unwrap_or_default(),
                    created_at: ctx.now,
                };
                tx.insert_session_profile(&profile).await?;
                Ok(json!({ "sessionProfileId": profile.id }).into())
            }
            .await
        }
        Intent::CreateAppActivity(p) => {
            Ok(json!({ "resource": p.resource, "action": p.action, "payload": p.payload }).into())
        }
        Intent::CreateWebhookEndpoint(p) => create_endpoint(tx, ctx, p).await,
        Intent::DeleteWebhookEndpoint(p) => {
            async {
                if !tx.delete_webhook_endpoint(ctx.org_id, &p.endpoint_id).await? {
                    return Err(Error::NotFound(format!(
                        "no webhook endpoint `{}` in this organization",
                        crypto::clip(&p.endpoint_id)
                    )));
                }
                Ok(json!({ "endpointId": p.endpoint_id }).into())
            }
            .await
        }
        _ => return None,
    })
}

async fn create_endpoint(
    tx: &mut dyn StoreTx,
    ctx: &ExecContext<'_>,
    p: &crate::intents::CreateWebhookEndpoint,
) -> Result<Executed> {
    let id = new_id();
    let (secret, generated) = match &p.secret {
        Some(s) => (zeroize::Zeroizing::new(s.clone()), false),
        None => {
            let mut raw = zeroize::Zeroizing::new([0u8; 32]);
            crate::secrets::random_bytes(raw.as_mut())?;
            let text = format!("whsec_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.as_ref()));
            (zeroize::Zeroizing::new(text), true)
        }
    };
    let subscriptions = match &p.subscriptions {
        Some(subs) => serde_json::to_string(subs).unwrap_or_else(|_| "[]".to_owned()),
        None => json!([{ "eventType": webhook::ACTIVITY_UPDATES, "isActive": true }]).to_string(),
    };
    let endpoint = WebhookEndpoint {
        secret: ctx.factors.secrets.seal(&webhook::secret_context(&id), secret.as_bytes())?,
        id,
        organization_id: ctx.org_id.to_owned(),
        name: crate::validate::check_name("name", &p.name)?,
        url: p.url.clone(),
        subscriptions,
        active: true,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    tx.insert_webhook_endpoint(&endpoint).await?;
    let result = json!({ "endpointId": endpoint.id, "webhookEndpoint": endpoint_view(&endpoint) });
    // A generated secret is shown once, to whoever created the endpoint.
    let reveal = generated.then(|| (ctx.initiator_user_id.to_owned(), json!({ "secret": secret.as_str() })));
    Ok(Executed { result, reveal })
}

/// Hands one notice to `notifier`; a sent notice counts as status 200.
async fn send_notice(notifier: &dyn Notifier, d: &Delivery) -> SendOutcome {
    let payload: Value = serde_json::from_str(&d.payload).unwrap_or_default();
    let field = |k: &str| payload[k].as_str().unwrap_or_default().to_owned();
    match notifier.notify(d.channel, &d.target, &field("subject"), &field("text")).await {
        Ok(()) => SendOutcome::Status(200),
        Err(why) => SendOutcome::Unreachable(why),
    }
}

/// Turnkey's `v1WebhookEndpointData` (never the secret).
fn endpoint_view(e: &WebhookEndpoint) -> Value {
    json!({
        "endpointId": e.id,
        "organizationId": e.organization_id,
        "url": e.url,
        "name": e.name,
        "isActive": e.active,
        "subscriptions": serde_json::from_str::<Value>(&e.subscriptions).unwrap_or_default(),
        "createdAt": Timestamp::from_ms(e.created_at),
    })
}

/// Turnkey's `v1SessionProfile`.
fn profile_view(p: &SessionProfile) -> Value {
    json!({
        "sessionProfileId": p.id,
        "organizationId": p.organization_id,
        "sessionProfileName": p.name,
        "scope": p.scope,
        "expirationSeconds": p.expiration_seconds.map(|s| s.to_string()),
        "notes": p.notes,
        "createdAt": Timestamp::from_ms(p.created_at),
        "updatedAt": Timestamp::from_ms(p.created_at),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileRequest {
    session_profile_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeliveriesRequest {
    #[serde(default)]
    endpoint_id: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
}

/// Runs a query of this module; `None` if `path` is not one.
pub(super) async fn query(path: &str, caller: &Caller, tx: &mut dyn StoreTx, body: &[u8]) -> Option<Result<Value>> {
    let org_id = &caller.organization.id;
    Some(match path {
        "get_session_profile" => {
            async {
                let req: ProfileRequest = parse_body(body)?;
                let profile = usable_profile(tx, org_id, &req.session_profile_id).await?;
                Ok(json!({ "sessionProfile": profile_view(&profile) }))
            }
            .await
        }
        "get_session_profiles" => {
            async {
                // This organization's profiles and those its ancestors made for it.
                let mut profiles = Vec::new();
                let mut org = Some(org_id.clone());
                for _ in 0..16 {
                    let Some(current) = org else { break };
                    profiles.extend(tx.list_session_profiles(&current).await?);
                    org = tx.get_organization(&current).await?.and_then(|o| o.parent_id);
                }
                Ok(json!({ "sessionProfiles": profiles.iter().map(profile_view).collect::<Vec<_>>() }))
            }
            .await
        }
        "list_webhook_endpoints" => {
            async {
                let endpoints = tx.list_webhook_endpoints(org_id).await?;
                Ok(json!({ "webhookEndpoints": endpoints.iter().map(endpoint_view).collect::<Vec<_>>() }))
            }
            .await
        }
        "list_webhook_deliveries" => {
            async {
                let req: DeliveriesRequest = parse_body(body)?;
                let limit = req.limit.unwrap_or(50);
                if !(1..=500).contains(&limit) {
                    return Err(Error::invalid(format!("limit: must be between 1 and 500, found {limit}")));
                }
                let deliveries =
                    tx.list_deliveries(org_id, Channel::Webhook, req.endpoint_id.as_deref(), limit).await?;
                Ok(json!({ "deliveries": deliveries.iter().map(webhook::delivery_view).collect::<Vec<_>>() }))
            }
            .await
        }
        _ => return None,
    })
}
