//! The decision for an activity (POLICY-LANGUAGE.md, "Evaluation order"):
//! root quorum, then explicit DENY, then ALLOW, then consensus, then implicit deny.

use std::collections::HashMap;
use std::sync::Mutex;

use twofold_policy::{ActivityView, Context, CredentialView, Diagnostics, Keywords, Program, Timestamp, UserView};

use crate::activity_types::{ActivityKind, TypeVersion, version_free};
use crate::intents::Intent;
use crate::model::{Effect, Policy};

/// What happens to an activity next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Execute it now.
    Allow,
    /// Wait for more approvals.
    ConsensusNeeded,
    /// Refuse it, with the reason.
    Deny(String),
}

/// Compiled policy expressions by source text, so each expression is parsed and
/// checked once per process rather than on every decision. Source text fully
/// determines the program, so the cache needs no invalidation across nodes.
#[derive(Default)]
pub struct ProgramCache {
    programs: Mutex<HashMap<(&'static str, String), Program>>,
}

/// Entries kept before the cache starts over (a bound, not a tuning knob).
const MAX_CACHED_PROGRAMS: usize = 10_000;

impl ProgramCache {
    /// The compiled form of `src` as a `field` (`condition`, `consensus`, `time`) expression.
    pub fn get(&self, field: &'static str, src: &str, keywords: Keywords) -> Result<Program, Diagnostics> {
        let key = (field, src.to_owned());
        if let Some(p) = self.programs.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(p);
        }
        let program = Program::compile(src, keywords)?;
        if let Ok(mut map) = self.programs.lock() {
            if map.len() >= MAX_CACHED_PROGRAMS {
                map.clear();
            }
            map.insert(key, program.clone());
        }
        Ok(program)
    }
}

impl std::fmt::Debug for ProgramCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.programs.lock().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("ProgramCache").field("programs", &n).finish()
    }
}

/// One user who approved, as policies see them.
#[derive(Debug, Clone)]
pub struct Approver {
    /// User id.
    pub id: String,
    /// Tag ids and tag names.
    pub tags: Vec<String>,
    /// Email.
    pub email: Option<String>,
    /// Name.
    pub name: String,
    /// The credential the approval was stamped with.
    pub credential_id: String,
    /// Its `CREDENTIAL_TYPE_...`.
    pub credential_type: &'static str,
    /// Its public key.
    pub public_key: String,
}

/// Everything the decision depends on.
pub struct DecisionInput<'a> {
    /// What kind of activity.
    pub kind: &'static ActivityKind,
    /// Its type name.
    pub activity_type: &'a str,
    /// `activity.resource` (the kind's, or an app activity's own).
    pub resource: &'a str,
    /// `activity.action`.
    pub action: &'a str,
    /// `activity.params`.
    pub params: &'a serde_json::Value,
    /// Root-quorum member ids.
    pub quorum_members: &'a [String],
    /// Root-quorum threshold.
    pub threshold: i64,
    /// Who submitted it.
    pub initiator: &'a str,
    /// Who approved so far (the initiator first).
    pub approvers: &'a [Approver],
    /// The organization's policies.
    pub policies: &'a [Policy],
    /// Whether the activity manages the initiator's own credentials.
    pub own_credentials: bool,
    /// Now, ms since epoch.
    pub now_ms: i64,
    /// Where compiled expressions come from.
    pub programs: &'a ProgramCache,
}

/// How one policy came out (Turnkey's `OUTCOME_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Condition, consensus and time hold; ALLOW.
    Allow,
    /// Condition, consensus and time hold; DENY.
    DenyExplicit,
    /// Condition holds but consensus not yet.
    RequiresConsensus,
    /// Condition does not hold.
    NotApplicable,
    /// Outside its time window.
    TimeInactive,
    /// An expression failed to evaluate; never allows.
    Error,
    /// An MFA policy applies and its steps are not all proven yet.
    RequiresAuthenticators,
}

