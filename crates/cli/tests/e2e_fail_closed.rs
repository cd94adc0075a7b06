//! End-to-end fail-closed policy evaluation (issue 16, "Step-up fails open" and "Fail
//! closed, with guards that work"), and the initiator's cancellation of its own pending
//! activity — on SQLite and PostgreSQL.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

use serde_json::{Value, json};
use support::{approve_with, enroll_totp, member, pyotp, refused};
use twofold_client::Client;
use twofold_testkit::{TestServer, completed, ok, on_every_backend, status};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

/// The guard from the issue: only payouts above 10 000 need TOTP.
const PAYOUT_GUARD: &str = "activity.resource == 'PAYOUT' && activity.params.amount > 10000";

fn policy(root: &Client, name: &str, effect: &str, condition: &str, consensus: Option<&str>) -> String {
    let mut p = json!({ "policyName": name, "effect": effect, "condition": condition, "notes": "" });
    if let Some(c) = consensus {
        p["consensus"] = json!(c);
    }
    completed(root.submit("create_policy", p), "createPolicyResult")["policyId"].as_str().expect("id").to_owned()
}

fn payout(client: &Client, payload: Value) -> Value {
    ok(client.submit("create_app_activity", json!({ "resource": "PAYOUT", "action": "CREATE", "payload": payload })))
}

fn tag(client: &Client, name: &str) -> Value {
    ok(client.submit("create_user_tag", json!({ "userTagName": name, "userIds": [] })))
}

fn fingerprint(activity: &Value) -> String {
    activity["activity"]["fingerprint"].as_str().expect("fingerprint").to_owned()
}

fn evaluations(client: &Client, activity: &Value) -> String {
    ok(client.query("get_policy_evaluations", json!({ "activityId": activity["activity"]["id"] }))).to_string()
}

fn failure(activity: &Value) -> String {
    activity["activity"]["failure"].to_string()
}

fn erroring_mfa_condition_fails_closed(backend: twofold_testkit::Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let (alice_id, alice) = member(&server, &root, "alice");
    policy(&root, "payouts and tags", "EFFECT_ALLOW", "activity.resource in ['PAYOUT', 'USER']", None);
    let (uri, _) = enroll_totp(&alice, &alice_id);
    let params = json!({ "userId": alice_id, "mfaPolicyName": "large payouts need TOTP", "condition": PAYOUT_GUARD,
                         "requiredAuthenticationMethods": [{ "any": [{ "type": "AUTHENTICATION_TYPE_TOTP" }] }],
                         "order": 1 });
    let mfa_id = completed(root.submit("create_mfa_policy", params), "createMfaPolicyResult")["mfaPolicyId"]
        .as_str()
        .expect("id")
        .to_owned();

    // The guard holds: held for TOTP, no error anywhere.
    let large = payout(&alice, json!({ "amount": 25000 }));
    assert_eq!(status(&large), "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED", "{large}");
    // The condition errors (a string compared with an int; a field the payload lacks):
    // that fails closed — the MFA policy applies and its TOTP is required.
    let cases = [
        (json!({ "amount": "25000" }), "cannot compare string with int"),
        (json!({ "amt": 25000 }), "missing field `amount`"),
    ];
    for (payload, why) in cases {
        let held = payout(&alice, payload.clone());
        assert_eq!(status(&held), "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED", "{payload}: {held}");
        let st = ok(alice.query("get_mfa_status", json!({ "activityId": held["activity"]["id"] })));
        let st = &st["mfaStatuses"][0];
        assert_eq!(st["mfaPolicyId"], mfa_id.as_str(), "{st}");
        assert_eq!(st["satisfied"], false, "{st}");
        let reason = st["reason"].as_str().unwrap_or_else(|| panic!("get_mfa_status says why: {st}"));
        assert!(reason.contains(why) && reason.contains("fail closed"), "{reason}");
        let evals = evaluations(&root, &held);
        assert!(evals.contains(&mfa_id) && evals.contains(why), "get_policy_evaluations says why: {evals}");
        assert!(evals.contains("OUTCOME_REQUIRES_AUTHENTICATORS"), "{evals}");
    }
    // The held payout runs once its TOTP is proven.
    let string_amount = payout(&alice, json!({ "amount": "30000" }));
    let done = approve_with(&alice, &fingerprint(&string_amount), json!({ "totpCode": pyotp(&uri, 30) }));
    assert_eq!(status(&done.body), "ACTIVITY_STATUS_COMPLETED", "{}", done.body);

    // Not a payout: the guard is simply false (`&&` short-circuits), nothing errors.
    let other = tag(&alice, "not-a-payout");
    assert_eq!(status(&other), "ACTIVITY_STATUS_COMPLETED", "{other}");
    let evals = evaluations(&root, &other);
    assert!(!evals.contains("OUTCOME_ERROR") && !evals.contains(&mfa_id), "{evals}");
    let small = payout(&alice, json!({ "amount": 5 }));
    assert_eq!(status(&small), "ACTIVITY_STATUS_COMPLETED", "{small}");
}

