//! Passkeys (WebAuthn), on `webauthn-rs`: registration ceremonies the server starts
//! (a single-use challenge it stores), and `X-Stamp-Webauthn` request stamps whose
//! challenge is the lowercase hex SHA-256 of the request body, as
//! `@turnkey/webauthn-stamper` produces them. `webauthn-rs` checks origin, rpIdHash,
//! challenge, user verification, signature and counter; the engine then moves the
//! stored counter forward atomically so a cloned authenticator is caught across nodes.

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;
use webauthn_rs::prelude::{
    AuthenticationResult, CredentialID, Passkey, PasskeyAuthentication, PasskeyRegistration, Uuid,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};
use webauthn_rs_proto::{
    AuthenticationExtensionsClientOutputs, AuthenticatorAssertionResponseRaw, AuthenticatorAttestationResponseRaw,
    AuthenticatorTransport, PublicKeyCredential, RegisterPublicKeyCredential, RegistrationExtensionsClientOutputs,
};

use crate::error::{Error, Result};

/// The relying party: who passkeys are registered to and which origins may use them.
#[derive(Debug, Clone)]
pub struct RelyingParty {
    webauthn: std::sync::Arc<Webauthn>,
}

/// The `X-Stamp-Webauthn` header: plain JSON, base64url values.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebauthnStamp {
    /// The authenticator data.
    pub authenticator_data: String,
    /// The client data JSON.
    pub client_data_json: String,
    /// The credential id, base64url as the browser reports it.
    pub credential_id: String,
    /// The assertion signature (DER for ES256).
    pub signature: String,
}

/// A registration response as Turnkey's `v1Attestation` carries it.
#[derive(Debug, Clone)]
pub struct Attestation<'a> {
    /// Credential id, base64url.
    pub credential_id: &'a str,
    /// Client data JSON, base64url.
    pub client_data_json: &'a str,
    /// Attestation object, base64url.
    pub attestation_object: &'a str,
    /// `AUTHENTICATOR_TRANSPORT_*` names.
    pub transports: &'a [String],
}

/// A started registration ceremony.
#[derive(Debug)]
pub struct Registration {
    /// `PublicKeyCredentialCreationOptions` for `navigator.credentials.create`, as JSON.
    pub options: Value,
    /// The challenge, base64url; the client sends it back in `create_authenticators`.
    pub challenge: String,
    /// Ceremony state to keep server-side until the response arrives.
    pub state: String,
}

/// A verified new passkey.
#[derive(Debug)]
pub struct NewPasskey {
    /// Credential id, base64url without padding.
    pub credential_id: String,
    /// The credential as `webauthn-rs` serializes it.
    pub stored: Value,
}

/// A verified assertion.
#[derive(Debug)]
pub struct Assertion {
    /// The authenticator's signature counter (0 if it keeps none).
    pub counter: u32,
    /// Whether the user was verified (PIN, biometrics).
    pub user_verified: bool,
}

fn b64(field: &str, value: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(value)
        .or_else(|_| URL_SAFE.decode(value))
        .map_err(|_| Error::invalid(format!("{field} is not base64url")))
}

/// Credential id bytes in the canonical (unpadded base64url) form used as the lookup key.
pub fn canonical_credential_id(id: &str) -> Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(b64("credentialId", id)?))
}

fn transport(name: &str) -> Result<AuthenticatorTransport> {
    Ok(match name {
        "AUTHENTICATOR_TRANSPORT_INTERNAL" => AuthenticatorTransport::Internal,
        "AUTHENTICATOR_TRANSPORT_HYBRID" => AuthenticatorTransport::Hybrid,
        "AUTHENTICATOR_TRANSPORT_USB" => AuthenticatorTransport::Usb,
        "AUTHENTICATOR_TRANSPORT_NFC" => AuthenticatorTransport::Nfc,
        "AUTHENTICATOR_TRANSPORT_BLE" => AuthenticatorTransport::Ble,
        other => {
            return Err(Error::invalid(format!(
                "unknown transport `{}`; expected AUTHENTICATOR_TRANSPORT_INTERNAL, _HYBRID, _USB, _NFC or _BLE",
                crate::crypto::clip(other)
            )));
        }
    })
}

impl RelyingParty {
    /// A relying party for `rp_id` (a domain) accepting `origins`. With `any_port`, an
    /// origin matches on any port (for development on localhost).
    pub fn new(rp_id: &str, rp_name: &str, origins: &[Url], any_port: bool) -> Result<Self> {
        let first = origins.first().ok_or_else(|| Error::invalid("at least one WebAuthn origin is required"))?;
        let mut builder = WebauthnBuilder::new(rp_id, first)
            .map_err(|e| Error::invalid(format!("WebAuthn relying party `{rp_id}` with origin {first}: {e}")))?
            .rp_name(rp_name)
            .allow_any_port(any_port);
        for origin in &origins[1..] {
            builder = builder.append_allowed_origin(origin);
        }
        let webauthn = builder.build().map_err(|e| Error::invalid(format!("WebAuthn configuration: {e}")))?;
        Ok(RelyingParty { webauthn: std::sync::Arc::new(webauthn) })
    }

