//! OTP verification tokens: standard ES256 JWTs as `@turnkey/crypto`'s `verifyOtpVerificationToken` checks them.
//!
//! Header `{"alg":"ES256","typ":"JWT"}`; signature = raw `r || s` (64 bytes, base64url) of
//! ECDSA-P256 over SHA-256(`header.payload`); all claims are strings, `exp` in milliseconds.
//! A small module instead of `jsonwebtoken`: see `docs/ENCLAVE.md` ("Why not jsonwebtoken").

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keys::EnclaveKeys;

/// Longest token accepted for verification.
const MAX_TOKEN_LEN: usize = 8 * 1024;

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
}

/// The claims of a verification token issued by `verify_otp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationClaims {
    /// Token id (UUID v4); the coordinator records it to make the token single-use.
    pub id: String,
    /// `OTP_TYPE_EMAIL` or `OTP_TYPE_SMS`.
    pub verification_type: String,
    /// The email address or phone number the code was delivered to.
    pub contact: String,
    /// Organization the OTP was initiated in.
    pub organization_id: String,
    /// The client's compressed P-256 public key (hex) the token is bound to.
    pub public_key: String,
    /// Expiry, milliseconds since the Unix epoch, as a decimal string.
    pub exp: String,
}

impl VerificationClaims {
    /// The expiry as a number of milliseconds since the epoch.
    pub fn expires_at_ms(&self) -> Result<u64> {
        self.exp.parse().map_err(|_| Error::Token("`exp` is not a millisecond timestamp".into()))
    }
}

/// Signs `claims` with the enclave's signing key.
pub(crate) fn sign(keys: &EnclaveKeys, claims: &VerificationClaims) -> Result<String> {
    let header = Header { alg: "ES256".into(), typ: "JWT".into() };
    let signing_input = format!("{}.{}", b64_json(&header)?, b64_json(claims)?);
    let sig = keys.sign(signing_input.as_bytes());
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes())))
}

fn b64_json<T: Serialize>(value: &T) -> Result<String> {
    let json = serde_json::to_vec(value).map_err(|e| Error::Internal(format!("token encoding: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// Verifies a verification token against `public_key_hex` (SEC1 hex, compressed or not) at `now_ms`.
///
/// For coordinators that cache the enclave's public key instead of asking the enclave.
pub fn verify_with_public_key(public_key_hex: &str, token: &str, now_ms: u64) -> Result<VerificationClaims> {
    let bytes = hex::decode(public_key_hex.trim()).map_err(|_| Error::Token("public key is not hex".into()))?;
    let key = VerifyingKey::from_sec1_bytes(&bytes).map_err(|_| Error::Token("public key is not P-256".into()))?;
    verify(&[key], token, now_ms)
}

/// Verifies signature (under any of `keys`), header, claims and expiry.
pub(crate) fn verify(keys: &[VerifyingKey], token: &str, now_ms: u64) -> Result<VerificationClaims> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Error::Token("token is too long".into()));
    }
    let mut parts = token.trim().split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(Error::Token("a JWT has three dot-separated parts".into()));
    };
    let decode = |part: &str, what: &str| {
        URL_SAFE_NO_PAD.decode(part).map_err(|_| Error::Token(format!("{what} is not unpadded base64url")))
    };
    let header: Header = serde_json::from_slice(&decode(h, "header")?)
        .map_err(|_| Error::Token("header is not {\"alg\",\"typ\"} JSON".into()))?;
    if header.alg != "ES256" || header.typ != "JWT" {
        return Err(Error::Token(format!(
            "unsupported header alg `{}` typ `{}` (expected ES256 / JWT)",
            header.alg, header.typ
        )));
    }
    let sig = Signature::from_slice(&decode(s, "signature")?)
        .map_err(|_| Error::Token("signature is not a 64-byte P-256 r||s".into()))?;
    let signing_input = &token.trim()[..h.len() + 1 + p.len()];
    if !keys.iter().any(|k| k.verify(signing_input.as_bytes(), &sig).is_ok()) {
        return Err(Error::Token("signature is not by this enclave".into()));
    }
    let claims: VerificationClaims = serde_json::from_slice(&decode(p, "payload")?)
        .map_err(|e| Error::Token(format!("claims are not the verification token shape: {e}")))?;
    for (name, value) in [
        ("id", &claims.id),
        ("verification_type", &claims.verification_type),
        ("contact", &claims.contact),
        ("organization_id", &claims.organization_id),
        ("public_key", &claims.public_key),
    ] {
        if value.is_empty() {
            return Err(Error::Token(format!("claim `{name}` is empty")));
        }
    }
    if now_ms >= claims.expires_at_ms()? {
        return Err(Error::Token("token has expired".into()));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;

    fn claims(exp: u64) -> VerificationClaims {
        VerificationClaims {
            id: "t-1".into(),
            verification_type: "OTP_TYPE_EMAIL".into(),
            contact: "a@example.com".into(),
            organization_id: "org-1".into(),
            public_key: "02".repeat(33),
            exp: exp.to_string(),
        }
    }

    #[test]
    fn signs_and_verifies_until_expiry() {
        let keys = EnclaveKeys::generate().unwrap();
        let token = sign(&keys, &claims(10_000)).unwrap();
        let header = URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap();
        assert_eq!(header, br#"{"alg":"ES256","typ":"JWT"}"#);
        assert_eq!(verify(&keys.token_verifying_keys(), &token, 9_999).unwrap(), claims(10_000));
        assert!(
            matches!(verify(&keys.token_verifying_keys(), &token, 10_000), Err(Error::Token(m)) if m.contains("expired"))
        );
        let by_hex = verify_with_public_key(&keys.signing_public_key_compressed_hex(), &token, 0).unwrap();
        assert_eq!(by_hex.id, "t-1");
    }

    #[test]
    fn forged_or_altered_tokens_fail() {
        let keys = EnclaveKeys::generate().unwrap();
        let other = EnclaveKeys::generate().unwrap();
        let token = sign(&other, &claims(10_000)).unwrap();
        assert!(verify(&keys.token_verifying_keys(), &token, 0).is_err());

        let token = sign(&keys, &claims(10_000)).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let mut longer = claims(10_000);
        longer.exp = "99999999999999".into();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&longer).unwrap());
        let altered = format!("{}.{}.{}", parts[0], payload, parts[2]);
        assert!(verify(&keys.token_verifying_keys(), &altered, 0).is_err());

        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let alg_none = format!("{none_header}.{}.{}", parts[1], parts[2]);
        assert!(
            matches!(verify(&keys.token_verifying_keys(), &alg_none, 0), Err(Error::Token(m)) if m.contains("unsupported"))
        );
        for garbage in ["", "a.b", "a.b.c.d", "!!.!!.!!"] {
            assert!(verify(&keys.token_verifying_keys(), garbage, 0).is_err());
        }
    }

    #[test]
    fn tokens_from_before_a_signing_rotation_still_verify() {
        let keys = EnclaveKeys::generate().unwrap();
        let token = sign(&keys, &claims(10_000)).unwrap();
        let rotated = keys.rotated(true).unwrap();
        assert!(verify(&rotated.token_verifying_keys(), &token, 0).is_ok());
        assert!(verify(&rotated.rotated(true).unwrap().token_verifying_keys(), &token, 0).is_err());
    }
}
