//! End-to-end: every query's real answers, success and error, against the schemas
//! `/openapi.json` documents for them (the query catalog's typed request and response
//! types), checked by an independent validator (Python's `jsonschema`, Draft 2020-12) with
//! every object schema closed, so an undocumented field fails as surely as a missing one.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::process::Command;

use serde_json::{Value, json};
use support::{enroll_totp, member, register_passkey};
use twofold_testkit::{Backend, TestServer, completed, is_ci, ok};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

/// Fails under CI=true when `jsonschema` is missing; outside CI it says so and is skipped.
fn jsonschema_installed() -> bool {
    let has = Command::new("python3").args(["-c", "import jsonschema"]).status().is_ok_and(|s| s.success());
    assert!(has || !is_ci(), "CI=true but Python's jsonschema is missing: run scripts/test.sh");
    if !has {
        eprintln!("jsonschema not installed; skipping (it fails under CI=true)");
    }
    has
}

#[test]
fn every_query_answers_as_its_schema_says_in_success_and_in_error() {
    if !jsonschema_installed() {
        return;
    }
    let server = TestServer::start(BIN, Backend::Sqlite, &["--audit-checkpoint-secs", "1"]);
    let root = server.root_client();
    let text = ureq::get(&format!("{}/openapi.json", server.url))
        .call()
        .expect("document")
        .body_mut()
        .read_to_string()
        .expect("text");
    let doc: Value = serde_json::from_str(&text).expect("json");

    // Something of every kind to read back.
    let (member_id, member_client) = member(&server, &root, "reader");
    let (_device, _uri) = enroll_totp(&member_client, &member_id);
    let (_passkey, authenticator_id, _credential) = register_passkey(&server, &root, &root_user(&root));
    let policy_id = completed(
        root.submit(
            "create_policy",
            json!({ "policyName": "members read", "effect": "EFFECT_ALLOW", "notes": "",
                    "condition": "activity.resource == 'APP'" }),
        ),
        "createPolicyResult",
    )["policyId"]
        .as_str()
        .expect("policy")
        .to_owned();
    let mfa_policy_id = completed(
        root.submit(
            "create_mfa_policy",
            json!({ "userId": member_id, "mfaPolicyName": "payouts", "order": 0,
                    "condition": "activity.resource == 'PAYOUT'",
                    "requiredAuthenticationMethods": [{ "any": [{ "type": "AUTHENTICATION_TYPE_TOTP" }] }] }),
        ),
        "createMfaPolicyResult",
    )["mfaPolicyId"]
        .as_str()
        .expect("mfa policy")
        .to_owned();
    let held =
        ok(member_client
            .submit("create_app_activity", json!({ "resource": "PAYOUT", "action": "CREATE", "payload": {} })));
    let activity_id = held["activity"]["id"].as_str().expect("activity").to_owned();
    let profile_id = completed(
        root.submit("create_session_profile", json!({ "sessionProfileName": "editor", "scope": "true" })),
        "createSessionProfileResult",
    )["sessionProfileId"]
        .as_str()
        .expect("profile")
        .to_owned();
    completed(
        root.submit(
            "set_ip_allowlist",
            json!({ "rules": [{ "cidr": "127.0.0.1/32", "label": "loopback" }], "enabled": true }),
        ),
        "setIpAllowlistResult",
    );
    let keys = ok(root.query("get_api_keys", json!({ "userId": root_user(&root) })));
    let api_key_id = keys["apiKeys"][0]["apiKeyId"].as_str().expect("key").to_owned();
    // The audit log gets a signed checkpoint within a second.
    let event_id = wait_for_checkpoint(&root);
    // v1User carries the user's passkeys and MFA policies; v1OrganizationData its policies.
    let root_view = ok(root.query("get_user", json!({ "userId": root_user(&root) })));
    assert_eq!(root_view["user"]["authenticators"][0]["authenticatorId"], authenticator_id.as_str(), "{root_view}");
    let members = ok(root.query("list_users", json!({})));
    let reader = members["users"].as_array().expect("users").iter().find(|u| u["userId"] == member_id.as_str());
    assert_eq!(reader.expect("reader")["mfaPolicies"][0]["mfaPolicyId"], mfa_policy_id.as_str(), "{members}");
    let organization = ok(root.query("get_organization", json!({})));
    let policies = organization["organizationData"]["policies"].as_array().expect("policies").clone();
    assert!(policies.iter().any(|p| p["policyId"] == policy_id.as_str()), "{organization}");

    let mut bodies: Vec<(String, Value)> = vec![
        ("whoami".into(), json!({})),
        ("get_whoami".into(), json!({})),
        ("get_organization".into(), json!({})),
        ("list_suborgs".into(), json!({ "paginationOptions": { "limit": "5" } })),
        ("get_user".into(), json!({ "userId": member_id })),
        ("list_users".into(), json!({})),
        ("list_user_tags".into(), json!({})),
        ("get_api_keys".into(), json!({})),
        ("get_api_key".into(), json!({ "apiKeyId": api_key_id })),
        ("get_activity".into(), json!({ "activityId": activity_id })),
        ("list_activities".into(), json!({ "filterByStatus": ["ACTIVITY_STATUS_COMPLETED"] })),
        ("get_policy_evaluations".into(), json!({ "activityId": activity_id })),
        (
            "evaluate_activity".into(),
            json!({ "userId": member_id, "activity": { "type": "ACTIVITY_TYPE_CREATE_USER_TAG",
                     "parameters": { "userTagName": "t", "userIds": [] } } }),
        ),
        ("get_policy".into(), json!({ "policyId": policy_id })),
        ("list_policies".into(), json!({})),
        ("list_audit_events".into(), json!({ "paginationOptions": { "limit": "20" } })),
        ("verify_audit_log".into(), json!({})),
        ("get_audit_checkpoint".into(), json!({})),
        ("get_audit_proof".into(), json!({ "eventId": event_id })),
        ("get_audit_consistency_proof".into(), json!({ "fromSize": "1" })),
        ("get_ip_allowlist".into(), json!({})),
        ("get_ip_denylist".into(), json!({})),
        ("get_authenticators".into(), json!({})),
        ("get_authenticator".into(), json!({ "authenticatorId": authenticator_id })),
        ("get_passkey_registration_options".into(), json!({ "userId": member_id })),
        ("get_totp_authenticators".into(), json!({ "userId": member_id })),
        ("get_recovery_codes_status".into(), json!({})),
        ("list_sessions".into(), json!({})),
        ("get_session_signing_key".into(), json!({})),
        ("get_enclave_keys".into(), json!({})),
        ("get_mfa_enforcement".into(), json!({})),
        ("list_mfa_enforcements".into(), json!({})),
        ("get_mfa_policies".into(), json!({ "userId": member_id })),
        ("get_mfa_policy".into(), json!({ "userId": member_id, "mfaPolicyId": mfa_policy_id })),
        ("get_mfa_status".into(), json!({ "activityId": activity_id })),
        ("get_session_profile".into(), json!({ "sessionProfileId": profile_id })),
        ("get_session_profiles".into(), json!({})),
        ("list_webhook_endpoints".into(), json!({})),
        ("list_webhook_deliveries".into(), json!({})),
        ("get_auth_proxy_config".into(), json!({})),
        ("list_verified_suborgs".into(), json!({ "filterType": "EMAIL", "filterValue": "nobody@example.com" })),
        ("get_active_policies".into(), json!({})),
        ("get_oauth_providers".into(), json!({ "userId": member_id })),
        ("get_oidc_issuers".into(), json!({})),
        ("list_email_events".into(), json!({ "email": "nobody@example.com" })),
        ("get_organization_configs".into(), json!({})),
    ];
    let successes = bodies.len();
    // Errors of every kind a client meets: unknown ids, bad values, foreign fields.
    bodies.extend([
        ("get_user".into(), json!({ "userId": "no-such-user" })),
        ("get_activity".into(), json!({ "activityId": activity_id, "userId": member_id })),
        ("list_activities".into(), json!({ "paginationOptions": { "limit": "1000" } })),
        ("list_audit_events".into(), json!({ "fromMs": "yesterday" })),
        ("get_audit_proof".into(), json!({ "eventId": event_id, "treeSize": "-1" })),
        ("get_mfa_policy".into(), json!({ "userId": member_id, "mfaPolicyId": "nope" })),
        ("get_ip_denylist".into(), json!({ "publicKey": "02ab" })),
        ("list_webhook_deliveries".into(), json!({ "limit": 0 })),
        ("get_session_profile".into(), json!({ "sessionProfileId": 7 })),
        ("evaluate_activity".into(), json!({ "activity": { "type": "ACTIVITY_TYPE_NOPE", "parameters": {} } })),
        ("list_verified_suborgs".into(), json!({ "filterType": "NAME", "filterValue": "x" })),
    ]);

    let mut answers = Vec::new();
    for (i, (name, body)) in bodies.iter().enumerate() {
        let path = format!("/public/v1/query/{name}");
        let resp = root.query(name, body.clone()).expect("sent");
        if i < successes {
            assert_eq!(resp.status, 200, "{name}: {}", resp.body);
        } else {
            assert!((400..500).contains(&resp.status), "{name} {body}: {} {}", resp.status, resp.body);
        }
        answers.push(json!({ "path": path, "status": resp.status, "body": resp.body }));
    }
    // An unstamped request and a submit, through the same schemas.
    let unstamped = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .post(&format!("{}/public/v1/query/get_user", server.url))
        .header("Content-Type", "application/json")
        .send(r#"{"organizationId":"x","userId":"y"}"#)
        .expect("sent");
    let status = unstamped.status().as_u16();
    let body: Value = serde_json::from_str(&unstamped.into_body().read_to_string().expect("text")).expect("json error");
    answers.push(json!({ "path": "/public/v1/query/get_user", "status": status, "body": body }));
    answers.push(json!({ "path": "/public/v1/submit/create_app_activity", "status": 200, "body": held }));

    // Every query of the catalog was asked at least once.
    for name in twofold_core::query_paths() {
        assert!(bodies.iter().any(|(n, _)| n == name), "{name} is not exercised here");
    }
    assert!(successes >= 20 && answers.len() - successes >= 10);

    validate(&server, &doc, answers);
}

#[test]
fn every_activity_answers_as_its_schema_says_in_success_and_in_error() {
    if !jsonschema_installed() {
        return;
    }
    let server = TestServer::start(BIN, Backend::Sqlite, &["--webhook-allow-private"]);
    let root = server.root_client();
    let doc: Value = serde_json::from_str(
        &ureq::get(&format!("{}/openapi.json", server.url))
            .call()
            .expect("document")
            .body_mut()
            .read_to_string()
            .expect("text"),
    )
    .expect("json");
    let root_id = root_user(&root);
    let mut answers = Vec::new();
    // Sends `parameters` to submit/`name` and keeps the whole answer, asserting its status.
    let mut send = |name: &str, parameters: Value, want: u16| -> Value {
        let resp = root.submit(name, parameters.clone()).expect("sent");
        assert_eq!(resp.status, want, "{name} {parameters}: {}", resp.body);
        answers.push(json!({ "path": format!("/public/v1/submit/{name}"), "status": resp.status, "body": resp.body }));
        resp.body
    };
    let result = |body: &Value, key: &str, field: &str| -> String {
        assert_eq!(body["activity"]["status"], "ACTIVITY_STATUS_COMPLETED", "{body}");
        body["activity"]["result"][key][field].as_str().map(str::to_owned).unwrap_or_else(|| panic!("{field}: {body}"))
    };

    let key = twofold_testkit::new_key();
    let users = send("create_users", json!({ "users": [twofold_testkit::user_with_key("ann", &key)] }), 200);
    let ann = users["activity"]["result"]["createUsersResult"]["userIds"][0].as_str().expect("ann").to_owned();
    let tag = send("create_user_tag", json!({ "userTagName": "ops", "userIds": [ann] }), 200);
    let tag_id = result(&tag, "createUserTagResult", "userTagId");
    send("update_user", json!({ "userId": ann, "userName": "Ann", "userTagIds": [tag_id] }), 200);
    send("update_user_name", json!({ "userId": ann, "userName": "Annie" }), 200);
    let robot = twofold_testkit::api_only_user_with_key("robot", &twofold_testkit::new_key());
    send("create_api_only_users", json!({ "apiOnlyUsers": [robot] }), 200);
    send("create_api_only_users", json!({ "apiOnlyUsers": [] }), 400);
    send("update_user_email", json!({ "userId": ann, "userEmail": "ann@example.com" }), 200);
    send("update_user_phone_number", json!({ "userId": ann, "userPhoneNumber": "+15555550199" }), 200);
    let second = twofold_testkit::new_key();
    let keys = send(
        "create_api_keys",
        json!({ "userId": ann, "apiKeys": [{ "apiKeyName": "second", "publicKey": second.public_key_hex(),
                                            "curveType": "API_KEY_CURVE_P256" }] }),
        200,
    );
    let key_id = keys["activity"]["result"]["createApiKeysResult"]["apiKeyIds"][0].as_str().expect("key").to_owned();
    send("delete_api_keys", json!({ "userId": ann, "apiKeyIds": [key_id] }), 200);
    let policy = send(
        "create_policy",
        json!({ "policyName": "apps", "effect": "EFFECT_ALLOW", "condition": "activity.resource == 'APP'", "notes": "" }),
        200,
    );
    let policy_id = result(&policy, "createPolicyResult", "policyId");
    send("update_policy", json!({ "policyId": policy_id, "policyName": "apps too" }), 200);
    send("delete_policy", json!({ "policyId": policy_id }), 200);
    send(
        "create_policies",
        json!({ "policies": [{ "policyName": "a", "effect": "EFFECT_DENY", "condition": "false", "notes": "" }] }),
        200,
    );
    let mfa = send(
        "create_mfa_policy",
        json!({ "userId": ann, "mfaPolicyName": "payouts", "order": 0, "condition": "activity.resource == 'PAYOUT'",
                "requiredAuthenticationMethods": [{ "any": [{ "type": "AUTHENTICATION_TYPE_TOTP" }] }] }),
        200,
    );
    let mfa_id = result(&mfa, "createMfaPolicyResult", "mfaPolicyId");
    send("update_mfa_policy", json!({ "userId": ann, "mfaPolicyId": mfa_id, "order": 1 }), 200);
    send("delete_mfa_policy", json!({ "userId": ann, "mfaPolicyId": mfa_id }), 200);
    // Shown once: an app's seed, recovery codes, a webhook's generated secret.
    let totp = send("create_totp_authenticator", json!({ "userId": ann }), 200);
    let totp_id = result(&totp, "createTotpAuthenticatorResult", "totpAuthenticatorId");
    send("delete_totp_authenticators", json!({ "userId": ann, "totpAuthenticatorIds": [totp_id] }), 200);
    send("create_recovery_codes", json!({ "userId": ann }), 200);
    let hook = send("create_webhook_endpoint", json!({ "url": "http://127.0.0.1:9/hook", "name": "hook" }), 200);
    let endpoint_id = result(&hook, "createWebhookEndpointResult", "endpointId");
    send("delete_webhook_endpoint", json!({ "endpointId": endpoint_id }), 200);
    send("create_session_profile", json!({ "sessionProfileName": "reader", "scope": "true" }), 200);
    send("create_app_activity", json!({ "resource": "PAYOUT", "action": "CREATE", "payload": { "amount": 5 } }), 200);
    send("stamp_login", json!({ "publicKey": twofold_testkit::new_key().public_key_hex() }), 200);
    send("delete_sessions", json!({ "userId": root_id }), 200);
    send("set_ip_denylist", json!({ "rules": [{ "cidr": "192.0.2.0/24" }] }), 200);
    send("set_ip_allowlist", json!({ "publicKey": key.public_key_hex(), "rules": [{ "cidr": "127.0.0.1/32" }] }), 200);
    send("remove_ip_allowlist", json!({ "publicKey": key.public_key_hex() }), 200);
    send(
        "set_mfa_enforcement",
        json!({ "scope": "MFA_ENFORCEMENT_SCOPE_ORGANIZATION", "value": "MFA_ENFORCEMENT_OPTIONAL" }),
        200,
    );
    send("reset_mfa_enforcement", json!({ "scope": "MFA_ENFORCEMENT_SCOPE_ORGANIZATION" }), 200);
    send(
        "set_mfa_enforcement",
        json!({ "scope": "MFA_ENFORCEMENT_SCOPE_GLOBAL", "value": "MFA_ENFORCEMENT_OPTIONAL" }),
        200,
    );
    send("enable_auth_proxy", json!({ "allowedAuthMethods": ["AUTH_METHOD_EMAIL_OTP_LOGIN"] }), 200);
    send("update_auth_proxy_config", json!({ "otpLength": 8 }), 200);
    send("disable_auth_proxy", json!({}), 200);
    send(
        "create_sub_organization",
        json!({ "subOrganizationName": "tenant", "rootQuorumThreshold": 1,
                "rootUsers": [{ "userName": "t", "apiKeys": [], "authenticators": [], "oauthProviders": [] }] }),
        200,
    );
    send("delete_users", json!({ "userIds": [ann] }), 200);
    send("update_root_quorum", json!({ "threshold": 1, "userIds": [root_id] }), 200);
    // Failed activities (200, FAILED, empty result) and refused requests (4xx).
    let failed = send("delete_policy", json!({ "policyId": "no-such-policy" }), 200);
    assert_eq!(failed["activity"]["status"], "ACTIVITY_STATUS_FAILED", "{failed}");
    send("delete_users", json!({ "userIds": [] }), 400);
    send("create_policy", json!({ "policyName": "x", "effect": "EFFECT_MAYBE" }), 400);
    send("set_ip_denylist", json!({ "rules": [{ "cidr": "not a network" }] }), 400);
    send("create_mfa_policy", json!({ "userId": ann }), 400);
    send("approve_activity", json!({ "fingerprint": "sha256:00" }), 400);
    send("reject_activity", json!({ "fingerprint": "nope" }), 400);
    let passkey = json!({ "userId": root_id, "authenticators": [{ "authenticatorName": "key", "challenge": "never-issued",
        "attestation": { "credentialId": "AA", "clientDataJson": "AA", "attestationObject": "AA", "transports": [] } }] });
    assert_eq!(send("create_authenticators", passkey, 200)["activity"]["status"], "ACTIVITY_STATUS_FAILED");
    send("delete_authenticators", json!({ "userId": root_id, "authenticatorIds": [] }), 400);
    send("verify_totp_authenticator", json!({ "userId": root_id, "totpAuthenticatorId": "x", "totpCode": "12" }), 400);

    // Last, an enrolment refusal, whose details name it (google.rpc.ErrorInfo): REQUIRED with
    // no grace for this organization, whose root has no factor.
    send(
        "set_mfa_enforcement",
        json!({ "scope": "MFA_ENFORCEMENT_SCOPE_ORGANIZATION", "value": "MFA_ENFORCEMENT_REQUIRED",
                "gracePeriodDays": 0, "confirmLockout": true }),
        200,
    );
    let refused = send("create_policy", json!({ "policyName": "late", "effect": "EFFECT_ALLOW", "notes": "" }), 403);
    assert_eq!(refused["details"][0]["reason"], "MFA_ENROLLMENT_REQUIRED", "{refused}");

    let exercised: std::collections::BTreeSet<String> =
        answers.iter().map(|a| a["path"].as_str().expect("path").to_owned()).collect();
    assert!(exercised.len() >= 30, "{} submit endpoints exercised", exercised.len());
    // The check can fail: a result field the schema does not name, or a result under another
    // activity's key, is caught.
    let mut extra = answers[0].clone();
    extra["body"]["activity"]["result"]["createUsersResult"]["undocumented"] = json!(1);
    let mut foreign = answers[0].clone();
    foreign["body"]["activity"]["result"] = json!({ "createPolicyResult": { "policyId": "p" } });
    for wrong in [extra, foreign] {
        assert!(!answers_match(&server, &doc, vec![wrong.clone()]), "accepted: {wrong}");
    }
    validate(&server, &doc, answers);
}

/// Whether `answers` match `doc`.
fn answers_match(server: &TestServer, doc: &Value, answers: Vec<Value>) -> bool {
    run_validator(server, doc, answers).status.success()
}

/// Checks `answers` against `doc`.
fn validate(server: &TestServer, doc: &Value, answers: Vec<Value>) {
    let out = run_validator(server, doc, answers);
    assert!(
        out.status.success(),
        "answers that do not match their documented schemas:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `tests/support/validate_answers.py` on `answers` and `doc`.
fn run_validator(server: &TestServer, doc: &Value, answers: Vec<Value>) -> std::process::Output {
    let doc_file = server.dir.path().join("openapi.json");
    let answers_file = server.dir.path().join("answers.json");
    std::fs::write(&doc_file, doc.to_string()).expect("write document");
    std::fs::write(&answers_file, Value::Array(answers).to_string()).expect("write answers");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/validate_answers.py");
    Command::new("python3").arg(script).arg(&doc_file).arg(&answers_file).output().expect("python3")
}

/// The root user's id.
fn root_user(root: &twofold_client::Client) -> String {
    ok(root.query("get_whoami", json!({})))["userId"].as_str().expect("user").to_owned()
}

/// Waits for the root organization's first checkpoint; returns its first event's id.
fn wait_for_checkpoint(root: &twofold_client::Client) -> String {
    for _ in 0..100 {
        if root.query("get_audit_checkpoint", json!({})).expect("sent").status == 200 {
            let events = ok(root.query("list_audit_events", json!({ "paginationOptions": { "limit": "100" } })));
            let oldest = events["auditEvents"].as_array().expect("events").last().cloned().expect("an event");
            return oldest["id"].as_str().expect("id").to_owned();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("no audit checkpoint within 10 s");
}
