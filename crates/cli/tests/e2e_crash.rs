//! Acceptance 6: an activity acknowledged with a 200 survives SIGKILL right after the
//! answer, with its effects, on SQLite and PostgreSQL. Issue 10: the server SIGKILLed
//! again and again under concurrent write load loses nothing it acknowledged, executes
//! nothing twice, and its audit chain verifies (`TWOFOLD_LONG_TESTS=1` for 100 kills).
#![allow(clippy::expect_used, reason = "tests fail loudly")]

use std::collections::HashSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use twofold_client::{ApiResponse, Client};
use twofold_testkit::{Backend, TestServer, backends, ok};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

fn survives_sigkill(backend: Backend) {
    let mut server = TestServer::start(BIN, backend, &[]);
    let mut acknowledged = Vec::new();
    for round in 0..5 {
        let root = server.root_client();
        let name = format!("durable-{round}");
        let body = ok(root.submit("create_users", json!({ "users": [{ "userName": name }] })));
        assert_eq!(body["activity"]["status"], "ACTIVITY_STATUS_COMPLETED");
        let user_id = body["activity"]["result"]["createUsersResult"]["userIds"][0].as_str().expect("id").to_owned();
        acknowledged.push((body["activity"]["id"].as_str().expect("id").to_owned(), user_id, name));
        server.kill9();
        server.restart();
    }
    let root = server.root_client();
    for (activity_id, user_id, name) in &acknowledged {
        let a = ok(root.query("get_activity", json!({ "activityId": activity_id })));
        assert_eq!(a["activity"]["status"], "ACTIVITY_STATUS_COMPLETED");
        let u = ok(root.query("get_user", json!({ "userId": user_id })));
        assert_eq!(u["user"]["userName"], name.as_str());
    }
    let bootstraps = server.stdout_lines.iter().filter(|l| l.contains("bootstrapped")).count();
    assert_eq!(bootstraps, 1, "restarts do not bootstrap again");
}

twofold_testkit::on_every_backend!(
    acknowledged_activities_survive_sigkill_on_sqlite,
    acknowledged_activities_survive_sigkill_on_postgres,
    survives_sigkill
);

/// How long a long run (`TWOFOLD_LONG_TESTS=1`) and a default-suite run kill the server.
fn crash_rounds(default: usize) -> usize {
    if std::env::var("TWOFOLD_LONG_TESTS").is_ok_and(|v| v == "1") { 100 } else { default }
}

/// What a writer was told with a 200 and `ACTIVITY_STATUS_COMPLETED`.
#[derive(Debug, Clone)]
enum Ack {
    Tag { activity_id: String, name: String, tag_id: String },
    User { activity_id: String, name: String, user_id: String, tag_id: String },
}

impl Ack {
    fn activity_id(&self) -> &str {
        match self {
            Ack::Tag { activity_id, .. } | Ack::User { activity_id, .. } => activity_id,
        }
    }
}

/// The acknowledgements so far, and a signal for each new one.
#[derive(Default)]
struct Ledger {
    acks: Mutex<Vec<Ack>>,
    grew: Condvar,
    stop: AtomicBool,
    /// Requests sent again because the server died under them or was down.
    resent: AtomicUsize,
}

impl Ledger {
    fn record(&self, ack: Ack) {
        self.acks.lock().expect("ledger").push(ack);
        self.grew.notify_all();
    }

    /// Waits (bounded) until at least `n` activities are acknowledged.
    fn wait_for(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut acks = self.acks.lock().expect("ledger");
        while acks.len() < n {
            let left = deadline.checked_duration_since(Instant::now()).expect("writers stalled: no progress in 60 s");
            acks = self.grew.wait_timeout(acks, left).expect("ledger").0;
        }
    }

    fn len(&self) -> usize {
        self.acks.lock().expect("ledger").len()
    }
}

