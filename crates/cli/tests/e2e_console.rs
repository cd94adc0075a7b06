//! The web console (issue 9) in real headless Chromium against the real binary: sign-in
//! with an API key file and with a passkey (CDP virtual authenticator), MFA set-up with a
//! TOTP code computed by pyotp, recovery codes shown once, a non-extractable session key,
//! IP lists (an invalid line highlighted and nothing saved; a valid deny list in force),
//! a setting change that waits for step-up, a two-approver activity approved in
//! `/activities`, removing a factor, policies and the audit log; MFA enforcement on the
//! test clock (banner, forced set-up, reset to global, enrolment off). Every run writes
//! its screenshots under `target/tmp/console-screenshots/`, or into `docs/screenshots/`
//! (linked from the README) with `TWOFOLD_SCREENSHOTS=docs`.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

use std::path::PathBuf;

use serde_json::{Value, json};
use twofold_testkit::{
    Backend, TestServer, api_only_user_with_key, completed, interop_installed, is_ci, new_key, ok, run_node,
};

mod support;

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

/// Whether Chromium and the npm packages are here; under CI=true their absence fails.
fn browser_available() -> bool {
    if !interop_installed() {
        return false;
    }
    if std::path::Path::new("/usr/bin/chromium").exists() {
        return true;
    }
    assert!(!is_ci(), "CI=true but /usr/bin/chromium is missing: run the README test command");
    eprintln!("skipping: chromium not installed");
    false
}

fn screenshot_dir() -> PathBuf {
    support::screenshot_dir(env!("CARGO_TARGET_TMPDIR"))
}

/// Creates a user with a key file under the data dir; returns (user id, key file path).
fn user_with_key_file(server: &TestServer, name: &str) -> (String, PathBuf) {
    let root = server.root_client();
    let (id, key) = support::member_key(&root, name);
    let path = server.data_dir().join(format!("{name}-key.json"));
    key.to_key_file(Some(root.organization_id().to_owned()), Some(id.clone())).save_new(&path).expect("key file");
    (id, path)
}

