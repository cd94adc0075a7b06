//! Session tokens: the JWT `stamp_login` returns. The session itself is a key pair
//! the client holds (its public key is stored like an API key with an expiry); the
//! token tells the client what it may do and until when.
//!
//! Signed as Turnkey signs them (`verifySessionJwtSignature` in `@turnkey/crypto`):
//! ES256 over SHA-256(SHA-256(header.payload)), raw low-S `r || s`, base64url.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{Signature, SigningKey};
use serde::Serialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secrets::random_bytes;

/// Name of the signing key among the installation's sealed secrets.
pub const SIGNING_KEY_NAME: &str = "session-jwt-signing-key";

/// Claims of a session token, as the Turnkey SDKs read them.
#[derive(Debug, Clone, Serialize)]
pub struct SessionClaims {
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// The session's public key (compressed P-256 hex).
    pub public_key: String,
    /// `SESSION_TYPE_READ_WRITE`.
    pub session_type: String,
    /// The user.
    pub user_id: String,
    /// The user's organization.
    pub organization_id: String,
    /// The session profile, if the session is bound to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_profile_id: Option<String>,
    /// What the session may do (the session profile's scope; empty = everything the user may).
    pub scope: String,
}

/// The installation's session-token signing key.
#[derive(Clone)]
pub struct SessionSigner {
    key: SigningKey,
}

impl std::fmt::Debug for SessionSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionSigner({})", self.public_key_hex())
    }
}

impl SessionSigner {
    /// A new random key; returns it with its 32-byte secret scalar for sealing.
    pub fn generate() -> Result<(Self, Zeroizing<Vec<u8>>)> {
        loop {
            let mut bytes = Zeroizing::new(vec![0u8; 32]);
            random_bytes(&mut bytes)?;
            // A random 32-byte string is a valid scalar with overwhelming probability; retry if not.
            if let Ok(signer) = Self::from_bytes(&bytes) {
                return Ok((signer, bytes));
            }
        }
    }

    /// The key from its 32-byte secret scalar.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let key = SigningKey::from_slice(bytes)
            .map_err(|_| Error::Internal("the session signing key is not a valid P-256 scalar".to_owned()))?;
        Ok(SessionSigner { key })
    }

    /// The verifying key, uncompressed SEC1 hex (what `verifySessionJwtSignature` takes).
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_sec1_point(false).as_bytes())
    }

    /// A signed token carrying `claims`.
    pub fn sign(&self, claims: &SessionClaims) -> Result<String> {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"JWT"}"#);
        let payload = serde_json::to_vec(claims).map_err(|e| Error::Internal(format!("session claims: {e}")))?;
        let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
        let digest = Sha256::digest(Sha256::digest(signing_input.as_bytes()));
        let signature: Signature =
            self.key.sign_prehash(&digest).map_err(|e| Error::Internal(format!("signing a session token: {e}")))?;
        let signature = signature.normalize_s();
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::hazmat::PrehashVerifier;

    #[test]
    fn token_verifies_over_the_double_hash_and_is_low_s() {
        let (signer, secret) = SessionSigner::generate().expect("key");
        let again = SessionSigner::from_bytes(&secret).expect("reload");
        assert_eq!(signer.public_key_hex(), again.public_key_hex());
        let claims = SessionClaims {
            exp: 1_900_000_000,
            public_key: "02ab".into(),
            session_type: "SESSION_TYPE_READ_WRITE".into(),
            user_id: "u".into(),
            organization_id: "o".into(),
            session_profile_id: None,
            scope: String::new(),
        };
        let jwt = signer.sign(&claims).expect("sign");
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
        assert_eq!(payload["exp"], 1_900_000_000);
        assert!(payload.get("session_profile_id").is_none());
        let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).expect("b64")).expect("sig");
        assert!(sig.normalize_s() == sig, "low-S");
        let digest = Sha256::digest(Sha256::digest(format!("{}.{}", parts[0], parts[1]).as_bytes()));
        let vk = VerifyingKey::from_sec1_bytes(&hex::decode(signer.public_key_hex()).expect("hex")).expect("vk");
        vk.verify_prehash(&digest, &sig).expect("verifies");
    }
}
