//! End-to-end request authentication (acceptance 3): Turnkey's npm stamper works
//! unchanged; tampered bodies, stale timestamps and deleted or expired keys fail.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use twofold_testkit::{Backend, TestServer, completed, interop_installed, new_key, ok, run_node, user_with_key};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

#[track_caller]
fn assert_error(resp: &twofold_client::ApiResponse, status: u16, needle: &str) {
    assert_eq!(resp.status, status, "{}", resp.body);
    assert!(resp.body["code"].is_i64(), "JSON error with a code: {}", resp.body);
    let msg = resp.body["message"].as_str().expect("message");
    assert!(msg.contains(needle), "message `{msg}` should contain `{needle}`");
}

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis()
}

#[test]
fn turnkey_api_key_stamper_and_http_client_work_unchanged() {
    if !interop_installed() {
        return;
    }
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let key_path = server.root_key_path().display().to_string();
    let r = run_node("turnkey-sdk.mjs", &[&server.url, &key_path]);
    // Every request the SDK made and every answer it got, against the SDK's own types.
    let types = twofold_testkit::check_sdk_types(&r["calls"]);
    assert_eq!(types["errors"], json!([]), "answers that differ from @turnkey/http's types: {types}");
    assert!(types["checked"].as_u64().is_some_and(|n| n >= 30), "{types}");
    assert_eq!(r["whoami"]["username"], "root");
    assert_eq!(r["createdStatus"], "ACTIVITY_STATUS_COMPLETED");
    assert_eq!(r["manualHttpStatus"], 200);
    assert_eq!(r["fetchedStatus"], "ACTIVITY_STATUS_COMPLETED");
    assert_eq!(r["manualFingerprint"], r["sdkFingerprint"], "fingerprint = computeActivityFingerprint(body)");
    let names: Vec<&str> = r["userNames"].as_array().expect("names").iter().filter_map(Value::as_str).collect();
    assert!(names.contains(&"sdk-renamed") && names.contains(&"sdk-user-2"), "{names:?}");
    assert_eq!(r["renamedStatus"], "ACTIVITY_STATUS_COMPLETED");
    assert_eq!(r["renamedType"], "ACTIVITY_TYPE_UPDATE_USER_NAME");
    assert_eq!(r["renamedUserId"], r["createdUserIds"][0], "updateUserNameResult names the renamed user");
    for (status, user) in [("emailedStatus", "emailedUserId"), ("phonedStatus", "phonedUserId")] {
        assert_eq!(r[status], "ACTIVITY_STATUS_COMPLETED", "{status}: {r}");
        assert_eq!(r[user], r["createdUserIds"][0], "{user}");
    }
    assert_eq!(r["contacts"], json!(["sdk-new@example.com", "+15555550100"]), "the new contacts are stored");
    assert!(r["subOrganizationId"].is_string(), "{r}");
    assert_eq!(r["deletedSubStatus"], "ACTIVITY_STATUS_COMPLETED", "{r}");
    assert_eq!(r["deletedSubUuid"], r["subOrganizationId"], "{r}");
    assert!(!r["subsAfter"].as_array().expect("ids").contains(&r["subOrganizationId"]), "{r}");
    assert_eq!(r["deletedPolicies"], r["policyIds"], "{r}");
    assert_eq!(r["updatedTag"], r["userTagId"], "{r}");
    assert_eq!(r["deletedTags"]["userTagIds"], json!([r["userTagId"]]), "{r}");
    assert_eq!(r["deletedTags"]["userIds"], json!([r["sdkUser"]]), "the renamed tag carried the user: {r}");
    let left = r["policiesLeft"].as_array().expect("policies");
    assert!(!left.iter().any(|n| n.as_str().is_some_and(|n| n.starts_with("sdk-bulk"))), "{r}");
    assert_eq!(r["renamedOrg"]["organizationName"], "SDK Renamed Org", "{r}");
    assert_eq!(r["renamedOrg"]["organizationId"], r["whoami"]["organizationId"], "{r}");
    assert_eq!(r["organizationNameAfter"], "SDK Renamed Org", "whoami sees the new name at once: {r}");
    let robot = r["apiOnly"]["userIds"][0].as_str().expect("an API-only user id");
    assert_eq!(r["robotWhoami"]["userId"], robot, "the API-only user signs with its key: {r}");
    assert_eq!(r["robotWhoami"]["username"], "sdk-robot", "{r}");
    assert!(r["robotLogin"].to_string().contains("is an API-only user"), "its stamp_login is refused: {r}");
    assert_ne!(r["robotLogin"]["status"], "ACTIVITY_STATUS_COMPLETED", "{r}");
    // secp256k1: created through the SDK, stamps (either S) verify, the wrong scheme does not.
    assert_eq!(r["k1KeyIds"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(r["k1Whoami"], robot, "{r}");
    assert_eq!(r["k1HighS"], robot, "a high-S signature is accepted, as for P-256: {r}");
    let refused = r["k1Refused"]["error"].as_str().unwrap_or_default();
    assert!(refused.starts_with("Turnkey error 16: stamp scheme `SIGNATURE_SCHEME_TK_API_P256` does not match"), "{r}");
    assert_eq!(r["k1Listed"], json!(["CREDENTIAL_TYPE_API_KEY_SECP256K1"]), "{r}");
    let statuses = r["activePolicies"]["statuses"].as_array().expect("statuses");
    assert!(!statuses.is_empty() && statuses.iter().all(|s| s["active"] == true), "{r}");
    assert!(r["activePolicies"]["evaluatedAtMs"].as_str().is_some_and(|t| t.parse::<u64>().is_ok()), "{r}");
    assert_eq!(r["verifiedSubOrgs"]["organizationIds"], json!([]), "{r}");
    assert_eq!(r["updatedHook"]["webhookEndpoint"]["name"], "sdk-hook-renamed", "{r}");
    assert_eq!(r["updatedHook"]["webhookEndpoint"]["isActive"], false, "{r}");
    let events = r["emailEvents"]["emailEvents"].as_array().expect("events");
    assert!(events.iter().any(|e| e["eventType"] == "Send" && e["toAddress"] == "sdk@example.com"), "{r}");
    let feature_names = |v: &Value| v.as_array().map(|a| a.iter().map(|f| f["name"].clone()).collect::<Vec<_>>());
    let both = Some(vec![json!("FEATURE_NAME_OTP_EMAIL_AUTH"), json!("FEATURE_NAME_SMS_AUTH")]);
    assert_eq!(feature_names(&r["configsBefore"]["configs"]["features"]), both, "{r}");
    assert_eq!(feature_names(&r["smsOff"]["features"]), Some(vec![json!("FEATURE_NAME_OTP_EMAIL_AUTH")]), "{r}");
    assert_eq!(feature_names(&r["smsOn"]["features"]), both, "{r}");
    // The legacy OTP endpoints are refused, naming the V3 flow (docs/API.md says why).
    for (call, path) in [("emailAuth", "email_auth"), ("initOtpAuth", "init_otp_auth"), ("otpAuth", "otp_auth")] {
        let error = r["legacy"][call]["error"].as_str().unwrap_or_default();
        assert!(error.starts_with(&format!("Turnkey error 5: `{path}`: ACTIVITY_TYPE_")), "{call}: {r}");
        assert!(error.contains("is not served") && error.contains("ACTIVITY_TYPE_OTP_LOGIN_V2"), "{call}: {r}");
    }
}

#[test]
fn a_body_changed_after_stamping_is_refused() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let body = root
        .submit_body("create_users", json!({ "parameters": { "users": [{ "userName": "eve" }] } }))
        .expect("body")
        .to_string();
    let stamp = root.key().stamp(body.as_bytes());
    let tampered = body.replacen("eve", "evf", 1);
    assert_eq!(tampered.len(), body.len(), "one byte changed");
    let resp = root
        .post_with_headers("/public/v1/submit/create_users", tampered.as_bytes(), &[("X-Stamp", stamp.clone())])
        .expect("sent");
    assert_error(&resp, 401, "signature does not verify");
    let resp =
        root.post_with_headers("/public/v1/submit/create_users", body.as_bytes(), &[("X-Stamp", stamp)]).expect("sent");
    assert!(resp.is_success(), "the untouched body passes: {}", resp.body);
    let users = ok(root.query("list_users", json!({})));
    assert!(!users["users"].as_array().expect("users").iter().any(|u| u["userName"] == "evf"));
}

#[test]
fn timestamps_outside_the_window_are_refused() {
    let server = TestServer::start(BIN, Backend::Sqlite, &["--timestamp-window-secs", "60"]);
    let root = server.root_client();
    for (label, ts) in [("old", now_ms() - 120_000), ("future", now_ms() + 120_000)] {
        let body = root
            .submit_body(
                "create_users",
                json!({ "timestampMs": ts.to_string(), "parameters": { "users": [{ "userName": label }] } }),
            )
            .expect("body");
        let resp = root.post_raw("/public/v1/submit/create_users", body.to_string().as_bytes()).expect("sent");
        assert_error(&resp, 401, "outside the allowed window");
    }
    // A body accepted once and replayed after the window is refused too.
    let body = root
        .submit_body("create_users", json!({ "timestampMs": (now_ms() - 59_000).to_string(), "parameters": { "users": [{ "userName": "late" }] } }))
        .expect("body")
        .to_string();
    ok(root.post_raw("/public/v1/submit/create_users", body.as_bytes()));
    std::thread::sleep(Duration::from_millis(1500));
    let replay = root.post_raw("/public/v1/submit/create_users", body.as_bytes()).expect("sent");
    assert_error(&replay, 401, "outside the allowed window");
}

#[test]
fn deleted_expired_and_unknown_keys_are_refused() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let key = new_key();
    let expiring = new_key();
    let mut params = user_with_key("frank", &key);
    params["apiKeys"]
        .as_array_mut()
        .expect("keys")
        .push(json!({ "apiKeyName": "short", "publicKey": expiring.public_key_hex(), "curveType": "API_KEY_CURVE_P256", "expirationSeconds": "1" }));
    let frank = completed(root.submit("create_users", json!({ "users": [params] })), "createUsersResult")["userIds"][0]
        .as_str()
        .expect("id")
        .to_owned();
    let public_key = key.public_key_hex();
    let frank_client = server.client(key, root.organization_id());
    ok(frank_client.query("get_whoami", json!({})));
    let keys = ok(root.query("get_api_keys", json!({ "userId": frank })));
    let key_id = keys["apiKeys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["credential"]["publicKey"] == public_key.as_str())
        .and_then(|k| k["apiKeyId"].as_str())
        .expect("frank's key")
        .to_owned();
    completed(root.submit("delete_api_keys", json!({ "userId": frank, "apiKeyIds": [key_id] })), "deleteApiKeysResult");
    let resp = frank_client.query("get_whoami", json!({})).expect("sent");
    assert_error(&resp, 401, "could not find public key in organization or its parent organization");
    let resp = frank_client.submit("create_users", json!({ "users": [{ "userName": "x" }] })).expect("sent");
    assert_error(&resp, 401, "could not find public key");

    std::thread::sleep(Duration::from_millis(1200));
    let expired = server.client(expiring, root.organization_id()).query("get_whoami", json!({})).expect("sent");
    assert_error(&expired, 401, "expired api key");

    let stranger = server.client(new_key(), root.organization_id()).query("get_whoami", json!({})).expect("sent");
    assert_error(&stranger, 401, "could not find public key");
    let unstamped = root.post_with_headers("/public/v1/query/get_whoami", b"{}", &[]).expect("sent");
    assert_error(&unstamped, 401, "missing X-Stamp");
}

#[test]
fn ed25519_stamps_are_accepted() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let ed = twofold_client::ApiKeyPair::generate(twofold_client::Curve::Ed25519).expect("key");
    completed(
        root.submit(
            "create_users",
            json!({ "users": [{ "userName": "ed", "apiKeys": [{ "apiKeyName": "ed", "publicKey": ed.public_key_hex(), "curveType": "API_KEY_CURVE_ED25519" }] }] }),
        ),
        "createUsersResult",
    );
    let client = server.client(ed, root.organization_id());
    assert_eq!(ok(client.query("get_whoami", json!({})))["username"], "ed");
}

