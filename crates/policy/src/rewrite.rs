//! Rewriting the comparisons of one field with string literals, in source text: how a
//! stored condition that names values the field no longer takes is brought up to date
//! without changing what it means (twofold's one-time move to Turnkey's resource names).

use crate::lexer::{Tok, Token, lex};

/// What [`rewrite_comparisons`] made of a source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewrite {
    /// No comparison of the field with a value to replace.
    Unchanged,
    /// The text with every such comparison replaced.
    Rewritten(String),
    /// A value to replace appears, but not in a comparison this rewrite understands
    /// (`field == 'v'`, `'v' == field`, `!=` of either, `field in ['v', …]`): left for a person.
    NeedsReview(String),
}

/// Rewrites, in `src`, every comparison of the field `path` (`["activity", "resource"]`)
/// with a string literal `v` for which `replace(v)` gives an expression: `field == 'v'`
/// becomes `(<expression>)`, `field != 'v'` becomes `!(<expression>)`, and `field in [...]`
/// keeps its other values and adds `|| (<expression>)` per replaced one. Everything else is
/// kept byte for byte. A replaceable value anywhere else (a bare string, a comparison with
/// another field) makes it [`Rewrite::NeedsReview`] rather than a guess.
pub fn rewrite_comparisons(src: &str, path: &[&str], replace: impl Fn(&str) -> Option<String>) -> Rewrite {
    let mut errors = Vec::new();
    let tokens = lex(src, &mut errors);
    if !errors.is_empty() {
        return Rewrite::Unchanged;
    }
    let field_at = |i: usize| -> Option<usize> {
        // `path[0] . path[1] . …` starting at token i; returns the index after it.
        let mut j = i;
        for (n, part) in path.iter().enumerate() {
            if n > 0 {
                if tokens.get(j).map(|t| &t.tok) != Some(&Tok::Dot) {
                    return None;
                }
                j += 1;
            }
            match tokens.get(j).map(|t| &t.tok) {
                Some(Tok::Ident(s)) if s == part => j += 1,
                _ => return None,
            }
        }
        // Not a prefix of a longer path (`activity.resource.x`).
        (tokens.get(j).map(|t| &t.tok) != Some(&Tok::Dot)).then_some(j)
    };
    let literal = |t: Option<&Token>| match t.map(|t| &t.tok) {
        Some(Tok::Str(s)) => Some(s.clone()),
        _ => None,
    };
    // (byte range to replace, new text), in source order; the literal tokens they cover.
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut covered = std::collections::HashSet::new();
    let mut i = 0;
    while i < tokens.len() {
        let start = tokens[i].span.start;
        if let Some(after) = field_at(i) {
            let op = tokens.get(after).map(|t| t.tok.clone());
            match op {
                Some(op @ (Tok::EqEq | Tok::Ne)) => {
                    if let Some(v) = literal(tokens.get(after + 1))
                        && let Some(expr) = replace(&v)
                    {
                        let end = tokens[after + 1].span.end;
                        let bang = if op == Tok::Ne { "!" } else { "" };
                        edits.push((start, end, format!("{bang}({expr})")));
                        covered.insert(after + 1);
                        i = after + 2;
                        continue;
                    }
                }
                Some(Tok::In) if tokens.get(after + 1).map(|t| &t.tok) == Some(&Tok::LBracket) => {
                    let mut j = after + 2;
                    let (mut kept, mut added, mut plain) = (Vec::new(), Vec::new(), true);
                    while let Some(t) = tokens.get(j) {
                        match &t.tok {
                            Tok::RBracket => break,
                            Tok::Comma => {}
                            Tok::Str(v) => match replace(v) {
                                Some(expr) => {
                                    added.push(expr);
                                    covered.insert(j);
                                }
                                None => kept.push(&src[t.span.start..t.span.end]),
                            },
                            _ => plain = false,
                        }
                        j += 1;
                    }
                    if plain && !added.is_empty() && tokens.get(j).map(|t| &t.tok) == Some(&Tok::RBracket) {
                        let field = &src[start..tokens[after - 1].span.end];
                        let mut parts = Vec::new();
                        if !kept.is_empty() {
                            parts.push(format!("{field} in [{}]", kept.join(", ")));
                        }
                        parts.extend(added.iter().map(|e| format!("({e})")));
                        edits.push((start, tokens[j].span.end, format!("({})", parts.join(" || "))));
                        i = j + 1;
                        continue;
                    }
                }
                _ => {}
            }
        }
        // `'v' == field` / `'v' != field`.
        if let Some(v) = literal(tokens.get(i))
            && let Some(expr) = replace(&v)
            && let Some(op @ (Tok::EqEq | Tok::Ne)) = tokens.get(i + 1).map(|t| t.tok.clone())
            && let Some(after) = field_at(i + 2)
        {
            let end = tokens[after - 1].span.end;
            let bang = if op == Tok::Ne { "!" } else { "" };
            edits.push((start, end, format!("{bang}({expr})")));
            covered.insert(i);
            i = after;
            continue;
        }
        i += 1;
    }
    let stray = tokens
        .iter()
        .enumerate()
        .any(|(n, t)| !covered.contains(&n) && matches!(&t.tok, Tok::Str(v) if replace(v).is_some()));
    if stray {
        return Rewrite::NeedsReview(format!(
            "a value to rename appears outside a comparison with {}; rewrite it by hand",
            path.join(".")
        ));
    }
    if edits.is_empty() {
        return Rewrite::Unchanged;
    }
    let mut out = String::with_capacity(src.len() + 64);
    let mut at = 0;
    for (start, end, text) in edits {
        out.push_str(&src[at..start]);
        out.push_str(&text);
        at = end;
    }
    out.push_str(&src[at..]);
    Rewrite::Rewritten(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old(v: &str) -> Option<String> {
        match v {
            "SESSION" => Some("activity.type in ['STAMP_LOGIN', 'DELETE_SESSIONS']".to_owned()),
            "AUTH" => Some("activity.type in ['OTP_LOGIN']".to_owned()),
            _ => None,
        }
    }

    fn rw(src: &str) -> Rewrite {
        rewrite_comparisons(src, &["activity", "resource"], old)
    }

    #[test]
    fn every_comparison_form_keeps_its_meaning() {
        assert_eq!(
            rw("activity.resource == 'SESSION' && activity.action == 'CREATE'"),
            Rewrite::Rewritten(
                "(activity.type in ['STAMP_LOGIN', 'DELETE_SESSIONS']) && activity.action == 'CREATE'".to_owned()
            )
        );
        assert_eq!(
            rw("'AUTH' != activity.resource"),
            Rewrite::Rewritten("!(activity.type in ['OTP_LOGIN'])".to_owned())
        );
        assert_eq!(
            rw("activity.resource in ['USER', 'SESSION', 'AUTH']"),
            Rewrite::Rewritten(
                "(activity.resource in ['USER'] || (activity.type in ['STAMP_LOGIN', 'DELETE_SESSIONS']) || \
                 (activity.type in ['OTP_LOGIN']))"
                    .to_owned()
            )
        );
        assert_eq!(
            rw("activity.resource in ['SESSION']"),
            Rewrite::Rewritten("((activity.type in ['STAMP_LOGIN', 'DELETE_SESSIONS']))".to_owned())
        );
    }

    #[test]
    fn what_it_cannot_rewrite_is_left_for_review_and_the_rest_alone() {
        assert_eq!(rw("activity.resource == 'USER'"), Rewrite::Unchanged);
        assert_eq!(
            rw("user.tags.contains('SESSION')"),
            Rewrite::NeedsReview(
                "a value to rename appears outside a comparison with activity.resource; rewrite it by hand".to_owned()
            )
        );
        assert!(matches!(rw("activity.resource == activity.params.kind || 'AUTH' == 'AUTH'"), Rewrite::NeedsReview(_)));
        assert_eq!(
            rw("activity.resource.x == 'AUTH'"),
            Rewrite::NeedsReview(
                "a value to rename appears outside a comparison with activity.resource; rewrite it by hand".to_owned()
            )
        );
        assert_eq!(rw("activity.resource == 'unterminated"), Rewrite::Unchanged);
    }
}
