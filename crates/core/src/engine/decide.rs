//! The decision for an activity (POLICY-LANGUAGE.md, "Evaluation order").
//!
//! Today: the root quorum decides; policies plug in between the root-quorum step
//! and the implicit deny.

use crate::activity_types::ActivityKind;

/// What happens to an activity next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Execute it now.
    Allow,
    /// Wait for more approvals.
    ConsensusNeeded,
    /// Refuse it, with the reason.
    Deny(String),
}

/// Decides from the root quorum (`members`, `threshold`) and the users who approved so far.
pub fn decide(
    kind: &ActivityKind,
    members: &[String],
    threshold: i64,
    approvers: &[String],
    initiator: &str,
) -> Decision {
    let approving_members = members.iter().filter(|m| approvers.contains(m)).count();
    if i64::try_from(approving_members).unwrap_or(i64::MAX) >= threshold.max(1) {
        return Decision::Allow;
    }
    if members.iter().any(|m| m == initiator) {
        return Decision::ConsensusNeeded;
    }
    if kind.root_only {
        return Decision::Deny(format!(
            "{} can only be approved by the root quorum; no policy can grant it",
            kind.path
        ));
    }
    Decision::Deny("denied: no policy allows this activity (implicit deny)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity_types::kind_for_path;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_single_root_member_with_threshold_one_is_allowed() {
        let k = kind_for_path("create_users").expect("known");
        assert_eq!(decide(k, &ids(&["a"]), 1, &ids(&["a"]), "a"), Decision::Allow);
    }

    #[test]
    fn a_root_member_below_threshold_waits_for_consensus() {
        let k = kind_for_path("create_users").expect("known");
        assert_eq!(decide(k, &ids(&["a", "b", "c"]), 2, &ids(&["a"]), "a"), Decision::ConsensusNeeded);
        assert_eq!(decide(k, &ids(&["a", "b", "c"]), 2, &ids(&["a", "c"]), "a"), Decision::Allow);
    }

    #[test]
    fn others_are_implicitly_denied() {
        let k = kind_for_path("create_users").expect("known");
        assert!(matches!(decide(k, &ids(&["a"]), 1, &ids(&["x"]), "x"), Decision::Deny(_)));
        let root_only = kind_for_path("update_root_quorum").expect("known");
        match decide(root_only, &ids(&["a"]), 1, &ids(&["x"]), "x") {
            Decision::Deny(r) => assert!(r.contains("root quorum")),
            d => panic!("unexpected {d:?}"),
        }
    }
}
