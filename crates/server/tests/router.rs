//! Router tests: the HTTP layer's own behaviour through `oneshot`, no socket.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use twofold_core::{Engine, EngineConfig, SystemClock};
use twofold_server::{AppState, ServerLimits, router};
use twofold_store::{SqlStore, StoreOptions};

async fn app(dir: &tempfile::TempDir) -> axum::Router {
    let url = format!("sqlite://{}", dir.path().join("router.db").display());
    let store = SqlStore::open(&url, &StoreOptions::default()).await.expect("store");
    let engine = Engine::new(
        Arc::new(store),
        Arc::new(SystemClock),
        EngineConfig::new(twofold_core::engine::FactorConfig::for_development().expect("dev factors")),
    );
    router(AppState {
        engine,
        limits: ServerLimits { max_body_bytes: 2048, ..ServerLimits::default() },
        ops: Default::default(),
    })
}

async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, Option<String>, Value) {
    let resp = app.clone().oneshot(req).await.expect("response");
    let status = resp.status();
    let request_id = resp.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, request_id, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn errors_are_json_with_a_request_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir).await;
    let cases = [
        (Request::get("/nope").body(Body::empty()), StatusCode::NOT_FOUND, "no endpoint"),
        (Request::get("/public/v1/query/get_whoami").body(Body::empty()), StatusCode::METHOD_NOT_ALLOWED, "POST"),
        (Request::put("/public/v1/submit/create_users").body(Body::empty()), StatusCode::METHOD_NOT_ALLOWED, "POST"),
        (
            Request::post("/public/v1/query/get_whoami").header("X-Stamp", "x").body(Body::from(vec![b'{'; 4096])),
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than the limit of 2048 bytes",
        ),
        (
            Request::post("/public/v1/query/get_whoami").body(Body::from(r#"{"organizationId":"o"}"#)),
            StatusCode::UNAUTHORIZED,
            "missing X-Stamp",
        ),
    ];
    for (req, status, needle) in cases {
        let (got, request_id, body) = call(&app, req.expect("request")).await;
        assert_eq!(got, status, "{body}");
        assert!(request_id.is_some_and(|id| id.len() >= 32), "every response carries X-Request-Id");
        assert!(body["code"].is_i64(), "{body}");
        assert!(body["message"].as_str().expect("message").contains(needle), "{body}");
    }
}

#[tokio::test]
async fn health_and_readiness() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir).await;
    let (status, _, body) = call(&app, Request::get("/healthz").body(Body::empty()).expect("request")).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (status, _, body) = call(&app, Request::get("/readyz").body(Body::empty()).expect("request")).await;
    assert_eq!((status, body["database"].as_str()), (StatusCode::OK, Some("ok")));
}