on_every_backend!(
    erroring_mfa_condition_fails_closed_and_holds_the_payout_on_sqlite,
    erroring_mfa_condition_fails_closed_and_holds_the_payout_on_postgres,
    erroring_mfa_condition_fails_closed
);

fn erroring_allow_and_deny(backend: twofold_testkit::Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let (_, bob) = member(&server, &root, "bob");

    // An ALLOW whose condition errors allows nothing, and says why.
    let unguarded = policy(&root, "amount gate", "EFFECT_ALLOW", "activity.params.amount > 5", None);
    let refused_tag = tag(&bob, "no-amount");
    assert_eq!(status(&refused_tag), "ACTIVITY_STATUS_FAILED", "{refused_tag}");
    let why = failure(&refused_tag);
    assert!(why.contains(&unguarded) && why.contains("missing field `amount`"), "{why}");
    assert!(why.contains("allows nothing"), "{why}");
    // An ALLOW whose consensus errors allows nothing either.
    completed(root.submit("delete_policy", json!({ "policyId": unguarded })), "deletePolicyResult");
    let consensus =
        policy(&root, "odd consensus", "EFFECT_ALLOW", "activity.resource == 'USER'", Some("approvers[3].id == 'x'"));
    let refused_again = tag(&bob, "bad-consensus");
    assert_eq!(status(&refused_again), "ACTIVITY_STATUS_FAILED", "{refused_again}");
    let why = failure(&refused_again);
    assert!(why.contains(&consensus) && why.contains("consensus:") && why.contains("allows nothing"), "{why}");
    completed(root.submit("delete_policy", json!({ "policyId": consensus })), "deletePolicyResult");

    // A DENY whose condition errors denies, although an ALLOW applies.
    policy(&root, "bob manages tags", "EFFECT_ALLOW", "activity.resource == 'USER'", None);
    assert_eq!(status(&tag(&bob, "allowed")), "ACTIVITY_STATUS_COMPLETED");
    let deny = policy(&root, "no large ones", "EFFECT_DENY", "activity.params.size > 10", None);
    let before = server.db.row_counts();
    let denied = tag(&bob, "denied");
    assert_eq!(status(&denied), "ACTIVITY_STATUS_FAILED", "{denied}");
    let why = failure(&denied);
    assert!(why.contains(&format!("denied by policy `{deny}`")) && why.contains("missing field `size`"), "{why}");
    let tags = ok(root.query("list_user_tags", json!({})));
    assert!(!tags.to_string().contains("\"denied\""), "not executed: {tags}");
    let after = server.db.row_counts();
    let count = |rows: &[(String, i64)], t: &str| rows.iter().find(|(n, _)| n == t).map(|(_, c)| *c);
    assert_eq!(count(&after, "user_tags"), count(&before, "user_tags"), "no tag stored");
    // Guarded, the same DENY is simply not applicable.
    completed(root.submit("delete_policy", json!({ "policyId": deny })), "deletePolicyResult");
    policy(
        &root,
        "no large payouts",
        "EFFECT_DENY",
        "activity.resource == 'PAYOUT' && activity.params.size > 10",
        None,
    );
    assert_eq!(status(&tag(&bob, "guarded")), "ACTIVITY_STATUS_COMPLETED");
}

