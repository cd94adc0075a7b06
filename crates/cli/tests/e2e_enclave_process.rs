//! The enclave boundary (issue 23.15): by default `twofold serve` runs the OTP enclave as its
//! own child process, so "the coordinator never sees a plaintext OTP code" holds without any
//! flag. Checked the hard way: right after a code is sent, and after it is verified, the
//! serving process's writable memory (read through /proc/PID/mem) holds no trace of the
//! code nor of the enclave's signing key, while it does hold the contact it was sent to
//! (the control: the scan sees what the coordinator has). With `--enclave-in-process` the
//! same scan finds the code, so the test fails on a server that holds it. A killed
//! enclave is started again, and `/readyz` follows it.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

use std::io::{Read, Seek, SeekFrom};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use twofold_client::Client;
use twofold_testkit::{Backend, TestServer, new_key};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

/// Whether any readable, writable mapping of process `pid` (heap, stacks, anonymous memory,
/// data segments: wherever a program keeps what it computed) contains `needle`.
fn memory_holds(pid: u32, needle: &[u8]) -> bool {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).expect("/proc/PID/mem (same user, our child)");
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (range, perms) = (fields.next().expect("range"), fields.next().expect("perms"));
        if !perms.starts_with("rw") {
            continue;
        }
        let (start, end) = range.split_once('-').expect("start-end");
        let (start, end) = (u64::from_str_radix(start, 16).expect("hex"), u64::from_str_radix(end, 16).expect("hex"));
        let Ok(len) = usize::try_from(end - start) else { continue };
        let mut region = vec![0u8; len];
        if mem.seek(SeekFrom::Start(start)).is_err() || mem.read_exact(&mut region).is_err() {
            continue; // guard pages and the like
        }
        if region.windows(needle.len()).any(|w| w == needle) {
            return true;
        }
    }
    false
}

/// The processes whose parent is `pid`, with their command lines.
fn children_of(pid: u32) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else { continue };
        // `pid (comm) state ppid …`; comm may hold spaces, so read after the last `)`.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if ppid == Some(pid) {
            let cmdline = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
            found.push((child, String::from_utf8_lossy(&cmdline).replace('\0', " ")));
        }
    }
    found
}

