//! The audit log: its events, its hash chain, and the checkpoint, inclusion-proof and
//! consistency-proof queries (docs/OPERATIONS.md, "Audit log proofs").

use serde::{Deserialize, Serialize};
use twofold_tlog::{consistency_nodes, inclusion_nodes, leaf_hash};

use super::{Cx, Db, NoFields, Pagination, Query, not_found};
use crate::api::AuditEventView;
use crate::audit::{self, AuditCheckpoint};
use crate::error::{Error, Result};
use crate::store::StoreTx;

/// `list_audit_events`'s request; times are ms since epoch as strings, like `timestampMs`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ListAuditEventsRequest {
    /// Only events of this actor.
    #[serde(default)]
    pub actor_user_id: Option<String>,
    /// Only events of this type.
    #[serde(default)]
    pub event_type: Option<String>,
    /// Only events with this outcome.
    #[serde(default)]
    pub outcome: Option<String>,
    /// Not before, ms since epoch.
    #[serde(default)]
    pub from_ms: Option<String>,
    /// Not after, ms since epoch.
    #[serde(default)]
    pub to_ms: Option<String>,
    /// Page (`after`: the `seq` of the last event of the previous page).
    #[serde(default)]
    pub pagination_options: Option<Pagination>,
}

/// `list_audit_events`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ListAuditEventsResponse {
    /// Newest first.
    pub audit_events: Vec<AuditEventView>,
}

fn ms(field: &str, v: Option<&String>) -> Result<Option<i64>> {
    v.map(|s| {
        s.parse::<i64>().map_err(|_| {
            Error::invalid(format!(
                "{field} must be milliseconds since the epoch as a decimal string, found `{}`",
                crate::crypto::clip(s)
            ))
        })
    })
    .transpose()
}

/// `list_audit_events`.
pub(crate) struct ListAuditEvents;

impl Query for ListAuditEvents {
    type Request = ListAuditEventsRequest;
    type Response = ListAuditEventsResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: ListAuditEventsRequest) -> Result<ListAuditEventsResponse> {
        let page = req.pagination_options.unwrap_or_default();
        if page.before.is_some() {
            return Err(Error::invalid(
                "paginationOptions.before: audit events page towards older events only; use `after`",
            ));
        }
        let before_seq = match &page.after {
            None => None,
            Some(s) => Some(s.parse::<i64>().map_err(|_| {
                Error::invalid(format!(
                    "paginationOptions.after: pass the `seq` of the last event of the previous page, found `{}`",
                    crate::crypto::clip(s)
                ))
            })?),
        };
        let filter = crate::store::AuditFilter {
            actor_user_id: req.actor_user_id,
            event_type: req.event_type,
            outcome: req.outcome,
            from_ms: ms("fromMs", req.from_ms.as_ref())?,
            to_ms: ms("toMs", req.to_ms.as_ref())?,
            before_seq,
            limit: page.limit()?,
        };
        let events = db.tx().await?.list_audit_events(cx.org(), &filter).await?;
        Ok(ListAuditEventsResponse { audit_events: events.iter().map(AuditEventView::from).collect() })
    }
}

/// `verify_audit_log`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct VerifyAuditLogResponse {
    /// Whether the whole chain holds.
    pub verified: bool,
    /// Events checked before the answer.
    pub events_checked: u64,
    /// The first break, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broken: Option<String>,
}

/// `verify_audit_log`.
pub(crate) struct VerifyAuditLog;

