//! Tenant MFA enforcement, on a test clock (no sleeping): the full table of values ×
//! {admin, member} × {enrolled, not} × {before, at, after the deadline}, and the grace
//! clock (own grace for new users, restart on change, reset to global, the global rule
//! cannot be reset).
#![allow(clippy::expect_used, reason = "tests fail loudly")]

use serde_json::{Value, json};
use twofold_client::{ApiResponse, Client};
use twofold_testkit::{
    Backend, TestServer, api_only_user_with_key, completed, new_key, ok, on_every_backend, real_now_ms, user_with_key,
};

mod support;

const BIN: &str = env!("CARGO_BIN_EXE_twofold");
const DAY: i64 = 24 * 60 * 60 * 1000;
const DUE: &str = "X-Twofold-MFA-Enrollment-Due";

/// A tenant (sub-organization of the root) with its root user's client and id.
struct Tenant {
    id: String,
    root: Client,
    root_user_id: String,
}

fn tenant(server: &TestServer, root: &Client, name: &str) -> Tenant {
    let key = new_key();
    let mut user = user_with_key(&format!("{name}-root"), &key);
    user.as_object_mut().expect("object").remove("userTags");
    let params = json!({ "subOrganizationName": name, "rootUsers": [user], "rootQuorumThreshold": 1 });
    let sub = completed(root.submit("create_sub_organization", params), "createSubOrganizationResultV8");
    let id = sub["subOrganizationId"].as_str().expect("id").to_owned();
    let root_user_id = sub["rootUserIds"][0].as_str().expect("root user").to_owned();
    Tenant { root: server.client(key, &id), id, root_user_id }
}

/// A user of `tenant` carrying `tags` (ids); returns its id and client.
fn member(server: &TestServer, tenant: &Tenant, name: &str, tags: &[&str]) -> (String, Client) {
    let key = new_key();
    let mut params = user_with_key(name, &key);
    params["userTags"] = json!(tags);
    let created = completed(tenant.root.submit("create_users", json!({ "users": [params] })), "createUsersResult");
    (created["userIds"][0].as_str().expect("id").to_owned(), server.client(key, &tenant.id))
}

fn tag(tenant: &Tenant, name: &str) -> String {
    let created = tenant.root.submit("create_user_tag", json!({ "userTagName": name, "userIds": [] }));
    completed(created, "createUserTagResult")["userTagId"].as_str().expect("tag id").to_owned()
}

/// Enrolls an authenticator app for the client's own user, with a code at server time `now_ms`.
fn enroll_totp(client: &Client, user_id: &str, now_ms: i64) {
    let created = completed(
        client.submit("create_totp_authenticator", json!({ "userId": user_id })),
        "createTotpAuthenticatorResult",
    );
    let totp = totp_rs::Totp::from_url(created["otpauthUri"].as_str().expect("uri")).expect("otpauth URI");
    let code = totp.generate(u64::try_from(now_ms / 1000).expect("positive")).to_string();
    let id = created["totpAuthenticatorId"].as_str().expect("id");
    let verify = json!({ "userId": user_id, "totpAuthenticatorId": id, "totpCode": code });
    completed(client.submit("verify_totp_authenticator", verify), "verifyTotpAuthenticatorResult");
}

/// Sets `target`'s rule (or the global one when `target` is `None`); returns the activity body.
fn set_rule(admin: &Client, target: Option<&str>, value: &str, days: i64) -> Value {
    let mut params = json!({ "scope": "MFA_ENFORCEMENT_SCOPE_GLOBAL", "value": value, "gracePeriodDays": days });
    if let Some(t) = target {
        params["scope"] = json!("MFA_ENFORCEMENT_SCOPE_ORGANIZATION");
        params["targetOrganizationId"] = json!(t);
    }
    ok(admin.submit("set_mfa_enforcement", params))
}

fn rfc3339(ms: i64) -> String {
    twofold_core::enforcement::rfc3339(ms)
}

/// Asserts the request passed without the header.
#[track_caller]
fn passes(resp: &ApiResponse, label: &str) {
    assert!(resp.is_success(), "{label}: expected 2xx, got {}: {}", resp.status, resp.body);
    assert_eq!(resp.header(DUE), None, "{label}: no enrollment header");
}

/// Asserts the request passed and carried the header with `deadline`.
#[track_caller]
fn passes_with_header(resp: &ApiResponse, deadline: i64, label: &str) {
    assert!(resp.is_success(), "{label}: expected 2xx, got {}: {}", resp.status, resp.body);
    assert_eq!(resp.header(DUE), Some(rfc3339(deadline).as_str()), "{label}: enrollment header");
}

