//! Message delivery: email through SMTP, SMS through an HTTP webhook, or both into a local outbox.
//!
//! Also used by the coordinator for non-secret security notices. Nothing here logs a message body.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, fill_random};

/// The From address outbox mail carries (outbox mail never leaves the machine).
const OUTBOX_FROM: &str = "no-reply@twofold.invalid";
/// Where outbox SMS are addressed, so they are still well-formed RFC 5322 messages.
const OUTBOX_SMS_ADDRESS: &str = "sms@twofold.invalid";
const HEADER_CHANNEL: &str = "X-Twofold-Channel";
const HEADER_TO: &str = "X-Twofold-To";
const DEFAULT_TIMEOUT_MS: u64 = 10_000;
const MAX_TIMEOUT_MS: u64 = 120_000;

/// Which channel a message goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Email.
    Email,
    /// SMS text message.
    Sms,
}

impl Channel {
    /// `email` or `sms`.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }
}

/// How one channel's messages are delivered (configuration).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Delivery {
    /// Development default: each message becomes an `.eml` file (0600) in `dir` (0700).
    Outbox {
        /// The outbox directory.
        dir: PathBuf,
    },
    /// Email through an SMTP server.
    Smtp(SmtpConfig),
    /// SMS through an HTTP webhook (a gateway of your own, or Twilio's Messages API).
    Webhook(WebhookConfig),
}

/// Transport security of the SMTP connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain text (a local relay or a test sink only).
    None,
    /// Plain connection upgraded with STARTTLS (usually port 587); required, never optional.
    #[default]
    StartTls,
    /// TLS from the first byte (usually port 465).
    Tls,
}

/// An SMTP server to send email through.
#[derive(Clone, Serialize, Deserialize)]
pub struct SmtpConfig {
    /// Server host name.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Transport security.
    #[serde(default)]
    pub tls: SmtpTls,
    /// Login user, if the server wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// Login password.
    #[serde(default)]
    pub password: Option<String>,
    /// The From mailbox, e.g. `Example <no-reply@example.com>`.
    pub from: String,
    /// Give up on one message after this long.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// Body format of the SMS webhook.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// `POST` JSON `{"to": "+15551234567", "body": "..."}`.
    #[default]
    Json,
    /// `POST` form `To=…&From=…&Body=…`, as Twilio's Messages API takes it.
    TwilioForm,
}

/// How the webhook call authenticates.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WebhookAuth {
    /// No authentication header.
    #[default]
    None,
    /// One header, e.g. `Authorization: Bearer …`.
    Header {
        /// Header name.
        name: String,
        /// Header value.
        value: String,
    },
    /// HTTP Basic (Twilio: account SID and auth token).
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
}

impl std::fmt::Debug for WebhookAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebhookAuth::None => f.write_str("None"),
            WebhookAuth::Header { name, .. } => write!(f, "Header {{ name: {name:?}, value: <redacted> }}"),
            WebhookAuth::Basic { username, .. } => {
                write!(f, "Basic {{ username: {username:?}, password: <redacted> }}")
            }
        }
    }
}

/// An HTTP endpoint that sends SMS.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookConfig {
    /// `http://` or `https://` URL the message is POSTed to.
    pub url: String,
    /// Body format.
    #[serde(default)]
    pub format: WebhookFormat,
    /// Sender number or id (`From` of the Twilio form; ignored by the JSON format).
    #[serde(default)]
    pub from: Option<String>,
    /// Authentication.
    #[serde(default)]
    pub auth: WebhookAuth,
    /// Give up on one message after this long.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

/// One message to deliver. Its text may hold a code: it is never logged or shown by `Debug`.
#[derive(Clone)]
pub struct OutgoingMessage {
    /// Channel.
    pub channel: Channel,
    /// Email address or E.164 phone number.
    pub to: String,
    /// Subject (email only; SMS ignores it).
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// Display name for the From mailbox (email only).
    pub sender_name: Option<String>,
    /// Reply-To address (email only).
    pub reply_to: Option<String>,
}

