//! The README's policy examples run as written (issue 16.9): the conditions and consensus
//! expressions below are read out of README.md (the test fails if the text drifts), then
//! used against the real binary. The step-up example holds under attack: a user with no
//! MFA policy cannot use "alice manages policies" to create an allow-all policy or delete
//! alice.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

use serde_json::json;
use support::{approve_with, enroll_totp, member, pyotp};
use twofold_testkit::{Backend, TestServer, completed, ok, on_every_backend, status};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");
const CREATES_USERS: &str = "activity.resource == 'USER' && activity.action == 'CREATE'";
const CREATES_USERS_CONSENSUS: &str = "approvers.any(u, u.id == '<alice>')";
const POLICIES: &str = "activity.resource == 'POLICY'";
const POLICIES_CONSENSUS: &str = "approvers.any(user, user.id == '<alice>')";

/// README.md with the shell's `'"'"'` quoting undone, as a reader types the JSON.
fn readme() -> String {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).expect("README.md");
    text.replace("'\"'\"'", "'")
}

fn readme_policy_examples_run_as_written(backend: Backend) {
    let text = readme();
    for (field, expr) in [
        ("condition", CREATES_USERS),
        ("consensus", CREATES_USERS_CONSENSUS),
        ("condition", POLICIES),
        ("consensus", POLICIES_CONSENSUS),
    ] {
        let quoted = [format!("\"{field}\": \"{expr}\""), format!("\"{field}\":\"{expr}\"")];
        assert!(quoted.iter().any(|q| text.contains(q.as_str())), "README.md no longer shows {field} `{expr}`");
    }

    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let (alice_id, alice) = member(&server, &root, "alice");
    let (_, bob) = member(&server, &root, "bob");
    let allow = |name: &str, condition: &str, consensus: &str| {
        let consensus = consensus.replace("<alice>", &alice_id);
        completed(
            root.submit(
                "create_policy",
                json!({ "policyName": name, "effect": "EFFECT_ALLOW", "condition": condition,
                        "consensus": consensus, "notes": "" }),
            ),
            "createPolicyResult",
        );
    };
    allow("alice creates users", CREATES_USERS, CREATES_USERS_CONSENSUS);
    let by_alice = ok(alice.submit("create_users", json!({ "users": [{ "userName": "carol" }] })));
    assert_eq!(status(&by_alice), "ACTIVITY_STATUS_COMPLETED", "{by_alice}");

    let (uri, _) = enroll_totp(&alice, &alice_id);
    allow("alice manages policies", POLICIES, POLICIES_CONSENSUS);
    completed(
        root.submit(
            "create_mfa_policy",
            json!({ "userId": alice_id, "mfaPolicyName": "policies need TOTP", "condition": POLICIES,
                    "requiredAuthenticationMethods": [{ "any": [{ "type": "AUTHENTICATION_TYPE_TOTP" }] }],
                    "order": 0 }),
        ),
        "createMfaPolicyResult",
    );
    let allow_all = json!({ "policyName": "everything", "effect": "EFFECT_ALLOW", "condition": "true", "notes": "" });
    let harmless = json!({ "policyName": "alice's", "effect": "EFFECT_ALLOW", "condition": "false", "notes": "" });
    let held = ok(alice.submit("create_policy", harmless));
    assert_eq!(status(&held), "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED", "{held}");
    let fp = held["activity"]["fingerprint"].as_str().expect("fp").to_owned();
    let proved = approve_with(&alice, &fp, json!({ "totpCode": pyotp(&uri, 30) }));
    assert_eq!(status(&proved.body), "ACTIVITY_STATUS_COMPLETED", "{}", proved.body);

    // The attack: bob has no MFA policy; the README's policy must not let him manage policies.
    let mut bobs = allow_all.clone();
    bobs["policyName"] = json!("bob's everything");
    let tried = ok(bob.submit("create_policy", bobs));
    assert_ne!(status(&tried), "ACTIVITY_STATUS_COMPLETED", "bob created an allow-all policy: {tried}");
    let policies = ok(root.query("list_policies", json!({})));
    assert!(!policies.to_string().contains("bob's everything"), "{policies}");
    let delete = bob.submit("delete_users", json!({ "userIds": [alice_id] })).expect("sent");
    assert_ne!(delete.body["activity"]["status"], "ACTIVITY_STATUS_COMPLETED", "{}", delete.body);
    let users = ok(root.query("list_users", json!({})));
    assert!(users.to_string().contains(&alice_id), "alice is still there: {users}");
}

on_every_backend!(
    readme_policy_examples_run_as_written_sqlite,
    readme_policy_examples_run_as_written_postgres,
    readme_policy_examples_run_as_written
);

/// The README's first screen says how to serve elsewhere than 8080 and point the CLI there,
/// and its error example is what the server answers today, word for word.
#[test]
fn readme_error_example_and_first_screen_match_the_server() {
    let text = readme();
    let first_screen: String = text.lines().take(30).collect::<Vec<_>>().join("\n");
    assert!(first_screen.contains("--listen") && first_screen.contains("TWOFOLD_URL"), "{first_screen}");
    assert!(text.contains("next code"), "the approve step says to use the next TOTP code");

    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let refused = root.submit("create_users", json!({ "users": [{ "userEmail": "a@example.com" }] })).expect("sent");
    assert_eq!(refused.status, 400, "{}", refused.body);
    let shown = format!(
        "{{\"code\": {}, \"message\": \"{}\", \"details\": []}}",
        refused.body["code"],
        refused.body["message"].as_str().expect("message")
    );
    assert!(text.contains(&shown), "README.md should show the error as the server says it: {shown}");
}
