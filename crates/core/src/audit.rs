//! The tamper-evident audit log: one hash chain per organization, appended in the
//! same transaction as the change it records.
//!
//! `hash = SHA-256(prev_hash || canonical row)`, where the canonical row is the
//! compact JSON array of every recorded field, and `seq` counts from 1 without gaps.
//! Editing a row breaks its hash; deleting one leaves a gap; reordering breaks a link.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::store::StoreTx;

/// `prev_hash` of the first event of every chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// UUID.
    pub id: String,
    /// The chain it belongs to.
    pub organization_id: String,
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When, ms since epoch.
    pub at: i64,
    /// What happened (`ACTIVITY_STATUS`, `VOTE`, `STAMP_REJECTED`, ...).
    pub event_type: String,
    /// How it ended (`ACTIVITY_STATUS_COMPLETED`, `APPROVED`, `DENIED`, ...).
    pub outcome: String,
    /// Who, if known.
    pub actor_user_id: Option<String>,
    /// With which credential, if known.
    pub actor_credential_id: Option<String>,
    /// What it concerns (an activity id, ...).
    pub subject: Option<String>,
    /// More, as a JSON object (never secrets).
    pub details: String,
    /// The previous event's hash.
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
}

/// What to record; the chain fields are filled in by [`append`].
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    /// See [`AuditEvent::event_type`].
    pub event_type: &'a str,
    /// See [`AuditEvent::outcome`].
    pub outcome: &'a str,
    /// See [`AuditEvent::actor_user_id`].
    pub actor_user_id: Option<&'a str>,
    /// See [`AuditEvent::actor_credential_id`].
    pub actor_credential_id: Option<&'a str>,
    /// See [`AuditEvent::subject`].
    pub subject: Option<&'a str>,
    /// See [`AuditEvent::details`].
    pub details: serde_json::Value,
}

/// The hash of `e` chained onto `prev_hash`.
pub fn chain_hash(prev_hash: &str, e: &AuditEvent) -> String {
    let canonical = serde_json::json!([
        e.organization_id,
        e.seq,
        e.at,
        e.event_type,
        e.outcome,
        e.actor_user_id,
        e.actor_credential_id,
        e.subject,
        e.details,
    ])
    .to_string();
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(canonical.as_bytes());
    hex::encode(h.finalize())
}

/// Appends `new` to `org_id`'s chain inside `tx` (which it locks until commit).
pub async fn append(tx: &mut dyn StoreTx, org_id: &str, at: i64, new: NewEvent<'_>) -> Result<()> {
    append_all(tx, org_id, at, [new]).await
}

/// Appends `events`, in order, to `org_id`'s chain inside `tx`: the chain head is locked
/// and read once for all of them.
pub async fn append_all<'a>(
    tx: &mut dyn StoreTx,
    org_id: &str,
    at: i64,
    events: impl IntoIterator<Item = NewEvent<'a>> + Send,
) -> Result<()> {
    let (mut seq, mut prev_hash) = match tx.lock_audit_head(org_id).await? {
        Some((seq, hash)) => (seq, hash),
        None => (0, GENESIS.to_owned()),
    };
    for new in events {
        seq += 1;
        let mut event = AuditEvent {
            id: crate::engine::new_id(),
            organization_id: org_id.to_owned(),
            seq,
            at,
            event_type: new.event_type.to_owned(),
            outcome: new.outcome.to_owned(),
            actor_user_id: new.actor_user_id.map(str::to_owned),
            actor_credential_id: new.actor_credential_id.map(str::to_owned),
            subject: new.subject.map(str::to_owned),
            details: new.details.to_string(),
            prev_hash,
            hash: String::new(),
        };
        event.hash = chain_hash(&event.prev_hash, &event);
        tx.insert_audit_event(&event).await?;
        prev_hash = event.hash;
    }
    Ok(())
}

/// Where a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Broken {
    /// The row's content does not match its hash (edited).
    #[error("organization {org}: event seq {seq} (id {id}) was altered: its hash does not match its content")]
    Altered {
        /// Chain.
        org: String,
        /// Position.
        seq: i64,
        /// Event id.
        id: String,
    },
    /// An event is missing before this one (deleted).
    #[error("organization {org}: event seq {expected} is missing (next present is seq {found}); events were deleted")]
    Missing {
        /// Chain.
        org: String,
        /// The seq that should come next.
        expected: i64,
        /// The seq found instead.
        found: i64,
    },
    /// The row does not link to its predecessor (reordered or replaced).
    #[error(
        "organization {org}: event seq {seq} (id {id}) does not link to the event before it; events were reordered or replaced"
    )]
    Unlinked {
        /// Chain.
        org: String,
        /// Position.
        seq: i64,
        /// Event id.
        id: String,
    },
}

/// Checks chains event by event; feed events ordered by organization, then seq.
#[derive(Debug, Default)]
pub struct Verifier {
    org: Option<String>,
    next_seq: i64,
    prev_hash: String,
    /// Events checked so far.
    pub checked: u64,
    /// Chains seen so far.
    pub chains: u64,
}

impl Verifier {
    /// Checks the next event; the first broken link ends verification.
    pub fn check(&mut self, e: &AuditEvent) -> std::result::Result<(), Broken> {
        if self.org.as_deref() != Some(e.organization_id.as_str()) {
            self.org = Some(e.organization_id.clone());
            self.next_seq = 1;
            self.prev_hash = GENESIS.to_owned();
            self.chains += 1;
        }
        let org = e.organization_id.clone();
        if e.seq != self.next_seq {
            return Err(Broken::Missing { org, expected: self.next_seq, found: e.seq });
        }
        if chain_hash(&e.prev_hash, e) != e.hash {
            return Err(Broken::Altered { org, seq: e.seq, id: e.id.clone() });
        }
        if e.prev_hash != self.prev_hash {
            return Err(Broken::Unlinked { org, seq: e.seq, id: e.id.clone() });
        }
        self.next_seq += 1;
        self.prev_hash.clone_from(&e.hash);
        self.checked += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEvent> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let mut e = AuditEvent {
                    id: format!("e{seq}"),
                    organization_id: "o".into(),
                    seq,
                    at: seq * 10,
                    event_type: "VOTE".into(),
                    outcome: "APPROVED".into(),
                    actor_user_id: Some("u".into()),
                    actor_credential_id: None,
                    subject: Some("a".into()),
                    details: "{}".into(),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = chain_hash(&e.prev_hash, &e);
                prev.clone_from(&e.hash);
                e
            })
            .collect()
    }

    fn verify(events: &[AuditEvent]) -> std::result::Result<u64, Broken> {
        let mut v = Verifier::default();
        events.iter().try_for_each(|e| v.check(e))?;
        Ok(v.checked)
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
    }

    #[test]
    fn edits_deletions_and_reorderings_are_found_where_they_are() {
        let mut edited = chain(5);
        edited[2].outcome = "REJECTED".into();
        assert!(matches!(verify(&edited), Err(Broken::Altered { seq: 3, .. })));

        let mut deleted = chain(5);
        deleted.remove(1);
        assert!(matches!(verify(&deleted), Err(Broken::Missing { expected: 2, found: 3, .. })));

        let mut swapped = chain(5);
        swapped.swap(1, 2);
        let (a, b) = (swapped[1].seq, swapped[2].seq);
        swapped[1].seq = b;
        swapped[2].seq = a;
        assert!(verify(&swapped).is_err(), "reordering is found");
    }
}
