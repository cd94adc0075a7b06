//! The OTP target bundle and the client's encrypted attempt, byte-compatible with `@turnkey/crypto` 2.13.
//!
//! HPKE (RFC 9180) base mode, DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, `info` =
//! `turnkey_hpke`, AAD = encapsulated key (uncompressed) || target public key (uncompressed).
//! The client-side half ([`verify_target_bundle`], [`encrypt_otp_attempt`]) exists for Rust
//! clients and tests; it mirrors `encryptOtpCodeToBundle`.

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::DhP256HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result, fill_random};
use crate::keys::EnclaveKeys;

type Kem = DhP256HkdfSha256;

/// The HPKE `info` string `@turnkey/crypto` bakes into its key schedule (`AES_KEY_INFO`/`IV_INFO`).
pub const TURNKEY_HPKE_INFO: &[u8] = b"turnkey_hpke";
const UNCOMPRESSED_LEN: usize = 65;
/// An attempt holds a short JSON object; anything larger is not one.
const MAX_CIPHERTEXT_LEN: usize = 4096;
const MAX_BUNDLE_LEN: usize = 2 * MAX_CIPHERTEXT_LEN + 1024;

/// The signed JSON inside a target bundle's `data` (hex of these bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetBundleData {
    /// Uncompressed P-256 HPKE target public key, hex.
    pub target_public: String,
    /// The OTP flow this key belongs to.
    pub otp_id: String,
    /// Organization the OTP was initiated in.
    pub organization_id: String,
    /// When the code expires, milliseconds since the epoch, as a decimal string.
    pub expires_at_ms: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignedBundle {
    enclave_quorum_public: String,
    data_signature: String,
    data: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EncryptedAttempt {
    encapped_public: String,
    ciphertext: String,
}

/// The decrypted attempt: what the user typed and the key the token will be bound to.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct Attempt {
    pub(crate) otp_code: String,
    pub(crate) public_key: String,
}

/// A fresh HPKE target key pair: (private scalar, uncompressed public key).
pub(crate) fn new_target() -> Result<(Zeroizing<Vec<u8>>, Vec<u8>)> {
    let mut ikm = Zeroizing::new([0u8; 32]);
    fill_random(ikm.as_mut())?;
    let (sk, pk) = Kem::derive_keypair(ikm.as_ref());
    Ok((Zeroizing::new(sk.to_bytes().to_vec()), pk.to_bytes().to_vec()))
}

/// `{enclaveQuorumPublic, dataSignature, data}` for `data`, signed by the enclave's signing key.
pub(crate) fn signed_target_bundle(keys: &EnclaveKeys, data: &TargetBundleData) -> Result<String> {
    let bytes = serde_json::to_vec(data).map_err(|e| Error::Internal(format!("bundle encoding: {e}")))?;
    let signature = keys.sign(&bytes);
    let bundle = SignedBundle {
        enclave_quorum_public: keys.signing_public_key_hex(),
        data_signature: hex::encode(signature.to_der().as_bytes()),
        data: hex::encode(&bytes),
    };
    serde_json::to_string(&bundle).map_err(|e| Error::Internal(format!("bundle encoding: {e}")))
}

/// What came out of an attempt that parsed.
pub(crate) enum Opened {
    /// Decrypted and well-formed.
    Attempt(Attempt),
    /// Well-formed, but not encrypted to this target key (another OTP's bundle, or tampered).
    WrongKey,
}

fn hex_field(value: &str, field: &str) -> Result<Vec<u8>> {
    hex::decode(value.trim()).map_err(|_| Error::Bundle(format!("`{field}` is not hex")))
}

