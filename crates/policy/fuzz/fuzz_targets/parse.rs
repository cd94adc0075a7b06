//! Arbitrary UTF-8 through parse, compile, evaluate and print: nothing may
//! panic, and whatever parses must survive a print/re-parse round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofold_policy::{
    ActivityView, Context, CredentialView, Keywords, Program, Timestamp, UserView,
};

fuzz_target!(|src: &str| {
    if let Ok(ast) = twofold_policy::parse(src) {
        let printed = ast.to_string();
        match twofold_policy::parse(&printed) {
            Ok(again) => assert_eq!(again.without_spans(), ast.without_spans(), "{printed}"),
            Err(d) => panic!("`{src}` printed as `{printed}` does not parse: {d}"),
        }
    }
    let program = match Program::compile(src, Keywords::ALL) {
        Ok(p) => p,
        Err(d) => {
            // Diagnostics render and serialize without panicking.
            let _ = d.to_string();
            let _ = serde_json::to_string(&d);
            return;
        }
    };
    let params = serde_json::json!({
        "amount": 25000, "user_ids": ["abc", "def"], "name": "payout",
        "ratio": 1.5, "nothing": null, "nested": {"a": {"b": 1}},
        "items": [{"amount": 5}, {"amount": 50}], "mixed": [1, "a", true],
    });
    let tags = vec!["ops".to_string(), "admin".to_string()];
    let approvers = [
        UserView {
            id: "u1",
            tags: &tags,
            email: Some("a@example.com"),
            alias: "alice",
        },
        UserView {
            id: "u2",
            tags: &[],
            email: None,
            alias: "bob",
        },
    ];
    let credentials = [CredentialView {
        id: "c1",
        user_id: "u1",
        credential_type: "CREDENTIAL_TYPE_API_KEY_P256",
        credential_id: "k1",
        public_key: "02ab",
    }];
    let ctx = Context {
        activity: Some(ActivityView {
            activity_type: "ACTIVITY_TYPE_CREATE_USERS_V3",
            kind: "CREATE_USERS",
            resource: "USER",
            action: "CREATE",
            params: &params,
        }),
        approvers: &approvers,
        credentials: &credentials,
        now: Timestamp::from_unix_seconds(1_767_607_200),
    };
    let fast = program.evaluate(&ctx);
    let explained = program.evaluate_explained(&ctx, &twofold_policy::Budget::new(twofold_policy::DEFAULT_BUDGET));
    assert_eq!(fast, explained.result);
    let _ = explained.to_string();
    if let Err(e) = fast {
        let _ = serde_json::to_string(&program.diagnose(&e));
    }
    let _ = program.evaluate(&Context::default());
});
