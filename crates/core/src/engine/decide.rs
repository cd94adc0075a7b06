//! The decision for an activity (POLICY-LANGUAGE.md, "Evaluation order"):
//! root quorum, then explicit DENY, then ALLOW, then consensus, then implicit deny.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

use twofold_policy::{
    ActivityView, Budget, Context, CredentialView, Diagnostics, Keywords, Program, Timestamp, UserView,
};

use crate::activities::Intent;
use crate::activities::{ActivityKind, TypeVersion, version_free};
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

/// Limits on what policies may cost (docs/CONFIGURATION.md, "Policy evaluation limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyLimits {
    /// Counted evaluation steps one decision may take over all the policies it
    /// evaluates (and one MFA-policy or scope check over its conditions).
    pub eval_budget: u64,
    /// Most policies one organization may hold.
    pub max_policies_per_org: usize,
    /// Most MFA policies one user may have.
    pub max_mfa_policies_per_user: usize,
}

impl Default for PolicyLimits {
    fn default() -> Self {
        PolicyLimits {
            eval_budget: twofold_policy::DEFAULT_BUDGET,
            max_policies_per_org: 1_000,
            max_mfa_policies_per_user: 50,
        }
    }
}

/// Compiled policy expressions by source text, so each expression is parsed and
/// checked once per process rather than on every decision. Source text fully
/// determines the program, so the cache needs no invalidation across nodes.
/// It also holds the evaluation budget every decision starts with, and the results
/// of recent evaluations (see [`ContextDigest`]).
pub struct ProgramCache {
    programs: Mutex<HashMap<(&'static str, String), Program>>,
    remembered: Mutex<HashMap<[u8; 32], Remembered>>,
    budget: u64,
    /// Expressions evaluated, and results recalled instead, since the process started.
    counts: [std::sync::atomic::AtomicU64; 2],
}

/// An evaluation's result and the steps it took.
type Remembered = (Result<bool, String>, u64);

/// The identity of everything an expression can see (the activity, the approvers and their
/// credentials, the time): SHA-256 over all of it, each part length-prefixed.
///
/// An evaluation is a pure function of its program, this context and the budget left when
/// it starts, so its result is remembered under those three. A decision made first on a
/// read snapshot, outside the write transaction, fills the memory; the same decision made
/// again inside the write transaction finds every result there and charges the same steps,
/// so it decides identically without evaluating anything. Whatever changed in between
/// changes the digest (or the budget left), and is evaluated afresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextDigest([u8; 32]);

impl Default for ProgramCache {
    fn default() -> Self {
        ProgramCache::with_budget(twofold_policy::DEFAULT_BUDGET)
    }
}

/// Entries kept before the cache starts over (a bound, not a tuning knob).
const MAX_CACHED_PROGRAMS: usize = 10_000;
/// Evaluation results kept before the memory starts over (each is a few dozen bytes).
const MAX_REMEMBERED: usize = 10_000;

impl ProgramCache {
    /// An empty cache whose decisions get `budget` evaluation steps each.
    pub fn with_budget(budget: u64) -> Self {
        ProgramCache { programs: Mutex::default(), remembered: Mutex::default(), budget, counts: Default::default() }
    }

