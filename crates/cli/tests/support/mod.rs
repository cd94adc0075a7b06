//! Helpers the end-to-end tests share: users with keys, software passkeys and their
//! `X-Stamp-Webauthn` stamps, TOTP codes computed by Python's pyotp, approvals.
#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(clippy::expect_used, reason = "tests fail loudly")]

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use twofold_client::{ApiResponse, Client};
use twofold_testkit::{TestServer, completed, new_key, ok, user_with_key};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs_proto::{CreationChallengeResponse, RequestChallengeResponse};

#[track_caller]
pub fn refused(resp: ApiResponse, status: u16, needle: &str) {
    assert_eq!(resp.status, status, "{}", resp.body);
    let msg = resp.body["message"].as_str().expect("message");
    assert!(msg.contains(needle), "message `{msg}` should contain `{needle}`");
}

/// Creates a user with an API key in the root organization; returns its id and client.
pub fn member(server: &TestServer, root: &Client, name: &str) -> (String, Client) {
    let (id, key) = member_key(root, name);
    (id, server.client(key, root.organization_id()))
}

/// Creates a user with an API key in the root organization; returns its id and key.
pub fn member_key(root: &Client, name: &str) -> (String, twofold_client::ApiKeyPair) {
    let key = new_key();
    let id = completed(
        root.submit("create_users", json!({ "users": [user_with_key(name, &key)] })),
        "createUsersResult",
    )["userIds"][0]
        .as_str()
        .expect("id")
        .to_owned();
    (id, key)
}

pub fn origin(server: &TestServer) -> url::Url {
    url::Url::parse(&server.url.replace("127.0.0.1", "localhost")).expect("origin")
}

/// Registers a software passkey for `user_id`; returns the authenticator and its ids.
pub fn register_passkey(server: &TestServer, client: &Client, user_id: &str) -> (SoftPasskey, String, String) {
    let options = ok(client.query("get_passkey_registration_options", json!({ "userId": user_id })));
    let challenge = options["challenge"].as_str().expect("challenge").to_owned();
    let creation: CreationChallengeResponse =
        serde_json::from_value(json!({ "publicKey": options["publicKey"] })).expect("creation options");
    let mut authenticator = SoftPasskey::new(true);
    let reg = authenticator.do_registration(origin(server), creation).expect("software passkey registers");
    let attestation = json!({
        "credentialId": URL_SAFE_NO_PAD.encode(&reg.raw_id),
        "clientDataJson": URL_SAFE_NO_PAD.encode(&reg.response.client_data_json),
        "attestationObject": URL_SAFE_NO_PAD.encode(&reg.response.attestation_object),
        "transports": ["AUTHENTICATOR_TRANSPORT_INTERNAL"],
    });
    let params = json!({ "userId": user_id, "authenticators": [
        { "authenticatorName": "soft key", "challenge": challenge, "attestation": attestation }
    ]});
    let ids = completed(client.submit("create_authenticators", params.clone()), "createAuthenticatorsResult");
    // The ceremony's challenge is single use (the replay is stamped by the new passkey, which
    // proves the account level, so it runs — and fails on the used challenge).
    let credential_id = URL_SAFE_NO_PAD.encode(&reg.raw_id);
    let again =
        submit_with_passkey(server, client, &mut authenticator, &credential_id, "create_authenticators", params);
    assert_eq!(again.body["activity"]["status"], "ACTIVITY_STATUS_FAILED", "{}", again.body);
    (authenticator, ids["authenticatorIds"][0].as_str().expect("id").to_owned(), credential_id)
}

/// An `X-Stamp-Webauthn` header for `body`, made by `authenticator` for `origin`.
pub fn passkey_stamp(authenticator: &mut SoftPasskey, origin: url::Url, credential_id: &str, body: &[u8]) -> String {
    let challenge = hex::encode(Sha256::digest(body));
    let request: RequestChallengeResponse = serde_json::from_value(json!({ "publicKey": {
        "challenge": URL_SAFE_NO_PAD.encode(challenge.as_bytes()),
        "rpId": "localhost",
        "allowCredentials": [{ "type": "public-key", "id": credential_id }],
        "userVerification": "required",
    }}))
    .expect("request options");
    let assertion = authenticator.do_authentication(origin, request).expect("software passkey signs");
    json!({
        "authenticatorData": URL_SAFE_NO_PAD.encode(&assertion.response.authenticator_data),
        "clientDataJson": URL_SAFE_NO_PAD.encode(&assertion.response.client_data_json),
        "credentialId": URL_SAFE_NO_PAD.encode(&assertion.raw_id),
        "signature": URL_SAFE_NO_PAD.encode(&assertion.response.signature),
    })
    .to_string()
}

