//! The audit log: every activity status change, vote and rejected stamp is chained;
//! after a mixed workload of over 1 000 events the chain verifies, and editing,
//! deleting or reordering any one row makes `twofold audit verify` fail at that row.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

use std::process::Command;

use serde_json::{Value, json};
use twofold_testkit::{Backend, TestServer, completed, new_key, ok, status, user_with_key};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

fn verify(server: &TestServer) -> (bool, String) {
    let out = Command::new(BIN)
        .args(["audit", "verify", "--database-url", server.db.url()])
        .output()
        .expect("run twofold audit verify");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[track_caller]
fn assert_broken_at(server: &TestServer, seq: i64, what: &str) {
    let (ok, text) = verify(server);
    assert!(!ok, "{what}: verify must fail: {text}");
    assert!(text.contains(&format!("seq {seq}")), "{what}: names seq {seq}: {text}");
}

fn audit_log(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let org = root.organization_id().to_owned();
    let alice_key = new_key();
    let bob_key = new_key();
    let alice_id = completed(
        root.submit(
            "create_users",
            json!({ "users": [user_with_key("alice", &alice_key), user_with_key("bob", &bob_key)] }),
        ),
        "createUsersResult",
    )["userIds"][0]
        .as_str()
        .expect("alice")
        .to_owned();
    let alice = server.client(alice_key, &org);
    let bob = server.client(bob_key, &org);
    completed(
        root.submit(
            "create_policy",
            json!({ "policyName": "pairs delete", "effect": "EFFECT_ALLOW", "notes": "",
                    "condition": "activity.resource == 'USER' && activity.action == 'DELETE'",
                    "consensus": "approvers.count() >= 2" }),
        ),
        "createPolicyResult",
    );

    // A mixed workload: completed, denied, approved-by-two, and rejected stamps.
    for i in 0..300 {
        completed(
            root.submit("create_users", json!({ "users": [{ "userName": format!("u{i}") }] })),
            "createUsersResult",
        );
    }
    for i in 0..100 {
        let denied = ok(alice.submit("create_user_tag", json!({ "userTagName": format!("t{i}"), "userIds": [] })));
        assert_eq!(status(&denied), "ACTIVITY_STATUS_FAILED");
    }
    let users: Vec<Value> = ok(root.query("list_users", json!({})))["users"].as_array().expect("users").clone();
    for u in users.iter().filter(|u| u["userName"].as_str().is_some_and(|n| n.starts_with('u'))).take(50) {
        let pending = ok(alice.submit("delete_users", json!({ "userIds": [u["userId"]] })));
        assert_eq!(status(&pending), "ACTIVITY_STATUS_CONSENSUS_NEEDED");
        let fp = pending["activity"]["fingerprint"].as_str().expect("fp");
        let done = ok(bob.submit("approve_activity", json!({ "fingerprint": fp })));
        assert_eq!(status(&done), "ACTIVITY_STATUS_COMPLETED");
    }
    for _ in 0..30 {
        let body =
            alice.submit_body("create_users", json!({ "parameters": { "users": [] } })).expect("body").to_string();
        let forged = twofold_client::ApiKeyPair::generate(twofold_client::Curve::P256).expect("key");
        let stamp = serde_json::json!({ "publicKey": alice.key().public_key_hex(), "scheme": "SIGNATURE_SCHEME_TK_API_P256", "signature": forged.sign_hex(body.as_bytes()) });
        let header = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, stamp.to_string());
        let resp = alice
            .post_with_headers("/public/v1/submit/create_users", body.as_bytes(), &[("X-Stamp", header)])
            .expect("sent");
        assert_eq!(resp.status, 401);
    }

    // The chain holds over a thousand events, verifies, and reads back through the API.
    let (good, text) = verify(&server);
    assert!(good, "{text}");
    let total: i64 = text.split_whitespace().find_map(|w| w.parse().ok()).expect("count");
    assert!(total >= 1000, "{text}");
    let api = ok(root.query("verify_audit_log", json!({})));
    assert_eq!(api["verified"], true, "{api}");
    let rejected = ok(root.query("list_audit_events", json!({ "eventType": "STAMP_REJECTED" })));
    let rejected = rejected["auditEvents"].as_array().expect("events");
    assert!(!rejected.is_empty(), "rejected stamps are audited (counted per key and window: e2e_rejections)");
    assert_eq!(rejected[0]["actorUserId"], alice_id.as_str());
    assert!(!rejected[0]["details"].to_string().contains("signature\":\""), "no stamp material in audit rows");
    let votes = ok(root.query(
        "list_audit_events",
        json!({ "eventType": "VOTE", "actorUserId": alice_id, "paginationOptions": { "limit": "100" } }),
    ));
    assert_eq!(votes["auditEvents"].as_array().expect("events").len(), 100);
    let exported = Command::new(BIN)
        .args(["audit", "export", "--url", &server.url, "--key-file"])
        .arg(server.root_key_path())
        .output()
        .expect("export");
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&exported.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len() as i64, total, "export has every event of the one organization");
    assert_eq!(lines[0]["seq"].as_i64(), Some(total), "newest first");

    // Tamper with one row at a time; verify names it; undo; it verifies again.
    let at = |seq: i64| format!("organization_id = '{org}' AND seq = {seq}");
    server.db.execute(&[format!("UPDATE audit_events SET details = '{{\"forged\":true}}' WHERE {}", at(500))]);
    assert_broken_at(&server, 500, "edited row");
    assert!(!ok(root.query("verify_audit_log", json!({})))["verified"].as_bool().expect("bool"));

    let server2 = TestServer::start(BIN, backend, &[]);
    let root2 = server2.root_client();
    let org2 = root2.organization_id().to_owned();
    for i in 0..20 {
        completed(
            root2.submit("create_users", json!({ "users": [{ "userName": format!("v{i}") }] })),
            "createUsersResult",
        );
    }
    assert!(verify(&server2).0);
    let at2 = |seq: i64| format!("organization_id = '{org2}' AND seq = {seq}");
    server2.db.execute(&[
        format!("CREATE TABLE stash AS SELECT * FROM audit_events WHERE {}", at2(7)),
        format!("DELETE FROM audit_events WHERE {}", at2(7)),
    ]);
    assert_broken_at(&server2, 7, "deleted row");
    server2.db.execute(&["INSERT INTO audit_events SELECT * FROM stash".to_owned(), "DROP TABLE stash".to_owned()]);
    assert!(verify(&server2).0, "restored");
    server2.db.execute(&[
        format!("UPDATE audit_events SET seq = -1 WHERE {}", at2(12)),
        format!("UPDATE audit_events SET seq = 12 WHERE {}", at2(13)),
        format!("UPDATE audit_events SET seq = 13 WHERE {}", at2(-1)),
    ]);
    assert_broken_at(&server2, 12, "reordered rows");
}

twofold_testkit::on_every_backend!(audit_log_on_sqlite, audit_log_on_postgres, audit_log);
