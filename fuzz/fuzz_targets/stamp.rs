//! Stamp headers as the server reads them: `X-Stamp` (then the key and signature checks),
//! `X-Stamp-Webauthn` (then a full WebAuthn assertion check against a real registered
//! passkey) and `X-Stamp-Attested` (then the verification token and the key's signature).
//! The first byte picks the header; the rest is its value. Nothing may panic.
#![no_main]

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use twofold_core::StampProof;
use twofold_core::crypto;
use twofold_core::factors::passkey::{Attestation, RelyingParty};
use twofold_core::model::ApiKeyCurve;
use twofold_server::stamp;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs_proto::CreationChallengeResponse;

/// The body every stamp claims to sign.
const BODY: &[u8] =
    br#"{"organizationId":"o","type":"ACTIVITY_TYPE_CREATE_USERS_V4","timestampMs":"1","parameters":{}}"#;

struct Fixture {
    relying_party: RelyingParty,
    /// A passkey registered through the real ceremony, as the store keeps it.
    passkey: Value,
    /// The enclave's signing key (uncompressed hex), as `X-Stamp-Attested` tokens are checked.
    enclave_key: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let origin = url::Url::parse("http://localhost:8080").expect("origin");
        let relying_party =
            RelyingParty::new("localhost", "twofold", std::slice::from_ref(&origin), true).expect("relying party");
        let registration = relying_party
            .start_registration("00000000-0000-4000-8000-000000000001", "fuzz", &[])
            .expect("registration starts");
        let creation: CreationChallengeResponse =
            serde_json::from_value(json!({ "publicKey": registration.options["publicKey"] })).expect("options");
        let mut authenticator = SoftPasskey::new(true);
        let reg = authenticator.do_registration(origin, creation).expect("software passkey registers");
        let credential_id = URL_SAFE_NO_PAD.encode(&reg.raw_id);
        let client_data_json = URL_SAFE_NO_PAD.encode(&reg.response.client_data_json);
        let attestation_object = URL_SAFE_NO_PAD.encode(&reg.response.attestation_object);
        let transports = vec!["AUTHENTICATOR_TRANSPORT_INTERNAL".to_owned()];
        let passkey = relying_party
            .finish_registration(
                &registration.state,
                &Attestation {
                    credential_id: &credential_id,
                    client_data_json: &client_data_json,
                    attestation_object: &attestation_object,
                    transports: &transports,
                },
            )
            .expect("registration verifies")
            .stored;
        let keys = twofold_enclave::EnclaveKeys::generate().expect("enclave keys");
        let enclave = twofold_enclave::Enclave::new(
            keys,
            twofold_enclave::Deliverer::outbox(std::env::temp_dir().join("twofold-fuzz-unused-outbox")),
            twofold_enclave::EnclaveConfig::default(),
        )
        .expect("enclave");
        Fixture { relying_party, passkey, enclave_key: enclave.public_keys().signing_public_key }
    })
}

fn check(proof: StampProof) {
    match proof {
        StampProof::Key { public_key, scheme, signature } => {
            let curve = if scheme.ends_with("ED25519") { ApiKeyCurve::Ed25519 } else { ApiKeyCurve::P256 };
            if let (Ok(key), Ok(sig)) = (crypto::parse_public_key(curve, &public_key), hex::decode(&signature)) {
                let _ = crypto::verify(curve, &key, BODY, &sig);
            }
        }
        StampProof::Webauthn(stamp) => {
            let _ = twofold_core::factors::passkey::canonical_credential_id(&stamp.credential_id);
            let f = fixture();
            let _ = f.relying_party.verify_stamp(f.passkey.clone(), 0, &stamp, BODY);
        }
        StampProof::Attested { token, public_key, signature } => {
            let _ = twofold_enclave::verify_with_public_key(&fixture().enclave_key, &token, 1_767_607_200_000);
            let key = crypto::parse_public_key(ApiKeyCurve::P256, &public_key.to_ascii_lowercase());
            if let (Ok(key), Ok(sig)) = (key, hex::decode(&signature)) {
                let _ = crypto::verify(ApiKeyCurve::P256, &key, BODY, &sig);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, value)) = data.split_first() else { return };
    let parsed = match pick % 3 {
        0 => stamp::parse(value),
        1 => stamp::parse_webauthn(value),
        _ => stamp::parse_attested(value),
    };
    match parsed {
        Ok(proof) => check(proof),
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