impl Outcome {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "OUTCOME_ALLOW",
            Outcome::DenyExplicit => "OUTCOME_DENY_EXPLICIT",
            Outcome::RequiresConsensus => "OUTCOME_REQUIRES_CONSENSUS",
            Outcome::NotApplicable => "OUTCOME_DENY_IMPLICIT",
            Outcome::TimeInactive => "OUTCOME_TIME_INACTIVE",
            Outcome::Error => "OUTCOME_ERROR",
            Outcome::RequiresAuthenticators => "OUTCOME_REQUIRES_AUTHENTICATORS",
        }
    }
}

/// The sub-expression that decided a policy's outcome (dry runs only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deciding {
    /// `condition`, `consensus` or `time`.
    pub field: &'static str,
    /// Its source text.
    pub text: String,
    /// Byte range in the field's source.
    pub start: usize,
    /// End of the byte range.
    pub end: usize,
}

/// One policy's outcome with the reason.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The policy.
    pub policy_id: String,
    /// Its outcome.
    pub outcome: Outcome,
    /// Why, in words.
    pub reason: String,
    /// The sub-expression that decided it, when explaining.
    pub deciding: Option<Deciding>,
}

/// An expression's value (absent expressions hold) and, when explaining, what decided it.
fn holds(
    programs: &ProgramCache,
    field: &'static str,
    src: Option<&str>,
    keywords: Keywords,
    ctx: &Context<'_>,
    explain: bool,
) -> (Result<bool, String>, Option<Deciding>) {
    let Some(src) = src else { return (Ok(true), None) };
    let program = match programs.get(field, src, keywords) {
        Ok(p) => p,
        Err(d) => return (Err(format!("does not compile: {d}")), None),
    };
    if !explain {
        return (program.evaluate(ctx).map_err(|e| e.to_string()), None);
    }
    let x = program.evaluate_explained(ctx);
    let deciding = Deciding { field, text: x.text, start: x.span.start, end: x.span.end };
    (x.result.map_err(|e| e.to_string()), Some(deciding))
}

fn evaluate(programs: &ProgramCache, policy: &Policy, ctx: &Context<'_>, explain: bool) -> Evaluation {
    let (time, t_why) = holds(programs, "time", policy.time.as_deref(), Keywords::TIME, ctx, explain);
    let (condition, c_why) =
        holds(programs, "condition", policy.condition.as_deref(), Keywords::CONDITION, ctx, explain);
    let (consensus, s_why) =
        holds(programs, "consensus", policy.consensus.as_deref(), Keywords::CONSENSUS, ctx, explain);
    let verdict = |outcome, reason: String, deciding: &Option<Deciding>| Evaluation {
        policy_id: policy.id.clone(),
        outcome,
        reason,
        deciding: deciding.clone(),
    };
    // No short-circuit, as Turnkey: an error anywhere makes the policy ERROR.
    match (time, condition, consensus) {
        (Err(e), _, _) => verdict(Outcome::Error, format!("time: {e}"), &t_why),
        (_, Err(e), _) => verdict(Outcome::Error, format!("condition: {e}"), &c_why),
        (_, _, Err(e)) => verdict(Outcome::Error, format!("consensus: {e}"), &s_why),
        (Ok(false), _, _) => verdict(Outcome::TimeInactive, "outside its time window".into(), &t_why),
        (Ok(true), Ok(false), _) => verdict(Outcome::NotApplicable, "condition is false".into(), &c_why),
        (Ok(true), Ok(true), Ok(false)) => {
            verdict(Outcome::RequiresConsensus, "consensus is not met yet".into(), &s_why)
        }
        (Ok(true), Ok(true), Ok(true)) => {
            let why = if s_why.is_some() { &s_why } else { &c_why };
            match policy.effect {
                Effect::Allow => verdict(Outcome::Allow, "condition and consensus hold".into(), why),
                Effect::Deny => verdict(Outcome::DenyExplicit, "condition and consensus hold".into(), why),
            }
        }
    }
}

/// What a condition sees as `activity`.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Its type name.
    pub activity_type: &'a str,
    /// `activity.resource`.
    pub resource: &'a str,
    /// `activity.action`.
    pub action: &'a str,
    /// `activity.params`.
    pub params: &'a serde_json::Value,
}

