//! IP rules: deny beats allow, an empty allow list is open, IPv6 works, X-Forwarded-For
//! counts only from a trusted proxy, per-key allow lists apply to that key only, lists
//! that would lock out their author need `confirmLockout`, and a refused request never
//! reaches stamp verification (garbage stamps are refused as 403, and audited).
#![allow(clippy::expect_used, reason = "tests fail loudly")]

use serde_json::{Value, json};
use twofold_client::{ApiResponse, Client};
use twofold_testkit::{Backend, TestServer, completed, new_key, ok, status, user_with_key};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

/// Sends a stamped query as if from `ip` (through the trusted proxy on 127.0.0.1).
fn query_from(client: &Client, ip: &str, name: &str, params: Value) -> twofold_client::Result<ApiResponse> {
    let body = client.query_body(params).expect("body").to_string();
    let headers = [("X-Stamp", client.key().stamp(body.as_bytes())), ("X-Forwarded-For", ip.to_owned())];
    client.post_with_headers(&format!("/public/v1/query/{name}"), body.as_bytes(), &headers)
}

/// Submits an activity as if from `ip`.
fn submit_from(client: &Client, ip: &str, name: &str, params: Value) -> ApiResponse {
    let body = client.submit_body(name, json!({ "parameters": params })).expect("body").to_string();
    let headers = [("X-Stamp", client.key().stamp(body.as_bytes())), ("X-Forwarded-For", ip.to_owned())];
    client.post_with_headers(&format!("/public/v1/submit/{name}"), body.as_bytes(), &headers).expect("sent")
}

fn rules(cidrs: &[&str]) -> Value {
    Value::Array(cidrs.iter().map(|c| json!({ "cidr": c, "label": format!("net {c}") })).collect())
}

const ADMIN: &str = "203.0.113.5";

fn whoami_status(client: &Client, ip: &str) -> u16 {
    query_from(client, ip, "get_whoami", json!({})).expect("sent").status
}

