//! Session profiles (immutable scopes for sessions, checked on every activity such a
//! session submits), app activities (an application's own actions, gated like any
//! other) and webhook endpoints with their delivery.

use base64::Engine as _;
use serde_json::{Value, json};

use super::decide::Subject;
use super::{Caller, Engine, new_id};
use crate::activities::Intent;
use crate::activities::{Activity, Done, ExecContext, results};
use crate::activities::{ActivityKind, TypeVersion};
use crate::api::WebhookEndpointView;
use crate::crypto;
use crate::error::{Error, Result};
use crate::intents::{
    CreateAppActivity, CreateSessionProfile, CreateWebhookEndpoint, DeleteWebhookEndpoint, WebhookSubscription,
};
use crate::model::{Channel, Delivery, DeliveryStatus, KeyKind, SessionProfile, WebhookEndpoint};
use crate::notice::Notifier;
use crate::store::StoreTx;
use crate::validate::{MAX_KEY_LIFETIME_SECS, check_app_payload, check_app_word, check_expression, check_name};
use crate::webhook::{self, SendOutcome, WebhookSender};
use twofold_policy::Keywords;

/// The session profile `id`, if `org_id` may use it: it was created by that
/// organization or one of its ancestors.
pub(crate) async fn usable_profile(tx: &mut dyn StoreTx, org_id: &str, id: &str) -> Result<SessionProfile> {
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
        if matches!(intent, Intent::UpdateUser(p) if p.changes_contact())
            && intent.own_credential_target() == Some(caller.user.id.as_str())
        {
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

results! {
    /// `createSessionProfileResult`.
    CreateSessionProfileResult { session_profile_id: String }
    /// `createAppActivityResult`: what was allowed, echoed.
    CreateAppActivityResult {
        resource: String,
        action: String,
        #[cfg_attr(feature = "openapi", schema(value_type = Object))]
        payload: serde_json::Map<String, Value>,
    }
    /// `v1DeleteWebhookEndpointResult`.
    DeleteWebhookEndpointResult { endpoint_id: String }
    /// `v1CreateWebhookEndpointResult` (a generated secret is shown once, never stored here).
    CreateWebhookEndpointResult { endpoint_id: String, webhook_endpoint: WebhookEndpointView }
}

/// CREATE_SESSION_PROFILE: an immutable session scope.
impl Activity for CreateSessionProfile {
    type Output = CreateSessionProfileResult;

    fn check(&self) -> Result<()> {
        check_name("sessionProfileName", &self.session_profile_name)?;
        if self.scope.trim().is_empty() {
            return Err(Error::invalid("parameters.scope: must not be empty (use `true` for an unrestricted scope)"));
        }
        check_expression("parameters.scope", Some(&self.scope), Keywords::CONDITION)?;
        if self.expiration_seconds.is_some_and(|s| s == 0 || s > MAX_KEY_LIFETIME_SECS) {
            return Err(Error::invalid(format!(
                "parameters.expirationSeconds: must be between 1 and {MAX_KEY_LIFETIME_SECS}"
            )));
        }
        Ok(())
    }

    fn policy_params(&self) -> Value {
        json!({ "session_profile_name": self.session_profile_name, "expiration_seconds": self.expiration_seconds })
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<CreateSessionProfileResult>> {
        let profile = SessionProfile {
            id: new_id(),
            organization_id: ctx.org_id.to_owned(),
            name: check_name("sessionProfileName", &self.session_profile_name)?,
            scope: self.scope.clone(),
            expiration_seconds: self.expiration_seconds.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
            notes: self.notes.clone().unwrap_or_default(),
            created_at: ctx.now,
        };
        tx.insert_session_profile(&profile).await?;
        Ok(CreateSessionProfileResult { session_profile_id: profile.id }.into())
    }
}

/// CREATE_APP_ACTIVITY: nothing to change here; the result echoes what was allowed.
impl Activity for CreateAppActivity {
    type Output = CreateAppActivityResult;

    fn check(&self) -> Result<()> {
        check_app_word("resource", &self.resource)?;
        check_app_word("action", &self.action)?;
        if crate::activities::KINDS.iter().any(|k| k.resource == self.resource) || self.resource == "SECURITY_SETTINGS"
        {
            return Err(Error::invalid(format!(
                "parameters.resource: `{}` is a twofold resource; app activities name their own (e.g. `PAYOUT`)",
                self.resource
            )));
        }
        check_app_payload(&self.payload)
    }

    fn policy_params(&self) -> Value {
        Value::Object(self.payload.clone())
    }

    fn resource_action(&self) -> Option<(&str, &str)> {
        Some((&self.resource, &self.action))
    }

    async fn execute(&self, _tx: &mut dyn StoreTx, _ctx: &ExecContext<'_>) -> Result<Done<CreateAppActivityResult>> {
        let (resource, action, payload) = (self.resource.clone(), self.action.clone(), self.payload.clone());
        Ok(CreateAppActivityResult { resource, action, payload }.into())
    }
}

/// DELETE_WEBHOOK_ENDPOINT: removes a receiver.
impl Activity for DeleteWebhookEndpoint {
    type Output = DeleteWebhookEndpointResult;

    fn policy_params(&self) -> Value {
        json!({ "endpoint_id": self.endpoint_id })
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<DeleteWebhookEndpointResult>> {
        if !tx.delete_webhook_endpoint(ctx.org_id, &self.endpoint_id).await? {
            return Err(Error::NotFound(format!(
                "no webhook endpoint `{}` in this organization",
                crypto::clip(&self.endpoint_id)
            )));
        }
        Ok(DeleteWebhookEndpointResult { endpoint_id: self.endpoint_id.clone() }.into())
    }
}

/// A generated webhook secret, shown once.
#[derive(serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecretShown<'a> {
    /// The signing secret (`whsec_…`); the server keeps it sealed.
    pub secret: &'a str,
}

/// CREATE_WEBHOOK_ENDPOINT: a receiver with its signing secret (generated and revealed once if not given).
impl Activity for CreateWebhookEndpoint {
    type Output = CreateWebhookEndpointResult;

    fn check(&self) -> Result<()> {
        check_name("name", &self.name)?;
        webhook::check_url(&self.url)?;
        if let Some(secret) = &self.secret
            && !(32..=256).contains(&secret.len())
        {
            return Err(Error::invalid("parameters.secret: must be 32 to 256 characters"));
        }
        for (i, sub) in self.subscriptions.iter().flatten().enumerate() {
            if sub.event_type != webhook::ACTIVITY_UPDATES {
                return Err(Error::invalid(format!(
                    "parameters.subscriptions[{i}].eventType: twofold delivers `{}` only, found `{}`",
                    webhook::ACTIVITY_UPDATES,
                    crypto::clip(&sub.event_type)
                )));
            }
        }
        Ok(())
    }

    fn policy_params(&self) -> Value {
        json!({ "url": self.url, "name": self.name })
    }

    fn secrets_mut(&mut self) -> Vec<(&'static str, &mut String)> {
        self.secret.as_mut().map(|s| ("secret", s)).into_iter().collect()
    }

    #[cfg(feature = "openapi")]
    fn shown_schema(
        components: utoipa::openapi::ComponentsBuilder,
    ) -> (utoipa::openapi::ComponentsBuilder, Option<String>) {
        crate::activities::shown::<SecretShown<'static>>(components)
    }
    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<CreateWebhookEndpointResult>> {
        let id = new_id();
        let (secret, generated) = match &self.secret {
            Some(s) => (zeroize::Zeroizing::new(s.clone()), false),
            None => {
                let mut raw = zeroize::Zeroizing::new([0u8; 32]);
                crate::secrets::random_bytes(raw.as_mut())?;
                let text = format!("whsec_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.as_ref()));
                (zeroize::Zeroizing::new(text), true)
            }
        };
        let every_update = [WebhookSubscription {
            event_type: webhook::ACTIVITY_UPDATES.to_owned(),
            filters_json: None,
            is_active: Some(true),
        }];
        let subscriptions = self.subscriptions.as_deref().unwrap_or(&every_update);
        let endpoint = WebhookEndpoint {
            secret: ctx.factors.secrets.seal(&webhook::secret_context(&id), secret.as_bytes())?,
            id,
            organization_id: ctx.org_id.to_owned(),
            name: check_name("name", &self.name)?,
            url: self.url.clone(),
            subscriptions: serde_json::to_string(subscriptions).map_err(|e| Error::Internal(e.to_string()))?,
            active: true,
            created_at: ctx.now,
            updated_at: ctx.now,
        };
        tx.insert_webhook_endpoint(&endpoint).await?;
        let result = CreateWebhookEndpointResult {
            endpoint_id: endpoint.id.clone(),
            webhook_endpoint: WebhookEndpointView::from(&endpoint),
        };
        // A generated secret is shown once, to whoever created the endpoint.
        match generated {
            true => Done::revealing(result, ctx.initiator_user_id, &SecretShown { secret: secret.as_str() }),
            false => Ok(result.into()),
        }
    }
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