impl<'a> Subject<'a> {
    /// An activity of `kind` / `version` with `intent` (whose `policy_params` are `params`): app
    /// activities carry their own resource and action, built-in ones their kind's.
    pub fn of(
        kind: &'static ActivityKind,
        version: &'static TypeVersion,
        intent: &'a Intent,
        params: &'a serde_json::Value,
    ) -> Self {
        let (resource, action) = intent.resource_action().unwrap_or((kind.resource, kind.action));
        Subject { activity_type: version.type_name, resource, action, params }
    }

    fn context<'c>(&self, users: &'c [UserView<'c>], credentials: &'c [CredentialView<'c>], now_ms: i64) -> Context<'c>
    where
        'a: 'c,
    {
        Context {
            activity: Some(ActivityView {
                activity_type: self.activity_type,
                kind: version_free(self.activity_type),
                resource: self.resource,
                action: self.action,
                params: self.params,
            }),
            approvers: users,
            credentials,
            now: Timestamp::from_unix_millis(now_ms),
        }
    }

    /// Whether `condition` holds for this activity with `approvers` (an MFA policy's
    /// condition, a session profile's scope); an error is the reason it could not be decided.
    pub fn holds(
        &self,
        programs: &ProgramCache,
        field: &'static str,
        condition: &str,
        approvers: &[Approver],
        now_ms: i64,
    ) -> Result<bool, String> {
        let (users, credentials) = people_views(approvers);
        let ctx = self.context(&users, &credentials, now_ms);
        holds(programs, field, Some(condition), Keywords::CONDITION, &ctx, false).0
    }
}

/// How approvers look to the policy language.
fn people_views(approvers: &[Approver]) -> (Vec<UserView<'_>>, Vec<CredentialView<'_>>) {
    let users = approvers
        .iter()
        .map(|a| UserView { id: &a.id, tags: &a.tags, email: a.email.as_deref(), alias: &a.name })
        .collect();
    let credentials = approvers
        .iter()
        .map(|a| CredentialView {
            id: &a.credential_id,
            user_id: &a.id,
            credential_type: a.credential_type,
            credential_id: &a.credential_id,
            public_key: &a.public_key,
        })
        .collect();
    (users, credentials)
}

/// Decides, and reports every policy's outcome.
pub fn decide(input: &DecisionInput<'_>) -> (Decision, Vec<Evaluation>) {
    decide_with(input, false)
}

/// Decides like [`decide`] and reports, per policy, the sub-expression that decided it.
pub fn explain(input: &DecisionInput<'_>) -> (Decision, Vec<Evaluation>) {
    decide_with(input, true)
}

fn decide_with(input: &DecisionInput<'_>, explain: bool) -> (Decision, Vec<Evaluation>) {
    let approving_members = input.quorum_members.iter().filter(|m| input.approvers.iter().any(|a| &a.id == *m)).count();
    let initiator_is_member = input.quorum_members.iter().any(|m| m == input.initiator);
    if i64::try_from(approving_members).unwrap_or(i64::MAX) >= input.threshold.max(1) {
        return (Decision::Allow, Vec::new());
    }
    if input.kind.root_only {
        let decision = if initiator_is_member {
            Decision::ConsensusNeeded
        } else {
            Decision::Deny(format!(
                "{} can only be approved by the root quorum; no policy can grant it",
                input.kind.path
            ))
        };
        return (decision, Vec::new());
    }

    let subject = Subject {
        activity_type: input.activity_type,
        resource: input.resource,
        action: input.action,
        params: input.params,
    };
    let (users, credentials) = people_views(input.approvers);
    let ctx = subject.context(&users, &credentials, input.now_ms);
    let evaluations: Vec<Evaluation> =
        input.policies.iter().map(|p| evaluate(input.programs, p, &ctx, explain)).collect();
    let any = |o: Outcome| evaluations.iter().find(|e| e.outcome == o);

    let decision = if let Some(deny) = any(Outcome::DenyExplicit) {
        Decision::Deny(format!("denied by policy `{}`", deny.policy_id))
    } else if any(Outcome::Allow).is_some() || input.own_credentials {
        Decision::Allow
    } else if any(Outcome::RequiresConsensus).is_some() || initiator_is_member {
        Decision::ConsensusNeeded
    } else {
        Decision::Deny("denied: no policy allows this activity (implicit deny)".to_owned())
    };
    (decision, evaluations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity_types::kind_for_path;

    fn approver(id: &str, tags: &[&str]) -> Approver {
        Approver {
            id: id.into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            email: None,
            name: id.into(),
            credential_id: format!("{id}-key"),
            credential_type: "CREDENTIAL_TYPE_API_KEY_P256",
            public_key: "02ab".into(),
        }
    }

    fn policy(id: &str, effect: Effect, condition: Option<&str>, consensus: Option<&str>) -> Policy {
        Policy {
            id: id.into(),
            organization_id: "o".into(),
            name: id.into(),
            effect,
            condition: condition.map(Into::into),
            consensus: consensus.map(Into::into),
            time: None,
            notes: String::new(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[track_caller]
    fn check(path: &str, initiator: &str, approvers: &[Approver], policies: &[Policy], expected: &Decision) {
        let params = serde_json::json!({ "user_ids": ["u1"] });
        let kind = kind_for_path(path).expect("known endpoint");
        let input = DecisionInput {
            kind,
            activity_type: kind.versions[0].type_name,
            resource: kind.resource,
            action: kind.action,
            params: &params,
            quorum_members: &["root1".to_owned(), "root2".to_owned(), "root3".to_owned()],
            threshold: 2,
            initiator,
            approvers,
            policies,
            own_credentials: false,
            now_ms: 0,
            programs: &ProgramCache::default(),
        };
        let (decision, _) = decide(&input);
        match (expected, &decision) {
            (Decision::Deny(_), Decision::Deny(_)) => {}
            _ => assert_eq!(&decision, expected),
        }
    }

    #[test]
    fn root_quorum_two_of_three_bypasses_policies() {
        let deny_all = [policy("p", Effect::Deny, None, None)];
        check("delete_users", "root1", &[approver("root1", &[])], &deny_all, &Decision::Deny(String::new()));
        let two = [approver("root1", &[]), approver("root3", &[])];
        check("delete_users", "root1", &two, &deny_all, &Decision::Allow);
    }

    #[test]
    fn deny_wins_over_allow_and_errors_never_allow() {
        let alice = [approver("alice", &["ops"])];
        let allow = policy("a", Effect::Allow, Some("activity.resource == 'USER'"), None);
        let deny = policy("d", Effect::Deny, Some("'u1' in activity.params.user_ids"), None);
        check("delete_users", "alice", &alice, std::slice::from_ref(&allow), &Decision::Allow);
        check("delete_users", "alice", &alice, &[allow, deny], &Decision::Deny(String::new()));
        let erroring = policy("e", Effect::Allow, Some("activity.params.amount > 1"), None);
        check("delete_users", "alice", &alice, &[erroring], &Decision::Deny(String::new()));
    }

    #[test]
    fn consensus_by_tags_waits_then_allows() {
        let p = [policy(
            "c",
            Effect::Allow,
            Some("true"),
            Some("approvers.filter(u, u.tags.contains('ops')).count() >= 2"),
        )];
        check("delete_users", "alice", &[approver("alice", &["ops"])], &p, &Decision::ConsensusNeeded);
        let two = [approver("alice", &["ops"]), approver("bob", &["ops"])];
        check("delete_users", "alice", &two, &p, &Decision::Allow);
    }

    #[test]
    fn root_only_activities_ignore_policies() {
        let allow_all = [policy("a", Effect::Allow, None, None)];
        check("update_root_quorum", "alice", &[approver("alice", &[])], &allow_all, &Decision::Deny(String::new()));
        check("update_root_quorum", "root1", &[approver("root1", &[])], &allow_all, &Decision::ConsensusNeeded);
    }
}
