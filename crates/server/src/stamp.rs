//! `X-Stamp` parsing: base64url (no padding) of `{"publicKey", "scheme", "signature"}`.
//! The signature itself is checked by the engine against the registered key.

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use serde::Deserialize;
use twofold_core::factors::passkey::WebauthnStamp;
use twofold_core::{Error, StampProof};

/// Header carrying an API-key stamp.
pub const STAMP_HEADER: &str = "x-stamp";
/// Header carrying a passkey stamp.
pub const WEBAUTHN_STAMP_HEADER: &str = "x-stamp-webauthn";
/// Header carrying a stamp by a key an OTP verification token binds (newer SDKs' login).
pub const ATTESTED_STAMP_HEADER: &str = "x-stamp-attested";
/// Largest stamp header accepted.
const MAX_STAMP_LEN: usize = 4096;

const SCHEMES: [&str; 3] =
    ["SIGNATURE_SCHEME_TK_API_P256", "SIGNATURE_SCHEME_TK_API_ED25519", "SIGNATURE_SCHEME_TK_API_SECP256K1"];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StampJson {
    public_key: String,
    scheme: String,
    signature: String,
}

/// Parses an `X-Stamp-Webauthn` value: plain JSON (not base64), base64url fields.
pub fn parse_webauthn(value: &[u8]) -> Result<StampProof, Error> {
    let bad = |why: &str| Error::Unauthenticated(format!("invalid X-Stamp-Webauthn header: {why}"));
    if value.len() > MAX_STAMP_LEN {
        return Err(bad("longer than 4096 bytes"));
    }
    let stamp: WebauthnStamp = serde_json::from_slice(value).map_err(|e| {
        bad(&format!("expected the JSON object {{authenticatorData, clientDataJson, credentialId, signature}} ({e})"))
    })?;
    if [&stamp.authenticator_data, &stamp.client_data_json, &stamp.credential_id, &stamp.signature]
        .iter()
        .any(|f| f.is_empty())
    {
        return Err(bad("no field may be empty"));
    }
    Ok(StampProof::Webauthn(stamp))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttestedJson {
    public_key_attestation: String,
    scheme: String,
    public_key: String,
    signature: String,
}

/// Parses an `X-Stamp-Attested` value: base64url of `{publicKeyAttestation, scheme, publicKey, signature}`.
pub fn parse_attested(value: &[u8]) -> Result<StampProof, Error> {
    let bad = |why: &str| Error::Unauthenticated(format!("invalid X-Stamp-Attested header: {why}"));
    if value.len() > 2 * MAX_STAMP_LEN {
        return Err(bad("longer than 8192 bytes"));
    }
    let decoded =
        URL_SAFE_NO_PAD.decode(value).or_else(|_| URL_SAFE.decode(value)).map_err(|_| bad("not base64url"))?;
    let stamp: AttestedJson =
        serde_json::from_slice(&decoded).map_err(|e| bad(&format!("not the attested stamp JSON object ({e})")))?;
    if stamp.scheme != twofold_core::ATTESTED_SCHEME {
        return Err(bad(&format!("unsupported scheme; expected {}", twofold_core::ATTESTED_SCHEME)));
    }
    if [&stamp.public_key_attestation, &stamp.public_key, &stamp.signature].iter().any(|f| f.is_empty()) {
        return Err(bad("publicKeyAttestation, publicKey and signature must not be empty"));
    }
    Ok(StampProof::Attested {
        token: stamp.public_key_attestation,
        public_key: stamp.public_key,
        signature: stamp.signature,
    })
}

/// Parses an `X-Stamp` value.
pub fn parse(value: &[u8]) -> Result<StampProof, Error> {
    let bad = |why: &str| Error::Unauthenticated(format!("invalid X-Stamp header: {why}"));
    if value.len() > MAX_STAMP_LEN {
        return Err(bad("longer than 4096 bytes"));
    }
    let decoded =
        URL_SAFE_NO_PAD.decode(value).or_else(|_| URL_SAFE.decode(value)).map_err(|_| bad("not base64url"))?;
    let stamp: StampJson =
        serde_json::from_slice(&decoded).map_err(|e| bad(&format!("not the stamp JSON object ({e})")))?;
    if !SCHEMES.contains(&stamp.scheme.as_str()) {
        return Err(bad(&format!("unsupported scheme; expected one of {}", SCHEMES.join(", "))));
    }
    if stamp.public_key.is_empty() || stamp.signature.is_empty() {
        return Err(bad("publicKey and signature must not be empty"));
    }
    Ok(StampProof::Key { public_key: stamp.public_key, scheme: stamp.scheme, signature: stamp.signature })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.encode(s).into_bytes()
    }

    #[test]
    fn parses_a_turnkey_stamp() {
        let s = parse(&enc(r#"{"publicKey":"02ab","scheme":"SIGNATURE_SCHEME_TK_API_P256","signature":"3045"}"#))
            .expect("valid");
        let StampProof::Key { public_key, signature, .. } = s else { panic!("an API key stamp") };
        assert_eq!(public_key, "02ab");
        assert_eq!(signature, "3045");
    }

    #[test]
    fn rejects_garbage_with_a_reason() {
        for (input, why) in [
            (b"%%%".to_vec(), "not base64url"),
            (enc("not json"), "not the stamp JSON object"),
            (enc(r#"{"publicKey":"02","scheme":"X","signature":"30"}"#), "unsupported scheme"),
            (enc(r#"{"publicKey":"","scheme":"SIGNATURE_SCHEME_TK_API_P256","signature":"30"}"#), "must not be empty"),
        ] {
            let err = parse(&input).expect_err("must fail").to_string();
            assert!(err.contains(why), "{err}");
        }
    }

    #[test]
    fn attested_stamps_carry_a_token_and_a_key() {
        let ok = r#"{"publicKeyAttestation":"a.b.c","scheme":"STAMP_ATTESTED_SCHEME_P256_VERIFICATION_TOKEN","publicKey":"02ab","signature":"30"}"#;
        let Ok(StampProof::Attested { token, public_key, .. }) = parse_attested(&enc(ok)) else { panic!("attested") };
        assert_eq!((token.as_str(), public_key.as_str()), ("a.b.c", "02ab"));
        for (input, why) in [
            (enc(&ok.replace("STAMP_ATTESTED_SCHEME_P256_VERIFICATION_TOKEN", "X")), "unsupported scheme"),
            (enc(&ok.replace("a.b.c", "")), "must not be empty"),
            (ok.as_bytes().to_vec(), "not base64url"),
        ] {
            let err = parse_attested(&input).expect_err("must fail").to_string();
            assert!(err.contains(why), "{err}");
        }
    }

    #[test]
    fn webauthn_stamps_are_plain_json() {
        let ok = br#"{"authenticatorData":"a","clientDataJson":"b","credentialId":"c","signature":"d"}"#;
        assert!(matches!(parse_webauthn(ok), Ok(StampProof::Webauthn(_))));
        for (input, why) in [
            (enc(std::str::from_utf8(ok).expect("utf8")).clone(), "expected the JSON object"),
            (br#"{"authenticatorData":"","clientDataJson":"b","credentialId":"c","signature":"d"}"#.to_vec(), "empty"),
            (br#"{"authenticatorData":"a","clientDataJson":"b","credentialId":"c"}"#.to_vec(), "missing field"),
        ] {
            let err = parse_webauthn(&input).expect_err("must fail").to_string();
            assert!(err.contains(why), "{err}");
        }
    }
}
