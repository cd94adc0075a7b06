//! End-to-end step-up MFA (issue 6): MFA policies chosen first-match by order, the
//! two-step policy of scenario S1 walked approval by approval, delegated access (S2)
//! and recovery (S3) — on SQLite and PostgreSQL.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

use serde_json::{Value, json};
use support::{
    approve_with, enroll_totp, enroll_totp_with_passkey, member, pyotp, refused, register_passkey, sub_org,
    submit_with_passkey,
};
use twofold_client::Client;
use twofold_testkit::{
    Backend, TestServer, backends, completed, interop_installed, new_key, ok, run_node, status, user_with_key,
};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

fn id(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("`{key}` in {v}")).to_owned()
}

fn allow(root: &Client, name: &str, condition: &str, consensus: Option<&str>) {
    let mut params = json!({ "policyName": name, "effect": "EFFECT_ALLOW", "condition": condition, "notes": "" });
    if let Some(c) = consensus {
        params["consensus"] = json!(c);
    }
    completed(root.submit("create_policy", params), "createPolicyResult");
}

fn method(t: &str) -> Value {
    json!({ "type": format!("AUTHENTICATION_TYPE_{t}") })
}

/// Creates an MFA policy through `by`; returns its id.
fn mfa_policy(by: &Client, user_id: &str, name: &str, condition: &str, groups: Value, order: i64) -> String {
    let params = json!({ "userId": user_id, "mfaPolicyName": name, "condition": condition,
                         "requiredAuthenticationMethods": groups, "order": order });
    id(&completed(by.submit("create_mfa_policy", params), "createMfaPolicyResult"), "mfaPolicyId")
}

fn mfa_status(client: &Client, activity: &Value) -> Value {
    let statuses = ok(client.query("get_mfa_status", json!({ "activityId": activity["activity"]["id"] })));
    statuses["mfaStatuses"][0].clone()
}

fn fingerprint(activity: &Value) -> String {
    activity["activity"]["fingerprint"].as_str().expect("fingerprint").to_owned()
}

fn tag(client: &Client, name: &str) -> Value {
    ok(client.submit("create_user_tag", json!({ "userTagName": name, "userIds": [] })))
}

fn first_match_by_order(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let (alice_id, alice) = member(&server, &root, "alice");
    allow(&root, "tags", "activity.resource == 'USER'", None);
    let (mut soft, _, credential) = register_passkey(&server, &alice, &alice_id);
    let (uri, _) = enroll_totp_with_passkey(&server, &alice, &alice_id, &mut soft, &credential);

    // Created in shuffled order; all three match every activity.
    let by_totp = mfa_policy(&root, &alice_id, "totp", "true", json!([{ "any": [method("TOTP")] }]), 5);
    let by_passkey = mfa_policy(&root, &alice_id, "passkey", "true", json!([{ "any": [method("PASSKEY")] }]), 1);
    let by_code = mfa_policy(&root, &alice_id, "recovery", "true", json!([{ "any": [method("RECOVERY_CODE")] }]), 3);
    let listed = ok(root.query("get_mfa_policies", json!({ "userId": alice_id })));
    let orders: Vec<i64> =
        listed["mfaPolicies"].as_array().expect("list").iter().map(|p| p["order"].as_i64().expect("o")).collect();
    assert_eq!(orders, vec![1, 3, 5], "sorted by order: {listed}");

    let first = tag(&alice, "one");
    assert_eq!(status(&first), "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED", "{first}");
    // The initiator is the one to approve it (with the proof) or cancel it; no one else votes on it.
    assert_eq!((&first["activity"]["canApprove"], &first["activity"]["canReject"]), (&json!(true), &json!(true)));
    let id = first["activity"]["id"].as_str().expect("id");
    let seen = ok(root.query("get_activity", json!({ "activityId": id })));
    assert_eq!((&seen["activity"]["canApprove"], &seen["activity"]["canReject"]), (&json!(false), &json!(false)));
    let st = mfa_status(&alice, &first);
    assert_eq!(st["mfaPolicyId"], by_passkey.as_str(), "only the lowest order is enforced: {st}");
    assert_eq!(st["satisfied"], false);
    assert_eq!(st["requiredMethods"][0]["any"][0]["type"], "AUTHENTICATION_TYPE_PASSKEY");
    // A TOTP code does not satisfy the passkey step, and is not spent on it.
    let code = pyotp(&uri, 30);
    refused(
        approve_with(&alice, &fingerprint(&first), json!({ "totpCode": code })),
        400,
        "needs AUTHENTICATION_TYPE_PASSKEY",
    );
    let done = submit_with_passkey(
        &server,
        &alice,
        &mut soft,
        &credential,
        "approve_activity",
        json!({ "fingerprint": fingerprint(&first) }),
    );
    assert_eq!(status(&done.body), "ACTIVITY_STATUS_COMPLETED", "{}", done.body);
    assert_eq!(mfa_status(&alice, &first)["satisfied"], true);

    // Reordering changes the outcome: now the TOTP policy comes first.
    completed(
        root.submit("update_mfa_policy", json!({ "userId": alice_id, "mfaPolicyId": by_totp, "order": 0 })),
        "updateMfaPolicyResult",
    );
    let second = tag(&alice, "two");
    assert_eq!(mfa_status(&alice, &second)["mfaPolicyId"], by_totp.as_str());
    let done = approve_with(&alice, &fingerprint(&second), json!({ "totpCode": code }));
    assert_eq!(status(&done.body), "ACTIVITY_STATUS_COMPLETED", "the unspent code still works: {}", done.body);
    // Deleting it hands over to the next by order.
    completed(
        root.submit("delete_mfa_policy", json!({ "userId": alice_id, "mfaPolicyId": by_totp })),
        "deleteMfaPolicyResult",
    );
    completed(
        root.submit("delete_mfa_policy", json!({ "userId": alice_id, "mfaPolicyId": by_passkey })),
        "deleteMfaPolicyResult",
    );
    let third = tag(&alice, "three");
    assert_eq!(mfa_status(&alice, &third)["mfaPolicyId"], by_code.as_str());
    let missing = root.query("get_mfa_policy", json!({ "userId": alice_id, "mfaPolicyId": by_totp })).expect("sent");
    assert_eq!(missing.status, 404, "{}", missing.body);
}

