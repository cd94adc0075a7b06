//! The OTP flows: `init_otp` (generate, seal, and deliver unless deferred), `deliver_otp` (open,
//! deliver a deferred code) and `verify_otp` (open, check, count, token).

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::bundle::{self, Opened, TargetBundleData};
use crate::code::{self, MAX_CODE_LENGTH, MIN_CODE_LENGTH};
use crate::delivery::{Channel, Deliverer, OutgoingMessage, validate_contact};
use crate::error::{Error, Result};
use crate::jwt::{self, VerificationClaims};
use crate::keys::EnclaveKeys;
use crate::seal::{self, SealedState};

/// Default code length (Turnkey's default).
pub const DEFAULT_OTP_LENGTH: u32 = 9;
/// Default code lifetime.
pub const DEFAULT_EXPIRATION_SECONDS: u64 = 300;
/// Longest code lifetime (NIST 800-63B: at most 10 minutes).
pub const MAX_EXPIRATION_SECONDS: u64 = 600;
/// Default verification token lifetime.
pub const DEFAULT_TOKEN_EXPIRATION_SECONDS: u64 = 3600;
/// Longest verification token lifetime.
pub const MAX_TOKEN_EXPIRATION_SECONDS: u64 = 86_400;
/// Default number of wrong codes before a code is burned.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// Upper bound for the configurable attempt limit (NIST 800-63B: at most 100).
pub const MAX_MAX_ATTEMPTS: u32 = 100;
/// How many OTP flows the in-memory replay ledger remembers (see `docs/ENCLAVE.md`).
const LEDGER_CAPACITY: usize = 100_000;
const MAX_ID_LEN: usize = 128;

/// How the code is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OtpType {
    /// By email (`OTP_TYPE_EMAIL`).
    #[serde(rename = "OTP_TYPE_EMAIL")]
    Email,
    /// By SMS (`OTP_TYPE_SMS`).
    #[serde(rename = "OTP_TYPE_SMS")]
    Sms,
}

impl OtpType {
    /// The Turnkey enum name, e.g. `OTP_TYPE_EMAIL`.
    pub fn as_str(self) -> &'static str {
        match self {
            OtpType::Email => "OTP_TYPE_EMAIL",
            OtpType::Sms => "OTP_TYPE_SMS",
        }
    }

    /// The delivery channel.
    pub fn channel(self) -> Channel {
        match self {
            OtpType::Email => Channel::Email,
            OtpType::Sms => Channel::Sms,
        }
    }
}

impl std::str::FromStr for OtpType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "OTP_TYPE_EMAIL" => Ok(OtpType::Email),
            "OTP_TYPE_SMS" => Ok(OtpType::Sms),
            other => Err(Error::InvalidInput(format!("otpType `{other}` is not OTP_TYPE_EMAIL or OTP_TYPE_SMS"))),
        }
    }
}

/// Optional email presentation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailCustomization {
    /// Display name of the From mailbox (Turnkey's `sendFromEmailSenderName`).
    #[serde(default)]
    pub sender_name: Option<String>,
    /// Subject; `{{appName}}` is replaced by the app name. Default `{{appName}} verification code`.
    #[serde(default)]
    pub subject_template: Option<String>,
    /// Reply-To address (Turnkey's `replyToEmailAddress`).
    #[serde(default)]
    pub reply_to: Option<String>,
}

/// Start an OTP flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitOtpRequest {
    /// Organization the flow runs in (bound into the sealed state and the token).
    pub organization_id: String,
    /// Email or SMS.
    pub otp_type: OtpType,
    /// Email address or E.164 phone number.
    pub contact: String,
    /// Application name shown in the message.
    pub app_name: String,
    /// Code length 6–9; default 9.
    #[serde(default)]
    pub otp_length: Option<u32>,
    /// Crockford base32 (default) or digits only.
    #[serde(default)]
    pub alphanumeric: Option<bool>,
    /// Code lifetime, 1–600 s; default 300.
    #[serde(default)]
    pub expiration_seconds: Option<u64>,
    /// Email presentation.
    #[serde(default)]
    pub email_customization: Option<EmailCustomization>,
    /// SMS text template; must contain `{{.OtpCode}}`, may contain `{{.AppName}}`.
    #[serde(default)]
    pub sms_template: Option<String>,
    /// Leave delivery to a later [`Enclave::deliver_otp`] (the coordinator sends once the flow
    /// is committed, so no database lock waits on a mail server). Default: deliver now.
    #[serde(default)]
    pub defer_delivery: bool,
    /// The caller's clock, milliseconds since the epoch.
    pub now_ms: u64,
}

/// Deliver the code of a flow started with `defer_delivery` (again, if an earlier try failed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverOtpRequest {
    /// The flow's id.
    pub otp_id: String,
    /// Its organization.
    pub organization_id: String,
    /// The flow's latest sealed state.
    pub sealed_state: SealedState,
    /// The caller's clock, milliseconds since the epoch.
    pub now_ms: u64,
}

/// What `init_otp` returns: the coordinator stores `sealed_state` and hands the rest to the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitOtpResponse {
    /// The flow's id (UUID v4).
    pub otp_id: String,
    /// `{enclaveQuorumPublic, dataSignature, data}` JSON for `encryptOtpCodeToBundle`.
    pub otp_encryption_target_bundle: String,
    /// Opaque state to persist with the flow and pass to `verify_otp`.
    pub sealed_state: SealedState,
    /// When the code expires, milliseconds since the epoch.
    pub expires_at_ms: u64,
}

