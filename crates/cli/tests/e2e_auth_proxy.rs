//! End-to-end auth proxy (issue 9 item 1's server side): an organization enables it with
//! an activity; unauthenticated `/auth-proxy/v1/*` requests then run email-code sign-in
//! and sign-up as the organization's service user, through the normal pipeline (policies,
//! abuse limits, MFA enforcement), on SQLite and PostgreSQL.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

use serde_json::{Value, json};
use twofold_client::otp::{client_signature, encrypt_attempt, login_message, token_id};
use twofold_client::{ApiKeyPair, ApiResponse, Client};
use twofold_testkit::{Backend, TestServer, completed, new_key, ok, on_every_backend};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

/// Posts `body` to `/auth-proxy/v1/<name>` with no stamp.
fn proxy(root: &Client, name: &str, body: Value) -> ApiResponse {
    root.post_with_headers(&format!("/auth-proxy/v1/{name}"), body.to_string().as_bytes(), &[]).expect("sent")
}

#[track_caller]
fn refused(resp: &ApiResponse, status: u16, needle: &str) {
    assert_eq!(resp.status, status, "{}", resp.body);
    let msg = resp.body["message"].as_str().expect("message");
    assert!(msg.contains(needle), "message `{msg}` should contain `{needle}`");
}

#[track_caller]
fn answer(resp: ApiResponse) -> Value {
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.body
}

/// A sub-organization whose root user has `email` and no credentials.
fn customer(root: &Client, email: &str) -> String {
    let user =
        json!({ "userName": email, "userEmail": email, "apiKeys": [], "authenticators": [], "oauthProviders": [] });
    let params =
        json!({ "subOrganizationName": format!("org of {email}"), "rootUsers": [user], "rootQuorumThreshold": 1 });
    let result = completed(root.submit("create_sub_organization", params), "createSubOrganizationResultV8");
    result["subOrganizationId"].as_str().expect("sub-organization id").to_owned()
}

fn latest_code(server: &TestServer) -> String {
    let path =
        twofold_enclave::Outbox::list(&server.data_dir().join("outbox")).expect("outbox").pop().expect("a message");
    twofold_testkit::otp_code_in(&twofold_enclave::Outbox::read(&path).expect("message").body)
}

/// otp_init -> code from the outbox -> otp_verify, all through the proxy; returns the token.
fn verified_token(server: &TestServer, root: &Client, email: &str, key: &ApiKeyPair) -> String {
    let org = root.organization_id();
    let pinned = pinned_key(server);
    let started = answer(proxy(root, "otp_init", json!({ "organizationId": org, "contact": email })));
    let code = latest_code(server);
    assert_eq!(code.len(), 6, "the proxy's default: 6 digits");
    let bundle = started["otpEncryptionTargetBundle"].as_str().expect("bundle");
    let attempt = encrypt_attempt(bundle, &pinned, &code, &key.public_key_hex()).expect("bundle signed by the enclave");
    let verified = answer(proxy(
        root,
        "otp_verify",
        json!({ "organizationId": org, "otpId": started["otpId"], "encryptedOtpBundle": attempt }),
    ));
    verified["verificationToken"].as_str().expect("token").to_owned()
}

/// `GET /auth-proxy/v1/enclave_keys`: the enclave key the browser pins.
fn pinned_key(server: &TestServer) -> String {
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let mut resp = agent.get(&format!("{}/auth-proxy/v1/enclave_keys", server.url)).call().expect("sent");
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("json");
    body["signingPublicKey"].as_str().expect("signing key").to_owned()
}

fn enable(root: &Client, params: Value) -> String {
    let result = completed(root.submit("enable_auth_proxy", params), "enableAuthProxyResult");
    result["userId"].as_str().expect("service user id").to_owned()
}

