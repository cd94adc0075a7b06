//! End-to-end: the HTTP edge holds against a client with no credentials (issue 17 items 2,
//! 5, 6, 8, 9, 10) and stamps bind to their endpoint (issue 16 item 7), against the real
//! binary over HTTP: made-up methods and paths add no metrics series; trickled headers,
//! bodies and idle connections are closed; forwarding chains are read in full from the
//! right; the auth proxy's own-page rule compares full origins; every JSON, HTML and script
//! answer carries its security headers; control characters never reach the proxy's
//! settings; a body stamped for a submit endpoint is refused at a query.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::metrics;
use twofold_client::{ApiResponse, Client};
use twofold_testkit::{Backend, TestServer, completed, ok, user_with_key};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

fn port(server: &TestServer) -> u16 {
    server.url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port")
}

fn connect(server: &TestServer) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port(server))).expect("connect")
}

/// Sends `request` as is on a fresh connection and reads the answer until the server closes.
fn raw(server: &TestServer, request: &[u8]) -> String {
    let mut stream = connect(server);
    stream.write_all(request).expect("write");
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status code of a raw HTTP answer.
fn status_of(answer: &str) -> u16 {
    answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// The value of header `name` in a raw HTTP answer.
fn header_of<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let head = answer.split("\r\n\r\n").next().unwrap_or("");
    head.lines().skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().new_agent()
}

/// The resident memory of `server`'s process, in KiB (found by its data directory in
/// /proc); `None` where /proc is not there.
fn rss_kib(server: &TestServer) -> Option<u64> {
    let dir = server.data_dir().display().to_string();
    std::fs::read_dir("/proc").ok()?.filter_map(Result::ok).find_map(|entry| {
        let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
        String::from_utf8_lossy(&cmdline).contains(&dir).then_some(())?;
        let status = std::fs::read_to_string(entry.path().join("status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    })
}

fn request_series(text: &str) -> usize {
    text.lines().filter(|l| l.starts_with("twofold_http_requests_total{")).count()
}

/// Issue 17 item 2: HTTP lets a method be any token and a path be anything; neither may
/// add a series to `/metrics`, however many distinct ones arrive.
#[test]
fn made_up_methods_and_unknown_paths_add_no_metrics_series() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let send = |method: &str, path: &str| {
        raw(&server, format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
    };
    // One of each kind first, so the series they share exist before the count.
    assert_ne!(status_of(&send("WARMUP", "/healthz")), 0);
    send("GET", "/nowhere/warmup");
    send("POST", "/public/v1/submit/warmup");
    send("POST", "/public/v1/query/warmup");
    metrics(&server);
    let before = metrics(&server);
    let rss_before = rss_kib(&server);
    let started = Instant::now();
    for i in 0..1500 {
        let token = format!("M{i}{}", "X".repeat(1000));
        send(&token, "/healthz");
        send("GET", &format!("/nowhere/{i}/{}", "p".repeat(200)));
        if i % 3 == 0 {
            send("POST", &format!("/public/v1/submit/made_up_{i}"));
            send("POST", &format!("/public/v1/query/made_up_{i}"));
        }
    }
    let after = metrics(&server);
    let rss_after = rss_kib(&server);
    eprintln!(
        "4000 hostile requests in {:?}; /metrics {} -> {} bytes; RSS {rss_before:?} -> {rss_after:?} KiB",
        started.elapsed(),
        before.len(),
        after.len()
    );
    if let (Some(b), Some(a)) = (rss_before, rss_after) {
        assert!(a < b + 16 * 1024, "memory stays flat: {b} -> {a} KiB");
    }
    assert_eq!(request_series(&after), request_series(&before), "no new series:\n{after}");
    assert!(after.contains(r#"method="other""#), "made-up methods are counted as other:\n{after}");
    assert!(!after.contains("M1XXX"), "no method token is a label");
    assert!(after.len() < before.len() + 4096, "the text did not grow: {} -> {}", before.len(), after.len());
}

/// Reads from `stream` (writing one byte of `trickle` every 400 ms, if given) until the
/// server closes it; the time that took, or `None` if it was still open after `limit`.
/// Answer bytes read on the way are returned too.
fn closed_within(stream: &mut TcpStream, trickle: Option<&[u8]>, limit: Duration) -> (Option<Duration>, String) {
    let started = Instant::now();
    stream.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
    let mut seen = Vec::new();
    let mut next_byte = 0;
    let mut last_write = Instant::now();
    while started.elapsed() < limit {
        if let Some(bytes) = trickle
            && last_write.elapsed() >= Duration::from_millis(400)
        {
            let byte = bytes[next_byte % bytes.len()];
            next_byte += 1;
            last_write = Instant::now();
            if stream.write_all(&[byte]).is_err() {
                return (Some(started.elapsed()), String::from_utf8_lossy(&seen).into_owned());
            }
        }
        let mut buf = [0u8; 4096];
        match stream.read(&mut buf) {
            Ok(0) => return (Some(started.elapsed()), String::from_utf8_lossy(&seen).into_owned()),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return (Some(started.elapsed()), String::from_utf8_lossy(&seen).into_owned()),
        }
    }
    (None, String::from_utf8_lossy(&seen).into_owned())
}

/// Issue 17 item 5: a connection that trickles its headers, trickles its body, or sends
/// nothing is closed once its timeout passes; normal requests, also several on one kept-alive
/// connection, are answered.
#[test]
fn connections_trickling_headers_or_bodies_or_idle_are_closed_after_their_timeout() {
    let server = TestServer::start(
        BIN,
        Backend::Sqlite,
        &["--http-header-timeout-secs", "2", "--http-body-timeout-secs", "2", "--http-idle-timeout-secs", "3"],
    );
    let limit = Duration::from_secs(12);

    // Headers, one byte every 400 ms, never finished.
    let mut headers = connect(&server);
    headers.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").expect("write");
    let (closed, _) = closed_within(&mut headers, Some(b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), limit);
    let took = closed.expect("a connection trickling its headers is closed");
    assert!(took >= Duration::from_millis(1500) && took < Duration::from_secs(6), "closed after {took:?}");

    // A body, one byte every 400 ms, of a declared 1000.
    let root = server.root_client();
    let body = root.query_body(json!({})).expect("body").to_string();
    let mut slow_body = connect(&server);
    let head = format!(
        "POST /public/v1/query/get_whoami HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Stamp: {}\r\n\
         Content-Length: 1000\r\n\r\n",
        root.key().stamp(body.as_bytes())
    );
    slow_body.write_all(head.as_bytes()).expect("write");
    let (closed, answer) = closed_within(&mut slow_body, Some(b"{"), limit);
    let took = closed.expect("a connection trickling its body is closed");
    assert!(took < Duration::from_secs(6), "closed after {took:?}");
    assert_eq!(status_of(&answer), 408, "told why: {answer}");

    // Nothing at all after connecting.
    let mut idle = connect(&server);
    let (closed, answer) = closed_within(&mut idle, None, limit);
    let took = closed.expect("an idle connection is closed");
    assert!(took >= Duration::from_millis(2500) && took < Duration::from_secs(7), "closed after {took:?}");
    assert!(answer.is_empty(), "{answer}");

    // Normal requests: two on one kept-alive connection, then a stamped query.
    let mut kept = connect(&server);
    kept.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    for _ in 0..2 {
        kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
        let mut buf = [0u8; 2048];
        let n = kept.read(&mut buf).expect("answer");
        let text = String::from_utf8_lossy(&buf[..n]);
        assert_eq!(status_of(&text), 200, "{text}");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(ok(root.query("get_whoami", json!({})))["organizationId"], root.organization_id());
}

/// A stamped `get_whoami` from `client`, written byte for byte with the given forwarding
/// header lines (each its own line, as the proxy on 127.0.0.1 would pass them); its status.
fn whoami_via(server: &TestServer, client: &Client, forwarding: &[(&str, &str)]) -> u16 {
    let body = client.query_body(json!({})).expect("body").to_string();
    let mut request = format!(
        "POST /public/v1/query/get_whoami HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\nX-Stamp: {}\r\n",
        body.len(),
        client.key().stamp(body.as_bytes())
    );
    for (name, value) in forwarding {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    status_of(&raw(server, request.as_bytes()))
}

/// Submits an activity as if from `ip` behind the trusted proxy.
fn submit_from(client: &Client, ip: &str, name: &str, params: Value) -> ApiResponse {
    let body = client.submit_body(name, json!({ "parameters": params })).expect("body").to_string();
    let headers = [("X-Stamp", client.key().stamp(body.as_bytes())), ("X-Forwarded-For", ip.to_owned())];
    client.post_with_headers(&format!("/public/v1/submit/{name}"), body.as_bytes(), &headers).expect("sent")
}

/// Issue 17 item 6: behind a trusted proxy, every `X-Forwarded-For` line counts and the
/// chain is walked from the right, so a line the client sent before the proxy's cannot pass
/// an allow list; RFC 7239 `Forwarded` is read the same way; an unparseable hop is the
/// client (never "unknown address", which `onEvaluationError: ALLOW` would let through).
#[test]
fn forwarding_chains_are_read_in_full_from_the_right_and_garbage_hops_do_not_pass() {
    let server = TestServer::start(BIN, Backend::Sqlite, &["--trusted-proxies", "127.0.0.1/32"]);
    let root = server.root_client();
    let office = json!({ "rules": [{ "cidr": "10.0.0.0/8" }], "onEvaluationError": "ALLOW" });
    let saved = submit_from(&root, "10.0.0.5", "set_ip_allowlist", office);
    assert_eq!(saved.body["activity"]["status"], "ACTIVITY_STATUS_COMPLETED", "{}", saved.body);

    assert_eq!(whoami_via(&server, &root, &[("X-Forwarded-For", "10.0.0.9")]), 200, "inside the allow list");
    // The client's own line first, the proxy's (naming the real client) second.
    let spoofed = whoami_via(&server, &root, &[("X-Forwarded-For", "10.1.1.1"), ("X-Forwarded-For", "203.0.113.7")]);
    assert_eq!(spoofed, 403, "a client line before the proxy's is not the client");
    let in_one_line = whoami_via(&server, &root, &[("X-Forwarded-For", "10.1.1.1, 203.0.113.7")]);
    assert_eq!(in_one_line, 403);
    // An unparseable hop where the client should be: refused, although onEvaluationError is ALLOW.
    for garbage in ["unknown", "203.0.113.7, unknown", "not an address", "10.0.0.9,,"] {
        let resp = whoami_via(&server, &root, &[("X-Forwarded-For", garbage)]);
        assert_eq!(resp, 403, "`{garbage}`");
    }
    // RFC 7239.
    assert_eq!(whoami_via(&server, &root, &[("Forwarded", "for=10.2.2.2;proto=https")]), 200);
    assert_eq!(whoami_via(&server, &root, &[("Forwarded", "for=10.1.1.1"), ("Forwarded", "for=203.0.113.7")]), 403);
    assert_eq!(whoami_via(&server, &root, &[("Forwarded", "for=unknown")]), 403);
    assert_eq!(whoami_via(&server, &root, &[("Forwarded", "for=\"[2001:db8::1]:443\"")]), 403);
    // Both kinds disagreeing: neither is believed.
    let both = whoami_via(&server, &root, &[("X-Forwarded-For", "10.3.3.3"), ("Forwarded", "for=203.0.113.7")]);
    assert_eq!(both, 403, "neither is believed");
    let agreeing = whoami_via(&server, &root, &[("X-Forwarded-For", "10.3.3.3"), ("Forwarded", "for=10.3.3.3")]);
    assert_eq!(agreeing, 200);
}

/// Issue 17 item 6: clients whose hop a proxy reports as `unknown` share one address for
/// per-address limits; they do not escape them.
#[test]
fn an_unknown_forwarding_hop_does_not_escape_per_address_otp_limits() {
    let server = TestServer::start(
        BIN,
        Backend::Sqlite,
        &["--trusted-proxies", "127.0.0.1/32", "--otp-inits-per-ip-per-minute", "3"],
    );
    let root = server.root_client();
    completed(root.submit("enable_auth_proxy", json!({})), "enableAuthProxyResult");
    let statuses: Vec<u16> = (0..6)
        .map(|i| {
            let body = json!({ "organizationId": root.organization_id(), "contact": format!("u{i}@example.com") });
            root.post_with_headers(
                "/auth-proxy/v1/otp_init",
                body.to_string().as_bytes(),
                &[("X-Forwarded-For", "unknown".to_owned())],
            )
            .expect("sent")
            .status
        })
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429], "the limit of 3 per address holds");
}

fn proxy_from(server: &TestServer, root: &Client, host: &str, origin: &[u8]) -> String {
    let body = json!({ "organizationId": root.organization_id(), "contact": "ann@example.com" }).to_string();
    let mut request = format!(
        "POST /auth-proxy/v1/otp_init HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\nOrigin: ",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(origin);
    request.extend_from_slice(b"\r\n\r\n");
    request.extend_from_slice(body.as_bytes());
    raw(server, &request)
}

fn outbox_len(server: &TestServer) -> usize {
    twofold_enclave::Outbox::list(&server.data_dir().join("outbox")).expect("outbox").len()
}

/// Issue 17 item 8: the auth proxy's "own page" is the server's configured public origin
/// (here the default, `http://localhost` on any port), compared in full; `Host` does not
/// count (a DNS-rebinding page sets it), the scheme does, and an Origin that is not text
/// is refused rather than taken for none. Allowed pages may read the enclave keys.
#[test]
fn the_auth_proxy_own_page_rule_compares_full_origins_and_fails_closed() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    completed(root.submit("enable_auth_proxy", json!({})), "enableAuthProxyResult");
    let p = port(&server);
    let sent = outbox_len(&server);

    let rebinding = proxy_from(&server, &root, &format!("evil.test:{p}"), format!("http://evil.test:{p}").as_bytes());
    assert_eq!(status_of(&rebinding), 403, "Host equal to Origin is no own page: {rebinding}");
    assert!(rebinding.contains("allowedOrigins"), "{rebinding}");
    assert_eq!(header_of(&rebinding, "access-control-allow-origin"), None);
    let wrong_scheme =
        proxy_from(&server, &root, &format!("localhost:{p}"), format!("https://localhost:{p}").as_bytes());
    assert_eq!(status_of(&wrong_scheme), 403, "the scheme is part of the origin: {wrong_scheme}");
    let not_text = proxy_from(&server, &root, &format!("localhost:{p}"), b"http://ex\xc3\xa4mple.test");
    assert_eq!(status_of(&not_text), 403, "a non-ASCII Origin is refused: {not_text}");
    assert_eq!(outbox_len(&server), sent, "refused pages sent nothing");

    let own = proxy_from(&server, &root, &format!("localhost:{p}"), format!("http://localhost:{p}").as_bytes());
    assert_eq!(status_of(&own), 200, "the server's own page: {own}");
    let own_origin = format!("http://localhost:{p}");
    assert_eq!(header_of(&own, "access-control-allow-origin"), Some(own_origin.as_str()), "its own page reads it");
    assert_eq!(outbox_len(&server), sent + 1);

    // The enclave keys, for a page the organization allows (and only for it).
    let app = "https://app.example.com";
    completed(
        root.submit("update_auth_proxy_config", json!({ "allowedOrigins": [app] })),
        "updateAuthProxyConfigResult",
    );
    let keys = |origin: &str| {
        let url = format!("{}/auth-proxy/v1/enclave_keys?organizationId={}", server.url, root.organization_id());
        let resp = agent().get(&url).header("Origin", origin).call().expect("GET");
        let allow = resp.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()).map(str::to_owned);
        (resp.status().as_u16(), allow)
    };
    assert_eq!(keys(app), (200, Some(app.to_owned())), "an allowed page may read the keys it pins");
    assert_eq!(keys("https://other.example"), (200, None), "another page may not");
}

/// Issue 17 item 9: every route of the OpenAPI document, fetched as a browser would (GET) or
/// posted to without a stamp: JSON answers (errors too) say `nosniff` and `no-store`; HTML
/// pages and scripts carry a CSP that forbids framing, `X-Frame-Options` and `nosniff`.
#[test]
fn every_json_html_and_script_answer_carries_its_security_headers() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let text = agent()
        .get(&format!("{}/openapi.json", server.url))
        .call()
        .expect("GET")
        .body_mut()
        .read_to_string()
        .expect("document");
    let doc: Value = serde_json::from_str(&text).expect("JSON");
    let mut answers = Vec::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        if path.contains('{') {
            continue;
        }
        let url = format!("{}{path}", server.url);
        if ops.get("get").is_some() {
            answers.push((format!("GET {path}"), agent().get(&url).call().expect("GET")));
        }
        if ops.get("post").is_some() {
            let resp = agent().post(&url).header("Content-Type", "application/json").send("{}").expect("POST");
            answers.push((format!("POST {path}"), resp));
        }
    }
    // A completed activity's answer, and a route that does not exist.
    let body =
        root.submit_body("create_users", json!({ "parameters": { "users": [{ "userName": "hal", "userTags": [] }] } }));
    let body = body.expect("body").to_string();
    let created = agent()
        .post(&format!("{}/public/v1/submit/create_users", server.url))
        .header("X-Stamp", &root.key().stamp(body.as_bytes()))
        .send(&body)
        .expect("POST");
    answers.push(("POST create_users (stamped)".to_owned(), created));
    answers.push(("GET /nowhere".to_owned(), agent().get(&format!("{}/nowhere", server.url)).call().expect("GET")));

    let (mut json_answers, mut pages) = (0, 0);
    for (what, resp) in &answers {
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let media = header("content-type").split(';').next().unwrap_or("").trim().to_owned();
        assert_eq!(header("x-content-type-options"), "nosniff", "{what} ({media})");
        match media.as_str() {
            "application/json" => {
                json_answers += 1;
                assert_eq!(header("cache-control"), "no-store", "{what}");
            }
            "text/html" | "text/javascript" => {
                pages += 1;
                let csp = header("content-security-policy");
                assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{what}: {csp}");
                assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
                assert_eq!(header("x-frame-options"), "DENY", "{what}");
            }
            _ => {}
        }
    }
    for needle in ["GET /passkey", "GET /assets/webauthn.js", "GET /signin", "GET /docs"] {
        assert!(answers.iter().any(|(w, _)| w == needle), "{needle} was checked");
    }
    eprintln!("{} answers: {json_answers} JSON, {pages} HTML or script", answers.len());
    assert!(json_answers > 50 && pages > 10, "{json_answers} JSON answers, {pages} pages and scripts");
}

/// Issue 17 item 10: CR/LF (and the other controls, bidi controls) in the proxy's settings
/// are refused when written, naming the field; nothing is stored and the proxy keeps working.
#[test]
fn control_characters_in_auth_proxy_settings_are_refused_and_nothing_is_stored() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    completed(root.submit("enable_auth_proxy", json!({})), "enableAuthProxyResult");
    let before = server.db.data_and_audit_counts().0;
    for (field, value) in [
        ("appName", "Acme\r\nBcc: victim@example.com"),
        ("appName", "Acme\u{0}"),
        ("appName", "Acme\u{85}"),
        ("appName", "Acme \u{202E}moc.elgoog"),
        ("sendFromEmailSenderName", "Ops\nX-Injected: 1"),
        ("sendFromEmailSenderName", "Ops\u{2066}"),
    ] {
        let resp = root.submit("update_auth_proxy_config", json!({ field: value })).expect("sent");
        assert_eq!(resp.status, 400, "{field}={value:?}: {}", resp.body);
        let message = resp.body["message"].as_str().expect("message");
        assert!(message.contains(&format!("parameters.{field}")) && message.contains("control"), "{message}");
    }
    let enable = root.submit("enable_auth_proxy", json!({ "appName": "Evil\rCorp" })).expect("sent");
    assert_eq!(enable.status, 400, "{}", enable.body);
    assert_eq!(server.db.data_and_audit_counts().0, before, "nothing stored");
    let config = ok(root.query("get_auth_proxy_config", json!({})));
    assert!(!config.to_string().contains("Acme"), "{config}");
    let body = json!({ "organizationId": root.organization_id(), "contact": "ann@example.com" });
    let sent = root.post_with_headers("/auth-proxy/v1/otp_init", body.to_string().as_bytes(), &[]).expect("sent");
    assert_eq!(sent.status, 200, "the proxy still sends codes: {}", sent.body);
}

/// Issue 16 item 7: a body stamped for a submit endpoint (as `get_activity` shows votes to
/// every member) is not answered at a query, and a query refuses fields it does not have;
/// each refusal names the field.
#[test]
fn a_stamped_submit_body_replayed_at_a_query_is_refused() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let key = twofold_testkit::new_key();
    let body = root
        .submit_body("create_users", json!({ "parameters": { "users": [user_with_key("eve", &key)] } }))
        .expect("body")
        .to_string();
    let stamp = root.key().stamp(body.as_bytes());
    let submitted = root
        .post_with_headers("/public/v1/submit/create_users", body.as_bytes(), &[("X-Stamp", stamp.clone())])
        .expect("sent");
    assert_eq!(submitted.body["activity"]["status"], "ACTIVITY_STATUS_COMPLETED", "{}", submitted.body);
    for query in ["list_users", "list_audit_events", "get_whoami", "list_activities"] {
        let replayed = root
            .post_with_headers(&format!("/public/v1/query/{query}"), body.as_bytes(), &[("X-Stamp", stamp.clone())])
            .expect("sent");
        assert_eq!(replayed.status, 400, "{query}: {}", replayed.body);
        let message = replayed.body["message"].as_str().expect("message");
        assert!(message.contains("submit endpoint"), "{query}: {message}");
        assert!(replayed.body.get("users").is_none() && replayed.body.get("auditEvents").is_none());
    }
    let foreign = root.query("get_user", json!({ "userId": "x", "activityId": "y" })).expect("sent");
    assert_eq!(foreign.status, 400, "{}", foreign.body);
    assert!(foreign.body["message"].as_str().expect("message").contains("`activityId`"), "{}", foreign.body);
    assert!(ok(root.query("list_users", json!({})))["users"].as_array().is_some_and(|u| u.len() == 2));
}
