//! Issue 17 item 4, against the real binary: a few networks cannot lock an organization out
//! of one-time codes (the anonymous limits count per client prefix and leave a newcomer its
//! code; the organization's own authenticated calls count none of them), and a slow mail
//! server holds no database lock (codes are delivered after the commit).
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};
use twofold_client::Client;
use twofold_testkit::{Backend, TestServer, completed, new_key, user_with_key};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

/// POSTs `body` to the auth proxy's `otp_init` from the local address `source` (any of
/// 127.0.0.0/8 reaches the server from its own address); the status and the JSON answer.
fn otp_init_from(server: &TestServer, source: &str, body: &Value) -> (u16, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let address: std::net::SocketAddr = server.url.trim_start_matches("http://").parse().expect("server address");
    let body = body.to_string();
    let raw = runtime.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind(format!("{source}:0").parse().expect("source")).expect("bind the source address");
        let mut stream = socket.connect(address).await.expect("connect");
        let request = format!(
            "POST /auth-proxy/v1/otp_init HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read");
        String::from_utf8(raw).expect("utf-8 answer")
    });
    let status = raw.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status: {raw}"));
    let answer = raw.split_once("\r\n\r\n").map(|(_, b)| serde_json::from_str(b).unwrap_or(Value::Null));
    (status, answer.unwrap_or(Value::Null))
}

fn sign_in_body(root: &Client, contact: &str) -> Value {
    json!({ "organizationId": root.organization_id(), "contact": contact })
}

/// With `--otp-inflight-per-org 100`, five networks (127.0.0.2–6) each open as many codes as
/// their prefix may (20) and so fill the organization's cap. A user from a sixth network
/// still gets a code, and the organization's own backend, calling `init_otp` with its API
/// key, is counted against none of the anonymous limits. The cap still holds for every
/// network that already has a code open.
#[test]
fn a_few_networks_cannot_lock_an_organization_out_of_otp() {
    let server = TestServer::start(BIN, Backend::Sqlite, &["--otp-inflight-per-org", "100"]);
    let root = server.root_client();
    completed(root.submit("enable_auth_proxy", json!({})), "enableAuthProxyResult");
    for host in 2..=6 {
        let source = format!("127.0.0.{host}");
        let statuses: Vec<u16> = (0..22)
            .map(|i| otp_init_from(&server, &source, &sign_in_body(&root, &format!("bot{host}-{i}@example.com"))).0)
            .collect();
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 20, "{source}: {statuses:?}");
        assert_eq!(statuses[20..], [429, 429], "{source}: its prefix holds 20 open codes at most");
    }
    // The organization is at its cap of 100 anonymous codes: a sixth network's first still goes.
    let (status, answer) = otp_init_from(&server, "127.0.0.250", &sign_in_body(&root, "ann@example.com"));
    assert_eq!(status, 200, "a newcomer network gets its code: {answer}");
    assert!(answer["otpId"].as_str().is_some(), "{answer}");
    let (status, answer) = otp_init_from(&server, "127.0.0.250", &sign_in_body(&root, "ann2@example.com"));
    assert_eq!(status, 429, "past the cap, a network with an open code waits: {answer}");
    assert!(answer["message"].as_str().is_some_and(|m| m.contains("open in this organization")), "{answer}");
    // The backend's own calls count against none of it.
    for i in 0..3 {
        let contact = format!("member{i}@example.com");
        root.init_otp(json!({ "otpType": "OTP_TYPE_EMAIL", "contact": contact, "appName": "Acme" }))
            .expect("the root key's init_otp completes");
    }
}

/// A mail server that accepts the connection and then says nothing. Returns its port, a
/// receiver told when a delivery has connected, and the sender that ends the stall.
fn stalling_smtp() -> (u16, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (connected, told) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else { return };
        let _ = connected.send(());
        let _ = released.recv_timeout(Duration::from_secs(120));
        let _ = stream.write_all(b"421 closing\r\n");
        let mut rest = [0u8; 64];
        let _ = stream.read(&mut rest);
    });
    (port, told, release)
}

/// On SQLite (one writer for every tenant), INIT_OTP used to hold the write lock while its
/// mail was delivered, so a slow SMTP server stalled every write. Now the code is delivered
/// after the commit: while the mail server stalls an INIT_OTP, another tenant's write
/// completes, and the INIT_OTP itself completes once the mail server gives up.
#[test]
fn a_stalling_mail_server_holds_no_database_lock() {
    let (port, connected, release) = stalling_smtp();
    let port = port.to_string();
    let flags =
        ["--smtp-host", "127.0.0.1", "--smtp-port", &port, "--smtp-tls", "none", "--delivery-timeout-ms", "60000"];
    let server = TestServer::start(BIN, Backend::Sqlite, &flags);
    let root = server.root_client();
    let (_, _, neighbour) = support::sub_org(&server, &root, "Neighbour");

    let init = {
        let root = server.root_client();
        std::thread::spawn(move || {
            root.init_otp(json!({ "otpType": "OTP_TYPE_EMAIL", "contact": "slow@example.com", "appName": "Acme" }))
        })
    };
    connected.recv_timeout(Duration::from_secs(30)).expect("the delivery reached the mail server");

    // The mail server is stalling the delivery now. Another tenant's writes go on.
    let (done, wrote) = mpsc::channel();
    let writer = std::thread::spawn(move || {
        let user = user_with_key("written-during-the-stall", &new_key());
        let _ = done.send(neighbour.submit("create_users", json!({ "users": [user] })).map(|r| r.status));
        neighbour
    });
    let status = wrote.recv_timeout(Duration::from_secs(30)).expect("a write finished while the mail stalled");
    assert_eq!(status.expect("sent"), 200);
    assert!(!init.is_finished(), "the INIT_OTP is still waiting on its mail server");
    let neighbour = writer.join().expect("writer");
    let users = twofold_testkit::ok(neighbour.query("list_users", json!({})));
    assert!(users.to_string().contains("written-during-the-stall"), "{users}");

    release.send(()).expect("release the mail server");
    let started = init.join().expect("init thread");
    assert!(started.is_ok(), "INIT_OTP completes (its code is owed a retry): {:?}", started.err());
    assert!(server.log().contains("OTP code delivery failed"), "{}", server.log());
}
