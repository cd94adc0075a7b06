//! End-to-end session profiles (S4) and app activities with signed webhooks (S8):
//! a scoped session can do what its profile allows and nothing else, and cannot
//! outlive it; an app's PAYOUT needs a second approver under the org's policy and a
//! receiver run by the test gets each status change, signed, retried until it answers.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use support::{member, now_secs, refused, sub_org};
use twofold_client::Client;
use twofold_testkit::{Backend, TestServer, backends, completed, new_key, ok, status};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("claims")
}

fn scoped_sessions(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    // The parent organization creates the profile for its sub-organizations.
    let profile = completed(
        root.submit(
            "create_session_profile",
            json!({ "sessionProfileName": "user editor", "expirationSeconds": "60", "notes": "S4",
                    "scope": "activity.resource == 'USER' && activity.action == 'UPDATE'" }),
        ),
        "createSessionProfileResult",
    )["sessionProfileId"]
        .as_str()
        .expect("profile id")
        .to_owned();
    let (org, owner_id, owner) = sub_org(&server, &root, "customer");
    let listed = ok(owner.query("get_session_profiles", json!({})));
    assert_eq!(listed["sessionProfiles"][0]["sessionProfileId"], profile.as_str(), "{listed}");
    assert_eq!(listed["sessionProfiles"][0]["expirationSeconds"], "60");

    // The login asks for 15 minutes; the profile caps it at one.
    let session_key = new_key();
    let login = completed(
        owner.submit(
            "stamp_login",
            json!({ "publicKey": session_key.public_key_hex(), "expirationSeconds": "900", "sessionProfileId": profile }),
        ),
        "stampLoginResult",
    );
    let c = claims(login["session"].as_str().expect("jwt"));
    assert_eq!(c["session_profile_id"], profile.as_str());
    assert!(c["scope"].as_str().expect("scope").contains("activity.resource == 'USER'"), "{c}");
    let lifetime = c["exp"].as_f64().expect("exp") - now_secs();
    assert!((50.0..=65.0).contains(&lifetime), "capped by the profile: {lifetime}");
    let sessions = ok(owner.query("list_sessions", json!({ "userId": owner_id })));
    assert_eq!(sessions["sessions"].as_array().expect("sessions").len(), 1, "{sessions}");

    let session = server.client(session_key, &org);
    let updated = ok(session.submit("update_user", json!({ "userId": owner_id, "userName": "renamed" })));
    assert_eq!(status(&updated), "ACTIVITY_STATUS_COMPLETED", "{updated}");
    let outside = session
        .submit(
            "create_policy",
            json!({ "policyName": "p", "effect": "EFFECT_ALLOW", "condition": "true", "notes": "" }),
        )
        .expect("sent");
    refused(outside, 403, "scope `activity.resource == 'USER' && activity.action == 'UPDATE'` does not allow");
    // The scope holds for reads too (queries are `QUERY_<NAME>`, with their resource and READ):
    // what every session needs of itself stays open, everything else needs the scope's leave.
    assert_eq!(ok(session.query("get_whoami", json!({})))["userId"], owner_id.as_str());
    assert_eq!(ok(session.query("get_user", json!({ "userId": owner_id })))["user"]["userName"], "renamed");
    refused(
        session.query("list_policies", json!({})).expect("sent"),
        403,
        "does not allow QUERY_LIST_POLICIES (POLICY/READ)",
    );
    refused(session.query("list_audit_events", json!({})).expect("sent"), 403, "(AUDIT_LOG/READ)");
    refused(session.query("list_users", json!({})).expect("sent"), 403, "(USER/READ)");
    // Without the profile, the same user may create the policy (it is the root user).
    let unscoped = ok(owner.submit(
        "create_policy",
        json!({ "policyName": "p", "effect": "EFFECT_ALLOW", "condition": "true", "notes": "" }),
    ));
    assert_eq!(status(&unscoped), "ACTIVITY_STATUS_COMPLETED");

    // Profiles are immutable and only usable where their creator reaches.
    let body = json!({ "type": "ACTIVITY_TYPE_UPDATE_SESSION_PROFILE", "timestampMs": (now_secs() as i64 * 1000).to_string(),
                       "organizationId": org, "parameters": { "sessionProfileId": profile } });
    let no_update =
        owner.post_raw("/public/v1/submit/update_session_profile", body.to_string().as_bytes()).expect("sent");
    assert_eq!(no_update.status, 404, "there is no update endpoint: {}", no_update.body);
    let (_, _, stranger) = sub_org(&server, &root, "stranger");
    let own = completed(
        stranger.submit("create_session_profile", json!({ "sessionProfileName": "mine", "scope": "true" })),
        "createSessionProfileResult",
    )["sessionProfileId"]
        .as_str()
        .expect("id")
        .to_owned();
    let foreign =
        ok(owner.submit("stamp_login", json!({ "publicKey": new_key().public_key_hex(), "sessionProfileId": own })));
    assert_eq!(status(&foreign), "ACTIVITY_STATUS_FAILED", "another sub-org's profile: {foreign}");
    let bad_scope = owner
        .submit("create_session_profile", json!({ "sessionProfileName": "x", "scope": "activity.resource ==" }))
        .expect("sent");
    refused(bad_scope, 400, "parameters.scope");
}

