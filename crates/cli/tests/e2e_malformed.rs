//! Acceptance 4: malformed requests get a 4xx JSON error naming the problem, and the
//! database is left exactly as it was. Never a 500, never a panic.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use twofold_testkit::{Backend, TestServer, new_key};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");
/// The P-256 base point, compressed: a valid public key no one uses.
const P256_G: &str = "036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296";

/// How a case is stamped.
enum Stamp {
    /// A valid stamp by the root key over the exact body.
    Valid,
    /// No stamp header.
    None,
    /// This literal X-Stamp value.
    Raw(String),
    /// Only an X-Stamp-Webauthn header.
    Webauthn,
}

struct Case {
    name: &'static str,
    path: String,
    body: Vec<u8>,
    stamp: Stamp,
    status: u16,
    needle: &'static str,
}

fn case(
    name: &'static str,
    path: &str,
    body: impl Into<Vec<u8>>,
    stamp: Stamp,
    status: u16,
    needle: &'static str,
) -> Case {
    Case { name, path: path.to_owned(), body: body.into(), stamp, status, needle }
}

fn stamp_json(v: Value) -> Stamp {
    Stamp::Raw(URL_SAFE_NO_PAD.encode(v.to_string()))
}

/// Milliseconds since the epoch, as `timestampMs` carries them.
fn now() -> String {
    twofold_testkit::real_now_ms().to_string()
}

/// A submit body of type `ty` in `org`, timestamped now.
fn submit_body(org: &str, ty: &str, params: Value) -> String {
    json!({ "type": ty, "timestampMs": now(), "organizationId": org, "parameters": params }).to_string()
}

