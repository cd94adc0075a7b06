//! Scale-out (issue 10, acceptance 2): three `twofold serve` nodes on one PostgreSQL, one
//! separate `twofold enclave` process they share, and this test's own round-robin client.
//! Concurrently: approvals of the same activities arriving at different nodes (each runs
//! exactly once), TOTP and email OTP verifications (a code is accepted once, failures are
//! counted once across nodes), and MFA enforcement rule changes that every node applies on
//! the very next request. Then the test clock crosses a grace deadline for all nodes at once.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use twofold_client::otp::{StartedOtp, encrypt_attempt};
use twofold_client::{ApiKeyPair, ApiResponse, Client, KeyFile};
use twofold_testkit::{Backend, TestEnclave, TestServer, backends, completed, new_key, ok, status, user_with_key};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");
const NODES: usize = 3;
const DAY: i64 = 24 * 60 * 60 * 1000;
const DUE: &str = "X-Twofold-MFA-Enrollment-Due";

fn copy(key: &ApiKeyPair) -> ApiKeyPair {
    ApiKeyPair::from_private_hex(key.curve(), &key.private_key_hex()).expect("same key")
}

/// One identity with a client on every node: `next()` goes round the nodes, `on(i)` picks one.
struct RoundRobin {
    clients: Vec<Client>,
    next: AtomicUsize,
}

impl RoundRobin {
    fn new(nodes: &[TestServer], key: &ApiKeyPair, org: &str) -> RoundRobin {
        RoundRobin { clients: nodes.iter().map(|n| n.client(copy(key), org)).collect(), next: AtomicUsize::new(0) }
    }

    fn next(&self) -> &Client {
        &self.clients[self.next.fetch_add(1, Ordering::SeqCst) % self.clients.len()]
    }

    fn on(&self, node: usize) -> &Client {
        &self.clients[node % self.clients.len()]
    }
}

/// The three nodes (node 0 bootstrapped the database) and the enclave they share.
struct Cluster {
    nodes: Vec<TestServer>,
    enclave: TestEnclave,
    root: RoundRobin,
}

impl Cluster {
    fn start() -> Cluster {
        let enclave = TestEnclave::start(BIN, &[]);
        let socket = enclave.socket.display().to_string();
        // Flags every node gets (another_node copies them, adding the shared secrets key).
        let flags = ["--enclave", &socket, "--otp-inits-per-ip-per-minute", "1000"];
        let first = TestServer::start_with_test_clock(BIN, Backend::Postgres, &flags);
        let mut nodes = vec![first];
        for _ in 1..NODES {
            let node = nodes[0].another_node();
            nodes.push(node);
        }
        let file = KeyFile::load(&nodes[0].root_key_path()).expect("bootstrap key file");
        let org = file.organization_id.clone().expect("org id");
        let root = RoundRobin::new(&nodes, &file.key_pair().expect("key pair"), &org);
        Cluster { nodes, enclave, root }
    }

    /// A new user of the root organization with an API key, reachable on every node.
    fn member(&self, name: &str) -> (String, RoundRobin) {
        let key = new_key();
        let created = completed(
            self.root.next().submit("create_users", json!({ "users": [user_with_key(name, &key)] })),
            "createUsersResult",
        );
        let id = created["userIds"][0].as_str().expect("id").to_owned();
        (id, RoundRobin::new(&self.nodes, &key, self.root.on(0).organization_id()))
    }

    /// A new sub-organization `name` whose root user (no factors) has an API key, reachable on every node.
    fn tenant(&self, name: &str) -> (String, RoundRobin) {
        let key = new_key();
        let mut user = user_with_key(&format!("{name}-root"), &key);
        user.as_object_mut().expect("object").remove("userTags");
        let params = json!({ "subOrganizationName": name, "rootUsers": [user], "rootQuorumThreshold": 1 });
        let sub =
            completed(self.root.next().submit("create_sub_organization", params), "createSubOrganizationResultV8");
        let tenant = sub["subOrganizationId"].as_str().expect("id").to_owned();
        let user = RoundRobin::new(&self.nodes, &key, &tenant);
        (tenant, user)
    }