pub fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs_f64()
}

/// Waits, if need be, until at most `used` seconds of the current 30-second TOTP step have
/// passed, so a test that reasons about "this step's code" finishes within that step.
pub fn early_in_totp_step(used: f64) {
    let into = now_secs() % 30.0;
    if into > used {
        std::thread::sleep(std::time::Duration::from_secs_f64(30.0 - into + 0.05));
    }
}

/// The TOTP code for `uri` at `offset` seconds from now, computed by pyotp.
pub fn pyotp(uri: &str, offset: i64) -> String {
    let script = format!("import pyotp,sys; print(pyotp.parse_uri(sys.argv[1]).at({} + {offset}))", now_secs());
    let out = Command::new("python3").args(["-c", &script, uri]).output().expect("python3 runs");
    assert!(
        out.status.success(),
        "pyotp failed (the test command installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8").trim().to_owned()
}

/// A TOTP device enrolled and activated for `user`; returns its otpauth URI and seed (base32).
pub fn enroll_totp(client: &Client, user_id: &str) -> (String, String) {
    enroll_totp_by(client, user_id, 0, |params| client.submit("verify_totp_authenticator", params).expect("sent"))
}

/// [`enroll_totp`] for a user who already has a second factor: the activating request is
/// stamped by their passkey, which proves the binding at the account's level.
pub fn enroll_totp_with_passkey(
    server: &TestServer,
    client: &Client,
    user_id: &str,
    soft: &mut SoftPasskey,
    credential_id: &str,
) -> (String, String) {
    enroll_totp_by(client, user_id, 0, |params| {
        submit_with_passkey(server, client, soft, credential_id, "verify_totp_authenticator", params)
    })
}

/// [`enroll_totp`], sending the activating `verify_totp_authenticator` parameters with `verify`;
/// the first code is the app's at `skew_secs` from real time (the server's test clock offset).
pub fn enroll_totp_by(
    client: &Client,
    user_id: &str,
    skew_secs: i64,
    verify: impl FnOnce(Value) -> ApiResponse,
) -> (String, String) {
    let created = completed(
        client.submit("create_totp_authenticator", json!({ "userId": user_id })),
        "createTotpAuthenticatorResult",
    );
    let uri = created["otpauthUri"].as_str().expect("otpauth URI shown once").to_owned();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(created["qrCodePng"].as_str().expect("qr").starts_with("data:image/png;base64,"));
    let id = created["totpAuthenticatorId"].as_str().expect("id").to_owned();
    let inactive = ok(client.query("get_totp_authenticators", json!({ "userId": user_id })));
    assert_eq!(inactive["totpAuthenticators"][0]["active"], false, "inactive until the first code");
    let verified = verify(json!({ "userId": user_id, "totpAuthenticatorId": id, "totpCode": pyotp(&uri, skew_secs) }));
    assert_eq!(verified.body["activity"]["status"], "ACTIVITY_STATUS_COMPLETED", "{}", verified.body);
    let active = ok(client.query("get_totp_authenticators", json!({ "userId": user_id })));
    assert_eq!(active["totpAuthenticators"][0]["active"], true);
    (uri, created["secret"].as_str().expect("secret").to_owned())
}

pub fn approve_with(client: &Client, fingerprint: &str, proof: Value) -> ApiResponse {
    let mut params = json!({ "fingerprint": fingerprint });
    params.as_object_mut().expect("object").extend(proof.as_object().expect("object").clone());
    client.submit("approve_activity", params).expect("sent")
}

/// Submits `params` to `path` stamped with a passkey instead of the client's key.
pub fn submit_with_passkey(
    server: &TestServer,
    client: &Client,
    soft: &mut SoftPasskey,
    credential_id: &str,
    path: &str,
    params: Value,
) -> ApiResponse {
    let body = client.submit_body(path, json!({ "parameters": params })).expect("body").to_string();
    let stamp = passkey_stamp(soft, origin(server), credential_id, body.as_bytes());
    client
        .post_with_headers(&format!("/public/v1/submit/{path}"), body.as_bytes(), &[("X-Stamp-Webauthn", stamp)])
        .expect("sent")
}

