//! Helpers shared by the enclave's integration tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests fail loudly")]

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use p256::elliptic_curve::sec1::ToSec1Point;
use twofold_enclave::{Channel, Deliverer, Enclave, EnclaveConfig, EnclaveKeys, InitOtpRequest, OtpType, Outbox};

/// Wall-clock milliseconds (the node client checks token expiry against its own clock).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A fixed client key pair's compressed public key (hex).
pub fn client_public_key() -> String {
    let sk = p256::SecretKey::from_slice(&[0x42u8; 32]).unwrap();
    hex::encode(sk.public_key().as_affine().to_sec1_point(true).as_bytes())
}

/// An enclave with fresh keys delivering into `outbox`.
pub fn outbox_enclave(outbox: &Path) -> Enclave {
    Enclave::new(EnclaveKeys::generate().unwrap(), Deliverer::outbox(outbox), EnclaveConfig::default()).unwrap()
}

/// An init request with defaults, as the coordinator would build it from INIT_OTP_V3.
pub fn init_request(otp_type: OtpType, contact: &str, now_ms: u64) -> InitOtpRequest {
    InitOtpRequest {
        organization_id: "7f0c5bb4-0a5e-4c43-9d55-3b3c6b0f1a11".into(),
        otp_type,
        contact: contact.into(),
        app_name: "Acme Wallet".into(),
        otp_length: None,
        alphanumeric: None,
        expiration_seconds: None,
        email_customization: None,
        sms_template: None,
        defer_delivery: false,
        now_ms,
    }
}

/// The code inside a delivered message body, as a user would read it.
pub fn code_in(body: &str, channel: Channel) -> String {
    match channel {
        Channel::Email => body.lines().find(|l| l.starts_with("    ")).expect("code line").trim().to_owned(),
        Channel::Sms => body.split(' ').next().expect("code").to_owned(),
    }
}

/// The code in the newest outbox message.
pub fn latest_outbox_code(outbox: &Path) -> String {
    let msg = Outbox::read(Outbox::list(outbox).unwrap().last().expect("a message")).unwrap();
    code_in(&msg.body, msg.channel)
}

/// Whether this run must not skip tests for missing tools (the CI runner sets CI=true).
pub fn strict() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Skips (or, under CI, fails) a test whose external tool is missing.
pub fn missing(what: &str) {
    assert!(!strict(), "{what} is required when CI=true");
    eprintln!("SKIPPED: {what} is not available");
}
