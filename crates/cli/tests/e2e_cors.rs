//! CORS for the public API (issue 19): a browser page of another origin calls
//! `/public/v1/*` the way Turnkey's SDKs do — a preflight, then a stamped POST with
//! `Content-Type`, `X-Stamp` and `X-Client-Version` — only when its organization (or the
//! organization's parent) lists the page's origin in `allowedOrigins`. Refused origins are
//! told nothing and change nothing; no answer allows credentials. SQLite and PostgreSQL.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

use serde_json::{Value, json};
use support::sub_org;
use twofold_client::{ApiResponse, Client};
use twofold_testkit::{Backend, TestServer, completed, ok, on_every_backend};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");
const APP: &str = "https://app.example.com";

/// What `OPTIONS` answered: status and the CORS headers.
struct Preflight {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Preflight {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// The preflight Chromium sends before @turnkey/core's stamped POST to `path`.
fn preflight(server: &TestServer, path: &str, origin: &str, headers: &str) -> Preflight {
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let resp = agent
        .options(&format!("{}{path}", server.url))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", headers)
        .call()
        .expect("sent");
    let headers = resp
        .headers()
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_owned(), v.to_owned())))
        .collect();
    Preflight { status: resp.status().as_u16(), headers }
}

/// `body` posted to `path` by a page at `origin`, stamped by `client` as the SDK stamps it.
fn from_page(client: &Client, path: &str, body: &Value, origin: &str) -> ApiResponse {
    let body = body.to_string();
    let headers = [
        ("Origin", origin.to_owned()),
        ("X-Client-Version", "@turnkey/core@2.8.1".to_owned()),
        ("X-Stamp", client.key().stamp(body.as_bytes())),
    ];
    client.post_with_headers(path, body.as_bytes(), &headers).expect("sent")
}

fn whoami(client: &Client, origin: &str) -> ApiResponse {
    let body = json!({ "organizationId": client.organization_id() });
    from_page(client, "/public/v1/query/whoami", &body, origin)
}

fn policy_count(root: &Client) -> usize {
    ok(root.query("list_policies", json!({})))["policies"].as_array().expect("policies").len()
}

fn allow_origins(root: &Client, origins: &[&str]) {
    completed(
        root.submit("update_auth_proxy_config", json!({ "allowedOrigins": origins })),
        "updateAuthProxyConfigResult",
    );
}