    /// Starts registering a passkey for a user, excluding the credentials it already has.
    pub fn start_registration(&self, user_id: &str, user_name: &str, existing: &[String]) -> Result<Registration> {
        let uuid = Uuid::parse_str(user_id).map_err(|_| Error::invalid("user id is not a UUID"))?;
        let exclude: Vec<CredentialID> = existing.iter().filter_map(|id| b64("credentialId", id).ok()).collect();
        let (options, state) = self
            .webauthn
            .start_passkey_registration(uuid, user_name, user_name, Some(exclude))
            .map_err(|e| Error::Internal(format!("starting a passkey registration: {e}")))?;
        let options = serde_json::to_value(&options).map_err(|e| Error::Internal(e.to_string()))?;
        let challenge = options["publicKey"]["challenge"]
            .as_str()
            .ok_or_else(|| Error::Internal("registration options carry no challenge".to_owned()))?
            .to_owned();
        let state = serde_json::to_string(&state).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Registration { options, challenge, state })
    }

    /// Verifies a registration response against the ceremony `state`.
    pub fn finish_registration(&self, state: &str, attestation: &Attestation<'_>) -> Result<NewPasskey> {
        let state: PasskeyRegistration = serde_json::from_str(state)
            .map_err(|e| Error::Internal(format!("stored passkey registration state is unreadable: {e}")))?;
        let raw_id = b64("attestation.credentialId", attestation.credential_id)?;
        let transports = attestation.transports.iter().map(|t| transport(t)).collect::<Result<Vec<_>>>()?;
        let response = RegisterPublicKeyCredential {
            id: URL_SAFE_NO_PAD.encode(&raw_id),
            raw_id,
            response: AuthenticatorAttestationResponseRaw {
                attestation_object: b64("attestation.attestationObject", attestation.attestation_object)?,
                client_data_json: b64("attestation.clientDataJson", attestation.client_data_json)?,
                transports: Some(transports),
            },
            type_: "public-key".to_owned(),
            extensions: RegistrationExtensionsClientOutputs::default(),
        };
        let passkey = self
            .webauthn
            .finish_passkey_registration(&response, &state)
            .map_err(|e| Error::invalid(format!("the passkey registration does not verify: {e}")))?;
        Ok(NewPasskey {
            credential_id: URL_SAFE_NO_PAD.encode(passkey.cred_id().as_slice()),
            stored: serde_json::to_value(&passkey).map_err(|e| Error::Internal(e.to_string()))?,
        })
    }

    /// Verifies a registration whose challenge the client made, as Turnkey's SDKs do
    /// (`challenge` is the base64url challenge the browser was given): the ceremony this
    /// relying party would have started for the user, with that challenge, so webauthn-rs
    /// checks clientDataJSON's type, challenge and origin, the rpId hash, user verification
    /// and the attestation exactly as for a challenge it issued.
    pub fn finish_client_registration(
        &self,
        user_id: &str,
        user_name: &str,
        challenge: &str,
        attestation: &Attestation<'_>,
    ) -> Result<NewPasskey> {
        let challenge = URL_SAFE_NO_PAD.encode(b64("authenticators[].challenge", challenge)?);
        let started = self.start_registration(user_id, user_name, &[])?;
        let mut state: Value = serde_json::from_str(&started.state).map_err(|e| Error::Internal(e.to_string()))?;
        state["rs"]["challenge"] = Value::String(challenge);
        self.finish_registration(&state.to_string(), attestation)
    }

    /// Verifies a request stamp made with a stored passkey (as [`NewPasskey::stored`])
    /// whose last seen counter is `counter`. The WebAuthn challenge must be the ASCII
    /// lowercase hex SHA-256 of `body`.
    pub fn verify_stamp(
        &self,
        mut passkey: Value,
        counter: i64,
        stamp: &WebauthnStamp,
        body: &[u8],
    ) -> Result<Assertion> {
        let refuse = |why: String| Error::Unauthenticated(format!("passkey stamp refused: {why}"));
        passkey["cred"]["counter"] = json!(counter);
        let policy = passkey["cred"]["registration_policy"].clone();
        let challenge = hex::encode(Sha256::digest(body));
        let state: PasskeyAuthentication = serde_json::from_value(json!({
            "ast": {
                "credentials": [passkey["cred"].clone()],
                "policy": policy,
                "challenge": URL_SAFE_NO_PAD.encode(challenge.as_bytes()),
                "appid": null,
                "allow_backup_eligible_upgrade": true,
            }
        }))
        .map_err(|e| Error::Internal(format!("building the passkey assertion state: {e}")))?;
        let raw_id = b64("X-Stamp-Webauthn credentialId", &stamp.credential_id).map_err(|e| refuse(e.to_string()))?;
        let response = PublicKeyCredential {
            id: URL_SAFE_NO_PAD.encode(&raw_id),
            raw_id,
            response: AuthenticatorAssertionResponseRaw {
                authenticator_data: b64("X-Stamp-Webauthn authenticatorData", &stamp.authenticator_data)
                    .map_err(|e| refuse(e.to_string()))?,
                client_data_json: b64("X-Stamp-Webauthn clientDataJson", &stamp.client_data_json)
                    .map_err(|e| refuse(e.to_string()))?,
                signature: b64("X-Stamp-Webauthn signature", &stamp.signature).map_err(|e| refuse(e.to_string()))?,
                user_handle: None,
            },
            extensions: AuthenticationExtensionsClientOutputs::default(),
            type_: "public-key".to_owned(),
        };
        let result: AuthenticationResult =
            self.webauthn.finish_passkey_authentication(&response, &state).map_err(|e| refuse(e.to_string()))?;
        Ok(Assertion { counter: result.counter(), user_verified: result.user_verified() })
    }
}

/// The attestation format of a stored passkey (as [`NewPasskey::stored`]), once it reads as one.
pub fn attestation_format(stored: &Value) -> Result<String> {
    serde_json::from_value::<Passkey>(stored.clone())
        .map_err(|e| Error::Internal(format!("a stored passkey is unreadable: {e}")))?;
    Ok(stored["cred"]["attestation_format"].as_str().unwrap_or("none").to_owned())
}
