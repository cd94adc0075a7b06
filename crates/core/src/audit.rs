//! The tamper-evident audit log: per organization a hash chain and an append-only Merkle
//! tree (RFC 9162), both appended in the same transaction as the change they record.
//!
//! Chain: `hash = SHA-256(prev_hash || canonical row)`, where the canonical row is the
//! compact JSON array of the recorded fields, and `seq` counts from 1 without gaps.
//! Tree: leaf `seq - 1` is [`leaf`], every stored column of the event (its id and chain
//! fields included). Both are appended in the transaction of the change they record: each
//! event row carries the tree nodes its leaf completes, the frontier is read with the
//! chain's head in one statement, so an append is O(log n) and writes only its events, and
//! a proof reads O(log n) rows. Signed
//! checkpoints are what outside witnesses keep: a copy of the database that was edited,
//! truncated, rolled back or rebuilt no longer matches a checkpoint taken before.

use sha2::{Digest, Sha256};
use twofold_tlog::{Frontier, Node, leaf_hash};

pub use crate::model::{AuditCheckpoint, AuditEvent};

use crate::error::{Error, Result};
use crate::store::{StoreError, StoreTx};

/// `prev_hash` of the first event of every chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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

/// The leaf of `e` in its organization's tree: every stored column, as a compact JSON array.
pub fn leaf(e: &AuditEvent) -> Vec<u8> {
    let columns = (
        &e.id,
        &e.organization_id,
        e.seq,
        e.at,
        &e.event_type,
        &e.outcome,
        &e.actor_user_id,
        &e.actor_credential_id,
        &e.subject,
        &e.details,
        &e.prev_hash,
        &e.hash,
    );
    // Strings, numbers and nulls always serialize.
    serde_json::to_vec(&columns).unwrap_or_default()
}

/// Events folded into a tree per transaction when catching up.
const FOLD_BATCH: i64 = 1000;

fn corrupt(org_id: &str, why: impl std::fmt::Display) -> Error {
    Error::Store(StoreError::Backend(format!("audit tree of {org_id}: {why}")))
}

/// The hashes an event row carries: the nodes its leaf completed, level 0 first, hex.
fn nodes_text(nodes: &[Node]) -> String {
    nodes.iter().map(|n| hex::encode(n.hash)).collect()
}

/// The frontier of `org_id`'s tree of `size` leaves from the events that carry it
/// ([`StoreTx::audit_frontier`]); `None` if one of them is not folded in yet.
fn frontier_of(org_id: &str, size: i64, rows: &[(i64, Option<String>)]) -> Result<Option<Frontier>> {
    let mut roots = Vec::with_capacity(rows.len());
    for (seq, nodes) in rows {
        let Some(nodes) = nodes else { return Ok(None) };
        // Event `seq` completed the subtree of 2^(trailing zeros of seq) leaves ending at it.
        let at = seq.trailing_zeros() as usize * 64;
        let head = nodes
            .get(at..at + 64)
            .and_then(twofold_tlog::hash_from_hex)
            .ok_or_else(|| corrupt(org_id, format!("event seq {seq} does not carry its subtree")))?;
        roots.push(head);
    }
    let size = u64::try_from(size).map_err(|e| corrupt(org_id, e))?;
    Frontier::from_parts(size, roots).map(Some).map_err(|e| corrupt(org_id, e))
}

/// `org_id`'s tree at its head `head_seq` as stored; `None` while events are not folded in.
pub async fn stored_tree(tx: &mut dyn StoreTx, org_id: &str, head_seq: i64) -> Result<Option<Frontier>> {
    let rows = tx.audit_frontier(org_id, head_seq).await?;
    frontier_of(org_id, head_seq, &rows)
}

