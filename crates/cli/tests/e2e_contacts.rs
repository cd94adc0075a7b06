//! End-to-end "contacts are factors" (issue 16 items 3 and 4): email and phone changes are
//! visible to policies and scopes, a changed contact serves no OTP login until its own user
//! proves it, the replaced address is told, and an OTP login resolves a contact inside one
//! organization — never in a sub-organization anyone can sign up and fill with any address.
//! The real `twofold` binary, its auth proxy and dev outbox, on SQLite and PostgreSQL.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use twofold_client::otp::{client_signature, encrypt_attempt, login_message, token_id};
use twofold_client::{ApiKeyPair, ApiResponse, Client};
use twofold_testkit::{Backend, TestServer, completed, new_key, ok, on_every_backend, status, user_with_key};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

/// Posts `body` to `/auth-proxy/v1/<name>` with no stamp, as an anonymous browser would.
fn proxy(client: &Client, name: &str, body: Value) -> ApiResponse {
    client.post_with_headers(&format!("/auth-proxy/v1/{name}"), body.to_string().as_bytes(), &[]).expect("sent")
}

#[track_caller]
fn answer(resp: ApiResponse) -> Value {
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.body
}

#[track_caller]
fn refused(resp: &ApiResponse, status: u16, needle: &str) {
    assert_eq!(resp.status, status, "{}", resp.body);
    let msg = resp.body["message"].as_str().expect("message");
    assert!(msg.contains(needle), "message `{msg}` should contain `{needle}`");
}

/// A FAILED activity whose failure message contains `needle`.
#[track_caller]
fn failed(resp: twofold_client::Result<ApiResponse>, needle: &str) {
    let resp = resp.expect("sent");
    assert_eq!(resp.status, 200, "{}", resp.body);
    let activity = &resp.body["activity"];
    assert_eq!(activity["status"], "ACTIVITY_STATUS_FAILED", "{activity}");
    let msg = activity["failure"]["message"].as_str().expect("failure message");
    assert!(msg.contains(needle), "failure `{msg}` should contain `{needle}`");
}

/// The dev outbox, oldest first, as `(to, subject, body)`.
fn outbox(server: &TestServer) -> Vec<(String, String, String)> {
    let mut paths = twofold_enclave::Outbox::list(&server.data_dir().join("outbox")).expect("outbox");
    paths.sort();
    paths
        .iter()
        .map(|p| twofold_enclave::Outbox::read(p).expect("message"))
        .map(|m| (m.to, m.subject, m.body))
        .collect()
}

/// The code in the newest message to `to` that carries one (a contact notice to the same
/// address may be newer).
fn latest_code_for(server: &TestServer, to: &str) -> String {
    let has_code = |body: &str| body.lines().any(|l| l.starts_with("    "));
    let (_, _, body) =
        outbox(server).into_iter().rev().find(|(t, _, b)| t == to && has_code(b)).expect("a code was sent");
    twofold_testkit::otp_code_in(&body)
}

fn pinned_key(client: &Client) -> String {
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let url = format!("{}/auth-proxy/v1/enclave_keys", client.base_url());
    let mut resp = agent.get(&url).call().expect("sent");
    let body: Value = serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("json");
    body["signingPublicKey"].as_str().expect("signing key").to_owned()
}

/// otp_init -> the code from the outbox -> otp_verify, through `org`'s auth proxy, by anyone
/// who reads `email`'s mail; returns the verification token bound to `key`.
fn verified_token(server: &TestServer, anon: &Client, org: &str, email: &str, key: &ApiKeyPair) -> String {
    let started = answer(proxy(anon, "otp_init", json!({ "organizationId": org, "contact": email })));
    let code = latest_code_for(server, email);
    let bundle = started["otpEncryptionTargetBundle"].as_str().expect("bundle");
    let attempt = encrypt_attempt(bundle, &pinned_key(anon), &code, &key.public_key_hex()).expect("signed bundle");
    let verified = answer(proxy(
        anon,
        "otp_verify",
        json!({ "organizationId": org, "otpId": started["otpId"], "encryptedOtpBundle": attempt }),
    ));
    verified["verificationToken"].as_str().expect("token").to_owned()
}

/// The whole anonymous OTP login for `email` through `org`'s auth proxy.
fn otp_login(server: &TestServer, anon: &Client, org: &str, email: &str) -> ApiResponse {
    let key = new_key();
    let token = verified_token(server, anon, org, email, &key);
    let message = login_message(&key.public_key_hex(), &token_id(&token).expect("token id"));
    proxy(
        anon,
        "otp_login",
        json!({ "organizationId": org, "verificationToken": token, "publicKey": key.public_key_hex(),
                "clientSignature": client_signature(&key, &message) }),
    )
}