/// Asserts the request was refused with MFA_ENROLLMENT_REQUIRED (and still told the deadline).
#[track_caller]
fn blocked(resp: &ApiResponse, deadline: i64, label: &str) {
    assert_eq!(resp.status, 403, "{label}: {}", resp.body);
    assert_eq!(resp.body["code"], 7, "{label}: {}", resp.body);
    assert!(resp.body["message"].as_str().expect("message").starts_with("MFA_ENROLLMENT_REQUIRED"), "{label}");
    let info = &resp.body["details"][0];
    assert_eq!(info["reason"], "MFA_ENROLLMENT_REQUIRED", "{label}: {}", resp.body);
    assert_eq!(info["metadata"]["setupPath"], "/security-clearance/setup-2fa", "{label}");
    assert_eq!(info["metadata"]["deadline"], rfc3339(deadline), "{label}");
    assert_eq!(resp.header(DUE), Some(rfc3339(deadline).as_str()), "{label}: header on the refusal too");
}

/// One subject of the table.
struct Subject {
    label: &'static str,
    user_id: String,
    client: Client,
    admin: bool,
    enrolled: bool,
}

fn must_enroll(value: &str, s: &Subject) -> bool {
    !s.enrolled && (value == "MFA_ENFORCEMENT_REQUIRED" || (value == "MFA_ENFORCEMENT_REQUIRED_FOR_ADMINS" && s.admin))
}

fn enforcement_table(backend: Backend) {
    let server = TestServer::start_with_test_clock(BIN, backend, &[]);
    let t0 = real_now_ms() / 1000 * 1000;
    server.freeze_clock(t0);
    let root = server.root_client();
    let acme = tenant(&server, &root, "acme");
    let editor = tag(&acme, "Editor");
    let viewer = tag(&acme, "viewer");
    let mut subjects = Vec::new();
    for (label, tags, admin, enrolled) in [
        ("tagged admin, enrolled", [editor.as_str()], true, true),
        ("tagged admin, not enrolled", [editor.as_str()], true, false),
        ("member, enrolled", [viewer.as_str()], false, true),
        ("member, not enrolled", [viewer.as_str()], false, false),
    ] {
        let (user_id, client) = member(&server, &acme, label.replace([',', ' '], "-").as_str(), &tags);
        if enrolled {
            enroll_totp(&client, &user_id, t0);
        }
        subjects.push(Subject { label, user_id, client, admin, enrolled });
    }
    let Tenant { id: acme_id, root: acme_root, root_user_id: acme_root_id } = acme;
    subjects.push(Subject {
        label: "root-quorum admin, not enrolled",
        user_id: acme_root_id.clone(),
        client: acme_root,
        admin: true,
        enrolled: false,
    });
    let mut now = t0;

    let values = [
        "MFA_ENFORCEMENT_OFF",
        "MFA_ENFORCEMENT_OPTIONAL",
        "MFA_ENFORCEMENT_REQUIRED_FOR_ADMINS",
        "MFA_ENFORCEMENT_REQUIRED",
    ];
    for (round, value) in values.iter().enumerate() {
        let changed_at = t0 + i64::try_from(round).expect("small") * 10 * DAY + DAY;
        server.freeze_clock(changed_at);
        let set = set_rule(&root, Some(&acme_id), value, 2);
        assert_eq!(set["activity"]["status"], "ACTIVITY_STATUS_COMPLETED", "{set}");
        let deadline = changed_at + 2 * DAY;
        for (when, at) in [("before", deadline - 1), ("at", deadline), ("after", deadline + 1)] {
            server.freeze_clock(at);
            now = at;
            for s in &subjects {
                let label = format!("{value} / {} / {when} the deadline", s.label);
                let tag_name = format!("t-{round}-{when}-{}", &s.user_id[..8]);
                let read = s.client.query("list_users", json!({})).expect("sent");
                let write = s.client.submit("create_user_tag", json!({ "userTagName": tag_name })).expect("sent");
                let whoami = s.client.query("get_whoami", json!({})).expect("sent");
                let required = value.ends_with("REQUIRED") || (value.ends_with("ADMINS") && s.admin);
                assert_eq!(whoami.body["mfaEnrollment"]["required"], required, "{label}: {}", whoami.body);
                assert_eq!(whoami.body["mfaEnrollment"]["enrolled"], s.enrolled, "{label}");
                if !must_enroll(value, s) {
                    passes(&read, &label);
                    passes(&write, &label);
                    passes(&whoami, &label);
                    assert_eq!(whoami.body["mfaEnrollment"]["deadline"], Value::Null, "{label}");
                    continue;
                }
                assert_eq!(whoami.body["mfaEnrollment"]["deadline"], rfc3339(deadline), "{label}");
                passes_with_header(&whoami, deadline, &label);
                if when == "before" {
                    passes_with_header(&read, deadline, &label);
                    passes_with_header(&write, deadline, &label);
                    continue;
                }
                blocked(&read, deadline, &label);
                blocked(&write, deadline, &label);
                // Reading oneself and one's factors still works: it is what enrolling needs.
                let me = s.client.query("get_user", json!({ "userId": s.user_id })).expect("sent");
                passes_with_header(&me, deadline, &label);
                let mine = s.client.query("get_totp_authenticators", json!({})).expect("sent");
                passes_with_header(&mine, deadline, &label);
                let someone_else = s.client.query("get_user", json!({ "userId": acme_root_id })).expect("sent");
                if s.user_id != acme_root_id {
                    blocked(&someone_else, deadline, &label);
                }
            }
        }
        if *value == "MFA_ENFORCEMENT_OFF" {
            off_blocks_enrolment_only(&subjects);
        }
    }

    // Overdue users enroll (that is allowed) and are let through on the very next request.
    for s in subjects.iter().filter(|s| !s.enrolled) {
        enroll_totp(&s.client, &s.user_id, now);
        passes(&s.client.query("list_users", json!({})).expect("sent"), "enrolled after the deadline");
    }

    // Blocks are in the tenant's audit chain.
    let tenant_root = &subjects.last().expect("tenant root").client;
    for event_type in ["MFA_ENROLLMENT_REQUIRED", "MFA_ENROLLMENT_DISABLED"] {
        let audit = ok(tenant_root.query("list_audit_events", json!({ "eventType": event_type })));
        assert!(!audit["auditEvents"].as_array().expect("events").is_empty(), "{event_type}: {audit}");
    }
}

