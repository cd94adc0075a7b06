//! End-to-end approvals by fingerprint: consensus by tags, root quorum 2-of-3,
//! rejection, double votes, votes after completion, dry runs, delegated access and
//! quorum recovery — on SQLite and PostgreSQL — and exactly-once execution when two
//! server processes receive the final approvals at the same moment.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

use serde_json::{Value, json};
use twofold_client::{ApiResponse, Client};
use twofold_testkit::{Backend, TestServer, backends, completed, new_key, ok, status, user_with_key};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

fn fingerprint(body: &Value) -> String {
    body["activity"]["fingerprint"].as_str().expect("fingerprint").to_owned()
}

fn approve(client: &Client, fp: &str) -> ApiResponse {
    client.submit("approve_activity", json!({ "fingerprint": fp })).expect("sent")
}

fn reject(client: &Client, fp: &str) -> ApiResponse {
    client.submit("reject_activity", json!({ "fingerprint": fp })).expect("sent")
}

/// Creates a user with a key (and tags) in `org` and returns its id and client.
fn member(server: &TestServer, admin: &Client, name: &str, tags: Value) -> (String, Client) {
    let key = new_key();
    let mut params = user_with_key(name, &key);
    params["userTags"] = tags;
    let id = completed(admin.submit("create_users", json!({ "users": [params] })), "createUsersResult")["userIds"][0]
        .as_str()
        .expect("id")
        .to_owned();
    (id, server.client(key, admin.organization_id()))
}

