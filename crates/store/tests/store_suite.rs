//! One store suite, run against SQLite and PostgreSQL: both backends must behave alike.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

use twofold_core::enforcement::{EnforcementRule, EnforcementValue};
use twofold_core::model::{
    Activity, ActivityFilter, ActivityStatus, ApiKey, ApiKeyCurve, AuthMethod, AuthenticationType, Channel, Delivery,
    DeliveryStatus, Factor, FactorKind, KeyKind, MethodGroup, MfaPolicy, MfaProof, Organization, SessionProfile, User,
    WebhookEndpoint,
};
use twofold_core::store::{Store, StoreError};
use twofold_store::{OpenError, SqlStore, StoreOptions};
use twofold_testkit::{TestDb, backends};

fn org(id: &str, parent: Option<&str>) -> Organization {
    Organization {
        id: id.into(),
        name: format!("org {id}"),
        parent_id: parent.map(Into::into),
        root_quorum_threshold: 1,
        created_at: 1,
        updated_at: 1,
    }
}

fn user(id: &str, org: &str) -> User {
    User {
        id: id.into(),
        organization_id: org.into(),
        name: id.into(),
        email: None,
        phone: None,
        created_at: 1,
        updated_at: 1,
        email_verified_at: None,
        phone_verified_at: None,
        email_vouched_by: None,
        phone_vouched_by: None,
        admin_since: None,
        api_only: false,
    }
}

fn key(id: &str, org: &str, user: &str, pk: &str) -> ApiKey {
    ApiKey {
        id: id.into(),
        organization_id: org.into(),
        user_id: user.into(),
        name: id.into(),
        public_key: pk.into(),
        verify_key: vec![4, 1, 2],
        curve: ApiKeyCurve::P256,
        created_at: 1,
        updated_at: 1,
        expires_at: Some(99),
        kind: KeyKind::ApiKey,
        session_profile_id: None,
    }
}

fn factor(id: &str, kind: FactorKind, lookup: Option<&str>) -> Factor {
    Factor {
        id: id.into(),
        organization_id: "o1".into(),
        user_id: "u1".into(),
        kind,
        name: id.into(),
        lookup: lookup.map(Into::into),
        public_data: "{}".into(),
        secret: Some("sealed".into()),
        counter: 0,
        active: false,
        used_at: None,
        created_at: 1,
        updated_at: 1,
        bound_at: None,
    }
}

