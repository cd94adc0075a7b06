//! Delivery against real endpoints: files in an outbox, a real SMTP server process (aiosmtpd),
//! a local HTTP listener standing in for the SMS gateway, and endpoints that are down or silent.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use twofold_enclave::{
    Channel, Deliverer, Delivery, Enclave, EnclaveConfig, EnclaveKeys, Error, OtpType, Outbox, SmtpConfig, SmtpTls,
    VerifyOtpRequest, WebhookAuth, WebhookConfig, WebhookFormat,
};
use twofold_testkit::{SmtpSink, mail_body};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn outbox_only() -> Delivery {
    Delivery::Outbox { dir: std::env::temp_dir().join("twofold-enclave-unused-outbox") }
}

#[tokio::test]
async fn outbox_writes_private_sortable_eml_files() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("outbox");
    let deliverer = Deliverer::outbox(&dir);
    deliverer.send_notice(Channel::Email, "ann@example.com", "A passkey was added", "first").await.unwrap();
    deliverer.send_notice(Channel::Sms, "+15551234567", "ignored", "second").await.unwrap();

    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    let files = Outbox::list(&dir).unwrap();
    assert_eq!(files.len(), 2);
    for f in &files {
        assert_eq!(std::fs::metadata(f).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let first = Outbox::read(&files[0]).unwrap();
    assert_eq!((first.channel, first.to.as_str()), (Channel::Email, "ann@example.com"));
    assert_eq!(first.subject, "A passkey was added");
    assert_eq!(first.body, "first");
    assert!(!first.date.is_empty());
    let second = Outbox::read(&files[1]).unwrap();
    assert_eq!((second.channel, second.to.as_str(), second.body.as_str()), (Channel::Sms, "+15551234567", "second"));
    // A well-formed RFC 5322 message: headers, blank line, body.
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    assert!(raw.contains("To: ann@example.com\r\n") && raw.contains("\r\n\r\nfirst"), "{raw}");
    // Non-ASCII survives the trip (base64 body, encoded-word subject).
    deliverer.send_notice(Channel::Email, "ann@example.com", "Código nuevo", "¡Hola!").await.unwrap();
    let third = Outbox::read(Outbox::list(&dir).unwrap().last().unwrap()).unwrap();
    assert_eq!((third.subject.as_str(), third.body.as_str()), ("Código nuevo", "¡Hola!"));
    assert!(Outbox::list(&root.path().join("absent")).unwrap().is_empty());
}

/// The enclave's SMTP settings for a test sink.
fn smtp_config(sink: &SmtpSink) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port: sink.port,
        tls: SmtpTls::None,
        username: None,
        password: None,
        from: "Acme <no-reply@acme.example>".into(),
        timeout_ms: 5_000,
    }
}

#[tokio::test]
async fn email_code_travels_through_a_real_smtp_server_and_verifies() {
    let Some(sink) = SmtpSink::start() else { return };
    let enclave = Enclave::new(
        EnclaveKeys::generate().unwrap(),
        Deliverer::new(Delivery::Smtp(smtp_config(&sink)), outbox_only()).unwrap(),
        EnclaveConfig::default(),
    )
    .unwrap();
    let now = common::now_ms();
    let init = enclave.init_otp(common::init_request(OtpType::Email, "ann@example.com", now)).await.unwrap();

    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    let raw = &messages[0];
    assert!(raw.contains("From: Acme <no-reply@acme.example>"), "{raw}");
    assert!(raw.contains("To: ann@example.com"), "{raw}");
    assert!(raw.contains("Subject: Acme Wallet verification code"), "{raw}");
    assert!(raw.contains("X-RcptTo: ann@example.com"), "{raw}");
    assert!(!raw.contains("X-Twofold"), "outbox headers leaked into real mail: {raw}");
    // Short lines keep the body readable as plain 7-bit text.
    assert!(raw.contains("Content-Transfer-Encoding: 7bit"), "{raw}");
    let code = common::code_in(&mail_body(raw), Channel::Email);
    assert_eq!(code.len(), 9);

    let pinned = enclave.public_keys().signing_public_key;
    let attempt = twofold_enclave::encrypt_otp_attempt(
        &init.otp_encryption_target_bundle,
        &pinned,
        &code,
        &common::client_public_key(),
    )
    .unwrap();
    let r = enclave
        .verify_otp(VerifyOtpRequest {
            otp_id: init.otp_id,
            organization_id: common::init_request(OtpType::Email, "x@example.com", 0).organization_id,
            sealed_state: init.sealed_state,
            encrypted_otp_bundle: attempt,
            token_expiration_seconds: None,
            now_ms: now + 5_000,
        })
        .unwrap();
    assert!(r.outcome.is_verified(), "{:?}", r.outcome);

    // Notices use the same transport.
    let d = Deliverer::new(Delivery::Smtp(smtp_config(&sink)), outbox_only()).unwrap();
    d.send_notice(Channel::Email, "ann@example.com", "Recovery started", "If this was not you, reply.").await.unwrap();
    assert_eq!(sink.messages().len(), 2);
}

