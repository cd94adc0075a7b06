//! OAuth (OIDC) login end to end, driven with @turnkey/http against a local issuer that signs
//! RS256 and ES256 tokens and serves its keys (`tests/interop/oidc.mjs`): trust, binding,
//! login with the nonce bound to the session key, and every token an attacker could bring
//! refused: expired, wrong audience, wrong issuer, unknown key, alg none, HS256 keyed with
//! the public key, tampered, a nonce for another key, replayed; key rotation picked up.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

use serde_json::{Value, json};
use twofold_testkit::{Backend, TestServer, interop_installed, ok, on_every_backend, run_node};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

#[track_caller]
fn failed_with(outcome: &Value, needle: &str, what: &str) {
    assert_eq!(outcome["status"], "ACTIVITY_STATUS_FAILED", "{what}: {outcome}");
    let message = outcome["failure"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{what}: `{message}` should say `{needle}`");
    assert!(outcome["result"]["oauthLoginResult"].is_null(), "{what}: no session: {outcome}");
}

fn oauth_login(backend: Backend) {
    if !interop_installed() {
        return;
    }
    let server = TestServer::start_with_test_clock(BIN, backend, &[]);
    let clock = server.data_dir().parent().expect("server dir").join("clock-offset-ms");
    let key = server.root_key_path().display().to_string();
    let seen = run_node("oidc.mjs", &[&server.url, &key, &clock.display().to_string()]);

    let types = twofold_testkit::check_sdk_types(&seen["calls"]);
    assert_eq!(types["errors"], json!([]), "answers that differ from @turnkey/http's types: {types}");
    assert_eq!(seen["trusted"]["status"], "ACTIVITY_STATUS_COMPLETED", "{seen}");
    assert_eq!(seen["issuers"]["issuers"].as_array().map(Vec::len), Some(1), "{seen}");
    assert_eq!(seen["bound"]["status"], "ACTIVITY_STATUS_COMPLETED", "an ES256 token binds: {seen}");
    assert_eq!(seen["providers"][0]["subject"], "alice-at-issuer", "{seen}");
    assert_eq!(seen["providers"][0]["audience"], "twofold-test-app", "{seen}");
    assert_eq!(seen["bindIntentHoldsToken"], false, "the binding token is never stored verbatim");

    assert_eq!(seen["login"]["status"], "ACTIVITY_STATUS_COMPLETED", "an RS256 login: {seen}");
    assert!(seen["login"]["result"]["oauthLoginResult"]["session"].as_str().is_some_and(|s| s.split('.').count() == 3));
    assert_eq!(seen["loginIntentHoldsToken"], false, "the login token is never stored verbatim");
    assert_eq!(seen["sessionWhoami"]["userId"], seen["aliceId"], "the session is alice's: {seen}");
    failed_with(&seen["replay"], "used before", "a replayed token");

    let attacks = &seen["attacks"];
    failed_with(&attacks["expired"], "has expired", "expired");
    failed_with(&attacks["wrongAudience"], "another audience", "wrong audience");
    failed_with(&attacks["wrongIssuer"], "does not trust", "wrong issuer");
    failed_with(&attacks["unknownKid"], "does not publish", "unknown kid");
    assert!(attacks["algNone"]["error"].as_str().is_some_and(|e| e.contains("not a signed JWT")), "alg none: {seen}");
    failed_with(&attacks["hs256WithPublicKey"], "RS256 and ES256 are accepted", "HS256 keyed with the public key");
    failed_with(&attacks["tamperedSignature"], "does not verify", "tampered");
    failed_with(&attacks["nonceForAnotherKey"], "nonce", "a nonce for another session key");
    failed_with(&attacks["noNonce"], "nonce", "no nonce");
    failed_with(&attacks["futureIat"], "in the future", "issued in the future");

    failed_with(&seen["rotatedEarly"], "does not publish", "within the retry window the cache is not fetched again");
    assert_eq!(seen["fetchesWithinRetry"], 0, "an unknown kid costs at most one fetch per window: {seen}");
    assert_eq!(seen["rotated"]["status"], "ACTIVITY_STATUS_COMPLETED", "the rotated key verifies: {seen}");
    assert_eq!(seen["fetchesAfterRetry"], 1, "past the window the new key is fetched once: {seen}");

    failed_with(&seen["takeOver"], "already bound", "another user binding alice's account");
    assert!(seen["claimsOnly"]["error"].as_str().is_some_and(|e| e.contains("oidcClaims")), "{seen}");
    failed_with(&seen["apiOnlyBinds"], "is an API-only user", "an API-only user binding an OAuth account");
    // Bound inline: a new user, and a new sub-organization's root user (logged in naming the parent).
    assert_eq!(seen["carolLogin"]["status"], "ACTIVITY_STATUS_COMPLETED", "{seen}");
    assert_eq!(seen["carolWhoami"]["userId"], seen["carolId"], "{seen}");
    assert_eq!(seen["daveLogin"]["status"], "ACTIVITY_STATUS_COMPLETED", "{seen}");
    assert_eq!(seen["daveWhoami"]["organizationId"], seen["daveOrg"], "a session in dave's own organization: {seen}");
    assert_eq!(seen["daveWhoami"]["username"], "dave", "{seen}");
    assert_eq!(seen["inlineIntentsHoldTokens"], false, "inline tokens are sealed in the stored intents");
    assert_eq!(seen["unbound"]["status"], "ACTIVITY_STATUS_COMPLETED", "{seen}");
    failed_with(&seen["afterUnbind"], "no user", "a login after the account was unbound");

    // Only the two good logins (before and after the rotation) made sessions.
    let sessions = ok(server.root_client().query("list_sessions", json!({ "userId": seen["aliceId"] })));
    assert_eq!(sessions["sessions"].as_array().map(Vec::len), Some(2), "{sessions}");
}

on_every_backend!(oauth_login_sqlite, oauth_login_postgres, oauth_login);
