//! End-to-end bounded cost of policy evaluation (issue 17, "One tenant can stall every
//! tenant's writes"): a counted-step budget that fails closed, payload and policy-count
//! caps — on SQLite and PostgreSQL.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{refused, sub_org};
use twofold_client::Client;
use twofold_testkit::{TestServer, completed, new_key, ok, on_every_backend, status, user_with_key};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

/// The quadratic condition: for every element, count its equals in the whole list.
const QUADRATIC: &str = "activity.params.to.all(a, activity.params.to.filter(b, b == a).count() == 1)";

fn policy(client: &Client, name: &str, effect: &str, condition: &str) -> Value {
    client
        .submit("create_policy", json!({ "policyName": name, "effect": effect, "condition": condition, "notes": "" }))
        .expect("sent")
        .body
}

/// A payout to `n` distinct recipients: within the payload caps, and 1 000 000 steps
/// of work for the quadratic condition at n = 1000.
fn payout(client: &Client, n: usize) -> (Value, Duration) {
    let to: Vec<String> = (0..n).map(|i| format!("recipient-{i}")).collect();
    let started = Instant::now();
    let answer = ok(client
        .submit("create_app_activity", json!({ "resource": "PAYOUT", "action": "CREATE", "payload": { "to": to } })));
    (answer, started.elapsed())
}

/// A non-root user of the sub-organization `org` (whose root is `owner`): its activities
/// are decided by the organization's policies (a root's are by the root quorum).
fn tenant_member(server: &TestServer, owner: &Client, org: &str, name: &str) -> Client {
    let key = new_key();
    completed(owner.submit("create_users", json!({ "users": [user_with_key(name, &key)] })), "createUsersResult");
    server.client(key, org)
}

fn quadratic_condition(backend: twofold_testkit::Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    // The attacker is root of its own sub-organization (as an auth-proxy sign-up is).
    let (attacker_org, _, attacker_root) = sub_org(&server, &root, "attacker");
    let attacker = tenant_member(&server, &attacker_root, &attacker_org, "payer");
    let (_, _, victim) = sub_org(&server, &root, "victim");
    let guarded = format!("activity.resource == 'PAYOUT' && {QUADRATIC}");
    assert_eq!(status(&policy(&attacker_root, "quadratic", "EFFECT_ALLOW", &guarded)), "ACTIVITY_STATUS_COMPLETED");

    // A small list fits the budget: the condition holds and the payout runs.
    let (small, _) = payout(&attacker, 10);
    assert_eq!(status(&small), "ACTIVITY_STATUS_COMPLETED", "{small}");

    // Meanwhile another tenant keeps creating users; every one completes, none is a 5xx.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let victim_loop = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut latencies = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || i < 5 {
                let started = Instant::now();
                let resp = victim
                    .submit("create_users", json!({ "users": [{ "userName": format!("user {i}") }] }))
                    .expect("sent");
                latencies.push(started.elapsed());
                assert_eq!(resp.status, 200, "another tenant's write: {}", resp.body);
                assert_eq!(status(&resp.body), "ACTIVITY_STATUS_COMPLETED", "{}", resp.body);
                i += 1;
            }
            latencies
        })
    };
    // A large list: stopped by the budget, quickly, failing closed with the reason.
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let (big, took) = payout(&attacker, 1000);
        assert_eq!(status(&big), "ACTIVITY_STATUS_FAILED", "{big}");
        let failure = big["activity"]["failure"].to_string();
        assert!(failure.contains("condition exceeded its evaluation budget"), "{failure}");
        slowest = slowest.max(took);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let latencies = victim_loop.join().expect("the other tenant's writes all completed");
    // Generous for a debug build on a busy machine; unbounded it took 98 s (issue 17).
    assert!(slowest < Duration::from_secs(2), "budget-stopped payout took {slowest:?}");
    let worst = latencies.iter().max().copied().unwrap_or_default();
    assert!(worst < Duration::from_secs(2), "another tenant's create_users took {worst:?}");

    // Fail closed everywhere the budget runs out: a DENY denies ...
    let (other_org, _, other_root) = sub_org(&server, &root, "deny side");
    let other = tenant_member(&server, &other_root, &other_org, "payer");
    policy(&other_root, "payouts", "EFFECT_ALLOW", "activity.resource == 'PAYOUT'");
    policy(&other_root, "quadratic deny", "EFFECT_DENY", &format!("activity.resource == 'PAYOUT' && !({QUADRATIC})"));
    let (small, _) = payout(&other, 10);
    assert_eq!(status(&small), "ACTIVITY_STATUS_COMPLETED", "{small}");
    let (big, _) = payout(&other, 1000);
    assert_eq!(status(&big), "ACTIVITY_STATUS_FAILED", "{big}");
    let failure = big["activity"]["failure"].to_string();
    assert!(failure.contains("denied by policy") && failure.contains("evaluation budget"), "{failure}");

    // ... and a payload past the caps is refused before anything is recorded.
    let before = server.db.row_counts();
    let too_many: Vec<u32> = (0..1001).collect();
    refused(
        attacker
            .submit(
                "create_app_activity",
                json!({ "resource": "PAYOUT", "action": "CREATE", "payload": { "to": too_many } }),
            )
            .expect("sent"),
        400,
        "at most 1000 elements",
    );
    let too_big = "x".repeat(70_000);
    refused(
        attacker
            .submit(
                "create_app_activity",
                json!({ "resource": "PAYOUT", "action": "CREATE", "payload": { "memo": too_big } }),
            )
            .expect("sent"),
        400,
        "at most 65536 bytes",
    );
    assert_eq!(server.db.row_counts(), before, "refused payloads store nothing");
}

