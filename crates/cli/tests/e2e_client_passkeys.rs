//! Passkeys registered the way Turnkey's SDKs register them (issue 19): the client makes the
//! WebAuthn challenge (`generateRandomBuffer`), the browser signs it, and the attestation
//! comes inline — in `create_authenticators`, in `create_users` and in
//! `create_sub_organization`'s root users. The server checks clientDataJSON against the
//! challenge the request names, its origin and the relying party, and registers a credential
//! once, anywhere. SQLite and PostgreSQL.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use support::{client_made_passkey, origin, passkey_stamp, rand_bytes};
use twofold_client::{ApiResponse, Client};
use twofold_testkit::{Backend, TestServer, completed, new_key, ok, on_every_backend, user_with_key};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

/// `client`'s whoami, stamped by the passkey instead of its key.
fn whoami_by_passkey(server: &TestServer, client: &Client, soft: &mut SoftPasskey, credential_id: &str) -> ApiResponse {
    let body = json!({ "organizationId": client.organization_id() }).to_string();
    let stamp = passkey_stamp(soft, origin(server), credential_id, body.as_bytes());
    client
        .post_with_headers("/public/v1/query/get_whoami", body.as_bytes(), &[("X-Stamp-Webauthn", stamp)])
        .expect("sent")
}

#[track_caller]
fn failed_with(resp: twofold_client::Result<ApiResponse>, needle: &str) {
    let resp = resp.expect("sent");
    let text = resp.body.to_string();
    assert!(
        (resp.status >= 400 || resp.body["activity"]["status"] == "ACTIVITY_STATUS_FAILED") && text.contains(needle),
        "expected a refusal naming `{needle}`: {text}"
    );
}

fn client_made_challenges(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let (counts_before, _) = server.db.data_and_audit_counts();

    // create_authenticators (the SDK's addPasskey) for the root user itself.
    let me = ok(root.query("get_whoami", json!({})))["userId"].as_str().expect("me").to_owned();
    let (mut soft, authenticator, credential_id) = client_made_passkey(origin(&server), "laptop");
    let added = completed(
        root.submit("create_authenticators", json!({ "userId": me, "authenticators": [authenticator.clone()] })),
        "createAuthenticatorsResult",
    );
    assert_eq!(added["authenticatorIds"].as_array().map(Vec::len), Some(1), "{added}");
    assert_eq!(whoami_by_passkey(&server, &root, &mut soft, &credential_id).status, 200);
    // Binding a second factor now needs the first (step-up), so what follows is stamped by the passkey.
    let mut with_passkey = |params: Value| {
        Ok(support::submit_with_passkey(&server, &root, &mut soft, &credential_id, "create_authenticators", params))
    };
    // The same attestation again — here, or for another user — is refused: a credential registers once.
    failed_with(with_passkey(json!({ "userId": me, "authenticators": [authenticator.clone()] })), "already registered");

    // What does not verify is refused and stores nothing.
    let (counts, _) = server.db.data_and_audit_counts();
    let (_, mut other_challenge, _) = client_made_passkey(origin(&server), "wrong challenge");
    other_challenge["challenge"] = json!(URL_SAFE_NO_PAD.encode(rand_bytes::<32>()));
    let (_, evil_origin, _) = client_made_passkey(url::Url::parse("https://evil.example").expect("url"), "phished");
    let (_, mut bad_type, _) = client_made_passkey(origin(&server), "not a registration");
    let client_data =
        URL_SAFE_NO_PAD.decode(bad_type["attestation"]["clientDataJson"].as_str().expect("cdj")).expect("b64");
    let swapped = String::from_utf8(client_data).expect("utf8").replace("webauthn.create", "webauthn.get");
    bad_type["attestation"]["clientDataJson"] = json!(URL_SAFE_NO_PAD.encode(swapped));
    for (label, bad) in [("challenge", other_challenge), ("origin", evil_origin), ("type", bad_type)] {
        failed_with(with_passkey(json!({ "userId": me, "authenticators": [bad] })), "does not verify");
        let (now, _) = server.db.data_and_audit_counts();
        assert_eq!(
            now.iter().find(|(t, _)| t == "factors"),
            counts.iter().find(|(t, _)| t == "factors"),
            "{label}: nothing stored"
        );
    }
    failed_with(
        root.submit(
            "create_authenticators",
            json!({ "userId": me, "authenticators": [{
            "authenticatorName": "x", "challenge": "", "attestation": authenticator["attestation"] }] }),
        ),
        "challenge",
    );

    // create_users with a passkey inline: the new user stamps with it at once.
    let (mut kim_soft, kim_passkey, kim_credential) = client_made_passkey(origin(&server), "kim's key");
    let mut kim = user_with_key("kim", &new_key());
    kim["authenticators"] = json!([kim_passkey]);
    let created = completed(root.submit("create_users", json!({ "users": [kim] })), "createUsersResult");
    let kim_id = created["userIds"][0].as_str().expect("kim").to_owned();
    let as_kim = server.client(new_key(), root.organization_id());
    let who = whoami_by_passkey(&server, &as_kim, &mut kim_soft, &kim_credential);
    assert_eq!(who.status, 200, "{}", who.body);
    assert_eq!(who.body["userId"], kim_id.as_str());
    let user = ok(root.query("get_user", json!({ "userId": kim_id })));
    assert_eq!(user["user"]["authenticators"].as_array().map(Vec::len), Some(1), "{user}");

    // create_sub_organization (the SDK's passkey sign-up): the root user's passkey is its credential.
    let (mut owner_soft, owner_passkey, owner_credential) = client_made_passkey(origin(&server), "owner key");
    let owner = json!({ "userName": "owner", "apiKeys": [], "authenticators": [owner_passkey], "oauthProviders": [] });
    let sub = completed(
        root.submit(
            "create_sub_organization",
            json!({ "subOrganizationName": "passkey org", "rootUsers": [owner], "rootQuorumThreshold": 1 }),
        ),
        "createSubOrganizationResultV8",
    );
    let sub_id = sub["subOrganizationId"].as_str().expect("sub").to_owned();
    let as_owner = server.client(new_key(), &sub_id);
    let who = whoami_by_passkey(&server, &as_owner, &mut owner_soft, &owner_credential);
    assert_eq!(who.status, 200, "{}", who.body);
    assert_eq!(who.body["organizationId"], sub_id.as_str());
    // A refused inline passkey creates neither the user nor the organization.
    let (counts, _) = server.db.data_and_audit_counts();
    let (_, phished, _) = client_made_passkey(url::Url::parse("https://evil.example").expect("url"), "phished");
    let owner = json!({ "userName": "nobody", "apiKeys": [], "authenticators": [phished], "oauthProviders": [] });
    failed_with(
        root.submit(
            "create_sub_organization",
            json!({ "subOrganizationName": "never", "rootUsers": [owner], "rootQuorumThreshold": 1 }),
        ),
        "does not verify",
    );
    let (after, _) = server.db.data_and_audit_counts();
    for table in ["organizations", "users", "factors"] {
        assert_eq!(after.iter().find(|(t, _)| t == table), counts.iter().find(|(t, _)| t == table), "{table}");
    }
    assert_ne!(counts_before, after);
}

on_every_backend!(client_made_challenges_sqlite, client_made_challenges_postgres, client_made_challenges);