impl Drop for OutgoingMessage {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.text);
    }
}

impl std::fmt::Debug for OutgoingMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingMessage")
            .field("channel", &self.channel)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Checks that `contact` is deliverable on `channel`: an email address, or an E.164 number (`+` and 8–15 digits).
pub fn validate_contact(channel: Channel, contact: &str) -> Result<()> {
    match channel {
        Channel::Email => {
            if contact.len() > 254 {
                return Err(Error::InvalidInput("email address is longer than 254 characters".into()));
            }
            contact
                .parse::<Address>()
                .map(|_| ())
                .map_err(|_| Error::InvalidInput(format!("`{contact}` is not an email address")))
        }
        Channel::Sms => {
            let digits = contact.strip_prefix('+').unwrap_or("");
            if (8..=15).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
                && !digits.starts_with('0')
            {
                Ok(())
            } else {
                Err(Error::InvalidInput(format!(
                    "`{contact}` is not an E.164 phone number (`+` then 8 to 15 digits, e.g. +15551234567)"
                )))
            }
        }
    }
}

enum Transport {
    Outbox(PathBuf),
    Smtp { transport: AsyncSmtpTransport<Tokio1Executor>, from: Mailbox, timeout: Duration },
    Webhook { agent: ureq::Agent, config: WebhookConfig, timeout: Duration },
}

impl Transport {
    fn build(channel: Channel, delivery: Delivery) -> Result<Self> {
        match (channel, delivery) {
            (_, Delivery::Outbox { dir }) => Ok(Transport::Outbox(dir)),
            (Channel::Email, Delivery::Smtp(c)) => {
                // lettre's connection pool starts its cleanup task on the current runtime.
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(Error::InvalidInput("SMTP delivery must be set up inside a Tokio runtime".into()));
                }
                let timeout = timeout(c.timeout_ms)?;
                let from: Mailbox = c
                    .from
                    .parse()
                    .map_err(|_| Error::InvalidInput(format!("SMTP from `{}` is not a mailbox", c.from)))?;
                let builder = match c.tls {
                    SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(c.host.clone()),
                    SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&c.host)
                        .map_err(|e| Error::InvalidInput(format!("SMTP host `{}`: {e}", c.host)))?,
                    SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&c.host)
                        .map_err(|e| Error::InvalidInput(format!("SMTP host `{}`: {e}", c.host)))?,
                };
                let mut builder = builder.port(c.port).timeout(Some(timeout));
                if let Some(user) = &c.username {
                    builder =
                        builder.credentials(Credentials::new(user.clone(), c.password.clone().unwrap_or_default()));
                }
                Ok(Transport::Smtp { transport: builder.build(), from, timeout })
            }
            (Channel::Sms, Delivery::Webhook(c)) => {
                if !(c.url.starts_with("https://") || c.url.starts_with("http://")) {
                    return Err(Error::InvalidInput(format!("SMS webhook URL `{}` is not http(s)", c.url)));
                }
                if c.format == WebhookFormat::TwilioForm && c.from.as_deref().is_none_or(str::is_empty) {
                    return Err(Error::InvalidInput("the Twilio form format needs a `from` number".into()));
                }
                let timeout = timeout(c.timeout_ms)?;
                let agent = ureq::Agent::config_builder()
                    .timeout_global(Some(timeout))
                    .http_status_as_error(false)
                    .max_redirects(0)
                    .build()
                    .into();
                Ok(Transport::Webhook { agent, config: c, timeout })
            }
            (Channel::Email, Delivery::Webhook(_)) => {
                Err(Error::InvalidInput("email cannot be delivered by the SMS webhook: use smtp or outbox".into()))
            }
            (Channel::Sms, Delivery::Smtp(_)) => {
                Err(Error::InvalidInput("SMS cannot be delivered over SMTP: use webhook or outbox".into()))
            }
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Transport::Outbox(_) => "outbox",
            Transport::Smtp { .. } => "smtp",
            Transport::Webhook { .. } => "webhook",
        }
    }
}

