//! The process boundary: `serve_unix` and `RemoteEnclave` over a real Unix socket.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use twofold_enclave::{
    Channel, ClockSource, EnclaveApi, Error, Notice, OtpType, Outbox, RemoteEnclave, ServeOptions, VerifyOtpRequest,
    VerifyOutcome,
};

struct Served {
    socket: PathBuf,
    outbox: PathBuf,
    pinned: String,
    task: tokio::task::JoinHandle<twofold_enclave::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve() -> Served {
    serve_with(ClockSource::Caller).await
}

async fn serve_with(clock: ClockSource) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("enclave.sock");
    let outbox = dir.path().join("outbox");
    let enclave = Arc::new(common::outbox_enclave(&outbox));
    let pinned = enclave.public_keys().signing_public_key;
    let task = tokio::spawn({
        let socket = socket.clone();
        async move { twofold_enclave::serve_unix_with(enclave, &socket, ServeOptions { clock }).await }
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "socket did not appear");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Served { socket, outbox, pinned, task, _dir: dir }
}

/// Sends one raw line and returns the parsed response line.
async fn raw_exchange(socket: &Path, line: &[u8]) -> serde_json::Value {
    let stream = UnixStream::connect(socket).await.unwrap();
    let (read, mut write) = stream.into_split();
    write.write_all(line).await.unwrap();
    let mut reader = BufReader::new(read);
    let mut response = String::new();
    reader.read_line(&mut response).await.unwrap();
    serde_json::from_str(&response).unwrap()
}

#[tokio::test]
async fn remote_enclave_runs_the_whole_flow_over_the_socket() {
    let s = serve().await;
    assert_eq!(std::fs::metadata(&s.socket).unwrap().permissions().mode() & 0o777, 0o600);
    let remote: Arc<dyn EnclaveApi> = Arc::new(RemoteEnclave::connect(&s.socket).await.unwrap());
    assert_eq!(remote.public_keys().await.unwrap().signing_public_key, s.pinned);

    let now = common::now_ms();
    let init = remote.init_otp(common::init_request(OtpType::Email, "ann@example.com", now)).await.unwrap();
    let code = common::latest_outbox_code(&s.outbox);
    let attempt = |code: &str| {
        twofold_enclave::encrypt_otp_attempt(
            &init.otp_encryption_target_bundle,
            &s.pinned,
            code,
            &common::client_public_key(),
        )
        .unwrap()
    };
    let request = |state, bundle| VerifyOtpRequest {
        otp_id: init.otp_id.clone(),
        organization_id: common::init_request(OtpType::Email, "x@example.com", 0).organization_id,
        sealed_state: state,
        encrypted_otp_bundle: bundle,
        token_expiration_seconds: Some(600),
        now_ms: now + 1_000,
    };
    let first = if code.starts_with('Z') { 'Y' } else { 'Z' };
    let wrong: String = std::iter::once(first).chain(code.chars().skip(1)).collect();
    let r = remote.verify_otp(request(init.sealed_state.clone(), attempt(&wrong))).await.unwrap();
    assert_eq!(r.outcome, VerifyOutcome::Invalid { attempts_left: 4 });
    let err = remote.verify_otp(request(r.sealed_state.clone(), "{}".into())).await.unwrap_err();
    assert!(matches!(err, Error::Bundle(_)), "{err}");
    let r = remote.verify_otp(request(r.sealed_state, attempt(&code))).await.unwrap();
    let VerifyOutcome::Verified(v) = r.outcome else { panic!("{:?}", r.outcome) };
    let claims = remote.verify_token(v.verification_token.clone(), now + 2_000).await.unwrap();
    assert_eq!(claims.id, v.token_id);
    let r = remote.verify_otp(request(r.sealed_state, attempt(&code))).await.unwrap();
    assert_eq!(r.outcome, VerifyOutcome::AlreadyUsed);

    // Errors keep their kind across the boundary.
    let err = remote.verify_token(v.verification_token, now + 601_000).await.unwrap_err();
    assert!(matches!(err, Error::Token(ref m) if m.contains("expired")), "{err}");
    let mut bad = common::init_request(OtpType::Email, "ann@example.com", now);
    bad.otp_length = Some(4);
    let err = remote.init_otp(bad).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(ref m) if m.contains("otp_length")), "{err}");

    remote
        .send_notice(Notice {
            channel: Channel::Email,
            contact: "ann@example.com".into(),
            subject: "A passkey was added".into(),
            text: "If this was not you, contact support.".into(),
        })
        .await
        .unwrap();
    let last = Outbox::read(Outbox::list(&s.outbox).unwrap().last().unwrap()).unwrap();
    assert_eq!(last.subject, "A passkey was added");
}

#[tokio::test]
async fn concurrent_remote_calls_are_served() {
    let s = serve().await;
    let remote = RemoteEnclave::connect(&s.socket).await.unwrap();
    let now = common::now_ms();
    let calls = (0..8).map(|i| {
        let remote = remote.clone();
        async move { remote.init_otp(common::init_request(OtpType::Email, &format!("u{i}@example.com"), now)).await }
    });
    let results = futures_join_all(calls).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(Outbox::list(&s.outbox).unwrap().len(), 8);
}

