//! Settling an activity: decide with the votes so far and apply the outcome —
//! execute (inside a savepoint, so a failed execution leaves no effects), wait,
//! deny or reject — recording the policy outcomes of the decision.

use std::collections::HashMap;

use serde_json::value::RawValue;

use super::decide::{self, Approver, Decision, DecisionInput, ProgramCache, Subject};
use super::{execute, failure_json, new_id};
use crate::activities;
use crate::activities::Intent;
use crate::error::{Error, Result};
use crate::model::{Activity, ActivityStatus, Organization, PolicyEvaluationRecord, Vote};
use crate::store::{StoreError, StoreTx};

/// The credential type a vote's stamp proves.
fn credential_type(vote: &Vote) -> &'static str {
    match vote.scheme.as_str() {
        super::WEBAUTHN_SCHEME => "CREDENTIAL_TYPE_WEBAUTHN_AUTHENTICATOR",
        "SIGNATURE_SCHEME_TK_API_ED25519" => "CREDENTIAL_TYPE_API_KEY_ED25519",
        _ if vote.proofs.iter().any(|p| p == "AUTHENTICATION_TYPE_SESSION") => {
            "CREDENTIAL_TYPE_READ_WRITE_SESSION_KEY_P256"
        }
        _ => "CREDENTIAL_TYPE_API_KEY_P256",
    }
}

/// Whether the initiator acts on its own credentials (always allowed, like Turnkey).
fn own_credentials(intent: &Intent, initiator: &str) -> bool {
    intent.own_credential_target() == Some(initiator) || matches!(intent, Intent::StampLogin(_))
}

/// Users of the organization as policies see them, keyed by id, with their tags by id
/// and by name: the users in `only`, or everyone when `only` is `None`.
async fn people(tx: &mut dyn StoreTx, org_id: &str, only: Option<&[&str]>) -> Result<HashMap<String, Approver>> {
    let users = match only {
        None => tx.list_users(org_id).await?,
        Some(ids) => {
            let mut users = Vec::with_capacity(ids.len());
            for id in ids {
                users.extend(tx.get_user(org_id, id).await?);
            }
            users
        }
    };
    let tags = tx.list_user_tags(org_id).await?;
    let memberships = match (tags.is_empty(), only) {
        (true, _) => Vec::new(),
        (false, Some(ids)) => tx.tag_memberships_of(org_id, ids).await?,
        (false, None) => tx.user_tag_memberships(org_id).await?,
    };
    Ok(users
        .into_iter()
        .map(|u| {
            let mut refs = Vec::new();
            for (_, tag_id) in memberships.iter().filter(|(uid, _)| *uid == u.id) {
                if let Some(t) = tags.iter().find(|t| &t.id == tag_id) {
                    refs.push(t.name.clone());
                }
                refs.push(tag_id.clone());
            }
            let approver = Approver {
                id: u.id.clone(),
                tags: refs,
                email: u.email,
                name: u.name,
                credential_id: String::new(),
                credential_type: "",
                public_key: String::new(),
            };
            (u.id, approver)
        })
        .collect())
}

/// The approvers of `votes` (approvals only, in order), with the credential each voted with.
fn approvers(people: &HashMap<String, Approver>, votes: &[Vote]) -> Vec<Approver> {
    votes
        .iter()
        .filter(|v| v.approve)
        .filter_map(|v| {
            people.get(&v.user_id).map(|p| Approver {
                credential_id: v.credential_id.clone(),
                credential_type: credential_type(v),
                public_key: v.public_key.clone(),
                ..p.clone()
            })
        })
        .collect()
}

/// The approving voters of `votes` as policies see them, with the credential each voted with.
pub(super) async fn voters(tx: &mut dyn StoreTx, org_id: &str, votes: &[Vote]) -> Result<Vec<Approver>> {
    let ids: Vec<&str> = votes.iter().map(|v| v.user_id.as_str()).collect();
    let people = people(tx, org_id, Some(&ids)).await?;
    Ok(approvers(&people, votes))
}

/// The intent stored with an activity.
pub(super) fn stored_intent(
    activity: &Activity,
) -> Result<(&'static activities::ActivityKind, &'static activities::TypeVersion, Intent)> {
    let corrupt = |what: &str| Error::Store(StoreError::Backend(format!("activity {}: {what}", activity.id)));
    let (kind, version) = activities::kind_for_type(&activity.activity_type).ok_or_else(|| corrupt("unknown type"))?;
    let intent: HashMap<String, Box<RawValue>> =
        serde_json::from_str(&activity.intent).map_err(|_| corrupt("intent is not JSON"))?;
    let params = intent.get(version.intent_key).ok_or_else(|| corrupt("intent key missing"))?;
    Ok((kind, version, Intent::parse(kind.operation, params)?))
}