/// Check one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyOtpRequest {
    /// The flow's id from `init_otp`.
    pub otp_id: String,
    /// The organization the flow was started in.
    pub organization_id: String,
    /// The state stored for the flow (the latest one `verify_otp` returned).
    pub sealed_state: SealedState,
    /// The client's `{encappedPublic, ciphertext}` JSON from `encryptOtpCodeToBundle`.
    pub encrypted_otp_bundle: String,
    /// Token lifetime, 1–86400 s; default 3600.
    #[serde(default)]
    pub token_expiration_seconds: Option<u64>,
    /// The caller's clock, milliseconds since the epoch.
    pub now_ms: u64,
}

/// The outcome of an attempt together with the state the coordinator must persist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyOtpResponse {
    /// What happened.
    pub outcome: VerifyOutcome,
    /// The flow's new state: store it (atomically, under the flow's row lock) whatever the outcome.
    pub sealed_state: SealedState,
}

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    /// The ES256 verification token (`verifyOtpResult.verificationToken`).
    pub verification_token: String,
    /// The token's `id` claim.
    pub token_id: String,
    /// The client public key (compressed hex) the token is bound to.
    pub public_key: String,
    /// The verified email address or phone number.
    pub contact: String,
    /// Email or SMS.
    pub otp_type: OtpType,
    /// The organization of the flow.
    pub organization_id: String,
    /// When the token expires, milliseconds since the epoch.
    pub token_expires_at_ms: u64,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum VerifyOutcome {
    /// The code was right; it is now used up.
    Verified(Verified),
    /// The code was wrong (or encrypted to another flow's key); `attempts_left` more may be tried.
    Invalid {
        /// Attempts remaining before the code is burned; 0 means it just was.
        attempts_left: u32,
    },
    /// Too many wrong attempts: the code is burned, even the right one is refused.
    Exhausted,
    /// The code's lifetime is over.
    Expired,
    /// The code already verified once.
    AlreadyUsed,
}

impl VerifyOutcome {
    /// Whether the code verified.
    pub fn is_verified(&self) -> bool {
        matches!(self, VerifyOutcome::Verified(_))
    }

    /// A client-facing message; failures with a wrong code contain "Invalid OTP code" (SDKs match it).
    pub fn message(&self) -> String {
        match self {
            VerifyOutcome::Verified(_) => "OTP code verified".into(),
            VerifyOutcome::Invalid { attempts_left: 0 } => {
                "Invalid OTP code: no attempts left, request a new code".into()
            }
            VerifyOutcome::Invalid { attempts_left } => format!("Invalid OTP code: {attempts_left} attempt(s) left"),
            VerifyOutcome::Exhausted => "Invalid OTP code: too many failed attempts, request a new code".into(),
            VerifyOutcome::Expired => "OTP code has expired, request a new code".into(),
            VerifyOutcome::AlreadyUsed => "OTP code has already been used".into(),
        }
    }
}

/// A non-secret notice to a user's contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Email or SMS.
    pub channel: Channel,
    /// Email address or E.164 phone number.
    pub contact: String,
    /// Subject (email only).
    pub subject: String,
    /// Plain text.
    pub text: String,
}

/// The enclave's public keys, for clients to pin and coordinators to verify tokens with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeys {
    /// Signing key, uncompressed SEC1 hex: `dangerouslyOverrideSignerPublicKey` for `@turnkey/crypto`.
    pub signing_public_key: String,
    /// The same key, compressed SEC1 hex.
    pub signing_public_key_compressed: String,
    /// Earlier signing keys whose tokens still verify, uncompressed hex.
    pub previous_signing_public_keys: Vec<String>,
}

/// Tunables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnclaveConfig {
    /// Wrong codes allowed per flow before it is burned (1–100, default 5).
    pub max_attempts: u32,
}

impl Default for EnclaveConfig {
    fn default() -> Self {
        EnclaveConfig { max_attempts: DEFAULT_MAX_ATTEMPTS }
    }
}

/// What is sealed per flow. Secrets are wiped from memory on drop, and from the state once used.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct OtpState {
    #[zeroize(skip)]
    otp_type: OtpType,
    code: String,
    alphanumeric: bool,
    target_private: String,
    target_public: String,
    contact: String,
    created_at_ms: u64,
    expires_at_ms: u64,
    attempts_used: u32,
    max_attempts: u32,
    consumed: bool,
    /// How the message presents itself (kept so a deferred delivery can build it).
    #[serde(default)]
    app_name: String,
    #[serde(default)]
    #[zeroize(skip)]
    email_customization: Option<EmailCustomization>,
    #[serde(default)]
    sms_template: Option<String>,
}

impl OtpState {
    /// The message that carries the code, as the flow's request asked for it.
    fn message(&self) -> OutgoingMessage {
        let mins = minutes(self.expires_at_ms.saturating_sub(self.created_at_ms) / 1000);
        let app = &self.app_name;
        match self.otp_type {
            OtpType::Email => {
                let custom = self.email_customization.clone().unwrap_or_default();
                let subject = custom
                    .subject_template
                    .as_deref()
                    .unwrap_or("{{appName}} verification code")
                    .replace("{{appName}}", app);
                let text = format!(
                    "Your {app} verification code is:\n\n    {code}\n\nIt expires in {mins} minute{s}.\n\n\
                     If you did not ask for this code, ignore this email.\n\
                     Never share the code with anyone.\n",
                    code = self.code,
                    s = if mins == 1 { "" } else { "s" },
                );
                OutgoingMessage {
                    channel: Channel::Email,
                    to: self.contact.clone(),
                    subject,
                    text,
                    sender_name: custom.sender_name,
                    reply_to: custom.reply_to,
                }
            }
            OtpType::Sms => {
                let text = match &self.sms_template {
                    Some(t) => t.replace("{{.AppName}}", app).replace("{{.OtpCode}}", &self.code),
                    None => format!(
                        "{code} is your {app} code. It expires in {mins} min. Never share it.",
                        code = self.code
                    ),
                };
                OutgoingMessage {
                    channel: Channel::Sms,
                    to: self.contact.clone(),
                    subject: format!("{app} code"),
                    text,
                    sender_name: None,
                    reply_to: None,
                }
            }
        }
    }

