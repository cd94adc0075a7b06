//! End-to-end email/SMS one-time codes (issue 7): the real `twofold` binary with its
//! enclave in-process or as a separate `twofold enclave` process, a real SMTP server
//! (aiosmtpd), the Rust client and Turnkey's own `@turnkey/crypto` in node, SQLite and
//! PostgreSQL. Test names carry the NIST SP 800-63B-4 / ASVS item they check.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::process::Command;

use serde_json::{Value, json};
use twofold_client::otp::{StartedOtp, client_signature, encrypt_attempt, login_message, token_id};
use twofold_client::{ApiKeyPair, ApiResponse, Client};
use twofold_testkit::{
    Backend, SmtpSink, TestEnclave, TestServer, completed, interop_installed, new_key, ok, on_every_backend,
    postgres_available, user_with_key,
};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

#[track_caller]
fn refused(resp: ApiResponse, status: u16, needle: &str) {
    assert_eq!(resp.status, status, "{}", resp.body);
    let msg = resp.body["message"].as_str().expect("message");
    assert!(msg.contains(needle), "message `{msg}` should contain `{needle}`");
}

/// A FAILED activity whose failure message contains `needle`.
#[track_caller]
fn failed(resp: ApiResponse, needle: &str) {
    assert_eq!(resp.status, 200, "{}", resp.body);
    let activity = &resp.body["activity"];
    assert_eq!(activity["status"], "ACTIVITY_STATUS_FAILED", "{activity}");
    let msg = activity["failure"]["message"].as_str().expect("failure message");
    assert!(msg.contains(needle), "failure `{msg}` should contain `{needle}`");
}

/// A sub-organization whose root user has `email` (no keys: OTP login is how it gets in).
fn customer(root: &Client, email: &str) -> String {
    let user =
        json!({ "userName": email, "userEmail": email, "apiKeys": [], "authenticators": [], "oauthProviders": [] });
    let result = completed(
        root.submit(
            "create_sub_organization",
            json!({ "subOrganizationName": format!("org of {email}"), "rootUsers": [user], "rootQuorumThreshold": 1 }),
        ),
        "createSubOrganizationResultV8",
    );
    result["subOrganizationId"].as_str().expect("sub-organization id").to_owned()
}

fn init_email(root: &Client, email: &str, extra: Value) -> StartedOtp {
    let mut params = json!({ "otpType": "OTP_TYPE_EMAIL", "contact": email, "appName": "Acme" });
    params.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
    root.init_otp(params).expect("init_otp completes")
}

fn submit_attempt(root: &Client, otp_id: &str, attempt: &str) -> ApiResponse {
    root.submit("verify_otp", json!({ "otpId": otp_id, "encryptedOtpBundle": attempt })).expect("sent")
}

/// Logs in with `token` (bound to `key`) and checks that the session key stamps requests.
fn login_and_use(server: &TestServer, root: &Client, token: &str, key: &ApiKeyPair, sub_org: &str) {
    let session = root.otp_login(token, key, &key.public_key_hex()).expect("otp_login completes");
    assert_eq!(twofold_testkit::session_claims(&session)["organization_id"], sub_org, "{session}");
    assert!(session["session"].as_str().is_some_and(|jwt| jwt.split('.').count() == 3), "{session}");
    let same = ApiKeyPair::from_private_hex(key.curve(), &key.private_key_hex()).expect("key");
    let user = server.client(same, sub_org);
    let whoami = ok(user.query("get_whoami", json!({})));
    assert_eq!(whoami["userId"], twofold_testkit::session_claims(&session)["user_id"], "{whoami}");
    assert_eq!(whoami["organizationId"], sub_org);
}

/// Acceptance 1 (Rust client): init -> mail through a real SMTP server -> verify with the
/// code from the mail -> login -> a request stamped with the session key.
fn full_email_flow_with_the_rust_client(backend: Backend) {
    let Some(smtp) = SmtpSink::start() else { return };
    let flags = smtp.flags();
    let server = TestServer::start(BIN, backend, &flags.iter().map(String::as_str).collect::<Vec<_>>());
    let root = server.root_client();
    let sub_org = customer(&root, "ann@example.com");
    let pinned = root.enclave_signing_key().expect("enclave key");
    let started = init_email(&root, "ann@example.com", json!({}));
    let code = smtp.latest_code_for("ann@example.com");
    assert_eq!(code.len(), 9, "default: 9 Crockford base32 symbols");
    let key = new_key();
    let token = root.verify_otp(&started, &pinned, &code, &key).expect("verify_otp completes");
    login_and_use(&server, &root, &token, &key, &sub_org);
}

on_every_backend!(
    full_email_flow_with_the_rust_client_sqlite,
    full_email_flow_with_the_rust_client_postgres,
    full_email_flow_with_the_rust_client
);

/// Runs `tests/interop/otp-client.mjs` (`@turnkey/crypto` 2.13.2) with `cmd` on stdin.
fn turnkey_crypto(cmd: &Value) -> Result<Value, String> {
    twofold_testkit::run_node_stdin("otp-client.mjs", cmd)
}

