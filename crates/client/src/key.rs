//! API key pairs: generation, key files, and stamps.

use std::io::Write;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{ClientError, Result};

/// The curve of a key pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Curve {
    /// NIST P-256 (`API_KEY_CURVE_P256`, stamps with `SIGNATURE_SCHEME_TK_API_P256`).
    #[serde(rename = "API_KEY_CURVE_P256")]
    P256,
    /// Ed25519 (`API_KEY_CURVE_ED25519`, stamps with `SIGNATURE_SCHEME_TK_API_ED25519`).
    #[serde(rename = "API_KEY_CURVE_ED25519")]
    Ed25519,
    /// secp256k1 (`API_KEY_CURVE_SECP256K1`, stamps with `SIGNATURE_SCHEME_TK_API_SECP256K1`).
    #[serde(rename = "API_KEY_CURVE_SECP256K1")]
    Secp256k1,
}

/// An API key pair that stamps requests.
pub enum ApiKeyPair {
    /// P-256 ECDSA.
    P256(P256Pair),
    /// Ed25519.
    Ed25519(ed25519_dalek::SigningKey),
    /// secp256k1 ECDSA.
    Secp256k1(k256::ecdsa::SigningKey),
}

/// A P-256 key: the scalar (for key files and raw signatures) and the same key prepared
/// for `ring`, which signs stamps about four times faster than the pure-Rust code.
pub struct P256Pair {
    key: p256::ecdsa::SigningKey,
    ring: Option<ring::signature::EcdsaKeyPair>,
}

impl P256Pair {
    fn new(key: p256::ecdsa::SigningKey) -> Self {
        use p256::elliptic_curve::sec1::ToSec1Point;
        let public = key.verifying_key().as_affine().to_sec1_point(false);
        let ring = ring::signature::EcdsaKeyPair::from_private_key_and_public_key(
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &key.to_bytes(),
            public.as_bytes(),
            &ring::rand::SystemRandom::new(),
        )
        .ok();
        P256Pair { key, ring }
    }

    /// DER ECDSA-SHA256 over `message`.
    fn sign_der(&self, message: &[u8]) -> Vec<u8> {
        if let Some(sig) = self.ring.as_ref().and_then(|k| k.sign(&ring::rand::SystemRandom::new(), message).ok()) {
            return sig.as_ref().to_vec();
        }
        let sig: p256::ecdsa::Signature = self.key.sign(message);
        sig.to_der().as_bytes().to_vec()
    }
}

/// The JSON key file `twofold key generate` and the server's bootstrap write (mode 0600).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyFile {
    /// Public key hex (compressed SEC1 for P-256).
    pub public_key: String,
    /// Private key hex (the 32-byte scalar / seed), as `@turnkey/api-key-stamper` takes it.
    pub private_key: String,
    /// Curve.
    pub curve: Curve,
    /// Organization the key acts in by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// User the key belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

fn random_32() -> Result<Zeroizing<[u8; 32]>> {
    let mut buf = Zeroizing::new([0u8; 32]);
    getrandom::fill(buf.as_mut()).map_err(|e| ClientError::Key(format!("no system randomness: {e}")))?;
    Ok(buf)
}

impl ApiKeyPair {
    /// A fresh key pair from the operating system's CSPRNG.
    pub fn generate(curve: Curve) -> Result<Self> {
        match curve {
            Curve::P256 => loop {
                // A random 32-byte string is a valid scalar except with probability ~2^-32.
                if let Ok(k) = p256::ecdsa::SigningKey::from_slice(random_32()?.as_ref()) {
                    return Ok(ApiKeyPair::P256(P256Pair::new(k)));
                }
            },
            Curve::Ed25519 => Ok(ApiKeyPair::Ed25519(ed25519_dalek::SigningKey::from_bytes(&*random_32()?))),
            Curve::Secp256k1 => loop {
                if let Ok(k) = k256::ecdsa::SigningKey::from_slice(random_32()?.as_ref()) {
                    return Ok(ApiKeyPair::Secp256k1(k));
                }
            },
        }
    }

    /// From a private key hex string.
    pub fn from_private_hex(curve: Curve, private_hex: &str) -> Result<Self> {
        let bytes = Zeroizing::new(
            hex::decode(private_hex.trim()).map_err(|_| ClientError::Key("private key is not hex".into()))?,
        );
        match curve {
            Curve::P256 => p256::ecdsa::SigningKey::from_slice(&bytes)
                .map(|k| ApiKeyPair::P256(P256Pair::new(k)))
                .map_err(|_| ClientError::Key("not a valid P-256 private key".into())),
            Curve::Ed25519 => {
                let arr: [u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| ClientError::Key("an Ed25519 private key is 32 bytes".into()))?;
                Ok(ApiKeyPair::Ed25519(ed25519_dalek::SigningKey::from_bytes(&arr)))
            }
            Curve::Secp256k1 => k256::ecdsa::SigningKey::from_slice(&bytes)
                .map(ApiKeyPair::Secp256k1)
                .map_err(|_| ClientError::Key("not a valid secp256k1 private key".into())),
        }
    }

    /// The curve.
    pub fn curve(&self) -> Curve {
        match self {
            ApiKeyPair::P256(_) => Curve::P256,
            ApiKeyPair::Ed25519(_) => Curve::Ed25519,
            ApiKeyPair::Secp256k1(_) => Curve::Secp256k1,
        }
    }