fn user_names(client: &Client) -> Vec<String> {
    ok(client.query("list_users", json!({})))["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["userName"].as_str().expect("name").to_owned())
        .collect()
}

fn approvals(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let tag = completed(
        root.submit("create_user_tag", json!({ "userTagName": "ops", "userIds": [] })),
        "createUserTagResult",
    )["userTagId"]
        .as_str()
        .expect("tag")
        .to_owned();
    let (_, alice) = member(&server, &root, "alice", json!([tag]));
    let (_, bob) = member(&server, &root, "bob", json!([tag]));
    let (_, carol) = member(&server, &root, "carol", json!([tag]));
    let (_, dave) = member(&server, &root, "dave", json!([]));
    completed(
        root.submit(
            "create_policy",
            json!({ "policyName": "two ops create users", "effect": "EFFECT_ALLOW", "notes": "",
                    "condition": "activity.resource == 'USER' && activity.action == 'CREATE'",
                    "consensus": "approvers.filter(u, u.tags.contains('ops')).count() >= 2" }),
        ),
        "createPolicyResult",
    );

    // Dry run: why would dave's and alice's requests wait or fail, before anyone is blocked?
    let dry = |client: &Client, user: Option<&str>| {
        let mut body = json!({ "activity": { "type": "ACTIVITY_TYPE_CREATE_USERS_V4", "parameters": { "users": [{ "userName": "x" }] } } });
        if let Some(u) = user {
            body["userId"] = json!(u);
        }
        ok(client.query("evaluate_activity", body))
    };
    let explained = dry(&alice, None);
    assert_eq!(explained["decision"], "DECISION_CONSENSUS_NEEDED", "{explained}");
    assert_eq!(explained["policyEvaluations"][0]["outcome"], "OUTCOME_REQUIRES_CONSENSUS");
    assert_eq!(explained["policyEvaluations"][0]["deciding"]["field"], "consensus");
    assert!(explained["policyEvaluations"][0]["deciding"]["text"].as_str().expect("text").contains("count()"));
    assert_eq!(explained["activity"]["resource"], "USER");
    let root_dry = dry(&root, None);
    assert_eq!(root_dry["decision"], "DECISION_ALLOW", "root quorum of one");
    let before = server.db.row_counts();
    let bad = root
        .query("evaluate_activity", json!({ "activity": { "type": "ACTIVITY_TYPE_NOPE", "parameters": {} } }))
        .expect("sent");
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(server.db.row_counts(), before, "dry runs write nothing");

    // Consensus 2-of-3 by tag: a non-ops approval does not count, an ops one completes it.
    let pending = ok(alice.submit("create_users", json!({ "users": [{ "userName": "frank" }] })));
    assert_eq!(status(&pending), "ACTIVITY_STATUS_CONSENSUS_NEEDED");
    let fp = fingerprint(&pending);
    let by_dave = approve(&dave, &fp);
    assert_eq!(by_dave.status, 200, "{}", by_dave.body);
    assert_eq!(status(&by_dave.body), "ACTIVITY_STATUS_CONSENSUS_NEEDED");
    let retry = approve(&dave, &fp);
    assert_eq!(retry.status, 409, "a second vote with a new body is refused: {}", retry.body);
    assert!(retry.body["message"].as_str().expect("m").contains("already voted"));
    let by_bob = approve(&bob, &fp);
    assert_eq!(status(&by_bob.body), "ACTIVITY_STATUS_COMPLETED", "{}", by_bob.body);
    assert_eq!(by_bob.body["activity"]["votes"].as_array().expect("votes").len(), 3);
    assert_eq!(user_names(&root).iter().filter(|n| *n == "frank").count(), 1, "executed once");
    let late = approve(&carol, &fp);
    assert_eq!(late.status, 400, "{}", late.body);
    assert!(late.body["message"].as_str().expect("m").contains("ACTIVITY_STATUS_COMPLETED"));
    let evals = ok(root.query("get_policy_evaluations", json!({ "activityId": pending["activity"]["id"] })));
    assert_eq!(evals["policyEvaluations"].as_array().expect("records").len(), 3, "one decision per vote");
    let unknown = approve(&bob, &format!("sha256:{}", "0".repeat(64)));
    assert_eq!(unknown.status, 404);
    let malformed = approve(&bob, "sha256:xyz");
    assert_eq!(malformed.status, 400);

    // Rejection: it stays open while consensus is reachable, and ends when it is not.
    let second = ok(alice.submit("create_users", json!({ "users": [{ "userName": "grace" }] })));
    let fp2 = fingerprint(&second);
    let r1 = reject(&bob, &fp2);
    assert_eq!(status(&r1.body), "ACTIVITY_STATUS_CONSENSUS_NEEDED", "carol could still approve: {}", r1.body);
    let r2 = reject(&carol, &fp2);
    assert_eq!(
        status(&r2.body),
        "ACTIVITY_STATUS_CONSENSUS_NEEDED",
        "the root quorum could still approve it: {}",
        r2.body
    );
    let r3 = reject(&root, &fp2);
    assert_eq!(status(&r3.body), "ACTIVITY_STATUS_REJECTED", "a root member's rejection ends it: {}", r3.body);
    assert!(!user_names(&root).contains(&"grace".to_owned()));
    assert_eq!(approve(&dave, &fp2).status, 400, "votes on a rejected activity fail");

    // Root quorum 2-of-3: a second root member completes it; a root member's rejection ends it.
    let (r2_id, r2) = member(&server, &root, "root-two", json!([]));
    let (r3_id, r3) = member(&server, &root, "root-three", json!([]));
    let root_id = ok(root.query("get_whoami", json!({})))["userId"].as_str().expect("id").to_owned();
    completed(
        root.submit("update_root_quorum", json!({ "threshold": 2, "userIds": [root_id, r2_id, r3_id] })),
        "updateRootQuorumResult",
    );
    let quorum_pending = ok(root.submit("delete_users", json!({ "userIds": [dave_id(&root)] })));
    assert_eq!(status(&quorum_pending), "ACTIVITY_STATUS_CONSENSUS_NEEDED");
    let done = approve(&r2, &fingerprint(&quorum_pending));
    assert_eq!(status(&done.body), "ACTIVITY_STATUS_COMPLETED", "{}", done.body);
    assert!(!user_names(&root).contains(&"dave".to_owned()));
    let vetoed = ok(root.submit("create_users", json!({ "users": [{ "userName": "heidi" }] })));
    let veto = reject(&r3, &fingerprint(&vetoed));
    assert_eq!(status(&veto.body), "ACTIVITY_STATUS_REJECTED", "{}", veto.body);
    assert!(veto.body["activity"]["failure"]["message"].as_str().expect("m").contains("root quorum member"));
}

fn dave_id(root: &Client) -> String {
    ok(root.query("list_users", json!({})))["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["userName"] == "dave")
        .and_then(|u| u["userId"].as_str())
        .expect("dave")
        .to_owned()
}

twofold_testkit::on_every_backend!(approvals_on_sqlite, approvals_on_postgres, approvals);

/// SCENARIOS.md S2 and S3: the sub-org's root user creates a delegated user whose key the
/// parent holds, limited by policy to one resource; recovery needs two delegated users.
fn delegated_access(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let parent = server.root_client();
    let end_user_key = new_key();
    let mut end_user = user_with_key("end-user", &end_user_key);
    end_user.as_object_mut().expect("object").remove("userTags");
    let sub = completed(
        parent.submit(
            "create_sub_organization",
            json!({ "subOrganizationName": "customer", "rootUsers": [end_user], "rootQuorumThreshold": 1 }),
        ),
        "createSubOrganizationResultV8",
    );
    let sub_id = sub["subOrganizationId"].as_str().expect("sub").to_owned();
    let sub_root = server.client(end_user_key, &sub_id);

    // Two delegated users; their keys are generated and held by the parent organization.
    let (d1_id, d1) = member(&server, &sub_root, "delegated-1", json!([]));
    let (d2_id, d2) = member(&server, &sub_root, "delegated-2", json!([]));
    completed(
        sub_root.submit(
            "create_policy",
            json!({ "policyName": "delegated users manage policies", "effect": "EFFECT_ALLOW", "notes": "",
                    "condition": "activity.resource == 'POLICY' && activity.action == 'CREATE'",
                    "consensus": format!("approvers.any(user, user.id == '{d1_id}')") }),
        ),
        "createPolicyResult",
    );
    // S2: the delegated user can do exactly that, and nothing else.
    let made = completed(
        d1.submit("create_policy", json!({ "policyName": "made by delegate", "effect": "EFFECT_DENY", "condition": "activity.type == 'ACTIVITY_TYPE_CREATE_SUB_ORGANIZATION_V8'", "notes": "" })),
        "createPolicyResult",
    );
    let made_id = made["policyId"].as_str().expect("id").to_owned();
    for (endpoint, params) in [
        ("create_users", json!({ "users": [{ "userName": "sneak" }] })),
        ("delete_users", json!({ "userIds": [d2_id] })),
        ("create_user_tag", json!({ "userTagName": "t", "userIds": [] })),
    ] {
        let denied = ok(d1.submit(endpoint, params));
        assert_eq!(status(&denied), "ACTIVITY_STATUS_FAILED", "{endpoint}: {denied}");
    }
    // The parent's own key still cannot act in the sub-org: only through the delegated user.
    let direct = parent
        .submit_body(
            "create_users",
            json!({ "organizationId": sub_id, "parameters": { "users": [{ "userName": "p" }] } }),
        )
        .expect("body");
    assert_eq!(
        parent.post_raw("/public/v1/submit/create_users", direct.to_string().as_bytes()).expect("sent").status,
        403
    );

    // S3 quorum recovery: deleting a policy needs both delegated users.
    completed(
        sub_root.submit(
            "create_policy",
            json!({ "policyName": "recovery by two parties", "effect": "EFFECT_ALLOW", "notes": "",
                    "condition": "activity.resource == 'POLICY' && activity.action == 'DELETE'",
                    "consensus": "approvers.count() >= 2" }),
        ),
        "createPolicyResult",
    );
    let started = ok(d1.submit("delete_policy", json!({ "policyId": made_id })));
    assert_eq!(status(&started), "ACTIVITY_STATUS_CONSENSUS_NEEDED", "{started}");
    let approval = d2
        .submit_body("approve_activity", json!({ "parameters": { "fingerprint": fingerprint(&started) } }))
        .expect("body")
        .to_string();
    let finished = ok(d2.post_raw("/public/v1/submit/approve_activity", approval.as_bytes()));
    assert_eq!(status(&finished), "ACTIVITY_STATUS_COMPLETED", "{finished}");
    let again = ok(d2.post_raw("/public/v1/submit/approve_activity", approval.as_bytes()));
    assert_eq!(again["activity"], finished["activity"], "an identical retry answers the same");
    let gone = sub_root.query("get_policy", json!({ "policyId": made_id })).expect("sent");
    assert_eq!(gone.status, 404, "deleted exactly once");
}

twofold_testkit::on_every_backend!(
    delegated_access_and_quorum_recovery_on_sqlite,
    delegated_access_and_quorum_recovery_on_postgres,
    delegated_access
);

/// Acceptance 4 of the policy engine: two nodes on one PostgreSQL receive the two final
/// approvals of one activity at the same moment, 100 times; each executes exactly once.
#[test]
fn concurrent_final_approvals_on_two_nodes_execute_once() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let node_a = TestServer::start(BIN, Backend::Postgres, &[]);
    let node_b = node_a.another_node();
    let root = node_a.root_client();
    let org = root.organization_id().to_owned();
    let (_, initiator) = member(&node_a, &root, "initiator", json!([]));
    let key_b = new_key();
    let key_c = new_key();
    for (name, key) in [("approver-b", &key_b), ("approver-c", &key_c)] {
        completed(root.submit("create_users", json!({ "users": [user_with_key(name, key)] })), "createUsersResult");
    }
    completed(
        root.submit(
            "create_policy",
            json!({ "policyName": "three people", "effect": "EFFECT_ALLOW", "notes": "",
                    "condition": "activity.resource == 'USER' && activity.action == 'CREATE'",
                    "consensus": "approvers.count() >= 3" }),
        ),
        "createPolicyResult",
    );
    let b = node_a.client(
        twofold_client::ApiKeyPair::from_private_hex(twofold_client::Curve::P256, &key_b.private_key_hex())
            .expect("key"),
        &org,
    );
    let c = node_b.client(
        twofold_client::ApiKeyPair::from_private_hex(twofold_client::Curve::P256, &key_c.private_key_hex())
            .expect("key"),
        &org,
    );
    for round in 0..100 {
        let name = format!("race-{round}");
        let pending = ok(initiator.submit("create_users", json!({ "users": [{ "userName": name }] })));
        assert_eq!(status(&pending), "ACTIVITY_STATUS_CONSENSUS_NEEDED");
        let fp = fingerprint(&pending);
        let barrier = std::sync::Barrier::new(2);
        let (rb, rc) = std::thread::scope(|s| {
            let hb = s.spawn(|| {
                barrier.wait();
                approve(&b, &fp)
            });
            let hc = s.spawn(|| {
                barrier.wait();
                approve(&c, &fp)
            });
            (hb.join().expect("b"), hc.join().expect("c"))
        });
        let statuses: Vec<u16> = vec![rb.status, rc.status];
        assert!(statuses.contains(&200), "round {round}: at least one vote lands: {} / {}", rb.body, rc.body);
        for r in [&rb, &rc] {
            assert!(r.status == 200 || r.status == 400, "round {round}: {} {}", r.status, r.body);
        }
        let final_state = ok(initiator.query("get_activity", json!({ "activityId": pending["activity"]["id"] })));
        assert_eq!(status(&final_state), "ACTIVITY_STATUS_COMPLETED", "round {round}: never stuck, never failed");
        let count = user_names(&root).iter().filter(|n| **n == name).count();
        assert_eq!(count, 1, "round {round}: executed exactly once");
    }
}