#[test]
fn a_scoped_session_does_only_what_its_profile_allows_and_expires_with_it() {
    for backend in backends() {
        scoped_sessions(backend);
    }
}

/// One request the receiver saw.
type Received = support::HttpRequest;

/// A webhook receiver on loopback that answers 500 to the first `failures` attempts of
/// each event and 200 afterwards.
struct Receiver(support::HttpSink);

impl Receiver {
    fn start(failures: usize) -> Receiver {
        Receiver(support::HttpSink::start("/hooks/twofold", move |got, seen| {
            let event = got.header("twofold-event-id");
            let earlier = seen.iter().filter(|r| r.header("twofold-event-id") == event).count();
            if earlier < failures { 500 } else { 200 }
        }))
    }

    /// Waits until `pred` holds for what was received (bounded).
    fn wait_for(&self, what: &str, pred: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let seen = self.0.received();
            if pred(&seen) {
                return seen;
            }
            assert!(Instant::now() < deadline, "webhook receiver never saw {what}: {seen:#?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn delivered_with_status(seen: &[Received], status: &str) -> Vec<Received> {
    seen.iter()
        .filter(|r| serde_json::from_str::<Value>(&r.body).is_ok_and(|b| b["data"]["status"] == status))
        .cloned()
        .collect()
}

fn app_activity_with_webhooks(backend: Backend) {
    const SECRET: &str = "a-webhook-secret-of-at-least-32-chars!";
    let server = TestServer::start(BIN, backend, &["--webhook-retry-base-ms", "200", "--webhook-allow-private"]);
    let root = server.root_client();
    let receiver = Receiver::start(2);
    let endpoint = completed(
        root.submit("create_webhook_endpoint", json!({ "url": receiver.0.url, "name": "payouts", "secret": SECRET })),
        "createWebhookEndpointResult",
    );
    let endpoint_id = endpoint["endpointId"].as_str().expect("endpoint").to_owned();
    assert!(!endpoint.to_string().contains(SECRET), "the secret is never echoed");
    let listed = ok(root.query("list_webhook_endpoints", json!({})));
    assert_eq!(listed["webhookEndpoints"][0]["url"], receiver.0.url.as_str());

    let (_, alice) = member(&server, &root, "alice");
    let (_, bob) = member(&server, &root, "bob");
    let allow = |name: &str, condition: &str, consensus: Option<&str>| {
        let mut p = json!({ "policyName": name, "effect": "EFFECT_ALLOW", "condition": condition, "notes": "" });
        if let Some(c) = consensus {
            p["consensus"] = json!(c);
        }
        completed(root.submit("create_policy", p), "createPolicyResult");
    };
    allow(
        "large payouts need two",
        "activity.resource == 'PAYOUT' && activity.params.amount > 10000",
        Some("approvers.count() >= 2"),
    );
    allow("small payouts", "activity.resource == 'PAYOUT' && activity.params.amount <= 10000", None);

    let payout = |client: &Client, amount: i64| {
        ok(client.submit(
            "create_app_activity",
            json!({ "resource": "PAYOUT", "action": "CREATE", "payload": { "amount": amount, "currency": "EUR" } }),
        ))
    };
    let small = payout(&alice, 5000);
    assert_eq!(status(&small), "ACTIVITY_STATUS_COMPLETED", "{small}");
    assert_eq!(small["activity"]["result"]["createAppActivityResult"]["payload"]["amount"], 5000);
    let large = payout(&alice, 25_000);
    assert_eq!(status(&large), "ACTIVITY_STATUS_CONSENSUS_NEEDED", "{large}");
    let large_id = large["activity"]["id"].as_str().expect("id").to_owned();
    let fp = large["activity"]["fingerprint"].as_str().expect("fp").to_owned();
    let approved = ok(bob.submit("approve_activity", json!({ "fingerprint": fp })));
    assert_eq!(status(&approved), "ACTIVITY_STATUS_COMPLETED", "{approved}");
    let polled = ok(alice.query("get_activity", json!({ "activityId": large_id })));
    assert_eq!(status(&polled), "ACTIVITY_STATUS_COMPLETED", "the app can poll too");

    // Each event fails twice at the receiver and arrives on the third try, signed.
    let seen = receiver.wait_for("CONSENSUS_NEEDED and COMPLETED for the large payout, three tries each", |seen| {
        let about_large =
            |st: &str| delivered_with_status(seen, st).iter().filter(|r| r.body.contains(&large_id)).count() >= 3;
        about_large("ACTIVITY_STATUS_CONSENSUS_NEEDED") && about_large("ACTIVITY_STATUS_COMPLETED")
    });
    for r in seen.iter().filter(|r| r.body.contains(&large_id)) {
        assert!(r.signed_with(SECRET), "valid signature on {r:?}");
        assert!(!r.signed_with("another secret of the same length!!!!!"));
        let event: Value = serde_json::from_str(&r.body).expect("json");
        assert_eq!(event["type"], "ACTIVITY_UPDATES");
        assert_eq!(event["data"]["activityType"], "ACTIVITY_TYPE_CREATE_APP_ACTIVITY");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let log = loop {
        let log = ok(root.query("list_webhook_deliveries", json!({ "endpointId": endpoint_id, "limit": 100 })));
        let done = log["deliveries"]
            .as_array()
            .expect("deliveries")
            .iter()
            .filter(|d| d["activityId"] == large_id.as_str())
            .all(|d| d["status"] == "DELIVERED");
        if done || Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let about_large: Vec<&Value> =
        log["deliveries"].as_array().expect("d").iter().filter(|d| d["activityId"] == large_id.as_str()).collect();
    assert_eq!(about_large.len(), 2, "CONSENSUS_NEEDED and COMPLETED: {log}");
    for d in about_large {
        assert_eq!(d["status"], "DELIVERED", "{d}");
        assert_eq!(d["attempts"], 3, "two failures, then delivered: {d}");
        assert_eq!(d["lastStatusCode"], 200);
    }

    // App resources cannot impersonate twofold's own.
    let spoof = alice
        .submit("create_app_activity", json!({ "resource": "POLICY", "action": "DELETE", "payload": {} }))
        .expect("sent");
    refused(spoof, 400, "is a twofold resource");
    let lower = alice.submit("create_app_activity", json!({ "resource": "payout", "action": "CREATE" })).expect("sent");
    refused(lower, 400, "parameters.resource");
    let bad_url = root.submit("create_webhook_endpoint", json!({ "url": "ftp://x", "name": "n" })).expect("sent");
    refused(bad_url, 400, "parameters.url");
    // Without a secret, one is generated and shown once.
    let generated = completed(
        root.submit("create_webhook_endpoint", json!({ "url": receiver.0.url, "name": "second" })),
        "createWebhookEndpointResult",
    );
    assert!(generated["secret"].as_str().expect("shown once").starts_with("whsec_"), "{generated}");
    let again = ok(root.query(
        "get_activity",
        json!({ "activityId": ok(root.query("list_activities", json!({})))["activities"][0]["id"] }),
    ));
    assert!(!again.to_string().contains("whsec_"), "not stored with the activity");
}

#[test]
fn an_app_payout_needs_a_second_approver_and_its_webhooks_arrive_signed_and_retried() {
    for backend in backends() {
        app_activity_with_webhooks(backend);
    }
}

/// UPDATE_WEBHOOK_ENDPOINT: events follow the new URL, a renamed endpoint keeps its secret,
/// an inactive one is sent nothing; an update of another organization's endpoint finds nothing.
fn updated_webhook_endpoints(backend: Backend) {
    const SECRET: &str = "another-webhook-secret-of-32-chars-at-least";
    let server = TestServer::start(BIN, backend, &["--webhook-retry-base-ms", "200", "--webhook-allow-private"]);
    let root = server.root_client();
    let (first, second) = (Receiver::start(0), Receiver::start(0));
    let created = completed(
        root.submit("create_webhook_endpoint", json!({ "url": first.0.url, "name": "hooks", "secret": SECRET })),
        "createWebhookEndpointResult",
    );
    let id = created["endpointId"].as_str().expect("id").to_owned();
    let event = || -> String {
        let app = json!({ "resource": "PING", "action": "CREATE", "payload": {} });
        let done = ok(root.submit("create_app_activity", app));
        assert_eq!(status(&done), "ACTIVITY_STATUS_COMPLETED", "{done}");
        done["activity"]["id"].as_str().expect("id").to_owned()
    };
    let one = event();
    first.wait_for("the first event", |seen| seen.iter().any(|r| r.body.contains(&one)));

    let moved = completed(
        root.submit("update_webhook_endpoint", json!({ "endpointId": id, "url": second.0.url, "name": "moved" })),
        "updateWebhookEndpointResult",
    );
    assert_eq!(moved["webhookEndpoint"]["url"], second.0.url.as_str(), "{moved}");
    assert_eq!(moved["webhookEndpoint"]["name"], "moved", "{moved}");
    assert_eq!(moved["webhookEndpoint"]["isActive"], true, "{moved}");
    let two = event();
    let seen = second.wait_for("the second event at the new URL", |seen| seen.iter().any(|r| r.body.contains(&two)));
    assert!(seen.iter().all(|r| r.signed_with(SECRET)), "the secret stays: {seen:#?}");
    assert!(!first.0.received().iter().any(|r| r.body.contains(&two)), "nothing more at the old URL");

    let off = completed(
        root.submit("update_webhook_endpoint", json!({ "endpointId": id, "isActive": false })),
        "updateWebhookEndpointResult",
    );
    assert_eq!(off["webhookEndpoint"]["isActive"], false, "{off}");
    let three = event();
    std::thread::sleep(Duration::from_millis(1500));
    let everything: Vec<Received> = first.0.received().into_iter().chain(second.0.received()).collect();
    assert!(!everything.iter().any(|r| r.body.contains(&three)), "an inactive endpoint gets nothing");
    let listed = ok(root.query("list_webhook_endpoints", json!({})));
    assert_eq!(listed["webhookEndpoints"][0]["isActive"], false, "{listed}");

    // Bad input changes nothing; another organization's endpoint is not found from a sub-org.
    let before = server.db.row_counts();
    for (params, needle) in [
        (json!({ "endpointId": id }), "give url, name or isActive"),
        (json!({ "endpointId": id, "url": "ftp://x" }), "url"),
        (json!({ "endpointId": id, "name": "" }), "name"),
        (json!({ "endpointId": id, "isActive": "yes" }), "parameters.isActive"),
    ] {
        refused(root.submit("update_webhook_endpoint", params.clone()).expect("sent"), 400, needle);
    }
    assert_eq!(server.db.row_counts(), before, "refused updates store nothing");
    let (_, _, sub) = support::sub_org(&server, &root, "tenant");
    let foreign = ok(sub.submit("update_webhook_endpoint", json!({ "endpointId": id, "isActive": true })));
    assert_eq!(status(&foreign), "ACTIVITY_STATUS_FAILED", "{foreign}");
    assert!(foreign.to_string().contains("no webhook endpoint"), "{foreign}");
    let listed = ok(root.query("list_webhook_endpoints", json!({})));
    assert_eq!(listed["webhookEndpoints"][0]["isActive"], false, "still off: {listed}");
}

twofold_testkit::on_every_backend!(
    updated_webhook_endpoints_sqlite,
    updated_webhook_endpoints_postgres,
    updated_webhook_endpoints
);