/// Item 1 (server side): a browser-like client with no credentials signs a user of a
/// sub-organization in with an email code; the session key then stamps requests.
fn signs_in_with_an_email_code(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let org = root.organization_id().to_owned();
    let sub_org = customer(&root, "ann@example.com");
    refused(&proxy(&root, "otp_init", json!({ "organizationId": org, "contact": "ann@example.com" })), 404, "enable");
    let service_user = enable(&root, json!({}));
    let key = new_key();
    let token = verified_token(&server, &root, "ann@example.com", &key);
    let id = token_id(&token).expect("token id");
    let login = |signer: &ApiKeyPair| {
        let message = login_message(&key.public_key_hex(), &id);
        proxy(
            &root,
            "otp_login",
            json!({ "organizationId": org, "verificationToken": token, "publicKey": key.public_key_hex(),
                    "clientSignature": client_signature(signer, &message) }),
        )
    };
    refused(&login(&new_key()), 403, "clientSignature");
    let session = answer(login(&key));
    assert_eq!(twofold_testkit::session_claims(&session)["organization_id"], sub_org.as_str(), "{session}");
    let user = server.client(ApiKeyPair::from_private_hex(key.curve(), &key.private_key_hex()).expect("key"), &sub_org);
    let whoami = ok(user.query("get_whoami", json!({})));
    assert_eq!(whoami["userId"], twofold_testkit::session_claims(&session)["user_id"], "{whoami}");
    refused(&login(&key), 403, "already used");
    // The activities are ordinary ones in the organization, by the service user.
    let activities = ok(root.query("list_activities", json!({})));
    let by_proxy = activities["activities"]
        .as_array()
        .expect("activities")
        .iter()
        .filter(|a| a["votes"][0]["userId"] == service_user.as_str())
        .count();
    assert!(by_proxy >= 3, "{activities}");
}

on_every_backend!(
    signs_in_with_an_email_code_sqlite,
    signs_in_with_an_email_code_postgres,
    signs_in_with_an_email_code
);

/// Refusals: bad input names the field; flows not enabled; the service user is confined in
/// the engine (a key an administrator adds to it can do nothing else); policies and the
/// per-IP limit still apply; MFA enforcement does not block it; disabling ends it.
fn refuses_what_it_must(backend: Backend) {
    let server = TestServer::start(BIN, backend, &["--otp-inits-per-ip-per-minute", "3"]);
    let root = server.root_client();
    let org = root.organization_id().to_owned();
    let service_user = enable(&root, json!({ "otpLength": 8, "appName": "Acme" }));
    refused(&proxy(&root, "otp_init", json!({ "organizationId": org })), 400, "contact");
    refused(&proxy(&root, "otp_init", json!({ "organizationId": org, "contact": "a@example.com", "x": 1 })), 400, "x");
    refused(
        &proxy(
            &root,
            "otp_init",
            json!({ "organizationId": org, "contact": "+15551234567", "otpType": "OTP_TYPE_SMS" }),
        ),
        400,
        "otpType",
    );
    refused(&proxy(&root, "nope", json!({ "organizationId": org })), 404, "auth-proxy");
    let signup = json!({ "organizationId": org, "userEmail": "new@example.com", "verificationToken": "x",
        "clientSignature": { "publicKey": "00", "scheme": "CLIENT_SIGNATURE_SCHEME_API_P256", "message": "{}", "signature": "00" },
        "publicKey": new_key().public_key_hex() });
    refused(&proxy(&root, "signup", signup), 403, "AUTH_METHOD_EMAIL_OTP_SIGNUP");
    // A key an administrator adds to the service user is as confined as the sealed one.
    let extra = new_key();
    let params = json!({ "userId": service_user, "apiKeys": [{ "apiKeyName": "extra",
        "publicKey": extra.public_key_hex(), "curveType": "API_KEY_CURVE_P256" }] });
    completed(root.submit("create_api_keys", params), "createApiKeysResult");
    let as_proxy = server.client(extra, &org);
    let users = json!({ "users": [{ "userName": "mallory", "apiKeys": [], "authenticators": [], "oauthProviders": [], "userTags": [] }] });
    refused(&as_proxy.submit("create_users", users).expect("sent"), 403, "service key");
    refused(&as_proxy.query("get_whoami", json!({})).expect("sent"), 403, "service key");
    let sms = json!({ "otpType": "OTP_TYPE_SMS", "contact": "+15551234567", "appName": "x" });
    refused(&as_proxy.submit("init_otp", sms).expect("sent"), 403, "service key");
    // Codes follow the configuration, and the per-IP limit counts proxy requests too.
    let init = || proxy(&root, "otp_init", json!({ "organizationId": org, "contact": "bo@example.com" }));
    answer(init());
    assert_eq!(latest_code(&server).len(), 8, "otpLength from the proxy's settings");
    // Policies decide as for any client: an explicit DENY stops the proxy.
    let deny = json!({ "policyName": "no codes", "effect": "EFFECT_DENY",
        "condition": "activity.type == 'ACTIVITY_TYPE_INIT_OTP_V3'", "notes": "" });
    let policy = completed(root.submit("create_policy", deny), "createPolicyResult");
    refused(&init(), 403, "denied");
    completed(root.submit("delete_policy", json!({ "policyId": policy["policyId"] })), "deletePolicyResult");
    answer(init());
    let limited = init();
    refused(&limited, 429, "Max number of OTPs");
    assert!(limited.headers.iter().any(|(k, v)| k == "retry-after" && v.parse::<u64>().is_ok()), "{limited:?}");
    // Disabling deletes the service user with its keys: the proxy is gone.
    completed(root.submit("disable_auth_proxy", json!({})), "disableAuthProxyResult");
    refused(
        &proxy(&root, "otp_init", json!({ "organizationId": org, "contact": "bo@example.com" })),
        404,
        "no auth proxy",
    );
    let users = ok(root.query("list_users", json!({})));
    assert!(!users.to_string().contains(&service_user), "{users}");
}