    fn policy(&self, name: &str, condition: &str, consensus: &str) {
        let params = json!({ "policyName": name, "effect": "EFFECT_ALLOW", "notes": "",
                             "condition": condition, "consensus": consensus });
        completed(self.root.next().submit("create_policy", params), "createPolicyResult");
    }

    /// The code in the newest message the enclave delivered to `to`.
    fn code_for(&self, to: &str) -> String {
        let outbox = self.enclave.dir.path().join("data/outbox");
        let files = twofold_enclave::Outbox::list(&outbox).expect("enclave outbox");
        let message = files
            .iter()
            .rev()
            .map(|p| twofold_enclave::Outbox::read(p).expect("message"))
            .find(|m| m.to == to)
            .unwrap_or_else(|| panic!("no code delivered to {to}"));
        twofold_testkit::otp_code_in(&message.body)
    }
}

/// Runs `send(node)` on every node at the same moment; returns the answers by node.
fn at_once(nodes: usize, send: impl Fn(usize) -> ApiResponse + Sync) -> Vec<ApiResponse> {
    let barrier = Barrier::new(nodes);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..nodes)
            .map(|node| {
                let (barrier, send) = (&barrier, &send);
                s.spawn(move || {
                    barrier.wait();
                    send(node)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("sender")).collect()
    })
}

fn fingerprint(body: &Value) -> String {
    body["activity"]["fingerprint"].as_str().expect("fingerprint").to_owned()
}

fn message(resp: &ApiResponse) -> &str {
    resp.body["message"].as_str().unwrap_or_default()
}

/// Exactly one answer completed its activity; every other one is `status` saying `needle`.
#[track_caller]
fn accepted_once(answers: &[ApiResponse], status_refused: u16, needle: &str) {
    let accepted: Vec<_> = answers.iter().filter(|a| a.status == 200).collect();
    assert_eq!(accepted.len(), 1, "one code, one use, across nodes: {answers:?}");
    assert_eq!(status(&accepted[0].body), "ACTIVITY_STATUS_COMPLETED");
    for a in answers.iter().filter(|a| a.status != 200) {
        assert_eq!(a.status, status_refused, "{}", a.body);
        assert!(message(a).contains(needle), "{}", a.body);
    }
}

/// Every round: an activity needing three approvals; the two final approvals arrive at two
/// different nodes at the same moment. Each activity completes, and runs, exactly once.
fn approvals(cluster: &Cluster, rounds: usize) {
    let (_, initiator) = cluster.member("initiator");
    let (_, b) = cluster.member("approver-b");
    let (_, c) = cluster.member("approver-c");
    let voters = [&b, &c];
    for round in 0..rounds {
        let name = format!("scaled-{round}");
        let pending = ok(initiator.next().submit("create_users", json!({ "users": [{ "userName": name }] })));
        assert_eq!(status(&pending), "ACTIVITY_STATUS_CONSENSUS_NEEDED", "{pending}");
        let fp = fingerprint(&pending);
        let answers = at_once(2, |i| {
            voters[i].on(round + i).submit("approve_activity", json!({ "fingerprint": fp })).expect("sent")
        });
        for a in &answers {
            assert!(a.status == 200 || a.status == 400, "round {round}: {} {}", a.status, a.body);
        }
        assert!(answers.iter().any(|a| a.status == 200), "round {round}: a vote lands");
        let id = pending["activity"]["id"].as_str().expect("id");
        for node in 0..NODES {
            let seen = ok(initiator.on(node).query("get_activity", json!({ "activityId": id })));
            assert_eq!(status(&seen), "ACTIVITY_STATUS_COMPLETED", "round {round}, node {node}");
        }
        let users = ok(cluster.root.next().query("list_users", json!({})));
        let count = users["users"].as_array().expect("users").iter().filter(|u| u["userName"] == name.as_str()).count();
        assert_eq!(count, 1, "round {round}: executed exactly once");
    }
}

/// A create_user_tag by `initiator` waiting for one more approval; returns its fingerprint.
fn pending_tag(initiator: &RoundRobin, name: &str) -> String {
    let pending = ok(initiator.next().submit("create_user_tag", json!({ "userTagName": name, "userIds": [] })));
    assert_eq!(status(&pending), "ACTIVITY_STATUS_CONSENSUS_NEEDED", "{pending}");
    fingerprint(&pending)
}

