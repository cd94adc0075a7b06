//! Every fenced example in docs/POLICY-LANGUAGE.md, evaluated against the activity that
//! page describes: the fence's info string (`condition true`, `consensus false`,
//! `condition error: <message>`) says which field it is for and what it must give.

use serde_json::json;
use twofold_policy::{ActivityView, Context, CredentialView, Keywords, Program, Timestamp, UserView};

const DOC: &str = include_str!("../../../docs/POLICY-LANGUAGE.md");

/// One example: the field it is for, what it must give, and its source.
struct Example {
    field: String,
    expect: String,
    src: String,
}

/// The fenced blocks whose info string starts with a field name.
fn examples() -> Vec<Example> {
    let mut out = Vec::new();
    let mut lines = DOC.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else { continue };
        let body: Vec<&str> = lines.by_ref().take_while(|l| !l.starts_with("```")).collect();
        let Some((field, expect)) = info.split_once(' ') else { continue };
        if ["condition", "consensus", "time"].contains(&field) {
            out.push(Example { field: field.to_owned(), expect: expect.to_owned(), src: body.join("\n") });
        }
    }
    out
}

#[test]
fn every_policy_example_in_the_language_reference_evaluates_as_documented() {
    let payload = json!({"amount": 25000, "currency": "EUR", "to": ["acct-1", "acct-2"], "memo": "rent",
                         "meta": {"source": "batch", "priority": 2}});
    let alice_tags = vec!["ops".to_owned(), "admin".to_owned()];
    let bob_tags = vec!["ops".to_owned()];
    let approvers = [
        UserView { id: "alice-id", tags: &alice_tags, email: Some("alice@example.com"), alias: "alice" },
        UserView { id: "bob-id", tags: &bob_tags, email: None, alias: "bob" },
    ];
    let credentials = [
        CredentialView {
            id: "c1",
            user_id: "alice-id",
            credential_type: "CREDENTIAL_TYPE_WEBAUTHN_AUTHENTICATOR",
            credential_id: "cred-1",
            public_key: "02abcdef",
        },
        CredentialView {
            id: "c2",
            user_id: "bob-id",
            credential_type: "CREDENTIAL_TYPE_API_KEY_P256",
            credential_id: "cred-2",
            public_key: "03fedcba",
        },
    ];
    let ctx = Context {
        activity: Some(ActivityView {
            activity_type: "ACTIVITY_TYPE_CREATE_APP_ACTIVITY",
            kind: "CREATE_APP_ACTIVITY",
            resource: "PAYOUT",
            action: "CREATE",
            params: &payload,
        }),
        approvers: &approvers,
        credentials: &credentials,
        now: Timestamp::parse_rfc3339("2026-01-05T10:00:00Z").ok(),
    };
    let examples = examples();
    assert!(examples.len() >= 15, "the examples were found: {}", examples.len());
    for ex in examples {
        let keywords = match ex.field.as_str() {
            "condition" => Keywords::CONDITION,
            "consensus" => Keywords::CONSENSUS,
            _ => Keywords::TIME,
        };
        let program = Program::compile(&ex.src, keywords)
            .unwrap_or_else(|d| panic!("{} `{}` does not compile:\n{d}", ex.field, ex.src));
        let got = program.evaluate(&ctx);
        match (ex.expect.as_str(), &got) {
            ("true", Ok(true)) | ("false", Ok(false)) => {}
            (expect, Err(e)) if expect.strip_prefix("error: ").is_some_and(|m| e.to_string().contains(m)) => {}
            (expect, got) => panic!("{} `{}`: documented {expect}, got {got:?}", ex.field, ex.src),
        }
    }
}
