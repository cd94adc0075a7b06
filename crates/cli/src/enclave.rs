//! The enclave in the binary: the adapter from the domain's [`OtpEnclave`] port to
//! `twofold-enclave` (in-process or over its Unix socket), the delivery flags, and
//! `twofold enclave`, which runs the enclave as its own process.
//!
//! The port lives in core and this adapter here, so the domain stays free of SMTP, HTTP
//! and socket code (and of lettre and ureq), and the enclave crate free of the domain.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use clap::{Args, ValueEnum};
use twofold_core::otp::{
    EnclavePublicKeys, OtpAttempt, OtpChannel, OtpChecked, OtpConfig, OtpEnclave, OtpStart, OtpStarted, OtpVerdict,
    TokenClaims,
};
use twofold_enclave::{
    DeliverOtpRequest, Deliverer, Delivery, EmailCustomization, Enclave, EnclaveApi, EnclaveConfig, EnclaveKeys,
    InitOtpRequest, OtpType, RemoteEnclave, SmtpConfig, SmtpTls, VerifyOtpRequest, VerifyOutcome, WebhookAuth,
    WebhookConfig, WebhookFormat,
};

use crate::CliError;
use crate::enclave_child::{EnclaveChild, Parent};

/// SMTP transport security.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TlsMode {
    /// Plain text (a local relay or test sink only).
    None,
    /// STARTTLS, required (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// SMS webhook body format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SmsFormat {
    /// JSON `{"to", "body"}`.
    Json,
    /// Twilio's form `To`, `From`, `Body`.
    TwilioForm,
}

/// Where the enclave keeps its keys and how it delivers codes (`serve` in-process, and `enclave`).
#[derive(Debug, Args, Default)]
pub struct DeliveryArgs {
    /// Enclave key file (P-256 signing key, sealing key), created 0600 if missing
    /// [default: DATA_DIR/enclave-keys.json].
    #[arg(long, env = "TWOFOLD_ENCLAVE_KEY_FILE", value_name = "FILE")]
    pub enclave_key_file: Option<PathBuf>,
    /// Development outbox: codes are written here as .eml files unless SMTP / an SMS webhook is set
    /// [default: DATA_DIR/outbox].
    #[arg(long, env = "TWOFOLD_OUTBOX_DIR", value_name = "DIR")]
    pub outbox_dir: Option<PathBuf>,
    /// SMTP server for email codes (without it, email goes to the outbox).
    #[arg(long, env = "TWOFOLD_SMTP_HOST", value_name = "HOST")]
    pub smtp_host: Option<String>,
    /// SMTP port [default: 587].
    #[arg(long, env = "TWOFOLD_SMTP_PORT", value_name = "PORT")]
    pub smtp_port: Option<u16>,
    /// SMTP transport security [default: starttls].
    #[arg(long, env = "TWOFOLD_SMTP_TLS", value_enum)]
    pub smtp_tls: Option<TlsMode>,
    /// SMTP login user.
    #[arg(long, env = "TWOFOLD_SMTP_USERNAME", value_name = "USER")]
    pub smtp_username: Option<String>,
    /// File holding the SMTP password.
    #[arg(long, env = "TWOFOLD_SMTP_PASSWORD_FILE", value_name = "FILE")]
    pub smtp_password_file: Option<PathBuf>,
    /// From mailbox [default: twofold <no-reply@twofold.invalid>].
    #[arg(long, env = "TWOFOLD_SMTP_FROM", value_name = "MAILBOX")]
    pub smtp_from: Option<String>,
    /// Per-operation SMTP / webhook timeout, ms (a whole delivery is bounded at twice this) [default: 10000].
    #[arg(long, env = "TWOFOLD_DELIVERY_TIMEOUT_MS", value_name = "MS")]
    pub delivery_timeout_ms: Option<u64>,
    /// HTTPS endpoint SMS codes are POSTed to (without it, SMS go to the outbox).
    #[arg(long, env = "TWOFOLD_SMS_WEBHOOK_URL", value_name = "URL")]
    pub sms_webhook_url: Option<String>,
    /// SMS webhook body format [default: json].
    #[arg(long, env = "TWOFOLD_SMS_WEBHOOK_FORMAT", value_enum)]
    pub sms_webhook_format: Option<SmsFormat>,
    /// Sender number for the Twilio form.
    #[arg(long, env = "TWOFOLD_SMS_WEBHOOK_FROM", value_name = "NUMBER")]
    pub sms_webhook_from: Option<String>,
    /// File holding one `Name: value` header the webhook call carries (e.g. `Authorization: Bearer …`).
    #[arg(long, env = "TWOFOLD_SMS_WEBHOOK_HEADER_FILE", value_name = "FILE")]
    pub sms_webhook_header_file: Option<PathBuf>,
    /// Wrong attempts per code before it is burned (1–100) [default: 5].
    #[arg(long, env = "TWOFOLD_OTP_MAX_ATTEMPTS", value_name = "N")]
    pub otp_max_attempts: Option<u32>,
}