impl Query for VerifyAuditLog {
    type Request = NoFields;
    type Response = VerifyAuditLogResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, _: NoFields) -> Result<VerifyAuditLogResponse> {
        let org = cx.org();
        let tx = db.tx().await?;
        let mut verifier = audit::Verifier::default();
        let mut after = (org.to_owned(), 0);
        loop {
            let page = tx.audit_chain_page(Some((&after.0, after.1)), 500).await?;
            let mine: Vec<_> = page.iter().take_while(|e| e.organization_id == org).collect();
            for e in &mine {
                if let Err(broken) = verifier.check(e) {
                    return Ok(VerifyAuditLogResponse {
                        verified: false,
                        events_checked: verifier.checked,
                        broken: Some(broken.to_string()),
                    });
                }
            }
            match mine.last() {
                Some(last) if mine.len() == page.len() && page.len() == 500 => after = (org.to_owned(), last.seq),
                _ => break,
            }
        }
        Ok(VerifyAuditLogResponse { verified: true, events_checked: verifier.checked, broken: None })
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

/// A signed checkpoint as queries answer it.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CheckpointView {
    /// Whose log.
    pub organization_id: String,
    /// Events in the tree.
    pub tree_size: String,
    /// RFC 9162 root hash, hex.
    pub root_hash: String,
    /// The C2SP signed note, what a witness keeps.
    pub note: String,
    /// When it was signed, ms since epoch.
    pub signed_at: String,
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

/// The checkpoint of `org`'s log at `size` (its latest without one).
async fn checkpoint(tx: &mut dyn StoreTx, org: &str, size: Option<i64>) -> Result<AuditCheckpoint> {
    tx.audit_checkpoint(org, size).await?.ok_or_else(|| match size {
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

/// `get_audit_checkpoint`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CheckpointAnswer {
    /// The latest checkpoint.
    pub checkpoint: CheckpointView,
    /// Keys the checkpoint may be signed with, as Go's `sumdb/note` verifier keys.
    pub verifier_keys: Vec<String>,
}

/// `get_audit_checkpoint`: the latest signed checkpoint of the caller's log.
pub(crate) struct GetAuditCheckpoint;

impl Query for GetAuditCheckpoint {
    type Request = NoFields;
    type Response = CheckpointAnswer;

    async fn run(cx: &Cx<'_>, db: &mut Db, _: NoFields) -> Result<CheckpointAnswer> {
        let checkpoint = checkpoint(db.tx().await?, cx.org(), None).await?;
        Ok(CheckpointAnswer { checkpoint: checkpoint.into(), verifier_keys: cx.engine.verifier_keys() })
    }
}

/// `get_audit_proof`'s request.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ProofRequest {
    /// The event.
    pub event_id: String,
    /// The checkpoint's size; the latest when absent.
    #[serde(default)]
    pub tree_size: Option<String>,
}

/// `get_audit_proof`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ProofAnswer {
    /// The event.
    pub event_id: String,
    /// Its index in the tree.
    pub leaf_index: String,
    /// The leaf as hashed: the event's stored columns as a JSON array.
    pub leaf: String,
    /// RFC 9162 leaf hash, hex.
    pub leaf_hash: String,
    /// Sibling hashes from the leaf up (RFC 9162 §2.1.3.1), hex.
    pub inclusion_proof: Vec<String>,
    /// The checkpoint it is proven against.
    pub checkpoint: CheckpointView,
}

/// `get_audit_proof`: an inclusion proof of one event against a signed checkpoint (the
/// latest, or the one of `treeSize`).
pub(crate) struct GetAuditProof;

impl Query for GetAuditProof {
    type Request = ProofRequest;
    type Response = ProofAnswer;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: ProofRequest) -> Result<ProofAnswer> {
        let org = cx.org();
        let tx = db.tx().await?;
        let event = tx.audit_event(org, &req.event_id).await?.ok_or_else(|| not_found("audit event", &req.event_id))?;
        let checkpoint = checkpoint(tx, org, parse_size("treeSize", req.tree_size.as_deref())?).await?;
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
        Ok(ProofAnswer {
            event_id: event.id,
            leaf_index: index.to_string(),
            leaf_hash: hex::encode(leaf_hash(&leaf)),
            leaf: String::from_utf8_lossy(&leaf).into_owned(),
            inclusion_proof: proof.iter().map(hex::encode).collect(),
            checkpoint: checkpoint.into(),
        })
    }
}

/// `get_audit_consistency_proof`'s request.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConsistencyRequest {
    /// The older tree's size (a checkpoint a witness kept).
    pub from_size: String,
    /// The newer checkpoint's size; the latest when absent.
    #[serde(default)]
    pub to_size: Option<String>,
}

/// `get_audit_consistency_proof`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConsistencyAnswer {
    /// The older size.
    pub from_size: String,
    /// The newer size.
    pub to_size: String,
    /// RFC 9162 §2.1.4.1, hex.
    pub consistency_proof: Vec<String>,
    /// The newer checkpoint.
    pub checkpoint: CheckpointView,
}

/// `get_audit_consistency_proof`: that the tree of `fromSize` is a prefix of the signed
/// tree of `toSize` (the latest without one).
pub(crate) struct GetAuditConsistencyProof;

impl Query for GetAuditConsistencyProof {
    type Request = ConsistencyRequest;
    type Response = ConsistencyAnswer;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: ConsistencyRequest) -> Result<ConsistencyAnswer> {
        let from = parse_size("fromSize", Some(&req.from_size))?.unwrap_or(0);
        let tx = db.tx().await?;
        let to = checkpoint(tx, cx.org(), parse_size("toSize", req.to_size.as_deref())?).await?;
        if from > to.size {
            return Err(Error::invalid(format!("fromSize {from} is past the checkpoint of size {}", to.size)));
        }
        let (old, new) = (size_of(from), size_of(to.size));
        let nodes = tx.audit_tree_nodes(cx.org(), &consistency_nodes(old, new).map_err(proof_error)?).await?;
        let proof = twofold_tlog::consistency_proof(&nodes, old, new).map_err(proof_error)?;
        Ok(ConsistencyAnswer {
            from_size: old.to_string(),
            to_size: new.to_string(),
            consistency_proof: proof.iter().map(hex::encode).collect(),
            checkpoint: to.into(),
        })
    }
}
