//! End-to-end: the dry run (`query/evaluate_activity`) answers what the real submission then
//! does, for every outcome — allowed, denied by policy, held for consensus, held for the
//! initiator's step-up MFA, refused by the session's scope, by MFA enforcement and by the IP
//! rules — because both go through the same stages and the same judgement. Each row asks
//! first, then submits the very same activity and compares.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

use serde_json::{Value, json};
use support::{enroll_totp, member};
use twofold_client::{ApiResponse, Client};
use twofold_testkit::{Backend, TestServer, completed, new_key, ok};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

/// What a real submission came to: the dry run's decision name, and the refusal message or
/// the failure reason.
fn real_outcome(resp: &ApiResponse) -> (&'static str, String) {
    let message = resp.body["message"].as_str().unwrap_or_default().to_owned();
    if resp.status != 200 {
        assert_eq!(resp.status, 403, "a refusal is a 403: {}", resp.body);
        return ("DECISION_DENY", message);
    }
    let activity = &resp.body["activity"];
    let failure = activity["failure"]["message"].as_str().unwrap_or_default().to_owned();
    let decision = match activity["status"].as_str().expect("status") {
        "ACTIVITY_STATUS_COMPLETED" => "DECISION_ALLOW",
        "ACTIVITY_STATUS_FAILED" => "DECISION_DENY",
        "ACTIVITY_STATUS_CONSENSUS_NEEDED" => "DECISION_CONSENSUS_NEEDED",
        "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED" => "DECISION_AUTHENTICATORS_NEEDED",
        other => panic!("unexpected status {other}"),
    };
    (decision, failure)
}

/// One row: `asker` dry-runs `activity` for `user_id` (itself when `None`) from `ip`, then
/// `submitter` submits it from the same address; both must agree, on `stage` too.
#[allow(clippy::too_many_arguments, reason = "one table row")]
fn row(
    label: &str,
    asker: &Client,
    user_id: Option<&str>,
    submitter: &Client,
    ip: &str,
    endpoint: &str,
    activity_type: &str,
    parameters: Value,
    expected: (&str, &str),
) {
    let mut ask = json!({ "activity": { "type": activity_type, "parameters": parameters }, "clientIp": ip });
    if let Some(user) = user_id {
        ask["userId"] = json!(user);
    }
    let dry = ok(asker.query("evaluate_activity", ask));
    assert_eq!(
        (dry["decision"].as_str().expect("decision"), dry["stage"].as_str().expect("stage")),
        expected,
        "{label}: dry run {dry}"
    );

    let body = submitter.submit_body(endpoint, json!({ "parameters": parameters })).expect("body").to_string();
    let headers = [("X-Stamp", submitter.key().stamp(body.as_bytes())), ("X-Forwarded-For", ip.to_owned())];
    let real =
        submitter.post_with_headers(&format!("/public/v1/submit/{endpoint}"), body.as_bytes(), &headers).expect("sent");
    let (decision, why) = real_outcome(&real);
    assert_eq!(decision, expected.0, "{label}: the real submission {}", real.body);
    let reason = dry["reason"].as_str().expect("reason");
    if expected.0 == "DECISION_DENY" {
        assert!(
            !why.is_empty() && reason.contains(&why),
            "{label}: the dry run says `{reason}`, the submission `{why}`"
        );
    }
}

