//! End-to-end: the real `twofold` binary over HTTP, on SQLite and on PostgreSQL.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::process::Command;

use serde_json::{Value, json};
use twofold_client::{ApiKeyPair, Curve};
use twofold_testkit::{Backend, TestServer, completed, new_key, ok, user_with_key};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

/// Acceptance 1: `twofold request get_whoami` with the bootstrap key prints the root org and user.
#[test]
fn cli_whoami_with_the_bootstrap_key_prints_the_root_org_and_user() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    assert!(
        server.stdout_lines.iter().any(|l| l.contains("root API key written to")),
        "bootstrap announces the key file: {:?}",
        server.stdout_lines
    );
    assert!(!server.stdout_lines.iter().any(|l| l.contains("privateKey")), "never prints the private key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode(&server.root_key_path()), 0o600, "key file is private");
        assert_eq!(mode(&server.data_dir()), 0o700, "data directory is private");
        for file in ["twofold.db", "twofold.db-wal"] {
            assert_eq!(mode(&server.dir.path().join(file)), 0o600, "{file} is private");
        }
    }
    let out = Command::new(BIN)
        .args(["request", "get_whoami", "--url", &server.url, "--key-file"])
        .arg(server.root_key_path())
        .output()
        .expect("run twofold request");
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let whoami: Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    let key_file: Value =
        serde_json::from_str(&std::fs::read_to_string(server.root_key_path()).expect("read")).expect("json");
    assert_eq!(whoami["organizationId"], key_file["organizationId"]);
    assert_eq!(whoami["userId"], key_file["userId"]);
    assert_eq!(whoami["organizationName"], "Root Organization");
    assert_eq!(whoami["username"], "root");
}

/// The CLI creates a user with `--param` and lists activities; failures exit non-zero.
#[test]
fn cli_creates_a_user_and_lists_activities() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .args(["--url", &server.url, "--key-file"])
            .arg(server.root_key_path())
            .output()
            .expect("run")
    };
    let out = run(&["request", "create_users", "--param", r#"users=[{"userName":"alice","userTags":[]}]"#]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(created["activity"]["status"], "ACTIVITY_STATUS_COMPLETED");
    let out = run(&["request", "list_activities"]);
    let listed: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(listed["activities"][0]["id"], created["activity"]["id"]);
    let out = run(&["request", "get_user", "--param", "userId=nope"]);
    assert_eq!(out.status.code(), Some(1), "a 404 exits 1");
    let out = run(&["request", "no_such_thing"]);
    assert_eq!(out.status.code(), Some(2), "a usage error exits 2");
    // An activity that ends FAILED answers 200 but is not a success: exit 4, with the reason.
    let out = run(&["request", "delete_users", "--param", r#"userIds=["00000000-0000-4000-8000-000000000000"]"#]);
    assert_eq!(out.status.code(), Some(4), "a FAILED activity exits 4: {}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ended ACTIVITY_STATUS_FAILED: no user"), "{stderr}");
    let failed: Value = serde_json::from_slice(&out.stdout).expect("the activity is still printed");
    assert_eq!(failed["activity"]["status"], "ACTIVITY_STATUS_FAILED");
    // Nobody listening: exit 3, not the 1 of an error answer.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let out = Command::new(BIN)
        .args(["request", "get_whoami", "--url", &format!("http://127.0.0.1:{port}"), "--key-file"])
        .arg(server.root_key_path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3), "connection refused exits 3: {}", String::from_utf8_lossy(&out.stderr));
}

/// While the organization requires a second factor the user has not set up, every answer the
/// CLI prints is followed, on stderr, by the enrolment deadline.
#[test]
fn cli_prints_the_enrolment_deadline_on_stderr() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let key = new_key();
    let user = user_with_key("newcomer", &key);
    completed(root.submit("create_users", json!({ "users": [user] })), "createUsersResult");
    let rule = json!({ "scope": "MFA_ENFORCEMENT_SCOPE_ORGANIZATION", "value": "MFA_ENFORCEMENT_REQUIRED", "gracePeriodDays": 3 });
    // The root user is required too; with three days of grace it is not blocked.
    completed(root.submit("set_mfa_enforcement", rule), "setMfaEnforcementResult");
    let out = Command::new(BIN)
        .args(["request", "get_whoami", "--url", &server.url, "--key-file"])
        .arg(server.root_key_path())
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let whoami: Value = serde_json::from_slice(&out.stdout).expect("json");
    let deadline = whoami["mfaEnrollment"]["deadline"].as_str().expect("deadline");
    assert!(stderr.contains(&format!("enrol one by {deadline}")), "{stderr}");
}

twofold_testkit::on_every_backend!(api_suite_on_sqlite, api_suite_on_postgres, api_suite);