/// Acceptance 1 (Turnkey's client code): `encryptOtpCodeToBundle` makes the attempt the
/// server verifies, `verifyOtpVerificationToken` accepts the token it returns.
#[test]
fn full_email_flow_with_turnkey_crypto_in_node() {
    if !interop_installed() {
        return;
    }
    let Some(smtp) = SmtpSink::start() else { return };
    let flags = smtp.flags();
    let server = TestServer::start(BIN, Backend::Sqlite, &flags.iter().map(String::as_str).collect::<Vec<_>>());
    let root = server.root_client();
    let sub_org = customer(&root, "bea@example.com");
    let pinned = root.enclave_signing_key().expect("enclave key");
    let started = init_email(&root, "bea@example.com", json!({ "otpLength": 6, "alphanumeric": false }));
    let code = smtp.latest_code_for("bea@example.com");
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()), "{code}");
    let key = new_key();
    let encrypted = turnkey_crypto(&json!({
        "op": "encrypt", "bundle": started.target_bundle, "enclavePublicKey": pinned,
        "code": code, "clientPublicKey": key.public_key_hex(),
    }))
    .expect("@turnkey/crypto accepts our bundle");
    assert_eq!(encrypted["bundleSignatureValid"], true);
    assert_eq!(encrypted["signedData"]["otpId"], started.otp_id.as_str());
    let attempt = encrypted["encryptedOtpBundle"].as_str().expect("bundle");
    let result = completed(Ok(submit_attempt(&root, &started.otp_id, attempt)), "verifyOtpResult");
    let token = result["verificationToken"].as_str().expect("token");
    let claims = turnkey_crypto(&json!({ "op": "verify-token", "token": token, "enclavePublicKey": pinned }))
        .expect("@turnkey/crypto verifies our token");
    assert_eq!(claims["claims"]["contact"], "bea@example.com");
    assert_eq!(claims["claims"]["verification_type"], "OTP_TYPE_EMAIL");
    assert_eq!(claims["claims"]["public_key"], key.public_key_hex());
    login_and_use(&server, &root, token, &key, &sub_org);
}

/// The same code with its first symbol changed.
fn wrong_code(code: &str) -> String {
    match code.strip_prefix('2') {
        Some(rest) => format!("3{rest}"),
        None => format!("2{}", code.get(1..).unwrap_or_default()),
    }
}

/// Whether `needle` (a code) occurs in `haystack` as a token of its own: not inside a longer
/// run of letters or digits, nor as the fraction of a log timestamp (`…:20.001750Z`), which a
/// six-digit numeric code matches by chance in about one debug log in a hundred.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let alnum = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    haystack.windows(needle.len()).enumerate().any(|(at, w)| {
        let before = at.checked_sub(1).and_then(|i| haystack.get(i));
        let after = haystack.get(at + needle.len());
        w == needle && !alnum(before) && !alnum(after) && before != Some(&b'.')
    })
}

/// Runs flows for three contacts through `server` and returns the codes that were sent.
fn run_flows(server: &TestServer, smtp: &SmtpSink) -> Vec<String> {
    let root = server.root_client();
    let pinned = root.enclave_signing_key().expect("enclave key");
    let mut codes = Vec::new();
    for (i, email) in ["cid@example.com", "dan@example.com", "eve@example.com"].iter().enumerate() {
        let sub_org = customer(&root, email);
        let numeric = json!({ "otpLength": 6, "alphanumeric": false });
        let started = init_email(&root, email, if i == 0 { numeric } else { json!({}) });
        let code = smtp.latest_code_for(email);
        let key = new_key();
        // A wrong attempt too: the code must not leak through the failure path either.
        let wrong = wrong_code(&code);
        let bad = encrypt_attempt(&started.target_bundle, &pinned, &wrong, &key.public_key_hex()).expect("encrypt");
        refused(submit_attempt(&root, &started.otp_id, &bad), 400, "Invalid OTP code");
        let token = root.verify_otp(&started, &pinned, &code, &key).expect("verify_otp completes");
        login_and_use(server, &root, &token, &key, &sub_org);
        codes.push(code);
    }
    codes
}

#[track_caller]
fn assert_no_code(codes: &[String], what: &str, bytes: &[u8]) {
    for code in codes {
        assert!(!contains(bytes, code.as_bytes()), "OTP code {code} found in {what}");
    }
}

/// Acceptance 2 (the enclave inside the server, `--enclave-in-process`): even then the
/// coordinator's database and logs never hold a code (its memory does: `e2e_enclave_process`).
#[test]
fn codes_never_reach_the_coordinator_db_or_logs_in_process_asvs_6_6() {
    let Some(smtp) = SmtpSink::start() else { return };
    let mut flags = smtp.flags();
    flags.extend(["--log".to_owned(), "debug".to_owned(), "--enclave-in-process".to_owned()]);
    let server = TestServer::start(BIN, Backend::Sqlite, &flags.iter().map(String::as_str).collect::<Vec<_>>());
    let codes = run_flows(&server, &smtp);
    assert_no_code(&codes, "the database files", &server.database_bytes());
    assert_no_code(&codes, "the server log", server.log().as_bytes());
    assert_no_code(&codes, "the server's stdout", server.stdout_lines.join("\n").as_bytes());
    // The in-process enclave's keys sit in the data dir, owner-only.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(server.data_dir().join("enclave-keys.json")).expect("key file").permissions(),
    );
    assert_eq!(mode & 0o077, 0, "enclave key file mode {mode:o}");
}

