//! Acceptance 6: an activity acknowledged with a 200 survives SIGKILL right after the
//! answer, with its effects, on SQLite and PostgreSQL.
#![allow(clippy::expect_used, reason = "tests fail loudly")]

use serde_json::json;
use twofold_testkit::{Backend, TestServer, ok};

const BIN: &str = env!("CARGO_BIN_EXE_twofold");

fn survives_sigkill(backend: Backend) {
    let mut server = TestServer::start(BIN, backend, &[]);
    let mut acknowledged = Vec::new();
    for round in 0..5 {
        let root = server.root_client();
        let name = format!("durable-{round}");
        let body = ok(root.submit("create_users", json!({ "users": [{ "userName": name }] })));
        assert_eq!(body["activity"]["status"], "ACTIVITY_STATUS_COMPLETED");
        let user_id = body["activity"]["result"]["createUsersResult"]["userIds"][0].as_str().expect("id").to_owned();
        acknowledged.push((body["activity"]["id"].as_str().expect("id").to_owned(), user_id, name));
        server.kill9();
        server.restart();
    }
    let root = server.root_client();
    for (activity_id, user_id, name) in &acknowledged {
        let a = ok(root.query("get_activity", json!({ "activityId": activity_id })));
        assert_eq!(a["activity"]["status"], "ACTIVITY_STATUS_COMPLETED");
        let u = ok(root.query("get_user", json!({ "userId": user_id })));
        assert_eq!(u["user"]["userName"], name.as_str());
    }
    let bootstraps = server.stdout_lines.iter().filter(|l| l.contains("bootstrapped")).count();
    assert_eq!(bootstraps, 1, "restarts do not bootstrap again");
}

twofold_testkit::on_every_backend!(
    acknowledged_activities_survive_sigkill_on_sqlite,
    acknowledged_activities_survive_sigkill_on_postgres,
    survives_sigkill
);
