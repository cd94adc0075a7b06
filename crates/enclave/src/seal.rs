//! Sealed per-code state: AES-256-GCM under an enclave-only key, bound to its OTP and organization.
//!
//! Layout (then standard base64): `version (1) || sealing key id (4) || nonce (12) || ciphertext+tag`.
//! AAD: a domain label, the length-prefixed `otp_id` and `organization_id`, the version and the key id.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result, fill_random};
use crate::keys::{EnclaveKeys, SealingKey};

const SEAL_VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 4 + 12;
const TAG_LEN: usize = 16;
/// Sealed state is small (a code, a key, a contact); anything larger is not ours.
const MAX_SEALED_LEN: usize = 16 * 1024;
const DOMAIN: &[u8] = b"twofold-enclave/otp-state";

/// Opaque sealed OTP state (base64 text) that the coordinator stores and hands back unchanged.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SealedState(String);

impl SealedState {
    /// Wraps sealed state read back from storage.
    pub fn new(text: impl Into<String>) -> Self {
        SealedState(text.into())
    }

    /// The text to store.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text to store, by value.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for SealedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedState({} chars)", self.0.len())
    }
}

fn aad(otp_id: &str, organization_id: &str, key_id: [u8; 4]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(DOMAIN.len() + otp_id.len() + organization_id.len() + 16);
    aad.extend_from_slice(DOMAIN);
    for part in [otp_id.as_bytes(), organization_id.as_bytes()] {
        aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
        aad.extend_from_slice(part);
    }
    aad.push(SEAL_VERSION);
    aad.extend_from_slice(&key_id);
    aad
}

fn cipher(key: &SealingKey) -> Result<Aes256Gcm> {
    Aes256Gcm::new_from_slice(key.key.as_ref()).map_err(|_| Error::Internal("sealing key has the wrong length".into()))
}

/// Seals `plaintext` under the current sealing key, bound to `otp_id` and `organization_id`.
pub(crate) fn seal(keys: &EnclaveKeys, otp_id: &str, organization_id: &str, plaintext: &[u8]) -> Result<SealedState> {
    let key: &SealingKey = &keys.sealing;
    let mut nonce = [0u8; 12];
    fill_random(&mut nonce)?;
    let cipher = cipher(key)?;
    let aad = aad(otp_id, organization_id, key.id);
    let ct = cipher
        .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad: &aad })
        .map_err(|_| Error::Internal("sealing OTP state failed".into()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + ct.len());
    out.push(SEAL_VERSION);
    out.extend_from_slice(&key.id);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(SealedState(STANDARD.encode(out)))
}

/// Opens sealed state with the key it names (current or previous); any mismatch is an error.
pub(crate) fn open(
    keys: &EnclaveKeys,
    otp_id: &str,
    organization_id: &str,
    sealed: &SealedState,
) -> Result<Zeroizing<Vec<u8>>> {
    if sealed.0.len() > MAX_SEALED_LEN * 4 / 3 + 4 {
        return Err(Error::SealedState("sealed state is too large".into()));
    }
    let raw = STANDARD.decode(sealed.0.trim()).map_err(|_| Error::SealedState("sealed state is not base64".into()))?;
    if raw.len() < HEADER_LEN + TAG_LEN {
        return Err(Error::SealedState("sealed state is truncated".into()));
    }
    if raw[0] != SEAL_VERSION {
        return Err(Error::SealedState(format!("sealed state version {} is not supported", raw[0])));
    }
    let mut key_id = [0u8; 4];
    key_id.copy_from_slice(&raw[1..5]);
    let key = keys.sealing_key(key_id).ok_or_else(|| {
        Error::SealedState(format!(
            "sealed under key {} which this enclave no longer holds (rotated twice since?)",
            hex::encode(key_id)
        ))
    })?;
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&raw[5..HEADER_LEN]);
    let cipher = cipher(key)?;
    let aad = aad(otp_id, organization_id, key_id);
    cipher.decrypt(&Nonce::from(nonce), Payload { msg: &raw[HEADER_LEN..], aad: &aad }).map(Zeroizing::new).map_err(
        |_| Error::SealedState("sealed state does not open: tampered, or for another OTP or organization".into()),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;

    #[test]
    fn round_trip() {
        let keys = EnclaveKeys::generate().unwrap();
        let s = seal(&keys, "otp-1", "org-1", b"secret state").unwrap();
        assert_eq!(open(&keys, "otp-1", "org-1", &s).unwrap().as_slice(), b"secret state");
        assert!(!s.as_str().contains("secret"));
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let keys = EnclaveKeys::generate().unwrap();
        let s = seal(&keys, "otp-1", "org-1", b"state").unwrap();
        let raw = STANDARD.decode(s.as_str()).unwrap();
        for i in 0..raw.len() {
            let mut t = raw.clone();
            t[i] ^= 0x01;
            let tampered = SealedState::new(STANDARD.encode(&t));
            assert!(matches!(open(&keys, "otp-1", "org-1", &tampered), Err(Error::SealedState(_))), "byte {i}");
        }
        let truncated = SealedState::new(STANDARD.encode(&raw[..raw.len() - 1]));
        assert!(open(&keys, "otp-1", "org-1", &truncated).is_err());
    }

    #[test]
    fn bound_to_otp_and_organization() {
        let keys = EnclaveKeys::generate().unwrap();
        let s = seal(&keys, "otp-1", "org-1", b"state").unwrap();
        assert!(open(&keys, "otp-2", "org-1", &s).is_err());
        assert!(open(&keys, "otp-1", "org-2", &s).is_err());
        // Length prefixes keep ("ab","c") and ("a","bc") apart.
        let s = seal(&keys, "ab", "c", b"state").unwrap();
        assert!(open(&keys, "a", "bc", &s).is_err());
    }

    #[test]
    fn another_enclave_cannot_open_it_and_rotation_keeps_one_generation() {
        let keys = EnclaveKeys::generate().unwrap();
        let other = EnclaveKeys::generate().unwrap();
        let s = seal(&keys, "o", "g", b"state").unwrap();
        assert!(open(&other, "o", "g", &s).is_err());
        let rotated = keys.rotated(false).unwrap();
        assert_eq!(open(&rotated, "o", "g", &s).unwrap().as_slice(), b"state");
        let twice = rotated.rotated(false).unwrap();
        let err = open(&twice, "o", "g", &s).unwrap_err();
        assert!(err.to_string().contains("no longer holds"), "{err}");
    }
}
