//! RFC 6238 authenticator apps, on `totp-rs`: SHA-1, 6 digits, 30-second steps,
//! one step of skew either way. Seeds are 160 bits from the OS CSPRNG and are sealed
//! before they are stored; replay is refused by the caller keeping the last
//! accepted step per device ([`crate::model::Factor::counter`]).

use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, Builder, Totp};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secrets::random_bytes;

/// Seed length in bytes: 160 bits, as NIST recommends.
pub const SEED_BYTES: usize = 20;

/// The non-secret parameters of a device, stored as its public data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpParams {
    /// HMAC algorithm (`SHA1`).
    pub algorithm: String,
    /// Code length.
    pub digits: u8,
    /// Step length in seconds.
    pub period: u64,
}

impl Default for TotpParams {
    fn default() -> Self {
        TotpParams { algorithm: "SHA1".to_owned(), digits: 6, period: 30 }
    }
}

/// What a user needs to add the device to an app, shown once.
#[derive(Debug, Clone)]
pub struct Enrollment {
    /// `otpauth://totp/...` URI.
    pub uri: String,
    /// The seed in base32, for typing into an app by hand.
    pub secret: Zeroizing<String>,
    /// A PNG QR code of the URI, base64.
    pub qr_png_base64: String,
}

/// A fresh random seed.
pub fn new_seed() -> Result<Zeroizing<Vec<u8>>> {
    let mut seed = Zeroizing::new(vec![0u8; SEED_BYTES]);
    random_bytes(&mut seed)?;
    Ok(seed)
}

fn totp(seed: &[u8], params: &TotpParams, issuer: &str, account: &str) -> Result<Totp> {
    let algorithm = match params.algorithm.as_str() {
        "SHA1" => Algorithm::SHA1,
        "SHA256" => Algorithm::SHA256,
        "SHA512" => Algorithm::SHA512,
        other => return Err(Error::Internal(format!("unsupported TOTP algorithm {other}"))),
    };
    // otpauth labels separate issuer and account with ':'; neither may contain one.
    let clean = |s: &str| s.replace(':', "-");
    let mut builder = Builder::new()
        .with_algorithm(algorithm)
        .with_digits(params.digits)
        .with_step_duration(params.period)
        .with_skew(1)
        .with_secret(seed.to_vec());
    if !account.is_empty() {
        builder = builder.with_account_name(clean(account)).with_issuer(Some(clean(issuer)));
    }
    builder.build().map_err(|e| Error::Internal(format!("TOTP device could not be built: {e}")))
}

/// The enrollment URI, base32 secret and QR code for `seed`.
pub fn enrollment(seed: &[u8], params: &TotpParams, issuer: &str, account: &str) -> Result<Enrollment> {
    let t = totp(seed, params, issuer, account)?;
    let uri = t.to_url().map_err(|e| Error::Internal(format!("otpauth URI: {e}")))?;
    let qr_png_base64 = t.to_qr_base64().map_err(|e| Error::Internal(format!("QR code: {e}")))?;
    let secret = Zeroizing::new(totp_rs::Secret::from(seed.to_vec()).to_base32());
    Ok(Enrollment { uri, secret, qr_png_base64 })
}

/// The time step (T−1, T or T+1 around `now_secs`) at which `code` is valid, compared
/// in constant time; `None` if it is valid at none of them.
pub fn matching_step(seed: &[u8], params: &TotpParams, code: &str, now_secs: u64) -> Result<Option<u64>> {
    let code = code.trim();
    if code.len() != usize::from(params.digits) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    Ok(totp(seed, params, "", "")?.check(code, now_secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B, SHA-1 seed "12345678901234567890" (8-digit vectors, truncated to 6 here).
    const SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc_6238_vectors() {
        let p = TotpParams::default();
        assert_eq!(matching_step(SEED, &p, "287082", 59).expect("ok"), Some(1));
        assert_eq!(matching_step(SEED, &p, "081804", 1_111_111_109).expect("ok"), Some(37_037_036));
        assert_eq!(matching_step(SEED, &p, "005924", 1_234_567_890).expect("ok"), Some(41_152_263));
    }

    #[test]
    fn one_step_of_skew_either_way_and_no_more() {
        let p = TotpParams::default();
        // "287082" is the code of step 1 (t = 30..59).
        assert_eq!(matching_step(SEED, &p, "287082", 89).expect("ok"), Some(1), "T-1 accepted");
        assert_eq!(matching_step(SEED, &p, "287082", 0).expect("ok"), Some(1), "T+1 accepted");
        assert_eq!(matching_step(SEED, &p, "287082", 90).expect("ok"), None, "T-2 refused");
        assert_eq!(matching_step(SEED, &p, "28708", 59).expect("ok"), None);
        assert_eq!(matching_step(SEED, &p, "28708a", 59).expect("ok"), None);
    }

    #[test]
    fn enrollment_gives_an_otpauth_uri_and_a_png() {
        let seed = new_seed().expect("rng");
        let e = enrollment(&seed, &TotpParams::default(), "twofold", "alice@example.com").expect("enroll");
        assert!(e.uri.starts_with("otpauth://totp/twofold:alice%40example.com?"), "{}", e.uri);
        assert!(e.uri.contains(&format!("secret={}", e.secret.as_str())));
        assert!(!e.qr_png_base64.is_empty());
        assert_eq!(e.secret.len(), 32, "160 bits in base32");
    }
}