fn timeout(ms: u64) -> Result<Duration> {
    if ms == 0 || ms > MAX_TIMEOUT_MS {
        return Err(Error::InvalidInput(format!("delivery timeout must be 1..={MAX_TIMEOUT_MS} ms, not {ms}")));
    }
    Ok(Duration::from_millis(ms))
}

/// Sends messages with the configured transport per channel.
pub struct Deliverer {
    email: Transport,
    sms: Transport,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer").field("email", &self.email.kind()).field("sms", &self.sms.kind()).finish()
    }
}

impl Deliverer {
    /// Builds the transports; refuses a combination that cannot work (email over a webhook, SMS over SMTP).
    ///
    /// Call it inside the Tokio runtime that will send: the SMTP pool lives on that runtime.
    pub fn new(email: Delivery, sms: Delivery) -> Result<Self> {
        Ok(Deliverer { email: Transport::build(Channel::Email, email)?, sms: Transport::build(Channel::Sms, sms)? })
    }

    /// Both channels into one outbox directory (the development default).
    pub fn outbox(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Deliverer { email: Transport::Outbox(dir.clone()), sms: Transport::Outbox(dir) }
    }

    /// Delivers `message`; an error says which transport failed and why (never the message text).
    pub async fn send(&self, message: &OutgoingMessage) -> Result<()> {
        validate_contact(message.channel, &message.to)?;
        let transport = match message.channel {
            Channel::Email => &self.email,
            Channel::Sms => &self.sms,
        };
        let result = match transport {
            Transport::Outbox(dir) => {
                let dir = dir.clone();
                let message = message.clone();
                tokio::task::spawn_blocking(move || Outbox::write(&dir, &message).map(|_| ()))
                    .await
                    .map_err(|e| Error::Internal(format!("outbox task failed: {e}")))?
            }
            Transport::Smtp { transport, from, timeout } => send_smtp(transport, from, *timeout, message).await,
            Transport::Webhook { agent, config, timeout } => {
                let (agent, config, message) = (agent.clone(), config.clone(), message.clone());
                let task = tokio::task::spawn_blocking(move || send_webhook(&agent, &config, &message));
                // ureq's own timeout bounds the call; this one bounds a stuck resolver too.
                match tokio::time::timeout(*timeout + Duration::from_secs(1), task).await {
                    Ok(joined) => joined.map_err(|e| Error::Internal(format!("webhook task failed: {e}")))?,
                    Err(_) => Err(Error::Delivery(format!("SMS webhook did not answer within {timeout:?}"))),
                }
            }
        };
        match &result {
            Ok(()) => {
                tracing::debug!(channel = message.channel.as_str(), transport = transport.kind(), "message delivered")
            }
            Err(e) => {
                tracing::warn!(channel = message.channel.as_str(), transport = transport.kind(), error = %e, "delivery failed")
            }
        }
        result
    }

    /// Sends a non-secret notice (e.g. "a passkey was added to your account").
    pub async fn send_notice(&self, channel: Channel, contact: &str, subject: &str, text: &str) -> Result<()> {
        self.send(&OutgoingMessage {
            channel,
            to: contact.to_owned(),
            subject: subject.to_owned(),
            text: text.to_owned(),
            sender_name: None,
            reply_to: None,
        })
        .await
    }
}