/// Acceptance 2 (separate enclave process): the same, with `twofold serve --enclave`.
#[test]
fn codes_never_reach_the_coordinator_db_or_logs_with_a_separate_enclave_asvs_6_6() {
    let Some(smtp) = SmtpSink::start() else { return };
    let mut enclave_flags = smtp.flags();
    enclave_flags.extend(["--log".to_owned(), "debug".to_owned()]);
    let enclave = TestEnclave::start(BIN, &enclave_flags);
    let socket = enclave.socket.display().to_string();
    let server = TestServer::start(BIN, Backend::Sqlite, &["--enclave", &socket, "--log", "debug"]);
    let codes = run_flows(&server, &smtp);
    assert_no_code(&codes, "the database files", &server.database_bytes());
    assert_no_code(&codes, "the server log", server.log().as_bytes());
    assert_no_code(&codes, "the enclave log", enclave.log().as_bytes());
    // The coordinator made no key file or outbox of its own: the keys live with the enclave.
    assert!(!server.data_dir().join("enclave-keys.json").exists());
    assert!(enclave.dir.path().join("data/enclave-keys.json").exists());
}

/// Acceptance 3: forged bundles, tampered attempts, burned, expired and reused codes, and
/// logins signed by the wrong key all fail cleanly.
fn codes_fail_safely_63b_3_1_3_2(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let outbox = server.data_dir().join("outbox");
    let code_for = |to: &str| {
        let out = Command::new(BIN)
            .args(["outbox", "show", "--output", "json", "--dir"])
            .arg(&outbox)
            .output()
            .expect("twofold outbox runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let msg: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(msg["to"], to, "{msg}");
        twofold_testkit::otp_code_in(msg["body"].as_str().expect("body"))
    };
    let pinned = root.enclave_signing_key().expect("enclave key");
    let key = new_key();

    // A bundle signed by another key is refused by the client before anything is encrypted.
    let started = init_email(&root, "fay@example.com", json!({}));
    let impostor = new_key().public_key_hex();
    let impostor_pub = hex_of(
        &twofold_core::crypto::parse_public_key(twofold_core::model::ApiKeyCurve::P256, &impostor).expect("key"),
    );
    let err = encrypt_attempt(&started.target_bundle, &impostor_pub, "ABC", &key.public_key_hex()).expect_err("forged");
    assert!(err.to_string().contains("different enclave key"), "{err}");
    // A bundle claiming the pinned key whose data (here: a target key of the attacker's) is not
    // what the enclave signed.
    let mut forged: Value = serde_json::from_str(&started.target_bundle).expect("bundle json");
    let data = forged["data"].as_str().expect("data").to_owned();
    let swapped = data.replacen(&data[data.len() - 8..], "7d7d7d7d", 1);
    forged["data"] = json!(swapped);
    let err = encrypt_attempt(&forged.to_string(), &pinned, "ABC", &key.public_key_hex()).expect_err("forged data");
    assert!(err.to_string().contains("signature"), "{err}");

    // A tampered encrypted attempt: a clean 4xx naming the field, and it costs no attempt.
    let code = code_for("fay@example.com");
    let good = encrypt_attempt(&started.target_bundle, &pinned, &code, &key.public_key_hex()).expect("encrypt");
    let mut tampered: Value = serde_json::from_str(&good).expect("json");
    let ct = tampered["ciphertext"].as_str().expect("ct").to_owned();
    let flipped = if ct.ends_with('0') { "1" } else { "0" };
    tampered["ciphertext"] = json!(format!("{}{flipped}", &ct[..ct.len() - 1]));
    let resp = submit_attempt(&root, &started.otp_id, &tampered.to_string());
    assert!((400..500).contains(&resp.status), "{} {}", resp.status, resp.body);
    for garbage in ["not json", "{\"encappedPublic\":\"04\",\"ciphertext\":\"00\"}"] {
        refused(submit_attempt(&root, &started.otp_id, garbage), 400, "encryptedOtpBundle");
    }

    // A code verifies once (ASVS 5.0 6.5.x: accepted once).
    let token = root.verify_otp(&started, &pinned, &code, &key).expect("first verify");
    let again = encrypt_attempt(&started.target_bundle, &pinned, &code, &key.public_key_hex()).expect("encrypt");
    refused(submit_attempt(&root, &started.otp_id, &again), 400, "already been used");

    // A login signed by a key other than the token's is refused; so is a login for another key.
    let other = new_key();
    let message = login_message(&other.public_key_hex(), &token_id(&token).expect("id"));
    let params =
        |sig: Value, session: &str| json!({ "verificationToken": token, "publicKey": session, "clientSignature": sig });
    let resp = root.submit("otp_login", params(client_signature(&other, &message), &other.public_key_hex()));
    failed(resp.expect("sent"), "not the key the verification token is bound to");
    let mut forged = client_signature(&other, &message);
    forged["publicKey"] = json!(key.public_key_hex());
    let resp = root.submit("otp_login", params(forged, &other.public_key_hex()));
    failed(resp.expect("sent"), "does not verify");
    let mismatched = client_signature(&key, &login_message(&key.public_key_hex(), &token_id(&token).expect("id")));
    let resp = root.submit("otp_login", params(mismatched, &other.public_key_hex()));
    failed(resp.expect("sent"), "login.publicKey");
    // The right signature logs in (the user exists), once.
    let sub_org = customer(&root, "fay@example.com");
    login_and_use(&server, &root, &token, &key, &sub_org);
    let reuse = root.otp_login(&token, &key, &key.public_key_hex()).expect_err("a token logs in once");
    assert!(reuse.to_string().contains("already used"), "{reuse}");

    // The 6th wrong attempt is refused even with the right code: the code is burned.
    let started = init_email(&root, "gus@example.com", json!({}));
    let code = code_for("gus@example.com");
    let wrong = wrong_code(&code);
    for left in (0..5).rev() {
        let bad = encrypt_attempt(&started.target_bundle, &pinned, &wrong, &key.public_key_hex()).expect("encrypt");
        let resp = submit_attempt(&root, &started.otp_id, &bad);
        refused(
            resp,
            400,
            &if left == 0 {
                "Invalid OTP code: no attempts left".to_owned()
            } else {
                format!("Invalid OTP code: {left} attempt(s) left")
            },
        );
    }
    let right = encrypt_attempt(&started.target_bundle, &pinned, &code, &key.public_key_hex()).expect("encrypt");
    refused(submit_attempt(&root, &started.otp_id, &right), 400, "too many failed attempts");
    // A new code does not reset the contact's failure count (63B-4 §3.1.3.2): it goes on
    // from 6, and 10 wrong codes for one contact refuse even a fresh, right one.
    let started = init_email(&root, "gus@example.com", json!({}));
    let code = code_for("gus@example.com");
    let wrong = wrong_code(&code);
    for _ in 0..4 {
        let bad = encrypt_attempt(&started.target_bundle, &pinned, &wrong, &key.public_key_hex()).expect("encrypt");
        refused(submit_attempt(&root, &started.otp_id, &bad), 400, "Invalid OTP code");
    }
    let right = encrypt_attempt(&started.target_bundle, &pinned, &code, &key.public_key_hex()).expect("encrypt");
    refused(submit_attempt(&root, &started.otp_id, &right), 429, "too many wrong codes");

    // An expired code fails (the shortest lifetime the API allows is one second).
    let started = init_email(&root, "hal@example.com", json!({ "expirationSeconds": "1" }));
    let code = code_for("hal@example.com");
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let late = encrypt_attempt(&started.target_bundle, &pinned, &code, &key.public_key_hex()).expect("encrypt");
    refused(submit_attempt(&root, &started.otp_id, &late), 400, "expired");

    // An unknown flow, and bad parameters, are clear 4xx.
    let unknown = submit_attempt(&root, "00000000-0000-4000-8000-000000000000", &late);
    refused(unknown, 404, "no OTP flow");
    let resp = root.submit(
        "init_otp",
        json!({ "otpType": "OTP_TYPE_EMAIL", "contact": "x@example.com",
                                              "appName": "Acme", "otpLength": 4 }),
    );
    refused(resp.expect("sent"), 400, "otpLength");
    let resp =
        root.submit("init_otp", json!({ "otpType": "OTP_TYPE_PIGEON", "contact": "x@example.com", "appName": "A" }));
    refused(resp.expect("sent"), 400, "otpType");
}

on_every_backend!(
    codes_fail_safely_63b_3_1_3_2_sqlite,
    codes_fail_safely_63b_3_1_3_2_postgres,
    codes_fail_safely_63b_3_1_3_2
);

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sends an INIT_OTP with a distinct body and returns (status, Retry-After seconds).
fn raw_init(url: &str, root: &Client, n: usize) -> (u16, Option<u64>) {
    let params = json!({ "otpType": "OTP_TYPE_EMAIL", "contact": "ivy@example.com", "appName": format!("Acme {n}") });
    let body = root.submit_body("init_otp", json!({ "parameters": params })).expect("body").to_string();
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let resp = agent
        .post(&format!("{url}/public/v1/submit/init_otp"))
        .header("Content-Type", "application/json")
        .header("X-Stamp", root.key().stamp(body.as_bytes()))
        .send(body.as_bytes())
        .expect("sent");
    let retry = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    (resp.status().as_u16(), retry)
}

/// Acceptance 5: 50 parallel INIT_OTPs for one contact over two server processes on one
/// PostgreSQL: exactly the configured number is sent, the rest get 429 with Retry-After.
#[test]
fn parallel_inits_for_one_contact_hit_the_limit_across_two_processes() {
    let backend = if postgres_available() { Backend::Postgres } else { Backend::Sqlite };
    let limits = ["--otp-sends-per-contact-per-hour", "7", "--otp-inits-per-ip-per-minute", "1000"];
    let server = TestServer::start(BIN, backend, &limits);
    let node2 = server.another_node();
    let root = server.root_client();
    let urls = [server.url.clone(), node2.url.clone()];
    let results: Vec<(u16, Option<u64>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..50)
            .map(|n| {
                let (url, root) = (&urls[n % 2], &root);
                s.spawn(move || raw_init(url, root, n))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    let sent = results.iter().filter(|(status, _)| *status == 200).count();
    let limited: Vec<_> = results.iter().filter(|(status, _)| *status == 429).collect();
    assert_eq!(sent, 7, "{results:?}");
    assert_eq!(limited.len(), 43, "{results:?}");
    assert!(limited.iter().all(|(_, retry)| retry.is_some_and(|s| s > 0 && s <= 3600)), "{limited:?}");
    let outbox = twofold_enclave::Outbox::list(&server.data_dir().join("outbox")).expect("outbox").len()
        + twofold_enclave::Outbox::list(&node2.data_dir().join("outbox")).expect("outbox").len();
    assert_eq!(outbox, 7, "exactly the allowed codes were delivered");
    let message =
        root.submit("init_otp", json!({ "otpType": "OTP_TYPE_EMAIL", "contact": "ivy@example.com", "appName": "x" }));
    refused(message.expect("sent"), 429, "Max number of OTPs have been initiated");
}

/// Org settings: a sub-organization created with disableOtpEmailAuth refuses email OTP logins;
/// sign-up with a verification token creates the root user verified.
#[test]
fn sign_up_with_a_token_and_disabled_email_otp() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let pinned = root.enclave_signing_key().expect("enclave key");
    let key = new_key();
    let outbox = server.data_dir().join("outbox");
    let latest_code = || {
        let path = twofold_enclave::Outbox::list(&outbox).expect("outbox").pop().expect("a message");
        twofold_testkit::otp_code_in(&twofold_enclave::Outbox::read(&path).expect("message").body)
    };
    let started = init_email(&root, "joy@example.com", json!({}));
    let token = root.verify_otp(&started, &pinned, &latest_code(), &key).expect("verify");
    let id = token_id(&token).expect("id");
    let signup = |token: &str, message: &str, disable: bool| {
        let user = json!({ "userName": "joy", "userEmail": "joy@example.com", "apiKeys": [], "authenticators": [], "oauthProviders": [] });
        root.submit(
            "create_sub_organization",
            json!({
                "subOrganizationName": format!("joy {disable}"), "rootUsers": [user], "rootQuorumThreshold": 1,
                "disableOtpEmailAuth": disable, "verificationToken": token,
                "clientSignature": client_signature(&key, message),
            }),
        )
        .expect("sent")
    };
    let wrong_usage = json!({ "signupV2": {}, "tokenId": id, "type": "USAGE_TYPE_LOGIN" }).to_string();
    let failed = ok(Ok(signup(&token, &wrong_usage, true)));
    assert_eq!(failed["activity"]["status"], "ACTIVITY_STATUS_FAILED", "{failed}");
    let message =
        json!({ "signupV2": { "email": "joy@example.com" }, "tokenId": id, "type": "USAGE_TYPE_SIGNUP" }).to_string();
    let result = completed(Ok(signup(&token, &message, true)), "createSubOrganizationResultV8");
    let sub_org = result["subOrganizationId"].as_str().expect("id").to_owned();
    let users = server.db.row_counts();
    assert!(users.iter().any(|(t, n)| t == "users" && *n >= 2), "{users:?}");
    // The token was spent by the sign-up.
    let again = ok(Ok(signup(&token, &message, false)));
    assert_eq!(again["activity"]["status"], "ACTIVITY_STATUS_FAILED", "{again}");
    // Email OTP is disabled for the new organization: a login into it is refused.
    let started = init_email(&root, "joy@example.com", json!({}));
    let token = root.verify_otp(&started, &pinned, &latest_code(), &key).expect("verify");
    let refused_login = root.otp_login(&token, &key, &key.public_key_hex()).expect_err("disabled");
    assert!(refused_login.to_string().contains("disabled"), "{refused_login}");
    let _ = sub_org;
}

/// An approval can carry a verification token for the voter's email: it proves
/// AUTHENTICATION_TYPE_EMAIL_OTP into the vote's proofs, only for that voter, once.
#[test]
fn approvals_accept_a_verification_token_for_the_voters_email_once() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let pinned = root.enclave_signing_key().expect("enclave key");
    let member = |name: &str, email: Option<&str>| {
        let key = new_key();
        let user = json!({ "userName": name, "userEmail": email, "apiKeys": [{ "apiKeyName": name,
            "publicKey": key.public_key_hex(), "curveType": "API_KEY_CURVE_P256" }], "authenticators": [],
            "oauthProviders": [], "userTags": [] });
        completed(root.submit("create_users", json!({ "users": [user] })), "createUsersResult");
        server.client(key, root.organization_id())
    };
    let kim = member("kim", Some("kim@example.com"));
    let bob = member("bob", None);
    let started = init_email(&root, "kim@example.com", json!({}));
    let path = twofold_enclave::Outbox::list(&server.data_dir().join("outbox")).expect("outbox").pop().expect("msg");
    let code = twofold_testkit::otp_code_in(&twofold_enclave::Outbox::read(&path).expect("message").body);
    let token = root.verify_otp(&started, &pinned, &code, &new_key()).expect("verify");
    completed(
        root.submit(
            "create_policy",
            json!({ "policyName": "two", "effect": "EFFECT_ALLOW",
            "condition": "activity.type == 'ACTIVITY_TYPE_CREATE_USER_TAG'", "consensus": "approvers.count() >= 2" }),
        ),
        "createPolicyResult",
    );
    let pending = |name: &str| {
        let body = ok(bob.submit("create_user_tag", json!({ "userTagName": name, "userIds": [] })));
        assert_eq!(body["activity"]["status"], "ACTIVITY_STATUS_CONSENSUS_NEEDED", "{body}");
        body["activity"]["fingerprint"].as_str().expect("fp").to_owned()
    };
    let approve = |who: &Client, fp: &str| {
        who.submit("approve_activity", json!({ "fingerprint": fp, "verificationToken": token })).expect("sent")
    };
    let first = pending("t1");
    // bob's address on record is not the token's.
    refused(approve(&member("cal", Some("cal@example.com")), &first), 401, "not this user's");
    let done = ok(Ok(approve(&kim, &first)));
    assert_eq!(done["activity"]["status"], "ACTIVITY_STATUS_COMPLETED", "{done}");
    assert!(contains(&server.database_bytes(), b"AUTHENTICATION_TYPE_EMAIL_OTP"), "the vote records the proof");
    refused(approve(&kim, &pending("t2")), 401, "already used");
}

/// The newer SDK login: `stamp_login` stamped with `X-Stamp-Attested` (the verification token
/// and a signature by its key over the body) creates a session once; other keys, other
/// endpoints and a second use are refused.
#[test]
fn stamp_login_with_x_stamp_attested_logs_in_once() {
    use base64::Engine as _;
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let sub_org = customer(&root, "lea@example.com");
    let pinned = root.enclave_signing_key().expect("enclave key");
    let started = init_email(&root, "lea@example.com", json!({}));
    let path = twofold_enclave::Outbox::list(&server.data_dir().join("outbox")).expect("outbox").pop().expect("msg");
    let code = twofold_testkit::otp_code_in(&twofold_enclave::Outbox::read(&path).expect("message").body);
    let key = new_key();
    let token = root.verify_otp(&started, &pinned, &code, &key).expect("verify");
    let send = |signer: &ApiKeyPair, name: &str, parameters: Value| {
        let user = Client::new(&server.url, new_key(), &sub_org);
        let body = user.submit_body(name, json!({ "parameters": parameters })).expect("body").to_string();
        let stamp = json!({
            "publicKeyAttestation": token, "scheme": "STAMP_ATTESTED_SCHEME_P256_VERIFICATION_TOKEN",
            "publicKey": key.public_key_hex(), "signature": signer.sign_hex(body.as_bytes()),
        });
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(stamp.to_string());
        user.post_with_headers(&format!("/public/v1/submit/{name}"), body.as_bytes(), &[("X-Stamp-Attested", header)])
            .expect("sent")
    };
    let login = json!({ "publicKey": key.public_key_hex() });
    refused(send(&new_key(), "stamp_login", login.clone()), 401, "does not verify");
    refused(send(&key, "stamp_login", json!({ "publicKey": new_key().public_key_hex() })), 403, "its own publicKey");
    refused(send(&key, "create_user_tag", json!({ "userTagName": "x", "userIds": [] })), 403, "only sign stamp_login");
    let result = completed(Ok(send(&key, "stamp_login", login.clone())), "stampLoginResult");
    assert!(result["session"].as_str().is_some(), "{result}");
    let same = ApiKeyPair::from_private_hex(key.curve(), &key.private_key_hex()).expect("key");
    let whoami = ok(server.client(same, &sub_org).query("get_whoami", json!({})));
    assert_eq!(whoami["organizationId"], sub_org.as_str());
    std::thread::sleep(std::time::Duration::from_millis(5));
    refused(send(&key, "stamp_login", login), 401, "already used");
}

/// A mail server that is down neither hangs nor fails INIT_OTP: the code is made and its
/// flow committed, the delivery fails quickly after the commit, and the outbox delivers the
/// same code once the mail server is up, which then verifies.
#[test]
fn a_delivery_that_fails_after_commit_is_retried_from_the_outbox() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let port = closed.to_string();
    let flags =
        ["--smtp-host", "127.0.0.1", "--smtp-port", &port, "--smtp-tls", "none", "--delivery-timeout-ms", "2000"];
    let server = TestServer::start(BIN, Backend::Sqlite, &flags);
    let root = server.root_client();
    let began = std::time::Instant::now();
    let started = init_email(&root, "max@example.com", json!({ "appName": "A" }));
    assert!(began.elapsed() < std::time::Duration::from_secs(10), "took {:?}", began.elapsed());
    assert!(server.log().contains("OTP code delivery failed"), "{}", server.log());
    let Some(sink) = twofold_testkit::SmtpSink::start_on(closed) else { return };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while sink.messages().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the outbox did not deliver the code:\n{}", server.log());
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let code = sink.latest_code_for("max@example.com");
    let pinned = root.enclave_signing_key().expect("enclave key");
    root.verify_otp(&started, &pinned, &code, &new_key()).expect("the retried code verifies");
    assert_eq!(sink.messages().len(), 1, "delivered once");
    // SMS has no webhook configured: it still goes to the outbox.
    let sms = json!({ "otpType": "OTP_TYPE_SMS", "contact": "+15551234567", "appName": "A" });
    root.init_otp(sms).expect("SMS to the outbox");
}