fn enable_proxy(root: &Client, signup: bool) {
    completed(root.submit("enable_auth_proxy", json!({})), "enableAuthProxyResult");
    if signup {
        let methods = json!({ "allowedAuthMethods": ["AUTH_METHOD_EMAIL_OTP_LOGIN", "AUTH_METHOD_EMAIL_OTP_SIGNUP"] });
        completed(root.submit("update_auth_proxy_config", methods), "updateAuthProxyConfigResult");
    }
}

fn user(client: &Client, user_id: &str) -> Value {
    ok(client.query("get_user", json!({ "userId": user_id })))["user"].clone()
}

/// A member of the root organization with an API key and one ALLOW policy `condition`.
fn member_allowed(server: &TestServer, root: &Client, name: &str, condition: &str) -> (String, Client) {
    let key = new_key();
    let created =
        completed(root.submit("create_users", json!({ "users": [user_with_key(name, &key)] })), "createUsersResult");
    let id = created["userIds"][0].as_str().expect("id").to_owned();
    completed(
        root.submit(
            "create_policy",
            json!({ "policyName": format!("{name} may"), "effect": "EFFECT_ALLOW", "condition": condition,
                    "consensus": format!("approvers.any(u, u.id == '{id}')"), "notes": "" }),
        ),
        "createPolicyResult",
    );
    (id, server.client(key, root.organization_id()))
}

/// Waits until the outbox holds a message to `to` whose body contains `needle`.
fn wait_for_notice(server: &TestServer, to: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = outbox(server).into_iter().find(|(t, _, b)| t == to && b.contains(needle));
        if let Some((_, subject, _)) = found {
            return subject;
        }
        assert!(Instant::now() < deadline, "no notice to {to}: {:#?}\n{}", outbox(server), server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Item 3: a helpdesk user allowed only USER/UPDATE sets root's email to its own mailbox. The
/// update runs (the policy allows it), but the new address is unverified: the helpdesk's OTP
/// login with it finds no one, a token for its own mailbox cannot verify it onto root, and the
/// old address is told. Root itself verifies a new address by proving it in its own update.
fn helpdesk_with_user_update_cannot_log_in_as_root_by_changing_its_email(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let org = root.organization_id().to_owned();
    let root_id = ok(root.query("get_whoami", json!({})))["userId"].as_str().expect("root id").to_owned();
    enable_proxy(&root, false);
    let anon = server.client(new_key(), &org);

    // Root proves its own address in its own update: verified, it serves OTP login.
    let proof = verified_token(&server, &anon, &org, "root@example.com", &new_key());
    completed(
        root.submit(
            "update_user",
            json!({ "userId": root_id, "userEmail": "root@example.com", "verificationToken": proof }),
        ),
        "updateUserResult",
    );
    let session = answer(otp_login(&server, &anon, &org, "root@example.com"));
    assert_eq!(twofold_testkit::session_claims(&session)["user_id"], root_id.as_str(), "{session}");

    let (_, helpdesk) =
        member_allowed(&server, &root, "helpdesk", "activity.resource == 'USER' && activity.action == 'UPDATE'");
    let own_mailbox = verified_token(&server, &anon, &org, "evil@example.com", &new_key());
    failed(
        helpdesk.submit(
            "update_user",
            json!({ "userId": root_id, "userEmail": "evil@example.com", "verificationToken": own_mailbox }),
        ),
        "only a user's own update may prove its new contact",
    );
    let changed = helpdesk.submit("update_user", json!({ "userId": root_id, "userEmail": "evil@example.com" }));
    assert_eq!(status(&ok(changed)), "ACTIVITY_STATUS_COMPLETED");
    assert_eq!(user(&root, &root_id)["userEmail"], "evil@example.com");

    refused(&otp_login(&server, &anon, &org, "evil@example.com"), 404, "no user of this organization");
    let subject = wait_for_notice(&server, "root@example.com", "was replaced by another email address");
    assert!(subject.contains("email address of your account changed"), "{subject}");
    // The old address no longer logs in either: the account's codes went with it.
    refused(&otp_login(&server, &anon, &org, "root@example.com"), 404, "verified email address");
}

on_every_backend!(
    helpdesk_with_user_update_cannot_log_in_as_root_by_changing_its_email_sqlite,
    helpdesk_with_user_update_cannot_log_in_as_root_by_changing_its_email_postgres,
    helpdesk_with_user_update_cannot_log_in_as_root_by_changing_its_email
);

/// Item 3: `activity.params` of update_user names what changes, so a policy can allow profile
/// edits without allowing contact changes.
#[test]
fn update_user_params_name_the_contact_change_so_policies_can_exclude_it() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let (target, _) = member_allowed(&server, &root, "target", "false");
    let (_, editor) = member_allowed(
        &server,
        &root,
        "editor",
        "activity.resource == 'USER' && activity.action == 'UPDATE' && !('EMAIL' in activity.params.changes) \
         && !('PHONE_NUMBER' in activity.params.changes)",
    );
    let renamed = ok(editor.submit("update_user", json!({ "userId": target, "userName": "renamed" })));
    assert_eq!(status(&renamed), "ACTIVITY_STATUS_COMPLETED", "{renamed}");
    let email = ok(editor.submit("update_user", json!({ "userId": target, "userEmail": "x@example.com" })));
    assert_ne!(status(&email), "ACTIVITY_STATUS_COMPLETED", "{email}");
    assert!(user(&root, &target)["userEmail"].is_null(), "unchanged");
    let intent = &email["activity"]["intent"]["updateUserIntent"];
    assert_eq!(intent["userEmail"], "x@example.com", "{email}");
    let evaluations = ok(root.query("list_activities", json!({})));
    assert!(!evaluations.to_string().contains("panicked"));
}

/// Item 3: a session scoped to USER/UPDATE may edit users, but not give its own user a new
/// login contact (which would open unscoped sessions).
#[test]
fn a_session_scoped_to_user_update_cannot_give_its_user_a_new_email() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let org = root.organization_id().to_owned();
    let root_id = ok(root.query("get_whoami", json!({})))["userId"].as_str().expect("root id").to_owned();
    let profile = completed(
        root.submit(
            "create_session_profile",
            json!({ "sessionProfileName": "user editor", "expirationSeconds": "600", "notes": "",
                    "scope": "activity.resource == 'USER' && activity.action == 'UPDATE'" }),
        ),
        "createSessionProfileResult",
    )["sessionProfileId"]
        .as_str()
        .expect("profile")
        .to_owned();
    let session_key = new_key();
    completed(
        root.submit("stamp_login", json!({ "publicKey": session_key.public_key_hex(), "sessionProfileId": profile })),
        "stampLoginResult",
    );
    let session = server.client(session_key, &org);
    let renamed = ok(session.submit("update_user", json!({ "userId": root_id, "userName": "still root" })));
    assert_eq!(status(&renamed), "ACTIVITY_STATUS_COMPLETED", "{renamed}");
    let escape = session.submit("update_user", json!({ "userId": root_id, "userEmail": "me@example.com" }));
    refused(&escape.expect("sent"), 403, "may not change its own user's email or phone");
    assert!(user(&root, &root_id)["userEmail"].is_null());
}