/// docs/API.md's count of the Turnkey overlap, taken from @turnkey/http's own client: every
/// path it calls, minus the product lines twofold is not (wallets, keys, signing and the rest);
/// each one is served by the catalog or named in the docs with its reason, never both.
#[test]
fn docs_count_the_turnkey_overlap_from_the_sdk_itself() {
    if !twofold_testkit::interop_installed() {
        return;
    }
    const OTHER_PRODUCTS: &[&str] = &[
        "wallet",
        "private_key",
        "sign_",
        "transaction",
        "secret",
        "smart_contract",
        "velocity",
        "earn",
        "swap",
        "tvc",
        "fiat_on_ramp",
        "spark",
        "boot_proof",
        "app_proof",
        "app_status",
        "gas_usage",
        "nonces",
        "balances",
        "supported_assets",
        "eth_",
        "sol_",
        "export_",
        "import_",
    ];
    let client = twofold_testkit::interop_dir()
        .join("node_modules/@turnkey/http/dist/__generated__/services/coordinator/public/v1/public_api.client.js");
    let source = std::fs::read_to_string(&client).expect("the SDK's client");
    let mut overlap: Vec<String> = source
        .split("this.request(\"/public/v1/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next().map(str::to_owned))
        .filter(|path| {
            let name = path.rsplit('/').next().unwrap_or_default();
            !OTHER_PRODUCTS.iter().any(|word| name.contains(word))
        })
        .collect();
    overlap.sort();
    overlap.dedup();
    assert_eq!(overlap.len(), 86, "the overlap the issue counted: {overlap:?}");

    let mut served: Vec<String> =
        twofold_core::activities::KINDS.iter().map(|k| format!("submit/{}", k.path)).collect();
    served.extend(twofold_core::queries::query_paths().iter().map(|q| format!("query/{q}")));
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/API.md")).expect("docs");
    let section = docs.split("<!-- overlap:begin -->").nth(1).and_then(|s| s.split("<!-- overlap:end -->").next());
    let section = section.expect("docs/API.md marks the overlap section");
    let mut named = Vec::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let (endpoints, reason) = row.trim_matches('|').split_once('|').expect("two columns");
        assert!(reason.trim().len() > 20, "each left-out endpoint says why: {row}");
        named.extend(endpoints.split(',').map(|e| e.trim().trim_matches('`').to_owned()));
    }
    let missing: Vec<&String> = overlap.iter().filter(|p| !served.contains(p)).collect();
    let mut named_sorted = named.clone();
    named_sorted.sort();
    let mut missing_sorted: Vec<String> = missing.iter().map(|s| s.to_string()).collect();
    missing_sorted.sort();
    assert_eq!(named_sorted, missing_sorted, "docs/API.md names exactly the endpoints not served");
    let count = format!("**{} of {} endpoints are served.**", overlap.len() - missing.len(), overlap.len());
    assert!(section.contains(&count), "docs/API.md says {count}");
    for n in &named {
        assert!(overlap.contains(n), "`{n}` named in the docs is not an SDK path of the overlap");
    }
}

