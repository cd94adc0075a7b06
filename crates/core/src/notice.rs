//! Notices to users about their own account: a factor was bound or removed. They are
//! queued in the outbox in the transaction that made the change, and delivered (and
//! retried) like webhook events, through a [`Notifier`] the server provides — the
//! enclave's mail delivery, or the dev outbox directory.

use async_trait::async_trait;
use serde_json::json;

use crate::error::Result;
use crate::model::{Activity, Channel, Delivery};
use crate::store::StoreTx;

/// The outbox event type of a notice.
pub const FACTOR_NOTICE: &str = "FACTOR_NOTICE";

/// Sends one notice email; the server implements it over the configured delivery.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Delivers `text` with `subject` to the email address `to`; an error is the reason it failed.
    async fn notify(&self, to: &str, subject: &str, text: &str) -> std::result::Result<(), String>;
}

/// Queues a notice to the owner of the factor `activity` bound or removed, if they have an
/// email address on record (without one there is nowhere to send it; the audit log still
/// records the change). Returns whether a notice was queued.
pub async fn enqueue_factor_notice(tx: &mut dyn StoreTx, activity: &Activity, user_id: &str, now: i64) -> Result<bool> {
    let Some(user) = tx.get_user(&activity.organization_id, user_id).await? else { return Ok(false) };
    let Some(email) = user.email.filter(|e| !e.is_empty()) else { return Ok(false) };
    let what = match crate::activity_types::version_free(&activity.activity_type) {
        "CREATE_AUTHENTICATORS" => "A passkey was added to",
        "DELETE_AUTHENTICATORS" => "A passkey was removed from",
        "VERIFY_TOTP_AUTHENTICATOR" => "An authenticator app was added to",
        "DELETE_TOTP_AUTHENTICATORS" => "An authenticator app was removed from",
        "CREATE_RECOVERY_CODES" => "A new set of recovery codes was created for",
        _ => "A sign-in method was changed on",
    };
    let at = twofold_policy::Timestamp::from_unix_millis(now).map(|t| t.to_string()).unwrap_or_default();
    let subject = "Your sign-in methods changed".to_owned();
    let text = format!(
        "{what} your account \"{}\" at {at} (activity {}).\n\nIf this was you, there is nothing to do. If it was \
         not, contact your administrator now: they can see who made the change in the audit log and remove \
         the sign-in method.",
        user.name, activity.id
    );
    let payload = json!({ "subject": subject, "text": text }).to_string();
    let notice =
        Delivery::pending(crate::engine::new_id(), Channel::Email, email, activity, FACTOR_NOTICE, payload, now);
    tx.insert_delivery(&notice).await?;
    Ok(true)
}