/// Factors, ceremonies, failure counters, sessions and installation secrets.
async fn factor_suite(store: &SqlStore) {
    let mut tx = store.write().await.expect("write");
    tx.insert_factor(&factor("f1", FactorKind::Passkey, Some("cred-1"))).await.expect("passkey");
    let dup = tx.insert_factor(&factor("f2", FactorKind::Passkey, Some("cred-1"))).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "one credential id per org: {dup:?}");
    tx.insert_factor(&factor("t1", FactorKind::Totp, None)).await.expect("totp");
    tx.insert_factor(&factor("t2", FactorKind::Totp, None)).await.expect("two TOTP devices (NULL lookups)");
    tx.insert_factor(&factor("r1", FactorKind::RecoveryCode, Some("ABCDE"))).await.expect("code");
    assert_eq!(tx.factors_by_lookup(FactorKind::Passkey, "cred-1").await.expect("lookup").len(), 1);
    assert_eq!(tx.list_factors("o1", "u1", Some(FactorKind::Totp)).await.expect("list").len(), 2);
    assert_eq!(tx.list_factors("o1", "u1", None).await.expect("list").len(), 4);
    // Counters only move forward; single-use factors are used once.
    assert!(tx.advance_factor_counter("t1", 5, 2).await.expect("advance"));
    assert!(!tx.advance_factor_counter("t1", 5, 2).await.expect("same step again"));
    assert!(!tx.advance_factor_counter("t1", 4, 2).await.expect("older step"));
    assert!(tx.use_factor("r1", 3).await.expect("use"));
    assert!(!tx.use_factor("r1", 4).await.expect("use twice"));
    let mut t1 = tx.get_factor("o1", "t1").await.expect("get").expect("exists");
    assert_eq!(t1.counter, 5);
    t1.active = true;
    tx.update_factor(&t1).await.expect("activate");
    assert!(tx.get_factor("o1", "t1").await.expect("get").expect("exists").active);
    assert_eq!(tx.delete_factors("o1", "u1", FactorKind::Totp, Some(&["t2".to_owned()])).await.expect("delete"), 1);
    // A ceremony is taken once.
    tx.insert_webauthn_challenge("ch", "o1", "u1", "state", 100).await.expect("challenge");
    assert_eq!(tx.take_webauthn_challenge("ch", "u2").await.expect("take"), None, "another user's");
    assert_eq!(tx.take_webauthn_challenge("ch", "u1").await.expect("take"), Some(("state".into(), 100)));
    assert_eq!(tx.take_webauthn_challenge("ch", "u1").await.expect("take"), None);
    // Failures are counted in a window and cleared on success.
    assert!(tx.lock_user("o1", "u1").await.expect("lock"));
    assert!(!tx.lock_user("o1", "nobody").await.expect("lock"));
    for at in [10, 20, 30] {
        tx.record_auth_failure("o1", "u1", "TOTP", at).await.expect("failure");
    }
    assert_eq!(tx.auth_failures_since("u1", "TOTP", 15).await.expect("count"), [20, 30]);
    assert!(tx.auth_failures_since("u1", "RECOVERY_CODE", 0).await.expect("count").is_empty());
    tx.clear_auth_failures("u1", "TOTP").await.expect("clear");
    assert!(tx.auth_failures_since("u1", "TOTP", 0).await.expect("count").is_empty());
    // Sessions are keys of kind SESSION; deleting them leaves API keys alone.
    let mut session = key("s1", "o1", "u1", "02bb");
    session.kind = KeyKind::Session;
    tx.insert_api_key(&session).await.expect("session");
    let mut other = key("s2", "o1", "u1", "02cc");
    other.kind = KeyKind::Session;
    tx.insert_api_key(&other).await.expect("session");
    assert_eq!(tx.delete_sessions("o1", "u1", None, Some("s1")).await.expect("invalidate others"), 1);
    assert_eq!(tx.delete_sessions("o1", "u1", Some(&["s1".to_owned()]), None).await.expect("delete one"), 1);
    assert_eq!(tx.list_api_keys("o1", Some("u1")).await.expect("keys").len(), 1, "the API key stays");
    // Installation secrets are written once.
    assert!(tx.insert_server_secret("k", "v1", 1).await.expect("secret"));
    assert!(!tx.insert_server_secret("k", "v2", 1).await.expect("secret again"));
    assert_eq!(tx.server_secret("k").await.expect("read").as_deref(), Some("v1"));
    // Deleting a user takes its factors with it.
    assert!(tx.delete_user("o1", "u1").await.expect("delete user"));
    assert!(tx.list_factors("o1", "u1", None).await.expect("list").is_empty());
    tx.commit().await.expect("commit");
}