/// Under `off` nobody may enroll a new factor, and nothing else changes.
fn off_blocks_enrolment_only(subjects: &[Subject]) {
    for s in subjects {
        let new_app = s.client.submit("create_totp_authenticator", json!({ "userId": s.user_id })).expect("sent");
        assert_eq!(new_app.status, 403, "{}: {}", s.label, new_app.body);
        assert!(new_app.body["message"].as_str().expect("m").contains("enrolling new factors is disabled"));
        let options = s.client.query("get_passkey_registration_options", json!({})).expect("sent");
        assert_eq!(options.status, 403, "{}: {}", s.label, options.body);
        let codes = s.client.submit("create_recovery_codes", json!({ "userId": s.user_id })).expect("sent");
        assert_eq!(codes.status, 403, "{}: {}", s.label, codes.body);
        if s.enrolled {
            let devices = ok(s.client.query("get_totp_authenticators", json!({})));
            assert_eq!(devices["totpAuthenticators"][0]["active"], true, "{}: existing factors keep working", s.label);
        }
    }
}

on_every_backend!(enforcement_table_sqlite, enforcement_table_postgres, enforcement_table);

/// The rule in force for `org` as `get_mfa_enforcement` reports it.
fn rule_of(client: &Client, org: &str) -> Value {
    ok(client.query("get_mfa_enforcement", json!({ "targetOrganizationId": org })))["mfaEnforcement"].clone()
}