/// How `twofold serve` reaches the enclave, and the OTP abuse limits.
#[derive(Debug, Args, Default)]
pub struct OtpArgs {
    /// Unix socket of a separate `twofold enclave` process [default: `serve` starts the enclave as
    /// its own child process].
    #[arg(long, env = "TWOFOLD_ENCLAVE", value_name = "PATH", conflicts_with = "enclave_in_process")]
    pub enclave: Option<PathBuf>,
    /// Run the enclave inside the server's own process (tests and development only: the server's
    /// memory then holds every code and the enclave's keys).
    #[arg(long, env = "TWOFOLD_ENCLAVE_IN_PROCESS")]
    pub enclave_in_process: bool,
    /// Codes sent to one email address or phone number per rolling hour, counted separately for
    /// anonymous (auth proxy) and authenticated callers [default: 10].
    #[arg(long, env = "TWOFOLD_OTP_SENDS_PER_CONTACT_PER_HOUR", value_name = "N")]
    pub otp_sends_per_contact_per_hour: Option<u32>,
    /// Unverified, unexpired codes anonymous callers may have open in one organization; at the cap a
    /// client prefix with no open code still gets one, up to twice the cap [default: 1000].
    #[arg(long, env = "TWOFOLD_OTP_INFLIGHT_PER_ORG", value_name = "N")]
    pub otp_inflight_per_org: Option<u32>,
    /// Anonymous INIT_OTP requests per client prefix (/32 IPv4, /64 IPv6) per rolling minute [default: 30].
    #[arg(long, env = "TWOFOLD_OTP_INITS_PER_IP_PER_MINUTE", value_name = "N")]
    pub otp_inits_per_ip_per_minute: Option<u32>,
    /// Unverified, unexpired codes anonymous callers from one client prefix may have open [default: 20].
    #[arg(long, env = "TWOFOLD_OTP_INFLIGHT_PER_IP", value_name = "N")]
    pub otp_inflight_per_ip: Option<u32>,
    /// Wrong codes per contact, across codes, in the auth failure window (1–100) [default: 10].
    #[arg(long, env = "TWOFOLD_OTP_FAILURE_LIMIT", value_name = "N")]
    pub otp_failure_limit: Option<usize>,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

fn read_secret(path: &Path, what: &str) -> Result<String, CliError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| CliError::Usage(format!("cannot read {what} file {}: {e}", path.display())))
}

impl DeliveryArgs {
    /// The sender address of every email (`--smtp-from`, or twofold's default).
    pub fn mail_from(&self) -> String {
        self.smtp_from.clone().unwrap_or_else(|| twofold_core::engine::DEFAULT_MAIL_FROM.to_owned())
    }