#[tokio::test]
async fn smtp_failures_are_quick_clear_errors() {
    // Nothing listening.
    let mut config = SmtpConfig {
        host: "127.0.0.1".into(),
        port: free_port(),
        tls: SmtpTls::None,
        username: None,
        password: None,
        from: "no-reply@acme.example".into(),
        timeout_ms: 1_000,
    };
    let d = Deliverer::new(Delivery::Smtp(config.clone()), outbox_only()).unwrap();
    let started = Instant::now();
    let err = d.send_notice(Channel::Email, "ann@example.com", "s", "t").await.unwrap_err();
    assert!(matches!(err, Error::Delivery(ref m) if m.starts_with("SMTP")), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());

    // A server that accepts the connection and never greets: bounded by the timeout, no hang.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    config.port = silent.local_addr().unwrap().port();
    let d = Deliverer::new(Delivery::Smtp(config), outbox_only()).unwrap();
    let started = Instant::now();
    let err = d.send_notice(Channel::Email, "ann@example.com", "s", "t").await.unwrap_err();
    assert!(matches!(err, Error::Delivery(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    drop(silent);
}

/// One captured HTTP request.
struct Captured {
    head: String,
    body: String,
}

/// Serves `count` requests on a fresh port, answering each with `status`.
fn http_listener(status: u16, count: usize) -> (String, mpsc::Receiver<Captured>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/sms", listener.local_addr().unwrap().port());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for _ in 0..count {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                head.push_str(&line);
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            let mut stream = stream;
            write!(stream, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
            tx.send(Captured { head, body: String::from_utf8(body).unwrap() }).unwrap();
        }
    });
    (url, rx)
}

fn webhook(url: String, format: WebhookFormat, auth: WebhookAuth) -> Delivery {
    Delivery::Webhook(WebhookConfig { url, format, from: Some("+15550000000".into()), auth, timeout_ms: 2_000 })
}

#[tokio::test]
async fn sms_code_goes_to_the_json_webhook_with_its_auth_header() {
    let (url, rx) = http_listener(200, 1);
    let auth = WebhookAuth::Header { name: "Authorization".into(), value: "Bearer sms-secret".into() };
    let outbox = tempfile::tempdir().unwrap();
    let enclave = Enclave::new(
        EnclaveKeys::generate().unwrap(),
        Deliverer::new(Delivery::Outbox { dir: outbox.path().into() }, webhook(url, WebhookFormat::Json, auth))
            .unwrap(),
        EnclaveConfig::default(),
    )
    .unwrap();
    let mut req = common::init_request(OtpType::Sms, "+15551234567", common::now_ms());
    req.alphanumeric = Some(false);
    enclave.init_otp(req).await.unwrap();

    let got = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(got.head.starts_with("POST /sms HTTP/1.1"), "{}", got.head);
    assert!(
        got.head.contains("authorization: Bearer sms-secret") || got.head.contains("Authorization: Bearer sms-secret")
    );
    assert!(got.head.to_ascii_lowercase().contains("content-type: application/json"), "{}", got.head);
    let json: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(json["to"], "+15551234567");
    let text = json["body"].as_str().unwrap();
    let code = common::code_in(text, Channel::Sms);
    assert!(code.len() == 9 && code.bytes().all(|b| b.is_ascii_digit()), "{text}");
    assert!(text.contains("Acme Wallet"), "{text}");
    assert!(Outbox::list(outbox.path()).unwrap().is_empty(), "SMS must not fall back to the outbox");
}

#[tokio::test]
async fn twilio_form_with_basic_auth_and_http_errors() {
    let (url, rx) = http_listener(201, 1);
    let auth = WebhookAuth::Basic { username: "AC123".into(), password: "token".into() };
    let d = Deliverer::new(outbox_only(), webhook(url, WebhookFormat::TwilioForm, auth)).unwrap();
    d.send_notice(Channel::Sms, "+15551234567", "ignored", "Your passkey was removed & re-added").await.unwrap();
    let got = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    // base64("AC123:token")
    assert!(got.head.contains("Basic QUMxMjM6dG9rZW4="), "{}", got.head);
    assert!(got.head.to_ascii_lowercase().contains("application/x-www-form-urlencoded"), "{}", got.head);
    assert_eq!(got.body, "To=%2B15551234567&From=%2B15550000000&Body=Your+passkey+was+removed+%26+re-added");

    let (url, _rx) = http_listener(500, 1);
    let d = Deliverer::new(outbox_only(), webhook(url, WebhookFormat::Json, WebhookAuth::None)).unwrap();
    let err = d.send_notice(Channel::Sms, "+15551234567", "s", "t").await.unwrap_err();
    assert!(matches!(err, Error::Delivery(ref m) if m.contains("HTTP 500")), "{err}");
}

#[tokio::test]
async fn webhook_down_or_silent_fails_fast() {
    let url = format!("http://127.0.0.1:{}/sms", free_port());
    let d = Deliverer::new(outbox_only(), webhook(url, WebhookFormat::Json, WebhookAuth::None)).unwrap();
    let started = Instant::now();
    let err = d.send_notice(Channel::Sms, "+15551234567", "s", "t").await.unwrap_err();
    assert!(matches!(err, Error::Delivery(ref m) if m.contains("SMS webhook")), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());

    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/sms", silent.local_addr().unwrap());
    let d = Deliverer::new(outbox_only(), webhook(url, WebhookFormat::Json, WebhookAuth::None)).unwrap();
    let started = Instant::now();
    let err = d.send_notice(Channel::Sms, "+15551234567", "s", "t").await.unwrap_err();
    assert!(matches!(err, Error::Delivery(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn failed_delivery_returns_no_flow() {
    let config = SmtpConfig {
        host: "127.0.0.1".into(),
        port: free_port(),
        tls: SmtpTls::None,
        username: None,
        password: None,
        from: "no-reply@acme.example".into(),
        timeout_ms: 1_000,
    };
    let enclave = Enclave::new(
        EnclaveKeys::generate().unwrap(),
        Deliverer::new(Delivery::Smtp(config), outbox_only()).unwrap(),
        EnclaveConfig::default(),
    )
    .unwrap();
    let err = enclave.init_otp(common::init_request(OtpType::Email, "ann@example.com", 0)).await.unwrap_err();
    assert!(matches!(err, Error::Delivery(_)), "{err}");
}