#[test]
fn the_dry_run_agrees_with_the_real_submission_on_every_outcome() {
    let server = TestServer::start(BIN, Backend::Sqlite, &["--trusted-proxies", "127.0.0.1/32,::1/128"]);
    let root = server.root_client();
    let root_id = ok(root.query("get_whoami", json!({})))["userId"].as_str().expect("root").to_owned();
    let (member_id, member_client) = member(&server, &root, "member");
    const HOME: &str = "198.51.100.7";
    let app = |resource: &str| json!({ "resource": resource, "action": "CREATE", "payload": {} });
    let app_type = "ACTIVITY_TYPE_CREATE_APP_ACTIVITY";

    // Allowed: the root quorum (of one) approves by submitting.
    row(
        "root quorum",
        &root,
        None,
        &root,
        HOME,
        "create_app_activity",
        app_type,
        app("REPORT"),
        ("DECISION_ALLOW", "POLICY"),
    );
    // Denied: no policy lets the member do it (implicit deny).
    row(
        "implicit deny",
        &root,
        Some(&member_id),
        &member_client,
        HOME,
        "create_app_activity",
        app_type,
        app("REPORT"),
        ("DECISION_DENY", "POLICY"),
    );
    // Held for consensus: a policy lets members do it with two approvals.
    completed(
        root.submit(
            "create_policy",
            json!({ "policyName": "two for payroll", "effect": "EFFECT_ALLOW", "notes": "",
            "condition": "activity.resource == 'PAYROLL'", "consensus": "approvers.count() >= 2" }),
        ),
        "createPolicyResult",
    );
    row(
        "consensus",
        &member_client,
        None,
        &member_client,
        HOME,
        "create_app_activity",
        app_type,
        app("PAYROLL"),
        ("DECISION_CONSENSUS_NEEDED", "POLICY"),
    );
    // Held for the initiator's step-up: an MFA policy asks the member for a TOTP code first.
    enroll_totp(&member_client, &member_id);
    completed(
        root.submit(
            "create_mfa_policy",
            json!({ "userId": member_id, "mfaPolicyName": "payouts", "order": 0,
            "condition": "activity.resource == 'PAYOUT'",
            "requiredAuthenticationMethods": [{ "any": [{ "type": "AUTHENTICATION_TYPE_TOTP" }] }] }),
        ),
        "createMfaPolicyResult",
    );
    row(
        "step-up",
        &root,
        Some(&member_id),
        &member_client,
        HOME,
        "create_app_activity",
        app_type,
        app("PAYOUT"),
        ("DECISION_AUTHENTICATORS_NEEDED", "MFA_POLICY"),
    );

    // Refused by the session's scope: the root's session may only update users (and ask the dry run).
    let profile = completed(
        root.submit(
            "create_session_profile",
            json!({ "sessionProfileName": "user editor",
            "scope": "(activity.resource == 'USER' && activity.action == 'UPDATE') \
                      || activity.type == 'QUERY_EVALUATE_ACTIVITY'" }),
        ),
        "createSessionProfileResult",
    )["sessionProfileId"]
        .as_str()
        .expect("profile")
        .to_owned();
    let session_key = new_key();
    completed(
        root.submit("stamp_login", json!({ "publicKey": session_key.public_key_hex(), "sessionProfileId": profile })),
        "stampLoginResult",
    );
    let session = server.client(session_key, root.organization_id());
    row(
        "session scope",
        &session,
        None,
        &session,
        HOME,
        "create_app_activity",
        app_type,
        app("REPORT"),
        ("DECISION_DENY", "SESSION_SCOPE"),
    );
    row(
        "inside the scope",
        &session,
        None,
        &session,
        HOME,
        "update_user",
        "ACTIVITY_TYPE_UPDATE_USER",
        json!({ "userId": member_id, "userName": "renamed member" }),
        ("DECISION_ALLOW", "POLICY"),
    );

    // Refused by the IP rules: the organization allows only its office network.
    let office = "203.0.113.5";
    completed(
        root.submit("set_ip_allowlist", json!({ "rules": [{ "cidr": "203.0.113.0/24" }, { "cidr": "127.0.0.1/32" }] })),
        "setIpAllowlistResult",
    );
    row(
        "IP rules",
        &root,
        None,
        &root,
        HOME,
        "create_app_activity",
        app_type,
        app("REPORT"),
        ("DECISION_DENY", "IP_RULES"),
    );
    row(
        "from the office",
        &root,
        None,
        &root,
        office,
        "create_app_activity",
        app_type,
        app("REPORT"),
        ("DECISION_ALLOW", "POLICY"),
    );

    // Refused by MFA enforcement: required at once, and a new member has no factor.
    enroll_totp(&root, &root_id);
    completed(
        root.submit(
            "set_mfa_enforcement",
            json!({ "scope": "MFA_ENFORCEMENT_SCOPE_ORGANIZATION",
            "value": "MFA_ENFORCEMENT_REQUIRED", "gracePeriodDays": 0 }),
        ),
        "setMfaEnforcementResult",
    );
    let (newcomer_id, newcomer) = member(&server, &root, "newcomer");
    row(
        "enforcement",
        &root,
        Some(&newcomer_id),
        &newcomer,
        office,
        "create_app_activity",
        app_type,
        app("REPORT"),
        ("DECISION_DENY", "MFA_ENFORCEMENT"),
    );
}
