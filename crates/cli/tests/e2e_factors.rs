//! End-to-end factors (issue 5): passkeys registered and used to stamp requests (a
//! software authenticator here, real Chromium below), TOTP devices checked against
//! codes computed by Python's pyotp, recovery codes, session keys from stamp_login,
//! and the failure limit — also across two server processes on one PostgreSQL.
//! Test names carry the NIST SP 800-63B-4 section they check.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use twofold_client::Client;
use twofold_testkit::{
    Backend, TestServer, completed, interop_installed, is_ci, new_key, ok, postgres_available, run_node, user_with_key,
};

mod support;

use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

#[test]
fn passkey_registers_and_stamps_requests_63b_3_1_6() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let (alice_id, alice) = member(&server, &root, "alice");
    let (mut soft, authenticator_id, credential_id) = register_passkey(&server, &alice, &alice_id);

    let listed = ok(alice.query("get_authenticators", json!({ "userId": alice_id })));
    assert_eq!(listed["authenticators"][0]["authenticatorId"], authenticator_id.as_str());
    assert_eq!(listed["authenticators"][0]["credentialId"], credential_id.as_str());
    assert_eq!(listed["authenticators"][0]["credential"]["type"], "CREDENTIAL_TYPE_WEBAUTHN_AUTHENTICATOR");

    let body = alice.query_body(json!({})).expect("body").to_string();
    let stamp = passkey_stamp(&mut soft, origin(&server), &credential_id, body.as_bytes());
    let whoami = alice
        .post_with_headers("/public/v1/query/get_whoami", body.as_bytes(), &[("X-Stamp-Webauthn", stamp.clone())])
        .expect("sent");
    assert_eq!(whoami.status, 200, "{}\n{}", whoami.body, server.log());
    assert_eq!(whoami.body["userId"], alice_id.as_str());

    // The same assertion again: the signature counter did not move forward.
    let replay = alice
        .post_with_headers("/public/v1/query/get_whoami", body.as_bytes(), &[("X-Stamp-Webauthn", stamp)])
        .expect("sent");
    refused(replay, 401, "compromised");
    // An assertion over another body is refused.
    let other_body = passkey_stamp(&mut soft, origin(&server), &credential_id, b"{}");
    let resp = alice
        .post_with_headers("/public/v1/query/get_whoami", body.as_bytes(), &[("X-Stamp-Webauthn", other_body)])
        .expect("sent");
    refused(resp, 401, "passkey stamp refused");

    // A passkey stamp can submit activities too; removing the passkey revokes it at once.
    let delete = alice
        .submit_body(
            "delete_authenticators",
            json!({ "parameters": {
            "userId": alice_id, "authenticatorIds": [authenticator_id] } }),
        )
        .expect("body")
        .to_string();
    let stamp = passkey_stamp(&mut soft, origin(&server), &credential_id, delete.as_bytes());
    let deleted = alice
        .post_with_headers("/public/v1/submit/delete_authenticators", delete.as_bytes(), &[("X-Stamp-Webauthn", stamp)])
        .expect("sent");
    assert_eq!(deleted.body["activity"]["status"], "ACTIVITY_STATUS_COMPLETED", "{}", deleted.body);
    let body = alice.query_body(json!({ "x": 1 })).expect("body").to_string();
    let stamp = passkey_stamp(&mut soft, origin(&server), &credential_id, body.as_bytes());
    let resp = alice
        .post_with_headers("/public/v1/query/get_whoami", body.as_bytes(), &[("X-Stamp-Webauthn", stamp)])
        .expect("sent");
    refused(resp, 401, "could not find public key");
    // The audit log keeps the binding and the removal.
    let events = ok(root.query("list_audit_events", json!({ "paginationOptions": { "limit": "100" } })));
    let text = events.to_string();
    assert!(
        text.contains("ACTIVITY_TYPE_CREATE_AUTHENTICATORS_V2") && text.contains("ACTIVITY_TYPE_DELETE_AUTHENTICATORS")
    );
}