fn grace_clock(backend: Backend) {
    let server = TestServer::start_with_test_clock(BIN, backend, &[]);
    let t0 = real_now_ms() / 1000 * 1000;
    server.freeze_clock(t0);
    let root = server.root_client();
    let root_org = root.organization_id().to_owned();
    let acme = tenant(&server, &root, "acme");
    let (_, alice) = member(&server, &acme, "alice", &[]);
    // The installation keeps its own organization optional, so its root stays free to act.
    completed(
        root.submit(
            "set_mfa_enforcement",
            json!({
        "scope": "MFA_ENFORCEMENT_SCOPE_ORGANIZATION", "value": "MFA_ENFORCEMENT_OPTIONAL" }),
        ),
        "setMfaEnforcementResult",
    );
    // The global rule: required at once, set early.
    let global = completed(
        root.submit(
            "set_mfa_enforcement",
            json!({
        "scope": "MFA_ENFORCEMENT_SCOPE_GLOBAL", "value": "MFA_ENFORCEMENT_REQUIRED", "gracePeriodDays": 0 }),
        ),
        "setMfaEnforcementResult",
    );
    assert_eq!(global["mfaEnforcement"]["source"], "MFA_ENFORCEMENT_SOURCE_GLOBAL", "{global}");
    blocked(&alice.query("list_users", json!({})).expect("sent"), t0, "the global rule applies to the tenant");

    // The tenant's own rule: required, 3 days' grace, from r1.
    let r1 = t0 + DAY;
    server.freeze_clock(r1);
    let own = completed(set_rule_params(&root, &acme.id, "MFA_ENFORCEMENT_REQUIRED", 3), "setMfaEnforcementResult");
    assert_eq!(own["mfaEnforcement"]["source"], "MFA_ENFORCEMENT_SOURCE_ORGANIZATION", "{own}");
    assert_eq!(own["mfaEnforcement"]["updatedAt"]["seconds"], (r1 / 1000).to_string());
    passes_with_header(&alice.query("list_users", json!({})).expect("sent"), r1 + 3 * DAY, "alice in grace");

    // Bob arrives two days later and gets his own full three days.
    server.freeze_clock(r1 + 2 * DAY);
    let (_, bob) = member(&server, &acme, "bob", &[]);
    server.freeze_clock(r1 + 4 * DAY);
    blocked(&alice.query("list_users", json!({})).expect("sent"), r1 + 3 * DAY, "alice's grace is over");
    passes_with_header(&bob.query("list_users", json!({})).expect("sent"), r1 + 5 * DAY, "bob's own grace");

    // Changing the grace restarts everyone's clock from the change.
    let r2 = r1 + 4 * DAY;
    completed(set_rule_params(&root, &acme.id, "MFA_ENFORCEMENT_REQUIRED", 2), "setMfaEnforcementResult");
    passes_with_header(&alice.query("list_users", json!({})).expect("sent"), r2 + 2 * DAY, "restarted by the grace");
    passes_with_header(
        &bob.query("list_users", json!({})).expect("sent"),
        r2 + 2 * DAY,
        "bob too: the change is later",
    );

    // Changing the value restarts it as well; saving the same settings again does not.
    let r3 = r2 + DAY;
    server.freeze_clock(r3);
    completed(set_rule_params(&root, &acme.id, "MFA_ENFORCEMENT_REQUIRED_FOR_ADMINS", 2), "setMfaEnforcementResult");
    passes(&alice.query("list_users", json!({})).expect("sent"), "members are not required now");
    passes_with_header(&acme.root.query("list_users", json!({})).expect("sent"), r3 + 2 * DAY, "quorum admin");
    server.freeze_clock(r3 + DAY);
    let r4 = r3 + DAY;
    completed(set_rule_params(&root, &acme.id, "MFA_ENFORCEMENT_REQUIRED", 2), "setMfaEnforcementResult");
    server.freeze_clock(r4 + DAY);
    completed(set_rule_params(&root, &acme.id, "MFA_ENFORCEMENT_REQUIRED", 2), "setMfaEnforcementResult");
    passes_with_header(
        &alice.query("list_users", json!({})).expect("sent"),
        r4 + 2 * DAY,
        "a re-save restarts nothing",
    );

    // Reset to global deletes the override: the global rule (required, no grace, set at
    // t0) applies on the very next request.
    let reset = json!({ "scope": "MFA_ENFORCEMENT_SCOPE_ORGANIZATION", "targetOrganizationId": acme.id });
    let done = completed(root.submit("reset_mfa_enforcement", reset.clone()), "resetMfaEnforcementResult");
    assert_eq!(done["mfaEnforcement"]["source"], "MFA_ENFORCEMENT_SOURCE_GLOBAL", "{done}");
    blocked(&alice.query("list_users", json!({})).expect("sent"), t0, "alice: the global rule, set at t0");
    let rule = rule_of(&root, &acme.id);
    assert_eq!(rule["source"], "MFA_ENFORCEMENT_SOURCE_GLOBAL", "{rule}");
    assert_eq!(rule["value"], "MFA_ENFORCEMENT_REQUIRED");
    let again = ok(root.submit("reset_mfa_enforcement", reset));
    assert_eq!(again["activity"]["status"], "ACTIVITY_STATUS_FAILED", "nothing left to reset: {again}");

    // The global rule itself cannot be reset, and only the installation's root organization sets it.
    let refused =
        root.submit("reset_mfa_enforcement", json!({ "scope": "MFA_ENFORCEMENT_SCOPE_GLOBAL" })).expect("sent");
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body["message"].as_str().expect("m").contains("global rule cannot be reset"), "{}", refused.body);
    enroll_totp(&acme.root, &acme.root_user_id, r4 + DAY);
    let from_tenant = ok(acme.root.submit(
        "set_mfa_enforcement",
        json!({
        "scope": "MFA_ENFORCEMENT_SCOPE_GLOBAL", "value": "MFA_ENFORCEMENT_OFF" }),
    ));
    assert_eq!(from_tenant["activity"]["status"], "ACTIVITY_STATUS_FAILED", "{from_tenant}");
    let outside = ok(acme.root.submit(
        "set_mfa_enforcement",
        json!({ "scope": "MFA_ENFORCEMENT_SCOPE_ORGANIZATION",
        "targetOrganizationId": root_org, "value": "MFA_ENFORCEMENT_OFF" }),
    ));
    assert_eq!(outside["activity"]["status"], "ACTIVITY_STATUS_FAILED", "a tenant cannot reach its parent: {outside}");

    // The admin index: every tenant with the rule in force and where it comes from.
    let index = ok(root.query("list_mfa_enforcements", json!({})));
    assert_eq!(index["global"]["value"], "MFA_ENFORCEMENT_REQUIRED", "{index}");
    let orgs = index["organizations"].as_array().expect("organizations");
    assert_eq!(orgs.len(), 2, "{index}");
    assert_eq!(orgs[0]["organizationId"], root_org.as_str());
    assert_eq!(orgs[0]["mfaEnforcement"]["source"], "MFA_ENFORCEMENT_SOURCE_ORGANIZATION");
    assert_eq!(orgs[1]["organizationId"], acme.id.as_str());
    assert_eq!(orgs[1]["parentOrganizationId"], root_org.as_str());
    assert_eq!(orgs[1]["mfaEnforcement"]["source"], "MFA_ENFORCEMENT_SOURCE_GLOBAL");

    // Rule changes are audited in the acting organization's chain and in the tenant's.
    let audit = ok(acme.root.query("list_audit_events", json!({ "eventType": "MFA_ENFORCEMENT_CHANGED" })));
    let outcomes: Vec<&str> =
        audit["auditEvents"].as_array().expect("events").iter().filter_map(|e| e["outcome"].as_str()).collect();
    assert_eq!(outcomes, ["RESET", "SET", "SET", "SET", "SET"], "{audit}");
}