/// MFA enforcement rules: the global row and overrides, replace, delete, and the organization tree.
async fn enforcement_suite(store: &SqlStore) {
    let rule = |org: Option<&str>, value, at| EnforcementRule {
        organization_id: org.map(Into::into),
        value,
        grace_period_days: 3,
        accept_email_sms_otp: org.is_some(),
        updated_at: at,
        updated_by: Some("u1".into()),
    };
    let mut tx = store.write().await.expect("write");
    for (id, parent) in [("e1", None), ("e2", Some("e1")), ("e3", Some("e2")), ("e4", None)] {
        tx.insert_organization(&org(id, parent)).await.expect("org");
    }
    assert!(tx.mfa_enforcement_rules("e2").await.expect("read").is_empty(), "nothing set yet");
    tx.put_mfa_enforcement_rule(&rule(None, EnforcementValue::Required, 10)).await.expect("global");
    tx.put_mfa_enforcement_rule(&rule(Some("e2"), EnforcementValue::Off, 11)).await.expect("override");
    tx.put_mfa_enforcement_rule(&rule(Some("e2"), EnforcementValue::RequiredForAdmins, 12)).await.expect("replace");
    let mut both = tx.mfa_enforcement_rules("e2").await.expect("read");
    both.sort_by_key(|r| r.updated_at);
    assert_eq!(
        both,
        [rule(None, EnforcementValue::Required, 10), rule(Some("e2"), EnforcementValue::RequiredForAdmins, 12)]
    );
    assert_eq!(tx.mfa_enforcement_rules("e3").await.expect("read").len(), 1, "only the global rule");
    assert_eq!(tx.list_mfa_enforcement_rules().await.expect("list").len(), 2);
    assert!(!tx.delete_mfa_enforcement_rule("").await.expect("delete"), "the global rule is never deleted");
    assert!(tx.delete_mfa_enforcement_rule("e2").await.expect("delete"));
    assert!(!tx.delete_mfa_enforcement_rule("e2").await.expect("delete twice"));
    let tree: Vec<String> = tx.organization_tree("e1").await.expect("tree").into_iter().map(|o| o.id).collect();
    assert_eq!(tree, ["e1", "e2", "e3"], "descendants at every depth, not the unrelated root");
    tx.commit().await.expect("commit");
}

fn activity(id: &str, org: &str, at: i64, status: ActivityStatus) -> Activity {
    Activity {
        id: id.into(),
        organization_id: org.into(),
        activity_type: "ACTIVITY_TYPE_CREATE_USERS_V4".into(),
        intent: "{}".into(),
        status,
        fingerprint: format!("sha256:{id}"),
        result: None,
        failure: None,
        initiator_user_id: "u1".into(),
        initiator_credential_id: "k1".into(),
        created_at: at,
        updated_at: at,
    }
}

