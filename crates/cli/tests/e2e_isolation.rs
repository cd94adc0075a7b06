//! Acceptance 5: a sub-organization's root user cannot read or write its parent or a
//! sibling; the parent reads its sub-organizations (as Turnkey's parents do) but cannot act
//! inside one (only the sub-organization's own users, or delegated access, can).
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

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

/// The parent's key reads sub-organization `sub`'s organization, users and activities, and
/// every write it tries there is refused with 403 and changes nothing.
#[track_caller]
fn parent_reads_but_cannot_write(server: &TestServer, parent: &Client, sub: &str) {
    let (before, _) = server.db.data_and_audit_counts();
    let read = |name: &str| ok(parent.query(name, json!({ "organizationId": sub })));
    assert_eq!(read("get_organization")["organizationData"]["organizationId"], sub);
    let names: Vec<String> = read("list_users")["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["userName"].as_str().map(str::to_owned))
        .collect();
    assert!(names.contains(&"tenant-a-root".to_owned()) && !names.contains(&"root".to_owned()), "{names:?}");
    assert!(
        read("list_activities")["activities"]
            .as_array()
            .expect("activities")
            .iter()
            .all(|a| a["organizationId"] == sub)
    );
    assert_eq!(read("get_whoami")["organizationId"], parent.organization_id(), "whoami names the caller's own");
    let ceremony = parent.query("get_passkey_registration_options", json!({ "organizationId": sub })).expect("sent");
    assert_eq!(ceremony.status, 403, "a read that records state is an act: {}", ceremony.body);
    for (name, params) in
        [("create_users", json!({ "users": [{ "userName": "intruder" }] })), ("delete_sub_organization", json!({}))]
    {
        let write = parent.submit_body(name, json!({ "organizationId": sub, "parameters": params })).expect("body");
        let resp = parent.post_raw(&format!("/public/v1/submit/{name}"), write.to_string().as_bytes()).expect("sent");
        assert_eq!(resp.status, 403, "parent -> sub-org: write {name}: {}", resp.body);
    }
    let (after, _) = server.db.data_and_audit_counts();
    assert_eq!(after, before, "parent -> sub-org: nothing written");
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
    parent_reads_but_cannot_write(&server, &root, &a_id);

    // The sub-org's data never mentions the parent's users.
    let users = ok(a.query("list_users", json!({})));
    let names: Vec<&str> =
        users["users"].as_array().expect("users").iter().filter_map(|u| u["userName"].as_str()).collect();
    assert_eq!(names, vec!["tenant-a-root", "a-user"]);
}

twofold_testkit::on_every_backend!(sub_orgs_are_isolated_on_sqlite, sub_orgs_are_isolated_on_postgres, isolation);

/// @turnkey/core's `loginWithPasskey` names the parent organization: a passkey of a
/// sub-organization's user is resolved to its own sub-organization, where the session is
/// created and which a query then reads — never the parent's data. A passkey two levels
/// down, or a sibling naming its sibling, is not resolved.
fn passkey_login_with_the_parent_id(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let (sub, owner_id, owner) = support::sub_org(&server, &root, "passkey tenant");
    let (mut soft, _, credential_id) = support::register_passkey(&server, &owner, &owner_id);
    let as_parent = server.client(new_key(), root.organization_id());
    let session_key = new_key();
    let body = as_parent
        .submit_body("stamp_login", json!({ "parameters": { "publicKey": session_key.public_key_hex() } }))
        .expect("body")
        .to_string();
    let stamp = support::passkey_stamp(&mut soft, support::origin(&server), &credential_id, body.as_bytes());
    let login = as_parent
        .post_with_headers("/public/v1/submit/stamp_login", body.as_bytes(), &[("X-Stamp-Webauthn", stamp)])
        .expect("sent");
    assert_eq!(login.status, 200, "{}", login.body);
    assert_eq!(login.body["activity"]["status"], "ACTIVITY_STATUS_COMPLETED", "{}", login.body);
    assert_eq!(login.body["activity"]["organizationId"], sub.as_str(), "the session is the sub-organization's");
    let session = server.client(session_key, &sub);
    assert_eq!(ok(session.query("get_whoami", json!({})))["userId"], owner_id.as_str());

    // A query naming the parent, stamped by the passkey, reads the passkey's own organization.
    let body = json!({ "organizationId": root.organization_id() }).to_string();
    let stamp = support::passkey_stamp(&mut soft, support::origin(&server), &credential_id, body.as_bytes());
    let users = as_parent
        .post_with_headers("/public/v1/query/list_users", body.as_bytes(), &[("X-Stamp-Webauthn", stamp)])
        .expect("sent");
    assert_eq!(users.status, 200, "{}", users.body);
    let names: Vec<&str> =
        users.body["users"].as_array().expect("users").iter().filter_map(|u| u["userName"].as_str()).collect();
    assert_eq!(names, vec!["passkey tenant owner"], "never the parent's users");

    // Two levels down is not resolved, nor a sibling naming its sibling.
    let (nested, nested_owner_id, nested_owner) = support::sub_org(&server, &owner, "nested tenant");
    let (mut nested_soft, _, nested_credential) = support::register_passkey(&server, &nested_owner, &nested_owner_id);
    let (sibling, _, _) = support::sub_org(&server, &root, "sibling");
    for (org, label) in [(root.organization_id().to_owned(), "grandparent"), (sibling, "sibling")] {
        let body = json!({ "organizationId": org }).to_string();
        let stamp =
            support::passkey_stamp(&mut nested_soft, support::origin(&server), &nested_credential, body.as_bytes());
        let resp = as_parent
            .post_with_headers("/public/v1/query/list_users", body.as_bytes(), &[("X-Stamp-Webauthn", stamp)])
            .expect("sent");
        assert_eq!(resp.status, 401, "{label}: {}", resp.body);
    }
    let body = json!({ "organizationId": sub }).to_string();
    let stamp = support::passkey_stamp(&mut nested_soft, support::origin(&server), &nested_credential, body.as_bytes());
    let own_parent = as_parent
        .post_with_headers("/public/v1/query/list_users", body.as_bytes(), &[("X-Stamp-Webauthn", stamp)])
        .expect("sent");
    assert_eq!(own_parent.status, 200, "its direct parent: {}", own_parent.body);
    assert!(own_parent.body["users"].as_array().expect("users").iter().all(|u| u["userName"] == "nested tenant owner"));
    assert!(!nested.is_empty());
}

twofold_testkit::on_every_backend!(
    passkey_login_with_the_parent_id_on_sqlite,
    passkey_login_with_the_parent_id_on_postgres,
    passkey_login_with_the_parent_id
);