/// `twofold otp init|verify|login` and `twofold outbox show` do the whole flow from a shell.
#[test]
fn cli_does_the_whole_flow() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let sub_org = customer(&root, "ned@example.com");
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = dir.path().join("otp-key.json");
    let cli = |args: &[&str]| -> Value {
        let out = Command::new(BIN)
            .args(args)
            .args(["--url", &server.url, "--key-file"])
            .arg(server.root_key_path())
            .output()
            .expect("twofold runs");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let started = cli(&["otp", "init", "--contact", "ned@example.com", "--app-name", "Acme"]);
    let out = Command::new(BIN)
        .args(["outbox", "show", "--output", "json", "--dir"])
        .arg(server.data_dir().join("outbox"))
        .output()
        .expect("twofold runs");
    let msg: Value = serde_json::from_slice(&out.stdout).expect("json");
    let code = twofold_testkit::otp_code_in(msg["body"].as_str().expect("body"));
    assert_eq!(msg["code"], code.as_str(), "the JSON names the code: {msg}");
    let key_path = key_file.display().to_string();
    let verified = cli(&[
        "otp",
        "verify",
        "--otp-id",
        started["otpId"].as_str().expect("id"),
        "--bundle",
        started["otpEncryptionTargetBundle"].as_str().expect("bundle"),
        "--code",
        &code,
        "--client-key-file",
        &key_path,
    ]);
    let token = verified["verificationToken"].as_str().expect("token");
    let session = cli(&["otp", "login", "--token", token, "--client-key-file", &key_path]);
    assert_eq!(twofold_testkit::session_claims(&session)["organization_id"], sub_org.as_str(), "{session}");
    let key = twofold_client::KeyFile::load(&key_file).expect("key file").key_pair().expect("key");
    ok(server.client(key, &sub_org).query("get_whoami", json!({})));
}