#[test]
fn console_in_chromium_sign_in_set_up_security_approvals_audit() {
    if !browser_available() {
        return;
    }
    let server = TestServer::start(BIN, Backend::Sqlite, &["--trusted-proxies", "127.0.0.1/32"]);
    let root = server.root_client();
    let root_id = ok(root.query("get_whoami", json!({})))["userId"].as_str().expect("root id").to_owned();
    let (alice_id, alice_key) = user_with_key_file(&server, "alice");
    let (_bob_id, bob_key) = user_with_key_file(&server, "bob");
    let bob = server.client(
        twofold_client::KeyFile::load(&bob_key).expect("key").key_pair().expect("pair"),
        root.organization_id(),
    );
    // alice administers the organization (root quorum, threshold 1); bob needs a second approver.
    completed(
        root.submit("update_root_quorum", json!({ "threshold": 1, "userIds": [root_id, alice_id] })),
        "updateRootQuorumResult",
    );
    completed(
        root.submit(
            "create_policy",
            json!({ "policyName": "two approve new tags", "effect": "EFFECT_ALLOW",
                    "condition": "activity.type == 'ACTIVITY_TYPE_CREATE_USER_TAG'",
                    "consensus": "approvers.count() >= 2" }),
        ),
        "createPolicyResult",
    );
    let pending = ok(bob.submit("create_user_tag", json!({ "userTagName": "ops", "userIds": [] })));
    assert_eq!(pending["activity"]["status"], "ACTIVITY_STATUS_CONSENSUS_NEEDED", "{pending}");

    let shots = screenshot_dir();
    let seen = run_node(
        "console-chromium.mjs",
        &[&server.url, &alice_key.display().to_string(), &bob_key.display().to_string(), &shots.display().to_string()],
    );
    let text = |k: &str| seen[k].as_str().unwrap_or_default().to_owned();
    assert!(seen.get("pageErrors").is_none(), "script errors in the page: {seen}");
    assert!(text("signedInAs").contains("alice"), "{seen}");
    assert!(text("otpSection").contains("email-code sign-in"), "the email-code card explains itself: {seen}");

    // Set-up: QR shown, ten recovery codes shown once, "Done" only after the checkbox.
    assert_eq!(seen["qrShown"], true, "{seen}");
    assert!(
        seen["bindingStepUp"].as_str().is_some_and(|t| t.contains("your passkey")),
        "binding a second factor asks for the passkey she has: {seen}"
    );
    let codes: Vec<&str> = seen["recoveryCodes"].as_array().expect("codes").iter().filter_map(Value::as_str).collect();
    assert_eq!(codes.len(), 10, "{seen}");
    assert!(codes.iter().all(|c| c.len() == 23 && c.matches('-').count() == 3), "{codes:?}");
    assert_eq!(seen["doneDisabledBeforeCheckbox"], true);
    assert_eq!(seen["codesOnSecurityPage"], false, "codes are shown once");
    // "The enrollment flow issues one-time recovery codes at the end": the first factor's
    // enrolment shows them at once, without another click; a second factor issues none.
    assert_eq!(seen["createButtonAfterFirstFactor"], 0, "no separate click for the first codes: {seen}");
    assert!(text("codesStatus").contains("10 of 10 recovery codes left"), "{seen}");
    assert_eq!(seen["codesAfterSecondFactor"], 0, "the second factor brings no new codes: {seen}");

    // Without WebAuthn the set-up page offers the authenticator app at once (open and first,
    // no passkey button, no error) and that path ends with the first recovery codes.
    let plain = &seen["noWebauthn"];
    assert_eq!(plain["hasApi"], false, "the browser really has no WebAuthn: {plain}");
    assert_eq!(plain["appOpen"], true, "{plain}");
    assert_eq!(plain["appFirst"], "totp-card", "{plain}");
    assert_eq!(plain["passkeyButton"], 0, "{plain}");
    assert_eq!(plain["errors"], json!([]), "no error before anything was tried: {plain}");
    assert!(plain["lead"].as_str().is_some_and(|t| t.contains("authenticator app")), "{plain}");
    assert!(plain["unavailable"].as_str().is_some_and(|t| t.contains("not available in this browser")), "{plain}");
    assert_eq!(plain["codes"], 10, "the app as first factor brings the recovery codes: {plain}");

    // Sign-out deletes the key; the passkey signs in again; the key cannot be exported.
    assert_eq!(seen["keysAfterSignOut"], 0, "{seen}");
    assert_eq!(seen["orgRemembered"], root.organization_id());
    assert!(text("signedInWithPasskeyAs").contains("alice"), "{seen}");
    assert_eq!(
        seen["keyCheck"],
        json!({ "type": "private", "extractable": false, "algorithm": "P-256", "exported": null })
    );
    let sessions = ok(root.query("list_sessions", json!({ "userId": alice_id })));
    assert_eq!(
        sessions["sessions"].as_array().expect("sessions").len(),
        1,
        "the signed-out session is gone: {sessions}"
    );

    // IP lists: the bad line highlighted and nothing saved; the valid list saved after step-up.
    assert_eq!(seen["auditShortcut"], json!({ "inHeader": true, "aboveCards": true, "href": "/audit" }), "{seen}");
    assert_eq!(seen["highlightedLines"], json!([2]), "{seen}");
    assert!(text("lineErrors").contains("Line 2") && text("lineErrors").contains("10.0.0.300/8"), "{seen}");
    assert_eq!(seen["ariaInvalid"], "true");
    assert_eq!(seen["denyAfterInvalid"], "", "nothing saved: {seen}");
    assert!(text("stepUpText").contains("second factor"), "{seen}");
    assert_eq!(seen["denyAfterSave"], "203.0.113.0/24 # blocked range");
    let deny = ok(root.query("get_ip_denylist", json!({})));
    let rules = deny["denylist"]["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 1, "{deny}");
    assert_eq!((&rules[0]["cidr"], &rules[0]["label"]), (&json!("203.0.113.0/24"), &json!("blocked range")));
    let from = |ip: &str| {
        let body = root.query_body(json!({})).expect("body").to_string();
        let headers = [("X-Stamp", root.key().stamp(body.as_bytes())), ("X-Forwarded-For", ip.to_owned())];
        root.post_with_headers("/public/v1/query/get_whoami", body.as_bytes(), &headers).expect("sent")
    };
    let denied = from("203.0.113.7");
    assert_eq!(denied.status, 403, "a request from the denied address fails: {}", denied.body);
    let partner = from("198.51.100.7");
    assert_eq!(partner.status, 200, "the invalid submission saved nothing: {}", partner.body);

    // Removing a factor.
    assert_eq!(seen["factorsBefore"], json!(["Passkey", "Authenticator app"]), "{seen}");
    assert_eq!(seen["factorsAfter"], json!(["Passkey"]), "{seen}");

    // Two approvers: bob's tag waited, alice approved it in /activities, bob sees it completed.
    assert!(text("bobWaiting").contains("create user tag"), "{seen}");
    assert!(text("aliceApproved").contains("completed"), "{seen}");
    assert!(text("bobWaitingAfter").contains("Nothing waits"), "{seen}");
    assert_eq!(seen["bobHistoryTag"].as_array().map(Vec::len), Some(1), "{seen}");
    assert!(seen["bobHistoryTag"][0].as_str().expect("row").contains("completed"), "{seen}");
    let tags = ok(root.query("list_user_tags", json!({})));
    assert!(tags.to_string().contains("\"ops\""), "{tags}");

    // Policies, audit, and the enforcement index (global default, every tenant).
    assert!(text("conditionCheck").contains("at 1:21"), "the parse error at its position: {seen}");
    assert!(text("dryRun").contains("allow: the root quorum is met"), "{seen}");
    assert!(text("chain").contains("Chain verified"), "{seen}");
    assert!(seen["auditRows"].as_u64().expect("rows") > 5, "{seen}");
    let enforcement = text("enforcementPage");
    assert!(enforcement.contains("Global default") && enforcement.contains("inherited from global"), "{seen}");
}

#[test]
fn console_grace_banner_then_forced_set_up_on_the_test_clock() {
    if !browser_available() {
        return;
    }
    let server = TestServer::start_with_test_clock(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let root_id = ok(root.query("get_whoami", json!({})))["userId"].as_str().expect("root id").to_owned();
    let (admin_id, admin_key) = user_with_key_file(&server, "dana");
    let (member_id, member_key) = user_with_key_file(&server, "carol");
    completed(
        root.submit("update_root_quorum", json!({ "threshold": 1, "userIds": [root_id, admin_id] })),
        "updateRootQuorumResult",
    );
    // A service account the enforcement page names as exempt, whose key cannot sign in.
    let robot_key = new_key();
    let robot = json!({ "apiOnlyUsers": [api_only_user_with_key("ci-robot", &robot_key)] });
    let robot_id = completed(root.submit("create_api_only_users", robot), "createApiOnlyUsersResult")["userIds"][0]
        .as_str()
        .expect("id")
        .to_owned();
    let robot_key_path = server.data_dir().join("robot-key.json");
    robot_key
        .to_key_file(Some(root.organization_id().to_owned()), Some(robot_id.clone()))
        .save_new(&robot_key_path)
        .expect("key file");
    let clock = server.data_dir().parent().expect("server dir").join("clock-offset-ms");
    assert!(clock.exists(), "the test clock file at {}", clock.display());
    let started_ms = i64::try_from(std::time::UNIX_EPOCH.elapsed().expect("clock").as_millis()).expect("ms");
    let shots = screenshot_dir();
    let seen = run_node(
        "console-enforcement.mjs",
        &[
            &server.url,
            &admin_key.display().to_string(),
            &member_key.display().to_string(),
            &shots.display().to_string(),
            &clock.display().to_string(),
            &robot_key_path.display().to_string(),
        ],
    );
    let text = |k: &str| seen[k].as_str().unwrap_or_default().to_owned();
    assert!(seen.get("pageErrors").is_none(), "script errors in the page: {seen}");

    // Off: set-up says enrolment is disabled and offers nothing.
    assert!(text("setupWhenOff").contains("Enrolling new factors is disabled"), "{seen}");
    assert_eq!(seen["addPasskeyWhenOff"], 0, "{seen}");
    // Reset to global asks first; cancelled, nothing changes.
    let dialogs = seen["dialogs"].as_array().expect("dialogs");
    assert!(dialogs.len() == 2 && dialogs.iter().all(|d| d.as_str().is_some_and(|d| d.contains("global"))), "{seen}");
    assert_eq!(text("sourceAfterCancel"), "set for this organization", "{seen}");
    assert_eq!(text("sourceAfterReset"), "inherited from global", "{seen}");
    // The email/SMS switch is visible, off by default, warns, and saves.
    assert_eq!(seen["otpSwitch"]["checked"], false, "{seen}");
    assert!(
        seen["otpSwitch"]["label"].as_str().is_some_and(|l| l.contains("verified email address or phone number")),
        "{seen}"
    );
    assert!(seen["otpSwitch"]["hint"].as_str().is_some_and(|h| h.contains("NIST") && h.contains("Weaker")), "{seen}");
    assert_eq!(seen["otpSwitchAfterSave"], true, "{seen}");
    assert!(text("ruleAfterSet").contains("Required for everyone") && text("ruleAfterSet").contains("3 d"), "{seen}");
    // The API-only user: named exempt on the page and in the organization's editor; no sign-in.
    let exempt = seen["exempt"].as_array().expect("exempt lists");
    assert_eq!(exempt.len(), 2, "{seen}");
    assert!(
        exempt.iter().all(|e| e.as_str().is_some_and(|e| e.contains("ci-robot") && e.contains(&robot_id))),
        "{seen}"
    );
    assert!(text("robotSignIn").contains("is an API-only user"), "{seen}");
    assert!(text("robotPath").starts_with("/signin"), "{seen}");

    // The banner, on every page, with the deadline 3 days after the change.
    let pages = seen["bannerPages"].as_object().expect("banner pages");
    assert_eq!(pages.len(), 4, "{seen}");
    let deadlines: Vec<&str> = pages.values().map(|v| v.as_str().expect("a banner with a deadline")).collect();
    assert!(deadlines.windows(2).all(|w| w[0] == w[1]), "{seen}");
    let deadline = seen["bannerDeadlineMs"].as_i64().expect("the deadline parses as a date");
    let three_days = 3 * 86_400_000;
    assert!(
        (started_ms + three_days..started_ms + three_days + 600_000).contains(&deadline),
        "deadline {} is 3 days after the change: {seen}",
        deadlines[0]
    );

    // Past the deadline: the expired session signs in again; every page leads to set-up.
    assert_eq!(text("expiredTo"), "/signin", "{seen}");
    for (path, to) in seen["redirects"].as_object().expect("redirects") {
        assert_eq!(to, "/security-clearance/setup-2fa", "{path}: {seen}");
    }
    assert!(text("overdueBanner").contains("now required"), "{seen}");
    assert_eq!(seen["recoveryCodes"], 10, "{seen}");
    assert_eq!(seen["doneDisabledBeforeCheckbox"], true, "{seen}");
    for (path, after) in seen["afterEnrolment"].as_object().expect("after") {
        assert_eq!(after, &json!({ "path": path, "banner": 0 }), "{seen}");
    }
    let member = server.client(
        twofold_client::KeyFile::load(&member_key).expect("key").key_pair().expect("pair"),
        root.organization_id(),
    );
    let whoami = ok(member.query("get_whoami", json!({})));
    assert_eq!(
        whoami["mfaEnrollment"],
        json!({ "required": true, "deadline": null, "enrolled": true, "overdue": false }),
        "{member_id}: {whoami}"
    );
}

/// The console's WebCrypto HPKE seals an email code exactly as `@turnkey/crypto`'s
/// `encryptOtpCodeToBundle` does: its `hpkeDecrypt` opens it; a bundle signed by another key,
/// a tampered signature or a different pinned key is refused.
#[test]
fn console_hpke_seal_opens_with_turnkey_crypto() {
    if !interop_installed() {
        return;
    }
    let hpke = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../web/console/js/hpke.js");
    let seen = run_node("console-hpke.mjs", &[&hpke.display().to_string()]);
    assert!(seen.get("error").is_none(), "{seen}");
    assert_eq!(seen["opened"], json!({ "otp_code": "ABCD1234E", "public_key": seen["expectedPublicKey"] }), "{seen}");
    assert_eq!(seen["encappedIsUncompressed"], true, "{seen}");
    for refusal in ["otherSigner", "tampered", "wrongPin"] {
        assert!(seen[refusal].as_str().is_some_and(|m| m.contains("target bundle")), "{refusal}: {seen}");
    }
}

/// A web app on another origin signs in through the auth proxy from Chromium: until the
/// organization lists the app's origin the browser's request is refused and unreadable (and
/// nothing is sent); once it does, the page reads the answer and the code goes out.
#[test]
fn auth_proxy_answers_pages_of_allowed_origins_in_chromium() {
    if !browser_available() {
        return;
    }
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let org = root.organization_id().to_owned();
    completed(root.submit("enable_auth_proxy", json!({})), "enableAuthProxyResult");
    let outbox = || twofold_enclave::Outbox::list(&server.data_dir().join("outbox")).expect("outbox").len();
    let sent = outbox();
    let app_port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
    let app_port = app_port.to_string();
    let blocked = run_node("proxy-cors.mjs", &[&server.url, &org, "ann@example.com", &app_port]);
    assert!(blocked["answer"]["error"].as_str().is_some_and(|e| e.contains("Failed to fetch")), "{blocked}");
    assert_eq!(outbox(), sent, "a refused page sent nothing: {blocked}");
    let app = blocked["pageOrigin"].as_str().expect("page origin").to_owned();
    let origins = json!({ "allowedOrigins": [app] });
    completed(root.submit("update_auth_proxy_config", origins), "updateAuthProxyConfigResult");
    let allowed = run_node("proxy-cors.mjs", &[&server.url, &org, "ann@example.com", &app_port]);
    assert_eq!(allowed["answer"]["status"], 200, "{allowed}");
    assert!(allowed["answer"]["body"]["otpId"].is_string(), "{allowed}");
    assert_eq!(outbox(), sent + 1);
}

/// The auth proxy card on /admin/security turns email-code sign-in on, shows which origin
/// line is wrong, saves the settings (read back through the API) and turns it off.
#[test]
fn console_auth_proxy_card_turns_sign_in_on_configures_it_and_off() {
    if !browser_available() {
        return;
    }
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let key = server.root_key_path().display().to_string();
    let shots = screenshot_dir().display().to_string();
    let seen = run_node("console-auth-proxy.mjs", &[&server.url, &key, &shots]);
    assert_eq!(seen["before"], "Off.", "{seen}");
    assert!(seen["enabled"].as_str().is_some_and(|s| s.starts_with("On.")), "{seen}");
    assert!(seen["badOrigin"].as_str().is_some_and(|m| m.contains("allowedOrigins[1]")), "{seen}");
    assert_eq!(
        seen["saved"],
        json!({ "appName": "Acme", "signup": true, "passkeySignup": true, "origins": "https://app.example.com" })
    );
    assert!(
        seen["configId"].as_str().is_some_and(|id| id.len() == 36),
        "the id @turnkey/core is configured with: {seen}"
    );
    assert_eq!(seen["after"], "Off.", "{seen}");
    assert_eq!(seen["dialogsSeen"], 1, "turning it off asks first: {seen}");
    assert!(seen.get("pageErrors").is_none(), "{seen}");
    let logged = seen["consoleErrors"].as_array().cloned().unwrap_or_default();
    assert!(
        logged.iter().all(|e| e.as_str().is_some_and(|e| e.contains("status of 400"))),
        "only the refused save: {seen}"
    );
    let config = ok(root.query("get_auth_proxy_config", json!({})));
    assert_eq!(config["enabled"], false, "{config}");
    // What was saved reached the server: the activities are in the organization's history.
    let activities = ok(root.query("list_activities", json!({})));
    let updates: Vec<&Value> = activities["activities"]
        .as_array()
        .expect("activities")
        .iter()
        .filter(|a| a["type"] == "ACTIVITY_TYPE_UPDATE_AUTH_PROXY_CONFIG" && a["status"] == "ACTIVITY_STATUS_COMPLETED")
        .collect();
    assert_eq!(updates.len(), 1, "one saved update (the bad origin was refused): {activities}");
    let intent = &updates[0]["intent"]["updateAuthProxyConfigIntent"];
    assert_eq!(intent["allowedOrigins"], json!(["https://app.example.com"]), "{intent}");
    assert_eq!(intent["appName"], "Acme", "{intent}");
    assert_eq!(
        intent["allowedAuthMethods"],
        json!(["AUTH_METHOD_EMAIL_OTP_LOGIN", "AUTH_METHOD_EMAIL_OTP_SIGNUP", "AUTH_METHOD_PASSKEY_SIGNUP"]),
        "{intent}"
    );
}

#[test]
fn console_pages_carry_strict_security_headers() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    for path in ["/signin", "/admin/security", "/console/js/api.js", "/console/js/hpke.js", "/console/console.css"] {
        let resp = reqwest_get(&format!("{}{path}", server.url));
        assert_eq!(resp.0, 200, "{path}");
        let h = |n: &str| resp.1.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).unwrap_or_default();
        let csp = h("content-security-policy");
        assert!(csp.contains("default-src 'self'") && csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(h("x-frame-options"), "DENY", "{path}");
        assert_eq!(h("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(h("x-content-type-options"), "nosniff", "{path}");
        assert!(h("set-cookie").is_empty(), "{path}: no cookies");
    }
    let page = reqwest_get(&format!("{}/activities", server.url)).2;
    assert!(!page.contains("<script>") && page.contains(r#"<script type="module" src="/console/js/app.js">"#));
    assert_eq!(reqwest_get(&format!("{}/console/nope.js", server.url)).0, 404);
}

/// A plain GET with std only: (status, lower-case headers, body).
fn reqwest_get(url: &str) -> (u16, Vec<(String, String)>, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http");
    let (host, path) = rest.split_once('/').expect("path");
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    write!(stream, "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("head");
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

/// Item 1: a user with an email signs in with a code (through the organization's auth
/// proxy, the code read from the dev outbox), registers a passkey, signs out, and signs in
/// with the passkey; the session key is non-extractable.
#[test]
fn console_email_code_sign_in_then_passkey() {
    if !browser_available() {
        return;
    }
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let methods = json!(["AUTH_METHOD_EMAIL_OTP_LOGIN", "AUTH_METHOD_EMAIL_OTP_SIGNUP"]);
    completed(
        root.submit("enable_auth_proxy", json!({ "appName": "twofold console", "allowedAuthMethods": methods })),
        "enableAuthProxyResult",
    );
    let user = json!({ "userName": "ann", "userEmail": "ann@example.com", "apiKeys": [], "authenticators": [],
        "oauthProviders": [] });
    let created = completed(
        root.submit(
            "create_sub_organization",
            json!({ "subOrganizationName": "Ann's team", "rootUsers": [user], "rootQuorumThreshold": 1 }),
        ),
        "createSubOrganizationResultV8",
    );
    let sub_org = created["subOrganizationId"].as_str().expect("sub-organization");
    let outbox = server.data_dir().join("outbox");
    let seen = run_node(
        "console-otp.mjs",
        &[
            &server.url,
            root.organization_id(),
            "ann@example.com",
            BIN,
            &outbox.display().to_string(),
            &screenshot_dir().display().to_string(),
            "bea@example.com",
        ],
    );
    let text = |k: &str| seen[k].as_str().unwrap_or_default().to_owned();
    assert!(seen.get("pageErrors").is_none(), "script errors in the page: {seen}");
    // Sign-up by email code, then a passkey, sign-out, and the passkey signs her in again.
    assert!(text("signedUpAs").contains("bea@example.com"), "{seen}");
    assert_eq!(seen["newKeysAfterSignOut"], 0, "{seen}");
    let new_org = seen["newOrgRemembered"].as_str().expect("new org").to_owned();
    assert!(!new_org.is_empty() && new_org != root.organization_id(), "her own new sub-organization: {seen}");
    assert!(text("newSignedInWithPasskeyAs").contains("bea@example.com"), "{seen}");
    let subs = ok(root.query("list_suborgs", json!({})));
    assert!(subs.to_string().contains(&new_org), "{subs}");
    assert!(text("afterSend").contains("We sent a code"), "{seen}");
    assert!(text("signedInWithCodeAs").contains("ann"), "{seen}");
    assert_eq!(
        seen["keyCheck"],
        json!({ "type": "private", "extractable": false, "algorithm": "P-256", "exported": null })
    );
    assert_eq!(seen["keysAfterSignOut"], 0, "{seen}");
    assert_eq!(seen["orgRemembered"], sub_org, "the user's own organization, where its passkey signs in");
    assert!(text("signedInWithPasskeyAs").contains("ann"), "{seen}");
}

/// A web app on another origin calls the public API from Chromium with Turnkey's own
/// stamper and the headers @turnkey/core sends: the browser's preflight fails, and the page
/// reads nothing, until the organization lists the app's origin; then it reads answers and
/// errors (the SDK maps error texts such as an expired session).
#[test]
fn public_api_answers_pages_of_allowed_origins_in_chromium() {
    if !browser_available() {
        return;
    }
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let key = server.root_key_path().display().to_string();
    let app_port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
    let app_port = app_port.to_string();
    let blocked = run_node("api-cors.mjs", &[&server.url, &key, &app_port]);
    assert!(blocked["whoami"]["error"].as_str().is_some_and(|e| e.contains("Failed to fetch")), "{blocked}");
    let app = blocked["pageOrigin"].as_str().expect("page origin").to_owned();
    completed(root.submit("enable_auth_proxy", json!({ "allowedOrigins": [app] })), "enableAuthProxyResult");
    let allowed = run_node("api-cors.mjs", &[&server.url, &key, &app_port]);
    assert_eq!(allowed["whoami"]["status"], 200, "{allowed}");
    assert_eq!(allowed["whoami"]["body"]["organizationId"], root.organization_id(), "{allowed}");
    assert_eq!(allowed["unstamped"]["status"], 401, "{allowed}");
    assert!(allowed["unstamped"]["body"]["message"].is_string(), "the page reads the error: {allowed}");
}

/// Turnkey's browser SDK, @turnkey/core 2.8.1 unchanged, bundled into an app page in Chromium
/// and configured as an app configures it for Turnkey (the parent organization, the auth proxy
/// configuration id), with Chromium's virtual authenticator as the user's passkey: email-code
/// sign-up through the auth proxy (verified with the documented `proxyVerifyOtpV2` workaround;
/// the SDK's own `verifyOtp` refuses a self-hosted enclave key), email-code login again,
/// `updateUserName` / `updateUserEmail` / `updateUserPhoneNumber`, `addPasskey` and
/// `removePasskeys`, `refreshSession`, logout, passkey sign-up, passkey login naming the parent
/// organization, `fetchUser`, the parent's `getSubOrgIds` by email, and `deleteSubOrganization`.
#[test]
fn turnkey_core_runs_its_auth_flows_against_twofold_in_chromium() {
    if !browser_available() {
        return;
    }
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let org = root.organization_id().to_owned();
    let methods = json!({ "allowedAuthMethods":
        ["AUTH_METHOD_EMAIL_OTP_LOGIN", "AUTH_METHOD_EMAIL_OTP_SIGNUP", "AUTH_METHOD_PASSKEY_SIGNUP"] });
    let enabled = completed(root.submit("enable_auth_proxy", methods), "enableAuthProxyResult");
    let config_id = enabled["configId"].as_str().expect("config id").to_owned();
    let pinned = root.enclave_signing_key().expect("enclave key");
    let outbox = server.data_dir().join("outbox").display().to_string();
    let key_file = server.root_key_path().display().to_string();
    let app_port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
    let app_port = app_port.to_string();
    let args =
        [server.url.as_str(), &org, &config_id, &outbox, &app_port, &pinned, "core@example.com", key_file.as_str()];
    let seen = run_node("core-chromium.mjs", &args);
    let fine = |step: &str| {
        assert!(seen.get(step).is_some_and(|v| v.get("error").is_none()), "{step}: {seen:#}");
        &seen[step]
    };
    assert!(seen.get("fatal").is_none(), "{seen:#}");
    assert_eq!(fine("init"), "ready");
    assert_eq!(fine("walletKitConfig")["enabledProviders"], json!(["email", "passkey"]), "{seen:#}");
    assert!(seen["sdkVerifyOtp"]["cause"].as_str().is_some_and(|c| c.contains("signer key")), "{seen:#}");
    assert_eq!(fine("signUpVerifyOtp")["hasToken"], true);
    assert_eq!(fine("accountBefore"), &json!({}));
    assert_eq!(fine("signUp")["hasSession"], true);
    let sub_org = fine("afterSignUp")["organizationId"].as_str().expect("session organization").to_owned();
    assert_ne!(sub_org, org, "the session is in the new sub-organization");
    assert_eq!(fine("logoutAfterSignUp"), &Value::Null);
    assert_eq!(fine("accountAtLogin")["organizationId"], sub_org.as_str());
    assert_eq!(fine("otpLogin")["hasSession"], true);
    assert_eq!(fine("afterOtpLogin")["organizationId"], sub_org.as_str());
    assert_eq!(fine("rename"), "Core User");
    assert_eq!(fine("updateEmail"), "core-new@example.com");
    assert_eq!(fine("updatePhone"), "+15555550123");
    assert_eq!(fine("addPasskey").as_array().map(Vec::len), Some(1), "{seen:#}");
    fine("removePasskeys");
    assert_eq!(fine("authenticatorsAfterRemove"), 0);
    assert_eq!(fine("refreshSession"), &json!({ "hasSession": true, "newKey": true }));
    assert_eq!(fine("logout"), &Value::Null);
    assert!(seen["fetchUserAfterLogout"]["error"].is_string(), "the old session is gone: {seen:#}");
    assert_eq!(fine("passkeySignUp")["hasSession"], true);
    let passkey_org = fine("afterPasskeySignUp")["organizationId"].as_str().expect("organization").to_owned();
    assert!(passkey_org != org && passkey_org != sub_org, "{seen:#}");
    assert_eq!(fine("logoutAfterPasskeySignUp"), &Value::Null);
    assert_eq!(fine("loginWithPasskey")["hasSession"], true);
    assert_eq!(
        fine("loginWithPasskey")["organizationId"],
        passkey_org.as_str(),
        "the parent's id found the passkey's sub-organization"
    );
    assert_eq!(fine("userAfterPasskeyLogin")["authenticators"], 1);
    assert_eq!(fine("getSubOrgIds"), &json!([sub_org]), "the parent finds the email's sub-organization");
    assert_eq!(fine("deleteSubOrganization"), passkey_org.as_str());
    let subs = ok(root.query("list_suborgs", json!({})));
    assert_eq!(subs["organizationIds"], json!([sub_org]), "the passkey sign-up's organization is gone: {subs}");
}
