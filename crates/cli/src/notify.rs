//! Where notices to users go: through the enclave crate's delivery (SMTP when
//! configured, else the dev outbox directory that `twofold` can list).

use async_trait::async_trait;
use twofold_core::model::Channel;
use twofold_core::notice::Notifier;
use twofold_enclave::Deliverer;

/// Sends notices by email or text message with a [`Deliverer`].
#[derive(Debug)]
pub struct MailNotifier(pub Deliverer);

#[async_trait]
impl Notifier for MailNotifier {
    async fn notify(&self, channel: Channel, to: &str, subject: &str, text: &str) -> Result<(), String> {
        let channel = match channel {
            Channel::Email => twofold_enclave::Channel::Email,
            Channel::Sms => twofold_enclave::Channel::Sms,
            Channel::Webhook => return Err("webhook events are not notices".to_owned()),
        };
        self.0.send_notice(channel, to, subject, text).await.map_err(|e| e.to_string())
    }
}
