//! Notices to users about their own account: a factor was bound or removed, or a login
//! contact changed (told at the address it replaced, which no longer hears of the account
//! otherwise). They are
//! queued in the outbox in the transaction that made the change, and delivered (and
//! retried) like webhook events, through a [`Notifier`] the server provides — the
//! enclave's mail delivery, or the dev outbox directory.

use async_trait::async_trait;

use crate::error::Result;
use crate::model::{Activity, Channel, Delivery, EmailEvent};
use crate::store::StoreTx;

/// A notice as queued: what the mail's subject and text (or the SMS's text) say.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Notice {
    /// Subject line (mail).
    pub subject: String,
    /// The text.
    pub text: String,
}

impl Notice {
    /// The delivery's stored payload.
    fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| crate::error::Error::Internal(e.to_string()))
    }

    /// Reads a stored payload back; a payload that is not a notice is `None`.
    pub fn from_payload(payload: &str) -> Option<Notice> {
        serde_json::from_str(payload).ok()
    }
}

/// The outbox event type of a notice.
pub const FACTOR_NOTICE: &str = "FACTOR_NOTICE";

/// The outbox event type of a notice to a contact an update replaced or removed.
pub const CONTACT_NOTICE: &str = "CONTACT_NOTICE";

/// Sends one notice; the server implements it over the configured delivery.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Delivers `text` with `subject` to `to`, an email address ([`Channel::Email`]) or a
    /// phone number ([`Channel::Sms`]); an error is the reason it failed.
    async fn notify(&self, channel: Channel, to: &str, subject: &str, text: &str) -> std::result::Result<(), String>;
}

/// Queues a notice to the owner of the factor `activity` bound or removed, at every address
/// on record (email and phone, NIST SP 800-63B-4 §4.6), in the activity's transaction.
/// Without any address there is nowhere to send it; the audit log still records the change.
/// Returns how many notices were queued.
pub async fn enqueue_factor_notice(
    tx: &mut dyn StoreTx,
    activity: &Activity,
    user_id: &str,
    now: i64,
) -> Result<usize> {
    let Some(user) = tx.get_user(&activity.organization_id, user_id).await? else { return Ok(0) };
    let what = match crate::model::version_free(&activity.activity_type) {
        "CREATE_AUTHENTICATORS" => "A passkey was added to",
        "DELETE_AUTHENTICATORS" => "A passkey was removed from",
        "VERIFY_TOTP_AUTHENTICATOR" => "An authenticator app was added to",
        "DELETE_TOTP_AUTHENTICATORS" => "An authenticator app was removed from",
        "CREATE_RECOVERY_CODES" => "A new set of recovery codes was created for",
        "CREATE_API_KEYS" => "An API key was added to",
        "DELETE_API_KEYS" => "An API key was removed from",
        _ => "A sign-in method was changed on",
    };
    let at = twofold_policy::Timestamp::from_unix_millis(now).map(|t| t.to_string()).unwrap_or_default();
    let subject = "Your sign-in methods changed";
    let text = format!(
        "{what} your account \"{}\" at {at} (activity {}).\n\nIf this was you, there is nothing to do. If it was \
         not, contact your administrator now: they can see who made the change in the audit log and remove \
         the sign-in method.",
        user.name, activity.id
    );
    // A text message says the same in fewer words.
    let short = format!("{what} your account \"{}\" at {at}. Not you? Contact your administrator now.", user.name);
    let addresses = [(Channel::Email, user.email.as_deref(), &text), (Channel::Sms, user.phone.as_deref(), &short)];
    let mut queued = 0;
    for (channel, address, body) in addresses {
        let Some(address) = address.filter(|a| !a.is_empty()) else { continue };
        let payload = Notice { subject: subject.to_owned(), text: body.clone() }.to_json()?;
        let id = crate::model::new_id();
        let notice = Delivery::pending(id, channel, address.to_owned(), activity, FACTOR_NOTICE, payload, now);
        tx.insert_delivery(&notice).await?;
        queued += 1;
    }
    Ok(queued)
}

/// Queues a notice to `old`, the email address ([`Channel::Email`]) or phone number a
/// just-executed `activity` replaced with `new` (`None`: removed) on the account `user_name`,
/// in the activity's transaction: the one address that can tell the owner someone else took
/// the account's codes.
pub async fn enqueue_contact_notice(
    tx: &mut dyn StoreTx,
    activity: &Activity,
    user_name: &str,
    channel: Channel,
    old: &str,
    new: Option<&str>,
    now: i64,
) -> Result<()> {
    let what = if channel == Channel::Sms { "phone number" } else { "email address" };
    let change = match new {
        Some(_) => format!("was replaced by another {what}"),
        None => "was removed".to_owned(),
    };
    let at = twofold_policy::Timestamp::from_unix_millis(now).map(|t| t.to_string()).unwrap_or_default();
    let text = if channel == Channel::Sms {
        format!(
            "This number {change} on your account \"{user_name}\" at {at}. Not you? Contact your administrator now."
        )
    } else {
        format!(
            "This {what} {change} on your account \"{user_name}\" at {at} (activity {}). It no longer receives \
             sign-in codes or notices for the account.\n\nIf this was you, there is nothing to do. If it was not, \
             contact your administrator now: they can see who made the change in the audit log.",
            activity.id
        )
    };
    let payload = Notice { subject: format!("The {what} of your account changed"), text }.to_json()?;
    let notice =
        Delivery::pending(crate::model::new_id(), channel, old.to_owned(), activity, CONTACT_NOTICE, payload, now);
    Ok(tx.insert_delivery(&notice).await?)
}

/// The event of one attempt to send an email: `Send` when the mail server took it,
/// `DeliveryDelay` when it failed and will be tried again, `Bounce` when it will not.
pub(crate) fn email_event(
    org_id: &str,
    message_id: &str,
    from: &str,
    to: &str,
    outcome: std::result::Result<(), String>,
    retried: bool,
    now: i64,
) -> EmailEvent {
    let (event_type, diagnostic) = match outcome {
        Ok(()) => ("Send", None),
        Err(why) if retried => ("DeliveryDelay", Some(why)),
        Err(why) => ("Bounce", Some(why)),
    };
    EmailEvent {
        id: crate::model::new_id(),
        organization_id: org_id.to_owned(),
        message_id: message_id.to_owned(),
        event_type: event_type.to_owned(),
        from_address: from.to_owned(),
        to_address: to.to_ascii_lowercase(),
        diagnostic: diagnostic.map(|d| crate::crypto::clip(&d)),
        created_at: now,
    }
}
