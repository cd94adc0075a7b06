//! The audit log's Merkle trees made checkable from outside: trees caught up with their
//! chains and signed checkpoints issued as they grow; `queries::audit` answers from them
//! (docs/OPERATIONS.md, "Audit log proofs").

use std::sync::Arc;

use twofold_tlog::{Checkpoint, NoteSigner, NoteVerifier, sign_note};

use super::Engine;
use crate::audit::{self, AuditCheckpoint};
use crate::error::{Error, Result};

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

    /// Every key checkpoints may be signed with, as `sumdb/note` verifier keys.
    pub(crate) fn verifier_keys(&self) -> Vec<String> {
        self.config.audit_log.verifiers.iter().map(NoteVerifier::to_vkey).collect()
    }
}