on_every_backend!(refuses_what_it_must_sqlite, refuses_what_it_must_postgres, refuses_what_it_must);

/// Sign-up (when allowed): the code proves the email, the sub-organization is created with
/// that user verified and the browser's key as its first credential; MFA enforcement does
/// not stop the service user.
#[test]
fn signs_up_when_allowed_and_is_not_blocked_by_enforcement() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let org = root.organization_id().to_owned();
    enable(&root, json!({}));
    let methods = json!({ "allowedAuthMethods": ["AUTH_METHOD_EMAIL_OTP_LOGIN", "AUTH_METHOD_EMAIL_OTP_SIGNUP"] });
    completed(root.submit("update_auth_proxy_config", methods), "updateAuthProxyConfigResult");
    refused(&ok_status(root.submit("update_auth_proxy_config", json!({ "otpLength": 5 }))), 400, "otpLength");
    let key = new_key();
    let token = verified_token(&server, &root, "cy@example.com", &key);
    let message = json!({ "signupV2": { "email": "cy@example.com" }, "tokenId": token_id(&token).expect("id"),
        "type": "USAGE_TYPE_SIGNUP" })
    .to_string();
    let body = json!({ "organizationId": org, "userEmail": "cy@example.com", "verificationToken": token,
        "clientSignature": client_signature(&key, &message), "publicKey": key.public_key_hex() });
    let created = answer(proxy(&root, "signup", body));
    let sub_org = created["subOrganizationId"].as_str().expect("sub-organization");
    let user = server.client(ApiKeyPair::from_private_hex(key.curve(), &key.private_key_hex()).expect("key"), sub_org);
    let whoami = ok(user.query("get_whoami", json!({})));
    assert_eq!(whoami["organizationId"], sub_org, "{whoami}");
    // Everyone in the root organization must have MFA now, with no grace: the root user
    // is blocked (it confirms that), the proxy's service user is not.
    let rule = json!({ "scope": "MFA_ENFORCEMENT_SCOPE_ORGANIZATION", "value": "MFA_ENFORCEMENT_REQUIRED",
        "gracePeriodDays": 0, "targetOrganizationId": org, "confirmLockout": true });
    ok(root.submit("set_mfa_enforcement", rule));
    refused(&ok_status(root.submit("create_user_tag", json!({ "userTagName": "t", "userIds": [] }))), 403, "MFA");
    answer(proxy(&root, "otp_init", json!({ "organizationId": org, "contact": "cy@example.com" })));
}

