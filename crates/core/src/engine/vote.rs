//! Approvals and rejections by fingerprint: recorded on the activity they name,
//! counted under that activity's row lock, and settled at once.

use super::{Caller, Engine, activity_view, new_id, settle};
use crate::api::ActivityView;
use crate::error::{Error, Result};
use crate::model::{ActivityStatus, Vote};

impl Engine {
    /// Records `caller`'s approval (`approve`) or rejection of the activity with
    /// `fingerprint` and settles it. Resending the identical request is harmless.
    pub(super) async fn vote(
        &self,
        caller: &Caller,
        approve: bool,
        fingerprint: &str,
        body: &[u8],
    ) -> Result<ActivityView> {
        let now = self.clock.now_ms();
        let mut tx = self.store.write().await?;
        let mut activity = tx.lock_activity(&caller.organization.id, fingerprint).await?.ok_or_else(|| {
            Error::NotFound(format!("no activity with fingerprint `{fingerprint}` in this organization"))
        })?;
        let message = String::from_utf8_lossy(body).into_owned();
        let votes = tx.list_votes(&activity.id).await?;
        if let Some(previous) = votes.iter().find(|v| v.user_id == caller.user.id) {
            if previous.message == message {
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
        let vote = Vote {
            id: new_id(),
            activity_id: activity.id.clone(),
            user_id: caller.user.id.clone(),
            credential_id: caller.credential.id.clone(),
            approve,
            message,
            public_key: caller.stamp.public_key.clone(),
            signature: caller.stamp.signature.clone(),
            scheme: caller.stamp.scheme.clone(),
            created_at: now,
        };
        tx.insert_vote(&vote).await?;
        settle::settle(&self.programs, &mut *tx, &mut activity, &caller.organization, &vote.id, now).await?;
        tx.update_activity(&activity).await?;
        let view = activity_view(&mut *tx, &activity, &caller.user.id).await?;
        tx.commit().await?;
        tracing::info!(activity_id = %activity.id, approve, status = activity.status.as_str(), "vote recorded");
        Ok(view)
    }
}
