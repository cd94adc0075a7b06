//! Stamp verification is the hot path of every request. This bench measures, in one
//! run on the same core: a raw P-256 ECDSA verify with `ring` (the peer figure), the
//! same with the pure-Rust `p256` crate, the engine answering a stamped `get_whoami`
//! on SQLite, and the whole axum router doing it; then an app activity that completes
//! at once, and one whose MFA policy needs a step-up approval (submit, then approve) —
//! and prints each as a ratio of the raw verify.
//!
//! `cargo bench -p twofold-server --bench stamp -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::expect_used, reason = "a benchmark fails loudly")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request as HttpRequest;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use tower::ServiceExt;
use twofold_client::{ApiKeyPair, Curve};
use twofold_core::engine::BootstrapPlan;
use twofold_core::{Engine, EngineConfig, Request, StampProof, SystemClock};
use twofold_server::{AppState, ServerLimits, router};
use twofold_store::{SqlStore, StoreOptions};

struct Fixture {
    rt: tokio::runtime::Runtime,
    engine: Engine,
    app: axum::Router,
    body: Vec<u8>,
    stamp_header: String,
    stamp: StampProof,
    uncompressed: Vec<u8>,
    der: Vec<u8>,
    key: ApiKeyPair,
    org: String,
    serial: std::sync::atomic::AtomicU64,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let key = ApiKeyPair::generate(Curve::P256).expect("key");
    let (engine, org) = rt.block_on(async {
        let store = SqlStore::open(&url, &StoreOptions::default()).await.expect("store");
        let engine = Engine::new(
            Arc::new(store),
            Arc::new(SystemClock),
            EngineConfig::new(twofold_core::engine::FactorConfig::for_development().expect("dev factors")),
        );
        let plan = BootstrapPlan::new("bench", "root", &key.public_key_hex());
        assert!(engine.bootstrap(&plan).await.expect("bootstrap"));
        (engine, plan.organization_id)
    });
    // A body of about 300 bytes, as DESIGN.md's measurement used.
    let body = json!({ "organizationId": org, "padding": "x".repeat(220) }).to_string().into_bytes();
    let stamp_header = key.stamp(&body);
    let sig_hex = key.sign_hex(&body);
    let stamp = StampProof::Key {
        public_key: key.public_key_hex(),
        scheme: "SIGNATURE_SCHEME_TK_API_P256".into(),
        signature: sig_hex.clone(),
    };
    let pk = p256::PublicKey::from_sec1_bytes(&hex::decode(key.public_key_hex()).expect("hex")).expect("point");
    let uncompressed = {
        use p256::elliptic_curve::sec1::ToSec1Point;
        pk.to_sec1_point(false).as_bytes().to_vec()
    };
    let app = router(AppState { engine: engine.clone(), limits: ServerLimits::default(), ops: Default::default() });
    let f = Fixture {
        rt,
        engine,
        app,
        body,
        stamp_header,
        stamp,
        uncompressed,
        der: hex::decode(sig_hex).expect("hex"),
        key,
        org,
        serial: std::sync::atomic::AtomicU64::new(0),
        _dir: dir,
    };
    // Payouts need a second step (any API key approval); refunds match no MFA policy.
    let user_id = f.rt.block_on(f.engine.query("get_whoami", &f.request(&f.body))).expect("whoami")["userId"].clone();
    let groups = json!([{ "any": [{ "type": "AUTHENTICATION_TYPE_API_KEY" }] }, { "any": [{ "type": "AUTHENTICATION_TYPE_API_KEY" }] }]);
    let created = f.submit(
        "create_mfa_policy",
        json!({ "userId": user_id, "mfaPolicyName": "payouts",
        "condition": "activity.resource == 'PAYOUT'", "requiredAuthenticationMethods": groups, "order": 0 }),
    );
    assert_eq!(created.status, "ACTIVITY_STATUS_COMPLETED");
    f
}