fn totp_at(uri: &str, ms: i64) -> String {
    let totp = totp_rs::Totp::from_url(uri).expect("otpauth URI");
    totp.generate(u64::try_from(ms / 1000).expect("positive")).to_string()
}

/// TOTP on three nodes: one code sent to all of them at once is accepted exactly once, and
/// wrong codes sent to all of them at once are counted exactly once each against the shared
/// limit (5 per window): five get 401, the rest 429, and then even the right code is 429.
fn totp(cluster: &Cluster) {
    let (_, bob) = cluster.member("totp-initiator");
    let (alice_id, alice) = cluster.member("totp-alice");
    let (carol_id, carol) = cluster.member("totp-carol");
    let (alice_uri, _) = support::enroll_totp(alice.on(1), &alice_id);
    let (carol_uri, _) = support::enroll_totp(carol.on(2), &carol_id);

    // The step after the activation code's: unused, inside the ±1 step window.
    let code = totp_at(&alice_uri, twofold_testkit::real_now_ms() + 30_000);
    let fps: Vec<String> = (0..NODES).map(|i| pending_tag(&bob, &format!("totp-once-{i}"))).collect();
    let answers = at_once(NODES, |node| support::approve_with(alice.on(node), &fps[node], json!({ "totpCode": code })));
    accepted_once(&answers, 401, "already used");

    let now = twofold_testkit::real_now_ms();
    let right = totp_at(&carol_uri, now + 30_000);
    let valid: Vec<String> = [-30_000, 0, 30_000, 60_000].iter().map(|d| totp_at(&carol_uri, now + d)).collect();
    let wrong =
        ["000000", "111111", "222222"].into_iter().find(|w| !valid.iter().any(|v| v == w)).expect("a wrong code");
    let fp = pending_tag(&bob, "totp-limited");
    let answers = at_once(3 * NODES, |i| support::approve_with(carol.on(i), &fp, json!({ "totpCode": wrong })));
    let refused = answers.iter().filter(|a| a.status == 401).count();
    let limited = answers.iter().filter(|a| a.status == 429).count();
    assert_eq!((refused, limited), (5, 3 * NODES - 5), "each failure counted once: {answers:?}");
    for node in 0..NODES {
        let resp = support::approve_with(carol.on(node), &fp, json!({ "totpCode": right }));
        assert_eq!(resp.status, 429, "node {node}: the right code after the limit: {}", resp.body);
    }
}

/// Starts an email code for `email` through the next node; returns the flow and the code.
fn start_otp(cluster: &Cluster, email: &str) -> (StartedOtp, String) {
    let params = json!({ "otpType": "OTP_TYPE_EMAIL", "contact": email, "appName": "Scale" });
    let started = cluster.root.next().init_otp(params).expect("init_otp");
    (started, cluster.code_for(email))
}

/// VERIFY_OTP_V2 of `code` through `node`, freshly encrypted (so every body is distinct and
/// no answer is an idempotent replay of another).
fn verify_on(cluster: &Cluster, node: usize, started: &StartedOtp, pinned: &str, code: &str) -> ApiResponse {
    let attempt = encrypt_attempt(&started.target_bundle, pinned, code, &new_key().public_key_hex()).expect("encrypt");
    let params = json!({ "otpId": started.otp_id, "encryptedOtpBundle": attempt });
    cluster.root.on(node).submit("verify_otp", params).expect("sent")
}

/// Email OTP through three nodes and one enclave: the right code sent through every node at
/// once verifies exactly once; seven wrong codes at once use the five attempts one by one
/// (4, 3, 2, 1 and none left, each exactly once) and the rest find the code burned.
fn otp(cluster: &Cluster) {
    let pinned = cluster.root.next().enclave_signing_key().expect("enclave key");
    for email in ["ann@example.com", "ben@example.com"] {
        let (started, code) = start_otp(cluster, email);
        let answers = at_once(NODES, |node| verify_on(cluster, node, &started, &pinned, &code));
        accepted_once(&answers, 400, "already been used");
    }

    let (started, code) = start_otp(cluster, "cal@example.com");
    let wrong = match code.strip_prefix('2') {
        Some(rest) => format!("3{rest}"),
        None => format!("2{}", code.get(1..).unwrap_or_default()),
    };
    let answers = at_once(7, |i| verify_on(cluster, i, &started, &pinned, &wrong));
    let mut left: Vec<String> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status, 400, "{}", a.body);
            message(a).to_owned()
        })
        .collect();
    left.sort();
    let expected = [
        "Invalid OTP code: 1 attempt(s) left",
        "Invalid OTP code: 2 attempt(s) left",
        "Invalid OTP code: 3 attempt(s) left",
        "Invalid OTP code: 4 attempt(s) left",
        "Invalid OTP code: no attempts left, request a new code",
        "Invalid OTP code: too many failed attempts, request a new code",
        "Invalid OTP code: too many failed attempts, request a new code",
    ];
    assert_eq!(left, expected, "every attempt counted once, in some order");
    for node in 0..NODES {
        let late = verify_on(cluster, node, &started, &pinned, &code);
        assert!(late.status == 400 && message(&late).contains("too many failed"), "node {node}: burned: {}", late.body);
    }
}

