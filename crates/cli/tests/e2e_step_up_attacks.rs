//! Step-up that holds under attack (issue 16): binding or removing a factor or a permanent
//! credential is proven at the account's level (NIST SP 800-63B-4 §4.1.2.1), a factor bound
//! after an activity was created cannot approve it, a stale session cannot mint an API key,
//! and nobody spends or probes another user's TOTP budget — each against the real binary,
//! on SQLite and PostgreSQL.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

use serde_json::{Value, json};
use support::{approve_with, enroll_totp, member, pyotp, refused, register_passkey, submit_with_passkey};
use twofold_client::Client;
use twofold_testkit::{Backend, TestServer, backends, completed, new_key, ok, status};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");
const HELD: &str = "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED";
const BUILT_IN: &str = "BUILT_IN_ACCOUNT_LEVEL_BINDING";

fn fingerprint(activity: &Value) -> String {
    activity["activity"]["fingerprint"].as_str().expect("fingerprint").to_owned()
}

fn submitted(client: &Client, path: &str, params: Value) -> Value {
    let resp = client.submit(path, params).expect("sent");
    assert_eq!(resp.status, 200, "{path}: {}", resp.body);
    resp.body
}

fn mfa_policy(by: &Client, user_id: &str, name: &str, condition: &str, method: &str) {
    let params = json!({ "userId": user_id, "mfaPolicyName": name, "condition": condition, "order": 1,
                         "requiredAuthenticationMethods": [{ "any": [{ "type": method }] }] });
    completed(by.submit("create_mfa_policy", params), "createMfaPolicyResult");
}

/// Lets `user_id` manage policies, with consensus on that user so it grants nobody else.
fn may_manage_policies(root: &Client, user_id: &str) {
    let params = json!({ "policyName": "manages policies", "effect": "EFFECT_ALLOW",
                         "condition": "activity.resource == 'POLICY'",
                         "consensus": format!("approvers.any(user, user.id == '{user_id}')"), "notes": "" });
    completed(root.submit("create_policy", params), "createPolicyResult");
}

fn allow_all(name: &str) -> Value {
    json!({ "policyName": name, "effect": "EFFECT_ALLOW", "condition": "true", "notes": "" })
}

fn policy_count(client: &Client) -> usize {
    ok(client.query("list_policies", json!({})))["policies"].as_array().expect("policies").len()
}

fn totp_devices(client: &Client, user_id: &str) -> Vec<Value> {
    ok(client.query("get_totp_authenticators", json!({ "userId": user_id })))["totpAuthenticators"]
        .as_array()
        .expect("devices")
        .clone()
}

fn mfa_status(client: &Client, activity: &Value) -> Value {
    let statuses = ok(client.query("get_mfa_status", json!({ "activityId": activity["activity"]["id"] })));
    statuses["mfaStatuses"][0].clone()
}

fn audit_events(client: &Client, event_type: &str) -> Vec<Value> {
    let query = json!({ "eventType": event_type, "paginationOptions": { "limit": "100" } });
    ok(client.query("list_audit_events", query))["auditEvents"].as_array().expect("events").clone()
}

fn api_key_count(root: &Client, user_id: &str) -> usize {
    ok(root.query("get_api_keys", json!({ "userId": user_id })))["apiKeys"].as_array().expect("keys").len()
}

#[test]
fn stolen_api_key_cannot_enroll_its_way_past_totp_step_up() {
    for backend in backends() {
        stolen_key_enrolls_nothing(backend);
    }
}

