//! End-to-end policies: create/update/delete with parse errors at create time, and
//! decisions by the evaluation order (root quorum, DENY wins, ALLOW, consensus,
//! implicit deny, own credentials, root-only), on SQLite and PostgreSQL.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

use serde_json::{Value, json};
use twofold_client::Client;
use twofold_testkit::{Backend, TestServer, completed, new_key, ok, status, user_with_key};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

fn policy(root: &Client, name: &str, effect: &str, condition: &str, consensus: Option<&str>) -> String {
    let mut params = json!({ "policyName": name, "effect": effect, "condition": condition, "notes": "" });
    if let Some(c) = consensus {
        params["consensus"] = json!(c);
    }
    completed(root.submit("create_policy", params), "createPolicyResult")["policyId"].as_str().expect("id").to_owned()
}

fn outcomes(client: &Client, activity: &Value) -> Vec<(String, String)> {
    let evals = ok(client.query("get_policy_evaluations", json!({ "activityId": activity["activity"]["id"] })));
    evals["policyEvaluations"][0]["policyEvaluations"]
        .as_array()
        .expect("outcomes")
        .iter()
        .map(|e| (e["policyId"].as_str().expect("id").to_owned(), e["outcome"].as_str().expect("o").to_owned()))
        .collect()
}

fn policies(backend: Backend) {
    let server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let org = root.organization_id().to_owned();

    // Expressions that do not compile are refused at create time, with their position.
    for (condition, needle) in [
        ("activity.resource == 'POLICY' &&", "at 1:"),
        ("wallet.id == 'x'", "unknown keyword `wallet`"),
        ("activity.type == \"X\"", "single quotes"),
        ("activity.type == 5", "cannot compare"),
        ("activity.params.amount > 'ten'", "not defined for strings"),
    ] {
        let resp = root
            .submit(
                "create_policy",
                json!({ "policyName": "bad", "effect": "EFFECT_ALLOW", "condition": condition, "notes": "" }),
            )
            .expect("sent");
        assert_eq!(resp.status, 400, "{condition}: {}", resp.body);
        let msg = resp.body["message"].as_str().expect("message");
        assert!(msg.starts_with("condition: ") && msg.contains(needle), "{condition}: {msg}");
    }
    let bad_effect = root
        .submit("create_policy", json!({ "policyName": "x", "effect": "EFFECT_MAYBE", "notes": "" }))
        .expect("sent");
    assert_eq!(bad_effect.status, 400);
    assert!(ok(root.query("list_policies", json!({})))["policies"].as_array().expect("list").is_empty());

    // People: alice and bob carry the `ops` tag, carol none.
    let tag = completed(
        root.submit("create_user_tag", json!({ "userTagName": "ops", "userIds": [] })),
        "createUserTagResult",
    )["userTagId"]
        .as_str()
        .expect("tag")
        .to_owned();
    let client_of = |name: &str, tags: Value| {
        let key = new_key();
        let mut params = user_with_key(name, &key);
        params["userTags"] = tags;
        let id = completed(root.submit("create_users", json!({ "users": [params] })), "createUsersResult")["userIds"]
            [0]
        .as_str()
        .expect("id")
        .to_owned();
        (id, server.client(key, &org))
    };
    let (alice_id, alice) = client_of("alice", json!([tag]));
    let (_bob_id, _bob) = client_of("bob", json!([tag]));
    let (carol_id, carol) = client_of("carol", json!([]));

    // Implicit deny before any policy.
    let denied = ok(alice.submit("create_users", json!({ "users": [{ "userName": "x1" }] })));
    assert_eq!(status(&denied), "ACTIVITY_STATUS_FAILED");
    assert!(denied["activity"]["failure"]["message"].as_str().expect("m").contains("implicit deny"));

    // ALLOW by tag (tags are visible by name and by id).
    let allow_ops = policy(
        &root,
        "ops create users",
        "EFFECT_ALLOW",
        "activity.resource == 'USER' && activity.action == 'CREATE'",
        Some("approvers.any(u, u.tags.contains('ops'))"),
    );
    let allowed = ok(alice.submit("create_users", json!({ "users": [{ "userName": "x2" }] })));
    assert_eq!(status(&allowed), "ACTIVITY_STATUS_COMPLETED", "{allowed}");
    assert!(outcomes(&alice, &allowed).contains(&(allow_ops.clone(), "OUTCOME_ALLOW".to_owned())));
    let not_ops = ok(carol.submit("create_users", json!({ "users": [{ "userName": "x3" }] })));
    assert_eq!(status(&not_ops), "ACTIVITY_STATUS_CONSENSUS_NEEDED", "condition holds, consensus not yet: {not_ops}");
    assert!(outcomes(&carol, &not_ops).contains(&(allow_ops.clone(), "OUTCOME_REQUIRES_CONSENSUS".to_owned())));

    // Explicit DENY wins over the ALLOW.
    let deny_eve = policy(
        &root,
        "never eve",
        "EFFECT_DENY",
        "activity.resource == 'USER' && 'eve' in activity.params.user_names",
        None,
    );
    let eve = ok(alice.submit("create_users", json!({ "users": [{ "userName": "eve" }] })));
    assert_eq!(status(&eve), "ACTIVITY_STATUS_FAILED");
    assert!(eve["activity"]["failure"]["message"].as_str().expect("m").contains(&deny_eve));
    let evals = outcomes(&alice, &eve);
    assert!(evals.contains(&(deny_eve.clone(), "OUTCOME_DENY_EXPLICIT".to_owned())), "{evals:?}");
    assert!(evals.contains(&(allow_ops.clone(), "OUTCOME_ALLOW".to_owned())), "{evals:?}");
    let names: Vec<String> = ok(root.query("list_users", json!({})))["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["userName"].as_str().expect("n").to_owned())
        .collect();
    assert!(
        names.contains(&"x2".to_owned()) && !names.contains(&"eve".to_owned()) && !names.contains(&"x3".to_owned())
    );

    // A condition that errors (the field is missing) never allows.
    let erroring = policy(&root, "amount gate", "EFFECT_ALLOW", "activity.params.amount > 5", None);
    let tag_attempt = ok(carol.submit("delete_users", json!({ "userIds": [alice_id] })));
    assert_eq!(status(&tag_attempt), "ACTIVITY_STATUS_FAILED");
    assert!(outcomes(&carol, &tag_attempt).contains(&(erroring.clone(), "OUTCOME_ERROR".to_owned())));

    // Users manage their own credentials, not others'.
    let own = ok(carol.submit(
        "create_api_keys",
        json!({ "userId": carol_id, "apiKeys": [{ "apiKeyName": "spare", "publicKey": new_key().public_key_hex(), "curveType": "API_KEY_CURVE_P256" }] }),
    ));
    assert_eq!(status(&own), "ACTIVITY_STATUS_COMPLETED", "{own}");
    let others = ok(carol.submit(
        "create_api_keys",
        json!({ "userId": alice_id, "apiKeys": [{ "apiKeyName": "sneaky", "publicKey": new_key().public_key_hex(), "curveType": "API_KEY_CURVE_P256" }] }),
    ));
    assert_eq!(status(&others), "ACTIVITY_STATUS_FAILED");

    // Read, update and delete policies.
    let got = ok(root.query("get_policy", json!({ "policyId": deny_eve })));
    assert_eq!(got["policy"]["effect"], "EFFECT_DENY");
    assert_eq!(got["policy"]["policyName"], "never eve");
    completed(
        root.submit("update_policy", json!({ "policyId": deny_eve, "policyCondition": "activity.resource == 'USER' && 'mallory' in activity.params.user_names" })),
        "updatePolicyResultV2",
    );
    assert_eq!(
        status(&ok(alice.submit("create_users", json!({ "users": [{ "userName": "eve" }] })))),
        "ACTIVITY_STATUS_COMPLETED"
    );
    let bad_update = root
        .submit("update_policy", json!({ "policyId": deny_eve, "policyConsensus": "approvers.count( >= 2" }))
        .expect("sent");
    assert_eq!(bad_update.status, 400);
    completed(root.submit("delete_policy", json!({ "policyId": erroring })), "deletePolicyResult");
    let listed = ok(root.query("list_policies", json!({})));
    assert_eq!(listed["policies"].as_array().expect("list").len(), 2);
    let missing = ok(root.submit("delete_policy", json!({ "policyId": erroring })));
    assert_eq!(status(&missing), "ACTIVITY_STATUS_FAILED", "deleting twice fails cleanly");

    // Root-only activities: no policy can grant them, not even `true`.
    policy(&root, "everything", "EFFECT_ALLOW", "true", None);
    let quorum = ok(carol.submit("update_root_quorum", json!({ "threshold": 1, "userIds": [carol_id] })));
    assert_eq!(status(&quorum), "ACTIVITY_STATUS_FAILED");
    assert!(quorum["activity"]["failure"]["message"].as_str().expect("m").contains("root quorum"));
    assert_eq!(
        status(&ok(carol.submit("create_users", json!({ "users": [{ "userName": "x4" }] })))),
        "ACTIVITY_STATUS_COMPLETED"
    );
}

twofold_testkit::on_every_backend!(policies_decide_on_sqlite, policies_decide_on_postgres, policies);

/// UPDATE_USER_NAME is USER/UPDATE with `activity.params.user_id`: without a policy a member
/// renames no one, itself included (a name is no credential); a policy allowing it to rename
/// itself does not let it rename root.
#[test]
fn update_user_name_is_gated_by_policies_like_any_user_update() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let key = new_key();
    let users = completed(
        root.submit("create_users", json!({ "users": [user_with_key("mallory", &key)] })),
        "createUsersResult",
    );
    let mallory_id = users["userIds"][0].as_str().expect("id").to_owned();
    let mallory = Client::new(&server.url, key, root.organization_id());
    let root_id = ok(root.query("get_whoami", json!({})))["userId"].as_str().expect("root").to_owned();
    let rename = |client: &Client, user_id: &str, name: &str| {
        ok(client.submit("update_user_name", json!({ "userId": user_id, "userName": name })))
    };
    let name_of = |user_id: &str| {
        ok(root.query("get_user", json!({ "userId": user_id })))["user"]["userName"].as_str().expect("name").to_owned()
    };

    for target in [&root_id, &mallory_id] {
        let refused = rename(&mallory, target, "owned");
        assert_ne!(status(&refused), "ACTIVITY_STATUS_COMPLETED", "{refused}");
    }
    assert_eq!((name_of(&root_id), name_of(&mallory_id)), ("root".to_owned(), "mallory".to_owned()));

    policy(
        &root,
        "members rename themselves",
        "EFFECT_ALLOW",
        &format!(
            "activity.resource == 'USER' && activity.action == 'UPDATE' && activity.params.user_id == '{mallory_id}' \
             && activity.params.changes.contains('NAME')"
        ),
        Some(&format!("approvers.any(user, user.id == '{mallory_id}')")),
    );
    let own = rename(&mallory, &mallory_id, "Mallory");
    assert_eq!(own["activity"]["result"]["updateUserNameResult"]["userId"], mallory_id.as_str(), "{own}");
    let root_rename = rename(&mallory, &root_id, "owned");
    assert_ne!(status(&root_rename), "ACTIVITY_STATUS_COMPLETED", "{root_rename}");
    assert_eq!((name_of(&root_id), name_of(&mallory_id)), ("root".to_owned(), "Mallory".to_owned()));

    // Bad input is a 400 naming the field, and changes nothing.
    let resp = root.submit("update_user_name", json!({ "userId": mallory_id, "userName": "" })).expect("sent");
    assert_eq!(resp.status, 400, "{}", resp.body);
    assert!(resp.body["message"].as_str().expect("message").contains("userName"), "{}", resp.body);
    let resp =
        root.submit("update_user_name", json!({ "userId": mallory_id, "userEmail": "m@example.com" })).expect("sent");
    assert_eq!(resp.status, 400, "{}", resp.body);
    assert_eq!(name_of(&mallory_id), "Mallory");
}