/// A sub-organization with one root user; returns (org id, root user id, root user's client).
pub fn sub_org(server: &TestServer, root: &Client, name: &str) -> (String, String, Client) {
    let key = new_key();
    let mut owner = user_with_key(&format!("{name} owner"), &key);
    owner.as_object_mut().expect("object").remove("userTags");
    let created = completed(
        root.submit(
            "create_sub_organization",
            json!({ "subOrganizationName": name, "rootQuorumThreshold": 1,
                    "rootUsers": [owner] }),
        ),
        "createSubOrganizationResultV8",
    );
    let org = created["subOrganizationId"].as_str().expect("sub-org id").to_owned();
    let user = created["rootUserIds"][0].as_str().expect("root user").to_owned();
    (org.clone(), user, server.client(key, &org))
}

/// Posts `body` to `/auth-proxy/v1/<name>` as a browser with no credentials would.
pub fn proxy(client: &Client, name: &str, body: Value) -> ApiResponse {
    client.post_with_headers(&format!("/auth-proxy/v1/{name}"), body.to_string().as_bytes(), &[]).expect("sent")
}

/// The one-time code in the newest message of the server's dev outbox sent to `to` (notices
/// to other addresses may be newer).
pub fn latest_code_to(server: &TestServer, to: &str) -> String {
    let mut paths = twofold_enclave::Outbox::list(&server.data_dir().join("outbox")).expect("outbox");
    paths.sort();
    let body = paths
        .iter()
        .rev()
        .map(|p| twofold_enclave::Outbox::read(p).expect("message"))
        .find(|m| m.to == to && m.body.lines().any(|l| l.starts_with("    ")))
        .unwrap_or_else(|| panic!("no code was sent to {to}"))
        .body;
    twofold_testkit::otp_code_in(&body)
}

/// Email-code sign-in through `org`'s auth proxy for `email`, bound to `key`: otp_init, the
/// code from the outbox, otp_verify, otp_login. Returns the otp_login answer.
pub fn proxy_login(
    server: &TestServer,
    client: &Client,
    org: &str,
    email: &str,
    key: &twofold_client::ApiKeyPair,
) -> ApiResponse {
    use twofold_client::otp::{client_signature, encrypt_attempt, login_message, token_id};
    let started = proxy(client, "otp_init", json!({ "organizationId": org, "contact": email }));
    if started.status != 200 {
        return started;
    }
    let code = latest_code_to(server, email);
    let pinned = client.enclave_signing_key().expect("enclave key");
    let bundle = started.body["otpEncryptionTargetBundle"].as_str().expect("bundle");
    let attempt = encrypt_attempt(bundle, &pinned, &code, &key.public_key_hex()).expect("sealed");
    let verified = proxy(
        client,
        "otp_verify",
        json!({ "organizationId": org, "otpId": started.body["otpId"], "encryptedOtpBundle": attempt }),
    );
    assert_eq!(verified.status, 200, "{}", verified.body);
    let token = verified.body["verificationToken"].as_str().expect("token").to_owned();
    let message = login_message(&key.public_key_hex(), &token_id(&token).expect("id"));
    proxy(
        client,
        "otp_login",
        json!({ "organizationId": org, "verificationToken": token, "publicKey": key.public_key_hex(),
                "clientSignature": client_signature(key, &message) }),
    )
}

/// An anonymous sign-up of `email` through `root`'s auth proxy (sign-up must be allowed), with
/// `key` as the new sub-organization's root credential; returns the sub-organization's id.
pub fn anonymous_sign_up(server: &TestServer, root: &Client, email: &str, key: &twofold_client::ApiKeyPair) -> String {
    use twofold_client::otp::{client_signature, encrypt_attempt, token_id};
    let org = root.organization_id();
    let answer = |name: &str, body: Value| {
        let resp = proxy(root, name, body);
        assert_eq!(resp.status, 200, "{name}: {}", resp.body);
        resp.body
    };
    let started = answer("otp_init", json!({ "organizationId": org, "contact": email }));
    let code = latest_code_to(server, email);
    let pinned = root.enclave_signing_key().expect("enclave key");
    let bundle = started["otpEncryptionTargetBundle"].as_str().expect("bundle");
    let attempt = encrypt_attempt(bundle, &pinned, &code, &key.public_key_hex()).expect("sealed");
    let verified = answer(
        "otp_verify",
        json!({ "organizationId": org, "otpId": started["otpId"], "encryptedOtpBundle": attempt }),
    );
    let token = verified["verificationToken"].as_str().expect("token").to_owned();
    let message = json!({ "signupV2": { "email": email }, "tokenId": token_id(&token).expect("id"),
        "type": "USAGE_TYPE_SIGNUP" })
    .to_string();
    let created = answer(
        "signup",
        json!({ "organizationId": org, "userEmail": email, "verificationToken": token,
                "clientSignature": client_signature(key, &message), "publicKey": key.public_key_hex() }),
    );
    created["subOrganizationId"].as_str().expect("sub-organization").to_owned()
}

