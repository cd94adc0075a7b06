//! Approvals and rejections by fingerprint: recorded on the activity they name,
//! counted under that activity's row lock, and settled at once.

use super::{Caller, Engine, activity_view};
use crate::api::ActivityView;
use crate::error::{Error, Result};
use crate::model::ActivityStatus;

impl Engine {
    /// Records `caller`'s approval (`approve`) or rejection of the activity with
    /// `fingerprint` and settles it. Resending the identical request is harmless.
    pub(super) async fn vote(
        &self,
        caller: &Caller,
        approve: bool,
        fingerprint: &str,
        body: &[u8],
        proofs: Vec<String>,
    ) -> Result<ActivityView> {
        let now = self.clock.now_ms();
        let mut tx = self.store.write().await?;
        let mut activity = tx.lock_activity(&caller.organization.id, fingerprint).await?.ok_or_else(|| {
            Error::NotFound(format!("no activity with fingerprint `{fingerprint}` in this organization"))
        })?;
        let votes = tx.list_votes(&activity.id).await?;
        if let Some(previous) = votes.iter().find(|v| v.user_id == caller.user.id) {
            if previous.message.as_bytes() == body {
                // A retried request: answer as the first time did.
                return activity_view(&mut *tx, &activity, &caller.user.id).await;
            }
            return Err(Error::AlreadyExists(format!(
                "user `{}` has already voted on activity `{}`",
                caller.user.id, activity.id
            )));
        }
        if activity.status != ActivityStatus::ConsensusNeeded {
            return Err(Error::FailedPrecondition(format!(
                "activity `{}` is {}; only activities waiting for consensus take votes",
                activity.id,
                activity.status.as_str()
            )));
        }
        let vote = caller.vote(&activity.id, approve, body, proofs, now);
        let view = self.record_and_settle(&mut *tx, &mut activity, caller, &vote, now).await?;
        tx.commit().await?;
        tracing::info!(activity_id = %activity.id, approve, status = activity.status.as_str(), "vote recorded");
        Ok(view)
    }
}