/// `twofold serve` run as a new user runs it: in `dir`, default data directory, with `args`;
/// returns the process and its URL.
fn serve_in(dir: &std::path::Path, args: &[&str]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("TWOFOLD_CONFIG")
        .env_remove("TWOFOLD_DATA_DIR")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn twofold serve");
    let stdout = child.stdout.take().expect("stdout");
    for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(url) = line.strip_prefix("twofold listening on ") {
            return (child, url.to_owned());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("twofold serve did not start in {}", dir.display());
}

/// Runs the CLI in `dir` with no key file named (the new user's way).
fn cli_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .env_remove("TWOFOLD_KEY_FILE")
        .env_remove("TWOFOLD_DATA_DIR")
        .env_remove("TWOFOLD_DATABASE_URL")
        .env_remove("TWOFOLD_CONFIG")
        .output()
        .expect("run twofold")
}

/// Issue 23.10: a new user serves SQLite, then switches the same data directory to
/// PostgreSQL. The server writes the new installation's key beside the old one
/// (`root-api-key-<org>.json`); the CLI, given no `--key-file`, stamps with the key of the
/// database the server serves (and says which file it took), and `audit verify` prints the
/// database it verified and notes that the server serves another.
#[test]
fn the_cli_uses_the_key_of_the_database_the_server_serves() {
    if !twofold_testkit::postgres_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut sqlite, url) = serve_in(dir.path(), &[]);
    let whoami = cli_in(dir.path(), &["request", "get_whoami", "--url", &url]);
    assert!(whoami.status.success(), "{}", String::from_utf8_lossy(&whoami.stderr));
    let first: Value = serde_json::from_slice(&whoami.stdout).expect("JSON");
    let _ = sqlite.kill();
    let _ = sqlite.wait();

    let pg = twofold_testkit::TestDb::new(Backend::Postgres, dir.path());
    let (mut postgres, url) = serve_in(dir.path(), &["--database-url", pg.url()]);
    let second_key = dir.path().join(format!("twofold-data/root-api-key-{}.json", {
        let status = cli_in(dir.path(), &["request", "get_whoami", "--url", &url]);
        assert!(status.status.success(), "whoami against PostgreSQL: {}", String::from_utf8_lossy(&status.stderr));
        let answer: Value = serde_json::from_slice(&status.stdout).expect("JSON");
        assert_ne!(answer["organizationId"], first["organizationId"], "another installation: {answer}");
        let stderr = String::from_utf8_lossy(&status.stderr).into_owned();
        assert!(stderr.contains("root-api-key-") && stderr.contains("postgres://"), "says which key: {stderr}");
        answer["organizationId"].as_str().expect("org").to_owned()
    }));
    assert!(second_key.exists(), "the second installation's key sits beside the first");
    let _ = postgres.kill();
    let _ = postgres.wait();

    // `audit verify` with no --database-url checks the SQLite file, and says so.
    let verify = cli_in(dir.path(), &["audit", "verify"]);
    let (out, err) = (String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));
    assert!(verify.status.success(), "{out}{err}");
    assert!(out.starts_with("database: sqlite://twofold-data/twofold.db\n"), "{out}");
    assert!(err.contains("last served postgres://") && err.contains("--database-url"), "{err}");
    let verify = cli_in(dir.path(), &["audit", "verify", "--database-url", pg.url()]);
    let out = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success() && out.starts_with(&format!("database: {}\n", pg.url())), "{out}");
    assert!(!String::from_utf8_lossy(&verify.stderr).contains("last served"), "the server's own database");
}

fn list_ids(v: &Value, key: &str) -> Vec<String> {
    v[key].as_array().expect("array").iter().map(|a| a["id"].as_str().expect("id").to_owned()).collect()
}