/// Policies written with Turnkey's resource names match: API keys and authenticators are
/// CREDENTIAL, logins and sessions AUTH, the auth proxy AUTH_PROXY (they were AUTHENTICATOR,
/// SESSION and AUTH here, so a policy copied from Turnkey's docs fell to the implicit deny).
#[test]
fn policies_with_turnkeys_resource_names_match() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let key = new_key();
    let ids = completed(
        root.submit("create_users", json!({ "users": [user_with_key("ops", &key), user_with_key("dev", &new_key())] })),
        "createUsersResult",
    );
    let (ops_id, dev_id) = (ids["userIds"][0].as_str().expect("ops"), ids["userIds"][1].as_str().expect("dev"));
    let ops = Client::new(&server.url, key, root.organization_id());
    let give_dev_a_key = || {
        let key =
            json!({ "apiKeyName": "ci", "publicKey": new_key().public_key_hex(), "curveType": "API_KEY_CURVE_P256" });
        ok(ops.submit("create_api_keys", json!({ "userId": dev_id, "apiKeys": [key] })))
    };
    assert_ne!(status(&give_dev_a_key()), "ACTIVITY_STATUS_COMPLETED", "no policy yet");
    policy(
        &root,
        "ops issues credentials",
        "EFFECT_ALLOW",
        "activity.resource == 'CREDENTIAL' && activity.action == 'CREATE'",
        Some(&format!("approvers.any(user, user.id == '{ops_id}')")),
    );
    assert_eq!(status(&give_dev_a_key()), "ACTIVITY_STATUS_COMPLETED");

    // What each endpoint is for policies, as the dry run reports it.
    for (kind, parameters, resource, action) in [
        (
            "ACTIVITY_TYPE_CREATE_AUTHENTICATORS_V2",
            json!({ "userId": dev_id, "authenticators": [{ "authenticatorName": "key", "challenge": "c",
                    "attestation": { "credentialId": "AA", "clientDataJson": "AA", "attestationObject": "AA",
                                     "transports": [] } }] }),
            "CREDENTIAL",
            "CREATE",
        ),
        ("ACTIVITY_TYPE_CREATE_RECOVERY_CODES", json!({ "userId": dev_id }), "CREDENTIAL", "CREATE"),
        ("ACTIVITY_TYPE_STAMP_LOGIN", json!({ "publicKey": new_key().public_key_hex() }), "AUTH", "CREATE"),
        ("ACTIVITY_TYPE_DELETE_SESSIONS", json!({ "userId": dev_id }), "AUTH", "DELETE"),
        ("ACTIVITY_TYPE_DISABLE_AUTH_PROXY", json!({}), "AUTH_PROXY", "DELETE"),
    ] {
        let seen =
            ok(root.query("evaluate_activity", json!({ "activity": { "type": kind, "parameters": parameters } })));
        let activity = &seen["activity"];
        assert_eq!(
            (activity["resource"].as_str(), activity["action"].as_str()),
            (Some(resource), Some(action)),
            "{seen}"
        );
    }
}