fn set_rule_params(admin: &Client, target: &str, value: &str, days: i64) -> twofold_client::Result<ApiResponse> {
    let params = json!({ "scope": "MFA_ENFORCEMENT_SCOPE_ORGANIZATION", "targetOrganizationId": target,
        "value": value, "gracePeriodDays": days });
    admin.submit("set_mfa_enforcement", params)
}

on_every_backend!(grace_clock_sqlite, grace_clock_postgres, grace_clock);

/// Bad input is a 4xx naming the field, never a 500, and stores nothing.
#[test]
fn malformed_enforcement_requests_get_clear_4xx() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let (before, audit_before) = server.db.data_and_audit_counts();
    let org = json!("MFA_ENFORCEMENT_SCOPE_ORGANIZATION");
    for (params, needle) in [
        (json!({ "scope": org, "value": "sometimes" }), "parameters.value"),
        (json!({ "scope": org, "value": "MFA_ENFORCEMENT_REQUIRED", "gracePeriodDays": 366 }), "gracePeriodDays"),
        (json!({ "scope": org, "value": "MFA_ENFORCEMENT_REQUIRED", "gracePeriodDays": -1 }), "gracePeriodDays"),
        (json!({ "scope": org, "value": "MFA_ENFORCEMENT_REQUIRED", "gracePeriodDays": "ten" }), "gracePeriodDays"),
        (json!({ "scope": org, "value": "MFA_ENFORCEMENT_REQUIRED", "acceptEmailSmsOtp": "yes" }), "acceptEmailSmsOtp"),
        (json!({ "value": "MFA_ENFORCEMENT_REQUIRED" }), "scope"),
        (json!({ "scope": "EVERYWHERE", "value": "MFA_ENFORCEMENT_REQUIRED" }), "parameters.scope"),
        (
            json!({ "scope": "MFA_ENFORCEMENT_SCOPE_GLOBAL", "targetOrganizationId": "x", "value": "MFA_ENFORCEMENT_OFF" }),
            "targetOrganizationId",
        ),
        (json!({ "scope": org, "value": "MFA_ENFORCEMENT_OFF", "extra": 1 }), "extra"),
    ] {
        let resp = root.submit("set_mfa_enforcement", params.clone()).expect("sent");
        assert_eq!(resp.status, 400, "{params}: {}", resp.body);
        assert!(resp.body["message"].as_str().expect("m").contains(needle), "{params}: {}", resp.body);
    }
    let unknown = root.query("get_mfa_enforcement", json!({ "targetOrganizationId": "nope" })).expect("sent");
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    let wrong_type = root.query("get_mfa_enforcement", json!({ "targetOrganizationId": 5 })).expect("sent");
    assert_eq!(wrong_type.status, 400, "{}", wrong_type.body);
    assert_eq!(server.db.data_and_audit_counts(), (before, audit_before), "refused requests store nothing");
}

/// The test clock is refused without its explicit environment switch.
#[test]
fn the_test_clock_needs_its_environment_switch() {
    let out = std::process::Command::new(BIN)
        .args(["serve", "--unsafe-test-clock-file", "/nonexistent", "--listen", "127.0.0.1:0"])
        .env_remove("TWOFOLD_UNSAFE_TEST_CLOCK")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("TWOFOLD_UNSAFE_TEST_CLOCK=1"));
}

/// "Users in the Administrator or Editor group must enrol", "Required for Admins & Owners":
/// with no `--mfa-admin-tags`, a tag named Administrator, Admin, Owner or Editor (any case)
/// makes its users administrators under `MFA_ENFORCEMENT_REQUIRED_FOR_ADMINS`; others are not.
#[test]
fn the_default_admin_tags_are_administrator_admin_owner_and_editor_in_any_case() {
    let server = TestServer::start_with_test_clock(BIN, Backend::Sqlite, &[]);
    let t0 = real_now_ms();
    server.freeze_clock(t0);
    let root = server.root_client();
    let acme = tenant(&server, &root, "acme");
    enroll_totp(&acme.root, &acme.root_user_id, t0);
    completed(set_rule_params(&root, &acme.id, "MFA_ENFORCEMENT_REQUIRED_FOR_ADMINS", 3), "setMfaEnforcementResult");
    for (name, required) in
        [("Administrator", true), ("ADMIN", true), ("owner", true), ("Editor", true), ("Viewer", false)]
    {
        let tag_id = tag(&acme, name);
        let (_, client) = member(&server, &acme, &format!("{name}-user"), &[tag_id.as_str()]);
        let whoami = ok(client.query("get_whoami", json!({})));
        assert_eq!(whoami["mfaEnrollment"]["required"], required, "a user tagged {name}: {whoami}");
    }
}