#[test]
fn passkey_from_real_chromium_with_the_turnkey_webauthn_stamper() {
    if !interop_installed() {
        return;
    }
    if !std::path::Path::new("/usr/bin/chromium").exists() {
        assert!(!is_ci(), "CI=true but /usr/bin/chromium is missing: run the README test command");
        eprintln!("skipping: chromium not installed");
        return;
    }
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let key = new_key();
    let (alice_id, _) = {
        let id = completed(
            root.submit("create_users", json!({ "users": [user_with_key("alice", &key)] })),
            "createUsersResult",
        )["userIds"][0]
            .as_str()
            .expect("id")
            .to_owned();
        (id, ())
    };
    let key_file = server.data_dir().join("alice-key.json");
    key.to_key_file(Some(root.organization_id().to_owned()), Some(alice_id.clone()))
        .save_new(&key_file)
        .expect("key file");
    let r = run_node("passkey-chromium.mjs", &[&server.url, &key_file.display().to_string()]);
    assert_eq!(r["created"]["status"], "ACTIVITY_STATUS_COMPLETED", "{r}");
    assert_eq!(r["whoamiByPasskey"]["userId"], alice_id.as_str(), "{r}\n{}", server.log());
    assert_eq!(r["authenticators"][0]["authenticatorName"], "chromium");
    assert!(r["signCount"].as_u64().expect("count") >= 2, "the counter moved with each assertion: {r}");
}

/// An activity by `initiator` that needs one more approval (policy: two approvers).
fn pending_activity(root: &Client, initiator: &Client, name: &str) -> String {
    completed(
        root.submit("create_policy", json!({
            "policyName": format!("two for {name}"), "effect": "EFFECT_ALLOW",
            "condition": format!("activity.type == 'ACTIVITY_TYPE_CREATE_USER_TAG' && activity.params.user_tag_name == '{name}'"),
            "consensus": "approvers.count() >= 2" })),
        "createPolicyResult",
    );
    let pending = ok(initiator.submit("create_user_tag", json!({ "userTagName": name, "userIds": [] })));
    assert_eq!(pending["activity"]["status"], "ACTIVITY_STATUS_CONSENSUS_NEEDED", "{pending}");
    pending["activity"]["fingerprint"].as_str().expect("fingerprint").to_owned()
}

#[test]
fn totp_codes_from_pyotp_once_each_within_one_step_63b_3_1_4() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let (alice_id, alice) = member(&server, &root, "alice");
    let (_, bob) = member(&server, &root, "bob");
    // Everything below, up to the next step's code, happens in the step the device is activated in.
    early_in_totp_step(15.0);
    let (uri, seed) = enroll_totp(&alice, &alice_id);
    let fp = pending_activity(&root, &bob, "needs-alice");

    // The activation code's step is used: the same code, and one from 3 steps ago, fail.
    refused(approve_with(&alice, &fp, json!({ "totpCode": pyotp(&uri, 0) })), 401, "already used");
    refused(approve_with(&alice, &fp, json!({ "totpCode": pyotp(&uri, -90) })), 401, "invalid TOTP code");
    let wrong = if pyotp(&uri, 30) == "000000" { "111111" } else { "000000" };
    refused(approve_with(&alice, &fp, json!({ "totpCode": wrong })), 401, "invalid TOTP code");
    // The next step's code (T+1, inside the skew) is accepted and carries the approval.
    let approved = ok(Ok(approve_with(&alice, &fp, json!({ "totpCode": pyotp(&uri, 30) }))));
    assert_eq!(approved["activity"]["status"], "ACTIVITY_STATUS_COMPLETED", "{approved}");

    // The seed on disk is sealed: neither its base32 text nor its bytes are in the database.
    let db = server.database_bytes();
    let raw_seed = base32_decode(&seed);
    assert!(!contains(&db, seed.as_bytes()), "base32 seed found in the database files");
    assert!(!contains(&db, &raw_seed), "raw seed bytes found in the database files");
    // And it is never shown again.
    let listed = ok(alice.query("get_totp_authenticators", json!({ "userId": alice_id }))).to_string();
    assert!(!listed.contains(&seed));
    let activities = ok(alice.query("list_activities", json!({ "paginationOptions": { "limit": "100" } }))).to_string();
    assert!(!activities.contains(&seed) && !activities.contains("otpauth://"), "the seed is shown once, not stored");
}

fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base32") as u64;
        bits = (bits << 5) | v;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn sixth_wrong_code_in_fifteen_minutes_is_429_across_two_processes_63b_3_2_2() {
    let backend = if postgres_available() { Backend::Postgres } else { Backend::Sqlite };
    let server = TestServer::start(BIN, backend, &[]);
    let node2 = server.another_node();
    let root = server.root_client();
    let (alice_id, alice) = member(&server, &root, "alice");
    let same_key = twofold_client::ApiKeyPair::from_private_hex(alice.key().curve(), &alice.key().private_key_hex())
        .expect("same key");
    let alice2 = node2.client(same_key, root.organization_id());
    let (_, bob) = member(&server, &root, "bob");
    let (uri, _) = enroll_totp(&alice, &alice_id);
    let fp = pending_activity(&root, &bob, "limited");
    let current = pyotp(&uri, 30);
    let wrong = if current == "000000" { "111111" } else { "000000" };
    for attempt in 0..5 {
        let via = if attempt % 2 == 0 { &alice } else { &alice2 };
        refused(approve_with(via, &fp, json!({ "totpCode": wrong })), 401, "invalid TOTP code");
    }
    // The sixth guess — even the right code — is refused, on either node.
    for via in [&alice, &alice2] {
        let resp = approve_with(via, &fp, json!({ "totpCode": current }));
        refused(resp, 429, "too many failed");
    }
    let raw = ureq_status_with_retry_after(&alice, &fp, &current);
    assert!(raw.1.is_some_and(|s| s > 0 && s <= 900), "Retry-After: {:?}", raw.1);
}

/// Sends an approval and returns (status, Retry-After seconds).
fn ureq_status_with_retry_after(client: &Client, fingerprint: &str, code: &str) -> (u16, Option<u64>) {
    let body = client
        .submit_body("approve_activity", json!({ "parameters": { "fingerprint": fingerprint, "totpCode": code } }))
        .expect("body")
        .to_string();
    let url = format!("{}/public/v1/submit/approve_activity", server_url(client));
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let resp = agent
        .post(&url)
        .header("Content-Type", "application/json")
        .header("X-Stamp", client.key().stamp(body.as_bytes()))
        .send(body.as_bytes())
        .expect("sent");
    let retry = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    (resp.status().as_u16(), retry)
}

fn server_url(client: &Client) -> String {
    client.base_url().to_owned()
}