/// Alice has an API key and her real TOTP device; an MFA policy holds policy changes for a
/// TOTP code. With only her key, the attacker binds a device of its own, makes recovery
/// codes, deletes her device and mints a key: each waits for a factor alice already had.
fn stolen_key_enrolls_nothing(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let (alice_id, alice) = member(&server, &root, "alice");
    may_manage_policies(&root, &alice_id);
    let (real_uri, _) = enroll_totp(&alice, &alice_id);
    let real_device = totp_devices(&alice, &alice_id)[0]["totpAuthenticatorId"].as_str().expect("id").to_owned();
    mfa_policy(&root, &alice_id, "policies need TOTP", "activity.resource == 'POLICY'", "AUTHENTICATION_TYPE_TOTP");
    let policies_before = policy_count(&root);
    let keys_before = api_key_count(&root, &alice_id);
    let alice_key_id = ok(root.query("get_api_keys", json!({ "userId": alice_id })))["apiKeys"][0]["apiKeyId"]
        .as_str()
        .expect("alice's key")
        .to_owned();

    let held = submitted(&alice, "create_policy", allow_all("backdoor"));
    assert_eq!(status(&held), HELD, "{held}");

    // The attacker's own device: created (inactive), and its first code proves only itself.
    let created = completed(
        alice.submit("create_totp_authenticator", json!({ "userId": alice_id })),
        "createTotpAuthenticatorResult",
    );
    let evil_uri = created["otpauthUri"].as_str().expect("uri").to_owned();
    let evil_device = created["totpAuthenticatorId"].as_str().expect("id").to_owned();
    let verify = submitted(
        &alice,
        "verify_totp_authenticator",
        json!({ "userId": alice_id, "totpAuthenticatorId": evil_device, "totpCode": pyotp(&evil_uri, 0) }),
    );
    assert_eq!(status(&verify), HELD, "binding a second device waits for the first: {verify}");
    let st = mfa_status(&alice, &verify);
    assert_eq!(st["mfaPolicyId"], BUILT_IN, "{st}");
    assert_eq!(st["requiredMethods"][0]["any"][0]["type"], "AUTHENTICATION_TYPE_TOTP", "{st}");
    let evil = totp_devices(&alice, &alice_id).into_iter().find(|d| d["totpAuthenticatorId"] == evil_device.as_str());
    assert_eq!(evil.expect("listed")["active"], false, "the attacker's device stays inactive");

    // Its codes prove nothing on the held policy change…
    refused(approve_with(&alice, &fingerprint(&held), json!({ "totpCode": pyotp(&evil_uri, 30) })), 401, "TOTP");
    // …nor on its own binding (the device is not active, so it is no existing factor).
    refused(approve_with(&alice, &fingerprint(&verify), json!({ "totpCode": pyotp(&evil_uri, 30) })), 401, "TOTP");

    // Recovery codes wait too, and are not shown to a request that has not proven anything.
    let codes = submitted(&alice, "create_recovery_codes", json!({ "userId": alice_id }));
    assert_eq!(status(&codes), HELD, "{codes}");
    assert!(!codes.to_string().contains("recoveryCodes"), "no codes revealed: {codes}");
    // Her real device cannot be removed, nor a permanent credential minted, with the key alone.
    let removal = submitted(
        &alice,
        "delete_totp_authenticators",
        json!({ "userId": alice_id, "totpAuthenticatorIds": [real_device] }),
    );
    assert_eq!(status(&removal), HELD, "{removal}");
    let minted = submitted(
        &alice,
        "create_api_keys",
        json!({ "userId": alice_id, "apiKeys": [{ "apiKeyName": "backup", "publicKey": new_key().public_key_hex(),
                                                 "curveType": "API_KEY_CURVE_P256" }] }),
    );
    assert_eq!(status(&minted), HELD, "{minted}");

    assert_eq!(policy_count(&root), policies_before, "no policy was created");
    let devices = totp_devices(&alice, &alice_id);
    let active: Vec<&Value> = devices.iter().filter(|d| d["active"] == true).collect();
    assert_eq!(active.len(), 1, "only her real device is active: {devices:?}");
    assert_eq!(active[0]["totpAuthenticatorId"], real_device.as_str());
    assert_eq!(api_key_count(&root, &alice_id), keys_before, "no key was minted");
    // The failed guesses are audited as made by alice's key, the credential that made them.
    let failed = audit_events(&root, "FACTOR_FAILED");
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed.iter().all(|e| e["actorUserId"] == alice_id.as_str()), "{failed:?}");
    assert!(failed.iter().all(|e| e["actorCredentialId"] == alice_key_id.as_str()), "{failed:?}");

    // Alice herself, with her real device, completes what she meant: the recovery codes are
    // shown in the answer to the approval that proved her factor.
    let proven = approve_with(&alice, &fingerprint(&codes), json!({ "totpCode": pyotp(&real_uri, 30) }));
    assert_eq!(proven.status, 200, "{}", proven.body);
    assert_eq!(status(&proven.body), "ACTIVITY_STATUS_COMPLETED", "{}", proven.body);
    let shown = &proven.body["activity"]["result"]["createRecoveryCodesResult"]["recoveryCodes"];
    assert_eq!(shown.as_array().map(Vec::len), Some(10), "{}", proven.body);
}

#[test]
fn factor_bound_after_an_activity_was_created_cannot_satisfy_its_step_up() {
    for backend in backends() {
        late_factors_approve_nothing(backend);
    }
}