impl Fixture {
    fn request<'a>(&self, body: &'a [u8]) -> Request<'a> {
        let stamp = StampProof::Key {
            public_key: self.key.public_key_hex(),
            scheme: "SIGNATURE_SCHEME_TK_API_P256".into(),
            signature: self.key.sign_hex(body),
        };
        Request::new(Ok(stamp), None, body)
    }

    /// Submits `parameters` to `path` (a fresh body each time) and returns the activity.
    fn submit(&self, path: &str, parameters: serde_json::Value) -> twofold_core::api::ActivityView {
        let (kind, _) = twofold_core::activities::kind_for_path(path).map(|k| (k, ())).expect("endpoint");
        let n = self.serial.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let body = json!({ "type": kind.versions[0].type_name, "organizationId": self.org, "parameters": parameters,
            "timestampMs": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("t").as_millis().to_string(),
            "nonce": n })
        .to_string();
        self.rt.block_on(self.engine.submit(path, &self.request(body.as_bytes()))).expect("submitted")
    }
}

fn app_activity(f: &Fixture, resource: &str) -> twofold_core::api::ActivityView {
    f.submit("create_app_activity", json!({ "resource": resource, "action": "CREATE", "payload": { "amount": 25000 } }))
}

fn activity_completes(f: &Fixture) {
    assert_eq!(app_activity(f, "REFUND").status, "ACTIVITY_STATUS_COMPLETED");
}

fn activity_with_step_up(f: &Fixture) {
    let pending = app_activity(f, "PAYOUT");
    assert_eq!(pending.status, "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED");
    let approved = f.submit("approve_activity", json!({ "fingerprint": pending.fingerprint }));
    assert_eq!(approved.status, "ACTIVITY_STATUS_COMPLETED");
}

fn ring_verify(f: &Fixture) {
    let key = ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, &f.uncompressed);
    key.verify(&f.body, &f.der).expect("valid");
}

fn p256_verify(f: &Fixture) {
    use p256::ecdsa::signature::Verifier;
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&f.uncompressed).expect("key");
    let sig = p256::ecdsa::Signature::from_der(&f.der).expect("der");
    key.verify(&f.body, &sig).expect("valid");
}

fn engine_whoami(f: &Fixture) {
    let req = Request::new(Ok(f.stamp.clone()), None, &f.body);
    f.rt.block_on(f.engine.query("get_whoami", &req)).expect("whoami");
}

fn router_whoami(f: &Fixture) {
    let req = HttpRequest::post("/public/v1/query/get_whoami")
        .header("X-Stamp", &f.stamp_header)
        .body(Body::from(f.body.clone()))
        .expect("request");
    let resp = f.rt.block_on(f.app.clone().oneshot(req)).expect("response");
    assert!(resp.status().is_success());
}

/// A named benchmark case.
type Case = (&'static str, fn(&Fixture));

/// Mean time of `f` over about half a second, for the ratio table.
fn mean(fx: &Fixture, f: fn(&Fixture)) -> Duration {
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_millis(500) {
        f(fx);
        n += 1;
    }
    start.elapsed() / n
}

fn bench(c: &mut Criterion) {
    let f = fixture();
    let cases: [Case; 6] = [
        ("raw_p256_verify_ring", ring_verify),
        ("raw_p256_verify_p256_crate", p256_verify),
        ("engine_get_whoami_sqlite", engine_whoami),
        ("router_get_whoami_sqlite", router_whoami),
        ("engine_app_activity_completes", activity_completes),
        ("engine_app_activity_mfa_step_up", activity_with_step_up),
    ];
    let mut group = c.benchmark_group("stamp");
    for (name, case) in cases {
        group.bench_function(name, |b| b.iter(|| case(&f)));
    }
    group.finish();
    let base = mean(&f, ring_verify);
    println!("\nratio to one raw P-256 verify with ring ({base:?}):");
    for (name, case) in cases {
        let m = mean(&f, case);
        println!("  {name:<30} {m:>12?}  {:>6.2}x", m.as_secs_f64() / base.as_secs_f64());
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