/// Acceptance 2: users, API keys, tags, sub-org, root quorum, activities, pagination, idempotency.
fn api_suite(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let whoami = ok(root.query("get_whoami", json!({})));
    let root_user = whoami["userId"].as_str().expect("user").to_owned();

    // A tag, then a user carrying it with an API key.
    let tag = completed(
        root.submit("create_user_tag", json!({ "userTagName": "ops", "userIds": [] })),
        "createUserTagResult",
    );
    let tag_id = tag["userTagId"].as_str().expect("tag id").to_owned();
    let alice_key = new_key();
    let mut alice_params = user_with_key("alice", &alice_key);
    alice_params["userEmail"] = json!("alice@example.com");
    alice_params["userTags"] = json!([tag_id]);
    let created = completed(root.submit("create_users", json!({ "users": [alice_params] })), "createUsersResult");
    let alice = created["userIds"][0].as_str().expect("alice id").to_owned();

    let user = ok(root.query("get_user", json!({ "userId": alice })))["user"].clone();
    assert_eq!(user["userName"], "alice");
    assert_eq!(user["userEmail"], "alice@example.com");
    assert_eq!(user["userTags"], json!([tag_id]));
    assert_eq!(user["apiKeys"][0]["credential"]["publicKey"], alice_key.public_key_hex());
    assert_eq!(user["apiKeys"][0]["credential"]["type"], "CREDENTIAL_TYPE_API_KEY_P256");
    assert_eq!(ok(root.query("list_users", json!({})))["users"].as_array().expect("users").len(), 2);
    let tags = ok(root.query("list_user_tags", json!({})));
    assert_eq!(tags["userTags"][0]["tagName"], "ops");

    // Alice is authenticated but not in the root quorum: implicitly denied, nothing created.
    let alice_client = server.client(alice_key, root.organization_id());
    assert_eq!(ok(alice_client.query("get_whoami", json!({})))["userId"], alice);
    let denied = ok(alice_client.submit("create_users", json!({ "users": [user_with_key("mallory", &new_key())] })));
    assert_eq!(denied["activity"]["status"], "ACTIVITY_STATUS_FAILED");
    assert!(denied["activity"]["failure"]["message"].as_str().expect("msg").contains("implicit deny"));
    assert_eq!(ok(root.query("list_users", json!({})))["users"].as_array().expect("users").len(), 2);

    // A second key (Ed25519) for alice, used, then deleted.
    let ed = ApiKeyPair::generate(Curve::Ed25519).expect("ed25519");
    let keys = completed(
        root.submit(
            "create_api_keys",
            json!({ "userId": alice, "apiKeys": [{ "apiKeyName": "ed", "publicKey": ed.public_key_hex(), "curveType": "API_KEY_CURVE_ED25519" }] }),
        ),
        "createApiKeysResult",
    );
    let ed_id = keys["apiKeyIds"][0].as_str().expect("key id").to_owned();
    let listed = ok(root.query("get_api_keys", json!({ "userId": alice })));
    assert_eq!(listed["apiKeys"].as_array().expect("keys").len(), 2);
    let one = ok(root.query("get_api_key", json!({ "apiKeyId": ed_id })));
    assert_eq!(one["apiKey"]["credential"]["type"], "CREDENTIAL_TYPE_API_KEY_ED25519");
    let ed_client = server.client(
        ApiKeyPair::from_private_hex(Curve::Ed25519, &ed.private_key_hex()).expect("key"),
        root.organization_id(),
    );
    assert_eq!(ok(ed_client.query("get_whoami", json!({})))["userId"], alice);
    completed(root.submit("delete_api_keys", json!({ "userId": alice, "apiKeyIds": [ed_id] })), "deleteApiKeysResult");
    let gone = ed_client.query("get_whoami", json!({})).expect("sent");
    assert_eq!(gone.status, 401, "{}", gone.body);

    // Update the user.
    completed(
        root.submit(
            "update_user",
            json!({ "userId": alice, "userName": "alice2", "userPhoneNumber": "+14155550100", "userTagIds": [] }),
        ),
        "updateUserResult",
    );
    let user = ok(root.query("get_user", json!({ "userId": alice })))["user"].clone();
    assert_eq!(user["userName"], "alice2");
    assert_eq!(user["userPhoneNumber"], "+14155550100");
    assert_eq!(user["userTags"], json!([]));

    // A sub-organization whose root user acts in it.
    let bob_key = new_key();
    let mut bob_params = user_with_key("bob", &bob_key);
    bob_params.as_object_mut().expect("object").remove("userTags");
    let sub = completed(
        root.submit(
            "create_sub_organization",
            json!({ "subOrganizationName": "tenant-a", "rootUsers": [bob_params], "rootQuorumThreshold": 1 }),
        ),
        "createSubOrganizationResultV8",
    );
    let sub_id = sub["subOrganizationId"].as_str().expect("sub id").to_owned();
    assert_eq!(ok(root.query("list_suborgs", json!({})))["organizationIds"], json!([sub_id]));
    let bob = server.client(bob_key, &sub_id);
    let bob_whoami = ok(bob.query("get_whoami", json!({})));
    assert_eq!(bob_whoami["organizationName"], "tenant-a");
    assert_eq!(bob_whoami["userId"], sub["rootUserIds"][0]);
    completed(bob.submit("create_users", json!({ "users": [{ "userName": "carol-in-sub" }] })), "createUsersResult");

    // Idempotency: the identical body returns the same activity and runs once.
    let body = root
        .submit_body("create_users", json!({ "parameters": { "users": [{ "userName": "dave" }] } }))
        .expect("body")
        .to_string();
    let first = ok(root.post_raw("/public/v1/submit/create_users", body.as_bytes()));
    let second = ok(root.post_raw("/public/v1/submit/create_users", body.as_bytes()));
    assert_eq!(first["activity"]["id"], second["activity"]["id"]);
    assert_eq!(first["activity"]["result"], second["activity"]["result"]);
    let expected_fp = format!("sha256:{}", sha256_hex(body.as_bytes()));
    assert_eq!(first["activity"]["fingerprint"], expected_fp);
    let users = ok(root.query("list_users", json!({})))["users"].clone();
    assert_eq!(users.as_array().expect("users").iter().filter(|u| u["userName"] == "dave").count(), 1);

    // A failing activity (state-dependent) is FAILED with no effects.
    let failed = ok(root.submit("delete_users", json!({ "userIds": [alice, "00000000-0000-4000-8000-000000000000"] })));
    assert_eq!(failed["activity"]["status"], "ACTIVITY_STATUS_FAILED");
    assert!(ok(root.query("get_user", json!({ "userId": alice })))["user"]["userId"] == alice, "rolled back");

    // Root quorum 2-of-2: root's own activities now wait for consensus.
    let carol_key = new_key();
    let carol = completed(
        root.submit("create_users", json!({ "users": [user_with_key("carol", &carol_key)] })),
        "createUsersResult",
    )["userIds"][0]
        .as_str()
        .expect("carol")
        .to_owned();
    completed(
        root.submit("update_root_quorum", json!({ "threshold": 2, "userIds": [root_user, carol] })),
        "updateRootQuorumResult",
    );
    let org = ok(root.query("get_organization", json!({})))["organizationData"].clone();
    assert_eq!(org["rootQuorum"]["threshold"], 2);
    assert_eq!(org["rootQuorum"]["userIds"].as_array().expect("ids").len(), 2);
    let pending = ok(root.submit("create_users", json!({ "users": [{ "userName": "erin" }] })));
    assert_eq!(pending["activity"]["status"], "ACTIVITY_STATUS_CONSENSUS_NEEDED");
    assert_eq!(pending["activity"]["votes"][0]["userId"], root_user);
    assert_eq!(pending["activity"]["votes"][0]["selection"], "VOTE_SELECTION_APPROVED");
    let carol_client = server.client(carol_key, root.organization_id());
    let seen = ok(carol_client.query("get_activity", json!({ "activityId": pending["activity"]["id"] })));
    assert_eq!(seen["activity"]["canApprove"], true, "carol may still vote");
    assert!(
        !ok(root.query("list_users", json!({})))["users"]
            .as_array()
            .expect("u")
            .iter()
            .any(|u| u["userName"] == "erin")
    );

    // Pagination over every activity of the root org, newest first, both directions.
    let all = ok(root.query("list_activities", json!({ "paginationOptions": { "limit": "100" } })));
    let all_ids = list_ids(&all, "activities");
    assert!(all_ids.len() >= 10, "{}", all_ids.len());
    let mut walked = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut page_opts = json!({ "limit": "3" });
        if let Some(a) = &after {
            page_opts["after"] = json!(a);
        }
        let page =
            list_ids(&ok(root.query("list_activities", json!({ "paginationOptions": page_opts }))), "activities");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        after = page.last().cloned();
        walked.extend(page);
    }
    assert_eq!(walked, all_ids, "pages concatenate to the full list");
    let back =
        ok(root.query("list_activities", json!({ "paginationOptions": { "limit": "3", "before": all_ids[5] } })));
    assert_eq!(list_ids(&back, "activities"), all_ids[2..5].to_vec());
    let consensus =
        ok(root.query("list_activities", json!({ "filterByStatus": ["ACTIVITY_STATUS_CONSENSUS_NEEDED"] })));
    assert_eq!(list_ids(&consensus, "activities"), vec![pending["activity"]["id"].as_str().expect("id").to_owned()]);
    let quorum_type =
        ok(root.query("list_activities", json!({ "filterByType": ["ACTIVITY_TYPE_UPDATE_ROOT_QUORUM"] })));
    assert_eq!(quorum_type["activities"].as_array().expect("a").len(), 1);
    let failed_only = ok(root.query("list_activities", json!({ "filterByStatus": ["ACTIVITY_STATUS_FAILED"] })));
    assert_eq!(failed_only["activities"].as_array().expect("a").len(), 2, "alice's denial and the failed delete");
    let one = ok(root.query("get_activity", json!({ "activityId": all_ids[0] })));
    assert_eq!(one["activity"]["id"], all_ids[0]);
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// `list_suborgs` finds a parent's sub-organizations by what @turnkey/core looks them up by:
/// the organization's name, a user's name, email (any case), phone, passkey credential id or
/// API key; bad filters are a 400 naming the field; another parent's sub-organizations never match.
fn sub_organizations_are_found_by_filter(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let key = new_key();
    let mut owner = user_with_key("ann", &key);
    owner.as_object_mut().expect("object").remove("userTags");
    owner["userEmail"] = json!("Ann@Example.com");
    owner["userPhoneNumber"] = json!("+15555550111");
    let created = completed(
        root.submit(
            "create_sub_organization",
            json!({ "subOrganizationName": "ann's org", "rootQuorumThreshold": 1, "rootUsers": [owner] }),
        ),
        "createSubOrganizationResultV8",
    );
    let ann_org = created["subOrganizationId"].as_str().expect("org").to_owned();
    let ann_id = created["rootUserIds"][0].as_str().expect("user").to_owned();
    let ann_public_key = key.public_key_hex();
    let ann = server.client(key, &ann_org);
    let (_, _, credential_id) = support::register_passkey(&server, &ann, &ann_id);
    let (other_org, _, other) = support::sub_org(&server, &root, "bob's org");
    // A sub-organization of another parent with the same email is not found from root.
    let mut twin = user_with_key("ann", &new_key());
    twin.as_object_mut().expect("object").remove("userTags");
    twin["userEmail"] = json!("ann@example.com");
    completed(
        other.submit(
            "create_sub_organization",
            json!({ "subOrganizationName": "nested", "rootQuorumThreshold": 1, "rootUsers": [twin] }),
        ),
        "createSubOrganizationResultV8",
    );

    let find = |kind: &str, value: &str| -> Vec<String> {
        let found = ok(root.query("list_suborgs", json!({ "filterType": kind, "filterValue": value })));
        found["organizationIds"].as_array().expect("ids").iter().map(|v| v.as_str().expect("id").to_owned()).collect()
    };
    let ann_only: Vec<String> = vec![ann_org.clone()];
    assert_eq!(find("NAME", "ann's org"), ann_only);
    assert_eq!(find("USERNAME", "ann"), ann_only);
    assert_eq!(find("EMAIL", "ann@EXAMPLE.com"), ann_only, "email matches in any case, only under this parent");
    assert_eq!(find("PHONE_NUMBER", "+15555550111"), ann_only);
    assert_eq!(find("CREDENTIAL_ID", &credential_id), ann_only);
    assert_eq!(find("PUBLIC_KEY", &ann_public_key.to_uppercase()), ann_only);
    assert_eq!(find("NAME", "bob's org"), vec![other_org]);
    assert!(find("EMAIL", "nobody@example.com").is_empty());
    // A self-made sub-organization's root cannot look through its parent's sub-organizations.
    let probe =
        json!({ "organizationId": root.organization_id(), "filterType": "EMAIL", "filterValue": "ann@example.com" });
    let resp = other.query("list_suborgs", probe).expect("sent");
    assert!(matches!(resp.status, 401 | 403), "{}", resp.body);
    assert!(resp.body.get("organizationIds").is_none(), "{}", resp.body);
    for (body, needle) in [
        (json!({ "filterType": "COLOR", "filterValue": "red" }), "filterType"),
        (json!({ "filterType": "EMAIL" }), "give both or neither"),
        (json!({ "filterType": "EMAIL", "filterValue": "" }), "filterValue"),
        (json!({ "filterType": "OIDC_TOKEN", "filterValue": "eyJ" }), "OIDC_TOKEN"),
    ] {
        let resp = root.query("list_suborgs", body.clone()).expect("sent");
        assert_eq!(resp.status, 400, "{body}: {}", resp.body);
        assert!(resp.body["message"].as_str().is_some_and(|m| m.contains(needle)), "{body}: {}", resp.body);
    }

    // list_verified_suborgs: only contacts proven by a code count (ann's was only set).
    let verified = |body: Value| -> Vec<String> {
        let found = ok(root.query("list_verified_suborgs", body));
        found["organizationIds"].as_array().expect("ids").iter().map(|v| v.as_str().expect("id").to_owned()).collect()
    };
    assert!(verified(json!({ "filterType": "EMAIL", "filterValue": "ann@example.com" })).is_empty());
    assert!(verified(json!({})).is_empty(), "nobody has proven a contact yet");
    completed(root.submit("enable_auth_proxy", json!({})), "enableAuthProxyResult");
    let methods = json!({ "allowedAuthMethods": ["AUTH_METHOD_EMAIL_OTP_LOGIN", "AUTH_METHOD_EMAIL_OTP_SIGNUP"] });
    completed(root.submit("update_auth_proxy_config", methods), "updateAuthProxyConfigResult");
    let carol_org = support::anonymous_sign_up(&server, &root, "carol@example.com", &new_key());
    assert_eq!(verified(json!({ "filterType": "EMAIL", "filterValue": "Carol@Example.com" })), vec![carol_org.clone()]);
    assert_eq!(verified(json!({})), vec![carol_org.clone()]);
    assert!(verified(json!({ "filterType": "PHONE_NUMBER", "filterValue": "+15555550111" })).is_empty());
    assert!(find("EMAIL", "carol@example.com") == vec![carol_org], "list_suborgs finds it too");
    for (body, needle) in [
        (json!({ "filterType": "NAME", "filterValue": "ann's org" }), "EMAIL or PHONE_NUMBER"),
        (json!({ "filterValue": "x" }), "give both or neither"),
    ] {
        let resp = root.query("list_verified_suborgs", body.clone()).expect("sent");
        assert_eq!(resp.status, 400, "{body}: {}", resp.body);
        assert!(resp.body["message"].as_str().is_some_and(|m| m.contains(needle)), "{body}: {}", resp.body);
    }
    let resp = other.query("list_verified_suborgs", json!({ "organizationId": root.organization_id() })).expect("sent");
    assert!(matches!(resp.status, 401 | 403), "a sub-organization cannot list its parent's: {}", resp.body);
}