/// Issue 6, scenario (a) with its email branch: an MFA step of "EMAIL_OTP or TOTP" is proven
/// by approving with a verification token for the user's own address.
#[test]
fn an_email_code_proves_an_mfa_step() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let pinned = root.enclave_signing_key().expect("enclave key");
    let key = new_key();
    let user = json!({ "userName": "kim", "userEmail": "kim@example.com", "apiKeys": [{ "apiKeyName": "kim",
        "publicKey": key.public_key_hex(), "curveType": "API_KEY_CURVE_P256" }], "authenticators": [],
        "oauthProviders": [], "userTags": [] });
    let kim_id = completed(root.submit("create_users", json!({ "users": [user] })), "createUsersResult")["userIds"][0]
        .as_str()
        .expect("id")
        .to_owned();
    let kim = server.client(key, root.organization_id());
    completed(
        root.submit(
            "create_policy",
            json!({ "policyName": "tags", "effect": "EFFECT_ALLOW", "notes": "",
            "condition": "activity.type == 'ACTIVITY_TYPE_CREATE_USER_TAG'" }),
        ),
        "createPolicyResult",
    );
    let methods =
        json!([{ "any": [{ "type": "AUTHENTICATION_TYPE_EMAIL_OTP" }, { "type": "AUTHENTICATION_TYPE_TOTP" }] }]);
    completed(
        root.submit(
            "create_mfa_policy",
            json!({ "userId": kim_id, "mfaPolicyName": "tags need a code",
            "condition": "activity.type == 'ACTIVITY_TYPE_CREATE_USER_TAG'", "requiredAuthenticationMethods": methods,
            "order": 0 }),
        ),
        "createMfaPolicyResult",
    );
    let pending = ok(kim.submit("create_user_tag", json!({ "userTagName": "stepped", "userIds": [] })));
    assert_eq!(pending["activity"]["status"], "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED", "{pending}");
    let started = init_email(&root, "kim@example.com", json!({}));
    let path = twofold_enclave::Outbox::list(&server.data_dir().join("outbox")).expect("outbox").pop().expect("msg");
    let code = twofold_testkit::otp_code_in(&twofold_enclave::Outbox::read(&path).expect("message").body);
    let token = root.verify_otp(&started, &pinned, &code, &new_key()).expect("verify");
    let fp = pending["activity"]["fingerprint"].as_str().expect("fp");
    let done = ok(kim.submit("approve_activity", json!({ "fingerprint": fp, "verificationToken": token })));
    assert_eq!(done["activity"]["status"], "ACTIVITY_STATUS_COMPLETED", "{done}");
    let status = ok(kim.query("get_mfa_status", json!({ "activityId": pending["activity"]["id"] })));
    assert_eq!(status["mfaStatuses"][0]["satisfied"], true, "{status}");
    assert_eq!(status["mfaStatuses"][0]["satisfiedMethods"][0]["type"], "AUTHENTICATION_TYPE_EMAIL_OTP");
}