#[test]
fn recovery_codes_work_once_and_are_stored_only_hashed_63b_3_1_2() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let (alice_id, alice) = member(&server, &root, "alice");
    let (_, bob) = member(&server, &root, "bob");
    let result =
        completed(alice.submit("create_recovery_codes", json!({ "userId": alice_id })), "createRecoveryCodesResult");
    let codes: Vec<String> = result["recoveryCodes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    let db = server.database_bytes();
    for code in &codes {
        assert_eq!(code.replace('-', "").len(), 20, "100-bit codes: {code}");
        assert!(!contains(&db, code.as_bytes()) && !contains(&db, code.replace('-', "").as_bytes()), "{code} on disk");
    }
    let status = ok(alice.query("get_recovery_codes_status", json!({ "userId": alice_id })));
    assert_eq!((status["total"].as_u64(), status["remaining"].as_u64()), (Some(10), Some(10)));

    let first = pending_activity(&root, &bob, "recover-1");
    let approved = ok(Ok(approve_with(&alice, &first, json!({ "recoveryCode": codes[0].to_lowercase() }))));
    assert_eq!(approved["activity"]["status"], "ACTIVITY_STATUS_COMPLETED", "{approved}");
    let second = pending_activity(&root, &bob, "recover-2");
    refused(approve_with(&alice, &second, json!({ "recoveryCode": codes[0] })), 401, "already used");
    refused(approve_with(&alice, &second, json!({ "recoveryCode": "ABCDE-FGHJK-MNPQR-STVWX" })), 401, "invalid");
    let status = ok(alice.query("get_recovery_codes_status", json!({ "userId": alice_id })));
    assert_eq!(status["remaining"].as_u64(), Some(9));

    // §4.2.2: a recovery code alone recovers nothing. It is only ever a further proof on a
    // request its owner stamped (with an API key, a passkey, or a session that a login made);
    // without the owner's stamp it is refused and stays unspent.
    let body = alice
        .submit_body("approve_activity", json!({ "parameters": { "fingerprint": second, "recoveryCode": codes[2] } }))
        .expect("body")
        .to_string();
    let unstamped = alice.post_with_headers("/public/v1/submit/approve_activity", body.as_bytes(), &[]).expect("sent");
    assert_eq!(unstamped.status, 401, "no stamp: {}", unstamped.body);
    let stranger = server.client(new_key(), root.organization_id());
    let foreign = approve_with(&stranger, &second, json!({ "recoveryCode": codes[2] }));
    assert_eq!(foreign.status, 401, "a key nobody registered: {}", foreign.body);
    let (_, carol) = member(&server, &root, "carol");
    let borrowed = approve_with(&carol, &second, json!({ "recoveryCode": codes[2] }));
    assert_eq!(borrowed.status, 401, "another user carrying alice's code: {}", borrowed.body);
    let status = ok(alice.query("get_recovery_codes_status", json!({ "userId": alice_id })));
    assert_eq!(status["remaining"].as_u64(), Some(9), "none of that spent alice's code");
    let listed = ok(root.query("list_activities", json!({})));
    let pending = listed["activities"].as_array().expect("activities").iter().find(|a| a["fingerprint"] == second);
    let votes = pending.and_then(|a| a["votes"].as_array()).map(Vec::len);
    assert_eq!(votes, Some(1), "only bob's own vote was recorded: {pending:?}");

    // A new set replaces the old one (proven at the account's level by one of the old codes):
    // the old codes stop working.
    let replace = ok(alice.submit("create_recovery_codes", json!({ "userId": alice_id })));
    assert_eq!(replace["activity"]["status"], "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED", "{replace}");
    let fingerprint = replace["activity"]["fingerprint"].as_str().expect("fingerprint");
    let replaced = ok(Ok(approve_with(&alice, fingerprint, json!({ "recoveryCode": codes[9] }))));
    assert_eq!(replaced["activity"]["status"], "ACTIVITY_STATUS_COMPLETED", "{replaced}");
    let third = pending_activity(&root, &bob, "recover-3");
    refused(approve_with(&alice, &third, json!({ "recoveryCode": codes[1] })), 401, "invalid");
    // Unused codes never reached the disk (a used one is inside the signed approval it carried).
    let db = server.database_bytes();
    for code in &codes[1..9] {
        assert!(!contains(&db, code.as_bytes()) && !contains(&db, code.replace('-', "").as_bytes()), "{code} on disk");
    }
}

