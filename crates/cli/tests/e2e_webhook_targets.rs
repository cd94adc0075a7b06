//! End-to-end, issue 17 item 12: webhook endpoints cannot make the server a scanner of its
//! own networks. By default a URL naming a loopback, link-local, private or unique-local
//! address (in any notation) is refused when the endpoint is created, a name that resolves
//! to one is refused when the event is delivered (the address is judged after DNS), and what
//! members read of a failed delivery says "unreachable" or "refused", nothing more.
//! `--webhook-allow-private` lets an operator use local receivers.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

use std::io::{Read, Write};
use std::net::{TcpListener, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use twofold_client::Client;
use twofold_testkit::{Backend, TestServer, completed, ok};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

/// A receiver on every interface that answers 200 and counts the requests it got.
fn receiver() -> (u16, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Mutex::new(0));
    let count = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 65536];
            let _ = stream.read(&mut buf);
            *count.lock().expect("lock") += 1;
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (port, seen)
}

/// This machine's host name, which resolves to a loopback or private address (checked).
fn own_host_name() -> String {
    let out = std::process::Command::new("hostname").output().expect("hostname runs");
    let name = String::from_utf8(out.stdout).expect("utf8").trim().to_owned();
    let addrs: Vec<_> = (name.as_str(), 80).to_socket_addrs().expect("the host name resolves").collect();
    assert!(
        !addrs.is_empty() && addrs.iter().all(|a| !twofold_core::webhook::is_public(a.ip())),
        "this test needs a host name resolving to a non-public address: {name} -> {addrs:?}"
    );
    name
}

/// Creates an endpoint for `url`.
fn create(root: &Client, url: &str) -> twofold_client::Result<twofold_client::ApiResponse> {
    root.submit("create_webhook_endpoint", json!({ "url": url, "name": "hook" }))
}

/// Runs one activity (which queues an event) and waits until endpoint `id`'s delivery has
/// been attempted; the delivery.
fn attempted(root: &Client, id: &str) -> Value {
    completed(
        root.submit("create_users", json!({ "users": [{ "userName": format!("u{}", uuid()), "userTags": [] }] })),
        "createUsersResult",
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = ok(root.query("list_webhook_deliveries", json!({ "endpointId": id, "limit": 10 })));
        if let Some(d) = log["deliveries"].as_array().and_then(|d| d.iter().find(|d| d["attempts"].as_i64() > Some(0)))
        {
            return d.clone();
        }
        assert!(Instant::now() < deadline, "no delivery attempted: {log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn uuid() -> String {
    format!("{:x}", twofold_testkit::real_now_ms())
}

#[test]
fn webhook_urls_naming_private_addresses_are_refused_at_creation() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let before = server.db.data_and_audit_counts().0;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://127.1/hook",
        "http://0x7f000001/hook",
        "http://2130706433/hook",
        "http://017700000001/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[::ffff:7f00:1]/hook",
        "http://localhost:8080/hook",
        "http://LocalHost./hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/hook",
        "http://10.0.0.1/hook",
        "http://172.16.5.4/hook",
        "http://192.168.1.1/hook",
        "http://[fd00::1]/hook",
        "http://0.0.0.0/hook",
    ] {
        let resp = create(&root, url).expect("sent");
        assert_eq!(resp.status, 400, "{url}: {}", resp.body);
        let message = resp.body["message"].as_str().expect("message");
        assert!(message.contains("parameters.url") && message.contains("private"), "{url}: {message}");
    }
    assert_eq!(server.db.data_and_audit_counts().0, before, "nothing stored");
    completed(create(&root, "https://hooks.example.com/twofold"), "createWebhookEndpointResult");
}

#[test]
fn a_name_resolving_to_a_private_address_is_refused_at_delivery() {
    let server = TestServer::start(BIN, Backend::Sqlite, &["--webhook-retry-base-ms", "100000"]);
    let root = server.root_client();
    let (port, seen) = receiver();
    let url = format!("http://{}:{port}/hook", own_host_name());
    let id =
        completed(create(&root, &url), "createWebhookEndpointResult")["endpointId"].as_str().expect("id").to_owned();
    let delivery = attempted(&root, &id);
    assert_eq!(delivery["lastError"], "refused: the endpoint resolves to a loopback, link-local or private address");
    assert_eq!(delivery["lastStatusCode"], Value::Null);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(*seen.lock().expect("lock"), 0, "the receiver got nothing");
}

#[test]
fn allowed_local_receivers_get_events_and_failures_say_only_unreachable() {
    let server =
        TestServer::start(BIN, Backend::Sqlite, &["--webhook-allow-private", "--webhook-retry-base-ms", "100000"]);
    let root = server.root_client();
    let (port, seen) = receiver();
    let local = format!("http://127.0.0.1:{port}/hook");
    let id =
        completed(create(&root, &local), "createWebhookEndpointResult")["endpointId"].as_str().expect("id").to_owned();
    let delivered = attempted(&root, &id);
    assert_eq!(delivered["status"], "DELIVERED", "{delivered}");
    assert!(*seen.lock().expect("lock") >= 1);
    completed(root.submit("delete_webhook_endpoint", json!({ "endpointId": id })), "deleteWebhookEndpointResult");

    // A closed port: members learn it is unreachable, not how (refused, reset, timed out).
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let url = format!("http://127.0.0.1:{closed}/hook");
    let id =
        completed(create(&root, &url), "createWebhookEndpointResult")["endpointId"].as_str().expect("id").to_owned();
    let failed = attempted(&root, &id);
    assert_eq!(failed["lastError"], "unreachable", "{failed}");
    assert_eq!(failed["lastStatusCode"], Value::Null);
}
