//! Acceptance 5: a sub-organization's root user cannot read or write its parent or a
//! sibling, and (until delegated access) the parent cannot act inside the sub-org.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

use serde_json::{Value, json};
use twofold_client::Client;
use twofold_testkit::{Backend, TestServer, completed, new_key, ok, user_with_key};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

fn sub_org(server: &TestServer, root: &Client, name: &str) -> (String, Client) {
    let key = new_key();
    let mut user = user_with_key(&format!("{name}-root"), &key);
    user.as_object_mut().expect("object").remove("userTags");
    let sub = completed(
        root.submit(
            "create_sub_organization",
            json!({ "subOrganizationName": name, "rootUsers": [user], "rootQuorumThreshold": 1 }),
        ),
        "createSubOrganizationResultV8",
    );
    let id = sub["subOrganizationId"].as_str().expect("id").to_owned();
    let client = server.client(key, &id);
    (id, client)
}

/// How many rejected stamps of `actor` its own organization's audit log has counted so far.
fn rejections_counted(actor: &Client) -> u64 {
    let query = json!({ "eventType": "STAMP_REJECTED", "paginationOptions": { "limit": "100" } });
    let rows = ok(actor.query("list_audit_events", query));
    rows["auditEvents"].as_array().expect("events").iter().filter_map(|r| r["details"]["count"].as_u64()).sum()
}

/// Every read and write `actor` tries inside `target` is refused with 403, and nothing changes.
#[track_caller]
fn assert_locked_out(server: &TestServer, actor: &Client, target: &str, label: &str) {
    let counted_before = rejections_counted(actor);
    let (before, _) = server.db.data_and_audit_counts();
    let reads: [(&str, Value); 5] = [
        ("get_whoami", json!({})),
        ("get_organization", json!({})),
        ("list_users", json!({})),
        ("list_activities", json!({})),
        ("list_suborgs", json!({})),
    ];
    for (name, extra) in reads {
        let mut body = extra;
        body["organizationId"] = json!(target);
        let resp = actor.query(name, body).expect("sent");
        assert_eq!(resp.status, 403, "{label}: read {name}: {}", resp.body);
        assert!(resp.body["message"].as_str().expect("msg").contains("may not act in organization"));
    }
    let write = actor
        .submit_body(
            "create_users",
            json!({ "organizationId": target, "parameters": { "users": [{ "userName": "intruder" }] } }),
        )
        .expect("body");
    let resp = actor.post_raw("/public/v1/submit/create_users", write.to_string().as_bytes()).expect("sent");
    assert_eq!(resp.status, 403, "{label}: write: {}", resp.body);
    let (after, _) = server.db.data_and_audit_counts();
    assert_eq!(after, before, "{label}: nothing written");
    // Rejections are audited as counted rows per key and window (a one-second window here):
    // every refused attempt is counted once the window closes.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let counted = rejections_counted(actor) - counted_before;
        if counted >= 6 || std::time::Instant::now() > deadline {
            assert_eq!(counted, 6, "{label}: each refused attempt is counted in the key's audit log");
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn isolation(backend: Backend) {
    let server = TestServer::start(BIN, backend, &["--audit-rejection-window-secs", "1"]);
    let root = server.root_client();
    let parent = root.organization_id().to_owned();
    let (a_id, a) = sub_org(&server, &root, "tenant-a");
    let (b_id, b) = sub_org(&server, &root, "tenant-b");

    // Each acts in its own organization.
    assert_eq!(ok(a.query("get_whoami", json!({})))["organizationId"], a_id);
    completed(a.submit("create_users", json!({ "users": [{ "userName": "a-user" }] })), "createUsersResult");
    completed(b.submit("create_users", json!({ "users": [{ "userName": "b-user" }] })), "createUsersResult");

    assert_locked_out(&server, &a, &parent, "sub-org A -> parent");
    assert_locked_out(&server, &b, &parent, "sub-org B -> parent");
    assert_locked_out(&server, &a, &b_id, "sub-org A -> sibling B");
    assert_locked_out(&server, &b, &a_id, "sub-org B -> sibling A");
    assert_locked_out(&server, &root, &a_id, "parent -> sub-org A (no delegated access yet)");

    // The sub-org's data never mentions the parent's users.
    let users = ok(a.query("list_users", json!({})));
    let names: Vec<&str> =
        users["users"].as_array().expect("users").iter().filter_map(|u| u["userName"].as_str()).collect();
    assert_eq!(names, vec!["tenant-a-root", "a-user"]);
}

twofold_testkit::on_every_backend!(sub_orgs_are_isolated_on_sqlite, sub_orgs_are_isolated_on_postgres, isolation);