fn ok_status(resp: twofold_client::Result<ApiResponse>) -> ApiResponse {
    resp.expect("sent")
}

/// Posts `body` to `/auth-proxy/v1/otp_init` as a page at `origin` would (no stamp).
fn from_page(root: &Client, origin: &str, contact: &str) -> ApiResponse {
    let body = json!({ "organizationId": root.organization_id(), "contact": contact }).to_string();
    root.post_with_headers("/auth-proxy/v1/otp_init", body.as_bytes(), &[("Origin", origin.to_owned())]).expect("sent")
}

fn outbox_len(server: &TestServer) -> usize {
    twofold_enclave::Outbox::list(&server.data_dir().join("outbox")).expect("outbox").len()
}

/// CORS: a page of another origin may call the proxy only once the organization lists its
/// origin in `allowedOrigins`; until then its request is refused before any code is sent and
/// the answer does not name it. The server's own pages and non-browser clients need no entry.
#[test]
fn pages_of_other_origins_call_the_proxy_only_when_allowed() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    enable(&root, json!({}));
    let app = "https://app.example.com";

    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let preflight = || {
        agent
            .options(&format!("{}/auth-proxy/v1/otp_init_v2", server.url))
            .header("Origin", app)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type,x-auth-proxy-config-id")
            .call()
            .expect("sent")
    };
    let header = |resp: &ureq::http::Response<ureq::Body>, name: &str| {
        resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    };
    let unlisted = preflight();
    assert_eq!(unlisted.status().as_u16(), 204);
    assert_eq!(
        header(&unlisted, "access-control-allow-origin"),
        None,
        "an origin no organization lists learns nothing"
    );
    let sent = outbox_len(&server);
    let refused_page = from_page(&root, app, "ann@example.com");
    refused(&refused_page, 403, "allowedOrigins");
    assert_eq!(refused_page.header("access-control-allow-origin"), None, "the page may not read the refusal");
    assert_eq!(outbox_len(&server), sent, "nothing was sent");

    let bad = json!({ "allowedOrigins": [app, "https://app.example.com/login", "*"] });
    refused(&ok_status(root.submit("update_auth_proxy_config", bad)), 400, "allowedOrigins[1]");
    let origins = json!({ "allowedOrigins": ["https://App.Example.com/"] });
    completed(root.submit("update_auth_proxy_config", origins), "updateAuthProxyConfigResult");

    let listed = preflight();
    assert_eq!(header(&listed, "access-control-allow-origin").as_deref(), Some(app));
    assert_eq!(header(&listed, "access-control-allow-methods").as_deref(), Some("POST"));
    let allowed_headers = header(&listed, "access-control-allow-headers").expect("allowed headers");
    for sent in ["content-type", "x-auth-proxy-config-id", "x-captcha-token"] {
        assert!(allowed_headers.split(", ").any(|h| h == sent), "{sent} in `{allowed_headers}`");
    }
    let allowed = from_page(&root, app, "ann@example.com");
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    assert_eq!(allowed.header("access-control-allow-origin"), Some(app));
    assert_eq!(allowed.header("vary"), Some("origin"));
    assert_eq!(outbox_len(&server), sent + 1);
    let other = from_page(&root, "https://app.example.com.evil.example", "bo@example.com");
    refused(&other, 403, "allowedOrigins");
    assert_eq!(other.header("access-control-allow-origin"), None);
    refused(&from_page(&root, "null", "bo@example.com"), 403, "allowedOrigins");
    assert_eq!(outbox_len(&server), sent + 1, "refused pages sent nothing");

    // The server's own pages (the console) and clients that are not browsers need no entry.
    let own = server.url.replace("127.0.0.1", "localhost");
    let same = from_page(&root, &own, "cy@example.com");
    assert_eq!(same.status, 200, "{}", same.body);
    assert_eq!(same.header("access-control-allow-origin"), Some(own.as_str()), "the server's own pages need no entry");
    answer(proxy(&root, "otp_init", json!({ "organizationId": root.organization_id(), "contact": "di@example.com" })));
}