/// Folds up to [`FOLD_BATCH`] events of `org_id` recorded before its tree existed into it,
/// in order, under the chain's lock; how many it folded (0: nothing is left).
pub async fn fold(tx: &mut dyn StoreTx, org_id: &str) -> Result<u64> {
    tx.lock_audit_head(org_id).await?;
    let Some(first) = tx.first_unfolded_audit_seq(org_id).await? else { return Ok(0) };
    let before = first - 1;
    let mut frontier = frontier_of(org_id, before, &tx.audit_frontier(org_id, before).await?)?
        .ok_or_else(|| corrupt(org_id, format!("events before seq {first} are not all folded")))?;
    let page = tx.audit_chain_page(Some((org_id, before)), FOLD_BATCH).await?;
    let mut folded = 0;
    for e in page.iter().take_while(|e| e.organization_id == org_id) {
        if u64::try_from(e.seq).ok() != Some(frontier.size() + 1) {
            return Err(corrupt(org_id, format!("event seq {} follows a tree of {} (a gap)", e.seq, frontier.size())));
        }
        let nodes = frontier.append(leaf_hash(&leaf(e)));
        tx.set_audit_tree_nodes(org_id, e.seq, &nodes_text(&nodes)).await?;
        folded += 1;
    }
    Ok(folded)
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
    let (mut seq, mut prev_hash) = tx.lock_audit_head(org_id).await?.unwrap_or_else(|| (0, GENESIS.to_owned()));
    let mut frontier = match FRONTIERS.recall(org_id, seq, &prev_hash) {
        Some(frontier) => frontier,
        None => match frontier_of(org_id, seq, &tx.audit_frontier(org_id, seq).await?)? {
            Some(frontier) => frontier,
            None => {
                // Events from before the tree: fold them in first (the server does at start).
                while fold(tx, org_id).await? > 0 {}
                frontier_of(org_id, seq, &tx.audit_frontier(org_id, seq).await?)?
                    .ok_or_else(|| corrupt(org_id, "folding left events out"))?
            }
        },
    };
    for new in events {
        seq += 1;
        let mut event = AuditEvent {
            id: crate::model::new_id(),
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
        let nodes = frontier.append(leaf_hash(&leaf(&event)));
        tx.insert_audit_event(&event, Some(&nodes_text(&nodes))).await?;
        prev_hash = event.hash;
    }
    FRONTIERS.remember(org_id, seq, &prev_hash, frontier);
    Ok(())
}

/// The frontier after each organization's last append on this node, keyed by the chain head
/// it follows: an append whose head is still that one (nobody else appended, the transaction
/// committed) reads no tree state at all. A head that moved (another node, a rollback) just
/// misses, and the frontier is read from the events. The head's hash commits to the whole
/// chain, so a recalled frontier is the one the database's events make.
struct FrontierCache(std::sync::Mutex<std::collections::HashMap<String, (i64, String, Frontier)>>);

/// Organizations whose frontier is kept (a bound, not a tuning knob).
const MAX_CACHED_FRONTIERS: usize = 10_000;

static FRONTIERS: std::sync::LazyLock<FrontierCache> =
    std::sync::LazyLock::new(|| FrontierCache(std::sync::Mutex::default()));

impl FrontierCache {
    fn recall(&self, org_id: &str, seq: i64, hash: &str) -> Option<Frontier> {
        let map = self.0.lock().ok()?;
        map.get(org_id).filter(|(s, h, _)| *s == seq && h == hash).map(|(_, _, f)| f.clone())
    }

    fn remember(&self, org_id: &str, seq: i64, hash: &str, frontier: Frontier) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= MAX_CACHED_FRONTIERS && !map.contains_key(org_id) {
                map.clear();
            }
            map.insert(org_id.to_owned(), (seq, hash.to_owned(), frontier));
        }
    }
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

    /// The test vector of docs/OPERATIONS.md, "Audit log proofs".
    #[test]
    fn the_documented_leaf_root_and_proof_are_what_the_code_makes() {
        let e = AuditEvent {
            id: "e-1".into(),
            organization_id: "org-1".into(),
            seq: 1,
            at: 1_796_000_000_000,
            event_type: "ACTIVITY_STATUS".into(),
            outcome: "ACTIVITY_STATUS_COMPLETED".into(),
            actor_user_id: Some("user-1".into()),
            actor_credential_id: Some("key-1".into()),
            subject: Some("act-1".into()),
            details: "{}".into(),
            prev_hash: GENESIS.into(),
            hash: "ab".repeat(32),
        };
        let text = String::from_utf8(leaf(&e)).unwrap();
        assert_eq!(
            text,
            format!(
                r#"["e-1","org-1",1,1796000000000,"ACTIVITY_STATUS","ACTIVITY_STATUS_COMPLETED","user-1","key-1","act-1","{{}}","{GENESIS}","{}"]"#,
                "ab".repeat(32)
            )
        );
        let leaf0 = leaf_hash(text.as_bytes());
        assert_eq!(hex::encode(leaf0), "3fa53a5e801cf43551737a0b957aaf78eb4ea914e9091de70f8adedae548d2e0");
        let mut tree = Frontier::new();
        let mut nodes = std::collections::HashMap::new();
        for l in [leaf0, leaf_hash(b"event 1"), leaf_hash(b"event 2")] {
            nodes.extend(tree.append(l).into_iter().map(|n| ((n.level, n.index), n.hash)));
        }
        assert_eq!(hex::encode(tree.root()), "856bc590e7edf20a174440d632a28aaa1213ed62a2f3dc26d40add2b2edaccd9");
        let proof = twofold_tlog::inclusion_proof(&nodes, 0, 3).unwrap();
        assert_eq!(
            proof.iter().map(hex::encode).collect::<Vec<_>>(),
            [
                "189a944dd1bd99ed6685a75670d57a64591e901d32714d6f6c58e55d8a9edb46",
                "9b0b2f1d58bf086890b4146f09efa42ca13e525aa03393921560c5814ff53088"
            ]
        );
        twofold_tlog::verify_inclusion(&leaf0, 0, 3, &proof, &tree.root()).unwrap();
    }

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