/// `GET /metrics`: the OpenMetrics text (no metrics token is configured in the tests).
pub fn metrics(server: &TestServer) -> String {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .get(&format!("{}/metrics", server.url))
        .call()
        .expect("GET /metrics")
        .body_mut()
        .read_to_string()
        .expect("text")
}

/// The value of the series `name` (with its labels, as printed) in a metrics text; 0 if absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok())).unwrap_or(0.0)
}

/// Where the Chromium tests write screenshots: under `target_tmp` (the test's
/// `CARGO_TARGET_TMPDIR`), so a run leaves the working tree untouched; into the committed
/// `docs/screenshots/`, which the README links, only with `TWOFOLD_SCREENSHOTS=docs`.
pub fn screenshot_dir(target_tmp: &str) -> std::path::PathBuf {
    let dir = if std::env::var("TWOFOLD_SCREENSHOTS").is_ok_and(|v| v == "docs") {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
    } else {
        std::path::PathBuf::from(target_tmp).join("console-screenshots")
    };
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

/// One request an [`HttpSink`] received.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// The request target (`/hooks/twofold`).
    pub path: String,
    /// Header lines as `(name, value)`.
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
}

impl HttpRequest {
    /// Whether its `Twofold-Signature` header signs its body with `secret`, as of now.
    pub fn signed_with(&self, secret: &str) -> bool {
        let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()).expect("secs");
        twofold_core::webhook::verify_signature(
            secret.as_bytes(),
            &self.header("twofold-signature"),
            &self.body,
            now,
            300,
        )
    }

    /// The value of header `name` (any case), or "".
    pub fn header(&self, name: &str) -> String {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()).unwrap_or_default()
    }
}

/// A loopback HTTP receiver (webhook endpoints, an SMS gateway) keeping every request it
/// gets; `status` picks each answer's status from the request and those before it.
pub struct HttpSink {
    /// `http://127.0.0.1:PORT<path>`.
    pub url: String,
    /// What it received, oldest first.
    pub seen: std::sync::Arc<std::sync::Mutex<Vec<HttpRequest>>>,
}

impl HttpSink {
    /// Listens on a free loopback port; its URL ends in `path`.
    pub fn start(path: &str, status: impl Fn(&HttpRequest, &[HttpRequest]) -> u16 + Send + 'static) -> HttpSink {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}{path}", listener.local_addr().expect("addr"));
        let seen = std::sync::Arc::<std::sync::Mutex<Vec<HttpRequest>>>::default();
        let log = std::sync::Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut lines = Vec::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    lines.push(line.trim_end().to_owned());
                }
                let path = lines.first().and_then(|l| l.split(' ').nth(1)).unwrap_or_default().to_owned();
                let headers: Vec<(String, String)> = lines
                    .iter()
                    .skip(1)
                    .filter_map(|h| h.split_once(':'))
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .collect();
                let mut request = HttpRequest { path, headers, body: String::new() };
                let mut body = vec![0; request.header("content-length").parse().unwrap_or(0)];
                let _ = reader.read_exact(&mut body);
                request.body = String::from_utf8_lossy(&body).into_owned();
                let mut seen = log.lock().expect("lock");
                let code = status(&request, &seen);
                seen.push(request);
                drop(seen);
                let reason = if code == 200 { "OK" } else { "Error" };
                let _ = write!(stream, "HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            }
        });
        HttpSink { url, seen }
    }

    /// What it received so far.
    pub fn received(&self) -> Vec<HttpRequest> {
        self.seen.lock().expect("lock").clone()
    }
}

