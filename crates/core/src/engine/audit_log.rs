//! The audit log's Merkle trees made checkable from outside: trees caught up with their
//! chains, signed checkpoints issued as they grow, and the checkpoint, inclusion-proof and
//! consistency-proof queries (docs/OPERATIONS.md, "Audit log proofs").

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use twofold_tlog::{Checkpoint, NoteSigner, NoteVerifier, consistency_nodes, inclusion_nodes, leaf_hash, sign_note};

use super::{Caller, Engine, parse_body};
use crate::audit::{self, AuditCheckpoint};
use crate::error::{Error, Result};
use crate::store::StoreTx;

/// How the audit log's checkpoints are named and signed.
#[derive(Debug, Clone)]
pub struct AuditLogConfig {
    /// The log's name: checkpoints of organization `o` have origin `<name>/<o>`, and it is
    /// the signing key's name.
    pub name: String,
    /// The signing key (kept outside the database); `None` issues no checkpoints.
    pub signer: Option<Arc<NoteSigner>>,
    /// Every key checkpoints may carry: the current one and those rotated out.
    pub verifiers: Vec<NoteVerifier>,
}

impl Default for AuditLogConfig {
    fn default() -> Self {
        AuditLogConfig { name: "twofold.invalid/audit".to_owned(), signer: None, verifiers: Vec::new() }
    }
}

impl AuditLogConfig {
    /// The origin line of `org_id`'s checkpoints.
    pub fn origin(&self, org_id: &str) -> String {
        format!("{}/{org_id}", self.name)
    }
}

fn proof_error(e: twofold_tlog::Error) -> Error {
    match e {
        twofold_tlog::Error::Range(m) => Error::invalid(m),
        twofold_tlog::Error::MissingNode { .. } => {
            Error::Internal(format!("the audit tree is missing a node a proof needs ({e}); run `twofold audit verify`"))
        }
        other => Error::Internal(other.to_string()),
    }
}

fn size_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Engine {
    /// Folds every event not yet in its organization's tree (recorded before trees existed,
    /// or by a node that stopped midway) into it, a batch per transaction. Returns how many.
    pub async fn fold_audit_trees(&self) -> Result<u64> {
        let behind = self.store.read().await?.unfolded_audit_orgs().await?;
        let mut folded = 0;
        for org in behind {
            loop {
                let mut tx = self.store.write().await?;
                let n = audit::fold(&mut *tx, &org).await?;
                tx.commit().await?;
                folded += n;
                if n == 0 {
                    break;
                }
            }
        }
        Ok(folded)
    }

    /// Signs a checkpoint of every tree that grew since its last one and returns those this
    /// call recorded (another node may have signed the same size first: that one stands).
    pub async fn issue_checkpoints(&self) -> Result<Vec<AuditCheckpoint>> {
        let Some(signer) = self.config.audit_log.signer.as_deref() else { return Ok(Vec::new()) };
        // Only the trees that grew since their last checkpoint are read.
        let mut grown = Vec::new();
        {
            let mut tx = self.store.read().await?;
            for (org, head, signed) in tx.audit_heads().await? {
                if head > signed
                    && let Some(frontier) = audit::stored_tree(&mut *tx, &org, head).await?
                {
                    grown.push((org, frontier));
                }
            }
        }
        let mut issued = Vec::new();
        for (org, frontier) in grown {
            let checkpoint =
                Checkpoint { origin: self.config.audit_log.origin(&org), size: frontier.size(), root: frontier.root() };
            let note = sign_note(&checkpoint.to_text(), &[signer]).map_err(|e| Error::Internal(e.to_string()))?;
            let stored = AuditCheckpoint {
                organization_id: org,
                size: i64::try_from(frontier.size()).unwrap_or(i64::MAX),
                root: hex::encode(checkpoint.root),
                note,
                created_at: self.clock.now_ms(),
            };
            let mut tx = self.store.write().await?;
            if tx.insert_audit_checkpoint(&stored).await? {
                issued.push(stored);
            }
            tx.commit().await?;
        }
        Ok(issued)
    }

    fn verifier_keys(&self) -> Vec<String> {
        self.config.audit_log.verifiers.iter().map(NoteVerifier::to_vkey).collect()
    }
}

/// A signed checkpoint as queries answer it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckpointView {
    organization_id: String,
    tree_size: String,
    root_hash: String,
    /// The C2SP signed note, what a witness keeps.
    note: String,
    signed_at: String,
}

impl From<AuditCheckpoint> for CheckpointView {
    fn from(c: AuditCheckpoint) -> Self {
        CheckpointView {
            organization_id: c.organization_id,
            tree_size: c.size.to_string(),
            root_hash: c.root,
            note: c.note,
            signed_at: c.created_at.to_string(),
        }
    }
}

