//! Approvals and rejections by fingerprint: recorded on the activity they name,
//! counted under that activity's row lock, and settled at once. A user's first
//! approval is their vote; further approvals by the same user are step-up proofs for
//! the open steps of their MFA policy, one step each, in order. The initiator may
//! cancel (reject) its own pending activity at any time before it completes.

use super::factors::Secret;
use super::{Ballot, Caller, Engine, activity_view, new_id};
use crate::activities;
use crate::api::ActivityView;
use crate::audit;
use crate::error::{Error, Result};
use crate::fields::params;
use crate::intents::VoteIntent;
use crate::mfa::Proven;
use crate::model::{Activity, ActivityStatus, MfaProof};
use crate::store::StoreTx;
use crate::validate::check_code;

/// Whether an activity in `status` still takes approvals.
fn open(status: ActivityStatus) -> bool {
    matches!(status, ActivityStatus::ConsensusNeeded | ActivityStatus::AuthenticatorsNeeded)
}

impl VoteIntent {
    /// The factor secret the approval carries besides its stamp, if any.
    fn secret(&self) -> Option<Secret<'_>> {
        match (&self.totp_code, &self.recovery_code, &self.verification_token) {
            (Some(code), _, _) => Some(Secret::Totp { code: code.expose(), device: None }),
            (None, Some(code), _) => Some(Secret::RecoveryCode(code.expose())),
            (None, None, Some(token)) => Some(Secret::VerificationToken(token.expose())),
            (None, None, None) => None,
        }
    }
}

/// APPROVE_ACTIVITY and REJECT_ACTIVITY: a vote is recorded on the activity it names
/// ([`Engine::vote`]); it has no effects of its own.
impl activities::Activity for VoteIntent {
    type Output = activities::Empty;

    fn check(&self) -> Result<()> {
        let v = self;
        if v.totp_code.is_some() && v.recovery_code.is_some() {
            return Err(Error::invalid("parameters: give `totpCode` or `recoveryCode`, not both"));
        }
        if let Some(code) = &v.totp_code {
            check_code("totpCode", code.expose())?;
        }
        if v.verification_token.is_some() && (v.totp_code.is_some() || v.recovery_code.is_some()) {
            return Err(Error::invalid(
                "parameters: give one of `totpCode`, `recoveryCode` or `verificationToken`, not several",
            ));
        }
        if v.verification_token
            .as_ref()
            .map(crate::fields::Secret::expose)
            .is_some_and(|t| t.is_empty() || t.len() > 8192)
        {
            return Err(Error::invalid("parameters.verificationToken: must be 1 to 8192 characters"));
        }
        if v.recovery_code.as_ref().map(crate::fields::Secret::expose).is_some_and(|c| c.is_empty() || c.len() > 64) {
            return Err(Error::invalid("parameters.recoveryCode: must be 1 to 64 characters"));
        }
        let hex = v.fingerprint.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::invalid(format!(
                "parameters.fingerprint: expected `sha256:` and 64 hex digits, found `{}`",
                crate::crypto::clip(&v.fingerprint)
            )));
        }
        Ok(())
    }

    fn policy_params(&self) -> serde_json::Value {
        params!(self; fingerprint)
    }

    async fn execute(
        &self,
        _tx: &mut dyn StoreTx,
        _ctx: &activities::ExecContext<'_>,
    ) -> Result<activities::Done<activities::Empty>> {
        Err(Error::FailedPrecondition(
            "approvals and rejections are recorded on the activity they name; they do not execute".to_owned(),
        ))
    }
}