/// Posts `body` to `/auth-proxy/v1/<name>` as @turnkey/core does: the configuration in
/// `X-Auth-Proxy-Config-ID`, no organization in the body, no stamp.
fn proxy_v2(root: &Client, config_id: &str, name: &str, body: Value) -> ApiResponse {
    let headers = [("X-Auth-Proxy-Config-ID", config_id.to_owned())];
    root.post_with_headers(&format!("/auth-proxy/v1/{name}"), body.to_string().as_bytes(), &headers).expect("sent")
}

/// @turnkey/core's auth proxy wire (`loginOrSignupWithOtp`): wallet_kit_config, otp_init_v2,
/// otp_verify_v2, account (by the proven email), signup_v2 answering `{organizationId,
/// userId}`, then the session by `stamp_login` with `X-Stamp-Attested` in the new
/// sub-organization. The configuration is named by its own id; a sign-up whose signed
/// message does not carry exactly its keys, an account lookup without proof, by name, or
/// with another contact's token are refused and create nothing.
fn turnkey_core_proxy_wire(backend: Backend) {
    use base64::Engine as _;
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let org = root.organization_id().to_owned();
    let methods = json!({ "allowedAuthMethods": ["AUTH_METHOD_EMAIL_OTP_LOGIN", "AUTH_METHOD_EMAIL_OTP_SIGNUP"] });
    let enabled = completed(root.submit("enable_auth_proxy", methods), "enableAuthProxyResult");
    let config_id = enabled["configId"].as_str().expect("config id").to_owned();
    assert_ne!(config_id, org, "a configuration has an id of its own");
    let shown = ok(root.query("get_auth_proxy_config", json!({})));
    assert_eq!(shown["configId"], config_id.as_str());
    let updated =
        completed(root.submit("update_auth_proxy_config", json!({ "otpLength": 7 })), "updateAuthProxyConfigResult");
    assert_eq!(updated["configId"], config_id.as_str());

    let kit = answer(proxy_v2(&root, &config_id, "wallet_kit_config", json!({})));
    assert_eq!(
        kit,
        json!({ "enabledProviders": ["email"], "sessionExpirationSeconds": "900", "organizationId": org,
                "otpAlphanumeric": false, "otpLength": "7" })
    );
    refused(&proxy(&root, "wallet_kit_config", json!({})), 400, "X-Auth-Proxy-Config-ID");
    refused(&proxy_v2(&root, "no-such-config", "wallet_kit_config", json!({})), 404, "no-such-config");
    refused(
        &proxy_v2(&root, &config_id, "otp_init_v2", json!({ "otpType": "OTP_TYPE_SMS", "contact": "+15555550100" })),
        400,
        "otpType",
    );
    refused(
        &proxy_v2(
            &root,
            &config_id,
            "otp_init_v2",
            json!({ "organizationId": org, "otpType": "OTP_TYPE_EMAIL", "contact": "x@example.com" }),
        ),
        400,
        "organizationId",
    );

    let email = "dee@example.com";
    let started =
        answer(proxy_v2(&root, &config_id, "otp_init_v2", json!({ "otpType": "OTP_TYPE_EMAIL", "contact": email })));
    let code = latest_code(&server);
    assert_eq!(code.len(), 7, "the configuration's code length");
    let key = new_key();
    let bundle = started["otpEncryptionTargetBundle"].as_str().expect("bundle");
    let attempt = encrypt_attempt(bundle, &pinned_key(&server), &code, &key.public_key_hex()).expect("sealed");
    let verified = answer(proxy_v2(
        &root,
        &config_id,
        "otp_verify_v2",
        json!({ "otpId": started["otpId"], "encryptedOtpBundle": attempt }),
    ));
    let token = verified["verificationToken"].as_str().expect("token").to_owned();

    refused(
        &proxy_v2(&root, &config_id, "account", json!({ "filterType": "EMAIL", "filterValue": email })),
        400,
        "verificationToken",
    );
    let other = json!({ "filterType": "EMAIL", "filterValue": "someone@example.com", "verificationToken": token });
    refused(&proxy_v2(&root, &config_id, "account", other), 403, "does not prove");
    refused(
        &proxy_v2(&root, &config_id, "account", json!({ "filterType": "USERNAME", "filterValue": "dee" })),
        403,
        "list_suborgs",
    );
    let lookup = json!({ "filterType": "EMAIL", "filterValue": email, "verificationToken": token });
    assert_eq!(answer(proxy_v2(&root, &config_id, "account", lookup.clone())), json!({}), "no account yet");

    // signUpWithOtp's body and its client signature (getClientSignatureMessageForSignup).
    let message = json!({ "signupV2": { "apiKeys": [], "authenticators": [], "oauthProviders": [], "email": email },
        "tokenId": token_id(&token).expect("id"), "type": "USAGE_TYPE_SIGNUP" })
    .to_string();
    let signup = json!({ "userName": email, "userEmail": email, "authenticators": [], "organizationName": "dee's org",
        "verificationToken": token, "apiKeys": [], "oauthProviders": [],
        "clientSignature": client_signature(&key, &message) });
    let (data_before, _) = server.db.data_and_audit_counts();
    let mut smuggled = signup.clone();
    smuggled["apiKeys"] =
        json!([{ "apiKeyName": "mine", "publicKey": new_key().public_key_hex(), "curveType": "API_KEY_CURVE_P256" }]);
    refused(&proxy_v2(&root, &config_id, "signup_v2", smuggled), 403, "signupV2 must carry exactly");
    let (data_after, _) = server.db.data_and_audit_counts();
    assert_eq!(data_after, data_before, "a refused sign-up creates nothing");
    let created = answer(proxy_v2(&root, &config_id, "signup_v2", signup.clone()));
    let sub_org = created["organizationId"].as_str().expect("organizationId").to_owned();
    assert!(created["userId"].is_string(), "{created}");
    assert!(created.get("subOrganizationId").is_none(), "Turnkey's ProxyTSignupV2Response shape: {created}");
    assert_eq!(answer(proxy_v2(&root, &config_id, "account", lookup)), json!({ "organizationId": sub_org }));
    refused(&proxy_v2(&root, &config_id, "signup_v2", signup), 403, "already used");

    // loginWithOtp: stamp_login in the sub-organization, stamped with X-Stamp-Attested.
    let user = Client::new(&server.url, new_key(), &sub_org);
    let body = user
        .submit_body("stamp_login", json!({ "parameters": { "publicKey": key.public_key_hex() } }))
        .expect("body")
        .to_string();
    let stamp = json!({ "publicKeyAttestation": token, "scheme": "STAMP_ATTESTED_SCHEME_P256_VERIFICATION_TOKEN",
        "publicKey": key.public_key_hex(), "signature": key.sign_hex(body.as_bytes()) });
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(stamp.to_string());
    let login =
        user.post_with_headers("/public/v1/submit/stamp_login", body.as_bytes(), &[("X-Stamp-Attested", header)]);
    let session = completed(login, "stampLoginResult");
    assert!(session["session"].is_string(), "{session}");
    let same = ApiKeyPair::from_private_hex(key.curve(), &key.private_key_hex()).expect("key");
    assert_eq!(ok(server.client(same, &sub_org).query("get_whoami", json!({})))["organizationId"], sub_org.as_str());
    // The sign-up's token logs in once after it (as @turnkey/core does), and never again.
    let fresh_body = user
        .submit_body(
            "stamp_login",
            json!({ "parameters": { "publicKey": key.public_key_hex(), "expirationSeconds": "600" } }),
        )
        .expect("body")
        .to_string();
    let stamp = json!({ "publicKeyAttestation": token, "scheme": "STAMP_ATTESTED_SCHEME_P256_VERIFICATION_TOKEN",
        "publicKey": key.public_key_hex(), "signature": key.sign_hex(fresh_body.as_bytes()) });
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(stamp.to_string());
    let replay = user
        .post_with_headers("/public/v1/submit/stamp_login", fresh_body.as_bytes(), &[("X-Stamp-Attested", header)])
        .expect("sent");
    refused(&replay, 401, "already used");

    // The configuration goes with the proxy.
    completed(root.submit("disable_auth_proxy", json!({})), "disableAuthProxyResult");
    refused(&proxy_v2(&root, &config_id, "wallet_kit_config", json!({})), 404, "configuration");
}