/// Organizations whose decisions recently took many evaluation steps, whose next submissions
/// are decided first on a read snapshot ([`Settler::judge`] outside the write transaction).
/// Deciding twice costs a few reads; for the cheap decisions of most organizations it is not
/// worth them, so only a decision of at least [`COSTLY_STEPS`] marks its organization, for
/// [`COSTLY_FOR_MS`]. Steps, not wall time: a loaded machine does not mark everyone.
#[derive(Debug, Default)]
pub(super) struct CostlyOrgs(std::sync::Mutex<HashMap<String, i64>>);

/// Evaluation steps a decision may take before its organization's decisions are made outside
/// the write transaction first (a tenth of the default budget; an ordinary condition takes
/// a few dozen).
const COSTLY_STEPS: u64 = 10_000;
/// How long an organization stays marked after its last costly settle.
const COSTLY_FOR_MS: i64 = 10 * 60 * 1000;
/// Organizations remembered at once (a bound, not a tuning knob).
const MAX_COSTLY_ORGS: usize = 10_000;

impl CostlyOrgs {
    /// Notes how many evaluation steps a decision in `org_id` took at `now`.
    pub(super) fn observe(&self, org_id: &str, steps: u64, now: i64) {
        if steps < COSTLY_STEPS {
            return;
        }
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= MAX_COSTLY_ORGS && !map.contains_key(org_id) {
                map.retain(|_, at| *at + COSTLY_FOR_MS > now);
                if map.len() >= MAX_COSTLY_ORGS {
                    map.clear();
                }
            }
            map.insert(org_id.to_owned(), now);
        }
    }

    /// Whether a settle of `org_id` was costly within [`COSTLY_FOR_MS`] before `now`.
    pub(super) fn recently(&self, org_id: &str, now: i64) -> bool {
        self.0.lock().ok().and_then(|m| m.get(org_id).copied()).is_some_and(|at| at + COSTLY_FOR_MS > now)
    }
}

/// What settling needs from the engine.
pub(super) struct Settler<'a> {
    /// Compiled policies.
    pub programs: &'a ProgramCache,
    /// Factor settings, for executing factor activities.
    pub factors: &'a super::FactorConfig,
    /// The session signing key.
    pub signer: Option<&'a crate::factors::session::SessionSigner>,
    /// Caps on policy counts.
    pub limits: &'a decide::PolicyLimits,
    /// Where costly decisions are noted.
    pub costly: &'a CostlyOrgs,
    /// Whether judgements report the sub-expression that decided each policy (the dry run).
    pub explain: bool,
    /// Tag names that make their users administrators (`--mfa-admin-tags`).
    pub admin_tags: &'a [String],
    /// OIDC issuers' keys.
    pub oidc: &'a crate::oidc::JwksCache,
}

/// What the votes so far come to, before anything is written.
pub(super) struct Judgement {
    version: &'static activities::TypeVersion,
    intent: Intent,
    /// The outcomes to record: the MFA policies', then the policies'.
    pub outcomes: Vec<OutcomeLine>,
    /// The policies' outcomes, typed (empty when step-up held it before policies).
    pub evaluations: Vec<decide::Evaluation>,
    /// Where it leaves the activity.
    pub verdict: Verdict,
    /// Evaluation steps the MFA conditions and the policies took.
    steps: u64,
}

/// Where a judgement leaves the activity.
pub(super) enum Verdict {
    /// The initiator's step-up is not done: it waits for it, unless its initiator rejected it.
    StepUp { rejected_by_initiator: bool },
    /// Policies decided; `rejected` says why the votes against it end it.
    Decided { decision: Decision, rejected: Option<String> },
}