#[test]
fn malformed_requests_get_4xx_json_and_change_nothing() {
    let server =
        TestServer::start(BIN, Backend::Sqlite, &["--max-body-bytes", "65536", "--audit-rejection-window-secs", "1"]);
    let root = server.root_client();
    let org = root.organization_id().to_owned();
    let submit = |ty: &str, params: Value| submit_body(&org, ty, params);
    let users = |u: Value| submit("ACTIVITY_TYPE_CREATE_USERS_V4", json!({ "users": [u] }));
    let cu = "/public/v1/submit/create_users";
    let key = new_key();
    let other = new_key();
    let good_body = users(json!({ "userName": "ok" }));
    let pk = root.key().public_key_hex();

    let cases = vec![
        case("not JSON", cu, "not json", Stamp::Valid, 400, "must be a JSON object"),
        case("empty body", cu, "", Stamp::Valid, 400, "not valid JSON"),
        case("truncated JSON", cu, "{\"type\":", Stamp::Valid, 400, "not valid JSON"),
        case("JSON array", cu, "[]", Stamp::Valid, 400, "must be a JSON object"),
        case("trailing garbage", cu, format!("{good_body}xyz"), Stamp::Valid, 400, "not valid JSON"),
        case("deep nesting", cu, "[".repeat(5000), Stamp::Valid, 400, "must be a JSON object"),
        case("deep object nesting", cu, "{\"a\":".repeat(5000), Stamp::Valid, 400, "not valid JSON"),
        case("invalid UTF-8", cu, vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'], Stamp::Valid, 400, "not valid JSON"),
        case("missing organizationId", cu, json!({ "type": "ACTIVITY_TYPE_CREATE_USERS_V4", "timestampMs": now(), "parameters": {} }).to_string(), Stamp::Valid, 400, "organizationId"),
        case("missing timestampMs", cu, json!({ "type": "ACTIVITY_TYPE_CREATE_USERS_V4", "organizationId": org, "parameters": { "users": [] } }).to_string(), Stamp::Valid, 400, "timestampMs"),
        case("missing parameters", cu, json!({ "type": "ACTIVITY_TYPE_CREATE_USERS_V4", "timestampMs": now(), "organizationId": org }).to_string(), Stamp::Valid, 400, "parameters"),
        case("missing type", cu, json!({ "timestampMs": now(), "organizationId": org, "parameters": {} }).to_string(), Stamp::Valid, 400, "type"),
        case("timestampMs as number", cu, json!({ "type": "ACTIVITY_TYPE_CREATE_USERS_V4", "timestampMs": 5, "organizationId": org, "parameters": {} }).to_string(), Stamp::Valid, 400, "timestampMs"),
        case("timestampMs not digits", cu, json!({ "type": "ACTIVITY_TYPE_CREATE_USERS_V4", "timestampMs": "soon", "organizationId": org, "parameters": {} }).to_string(), Stamp::Valid, 400, "timestampMs"),
        case("organizationId as number", cu, json!({ "type": "ACTIVITY_TYPE_CREATE_USERS_V4", "timestampMs": now(), "organizationId": 7, "parameters": {} }).to_string(), Stamp::Valid, 400, "organizationId"),
        case("parameters null", cu, json!({ "type": "ACTIVITY_TYPE_CREATE_USERS_V4", "timestampMs": now(), "organizationId": org, "parameters": null }).to_string(), Stamp::Valid, 400, "parameters"),
        case("unknown activity type", cu, submit("ACTIVITY_TYPE_LAUNCH_ROCKETS", json!({})), Stamp::Valid, 400, "unknown activity type"),
        case("type of another endpoint", cu, submit("ACTIVITY_TYPE_DELETE_USERS", json!({ "userIds": ["x"] })), Stamp::Valid, 400, "belongs to /public/v1/submit/delete_users"),
        case("users not a list", cu, submit("ACTIVITY_TYPE_CREATE_USERS_V4", json!({ "users": "alice" })), Stamp::Valid, 400, "parameters.users"),
        case("empty users", cu, submit("ACTIVITY_TYPE_CREATE_USERS_V4", json!({ "users": [] })), Stamp::Valid, 400, "at least 1"),
        case("missing userName", cu, users(json!({ "userEmail": "a@b.co" })), Stamp::Valid, 400, "userName"),
        case("blank userName", cu, users(json!({ "userName": "   " })), Stamp::Valid, 400, "userName must not be empty"),
        case("unknown field in parameters", cu, users(json!({ "userName": "a", "userTagz": [] })), Stamp::Valid, 400, "unknown field `userTagz`"),
        case("unknown curve enum", cu, users(json!({ "userName": "a", "apiKeys": [{ "apiKeyName": "k", "publicKey": key.public_key_hex(), "curveType": "API_KEY_CURVE_RSA" }] })), Stamp::Valid, 400, "unknown variant `API_KEY_CURVE_RSA`"),
        case("public key not hex", cu, users(json!({ "userName": "a", "apiKeys": [{ "apiKeyName": "k", "publicKey": "zz", "curveType": "API_KEY_CURVE_P256" }] })), Stamp::Valid, 400, "not valid hex"),
        case("public key wrong length", cu, users(json!({ "userName": "a", "apiKeys": [{ "apiKeyName": "k", "publicKey": "02abcd", "curveType": "API_KEY_CURVE_P256" }] })), Stamp::Valid, 400, "33 bytes"),
        case("public key off the curve", cu, users(json!({ "userName": "a", "apiKeys": [{ "apiKeyName": "k", "publicKey": format!("05{}", "11".repeat(32)), "curveType": "API_KEY_CURVE_P256" }] })), Stamp::Valid, 400, "not a point on P-256"),
        case("negative expiration", cu, users(json!({ "userName": "a", "apiKeys": [{ "apiKeyName": "k", "publicKey": key.public_key_hex(), "curveType": "API_KEY_CURVE_P256", "expirationSeconds": "-5" }] })), Stamp::Valid, 400, "expirationSeconds"),
        case("bad email", cu, users(json!({ "userName": "a", "userEmail": "not-an-email" })), Stamp::Valid, 400, "not an email address"),
        case("bad phone", cu, users(json!({ "userName": "a", "userPhoneNumber": "555-1234" })), Stamp::Valid, 400, "E.164"),
        case("authenticators not supported here", cu, users(json!({ "userName": "a", "authenticators": [{}] })), Stamp::Valid, 400, "authenticators"),
        case("duplicate ids", "/public/v1/submit/delete_users", submit("ACTIVITY_TYPE_DELETE_USERS", json!({ "userIds": ["a", "a"] })), Stamp::Valid, 400, "listed twice"),
        case("quorum threshold 0", "/public/v1/submit/update_root_quorum", submit("ACTIVITY_TYPE_UPDATE_ROOT_QUORUM", json!({ "threshold": 0, "userIds": ["a"] })), Stamp::Valid, 400, "threshold"),
        case("threshold above members", "/public/v1/submit/create_sub_organization", submit("ACTIVITY_TYPE_CREATE_SUB_ORGANIZATION_V8", json!({ "subOrganizationName": "s", "rootUsers": [{ "userName": "r" }], "rootQuorumThreshold": 2 })), Stamp::Valid, 400, "threshold"),
        case(
            "tags on a sub-org root user",
            "/public/v1/submit/create_sub_organization",
            submit(
                "ACTIVITY_TYPE_CREATE_SUB_ORGANIZATION_V8",
                json!({ "subOrganizationName": "s", "rootUsers": [{ "userName": "r", "userTags": [] }], "rootQuorumThreshold": 1 }),
            ),
            Stamp::Valid,
            400,
            "cannot carry tags",
        ),
        case("wallet on a sub-org", "/public/v1/submit/create_sub_organization", submit("ACTIVITY_TYPE_CREATE_SUB_ORGANIZATION_V8", json!({ "subOrganizationName": "s", "rootUsers": [{ "userName": "r" }], "rootQuorumThreshold": 1, "wallet": {} })), Stamp::Valid, 400, "wallet"),
        case("unknown effect", "/public/v1/submit/create_policy", submit("ACTIVITY_TYPE_CREATE_POLICY_V3", json!({ "policyName": "p", "effect": "EFFECT_PERHAPS", "notes": "" })), Stamp::Valid, 400, "unknown variant `EFFECT_PERHAPS`"),
        case("condition that does not parse", "/public/v1/submit/create_policy", submit("ACTIVITY_TYPE_CREATE_POLICY_V3", json!({ "policyName": "p", "effect": "EFFECT_ALLOW", "condition": "activity.type ==", "notes": "" })), Stamp::Valid, 400, "condition: "),
        case("consensus with an unknown keyword", "/public/v1/submit/create_policy", submit("ACTIVITY_TYPE_CREATE_POLICY_V3", json!({ "policyName": "p", "effect": "EFFECT_ALLOW", "consensus": "wallet.count() > 1", "notes": "" })), Stamp::Valid, 400, "unknown keyword `wallet`"),
        case("policy without a name", "/public/v1/submit/create_policies", submit("ACTIVITY_TYPE_CREATE_POLICIES", json!({ "policies": [{ "policyName": "", "effect": "EFFECT_ALLOW", "notes": "" }] })), Stamp::Valid, 400, "policyName must not be empty"),
        case("update_policy unknown field", "/public/v1/submit/update_policy", submit("ACTIVITY_TYPE_UPDATE_POLICY_V2", json!({ "policyId": "p", "condition": "true" })), Stamp::Valid, 400, "unknown field `condition`"),
        case("fingerprint not sha256", "/public/v1/submit/approve_activity", submit("ACTIVITY_TYPE_APPROVE_ACTIVITY", json!({ "fingerprint": "md5:abc" })), Stamp::Valid, 400, "64 hex digits"),
        case("fingerprint as number", "/public/v1/submit/reject_activity", submit("ACTIVITY_TYPE_REJECT_ACTIVITY", json!({ "fingerprint": 7 })), Stamp::Valid, 400, "parameters.fingerprint"),
        case("dry run without an activity", "/public/v1/query/evaluate_activity", json!({ "organizationId": org }).to_string(), Stamp::Valid, 400, "activity"),
        case("dry run of an unknown type", "/public/v1/query/evaluate_activity", json!({ "organizationId": org, "activity": { "type": "ACTIVITY_TYPE_NOPE", "parameters": {} } }).to_string(), Stamp::Valid, 400, "unknown activity type"),
        case("dry run from a bad address", "/public/v1/query/evaluate_activity", json!({ "organizationId": org, "clientIp": "300.1.2.3", "activity": { "type": "ACTIVITY_TYPE_DELETE_USERS", "parameters": { "userIds": ["a"] } } }).to_string(), Stamp::Valid, 400, "clientIp: `300.1.2.3` is not an IP address"),
        case("dry run of an approval", "/public/v1/query/evaluate_activity", json!({ "organizationId": org, "activity": { "type": "ACTIVITY_TYPE_APPROVE_ACTIVITY", "parameters": { "fingerprint": format!("sha256:{}", "ab".repeat(32)) } } }).to_string(), Stamp::Valid, 400, "not dry-run"),
        case("dry run with an oversized address", "/public/v1/query/evaluate_activity", json!({ "organizationId": org, "clientIp": "9".repeat(5000), "activity": { "type": "ACTIVITY_TYPE_DELETE_USERS", "parameters": { "userIds": ["a"] } } }).to_string(), Stamp::Valid, 400, "is not an IP address"),
        case("dry run for an unknown user", "/public/v1/query/evaluate_activity", json!({ "organizationId": org, "userId": "ghost", "activity": { "type": "ACTIVITY_TYPE_DELETE_USERS", "parameters": { "userIds": ["a"] } } }).to_string(), Stamp::Valid, 404, "no user"),
        case("get_policy without policyId", "/public/v1/query/get_policy", json!({ "organizationId": org }).to_string(), Stamp::Valid, 400, "policyId"),
        case("body over the limit", cu, format!("{{\"pad\":\"{}\"}}", "x".repeat(70_000)), Stamp::Valid, 413, "larger than the limit"),
        case("no stamp", cu, good_body.clone(), Stamp::None, 401, "missing X-Stamp"),
        case("stamp not base64", cu, good_body.clone(), Stamp::Raw("%%%not-base64%%%".into()), 401, "not base64url"),
        case("stamp not JSON", cu, good_body.clone(), Stamp::Raw(URL_SAFE_NO_PAD.encode("hello")), 401, "not the stamp JSON"),
        case("stamp missing fields", cu, good_body.clone(), stamp_json(json!({ "publicKey": pk })), 401, "not the stamp JSON"),
        case("stamp unknown scheme", cu, good_body.clone(), stamp_json(json!({ "publicKey": pk, "scheme": "SIGNATURE_SCHEME_RSA", "signature": "30" })), 401, "unsupported scheme"),
        case("stamp signature not hex", cu, good_body.clone(), stamp_json(json!({ "publicKey": pk, "scheme": "SIGNATURE_SCHEME_TK_API_P256", "signature": "xyz" })), 401, "not valid hex"),
        case("stamp signature over another body", cu, good_body.clone(), stamp_json(json!({ "publicKey": pk, "scheme": "SIGNATURE_SCHEME_TK_API_P256", "signature": root.key().sign_hex(b"other") })), 401, "does not verify"),
        case("stamp scheme mismatching the key", cu, good_body.clone(), stamp_json(json!({ "publicKey": pk, "scheme": "SIGNATURE_SCHEME_TK_API_ED25519", "signature": root.key().sign_hex(good_body.as_bytes()) })), 401, "does not match the key's curve"),
        case("stamp by an unknown key", cu, good_body.clone(), stamp_json(json!({ "publicKey": other.public_key_hex(), "scheme": "SIGNATURE_SCHEME_TK_API_P256", "signature": other.sign_hex(good_body.as_bytes()) })), 401, "could not find public key"),
        case("oversized stamp", cu, good_body.clone(), Stamp::Raw("A".repeat(5000)), 401, "longer than 4096"),
        case("passkey stamp only", cu, good_body.clone(), Stamp::Webauthn, 401, "X-Stamp-Webauthn"),
        case("organization the key is not in", "/public/v1/query/get_whoami", json!({ "organizationId": "00000000-0000-4000-8000-000000000000" }).to_string(), Stamp::Valid, 403, "may not act in organization"),
        case("unknown submit endpoint", "/public/v1/submit/launch_rockets", good_body.clone(), Stamp::Valid, 404, "unknown submit endpoint"),
        case("unknown query endpoint", "/public/v1/query/launch_rockets", json!({ "organizationId": org }).to_string(), Stamp::Valid, 404, "unknown query endpoint"),
        case("no such route", "/nope", "{}", Stamp::Valid, 404, "no endpoint"),
        case("unknown status filter", "/public/v1/query/list_activities", json!({ "organizationId": org, "filterByStatus": ["ACTIVITY_STATUS_SLEEPING"] }).to_string(), Stamp::Valid, 400, "unknown activity status"),
        case("page size too big", "/public/v1/query/list_activities", json!({ "organizationId": org, "paginationOptions": { "limit": "1000" } }).to_string(), Stamp::Valid, 400, "limit"),
        case("unknown cursor", "/public/v1/query/list_activities", json!({ "organizationId": org, "paginationOptions": { "after": "nope" } }).to_string(), Stamp::Valid, 400, "unknown cursor"),
        case("get_user without userId", "/public/v1/query/get_user", json!({ "organizationId": org }).to_string(), Stamp::Valid, 400, "userId"),
        case("get_activity id wrong type", "/public/v1/query/get_activity", json!({ "organizationId": org, "activityId": 12 }).to_string(), Stamp::Valid, 400, "activityId"),
        // A wrong type names the field, not a position in a body the client's tool built.
        case("page limit as a number", "/public/v1/query/list_audit_events", json!({ "organizationId": org, "paginationOptions": { "limit": 5 } }).to_string(), Stamp::Valid, 400, "paginationOptions.limit: invalid type: integer `5`, expected a string"),
        case("userName as a number", cu, users(json!({ "userName": 7 })), Stamp::Valid, 400, "parameters.users[0].userName: invalid type: integer `7`, expected a string"),
    ];
    assert!(cases.len() >= 30, "{} cases", cases.len());

    let (before, audit_before) = server.db.data_and_audit_counts();
    for c in &cases {
        let mut headers: Vec<(&str, String)> = Vec::new();
        match &c.stamp {
            Stamp::Valid => headers.push(("X-Stamp", root.key().stamp(&c.body))),
            Stamp::None => {}
            Stamp::Raw(v) => headers.push(("X-Stamp", v.clone())),
            Stamp::Webauthn => headers.push(("X-Stamp-Webauthn", "{}".to_owned())),
        }
        let resp = root.post_with_headers(&c.path, &c.body, &headers).expect("sent");
        assert_eq!(resp.status, c.status, "case `{}`: {}", c.name, resp.body);
        if c.status == 413 {
            assert_eq!(
                resp.header("connection"),
                Some("close"),
                "case `{}`: the unread body ends the connection",
                c.name
            );
        }
        let msg = resp.body["message"]
            .as_str()
            .unwrap_or_else(|| panic!("case `{}`: JSON error body, got {}", c.name, resp.body));
        assert!(resp.body["code"].is_i64(), "case `{}`: code", c.name);
        assert!(msg.contains(c.needle), "case `{}`: message `{msg}` should name `{}`", c.name, c.needle);
        if msg.contains("invalid type") || msg.contains("unknown field") || msg.contains("unknown variant") {
            assert!(
                !msg.contains(" at line "),
                "case `{}`: a data error names its field, not a position: `{msg}`",
                c.name
            );
        }
    }
    let get = root.post_with_headers("/public/v1/query/get_whoami", b"", &[]);
    assert_eq!(get.expect("sent").status, 401);
    let (after, audit_after) = server.db.data_and_audit_counts();
    assert_eq!(after, before, "malformed requests left the database unchanged");
    // Only stamps by a registered key that were refused are audited (three cases above), in
    // counted rows per key and window; unknown keys cannot write into anyone's audit log.
    assert!((1..=3).contains(&(audit_after - audit_before)), "refused stamps of a registered key are audited");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let rows = twofold_testkit::ok(root.query(
            "list_audit_events",
            json!({ "eventType": "STAMP_REJECTED", "paginationOptions": { "limit": "100" } }),
        ));
        let counted: u64 =
            rows["auditEvents"].as_array().expect("events").iter().filter_map(|r| r["details"]["count"].as_u64()).sum();
        if counted >= 3 || std::time::Instant::now() > deadline {
            assert_eq!(counted, 3, "each refused stamp of a registered key is counted: {rows}");
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(!server.log().contains("panicked"), "no panics in the server log");
}

#[test]
fn non_post_methods_get_a_json_405() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut resp = agent.get(&format!("{}/public/v1/query/get_whoami", server.url)).call().expect("sent");
    assert_eq!(resp.status().as_u16(), 405);
    let body: Value = serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("json");
    assert!(body["message"].as_str().expect("msg").contains("POST"));
}

/// The endpoints added for MFA policies, session profiles, app activities, webhooks,
/// enforcement, OTP and the auth proxy under malformed, oversized and hostile input:
/// a 4xx naming the problem, nothing stored, no panic.
#[test]
fn newer_endpoints_refuse_hostile_input_and_store_nothing() {
    let server = TestServer::start(BIN, Backend::Sqlite, &["--max-body-bytes", "65536"]);
    let root = server.root_client();
    let org = root.organization_id().to_owned();
    let submit = |ty: &str, params: Value| submit_body(&org, ty, params);
    let query = |extra: Value| {
        let mut body = json!({ "organizationId": org });
        body.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        body.to_string()
    };
    let totp = json!([{ "any": [{ "type": "AUTHENTICATION_TYPE_TOTP" }] }]);
    let mfa = |extra: Value| {
        let mut p = json!({ "userId": "u", "mfaPolicyName": "n", "condition": "true",
                            "requiredAuthenticationMethods": totp, "order": 0 });
        p.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        submit("ACTIVITY_TYPE_CREATE_MFA_POLICY", p)
    };
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let s = |p: &str| format!("/public/v1/submit/{p}");
    let q = |p: &str| format!("/public/v1/query/{p}");
    let v = Stamp::Valid;
    let cases = vec![
        case("mfa order float", &s("create_mfa_policy"), mfa(json!({ "order": 1.5 })), v, 400, "parameters.order"),
        case(
            "mfa order huge",
            &s("create_mfa_policy"),
            mfa(json!({ "order": 1_000_000_000_000_i64 })),
            Stamp::Valid,
            400,
            "parameters.order",
        ),
        case(
            "mfa eleven steps",
            &s("create_mfa_policy"),
            mfa(json!({ "requiredAuthenticationMethods": vec![totp[0].clone(); 11] })),
            Stamp::Valid,
            400,
            "requiredAuthenticationMethods",
        ),
        case(
            "mfa condition too long",
            &s("create_mfa_policy"),
            mfa(json!({ "condition": format!("true{}", " && true".repeat(6000)) })),
            Stamp::Valid,
            400,
            "parameters.condition",
        ),
        case(
            "mfa unknown keyword",
            &s("create_mfa_policy"),
            mfa(json!({ "condition": "wallet.id == 'x'" })),
            Stamp::Valid,
            400,
            "parameters.condition",
        ),
        case(
            "mfa method as string",
            &s("create_mfa_policy"),
            mfa(json!({ "requiredAuthenticationMethods": ["PASSKEY"] })),
            Stamp::Valid,
            400,
            "requiredAuthenticationMethods[0]",
        ),
        case(
            "app payload array",
            &s("create_app_activity"),
            submit(
                "ACTIVITY_TYPE_CREATE_APP_ACTIVITY",
                json!({ "resource": "PAYOUT", "action": "CREATE", "payload": [1] }),
            ),
            Stamp::Valid,
            400,
            "parameters.payload",
        ),
        case(
            "app resource unicode",
            &s("create_app_activity"),
            submit("ACTIVITY_TYPE_CREATE_APP_ACTIVITY", json!({ "resource": "PAYOUTé", "action": "CREATE" })),
            Stamp::Valid,
            400,
            "parameters.resource",
        ),
        case(
            "app payload nested 5000 deep",
            &s("create_app_activity"),
            format!(
                r#"{{"type":"ACTIVITY_TYPE_CREATE_APP_ACTIVITY","timestampMs":"{}","organizationId":"{org}","parameters":{{"resource":"PAYOUT","action":"CREATE","payload":{{"x":{deep}}}}}}}"#,
                now()
            ),
            Stamp::Valid,
            400,
            "recursion limit",
        ),
        case(
            "app body over the limit",
            &s("create_app_activity"),
            submit(
                "ACTIVITY_TYPE_CREATE_APP_ACTIVITY",
                json!({ "resource": "PAYOUT", "action": "CREATE", "payload": { "x": "a".repeat(70_000) } }),
            ),
            Stamp::Valid,
            413,
            "limit",
        ),
        case(
            "webhook javascript url",
            &s("create_webhook_endpoint"),
            submit("ACTIVITY_TYPE_CREATE_WEBHOOK_ENDPOINT", json!({ "url": "javascript:alert(1)", "name": "n" })),
            Stamp::Valid,
            400,
            "parameters.url",
        ),
        case(
            "webhook url too long",
            &s("create_webhook_endpoint"),
            submit(
                "ACTIVITY_TYPE_CREATE_WEBHOOK_ENDPOINT",
                json!({ "url": format!("https://x.example/{}", "a".repeat(3000)), "name": "n" }),
            ),
            Stamp::Valid,
            400,
            "parameters.url",
        ),
        case(
            "webhook short secret",
            &s("create_webhook_endpoint"),
            submit(
                "ACTIVITY_TYPE_CREATE_WEBHOOK_ENDPOINT",
                json!({ "url": "https://x.example/h", "name": "n", "secret": "short" }),
            ),
            Stamp::Valid,
            400,
            "parameters.secret",
        ),
        case(
            "webhook unknown event",
            &s("create_webhook_endpoint"),
            submit(
                "ACTIVITY_TYPE_CREATE_WEBHOOK_ENDPOINT",
                json!({ "url": "https://x.example/h", "name": "n", "subscriptions": [{ "eventType": "BALANCE_CONFIRMED_UPDATES" }] }),
            ),
            Stamp::Valid,
            400,
            "eventType",
        ),
        case(
            "profile negative lifetime",
            &s("create_session_profile"),
            submit(
                "ACTIVITY_TYPE_CREATE_SESSION_PROFILE",
                json!({ "sessionProfileName": "n", "scope": "true", "expirationSeconds": "-1" }),
            ),
            Stamp::Valid,
            400,
            "parameters.expirationSeconds",
        ),
        case(
            "profile scope garbage",
            &s("create_session_profile"),
            submit("ACTIVITY_TYPE_CREATE_SESSION_PROFILE", json!({ "sessionProfileName": "n", "scope": "((((" })),
            Stamp::Valid,
            400,
            "parameters.scope",
        ),
        case(
            "enforcement unknown value",
            &s("set_mfa_enforcement"),
            submit(
                "ACTIVITY_TYPE_SET_MFA_ENFORCEMENT",
                json!({ "scope": "MFA_ENFORCEMENT_SCOPE_ORGANIZATION", "value": "MFA_ENFORCEMENT_MAYBE" }),
            ),
            Stamp::Valid,
            400,
            "unknown variant",
        ),
        case(
            "enforcement grace 366",
            &s("set_mfa_enforcement"),
            submit(
                "ACTIVITY_TYPE_SET_MFA_ENFORCEMENT",
                json!({ "scope": "MFA_ENFORCEMENT_SCOPE_ORGANIZATION", "value": "MFA_ENFORCEMENT_REQUIRED", "gracePeriodDays": 366 }),
            ),
            Stamp::Valid,
            400,
            "gracePeriodDays",
        ),
        case(
            "otp bad contact",
            &s("init_otp"),
            submit(
                "ACTIVITY_TYPE_INIT_OTP_V3",
                json!({ "otpType": "OTP_TYPE_EMAIL", "contact": "not an email", "appName": "a" }),
            ),
            Stamp::Valid,
            400,
            "contact",
        ),
        case(
            "otp length 20",
            &s("init_otp"),
            submit(
                "ACTIVITY_TYPE_INIT_OTP_V3",
                json!({ "otpType": "OTP_TYPE_EMAIL", "contact": "a@example.com", "appName": "a", "otpLength": 20 }),
            ),
            Stamp::Valid,
            400,
            "otpLength",
        ),
        case(
            "approval token too long",
            &s("approve_activity"),
            submit(
                "ACTIVITY_TYPE_APPROVE_ACTIVITY",
                json!({ "fingerprint": format!("sha256:{}", "0".repeat(64)), "verificationToken": "a".repeat(9000) }),
            ),
            Stamp::Valid,
            400,
            "verificationToken",
        ),
        case(
            "mfa status id as number",
            &q("get_mfa_status"),
            query(json!({ "activityId": 7 })),
            Stamp::Valid,
            400,
            "activityId",
        ),
        case(
            "deliveries limit 0",
            &q("list_webhook_deliveries"),
            query(json!({ "limit": 0 })),
            Stamp::Valid,
            400,
            "limit",
        ),
        case(
            "proxy origins not a list",
            &s("update_auth_proxy_config"),
            submit("ACTIVITY_TYPE_UPDATE_AUTH_PROXY_CONFIG", json!({ "allowedOrigins": "https://a.example" })),
            Stamp::Valid,
            400,
            "parameters.allowedOrigins",
        ),
        case(
            "proxy origin a number",
            &s("update_auth_proxy_config"),
            submit("ACTIVITY_TYPE_UPDATE_AUTH_PROXY_CONFIG", json!({ "allowedOrigins": [443] })),
            Stamp::Valid,
            400,
            "parameters.allowedOrigins[0]",
        ),
        case(
            "proxy 21 origins",
            &s("update_auth_proxy_config"),
            submit(
                "ACTIVITY_TYPE_UPDATE_AUTH_PROXY_CONFIG",
                json!({ "allowedOrigins": (0..21).map(|i| format!("https://a{i}.example")).collect::<Vec<_>>() }),
            ),
            Stamp::Valid,
            400,
            "at most 20",
        ),
        case(
            "proxy origin javascript",
            &s("update_auth_proxy_config"),
            submit("ACTIVITY_TYPE_UPDATE_AUTH_PROXY_CONFIG", json!({ "allowedOrigins": ["javascript:alert(1)"] })),
            Stamp::Valid,
            400,
            "allowedOrigins[0]",
        ),
        case(
            "proxy origin 20 000 characters",
            &s("update_auth_proxy_config"),
            submit(
                "ACTIVITY_TYPE_UPDATE_AUTH_PROXY_CONFIG",
                json!({ "allowedOrigins": [format!("https://{}.example", "a".repeat(20_000))] }),
            ),
            Stamp::Valid,
            400,
            "allowedOrigins[0]",
        ),
        case(
            "proxy config query org as number",
            &q("get_auth_proxy_config"),
            json!({ "organizationId": 7 }).to_string(),
            Stamp::Valid,
            400,
            "organizationId",
        ),
        case(
            "OIDC token 20 000 characters",
            &s("oauth_login"),
            submit("ACTIVITY_TYPE_OAUTH_LOGIN", json!({ "oidcToken": "a".repeat(20_000), "publicKey": P256_G })),
            Stamp::Valid,
            400,
            "oidcToken",
        ),
        case(
            "OIDC token not a JWT",
            &s("oauth_login"),
            submit("ACTIVITY_TYPE_OAUTH_LOGIN", json!({ "oidcToken": "not.a.jwt", "publicKey": P256_G })),
            Stamp::Valid,
            400,
            "not a signed JWT",
        ),
        case(
            "OAuth providers as a string",
            &s("create_oauth_providers"),
            submit("ACTIVITY_TYPE_CREATE_OAUTH_PROVIDERS_V2", json!({ "userId": "u", "oauthProviders": "not a list" })),
            Stamp::Valid,
            400,
            "oauthProviders",
        ),
        case(
            "an inline OAuth provider whose token is no JWT",
            &s("create_users"),
            submit(
                "ACTIVITY_TYPE_CREATE_USERS_V4",
                json!({ "users": [{ "userName": "u", "apiKeys": [], "authenticators": [], "userTags": [],
                        "oauthProviders": [{ "providerName": "p", "oidcToken": "nope" }] }] }),
            ),
            Stamp::Valid,
            400,
            "oidcToken",
        ),
        case(
            "an inline OAuth provider by claims alone",
            &s("create_sub_organization"),
            submit(
                "ACTIVITY_TYPE_CREATE_SUB_ORGANIZATION_V8",
                json!({ "subOrganizationName": "s", "rootQuorumThreshold": 1, "rootUsers": [{ "userName": "u",
                        "apiKeys": [], "authenticators": [], "oauthProviders": [{ "providerName": "p",
                        "oidcToken": "a.b.c", "oidcClaims": { "iss": "i", "sub": "s", "aud": "a" } }] }] }),
            ),
            Stamp::Valid,
            400,
            "oidcClaims",
        ),
        case(
            "OIDC issuer keys over ftp",
            &s("set_oidc_issuers"),
            submit(
                "ACTIVITY_TYPE_SET_OIDC_ISSUERS",
                json!({ "issuers": [{ "issuer": "https://i.example", "audiences": ["a"], "jwksUrl": "ftp://i.example/k" }] }),
            ),
            Stamp::Valid,
            400,
            "jwksUrl",
        ),
        case(
            "OIDC issuer keys at a 20 000-character URL",
            &s("set_oidc_issuers"),
            submit(
                "ACTIVITY_TYPE_SET_OIDC_ISSUERS",
                json!({ "issuers": [{ "issuer": "https://i.example", "audiences": ["a"],
                        "jwksUrl": format!("https://i.example/{}", "k".repeat(20_000)) }] }),
            ),
            Stamp::Valid,
            400,
            "jwksUrl",
        ),
        case(
            "OIDC issuer without audiences",
            &s("set_oidc_issuers"),
            submit(
                "ACTIVITY_TYPE_SET_OIDC_ISSUERS",
                json!({ "issuers": [{ "issuer": "https://i.example", "audiences": [], "jwksUrl": "https://i.example/k" }] }),
            ),
            Stamp::Valid,
            400,
            "audiences",
        ),
        case(
            "secp256k1 key uncompressed",
            &s("create_api_keys"),
            submit(
                "ACTIVITY_TYPE_CREATE_API_KEYS_V2",
                json!({ "userId": "u", "apiKeys": [{ "apiKeyName": "k", "publicKey": format!("04{}", "11".repeat(64)),
                        "curveType": "API_KEY_CURVE_SECP256K1" }] }),
            ),
            Stamp::Valid,
            400,
            "a secp256k1 public key must be 33 bytes",
        ),
        case(
            "API-only user with a passkey",
            &s("create_api_only_users"),
            submit(
                "ACTIVITY_TYPE_CREATE_API_ONLY_USERS",
                json!({ "apiOnlyUsers": [{ "userName": "r", "userTags": [], "apiKeys": [], "authenticators": [] }] }),
            ),
            Stamp::Valid,
            400,
            "authenticators",
        ),
        case(
            "API-only user key not hex",
            &s("create_api_only_users"),
            submit(
                "ACTIVITY_TYPE_CREATE_API_ONLY_USERS",
                json!({ "apiOnlyUsers": [{ "userName": "r", "userTags": [],
                        "apiKeys": [{ "apiKeyName": "k", "publicKey": "zz" }] }] }),
            ),
            Stamp::Valid,
            400,
            "publicKey",
        ),
        case(
            "API-only user name 20 000 characters",
            &s("create_api_only_users"),
            submit(
                "ACTIVITY_TYPE_CREATE_API_ONLY_USERS",
                json!({ "apiOnlyUsers": [{ "userName": "a".repeat(20_000), "userTags": [], "apiKeys": [] }] }),
            ),
            Stamp::Valid,
            400,
            "userName",
        ),
        case(
            "rename 20 000 characters",
            &s("update_user_name"),
            submit("ACTIVITY_TYPE_UPDATE_USER_NAME", json!({ "userId": "u", "userName": "a".repeat(20_000) })),
            Stamp::Valid,
            400,
            "userName",
        ),
        case(
            "rename with a line break",
            &s("update_user_name"),
            submit("ACTIVITY_TYPE_UPDATE_USER_NAME", json!({ "userId": "u", "userName": "root\nadmin" })),
            Stamp::Valid,
            400,
            "userName",
        ),
        case(
            "rename as number",
            &s("update_user_name"),
            submit("ACTIVITY_TYPE_UPDATE_USER_NAME", json!({ "userId": "u", "userName": 5 })),
            Stamp::Valid,
            400,
            "parameters.userName",
        ),
        case(
            "email not an address",
            &s("update_user_email"),
            submit("ACTIVITY_TYPE_UPDATE_USER_EMAIL", json!({ "userId": "u", "userEmail": "root at corp" })),
            Stamp::Valid,
            400,
            "userEmail",
        ),
        case(
            "email 20 000 characters",
            &s("update_user_email"),
            submit(
                "ACTIVITY_TYPE_UPDATE_USER_EMAIL",
                json!({ "userId": "u", "userEmail": format!("{}@example.com", "a".repeat(20_000)) }),
            ),
            Stamp::Valid,
            400,
            "userEmail",
        ),
        case(
            "email with a foreign field",
            &s("update_user_email"),
            submit(
                "ACTIVITY_TYPE_UPDATE_USER_EMAIL",
                json!({ "userId": "u", "userEmail": "a@b.example", "userTagIds": [] }),
            ),
            Stamp::Valid,
            400,
            "userTagIds",
        ),
        case(
            "email token garbage",
            &s("update_user_email"),
            submit(
                "ACTIVITY_TYPE_UPDATE_USER_EMAIL",
                json!({ "userId": "u", "userEmail": "a@b.example", "verificationToken": "x".repeat(20_000) }),
            ),
            Stamp::Valid,
            400,
            "verificationToken",
        ),
        case(
            "phone not E.164",
            &s("update_user_phone_number"),
            submit("ACTIVITY_TYPE_UPDATE_USER_PHONE_NUMBER", json!({ "userId": "u", "userPhoneNumber": "12ab" })),
            Stamp::Valid,
            400,
            "userPhoneNumber",
        ),
        case(
            "sub-org filter 20 000 characters",
            &q("list_suborgs"),
            query(json!({ "filterType": "EMAIL", "filterValue": "a".repeat(20_000) })),
            Stamp::Valid,
            400,
            "filterValue",
        ),
        case(
            "sub-org filter type as number",
            &q("list_suborgs"),
            query(json!({ "filterType": 3, "filterValue": "x" })),
            Stamp::Valid,
            400,
            "filterType",
        ),
        case("proxy garbage json", "/auth-proxy/v1/otp_init", "{\"organizationId\":", Stamp::None, 400, "JSON"),
        case(
            "proxy unknown field",
            "/auth-proxy/v1/otp_init",
            json!({ "organizationId": org, "contact": "a@example.com", "admin": true }).to_string(),
            Stamp::None,
            400,
            "admin",
        ),
        case(
            "proxy org not opted in",
            "/auth-proxy/v1/otp_init",
            json!({ "organizationId": "00000000-0000-0000-0000-000000000000", "contact": "a@example.com" }).to_string(),
            Stamp::None,
            404,
            "auth proxy",
        ),
    ];
    // The organization opts in, so the proxy cases reach its parameter checks.
    twofold_testkit::completed(root.submit("enable_auth_proxy", json!({})), "enableAuthProxyResult");
    let before = server.db.row_counts();
    for c in &cases {
        let mut headers = vec![("Content-Type", "application/json".to_owned())];
        if let Stamp::Valid = c.stamp {
            headers.push(("X-Stamp", root.key().stamp(&c.body)));
        }
        let resp = root.post_with_headers(&c.path, &c.body, &headers).expect("sent");
        assert_eq!(resp.status, c.status, "case `{}`: {}", c.name, resp.body);
        if c.status == 413 {
            assert_eq!(
                resp.header("connection"),
                Some("close"),
                "case `{}`: the unread body ends the connection",
                c.name
            );
        }
        let msg =
            resp.body["message"].as_str().unwrap_or_else(|| panic!("case `{}`: JSON error, got {}", c.name, resp.body));
        assert!(msg.contains(c.needle), "case `{}`: message `{msg}` should name `{}`", c.name, c.needle);
    }
    // Pages of origins the organization does not list, or that hide their origin ("null"),
    // are refused before the proxy does anything.
    let init = json!({ "organizationId": org, "contact": "a@example.com" }).to_string();
    for origin in ["https://evil.example", "null", &format!("https://{}.example", "a".repeat(4000))] {
        let headers = [("Content-Type", "application/json".to_owned()), ("Origin", origin.to_owned())];
        let resp = root.post_with_headers("/auth-proxy/v1/otp_init", init.as_bytes(), &headers).expect("sent");
        assert_eq!(resp.status, 403, "origin of {} bytes: {}", origin.len(), resp.body);
        assert!(resp.body["message"].as_str().is_some_and(|m| m.contains("allowedOrigins")), "{}", resp.body);
        assert_eq!(resp.header("access-control-allow-origin"), None);
    }
    assert_eq!(server.db.row_counts(), before, "nothing stored");
    assert!(!server.log().contains("panicked"), "no panics in the server log");
}