#[test]
fn session_keys_from_stamp_login_work_expire_and_are_revoked() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let (alice_id, alice) = member(&server, &root, "alice");
    let login = |session_key: &twofold_client::ApiKeyPair, extra: Value| {
        let mut params = json!({ "publicKey": session_key.public_key_hex() });
        params.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        completed(alice.submit("stamp_login", params), "stampLoginResult")
    };

    let s1 = new_key();
    let result = login(&s1, json!({}));
    let jwt = result["session"].as_str().expect("session jwt").to_owned();
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1).expect("payload")).expect("base64url"))
            .expect("claims");
    assert_eq!(claims["user_id"], alice_id.as_str());
    assert_eq!(claims["organization_id"], root.organization_id());
    assert_eq!(claims["public_key"], s1.public_key_hex().as_str());
    assert_eq!(claims["session_type"], "SESSION_TYPE_READ_WRITE");
    let lifetime = claims["exp"].as_f64().expect("exp seconds") - now_secs();
    assert!((880.0..=905.0).contains(&lifetime), "default 900 s, got {lifetime}");
    // @turnkey/crypto's verifySessionJwtSignature accepts it with the key query publishes.
    if interop_installed() {
        let signing_key = ok(alice.query("get_session_signing_key", json!({})));
        let script = "import('@turnkey/crypto').then(async c => console.log(JSON.stringify({ ok: \
                      await c.verifySessionJwtSignature(process.argv[1], process.argv[2]) })))";
        let out = Command::new("node")
            .current_dir(twofold_testkit::interop_dir())
            .args(["--input-type=module", "-e", script, &jwt, signing_key["publicKey"].as_str().expect("key")])
            .output()
            .expect("node");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            r#"{"ok":true}"#,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let session1 = server.client(s1, root.organization_id());
    assert_eq!(ok(session1.query("get_whoami", json!({})))["userId"], alice_id.as_str());
    let sessions = ok(session1.query("list_sessions", json!({})));
    assert_eq!(sessions["sessions"][0]["current"], true);

    // A short session expires.
    let short = new_key();
    login(&short, json!({ "expirationSeconds": "1" }));
    let short_client = server.client(short, root.organization_id());
    ok(short_client.query("get_whoami", json!({})));
    std::thread::sleep(Duration::from_millis(1300));
    // In the words @turnkey/core matches to say SESSION_EXPIRED.
    let expired = short_client.query("get_whoami", json!({})).expect("sent");
    refused(expired, 401, "Unauthenticated desc = expired api key publicKey");

    // invalidateExisting revokes the others; delete_sessions revokes the rest.
    let s2 = new_key();
    login(&s2, json!({ "invalidateExisting": true }));
    refused(session1.query("get_whoami", json!({})).expect("sent"), 401, "could not find public key");
    let session2 = server.client(s2, root.organization_id());
    ok(session2.query("get_whoami", json!({})));
    completed(alice.submit("delete_sessions", json!({ "userId": alice_id })), "deleteSessionsResult");
    refused(session2.query("get_whoami", json!({})).expect("sent"), 401, "could not find public key");
    ok(alice.query("get_whoami", json!({})));

    // Lifetimes beyond the AAL2 limit are refused.
    let failed =
        ok(alice
            .submit("stamp_login", json!({ "publicKey": new_key().public_key_hex(), "expirationSeconds": "90000" })));
    assert_eq!(failed["activity"]["status"], "ACTIVITY_STATUS_FAILED", "{failed}");
}

