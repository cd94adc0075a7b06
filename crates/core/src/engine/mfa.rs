//! Step-up MFA in the pipeline: which of a user's MFA policies applies to an activity
//! (the first by `order` whose condition holds), what that user has proven so far (the
//! stamp of their vote, then each step-up approval), and the MFA-policy activities and
//! queries.

use super::account::OwnCredentials;
use super::decide::{Approver, Outcome, ProgramCache, Subject};
use super::settle::OutcomeLine;
use crate::error::{Error, Result};
use crate::mfa::{self, Proven};
use crate::model::{Activity, MfaPolicy, MfaProof, Vote};
use crate::store::StoreTx;

/// Where one user stands with MFA on one activity.
#[derive(Debug, Clone)]
pub(crate) struct UserMfa {
    /// The user.
    pub user_id: String,
    /// The MFA policy enforced for them, if any of theirs applies.
    pub policy: Option<MfaPolicy>,
    /// Why `policy` applies although its condition could not be evaluated (it fails
    /// closed: an MFA policy whose condition errors counts as matching).
    pub error: Option<String>,
    /// What they proved, in order.
    pub proofs: Vec<Proven>,
    /// For each step of `policy`, the proof that satisfied it.
    pub assigned: Vec<Option<usize>>,
    /// Evaluation steps their MFA-policy conditions took.
    pub steps: u64,
}

impl UserMfa {
    /// Whether nothing more is required of this user.
    pub fn satisfied(&self) -> bool {
        self.policy.is_none() || mfa::next_open(&self.assigned).is_none()
    }

    /// The index of the step the user's next approval must prove, if one is open.
    pub fn next_step(&self) -> Option<usize> {
        self.policy.as_ref().and(mfa::next_open(&self.assigned))
    }

    /// Checks that `proof` satisfies the next open step; the error names what is needed.
    pub fn check_next(&self, proof: &Proven) -> Result<()> {
        let (Some(policy), Some(step)) = (&self.policy, self.next_step()) else {
            return Err(Error::AlreadyExists(format!(
                "user `{}` has already voted on this activity and owes no further authentication",
                self.user_id
            )));
        };
        let group = &policy.required_methods[step];
        if mfa::group_accepts(group, proof) {
            return Ok(());
        }
        Err(Error::FailedPrecondition(format!(
            "MFA policy `{}` step {} of {} needs {}; this approval proves {}",
            policy.name,
            step + 1,
            policy.required_methods.len(),
            mfa::describe(group),
            proof.method
        )))
    }

    /// Turnkey's `v1MfaStatus`.
    pub fn view(&self) -> Option<crate::api::MfaStatusView> {
        let policy = self.policy.as_ref()?;
        let satisfied_methods = self
            .assigned
            .iter()
            .flatten()
            .map(|&i| crate::api::ProvenMethod {
                method: self.proofs[i].method.clone(),
                id: self.proofs[i].credential_id.clone(),
            })
            .collect();
        Some(crate::api::MfaStatusView {
            mfa_policy_id: policy.id.clone(),
            user_id: self.user_id.clone(),
            satisfied: self.satisfied(),
            satisfied_methods,
            required_methods: policy.required_methods.clone(),
            reason: self.error_reason(),
        })
    }

    /// Why the enforced policy applies though its condition errored, if it did.
    fn error_reason(&self) -> Option<String> {
        self.error.as_ref().map(|why| {
            format!(
                "condition could not be evaluated ({why}); an MFA policy whose condition cannot be evaluated \
                 applies (fail closed)"
            )
        })
    }

    /// This user's lines in the activity's recorded policy evaluations.
    pub fn evaluations(&self) -> Vec<OutcomeLine> {
        let mut out = Vec::new();
        if let Some(p) = &self.policy {
            let (outcome, mut reason) = match self.next_step() {
                Some(step) => (
                    Outcome::RequiresAuthenticators.as_str(),
                    format!(
                        "step {} of {} needs {}",
                        step + 1,
                        p.required_methods.len(),
                        mfa::describe(&p.required_methods[step])
                    ),
                ),
                None => (Outcome::Allow.as_str(), "every step is proven".to_owned()),
            };
            if let Some(why) = self.error_reason() {
                reason = format!("{why}: {reason}");
            }
            out.push(OutcomeLine {
                policy_id: p.id.clone(),
                policy_type: Some("MFA_POLICY"),
                user_id: Some(self.user_id.clone()),
                outcome,
                reason,
            });
        }
        out
    }
}