/// The enforcement page counts "authenticator app, passkey, or email/SMS code" as a verified
/// factor when the rule says so: a user whose only proof is a verified email (an auth-proxy
/// sign-up) is blocked under REQUIRED with no grace, and counts as enrolled once the rule's
/// `acceptEmailSmsOtp` is on; off again, blocked again.
#[test]
fn a_verified_email_counts_as_enrolled_only_when_the_rule_accepts_email_codes() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    completed(root.submit("enable_auth_proxy", json!({})), "enableAuthProxyResult");
    let methods = json!({ "allowedAuthMethods": ["AUTH_METHOD_EMAIL_OTP_LOGIN", "AUTH_METHOD_EMAIL_OTP_SIGNUP"] });
    completed(root.submit("update_auth_proxy_config", methods), "updateAuthProxyConfigResult");
    let key = new_key();
    let org = support::anonymous_sign_up(&server, &root, "dana@example.com", &key);
    let dana = server.client(key, &org);
    let rule = |accept: bool| {
        json!({ "scope": "MFA_ENFORCEMENT_SCOPE_ORGANIZATION", "targetOrganizationId": org,
                "value": "MFA_ENFORCEMENT_REQUIRED", "gracePeriodDays": 0, "acceptEmailSmsOtp": accept })
    };
    completed(root.submit("set_mfa_enforcement", rule(false)), "setMfaEnforcementResult");
    let whoami = ok(dana.query("get_whoami", json!({})));
    assert_eq!(whoami["mfaEnrollment"]["enrolled"], false, "{whoami}");
    let refused = dana.query("list_users", json!({})).expect("sent");
    assert_eq!(refused.status, 403, "{}", refused.body);

    completed(root.submit("set_mfa_enforcement", rule(true)), "setMfaEnforcementResult");
    assert_eq!(rule_of(&root, &org)["acceptEmailSmsOtp"], true);
    let whoami = ok(dana.query("get_whoami", json!({})));
    assert_eq!(whoami["mfaEnrollment"]["enrolled"], true, "the verified email counts: {whoami}");
    assert_eq!(dana.query("list_users", json!({})).expect("sent").status, 200);

    completed(root.submit("set_mfa_enforcement", rule(false)), "setMfaEnforcementResult");
    assert_eq!(dana.query("list_users", json!({})).expect("sent").status, 403, "off again: blocked again");
}