    /// The transport and attempt flags as `twofold enclave` takes them (all but the key file
    /// and outbox), for the child process `serve` starts.
    pub fn transport_args(&self) -> Vec<std::ffi::OsString> {
        fn name(value: &impl ValueEnum) -> String {
            value.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
        }
        let text = |flag: &str, value: Option<String>| value.map(|v| [flag.into(), v.into()]);
        let path = |flag: &str, value: &Option<PathBuf>| value.as_ref().map(|v| [flag.into(), v.into()]);
        [
            text("--smtp-host", self.smtp_host.clone()),
            text("--smtp-port", self.smtp_port.map(|p| p.to_string())),
            text("--smtp-tls", self.smtp_tls.as_ref().map(name)),
            text("--smtp-username", self.smtp_username.clone()),
            path("--smtp-password-file", &self.smtp_password_file),
            text("--smtp-from", self.smtp_from.clone()),
            text("--delivery-timeout-ms", self.delivery_timeout_ms.map(|t| t.to_string())),
            text("--sms-webhook-url", self.sms_webhook_url.clone()),
            text("--sms-webhook-format", self.sms_webhook_format.as_ref().map(name)),
            text("--sms-webhook-from", self.sms_webhook_from.clone()),
            path("--sms-webhook-header-file", &self.sms_webhook_header_file),
            text("--otp-max-attempts", self.otp_max_attempts.map(|n| n.to_string())),
        ]
        .into_iter()
        .flatten()
        .flatten()
        .collect()
    }

    /// Builds the in-process enclave (call inside the Tokio runtime): keys from the key file
    /// (created 0600), SMTP / webhook or the outbox under `data_dir`.
    pub fn build(&self, data_dir: &Path) -> Result<Enclave, CliError> {
        let key_file = self.enclave_key_file.clone().unwrap_or_else(|| data_dir.join("enclave-keys.json"));
        if let Some(dir) = key_file.parent().filter(|d| !d.as_os_str().is_empty()) {
            twofold_store::private_dir(dir)
                .map_err(|e| CliError::Runtime(format!("cannot create {}: {e}", dir.display())))?;
        }
        let keys = EnclaveKeys::load_or_create(&key_file).map_err(|e| CliError::Runtime(e.to_string()))?;
        let outbox = Delivery::Outbox { dir: self.outbox_dir.clone().unwrap_or_else(|| data_dir.join("outbox")) };
        let timeout_ms = self.delivery_timeout_ms.unwrap_or(10_000);
        let email = match &self.smtp_host {
            None => outbox.clone(),
            Some(host) => Delivery::Smtp(SmtpConfig {
                host: host.clone(),
                port: self.smtp_port.unwrap_or(587),
                tls: match self.smtp_tls.unwrap_or(TlsMode::Starttls) {
                    TlsMode::None => SmtpTls::None,
                    TlsMode::Starttls => SmtpTls::StartTls,
                    TlsMode::Tls => SmtpTls::Tls,
                },
                username: self.smtp_username.clone(),
                password: self.smtp_password_file.as_deref().map(|p| read_secret(p, "SMTP password")).transpose()?,
                from: self.mail_from(),
                timeout_ms,
            }),
        };
        let sms = match &self.sms_webhook_url {
            None => outbox,
            Some(url) => Delivery::Webhook(WebhookConfig {
                url: url.clone(),
                format: match self.sms_webhook_format.unwrap_or(SmsFormat::Json) {
                    SmsFormat::Json => WebhookFormat::Json,
                    SmsFormat::TwilioForm => WebhookFormat::TwilioForm,
                },
                from: self.sms_webhook_from.clone(),
                auth: match &self.sms_webhook_header_file {
                    None => WebhookAuth::None,
                    Some(path) => {
                        let line = read_secret(path, "SMS webhook header")?;
                        let (name, value) = line.split_once(':').ok_or_else(|| {
                            CliError::Usage(format!("{}: expected one `Name: value` line", path.display()))
                        })?;
                        WebhookAuth::Header { name: name.trim().to_owned(), value: value.trim().to_owned() }
                    }
                },
                timeout_ms,
            }),
        };
        let deliverer = Deliverer::new(email, sms).map_err(|e| CliError::Usage(e.to_string()))?;
        let config =
            EnclaveConfig { max_attempts: self.otp_max_attempts.unwrap_or(EnclaveConfig::default().max_attempts) };
        Enclave::new(keys, deliverer, config).map_err(|e| CliError::Usage(e.to_string()))
    }
}

