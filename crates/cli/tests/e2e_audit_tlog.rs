//! Issue 22 against the real binary, on SQLite and PostgreSQL: each organization's audit log
//! is an RFC 9162 Merkle tree with signed C2SP checkpoints. After real traffic and a
//! checkpoint a witness kept, `twofold audit verify --checkpoint` detects an edit of any
//! column (the id included), a deleted middle event, two reordered, a truncated tail, a
//! rollback to an older copy of the database, a tree rebuilt over edited events and a
//! stored checkpoint rewritten without the key; the untouched database verifies. The
//! inclusion and consistency proofs the queries answer verify with an independent
//! implementation (node:crypto, tests/interop/tlog-verify.mjs).
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use twofold_client::Client;
use twofold_testkit::{
    Backend, TestServer, completed, interop_installed, new_key, ok, on_every_backend, user_with_key,
};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");
const TABLES: [&str; 2] = ["audit_events", "audit_checkpoints"];

/// `twofold audit verify` over the server's database and data directory (its key file).
fn audit_verify(server: &TestServer, extra: &[&str]) -> (bool, String) {
    let data_dir = server.data_dir().display().to_string();
    let out = Command::new(BIN)
        .args(["audit", "verify", "--database-url", server.db.url(), "--data-dir", &data_dir])
        .args(extra)
        .output()
        .expect("run twofold audit verify");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// `twofold audit checkpoint --organization-id org`, saved where a witness would keep it.
fn witness_checkpoint(server: &TestServer, org: &str, name: &str) -> String {
    let data_dir = server.data_dir().display().to_string();
    let out = Command::new(BIN)
        .args(["audit", "checkpoint", "--database-url", server.db.url(), "--data-dir", &data_dir])
        .args(["--organization-id", org])
        .output()
        .expect("run twofold audit checkpoint");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = server.dir.path().join(name);
    std::fs::write(&path, &out.stdout).expect("write the checkpoint");
    path.display().to_string()
}

/// Waits until the latest signed checkpoint covers every event of `client`'s organization.
fn settled_checkpoint(client: &Client) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let events = ok(client.query("list_audit_events", json!({ "paginationOptions": { "limit": "1" } })));
        let seq = events["auditEvents"][0]["seq"].to_string().trim_matches('"').to_owned();
        if let Ok(answer) = client.query("get_audit_checkpoint", json!({}))
            && answer.status == 200
            && answer.body["checkpoint"]["treeSize"].as_str() == Some(seq.as_str())
        {
            return answer.body;
        }
        assert!(Instant::now() < deadline, "no checkpoint of {seq} events");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn traffic(root: &Client, round: usize) {
    let (a, b) = (new_key(), new_key());
    let users = json!({ "users": [user_with_key(&format!("a{round}"), &a), user_with_key(&format!("b{round}"), &b)] });
    completed(root.submit("create_users", users), "createUsersResult");
    completed(
        root.submit("create_user_tag", json!({ "userTagName": format!("t{round}"), "userIds": [] })),
        "createUserTagResult",
    );
}

#[track_caller]
fn refused(server: &TestServer, checkpoint: &str, what: &str, needle: &str) {
    let (passed, text) = audit_verify(server, &["--checkpoint", checkpoint]);
    assert!(!passed, "{what}: verify must fail:\n{text}");
    assert!(text.contains(needle), "{what}: says `{needle}`:\n{text}");
}

fn backup(server: &TestServer, tag: &str) {
    server.db.execute(&TABLES.map(|t| format!("CREATE TABLE {tag}_{t} AS SELECT * FROM {t}")));
}

fn restore(server: &TestServer, tag: &str) {
    let mut sql = Vec::new();
    for t in TABLES {
        sql.push(format!("DELETE FROM {t}"));
        sql.push(format!("INSERT INTO {t} SELECT * FROM {tag}_{t}"));
    }
    server.db.execute(&sql);
}

/// `statement`, with `org`'s tree state and checkpoints wiped as someone covering it up would.
fn with_tree_wiped(org: &str, statement: String) -> Vec<String> {
    vec![
        statement,
        format!("UPDATE audit_events SET tree_nodes = NULL WHERE organization_id = '{org}'"),
        format!("DELETE FROM audit_checkpoints WHERE organization_id = '{org}'"),
    ]
}

fn node_verifies(input: Value) -> Value {
    twofold_testkit::run_node_stdin("tlog-verify.mjs", &input).expect("node runs")
}

fn tamper_evident(backend: Backend) {
    let witness_dir = tempfile::tempdir().expect("tempdir");
    let witness_file = witness_dir.path().join("checkpoints.jsonl").display().to_string();
    let mut server =
        TestServer::start(BIN, backend, &["--audit-checkpoint-secs", "1", "--audit-witness-file", &witness_file]);
    let root = server.root_client();
    let org = root.organization_id().to_owned();
    for round in 0..4 {
        traffic(&root, round);
    }
    let first = settled_checkpoint(&root);
    let first_size: i64 = first["checkpoint"]["treeSize"].as_str().expect("size").parse().expect("number");
    let early = witness_checkpoint(&server, &org, "early.checkpoint");
    backup(&server, "early");
    for round in 4..8 {
        traffic(&root, round);
    }
    let latest = settled_checkpoint(&root);
    let witness = witness_checkpoint(&server, &org, "witness.checkpoint");
    let vkey = latest["verifierKeys"][0].as_str().expect("verifier key").to_owned();
    // The witness file outside the data directory got every checkpoint as it was signed.
    let pushed = std::fs::read_to_string(&witness_file).expect("witness file");
    let lines: Vec<Value> = pushed.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert!(lines.iter().any(|l| l["note"] == latest["checkpoint"]["note"]), "{pushed}");
    assert!(lines.iter().any(|l| l["note"] == first["checkpoint"]["note"]), "{pushed}");

    // Proofs, checked by the independent implementation.
    let mut sub_org = None;
    if interop_installed() {
        let events = ok(root.query("list_audit_events", json!({ "paginationOptions": { "limit": "100" } })));
        let event = &events["auditEvents"][5];
        let proof = ok(root.query("get_audit_proof", json!({ "eventId": event["id"] })));
        let root_hash = proof["checkpoint"]["rootHash"].clone();
        let input = json!({ "op": "inclusion", "leaf": proof["leaf"], "leafIndex": proof["leafIndex"],
            "treeSize": proof["checkpoint"]["treeSize"], "proof": proof["inclusionProof"], "rootHash": root_hash });
        let checked = node_verifies(input.clone());
        assert_eq!(checked["ok"], true, "{checked} for {proof}");
        assert_eq!(checked["leafHash"], proof["leafHash"]);
        let signed =
            node_verifies(json!({ "op": "checkpoint", "note": proof["checkpoint"]["note"], "verifierKey": vkey }));
        assert_eq!((signed["ok"].clone(), signed["rootHash"].clone()), (json!(true), root_hash.clone()), "{signed}");
        assert_eq!(signed["origin"], format!("twofold.invalid/audit/{org}"));
        // The leaf names its event: another event's leaf, or another organization's tree, fails.
        let other = ok(root.query("get_audit_proof", json!({ "eventId": events["auditEvents"][6]["id"] })));
        let mut swapped = input.clone();
        swapped["leaf"] = other["leaf"].clone();
        assert_eq!(node_verifies(swapped)["ok"], false);
        // Another organization's tree (a sub-organization with its own log) does not hold it.
        let (sub_id, _, sub_client) = support::sub_org(&server, &root, "elsewhere");
        sub_org = Some(sub_id);
        for round in 0..3 {
            traffic(&sub_client, round);
        }
        let theirs = settled_checkpoint(&sub_client);
        let mut elsewhere = input.clone();
        elsewhere["rootHash"] = theirs["checkpoint"]["rootHash"].clone();
        elsewhere["treeSize"] = theirs["checkpoint"]["treeSize"].clone();
        assert_eq!(node_verifies(elsewhere)["ok"], false, "a proof against another organization's tree fails");
        let consistency = ok(root.query(
            "get_audit_consistency_proof",
            json!({ "fromSize": first["checkpoint"]["treeSize"], "toSize": latest["checkpoint"]["treeSize"] }),
        ));
        let input = json!({ "op": "consistency", "fromSize": consistency["fromSize"], "toSize": consistency["toSize"],
            "fromRoot": first["checkpoint"]["rootHash"], "toRoot": latest["checkpoint"]["rootHash"],
            "proof": consistency["consistencyProof"] });
        assert_eq!(node_verifies(input.clone())["ok"], true, "{consistency}");
        let mut forked = input;
        forked["fromRoot"] = json!(hex::encode([7u8; 32]));
        assert_eq!(node_verifies(forked)["ok"], false);
    }

    // A witness's copy matches the untouched database.
    server.terminate(Duration::from_secs(10));
    let (passed, text) = audit_verify(&server, &["--checkpoint", &witness, "--checkpoint", &early]);
    assert!(passed, "{text}");
    assert!(text.contains("signed checkpoints matched (2 given"), "{text}");
    backup(&server, "good");

    // Every column of a middle event, the id included.
    let middle = format!("organization_id = '{org}' AND seq = 3");
    for (column, change) in [
        ("id", "id = id || 'x'"),
        ("at", "at = at + 1"),
        ("event_type", "event_type = event_type || 'x'"),
        ("outcome", "outcome = outcome || 'x'"),
        ("actor_user_id", "actor_user_id = COALESCE(actor_user_id, '') || 'x'"),
        ("actor_credential_id", "actor_credential_id = COALESCE(actor_credential_id, '') || 'x'"),
        ("subject", "subject = COALESCE(subject, '') || 'x'"),
        ("details", "details = '{\"edited\":true}'"),
        ("prev_hash", "prev_hash = 'x' || prev_hash"),
        ("hash", "hash = 'x' || hash"),
        ("seq", "seq = seq + 1000"),
        ("organization_id", "organization_id = 'another'"),
    ] {
        server.db.execute(&[format!("UPDATE audit_events SET {change} WHERE {middle}")]);
        let (passed, text) = audit_verify(&server, &["--checkpoint", &witness]);
        assert!(!passed, "an edited {column} must fail:\n{text}");
        restore(&server, "good");
    }
    // The id is in no chain hash: only the tree notices its edit.
    server.db.execute(&[format!("UPDATE audit_events SET id = id || 'x' WHERE {middle}")]);
    refused(&server, &witness, "edited id", "NOT verified");
    restore(&server, "good");

    // A deleted middle event, two reordered.
    server.db.execute(&[format!("DELETE FROM audit_events WHERE {middle}")]);
    refused(&server, &witness, "deleted middle event", "seq 3");
    restore(&server, "good");
    server.db.execute(&[
        format!("UPDATE audit_events SET seq = -1 WHERE organization_id = '{org}' AND seq = 4"),
        format!("UPDATE audit_events SET seq = 4 WHERE organization_id = '{org}' AND seq = 5"),
        format!("UPDATE audit_events SET seq = 5 WHERE organization_id = '{org}' AND seq = -1"),
    ]);
    refused(&server, &witness, "two reordered events", "seq 4");
    restore(&server, "good");

    // An event inserted in the middle (the later ones moved up to make room for it).
    server.db.execute(&[
        format!("UPDATE audit_events SET seq = seq + 100000 WHERE organization_id = '{org}' AND seq >= 4"),
        format!("UPDATE audit_events SET seq = seq - 99999 WHERE organization_id = '{org}' AND seq >= 100004"),
        format!(
            "INSERT INTO audit_events (id, organization_id, seq, at, event_type, outcome, details, prev_hash, hash) \
             SELECT 'forged', organization_id, 4, at, 'VOTE', 'APPROVED', '{{}}', hash, hash FROM audit_events \
             WHERE organization_id = '{org}' AND seq = 3"
        ),
    ]);
    refused(&server, &witness, "inserted event", "NOT verified");
    restore(&server, "good");

    // A truncated tail, with the tree state wiped too so that what is left looks whole.
    server.db.execute(&with_tree_wiped(
        &org,
        format!("DELETE FROM audit_events WHERE organization_id = '{org}' AND seq > {first_size}"),
    ));
    // Alone, what is left looks like a log whose tree is not folded yet, and says so.
    let (passed, text) = audit_verify(&server, &[]);
    assert!(passed && text.contains("not in a stored tree yet"), "{text}");
    refused(&server, &witness, "truncated tail", "deleted from the end, or the database was rolled back");
    restore(&server, "good");

    // The database rolled back to the copy taken before the last rounds: consistent with
    // itself and with the early checkpoint, not with the witness's.
    restore(&server, "early");
    let (passed, text) = audit_verify(&server, &["--checkpoint", &early]);
    assert!(passed, "the old copy is itself intact: {text}");
    refused(&server, &witness, "rollback", "deleted from the end, or the database was rolled back");
    restore(&server, "good");

    // A stored checkpoint rewritten without the key: its signature no longer verifies.
    server.db.execute(&[format!(
        "UPDATE audit_checkpoints SET note = REPLACE(note, '/{org}', '/{org}x') WHERE organization_id = '{org}'"
    )]);
    let (passed, text) = audit_verify(&server, &[]);
    assert!(!passed && text.contains("signature"), "a rewritten stored checkpoint: {text}");
    restore(&server, "good");

    // The tree rebuilt over an edited event (the id, which no chain hash covers) by the
    // server itself, with the real key: the stored state and a fresh checkpoint agree with
    // the edit, the witness's checkpoint does not.
    server.db.execute(&with_tree_wiped(&org, format!("UPDATE audit_events SET id = id || 'x' WHERE {middle}")));
    server.restart();
    settled_checkpoint(&server.root_client());
    server.terminate(Duration::from_secs(10));
    let (passed, text) = audit_verify(&server, &[]);
    assert!(passed, "rebuilt, the database agrees with itself: {text}");
    assert!(text.contains("not checked: no --checkpoint"), "and says what it did not check: {text}");
    refused(&server, &witness, "rebuilt tree", "are not those the checkpoint signed");

    // The key rotated: checkpoints the old key signed still verify, new ones carry the new key.
    let data_dir = server.data_dir().display().to_string();
    let rotated = Command::new(BIN)
        .args(["audit", "rotate-key", "--database-url", server.db.url(), "--data-dir", &data_dir])
        .output()
        .expect("run rotate-key");
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    server.restart();
    traffic(&server.root_client(), 9);
    let after = settled_checkpoint(&server.root_client());
    let keys = after["verifierKeys"].as_array().expect("keys");
    assert_eq!(keys.len(), 2, "the new key and the old one: {after}");
    assert_ne!(keys[0].as_str(), Some(vkey.as_str()), "the new key signs");
    assert_eq!(keys[1].as_str(), Some(vkey.as_str()), "the old key still verifies");
    server.terminate(Duration::from_secs(10));
    let (passed, text) = audit_verify(&server, &[]);
    assert!(passed, "old and new checkpoints both verify: {text}");
    let (passed, text) = audit_verify(&server, &["--verifier-key", &vkey]);
    assert!(!passed && text.contains("no signature by a trusted key"), "the new checkpoint needs the new key: {text}");

    // A checkpoint of another organization, where this one's is expected, is refused.
    if let Some(sub_org) = &sub_org {
        let theirs = witness_checkpoint(&server, sub_org, "sub.checkpoint");
        let (passed, text) = audit_verify(&server, &["--checkpoint", &theirs]);
        assert!(passed, "it is a good checkpoint of its own organization: {text}");
        let (passed, text) = audit_verify(&server, &["--checkpoint", &theirs, "--organization-id", &org]);
        assert!(!passed && text.contains("not of"), "{text}");
    }

    // A checkpoint signed by another installation's key is refused.
    let other = TestServer::start(BIN, backend, &["--audit-checkpoint-secs", "1"]);
    let other_root = other.root_client();
    traffic(&other_root, 0);
    settled_checkpoint(&other_root);
    let foreign = witness_checkpoint(&other, other_root.organization_id(), "foreign.checkpoint");
    let copied = server.dir.path().join("foreign.checkpoint");
    std::fs::copy(&foreign, &copied).expect("copy");
    refused(&server, &copied.display().to_string(), "another key", "no signature by a trusted key");
}

on_every_backend!(
    an_edited_truncated_rolled_back_or_rebuilt_audit_log_fails_its_checkpoint_on_sqlite,
    an_edited_truncated_rolled_back_or_rebuilt_audit_log_fails_its_checkpoint_on_postgres,
    tamper_evident
);

/// The proof queries refuse malformed, oversized and hostile input with a 4xx naming the
/// field and change nothing; another organization's event is not found, however its id is
/// learnt (a self-made sub-organization's root asks for the parent's events).
#[test]
fn proof_queries_refuse_bad_input_and_other_organizations_events() {
    let server = TestServer::start(BIN, Backend::Sqlite, &["--audit-checkpoint-secs", "1"]);
    let root = server.root_client();
    traffic(&root, 0);
    let checkpoint = settled_checkpoint(&root);
    let size = checkpoint["checkpoint"]["treeSize"].as_str().expect("size").to_owned();
    let events = ok(root.query("list_audit_events", json!({ "paginationOptions": { "limit": "1" } })));
    let event_id = events["auditEvents"][0]["id"].as_str().expect("id").to_owned();
    let before = server.db.row_counts();
    let long = "x".repeat(100_000);
    for (query, body, status, needle) in [
        ("get_audit_proof", json!({}), 400, "eventId"),
        ("get_audit_proof", json!({ "eventId": 5 }), 400, "eventId"),
        ("get_audit_proof", json!({ "eventId": long }), 404, "no audit event"),
        ("get_audit_proof", json!({ "eventId": event_id, "treeSize": "abc" }), 400, "treeSize"),
        ("get_audit_proof", json!({ "eventId": event_id, "treeSize": "-1" }), 400, "treeSize"),
        ("get_audit_proof", json!({ "eventId": event_id, "treeSize": "99999999999999999999" }), 400, "treeSize"),
        (
            "get_audit_proof",
            json!({ "eventId": event_id, "treeSize": "9223372036854775807" }),
            404,
            "no signed checkpoint",
        ),
        ("get_audit_proof", json!({ "eventId": event_id, "leaf": "forged" }), 400, "`leaf`"),
        ("get_audit_consistency_proof", json!({}), 400, "fromSize"),
        ("get_audit_consistency_proof", json!({ "fromSize": "x" }), 400, "fromSize"),
        ("get_audit_consistency_proof", json!({ "fromSize": "99999" }), 400, "past the checkpoint"),
        ("get_audit_consistency_proof", json!({ "fromSize": "1", "toSize": "123456" }), 404, "no signed checkpoint"),
        ("get_audit_checkpoint", json!({ "treeSize": size }), 400, "`treeSize`"),
    ] {
        let resp = root.query(query, body.clone()).expect("sent");
        assert_eq!(resp.status, status, "{query} {body}: {}", resp.body);
        let message = resp.body["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle) && message.len() < 2_000, "{query} {body}: {message}");
    }
    let from_zero = ok(root.query("get_audit_consistency_proof", json!({ "fromSize": "0" })));
    assert_eq!(from_zero["consistencyProof"], json!([]), "{from_zero}");
    assert_eq!(server.db.row_counts(), before, "queries store nothing");

    // The root of a sub-organization it made itself reads its own log only.
    let (_, _, tenant) = support::sub_org(&server, &root, "own");
    traffic(&tenant, 0);
    settled_checkpoint(&tenant);
    let stolen = tenant.query("get_audit_proof", json!({ "eventId": event_id })).expect("sent");
    assert_eq!(stolen.status, 404, "another organization's event: {}", stolen.body);
    let theirs = ok(tenant.query("get_audit_checkpoint", json!({})));
    assert_ne!(theirs["checkpoint"]["organizationId"], checkpoint["checkpoint"]["organizationId"]);
    assert!(theirs["checkpoint"]["note"].as_str().is_some_and(|n| n.contains(tenant.organization_id())), "{theirs}");
}