/// Item 4: an anonymous sign-up (root of its own sub-organization) gives a user of its
/// sub-organization the victim's address. The victim's login still lands in the victim's own
/// sub-organization; for an address not registered yet, the first login finds no one (the
/// newcomer signs up) instead of landing in the attacker's sub-organization.
fn a_self_signed_up_tenant_cannot_capture_or_deny_another_users_otp_login(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let org = root.organization_id().to_owned();
    enable_proxy(&root, true);
    let anon = server.client(new_key(), &org);
    let victim_user = json!({ "userName": "vic", "userEmail": "vic@example.com", "apiKeys": [], "authenticators": [],
        "oauthProviders": [] });
    let victim_org = completed(
        root.submit(
            "create_sub_organization",
            json!({ "subOrganizationName": "vic's", "rootUsers": [victim_user], "rootQuorumThreshold": 1 }),
        ),
        "createSubOrganizationResultV8",
    )["subOrganizationId"]
        .as_str()
        .expect("victim org")
        .to_owned();

    // The attacker signs up with its own mailbox and is root of its sub-organization.
    let key = new_key();
    let token = verified_token(&server, &anon, &org, "mal@example.com", &key);
    let message = json!({ "signupV2": { "email": "mal@example.com" }, "tokenId": token_id(&token).expect("id"),
        "type": "USAGE_TYPE_SIGNUP" })
    .to_string();
    let signed_up = answer(proxy(
        &anon,
        "signup",
        json!({ "organizationId": org, "userEmail": "mal@example.com", "verificationToken": token,
                "clientSignature": client_signature(&key, &message), "publicKey": key.public_key_hex() }),
    ));
    let attacker_org = signed_up["subOrganizationId"].as_str().expect("attacker org").to_owned();
    let attacker = server.client(key, &attacker_org);
    let planted = |email: &str| {
        let user = json!({ "userName": email, "userEmail": email, "apiKeys": [], "authenticators": [],
            "oauthProviders": [], "userTags": [] });
        completed(attacker.submit("create_users", json!({ "users": [user] })), "createUsersResult");
    };
    planted("vic@example.com");
    planted("new@example.com");

    let session = answer(otp_login(&server, &anon, &org, "vic@example.com"));
    assert_eq!(twofold_testkit::session_claims(&session)["organization_id"], victim_org.as_str(), "{session}");
    refused(&otp_login(&server, &anon, &org, "new@example.com"), 404, "verified email address");
    let listed = ok(attacker.query("list_users", json!({})));
    assert_eq!(listed["users"].as_array().expect("users").len(), 3, "the planted users exist: {listed}");
}

on_every_backend!(
    a_self_signed_up_tenant_cannot_capture_or_deny_another_users_otp_login_sqlite,
    a_self_signed_up_tenant_cannot_capture_or_deny_another_users_otp_login_postgres,
    a_self_signed_up_tenant_cannot_capture_or_deny_another_users_otp_login
);
