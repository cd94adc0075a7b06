//! The adversarial suite (issue 16): from each attacker position of
//! `SECURITY-REQUIREMENTS.md` — (a) one stolen API key, (b) a session older than the
//! freshness window, (c) a scoped session, (d) a low-privilege member, (e) an anonymous
//! auth-proxy sign-up of its own sub-organization — the attacker tries every activity that
//! binds, removes or changes one of the victim's credentials, and tries to satisfy each of
//! the victim's step-up methods. Every try is refused or left waiting, the victim's
//! credentials and the security tables are unchanged, and every audit row it leaves names the
//! attacker's own credential. On SQLite and PostgreSQL.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use support::{enroll_totp_with_passkey, origin, pyotp, register_passkey, submit_with_passkey};
use twofold_client::{ApiKeyPair, ApiResponse, Client};
use twofold_testkit::{Backend, TestServer, backends, completed, new_key, ok, status, user_with_key};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs_proto::CreationChallengeResponse;

const BIN: &str = env!("CARGO_BIN_EXE_twofold");
const HELD: &str = "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED";
/// Every step-up method a victim's MFA policy can ask for, each on an app activity of its own.
const METHODS: [&str; 5] = ["PASSKEY", "TOTP", "RECOVERY_CODE", "EMAIL_OTP", "SMS_OTP"];
/// The tables whose rows are the organization's security state.
const GUARDED: [&str; 9] = [
    "users",
    "root_quorum_members",
    "user_tag_members",
    "policies",
    "mfa_policies",
    "session_profiles",
    "webhook_endpoints",
    "ip_rules",
    "mfa_enforcement",
];

/// The victim: alice, with an API key, a passkey, an authenticator app, recovery codes, an
/// email address, and one MFA policy per step-up method.
struct Victim {
    id: String,
    key: Client,
    api_key_id: String,
    passkey_id: String,
    totp_id: String,
    /// A device alice started to enroll and never activated; its seed is the attacker's.
    pending_device: (String, String),
    /// One held activity per step-up method, created by alice herself.
    held: Vec<(String, String)>,
    /// The OIDC issuer the organization trusts; alice's own account there is bound.
    issuer: support::LocalIssuer,
    /// Alice's OAuth provider.
    provider_id: String,
}

fn victim(server: &TestServer, root: &Client) -> Victim {
    let key = new_key();
    let mut user = user_with_key("alice", &key);
    user["userEmail"] = json!("alice@example.com");
    let id = completed(root.submit("create_users", json!({ "users": [user] })), "createUsersResult")["userIds"][0]
        .as_str()
        .expect("id")
        .to_owned();
    let client = server.client(key, root.organization_id());
    let api_key_id = ok(root.query("get_api_keys", json!({ "userId": id })))["apiKeys"][0]["apiKeyId"]
        .as_str()
        .expect("key id")
        .to_owned();
    // Alice binds her own OAuth account first (her first factor: her key is enough then).
    let issuer = support::LocalIssuer::start();
    let trust = json!({ "issuers": [issuer.trusted("app")] });
    completed(root.submit("set_oidc_issuers", trust), "setOidcIssuersResult");
    let bind = json!({ "userId": id, "oauthProviders": [{ "providerName": "alice's account",
                       "oidcToken": issuer.token("alice-at-issuer", "app", None) }] });
    let provider_id =
        completed(client.submit("create_oauth_providers", bind), "createOauthProvidersResultV2")["providerIds"][0]
            .as_str()
            .expect("provider")
            .to_owned();
    let (mut soft, passkey_id, credential) = register_passkey(server, &client, &id);
    enroll_totp_with_passkey(server, &client, &id, &mut soft, &credential);
    let totp_id = ok(client.query("get_totp_authenticators", json!({ "userId": id })))["totpAuthenticators"][0]
        ["totpAuthenticatorId"]
        .as_str()
        .expect("device")
        .to_owned();
    let codes =
        submit_with_passkey(server, &client, &mut soft, &credential, "create_recovery_codes", json!({ "userId": id }));
    assert_eq!(status(&codes.body), "ACTIVITY_STATUS_COMPLETED", "{}", codes.body);
    let pending =
        completed(client.submit("create_totp_authenticator", json!({ "userId": id })), "createTotpAuthenticatorResult");
    let pending_device = (
        pending["totpAuthenticatorId"].as_str().expect("id").to_owned(),
        pending["otpauthUri"].as_str().expect("uri").to_owned(),
    );
    for (order, method) in METHODS.iter().enumerate() {
        let params = json!({ "userId": id, "mfaPolicyName": format!("{method} step"), "order": order,
                             "condition": format!("activity.resource == 'STEP_UP_{method}'"),
                             "requiredAuthenticationMethods": [{ "any": [{ "type": format!("AUTHENTICATION_TYPE_{method}") }] }] });
        completed(root.submit("create_mfa_policy", params), "createMfaPolicyResult");
    }
    let held = METHODS
        .iter()
        .map(|method| {
            let body = ok(client.submit(
                "create_app_activity",
                json!({ "resource": format!("STEP_UP_{method}"), "action": "CREATE", "payload": {} }),
            ));
            assert_eq!(status(&body), HELD, "{body}");
            let a = &body["activity"];
            (a["id"].as_str().expect("id").to_owned(), a["fingerprint"].as_str().expect("fp").to_owned())
        })
        .collect();
    Victim { id, key: client, api_key_id, passkey_id, totp_id, pending_device, held, issuer, provider_id }
}