#[test]
fn malformed_factor_requests_get_clear_4xx_and_store_nothing() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let (alice_id, alice) = member(&server, &root, "alice");
    let body = alice.query_body(json!({})).expect("body").to_string();
    let whoami = |header: String| {
        alice
            .post_with_headers("/public/v1/query/get_whoami", body.as_bytes(), &[("X-Stamp-Webauthn", header)])
            .expect("sent")
    };
    refused(whoami("x".repeat(5000)), 401, "longer than 4096 bytes");
    refused(whoami("not json".into()), 401, "expected the JSON object");
    refused(
        whoami(
            json!({"authenticatorData":"AA","clientDataJson":"AA","credentialId":"%%%","signature":"AA"}).to_string(),
        ),
        401,
        "not base64url",
    );
    refused(
        whoami(
            json!({"authenticatorData":"AA","clientDataJson":"AA","credentialId":"AAAA","signature":"AA"}).to_string(),
        ),
        401,
        "could not find public key",
    );
    let both = alice
        .post_with_headers(
            "/public/v1/query/get_whoami",
            body.as_bytes(),
            &[("X-Stamp", alice.key().stamp(body.as_bytes())), ("X-Stamp-Webauthn", "{}".into())],
        )
        .expect("sent");
    refused(both, 401, "not both");

    let (counts, audit) = server.db.data_and_audit_counts();
    let submit = |name: &str, params: Value| alice.submit(name, params).expect("sent");
    refused(submit("stamp_login", json!({ "publicKey": "02zz" })), 400, "parameters.publicKey");
    refused(
        submit("stamp_login", json!({ "publicKey": new_key().public_key_hex(), "expirationSeconds": "soon" })),
        400,
        "expirationSeconds",
    );
    refused(
        submit(
            "approve_activity",
            json!({ "fingerprint": format!("sha256:{}", "0".repeat(64)), "totpCode": "12ab56" }),
        ),
        400,
        "totpCode",
    );
    refused(
        submit(
            "approve_activity",
            json!({ "fingerprint": format!("sha256:{}", "0".repeat(64)), "totpCode": "123456", "recoveryCode": "x" }),
        ),
        400,
        "not both",
    );
    refused(
        submit("create_authenticators", json!({ "userId": alice_id, "authenticators": [] })),
        400,
        "authenticators",
    );
    refused(
        submit("delete_totp_authenticators", json!({ "userId": alice_id, "totpAuthenticatorIds": ["a", "a"] })),
        400,
        "totpAuthenticatorIds",
    );
    refused(
        submit("create_totp_authenticator", json!({ "userId": alice_id, "algorithm": "MD5" })),
        400,
        "unknown field",
    );
    refused(submit("delete_sessions", json!({ "userId": 7 })), 400, "parameters.userId");
    refused(
        alice.query("get_passkey_registration_options", json!({ "userId": "nobody" })).expect("sent"),
        404,
        "no user",
    );
    assert_eq!(server.db.data_and_audit_counts(), (counts, audit), "refused requests store nothing");

    // A registration that does not verify fails as an activity, with no passkey stored.
    let options = ok(alice.query("get_passkey_registration_options", json!({ "userId": alice_id })));
    let bogus = ok(alice.submit("create_authenticators", json!({ "userId": alice_id, "authenticators": [{
        "authenticatorName": "forged", "challenge": options["challenge"],
        "attestation": { "credentialId": "AAAA", "clientDataJson": "e30", "attestationObject": "AAAA", "transports": [] } }] })));
    assert_eq!(bogus["activity"]["status"], "ACTIVITY_STATUS_FAILED", "{bogus}");
    assert!(bogus["activity"]["failure"]["message"].as_str().expect("why").contains("does not verify"), "{bogus}");
    assert_eq!(ok(alice.query("get_authenticators", json!({ "userId": alice_id })))["authenticators"], json!([]));
    assert!(!server.log().contains("panicked"));
}

/// The notices in the server's dev outbox, oldest first, as `(to, subject, body)`.
fn outbox(server: &TestServer) -> Vec<(String, String, String)> {
    let dir = server.data_dir().join("outbox");
    let mut paths = twofold_enclave::Outbox::list(&dir).expect("list outbox");
    paths.sort();
    let mut out: Vec<(String, String, String)> = paths
        .iter()
        .map(|p| twofold_enclave::Outbox::read(p).expect("read"))
        .map(|m| (m.to, m.subject, m.body))
        .collect();
    out.sort_by(|a, b| a.2.cmp(&b.2));
    out
}

/// A new user of the root organization with an API key and the given `userEmail` /
/// `userPhoneNumber`; returns its id and client.
fn user_with_contacts(server: &TestServer, root: &Client, name: &str, contacts: Value) -> (String, Client) {
    let key = new_key();
    let mut params = user_with_key(name, &key);
    params.as_object_mut().expect("object").extend(contacts.as_object().expect("object").clone());
    let created = completed(root.submit("create_users", json!({ "users": [params] })), "createUsersResult");
    let id = created["userIds"][0].as_str().expect("id").to_owned();
    (id, server.client(key, root.organization_id()))
}