/// What @turnkey/core's `createWebPasskey` makes: a random challenge and user handle of the
/// client's own, rp `localhost`, ES256 or RS256; the attestation as the SDK sends it, with the
/// challenge base64url-encoded. `signed_origin` is the page the browser ran on.
pub fn client_made_passkey(signed_origin: url::Url, name: &str) -> (SoftPasskey, Value, String) {
    let challenge: [u8; 32] = rand_bytes();
    let encoded = URL_SAFE_NO_PAD.encode(challenge);
    // The page's own host is the rp id its browser allows (a phishing page can only ask for its own).
    let rp_id = signed_origin.host_str().expect("host").to_owned();
    let options: CreationChallengeResponse = serde_json::from_value(json!({ "publicKey": {
        "rp": { "id": rp_id, "name": "" },
        "user": { "id": URL_SAFE_NO_PAD.encode(rand_bytes::<16>()), "name": name, "displayName": name },
        "challenge": encoded,
        "pubKeyCredParams": [{ "type": "public-key", "alg": -7 }, { "type": "public-key", "alg": -257 }],
        // The software authenticator keeps no resident keys (@turnkey/core asks for them), and it
        // verifies its user only when asked to (@turnkey/core prefers it; platform passkeys do it;
        // twofold requires it: a passkey is a multi-factor authenticator only if it verifies its user).
        "authenticatorSelection": { "requireResidentKey": false, "userVerification": "required" },
        "attestation": "none",
    }}))
    .expect("creation options");
    let mut soft = SoftPasskey::new(true);
    let reg = soft.do_registration(signed_origin, options).expect("software passkey registers");
    let credential_id = URL_SAFE_NO_PAD.encode(&reg.raw_id);
    let authenticator = json!({
        "authenticatorName": name,
        "challenge": encoded,
        "attestation": {
            "credentialId": credential_id,
            "clientDataJson": URL_SAFE_NO_PAD.encode(&reg.response.client_data_json),
            "attestationObject": URL_SAFE_NO_PAD.encode(&reg.response.attestation_object),
            "transports": ["AUTHENTICATOR_TRANSPORT_INTERNAL"],
        },
    });
    (soft, authenticator, credential_id)
}

pub fn rand_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).expect("randomness");
    out
}

/// A local OpenID Connect issuer on loopback: one ES256 key (kid `k1`), its JWK set served at
/// `<url>/jwks.json`, and tokens signed with it.
pub struct LocalIssuer {
    /// `http://127.0.0.1:PORT`: the `iss` of its tokens.
    pub url: String,
    key: p256::ecdsa::SigningKey,
}

impl LocalIssuer {
    /// Starts serving the key set.
    pub fn start() -> LocalIssuer {
        use base64::Engine as _;
        use std::io::{BufRead, BufReader, Write};
        let key = p256::ecdsa::SigningKey::from_slice(&rand_bytes::<32>()).expect("a P-256 scalar");
        let point = key.verifying_key().to_sec1_point(false);
        let (x, y) = point.as_bytes()[1..].split_at(32);
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let jwks = json!({ "keys": [{ "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
            "x": b64(x), "y": b64(y) }] })
        .to_string();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    line.clear();
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{jwks}",
                    jwks.len()
                );
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        LocalIssuer { url, key }
    }

    /// `{issuer, audiences, jwksUrl}` for `set_oidc_issuers`, with audience `aud`.
    pub fn trusted(&self, aud: &str) -> Value {
        json!({ "issuer": self.url, "audiences": [aud], "jwksUrl": format!("{}/jwks.json", self.url) })
    }

    /// An ID token for `sub` and `aud`, valid for ten minutes, with `nonce` when given.
    pub fn token(&self, sub: &str, aud: &str, nonce: Option<&str>) -> String {
        use base64::Engine as _;
        use p256::ecdsa::signature::Signer;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let now = i64::try_from(std::time::UNIX_EPOCH.elapsed().expect("clock").as_secs()).expect("secs");
        let mut claims = json!({ "iss": self.url, "sub": sub, "aud": aud, "iat": now, "exp": now + 600,
            "jti": hex::encode(rand_bytes::<8>()) });
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        let input =
            format!("{}.{}", b64(br#"{"alg":"ES256","typ":"JWT","kid":"k1"}"#), b64(claims.to_string().as_bytes()));
        let signature: p256::ecdsa::Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", b64(&signature.to_bytes()))
    }
}