/// The checkpoint of the caller's log at `size` (its latest without one).
async fn checkpoint(caller: &Caller, tx: &mut dyn StoreTx, size: Option<i64>) -> Result<AuditCheckpoint> {
    tx.audit_checkpoint(&caller.organization.id, size).await?.ok_or_else(|| match size {
        Some(s) => Error::NotFound(format!("no signed checkpoint of this organization's audit log at size {s}")),
        None => Error::FailedPrecondition(
            "this organization's audit log has no signed checkpoint yet (one follows its first events within \
             --audit-checkpoint-secs)"
                .to_owned(),
        ),
    })
}

/// A tree size given as a decimal string, like Turnkey's integers.
fn parse_size(field: &str, value: Option<&str>) -> Result<Option<i64>> {
    value
        .map(|v| {
            v.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| Error::invalid(format!("{field}: `{}` is not a tree size", crate::crypto::clip(v))))
        })
        .transpose()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckpointAnswer {
    checkpoint: CheckpointView,
    /// Keys the checkpoint may be signed with, as Go's `sumdb/note` verifier keys.
    verifier_keys: Vec<String>,
}

/// `query/get_audit_checkpoint`: the latest signed checkpoint of the caller's log.
pub(super) async fn get_checkpoint(engine: &Engine, caller: &Caller, tx: &mut dyn StoreTx) -> Result<Value> {
    let checkpoint = checkpoint(caller, tx, None).await?;
    super::query::to_json(CheckpointAnswer { checkpoint: checkpoint.into(), verifier_keys: engine.verifier_keys() })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProofRequest {
    event_id: String,
    #[serde(default)]
    tree_size: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProofAnswer {
    event_id: String,
    leaf_index: String,
    /// The leaf as hashed: the event's stored columns as a JSON array.
    leaf: String,
    leaf_hash: String,
    /// Sibling hashes from the leaf up (RFC 9162 §2.1.3.1), hex.
    inclusion_proof: Vec<String>,
    checkpoint: CheckpointView,
}

/// `query/get_audit_proof`: an inclusion proof of one event against a signed checkpoint
/// (the latest, or the one of `treeSize`).
pub(super) async fn get_proof(caller: &Caller, tx: &mut dyn StoreTx, body: &[u8]) -> Result<Value> {
    let req: ProofRequest = parse_body(body)?;
    let org = &caller.organization.id;
    let event = tx.audit_event(org, &req.event_id).await?.ok_or_else(|| {
        Error::NotFound(format!("no audit event `{}` in this organization", crate::crypto::clip(&req.event_id)))
    })?;
    let checkpoint = checkpoint(caller, tx, parse_size("treeSize", req.tree_size.as_deref())?).await?;
    if event.seq > checkpoint.size {
        return Err(Error::FailedPrecondition(format!(
            "event seq {} is newer than the checkpoint of size {}; ask again after the next checkpoint",
            event.seq, checkpoint.size
        )));
    }
    let (index, size) = (size_of(event.seq - 1), size_of(checkpoint.size));
    let nodes = tx.audit_tree_nodes(org, &inclusion_nodes(index, size).map_err(proof_error)?).await?;
    let proof = twofold_tlog::inclusion_proof(&nodes, index, size).map_err(proof_error)?;
    let leaf = audit::leaf(&event);
    super::query::to_json(ProofAnswer {
        event_id: event.id,
        leaf_index: index.to_string(),
        leaf_hash: hex::encode(leaf_hash(&leaf)),
        leaf: String::from_utf8_lossy(&leaf).into_owned(),
        inclusion_proof: proof.iter().map(hex::encode).collect(),
        checkpoint: checkpoint.into(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsistencyRequest {
    from_size: String,
    #[serde(default)]
    to_size: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConsistencyAnswer {
    from_size: String,
    to_size: String,
    /// RFC 9162 §2.1.4.1, hex.
    consistency_proof: Vec<String>,
    checkpoint: CheckpointView,
}

/// `query/get_audit_consistency_proof`: that the tree of `fromSize` (a checkpoint a
/// witness kept) is a prefix of the signed tree of `toSize` (the latest without one).
pub(super) async fn get_consistency(caller: &Caller, tx: &mut dyn StoreTx, body: &[u8]) -> Result<Value> {
    let req: ConsistencyRequest = parse_body(body)?;
    let from = parse_size("fromSize", Some(&req.from_size))?.unwrap_or(0);
    let to = checkpoint(caller, tx, parse_size("toSize", req.to_size.as_deref())?).await?;
    if from > to.size {
        return Err(Error::invalid(format!("fromSize {from} is past the checkpoint of size {}", to.size)));
    }
    let (old, new) = (size_of(from), size_of(to.size));
    let nodes =
        tx.audit_tree_nodes(&caller.organization.id, &consistency_nodes(old, new).map_err(proof_error)?).await?;
    let proof = twofold_tlog::consistency_proof(&nodes, old, new).map_err(proof_error)?;
    super::query::to_json(ConsistencyAnswer {
        from_size: old.to_string(),
        to_size: new.to_string(),
        consistency_proof: proof.iter().map(hex::encode).collect(),
        checkpoint: to.into(),
    })
}