impl Settler<'_> {
    /// Decides `activity` with `votes`, reading only. Settling calls it inside the write
    /// transaction; a submission calls it first on a read snapshot (see
    /// [`decide::ContextDigest`]), so the conditions are evaluated before the write lock is
    /// taken and the write transaction finds their results remembered.
    pub(super) async fn judge(
        &self,
        tx: &mut dyn StoreTx,
        activity: &Activity,
        org: &Organization,
        votes: &[Vote],
        now: i64,
    ) -> Result<Judgement> {
        let programs = self.programs;
        let (kind, version, intent) = stored_intent(activity)?;
        let all_approvers = voters(tx, &org.id, votes).await?;
        let params = intent.policy_params();
        let subject = Subject::of(kind, version, &intent, &params);

        // Step-up MFA first: the initiator's applicable MFA policy must be satisfied before
        // policies are consulted, and another voter counts only once theirs is.
        let step_up = super::mfa::StepUp {
            subject: &subject,
            own: super::account::OwnCredentials::of(&intent, &activity.initiator_user_id),
            created_at: activity.created_at,
        };
        let mfa = super::mfa::states(tx, programs, &step_up, &org.id, &all_approvers, votes, now).await?;
        let mut outcomes: Vec<OutcomeLine> = mfa.iter().flat_map(super::mfa::UserMfa::evaluations).collect();
        let pending = |user: &str| mfa.iter().any(|m| m.user_id == user && !m.satisfied());
        let mfa_steps: u64 = mfa.iter().map(|m| m.steps).sum();
        if pending(&activity.initiator_user_id) && activity.status != ActivityStatus::Rejected {
            let rejected_by_initiator = votes.iter().any(|v| v.user_id == activity.initiator_user_id && !v.approve);
            let verdict = Verdict::StepUp { rejected_by_initiator };
            return Ok(Judgement { version, intent, outcomes, evaluations: Vec::new(), verdict, steps: mfa_steps });
        }
        let approving: Vec<Approver> = all_approvers.into_iter().filter(|a| !pending(&a.id)).collect();

        let quorum = tx.root_quorum_members(&org.id).await?;
        let policies = tx.list_policies(&org.id).await?;
        let mut input = DecisionInput {
            kind,
            activity_type: version.type_name,
            resource: subject.resource,
            action: subject.action,
            params: &params,
            quorum_members: &quorum,
            threshold: org.root_quorum_threshold,
            initiator: &activity.initiator_user_id,
            approvers: &approving,
            policies: &policies,
            own_credentials: own_credentials(&intent, &activity.initiator_user_id),
            now_ms: now,
            programs,
        };
        let (decision, evaluations, steps) = decide::decide_with(&input, self.explain);

        let mut rejected = None;
        if decision == Decision::ConsensusNeeded {
            let rejecters: Vec<&Vote> = votes.iter().filter(|v| !v.approve).collect();
            if let Some(root) = rejecters.iter().find(|v| quorum.contains(&v.user_id)) {
                rejected = Some(format!("rejected by root quorum member `{}`", root.user_id));
            } else if !rejecters.is_empty() {
                // After a rejection: could the users who have not voted yet still carry it?
                // If not, it is over. (Only here is the whole organization loaded.)
                let people = people(tx, &org.id, None).await?;
                let mut potential = approving.clone();
                // Everyone who has not rejected could still approve (or finish their MFA).
                let undecided = |p: &&Approver| {
                    !approving.iter().any(|a| a.id == p.id) && !rejecters.iter().any(|v| v.user_id == p.id)
                };
                potential.extend(people.values().filter(undecided).cloned());
                input.approvers = &potential;
                if decide::decide(&input).0 != Decision::Allow {
                    rejected = Some("rejected: the remaining voters can no longer reach consensus".to_owned());
                }
            }
        }
        outcomes.extend(evaluations.iter().map(|e| OutcomeLine {
            policy_id: e.policy_id.clone(),
            policy_type: None,
            user_id: None,
            outcome: e.outcome.as_str(),
            reason: e.reason.clone(),
        }));
        let verdict = Verdict::Decided { decision, rejected };
        Ok(Judgement { version, intent, outcomes, evaluations, verdict, steps: mfa_steps + steps })
    }

    /// Decides `activity` with its votes and applies the outcome to it (the caller writes
    /// it). Returns secrets to show once to the user they belong to, if execution made any.
    pub(super) async fn settle(
        &self,
        tx: &mut dyn StoreTx,
        activity: &mut Activity,
        org: &Organization,
        vote_id: &str,
        now: i64,
    ) -> Result<Option<(String, serde_json::Value)>> {
        let votes = tx.list_votes(&activity.id).await?;
        let Judgement { version, intent, outcomes, verdict, steps, .. } =
            self.judge(tx, activity, org, &votes, now).await?;
        self.costly.observe(&org.id, steps, now);
        let decision = match verdict {
            Verdict::StepUp { rejected_by_initiator } => {
                if rejected_by_initiator {
                    activity.status = ActivityStatus::Rejected;
                    activity.failure =
                        Some(failure_json(&Error::PermissionDenied("rejected by its initiator".to_owned())));
                } else {
                    activity.status = ActivityStatus::AuthenticatorsNeeded;
                }
                record_evaluations(tx, activity, vote_id, outcomes, now).await?;
                activity.updated_at = now;
                return Ok(None);
            }
            Verdict::Decided { rejected: Some(reason), .. } => {
                activity.status = ActivityStatus::Rejected;
                activity.failure = Some(failure_json(&Error::PermissionDenied(reason.clone())));
                Decision::Deny(reason)
            }
            Verdict::Decided { decision, rejected: None } => decision,
        };
        record_evaluations(tx, activity, vote_id, outcomes, now).await?;

        let mut reveal = None;
        match decision {
            Decision::Allow => {
                // A cap refuses the request itself (4xx), so nothing of it is stored.
                check_caps(tx, self.limits, &org.id, &intent).await?;
                tx.savepoint("execute").await?;
                let ctx = crate::activities::ExecContext {
                    org_id: &org.id,
                    initiator_user_id: &activity.initiator_user_id,
                    now,
                    factors: self.factors,
                    signer: self.signer,
                    fingerprint: &activity.fingerprint,
                    admin_tags: self.admin_tags,
                    oidc: self.oidc,
                };
                match execute::execute(tx, &ctx, &intent).await {
                    Ok(done) => {
                        tx.release("execute").await?;
                        activity.status = ActivityStatus::Completed;
                        activity.result = Some(format!("{{\"{}\":{}}}", version.result_key, done.result));
                        reveal = done.reveal;
                    }
                    Err(Error::Store(StoreError::Backend(e))) => return Err(StoreError::Backend(e).into()),
                    Err(e) => {
                        tx.rollback_to("execute").await?;
                        tx.release("execute").await?;
                        activity.status = ActivityStatus::Failed;
                        activity.failure = Some(failure_json(&e));
                    }
                }
            }
            Decision::ConsensusNeeded => activity.status = ActivityStatus::ConsensusNeeded,
            Decision::Deny(reason) => {
                if activity.status != ActivityStatus::Rejected {
                    activity.status = ActivityStatus::Failed;
                    activity.failure = Some(failure_json(&Error::PermissionDenied(reason)));
                }
            }
        }
        activity.updated_at = now;
        Ok(reveal)
    }
}

