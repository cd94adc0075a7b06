//! The enclave against Turnkey's real client code: `@turnkey/crypto` 2.13.2 verifies the target
//! bundle, encrypts the attempt with `encryptOtpCodeToBundle` and checks the verification token
//! with `verifyOtpVerificationToken`. Needs node and `npm ci --prefix tests/interop`.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::process::Command;

use serde_json::{Value, json};
use twofold_enclave::{OtpType, VerifyOtpRequest, VerifyOutcome};

use twofold_testkit::interop_dir;

/// Runs otp-client.mjs with `cmd` on stdin: Ok(stdout JSON) or Err(stderr).
fn node(cmd: &Value) -> Result<Value, String> {
    twofold_testkit::run_node_stdin("otp-client.mjs", cmd)
}

fn node_ready() -> bool {
    let has_node = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if !has_node {
        common::missing("node");
        return false;
    }
    if !interop_dir().join("node_modules/@turnkey/crypto/package.json").exists() {
        common::missing("tests/interop/node_modules (run `npm ci --prefix tests/interop`)");
        return false;
    }
    true
}

#[tokio::test]
async fn turnkey_crypto_client_completes_the_otp_flow() {
    if !node_ready() {
        return;
    }
    let outbox = tempfile::tempdir().unwrap();
    let enclave = common::outbox_enclave(outbox.path());
    let pinned = enclave.public_keys().signing_public_key;
    let client_key = common::client_public_key();
    let now = common::now_ms();

    let init = enclave.init_otp(common::init_request(OtpType::Email, "ann@example.com", now)).await.unwrap();
    let code = common::latest_outbox_code(outbox.path());

    // (a) the SDK verifies the bundle signature against the pinned enclave key, (b) encrypts.
    let answer = node(&json!({
        "op": "encrypt",
        "bundle": init.otp_encryption_target_bundle,
        "enclavePublicKey": pinned,
        "code": code,
        "clientPublicKey": client_key,
    }))
    .unwrap();
    assert_eq!(answer["bundleSignatureValid"], json!(true));
    assert_eq!(answer["signedData"]["otpId"], json!(init.otp_id));
    assert!(answer["signedData"]["targetPublic"].as_str().unwrap().starts_with("04"));

    let verified = enclave
        .verify_otp(VerifyOtpRequest {
            otp_id: init.otp_id.clone(),
            organization_id: init_org(),
            sealed_state: init.sealed_state.clone(),
            encrypted_otp_bundle: answer["encryptedOtpBundle"].as_str().unwrap().to_owned(),
            token_expiration_seconds: None,
            now_ms: common::now_ms(),
        })
        .unwrap();
    let VerifyOutcome::Verified(v) = verified.outcome else { panic!("{:?}", verified.outcome) };
    assert_eq!(v.public_key, client_key);

    // The SDK accepts our verification token, with both key encodings it may be given.
    for key in [pinned.clone(), enclave.public_keys().signing_public_key_compressed] {
        let claims = node(&json!({ "op": "verify-token", "token": v.verification_token, "enclavePublicKey": key }))
            .unwrap()["claims"]
            .clone();
        assert_eq!(claims["id"], json!(v.token_id));
        assert_eq!(claims["verification_type"], json!("OTP_TYPE_EMAIL"));
        assert_eq!(claims["contact"], json!("ann@example.com"));
        assert_eq!(claims["public_key"], json!(client_key));
        assert_eq!(claims["exp"], json!(v.token_expires_at_ms.to_string()));
    }
}

#[tokio::test]
async fn turnkey_crypto_attempt_with_a_wrong_code_is_refused() {
    if !node_ready() {
        return;
    }
    let outbox = tempfile::tempdir().unwrap();
    let enclave = common::outbox_enclave(outbox.path());
    let pinned = enclave.public_keys().signing_public_key;
    let now = common::now_ms();
    let mut req = common::init_request(OtpType::Sms, "+15551234567", now);
    req.alphanumeric = Some(false);
    req.otp_length = Some(6);
    let init = enclave.init_otp(req).await.unwrap();
    let code = common::latest_outbox_code(outbox.path());
    let wrong = if code == "000000" { "000001" } else { "000000" };

    let answer = node(&json!({
        "op": "encrypt",
        "bundle": init.otp_encryption_target_bundle,
        "enclavePublicKey": pinned,
        "code": wrong,
        "clientPublicKey": common::client_public_key(),
    }))
    .unwrap();
    let r = enclave
        .verify_otp(VerifyOtpRequest {
            otp_id: init.otp_id.clone(),
            organization_id: init_org(),
            sealed_state: init.sealed_state.clone(),
            encrypted_otp_bundle: answer["encryptedOtpBundle"].as_str().unwrap().to_owned(),
            token_expiration_seconds: None,
            now_ms: now + 1,
        })
        .unwrap();
    assert_eq!(r.outcome, VerifyOutcome::Invalid { attempts_left: 4 });
    assert!(r.outcome.message().contains("Invalid OTP code"));
}

#[tokio::test]
async fn turnkey_crypto_refuses_a_bundle_from_another_key_or_tampered() {
    if !node_ready() {
        return;
    }
    let outbox = tempfile::tempdir().unwrap();
    let enclave = common::outbox_enclave(outbox.path());
    let impostor = common::outbox_enclave(outbox.path());
    let init =
        enclave.init_otp(common::init_request(OtpType::Email, "ann@example.com", common::now_ms())).await.unwrap();
    let base = json!({ "op": "encrypt", "code": "ABCDEFGHJ", "clientPublicKey": common::client_public_key() });

    // Pinned to another enclave's key: the SDK refuses before encrypting.
    let mut cmd = base.clone();
    cmd["bundle"] = json!(init.otp_encryption_target_bundle);
    cmd["enclavePublicKey"] = json!(impostor.public_keys().signing_public_key);
    let err = node(&cmd).unwrap_err();
    assert!(err.contains("does not match signer key"), "{err}");

    // Data altered after signing (another target key swapped in): the signature fails.
    let mut bundle: Value = serde_json::from_str(&init.otp_encryption_target_bundle).unwrap();
    let mut data: Value = serde_json::from_slice(&hex::decode(bundle["data"].as_str().unwrap()).unwrap()).unwrap();
    let other =
        impostor.init_otp(common::init_request(OtpType::Email, "ann@example.com", common::now_ms())).await.unwrap();
    let other_bundle: Value = serde_json::from_str(&other.otp_encryption_target_bundle).unwrap();
    let other_data: Value =
        serde_json::from_slice(&hex::decode(other_bundle["data"].as_str().unwrap()).unwrap()).unwrap();
    data["targetPublic"] = other_data["targetPublic"].clone();
    bundle["data"] = json!(hex::encode(serde_json::to_vec(&data).unwrap()));
    let mut cmd = base;
    cmd["bundle"] = json!(bundle.to_string());
    cmd["enclavePublicKey"] = json!(enclave.public_keys().signing_public_key);
    let err = node(&cmd).unwrap_err();
    assert!(err.contains("signature verification failed"), "{err}");
}

fn init_org() -> String {
    common::init_request(OtpType::Email, "x@example.com", 0).organization_id
}