async fn suite(store: &SqlStore) {
    // Organizations, users, keys, quorum.
    let mut tx = store.write().await.expect("write");
    assert!(tx.claim_installation("o1", 1).await.expect("claim"));
    assert!(!tx.claim_installation("o2", 1).await.expect("claim twice"), "one installation");
    tx.insert_organization(&org("o1", None)).await.expect("org");
    tx.insert_organization(&org("o2", Some("o1"))).await.expect("sub-org");
    tx.insert_user(&user("u1", "o1")).await.expect("user");
    tx.insert_user(&user("u2", "o2")).await.expect("user");
    tx.insert_api_key(&key("k1", "o1", "u1", "02aa")).await.expect("key");
    tx.insert_api_key(&key("k2", "o2", "u2", "02aa")).await.expect("same public key in another org");
    let dup = tx.insert_api_key(&key("k3", "o1", "u1", "02aa")).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    tx.set_root_quorum("o1", 1, &["u1".to_owned()], 2).await.expect("quorum");
    tx.commit().await.expect("commit");

    let mut r = store.read().await.expect("read");
    assert_eq!(r.installation_root().await.expect("root"), Some("o1".to_owned()));
    assert_eq!(r.get_organization("o2").await.expect("get").expect("exists").parent_id.as_deref(), Some("o1"));
    assert_eq!(r.list_sub_organizations("o1").await.expect("subs"), vec!["o2".to_owned()]);
    assert_eq!(r.root_quorum_members("o1").await.expect("quorum"), vec!["u1".to_owned()]);
    let keys = r.api_keys_by_public_key("02aa").await.expect("by pk");
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].verify_key, vec![4, 1, 2]);
    assert_eq!(keys[0].expires_at, Some(99));
    assert!(r.get_user("o1", "u2").await.expect("get").is_none(), "users are scoped to their org");
    drop(r);

    // Savepoints undo effects but keep the transaction.
    let mut tx = store.write().await.expect("write");
    tx.insert_activity(&activity("a0", "o1", 10, ActivityStatus::Created)).await.expect("activity");
    tx.savepoint("execute").await.expect("savepoint");
    tx.insert_user(&user("u3", "o1")).await.expect("user");
    tx.rollback_to("execute").await.expect("rollback");
    tx.release("execute").await.expect("release");
    assert!(tx.savepoint("bad name;").await.is_err(), "savepoint names are identifiers");
    tx.commit().await.expect("commit");
    let mut r = store.read().await.expect("read");
    assert!(r.get_user("o1", "u3").await.expect("get").is_none(), "rolled back to the savepoint");
    assert!(r.get_activity("o1", "a0").await.expect("get").is_some(), "kept the rest");
    drop(r);

    // Activities: fingerprint idempotency, filters and cursors.
    let mut tx = store.write().await.expect("write");
    for i in 1..=7 {
        let status = if i % 2 == 0 { ActivityStatus::Completed } else { ActivityStatus::Failed };
        assert!(tx.insert_activity(&activity(&format!("a{i}"), "o1", 10 + i, status)).await.expect("insert"));
    }
    assert!(
        !tx.insert_activity(&activity("a1", "o1", 99, ActivityStatus::Created)).await.expect("dup"),
        "same fingerprint"
    );
    let mut done = activity("a1", "o1", 11, ActivityStatus::Completed);
    done.result = Some("{\"r\":1}".into());
    tx.update_activity(&done).await.expect("update");
    tx.commit().await.expect("commit");
    let mut r = store.read().await.expect("read");
    let page = |v: Vec<Activity>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    let f = |limit, before: Option<&str>, after: Option<&str>| ActivityFilter {
        limit,
        before: before.map(Into::into),
        after: after.map(Into::into),
        ..ActivityFilter::default()
    };
    assert_eq!(
        page(r.list_activities("o1", &f(3, None, None)).await.expect("list").expect("page")),
        ["a7", "a6", "a5"]
    );
    assert_eq!(
        page(r.list_activities("o1", &f(3, None, Some("a5"))).await.expect("list").expect("page")),
        ["a4", "a3", "a2"]
    );
    assert_eq!(
        page(r.list_activities("o1", &f(2, Some("a4"), None)).await.expect("list").expect("page")),
        ["a6", "a5"]
    );
    assert!(r.list_activities("o1", &f(2, Some("zz"), None)).await.expect("list").is_none(), "unknown cursor");
    let completed =
        ActivityFilter { statuses: vec![ActivityStatus::Completed], limit: 10, ..ActivityFilter::default() };
    assert_eq!(page(r.list_activities("o1", &completed).await.expect("list").expect("page")), ["a6", "a4", "a2", "a1"]);
    assert_eq!(
        r.get_activity_by_fingerprint("sha256:a1").await.expect("get").expect("exists").result.as_deref(),
        Some("{\"r\":1}")
    );
    assert!(r.get_activity("o2", "a1").await.expect("get").is_none(), "activities are scoped to their org");
}

fn mfa_policy(id: &str, order: i64) -> MfaPolicy {
    MfaPolicy {
        id: id.into(),
        organization_id: "o1".into(),
        user_id: "m1".into(),
        name: id.into(),
        condition: "true".into(),
        required_methods: vec![MethodGroup {
            any: vec![AuthMethod { kind: AuthenticationType::Passkey, id: Some("pk".into()) }],
        }],
        order,
        notes: String::new(),
        created_at: order,
        updated_at: order,
    }
}

