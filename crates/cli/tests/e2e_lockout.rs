//! An administrator cannot lock itself out by accident (issue 16.10): an MFA enforcement
//! rule that would block the caller at once (required, no grace, no factor) needs
//! `confirmLockout: true`; without it a 400 explains what to do and nothing is stored,
//! with it the rule applies, and the refusal a blocked user then gets names both the
//! console page and the API activities that enroll.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

use serde_json::json;
use support::{enroll_totp, member, refused};
use twofold_testkit::{Backend, TestServer, completed, ok, on_every_backend};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

fn required(confirm: Option<bool>) -> serde_json::Value {
    let mut p = json!({ "scope": "MFA_ENFORCEMENT_SCOPE_ORGANIZATION", "value": "MFA_ENFORCEMENT_REQUIRED",
                        "gracePeriodDays": 0 });
    if let Some(c) = confirm {
        p["confirmLockout"] = json!(c);
    }
    p
}

fn a_rule_that_would_block_the_caller_needs_confirm_lockout(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let (_, alice) = member(&server, &root, "alice");
    let before = server.db.row_counts();

    for confirm in [None, Some(false)] {
        let resp = root.submit("set_mfa_enforcement", required(confirm)).expect("sent");
        refused(resp, 400, "confirmLockout: true");
    }
    let resp = root.submit("set_mfa_enforcement", required(None)).expect("sent");
    let msg = resp.body["message"].as_str().expect("message");
    assert!(msg.contains("would block you") && msg.contains("create_totp_authenticator"), "{msg}");
    assert_eq!(server.db.row_counts(), before, "a refused change stores nothing");
    assert_eq!(ok(alice.query("get_whoami", json!({})))["mfaEnrollment"]["required"], false, "the rule was not saved");
    // A grace period does not block anyone at once.
    let graced = json!({ "scope": "MFA_ENFORCEMENT_SCOPE_ORGANIZATION", "value": "MFA_ENFORCEMENT_REQUIRED",
                         "gracePeriodDays": 7 });
    completed(root.submit("set_mfa_enforcement", graced), "setMfaEnforcementResult");

    // With confirmLockout the rule applies at once, to the caller too.
    completed(root.submit("set_mfa_enforcement", required(Some(true))), "setMfaEnforcementResult");
    let blocked = root.query("list_users", json!({})).expect("sent");
    assert_eq!(blocked.status, 403, "{}", blocked.body);
    let msg = blocked.body["message"].as_str().expect("message");
    for needle in ["/security-clearance/setup-2fa", "create_authenticators", "create_totp_authenticator"] {
        assert!(msg.contains(needle), "the refusal names `{needle}`: {msg}");
    }
}

on_every_backend!(
    a_rule_that_would_block_the_caller_needs_confirm_lockout_sqlite,
    a_rule_that_would_block_the_caller_needs_confirm_lockout_postgres,
    a_rule_that_would_block_the_caller_needs_confirm_lockout
);

#[test]
fn an_enrolled_caller_sets_a_strict_rule_without_confirming() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let root_id = ok(root.query("get_whoami", json!({})))["userId"].as_str().expect("id").to_owned();
    enroll_totp(&root, &root_id);
    completed(root.submit("set_mfa_enforcement", required(None)), "setMfaEnforcementResult");
    ok(root.query("list_users", json!({})));
}
