//! Secrets at rest: TOTP seeds and the session-token signing key are sealed with
//! AES-256-GCM under the installation's secrets key before they reach the database.
//!
//! A sealed value is `v1.<base64url(nonce || ciphertext || tag)>`. The associated
//! data names what the value is for (`totp:<device id>`), so a sealed seed copied
//! into another row does not open there.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

const PREFIX: &str = "v1.";
const NONCE_LEN: usize = 12;

/// The installation's 256-bit secrets key. Never printed, wiped on drop.
#[derive(Clone)]
pub struct SecretsKey([u8; 32]);

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey(..)")
    }
}

impl Drop for SecretsKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Fills `buf` from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::Internal(format!("the system random number generator failed: {e}")))
}

impl SecretsKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self> {
        let mut key = [0u8; 32];
        random_bytes(&mut key)?;
        Ok(SecretsKey(key))
    }

    /// Parses 64 hex characters (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self> {
        let bytes = Zeroizing::new(
            hex::decode(text.trim()).map_err(|_| Error::invalid("the secrets key must be 64 hex characters"))?,
        );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| Error::invalid("the secrets key must be 32 bytes (64 hex characters)"))?;
        Ok(SecretsKey(key))
    }

    /// The key as 64 hex characters, for writing a new key file.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.0.into())
    }

    /// Seals `plaintext` for the purpose named by `context`.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce)?;
        let sealed = self
            .cipher()
            .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad: context.as_bytes() })
            .map_err(|_| Error::Internal("sealing a secret failed".to_owned()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// Opens a value sealed for `context`. Fails if it was sealed under another key or
    /// context, or altered.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>> {
        let bad = || Error::Internal(format!("a sealed secret ({context}) does not open with this secrets key"));
        let body = sealed.strip_prefix(PREFIX).ok_or_else(bad)?;
        let raw = URL_SAFE_NO_PAD.decode(body).map_err(|_| bad())?;
        if raw.len() < NONCE_LEN {
            return Err(bad());
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| bad())?;
        let plain = self
            .cipher()
            .decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad: context.as_bytes() })
            .map_err(|_| bad())?;
        Ok(Zeroizing::new(plain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_in_its_context() {
        let key = SecretsKey::generate().expect("rng");
        let sealed = key.seal("totp:a", b"seed bytes").expect("seal");
        assert!(!sealed.contains("seed"));
        assert_eq!(key.open("totp:a", &sealed).expect("open").as_slice(), b"seed bytes");
        assert!(key.open("totp:b", &sealed).is_err(), "another row's context must not open it");
        assert!(SecretsKey::generate().expect("rng").open("totp:a", &sealed).is_err(), "another key must not open it");
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(key.open("totp:a", &tampered).is_err());
    }

    #[test]
    fn hex_round_trip_and_bad_keys() {
        let key = SecretsKey::generate().expect("rng");
        let again = SecretsKey::from_hex(&key.to_hex()).expect("parse");
        let sealed = key.seal("x", b"1").expect("seal");
        assert_eq!(again.open("x", &sealed).expect("open").as_slice(), b"1");
        assert!(SecretsKey::from_hex("abcd").is_err());
        assert!(SecretsKey::from_hex("zz").is_err());
        assert_eq!(format!("{key:?}"), "SecretsKey(..)");
    }
}