on_every_backend!(turnkey_core_proxy_wire_sqlite, turnkey_core_proxy_wire_postgres, turnkey_core_proxy_wire);

/// @turnkey/core's `signUpWithPasskey`: a sub-organization whose root user has only the new
/// passkey (a challenge the client made) and the SDK's short-lived key. Off until the
/// organization allows AUTH_METHOD_PASSKEY_SIGNUP; a contact cannot ride along unproven; and
/// anonymous callers make at most five per address per window (then 429 with Retry-After).
#[test]
fn passkey_sign_up_is_opt_in_unproven_of_contacts_and_limited() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let enabled = completed(root.submit("enable_auth_proxy", json!({})), "enableAuthProxyResult");
    let config_id = enabled["configId"].as_str().expect("config id").to_owned();
    let body = || {
        let (_, passkey, _) = support::client_made_passkey(support::origin(&server), "signup key");
        let key = new_key();
        json!({ "userName": "user-1", "organizationName": "sub-org-1", "authenticators": [passkey],
                "apiKeys": [{ "apiKeyName": "passkey-auth", "publicKey": key.public_key_hex(),
                              "curveType": "API_KEY_CURVE_P256", "expirationSeconds": "60" }],
                "oauthProviders": [] })
    };
    refused(&proxy_v2(&root, &config_id, "signup_v2", body()), 403, "AUTH_METHOD_PASSKEY_SIGNUP");
    let methods = json!({ "allowedAuthMethods": ["AUTH_METHOD_EMAIL_OTP_LOGIN", "AUTH_METHOD_PASSKEY_SIGNUP"] });
    completed(root.submit("update_auth_proxy_config", methods), "updateAuthProxyConfigResult");
    let kit = answer(proxy_v2(&root, &config_id, "wallet_kit_config", json!({})));
    assert_eq!(kit["enabledProviders"], json!(["email", "passkey"]));
    let mut with_email = body();
    with_email["userEmail"] = json!("victim@example.com");
    refused(&proxy_v2(&root, &config_id, "signup_v2", with_email), 400, "userEmail");
    let mut phished = body();
    phished["authenticators"] =
        json!([support::client_made_passkey(url::Url::parse("https://evil.example").expect("url"), "x").1]);
    let resp = proxy_v2(&root, &config_id, "signup_v2", phished);
    assert!(resp.status == 400 && resp.body.to_string().contains("does not verify"), "{}", resp.body);
    let before = ok(root.query("list_suborgs", json!({})))["organizationIds"].as_array().expect("ids").len();
    for _ in 0..4 {
        let created = answer(proxy_v2(&root, &config_id, "signup_v2", body()));
        assert!(created["organizationId"].is_string() && created["userId"].is_string(), "{created}");
    }
    let limited = proxy_v2(&root, &config_id, "signup_v2", body());
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.header("retry-after").is_some(), "{:?}", limited.headers);
    let after = ok(root.query("list_suborgs", json!({})))["organizationIds"].as_array().expect("ids").len();
    assert_eq!(after, before + 4, "the refused ones created nothing");
}

