//! End-to-end: what operators rely on, against the real binary over HTTP — the OpenAPI
//! document (valid, and listing exactly what the router serves), `/metrics`, `/healthz`
//! and `/readyz` (database and enclave), JSON logs with request ids, graceful shutdown,
//! and `twofold backup` / `restore`.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use twofold_testkit::{Backend, TestDb, TestEnclave, TestServer, completed, is_ci, postgres_available};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().new_agent()
}

/// GET `path`: (status, headers we look at, body text).
fn get(server: &TestServer, path: &str, bearer: Option<&str>) -> (u16, Option<String>, String) {
    let mut req = agent().get(&format!("{}{path}", server.url));
    if let Some(token) = bearer {
        req = req.header("Authorization", &format!("Bearer {token}"));
    }
    let mut resp = req.call().expect("GET");
    let csp = resp.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (resp.status().as_u16(), csp, resp.body_mut().read_to_string().expect("body"))
}

fn get_json(server: &TestServer, path: &str) -> (u16, Value) {
    let (status, _, text) = get(server, path, None);
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Validates `doc` with Python's openapi-spec-validator (installed by scripts/test.sh);
/// `false` when it is not installed outside CI.
fn python_validates(doc: &Value, dir: &std::path::Path) -> bool {
    let has = Command::new("python3").args(["-c", "import openapi_spec_validator"]).status();
    if !has.is_ok_and(|s| s.success()) {
        assert!(!is_ci(), "CI=true but Python's openapi-spec-validator is missing: run scripts/test.sh");
        eprintln!("openapi-spec-validator not installed; skipping the external validation (it fails under CI=true)");
        return false;
    }
    let file = dir.join("openapi.json");
    std::fs::write(&file, doc.to_string()).expect("write document");
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys\nfrom openapi_spec_validator import validate\nvalidate(json.load(open(sys.argv[1])))",
        ])
        .arg(&file)
        .output()
        .expect("run python3");
    assert!(out.status.success(), "the document does not validate:\n{}", String::from_utf8_lossy(&out.stderr));
    true
}