/// Alice's credentials and contacts as the API reports them, and the guarded tables' rows.
fn snapshot(server: &TestServer, root: &Client, alice: &Victim) -> Value {
    let q = |path: &str| ok(root.query(path, json!({ "userId": alice.id })));
    let ids = |v: &Value, list: &str, id: &str| -> Vec<String> {
        let mut out: Vec<String> = v[list]
            .as_array()
            .expect("list")
            .iter()
            .filter(|x| x["active"] != false)
            .filter(|x| x["credential"]["type"] != "CREDENTIAL_TYPE_READ_WRITE_SESSION_KEY_P256")
            .map(|x| x[id].as_str().expect("id").to_owned())
            .collect();
        out.sort();
        out
    };
    let user = &q("get_user")["user"];
    let rows: Vec<(String, i64)> =
        server.db.row_counts().into_iter().filter(|(t, _)| GUARDED.contains(&t.as_str())).collect();
    json!({
        "passkeys": ids(&q("get_authenticators"), "authenticators", "authenticatorId"),
        "totp": ids(&q("get_totp_authenticators"), "totpAuthenticators", "totpAuthenticatorId"),
        "recovery": q("get_recovery_codes_status")["remaining"],
        "apiKeys": ids(&q("get_api_keys"), "apiKeys", "apiKeyId"),
        "oauth": ids(&q("get_oauth_providers"), "oauthProviders", "providerId"),
        "email": user["userEmail"],
        "phone": user["userPhoneNumber"],
        "rows": rows,
        "held": alice.held.iter().map(|(id, _)| status(&ok(root.query("get_activity", json!({ "activityId": id })))).to_owned()).collect::<Vec<_>>(),
    })
}

/// The newest audit sequence number of `client`'s organization.
fn audit_head(client: &Client) -> i64 {
    let page = ok(client.query("list_audit_events", json!({ "paginationOptions": { "limit": "1" } })));
    page["auditEvents"][0]["seq"].as_i64().unwrap_or(0)
}

/// Audit events after `head`, newest first.
fn audit_since(client: &Client, head: i64) -> Vec<Value> {
    let page = ok(client.query("list_audit_events", json!({ "paginationOptions": { "limit": "100" } })));
    let events = page["auditEvents"].as_array().expect("events");
    events.iter().filter(|e| e["seq"].as_i64().unwrap_or(0) > head).cloned().collect()
}

/// A passkey registration for alice made by a software authenticator the attacker holds.
fn foreign_passkey(server: &TestServer, alice: &Victim) -> Value {
    let options = ok(alice.key.query("get_passkey_registration_options", json!({ "userId": alice.id })));
    let creation: CreationChallengeResponse =
        serde_json::from_value(json!({ "publicKey": options["publicKey"] })).expect("creation options");
    let reg = SoftPasskey::new(true).do_registration(origin(server), creation).expect("registers");
    json!({ "userId": alice.id, "authenticators": [{ "authenticatorName": "evil", "challenge": options["challenge"],
        "attestation": {
            "credentialId": URL_SAFE_NO_PAD.encode(&reg.raw_id),
            "clientDataJson": URL_SAFE_NO_PAD.encode(&reg.response.client_data_json),
            "attestationObject": URL_SAFE_NO_PAD.encode(&reg.response.attestation_object),
            "transports": ["AUTHENTICATOR_TRANSPORT_INTERNAL"] } }] })
}