on_every_backend!(
    quadratic_condition_is_stopped_by_its_budget_and_does_not_stall_another_tenant_on_sqlite,
    quadratic_condition_is_stopped_by_its_budget_and_does_not_stall_another_tenant_on_postgres,
    quadratic_condition
);

fn mfa_budget(backend: twofold_testkit::Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    // MFA policies apply to root users too.
    let (_, owner_id, owner) = sub_org(&server, &root, "tenant");
    let params = json!({ "userId": owner_id, "mfaPolicyName": "quadratic", "order": 1,
                         "condition": format!("activity.resource == 'PAYOUT' && !({QUADRATIC})"),
                         "requiredAuthenticationMethods": [{ "any": [{ "type": "AUTHENTICATION_TYPE_TOTP" }] }] });
    completed(owner.submit("create_mfa_policy", params), "createMfaPolicyResult");
    let (small, _) = payout(&owner, 10);
    assert_eq!(status(&small), "ACTIVITY_STATUS_COMPLETED", "the condition is false: {small}");
    // An MFA policy whose condition runs out of budget applies: TOTP is required.
    let (big, _) = payout(&owner, 1000);
    assert_eq!(status(&big), "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED", "{big}");
    let st = ok(owner.query("get_mfa_status", json!({ "activityId": big["activity"]["id"] })));
    assert!(st.to_string().contains("condition exceeded its evaluation budget"), "{st}");
}

on_every_backend!(
    mfa_condition_out_of_budget_counts_as_matching_on_sqlite,
    mfa_condition_out_of_budget_counts_as_matching_on_postgres,
    mfa_budget
);

