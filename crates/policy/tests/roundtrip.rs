//! Property: printing any tree and parsing the text gives the same tree
//! (ignoring spans).

use proptest::prelude::*;
use twofold_policy::ast::{CmpOp, Expr, ExprKind, Name, Span};

fn e(kind: ExprKind) -> Expr {
    Expr::new(kind, Span::default())
}

fn name(n: &str) -> Name {
    Name { name: n.to_string(), span: Span::default() }
}

fn ident() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["activity", "approvers", "credentials", "time", "u", "x", "_v1", "wallet", "ünï"])
        .prop_map(String::from)
}

fn field() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["type", "kind", "params", "amount", "id", "tags", "now", "in", "true", "any", "count"])
        .prop_map(String::from)
}

fn op() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(vec![CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Gt, CmpOp::Le, CmpOp::Ge])
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        any::<bool>().prop_map(|b| e(ExprKind::Bool(b))),
        any::<i128>().prop_map(|i| e(ExprKind::Int(i))),
        prop_oneof![Just(i128::MIN), Just(i128::MAX), Just(0), Just(-1)].prop_map(|i| e(ExprKind::Int(i))),
        "[a-z'\\\\ é\n\"]{0,6}".prop_map(|s| e(ExprKind::Str(s))),
        ident().prop_map(|s| e(ExprKind::Ident(s))),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(5, 64, 4, |inner| {
        let boxed = inner.clone().prop_map(Box::new);
        let args = prop::collection::vec(inner.clone(), 0..4);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| e(ExprKind::List(v))),
            (boxed.clone(), field()).prop_map(|(base, f)| e(ExprKind::Member { base, field: name(&f) })),
            (boxed.clone(), boxed.clone()).prop_map(|(base, index)| e(ExprKind::Index { base, index })),
            (boxed.clone(), prop::option::of(boxed.clone()), prop::option::of(boxed.clone()))
                .prop_map(|(base, start, end)| e(ExprKind::Slice { base, start, end })),
            (boxed.clone(), field(), args.clone()).prop_map(|(base, m, args)| e(ExprKind::Method {
                base,
                method: name(&m),
                args
            })),
            (prop::sample::select(vec!["Timestamp", "CronSpan", "f"]), args.clone())
                .prop_map(|(f, args)| e(ExprKind::Call { func: name(f), args })),
            boxed.clone().prop_map(|x| e(ExprKind::Not(x))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| e(ExprKind::And(v))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| e(ExprKind::Or(v))),
            (op(), boxed.clone(), boxed.clone()).prop_map(|(op, lhs, rhs)| e(ExprKind::Compare { op, lhs, rhs })),
            (boxed.clone(), boxed).prop_map(|(lhs, rhs)| e(ExprKind::In { lhs, rhs })),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn print_then_parse_is_identity(ast in expr()) {
        let printed = ast.to_string();
        let parsed = twofold_policy::parse(&printed)
            .map_err(|d| TestCaseError::fail(format!("`{printed}` did not parse:\n{d}")))?;
        prop_assert_eq!(parsed.without_spans(), ast.without_spans(), "printed as `{}`", printed);
        // Printing is canonical: the re-parsed tree prints the same text.
        prop_assert_eq!(parsed.to_string(), printed);
    }

    #[test]
    fn compile_never_panics_on_printed_trees(ast in expr()) {
        let printed = ast.to_string();
        let _ = twofold_policy::Program::compile(&printed, twofold_policy::Keywords::ALL);
    }
}

/// Spans from the parser point at the text they came from.
#[test]
fn spans_cover_source() {
    let src = "activity.params.amount > 10000 && approvers.count() >= 2";
    let Ok(ast) = twofold_policy::parse(src) else {
        panic!("parse failed");
    };
    assert_eq!(ast.span, Span::new(0, src.len()));
    let ExprKind::And(items) = &ast.kind else {
        panic!("not an and: {ast:?}");
    };
    let texts: Vec<&str> = items.iter().map(|i| i.span.text(src)).collect();
    assert_eq!(texts, ["activity.params.amount > 10000", "approvers.count() >= 2"]);
}