#[test]
fn binding_or_removing_a_factor_notifies_the_user_63b_4_1_2_1() {
    let server = TestServer::start(BIN, Backend::Sqlite, &["--webhook-retry-base-ms", "200"]);
    let root = server.root_client();
    let (alice_id, alice) = user_with_contacts(&server, &root, "alice", json!({ "userEmail": "alice@example.com" }));
    let (mut soft, passkey_id, credential) = register_passkey(&server, &alice, &alice_id);
    // Alice has a passkey from here on: each further binding is stamped by it (the account level).
    enroll_totp_with_passkey(&server, &alice, &alice_id, &mut soft, &credential);
    let mut by_passkey = |path: &str, params: Value| {
        let resp = submit_with_passkey(&server, &alice, &mut soft, &credential, path, params);
        assert_eq!(resp.body["activity"]["status"], "ACTIVITY_STATUS_COMPLETED", "{path}: {}", resp.body);
    };
    by_passkey("create_recovery_codes", json!({ "userId": alice_id }));
    by_passkey("delete_authenticators", json!({ "userId": alice_id, "authenticatorIds": [passkey_id] }));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let notices = loop {
        let notices = outbox(&server);
        if notices.len() >= 4 || std::time::Instant::now() > deadline {
            break notices;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(notices.len(), 4, "one notice per binding or removal: {notices:#?}\n{}", server.log());
    for (to, subject, _) in &notices {
        assert_eq!(to, "alice@example.com");
        assert_eq!(subject, "Your sign-in methods changed");
    }
    let bodies: Vec<&str> = notices.iter().map(|(_, _, b)| b.as_str()).collect();
    for what in [
        "A passkey was added to",
        "A passkey was removed from",
        "An authenticator app was added to",
        "A new set of recovery codes was created for",
    ] {
        assert!(bodies.iter().any(|b| b.contains(what)), "`{what}` in {bodies:#?}");
    }
    assert!(bodies.iter().all(|b| b.contains("contact your administrator")), "says what to do if it was not you");
    // Starting a TOTP enrolment binds nothing yet, and a user without an email gets no notice.
    let (bob_id, bob) = member(&server, &root, "bob");
    enroll_totp(&bob, &bob_id);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(outbox(&server).len(), 4, "no address on record, nothing to send");

    // §4.6: every address on record hears of it: a user with an email address and a phone
    // number gets the notice by email and by text message.
    let contacts = json!({ "userEmail": "carol@example.com", "userPhoneNumber": "+14155550123" });
    let (carol_id, carol) = user_with_contacts(&server, &root, "carol", contacts);
    completed(carol.submit("create_recovery_codes", json!({ "userId": carol_id })), "createRecoveryCodesResult");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let to_carol = loop {
        let to_carol: Vec<_> =
            outbox(&server).into_iter().filter(|(to, _, _)| to.contains("carol") || to.contains("+1415")).collect();
        if to_carol.len() >= 2 || std::time::Instant::now() > deadline {
            break to_carol;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut addresses: Vec<&str> = to_carol.iter().map(|(to, _, _)| to.as_str()).collect();
    addresses.sort_unstable();
    assert_eq!(addresses, ["+14155550123", "carol@example.com"], "{to_carol:#?}");
    for (_, _, body) in &to_carol {
        assert!(body.contains("A new set of recovery codes was created for"), "{body}");
        assert!(body.contains("contact your administrator") || body.contains("Contact your administrator"), "{body}");
    }
}

/// A session of `user` (its own stamp_login with a new key) lasting `seconds`, as a client.
fn session_of(server: &TestServer, user: &Client, seconds: &str) -> Client {
    let key = new_key();
    completed(
        user.submit("stamp_login", json!({ "publicKey": key.public_key_hex(), "expirationSeconds": seconds })),
        "stampLoginResult",
    );
    server.client(key, user.organization_id())
}

#[test]
fn factor_changes_need_a_fresh_session_63b_4_1_2_1() {
    let server = TestServer::start_with_test_clock(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let (alice_id, alice) = member(&server, &root, "alice");
    let session = session_of(&server, &alice, "3600");
    // Four minutes into the session it is fresh enough to bind a factor.
    server.set_clock_offset(4 * 60 * 1000);
    let first =
        completed(session.submit("create_recovery_codes", json!({ "userId": alice_id })), "createRecoveryCodesResult");
    let first_codes: Vec<String> = first["recoveryCodes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    // Six minutes in, the session still works but may no longer change factors…
    server.set_clock_offset(6 * 60 * 1000);
    assert_eq!(ok(session.query("get_whoami", json!({})))["userId"], alice_id.as_str());
    refused(
        session.submit("create_recovery_codes", json!({ "userId": alice_id })).expect("sent"),
        400,
        "needs fresh authentication",
    );
    // …while the user's own API key, a first factor held by the client, still may — proving
    // one of the recovery codes she now has (binding at the account's level).
    let held = ok(alice.submit("create_recovery_codes", json!({ "userId": alice_id })));
    assert_eq!(held["activity"]["status"], "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED", "{held}");
    let fingerprint = held["activity"]["fingerprint"].as_str().expect("fingerprint");
    let done = ok(Ok(approve_with(&alice, fingerprint, json!({ "recoveryCode": first_codes[0] }))));
    assert_eq!(done["activity"]["status"], "ACTIVITY_STATUS_COMPLETED", "{done}");
}

#[test]
fn an_idle_session_expires_while_a_used_one_lives_on_63b_2_2_3() {
    for backend in twofold_testkit::backends() {
        idle_session(backend);
    }
}

fn idle_session(backend: Backend) {
    let server = TestServer::start_with_test_clock(BIN, backend, &[]);
    let root = server.root_client();
    let (alice_id, alice) = member(&server, &root, "alice");
    let session = session_of(&server, &alice, "86400");
    // Used every 50 minutes, it outlives the one-hour idle timeout…
    for step in 1..=3 {
        server.set_clock_offset(step * 50 * 60 * 1000);
        assert_eq!(ok(session.query("get_whoami", json!({})))["userId"], alice_id.as_str(), "use {step}");
    }
    // …left alone for 61 minutes, it is refused, although far from its absolute expiry.
    server.set_clock_offset((150 + 61) * 60 * 1000);
    refused(session.query("get_whoami", json!({})).expect("sent"), 401, "session idle");
    // API keys have no idle timeout.
    assert_eq!(ok(alice.query("get_whoami", json!({})))["userId"], alice_id.as_str());
}

/// "The enrollment flow issues one-time recovery codes at the end": the answer that completes
/// a user's first factor carries a set of recovery codes, shown once to that user and stored
/// only hashed (a later factor gets none: e2e_console, passkey then app).
#[test]
fn the_first_factor_comes_with_recovery_codes_shown_once() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let (alice_id, alice) = member(&server, &root, "alice");
    let created = completed(
        alice.submit("create_totp_authenticator", json!({ "userId": alice_id })),
        "createTotpAuthenticatorResult",
    );
    let uri = created["otpauthUri"].as_str().expect("uri").to_owned();
    let device = created["totpAuthenticatorId"].as_str().expect("id").to_owned();
    let verified = ok(alice.submit(
        "verify_totp_authenticator",
        json!({ "userId": alice_id, "totpAuthenticatorId": device, "totpCode": pyotp(&uri, 0) }),
    ));
    let result = &verified["activity"]["result"]["verifyTotpAuthenticatorResult"];
    let codes: Vec<String> = result["recoveryCodes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "{verified}");
    assert_eq!(result["recoveryCodeCount"], 10, "{verified}");
    let status = ok(alice.query("get_recovery_codes_status", json!({})));
    assert_eq!((status["total"].as_u64(), status["remaining"].as_u64()), (Some(10), Some(10)), "{status}");

    // Shown once: the stored activity, as anyone reads it later, has no codes.
    let id = verified["activity"]["id"].as_str().expect("id");
    let stored = ok(root.query("get_activity", json!({ "activityId": id })));
    assert!(stored["activity"]["result"]["verifyTotpAuthenticatorResult"]["recoveryCodes"].is_null(), "{stored}");
    let again = ok(alice.query("get_activity", json!({ "activityId": id })));
    assert!(!again.to_string().contains(&codes[0]), "not even to alice, later: {again}");
    let audit = ok(root.query("list_audit_events", json!({ "paginationOptions": { "limit": "100" } })));
    assert!(!audit.to_string().contains(&codes[0]), "nor in the audit log");
}
