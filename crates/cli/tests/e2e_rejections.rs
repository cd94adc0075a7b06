//! Unauthenticated requests cannot bury real events in audit rows (issue 17.7): requests
//! naming a registered key with a garbage signature are audited as one counted
//! `STAMP_REJECTED` row per key and window (the first at once, the rest when the window
//! closes or the server stops), with the right count, the first and last time, and the
//! chain still verifies.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::member;
use twofold_client::Client;
use twofold_testkit::{Backend, TestServer, ok, on_every_backend};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

/// Sends `n` requests stamped with `victim`'s registered public key and a signature by
/// another key; each must be refused with 401.
fn garbage_stamps(victim: &Client, n: usize) {
    let body = victim.submit_body("create_users", json!({ "parameters": { "users": [] } })).expect("body").to_string();
    let forged = twofold_client::ApiKeyPair::generate(twofold_client::Curve::P256).expect("key");
    let stamp = json!({ "publicKey": victim.key().public_key_hex(), "scheme": "SIGNATURE_SCHEME_TK_API_P256",
                        "signature": forged.sign_hex(body.as_bytes()) });
    let header = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, stamp.to_string());
    for _ in 0..n {
        let resp = victim
            .post_with_headers("/public/v1/submit/create_users", body.as_bytes(), &[("X-Stamp", header.clone())])
            .expect("sent");
        assert_eq!(resp.status, 401, "{}", resp.body);
    }
}

/// The `STAMP_REJECTED` rows of the root organization.
fn rejected_rows(root: &Client) -> Vec<Value> {
    let listed = ok(root
        .query("list_audit_events", json!({ "eventType": "STAMP_REJECTED", "paginationOptions": { "limit": "100" } })));
    listed["auditEvents"].as_array().expect("events").clone()
}

fn counted(rows: &[Value]) -> u64 {
    rows.iter().map(|r| r["details"]["count"].as_u64().expect("every row is counted")).sum()
}

fn audit_rows(server: &TestServer) -> i64 {
    server.db.data_and_audit_counts().1
}

fn verify(server: &TestServer) {
    let out = Command::new(BIN)
        .args(["audit", "verify", "--database-url", server.db.url()])
        .output()
        .expect("run twofold audit verify");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

fn garbage_signatures_add_a_counted_row_per_key_and_window(backend: Backend) {
    let mut server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let (alice_id, alice) = member(&server, &root, "alice");
    let before = audit_rows(&server);

    let started = Instant::now();
    garbage_stamps(&alice, 2000);
    eprintln!("2000 garbage-signature requests took {:?}", started.elapsed());
    let rows = rejected_rows(&root);
    assert_eq!(rows.len(), 1, "the first rejection of the window is recorded at once, the rest counted: {rows:#?}");
    assert_eq!(rows[0]["details"]["count"], 1, "{}", rows[0]);
    assert_eq!(rows[0]["actorUserId"], alice_id.as_str());

    // A graceful stop writes what the open window counted.
    server.terminate(Duration::from_secs(20)).expect("a graceful stop");
    server.restart();
    let rows = rejected_rows(&root);
    assert_eq!(rows.len(), 2, "one more counted row for the rest of the window: {rows:#?}");
    assert_eq!(counted(&rows), 2000, "{rows:#?}");
    let summary = rows.iter().find(|r| r["details"]["count"] == 1999).expect("the window's counted row");
    assert!(summary["details"]["firstAt"].as_str() <= summary["details"]["lastAt"].as_str(), "{summary}");
    assert_eq!(summary["details"]["windowSeconds"], 60, "the default window");
    assert!(summary["details"]["reason"].is_string(), "{summary}");
    let added = audit_rows(&server) - before;
    assert!(added <= 4, "2000 refused requests added {added} audit rows");
    verify(&server);
}

on_every_backend!(
    garbage_signatures_add_a_counted_row_per_key_and_window_sqlite,
    garbage_signatures_add_a_counted_row_per_key_and_window_postgres,
    garbage_signatures_add_a_counted_row_per_key_and_window
);

#[test]
fn a_closed_rejection_window_reaches_the_audit_log_while_the_server_runs() {
    let server = TestServer::start(BIN, Backend::Sqlite, &["--audit-rejection-window-secs", "1"]);
    let root = server.root_client();
    let (_, alice) = member(&server, &root, "alice");
    let (_, bob) = member(&server, &root, "bob");
    garbage_stamps(&alice, 50);
    garbage_stamps(&bob, 3);
    let deadline = Instant::now() + Duration::from_secs(10);
    let rows = loop {
        let rows = rejected_rows(&root);
        if counted(&rows) == 53 || Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(counted(&rows), 53, "{rows:#?}");
    assert!(rows.len() <= 6, "a first and a counted row per key and window: {rows:#?}");
    verify(&server);
}
