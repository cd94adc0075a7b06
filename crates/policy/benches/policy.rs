//! twofold-policy against cedar-policy on the same realistic policies:
//! (a) parse + compile the set, (b) evaluate the set against one request,
//! (c) one two-clause condition.
//!
//! Run: `CARGO_BUILD_JOBS=1 cargo bench --bench policy -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{Duration, Instant};

use cedar_policy::{Authorizer, Entities, EntityUid, PolicySet, Request};
use criterion::{Criterion, criterion_group};
use serde_json::json;
use twofold_policy::{ActivityView, Context, CredentialView, Keywords, Program, UserView};

/// Our policies, each with its closest Cedar equivalent. Cedar has no
/// lambdas or `count`, so list questions are asked of attributes the
/// caller would precompute (`approver_count`, `ops_approver_count`,
/// `approver_ids`, `credential_types`); this favours Cedar.
const POLICIES: &[(&str, &str)] = &[
    ("approvers.any(u, u.id == 'b1d4c6e8-root-admin')", r#"context.approver_ids.contains("b1d4c6e8-root-admin")"#),
    (
        "activity.resource == 'POLICY' && activity.action == 'CREATE'",
        r#"context.resource == "POLICY" && context.action == "CREATE""#,
    ),
    (
        "activity.resource == 'USER' && activity.action in ['CREATE', 'UPDATE']",
        r#"context.resource == "USER" && ["CREATE", "UPDATE"].contains(context.action)"#,
    ),
    ("activity.type == 'ACTIVITY_TYPE_CREATE_USERS_V3'", r#"context.type == "ACTIVITY_TYPE_CREATE_USERS_V3""#),
    ("approvers.count() >= 2", "context.approver_count >= 2"),
    ("approvers.filter(u, u.tags.contains('ops')).count() >= 2", "context.ops_approver_count >= 2"),
    (
        "activity.resource == 'PAYOUT' && activity.params.amount > 10000",
        r#"context.resource == "PAYOUT" && context.params.amount > 10000"#,
    ),
    (
        "activity.params.user_id in ['u1', 'u2', 'u3', 'u4']",
        r#"["u1", "u2", "u3", "u4"].contains(context.params.user_id)"#,
    ),
    (
        "credentials.any(c, c.type == 'CREDENTIAL_TYPE_WEBAUTHN_AUTHENTICATOR')",
        r#"context.credential_types.contains("CREDENTIAL_TYPE_WEBAUTHN_AUTHENTICATOR")"#,
    ),
    (
        "activity.resource == 'MFA_POLICY' && activity.action == 'DELETE'",
        r#"context.resource == "MFA_POLICY" && context.action == "DELETE""#,
    ),
    (
        "!(activity.kind in ['DELETE_USERS', 'DELETE_POLICY'])",
        r#"!(["DELETE_USERS", "DELETE_POLICY"].contains(context.kind))"#,
    ),
    ("'abc' in activity.params.user_ids", r#"context.params.user_ids.contains("abc")"#),
];

const TWO_CLAUSE: usize = 1;

fn cedar_source(policies: &[(&str, &str)]) -> String {
    policies.iter().map(|(_, cedar)| format!("permit(principal, action, resource) when {{ {cedar} }};\n")).collect()
}

fn compile_ours(policies: &[(&str, &str)]) -> Vec<Program> {
    policies
        .iter()
        .map(|(src, _)| match Program::compile(src, Keywords::ALL) {
            Ok(p) => p,
            Err(d) => panic!("{src}: {d}"),
        })
        .collect()
}

fn parse_cedar(src: &str) -> PolicySet {
    match src.parse() {
        Ok(p) => p,
        Err(e) => panic!("cedar: {e}"),
    }
}

fn uid(s: &str) -> EntityUid {
    match s.parse() {
        Ok(u) => u,
        Err(e) => panic!("{s}: {e}"),
    }
}

fn cedar_request() -> Request {
    let context = json!({
        "type": "ACTIVITY_TYPE_CREATE_USERS_V3",
        "kind": "CREATE_USERS",
        "resource": "USER",
        "action": "CREATE",
        "params": { "amount": 25000, "user_id": "u3", "user_ids": ["abc", "def"] },
        "approver_ids": ["b1d4c6e8-root-admin", "u2", "u3"],
        "approver_count": 3,
        "ops_approver_count": 2,
        "credential_types": ["CREDENTIAL_TYPE_WEBAUTHN_AUTHENTICATOR", "CREDENTIAL_TYPE_API_KEY_P256"],
    });
    let context = match cedar_policy::Context::from_json_value(context, None) {
        Ok(c) => c,
        Err(e) => panic!("cedar context: {e}"),
    };
    match Request::new(
        uid(r#"User::"b1d4c6e8-root-admin""#),
        uid(r#"Action::"CREATE""#),
        uid(r#"Resource::"USER""#),
        context,
        None,
    ) {
        Ok(r) => r,
        Err(e) => panic!("cedar request: {e}"),
    }
}

/// Runs `f` with the realistic context the policies are evaluated in.
fn with_ctx<T>(f: impl FnOnce(&Context<'_>) -> T) -> T {
    let params = json!({ "amount": 25000, "user_id": "u3", "user_ids": ["abc", "def"] });
    let admin_tags = vec!["admin".to_string(), "ops".to_string()];
    let ops = vec!["ops".to_string()];
    let fin = vec!["finance".to_string()];
    let approvers = [
        UserView { id: "b1d4c6e8-root-admin", tags: &admin_tags, email: Some("root@example.com"), alias: "root" },
        UserView { id: "u2", tags: &ops, email: Some("ops@example.com"), alias: "ops" },
        UserView { id: "u3", tags: &fin, email: None, alias: "finance" },
    ];
    let credentials = [
        CredentialView {
            id: "c1",
            user_id: "b1d4c6e8-root-admin",
            credential_type: "CREDENTIAL_TYPE_WEBAUTHN_AUTHENTICATOR",
            credential_id: "cred-1",
            public_key: "02ab",
        },
        CredentialView {
            id: "c2",
            user_id: "u2",
            credential_type: "CREDENTIAL_TYPE_API_KEY_P256",
            credential_id: "cred-2",
            public_key: "03cd",
        },
    ];
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
        now: None,
    };
    f(&ctx)
}

fn eval_all(programs: &[Program], ctx: &Context<'_>) -> usize {
    programs.iter().filter(|p| matches!(p.evaluate(ctx), Ok(true))).count()
}

fn benches(c: &mut Criterion) {
    let cedar_src = cedar_source(POLICIES);
    let two_clause = &POLICIES[TWO_CLAUSE..=TWO_CLAUSE];
    let cedar_two_src = cedar_source(two_clause);

    let mut g = c.benchmark_group("parse_compile_set");
    g.bench_function("twofold", |b| b.iter(|| compile_ours(black_box(POLICIES))));
    g.bench_function("cedar", |b| b.iter(|| parse_cedar(black_box(&cedar_src))));
    g.finish();

    let programs = compile_ours(POLICIES);
    let pset = parse_cedar(&cedar_src);
    let request = cedar_request();
    let entities = Entities::empty();
    let authorizer = Authorizer::new();
    with_ctx(|ctx| {
        let mut g = c.benchmark_group("evaluate_set");
        g.bench_function("twofold", |b| b.iter(|| eval_all(black_box(&programs), black_box(ctx))));
        g.bench_function("cedar", |b| b.iter(|| authorizer.is_authorized(black_box(&request), &pset, &entities)));
        g.finish();

        let one = compile_ours(two_clause);
        let one_set = parse_cedar(&cedar_two_src);
        let mut g = c.benchmark_group("two_clause");
        g.bench_function("twofold", |b| b.iter(|| black_box(&one[0]).evaluate(black_box(ctx))));
        g.bench_function("cedar", |b| b.iter(|| authorizer.is_authorized(black_box(&request), &one_set, &entities)));
        g.finish();
    });
}

/// Mean time of `f` over a fixed wall-clock budget.
fn mean(mut f: impl FnMut()) -> Duration {
    for _ in 0..1000 {
        f();
    }
    let start = Instant::now();
    let mut n: u32 = 0;
    while start.elapsed() < Duration::from_millis(500) {
        for _ in 0..100 {
            f();
        }
        n += 100;
    }
    start.elapsed() / n
}

/// Prints the twofold/cedar ratios from a separate, simple measurement.
fn ratios() {
    let cedar_src = cedar_source(POLICIES);
    let two_clause = &POLICIES[TWO_CLAUSE..=TWO_CLAUSE];
    let programs = compile_ours(POLICIES);
    let pset = parse_cedar(&cedar_src);
    let one = compile_ours(two_clause);
    let one_set = parse_cedar(&cedar_source(two_clause));
    let request = cedar_request();
    let entities = Entities::empty();
    let authorizer = Authorizer::new();
    let compile_ours_t = mean(|| {
        black_box(compile_ours(black_box(POLICIES)));
    });
    let compile_cedar_t = mean(|| {
        black_box(parse_cedar(black_box(&cedar_src)));
    });
    let (set_ours, one_ours) = with_ctx(|ctx| {
        // Sanity: both engines see the same request (the same policies hold).
        let ours_true = eval_all(&programs, ctx);
        let cedar_true = authorizer.is_authorized(&request, &pset, &entities).diagnostics().reason().count();
        assert_eq!(ours_true, cedar_true, "the two policy sets disagree");
        (
            mean(|| {
                black_box(eval_all(black_box(&programs), black_box(ctx)));
            }),
            mean(|| {
                let _ = black_box(black_box(&one[0]).evaluate(black_box(ctx)));
            }),
        )
    });
    let set_cedar = mean(|| {
        black_box(authorizer.is_authorized(black_box(&request), &pset, &entities));
    });
    let one_cedar = mean(|| {
        black_box(authorizer.is_authorized(black_box(&request), &one_set, &entities));
    });
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!("\n== twofold / cedar ({} policies) ==", POLICIES.len());
    println!(
        "parse+compile set : twofold {compile_ours_t:?}  cedar {compile_cedar_t:?}  ratio {:.3}",
        ratio(compile_ours_t, compile_cedar_t)
    );
    println!("evaluate set      : twofold {set_ours:?}  cedar {set_cedar:?}  ratio {:.3}", ratio(set_ours, set_cedar));
    println!("two-clause        : twofold {one_ours:?}  cedar {one_cedar:?}  ratio {:.3}", ratio(one_ours, one_cedar));
}

criterion_group!(policy_benches, benches);

fn main() {
    policy_benches();
    Criterion::default().configure_from_args().final_summary();
    // Only when benchmarking, not under `cargo test --benches`.
    if std::env::args().any(|a| a == "--bench") {
        ratios();
    }
}