fn delivery(id: &str, due: i64) -> Delivery {
    Delivery {
        id: id.into(),
        channel: Channel::Webhook,
        target: "e1".into(),
        organization_id: "o1".into(),
        event_type: "ACTIVITY_UPDATES".into(),
        subject: "a-mfa".into(),
        payload: "{}".into(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: due,
        lease_until: 0,
        last_error: None,
        last_status: None,
        delivered_at: None,
        created_at: due,
    }
}

/// MFA policies and proofs, session profiles, webhook endpoints and leased deliveries.
async fn mfa_suite(store: &SqlStore) {
    let mut tx = store.write().await.expect("write");
    tx.insert_user(&user("m1", "o1")).await.expect("user");
    for (id, order) in [("late", 9), ("first", 0), ("middle", 4)] {
        tx.insert_mfa_policy(&mfa_policy(id, order)).await.expect("mfa policy");
    }
    let ids = |ps: Vec<MfaPolicy>| ps.into_iter().map(|p| p.id).collect::<Vec<_>>();
    assert_eq!(ids(tx.list_mfa_policies("o1", Some("m1")).await.expect("list")), ["first", "middle", "late"]);
    let mut p = tx.get_mfa_policy("o1", "late").await.expect("get").expect("exists");
    assert_eq!(p.required_methods, mfa_policy("late", 9).required_methods, "groups round-trip");
    p.order = -1;
    assert!(tx.update_mfa_policy(&p).await.expect("update"));
    assert_eq!(ids(tx.list_mfa_policies("o1", None).await.expect("list"))[0], "late");
    assert!(!tx.delete_mfa_policy("o1", "someone else", "late").await.expect("not theirs"));
    assert!(tx.delete_mfa_policy("o1", "m1", "late").await.expect("delete"));
    tx.insert_activity(&activity("a-mfa", "o1", 1, ActivityStatus::AuthenticatorsNeeded)).await.expect("activity");
    for (i, method) in ["AUTHENTICATION_TYPE_TOTP", "AUTHENTICATION_TYPE_PASSKEY"].into_iter().enumerate() {
        let at = i64::try_from(i).expect("small");
        tx.insert_mfa_proof(&MfaProof {
            id: format!("proof-{i}"),
            activity_id: "a-mfa".into(),
            user_id: "m1".into(),
            credential_id: "c".into(),
            method: method.into(),
            message: "{}".into(),
            public_key: "pk".into(),
            signature: "sig".into(),
            scheme: "s".into(),
            created_at: at,
        })
        .await
        .expect("proof");
    }
    let proofs = tx.list_mfa_proofs("a-mfa").await.expect("proofs");
    assert_eq!(
        proofs.iter().map(|p| p.method.as_str()).collect::<Vec<_>>(),
        ["AUTHENTICATION_TYPE_TOTP", "AUTHENTICATION_TYPE_PASSKEY"]
    );

    let profile = SessionProfile {
        id: "sp".into(),
        organization_id: "o1".into(),
        name: "n".into(),
        scope: "true".into(),
        expiration_seconds: Some(60),
        notes: String::new(),
        created_at: 1,
    };
    tx.insert_session_profile(&profile).await.expect("profile");
    assert_eq!(tx.get_session_profile("sp").await.expect("get"), Some(profile.clone()));
    assert_eq!(tx.list_session_profiles("o1").await.expect("list"), [profile]);

    let endpoint = WebhookEndpoint {
        id: "e1".into(),
        organization_id: "o1".into(),
        name: "hook".into(),
        url: "https://example.com".into(),
        secret: "v1.sealed".into(),
        subscriptions: "[]".into(),
        active: true,
        created_at: 1,
        updated_at: 1,
    };
    tx.insert_webhook_endpoint(&endpoint).await.expect("endpoint");
    assert_eq!(tx.list_webhook_endpoints("o1").await.expect("list"), std::slice::from_ref(&endpoint));
    tx.insert_delivery(&delivery("d-due", 10)).await.expect("due");
    tx.insert_delivery(&delivery("d-later", 50)).await.expect("later");
    let notice = Delivery { channel: Channel::Email, target: "m1@example.com".into(), ..delivery("n1", 1000) };
    tx.insert_delivery(&notice).await.expect("notice");
    assert_eq!(tx.list_deliveries("o1", Channel::Email, None, 10).await.expect("notices"), [notice]);
    tx.commit().await.expect("commit");

    // A lease is handed out once until it runs out, and only for due deliveries.
    let mut tx = store.write().await.expect("write");
    let leased = tx.lease_deliveries(20, 30, 10).await.expect("lease");
    assert_eq!(leased.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["d-due"]);
    assert!(tx.lease_deliveries(25, 35, 10).await.expect("lease").is_empty(), "still leased");
    let mut d = leased.into_iter().next().expect("one");
    d.status = DeliveryStatus::Delivered;
    d.attempts = 1;
    d.delivered_at = Some(26);
    d.last_status = Some(200);
    tx.update_delivery(&d).await.expect("update");
    assert!(tx.lease_deliveries(60, 70, 10).await.expect("lease").iter().all(|x| x.id == "d-later"));
    let log = tx.list_deliveries("o1", Channel::Webhook, Some("e1"), 10).await.expect("log");
    assert_eq!(log.len(), 2);
    assert_eq!(log.iter().find(|x| x.id == "d-due").expect("due").status, DeliveryStatus::Delivered);
    assert!(tx.delete_webhook_endpoint("o1", "e1").await.expect("delete"));
    assert_eq!(
        tx.list_deliveries("o1", Channel::Webhook, None, 10).await.expect("log").len(),
        1,
        "pending ones go, the log of delivered stays"
    );
    tx.commit().await.expect("commit");
}

async fn auth_proxy_suite(store: &SqlStore) {
    let proxy = |config: &str, at| twofold_core::model::AuthProxy {
        organization_id: "ap1".into(),
        config_id: "ap1-config".into(),
        user_id: "ap-user".into(),
        api_key_id: "ap-key".into(),
        policy_id: "ap-policy".into(),
        sealed_key: "v1.sealed".into(),
        config: config.into(),
        created_at: 5,
        updated_at: at,
    };
    let mut tx = store.write().await.expect("write");
    tx.insert_organization(&org("ap1", None)).await.expect("org");
    assert_eq!(tx.get_auth_proxy("ap1").await.expect("read"), None, "not enabled yet");
    tx.insert_organization(&org("ap1-child", Some("ap1"))).await.expect("sub-org");
    tx.insert_organization(&org("ap2", None)).await.expect("other org");
    let (app, other) = ("https://app.example.com".to_owned(), "https://other.example".to_owned());
    tx.put_auth_proxy(&proxy("{}", 5), &[app.clone(), other.clone()]).await.expect("enable");
    let mut changed = proxy(r#"{"otpLength":6}"#, 7);
    changed.created_at = 99;
    tx.put_auth_proxy(&changed, std::slice::from_ref(&app)).await.expect("update");
    assert_eq!(
        tx.get_auth_proxy("ap1").await.expect("read"),
        Some(proxy(r#"{"otpLength":6}"#, 7)),
        "config and updated_at replaced, created_at kept"
    );
    assert_eq!(
        tx.get_auth_proxy_by_config("ap1-config").await.expect("read").map(|p| p.organization_id),
        Some("ap1".into())
    );
    assert_eq!(tx.get_auth_proxy_by_config("ap1").await.expect("read"), None, "by its config id only");
    let allowed = |origin: &'static str, org: Option<&'static str>| (origin, org);
    for ((origin, org), expected) in [
        (allowed("https://app.example.com", None), true),
        (allowed("https://app.example.com", Some("ap1")), true),
        (allowed("https://app.example.com", Some("ap1-child")), true),
        (allowed("https://app.example.com", Some("ap2")), false),
        (allowed("https://app.example.com", Some("nowhere")), false),
        (allowed("https://other.example", None), false),
        (allowed("https://other.example", Some("ap1")), false),
    ] {
        assert_eq!(tx.origin_allowed(origin, org).await.expect("read"), expected, "{origin} for {org:?}");
    }
    assert!(tx.delete_auth_proxy("ap1").await.expect("disable"));
    assert!(!tx.origin_allowed("https://app.example.com", None).await.expect("read"), "its origins went with it");
    assert!(!tx.delete_auth_proxy("ap1").await.expect("disable twice"));
    assert_eq!(tx.get_auth_proxy("ap1").await.expect("read"), None);
    tx.commit().await.expect("commit");
}

/// Runs `$body` on `$tx` in a committed write and checks whether the admission epoch moved.
macro_rules! moves_epoch {
    ($store:expr, $moves:expr, $what:literal, |$tx:ident| $body:expr) => {{
        let before = $store.admission_epoch().await.expect("epoch");
        let mut $tx = $store.write().await.expect("write");
        let _ = $body.await.expect($what);
        $tx.commit().await.expect("commit");
        let after = $store.admission_epoch().await.expect("epoch");
        assert_eq!(after > before, $moves, "{}: admission epoch {before} -> {after}", $what);
    }};
}

/// Every write that changes what admission reads moves the epoch; the frequent writes
/// that do not (new sessions, session touches, counters, activities) leave it alone,
/// and a rolled-back change moves nothing.
async fn admission_epoch_suite(store: &SqlStore) {
    use twofold_core::model::UserTag;
    use twofold_core::network::{IpRuleSet, ListKind};
    let mut tx = store.write().await.expect("write");
    tx.insert_organization(&org("ep", None)).await.expect("org");
    tx.insert_user(&user("epu", "ep")).await.expect("user");
    tx.commit().await.expect("commit");
    let mut session = key("eps", "ep", "epu", "02ee");
    session.kind = KeyKind::Session;
    let mut totp = factor("ept", FactorKind::Totp, None);
    totp.organization_id = "ep".into();
    totp.user_id = "epu".into();
    let tag = UserTag {
        id: "eptag".into(),
        organization_id: "ep".into(),
        name: "admin".into(),
        created_at: 1,
        updated_at: 1,
    };
    let list = IpRuleSet {
        organization_id: "ep".into(),
        public_key: None,
        kind: ListKind::Deny,
        enabled: true,
        on_error: "DENY".into(),
        rules: Vec::new(),
        updated_at: 1,
    };
    let rule = EnforcementRule {
        organization_id: Some("ep".into()),
        value: EnforcementValue::Required,
        grace_period_days: 0,
        accept_email_sms_otp: false,
        updated_at: 1,
        updated_by: None,
    };

    moves_epoch!(store, false, "a new API key", |tx| tx.insert_api_key(&key("epk", "ep", "epu", "02ef")));
    moves_epoch!(store, false, "a new session", |tx| tx.insert_api_key(&session));
    moves_epoch!(store, false, "a session touch", |tx| tx.touch_session("eps", 10, 5));
    moves_epoch!(store, false, "a new tag", |tx| tx.insert_user_tag(&tag));
    moves_epoch!(store, false, "an activity", |tx| tx.insert_activity(&activity(
        "epa",
        "ep",
        1,
        ActivityStatus::Created
    )));
    moves_epoch!(store, false, "an auth failure", |tx| tx.record_auth_failure("ep", "epu", "TOTP", 3));
    moves_epoch!(store, true, "a user change", |tx| tx.update_user(&user("epu", "ep")));
    moves_epoch!(store, true, "a tag membership", |tx| tx.add_user_to_tag("eptag", "epu"));
    let mut tx = store.read().await.expect("read");
    let everyone = tx.user_tag_memberships("ep").await.expect("org-wide");
    assert_eq!(everyone, [("epu".to_owned(), "eptag".to_owned())]);
    assert_eq!(tx.tag_memberships_of("ep", &["epu", "nobody", "epu"]).await.expect("of some"), everyone);
    assert!(tx.tag_memberships_of("ep", &["nobody"]).await.expect("of nobody").is_empty());
    assert!(tx.tag_memberships_of("ep", &[]).await.expect("of none").is_empty());
    assert!(tx.tag_memberships_of("other-org", &["epu"]).await.expect("another org").is_empty());
    drop(tx);
    moves_epoch!(store, true, "tags replaced", |tx| tx.set_user_tags("epu", &[]));
    moves_epoch!(store, true, "a root quorum", |tx| tx.set_root_quorum("ep", 1, &["epu".to_owned()], 4));
    moves_epoch!(store, true, "a new factor", |tx| tx.insert_factor(&totp));
    moves_epoch!(store, false, "a counter", |tx| tx.advance_factor_counter("ept", 9, 5));
    moves_epoch!(store, true, "a factor change", |tx| tx.update_factor(&totp));
    moves_epoch!(store, true, "factors removed", |tx| tx.delete_factors("ep", "epu", FactorKind::Totp, None));
    moves_epoch!(store, true, "an IP list", |tx| tx.put_ip_rule_set(&list));
    moves_epoch!(store, true, "an IP list removed", |tx| tx.delete_ip_rule_set("ep", None, ListKind::Deny));
    moves_epoch!(store, true, "an enforcement rule", |tx| tx.put_mfa_enforcement_rule(&rule));
    moves_epoch!(store, true, "an enforcement reset", |tx| tx.delete_mfa_enforcement_rule("ep"));
    moves_epoch!(store, true, "sessions removed", |tx| tx.delete_sessions("ep", "epu", None, None));
    moves_epoch!(store, true, "a key removed", |tx| tx.delete_api_key("ep", "epu", "epk"));
    moves_epoch!(store, true, "a user removed", |tx| tx.delete_user("ep", "epu"));

    let before = store.admission_epoch().await.expect("epoch");
    let mut tx = store.write().await.expect("write");
    tx.put_ip_rule_set(&list).await.expect("list");
    drop(tx);
    assert_eq!(store.admission_epoch().await.expect("epoch"), before, "a rolled-back change moves nothing");
    // A change undone in a savepoint of a committed transaction (a failed execution), then a
    // real change: the real one still moves the epoch.
    let mut tx = store.write().await.expect("write");
    tx.savepoint("execute").await.expect("savepoint");
    tx.put_ip_rule_set(&list).await.expect("list");
    tx.rollback_to("execute").await.expect("rollback to savepoint");
    tx.commit().await.expect("commit");
    moves_epoch!(store, true, "a change after one undone in a savepoint", |tx| tx.put_ip_rule_set(&list));
}

async fn open(db: &TestDb) -> SqlStore {
    SqlStore::open(db.url(), &StoreOptions::default()).await.expect("open")
}

#[tokio::test(flavor = "multi_thread")]
async fn store_suite_on_every_backend() {
    for backend in tokio::task::spawn_blocking(backends).await.expect("probe") {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = tokio::task::spawn_blocking({
            let path = dir.path().to_owned();
            move || TestDb::new(backend, &path)
        })
        .await
        .expect("db");
        let store = open(&db).await;
        suite(&store).await;
        factor_suite(&store).await;
        mfa_suite(&store).await;
        enforcement_suite(&store).await;
        auth_proxy_suite(&store).await;
        admission_epoch_suite(&store).await;
        // A schema newer than the binary is refused, not half-used, on every backend.
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from the future', TRUE, $1, 0)",
        )
        .bind(vec![0u8])
        .execute(&connect_raw(db.url()).await)
        .await
        .expect("plant a migration from the future");
        store.close().await;
        match SqlStore::open(db.url(), &StoreOptions::default()).await {
            Err(OpenError::SchemaTooNew(9999)) => {}
            other => panic!("{backend:?}: expected SchemaTooNew, got {other:?}"),
        }
        tokio::task::spawn_blocking(move || drop(db)).await.expect("drop db");
    }
}

async fn connect_raw(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(url).await.expect("connect")
}
