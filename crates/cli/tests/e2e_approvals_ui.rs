//! Approvals UI name spoofing (issue 17.11), in Chromium: a non-root member named `root`
//! starts an activity; the real root's approvals page shows the member's id beside the
//! name (never a bare "by root"), isolates the name, and shows a bidi control in the
//! intent as an escape. The screenshot goes to approvals-names.png in `support::screenshot_dir`.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

mod support;

use serde_json::json;
use twofold_testkit::{Backend, TestServer, completed, interop_installed, is_ci, ok, run_node, status};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

fn browser_available() -> bool {
    if !interop_installed() {
        return false;
    }
    if std::path::Path::new("/usr/bin/chromium").exists() {
        return true;
    }
    assert!(!is_ci(), "CI=true but /usr/bin/chromium is missing: run the README test command");
    false
}

#[test]
fn a_member_named_root_shows_with_its_id_on_the_approvals_page() {
    if !browser_available() {
        return;
    }
    let server = TestServer::start(BIN, Backend::Sqlite, &[]);
    let root = server.root_client();
    let (fake_id, fake) = support::member(&server, &root, "root");
    completed(
        root.submit(
            "create_policy",
            json!({ "policyName": "payouts need two", "effect": "EFFECT_ALLOW", "notes": "",
                    "condition": "activity.resource == 'PAYOUT'", "consensus": "approvers.count() >= 2" }),
        ),
        "createPolicyResult",
    );
    let pending = ok(fake.submit(
        "create_app_activity",
        json!({ "resource": "PAYOUT", "action": "CREATE", "payload": { "to": "\u{202E}lasrever", "amount": 1 } }),
    ));
    assert_eq!(status(&pending), "ACTIVITY_STATUS_CONSENSUS_NEEDED", "{pending}");
    let shots = support::screenshot_dir(env!("CARGO_TARGET_TMPDIR"));
    let key = server.root_key_path().display().to_string();
    let seen = run_node("console-approvals.mjs", &[&server.url, &key, &shots.display().to_string()]);
    let by = seen["by"][0].as_str().expect("by");
    assert!(by.contains(&fake_id), "the initiator's id is shown: {seen}");
    assert_ne!(by.trim().trim_end_matches(|c: char| c != ',').trim_end_matches(','), "by root", "{seen}");
    assert_eq!(seen["bdi"], 1, "the name is bidi-isolated: {seen}");
    let intent = seen["intent"].as_str().expect("intent");
    assert!(intent.contains("\\u202e") && !intent.contains('\u{202E}'), "the control is shown as an escape: {seen}");
    assert!(seen["history"].to_string().contains(&fake_id), "{seen}");
    assert!(seen.get("pageErrors").is_none(), "{seen}");
}