#[test]
fn the_first_matching_mfa_policy_by_order_is_the_only_one_enforced() {
    for backend in backends() {
        first_match_by_order(backend);
    }
}

fn two_step_policy(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let (alice_id, alice) = member(&server, &root, "alice");
    let (victim_id, _) = member(&server, &root, "victim");
    allow(&root, "alice manages users and policies", "activity.resource in ['USER', 'POLICY']", None);
    let (mut soft, passkey_id, credential) = register_passkey(&server, &alice, &alice_id);
    // Further factors are bound proving the passkey (binding at the account's level).
    let (uri, _) = enroll_totp_with_passkey(&server, &alice, &alice_id, &mut soft, &credential);
    let codes = submit_with_passkey(
        &server,
        &alice,
        &mut soft,
        &credential,
        "create_recovery_codes",
        json!({ "userId": alice_id }),
    );
    let recovery = codes.body["activity"]["result"]["createRecoveryCodesResult"]["recoveryCodes"][0]
        .as_str()
        .expect("code")
        .to_owned();

    // A guarded condition is simply false for other activities (`&&` short-circuits): not
    // an error, not enforced. (An erroring one is enforced: e2e_fail_closed.)
    let guarded = mfa_policy(
        &root,
        &alice_id,
        "payouts",
        "activity.resource == 'PAYOUT' && activity.params.amount > 5",
        json!([{ "any": [method("TOTP")] }]),
        0,
    );
    // Scenario (a): passkey for policy changes; email-or-TOTP, then passkey, to delete users.
    mfa_policy(
        &root,
        &alice_id,
        "policies need a passkey",
        "activity.resource == 'POLICY'",
        json!([{ "any": [method("PASSKEY")] }]),
        1,
    );
    let delete_policy = mfa_policy(
        &root,
        &alice_id,
        "deleting users",
        "activity.type == 'ACTIVITY_TYPE_DELETE_USERS'",
        json!([{ "any": [method("EMAIL_OTP"), method("TOTP")] }, { "any": [{ "type": "AUTHENTICATION_TYPE_PASSKEY", "id": passkey_id }] }]),
        2,
    );

    let pending = ok(alice.submit("delete_users", json!({ "userIds": [victim_id] })));
    assert_eq!(status(&pending), "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED", "{pending}");
    let fp = fingerprint(&pending);
    let st = mfa_status(&alice, &pending);
    assert_eq!(st["mfaPolicyId"], delete_policy.as_str());
    assert_eq!(st["userId"], alice_id.as_str());
    assert_eq!(st["satisfied"], false);
    assert_eq!(st["satisfiedMethods"], json!([]), "an API key stamp is in neither step: {st}");
    assert_eq!(st["requiredMethods"].as_array().expect("groups").len(), 2);
    let evals =
        ok(root.query("get_policy_evaluations", json!({ "activityId": pending["activity"]["id"] }))).to_string();
    assert!(evals.contains("OUTCOME_REQUIRES_AUTHENTICATORS"), "{evals}");
    assert!(!evals.contains("OUTCOME_ERROR") && !evals.contains(&guarded), "{evals}");

    // The wrong factor for step 1 fails and changes nothing (the recovery code is not spent).
    let before = server.db.row_counts();
    let wrong =
        submit_with_passkey(&server, &alice, &mut soft, &credential, "approve_activity", json!({ "fingerprint": fp }));
    refused(wrong, 400, "step 1 of 2 needs AUTHENTICATION_TYPE_EMAIL_OTP or AUTHENTICATION_TYPE_TOTP");
    refused(
        approve_with(&alice, &fp, json!({ "recoveryCode": recovery })),
        400,
        "this approval proves AUTHENTICATION_TYPE_RECOVERY_CODE",
    );
    assert_eq!(server.db.row_counts(), before, "refused step-ups store nothing");
    assert_eq!(mfa_status(&alice, &pending)["satisfiedMethods"], json!([]));

    // Step 1 with TOTP.
    let step1 = approve_with(&alice, &fp, json!({ "totpCode": pyotp(&uri, 30) }));
    assert_eq!(status(&step1.body), "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED", "{}", step1.body);
    let st = mfa_status(&alice, &pending);
    assert_eq!(st["satisfied"], false);
    assert_eq!(st["satisfiedMethods"][0]["type"], "AUTHENTICATION_TYPE_TOTP", "{st}");
    // Resending the same approval is harmless; another TOTP approval does not fit step 2.
    let again = approve_with(&alice, &fp, json!({ "totpCode": pyotp(&uri, 60) }));
    refused(again, 400, "step 2 of 2 needs AUTHENTICATION_TYPE_PASSKEY");

    // Step 2 with the named passkey: now the policy engine runs and it executes.
    let step2 =
        submit_with_passkey(&server, &alice, &mut soft, &credential, "approve_activity", json!({ "fingerprint": fp }));
    assert_eq!(status(&step2.body), "ACTIVITY_STATUS_COMPLETED", "{}", step2.body);
    let st = mfa_status(&alice, &pending);
    assert_eq!(st["satisfied"], true);
    assert_eq!(st["satisfiedMethods"][1]["type"], "AUTHENTICATION_TYPE_PASSKEY");
    assert_eq!(st["satisfiedMethods"][1]["id"], passkey_id.as_str());
    let gone = root.query("get_user", json!({ "userId": victim_id })).expect("sent");
    assert_eq!(gone.status, 404, "executed: {}", gone.body);
    let late = approve_with(&alice, &fp, json!({}));
    refused(late, 400, "ACTIVITY_STATUS_COMPLETED");

    // Policy changes: a passkey-stamped request satisfies its own step at once; an API key does not.
    let params = json!({ "policyName": "p", "effect": "EFFECT_DENY", "condition": "false", "notes": "" });
    let by_passkey = submit_with_passkey(&server, &alice, &mut soft, &credential, "create_policy", params.clone());
    assert_eq!(status(&by_passkey.body), "ACTIVITY_STATUS_COMPLETED", "{}", by_passkey.body);
    let by_key = ok(alice.submit(
        "create_policy",
        json!({ "policyName": "q", "effect": "EFFECT_DENY", "condition": "false", "notes": "" }),
    ));
    assert_eq!(status(&by_key), "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED");
    // Other activities match no MFA policy and run at once.
    assert_eq!(status(&tag(&alice, "free")), "ACTIVITY_STATUS_COMPLETED");
}