    /// Once a flow is finished its code and key are worthless to keep: drop them from the state.
    fn wipe_secrets(&mut self) {
        self.code.zeroize();
        self.target_private.zeroize();
    }
}

#[derive(Clone, Copy)]
struct Seen {
    attempts_used: u32,
    consumed: bool,
    expires_at_ms: u64,
}

/// The highest attempt count and consumed flag this process has seen per flow: a coordinator
/// replaying older sealed state cannot roll them back while the process lives.
#[derive(Default)]
struct Ledger {
    seen: HashMap<String, Seen>,
}

impl Ledger {
    fn raise(&self, otp_id: &str, state: &mut OtpState) {
        if let Some(seen) = self.seen.get(otp_id) {
            state.attempts_used = state.attempts_used.max(seen.attempts_used);
            state.consumed |= seen.consumed;
        }
    }

    fn record(&mut self, otp_id: &str, state: &OtpState, now_ms: u64) {
        if self.seen.len() >= LEDGER_CAPACITY && !self.seen.contains_key(otp_id) {
            self.seen.retain(|_, s| s.expires_at_ms > now_ms);
            if self.seen.len() >= LEDGER_CAPACITY {
                tracing::warn!("OTP replay ledger is full; this flow relies on sealed state alone");
                return;
            }
        }
        let entry = self.seen.entry(otp_id.to_owned()).or_insert(Seen {
            attempts_used: 0,
            consumed: false,
            expires_at_ms: state.expires_at_ms,
        });
        entry.attempts_used = entry.attempts_used.max(state.attempts_used);
        entry.consumed |= state.consumed;
    }
}

/// The in-process enclave: keys, delivery and the OTP flows.
pub struct Enclave {
    keys: EnclaveKeys,
    config: EnclaveConfig,
    delivery: Deliverer,
    ledger: Mutex<Ledger>,
}

impl std::fmt::Debug for Enclave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enclave")
            .field("keys", &self.keys)
            .field("config", &self.config)
            .field("delivery", &self.delivery)
            .finish_non_exhaustive()
    }
}