/// Acceptance 4: `/openapi.json` validates as OpenAPI 3.1, lists every route the router
/// serves (from the same tables), and everything it lists is really routed.
#[test]
fn openapi_document_validates_and_lists_exactly_the_served_routes() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let (status, doc) = get_json(&server, "/openapi.json");
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    python_validates(&doc, server.dir.path());

    let documented: BTreeSet<String> = doc["paths"].as_object().expect("paths").keys().cloned().collect();
    let served: BTreeSet<String> = twofold_server::served_paths().into_iter().collect();
    assert_eq!(documented, served, "documented and served paths differ");
    for kind in twofold_core::activities::KINDS {
        let op = &doc["paths"][format!("/public/v1/submit/{}", kind.path)]["post"];
        let body = &op["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(body["properties"]["type"]["enum"][0], kind.versions[0].type_name);
        let intent = body["properties"]["parameters"]["$ref"].as_str().expect("intent $ref");
        let name = intent.trim_start_matches("#/components/schemas/");
        let mut schema = &doc["components"]["schemas"][name];
        // Two intents of one shape (enable and update the auth proxy) name the shared schema.
        if let Some(shared) = schema["$ref"].as_str() {
            schema = &doc["components"]["schemas"][shared.trim_start_matches("#/components/schemas/")];
        }
        // An empty intent (DISABLE_AUTH_PROXY) is an object schema without properties.
        assert!(schema["properties"].is_object() || schema["type"] == "object", "{} has no intent schema", kind.path);
    }
    for query in twofold_core::query_paths() {
        assert!(doc["paths"][format!("/public/v1/query/{query}")]["post"].is_object(), "{query}");
    }

    // Everything documented is routed: GETs answer 200, API calls reach the engine (no 404/405).
    for (path, item) in doc["paths"].as_object().expect("paths") {
        if item.get("get").is_some() {
            let (status, _, _) = get(&server, path, None);
            assert_eq!(status, 200, "GET {path}");
        }
        if item.get("post").is_some() {
            let resp = agent()
                .post(&format!("{}{path}", server.url))
                .header("Content-Type", "application/json")
                .send("{}")
                .expect("POST");
            let status = resp.status().as_u16();
            assert!(status == 400 || status == 401, "POST {path} without a stamp answered {status}");
        }
    }
    // A stamped `{}` reaches every listed query's handler: it answers, or names what the body
    // lacks (a listed query without a handler would answer 404, and a stamp refused 401).
    let root = server.root_client();
    for query in twofold_core::query_paths() {
        let resp = root.post_raw(&format!("/public/v1/query/{query}"), b"{}").expect("sent");
        assert!(resp.status == 200 || resp.status == 400, "stamped {{}} to {query}: {} {}", resp.status, resp.body);
    }

    // The browsable page: self-hosted, strict CSP, no inline script.
    let (status, csp, html) = get(&server, "/docs", None);
    assert_eq!(status, 200);
    assert!(csp.is_some_and(|c| c.contains("script-src 'self'")), "the docs page carries the console's CSP");
    assert!(html.contains(r#"<script type="module" src="/docs/docs.js"></script>"#), "{html}");
    assert_eq!(html.matches("<script").count(), 1, "no inline script: {html}");
    assert!(!html.contains("http://") && !html.contains("https://"), "nothing from a CDN");
}

/// The value of the sample whose line starts with `series` (name and labels), if any.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
}

/// Acceptance 4: `/metrics` needs the configured token and counts requests by endpoint and
/// status with latency, activity outcomes, OTP sends, lockouts (429) and webhook deliveries.
#[test]
fn metrics_count_requests_activities_otp_lockouts_and_deliveries() {
    let token_dir = tempfile::tempdir().expect("tempdir");
    let token_file = token_dir.path().join("metrics-token");
    let token = "a-metrics-token-of-some-length";
    std::fs::write(&token_file, format!("{token}\n")).expect("token file");
    let token_arg = token_file.display().to_string();
    let server = TestServer::start(
        BIN,
        Backend::Sqlite,
        &["--metrics-token-file", &token_arg, "--otp-sends-per-contact-per-hour", "1", "--webhook-allow-private"],
    );
    assert_eq!(get(&server, "/metrics", None).0, 401, "no token");
    assert_eq!(get(&server, "/metrics", Some("wrong-token-wrong-token")).0, 401, "wrong token");

    let root = server.root_client();
    completed(
        root.submit("create_webhook_endpoint", json!({ "url": "http://127.0.0.1:9/hook", "name": "void" })),
        "createWebhookEndpointResult",
    );
    completed(
        root.submit("create_users", json!({ "users": [{ "userName": "mia", "userTags": [] }] })),
        "createUsersResult",
    );
    let otp = |app: &str| {
        root.submit("init_otp", json!({ "otpType": "OTP_TYPE_EMAIL", "contact": "mia@example.com", "appName": app }))
            .expect("sent")
    };
    assert_eq!(otp("first").status, 200);
    // The organization's own (authenticated) sends are limited per contact, never per client address.
    assert_eq!(otp("second").status, 429, "one INIT_OTP per contact and hour");

    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let (status, _, text) = get(&server, "/metrics", Some(token));
        assert_eq!(status, 200);
        let delivered = sample(&text, r#"twofold_outbox_deliveries_total{kind="webhook",outcome="unreachable"}"#);
        if delivered.is_some() || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let expect = |series: &str, at_least: f64| {
        let got = sample(&text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
        assert!(got >= at_least, "{series} = {got}, expected at least {at_least}");
    };
    expect(r#"twofold_http_requests_total{endpoint="/public/v1/submit/create_users",method="POST",status="200"}"#, 1.0);
    expect(r#"twofold_http_requests_total{endpoint="/metrics",method="GET",status="401"}"#, 2.0);
    expect(r#"twofold_http_request_duration_seconds_count{endpoint="/public/v1/submit/create_users"}"#, 1.0);
    expect(r#"twofold_activities_total{type="ACTIVITY_TYPE_CREATE_USERS_V4",status="ACTIVITY_STATUS_COMPLETED"}"#, 1.0);
    expect(r#"twofold_otp_total{kind="send",outcome="sent"}"#, 1.0);
    expect(r#"twofold_otp_total{kind="send",outcome="refused"}"#, 1.0);
    expect(r#"twofold_lockouts_total{endpoint="/public/v1/submit/init_otp"}"#, 1.0);
    expect(r#"twofold_outbox_deliveries_total{kind="webhook",outcome="unreachable"}"#, 1.0);
    assert!(text.trim_end().ends_with("# EOF"), "OpenMetrics text");
}

/// Acceptance 4: `/readyz` is 503 while a remote enclave is down, `/healthz` stays 200.
#[test]
fn readyz_fails_while_the_remote_enclave_is_down() {
    let enclave = TestEnclave::start(BIN, &[]);
    let socket = enclave.socket.display().to_string();
    let server = TestServer::start(BIN, Backend::Sqlite, &["--enclave", &socket]);
    let (status, body) = get_json(&server, "/readyz");
    assert_eq!((status, &body["database"], &body["enclave"]), (200, &json!("ok"), &json!("ok")), "{body}");
    drop(enclave);
    let (status, body) = get_json(&server, "/readyz");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["enclave"], "unreachable");
    assert_eq!(body["database"], "ok");
    assert_eq!(get_json(&server, "/healthz"), (200, json!({ "status": "ok" })));
}

/// Acceptance 4: `/readyz` is 503 once the server's database is gone (PostgreSQL; under
/// CI=true a missing PostgreSQL fails the test).
#[test]
fn readyz_fails_when_the_database_is_unreachable() {
    if !postgres_available() {
        return;
    }
    let server = TestServer::start(BIN, Backend::Postgres, &[]);
    assert_eq!(get_json(&server, "/readyz").0, 200);
    let TestDb::Postgres { name, .. } = &server.db else { panic!("a PostgreSQL database") };
    let drop_db = format!("DROP DATABASE {name} WITH (FORCE)");
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(async {
        use sqlx::{Connection, Executor};
        let mut admin = sqlx::PgConnection::connect(twofold_testkit::PG_ADMIN_URL).await.expect("admin connection");
        admin.execute(sqlx::AssertSqlSafe(drop_db)).await.expect("drop the server's database");
    });
    let (status, body) = get_json(&server, "/readyz");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["database"], "unreachable");
    assert_eq!(get_json(&server, "/healthz").0, 200, "the process itself is up");
}

/// `--log-format json`: every line is a JSON object, and a request's lines carry the
/// request id its response's `X-Request-Id` header names.
#[test]
fn json_log_lines_carry_the_request_id_of_the_response() {
    let server = TestServer::start(BIN, Backend::Sqlite, &["--log-format", "json", "--log", "info,tower_http=debug"]);
    let resp = server.root_client().query("get_whoami", json!({})).expect("sent");
    assert_eq!(resp.status, 200);
    let id = resp.header("x-request-id").expect("X-Request-Id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = server.log();
        for line in log.lines().filter(|l| !l.trim().is_empty()) {
            let _: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        }
        let found = log.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).any(|v| {
            v["span"]["request_id"] == id.as_str()
                && v["span"]["path"] == "/public/v1/query/get_whoami"
                && v["fields"]["status"] == 200
        });
        if found {
            break;
        }
        assert!(Instant::now() < deadline, "no JSON line with request_id {id} and status 200 in:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGTERM while a request is in flight: the request still completes with 200, then the
/// process exits 0.
#[test]
fn sigterm_finishes_in_flight_requests_then_exits_zero() {
    let mut server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let body = json!({ "organizationId": root.organization_id() }).to_string();
    let stamp = root.key().stamp(body.as_bytes());
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    write!(
        stream,
        "POST /public/v1/query/get_whoami HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nX-Stamp: {stamp}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .expect("headers");
    let (head, tail) = body.as_bytes().split_at(body.len() / 2);
    stream.write_all(head).expect("first half");
    stream.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(300));

    let stopper = std::thread::spawn(move || {
        let status = server.terminate(Duration::from_secs(30));
        (status, server.log())
    });
    std::thread::sleep(Duration::from_millis(500));
    stream.write_all(tail).expect("second half after SIGTERM");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("response");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"username\":\"root\""), "{answer}");
    let (status, log) = stopper.join().expect("stopper");
    assert!(status.is_some_and(|s| s.success()), "exit status {status:?}; log:\n{log}");
    assert!(log.contains("finishing in-flight requests"), "{log}");
}

fn twofold(args: &[&str], server: &TestServer) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .args(["--database-url", server.db.url()])
        .arg("--data-dir")
        .arg(server.data_dir())
        .env_remove("TWOFOLD_CONFIG")
        .output()
        .expect("run twofold")
}

fn user_names(server: &TestServer) -> Vec<String> {
    let users = server.root_client().query("list_users", json!({})).expect("sent").body;
    users["users"].as_array().expect("users").iter().map(|u| u["userName"].as_str().expect("name").to_owned()).collect()
}

/// `twofold backup` while the server runs, a later change, `twofold restore` (refused
/// while the server runs): the change is gone, earlier data is there, the audit chain verifies.
#[test]
fn backup_and_restore_undo_later_changes_and_the_audit_chain_verifies() {
    let mut server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let create = |name: &str| {
        completed(
            root.submit("create_users", json!({ "users": [{ "userName": name, "userTags": [] }] })),
            "createUsersResult",
        )
    };
    create("kept");
    let snapshot = server.dir.path().join("snapshot.db");
    let snapshot_arg = snapshot.display().to_string();
    let out = twofold(&["backup", "--out", &snapshot_arg], &server);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("secrets key"), "says the secrets key is needed too");
    let again = twofold(&["backup", "--out", &snapshot_arg], &server);
    assert_eq!(again.status.code(), Some(2), "an existing file is never overwritten");
    create("lost");
    assert!(user_names(&server).contains(&"lost".to_owned()));

    let refused = twofold(&["restore", "--from", &snapshot_arg], &server);
    assert_eq!(refused.status.code(), Some(2), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("running twofold server"));

    let status = server.terminate(Duration::from_secs(30)).expect("the server stops");
    assert!(status.success(), "{status:?}");
    let out = twofold(&["restore", "--from", &snapshot_arg], &server);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    server.restart();
    let names = user_names(&server);
    assert!(names.contains(&"kept".to_owned()), "{names:?}");
    assert!(!names.contains(&"lost".to_owned()), "the change after the backup is gone: {names:?}");
    let verify = twofold(&["audit", "verify"], &server);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("audit log verified"));
}
