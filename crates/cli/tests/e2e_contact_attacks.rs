//! Contacts are factors (issue 16 items 3 and 4): a right to edit users does not let anyone
//! take over an account by its email, a scoped session cannot change its contact and log in
//! again outside its scope, and OTP login never resolves an address a self-registered
//! sub-organization claimed — against the real binary, on SQLite and PostgreSQL.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

use serde_json::{Value, json};
use support::proxy_login;
use twofold_client::{ApiKeyPair, Client};
use twofold_testkit::{Backend, TestServer, backends, completed, new_key, ok, status, user_with_key};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

fn enable_proxy(root: &Client, signup: bool) {
    completed(root.submit("enable_auth_proxy", json!({})), "enableAuthProxyResult");
    let mut methods = vec!["AUTH_METHOD_EMAIL_OTP_LOGIN"];
    if signup {
        methods.push("AUTH_METHOD_EMAIL_OTP_SIGNUP");
    }
    completed(
        root.submit("update_auth_proxy_config", json!({ "allowedAuthMethods": methods })),
        "updateAuthProxyConfigResult",
    );
}

/// A user of `root`'s organization with an API key and `contacts`; returns its id and client.
fn user(server: &TestServer, root: &Client, name: &str, contacts: Value) -> (String, Client) {
    let key = new_key();
    let mut params = user_with_key(name, &key);
    params.as_object_mut().expect("object").extend(contacts.as_object().expect("object").clone());
    let created = completed(root.submit("create_users", json!({ "users": [params] })), "createUsersResult");
    (created["userIds"][0].as_str().expect("id").to_owned(), server.client(key, root.organization_id()))
}

fn copy(key: &ApiKeyPair) -> ApiKeyPair {
    ApiKeyPair::from_private_hex(key.curve(), &key.private_key_hex()).expect("key")
}

#[test]
fn a_right_to_edit_users_is_not_root_takeover() {
    for backend in backends() {
        helpdesk_cannot_take_over_root(backend);
    }
}

