//! Hostile input against every endpoint: each submit and query endpoint gets its
//! parameters replaced by every JSON type, nested junk, huge and odd strings, with a
//! valid stamp. Nothing may answer 5xx, every answer is JSON, the server never panics,
//! and the audit chain still verifies afterwards.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

use serde_json::{Value, json};
use twofold_core::activities::KINDS;
use twofold_testkit::{Backend, TestServer, ok};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

fn junk() -> Vec<Value> {
    let deep = (0..100).fold(json!(1), |acc, _| json!({ "a": acc }));
    vec![
        Value::Null,
        json!(true),
        json!(-1),
        json!(1.5),
        json!(u64::MAX),
        json!("x"),
        json!("\u{0000}\u{202e}\u{fffd}💥"),
        json!("a".repeat(60_000)),
        json!([]),
        json!([null, 1, "x", {}]),
        json!({}),
        deep,
    ]
}

/// Field names the endpoints read, to aim junk at them.
const FIELDS: &[&str] = &[
    "users",
    "userIds",
    "userId",
    "userName",
    "userTagName",
    "apiKeys",
    "apiKeyIds",
    "subOrganizationName",
    "rootUsers",
    "rootQuorumThreshold",
    "threshold",
    "policyName",
    "effect",
    "condition",
    "consensus",
    "policyId",
    "fingerprint",
    "rules",
    "publicKey",
    "confirmLockout",
    "enabled",
    "activityId",
    "apiKeyId",
    "activity",
    "paginationOptions",
    "filterByStatus",
    "filterByType",
    "eventType",
    "fromMs",
];

#[test]
fn no_endpoint_answers_5xx_to_hostile_input() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    // Every request body to send, then two senders (the machine has two cores).
    let mut requests: Vec<(String, String)> = Vec::new();
    for kind in KINDS {
        let path = format!("/public/v1/submit/{}", kind.path);
        for value in junk() {
            let whole = root.submit_body(kind.path, json!({ "parameters": value })).expect("body");
            requests.push((path.clone(), whole.to_string()));
            if value.to_string().len() > 1000 {
                continue; // big values go in whole only: aiming them at every field adds time, not coverage
            }
            for field in FIELDS {
                let aimed = root.submit_body(kind.path, json!({ "parameters": { *field: value } })).expect("body");
                requests.push((path.clone(), aimed.to_string()));
            }
        }
    }
    for name in twofold_core::query_paths() {
        let path = format!("/public/v1/query/{name}");
        for value in junk().into_iter().filter(|v| v.to_string().len() <= 1000) {
            for field in FIELDS {
                requests.push((path.clone(), root.query_body(json!({ *field: value })).expect("body").to_string()));
            }
        }
    }
    let sent = requests.len();
    std::thread::scope(|s| {
        for half in requests.chunks(requests.len().div_ceil(2)) {
            let root = &root;
            s.spawn(move || {
                for (path, body) in half {
                    let resp = root.post_raw(path, body.as_bytes()).expect("sent");
                    let shown = &body[..body.len().min(200)];
                    assert!(resp.status < 500, "{path} answered {} to {shown}: {}", resp.status, resp.body);
                    assert!(resp.body.is_object(), "{path}: JSON answer, got {}", resp.body);
                }
            });
        }
    });
    assert!(sent > 4000, "{sent} requests");
    assert!(!server.log().contains("panicked"), "no panics in the server log");
    assert_eq!(ok(root.query("verify_audit_log", json!({})))["verified"], true);
}