/// A tenant's user without factors, and rule changes by the root organization, each sent to
/// a different node than the last: the very next request of the user, on every node, sees it.
fn enforcement(cluster: &Cluster, rounds: usize) -> (String, RoundRobin) {
    let (tenant, user) = cluster.tenant("enforced");
    for round in 0..rounds {
        let set = json!({ "scope": "MFA_ENFORCEMENT_SCOPE_ORGANIZATION", "targetOrganizationId": tenant,
                          "value": "MFA_ENFORCEMENT_REQUIRED", "gracePeriodDays": 0 });
        completed(cluster.root.on(round).submit("set_mfa_enforcement", set), "setMfaEnforcementResult");
        for node in 0..NODES {
            let resp = user.on(round + node).query("get_organization", json!({})).expect("sent");
            assert_eq!(resp.status, 403, "round {round}, node {node}: required at once: {}", resp.body);
            assert_eq!(resp.body["details"][0]["reason"], "MFA_ENROLLMENT_REQUIRED", "{}", resp.body);
        }
        let reset = json!({ "scope": "MFA_ENFORCEMENT_SCOPE_ORGANIZATION", "targetOrganizationId": tenant });
        completed(cluster.root.on(round + 1).submit("reset_mfa_enforcement", reset), "resetMfaEnforcementResult");
        for node in 0..NODES {
            let resp = user.on(round + node + 1).query("get_organization", json!({})).expect("sent");
            assert!(resp.is_success(), "round {round}, node {node}: back to the global rule: {}", resp.body);
            assert_eq!(resp.header(DUE), None);
        }
    }
    (tenant, user)
}

/// Asks `get_whoami` of every node with `who`; each must answer `expect`.
fn whoami_everywhere(who: &RoundRobin, expect: u16, what: &str) {
    for node in 0..NODES {
        let resp = who.on(node).query("get_whoami", json!({})).expect("sent");
        assert_eq!(resp.status, expect, "{what}, node {node}: {}", resp.body);
    }
}

/// A key every node has just admitted (and cached what it read to admit it) gets an IP allow
/// list, then is removed, each time through another node: the very next request with it is
/// refused on every node.
fn revocations(cluster: &Cluster, rounds: usize) {
    let (tenant, owner) = cluster.tenant("revocations");
    let user_id = ok(owner.on(0).query("get_whoami", json!({})))["userId"].as_str().expect("id").to_owned();
    for round in 0..rounds {
        let extra = new_key();
        let params = json!({ "userId": user_id, "apiKeys": [{ "apiKeyName": format!("extra {round}"),
            "publicKey": extra.public_key_hex(), "curveType": "API_KEY_CURVE_P256" }] });
        let created = completed(owner.on(round).submit("create_api_keys", params), "createApiKeysResult");
        let extra_id = created["apiKeyIds"][0].as_str().expect("key id").to_owned();
        let extra_pk = extra.public_key_hex();
        let extra = RoundRobin::new(&cluster.nodes, &extra, &tenant);
        whoami_everywhere(&extra, 200, &format!("round {round}: a new key"));
        let allow = json!({ "publicKey": extra_pk,
                            "rules": [{ "cidr": "192.0.2.0/24", "label": "elsewhere" }] });
        completed(owner.on(round + 1).submit("set_ip_allowlist", allow), "setIpAllowlistResult");
        whoami_everywhere(&extra, 403, &format!("round {round}: the key's allow list leaves loopback out"));
        whoami_everywhere(&owner, 200, &format!("round {round}: the other key is not listed"));
        let delete = json!({ "userId": user_id, "apiKeyIds": [extra_id] });
        completed(owner.on(round + 2).submit("delete_api_keys", delete), "deleteApiKeysResult");
        whoami_everywhere(&extra, 401, &format!("round {round}: the key is gone"));
    }
}