/// A user whose only credential is an API key binds its first factor with what it has — but
/// a factor bound after an activity was created does not approve that activity.
fn late_factors_approve_nothing(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let (bob_id, bob) = member(&server, &root, "bob");
    may_manage_policies(&root, &bob_id);
    mfa_policy(&root, &bob_id, "policies need TOTP", "activity.resource == 'POLICY'", "AUTHENTICATION_TYPE_TOTP");
    let held = submitted(&bob, "create_policy", allow_all("backdoor"));
    assert_eq!(status(&held), HELD, "{held}");
    let (uri, _) = enroll_totp(&bob, &bob_id);
    refused(
        approve_with(&bob, &fingerprint(&held), json!({ "totpCode": pyotp(&uri, 30) })),
        403,
        "was bound after this activity was created",
    );
    assert_eq!(status(&ok(bob.query("get_activity", json!({ "activityId": held["activity"]["id"] })))), HELD);

    // The same with a freshly generated set of recovery codes.
    let (carol_id, carol) = member(&server, &root, "carol");
    may_manage_policies(&root, &carol_id);
    mfa_policy(
        &root,
        &carol_id,
        "policies need a code",
        "activity.resource == 'POLICY'",
        "AUTHENTICATION_TYPE_RECOVERY_CODE",
    );
    let held = submitted(&carol, "create_policy", allow_all("backdoor 2"));
    assert_eq!(status(&held), HELD, "{held}");
    let set =
        completed(carol.submit("create_recovery_codes", json!({ "userId": carol_id })), "createRecoveryCodesResult");
    let code = set["recoveryCodes"][0].as_str().expect("code").to_owned();
    refused(
        approve_with(&carol, &fingerprint(&held), json!({ "recoveryCode": code })),
        403,
        "was bound after this activity was created",
    );
    assert_eq!(policy_count(&root), 2, "only the two grants exist");
}

#[test]
fn a_passkey_stamp_on_the_request_itself_proves_the_binding() {
    for backend in backends() {
        passkey_proves_in_the_same_request(backend);
    }
}

fn passkey_proves_in_the_same_request(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let (alice_id, alice) = member(&server, &root, "alice");
    let (mut soft, _, credential) = register_passkey(&server, &alice, &alice_id);
    // With the API key alone, recovery codes wait for the passkey…
    let held = submitted(&alice, "create_recovery_codes", json!({ "userId": alice_id }));
    assert_eq!(status(&held), HELD, "{held}");
    // (Her first passkey came with recovery codes, so either of her factors proves it.)
    let methods: Vec<String> = mfa_status(&alice, &held)["requiredMethods"][0]["any"]
        .as_array()
        .expect("methods")
        .iter()
        .map(|m| m["type"].as_str().expect("type").to_owned())
        .collect();
    assert_eq!(methods, ["AUTHENTICATION_TYPE_PASSKEY", "AUTHENTICATION_TYPE_RECOVERY_CODE"], "her factors only");
    // …and the same request stamped by the passkey completes at once.
    let resp = submit_with_passkey(
        &server,
        &alice,
        &mut soft,
        &credential,
        "create_recovery_codes",
        json!({ "userId": alice_id }),
    );
    assert_eq!(status(&resp.body), "ACTIVITY_STATUS_COMPLETED", "{}", resp.body);
}

#[test]
fn stale_session_cannot_mint_a_permanent_credential() {
    for backend in backends() {
        stale_session_mints_nothing(backend);
    }
}

fn session_of(server: &TestServer, user: &Client) -> Client {
    let key = new_key();
    completed(
        user.submit("stamp_login", json!({ "publicKey": key.public_key_hex(), "expirationSeconds": "3600" })),
        "stampLoginResult",
    );
    server.client(key, user.organization_id())
}

fn new_api_key(user_id: &str) -> Value {
    json!({ "userId": user_id, "apiKeys": [{ "apiKeyName": "laptop", "publicKey": new_key().public_key_hex(),
                                             "curveType": "API_KEY_CURVE_P256" }] })
}

fn stale_session_mints_nothing(backend: Backend) {
    let server = TestServer::start_with_test_clock(BIN, backend, &[]);
    let root = server.root_client();
    let (alice_id, alice) = member(&server, &root, "alice");
    let stale = session_of(&server, &alice);
    let keys_before = api_key_count(&root, &alice_id);
    server.set_clock_offset(7 * 60 * 1000);
    refused(stale.submit("create_api_keys", new_api_key(&alice_id)).expect("sent"), 400, "needs fresh authentication");
    assert_eq!(api_key_count(&root, &alice_id), keys_before, "nothing minted");

    // A fresh session of a user with a second factor waits for that factor.
    // (The server's clock runs 7 minutes ahead; so do the codes its authenticator app shows.)
    let skew = 7 * 60;
    let (uri, _) = support::enroll_totp_by(&alice, &alice_id, skew, |params| {
        alice.submit("verify_totp_authenticator", params).expect("sent")
    });
    let fresh = session_of(&server, &alice);
    let minted = submitted(&fresh, "create_api_keys", new_api_key(&alice_id));
    assert_eq!(status(&minted), HELD, "{minted}");
    let done = approve_with(&fresh, &fingerprint(&minted), json!({ "totpCode": pyotp(&uri, skew + 30) }));
    assert_eq!(status(&done.body), "ACTIVITY_STATUS_COMPLETED", "{}", done.body);
}