/// The code of the newest SMS the gateway received for `to` (waits up to 10 s for it).
fn sms_code_for(gateway: &support::HttpSink, to: &str, count: usize) -> (String, String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mine: Vec<(Value, String)> = gateway
            .received()
            .into_iter()
            .map(|r| (serde_json::from_str(&r.body).unwrap_or(Value::Null), r.header("authorization")))
            .filter(|(sms, _)| sms["to"] == to)
            .collect();
        if let Some((sms, authorization)) = mine.get(count - 1) {
            let text = sms["body"].as_str().unwrap_or_default();
            let code = text.split_once(" is your ").expect("the default SMS text").0.to_owned();
            return (code, authorization.clone());
        }
        assert!(std::time::Instant::now() < deadline, "SMS number {count} to {to} never reached the gateway");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Issue 23.8, SMS end to end: a sub-organization whose root user has a phone number; the
/// backend's INIT_OTP sends an SMS through the SMS webhook (with the header from its file), the
/// code from that SMS verifies, and the token logs the user in to a session that stamps
/// requests. The per-contact send limit holds for SMS: past it the answer is 429 and the
/// gateway gets nothing more. (The per-organization in-flight cap counts anonymous callers,
/// which can send only email codes: `e2e_otp_fairness::a_few_networks_cannot_lock_an_organization_out_of_otp`.)
fn sms_verify_and_login_through_the_webhook(backend: Backend) {
    let gateway = support::HttpSink::start("/sms", |_, _| 200);
    let dir = tempfile::tempdir().expect("dir");
    let header = dir.path().join("sms-header");
    std::fs::write(&header, "Authorization: Bearer gateway-secret\n").expect("header file");
    let header = header.display().to_string();
    let flags = [
        "--sms-webhook-url",
        &gateway.url,
        "--sms-webhook-header-file",
        &header,
        "--otp-sends-per-contact-per-hour",
        "3",
    ];
    let server = TestServer::start(BIN, backend, &flags);
    let root = server.root_client();
    let phone = "+15550001234";
    let user = json!({ "userName": "sam", "userPhoneNumber": phone, "apiKeys": [], "authenticators": [], "oauthProviders": [] });
    let created = completed(
        root.submit(
            "create_sub_organization",
            json!({ "subOrganizationName": "sam's", "rootUsers": [user], "rootQuorumThreshold": 1 }),
        ),
        "createSubOrganizationResultV8",
    );
    let sub_org = created["subOrganizationId"].as_str().expect("sub-organization").to_owned();
    let pinned = root.enclave_signing_key().expect("enclave key");
    let sms = json!({ "otpType": "OTP_TYPE_SMS", "contact": phone, "appName": "Acme" });
    let started = root.init_otp(sms.clone()).expect("init_otp completes");
    let (code, authorization) = sms_code_for(&gateway, phone, 1);
    assert_eq!(authorization, "Bearer gateway-secret", "the header file's header");
    assert_eq!(code.len(), 9, "{code}");
    let key = new_key();
    let token = root.verify_otp(&started, &pinned, &code, &key).expect("the SMS code verifies");
    login_and_use(&server, &root, &token, &key, &sub_org);
    let twice = root.verify_otp(&started, &pinned, &code, &new_key());
    assert!(twice.is_err(), "a code is accepted once");

    // Two more codes to the number go; the fourth in the hour is refused and never sent.
    for n in 2..=3 {
        root.init_otp(sms.clone()).expect("within the per-contact limit");
        sms_code_for(&gateway, phone, n);
    }
    let fourth = root.submit("init_otp", sms).expect("sent");
    refused(fourth, 429, "");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let sent = gateway.received().iter().filter(|r| r.body.contains(phone)).count();
    assert_eq!(sent, 3, "nothing past the limit");
}

on_every_backend!(
    sms_verify_and_login_through_the_webhook_sqlite,
    sms_verify_and_login_through_the_webhook_postgres,
    sms_verify_and_login_through_the_webhook
);

/// `list_email_events`: a one-time code and a notice each leave a `Send` event for their
/// recipient, in the organization they were sent for, newest first; never the code, never the
/// text; bad filters are 400s.
fn email_events(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let events = |client: &Client, email: &str| -> Vec<Value> {
        let answer = ok(client.query("list_email_events", json!({ "email": email })));
        answer["emailEvents"].as_array().expect("events").clone()
    };
    let started = init_email(&root, "Eve@Example.com", json!({}));
    let wait_for = |email: &str, n: usize| -> Vec<Value> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let seen = events(&root, email);
            if seen.len() >= n || std::time::Instant::now() > deadline {
                return seen;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let sent = wait_for("eve@example.com", 1);
    let code = support::latest_code_to(&server, "eve@example.com");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["eventType"], "Send");
    assert_eq!(sent[0]["messageId"], started.otp_id.as_str());
    assert_eq!(sent[0]["toAddress"], "eve@example.com");
    assert_eq!(sent[0]["fromAddress"], "twofold <no-reply@twofold.invalid>");
    assert_eq!(sent[0]["organizationId"], root.organization_id());
    assert!(!serde_json::to_string(&sent).expect("json").contains(&code), "never the code");

    // A notice (the old address hears of a contact change) is an event of its own.
    let key = new_key();
    let mut user = user_with_key("nora", &key);
    user["userEmail"] = json!("nora@example.com");
    let nora = completed(root.submit("create_users", json!({ "users": [user] })), "createUsersResult")["userIds"][0]
        .as_str()
        .expect("id")
        .to_owned();
    completed(
        root.submit("update_user_email", json!({ "userId": nora, "userEmail": "nora@elsewhere.example" })),
        "updateUserEmailResult",
    );
    let notice = wait_for("nora@example.com", 1);
    assert_eq!(notice.len(), 1, "{notice:?}");
    assert_eq!(notice[0]["eventType"], "Send", "{notice:?}");
    assert_ne!(notice[0]["messageId"], started.otp_id.as_str());
    let only_sends = ok(root.query("list_email_events", json!({ "email": "eve@example.com", "eventType": "Bounce" })));
    assert_eq!(only_sends["emailEvents"], json!([]), "filtered by type");

    // Another organization sees none of them; bad input is a 400 naming the field.
    let (_, _, tenant) = support::sub_org(&server, &root, "tenant");
    assert!(events(&tenant, "eve@example.com").is_empty(), "events are the organization's own");
    for (body, needle) in [
        (json!({ "email": "" }), "email"),
        (json!({ "email": "eve@example.com", "eventType": "Open" }), "eventType"),
        (json!({ "email": "eve@example.com", "paginationOptions": { "before": "x" } }), "after"),
        (json!({}), "email"),
    ] {
        let resp = root.query("list_email_events", body.clone()).expect("sent");
        assert_eq!(resp.status, 400, "{body}: {}", resp.body);
        assert!(resp.body["message"].as_str().is_some_and(|m| m.contains(needle)), "{body}: {}", resp.body);
    }
}

on_every_backend!(email_events_sqlite, email_events_postgres, email_events);