/// The rest of the served auth and policy endpoints, each through @turnkey/http once
/// (`sdk-coverage.mjs`), every request and answer checked against the SDK's own types.
#[test]
fn the_other_endpoints_answer_as_turnkeys_types_say() {
    if !interop_installed() {
        return;
    }
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let key_path = server.root_key_path().display().to_string();
    let r = run_node("sdk-coverage.mjs", &[&server.url, &key_path]);
    let types = twofold_testkit::check_sdk_types(&r["calls"]);
    let errors: Vec<String> =
        types["errors"].as_array().expect("errors").iter().map(|e| e.to_string().chars().take(400).collect()).collect();
    assert!(errors.is_empty(), "answers that differ from @turnkey/http's types: {errors:#?}");
    let seen = &r["seen"];
    for key in [
        "updatedUser",
        "deletedKeys",
        "updatedPolicy",
        "deletedPolicy",
        "deletedUsers",
        "allowlistSet",
        "allowlistRemoved",
        "mfaUpdated",
        "mfaDeleted",
        "hookDeleted",
        "quorum",
    ] {
        assert_eq!(seen[key], "ACTIVITY_STATUS_COMPLETED", "{key}: {seen}");
    }
    assert_eq!(seen["held"], "ACTIVITY_STATUS_CONSENSUS_NEEDED", "{seen}");
    assert_eq!(seen["rejected"], "ACTIVITY_STATUS_REJECTED", "{seen}");
    assert_eq!(seen["policy"], "coverage-a", "{seen}");
    assert_eq!(seen["mfaPolicy"], "coverage", "{seen}");
    assert_eq!(seen["profile"], "coverage", "{seen}");
    assert!(seen["evaluations"].as_u64().is_some_and(|n| n >= 1), "{seen}");
    assert!(types["checked"].as_u64().is_some_and(|n| n >= 30), "{types}");
}