fn build_email(from: &Mailbox, message: &OutgoingMessage, outbox: bool) -> Result<Message> {
    let from = match message.sender_name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => Mailbox::new(Some(name.to_owned()), from.email.clone()),
        None => from.clone(),
    };
    let to = match message.channel {
        Channel::Email => message
            .to
            .parse::<Mailbox>()
            .map_err(|_| Error::InvalidInput(format!("`{}` is not an email address", message.to)))?,
        Channel::Sms => Mailbox::new(Some(message.to.clone()), address(OUTBOX_SMS_ADDRESS)?),
    };
    let mut builder = Message::builder().from(from).to(to).subject(message.subject.clone()).date_now();
    if let Some(reply_to) = message.reply_to.as_deref().filter(|r| !r.is_empty()) {
        let mbox = reply_to
            .parse::<Mailbox>()
            .map_err(|_| Error::InvalidInput(format!("reply-to `{reply_to}` is not an email address")))?;
        builder = builder.reply_to(mbox);
    }
    if outbox {
        builder = builder
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str(HEADER_CHANNEL),
                message.channel.as_str().into(),
            ))
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str(HEADER_TO), message.to.clone()));
    }
    let body = Body::new_with_encoding(message.text.clone(), ContentTransferEncoding::SevenBit)
        .or_else(|_| Body::new_with_encoding(message.text.clone(), ContentTransferEncoding::Base64))
        .map_err(|_| Error::Internal("message body cannot be encoded".into()))?;
    builder
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| Error::InvalidInput(format!("cannot build the email: {e}")))
}

fn address(text: &str) -> Result<Address> {
    text.parse().map_err(|_| Error::Internal(format!("`{text}` is not an address")))
}

async fn send_smtp(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    from: &Mailbox,
    timeout: Duration,
    message: &OutgoingMessage,
) -> Result<()> {
    let email = build_email(from, message, false)?;
    // lettre's timeout covers each socket operation; this one bounds the whole exchange.
    match tokio::time::timeout(timeout * 2, transport.send(email)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Error::Delivery(format!("SMTP: {e}"))),
        Err(_) => Err(Error::Delivery(format!("SMTP server did not finish within {:?}", timeout * 2))),
    }
}

fn send_webhook(agent: &ureq::Agent, config: &WebhookConfig, message: &OutgoingMessage) -> Result<()> {
    let mut request = agent.post(&config.url);
    match &config.auth {
        WebhookAuth::None => {}
        WebhookAuth::Header { name, value } => request = request.header(name.as_str(), value.as_str()),
        WebhookAuth::Basic { username, password } => {
            let basic = format!("Basic {}", STANDARD.encode(format!("{username}:{password}")));
            request = request.header("Authorization", basic);
        }
    }
    let response = match config.format {
        WebhookFormat::Json => {
            let body = serde_json::json!({ "to": message.to, "body": message.text });
            request.content_type("application/json").send(body.to_string())
        }
        WebhookFormat::TwilioForm => {
            let from = config.from.as_deref().unwrap_or_default();
            request.send_form([("To", message.to.as_str()), ("From", from), ("Body", message.text.as_str())])
        }
    };
    let response = response.map_err(|e| Error::Delivery(format!("SMS webhook: {e}")))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(Error::Delivery(format!("SMS webhook answered HTTP {}", status.as_u16())))
    }
}

/// A message read back from an outbox directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// The `.eml` file.
    pub path: PathBuf,
    /// Channel the message was meant for.
    pub channel: Channel,
    /// Recipient: email address or phone number.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// The `Date` header.
    pub date: String,
    /// Decoded plain-text body (CRLF line ends as sent).
    pub body: String,
}

impl OutboxMessage {
    /// The one-time code a code message carries, as its reader would find it: an email's
    /// code stands alone on an indented line; the default SMS text starts with it. `None` for
    /// notices and for SMS texts from a custom template.
    pub fn code(&self) -> Option<&str> {
        let alphanumeric = |w: &str| (6..=9).contains(&w.len()) && w.bytes().all(|b| b.is_ascii_alphanumeric());
        match self.channel {
            Channel::Email => {
                self.body.lines().find(|l| l.starts_with("    ")).map(str::trim).filter(|c| alphanumeric(c))
            }
            Channel::Sms => self
                .body
                .split_once(" is your ")
                .map(|(code, _)| code.trim())
                .filter(|c| alphanumeric(c) && self.subject.ends_with(" code")),
        }
    }
}