/// The one-time rewrite to Turnkey's resource names: policies, MFA policies and session
/// profiles an older twofold stored with AUTHENTICATOR, SESSION or AUTH are rewritten at the
/// next start into the activity types those names covered, so they decide as before (a DENY
/// of old SESSION still denies stamp_login and nothing else), each change is audited with
/// its text before and after, a text it cannot rewrite is audited for review and left alone,
/// and it runs once. SQLite and PostgreSQL.
fn stored_old_resource_names_are_rewritten_once(backend: Backend) {
    let mut server = TestServer::start(BIN, backend, &[]);
    let root = server.root_client();
    let (member_id, member_key) = {
        let key = new_key();
        let ids = completed(
            root.submit("create_users", json!({ "users": [user_with_key("kim", &key)] })),
            "createUsersResult",
        );
        (ids["userIds"][0].as_str().expect("kim").to_owned(), key)
    };
    let kim = Client::new(&server.url, member_key, root.organization_id());
    // What an older twofold stored (the language accepts any string, so they were accepted then too).
    let old_deny = policy(&root, "no sessions", "EFFECT_DENY", "activity.resource == 'SESSION'", None);
    let old_allow = policy(
        &root,
        "kim manages factors",
        "EFFECT_ALLOW",
        "activity.resource in ['AUTHENTICATOR', 'USER'] && activity.action == 'CREATE'",
        Some(&format!("approvers.any(u, u.id == '{member_id}')")),
    );
    let odd = policy(&root, "odd", "EFFECT_ALLOW", "activity.params.kind == 'AUTH'", None);
    let fine = policy(&root, "new names", "EFFECT_DENY", "activity.resource == 'AUTH_PROXY'", None);
    let scope = json!({ "sessionProfileName": "read sessions", "scope": "activity.resource == 'SESSION' && activity.action == 'READ'" });
    let profile = completed(root.submit("create_session_profile", scope), "createSessionProfileResult");
    let profile_id = profile["sessionProfileId"].as_str().expect("profile").to_owned();

    // The upgrade: the rewrite is pending again, as it is after migrating an older database.
    server.db.execute(&["INSERT INTO pending_rewrites (name) VALUES ('turnkey-resource-names')".to_owned()]);
    server.restart();
    let root = server.root_client();
    let shown = |id: &str| {
        let all = ok(root.query("list_policies", json!({})));
        all["policies"].as_array().expect("policies").iter().find(|p| p["policyId"] == id).cloned().expect("policy")
    };
    assert_eq!(
        shown(&old_deny)["condition"],
        "(activity.kind in ['STAMP_LOGIN', 'DELETE_SESSIONS', 'QUERY_LIST_SESSIONS'])"
    );
    let allow = shown(&old_allow)["condition"].as_str().expect("condition").to_owned();
    assert!(
        allow.starts_with("(activity.resource in ['USER'] || (activity.kind in ['CREATE_AUTHENTICATORS'"),
        "{allow}"
    );
    assert_eq!(shown(&odd)["condition"], "activity.params.kind == 'AUTH'", "left for review");
    assert_eq!(shown(&fine)["condition"], "activity.resource == 'AUTH_PROXY'", "today's names untouched");

    // They decide as before (for kim: the root quorum is not held to policies): kim's
    // stamp_login is denied, and kim still creates recovery codes.
    let login = ok(kim.submit("stamp_login", json!({ "publicKey": new_key().public_key_hex() })));
    assert_eq!(status(&login), "ACTIVITY_STATUS_FAILED", "{login}");
    let codes = ok(kim.submit("create_recovery_codes", json!({ "userId": member_id })));
    assert_eq!(status(&codes), "ACTIVITY_STATUS_COMPLETED", "{codes}");

    let events = ok(root.query("list_audit_events", json!({ "paginationOptions": { "limit": "100" } })));
    let events = events["auditEvents"].as_array().expect("events");
    let of = |kind: &str| events.iter().filter(|e| e["eventType"] == kind).cloned().collect::<Vec<_>>();
    let rewritten = of("POLICY_REWRITTEN");
    assert_eq!(rewritten.iter().filter(|e| e["outcome"] == "SUCCEEDED").count(), 2, "{rewritten:?}");
    let review: Vec<_> = rewritten.iter().filter(|e| e["outcome"] == "NEEDS_REVIEW").collect();
    assert_eq!(review.len(), 1, "{rewritten:?}");
    assert_eq!(review[0]["subject"], odd.as_str());
    let deny_event = rewritten.iter().find(|e| e["subject"] == old_deny.as_str()).expect("audited");
    assert_eq!(deny_event["details"]["before"], "activity.resource == 'SESSION'");
    let profiles = of("SESSION_PROFILE_REWRITTEN");
    assert_eq!(profiles.len(), 1, "{profiles:?}");
    assert_eq!(profiles[0]["subject"], profile_id.as_str());
    assert!(profiles[0]["details"]["after"].as_str().is_some_and(|a| a.contains("QUERY_LIST_SESSIONS")));

    // Once: a later start changes nothing more.
    let before = events.len();
    server.restart();
    let root = server.root_client();
    let again = ok(root.query("list_audit_events", json!({ "paginationOptions": { "limit": "100" } })));
    let again = again["auditEvents"].as_array().expect("events");
    assert!(
        again.iter().filter(|e| e["eventType"] == "POLICY_REWRITTEN").count() == rewritten.len()
            && again.len() >= before
    );
}

