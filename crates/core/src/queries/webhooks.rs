//! Webhook receivers and their delivery log.

use serde::{Deserialize, Serialize};

use super::{Cx, Db, NoFields, Query};
use crate::api::{DeliveryView, WebhookEndpointView};
use crate::error::{Error, Result};
use crate::model::Channel;

/// `list_webhook_endpoints`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ListWebhookEndpointsResponse {
    /// The receivers (never their secrets).
    pub webhook_endpoints: Vec<WebhookEndpointView>,
}

/// `list_webhook_endpoints`.
pub(crate) struct ListWebhookEndpoints;

impl Query for ListWebhookEndpoints {
    type Request = NoFields;
    type Response = ListWebhookEndpointsResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, _: NoFields) -> Result<ListWebhookEndpointsResponse> {
        let endpoints = db.tx().await?.list_webhook_endpoints(cx.org()).await?;
        Ok(ListWebhookEndpointsResponse {
            webhook_endpoints: endpoints.iter().map(WebhookEndpointView::from).collect(),
        })
    }
}

/// `list_webhook_deliveries`'s request.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ListWebhookDeliveriesRequest {
    /// Only this receiver's deliveries.
    #[serde(default)]
    pub endpoint_id: Option<String>,
    /// At most this many, 1 to 500 (default 50).
    #[serde(default)]
    pub limit: Option<i64>,
}

/// `list_webhook_deliveries`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListWebhookDeliveriesResponse {
    /// Newest first.
    pub deliveries: Vec<DeliveryView>,
}

/// `list_webhook_deliveries`.
pub(crate) struct ListWebhookDeliveries;

impl Query for ListWebhookDeliveries {
    type Request = ListWebhookDeliveriesRequest;
    type Response = ListWebhookDeliveriesResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: ListWebhookDeliveriesRequest) -> Result<ListWebhookDeliveriesResponse> {
        let limit = req.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(Error::invalid(format!("limit: must be between 1 and 500, found {limit}")));
        }
        let deliveries =
            db.tx().await?.list_deliveries(cx.org(), Channel::Webhook, req.endpoint_id.as_deref(), limit).await?;
        Ok(ListWebhookDeliveriesResponse { deliveries: deliveries.iter().map(DeliveryView::from).collect() })
    }
}