#[test]
fn a_two_step_mfa_policy_is_walked_approval_by_approval() {
    for backend in backends() {
        two_step_policy(backend);
    }
}

/// A non-root user of `org` whose key the parent holds (delegated access).
fn delegated(server: &TestServer, owner: &Client, org: &str, name: &str) -> (String, Client) {
    let key = new_key();
    let created =
        completed(owner.submit("create_users", json!({ "users": [user_with_key(name, &key)] })), "createUsersResult");
    (created["userIds"][0].as_str().expect("id").to_owned(), server.client(key, org))
}

fn delegated_access_and_recovery(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();

    // S2: the parent enforces MFA on the sub-org's end user through a delegated user.
    let (org, owner_id, owner) = sub_org(&server, &root, "customer");
    let (uri, _) = enroll_totp(&owner, &owner_id);
    let (_, delegate) = delegated(&server, &owner, &org, "Delegated Access");
    allow(&owner, "delegated access manages MFA policies", "activity.resource == 'MFA_POLICY'", None);
    let policy_id = id(
        &completed(
            delegate.submit(
                "create_mfa_policy",
                json!({ "userId": owner_id, "mfaPolicyName": "MFA for everything", "condition": "true",
                        "requiredAuthenticationMethods": [{ "any": [{ "type": "AUTHENTICATION_TYPE_TOTP" }] }],
                        "order": 1 }),
            ),
            "createMfaPolicyResult",
        ),
        "mfaPolicyId",
    );
    let denied = ok(delegate.submit("create_users", json!({ "users": [{ "userName": "intruder" }] })));
    assert_eq!(status(&denied), "ACTIVITY_STATUS_FAILED", "anything else is denied: {denied}");
    let gated = tag(&owner, "gated");
    assert_eq!(status(&gated), "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED", "{gated}");
    let passed = approve_with(&owner, &fingerprint(&gated), json!({ "totpCode": pyotp(&uri, 30) }));
    assert_eq!(status(&passed.body), "ACTIVITY_STATUS_COMPLETED", "{}", passed.body);

    // S3, single party: the owner lost the device; the delegate deletes the MFA policy.
    let locked = tag(&owner, "locked out");
    assert_eq!(status(&locked), "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED");
    completed(
        delegate.submit("delete_mfa_policy", json!({ "userId": owner_id, "mfaPolicyId": policy_id })),
        "deleteMfaPolicyResult",
    );
    assert_eq!(status(&tag(&owner, "free again")), "ACTIVITY_STATUS_COMPLETED");

    // S3, quorum: two delegates held by different parties; deleting needs both.
    let (org2, owner2_id, owner2) = sub_org(&server, &root, "careful customer");
    let (_, d1) = delegated(&server, &owner2, &org2, "delegate one");
    let (d2_id, d2) = delegated(&server, &owner2, &org2, "delegate two");
    // The second delegate's own MFA policy: their approval counts only once it is met.
    let (d2_uri, _) = enroll_totp(&d2, &d2_id);
    mfa_policy(
        &owner2,
        &d2_id,
        "delegate two proves TOTP",
        "activity.resource == 'MFA_POLICY'",
        json!([{ "any": [method("TOTP")] }]),
        0,
    );
    allow(
        &owner2,
        "delegates add MFA policies",
        "activity.resource == 'MFA_POLICY' && activity.action == 'CREATE'",
        None,
    );
    allow(
        &owner2,
        "two delegates delete MFA policies",
        "activity.resource == 'MFA_POLICY' && activity.action == 'DELETE'",
        Some("approvers.count() >= 2"),
    );
    let locking = mfa_policy(&d1, &owner2_id, "lock", "true", json!([{ "any": [method("PASSKEY")] }]), 0);
    assert_eq!(status(&tag(&owner2, "x")), "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED");
    let proposal = ok(d1.submit("delete_mfa_policy", json!({ "userId": owner2_id, "mfaPolicyId": locking })));
    assert_eq!(status(&proposal), "ACTIVITY_STATUS_CONSENSUS_NEEDED", "{proposal}");
    let approved = ok(d2.submit("approve_activity", json!({ "fingerprint": fingerprint(&proposal) })));
    assert_eq!(status(&approved), "ACTIVITY_STATUS_CONSENSUS_NEEDED", "not counted before d2's MFA: {approved}");
    let statuses = ok(d1.query("get_mfa_status", json!({ "activityId": proposal["activity"]["id"], "userId": d2_id })));
    assert_eq!(statuses["mfaStatuses"][0]["satisfied"], false, "{statuses}");
    let approved = approve_with(&d2, &fingerprint(&proposal), json!({ "totpCode": pyotp(&d2_uri, 30) }));
    assert_eq!(status(&approved.body), "ACTIVITY_STATUS_COMPLETED", "{}", approved.body);
    let policies = ok(owner2.query("get_mfa_policies", json!({ "userId": owner2_id })));
    assert_eq!(policies["mfaPolicies"], json!([]), "deleted once");
    assert_eq!(status(&tag(&owner2, "y")), "ACTIVITY_STATUS_COMPLETED");
}