/// Decrypts the client's `{encappedPublic, ciphertext}` JSON with the target private key.
pub(crate) fn open_attempt(target_private: &[u8], target_public: &[u8], bundle: &str) -> Result<Opened> {
    if bundle.len() > MAX_BUNDLE_LEN {
        return Err(Error::Bundle("bundle is too large".into()));
    }
    let parsed: EncryptedAttempt = serde_json::from_str(bundle)
        .map_err(|_| Error::Bundle("expected JSON {\"encappedPublic\": hex, \"ciphertext\": hex}".into()))?;
    let enc = hex_field(&parsed.encapped_public, "encappedPublic")?;
    if enc.len() != UNCOMPRESSED_LEN || enc[0] != 0x04 {
        return Err(Error::Bundle("`encappedPublic` must be an uncompressed P-256 key (130 hex characters)".into()));
    }
    let ciphertext = hex_field(&parsed.ciphertext, "ciphertext")?;
    if ciphertext.len() < 16 || ciphertext.len() > MAX_CIPHERTEXT_LEN {
        return Err(Error::Bundle(format!("`ciphertext` must be 16..={MAX_CIPHERTEXT_LEN} bytes")));
    }
    let encapped = <Kem as hpke::Kem>::EncappedKey::from_bytes(&enc)
        .map_err(|_| Error::Bundle("`encappedPublic` is not a point on P-256".into()))?;
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(target_private)
        .map_err(|_| Error::Internal("stored target key is invalid".into()))?;
    let mut aad = Vec::with_capacity(2 * UNCOMPRESSED_LEN);
    aad.extend_from_slice(&enc);
    aad.extend_from_slice(target_public);
    let plaintext = match hpke::single_shot_open::<AesGcm256, HkdfSha256, Kem>(
        &OpModeR::Base,
        &sk,
        &encapped,
        TURNKEY_HPKE_INFO,
        &ciphertext,
        &aad,
    ) {
        Ok(p) => Zeroizing::new(p),
        Err(_) => return Ok(Opened::WrongKey),
    };
    let attempt: Attempt = serde_json::from_slice(&plaintext).map_err(|_| {
        Error::Bundle("decrypted attempt is not JSON {\"otp_code\": string, \"public_key\": string}".into())
    })?;
    Ok(Opened::Attempt(attempt))
}

/// Client side: checks a target bundle's signature against the pinned enclave key and returns its data.
///
/// Like `@turnkey/crypto`, the bundle's `enclaveQuorumPublic` must equal the pinned key exactly.
pub fn verify_target_bundle(bundle: &str, enclave_public_key_hex: &str) -> Result<TargetBundleData> {
    let parsed: SignedBundle = serde_json::from_str(bundle)
        .map_err(|_| Error::Bundle("expected JSON {enclaveQuorumPublic, dataSignature, data}".into()))?;
    if parsed.enclave_quorum_public != enclave_public_key_hex {
        return Err(Error::Bundle("bundle is signed by a different enclave key than the pinned one".into()));
    }
    let key_bytes = hex_field(&parsed.enclave_quorum_public, "enclaveQuorumPublic")?;
    let key = VerifyingKey::from_sec1_bytes(&key_bytes)
        .map_err(|_| Error::Bundle("`enclaveQuorumPublic` is not a P-256 key".into()))?;
    let sig = Signature::from_der(&hex_field(&parsed.data_signature, "dataSignature")?)
        .map_err(|_| Error::Bundle("`dataSignature` is not a DER ECDSA signature".into()))?;
    let data = hex_field(&parsed.data, "data")?;
    key.verify(&data, &sig).map_err(|_| Error::Bundle("bundle signature does not verify".into()))?;
    serde_json::from_slice(&data).map_err(|_| Error::Bundle("signed data is not the target bundle JSON".into()))
}