/// A tiny join_all so the test needs no futures crate.
async fn futures_join_all<F: std::future::Future + Send + 'static>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn version_mismatch_garbage_and_oversized_requests_are_refused() {
    let s = serve().await;
    let r = raw_exchange(&s.socket, b"{\"v\":2,\"op\":\"public_keys\",\"params\":{}}\n").await;
    assert_eq!(r["ok"], false);
    assert_eq!(r["error"]["kind"], "protocol");
    assert!(r["error"]["message"].as_str().unwrap().contains("version mismatch"), "{r}");

    let r = raw_exchange(&s.socket, b"{\"op\":\"public_keys\"}\n").await;
    assert!(r["error"]["message"].as_str().unwrap().contains("no protocol version"), "{r}");

    let r = raw_exchange(&s.socket, b"{\"v\":1,\"op\":\"drop_tables\",\"params\":{}}\n").await;
    assert!(r["error"]["message"].as_str().unwrap().contains("malformed request"), "{r}");

    let r = raw_exchange(&s.socket, b"not json\n").await;
    assert_eq!(r["error"]["kind"], "protocol");

    let mut huge = b"{\"v\":1,\"op\":\"verify_token\",\"params\":{\"token\":\"".to_vec();
    huge.extend(std::iter::repeat_n(b'a', twofold_enclave::MAX_REQUEST_BYTES + 10));
    huge.extend_from_slice(b"\",\"now_ms\":0}}\n");
    let r = raw_exchange(&s.socket, &huge).await;
    assert!(r["error"]["message"].as_str().unwrap().contains("larger than"), "{r}");

    // A well-formed request still works on a fresh connection afterwards.
    let r = raw_exchange(&s.socket, b"{\"v\":1,\"op\":\"public_keys\"}\n").await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["result"]["signing_public_key"], s.pinned.as_str());
}

#[tokio::test]
async fn client_refuses_an_enclave_of_another_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut line = String::new();
        BufReader::new(read).read_line(&mut line).await.unwrap();
        write.write_all(b"{\"v\":2,\"ok\":true,\"result\":{}}\n").await.unwrap();
    });
    let err = RemoteEnclave::connect(&path).await.unwrap_err();
    assert!(matches!(err, Error::Protocol(ref m) if m.contains("version mismatch")), "{err}");
    server.await.unwrap();

    let err = RemoteEnclave::connect(dir.path().join("absent.sock")).await.unwrap_err();
    assert!(err.to_string().contains("cannot reach the enclave"), "{err}");
}

#[tokio::test]
async fn a_second_server_on_a_live_socket_is_refused_and_a_stale_one_replaced() {
    let s = serve().await;
    let enclave = Arc::new(common::outbox_enclave(&s.outbox));
    let err = twofold_enclave::serve_unix(enclave, &s.socket).await.unwrap_err();
    assert!(err.to_string().contains("already listening"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    let listener = twofold_enclave::bind_unix(&stale).unwrap();
    assert_eq!(std::fs::metadata(&stale).unwrap().permissions().mode() & 0o777, 0o600);
    drop(listener);
    let not_socket = dir.path().join("file");
    std::fs::write(&not_socket, b"x").unwrap();
    assert!(twofold_enclave::bind_unix(&not_socket).is_err());
}

#[tokio::test]
async fn by_default_the_enclave_clock_counts_not_the_callers() {
    let s = serve_with(ClockSource::Enclave).await;
    let remote = RemoteEnclave::connect(&s.socket).await.unwrap();
    // A coordinator claiming it is 1970 gets a code that expires five minutes from now.
    let before = common::now_ms();
    let init = remote.init_otp(common::init_request(OtpType::Email, "ann@example.com", 0)).await.unwrap();
    assert!(init.expires_at_ms >= before + 300_000 && init.expires_at_ms <= common::now_ms() + 300_000);
    let code = common::latest_outbox_code(&s.outbox);
    let bundle = twofold_enclave::encrypt_otp_attempt(
        &init.otp_encryption_target_bundle,
        &s.pinned,
        &code,
        &common::client_public_key(),
    )
    .unwrap();
    let r = remote
        .verify_otp(VerifyOtpRequest {
            otp_id: init.otp_id,
            organization_id: common::init_request(OtpType::Email, "x@example.com", 0).organization_id,
            sealed_state: init.sealed_state,
            encrypted_otp_bundle: bundle,
            token_expiration_seconds: None,
            // Claiming a far future time neither expires the code nor stretches the token.
            now_ms: u64::MAX / 2,
        })
        .await
        .unwrap();
    let VerifyOutcome::Verified(v) = r.outcome else { panic!("{:?}", r.outcome) };
    assert!(v.token_expires_at_ms <= common::now_ms() + 3_600_000);
    // And a token is checked against the enclave's clock too.
    assert!(remote.verify_token(v.verification_token, u64::MAX / 2).await.is_ok());
}
