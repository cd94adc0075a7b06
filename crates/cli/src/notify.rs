//! Where notices to users go: through the enclave crate's delivery (SMTP when
//! configured, else the dev outbox directory that `twofold` can list).

use async_trait::async_trait;
use twofold_core::notice::Notifier;
use twofold_enclave::{Channel, Deliverer};

/// Sends notices by email with a [`Deliverer`].
#[derive(Debug)]
pub struct MailNotifier(pub Deliverer);

#[async_trait]
impl Notifier for MailNotifier {
    async fn notify(&self, to: &str, subject: &str, text: &str) -> Result<(), String> {
        self.0.send_notice(Channel::Email, to, subject, text).await.map_err(|e| e.to_string())
    }
}