twofold_testkit::on_every_backend!(
    list_suborgs_filters_sqlite,
    list_suborgs_filters_postgres,
    sub_organizations_are_found_by_filter
);

/// DELETE_SUB_ORGANIZATION, as @turnkey/core sends it: submitted to the sub-organization by
/// its root quorum, it deletes the organization's users with every key, passkey and session
/// they could sign in with, so nothing authenticates there again, the parent no longer lists
/// it and its users' contacts are free; its history stays. The root organization, an
/// organization with sub-organizations of its own, a member a policy allows everything, and
/// the parent's own key cannot delete it.
fn delete_sub_organization(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let (sub, owner_id, owner) = support::sub_org(&server, &root, "to be deleted");
    let (_, _, credential_id) = support::register_passkey(&server, &owner, &owner_id);
    let member_key = new_key();
    let member = completed(
        owner.submit("create_users", json!({ "users": [user_with_key("member", &member_key)] })),
        "createUsersResult",
    )["userIds"][0]
        .as_str()
        .expect("member")
        .to_owned();
    let everything = json!({ "policyName": "member may do anything", "effect": "EFFECT_ALLOW",
        "condition": "true", "consensus": format!("approvers.any(u, u.id == '{member}')"), "notes": "" });
    completed(owner.submit("create_policy", everything), "createPolicyResult");
    let member = server.client(member_key, &sub);

    let refused_root = ok(root.submit("delete_sub_organization", json!({})));
    assert_eq!(twofold_testkit::status(&refused_root), "ACTIVITY_STATUS_FAILED", "{refused_root}");
    assert!(refused_root.to_string().contains("root organization cannot be deleted"), "{refused_root}");
    let by_parent = root
        .post_raw(
            "/public/v1/submit/delete_sub_organization",
            owner
                .submit_body("delete_sub_organization", json!({ "organizationId": sub, "parameters": {} }))
                .expect("body")
                .to_string()
                .as_bytes(),
        )
        .expect("sent");
    assert_eq!(by_parent.status, 403, "the parent's key is no key of the sub-organization: {}", by_parent.body);
    let by_member = member.submit("delete_sub_organization", json!({})).expect("sent");
    assert!(
        by_member.status == 200 && twofold_testkit::status(&by_member.body) != "ACTIVITY_STATUS_COMPLETED",
        "no policy grants deleting an organization, only its root quorum: {}",
        by_member.body
    );
    let (nested, _, nested_owner) = support::sub_org(&server, &owner, "nested");
    let with_child = ok(owner.submit("delete_sub_organization", json!({})));
    assert!(with_child.to_string().contains("sub-organization(s) of its own"), "{with_child}");
    completed(
        nested_owner.submit("delete_sub_organization", json!({ "deleteWithoutExport": true })),
        "deleteSubOrganizationResult",
    );
    assert!(!list_ids(&ok(owner.query("list_suborgs", json!({}))), "organizationIds").contains(&nested));

    let deleted = completed(owner.submit("delete_sub_organization", json!({})), "deleteSubOrganizationResult");
    assert_eq!(deleted["subOrganizationUuid"], sub.as_str());
    for client in [&owner, &member] {
        let after = client.query("whoami", json!({})).expect("sent");
        assert_eq!(after.status, 401, "{}", after.body);
        assert!(
            after.body["message"].as_str().is_some_and(|m| m.contains("could not find public key")),
            "{}",
            after.body
        );
    }
    assert!(!list_ids(&ok(root.query("list_suborgs", json!({}))), "organizationIds").contains(&sub));
    let by_credential =
        ok(root.query("list_suborgs", json!({ "filterType": "CREDENTIAL_ID", "filterValue": credential_id })));
    assert_eq!(by_credential["organizationIds"], json!([]), "its passkey is gone");
    let again = root.query("get_organization", json!({ "organizationId": sub })).expect("sent");
    assert!(matches!(again.status, 401 | 403 | 404), "{}", again.body);
    // The owner's email is free for a new sign-up.
    let mut fresh = user_with_key("to be deleted owner", &new_key());
    fresh.as_object_mut().expect("object").remove("userTags");
    completed(
        root.submit(
            "create_sub_organization",
            json!({ "subOrganizationName": "to be deleted", "rootQuorumThreshold": 1, "rootUsers": [fresh] }),
        ),
        "createSubOrganizationResultV8",
    );
}