fn caps(backend: twofold_testkit::Backend) {
    let server = TestServer::start(
        BIN,
        backend,
        &["--max-policies-per-org", "3", "--max-mfa-policies-per-user", "2", "--eval-budget-steps", "5000"],
    );
    let root = server.root_client();
    let (org, owner_id, owner) = sub_org(&server, &root, "tenant");
    let payer = tenant_member(&server, &owner, &org, "payer");
    for i in 0..3 {
        let created = policy(&owner, &format!("p{i}"), "EFFECT_ALLOW", "activity.resource == 'PAYOUT'");
        assert_eq!(status(&created), "ACTIVITY_STATUS_COMPLETED", "{created}");
    }
    let before = server.db.row_counts();
    let body = json!({ "policyName": "one too many", "effect": "EFFECT_ALLOW", "condition": "true", "notes": "" });
    refused(owner.submit("create_policy", body).expect("sent"), 400, "may have at most 3");
    assert_eq!(server.db.row_counts(), before, "the refused policy stores nothing, not even its activity");
    let listed = ok(owner.query("list_policies", json!({})));
    assert_eq!(listed["policies"].as_array().expect("list").len(), 3, "{listed}");
    // Other organizations have their own count.
    let created = policy(&root, "root's own", "EFFECT_ALLOW", "activity.resource == 'PAYOUT'");
    assert_eq!(status(&created), "ACTIVITY_STATUS_COMPLETED", "{created}");

    // MFA policies per user.
    let mfa = |name: &str| {
        owner
            .submit(
                "create_mfa_policy",
                json!({ "userId": owner_id, "mfaPolicyName": name, "condition": "false", "order": 1,
                        "requiredAuthenticationMethods": [{ "any": [{ "type": "AUTHENTICATION_TYPE_TOTP" }] }] }),
            )
            .expect("sent")
    };
    assert_eq!(status(&mfa("one").body), "ACTIVITY_STATUS_COMPLETED");
    assert_eq!(status(&mfa("two").body), "ACTIVITY_STATUS_COMPLETED");
    let before = server.db.row_counts();
    refused(mfa("three"), 400, "may have at most 2");
    assert_eq!(server.db.row_counts(), before);

    // The budget flag is honoured: 5 000 steps cannot hold 100 recipients squared.
    let (fits, _) = payout(&payer, 10);
    assert_eq!(status(&fits), "ACTIVITY_STATUS_COMPLETED", "{fits}");
    let deleted: Vec<String> = ok(owner.query("list_policies", json!({})))["policies"]
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p["policyId"].as_str().expect("id").to_owned())
        .collect();
    completed(owner.submit("delete_policy", json!({ "policyId": deleted[0] })), "deletePolicyResult");
    policy(&owner, "quadratic", "EFFECT_DENY", &format!("activity.resource == 'PAYOUT' && !({QUADRATIC})"));
    let (small, _) = payout(&payer, 10);
    assert_eq!(status(&small), "ACTIVITY_STATUS_COMPLETED", "{small}");
    let (hundred, _) = payout(&payer, 100);
    assert_eq!(status(&hundred), "ACTIVITY_STATUS_FAILED", "{hundred}");
    assert!(hundred.to_string().contains("evaluation budget of 5000 steps"), "{hundred}");
}

on_every_backend!(
    policy_count_caps_refuse_the_next_policy_with_4xx_and_store_nothing_on_sqlite,
    policy_count_caps_refuse_the_next_policy_with_4xx_and_store_nothing_on_postgres,
    caps
);

fn decided_before_the_write_lock(backend: twofold_testkit::Backend) {
    let server = TestServer::start(BIN, backend, &["--eval-budget-steps", "20000000"]);
    let root = server.root_client();
    let (org, _, owner) = sub_org(&server, &root, "tenant");
    let payer = tenant_member(&server, &owner, &org, "payer");
    let guarded = format!("activity.resource == 'PAYOUT' && {QUADRATIC}");
    assert_eq!(status(&policy(&owner, "quadratic", "EFFECT_ALLOW", &guarded)), "ACTIVITY_STATUS_COMPLETED");
    let counts = || {
        let text = support::metrics(&server);
        let series = |result: &str| {
            support::metric(&text, &format!("twofold_policy_condition_evaluations_total{{result=\"{result}\"}}"))
        };
        (series("evaluated"), series("remembered"))
    };
    // The first costly decision is made inside the write transaction, and marks the tenant.
    let completes = || {
        let (answer, _) = payout(&payer, 600);
        assert_eq!(status(&answer), "ACTIVITY_STATUS_COMPLETED", "{}", answer["activity"]["failure"]);
    };
    completes();
    let (evaluated, remembered) = counts();
    // From then on its decisions are made on a read snapshot first: the write transaction
    // evaluates nothing, it recalls every result, and the outcome is the same.
    completes();
    completes();
    let (evaluated_after, remembered_after) = counts();
    assert_eq!(remembered_after - remembered, 2.0, "each write transaction recalled the one condition");
    assert_eq!(evaluated_after - evaluated, 2.0, "each condition was evaluated once, outside the write transaction");
}

on_every_backend!(
    a_costly_tenants_conditions_are_evaluated_before_the_write_lock_on_sqlite,
    a_costly_tenants_conditions_are_evaluated_before_the_write_lock_on_postgres,
    decided_before_the_write_lock
);
