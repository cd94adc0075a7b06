//! The dry run (`query/evaluate_activity`): an unsigned activity taken through the stages a
//! submission goes through, in the same order and by the same functions — the IP rules,
//! the auth proxy's confinement, the MFA enforcement gate, fresh authentication, the
//! session's scope, then the judgement settling makes (step-up MFA, then policies and
//! consensus) — with nothing written and nothing audited.

use std::net::IpAddr;

use serde_json::value::RawValue;

use super::admission::{key_allow_list, network_lists};
use super::enforcement::{Gate, activity_gate, enrolment_off};
use super::settle::Verdict;
use super::{Caller, CallerCredential, Engine, Request, auth_proxy, new_id};
use crate::activities;
use crate::activities::Intent;
use crate::api::{DecidingView, DryRunActivity, DryRunEvaluation, DryRunView};
use crate::enforcement::EnrollmentStatus;
use crate::engine::decide::{Decision, Subject};
use crate::error::{Error, Result};
use crate::model::{Activity, ActivityStatus, Vote};
use crate::store::StoreTx;

/// What a dry run is asked.
pub(crate) struct DryRunAsk<'a> {
    /// Who would submit it; the caller (with the credential of this request) when `None`.
    pub user_id: Option<&'a str>,
    /// `ACTIVITY_TYPE_...`.
    pub activity_type: &'a str,
    /// The intent.
    pub parameters: &'a RawValue,
    /// The address it would come from; this request's when `None`.
    pub client_ip: Option<IpAddr>,
}

/// Where a stage refused it.
struct Refusal {
    stage: &'static str,
    error: Error,
}

fn refused(stage: &'static str) -> impl FnOnce(Error) -> Refusal {
    move |error| Refusal { stage, error }
}

impl Engine {
    /// Decides `ask` as a submission would be decided now, changing nothing.
    pub(crate) async fn dry_run(
        &self,
        tx: &mut dyn StoreTx,
        caller: &Caller,
        req: &Request<'_>,
        ask: DryRunAsk<'_>,
        now: i64,
    ) -> Result<DryRunView> {
        let (kind, version) = activities::kind_for_type(ask.activity_type).ok_or_else(|| {
            Error::invalid(format!("activity.type: unknown activity type `{}`", crate::crypto::clip(ask.activity_type)))
        })?;
        let intent = Intent::parse(kind.operation, ask.parameters)?;
        intent.check()?;
        if intent.vote().is_some() {
            return Err(Error::invalid(
                "activity.type: an approval or rejection is not dry-run; get_mfa_status and get_activity show where \
                 the activity it is about stands",
            ));
        }
        let (acting, status) = self.acting(tx, caller, req, ask.user_id).await?;
        let params = intent.policy_params();
        let subject = Subject::of(kind, version, &intent, &params);
        let activity = DryRunActivity {
            activity_type: version.type_name.to_owned(),
            kind: activities::version_free(version.type_name).to_owned(),
            resource: subject.resource.to_owned(),
            action: subject.action.to_owned(),
            params: params.clone(),
        };
        let ip = ask.client_ip.or(req.client_ip);
        if let Err(r) = self.stages(tx, &acting, status.as_ref(), &intent, kind, version, ip, now).await {
            return Ok(DryRunView {
                decision: "DECISION_DENY",
                stage: r.stage,
                reason: r.error.to_string(),
                activity,
                policy_evaluations: Vec::new(),
            });
        }

        // The activity and the initiator's vote a submission would record, judged as settling judges them.
        let record = Activity {
            id: new_id(),
            organization_id: acting.organization.id.clone(),
            activity_type: version.type_name.to_owned(),
            intent: format!("{{\"{}\":{}}}", version.intent_key, ask.parameters.get()),
            status: ActivityStatus::Created,
            fingerprint: String::new(),
            result: None,
            failure: None,
            initiator_user_id: acting.user.id.clone(),
            initiator_credential_id: acting.credential.id.clone(),
            created_at: now,
            updated_at: now,
        };
        let vote = dry_vote(&acting, &record.id, now);
        let mut settler = self.settler();
        settler.explain = true;
        let judgement = settler.judge(tx, &record, &acting.organization, std::slice::from_ref(&vote), now).await?;
        let policies = tx.list_policies(&acting.organization.id).await?;
        let name_of = |id: &str| policies.iter().find(|p| p.id == id).map(|p| p.name.clone()).unwrap_or_default();
        let mut evaluations: Vec<DryRunEvaluation> = judgement
            .evaluations
            .iter()
            .map(|e| DryRunEvaluation {
                policy_id: e.policy_id.clone(),
                policy_name: name_of(&e.policy_id),
                outcome: e.outcome.as_str(),
                reason: e.reason.clone(),
                deciding: e.deciding.as_ref().map(|d| DecidingView {
                    field: d.field,
                    text: d.text.clone(),
                    start: d.start,
                    end: d.end,
                }),
            })
            .collect();
        let (decision, stage, reason) = match judgement.verdict {
            Verdict::StepUp { .. } => {
                let line = judgement.outcomes.first();
                let policy_id = line.map(|l| l.policy_id.clone()).unwrap_or_default();
                let why = line.map(|l| l.reason.clone()).unwrap_or_default();
                evaluations.insert(
                    0,
                    DryRunEvaluation {
                        policy_id,
                        policy_name: String::new(),
                        outcome: "OUTCOME_REQUIRES_AUTHENTICATORS",
                        reason: why.clone(),
                        deciding: None,
                    },
                );
                let reason = format!("it would wait for the initiator's step-up MFA: {why}");
                ("DECISION_AUTHENTICATORS_NEEDED", "MFA_POLICY", reason)
            }
            Verdict::Decided { rejected: Some(reason), .. } => ("DECISION_DENY", "POLICY", reason),
            Verdict::Decided { decision: Decision::Allow, .. } if evaluations.is_empty() => {
                ("DECISION_ALLOW", "POLICY", "the root quorum is met; policies are not consulted".to_owned())
            }
            Verdict::Decided { decision: Decision::Allow, .. } => {
                ("DECISION_ALLOW", "POLICY", "an ALLOW policy applies and no DENY does".to_owned())
            }
            Verdict::Decided { decision: Decision::ConsensusNeeded, .. } => {
                ("DECISION_CONSENSUS_NEEDED", "POLICY", "it would wait for more approvals".to_owned())
            }
            Verdict::Decided { decision: Decision::Deny(reason), .. } => ("DECISION_DENY", "POLICY", reason),
        };
        Ok(DryRunView { decision, stage, reason, activity, policy_evaluations: evaluations })
    }