/// Sends exactly these bytes until the server answers: across a SIGKILL the same body either
/// finds the activity it already created (same fingerprint) or creates it now.
fn send_until_answered(client: &Client, name: &str, body: &[u8], ledger: &Ledger) -> ApiResponse {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match client.post_raw(&format!("/public/v1/submit/{name}"), body) {
            Ok(resp) => return resp,
            // Refused while the server is down, reset when it dies mid-request: poll, bounded.
            Err(e) => {
                assert!(Instant::now() < deadline, "no answer to {name} for 60 s: {e}");
                ledger.resent.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Submits `name` once (resending the identical body until answered) and returns the result.
#[track_caller]
fn acknowledged(client: &Client, ledger: &Ledger, name: &str, parameters: Value, result_key: &str) -> (String, Value) {
    let body = client.submit_body(name, json!({ "parameters": parameters })).expect("body").to_string();
    let resp = send_until_answered(client, name, body.as_bytes(), ledger);
    assert_eq!(resp.status, 200, "{name}: {}", resp.body);
    let activity = &resp.body["activity"];
    assert_eq!(activity["status"], "ACTIVITY_STATUS_COMPLETED", "{activity}");
    (activity["id"].as_str().expect("activity id").to_owned(), activity["result"][result_key].clone())
}

/// One writer: a tag, then a user carrying it, until told to stop (never leaving a request
/// unanswered).
fn writer(client: &Client, w: usize, ledger: &Ledger) {
    let mut n = 0;
    while !ledger.stop.load(Ordering::SeqCst) {
        let name = format!("tag-{w}-{n}");
        let (activity_id, result) = acknowledged(
            client,
            ledger,
            "create_user_tag",
            json!({ "userTagName": name, "userIds": [] }),
            "createUserTagResult",
        );
        let tag_id = result["userTagId"].as_str().expect("tag id").to_owned();
        ledger.record(Ack::Tag { activity_id, name, tag_id: tag_id.clone() });
        let name = format!("user-{w}-{n}");
        let (activity_id, result) = acknowledged(
            client,
            ledger,
            "create_users",
            json!({ "users": [{ "userName": name, "userTags": [tag_id] }] }),
            "createUsersResult",
        );
        let user_id = result["userIds"][0].as_str().expect("user id").to_owned();
        ledger.record(Ack::User { activity_id, name, user_id, tag_id });
        n += 1;
    }
}

fn count_rows(server: &TestServer, table: &str) -> i64 {
    server.db.row_counts().into_iter().find(|(t, _)| t == table).map(|(_, n)| n).expect("table")
}

/// Acceptance 2 of issue 10: `writers` threads write while the server is SIGKILLed `kills`
/// times (each time after at least `per_round` new acknowledgements). Afterwards every
/// acknowledged activity is COMPLETED with its effects, exactly once, nothing else was
/// written, and the audit chain verifies (CLI and API).
fn survives_repeated_sigkill_under_load(backend: Backend, kills: usize, writers: usize, per_round: usize) {
    let began = Instant::now();
    let mut server = TestServer::start(BIN, backend, &[]);
    let activities_before = count_rows(&server, "activities");
    let users_before = count_rows(&server, "users");
    let clients: Vec<Client> = (0..writers).map(|_| server.root_client()).collect();
    let ledger = Ledger::default();
    std::thread::scope(|s| {
        let handles: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(w, client)| {
                s.spawn({
                    let ledger = &ledger;
                    move || writer(client, w, ledger)
                })
            })
            .collect();
        for _ in 0..kills {
            ledger.wait_for(ledger.len() + per_round);
            server.kill9();
            server.restart();
        }
        ledger.wait_for(ledger.len() + per_round);
        ledger.stop.store(true, Ordering::SeqCst);
        for h in handles {
            h.join().expect("writer");
        }
    });
    let resent = ledger.resent.load(Ordering::SeqCst);
    let acks = ledger.acks.into_inner().expect("ledger");
    eprintln!(
        "{backend:?}: {} activities acknowledged, {resent} requests resent, across {kills} SIGKILLs in {:?}",
        acks.len(),
        began.elapsed()
    );
    assert!(resent > 0, "the kills hit requests in flight or between retries");

    let root = server.root_client();
    let users = ok(root.query("list_users", json!({})))["users"].as_array().expect("users").clone();
    let tags = ok(root.query("list_user_tags", json!({})))["userTags"].as_array().expect("tags").clone();
    let mut activity_ids = HashSet::new();
    for ack in &acks {
        assert!(activity_ids.insert(ack.activity_id().to_owned()), "one activity per request: {ack:?}");
        let a = ok(root.query("get_activity", json!({ "activityId": ack.activity_id() })));
        assert_eq!(a["activity"]["status"], "ACTIVITY_STATUS_COMPLETED", "{ack:?}");
        match ack {
            Ack::Tag { name, tag_id, .. } => {
                let same: Vec<_> = tags.iter().filter(|t| t["tagName"] == name.as_str()).collect();
                assert_eq!(same.len(), 1, "tag {name} exists exactly once: {same:?}");
                assert_eq!(same[0]["tagId"], tag_id.as_str());
            }
            Ack::User { name, user_id, tag_id, .. } => {
                let same: Vec<_> = users.iter().filter(|u| u["userName"] == name.as_str()).collect();
                assert_eq!(same.len(), 1, "user {name} exists exactly once: {same:?}");
                assert_eq!(same[0]["userId"], user_id.as_str());
                assert_eq!(same[0]["userTags"], json!([tag_id]), "{name} carries its tag");
            }
        }
    }
    // Nothing beyond what was acknowledged: no half-done or duplicated request left rows behind.
    let user_acks = acks.iter().filter(|a| matches!(a, Ack::User { .. })).count();
    assert_eq!(tags.len(), acks.len() - user_acks, "tags");
    assert_eq!(count_rows(&server, "users"), users_before + i64::try_from(user_acks).expect("count"));
    assert_eq!(count_rows(&server, "activities"), activities_before + i64::try_from(acks.len()).expect("count"));

    let verified = ok(root.query("verify_audit_log", json!({})));
    assert_eq!(verified["verified"], true, "{verified}");
    assert!(verified["eventsChecked"].as_u64().expect("count") >= 2 * acks.len() as u64, "{verified}");
    let out = Command::new(BIN)
        .args(["audit", "verify", "--database-url", server.db.url()])
        .output()
        .expect("run twofold audit verify");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("audit log verified"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bootstraps = server.stdout_lines.iter().filter(|l| l.contains("bootstrapped")).count();
    assert_eq!(bootstraps, 1, "restarts do not bootstrap again");
}

#[test]
fn repeated_sigkill_under_write_load_loses_nothing_on_sqlite() {
    survives_repeated_sigkill_under_load(Backend::Sqlite, crash_rounds(20), 4, 20);
}

#[test]
fn repeated_sigkill_under_write_load_loses_nothing_on_postgres() {
    if backends().contains(&Backend::Postgres) {
        survives_repeated_sigkill_under_load(Backend::Postgres, crash_rounds(5), 4, 20);
    }
}