impl Engine {
    /// Records `caller`'s approval (`approve`) or rejection of the activity `target`
    /// names and settles it. Resending the identical request is harmless.
    pub(super) async fn vote(
        &self,
        caller: &Caller,
        approve: bool,
        target: &VoteIntent,
        body: &[u8],
    ) -> Result<ActivityView> {
        let stamp = Proven {
            method: caller.credential.authentication_type.to_owned(),
            credential_id: caller.credential.id.clone(),
        };
        let secret = target.secret();
        let mut bound_by = None;
        // A step-up approval must fit the step it is for; check that before a one-time
        // code is spent on it.
        {
            let mut tx = self.store.read().await?;
            if let Some(activity) = tx.get_activity_by_fingerprint(&target.fingerprint).await?
                && activity.organization_id == caller.organization.id
            {
                if self.is_retry(&mut *tx, &activity, caller, body).await? {
                    return activity_view(&mut *tx, &activity, &caller.user.id).await;
                }
                if approve && let Some(state) = self.step_up_state(&mut *tx, &activity, caller).await? {
                    let claimed = match secret {
                        Some(s) => Proven { method: s.factor().authentication_type().to_owned(), ..stamp.clone() },
                        None => stamp.clone(),
                    };
                    // The device or code is not known yet: check the type alone.
                    let mut by_type = state.clone();
                    if let Some(p) = by_type.policy.as_mut() {
                        p.required_methods.iter_mut().flat_map(|g| g.any.iter_mut()).for_each(|m| m.id = None);
                    }
                    by_type.check_next(&claimed)?;
                }
                if approve && let Some(s) = secret {
                    // Only factors bound before the activity may approve it: refuse before a
                    // code is checked (or spent) when every such factor is newer.
                    super::account::require_bound_before(
                        &mut *tx,
                        &caller.organization.id,
                        &caller.user.id,
                        s.factor(),
                        activity.created_at,
                    )
                    .await?;
                    bound_by = Some(activity.created_at);
                }
            }
        }
        let proven = match secret {
            Some(secret) => Some(self.prove(caller, &caller.user.id, secret, bound_by).await?),
            None => None,
        };

        let now = self.clock.now_ms();
        let proofs: Vec<String> = std::iter::once(&stamp).chain(&proven).map(|p| p.method.clone()).collect();
        if self.costly.recently(&caller.organization.id, now) {
            self.prejudge_vote(caller, approve, &target.fingerprint, body, &proofs, now).await;
        }
        let mut tx = self.store.write().await?;
        let mut activity = tx.lock_activity(&caller.organization.id, &target.fingerprint).await?.ok_or_else(|| {
            Error::NotFound(format!("no activity with fingerprint `{}` in this organization", target.fingerprint))
        })?;
        if self.is_retry(&mut *tx, &activity, caller, body).await? {
            return activity_view(&mut *tx, &activity, &caller.user.id).await;
        }
        let initiator = activity.initiator_user_id == caller.user.id;
        if !approve && initiator && activity.status == ActivityStatus::Rejected {
            // A resent cancellation, or one after another voter's rejection: nothing changes.
            return activity_view(&mut *tx, &activity, &caller.user.id).await;
        }
        if !open(activity.status) {
            return Err(Error::FailedPrecondition(format!(
                "activity `{}` is {}; only activities waiting for consensus or authenticators take votes",
                activity.id,
                activity.status.as_str()
            )));
        }
        let voted = tx.list_votes(&activity.id).await?.iter().any(|v| v.user_id == caller.user.id);
        let view = if voted && !approve && initiator {
            self.cancel(&mut *tx, &mut activity, caller, now).await?
        } else if voted {
            let state = match self.step_up_state(&mut *tx, &activity, caller).await? {
                Some(state) if approve => state,
                _ => {
                    return Err(Error::AlreadyExists(format!(
                        "user `{}` has already voted on activity `{}`",
                        caller.user.id, activity.id
                    )));
                }
            };
            let proof = proven.unwrap_or(stamp);
            state.check_next(&proof)?;
            super::account::check_bound_before(
                &mut *tx,
                &caller.organization.id,
                &proof.credential_id,
                activity.created_at,
            )
            .await?;
            let step = self.mfa_proof(caller, &activity, &proof, body, now);
            self.record_and_settle(&mut *tx, &mut activity, caller, Ballot::Proof(&step), now).await?
        } else {
            for p in std::iter::once(&stamp).chain(&proven) {
                super::account::check_bound_before(
                    &mut *tx,
                    &caller.organization.id,
                    &p.credential_id,
                    activity.created_at,
                )
                .await?;
            }
            let vote = caller.vote(&activity.id, approve, body, proofs, now);
            if let Some(p) = &proven {
                // The factor proven alongside a first vote counts as that user's next step.
                tx.insert_mfa_proof(&self.mfa_proof(caller, &activity, p, body, now)).await?;
            }
            self.record_and_settle(&mut *tx, &mut activity, caller, Ballot::Vote(&vote), now).await?
        };
        tx.commit().await?;
        self.deliver_owed_code(&activity).await;
        tracing::info!(activity_id = %activity.id, approve, status = activity.status.as_str(), "vote recorded");
        Ok(view)
    }