    /// The submitter: the caller as admitted, or `user_id` acting with its first API key,
    /// with its standing under the MFA enforcement rule.
    async fn acting(
        &self,
        tx: &mut dyn StoreTx,
        caller: &Caller,
        req: &Request<'_>,
        user_id: Option<&str>,
    ) -> Result<(Caller, Option<EnrollmentStatus>)> {
        let org_id = &caller.organization.id;
        let Some(user_id) = user_id.filter(|id| *id != caller.user.id) else {
            return Ok((caller.clone(), req.enrollment.get().cloned()));
        };
        let user = tx.get_user(org_id, user_id).await?.ok_or_else(|| {
            Error::NotFound(format!("no user `{}` in this organization", crate::crypto::clip(user_id)))
        })?;
        let key = tx.list_api_keys(org_id, Some(user_id)).await?.into_iter().next();
        let credential = CallerCredential {
            id: key.as_ref().map(|k| k.id.clone()).unwrap_or_default(),
            public_key: key.as_ref().map(|k| k.public_key.clone()).unwrap_or_default(),
            credential_type: key.as_ref().map_or("CREDENTIAL_TYPE_API_KEY_P256", |k| k.credential_type()),
            authentication_type: key.as_ref().map_or("AUTHENTICATION_TYPE_API_KEY", |k| k.authentication_type()),
            api_key: key,
        };
        let status = self.enrollment_status(tx, org_id, &user).await?;
        let acting = Caller {
            auth_proxy: self.is_proxy_user(tx, &user).await?,
            user,
            organization: caller.organization.clone(),
            credential,
            stamp: caller.stamp.clone(),
        };
        Ok((acting, Some(status)))
    }

    /// The stages before the decision, in a submission's order, as pure checks.
    #[allow(clippy::too_many_arguments, reason = "the stages' inputs, each used once")]
    async fn stages(
        &self,
        tx: &mut dyn StoreTx,
        acting: &Caller,
        status: Option<&EnrollmentStatus>,
        intent: &Intent,
        kind: &'static activities::ActivityKind,
        version: &'static activities::TypeVersion,
        ip: Option<IpAddr>,
        now: i64,
    ) -> std::result::Result<(), Refusal> {
        let org_id = &acting.organization.id;
        let org_sets = tx.ip_rule_sets(org_id, None).await.map_err(|e| refused("IP_RULES")(e.into()))?;
        network_lists(&org_sets, ip, org_id).map_err(|r| refused("IP_RULES")(r.error))?;
        if let Some(key) = &acting.credential.api_key {
            let key_sets =
                tx.ip_rule_sets(org_id, Some(&key.public_key)).await.map_err(|e| refused("IP_RULES")(e.into()))?;
            key_allow_list(acting, &key_sets, ip).map_err(|r| refused("IP_RULES")(r.error))?;
        }
        auth_proxy::confine(acting, intent).map_err(refused("AUTH_PROXY"))?;
        match activity_gate(status, acting, intent, now) {
            Gate::Open => {}
            Gate::EnrolmentOff => return Err(refused("MFA_ENFORCEMENT")(enrolment_off(acting))),
            Gate::Overdue(status) => return Err(refused("MFA_ENFORCEMENT")(status.refusal())),
        }
        if let Some(stale) = self.stale_for(acting, intent, now) {
            return Err(refused("FRESH_AUTHENTICATION")(stale));
        }
        self.check_session_scope(acting, kind, version, intent, now).await.map_err(refused("SESSION_SCOPE"))
    }
}

/// The initiator's vote a submission by `acting` would record.
fn dry_vote(acting: &Caller, activity_id: &str, now: i64) -> Vote {
    let (public_key, scheme) = match &acting.credential.api_key {
        Some(key) => (key.public_key.clone(), key.curve.stamp_scheme().to_owned()),
        None => {
            let (public_key, scheme, _) = acting.stamp_record();
            (public_key, scheme)
        }
    };
    Vote {
        id: new_id(),
        activity_id: activity_id.to_owned(),
        user_id: acting.user.id.clone(),
        credential_id: acting.credential.id.clone(),
        approve: true,
        message: String::new(),
        public_key,
        signature: String::new(),
        scheme,
        proofs: vec![acting.credential.authentication_type.to_owned()],
        created_at: now,
    }
}