twofold_testkit::on_every_backend!(
    delete_sub_organization_sqlite,
    delete_sub_organization_postgres,
    delete_sub_organization
);

/// UPDATE_ORGANIZATION_NAME is the root quorum's alone (a member no policy can empower), and
/// DELETE_POLICIES deletes all it names or none.
#[test]
fn organization_rename_is_root_only_and_bulk_policy_deletion_is_all_or_nothing() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let (member_id, member) = support::member(&server, &root, "kim");
    let everything = json!({ "policyName": "kim may do anything", "effect": "EFFECT_ALLOW", "condition": "true",
        "consensus": format!("approvers.any(u, u.id == '{member_id}')"), "notes": "" });
    let allow_all = completed(root.submit("create_policy", everything), "createPolicyResult")["policyId"]
        .as_str()
        .expect("id")
        .to_owned();
    let by_member = ok(member.submit("update_organization_name", json!({ "organizationName": "Kim's now" })));
    assert_ne!(twofold_testkit::status(&by_member), "ACTIVITY_STATUS_COMPLETED", "{by_member}");
    let blank = root.submit("update_organization_name", json!({ "organizationName": "  " })).expect("sent");
    assert_eq!(blank.status, 400, "{}", blank.body);
    let renamed = completed(
        root.submit("update_organization_name", json!({ "organizationName": "Acme" })),
        "updateOrganizationNameResult",
    );
    assert_eq!(renamed, json!({ "organizationId": root.organization_id(), "organizationName": "Acme" }));
    assert_eq!(ok(root.query("get_organization", json!({})))["organizationData"]["name"], "Acme");

    let missing = ok(root.submit("delete_policies", json!({ "policyIds": [allow_all, "no-such-policy"] })));
    assert_eq!(twofold_testkit::status(&missing), "ACTIVITY_STATUS_FAILED", "{missing}");
    let names = |root: &twofold_client::Client| -> Vec<String> {
        let all = ok(root.query("list_policies", json!({})));
        all["policies"]
            .as_array()
            .expect("policies")
            .iter()
            .map(|p| p["policyId"].as_str().expect("id").to_owned())
            .collect()
    };
    assert!(names(&root).contains(&allow_all), "none deleted when one is missing");
    completed(root.submit("delete_policies", json!({ "policyIds": [allow_all.clone()] })), "deletePoliciesResult");
    assert!(!names(&root).contains(&allow_all));
}