    /// A first vote's decision made on a read snapshot before the write transaction (see
    /// [`Engine::prejudge`]); nothing for a user who has voted already.
    async fn prejudge_vote(
        &self,
        caller: &Caller,
        approve: bool,
        fingerprint: &str,
        body: &[u8],
        proofs: &[String],
        now: i64,
    ) {
        let votes = async {
            let mut tx = self.store.read().await?;
            let Some(activity) = tx.get_activity_by_fingerprint(fingerprint).await? else { return Ok(None) };
            let mut votes = tx.list_votes(&activity.id).await?;
            if activity.organization_id != caller.organization.id || votes.iter().any(|v| v.user_id == caller.user.id) {
                return Ok(None);
            }
            votes.push(caller.vote(&activity.id, approve, body, proofs.to_vec(), now));
            Ok::<_, Error>(Some((activity, votes)))
        };
        if let Ok(Some((activity, votes))) = votes.await {
            self.prejudge(&activity, &caller.organization, &votes, now).await;
        }
    }

    /// The initiator withdraws its own pending activity: it becomes REJECTED at once,
    /// whatever consensus or step-up it was waiting for (its first vote, the
    /// submission, stays recorded; the cancellation is in the audit log and on the
    /// webhook).
    async fn cancel(
        &self,
        tx: &mut dyn StoreTx,
        activity: &mut Activity,
        caller: &Caller,
        now: i64,
    ) -> Result<ActivityView> {
        let before = activity.status;
        activity.status = ActivityStatus::Rejected;
        activity.failure = Some(super::failure_json(&Error::PermissionDenied("cancelled by its initiator".to_owned())));
        activity.updated_at = now;
        tx.update_activity(activity).await?;
        crate::webhook::enqueue(tx, activity, before, now).await?;
        let details =
            serde_json::json!({ "activityType": activity.activity_type, "fingerprint": activity.fingerprint });
        let event = |event_type, outcome, details| audit::NewEvent {
            event_type,
            outcome,
            actor_user_id: Some(&caller.user.id),
            actor_credential_id: Some(&caller.credential.id),
            subject: Some(&activity.id),
            details,
        };
        let mut change = details.clone();
        change["from"] = serde_json::json!(before.as_str());
        change["reason"] = serde_json::json!("cancelled by its initiator");
        let events = [event("VOTE", "CANCELLED", details), event("ACTIVITY_STATUS", activity.status.as_str(), change)];
        audit::append_all(tx, &caller.organization.id, now, events).await?;
        activity_view(tx, activity, &caller.user.id).await
    }

    /// Whether this exact request was already recorded (as the caller's vote or step-up).
    async fn is_retry(&self, tx: &mut dyn StoreTx, activity: &Activity, caller: &Caller, body: &[u8]) -> Result<bool> {
        let mine = |user: &str, message: &str| user == caller.user.id && message.as_bytes() == body;
        if tx.list_votes(&activity.id).await?.iter().any(|v| mine(&v.user_id, &v.message)) {
            return Ok(true);
        }
        Ok(tx.list_mfa_proofs(&activity.id).await?.iter().any(|p| mine(&p.user_id, &p.message)))
    }

    /// The caller's MFA standing on `activity` if they voted and still owe steps.
    async fn step_up_state(
        &self,
        tx: &mut dyn StoreTx,
        activity: &Activity,
        caller: &Caller,
    ) -> Result<Option<super::mfa::UserMfa>> {
        let now = self.clock.now_ms();
        // Only an approval is a vote the user can step up from (`voters` keeps approvals).
        let states = super::mfa::activity_states(&self.programs, tx, activity, Some(&caller.user.id), now).await?;
        Ok(states.into_iter().find(|s| s.next_step().is_some()))
    }

    /// The record of `proof` by `caller` on `activity`, stamped by `body`.
    fn mfa_proof(&self, caller: &Caller, activity: &Activity, proof: &Proven, body: &[u8], now: i64) -> MfaProof {
        let (public_key, scheme, signature) = caller.stamp_record();
        MfaProof {
            id: new_id(),
            activity_id: activity.id.clone(),
            user_id: caller.user.id.clone(),
            credential_id: proof.credential_id.clone(),
            method: proof.method.clone(),
            message: String::from_utf8_lossy(body).into_owned(),
            public_key,
            signature,
            scheme,
            created_at: now,
        }
    }
}