impl OtpArgs {
    /// The domain's OTP settings and the limits, with the enclave: at `--enclave`'s socket, in
    /// this process with `--enclave-in-process`, else a child process started here (returned:
    /// it lives as long as the server) with the settings it takes from `parent`.
    pub async fn config(
        &self,
        data_dir: &Path,
        parent: &Parent,
    ) -> Result<(OtpConfig, Option<EnclaveChild>), CliError> {
        let (api, child): (Arc<dyn EnclaveApi>, _) = match &self.enclave {
            Some(path) => (connect(path).await?, None),
            None if self.enclave_in_process => (Arc::new(self.delivery.build(data_dir)?), None),
            None => {
                twofold_store::private_dir(data_dir)
                    .map_err(|e| CliError::Runtime(format!("cannot create {}: {e}", data_dir.display())))?;
                let child = EnclaveChild::start(data_dir, &self.delivery, parent).await?;
                (connect(child.socket()).await?, Some(child))
            }
        };
        let defaults = OtpConfig::default();
        let config = OtpConfig {
            enclave: Some(Arc::new(EnclavePort(api))),
            sends_per_contact_per_hour: self
                .otp_sends_per_contact_per_hour
                .unwrap_or(defaults.sends_per_contact_per_hour),
            inflight_per_org: self.otp_inflight_per_org.unwrap_or(defaults.inflight_per_org),
            inits_per_ip_per_minute: self.otp_inits_per_ip_per_minute.unwrap_or(defaults.inits_per_ip_per_minute),
            inflight_per_ip: self.otp_inflight_per_ip.unwrap_or(defaults.inflight_per_ip),
            max_failures: self.otp_failure_limit.unwrap_or(defaults.max_failures),
        };
        if !(1..=100).contains(&config.max_failures) {
            return Err(CliError::Usage("otp_failure_limit must be between 1 and 100 (NIST 800-63B §3.2.2)".into()));
        }
        Ok((config, child))
    }
}

/// The enclave behind the Unix socket at `path`.
async fn connect(path: &Path) -> Result<Arc<dyn EnclaveApi>, CliError> {
    let remote = RemoteEnclave::connect(path)
        .await
        .map_err(|e| CliError::Runtime(format!("enclave at {}: {e}", path.display())))?;
    Ok(Arc::new(remote.with_timeout(Duration::from_secs(30))))
}

/// The domain's port over any `twofold-enclave` implementation.
pub struct EnclavePort(pub Arc<dyn EnclaveApi>);

impl std::fmt::Debug for EnclavePort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnclavePort")
    }
}

/// Enclave errors as the domain reports them: the caller's input is a 4xx, a failed
/// delivery or a flow the enclave can no longer open fails the activity, the rest is ours.
fn domain_error(e: twofold_enclave::Error) -> twofold_core::Error {
    use twofold_enclave::Error as E;
    match e {
        E::InvalidInput(_) | E::Bundle(_) | E::Token(_) => twofold_core::Error::InvalidArgument(e.to_string()),
        E::Delivery(_) | E::SealedState(_) => twofold_core::Error::FailedPrecondition(e.to_string()),
        E::Keys(_) | E::Protocol(_) | E::Internal(_) | E::Io(_) => twofold_core::Error::Internal(e.to_string()),
    }
}