/// Two sessions every node has admitted (and cached); one is then used through node 0 only,
/// every 30 minutes on the shared test clock, the other not at all. Two hours on, node 1's
/// cached copy of the first one's last use is two hours old, yet node 1 admits it (a session
/// is re-read before it is refused as idle), while the unused one is refused on every node.
fn idle_sessions(cluster: &Cluster) {
    const HALF_HOUR: i64 = 30 * 60 * 1000;
    let (_, owner) = cluster.member("sessions");
    let org = cluster.root.on(0).organization_id().to_owned();
    let (used_key, idle_key) = (new_key(), new_key());
    for key in [&used_key, &idle_key] {
        let params = json!({ "publicKey": key.public_key_hex(), "expirationSeconds": "86400" });
        completed(owner.on(0).submit("stamp_login", params), "stampLoginResult");
    }
    let used = RoundRobin::new(&cluster.nodes, &used_key, &org);
    let idle = RoundRobin::new(&cluster.nodes, &idle_key, &org);
    whoami_everywhere(&used, 200, "a new session");
    whoami_everywhere(&idle, 200, "another new session");
    for half_hours in 1..=4 {
        cluster.nodes[0].set_clock_offset(half_hours * HALF_HOUR);
        let resp = used.on(0).query("get_whoami", json!({})).expect("sent");
        assert_eq!(resp.status, 200, "used every half hour, at {half_hours}: {}", resp.body);
    }
    whoami_everywhere(&used, 200, "used through node 0 every half hour");
    whoami_everywhere(&idle, 401, "unused for two hours");
    cluster.nodes[0].set_clock_offset(0);
}

#[test]
fn three_nodes_on_one_postgres_agree_under_concurrent_load() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let long = std::env::var("TWOFOLD_LONG_TESTS").is_ok_and(|v| v == "1");
    let rounds = if long { 200 } else { 20 };
    let cluster = Cluster::start();
    cluster.policy(
        "three create users",
        "activity.resource == 'USER' && activity.action == 'CREATE'",
        "approvers.count() >= 3",
    );
    cluster.policy("two create tags", "activity.type == 'ACTIVITY_TYPE_CREATE_USER_TAG'", "approvers.count() >= 2");

    let (tenant, user) = std::thread::scope(|s| {
        let a = s.spawn(|| approvals(&cluster, rounds));
        let t = s.spawn(|| totp(&cluster));
        let o = s.spawn(|| otp(&cluster));
        let e = s.spawn(|| enforcement(&cluster, rounds));
        let r = s.spawn(|| revocations(&cluster, rounds));
        a.join().expect("approvals");
        r.join().expect("revocations");
        t.join().expect("totp");
        o.join().expect("otp");
        e.join().expect("enforcement")
    });
    idle_sessions(&cluster);

    // A grace period, then the shared test clock moves past it: every node refuses at once.
    let set = json!({ "scope": "MFA_ENFORCEMENT_SCOPE_ORGANIZATION", "targetOrganizationId": tenant,
                      "value": "MFA_ENFORCEMENT_REQUIRED", "gracePeriodDays": 1 });
    completed(cluster.root.on(2).submit("set_mfa_enforcement", set), "setMfaEnforcementResult");
    for node in 0..NODES {
        let resp = user.on(node).query("get_organization", json!({})).expect("sent");
        assert!(resp.is_success() && resp.header(DUE).is_some(), "node {node}: due, not yet refused: {}", resp.body);
    }
    cluster.nodes[0].set_clock_offset(DAY);
    for node in 0..NODES {
        let resp = user.on(node).query("get_organization", json!({})).expect("sent");
        assert_eq!(resp.status, 403, "node {node}: past the deadline: {}", resp.body);
    }

    let verified = ok(cluster.root.next().query("verify_audit_log", json!({})));
    assert_eq!(verified["verified"], true, "{verified}");
}