on_every_backend!(
    erroring_allow_allows_nothing_and_erroring_deny_denies_on_sqlite,
    erroring_allow_allows_nothing_and_erroring_deny_denies_on_postgres,
    erroring_allow_and_deny
);

fn reject(client: &Client, fp: &str) -> twofold_client::ApiResponse {
    client.submit("reject_activity", json!({ "fingerprint": fp })).expect("sent")
}

fn initiator_cancels(backend: twofold_testkit::Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let (alice_id, alice) = member(&server, &root, "alice");
    let (_, bob) = member(&server, &root, "bob");
    let (_, carol) = member(&server, &root, "carol");
    policy(&root, "users need three", "EFFECT_ALLOW", "activity.resource == 'USER'", Some("approvers.count() >= 3"));

    // Waiting for consensus: the initiator cancels, it is REJECTED at once and audited.
    let pending = ok(alice.submit("create_users", json!({ "users": [{ "userName": "mallory" }] })));
    assert_eq!(status(&pending), "ACTIVITY_STATUS_CONSENSUS_NEEDED", "{pending}");
    let fp = fingerprint(&pending);
    let cancelled = reject(&alice, &fp);
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(status(&cancelled.body), "ACTIVITY_STATUS_REJECTED", "{}", cancelled.body);
    assert!(cancelled.body.to_string().contains("cancelled by its initiator"), "{}", cancelled.body);
    let resent = reject(&alice, &fp);
    assert_eq!(resent.status, 200, "a repeated cancellation changes nothing: {}", resent.body);
    assert_eq!(status(&resent.body), "ACTIVITY_STATUS_REJECTED");
    refused(approve_with(&bob, &fp, json!({})), 400, "ACTIVITY_STATUS_REJECTED");
    let audit = ok(root.query("list_audit_events", json!({}))).to_string();
    assert!(audit.contains("CANCELLED") && audit.contains(&alice_id), "{audit}");
    let users = ok(root.query("list_users", json!({}))).to_string();
    assert!(!users.contains("mallory"), "never executed: {users}");

    // A voter who is not the initiator and already voted still gets 409.
    let second = ok(alice.submit("create_users", json!({ "users": [{ "userName": "trent" }] })));
    let fp2 = fingerprint(&second);
    assert_eq!(status(&approve_with(&bob, &fp2, json!({})).body), "ACTIVITY_STATUS_CONSENSUS_NEEDED");
    let again = reject(&bob, &fp2);
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body["message"].as_str().expect("m").contains("already voted"), "{}", again.body);
    // A completed activity cannot be cancelled.
    let done = approve_with(&carol, &fp2, json!({}));
    assert_eq!(status(&done.body), "ACTIVITY_STATUS_COMPLETED", "{}", done.body);
    refused(reject(&alice, &fp2), 400, "ACTIVITY_STATUS_COMPLETED");

    // Waiting for the initiator's own step-up: cancelled the same way.
    let (_uri, _) = enroll_totp(&alice, &alice_id);
    let params = json!({ "userId": alice_id, "mfaPolicyName": "tags need TOTP",
                         "condition": "activity.type == 'ACTIVITY_TYPE_CREATE_USER_TAG'",
                         "requiredAuthenticationMethods": [{ "any": [{ "type": "AUTHENTICATION_TYPE_TOTP" }] }],
                         "order": 1 });
    completed(root.submit("create_mfa_policy", params), "createMfaPolicyResult");
    let held = tag(&alice, "held");
    assert_eq!(status(&held), "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED", "{held}");
    let cancelled = reject(&alice, &fingerprint(&held));
    assert_eq!(status(&cancelled.body), "ACTIVITY_STATUS_REJECTED", "{}", cancelled.body);
}

on_every_backend!(
    initiator_can_cancel_its_own_pending_activity_on_sqlite,
    initiator_can_cancel_its_own_pending_activity_on_postgres,
    initiator_cancels
);