fn ms(now: i64) -> u64 {
    u64::try_from(now).unwrap_or(0)
}

fn signed_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

#[async_trait]
impl OtpEnclave for EnclavePort {
    async fn public_keys(&self) -> twofold_core::Result<EnclavePublicKeys> {
        let keys = self.0.public_keys().await.map_err(domain_error)?;
        Ok(EnclavePublicKeys {
            signing_public_key: keys.signing_public_key,
            signing_public_key_compressed: keys.signing_public_key_compressed,
            previous_signing_public_keys: keys.previous_signing_public_keys,
        })
    }

    async fn start(&self, r: OtpStart) -> twofold_core::Result<OtpStarted> {
        let customized = r.sender_name.is_some() || r.reply_to.is_some();
        let request = InitOtpRequest {
            organization_id: r.organization_id,
            otp_type: match r.channel {
                OtpChannel::Email => OtpType::Email,
                OtpChannel::Sms => OtpType::Sms,
            },
            contact: r.contact,
            app_name: r.app_name,
            otp_length: r.otp_length,
            alphanumeric: r.alphanumeric,
            expiration_seconds: r.expiration_seconds,
            email_customization: customized.then_some(EmailCustomization {
                sender_name: r.sender_name,
                subject_template: None,
                reply_to: r.reply_to,
            }),
            sms_template: r.sms_template,
            // Sent by `deliver` once the flow is committed, never under a database lock.
            defer_delivery: true,
            now_ms: ms(r.now_ms),
        };
        let started = self.0.init_otp(request).await.map_err(domain_error)?;
        Ok(OtpStarted {
            otp_id: started.otp_id,
            target_bundle: started.otp_encryption_target_bundle,
            sealed_state: started.sealed_state.as_str().to_owned(),
            expires_at_ms: signed_ms(started.expires_at_ms),
        })
    }

    async fn deliver(
        &self,
        otp_id: &str,
        organization_id: &str,
        sealed_state: &str,
        now_ms: i64,
    ) -> twofold_core::Result<()> {
        let request = DeliverOtpRequest {
            otp_id: otp_id.to_owned(),
            organization_id: organization_id.to_owned(),
            sealed_state: twofold_enclave::SealedState::new(sealed_state),
            now_ms: ms(now_ms),
        };
        self.0.deliver_otp(request).await.map_err(domain_error)
    }

    async fn check(&self, a: OtpAttempt) -> twofold_core::Result<OtpChecked> {
        let request = VerifyOtpRequest {
            otp_id: a.otp_id,
            organization_id: a.organization_id,
            sealed_state: twofold_enclave::SealedState::new(a.sealed_state),
            encrypted_otp_bundle: a.encrypted_bundle,
            token_expiration_seconds: a.token_expiration_seconds,
            now_ms: ms(a.now_ms),
        };
        let checked = self.0.verify_otp(request).await.map_err(domain_error)?;
        let message = checked.outcome.message();
        let verdict = match checked.outcome {
            VerifyOutcome::Verified(v) => OtpVerdict::Verified { token: v.verification_token },
            VerifyOutcome::Invalid { attempts_left } => OtpVerdict::Invalid { attempts_left },
            VerifyOutcome::Exhausted => OtpVerdict::Exhausted,
            VerifyOutcome::Expired => OtpVerdict::Expired,
            VerifyOutcome::AlreadyUsed => OtpVerdict::AlreadyUsed,
        };
        Ok(OtpChecked { verdict, message, sealed_state: checked.sealed_state.as_str().to_owned() })
    }

    async fn verify_token(&self, token: &str, now_ms: i64) -> twofold_core::Result<TokenClaims> {
        let claims = self.0.verify_token(token.to_owned(), ms(now_ms)).await.map_err(domain_error)?;
        Ok(TokenClaims {
            channel: OtpChannel::parse(&claims.verification_type, "verification_type")?,
            id: claims.id,
            contact: claims.contact,
            organization_id: claims.organization_id,
            public_key: claims.public_key,
        })
    }
}