#[test]
fn delegated_access_enforces_mfa_and_recovery_works_alone_or_by_quorum() {
    for backend in backends() {
        delegated_access_and_recovery(backend);
    }
}

#[test]
fn malformed_mfa_policies_get_clear_errors() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let (alice_id, _) = member(&server, &root, "alice");
    let before = server.db.row_counts();
    let submit = |params: Value| root.submit("create_mfa_policy", params).expect("sent");
    let base = json!({ "userId": alice_id, "mfaPolicyName": "n", "condition": "true",
                       "requiredAuthenticationMethods": [{ "any": [method("TOTP")] }], "order": 0 });
    let with = |key: &str, value: Value| {
        let mut p = base.clone();
        p[key] = value;
        p
    };
    refused(submit(with("order", json!(-1))), 400, "parameters.order");
    refused(submit(with("order", json!("first"))), 400, "parameters.order");
    refused(submit(with("condition", json!("activity.type =="))), 400, "parameters.condition");
    refused(submit(with("condition", json!(""))), 400, "parameters.condition");
    refused(submit(with("requiredAuthenticationMethods", json!([]))), 400, "requiredAuthenticationMethods");
    refused(
        submit(with("requiredAuthenticationMethods", json!([{ "any": [] }]))),
        400,
        "requiredAuthenticationMethods[0].any",
    );
    refused(
        submit(with(
            "requiredAuthenticationMethods",
            json!([{ "any": [{ "type": "AUTHENTICATION_TYPE_CARRIER_PIGEON" }] }]),
        )),
        400,
        "unknown variant",
    );
    refused(submit(with("requiredAuthenticationMethods", json!([{ "any": [method("OAUTH")] }]))), 400, "OAuth");
    refused(submit(with("mfaPolicyName", json!("   "))), 400, "mfaPolicyName");
    assert_eq!(server.db.row_counts(), before, "nothing stored");
    let unknown_user = ok(root.submit("create_mfa_policy", with("userId", json!("nobody"))));
    assert_eq!(status(&unknown_user), "ACTIVITY_STATUS_FAILED");
    let status_of_nothing = root.query("get_mfa_status", json!({ "activityId": "nope" })).expect("sent");
    assert_eq!(status_of_nothing.status, 404);
    let no_field = root.query("get_mfa_policies", json!({})).expect("sent");
    refused(no_field, 400, "userId");
}