/// UPDATE_USER_TAG renames a tag and moves users in and out of it (a name already taken is
/// refused); DELETE_USER_TAGS answers the users who carried them, and deletes all or none.
#[test]
fn user_tags_are_renamed_moved_and_deleted() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let (kim, _) = support::member(&server, &root, "kim");
    let (bo, _) = support::member(&server, &root, "bo");
    let made = |name: &str, users: &[&str]| {
        completed(
            root.submit("create_user_tag", json!({ "userTagName": name, "userIds": users })),
            "createUserTagResult",
        )["userTagId"]
            .as_str()
            .expect("tag")
            .to_owned()
    };
    let ops = made("ops", &[&kim]);
    let other = made("other", &[]);
    let tags_of = |user: &str| {
        let u = ok(root.query("get_user", json!({ "userId": user })));
        u["user"]["userTags"]
            .as_array()
            .expect("tags")
            .iter()
            .map(|t| t.as_str().expect("id").to_owned())
            .collect::<Vec<_>>()
    };
    let change = json!({ "userTagId": ops, "newUserTagName": "ops-team", "addUserIds": [bo], "removeUserIds": [kim] });
    assert_eq!(completed(root.submit("update_user_tag", change), "updateUserTagResult")["userTagId"], ops.as_str());
    assert!(tags_of(&bo).contains(&ops) && !tags_of(&kim).contains(&ops));
    let names = ok(root.query("list_user_tags", json!({})));
    assert!(names.to_string().contains("ops-team"), "{names}");
    let taken = ok(root.submit(
        "update_user_tag",
        json!({ "userTagId": other, "newUserTagName": "ops-team",
        "addUserIds": [], "removeUserIds": [] }),
    ));
    assert_eq!(twofold_testkit::status(&taken), "ACTIVITY_STATUS_FAILED", "{taken}");
    let both = root.submit("update_user_tag", json!({ "userTagId": ops, "addUserIds": [kim], "removeUserIds": [kim] }));
    assert_eq!(both.expect("sent").status, 400);

    let missing = ok(root.submit("delete_user_tags", json!({ "userTagIds": [ops, "no-such-tag"] })));
    assert_eq!(twofold_testkit::status(&missing), "ACTIVITY_STATUS_FAILED", "{missing}");
    assert!(tags_of(&bo).contains(&ops), "none deleted when one is missing");
    let deleted =
        completed(root.submit("delete_user_tags", json!({ "userTagIds": [ops, other] })), "deleteUserTagsResult");
    assert_eq!(deleted["userIds"], json!([bo]), "{deleted}");
    assert!(tags_of(&bo).is_empty());
}