/// "Newly required users get a 72-hour grace period before enforcement becomes blocking":
/// a rule set to a required value without `gracePeriodDays` gives 3 days (an optional one 0),
/// and under `required for admins` a user who becomes an administrator later — tagged with
/// an admin tag, given one with a new tag, or added to the root quorum — gets a full grace
/// from that moment, while a change that keeps them an administrator restarts nothing.
fn users_who_fall_under_the_rule_later_get_their_own_grace(backend: Backend) {
    let server = TestServer::start_with_test_clock(BIN, backend, &[]);
    let t0 = real_now_ms() / 1000 * 1000;
    server.freeze_clock(t0);
    let root = server.root_client();
    let acme = tenant(&server, &root, "acme");
    enroll_totp(&acme.root, &acme.root_user_id, t0);
    let target = json!({ "scope": "MFA_ENFORCEMENT_SCOPE_ORGANIZATION", "targetOrganizationId": acme.id });
    let set = |value: &str| {
        let mut p = target.clone();
        p["value"] = json!(value);
        completed(root.submit("set_mfa_enforcement", p), "setMfaEnforcementResult")["mfaEnforcement"].clone()
    };
    assert_eq!(set("MFA_ENFORCEMENT_OPTIONAL")["gracePeriodDays"], 0, "optional: no grace to give");
    assert_eq!(set("MFA_ENFORCEMENT_REQUIRED_FOR_ADMINS")["gracePeriodDays"], 3, "72 hours by default");
    let admin_tag = tag(&acme, "Admin");
    let viewer = tag(&acme, "viewer");
    let (carol_id, carol) = member(&server, &acme, "carol", &[]);
    let (dave_id, dave) = member(&server, &acme, "dave", &[]);
    let (erin_id, erin) = member(&server, &acme, "erin", &[]);
    passes(&carol.query("list_users", json!({})).expect("sent"), "carol is no administrator yet");

    // Ten days on, carol is tagged Admin: three days from now, not from the rule or her creation.
    let t1 = t0 + 10 * DAY;
    server.freeze_clock(t1);
    let tags = |ids: &[&str]| json!({ "userId": carol_id, "userTagIds": ids });
    completed(acme.root.submit("update_user", tags(&[&admin_tag])), "updateUserResult");
    passes_with_header(&carol.query("list_users", json!({})).expect("sent"), t1 + 3 * DAY, "carol's own grace");
    server.freeze_clock(t1 + 3 * DAY);
    blocked(&carol.query("list_users", json!({})).expect("sent"), t1 + 3 * DAY, "carol's grace is over");
    // Another tag while she stays an administrator restarts nothing.
    completed(acme.root.submit("update_user", tags(&[&admin_tag, &viewer])), "updateUserResult");
    blocked(&carol.query("list_users", json!({})).expect("sent"), t1 + 3 * DAY, "still an administrator");

    // Dave joins the root quorum, erin gets a new tag named Owner.
    let t2 = t0 + 20 * DAY;
    server.freeze_clock(t2);
    let quorum = json!({ "threshold": 1, "userIds": [acme.root_user_id, dave_id] });
    completed(acme.root.submit("update_root_quorum", quorum), "updateRootQuorumResult");
    let owner = json!({ "userTagName": "Owner", "userIds": [erin_id] });
    completed(acme.root.submit("create_user_tag", owner), "createUserTagResult");
    for (who, client) in [("dave", &dave), ("erin", &erin)] {
        passes_with_header(&client.query("list_users", json!({})).expect("sent"), t2 + 3 * DAY, who);
    }

    // update_user_tag (as @turnkey/http sends it): a helpers tag renamed Editor makes its
    // member an administrator now; a user added to the Admin tag becomes one too.
    let (frank_id, frank) = member(&server, &acme, "frank", &[]);
    let (gina_id, gina) = member(&server, &acme, "gina", &[]);
    let helpers = json!({ "userTagName": "helpers", "userIds": [frank_id] });
    let helpers = completed(acme.root.submit("create_user_tag", helpers), "createUserTagResult")["userTagId"]
        .as_str()
        .expect("tag")
        .to_owned();
    passes(&frank.query("list_users", json!({})).expect("sent"), "a helper is no administrator");
    let t25 = t2 + DAY / 2;
    server.freeze_clock(t25);
    let rename = json!({ "userTagId": helpers, "newUserTagName": "Editor", "addUserIds": [], "removeUserIds": [] });
    completed(acme.root.submit("update_user_tag", rename), "updateUserTagResult");
    let join = json!({ "userTagId": admin_tag, "addUserIds": [gina_id], "removeUserIds": [] });
    completed(acme.root.submit("update_user_tag", join), "updateUserTagResult");
    for (who, client) in [("frank", &frank), ("gina", &gina)] {
        passes_with_header(&client.query("list_users", json!({})).expect("sent"), t25 + 3 * DAY, who);
    }

    // Under `required` everyone has been under the rule since it changed: the clock is the rule's.
    let t3 = t2 + DAY;
    server.freeze_clock(t3);
    let mut everyone = target.clone();
    everyone["value"] = json!("MFA_ENFORCEMENT_REQUIRED");
    completed(root.submit("set_mfa_enforcement", everyone), "setMfaEnforcementResult");
    passes_with_header(&carol.query("list_users", json!({})).expect("sent"), t3 + 3 * DAY, "carol under required");
}

on_every_backend!(
    users_who_fall_under_the_rule_later_get_their_own_grace_sqlite,
    users_who_fall_under_the_rule_later_get_their_own_grace_postgres,
    users_who_fall_under_the_rule_later_get_their_own_grace
);

/// Asserts an activity for an API-only user was refused as such, and did not complete.
#[track_caller]
fn refused_as_api_only(resp: twofold_client::Result<ApiResponse>, label: &str) {
    let resp = resp.expect("sent");
    let text = resp.body.to_string();
    assert!(text.contains("is an API-only user"), "{label}: {text}");
    assert!(!text.contains("ACTIVITY_STATUS_COMPLETED"), "{label}: {text}");
}

