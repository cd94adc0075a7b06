//! The client half of email/SMS one-time codes: pin the enclave's signing key, check the
//! target bundle's signature against it before encrypting (what `@turnkey/crypto`'s
//! `encryptOtpCodeToBundle` does), verify, then log in with a signature by the key the
//! verification token is bound to.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::{ApiKeyPair, ApiResponse, Client, ClientError, Result};

/// A started flow, as INIT_OTP returned it.
#[derive(Debug, Clone)]
pub struct StartedOtp {
    /// The flow's id.
    pub otp_id: String,
    /// The signed HPKE target bundle.
    pub target_bundle: String,
}

/// The activity's `result.<key>` if it completed; the server's message otherwise.
fn completed(resp: ApiResponse, result_key: &str) -> Result<Value> {
    let activity = &resp.body["activity"];
    if resp.is_success() && activity["status"] == "ACTIVITY_STATUS_COMPLETED" {
        return Ok(activity["result"][result_key].clone());
    }
    let why = resp.body["message"].as_str().map(str::to_owned).unwrap_or_else(|| {
        let failure = &activity["failure"]["message"];
        format!("activity {}: {}", activity["status"].as_str().unwrap_or("?"), failure.as_str().unwrap_or(""))
    });
    Err(ClientError::Request(format!("HTTP {}: {why}", resp.status)))
}

/// `encryptOtpCodeToBundle`: checks `bundle`'s signature against the pinned enclave key
/// (uncompressed hex), then HPKE-encrypts `{otp_code, public_key}` to its target key.
pub fn encrypt_attempt(bundle: &str, pinned_key: &str, code: &str, client_public_key: &str) -> Result<String> {
    twofold_enclave::encrypt_otp_attempt(bundle, pinned_key, code, client_public_key)
        .map_err(|e| ClientError::Request(format!("target bundle refused: {e}")))
}

/// The `id` claim of a verification token (read, not verified: the server verifies it).
pub fn token_id(token: &str) -> Result<String> {
    let claims = token
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .ok_or_else(|| ClientError::Request("verification token is not a JWT".into()))?;
    claims["id"].as_str().map(str::to_owned).ok_or_else(|| ClientError::Request("verification token has no id".into()))
}

/// A `v1ClientSignature` by `key` over `message` (raw r||s hex over SHA-256).
pub fn client_signature(key: &ApiKeyPair, message: &str) -> Value {
    json!({
        "publicKey": key.public_key_hex(),
        "scheme": "CLIENT_SIGNATURE_SCHEME_API_P256",
        "message": message,
        "signature": key.sign_raw_hex(message.as_bytes()),
    })
}

/// The compact login message OTP_LOGIN's client signature covers.
pub fn login_message(session_public_key: &str, token_id: &str) -> String {
    json!({ "login": { "publicKey": session_public_key }, "tokenId": token_id, "type": "USAGE_TYPE_LOGIN" }).to_string()
}

impl Client {
    /// The enclave's signing key (uncompressed hex) from `query/get_enclave_keys`, to pin.
    pub fn enclave_signing_key(&self) -> Result<String> {
        let resp = self.query("get_enclave_keys", json!({}))?;
        resp.body["signingPublicKey"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ClientError::Request(format!("HTTP {}: {}", resp.status, resp.body)))
    }

    /// INIT_OTP_V3 with `parameters` (`otpType`, `contact`, `appName`, ...).
    pub fn init_otp(&self, parameters: Value) -> Result<StartedOtp> {
        let result = completed(self.submit("init_otp", parameters)?, "initOtpResultV2")?;
        let field = |k: &str| {
            result[k].as_str().map(str::to_owned).ok_or_else(|| ClientError::Request(format!("no {k} in {result}")))
        };
        Ok(StartedOtp { otp_id: field("otpId")?, target_bundle: field("otpEncryptionTargetBundle")? })
    }

    /// VERIFY_OTP_V2: encrypts `code` for the flow (refusing a bundle not signed by
    /// `pinned_key`) bound to `client_key`; returns the verification token.
    pub fn verify_otp(
        &self,
        otp: &StartedOtp,
        pinned_key: &str,
        code: &str,
        client_key: &ApiKeyPair,
    ) -> Result<String> {
        let attempt = encrypt_attempt(&otp.target_bundle, pinned_key, code, &client_key.public_key_hex())?;
        let params = json!({ "otpId": otp.otp_id, "encryptedOtpBundle": attempt });
        let result = completed(self.submit("verify_otp", params)?, "verifyOtpResult")?;
        result["verificationToken"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ClientError::Request(format!("no verificationToken in {result}")))
    }

    /// OTP_LOGIN_V2: a session for `session_public_key`, authorized by `token_key` (the key
    /// the token is bound to). Returns `{session, sessionId, organizationId, userId}`.
    pub fn otp_login(&self, token: &str, token_key: &ApiKeyPair, session_public_key: &str) -> Result<Value> {
        let message = login_message(session_public_key, &token_id(token)?);
        let params = json!({
            "verificationToken": token,
            "publicKey": session_public_key,
            "clientSignature": client_signature(token_key, &message),
        });
        completed(self.submit("otp_login", params)?, "otpLoginResult")
    }
}