/// The development outbox: one RFC 5322 `.eml` file per message, names sortable by time.
#[derive(Debug, Clone, Copy)]
pub struct Outbox;

impl Outbox {
    /// Writes `message` into `dir` (created 0700) as a new 0600 file and returns its path.
    pub fn write(dir: &Path, message: &OutgoingMessage) -> Result<PathBuf> {
        let email = build_email(&Mailbox::new(None, address(OUTBOX_FROM)?), message, true)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::Delivery(format!("outbox `{}`: {e}", dir.display())))?;
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
        let mut suffix = [0u8; 4];
        fill_random(&mut suffix)?;
        let name = format!("{nanos:020}-{}-{}.eml", hex::encode(suffix), message.channel.as_str());
        let path = dir.join(&name);
        let staging = dir.join(format!(".{name}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&staging)?;
            f.write_all(&email.formatted())?;
            f.sync_all()?;
            fs::rename(&staging, &path)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&staging);
            Error::Delivery(format!("outbox `{}`: {e}", dir.display()))
        })?;
        Ok(path)
    }

    /// The outbox's `.eml` files, oldest first; an absent directory is an empty outbox.
    pub fn list(dir: &Path) -> Result<Vec<PathBuf>> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut paths = Vec::new();
        for entry in entries {
            let path = entry?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.ends_with(".eml") && !name.starts_with('.') {
                paths.push(path);
            }
        }
        paths.sort();
        Ok(paths)
    }

    /// Reads and decodes one outbox file.
    pub fn read(path: &Path) -> Result<OutboxMessage> {
        let raw = fs::read_to_string(path)?;
        let bad = |what: &str| Error::InvalidInput(format!("`{}` is not an outbox message: {what}", path.display()));
        let (head, body) = raw.split_once("\r\n\r\n").ok_or_else(|| bad("no header/body separator"))?;
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = headers.last_mut() {
                    value.push_str(line);
                }
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        let channel = match header(&HEADER_CHANNEL.to_ascii_lowercase()) {
            Some("sms") => Channel::Sms,
            Some("email") => Channel::Email,
            _ => return Err(bad("no X-Twofold-Channel header")),
        };
        let to = header(&HEADER_TO.to_ascii_lowercase()).ok_or_else(|| bad("no X-Twofold-To header"))?.to_owned();
        let body = match header("content-transfer-encoding") {
            Some(enc) if enc.eq_ignore_ascii_case("base64") => {
                let compact: String = body.split_whitespace().collect();
                let bytes = STANDARD.decode(compact).map_err(|_| bad("body is not base64"))?;
                String::from_utf8(bytes).map_err(|_| bad("body is not UTF-8"))?
            }
            _ => body.to_owned(),
        };
        Ok(OutboxMessage {
            path: path.to_owned(),
            channel,
            to,
            subject: decode_encoded_words(header("subject").unwrap_or_default()),
            date: header("date").unwrap_or_default().to_owned(),
            body,
        })
    }
}