    /// Public key hex as the API expects it (compressed SEC1 for P-256).
    pub fn public_key_hex(&self) -> String {
        match self {
            ApiKeyPair::P256(k) => {
                use p256::elliptic_curve::sec1::ToSec1Point;
                hex::encode(k.key.verifying_key().as_affine().to_sec1_point(true).as_bytes())
            }
            ApiKeyPair::Ed25519(k) => hex::encode(k.verifying_key().as_bytes()),
            ApiKeyPair::Secp256k1(k) => hex::encode(k.verifying_key().to_sec1_bytes()),
        }
    }

    /// Private key hex; handle with care.
    pub fn private_key_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(match self {
            ApiKeyPair::P256(k) => hex::encode(k.key.to_bytes()),
            ApiKeyPair::Ed25519(k) => hex::encode(k.to_bytes()),
            ApiKeyPair::Secp256k1(k) => hex::encode(k.to_bytes()),
        })
    }

    /// Signature hex over `message`: DER ECDSA-SHA256 for P-256 and secp256k1, raw for Ed25519.
    pub fn sign_hex(&self, message: &[u8]) -> String {
        match self {
            ApiKeyPair::P256(k) => hex::encode(k.sign_der(message)),
            ApiKeyPair::Secp256k1(k) => {
                let sig: k256::ecdsa::Signature = k.sign(message);
                hex::encode(sig.to_der().as_bytes())
            }
            ApiKeyPair::Ed25519(k) => {
                use ed25519_dalek::Signer as _;
                hex::encode(k.sign(message).to_bytes())
            }
        }
    }

    /// Raw r||s hex (64 bytes) ECDSA-SHA256 over `message` for P-256 (Turnkey's client
    /// signatures); the usual raw signature for Ed25519.
    pub fn sign_raw_hex(&self, message: &[u8]) -> String {
        match self {
            ApiKeyPair::P256(k) => {
                let sig: p256::ecdsa::Signature = k.key.sign(message);
                hex::encode(sig.to_bytes())
            }
            ApiKeyPair::Secp256k1(k) => {
                let sig: k256::ecdsa::Signature = k.sign(message);
                hex::encode(sig.to_bytes())
            }
            ApiKeyPair::Ed25519(_) => self.sign_hex(message),
        }
    }

    /// The stamp scheme name.
    pub fn scheme(&self) -> &'static str {
        match self {
            ApiKeyPair::P256(_) => "SIGNATURE_SCHEME_TK_API_P256",
            ApiKeyPair::Ed25519(_) => "SIGNATURE_SCHEME_TK_API_ED25519",
            ApiKeyPair::Secp256k1(_) => "SIGNATURE_SCHEME_TK_API_SECP256K1",
        }
    }

    /// The `X-Stamp` header value for `body`.
    pub fn stamp(&self, body: &[u8]) -> String {
        let json = serde_json::json!({
            "publicKey": self.public_key_hex(),
            "scheme": self.scheme(),
            "signature": self.sign_hex(body),
        });
        URL_SAFE_NO_PAD.encode(json.to_string())
    }

    /// A key file for this pair.
    pub fn to_key_file(&self, organization_id: Option<String>, user_id: Option<String>) -> KeyFile {
        KeyFile {
            public_key: self.public_key_hex(),
            private_key: self.private_key_hex().to_string(),
            curve: self.curve(),
            organization_id,
            user_id,
        }
    }
}

impl KeyFile {
    /// Reads a key file.
    pub fn load(path: &Path) -> Result<KeyFile> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|source| ClientError::Io { path: path.display().to_string(), source })?,
        );
        serde_json::from_str(&text)
            .map_err(|e| ClientError::Key(format!("{}: not a twofold key file: {e}", path.display())))
    }

    /// The key pair in this file.
    pub fn key_pair(&self) -> Result<ApiKeyPair> {
        let pair = ApiKeyPair::from_private_hex(self.curve, &self.private_key)?;
        if !pair.public_key_hex().eq_ignore_ascii_case(&self.public_key) {
            return Err(ClientError::Key("publicKey does not match privateKey".into()));
        }
        Ok(pair)
    }

    /// Writes the file with mode 0600, refusing to overwrite an existing file.
    pub fn save_new(&self, path: &Path) -> Result<()> {
        let io = |source| ClientError::Io { path: path.display().to_string(), source };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io)?;
        let json = Zeroizing::new(serde_json::to_string_pretty(self).map_err(|e| ClientError::Key(e.to_string()))?);
        file.write_all(json.as_bytes()).map_err(io)?;
        file.write_all(b"\n").map_err(io)?;
        file.sync_all().map_err(io)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, reason = "tests fail loudly")]
    use p256::ecdsa::signature::Verifier;

    use super::{ApiKeyPair, Curve};

    #[test]
    fn p256_stamps_verify_with_an_independent_implementation() {
        let pair = ApiKeyPair::generate(Curve::P256).expect("key");
        let ApiKeyPair::P256(p) = &pair else { panic!("a P-256 pair") };
        assert!(p.ring.is_some(), "ring accepts the key");
        let reloaded = ApiKeyPair::from_private_hex(Curve::P256, &pair.private_key_hex()).expect("reload");
        for message in [&b"{}"[..], br#"{"organizationId":"o","parameters":{}}"#] {
            for signer in [&pair, &reloaded] {
                let der = hex::decode(signer.sign_hex(message)).expect("hex");
                let sig = p256::ecdsa::Signature::from_der(&der).expect("DER");
                assert!(p.key.verifying_key().verify(message, &sig).is_ok());
                let raw = hex::decode(signer.sign_raw_hex(message)).expect("hex");
                let sig = p256::ecdsa::Signature::from_slice(&raw).expect("r||s");
                assert!(p.key.verifying_key().verify(message, &sig).is_ok());
            }
        }
    }
}