/// The enclave child of the server, once it runs (waits up to 20 s).
fn enclave_child(server: &TestServer, not: Option<u32>) -> u32 {
    let pid = server.pid().expect("running");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let child = children_of(pid).into_iter().find(|(p, cmd)| cmd.contains(" enclave ") && Some(*p) != not);
        if let Some((child, _)) = child {
            return child;
        }
        assert!(Instant::now() < deadline, "no enclave child of {pid}: {:?}", children_of(pid));
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn readyz(server: &TestServer) -> (u16, Value) {
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let mut answer = agent.get(&format!("{}/readyz", server.url)).call().expect("readyz answers");
    let body = answer.body_mut().read_to_string().expect("body");
    (answer.status().as_u16(), serde_json::from_str(&body).expect("JSON"))
}

/// Sends a nine-symbol alphanumeric code to `contact`; returns the flow and the code as the
/// dev outbox (written by the enclave) received it.
fn send_code(server: &TestServer, root: &Client, contact: &str) -> (twofold_client::otp::StartedOtp, String) {
    let params = json!({ "otpType": "OTP_TYPE_EMAIL", "contact": contact, "appName": "Acme",
                         "otpLength": 9, "alphanumeric": true });
    let started = root.init_otp(params).expect("init_otp completes");
    let outbox = server.data_dir().join("outbox");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let message = twofold_enclave::Outbox::list(&outbox)
            .expect("outbox")
            .iter()
            .filter_map(|p| twofold_enclave::Outbox::read(p).ok())
            .find(|m| m.to == contact);
        if let Some(message) = message {
            let code = twofold_testkit::otp_code_in(&message.body);
            assert_eq!(code.len(), 9, "{}", message.body);
            return (started, code);
        }
        assert!(Instant::now() < deadline, "no code reached the outbox for {contact}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The enclave's signing key as the key file stores it (hex) and as bytes.
fn enclave_signing_key(server: &TestServer) -> (String, Vec<u8>) {
    let file: Value =
        serde_json::from_slice(&std::fs::read(server.data_dir().join("enclave-keys.json")).expect("key file"))
            .expect("json");
    let hex = file["signing_key"].as_str().expect("signing_key").to_owned();
    let bytes = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect();
    (hex, bytes)
}

#[test]
fn the_serving_process_never_holds_a_code_nor_the_enclave_keys() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let pid = server.pid().expect("running");
    let enclave = enclave_child(&server, None);
    assert_ne!(enclave, pid);
    let root = server.root_client();
    let contact = format!("memscan-{}@example.com", uuid_like());
    let (started, code) = send_code(&server, &root, &contact);
    assert!(memory_holds(pid, contact.as_bytes()), "control: the coordinator holds the contact it sent to");
    assert!(!memory_holds(pid, code.as_bytes()), "the coordinator's memory holds the code {code}");
    let (hex, bytes) = enclave_signing_key(&server);
    assert!(!memory_holds(pid, hex.as_bytes()) && !memory_holds(pid, &bytes), "the coordinator holds the enclave key");

    // The code works (the enclave checks it), and the coordinator still never saw it.
    let pinned = root.enclave_signing_key().expect("enclave key");
    let token = root.verify_otp(&started, &pinned, &code, &new_key()).expect("the code verifies");
    assert!(!token.is_empty());
    assert!(!memory_holds(pid, code.as_bytes()), "after verification the coordinator holds the code {code}");

    // The enclave is the server's own child, not a stray process.
    let status = std::fs::read_to_string(format!("/proc/{enclave}/status")).expect("status");
    assert!(status.contains(&format!("PPid:\t{pid}")), "{status}");
}

/// The control for the test above: with the enclave in the server's own process (what
/// `serve` did by default before) the same scan finds the code in the server's memory.
#[test]
fn with_the_enclave_in_process_the_scan_finds_the_code() {
    let server = TestServer::start(BIN, Backend::Sqlite, &["--enclave-in-process"]);
    let pid = server.pid().expect("running");
    assert!(children_of(pid).is_empty(), "in-process: no enclave child");
    let root = server.root_client();
    let (_, code) = send_code(&server, &root, &format!("memscan-{}@example.com", uuid_like()));
    assert!(memory_holds(pid, code.as_bytes()), "in-process, the code {code} is in the server's memory");
}

#[test]
fn a_killed_enclave_is_started_again_and_readyz_follows_it() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    assert_eq!(readyz(&server).0, 200);
    let first = enclave_child(&server, None);
    let killed = std::process::Command::new("kill").args(["-9", &first.to_string()]).status().expect("kill");
    assert!(killed.success());
    // At once /readyz says the enclave is down, unless a new one already serves.
    let (status, body) = readyz(&server);
    if status == 200 {
        let pid = server.pid().expect("running");
        assert!(children_of(pid).iter().any(|(p, _)| *p != first), "200 with no new enclave: {body}");
    } else {
        assert_eq!((status, body["enclave"].as_str()), (503, Some("unreachable")), "{body}");
    }
    let second = enclave_child(&server, Some(first));
    let deadline = Instant::now() + Duration::from_secs(20);
    while readyz(&server).0 != 200 {
        assert!(Instant::now() < deadline, "readyz did not recover: {:?}", readyz(&server));
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, body) = readyz(&server);
    assert_eq!((status, body["enclave"].as_str()), (200, Some("ok")), "{body}");
    let (_, code) = send_code(&server, &root, "after-restart@example.com");
    assert_eq!(code.len(), 9);
    assert_eq!(enclave_child(&server, Some(first)), second, "one child at a time");
    assert!(server.log().contains("the enclave process exited; starting it again"), "{}", server.log());
}

/// A fresh hex string, so each run's marker is its own.
fn uuid_like() -> String {
    let key = new_key().public_key_hex();
    key[2..18].to_owned()
}
