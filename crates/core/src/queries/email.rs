//! What happened to the emails twofold sent: `list_email_events` (never what they said).

use serde::{Deserialize, Serialize};

use super::{Cx, Db, Pagination, Query};
use crate::error::{Error, Result};
use crate::model::EmailEvent;

/// `list_email_events`'s request.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ListEmailEventsRequest {
    /// The recipient.
    pub email: String,
    /// Only events of this type (`Send`, `Bounce`, `DeliveryDelay`).
    #[serde(default)]
    pub event_type: Option<String>,
    /// Page: `limit`, and `after` an event id of the previous page (older events follow).
    #[serde(default)]
    pub pagination_options: Option<Pagination>,
}

/// `v1EmailEventDetails`: what the transport said of a failure.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EmailEventDetails {
    /// Why the delivery failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostic_code: Option<String>,
}

/// `v1EmailEvent`.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EmailEventView {
    /// Id.
    pub id: String,
    /// The organization it was sent for.
    pub organization_id: String,
    /// The message (events of one message share it).
    pub message_id: String,
    /// `Send`, `Bounce` or `DeliveryDelay`.
    pub event_type: String,
    /// Sender.
    pub from_address: String,
    /// Recipient.
    pub to_address: String,
    /// When it happened, ms since epoch, as a string.
    pub timestamp: String,
    /// When it was recorded, ms since epoch, as a string.
    pub created_at: String,
    /// What the transport said.
    pub details: EmailEventDetails,
}

impl From<EmailEvent> for EmailEventView {
    fn from(e: EmailEvent) -> Self {
        EmailEventView {
            id: e.id,
            organization_id: e.organization_id,
            message_id: e.message_id,
            event_type: e.event_type,
            from_address: e.from_address,
            to_address: e.to_address,
            timestamp: e.created_at.to_string(),
            created_at: e.created_at.to_string(),
            details: EmailEventDetails { diagnostic_code: e.diagnostic },
        }
    }
}

/// `list_email_events`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ListEmailEventsResponse {
    /// Newest first.
    pub email_events: Vec<EmailEventView>,
}

/// `list_email_events`.
pub(crate) struct ListEmailEvents;

impl Query for ListEmailEvents {
    type Request = ListEmailEventsRequest;
    type Response = ListEmailEventsResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: ListEmailEventsRequest) -> Result<ListEmailEventsResponse> {
        if req.email.is_empty() || req.email.len() > crate::fields::MAX_FIELD {
            return Err(Error::invalid(format!("email: 1 to {} characters", crate::fields::MAX_FIELD)));
        }
        if let Some(t) = req.event_type.as_deref()
            && !matches!(t, "Send" | "Bounce" | "DeliveryDelay")
        {
            return Err(Error::invalid(format!(
                "eventType: expected Send, Bounce or DeliveryDelay, found `{}`",
                crate::crypto::clip(t)
            )));
        }
        let page = req.pagination_options.unwrap_or_default();
        if page.before.is_some() {
            return Err(Error::invalid("paginationOptions.before: events come newest first; page on with `after`"));
        }
        let limit = page.limit()?;
        let events = db
            .tx()
            .await?
            .email_events(
                cx.org(),
                &req.email.to_ascii_lowercase(),
                req.event_type.as_deref(),
                page.after.as_deref(),
                limit,
            )
            .await?;
        Ok(ListEmailEventsResponse { email_events: events.into_iter().map(EmailEventView::from).collect() })
    }
}