    /// How many expressions were evaluated, and how many results were recalled instead
    /// (decided again without evaluating), since the process started.
    pub fn evaluation_counts(&self) -> (u64, u64) {
        let [evaluated, recalled] = &self.counts;
        (evaluated.load(std::sync::atomic::Ordering::Relaxed), recalled.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn count(&self, recalled: bool) {
        self.counts[usize::from(recalled)].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn remembered_key(digest: &ContextDigest, field: &str, src: &str, left: u64) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(digest.0);
        for part in [field.as_bytes(), src.as_bytes()] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        h.update(left.to_be_bytes());
        h.finalize().into()
    }

    fn recall(&self, key: &[u8; 32]) -> Option<Remembered> {
        self.remembered.lock().ok().and_then(|m| m.get(key).cloned())
    }

    fn remember(&self, key: [u8; 32], value: Remembered) {
        if let Ok(mut map) = self.remembered.lock() {
            if map.len() >= MAX_REMEMBERED {
                map.clear();
            }
            map.insert(key, value);
        }
    }

    /// A fresh budget for one decision.
    pub fn budget(&self) -> Budget {
        Budget::new(self.budget)
    }

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
    /// An expression failed to evaluate (an error, a spent budget). Fails closed: an
    /// ALLOW allows nothing, a DENY denies, an MFA policy applies.
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

/// How one expression is evaluated: where programs come from, the budget it
/// spends, and whether to explain.
struct Run<'r> {
    programs: &'r ProgramCache,
    budget: &'r Budget,
    explain: bool,
    /// The context's digest: results are remembered and recalled under it.
    digest: Option<&'r ContextDigest>,
}

/// An expression's value (absent expressions hold) and, when explaining, what decided it.
fn holds(
    run: &Run<'_>,
    field: &'static str,
    src: Option<&str>,
    keywords: Keywords,
    ctx: &Context<'_>,
) -> (Result<bool, String>, Option<Deciding>) {
    let Some(src) = src else { return (Ok(true), None) };
    let program = match run.programs.get(field, src, keywords) {
        Ok(p) => p,
        Err(d) => return (Err(format!("does not compile: {d}")), None),
    };
    if !run.explain {
        let key = run.digest.map(|d| ProgramCache::remembered_key(d, field, src, run.budget.left()));
        if let Some((value, steps)) = key.as_ref().and_then(|k| run.programs.recall(k)) {
            run.budget.charge(steps);
            run.programs.count(true);
            return (value, None);
        }
        run.programs.count(false);
        let left = run.budget.left();
        let value = program.evaluate_within(ctx, run.budget).map_err(|e| e.to_string());
        if let Some(key) = key {
            run.programs.remember(key, (value.clone(), left - run.budget.left()));
        }
        return (value, None);
    }
    run.programs.count(false);
    let x = program.evaluate_explained(ctx, run.budget);
    let deciding = Deciding { field, text: x.text, start: x.span.start, end: x.span.end };
    (x.result.map_err(|e| e.to_string()), Some(deciding))
}

/// One policy's outcome. Its fields are decided in order, each only when the ones
/// before hold: `time`, then `condition`, then `consensus` (a policy outside its
/// window or whose condition is false is not applicable, whatever the rest would
/// say). An error in a field that is evaluated makes the outcome ERROR, which the
/// decision fails closed on.
fn evaluate(run: &Run<'_>, policy: &Policy, ctx: &Context<'_>) -> Evaluation {
    let verdict = |outcome, reason: String, deciding: Option<Deciding>| Evaluation {
        policy_id: policy.id.clone(),
        outcome,
        reason,
        deciding,
    };
    let fields: [(&'static str, Option<&str>, Keywords); 3] = [
        ("time", policy.time.as_deref(), Keywords::TIME),
        ("condition", policy.condition.as_deref(), Keywords::CONDITION),
        ("consensus", policy.consensus.as_deref(), Keywords::CONSENSUS),
    ];
    let mut last_why = None;
    for (field, src, keywords) in fields {
        let (value, why) = holds(run, field, src, keywords, ctx);
        match (field, value) {
            (_, Err(e)) => return verdict(Outcome::Error, format!("{field}: {e}"), why),
            ("time", Ok(false)) => return verdict(Outcome::TimeInactive, "outside its time window".into(), why),
            ("condition", Ok(false)) => return verdict(Outcome::NotApplicable, "condition is false".into(), why),
            ("consensus", Ok(false)) => {
                return verdict(Outcome::RequiresConsensus, "consensus is not met yet".into(), why);
            }
            _ => {}
        }
        if field != "time" && why.is_some() {
            last_why = why;
        }
    }
    match policy.effect {
        Effect::Allow => verdict(Outcome::Allow, "condition and consensus hold".into(), last_why),
        Effect::Deny => verdict(Outcome::DenyExplicit, "condition and consensus hold".into(), last_why),
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
        self.holds_within(programs, &programs.budget(), None, field, condition, approvers, now_ms)
    }

    /// Like [`holds`](Self::holds), charging `budget` (shared by several conditions), and
    /// remembering the result under `digest` (this subject's [`digest`](Self::digest) with
    /// the same approvers and time) when one is given.
    #[allow(clippy::too_many_arguments, reason = "one condition's whole evaluation context")]
    pub fn holds_within(
        &self,
        programs: &ProgramCache,
        budget: &Budget,
        digest: Option<&ContextDigest>,
        field: &'static str,
        condition: &str,
        approvers: &[Approver],
        now_ms: i64,
    ) -> Result<bool, String> {
        let (users, credentials) = people_views(approvers);
        let ctx = self.context(&users, &credentials, now_ms);
        let run = Run { programs, budget, explain: false, digest };
        holds(&run, field, Some(condition), Keywords::CONDITION, &ctx).0
    }

    /// The digest of what an expression sees of this activity with `approvers` at `now_ms`;
    /// `None` if the parameters cannot be written out (then nothing is remembered).
    pub fn digest(&self, approvers: &[Approver], now_ms: i64) -> Option<ContextDigest> {
        let params = serde_json::to_vec(self.params).ok()?;
        let mut h = Sha256::new();
        let mut part = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        };
        for text in [self.activity_type, self.resource, self.action] {
            part(text.as_bytes());
        }
        part(&params);
        part(&(approvers.len() as u64).to_be_bytes());
        for a in approvers {
            part(a.id.as_bytes());
            part(&(a.tags.len() as u64).to_be_bytes());
            for tag in &a.tags {
                part(tag.as_bytes());
            }
            match &a.email {
                Some(email) => part(&[&[1u8][..], email.as_bytes()].concat()),
                None => part(&[0u8]),
            }
            for text in [&a.name, &a.credential_id, a.credential_type, &a.public_key] {
                part(text.as_bytes());
            }
        }
        part(&now_ms.to_be_bytes());
        Some(ContextDigest(h.finalize().into()))
    }
}

/// Whether `policy` is in its time window at `now_ms` (a policy without one always is), as the
/// decision evaluates `time` first; an error is why it could not be decided, and the decision
/// treats such a policy as ERROR (failing closed).
pub fn in_time_window(programs: &ProgramCache, policy: &Policy, now_ms: i64) -> Result<bool, String> {
    let ctx = Context { activity: None, approvers: &[], credentials: &[], now: Timestamp::from_unix_millis(now_ms) };
    let run = Run { programs, budget: &programs.budget(), explain: false, digest: None };
    holds(&run, "time", policy.time.as_deref(), Keywords::TIME, &ctx).0
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
    let (decision, evaluations, _) = decide_with(input, false);
    (decision, evaluations)
}

/// Decides, counting evaluation steps, and with `explain` reports the deciding sub-expressions.
pub(super) fn decide_with(input: &DecisionInput<'_>, explain: bool) -> (Decision, Vec<Evaluation>, u64) {
    let approving_members = input.quorum_members.iter().filter(|m| input.approvers.iter().any(|a| &a.id == *m)).count();
    let initiator_is_member = input.quorum_members.iter().any(|m| m == input.initiator);
    if i64::try_from(approving_members).unwrap_or(i64::MAX) >= input.threshold.max(1) {
        return (Decision::Allow, Vec::new(), 0);
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
        return (decision, Vec::new(), 0);
    }

    let subject = Subject {
        activity_type: input.activity_type,
        resource: input.resource,
        action: input.action,
        params: input.params,
    };
    let (users, credentials) = people_views(input.approvers);
    let ctx = subject.context(&users, &credentials, input.now_ms);
    let digest = subject.digest(input.approvers, input.now_ms);
    // One budget for the whole decision: however many policies there are, deciding
    // costs at most this many steps.
    let budget = input.programs.budget();
    let run = Run { programs: input.programs, budget: &budget, explain, digest: digest.as_ref() };
    let evaluations: Vec<Evaluation> = input.policies.iter().map(|p| evaluate(&run, p, &ctx)).collect();
    let any = |o: Outcome| evaluations.iter().find(|e| e.outcome == o);
    let effect_of = |e: &Evaluation| input.policies.iter().find(|p| p.id == e.policy_id).map(|p| p.effect);
    // Fail closed: a DENY that cannot be evaluated denies; an ALLOW that cannot
    // be evaluated allows nothing.
    let erroring =
        |effect: Effect| evaluations.iter().find(|e| e.outcome == Outcome::Error && effect_of(e) == Some(effect));

    let decision = if let Some(deny) = any(Outcome::DenyExplicit) {
        Decision::Deny(format!("denied by policy `{}`", deny.policy_id))
    } else if let Some(deny) = erroring(Effect::Deny) {
        Decision::Deny(format!(
            "denied by policy `{}`: it could not be evaluated ({}), and a DENY policy that cannot be \
             evaluated denies",
            deny.policy_id, deny.reason
        ))
    } else if any(Outcome::Allow).is_some() || input.own_credentials {
        Decision::Allow
    } else if any(Outcome::RequiresConsensus).is_some() || initiator_is_member {
        Decision::ConsensusNeeded
    } else if let Some(allow) = erroring(Effect::Allow) {
        Decision::Deny(format!(
            "denied: no policy allows this activity; policy `{}` could not be evaluated ({}), and an \
             ALLOW policy that cannot be evaluated allows nothing",
            allow.policy_id, allow.reason
        ))
    } else {
        Decision::Deny("denied: no policy allows this activity (implicit deny)".to_owned())
    };
    (decision, evaluations, budget.spent())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activities::kind_for_path;

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

    /// What policies see of a DELETE_USERS of `ids`.
    fn deleting(ids: &[&str]) -> serde_json::Value {
        use crate::activities::Activity as _;
        crate::activities::users::DeleteUsers { user_ids: ids.iter().map(|id| (*id).to_owned()).collect() }
            .policy_params()
    }

    #[track_caller]
    fn check(path: &str, initiator: &str, approvers: &[Approver], policies: &[Policy], expected: &Decision) {
        let params = deleting(&["u1"]);
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

    #[track_caller]
    fn decide_one(policies: &[Policy], programs: &ProgramCache) -> (Decision, Vec<Evaluation>) {
        let params = deleting(&["u1"]);
        let kind = kind_for_path("delete_users").expect("known endpoint");
        let alice = [approver("alice", &["ops"])];
        decide(&DecisionInput {
            kind,
            activity_type: kind.versions[0].type_name,
            resource: kind.resource,
            action: kind.action,
            params: &params,
            quorum_members: &["root1".to_owned()],
            threshold: 1,
            initiator: "alice",
            approvers: &alice,
            policies,
            own_credentials: false,
            now_ms: 0,
            programs,
        })
    }

    #[test]
    fn an_erroring_deny_denies_and_an_erroring_allow_allows_nothing() {
        let programs = ProgramCache::default();
        let allow = policy("a", Effect::Allow, Some("activity.resource == 'USER'"), None);
        // Not guarded: `amount` is missing on DELETE_USERS, so the DENY errors and denies.
        let deny = policy("d", Effect::Deny, Some("activity.params.amount > 1"), None);
        let (decision, evaluations) = decide_one(&[allow.clone(), deny], &programs);
        let Decision::Deny(why) = decision else { panic!("an erroring DENY must deny: {decision:?}") };
        assert!(why.contains("denied by policy `d`") && why.contains("missing field `amount`"), "{why}");
        assert_eq!(evaluations[1].outcome, Outcome::Error);
        // An ALLOW whose consensus errors allows nothing, and says why.
        let bad_consensus = policy("c", Effect::Allow, Some("true"), Some("approvers[5].id == 'x'"));
        let (decision, _) = decide_one(&[bad_consensus], &programs);
        let Decision::Deny(why) = decision else { panic!("an erroring ALLOW must not allow: {decision:?}") };
        assert!(why.contains("policy `c` could not be evaluated") && why.contains("out of range"), "{why}");
        // A guarded DENY is simply not applicable to other activities: no error.
        let guarded =
            policy("g", Effect::Deny, Some("activity.resource == 'PAYOUT' && activity.params.amount > 1"), None);
        let (decision, evaluations) = decide_one(&[allow, guarded], &programs);
        assert_eq!(decision, Decision::Allow);
        assert_eq!(evaluations[1].outcome, Outcome::NotApplicable, "{:?}", evaluations[1]);
    }

    #[test]
    fn one_budget_bounds_the_whole_decision() {
        // A DENY that does some work and turns out not to apply, then a cheap ALLOW.
        let slow = "[1, 2, 3, 4, 5].all(a, [1, 2, 3, 4, 5].any(b, b == a)) && activity.resource == 'X'";
        let policies = [
            policy("slow", Effect::Deny, Some(slow), None),
            policy("cheap", Effect::Allow, Some("activity.resource == 'USER'"), None),
        ];
        let budget = Budget::new(10_000);
        let program = Program::compile(slow, Keywords::CONDITION).expect("compiles");
        let params = serde_json::Value::Object(serde_json::Map::new());
        let ctx =
            Subject { activity_type: "T", resource: "USER", action: "DELETE", params: &params }.context(&[], &[], 0);
        assert_eq!(program.evaluate_within(&ctx, &budget), Ok(false));
        let slow_steps = budget.spent();
        // Enough for both: allowed.
        let (decision, _) = decide_one(&policies, &ProgramCache::with_budget(slow_steps + 10));
        assert_eq!(decision, Decision::Allow);
        // Enough for each alone, not for both: the policy the budget does not reach
        // fails closed, and the activity is refused with the reason.
        let (decision, evaluations) = decide_one(&policies, &ProgramCache::with_budget(slow_steps));
        let Decision::Deny(why) = decision else { panic!("a spent budget must not allow: {decision:?}") };
        assert!(why.contains(&format!("condition exceeded its evaluation budget of {slow_steps} steps")), "{why}");
        assert_eq!(evaluations[0].outcome, Outcome::NotApplicable);
        assert_eq!(evaluations[1].outcome, Outcome::Error);
    }

    /// The decision a submission makes first on a read snapshot is made again inside the
    /// write transaction from remembered results: nothing is evaluated the second time, and
    /// the outcome is the same, down to a budget that runs out at the same policy.
    #[test]
    fn a_decision_made_again_recalls_every_result_and_decides_the_same() {
        let slow = "[1, 2, 3, 4, 5].all(a, [1, 2, 3, 4, 5].any(b, b == a)) && activity.resource == 'X'";
        let policies = [
            policy("slow", Effect::Deny, Some(slow), None),
            policy("cheap", Effect::Allow, Some("activity.resource == 'USER'"), None),
            policy("cheap2", Effect::Allow, Some("'u1' in activity.params.user_ids"), None),
        ];
        let roomy = ProgramCache::with_budget(100_000);
        let first = decide_one(&policies, &roomy);
        assert_eq!(roomy.evaluation_counts(), (3, 0));
        let again = decide_one(&policies, &roomy);
        assert_eq!(roomy.evaluation_counts(), (3, 3), "the second decision evaluates nothing");
        assert_eq!((&first.0, first.1.len()), (&again.0, again.1.len()));
        for (a, b) in first.1.iter().zip(&again.1) {
            assert_eq!((a.outcome, &a.reason), (b.outcome, &b.reason));
        }

        // A budget that runs out at the second policy runs out there again: the steps a
        // remembered result took are charged as if it had been evaluated.
        let measure = ProgramCache::with_budget(100_000);
        let budget = measure.budget();
        let run = Run { programs: &measure, budget: &budget, explain: false, digest: None };
        let params = deleting(&["u1"]);
        let subject = Subject { activity_type: "T", resource: "USER", action: "DELETE", params: &params };
        let _ = holds(&run, "condition", Some(slow), Keywords::CONDITION, &subject.context(&[], &[], 0));
        let tight = ProgramCache::with_budget(budget.spent() + 1);
        let (decision, evaluations) = decide_one(&policies, &tight);
        let (again, recalled) = decide_one(&policies, &tight);
        assert!(matches!(decision, Decision::Deny(_)), "{decision:?}");
        assert_eq!(decision, again);
        assert_eq!(evaluations[1].outcome, Outcome::Error);
        assert_eq!(recalled[1].outcome, Outcome::Error, "the spent budget is spent again");
        assert_eq!(tight.evaluation_counts().0, 3, "slow, cheap (out of budget), cheap2 (out of budget)");
    }

    /// Whatever an expression can see is in the digest: another approver, other tags,
    /// another time or other parameters are evaluated afresh.
    #[test]
    fn any_change_to_what_a_condition_sees_is_evaluated_afresh() {
        let params = deleting(&["u1"]);
        let other_params = deleting(&["u2"]);
        let subject = Subject { activity_type: "T", resource: "USER", action: "DELETE", params: &params };
        let alice = [approver("alice", &["ops"])];
        let base = subject.digest(&alice, 0);
        assert_eq!(base, subject.digest(&alice, 0));
        let changed = [
            subject.digest(&[approver("alice", &["ops", "admin"])], 0),
            subject.digest(&[approver("bob", &["ops"])], 0),
            subject.digest(&[approver("alice", &["ops"]), approver("bob", &[])], 0),
            subject.digest(&alice, 1),
            Subject { params: &other_params, ..subject }.digest(&alice, 0),
            Subject { action: "CREATE", ..subject }.digest(&alice, 0),
        ];
        for (i, d) in changed.iter().enumerate() {
            assert_ne!(base, *d, "change {i} must change the digest");
        }
        let mut credential = approver("alice", &["ops"]);
        credential.public_key = "03cd".into();
        assert_ne!(base, subject.digest(&[credential], 0));
    }
}