/// Client side: what `encryptOtpCodeToBundle(code, bundle, publicKey, pinnedKey)` returns.
pub fn encrypt_otp_attempt(
    bundle: &str,
    enclave_public_key_hex: &str,
    otp_code: &str,
    client_public_key_hex: &str,
) -> Result<String> {
    let data = verify_target_bundle(bundle, enclave_public_key_hex)?;
    let target = hex_field(&data.target_public, "targetPublic")?;
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(&target)
        .map_err(|_| Error::Bundle("`targetPublic` is not an uncompressed P-256 key".into()))?;
    let (encapped, mut ctx) = hpke::setup_sender::<AesGcm256, HkdfSha256, Kem>(&OpModeS::Base, &pk, TURNKEY_HPKE_INFO)
        .map_err(|e| Error::Internal(format!("HPKE setup: {e}")))?;
    let enc = encapped.to_bytes();
    let mut aad = enc.to_vec();
    aad.extend_from_slice(&target);
    let plaintext = Zeroizing::new(
        serde_json::to_vec(&serde_json::json!({ "otp_code": otp_code, "public_key": client_public_key_hex }))
            .map_err(|e| Error::Internal(format!("attempt encoding: {e}")))?,
    );
    let ciphertext = ctx.seal(&plaintext, &aad).map_err(|e| Error::Internal(format!("HPKE seal: {e}")))?;
    serde_json::to_string(&EncryptedAttempt { encapped_public: hex::encode(enc), ciphertext: hex::encode(ciphertext) })
        .map_err(|e| Error::Internal(format!("attempt encoding: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;

    #[test]
    fn opens_an_attempt_made_by_turnkey_crypto_2_13() {
        // Produced once with @turnkey/crypto 2.13.2: hpkeEncrypt + formatHpkeBuf (what
        // encryptOtpCodeToBundle does after checking the signature) to a fixed target key.
        // The live node interop test (tests/otp_interop.rs) repeats this with fresh keys.
        let target_private = hex::decode("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721").unwrap();
        let target_public = hex::decode(
            "0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6\
             7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299",
        )
        .unwrap();
        let attempt = concat!(
            r#"{"encappedPublic":"04430fd9791694931e70424c6c92f722e5466c8b219db0958030338bed99dc8ca4359221c39e38b583987fd3d17bc8dd0ce8eb53fb117c670462ff112ed49124a6","#,
            r#""ciphertext":"0877bab41c7979d07ea3a2f7683a6473ad6b75f6d3a83f95a526ca954f144a2d1d711c5b863d723277fa271aefbcc7c8ae0811d57591796e96fd49e6999a4be7a3bc5364fe7775d556fb0f62475808b305962ac78b0edbf31dac055a7ff27298838daa39c63d13c41f0df2c22151ec15559d220e564773b4c18b"}"#
        );
        let Opened::Attempt(a) = open_attempt(&target_private, &target_public, attempt).unwrap() else {
            panic!("the @turnkey/crypto attempt did not open")
        };
        assert_eq!(a.otp_code, "7K2Q9MXRB");
        assert_eq!(a.public_key, "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798");
        // The derived public key matches what the client encrypted to.
        let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(&target_private).unwrap();
        assert_eq!(<Kem as hpke::Kem>::sk_to_pk(&sk).to_bytes().as_slice(), target_public.as_slice());
    }

    #[test]
    fn client_helper_round_trips() {
        let keys = EnclaveKeys::generate().unwrap();
        let (sk, pk) = new_target().unwrap();
        let data = TargetBundleData {
            target_public: hex::encode(&pk),
            otp_id: "o".into(),
            organization_id: "g".into(),
            expires_at_ms: "1".into(),
        };
        let bundle = signed_target_bundle(&keys, &data).unwrap();
        assert_eq!(verify_target_bundle(&bundle, &keys.signing_public_key_hex()).unwrap(), data);
        let other = EnclaveKeys::generate().unwrap();
        assert!(verify_target_bundle(&bundle, &other.signing_public_key_hex()).is_err());

        let attempt = encrypt_otp_attempt(&bundle, &keys.signing_public_key_hex(), "ABC123", "02ab").unwrap();
        let Opened::Attempt(a) = open_attempt(&sk, &pk, &attempt).unwrap() else { panic!("did not open") };
        assert_eq!((a.otp_code.as_str(), a.public_key.as_str()), ("ABC123", "02ab"));

        let (sk2, pk2) = new_target().unwrap();
        assert!(matches!(open_attempt(&sk2, &pk2, &attempt).unwrap(), Opened::WrongKey));
    }

    #[test]
    fn malformed_attempts_are_clear_errors() {
        let (sk, pk) = new_target().unwrap();
        let bad_point = format!("04{}", "11".repeat(64));
        for (input, expect) in [
            ("", "expected JSON"),
            ("{}", "expected JSON"),
            (r#"{"encappedPublic":"zz","ciphertext":"00"}"#, "not hex"),
            (r#"{"encappedPublic":"04","ciphertext":"00"}"#, "uncompressed"),
            (&format!(r#"{{"encappedPublic":"{bad_point}","ciphertext":"{}"}}"#, "00".repeat(20)), "not a point"),
            (&format!(r#"{{"encappedPublic":"{bad_point}","ciphertext":"00"}}"#), "ciphertext"),
        ] {
            let err = open_attempt(&sk, &pk, input).err().unwrap_or_else(|| panic!("{input} accepted"));
            assert!(err.to_string().contains(expect), "{input}: {err}");
        }
    }
}