/// secp256k1 API keys: registered, listed with their credential type, stamping; and one curve
/// per public key, so no key's bytes come back as a key another verifier would check.
fn secp256k1_keys(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let (ann, _) = support::member_key(&root, "ann");
    // A secp256k1 key (API_KEY_CURVE_SECP256K1) for ann stamps as SIGNATURE_SCHEME_TK_API_SECP256K1.
    let k1 = ApiKeyPair::generate(Curve::Secp256k1).expect("secp256k1");
    let params = json!({ "userId": ann, "apiKeys": [{ "apiKeyName": "k1", "publicKey": k1.public_key_hex(),
                         "curveType": "API_KEY_CURVE_SECP256K1" }] });
    let k1_id = completed(root.submit("create_api_keys", params), "createApiKeysResult")["apiKeyIds"][0]
        .as_str()
        .expect("key id")
        .to_owned();
    let one = ok(root.query("get_api_key", json!({ "apiKeyId": k1_id })));
    assert_eq!(one["apiKey"]["credential"]["type"], "CREDENTIAL_TYPE_API_KEY_SECP256K1", "{one}");
    let k1_client = server.client(
        ApiKeyPair::from_private_hex(Curve::Secp256k1, &k1.private_key_hex()).expect("key"),
        root.organization_id(),
    );
    assert_eq!(ok(k1_client.query("get_whoami", json!({})))["userId"], ann);
    // One public key, one curve: a P-256 key's bytes cannot come back as a secp256k1 key.
    let (mallory, _) = support::member_key(&root, "mallory-k1");
    let taken = loop {
        let p256 = new_key();
        let mine = json!({ "userId": ann, "apiKeys": [{ "apiKeyName": "p", "publicKey": p256.public_key_hex(),
                           "curveType": "API_KEY_CURVE_P256" }] });
        completed(root.submit("create_api_keys", mine), "createApiKeysResult");
        let theirs = json!({ "userId": mallory, "apiKeys": [{ "apiKeyName": "x", "publicKey": p256.public_key_hex(),
                             "curveType": "API_KEY_CURVE_SECP256K1" }] });
        let resp = root.submit("create_api_keys", theirs).expect("sent");
        if !resp.body.to_string().contains("not a point on secp256k1") {
            break resp;
        }
    };
    assert!(taken.body.to_string().contains("already registered as a key on another curve"), "{}", taken.body);
    assert!(!taken.body.to_string().contains("ACTIVITY_STATUS_COMPLETED"), "{}", taken.body);
}

