//! Step-up MFA, the pure part: which proven methods satisfy which steps of an MFA
//! policy. Steps are satisfied in order by approvals; the initiating stamp counts for
//! the first step that accepts its own type.

use crate::model::{AuthMethod, MethodGroup};

/// One method a user has proven on an activity: by a stamp, or by a secret in an approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proven {
    /// The `AUTHENTICATION_TYPE_*` proven.
    pub method: String,
    /// The credential that proved it (authenticator, API key, session key, TOTP device, code).
    pub credential_id: String,
}

/// Whether `proof` is what `method` asks for.
pub fn accepts(method: &AuthMethod, proof: &Proven) -> bool {
    method.kind.as_str() == proof.method && method.id.as_ref().is_none_or(|id| *id == proof.credential_id)
}

/// Whether `proof` satisfies `group` (any of its methods).
pub fn group_accepts(group: &MethodGroup, proof: &Proven) -> bool {
    group.any.iter().any(|m| accepts(m, proof))
}

/// For each step, the index of the proof that satisfied it: proofs are taken in order,
/// each satisfying the first still-open step that accepts it.
pub fn assign(groups: &[MethodGroup], proofs: &[Proven]) -> Vec<Option<usize>> {
    let mut assigned = vec![None; groups.len()];
    for (i, proof) in proofs.iter().enumerate() {
        if let Some(slot) = groups.iter().zip(assigned.iter()).position(|(g, a)| a.is_none() && group_accepts(g, proof))
        {
            assigned[slot] = Some(i);
        }
    }
    assigned
}

/// The first step no proof has satisfied yet.
pub fn next_open(assigned: &[Option<usize>]) -> Option<usize> {
    assigned.iter().position(Option::is_none)
}

/// A step's methods as words for error messages: `AUTHENTICATION_TYPE_TOTP or AUTHENTICATION_TYPE_EMAIL_OTP`.
pub fn describe(group: &MethodGroup) -> String {
    let names: Vec<String> = group
        .any
        .iter()
        .map(|m| match &m.id {
            Some(id) => format!("{} `{id}`", m.kind.as_str()),
            None => m.kind.as_str().to_owned(),
        })
        .collect();
    names.join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AuthenticationType as T;

    fn group(kinds: &[T]) -> MethodGroup {
        MethodGroup { any: kinds.iter().map(|k| AuthMethod { kind: *k, id: None }).collect() }
    }

    fn proof(kind: T) -> Proven {
        Proven { method: kind.as_str().to_owned(), credential_id: "c".into() }
    }

    #[test]
    fn steps_fill_in_order_and_the_stamp_counts_where_it_fits() {
        let groups = [group(&[T::EmailOtp, T::Totp]), group(&[T::Passkey])];
        assert_eq!(assign(&groups, &[proof(T::ApiKey)]), vec![None, None]);
        assert_eq!(assign(&groups, &[proof(T::ApiKey), proof(T::Totp)]), vec![Some(1), None]);
        assert_eq!(assign(&groups, &[proof(T::ApiKey), proof(T::Totp), proof(T::Passkey)]), vec![Some(1), Some(2)]);
        // A passkey-stamped initiation satisfies the passkey step; the first step stays open.
        let assigned = assign(&groups, &[proof(T::Passkey)]);
        assert_eq!(assigned, vec![None, Some(0)]);
        assert_eq!(next_open(&assigned), Some(0));
    }

    #[test]
    fn a_specific_credential_must_be_the_one_proven() {
        let groups = [MethodGroup { any: vec![AuthMethod { kind: T::Passkey, id: Some("pk-1".into()) }] }];
        let other = Proven { method: T::Passkey.as_str().into(), credential_id: "pk-2".into() };
        let right = Proven { method: T::Passkey.as_str().into(), credential_id: "pk-1".into() };
        assert_eq!(assign(&groups, std::slice::from_ref(&other)), vec![None]);
        assert_eq!(assign(&groups, &[other, right]), vec![Some(1)]);
        assert_eq!(describe(&groups[0]), "AUTHENTICATION_TYPE_PASSKEY `pk-1`");
    }
}