fn public_api_answers_only_pages_of_allowed_origins(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let sdk_headers = "content-type,x-client-version,x-stamp";

    // No organization lists the app yet: the preflight tells it nothing, and a stamped
    // request sent anyway (not by a browser) is refused before it changes anything.
    let before = preflight(&server, "/public/v1/query/whoami", APP, sdk_headers);
    assert_eq!(before.status, 204);
    assert_eq!(before.header("access-control-allow-origin"), None, "an unlisted origin learns nothing");
    assert_eq!(before.header("access-control-allow-headers"), None);
    let policies = policy_count(&root);
    let create_policy = root
        .submit_body(
            "create_policy",
            json!({ "parameters": { "policyName": "from a page", "effect": "EFFECT_ALLOW", "condition": "true",
                                    "consensus": "true", "notes": "" } }),
        )
        .expect("body");
    let refused = from_page(&root, "/public/v1/submit/create_policy", &create_policy, APP);
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body["message"].as_str().is_some_and(|m| m.contains("allowedOrigins")), "{}", refused.body);
    assert_eq!(refused.header("access-control-allow-origin"), None, "the page may not read the refusal");
    assert_eq!(policy_count(&root), policies, "nothing was stored");

    completed(root.submit("enable_auth_proxy", json!({ "allowedOrigins": [APP] })), "enableAuthProxyResult");
    let policies = policy_count(&root); // with the proxy's own
    for path in ["/public/v1/query/whoami", "/public/v1/submit/create_policy"] {
        let listed = preflight(&server, path, APP, sdk_headers);
        assert_eq!(listed.status, 204);
        assert_eq!(listed.header("access-control-allow-origin"), Some(APP), "{path}");
        assert_eq!(listed.header("access-control-allow-methods"), Some("POST"));
        let allowed = listed.header("access-control-allow-headers").expect("allowed headers");
        for header in ["content-type", "x-client-version", "x-stamp", "x-stamp-webauthn", "x-stamp-attested"] {
            assert!(allowed.split(", ").any(|h| h == header), "{header} in `{allowed}`");
        }
        assert_eq!(listed.header("access-control-allow-credentials"), None, "no cookies anywhere");
        assert!(listed.header("vary").is_some_and(|v| v.to_ascii_lowercase().contains("origin")));
    }
    let evil = preflight(&server, "/public/v1/query/whoami", "https://app.example.com.evil.example", sdk_headers);
    assert_eq!(evil.header("access-control-allow-origin"), None);
    assert_eq!(
        preflight(&server, "/public/v1/query/whoami", "null", sdk_headers).header("access-control-allow-origin"),
        None
    );

    // The listed page reads answers and errors alike (the SDK maps error texts).
    let me = whoami(&root, "https://App.Example.com");
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.header("access-control-allow-origin"), Some("https://App.Example.com"));
    assert_eq!(me.header("access-control-allow-credentials"), None);
    let done = from_page(&root, "/public/v1/submit/create_policy", &create_policy, APP);
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.header("access-control-allow-origin"), Some(APP));
    assert_eq!(policy_count(&root), policies + 1);
    let body = json!({ "organizationId": root.organization_id() }).to_string();
    let unstamped = root
        .post_with_headers("/public/v1/query/whoami", body.as_bytes(), &[("Origin", APP.to_owned())])
        .expect("sent");
    assert_eq!(unstamped.status, 401, "{}", unstamped.body);
    assert_eq!(unstamped.header("access-control-allow-origin"), Some(APP), "errors are readable too");

    // A sub-organization's users (signed up through the app) call from the parent's origins.
    let (_, _, customer) = sub_org(&server, &root, "customer");
    let theirs = whoami(&customer, APP);
    assert_eq!(theirs.status, 200, "{}", theirs.body);
    assert_eq!(theirs.header("access-control-allow-origin"), Some(APP));
    for other in
        ["https://app.example.com.evil.example", "http://app.example.com", "null", "https://app.example.com:8443"]
    {
        let refused = whoami(&customer, other);
        assert_eq!(refused.status, 403, "{other}: {}", refused.body);
        assert_eq!(refused.header("access-control-allow-origin"), None, "{other}");
    }
    // Clients that are not browsers, and the server's own pages, need no entry.
    assert_eq!(ok(customer.query("whoami", json!({})))["organizationId"], customer.organization_id());
    let own_origin = server.url.replace("127.0.0.1", "localhost");
    let own = whoami(&root, &own_origin);
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(
        own.header("access-control-allow-origin"),
        Some(own_origin.as_str()),
        "its own pages, on any of its origins"
    );
    let own_preflight = preflight(&server, "/public/v1/query/whoami", &own_origin, sdk_headers);
    assert_eq!(own_preflight.header("access-control-allow-origin"), Some(own_origin.as_str()));

    // The list moves: a removed origin is refused at once, on the preflight and the request.
    allow_origins(&root, &["https://other.example"]);
    assert_eq!(
        preflight(&server, "/public/v1/query/whoami", APP, sdk_headers).header("access-control-allow-origin"),
        None
    );
    assert_eq!(whoami(&customer, APP).status, 403);
    assert_eq!(whoami(&customer, "https://other.example").status, 200);
    completed(root.submit("disable_auth_proxy", json!({})), "disableAuthProxyResult");
    let gone = preflight(&server, "/public/v1/query/whoami", "https://other.example", sdk_headers);
    assert_eq!(gone.header("access-control-allow-origin"), None, "disabling the proxy drops its origins");
    assert_eq!(whoami(&root, "https://other.example").status, 403);
}

on_every_backend!(
    public_api_answers_only_pages_of_allowed_origins_sqlite,
    public_api_answers_only_pages_of_allowed_origins_postgres,
    public_api_answers_only_pages_of_allowed_origins
);

/// An `Origin` that is not text is refused, not taken for "no Origin".
#[test]
fn an_origin_that_is_not_text_is_refused() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let body = json!({ "organizationId": root.organization_id() }).to_string();
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let resp = agent
        .post(&format!("{}/public/v1/query/whoami", server.url))
        .header("Content-Type", "application/json")
        .header("X-Stamp", root.key().stamp(body.as_bytes()))
        .header("Origin", axum_free_opaque_header())
        .send(body.as_bytes())
        .expect("sent");
    assert_eq!(resp.status().as_u16(), 403);
}

/// A header value with a byte outside visible ASCII.
fn axum_free_opaque_header() -> ureq::http::HeaderValue {
    ureq::http::HeaderValue::from_bytes(b"https://caf\xe9.example").expect("opaque header value")
}
