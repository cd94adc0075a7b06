//! Key parsing and stamp signature checks, on well-kept crates: `p256`, `k256` and
//! `ed25519-dalek` to validate and decompress keys once at registration, `ring` to
//! verify P-256 and Ed25519 signatures on the hot path (about 5× faster than pure-Rust
//! P-256), `k256` for secp256k1, which `ring` does not offer.

use ring::signature::{ECDSA_P256_SHA256_ASN1, ED25519, UnparsedPublicKey};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::ApiKeyCurve;

/// Validates a client-supplied public key and returns the bytes the verifier uses:
/// the uncompressed SEC1 point for P-256, the raw 32 bytes for Ed25519.
pub fn parse_public_key(curve: ApiKeyCurve, public_key_hex: &str) -> Result<Vec<u8>> {
    let bytes = hex::decode(public_key_hex)
        .map_err(|_| Error::invalid(format!("public key `{}` is not valid hex", clip(public_key_hex))))?;
    match curve {
        ApiKeyCurve::P256 => {
            if bytes.len() != 33 {
                return Err(Error::invalid(format!(
                    "a P-256 public key must be 33 bytes (compressed SEC1), found {} bytes",
                    bytes.len()
                )));
            }
            let point = p256::PublicKey::from_sec1_bytes(&bytes)
                .map_err(|_| Error::invalid("public key is not a point on P-256"))?;
            Ok(uncompressed(&point))
        }
        ApiKeyCurve::Secp256k1 => {
            if bytes.len() != 33 {
                return Err(Error::invalid(format!(
                    "a secp256k1 public key must be 33 bytes (compressed SEC1), found {} bytes",
                    bytes.len()
                )));
            }
            k256::ecdsa::VerifyingKey::from_sec1_bytes(&bytes)
                .map_err(|_| Error::invalid("public key is not a point on secp256k1"))?;
            Ok(bytes)
        }
        ApiKeyCurve::Ed25519 => {
            let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                Error::invalid(format!("an Ed25519 public key must be 32 bytes, found {} bytes", bytes.len()))
            })?;
            ed25519_dalek::VerifyingKey::from_bytes(&arr)
                .map_err(|_| Error::invalid("public key is not a valid Ed25519 point"))?;
            Ok(arr.to_vec())
        }
    }
}

fn uncompressed(point: &p256::PublicKey) -> Vec<u8> {
    use p256::elliptic_curve::sec1::ToSec1Point;
    point.to_sec1_point(false).as_bytes().to_vec()
}

/// Checks `signature` over `message` with a key from [`parse_public_key`].
/// ECDSA signatures (P-256, secp256k1) are DER over SHA-256 of the message; high-S
/// signatures are accepted, as Turnkey's clients send them.
pub fn verify(curve: ApiKeyCurve, verify_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let alg: &dyn ring::signature::VerificationAlgorithm = match curve {
        ApiKeyCurve::P256 => &ECDSA_P256_SHA256_ASN1,
        ApiKeyCurve::Ed25519 => &ED25519,
        ApiKeyCurve::Secp256k1 => return verify_secp256k1(verify_key, message, signature),
    };
    UnparsedPublicKey::new(alg, verify_key).verify(message, signature).is_ok()
}

/// ECDSA over secp256k1 with SHA-256, DER, either S (k256 checks the low one).
fn verify_secp256k1(verify_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    use k256::ecdsa::signature::Verifier;
    let (Ok(key), Ok(sig)) =
        (k256::ecdsa::VerifyingKey::from_sec1_bytes(verify_key), k256::ecdsa::Signature::from_der(signature))
    else {
        return false;
    };
    key.verify(message, &sig.normalize_s()).is_ok()
}

/// `sha256:<lowercase hex>` of the exact body bytes, as `computeActivityFingerprint` returns.
pub fn fingerprint(body: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

/// Shortens user input for error messages.
pub(crate) fn clip(s: &str) -> String {
    if s.chars().count() <= 80 { s.to_owned() } else { format!("{}…", s.chars().take(80).collect::<String>()) }
}

#[cfg(test)]
mod tests {
    use k256::ecdsa::signature::Signer;

    use super::*;

    #[test]
    fn secp256k1_stamps_verify_with_either_s_and_only_with_their_key() {
        let signing = k256::ecdsa::SigningKey::from_slice(&[7u8; 32]).expect("key");
        let public = hex::encode(signing.verifying_key().to_sec1_bytes());
        let verify_key = parse_public_key(ApiKeyCurve::Secp256k1, &public).expect("a compressed point");
        let message = b"{\"type\":\"ACTIVITY_TYPE_STAMP_LOGIN\"}";
        let sig: k256::ecdsa::Signature = signing.sign(message);
        let low = sig.normalize_s();
        assert!(verify(ApiKeyCurve::Secp256k1, &verify_key, message, low.to_der().as_bytes()));
        let (r, s) = low.split_scalars();
        let high = k256::ecdsa::Signature::from_scalars(r, -*s).expect("high-S");
        assert!(verify(ApiKeyCurve::Secp256k1, &verify_key, message, high.to_der().as_bytes()), "high S accepted");
        assert!(!verify(ApiKeyCurve::Secp256k1, &verify_key, b"another body", low.to_der().as_bytes()));
        assert!(!verify(ApiKeyCurve::Secp256k1, &verify_key, message, &low.to_bytes()), "raw r||s is not DER");
        let other = k256::ecdsa::SigningKey::from_slice(&[9u8; 32]).expect("key");
        let other_key = parse_public_key(ApiKeyCurve::Secp256k1, &hex::encode(other.verifying_key().to_sec1_bytes()))
            .expect("point");
        assert!(!verify(ApiKeyCurve::Secp256k1, &other_key, message, low.to_der().as_bytes()));
        // The same 33 bytes are no P-256 key of the same signer, and a P-256 verify refuses the signature.
        assert!(!verify(ApiKeyCurve::P256, &verify_key, message, low.to_der().as_bytes()));
    }

    #[test]
    fn secp256k1_keys_are_compressed_points() {
        let uncompressed = "04".to_owned() + &"11".repeat(64);
        assert!(parse_public_key(ApiKeyCurve::Secp256k1, &uncompressed).is_err());
        assert!(
            parse_public_key(ApiKeyCurve::Secp256k1, &format!("02{}", "ff".repeat(32))).is_err(),
            "not on the curve"
        );
        assert!(parse_public_key(ApiKeyCurve::Secp256k1, "zz").is_err());
    }
}