/// Every activity that binds, removes or changes one of alice's credentials or contacts.
fn credential_changes(server: &TestServer, alice: &Victim, skew_secs: i64) -> Vec<(&'static str, Value)> {
    let (device, uri) = &alice.pending_device;
    vec![
        ("create_authenticators", foreign_passkey(server, alice)),
        // A passkey registered the way Turnkey's SDKs register one: with a challenge of its own.
        (
            "create_authenticators",
            json!({ "userId": alice.id, "authenticators": [support::client_made_passkey(origin(server), "evil").1] }),
        ),
        ("delete_authenticators", json!({ "userId": alice.id, "authenticatorIds": [alice.passkey_id] })),
        (
            "verify_totp_authenticator",
            json!({ "userId": alice.id, "totpAuthenticatorId": device, "totpCode": pyotp(uri, skew_secs) }),
        ),
        ("delete_totp_authenticators", json!({ "userId": alice.id, "totpAuthenticatorIds": [alice.totp_id] })),
        ("create_recovery_codes", json!({ "userId": alice.id })),
        (
            "create_api_keys",
            json!({ "userId": alice.id, "apiKeys": [{ "apiKeyName": "backdoor",
                    "publicKey": new_key().public_key_hex(), "curveType": "API_KEY_CURVE_P256" }] }),
        ),
        ("delete_api_keys", json!({ "userId": alice.id, "apiKeyIds": [alice.api_key_id] })),
        // Contacts are factors: a changed email would receive alice's login codes.
        ("update_user", json!({ "userId": alice.id, "userEmail": "mallory@evil.example" })),
        ("update_user", json!({ "userId": alice.id, "userPhoneNumber": "+15555550100" })),
        ("update_user", json!({ "userId": alice.id, "userEmail": "" })),
        // The same changes as @turnkey/core sends them.
        ("update_user_email", json!({ "userId": alice.id, "userEmail": "mallory@evil.example" })),
        ("update_user_phone_number", json!({ "userId": alice.id, "userPhoneNumber": "+15555550100" })),
        // OAuth accounts are factors: the attacker's own account, proven by a valid token, would log in as alice.
        (
            "create_oauth_providers",
            json!({ "userId": alice.id, "oauthProviders": [{ "providerName": "evil",
                    "oidcToken": alice.issuer.token(&format!("mallory-{}", hex::encode(support::rand_bytes::<4>())), "app", None) }] }),
        ),
        ("delete_oauth_providers", json!({ "userId": alice.id, "providerIds": [alice.provider_id] })),
    ]
}

/// What the attacker offers as proof of each step-up method it does not have.
fn forged_proofs(server: &TestServer, attacker: &Client, alice: &Victim, skew_secs: i64) -> Vec<Value> {
    let mut proofs = vec![
        json!({}),
        json!({ "totpCode": pyotp(&alice.pending_device.1, skew_secs + 30) }),
        json!({ "recoveryCode": "ABCDE-FGHJK-MNPQR-STVWX" }),
    ];
    // A verification token for an address the attacker controls (its own email code), if it
    // can start one at all.
    if let Ok(started) = attacker.init_otp(json!({ "otpType": "OTP_TYPE_EMAIL", "contact": "mallory@evil.example" })) {
        let pinned = attacker.enclave_signing_key().expect("enclave key");
        let code = support::latest_code_to(server, "mallory@evil.example");
        let token = attacker.verify_otp(&started, &pinned, &code, &new_key()).expect("verified");
        proofs.push(json!({ "verificationToken": token }));
    }
    proofs
}

/// One attacker position: tries everything, then checks nothing moved.
fn attack(server: &TestServer, root: &Client, alice: &Victim, who: &str, attacker: &Client, skew_secs: i64) {
    let before = snapshot(server, root, alice);
    let head = audit_head(root);
    let credential = attacker_credential(root, attacker);
    let proofs = forged_proofs(server, attacker, alice, skew_secs);
    for (path, params) in credential_changes(server, alice, skew_secs) {
        let resp = attacker.submit(path, params).expect("sent");
        assert_not_done(who, path, &resp);
    }
    for (_, fingerprint) in &alice.held {
        for proof in &proofs {
            let mut params = json!({ "fingerprint": fingerprint });
            params.as_object_mut().expect("object").extend(proof.as_object().expect("object").clone());
            let resp = attacker.submit("approve_activity", params).expect("sent");
            assert_not_done(who, "approve_activity", &resp);
        }
    }
    let after = snapshot(server, root, alice);
    assert_eq!(before, after, "{who}: alice's credentials, contacts, held activities and the guarded tables");
    for event in audit_since(root, head) {
        if let Some(actor) = event["actorCredentialId"].as_str() {
            assert_eq!(Some(actor), credential.as_deref(), "{who}: audit rows name the credential used: {event}");
        }
    }
}