twofold_testkit::on_every_backend!(secp256k1_keys_sqlite, secp256k1_keys_postgres, secp256k1_keys);

/// Organization features: the one-time-code channels, on unless removed, and only by the root
/// quorum; a removed channel sends no code; features twofold does not have are 400s naming what
/// it offers instead; `get_organization` and `get_organization_configs` say what is on.
#[test]
fn organization_features_are_the_otp_switches_and_root_only() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let names = |features: &Value| -> Vec<String> {
        features.as_array().expect("features").iter().map(|f| f["name"].as_str().expect("name").to_owned()).collect()
    };
    let configs = ok(root.query("get_organization_configs", json!({})));
    assert_eq!(names(&configs["configs"]["features"]), ["FEATURE_NAME_OTP_EMAIL_AUTH", "FEATURE_NAME_SMS_AUTH"]);
    assert_eq!(configs["configs"]["quorum"]["threshold"], 1, "{configs}");

    let removed = completed(
        root.submit("remove_organization_feature", json!({ "name": "FEATURE_NAME_OTP_EMAIL_AUTH" })),
        "removeOrganizationFeatureResult",
    );
    assert_eq!(names(&removed["features"]), ["FEATURE_NAME_SMS_AUTH"]);
    let org = ok(root.query("get_organization", json!({})));
    assert_eq!(names(&org["organizationData"]["features"]), ["FEATURE_NAME_SMS_AUTH"], "{org}");
    let init = json!({ "otpType": "OTP_TYPE_EMAIL", "contact": "x@example.com", "appName": "A" });
    support::refused(root.submit("init_otp", init.clone()).expect("sent"), 400, "email one-time codes are disabled");
    completed(
        root.submit("set_organization_feature", json!({ "name": "FEATURE_NAME_OTP_EMAIL_AUTH", "value": "" })),
        "setOrganizationFeatureResult",
    );
    completed(root.submit("init_otp", init), "initOtpResult");

    // A member whom a policy allows everything still cannot: the root quorum only.
    let (_, member) = support::member(&server, &root, "member");
    let everything = json!({ "policyName": "all", "effect": "EFFECT_ALLOW", "condition": "true", "notes": "" });
    completed(root.submit("create_policy", everything), "createPolicyResult");
    let denied = ok(member.submit("remove_organization_feature", json!({ "name": "FEATURE_NAME_SMS_AUTH" })));
    assert_ne!(denied["activity"]["status"], "ACTIVITY_STATUS_COMPLETED", "{denied}");
    let after = ok(root.query("get_organization_configs", json!({})));
    assert_eq!(names(&after["configs"]["features"]), ["FEATURE_NAME_OTP_EMAIL_AUTH", "FEATURE_NAME_SMS_AUTH"]);

    let before = server.db.row_counts();
    for (path, params, needle) in [
        (
            "set_organization_feature",
            json!({ "name": "FEATURE_NAME_WEBAUTHN_ORIGINS", "value": "https://a" }),
            "--webauthn-origins",
        ),
        (
            "set_organization_feature",
            json!({ "name": "FEATURE_NAME_WEBHOOK", "value": "https://a" }),
            "create_webhook_endpoint",
        ),
        ("set_organization_feature", json!({ "name": "FEATURE_NAME_SMS_AUTH", "value": "maybe" }), "parameters.value"),
        ("set_organization_feature", json!({ "name": "FEATURE_NAME_TELEPATHY" }), "parameters.name"),
        ("remove_organization_feature", json!({ "name": "FEATURE_NAME_EMAIL_AUTH" }), "email_auth is not served"),
    ] {
        let resp = root.submit(path, params.clone()).expect("sent");
        support::refused(resp, 400, needle);
    }
    assert_eq!(server.db.row_counts(), before, "refused changes store nothing");
}