twofold_testkit::on_every_backend!(
    stored_old_resource_names_are_rewritten_once_sqlite,
    stored_old_resource_names_are_rewritten_once_postgres,
    stored_old_resource_names_are_rewritten_once
);

/// `get_active_policies` reports each policy's time window as the decision sees it now: one
/// without a window is active, one whose window is over is not, and the answer says when.
#[test]
fn active_policies_follow_their_time_windows() {
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let create = |name: &str, time: Option<&str>| -> String {
        let mut params = json!({ "policyName": name, "effect": "EFFECT_ALLOW", "condition": "false", "notes": "" });
        if let Some(t) = time {
            params["time"] = json!(t);
        }
        completed(root.submit("create_policy", params), "createPolicyResult")["policyId"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let always = create("always", None);
    let over = create("over", Some("time.now < Timestamp('2000-01-01T00:00:00Z')"));
    let ahead = create("until 2999", Some("time.now < Timestamp('2999-01-01T00:00:00Z')"));
    let before = twofold_testkit::real_now_ms();
    let answer = ok(root.query("get_active_policies", json!({})));
    let at: i64 = answer["evaluatedAtMs"].as_str().expect("a uint64 string").parse().expect("ms");
    assert!((before - 1000..before + 60_000).contains(&at), "{answer}");
    let status = |id: &str| -> Value {
        answer["statuses"].as_array().expect("statuses").iter().find(|s| s["policyId"] == id).cloned().expect("listed")
    };
    assert_eq!(status(&always)["active"], true, "{answer}");
    assert!(status(&always).get("timeExpr").is_none(), "{answer}");
    assert_eq!(status(&over)["active"], false, "{answer}");
    assert_eq!(status(&over)["timeExpr"], "time.now < Timestamp('2000-01-01T00:00:00Z')", "{answer}");
    assert_eq!(status(&ahead)["active"], true, "{answer}");
    assert!(answer["statuses"].as_array().expect("statuses").iter().all(|s| s.get("error").is_none()), "{answer}");
    assert!(
        answer["statuses"].as_array().expect("statuses").iter().all(|s| s["organizationId"] == root.organization_id())
    );
}
