//! Webhook endpoints: CREATE_WEBHOOK_ENDPOINT (its signing secret sealed, shown once if
//! generated), UPDATE_WEBHOOK_ENDPOINT and DELETE_WEBHOOK_ENDPOINT.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Activity, Done, ExecContext, results, shows};
use crate::api::WebhookEndpointView;
use crate::crypto;
use crate::error::{Error, Result};
use crate::fields::Secret;
use crate::fields::params;
use crate::model::{WebhookEndpoint, new_id};
use crate::store::StoreTx;
use crate::validate::check_name;
use crate::webhook;

/// `v1CreateWebhookEndpointIntent` (+ twofold's optional `secret`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWebhookEndpoint {
    /// The receiver's URL (https, or http for loopback receivers).
    pub url: String,
    /// Human-readable name.
    pub name: String,
    /// Event subscriptions (`ACTIVITY_UPDATES`); absent = activity updates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriptions: Option<Vec<WebhookSubscription>>,
    /// The signing secret (at least 32 characters); absent = generated and shown once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
}

/// `v1WebhookSubscriptionParams`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookSubscription {
    /// The event type; twofold delivers `ACTIVITY_UPDATES`.
    pub event_type: String,
    /// JSON filter criteria (kept, not interpreted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters_json: Option<String>,
    /// Whether it is in force (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
}

/// `v1DeleteWebhookEndpointIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteWebhookEndpoint {
    /// The endpoint.
    pub endpoint_id: String,
}

/// `v1UpdateWebhookEndpointIntent`: a new URL, name or state (the secret stays).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateWebhookEndpoint {
    /// The endpoint.
    pub endpoint_id: String,
    /// New receiver URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether it receives events (an inactive endpoint's queued events are dropped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
}

results! {
    /// `v1UpdateWebhookEndpointResult`.
    UpdateWebhookEndpointResult { endpoint_id: String, webhook_endpoint: WebhookEndpointView }
    /// `v1DeleteWebhookEndpointResult`.
    DeleteWebhookEndpointResult { endpoint_id: String }
    /// `v1CreateWebhookEndpointResult` (a generated secret is shown once, never stored here).
    CreateWebhookEndpointResult { endpoint_id: String, webhook_endpoint: WebhookEndpointView }
}

/// DELETE_WEBHOOK_ENDPOINT: removes a receiver.
impl Activity for DeleteWebhookEndpoint {
    type Output = DeleteWebhookEndpointResult;

    fn policy_params(&self) -> Value {
        params!(self; endpoint_id)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<DeleteWebhookEndpointResult>> {
        if !tx.delete_webhook_endpoint(ctx.org_id, &self.endpoint_id).await? {
            return Err(no_endpoint(&self.endpoint_id));
        }
        Ok(DeleteWebhookEndpointResult { endpoint_id: self.endpoint_id.clone() }.into())
    }
}

/// UPDATE_WEBHOOK_ENDPOINT: changes where events go, the name, or whether they go at all.
impl Activity for UpdateWebhookEndpoint {
    type Output = UpdateWebhookEndpointResult;

    fn check(&self) -> Result<()> {
        if self.url.is_none() && self.name.is_none() && self.is_active.is_none() {
            return Err(Error::invalid("parameters: give url, name or isActive to change"));
        }
        self.name.as_deref().map(|n| check_name("name", n)).transpose()?;
        self.url.as_deref().map(webhook::check_url).transpose()?;
        Ok(())
    }

    fn policy_params(&self) -> Value {
        params!(self; endpoint_id, url, name, is_active)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<UpdateWebhookEndpointResult>> {
        let mut endpoint = tx
            .get_webhook_endpoint(&self.endpoint_id)
            .await?
            .filter(|e| e.organization_id == ctx.org_id)
            .ok_or_else(|| no_endpoint(&self.endpoint_id))?;
        if let Some(name) = &self.name {
            endpoint.name = check_name("name", name)?;
        }
        if let Some(url) = &self.url {
            endpoint.url = url.clone();
        }
        if let Some(active) = self.is_active {
            endpoint.active = active;
        }
        endpoint.updated_at = ctx.now;
        tx.update_webhook_endpoint(&endpoint).await?;
        let webhook_endpoint = WebhookEndpointView::from(&endpoint);
        Ok(UpdateWebhookEndpointResult { endpoint_id: endpoint.id, webhook_endpoint }.into())
    }
}

fn no_endpoint(id: &str) -> Error {
    Error::NotFound(format!("no webhook endpoint `{}` in this organization", crypto::clip(id)))
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
            && !(32..=256).contains(&secret.expose().len())
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
        params!(self; url, name)
    }

    shows!(SecretShown<'static>);

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<CreateWebhookEndpointResult>> {
        let id = new_id();
        let (secret, generated) = match &self.secret {
            Some(s) => (zeroize::Zeroizing::new(s.expose().to_owned()), false),
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