/// Decodes RFC 2047 `=?utf-8?b?…?=` words (what lettre writes for non-ASCII subjects).
fn decode_encoded_words(value: &str) -> String {
    let mut out = String::new();
    let mut previous_was_word = false;
    for (i, token) in value.split(' ').enumerate() {
        let decoded = token.strip_prefix("=?").and_then(|t| t.strip_suffix("?=")).and_then(|t| {
            let mut parts = t.splitn(3, '?');
            let (charset, enc, text) = (parts.next()?, parts.next()?, parts.next()?);
            if !charset.eq_ignore_ascii_case("utf-8") || !enc.eq_ignore_ascii_case("b") {
                return None;
            }
            String::from_utf8(STANDARD.decode(text).ok()?).ok()
        });
        match decoded {
            Some(text) => {
                if i > 0 && !previous_was_word {
                    out.push(' ');
                }
                out.push_str(&text);
                previous_was_word = true;
            }
            None => {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(token);
                previous_was_word = false;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;

    #[test]
    fn an_outbox_message_names_its_code_and_a_notice_none() {
        let msg = |channel, subject: &str, body: &str| OutboxMessage {
            path: PathBuf::from("m.eml"),
            channel,
            to: "a@example.com".into(),
            subject: subject.into(),
            date: String::new(),
            body: body.into(),
        };
        let mail =
            msg(Channel::Email, "Acme verification code", "Your Acme verification code is:\r\n\r\n    123456\r\n");
        assert_eq!(mail.code(), Some("123456"));
        let text = msg(Channel::Sms, "Acme code", "654321 is your Acme code. It expires in 5 min. Never share it.");
        assert_eq!(text.code(), Some("654321"));
        let notice = msg(Channel::Email, "A passkey was added", "A passkey was added to your account.\r\n");
        assert_eq!(notice.code(), None);
        let custom = msg(Channel::Sms, "Acme code", "Code: 654321");
        assert_eq!(custom.code(), None, "a custom template is not guessed at");
    }

    #[test]
    fn contacts_are_validated_per_channel() {
        assert!(validate_contact(Channel::Email, "a@example.com").is_ok());
        assert!(validate_contact(Channel::Email, "not an email").is_err());
        assert!(validate_contact(Channel::Sms, "+15551234567").is_ok());
        for bad in ["15551234567", "+1555", "+1555123456789012", "+1555-123-4567", "+05551234567"] {
            assert!(validate_contact(Channel::Sms, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn encoded_words_decode() {
        assert_eq!(decode_encoded_words("plain subject"), "plain subject");
        let word = format!("=?utf-8?b?{}?=", STANDARD.encode("Café code"));
        assert_eq!(decode_encoded_words(&format!("Your {word}")), "Your Café code");
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let auth = WebhookAuth::Basic { username: "AC1".into(), password: "hunter2".into() };
        assert!(!format!("{auth:?}").contains("hunter2"));
        let smtp = SmtpConfig {
            host: "h".into(),
            port: 1,
            tls: SmtpTls::None,
            username: Some("u".into()),
            password: Some("hunter2".into()),
            from: "a@b.c".into(),
            timeout_ms: 1,
        };
        assert!(!format!("{smtp:?}").contains("hunter2"));
        let msg = OutgoingMessage {
            channel: Channel::Email,
            to: "a@b.c".into(),
            subject: "s".into(),
            text: "code 123456".into(),
            sender_name: None,
            reply_to: None,
        };
        assert!(!format!("{msg:?}").contains("123456"));
    }

    #[test]
    fn mismatched_transports_are_refused() {
        let hook = WebhookConfig {
            url: "http://127.0.0.1:1/".into(),
            format: WebhookFormat::Json,
            from: None,
            auth: WebhookAuth::None,
            timeout_ms: 1000,
        };
        let err = Deliverer::new(Delivery::Webhook(hook), Delivery::Outbox { dir: "/tmp".into() }).unwrap_err();
        assert!(err.to_string().contains("email cannot be delivered"), "{err}");
        let smtp = SmtpConfig {
            host: "127.0.0.1".into(),
            port: 25,
            tls: SmtpTls::None,
            username: None,
            password: None,
            from: "a@b.c".into(),
            timeout_ms: 1000,
        };
        // Outside a runtime: a clear error, not lettre's panic.
        let err = Deliverer::new(Delivery::Smtp(smtp), Delivery::Outbox { dir: "/tmp".into() }).unwrap_err();
        assert!(err.to_string().contains("Tokio runtime"), "{err}");
    }
}