/// Item 3: a helpdesk user allowed only `USER/UPDATE` sets root's email to its own mailbox.
/// The change is visible to policies (and can be refused by one), it stays unverified, so an
/// email-code login to the new address does not sign in as root, and root's old address hears
/// of it.
fn helpdesk_cannot_take_over_root(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let org = root.organization_id().to_owned();
    let root_id = ok(root.query("get_whoami", json!({})))["userId"].as_str().expect("id").to_owned();
    completed(
        root.submit("update_user", json!({ "userId": root_id, "userEmail": "root@corp.example" })),
        "updateUserResult",
    );
    enable_proxy(&root, false);
    let (_, helpdesk) = user(&server, &root, "helpdesk", json!({}));
    let grant = json!({ "policyName": "helpdesk edits profiles", "effect": "EFFECT_ALLOW", "notes": "",
                        "condition": "activity.resource == 'USER' && activity.action == 'UPDATE'" });
    completed(root.submit("create_policy", grant), "createPolicyResult");

    let hijack = json!({ "userId": root_id, "userEmail": "helpdesk@evil.example" });
    let changed = ok(helpdesk.submit("update_user", hijack.clone()));
    // What changes is in activity.params, so a policy can tell a rename from a contact change.
    let evaluated = ok(root.query(
        "evaluate_activity",
        json!({ "userId": root_id, "activity": { "type": "ACTIVITY_TYPE_UPDATE_USER", "parameters": hijack } }),
    ));
    let params = &evaluated["activity"]["params"];
    assert_eq!(params["user_email"], "helpdesk@evil.example", "{evaluated}");
    assert!(params["changes"].as_array().is_some_and(|c| c.contains(&json!("EMAIL"))), "{evaluated}");

    // Whatever the policy decided, root cannot be signed in through the new address…
    let key = new_key();
    let login = proxy_login(&server, &root, &org, "helpdesk@evil.example", &key);
    if login.status == 200 {
        assert_ne!(
            twofold_testkit::session_claims(&login.body)["user_id"],
            root_id.as_str(),
            "as root: {}",
            login.body
        );
    }
    let as_root = server.client(copy(&key), &org);
    let who = as_root.query("get_whoami", json!({})).expect("sent");
    assert!(who.status != 200 || who.body["userId"] != root_id.as_str(), "{}", who.body);
    // …and if the change went through, the old address was told.
    if status(&changed) == "ACTIVITY_STATUS_COMPLETED" {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let mails = twofold_enclave::Outbox::list(&server.data_dir().join("outbox")).expect("outbox");
            let told = mails.iter().any(|p| {
                let m = twofold_enclave::Outbox::read(p).expect("mail");
                m.to == "root@corp.example" && m.body.contains("was replaced by another email address")
            });
            if told {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "root's old address was not told");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    // A policy narrowed to renames refuses the contact change outright.
    let narrowed = json!({ "policyName": "no contact changes", "effect": "EFFECT_DENY", "notes": "",
                           "condition": "activity.resource == 'USER' && 'EMAIL' in activity.params.changes" });
    completed(root.submit("create_policy", narrowed), "createPolicyResult");
    let again = ok(helpdesk.submit("update_user", json!({ "userId": root_id, "userEmail": "other@evil.example" })));
    assert_eq!(status(&again), "ACTIVITY_STATUS_FAILED", "{again}");
    // update_user_email (what @turnkey/core sends) is the same change for policies.
    let evaluated = ok(root.query(
        "evaluate_activity",
        json!({ "userId": root_id, "activity": { "type": "ACTIVITY_TYPE_UPDATE_USER_EMAIL",
                 "parameters": { "userId": root_id, "userEmail": "other@evil.example" } } }),
    ));
    assert_eq!(evaluated["activity"]["params"]["changes"], json!(["EMAIL"]), "{evaluated}");
    let again =
        ok(helpdesk.submit("update_user_email", json!({ "userId": root_id, "userEmail": "other@evil.example" })));
    assert_eq!(status(&again), "ACTIVITY_STATUS_FAILED", "{again}");
    let root_user = ok(root.query("get_user", json!({ "userId": root_id })));
    assert_ne!(root_user["user"]["userEmail"], "other@evil.example", "{root_user}");
    let renamed = ok(helpdesk.submit("update_user", json!({ "userId": root_id, "userName": "Root" })));
    assert_eq!(status(&renamed), "ACTIVITY_STATUS_COMPLETED", "{renamed}");
}

#[test]
fn a_scoped_session_cannot_change_its_contact_and_log_in_unscoped() {
    for backend in backends() {
        scoped_session_keeps_its_scope(backend);
    }
}

fn scoped_session_keeps_its_scope(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let profile = completed(
        root.submit(
            "create_session_profile",
            json!({ "sessionProfileName": "profile editor",
                    "scope": "activity.resource == 'USER' && activity.action == 'UPDATE'" }),
        ),
        "createSessionProfileResult",
    )["sessionProfileId"]
        .as_str()
        .expect("profile")
        .to_owned();
    let (alice_id, alice) = user(&server, &root, "alice", json!({ "userEmail": "alice@example.com" }));
    let grant = json!({ "policyName": "users edit profiles", "effect": "EFFECT_ALLOW", "notes": "",
                        "condition": "activity.resource == 'USER' && activity.action == 'UPDATE'" });
    completed(root.submit("create_policy", grant), "createPolicyResult");
    let session_key = new_key();
    completed(
        alice.submit("stamp_login", json!({ "publicKey": session_key.public_key_hex(), "sessionProfileId": profile })),
        "stampLoginResult",
    );
    let scoped = server.client(session_key, root.organization_id());
    // A rename is what the profile is for…
    let renamed = ok(scoped.submit("update_user", json!({ "userId": alice_id, "userName": "Alice" })));
    assert_eq!(status(&renamed), "ACTIVITY_STATUS_COMPLETED", "{renamed}");
    // …its own contact is not: a new address would log in again outside the scope.
    let resp = scoped.submit("update_user", json!({ "userId": alice_id, "userEmail": "elsewhere@example.com" }));
    let resp = resp.expect("sent");
    assert!(
        resp.status >= 400 || status(&resp.body) != "ACTIVITY_STATUS_COMPLETED",
        "a scoped session changed its own contact: {}",
        resp.body
    );
    // Nor through the one-contact activities @turnkey/core sends.
    for (name, parameters) in [
        ("update_user_email", json!({ "userId": alice_id, "userEmail": "elsewhere@example.com" })),
        ("update_user_phone_number", json!({ "userId": alice_id, "userPhoneNumber": "+15555550123" })),
    ] {
        let resp = scoped.submit(name, parameters).expect("sent");
        assert!(
            resp.status == 403 && resp.body["message"].as_str().is_some_and(|m| m.contains("session profile")),
            "{name}: a scoped session changed its own contact: {} {}",
            resp.status,
            resp.body
        );
    }
    let user = ok(root.query("get_user", json!({ "userId": alice_id })));
    assert_eq!(user["user"]["userEmail"], "alice@example.com", "{user}");
    assert!(user["user"]["userPhoneNumber"].is_null() || user["user"]["userPhoneNumber"] == "", "{user}");
}

#[test]
fn an_anonymous_sign_up_cannot_claim_or_block_another_tenants_email_login() {
    for backend in backends() {
        sign_ups_claim_nothing(backend);
    }
}

/// Item 4: eve signs up anonymously (root of her own sub-organization) and adds users with
/// ann's address and with an address nobody registered yet. Ann's login still lands in her
/// own organization, and the first login with the unregistered address never lands in eve's.
fn sign_ups_claim_nothing(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let org = root.organization_id().to_owned();
    // Ann's organization, created by the parent for her address.
    let ann = json!({ "userName": "ann", "userEmail": "ann@example.com", "apiKeys": [], "authenticators": [],
                      "oauthProviders": [] });
    let created = completed(
        root.submit(
            "create_sub_organization",
            json!({ "subOrganizationName": "ann's", "rootUsers": [ann], "rootQuorumThreshold": 1 }),
        ),
        "createSubOrganizationResultV8",
    );
    let ann_org = created["subOrganizationId"].as_str().expect("org").to_owned();
    enable_proxy(&root, true);

    // Eve's anonymous sign-up, then her own users with the others' addresses.
    let eve_key = new_key();
    let signed_up = support::anonymous_sign_up(&server, &root, "eve@evil.example", &eve_key);
    let eve = server.client(copy(&eve_key), &signed_up);
    for address in ["ann@example.com", "newcomer@example.com"] {
        let squatter = json!({ "userName": address, "userEmail": address, "apiKeys": [], "authenticators": [],
                               "oauthProviders": [] });
        let added = ok(eve.submit("create_users", json!({ "users": [squatter] })));
        assert_eq!(status(&added), "ACTIVITY_STATUS_COMPLETED", "eve may add users to her own org: {added}");
    }

    // Ann signs in as before, into her own organization.
    let key = new_key();
    let login = proxy_login(&server, &root, &org, "ann@example.com", &key);
    assert_eq!(login.status, 200, "ann's login is not blocked: {}", login.body);
    assert_eq!(twofold_testkit::session_claims(&login.body)["organization_id"], ann_org.as_str(), "{}", login.body);
    // The first login with the address eve squatted never lands in eve's organization.
    let key = new_key();
    let first = proxy_login(&server, &root, &org, "newcomer@example.com", &key);
    if first.status == 200 {
        let landed = twofold_testkit::session_claims(&first.body);
        assert_ne!(landed["organization_id"], signed_up.as_str(), "landed in eve's org: {}", first.body);
    }
    let in_eve = server.client(copy(&key), &signed_up).query("get_whoami", json!({})).expect("sent");
    assert_ne!(in_eve.status, 200, "the newcomer's key works in eve's org: {}", in_eve.body);
}
