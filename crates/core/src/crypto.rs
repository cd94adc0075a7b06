//! Key parsing and stamp signature checks, on well-kept crates: `p256` and
//! `ed25519-dalek` to validate and decompress keys once at registration, `ring` to
//! verify signatures on the hot path (about 5× faster than pure-Rust P-256).

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
/// P-256 signatures are DER; high-S signatures are accepted, as Turnkey's clients send them.
pub fn verify(curve: ApiKeyCurve, verify_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let alg: &dyn ring::signature::VerificationAlgorithm = match curve {
        ApiKeyCurve::P256 => &ECDSA_P256_SHA256_ASN1,
        ApiKeyCurve::Ed25519 => &ED25519,
    };
    UnparsedPublicKey::new(alg, verify_key).verify(message, signature).is_ok()
}

/// `sha256:<lowercase hex>` of the exact body bytes, as `computeActivityFingerprint` returns.
pub fn fingerprint(body: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

/// Shortens user input for error messages.
pub(crate) fn clip(s: &str) -> String {
    if s.chars().count() <= 80 { s.to_owned() } else { format!("{}…", s.chars().take(80).collect::<String>()) }
}