fn check_text(value: &str, field: &str, max_chars: usize) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::InvalidInput(format!("`{field}` must not be empty")));
    }
    if value.chars().count() > max_chars {
        return Err(Error::InvalidInput(format!("`{field}` is longer than {max_chars} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::InvalidInput(format!("`{field}` must not contain control characters")));
    }
    Ok(())
}

fn check_id(value: &str, field: &str) -> Result<()> {
    check_text(value, field, MAX_ID_LEN)
}

fn client_public_key(value: &str) -> Result<String> {
    let lower = value.trim().to_ascii_lowercase();
    let bytes = hex::decode(&lower).ok().filter(|b| b.len() == 33 && matches!(b[0], 0x02 | 0x03));
    match bytes.map(|b| p256::PublicKey::from_sec1_bytes(&b)) {
        Some(Ok(_)) => Ok(lower),
        _ => Err(Error::Bundle(
            "`public_key` in the attempt must be a compressed P-256 public key (66 hex characters)".into(),
        )),
    }
}

fn minutes(seconds: u64) -> u64 {
    seconds.div_ceil(60)
}

impl Enclave {
    /// An enclave with these keys, delivery transports and tunables.
    pub fn new(keys: EnclaveKeys, delivery: Deliverer, config: EnclaveConfig) -> Result<Self> {
        if !(1..=MAX_MAX_ATTEMPTS).contains(&config.max_attempts) {
            return Err(Error::InvalidInput(format!(
                "max_attempts must be 1..={MAX_MAX_ATTEMPTS}, not {}",
                config.max_attempts
            )));
        }
        Ok(Enclave { keys, config, delivery, ledger: Mutex::new(Ledger::default()) })
    }

    /// The public keys clients pin and coordinators verify tokens with.
    pub fn public_keys(&self) -> PublicKeys {
        PublicKeys {
            signing_public_key: self.keys.signing_public_key_hex(),
            signing_public_key_compressed: self.keys.signing_public_key_compressed_hex(),
            previous_signing_public_keys: self.keys.previous_signing_public_keys_hex(),
        }
    }

    /// Generates a code, delivers it (unless `defer_delivery`), and returns the flow id, the signed
    /// target bundle and the sealed state.
    ///
    /// Nothing is returned when an immediate delivery fails: the code is then gone for good.
    pub async fn init_otp(&self, req: InitOtpRequest) -> Result<InitOtpResponse> {
        check_id(&req.organization_id, "organization_id")?;
        check_text(&req.app_name, "app_name", 100)?;
        validate_contact(req.otp_type.channel(), &req.contact)?;
        let length = req.otp_length.unwrap_or(DEFAULT_OTP_LENGTH);
        if !(MIN_CODE_LENGTH..=MAX_CODE_LENGTH).contains(&length) {
            return Err(Error::InvalidInput(format!(
                "otp_length must be {MIN_CODE_LENGTH}..={MAX_CODE_LENGTH}, not {length}"
            )));
        }
        let alphanumeric = req.alphanumeric.unwrap_or(true);
        let expiration = req.expiration_seconds.unwrap_or(DEFAULT_EXPIRATION_SECONDS);
        if !(1..=MAX_EXPIRATION_SECONDS).contains(&expiration) {
            return Err(Error::InvalidInput(format!(
                "expiration_seconds must be 1..={MAX_EXPIRATION_SECONDS}, not {expiration}"
            )));
        }
        let custom = req.email_customization.clone().unwrap_or_default();
        if let Some(name) = &custom.sender_name {
            check_text(name, "sender_name", 100)?;
        }
        if let Some(subject) = &custom.subject_template {
            check_text(subject, "subject_template", 200)?;
        }
        if let Some(template) = &req.sms_template {
            check_text(template, "sms_template", 320)?;
            if !template.contains("{{.OtpCode}}") {
                return Err(Error::InvalidInput("sms_template must contain `{{.OtpCode}}`".into()));
            }
        }
        let expires_at_ms = req
            .now_ms
            .checked_add(expiration * 1000)
            .ok_or_else(|| Error::InvalidInput("now_ms is out of range".into()))?;

        let code = code::generate(length as usize, alphanumeric)?;
        let (target_private, target_public) = bundle::new_target()?;
        let otp_id = uuid::Uuid::new_v4().to_string();
        let state = OtpState {
            otp_type: req.otp_type,
            code: code.to_string(),
            alphanumeric,
            target_private: hex::encode(target_private.as_slice()),
            target_public: hex::encode(&target_public),
            contact: req.contact.clone(),
            created_at_ms: req.now_ms,
            expires_at_ms,
            attempts_used: 0,
            max_attempts: self.config.max_attempts,
            consumed: false,
            app_name: req.app_name.clone(),
            email_customization: req.email_customization.clone(),
            sms_template: req.sms_template.clone(),
        };
        let sealed_state = self.seal_state(&otp_id, &req.organization_id, &state)?;
        let otp_encryption_target_bundle = bundle::signed_target_bundle(
            &self.keys,
            &TargetBundleData {
                target_public: hex::encode(&target_public),
                otp_id: otp_id.clone(),
                organization_id: req.organization_id.clone(),
                expires_at_ms: expires_at_ms.to_string(),
            },
        )?;

        if !req.defer_delivery {
            self.delivery.send(&state.message()).await?;
        }
        tracing::info!(
            otp_id,
            otp_type = req.otp_type.as_str(),
            expires_at_ms,
            deferred = req.defer_delivery,
            "OTP initiated"
        );
        Ok(InitOtpResponse { otp_id, otp_encryption_target_bundle, sealed_state, expires_at_ms })
    }

    /// Delivers the code of a flow started with `defer_delivery`, from its latest sealed state;
    /// refused once the code is verified, burned or expired (there is nothing left worth sending).
    pub async fn deliver_otp(&self, req: DeliverOtpRequest) -> Result<()> {
        check_id(&req.otp_id, "otp_id")?;
        check_id(&req.organization_id, "organization_id")?;
        let state = self.open_state(&req.otp_id, &req.organization_id, &req.sealed_state)?;
        let over = if state.consumed {
            Some("was verified already")
        } else if state.attempts_used >= state.max_attempts {
            Some("is burned by wrong attempts")
        } else if req.now_ms >= state.expires_at_ms {
            Some("has expired")
        } else {
            None
        };
        if let Some(why) = over {
            return Err(Error::InvalidInput(format!("not delivered: the code {why}")));
        }
        self.delivery.send(&state.message()).await?;
        tracing::info!(otp_id = req.otp_id, otp_type = state.otp_type.as_str(), "OTP delivered");
        Ok(())
    }

    /// Checks one encrypted attempt. Always returns the new sealed state with the outcome.
    pub fn verify_otp(&self, req: VerifyOtpRequest) -> Result<VerifyOtpResponse> {
        check_id(&req.otp_id, "otp_id")?;
        check_id(&req.organization_id, "organization_id")?;
        let token_seconds = req.token_expiration_seconds.unwrap_or(DEFAULT_TOKEN_EXPIRATION_SECONDS);
        if !(1..=MAX_TOKEN_EXPIRATION_SECONDS).contains(&token_seconds) {
            return Err(Error::InvalidInput(format!(
                "token_expiration_seconds must be 1..={MAX_TOKEN_EXPIRATION_SECONDS}, not {token_seconds}"
            )));
        }
        let mut state = self.open_state(&req.otp_id, &req.organization_id, &req.sealed_state)?;

        let outcome = if state.consumed {
            VerifyOutcome::AlreadyUsed
        } else if state.attempts_used >= state.max_attempts {
            VerifyOutcome::Exhausted
        } else if req.now_ms >= state.expires_at_ms {
            VerifyOutcome::Expired
        } else {
            let target_private = Zeroizing::new(
                hex::decode(&state.target_private)
                    .map_err(|_| Error::SealedState("sealed state holds no usable target key".into()))?,
            );
            let target_public = hex::decode(&state.target_public)
                .map_err(|_| Error::SealedState("sealed state holds no usable target key".into()))?;
            let right = match bundle::open_attempt(&target_private, &target_public, &req.encrypted_otp_bundle)? {
                Opened::WrongKey => None,
                Opened::Attempt(attempt) => {
                    let public_key = client_public_key(&attempt.public_key)?;
                    code::matches(&state.code, &attempt.otp_code, state.alphanumeric).then_some(public_key)
                }
            };
            match right {
                Some(public_key) => {
                    state.consumed = true;
                    state.wipe_secrets();
                    VerifyOutcome::Verified(self.issue_token(&req, &state, public_key, token_seconds)?)
                }
                None => {
                    state.attempts_used = state.attempts_used.saturating_add(1);
                    let attempts_left = state.max_attempts.saturating_sub(state.attempts_used);
                    if attempts_left == 0 {
                        state.wipe_secrets();
                    }
                    VerifyOutcome::Invalid { attempts_left }
                }
            }
        };
        self.ledger.lock().unwrap_or_else(|p| p.into_inner()).record(&req.otp_id, &state, req.now_ms);
        let sealed_state = self.seal_state(&req.otp_id, &req.organization_id, &state)?;
        tracing::info!(otp_id = req.otp_id, outcome = outcome_name(&outcome), "OTP attempt checked");
        Ok(VerifyOtpResponse { outcome, sealed_state })
    }

    /// Checks a verification token's signature (current or previous enclave key), shape and expiry.
    pub fn verify_verification_token(&self, token: &str, now_ms: u64) -> Result<VerificationClaims> {
        jwt::verify(&self.keys.token_verifying_keys(), token, now_ms)
    }

    /// Sends a non-secret notice through the configured delivery.
    pub async fn send_notice(&self, notice: Notice) -> Result<()> {
        check_text(&notice.subject, "subject", 200)?;
        if notice.text.trim().is_empty() || notice.text.len() > 10_000 {
            return Err(Error::InvalidInput("notice text must be 1..=10000 bytes".into()));
        }
        self.delivery.send_notice(notice.channel, &notice.contact, &notice.subject, &notice.text).await
    }

    fn issue_token(
        &self,
        req: &VerifyOtpRequest,
        state: &OtpState,
        public_key: String,
        token_seconds: u64,
    ) -> Result<Verified> {
        let token_expires_at_ms = req
            .now_ms
            .checked_add(token_seconds * 1000)
            .ok_or_else(|| Error::InvalidInput("now_ms is out of range".into()))?;
        let token_id = uuid::Uuid::new_v4().to_string();
        let claims = VerificationClaims {
            id: token_id.clone(),
            verification_type: state.otp_type.as_str().into(),
            contact: state.contact.clone(),
            organization_id: req.organization_id.clone(),
            public_key: public_key.clone(),
            exp: token_expires_at_ms.to_string(),
        };
        Ok(Verified {
            verification_token: jwt::sign(&self.keys, &claims)?,
            token_id,
            public_key,
            contact: state.contact.clone(),
            otp_type: state.otp_type,
            organization_id: req.organization_id.clone(),
            token_expires_at_ms,
        })
    }

    /// Opens a flow's sealed state, with the attempts and use this process saw raised into it
    /// (an older state replayed does not roll them back).
    fn open_state(&self, otp_id: &str, organization_id: &str, sealed: &SealedState) -> Result<OtpState> {
        let plaintext = seal::open(&self.keys, otp_id, organization_id, sealed)?;
        let mut state: OtpState = serde_json::from_slice(&plaintext)
            .map_err(|_| Error::SealedState("sealed state opened but is not OTP state".into()))?;
        drop(plaintext);
        self.ledger.lock().unwrap_or_else(|p| p.into_inner()).raise(otp_id, &mut state);
        Ok(state)
    }

    fn seal_state(&self, otp_id: &str, organization_id: &str, state: &OtpState) -> Result<SealedState> {
        let json =
            Zeroizing::new(serde_json::to_vec(state).map_err(|e| Error::Internal(format!("state encoding: {e}")))?);
        seal::seal(&self.keys, otp_id, organization_id, &json)
    }
}

fn outcome_name(outcome: &VerifyOutcome) -> &'static str {
    match outcome {
        VerifyOutcome::Verified(_) => "verified",
        VerifyOutcome::Invalid { .. } => "invalid",
        VerifyOutcome::Exhausted => "exhausted",
        VerifyOutcome::Expired => "expired",
        VerifyOutcome::AlreadyUsed => "already_used",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;
    use crate::delivery::Outbox;
    use p256::elliptic_curve::sec1::ToSec1Point;

    const T0: u64 = 1_800_000_000_000;

    struct Fixture {
        enclave: Enclave,
        outbox: tempfile::TempDir,
    }

    fn fixture(max_attempts: u32) -> Fixture {
        let outbox = tempfile::tempdir().unwrap();
        let enclave = Enclave::new(
            EnclaveKeys::generate().unwrap(),
            Deliverer::outbox(outbox.path()),
            EnclaveConfig { max_attempts },
        )
        .unwrap();
        Fixture { enclave, outbox }
    }

    fn client_key() -> String {
        let sk = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
        hex::encode(sk.public_key().as_affine().to_sec1_point(true).as_bytes())
    }

    fn init_request(otp_type: OtpType, contact: &str) -> InitOtpRequest {
        InitOtpRequest {
            organization_id: "org-1".into(),
            otp_type,
            contact: contact.into(),
            app_name: "Acme".into(),
            otp_length: None,
            alphanumeric: None,
            expiration_seconds: None,
            email_customization: None,
            sms_template: None,
            defer_delivery: false,
            now_ms: T0,
        }
    }

    impl Fixture {
        /// Starts a flow and reads the delivered code from the outbox, as the user would.
        async fn init(&self, req: InitOtpRequest) -> (InitOtpResponse, String) {
            let before = Outbox::list(self.outbox.path()).unwrap().len();
            let init = self.enclave.init_otp(req).await.unwrap();
            let files = Outbox::list(self.outbox.path()).unwrap();
            assert_eq!(files.len(), before + 1);
            let msg = Outbox::read(files.last().unwrap()).unwrap();
            let code = match msg.channel {
                Channel::Email => msg.body.lines().find(|l| l.starts_with("    ")).unwrap().trim().to_owned(),
                Channel::Sms => msg.body.split(' ').next().unwrap().to_owned(),
            };
            (init, code)
        }

        fn attempt(&self, init: &InitOtpResponse, code: &str) -> String {
            let pinned = self.enclave.public_keys().signing_public_key;
            crate::encrypt_otp_attempt(&init.otp_encryption_target_bundle, &pinned, code, &client_key()).unwrap()
        }

        fn verify(&self, otp_id: &str, state: &SealedState, bundle: String, now_ms: u64) -> Result<VerifyOtpResponse> {
            self.enclave.verify_otp(VerifyOtpRequest {
                otp_id: otp_id.into(),
                organization_id: "org-1".into(),
                sealed_state: state.clone(),
                encrypted_otp_bundle: bundle,
                token_expiration_seconds: None,
                now_ms,
            })
        }
    }

    fn wrong(code: &str) -> String {
        // Same length, same alphabet, one symbol changed.
        let mut chars: Vec<char> = code.chars().collect();
        chars[0] = if chars[0] == '2' { '3' } else { '2' };
        chars.into_iter().collect()
    }

    #[tokio::test]
    async fn email_code_verifies_once_and_yields_a_bound_token() {
        let f = fixture(5);
        let (init, code) = f.init(init_request(OtpType::Email, "ann@example.com")).await;
        assert_eq!(code.len(), 9);
        assert!(code.bytes().all(|b| crate::CROCKFORD_ALPHABET.contains(&b)));
        assert_eq!(init.expires_at_ms, T0 + 300_000);
        // The coordinator's copy reveals neither the code nor its hash.
        assert!(!init.sealed_state.as_str().contains(&code));

        let data = crate::verify_target_bundle(
            &init.otp_encryption_target_bundle,
            &f.enclave.public_keys().signing_public_key,
        )
        .unwrap();
        assert_eq!((data.otp_id.as_str(), data.organization_id.as_str()), (init.otp_id.as_str(), "org-1"));

        // Lower case is accepted for base32 codes.
        let r = f.verify(&init.otp_id, &init.sealed_state, f.attempt(&init, &code.to_lowercase()), T0 + 1000).unwrap();
        let VerifyOutcome::Verified(v) = &r.outcome else { panic!("{:?}", r.outcome) };
        assert_eq!(v.contact, "ann@example.com");
        assert_eq!(v.public_key, client_key());
        assert_eq!(v.token_expires_at_ms, T0 + 1000 + 3_600_000);
        let claims = f.enclave.verify_verification_token(&v.verification_token, T0 + 2000).unwrap();
        assert_eq!(claims.id, v.token_id);
        assert_eq!(claims.verification_type, "OTP_TYPE_EMAIL");
        assert_eq!(claims.organization_id, "org-1");
        assert_eq!(claims.public_key, client_key());
        assert_eq!(claims.exp, (T0 + 1000 + 3_600_000).to_string());
        assert!(f.enclave.verify_verification_token(&v.verification_token, T0 + 1000 + 3_600_000).is_err());

        // ASVS 5.0 6.6.2 / 63B-4 §3.1.3.2: a code is accepted once.
        let again = f.verify(&init.otp_id, &r.sealed_state, f.attempt(&init, &code), T0 + 3000).unwrap();
        assert_eq!(again.outcome, VerifyOutcome::AlreadyUsed);
        // Replaying the pre-success state to this enclave process does not revive the code.
        let replay = f.verify(&init.otp_id, &init.sealed_state, f.attempt(&init, &code), T0 + 3000).unwrap();
        assert_eq!(replay.outcome, VerifyOutcome::AlreadyUsed);
    }

    #[tokio::test]
    async fn a_deferred_code_is_sent_by_deliver_otp_and_never_once_it_is_finished() {
        let f = fixture(5);
        let mut req = init_request(OtpType::Sms, "+15551234567");
        req.defer_delivery = true;
        req.sms_template = Some("{{.AppName}}: {{.OtpCode}}".into());
        let init = f.enclave.init_otp(req).await.unwrap();
        assert!(Outbox::list(f.outbox.path()).unwrap().is_empty(), "nothing is sent before deliver_otp");
        let deliver = |state: &SealedState, now_ms: u64| DeliverOtpRequest {
            otp_id: init.otp_id.clone(),
            organization_id: "org-1".into(),
            sealed_state: state.clone(),
            now_ms,
        };
        // Bound to its flow: another organization's name does not open it.
        let mut elsewhere = deliver(&init.sealed_state, T0 + 1);
        elsewhere.organization_id = "org-2".into();
        assert!(matches!(f.enclave.deliver_otp(elsewhere).await, Err(Error::SealedState(_))));
        f.enclave.deliver_otp(deliver(&init.sealed_state, T0 + 1)).await.unwrap();
        let files = Outbox::list(f.outbox.path()).unwrap();
        let msg = Outbox::read(files.last().unwrap()).unwrap();
        let code = msg.body.strip_prefix("Acme: ").unwrap().trim().to_owned();
        assert_eq!((files.len(), msg.to.as_str(), code.len()), (1, "+15551234567", 9));
        // Past its lifetime, or once verified, there is nothing left worth sending.
        let late = f.enclave.deliver_otp(deliver(&init.sealed_state, T0 + 300_000)).await.unwrap_err();
        assert!(late.to_string().contains("expired"), "{late}");
        let r = f.verify(&init.otp_id, &init.sealed_state, f.attempt(&init, &code), T0 + 2).unwrap();
        assert!(matches!(r.outcome, VerifyOutcome::Verified(_)));
        // Not even from the state before the success (the ledger remembers it).
        let used = f.enclave.deliver_otp(deliver(&init.sealed_state, T0 + 3)).await.unwrap_err();
        assert!(used.to_string().contains("verified already"), "{used}");
        assert_eq!(Outbox::list(f.outbox.path()).unwrap().len(), 1);
    }

    #[tokio::test]
    async fn wrong_codes_count_then_burn_even_the_right_code() {
        let f = fixture(5);
        let (init, code) = f.init(init_request(OtpType::Email, "ann@example.com")).await;
        let mut state = init.sealed_state.clone();
        for left in (0..5).rev() {
            let r = f.verify(&init.otp_id, &state, f.attempt(&init, &wrong(&code)), T0 + 1000).unwrap();
            assert_eq!(r.outcome, VerifyOutcome::Invalid { attempts_left: left });
            assert!(r.outcome.message().contains("Invalid OTP code"));
            state = r.sealed_state;
        }
        let r = f.verify(&init.otp_id, &state, f.attempt(&init, &code), T0 + 1000).unwrap();
        assert_eq!(r.outcome, VerifyOutcome::Exhausted);
        assert!(r.outcome.message().contains("Invalid OTP code"));
        // Rolling the state back to before the failures does not reset the count in this process.
        let r = f.verify(&init.otp_id, &init.sealed_state, f.attempt(&init, &code), T0 + 1000).unwrap();
        assert_eq!(r.outcome, VerifyOutcome::Exhausted);
    }

    #[tokio::test]
    async fn attempt_limit_is_configurable_and_success_is_possible_before_it() {
        let f = fixture(2);
        let (init, code) = f.init(init_request(OtpType::Email, "ann@example.com")).await;
        let r = f.verify(&init.otp_id, &init.sealed_state, f.attempt(&init, &wrong(&code)), T0).unwrap();
        assert_eq!(r.outcome, VerifyOutcome::Invalid { attempts_left: 1 });
        let r = f.verify(&init.otp_id, &r.sealed_state, f.attempt(&init, &code), T0).unwrap();
        assert!(r.outcome.is_verified());
        assert!(
            Enclave::new(
                EnclaveKeys::generate().unwrap(),
                Deliverer::outbox("/tmp"),
                EnclaveConfig { max_attempts: 0 }
            )
            .is_err()
        );
    }

    #[tokio::test]
    async fn ten_minute_code_is_accepted_at_9_59_and_refused_at_10_01() {
        let f = fixture(5);
        let mut req = init_request(OtpType::Email, "ann@example.com");
        req.expiration_seconds = Some(600);
        let (init, code) = f.init(req.clone()).await;
        let r = f.verify(&init.otp_id, &init.sealed_state, f.attempt(&init, &code), T0 + 599_000).unwrap();
        assert!(r.outcome.is_verified(), "{:?}", r.outcome);

        let (init, code) = f.init(req).await;
        let r = f.verify(&init.otp_id, &init.sealed_state, f.attempt(&init, &code), T0 + 601_000).unwrap();
        assert_eq!(r.outcome, VerifyOutcome::Expired);
        // An expired check does not count as an attempt.
        let r = f.verify(&init.otp_id, &init.sealed_state, f.attempt(&init, &code), T0 + 600_000).unwrap();
        assert_eq!(r.outcome, VerifyOutcome::Expired);
    }

    #[tokio::test]
    async fn a_code_from_one_flow_fails_on_another() {
        let f = fixture(5);
        let (a, code_a) = f.init(init_request(OtpType::Email, "ann@example.com")).await;
        let (b, code_b) = f.init(init_request(OtpType::Email, "ann@example.com")).await;
        assert_ne!(code_a, code_b);
        // A's attempt (A's code, A's key) against B.
        let r = f.verify(&b.otp_id, &b.sealed_state, f.attempt(&a, &code_a), T0).unwrap();
        assert_eq!(r.outcome, VerifyOutcome::Invalid { attempts_left: 4 });
        // A's code encrypted to B's key.
        let r = f.verify(&b.otp_id, &r.sealed_state, f.attempt(&b, &code_a), T0).unwrap();
        assert_eq!(r.outcome, VerifyOutcome::Invalid { attempts_left: 3 });
        // A's sealed state presented as B's, or under another organization.
        assert!(matches!(f.verify(&b.otp_id, &a.sealed_state, f.attempt(&a, &code_a), T0), Err(Error::SealedState(_))));
        let wrong_org = f.enclave.verify_otp(VerifyOtpRequest {
            otp_id: a.otp_id.clone(),
            organization_id: "org-2".into(),
            sealed_state: a.sealed_state.clone(),
            encrypted_otp_bundle: f.attempt(&a, &code_a),
            token_expiration_seconds: None,
            now_ms: T0,
        });
        assert!(matches!(wrong_org, Err(Error::SealedState(_))));
        // Another enclave (other keys) cannot open this one's state.
        let g = fixture(5);
        assert!(matches!(g.verify(&a.otp_id, &a.sealed_state, f.attempt(&a, &code_a), T0), Err(Error::SealedState(_))));
    }

    #[tokio::test]
    async fn malformed_attempts_are_errors_and_cost_nothing() {
        let f = fixture(5);
        let (init, code) = f.init(init_request(OtpType::Email, "ann@example.com")).await;
        for bad in ["", "null", "{\"encappedPublic\":1}", "{\"encappedPublic\":\"04\",\"ciphertext\":\"00\"}"] {
            let err = f.verify(&init.otp_id, &init.sealed_state, bad.into(), T0).unwrap_err();
            assert!(matches!(err, Error::Bundle(_)), "{bad}: {err}");
        }
        // A well-encrypted attempt whose public key is not a compressed P-256 key.
        let pinned = f.enclave.public_keys().signing_public_key;
        let bad_key = crate::encrypt_otp_attempt(&init.otp_encryption_target_bundle, &pinned, &code, "02zz").unwrap();
        let err = f.verify(&init.otp_id, &init.sealed_state, bad_key, T0).unwrap_err();
        assert!(err.to_string().contains("public_key"), "{err}");
        let r = f.verify(&init.otp_id, &init.sealed_state, f.attempt(&init, &code), T0).unwrap();
        assert!(r.outcome.is_verified());
        let err = f.verify(&init.otp_id, &SealedState::new("not base64!"), f.attempt(&init, &code), T0).unwrap_err();
        assert!(matches!(err, Error::SealedState(_)));
    }

    #[tokio::test]
    async fn digits_only_sms_code_with_custom_template() {
        let f = fixture(5);
        let mut req = init_request(OtpType::Sms, "+15551234567");
        req.alphanumeric = Some(false);
        req.otp_length = Some(6);
        req.sms_template = Some("{{.OtpCode}} is your {{.AppName}} login".into());
        let (init, code) = f.init(req).await;
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
        let msg = Outbox::read(Outbox::list(f.outbox.path()).unwrap().last().unwrap()).unwrap();
        assert_eq!((msg.channel, msg.to.as_str()), (Channel::Sms, "+15551234567"));
        assert_eq!(msg.body, format!("{code} is your Acme login"));
        let r = f.verify(&init.otp_id, &init.sealed_state, f.attempt(&init, &code), T0).unwrap();
        let VerifyOutcome::Verified(v) = r.outcome else { panic!() };
        assert_eq!(v.otp_type, OtpType::Sms);
        let claims = f.enclave.verify_verification_token(&v.verification_token, T0).unwrap();
        assert_eq!(claims.verification_type, "OTP_TYPE_SMS");
    }

    #[tokio::test]
    async fn email_customization_reaches_the_message() {
        let f = fixture(5);
        let mut req = init_request(OtpType::Email, "ann@example.com");
        req.email_customization = Some(EmailCustomization {
            sender_name: Some("Acme Security".into()),
            subject_template: Some("Your {{appName}} sign-in code".into()),
            reply_to: Some("help@example.com".into()),
        });
        f.init(req).await;
        let path = Outbox::list(f.outbox.path()).unwrap().pop().unwrap();
        let msg = Outbox::read(&path).unwrap();
        assert_eq!(msg.subject, "Your Acme sign-in code");
        assert!(msg.body.contains("expires in 5 minutes"), "{}", msg.body);
        let raw = std::fs::read_to_string(&path).unwrap();
        assert!(raw.contains("From: \"Acme Security\" <no-reply@twofold.invalid>"), "{raw}");
        assert!(raw.contains("Reply-To: help@example.com"), "{raw}");
    }

    #[tokio::test]
    async fn init_input_is_validated() {
        let f = fixture(5);
        type Mutation = Box<dyn Fn(&mut InitOtpRequest)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|r| r.otp_length = Some(5)), "otp_length"),
            (Box::new(|r| r.otp_length = Some(10)), "otp_length"),
            (Box::new(|r| r.expiration_seconds = Some(601)), "expiration_seconds"),
            (Box::new(|r| r.expiration_seconds = Some(0)), "expiration_seconds"),
            (Box::new(|r| r.contact = "nobody".into()), "email address"),
            (Box::new(|r| r.app_name = " ".into()), "app_name"),
            (Box::new(|r| r.app_name = "a\r\nBcc: x@y.z".into()), "control"),
            (Box::new(|r| r.organization_id = String::new()), "organization_id"),
            (
                Box::new(|r| {
                    r.otp_type = OtpType::Sms;
                    r.contact = "+15551234567".into();
                    r.sms_template = Some("no code here".into());
                }),
                "OtpCode",
            ),
            (Box::new(|r| r.otp_type = OtpType::Sms), "E.164"),
        ];
        for (mutate, expect) in cases {
            let mut req = init_request(OtpType::Email, "ann@example.com");
            mutate(&mut req);
            let err = f.enclave.init_otp(req).await.unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)) && err.to_string().contains(expect), "{expect}: {err}");
        }
        assert!(Outbox::list(f.outbox.path()).unwrap().is_empty());
    }

    #[tokio::test]
    async fn token_lifetime_is_bounded() {
        let f = fixture(5);
        let (init, code) = f.init(init_request(OtpType::Email, "ann@example.com")).await;
        let mut req = VerifyOtpRequest {
            otp_id: init.otp_id.clone(),
            organization_id: "org-1".into(),
            sealed_state: init.sealed_state.clone(),
            encrypted_otp_bundle: f.attempt(&init, &code),
            token_expiration_seconds: Some(86_401),
            now_ms: T0,
        };
        assert!(matches!(f.enclave.verify_otp(req.clone()), Err(Error::InvalidInput(_))));
        req.token_expiration_seconds = Some(86_400);
        let VerifyOutcome::Verified(v) = f.enclave.verify_otp(req).unwrap().outcome else { panic!() };
        assert_eq!(v.token_expires_at_ms, T0 + 86_400_000);
    }
}