/// The one-time-code flow (initOtp, verifyOtp with @turnkey/crypto's sealing, otpLogin with
/// @turnkey/core's client signature) through @turnkey/http, checked against the SDK's types.
#[test]
fn the_code_flow_answers_as_turnkeys_types_say() {
    if !interop_installed() {
        return;
    }
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let key = new_key();
    let mut owner = user_with_key("sdk-owner", &key);
    owner.as_object_mut().expect("object").remove("userTags");
    owner["userEmail"] = json!("sdk-owner@example.com");
    let params = json!({ "subOrganizationName": "sdk customer", "rootQuorumThreshold": 1, "rootUsers": [owner] });
    completed(root.submit("create_sub_organization", params), "createSubOrganizationResultV8");
    let key_path = server.root_key_path().display().to_string();
    let started = run_node("sdk-otp.mjs", &[&server.url, &key_path, "init", "sdk-owner@example.com"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let code = loop {
        let mut paths = twofold_enclave::Outbox::list(&server.data_dir().join("outbox")).unwrap_or_default();
        paths.sort();
        let found = paths
            .iter()
            .rev()
            .filter_map(|p| twofold_enclave::Outbox::read(p).ok())
            .find(|m| m.to == "sdk-owner@example.com");
        if let Some(m) = found {
            break twofold_testkit::otp_code_in(&m.body);
        }
        assert!(std::time::Instant::now() < deadline, "no code was sent");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let otp_id = started["otpId"].as_str().expect("otp id");
    let bundle = started["targetBundle"].as_str().expect("bundle");
    let finished = run_node("sdk-otp.mjs", &[&server.url, &key_path, "finish", otp_id, bundle, &code]);
    assert_eq!(finished["loginStatus"], "ACTIVITY_STATUS_COMPLETED", "{finished}");
    let mut calls = started["calls"].as_array().expect("calls").clone();
    calls.extend(finished["calls"].as_array().expect("calls").iter().cloned());
    let types = twofold_testkit::check_sdk_types(&Value::Array(calls));
    let errors: Vec<String> =
        types["errors"].as_array().expect("errors").iter().map(|e| e.to_string().chars().take(400).collect()).collect();
    assert!(errors.is_empty(), "answers that differ from @turnkey/http's types: {errors:#?}");
    assert_eq!(types["checked"], 3, "{types}");
}

/// A passkey through @turnkey/http (`sdk-passkey.mjs`): createAuthenticators with a
/// client-made challenge, getAuthenticators, getAuthenticator, against the SDK's types.
#[test]
fn the_passkey_endpoints_answer_as_turnkeys_types_say() {
    if !interop_installed() {
        return;
    }
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let (_, authenticator, _) = support::client_made_passkey(support::origin(&server), "sdk laptop");
    let key_path = server.root_key_path().display().to_string();
    let r = run_node("sdk-passkey.mjs", &[&server.url, &key_path, &authenticator.to_string()]);
    assert_eq!(r["status"], "ACTIVITY_STATUS_COMPLETED", "{r}");
    assert_eq!(r["listed"], 1, "{r}");
    assert_eq!(r["name"], "sdk laptop", "{r}");
    let types = twofold_testkit::check_sdk_types(&r["calls"]);
    let errors: Vec<String> =
        types["errors"].as_array().expect("errors").iter().map(|e| e.to_string().chars().take(400).collect()).collect();
    assert!(errors.is_empty(), "answers that differ from @turnkey/http's types: {errors:#?}");
    assert_eq!(types["checked"], 4, "{types}");
}