/// Hostile input to the paths @turnkey/core calls gets a 400 naming the problem, sends no code
/// and stores nothing.
#[test]
fn the_sdk_paths_refuse_hostile_input_and_store_nothing() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let methods = json!({ "allowedAuthMethods":
        ["AUTH_METHOD_EMAIL_OTP_LOGIN", "AUTH_METHOD_EMAIL_OTP_SIGNUP", "AUTH_METHOD_PASSKEY_SIGNUP"] });
    let enabled = completed(root.submit("enable_auth_proxy", methods), "enableAuthProxyResult");
    let config_id = enabled["configId"].as_str().expect("config id").to_owned();
    let (data, _) = server.db.data_and_audit_counts();
    let sent = outbox_len(&server);
    let raw = |name: &str, config: &str, body: &str| {
        let headers = [("X-Auth-Proxy-Config-ID", config.to_owned())];
        root.post_with_headers(&format!("/auth-proxy/v1/{name}"), body.as_bytes(), &headers).expect("sent")
    };
    let long = "x".repeat(400);
    let signup = |extra: Value| {
        let mut b = json!({ "userEmail": "a@example.com", "verificationToken": "t", "apiKeys": [], "authenticators": [],
                            "oauthProviders": [], "clientSignature": { "publicKey": "02", "scheme": "CLIENT_SIGNATURE_SCHEME_API_P256",
                            "message": "{}", "signature": "00" } });
        b.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        b.to_string()
    };
    for (label, name, config, body, needle) in [
        (
            "fields where none go",
            "wallet_kit_config",
            config_id.as_str(),
            json!({ "x": 1 }).to_string(),
            "unknown field",
        ),
        ("not JSON", "otp_init_v2", &config_id, "{".to_owned(), ""),
        ("no contact", "otp_init_v2", &config_id, json!({ "otpType": "OTP_TYPE_EMAIL" }).to_string(), "contact"),
        (
            "a number for a type",
            "otp_init_v2",
            &config_id,
            json!({ "otpType": 5, "contact": "a@example.com" }).to_string(),
            "otpType",
        ),
        ("no bundle", "otp_verify_v2", &config_id, json!({ "otpId": "x" }).to_string(), "encryptedOtpBundle"),
        (
            "a huge filter",
            "account",
            &config_id,
            json!({ "filterType": "CREDENTIAL_ID", "filterValue": long }).to_string(),
            "filterValue",
        ),
        (
            "an unknown filter",
            "account",
            &config_id,
            json!({ "filterType": "COLOR", "filterValue": "red" }).to_string(),
            "filterType",
        ),
        ("keys as text", "signup_v2", &config_id, signup(json!({ "apiKeys": "nope" })), "apiKeys"),
        ("a wallet", "signup_v2", &config_id, signup(json!({ "wallet": { "walletName": "w" } })), "wallet"),
        ("an unknown field", "signup_v2", &config_id, signup(json!({ "referrer": "x" })), "referrer"),
        (
            "a broken passkey",
            "signup_v2",
            &config_id,
            json!({ "authenticators": [{ "authenticatorName": "k" }] }).to_string(),
            "authenticators",
        ),
        ("a huge config id", "wallet_kit_config", &long, "{}".to_owned(), "X-Auth-Proxy-Config-ID"),
    ] {
        let resp = raw(name, config, &body);
        assert_eq!(resp.status, 400, "{label}: {}", resp.body);
        let message = resp.body["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{label}: `{message}` should name `{needle}`");
    }
    let (after, _) = server.db.data_and_audit_counts();
    assert_eq!(after, data, "nothing stored");
    assert_eq!(outbox_len(&server), sent, "no code sent");
}