/// Refuses an allowed activity that would take the organization past a policy-count
/// cap. The organization row is locked first (as for an audit append), so concurrent
/// creations on other nodes are serialized and cannot overshoot.
async fn check_caps(tx: &mut dyn StoreTx, limits: &decide::PolicyLimits, org_id: &str, intent: &Intent) -> Result<()> {
    let adding = match intent {
        Intent::CreatePolicy(_) => 1,
        Intent::CreatePolicies(p) => p.policies.len(),
        _ => 0,
    };
    if adding == 0 && !matches!(intent, Intent::CreateMfaPolicy(_)) {
        return Ok(());
    }
    tx.lock_audit_head(org_id).await?;
    let policies = tx.list_policies(org_id).await?.len();
    if adding > 0 && policies + adding > limits.max_policies_per_org {
        return Err(Error::FailedPrecondition(format!(
            "this organization has {policies} policies and may have at most {} \
             (--max-policies-per-org); delete one first",
            limits.max_policies_per_org
        )));
    }
    if let Intent::CreateMfaPolicy(p) = intent {
        let theirs = tx.list_mfa_policies(org_id, Some(&p.user_id)).await?.len();
        if theirs >= limits.max_mfa_policies_per_user {
            return Err(Error::FailedPrecondition(format!(
                "user `{}` has {theirs} MFA policies and may have at most {} \
                 (--max-mfa-policies-per-user); delete one first",
                crate::crypto::clip(&p.user_id),
                limits.max_mfa_policies_per_user
            )));
        }
    }
    Ok(())
}

/// One line of an activity's recorded policy evaluations (what `get_policy_evaluations` lists).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutcomeLine {
    /// The policy or MFA policy.
    pub policy_id: String,
    /// `MFA_POLICY` for a step-up rule; absent for a policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_type: Option<&'static str>,
    /// The user an MFA policy binds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// `OUTCOME_ALLOW`, `OUTCOME_DENY`, …
    pub outcome: &'static str,
    /// Why.
    pub reason: String,
}

/// Records the policy outcomes one decision was made with.
async fn record_evaluations(
    tx: &mut dyn StoreTx,
    activity: &Activity,
    vote_id: &str,
    outcomes: Vec<OutcomeLine>,
    now: i64,
) -> Result<()> {
    tx.insert_policy_evaluation(&PolicyEvaluationRecord {
        id: new_id(),
        activity_id: activity.id.clone(),
        organization_id: activity.organization_id.clone(),
        vote_id: vote_id.to_owned(),
        evaluations: serde_json::to_string(&outcomes).map_err(|e| Error::Internal(e.to_string()))?,
        created_at: now,
    })
    .await?;
    Ok(())
}