/// Flags of `twofold enclave`.
#[derive(Debug, Args)]
pub struct EnclaveArgs {
    /// Unix socket to listen on (created 0600).
    #[arg(long, env = "TWOFOLD_ENCLAVE_SOCKET", value_name = "PATH")]
    pub socket: PathBuf,
    /// Directory for the default key file and outbox [default: ./twofold-enclave].
    #[arg(long, env = "TWOFOLD_ENCLAVE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Log filter [default: info].
    #[arg(long, env = "TWOFOLD_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    /// Log line format [default: text].
    #[arg(long, env = "TWOFOLD_LOG_FORMAT", value_enum)]
    pub log_format: Option<crate::config::LogFormat>,
    /// Stop when stdin closes (how `serve` ties the child it starts to its own life).
    #[arg(long, hide = true)]
    pub exit_with_stdin: bool,
    /// TEST ONLY: take the caller's `now_ms` for expiry instead of this process's clock (how a
    /// server on the test clock keeps its child enclave on it). Refused unless TWOFOLD_UNSAFE_TEST_CLOCK=1.
    #[arg(long, hide = true)]
    pub unsafe_caller_clock: bool,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

/// Runs the enclave on its socket until SIGINT or SIGTERM.
pub fn run(args: EnclaveArgs) -> Result<(), CliError> {
    let filter = tracing_subscriber::EnvFilter::try_new(args.log.as_deref().unwrap_or("info"))
        .map_err(|e| CliError::Usage(format!("invalid log filter: {e}")))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match args.log_format.unwrap_or(crate::config::LogFormat::Text) {
        crate::config::LogFormat::Text => builder.init(),
        crate::config::LogFormat::Json => builder.json().init(),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Runtime(format!("cannot start the async runtime: {e}")))?;
    // No core dumps, and no reading of this process's memory by other processes of the same
    // user (the coordinator included) through /proc/PID/mem or ptrace.
    if let Err(e) = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable) {
        tracing::warn!(error = %e, "cannot mark the enclave process non-dumpable");
    }
    let clock = if args.unsafe_caller_clock {
        if std::env::var(crate::test_clock::UNSAFE_TEST_CLOCK_ENV).as_deref() != Ok("1") {
            return Err(CliError::Usage(format!(
                "--unsafe-caller-clock is for tests only and needs {}=1 in the environment",
                crate::test_clock::UNSAFE_TEST_CLOCK_ENV
            )));
        }
        twofold_enclave::ClockSource::Caller
    } else {
        twofold_enclave::ClockSource::Enclave
    };
    runtime.block_on(async {
        let data_dir = args.data_dir.clone().unwrap_or_else(|| PathBuf::from("twofold-enclave"));
        twofold_store::private_dir(&data_dir)
            .map_err(|e| CliError::Runtime(format!("cannot create {}: {e}", data_dir.display())))?;
        let enclave = Arc::new(args.delivery.build(&data_dir)?);
        let listener = twofold_enclave::bind_unix(&args.socket).map_err(|e| CliError::Runtime(e.to_string()))?;
        println!("twofold enclave listening on {}", args.socket.display());
        let orphaned = async {
            if args.exit_with_stdin {
                // A detached thread: a blocked read must not hold up the runtime's shutdown.
                let (closed, on_close) = tokio::sync::oneshot::channel::<()>();
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
                    let _ = closed.send(());
                });
                let _ = on_close.await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            served = twofold_enclave::serve_listener(enclave, listener, twofold_enclave::ServeOptions { clock }) => {
                served.map_err(|e| CliError::Runtime(e.to_string()))
            }
            () = crate::serve::shutdown_signal() => Ok(()),
            () = orphaned => {
                tracing::info!("the server that started this enclave is gone; stopping");
                // The socket and the private directory `serve` made for it (removed only when empty).
                let _ = std::fs::remove_file(&args.socket);
                if let Some(dir) = args.socket.parent() {
                    let _ = std::fs::remove_dir(dir);
                }
                Ok(())
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;
    use twofold_enclave::Outbox;

    const T0: i64 = 1_800_000_000_000;

    /// Acceptance 4 (NIST 800-63B-4 §3.2.2, docs/SECURITY.md "Brute force"): an attacker
    /// who makes every guess the coordinator's path allows against 1 000 six-digit codes
    /// succeeds at most attempts/10^6 of the time; the guess after the last allowed one
    /// is refused even when it is the right code.
    #[tokio::test(flavor = "multi_thread")]
    async fn brute_force_success_rate_is_bounded_by_attempts_over_10_pow_6() {
        const CODES: usize = 1000;
        let outbox = tempfile::tempdir().unwrap();
        let config = EnclaveConfig::default();
        let max_attempts = config.max_attempts as usize;
        let enclave = Enclave::new(EnclaveKeys::generate().unwrap(), Deliverer::outbox(outbox.path()), config).unwrap();
        let pinned = enclave.public_keys().signing_public_key;
        let port = EnclavePort(Arc::new(enclave));
        let client = twofold_client::ApiKeyPair::generate(twofold_client::Curve::P256).unwrap().public_key_hex();
        let (mut successes, mut guesses) = (0usize, 0usize);
        for i in 0..CODES {
            let started = port
                .start(OtpStart {
                    organization_id: "org".into(),
                    channel: OtpChannel::Sms,
                    contact: "+15551234567".into(),
                    app_name: "Acme".into(),
                    otp_length: Some(6),
                    alphanumeric: Some(false),
                    expiration_seconds: None,
                    sender_name: None,
                    reply_to: None,
                    sms_template: None,
                    now_ms: T0,
                })
                .await
                .unwrap();
            port.deliver(&started.otp_id, "org", &started.sealed_state, T0).await.unwrap();
            let path = Outbox::list(outbox.path()).unwrap().pop().unwrap();
            let code = Outbox::read(&path).unwrap().body.split(' ').next().unwrap().to_owned();
            std::fs::remove_file(path).unwrap();
            let mut state = started.sealed_state;
            let check = |guess: String, state: String| {
                let attempt = twofold_enclave::encrypt_otp_attempt(&started.target_bundle, &pinned, &guess, &client);
                port.check(OtpAttempt {
                    otp_id: started.otp_id.clone(),
                    organization_id: "org".into(),
                    sealed_state: state,
                    encrypted_bundle: attempt.unwrap(),
                    token_expiration_seconds: None,
                    now_ms: T0 + 1000,
                })
            };
            let mut won = false;
            // Distinct guesses, walking the code space: the attacker's best strategy.
            for g in 0..max_attempts {
                let checked = check(format!("{:06}", (i * max_attempts + g) % 1_000_000), state).await.unwrap();
                state = checked.sealed_state;
                guesses += 1;
                if matches!(checked.verdict, OtpVerdict::Verified { .. }) {
                    successes += 1;
                    won = true;
                    break;
                }
            }
            if !won {
                let last = check(code, state).await.unwrap();
                assert_eq!(last.verdict, OtpVerdict::Exhausted, "the guess after the limit is refused");
            }
        }
        // Expected successes: CODES * attempts / 10^6 = 0.005; P(2 or more) ≈ 1.2e-5.
        let bound = max_attempts as f64 / 1e6;
        let observed = successes as f64 / CODES as f64;
        eprintln!("{CODES} codes, {guesses} guesses, {successes} successes: observed {observed}, bound {bound}");
        assert!(successes <= 1, "{successes} of {CODES} six-digit codes guessed with {max_attempts} attempts each");
        assert!(guesses <= CODES * max_attempts);
    }
}