fn network_rules(backend: Backend) {
    let server = TestServer::start(BIN, backend, &["--trusted-proxies", "127.0.0.1/32,::1/128"]);
    let root = server.root_client();

    // Invalid networks are refused, naming the line.
    let bad =
        submit_from(&root, ADMIN, "set_ip_denylist", json!({ "rules": rules(&["198.51.100.0/24", "10.0.0.300/8"]) }));
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body["message"].as_str().expect("m").contains("rules[1] (line 2)"), "{}", bad.body);

    // Deny list: a denied address is refused before its stamp is looked at.
    let denied_net = submit_from(&root, ADMIN, "set_ip_denylist", json!({ "rules": rules(&["198.51.100.0/24"]) }));
    assert_eq!(status(&denied_net.body), "ACTIVITY_STATUS_COMPLETED", "{}", denied_net.body);
    assert_eq!(whoami_status(&root, "198.51.100.7"), 403);
    let garbage = root
        .post_with_headers(
            "/public/v1/query/get_whoami",
            root.query_body(json!({})).expect("b").to_string().as_bytes(),
            &[("X-Stamp", "%%garbage%%".to_owned()), ("X-Forwarded-For", "198.51.100.7".to_owned())],
        )
        .expect("sent");
    assert_eq!(garbage.status, 403, "denied before the stamp is parsed: {}", garbage.body);
    let audit = ok(query_from(&root, ADMIN, "list_audit_events", json!({ "eventType": "IP_DENIED" })));
    let events = audit["auditEvents"].as_array().expect("events");
    assert_eq!(events.len(), 2, "{audit}");
    assert_eq!(events[0]["details"]["ip"], "198.51.100.7");
    assert_eq!(events[0]["details"]["list"], "DENY");
    assert_eq!(whoami_status(&root, ADMIN), 200, "other addresses pass");

    // Allow list with IPv4 and IPv6; everything else is refused; deny still wins.
    let allow =
        submit_from(&root, ADMIN, "set_ip_allowlist", json!({ "rules": rules(&["203.0.113.0/24", "2001:db8::/32"]) }));
    assert_eq!(status(&allow.body), "ACTIVITY_STATUS_COMPLETED", "{}", allow.body);
    assert_eq!(whoami_status(&root, "192.0.2.1"), 403);
    assert_eq!(whoami_status(&root, "2001:db8::5"), 200);
    assert_eq!(whoami_status(&root, "2001:db9::5"), 403);
    assert_eq!(whoami_status(&root, "203.0.113.9"), 200);
    let mut deny_one = rules(&["198.51.100.0/24", "203.0.113.9"]);
    deny_one[1]["label"] = json!("stolen laptop");
    assert_eq!(
        status(&submit_from(&root, ADMIN, "set_ip_denylist", json!({ "rules": deny_one })).body),
        "ACTIVITY_STATUS_COMPLETED"
    );
    assert_eq!(whoami_status(&root, "203.0.113.9"), 403, "deny beats allow");
    let listed = ok(query_from(&root, ADMIN, "get_ip_denylist", json!({})));
    assert_eq!(listed["denylist"]["rules"][1]["cidr"], "203.0.113.9/32");
    assert_eq!(listed["denylist"]["rules"][1]["label"], "stolen laptop");
    // A rule's time is what Turnkey's `v1IpAllowlistRule` says it is: ms since epoch, as a string.
    let saved = &listed["denylist"]["rules"][1]["createdAt"];
    assert!(saved.as_str().and_then(|s| s.parse::<i64>().ok()).is_some_and(|ms| ms > 1_700_000_000_000), "{listed}");
    assert_eq!(listed["denylist"]["onEvaluationError"], "DENY", "{listed}");

    // Saving rules that refuse the author's own address needs confirmLockout.
    let before = ok(query_from(&root, ADMIN, "get_ip_allowlist", json!({})));
    let lockout = submit_from(&root, ADMIN, "set_ip_allowlist", json!({ "rules": rules(&["192.0.2.0/24"]) }));
    assert_eq!(lockout.status, 400, "{}", lockout.body);
    assert!(lockout.body["message"].as_str().expect("m").contains("confirmLockout"));
    assert_eq!(ok(query_from(&root, ADMIN, "get_ip_allowlist", json!({}))), before, "nothing saved");
    let forced = submit_from(
        &root,
        ADMIN,
        "set_ip_allowlist",
        json!({ "rules": rules(&["192.0.2.0/24"]), "confirmLockout": true }),
    );
    assert_eq!(status(&forced.body), "ACTIVITY_STATUS_COMPLETED");
    assert_eq!(whoami_status(&root, ADMIN), 403, "the next request is refused");
    // An empty allow list is unrestricted again.
    let reopened = submit_from(&root, "192.0.2.1", "set_ip_allowlist", json!({ "rules": [] }));
    assert_eq!(status(&reopened.body), "ACTIVITY_STATUS_COMPLETED", "{}", reopened.body);
    assert_eq!(whoami_status(&root, "100.64.0.1"), 200);

    // A per-key allow list applies to that key only.
    let alice_key = new_key();
    let alice_pk = alice_key.public_key_hex();
    completed(
        root.submit("create_users", json!({ "users": [user_with_key("alice", &alice_key)] })),
        "createUsersResult",
    );
    let alice = server.client(alice_key, root.organization_id());
    let per_key = submit_from(
        &root,
        ADMIN,
        "set_ip_allowlist",
        json!({ "publicKey": alice_pk, "rules": rules(&["203.0.113.0/24"]) }),
    );
    assert_eq!(status(&per_key.body), "ACTIVITY_STATUS_COMPLETED", "{}", per_key.body);
    assert_eq!(whoami_status(&alice, "192.0.2.1"), 403);
    assert_eq!(whoami_status(&alice, "203.0.113.4"), 200);
    assert_eq!(whoami_status(&root, "192.0.2.1"), 200, "other keys are not affected");
    let shown = ok(query_from(&root, ADMIN, "get_ip_allowlist", json!({ "publicKey": alice_pk })));
    assert_eq!(shown["allowlist"]["publicKey"], alice_pk.as_str());
    assert_eq!(shown["allowlist"]["enabled"], true);
    let removed = submit_from(&root, ADMIN, "remove_ip_allowlist", json!({ "publicKey": alice_pk }));
    assert_eq!(status(&removed.body), "ACTIVITY_STATUS_COMPLETED");
    assert_eq!(whoami_status(&alice, "192.0.2.1"), 200);
}

twofold_testkit::on_every_backend!(network_rules_on_sqlite, network_rules_on_postgres, network_rules);

/// Without a trusted proxy, X-Forwarded-For is ignored and the socket address decides.
#[test]
fn forwarded_for_is_ignored_from_untrusted_peers() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    completed(root.submit("set_ip_denylist", json!({ "rules": rules(&["198.51.100.0/24"]) })), "setIpDenylistResult");
    assert_eq!(whoami_status(&root, "198.51.100.7"), 200, "a forged header changes nothing");
    let lockout = root.submit("set_ip_denylist", json!({ "rules": rules(&["127.0.0.1"]) })).expect("sent");
    assert_eq!(lockout.status, 400, "the socket address is protected from lock-out: {}", lockout.body);
    completed(
        root.submit("set_ip_denylist", json!({ "rules": rules(&["127.0.0.1"]), "confirmLockout": true })),
        "setIpDenylistResult",
    );
    let refused = root.query("get_whoami", json!({})).expect("sent");
    assert_eq!(refused.status, 403, "{}", refused.body);
}
