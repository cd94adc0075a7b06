//! twofold's enclave: the isolated component that owns email/SMS one-time codes. It generates and
//! delivers codes, hands out HPKE target keys signed by its long-lived key, checks encrypted
//! attempts, and issues verification tokens. The coordinator only ever holds ciphertext: per-code
//! state is sealed with a key that never leaves this crate. Runs in-process ([`Enclave`]) or as a
//! separate process behind a Unix socket ([`serve_unix`] / [`RemoteEnclave`]).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod api;
mod bundle;
mod code;
pub mod delivery;
mod error;
mod jwt;
pub mod keys;
mod otp;
mod seal;
mod socket;

pub use api::EnclaveApi;
pub use bundle::{TURNKEY_HPKE_INFO, TargetBundleData, encrypt_otp_attempt, verify_target_bundle};
pub use code::{CROCKFORD_ALPHABET, MAX_CODE_LENGTH, MIN_CODE_LENGTH};
pub use delivery::{
    Channel, Deliverer, Delivery, Outbox, OutboxMessage, OutgoingMessage, SmtpConfig, SmtpTls, WebhookAuth,
    WebhookConfig, WebhookFormat,
};
pub use error::{Error, Result};
pub use jwt::{VerificationClaims, verify_with_public_key};
pub use keys::EnclaveKeys;
pub use otp::{
    DEFAULT_EXPIRATION_SECONDS, DEFAULT_MAX_ATTEMPTS, DEFAULT_OTP_LENGTH, DEFAULT_TOKEN_EXPIRATION_SECONDS,
    DeliverOtpRequest, EmailCustomization, Enclave, EnclaveConfig, InitOtpRequest, InitOtpResponse,
    MAX_EXPIRATION_SECONDS, MAX_MAX_ATTEMPTS, MAX_TOKEN_EXPIRATION_SECONDS, Notice, OtpType, PublicKeys, Verified,
    VerifyOtpRequest, VerifyOtpResponse, VerifyOutcome,
};
pub use seal::SealedState;
pub use socket::{
    ClockSource, MAX_REQUEST_BYTES, PROTOCOL_VERSION, RemoteEnclave, ServeOptions, bind_unix, serve_listener,
    serve_unix, serve_unix_with,
};