#[test]
fn a_member_cannot_spend_or_probe_another_users_totp_budget() {
    for backend in backends() {
        nobody_guesses_for_another(backend);
    }
}

fn nobody_guesses_for_another(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let (alice_id, alice) = member(&server, &root, "alice");
    let (_, mallory) = member(&server, &root, "mallory");
    let created = completed(
        alice.submit("create_totp_authenticator", json!({ "userId": alice_id })),
        "createTotpAuthenticatorResult",
    );
    let uri = created["otpauthUri"].as_str().expect("uri").to_owned();
    let device = created["totpAuthenticatorId"].as_str().expect("id").to_owned();
    let right = pyotp(&uri, 0);
    // Wrong guesses, and even the right code, get the same refusal before anything is checked.
    for guess in ["000000", "111111", "222222", "333333", "444444", "555555", right.as_str()] {
        let resp = mallory
            .submit(
                "verify_totp_authenticator",
                json!({ "userId": alice_id, "totpAuthenticatorId": device, "totpCode": guess }),
            )
            .expect("sent");
        refused(resp, 403, "verified by the user it belongs to");
    }
    assert!(audit_events(&root, "FACTOR_FAILED").is_empty(), "no code was checked");
    assert!(audit_events(&root, "FACTOR_PROVEN").is_empty(), "no code was checked");
    // Alice's budget is untouched: her right code activates her device at once.
    completed(
        alice.submit(
            "verify_totp_authenticator",
            json!({ "userId": alice_id, "totpAuthenticatorId": device, "totpCode": right }),
        ),
        "verifyTotpAuthenticatorResult",
    );
}

#[test]
fn a_broad_mfa_policy_cannot_deadlock_its_users_enrollment() {
    for backend in backends() {
        no_enrollment_deadlock(backend);
    }
}

/// Item 8: a delegated user sets `condition: "true"` requiring TOTP on a sub-organization
/// root that has no TOTP yet. The root's own enrollment is not gated by that policy (the
/// account-level rule applies instead), so it enrolls and then passes the step-up; an
/// activity stuck behind the policy can always be cancelled by its initiator.
fn no_enrollment_deadlock(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let (org, owner_id, owner) = support::sub_org(&server, &root, "customer");
    let key = new_key();
    let created = completed(
        owner.submit("create_users", json!({ "users": [twofold_testkit::user_with_key("Delegated Access", &key)] })),
        "createUsersResult",
    );
    assert!(created["userIds"][0].is_string());
    let delegate = server.client(key, &org);
    let grant = json!({ "policyName": "delegate manages MFA policies", "effect": "EFFECT_ALLOW",
                        "condition": "activity.resource == 'MFA_POLICY'", "notes": "" });
    completed(owner.submit("create_policy", grant), "createPolicyResult");
    let params = json!({ "userId": owner_id, "mfaPolicyName": "everything needs TOTP", "condition": "true",
                         "requiredAuthenticationMethods": [{ "any": [{ "type": "AUTHENTICATION_TYPE_TOTP" }] }],
                         "order": 1 });
    let policy = completed(delegate.submit("create_mfa_policy", params), "createMfaPolicyResult");
    let policy_id = policy["mfaPolicyId"].as_str().expect("id").to_owned();

    // An activity held by the policy before the owner has any TOTP device.
    let stuck = submitted(&owner, "create_user_tag", json!({ "userTagName": "stuck", "userIds": [] }));
    assert_eq!(status(&stuck), HELD, "{stuck}");
    // The owner's own enrollment is not held by the policy: it completes.
    let (uri, _) = enroll_totp(&owner, &owner_id);
    // The stuck activity predates the device, so the device cannot approve it (refused before
    // the code is checked, so the code stays usable)…
    refused(
        approve_with(&owner, &fingerprint(&stuck), json!({ "totpCode": pyotp(&uri, 30) })),
        403,
        "was bound after this activity was created",
    );
    // …but its initiator can cancel it, even after the policy was narrowed.
    let narrowed =
        json!({ "userId": owner_id, "mfaPolicyId": policy_id, "condition": "activity.resource == 'POLICY'" });
    completed(delegate.submit("update_mfa_policy", narrowed), "updateMfaPolicyResult");
    let cancelled = submitted(&owner, "reject_activity", json!({ "fingerprint": fingerprint(&stuck) }));
    assert_eq!(status(&cancelled), "ACTIVITY_STATUS_REJECTED", "{cancelled}");
    // New activities pass the (narrowed) policy with the device as usual.
    let gated = submitted(&owner, "create_policy", allow_all("owner's"));
    assert_eq!(status(&gated), HELD, "{gated}");
    let passed = approve_with(&owner, &fingerprint(&gated), json!({ "totpCode": pyotp(&uri, 30) }));
    assert_eq!(status(&passed.body), "ACTIVITY_STATUS_COMPLETED", "{}", passed.body);
}