/// The MFA policy enforced for `approver`: the first of `policies` (sorted by order)
/// whose condition holds *or cannot be evaluated* — an error fails closed, so an
/// erroring policy earlier in order is the one enforced — with the error, if that is
/// why it applies. The user's conditions share one evaluation budget.
fn applicable(
    programs: &ProgramCache,
    policies: Vec<MfaPolicy>,
    subject: &Subject<'_>,
    approver: &Approver,
    now: i64,
) -> (Option<MfaPolicy>, Option<String>, u64) {
    let budget = programs.budget();
    let approvers = std::slice::from_ref(approver);
    let digest = subject.digest(approvers, now);
    for p in policies {
        match subject.holds_within(programs, &budget, digest.as_ref(), "condition", &p.condition, approvers, now) {
            Ok(true) => return (Some(p), None, budget.spent()),
            Ok(false) => {}
            Err(why) => return (Some(p), Some(why), budget.spent()),
        }
    }
    (None, None, budget.spent())
}

/// What `user_id` has proven on an activity: their vote's stamp, then step-ups in order.
fn proofs_of(user_id: &str, votes: &[Vote], steps: &[MfaProof]) -> Vec<Proven> {
    let stamp = votes.iter().filter(|v| v.user_id == user_id && v.approve).map(|v| Proven {
        method: v.proofs.first().cloned().unwrap_or_default(),
        credential_id: v.credential_id.clone(),
    });
    let rest = steps
        .iter()
        .filter(|p| p.user_id == user_id)
        .map(|p| Proven { method: p.method.clone(), credential_id: p.credential_id.clone() });
    stamp.chain(rest).collect()
}

/// What step-up is asked of the voters of one activity.
pub(super) struct StepUp<'a> {
    /// The activity as policies see it.
    pub subject: &'a Subject<'a>,
    /// How it touches its initiator's own credentials.
    pub own: OwnCredentials<'a>,
    /// When it was created, ms (proofs of the account-level rule come from factors bound by then).
    pub created_at: i64,
}

/// MFA standing of every approving voter of an activity, in vote order. The initiator's own
/// credential management is not gated by their MFA policies but by the account-level rule.
pub(super) async fn states(
    tx: &mut dyn StoreTx,
    programs: &ProgramCache,
    step_up: &StepUp<'_>,
    org_id: &str,
    approvers: &[Approver],
    votes: &[Vote],
    now: i64,
) -> Result<Vec<UserMfa>> {
    let Some(first) = votes.first() else { return Ok(Vec::new()) };
    let steps = tx.list_mfa_proofs(&first.activity_id).await?;
    let mut out = Vec::with_capacity(approvers.len());
    for approver in approvers {
        let (policy, error, spent) = match step_up.own {
            OwnCredentials::Binds(user) if user == approver.id => {
                (super::account::requirement(tx, org_id, user, step_up.created_at).await?, None, 0)
            }
            OwnCredentials::Manages(user) if user == approver.id => (None, None, 0),
            _ => {
                let policies = tx.list_mfa_policies(org_id, Some(&approver.id)).await?;
                applicable(programs, policies, step_up.subject, approver, now)
            }
        };
        let proofs = proofs_of(&approver.id, votes, &steps);
        let assigned = policy.as_ref().map(|p| mfa::assign(&p.required_methods, &proofs)).unwrap_or_default();
        out.push(UserMfa { user_id: approver.id.clone(), policy, error, proofs, assigned, steps: spent });
    }
    Ok(out)
}

/// The MFA standing on `activity` of every voter, or of `only` that user, as settling
/// would compute it now.
pub(crate) async fn activity_states(
    programs: &ProgramCache,
    tx: &mut dyn StoreTx,
    activity: &Activity,
    only: Option<&str>,
    now: i64,
) -> Result<Vec<UserMfa>> {
    let (kind, version, intent) = super::settle::stored_intent(activity)?;
    let params = intent.policy_params();
    let subject = Subject::of(kind, version, &intent, &params);
    let step_up = StepUp {
        subject: &subject,
        own: OwnCredentials::of(&intent, &activity.initiator_user_id),
        created_at: activity.created_at,
    };
    let mut votes = tx.list_votes(&activity.id).await?;
    votes.retain(|v| only.is_none_or(|u| v.user_id == u));
    let org_id = &activity.organization_id;
    let approvers = super::settle::voters(tx, org_id, &votes).await?;
    states(tx, programs, &step_up, org_id, &approvers, &votes, now).await
}