#[test]
fn turnkeys_http_client_drives_mfa_policies_status_and_session_profiles() {
    if !interop_installed() {
        return;
    }
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let key_path = server.root_key_path().display().to_string();
    let r = run_node("mfa-sdk.mjs", &[&server.url, &key_path]);
    let types = twofold_testkit::check_sdk_types(&r["calls"]);
    let errors: Vec<String> =
        types["errors"].as_array().expect("errors").iter().map(|e| e.to_string().chars().take(300).collect()).collect();
    assert!(errors.is_empty(), "answers that differ from @turnkey/http's types: {errors:#?}");
    assert_eq!(r["policies"][0]["mfaPolicyId"], r["mfaPolicyId"], "{r}");
    assert_eq!(r["policies"][0]["requiredAuthenticationMethods"][1]["any"][1]["type"], "AUTHENTICATION_TYPE_SESSION");
    assert_eq!(r["pendingStatus"], "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED", "{r}");
    assert_eq!(r["before"][0]["satisfied"], false);
    assert_eq!(r["before"][0]["satisfiedMethods"][0]["type"], "AUTHENTICATION_TYPE_API_KEY");
    assert_eq!(r["approvedStatus"], "ACTIVITY_STATUS_COMPLETED", "{r}\n{}", server.log());
    assert_eq!(r["after"][0]["satisfied"], true);
    assert_eq!(r["profiles"][0]["sessionProfileId"], r["profileId"]);
    assert_eq!(r["profiles"][0]["expirationSeconds"], "600");
}