/// The attacker's credential id as the root organization's audit log would name it.
fn attacker_credential(root: &Client, attacker: &Client) -> Option<String> {
    let me = attacker.query("get_whoami", json!({})).expect("sent");
    if me.status != 200 || me.body["organizationId"] != root.organization_id() {
        return None;
    }
    let me = me.body;
    let keys = ok(root.query("get_api_keys", json!({ "userId": me["userId"] })));
    let mine = attacker.key().public_key_hex();
    keys["apiKeys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["credential"]["publicKey"] == mine.as_str())
        .and_then(|k| k["apiKeyId"].as_str())
        .map(str::to_owned)
}

#[track_caller]
fn assert_not_done(who: &str, path: &str, resp: &ApiResponse) {
    assert!(resp.status < 500, "{who}: {path}: never a 5xx: {}", resp.body);
    if resp.status == 200 {
        let st = status(&resp.body);
        assert_ne!(st, "ACTIVITY_STATUS_COMPLETED", "{who}: {path} completed: {}", resp.body);
        assert!(!resp.body.to_string().contains("recoveryCodes"), "{who}: {path} revealed codes: {}", resp.body);
    }
}

fn session(server: &TestServer, user: &Client, profile: Option<&str>) -> Client {
    let key = new_key();
    let mut params = json!({ "publicKey": key.public_key_hex(), "expirationSeconds": "3600" });
    if let Some(p) = profile {
        params["sessionProfileId"] = json!(p);
    }
    completed(user.submit("stamp_login", params), "stampLoginResult");
    server.client(key, user.organization_id())
}

/// An anonymous sign-up through the auth proxy: root of a sub-organization of its own.
fn anonymous_sign_up(server: &TestServer, root: &Client) -> Client {
    completed(root.submit("enable_auth_proxy", json!({})), "enableAuthProxyResult");
    let methods = json!({ "allowedAuthMethods": ["AUTH_METHOD_EMAIL_OTP_LOGIN", "AUTH_METHOD_EMAIL_OTP_SIGNUP"] });
    completed(root.submit("update_auth_proxy_config", methods), "updateAuthProxyConfigResult");
    let key = new_key();
    let sub_org = support::anonymous_sign_up(server, root, "eve@evil.example", &key);
    server.client(key, &sub_org)
}

#[test]
fn every_attacker_position_fails_to_bind_remove_or_step_up_past_the_victims_factors() {
    for backend in backends() {
        every_position(backend);
    }
}

fn every_position(backend: Backend) {
    let server = TestServer::start_with_test_clock(BIN, backend, &[]);
    let root = server.root_client();
    let alice = victim(&server, &root);
    let stale = session(&server, &alice.key, None);
    let profile = completed(
        root.submit(
            "create_session_profile",
            json!({ "sessionProfileName": "profile editor", "scope": "activity.resource == 'USER' && activity.action == 'UPDATE'" }),
        ),
        "createSessionProfileResult",
    )["sessionProfileId"]
        .as_str()
        .expect("profile")
        .to_owned();
    let scoped = session(&server, &alice.key, Some(&profile));
    let (_, mallory) = support::member(&server, &root, "mallory");
    let eve = anonymous_sign_up(&server, &root);

    attack(&server, &root, &alice, "(a) alice's stolen API key", &alice.key, 0);
    attack(&server, &root, &alice, "(c) alice's scoped session", &scoped, 0);
    attack(&server, &root, &alice, "(d) mallory, a member with no policies", &mallory, 0);
    attack(&server, &root, &alice, "(e) eve, an anonymous sign-up, in her own sub-organization", &eve, 0);
    let eve_key = ApiKeyPair::from_private_hex(eve.key().curve(), &eve.key().private_key_hex()).expect("key");
    let eve_in_parent = server.client(eve_key, root.organization_id());
    attack(&server, &root, &alice, "(e) eve's key naming alice's organization", &eve_in_parent, 0);
    // (b) last: the clock moves past the freshness window.
    server.set_clock_offset(7 * 60 * 1000);
    attack(&server, &root, &alice, "(b) alice's seven-minute-old session", &stale, 7 * 60);
    assert!(!server.log().contains("panicked"), "{}", server.log());
}