/// API-only users under REQUIRED with the grace over: the delegated-access user of SCENARIOS
/// S2 still creates and deletes MFA policies (a human API-key user is blocked), the console's
/// page names it, and it holds no factor, no session and no OTP login.
fn api_only_users_are_exempt_and_never_sign_in(backend: Backend) {
    let server = TestServer::start_with_test_clock(BIN, backend, &[]);
    let t0 = real_now_ms() / 1000 * 1000;
    server.freeze_clock(t0);
    let root = server.root_client();
    let acme = tenant(&server, &root, "acme");
    enroll_totp(&acme.root, &acme.root_user_id, t0);
    let key = new_key();
    let mut robot = api_only_user_with_key("Delegated Access", &key);
    robot["userEmail"] = json!("robot@acme.example");
    let created = acme.root.submit("create_api_only_users", json!({ "apiOnlyUsers": [robot] }));
    let delegate_id = completed(created, "createApiOnlyUsersResult")["userIds"][0].as_str().expect("id").to_owned();
    let delegate = server.client(key, &acme.id);
    let (backend_id, human) = member(&server, &acme, "backend", &[]);
    let policy = json!({ "policyName": "delegated access manages MFA policies", "effect": "EFFECT_ALLOW",
        "consensus": format!("approvers.any(user, user.id == '{delegate_id}')"),
        "condition": "activity.resource == 'MFA_POLICY'", "notes": "" });
    completed(acme.root.submit("create_policy", policy), "createPolicyResult");
    set_rule(&root, Some(&acme.id), "MFA_ENFORCEMENT_REQUIRED", 3);
    server.freeze_clock(t0 + 4 * DAY);

    // The human API-key user is past its grace; the API-only user is asked nothing.
    blocked(&human.query("list_users", json!({})).expect("sent"), t0 + 3 * DAY, "a human's grace is over");
    let whoami = ok(delegate.query("get_whoami", json!({})));
    assert_eq!(whoami["mfaEnrollment"]["required"], false, "{whoami}");
    let mfa_policy = json!({ "userId": acme.root_user_id, "mfaPolicyName": "MFA for everything", "condition": "true",
        "requiredAuthenticationMethods": [{ "any": [{ "type": "AUTHENTICATION_TYPE_TOTP" }] }], "order": 1 });
    let resp = delegate.submit("create_mfa_policy", mfa_policy).expect("sent");
    passes(&resp, "the delegate creates an MFA policy");
    let made = completed(Ok(resp), "createMfaPolicyResult");
    let delete = json!({ "userId": acme.root_user_id, "mfaPolicyId": made["mfaPolicyId"] });
    let resp = delegate.submit("delete_mfa_policy", delete).expect("sent");
    passes(&resp, "the delegate deletes it (the recovery path of S3)");
    completed(Ok(resp), "deleteMfaPolicyResult");

    // The enforcement page's query names the exempt users, and only them.
    let rule = ok(acme.root.query("get_mfa_enforcement", json!({})));
    assert_eq!(rule["apiOnlyUsers"], json!([{ "userId": delegate_id, "userName": "Delegated Access" }]), "{rule}");
    let parent_view = ok(root.query("get_mfa_enforcement", json!({ "targetOrganizationId": acme.id })));
    assert_eq!(parent_view["apiOnlyUsers"], rule["apiOnlyUsers"], "{parent_view}");

    // No session (the console's sign-in is a stamp_login), no factor, not by anyone.
    let session = new_key();
    let login = json!({ "publicKey": session.public_key_hex(), "expirationSeconds": "3600" });
    let before = server.db.row_counts();
    refused_as_api_only(delegate.submit("stamp_login", login), "stamp_login");
    refused_as_api_only(
        acme.root.submit("create_totp_authenticator", json!({ "userId": delegate_id })),
        "an authenticator app for it",
    );
    refused_as_api_only(
        acme.root.submit("create_recovery_codes", json!({ "userId": delegate_id })),
        "recovery codes for it",
    );
    refused_as_api_only(
        acme.root.query("get_passkey_registration_options", json!({ "userId": delegate_id })),
        "a passkey for it",
    );
    let after = server.db.row_counts();
    let changed: Vec<_> = before.iter().zip(&after).filter(|(b, a)| b != a).map(|(b, _)| b.0.as_str()).collect();
    let records = ["activities", "votes", "policy_evaluations", "audit_events"];
    assert!(changed.iter().all(|t| records.contains(t)), "only the refusals' records: {changed:?}");

    // No OTP login for its email, even with the organization's email login on.
    completed(acme.root.submit("enable_auth_proxy", json!({})), "enableAuthProxyResult");
    let methods = json!({ "allowedAuthMethods": ["AUTH_METHOD_EMAIL_OTP_LOGIN"] });
    completed(acme.root.submit("update_auth_proxy_config", methods), "updateAuthProxyConfigResult");
    let login = support::proxy_login(&server, &delegate, &acme.id, "robot@acme.example", &new_key());
    assert_eq!(login.status, 404, "no OTP login for an API-only user: {}", login.body);
    assert!(login.body["message"].as_str().is_some_and(|m| m.starts_with("no user")), "{}", login.body);

    // A human past its grace may still enrol, and is then let through.
    enroll_totp(&human, &backend_id, t0 + 4 * DAY);
    passes(&human.query("list_users", json!({})).expect("sent"), "the human enrolled");
}

on_every_backend!(
    api_only_users_are_exempt_and_never_sign_in_sqlite,
    api_only_users_are_exempt_and_never_sign_in_postgres,
    api_only_users_are_exempt_and_never_sign_in
);
