//! Tenant MFA enforcement in the pipeline: the caller's enrollment status, read with the
//! rest of admission (a rule change moves the admission epoch, so it applies to the very
//! next request on every node); the gate that refuses what the rule forbids; rule
//! changes; and the two queries.

use serde_json::{Value, json};

use super::{Caller, Engine, Request};
use crate::activities::Intent;
use crate::activities::{Activity, Done, ExecContext, results};
use crate::audit;
use crate::crypto;
use crate::enforcement::{
    self, Change, EnforcementRule, EnforcementValue, EnrollmentStatus, ResetMfaEnforcement, RuleView, Scope,
    SetMfaEnforcement,
};
use crate::error::{Error, Result};
use crate::model::User;
use crate::store::StoreTx;

/// Whether `intent` enrolls a new factor (what `MFA_ENFORCEMENT_OFF` disables).
fn enrolls_factor(intent: &Intent) -> bool {
    matches!(
        intent,
        Intent::CreateAuthenticators(_)
            | Intent::CreateTotpAuthenticator(_)
            | Intent::VerifyTotpAuthenticator(_)
            | Intent::CreateRecoveryCodes(_)
    )
}

/// What a user past the deadline may still submit: enrolling its own factors, and
/// logging in and out (the console needs a session to reach the set-up page).
fn allowed_when_overdue(intent: &Intent, user_id: &str) -> bool {
    let own = intent.own_credential_target() == Some(user_id);
    (enrolls_factor(intent) && own)
        || matches!(intent, Intent::StampLogin(_) | Intent::OtpLogin(_))
        || (own && matches!(intent, Intent::DeleteSessions(_)))
}

/// What the MFA enforcement rule says of an activity, before anything is audited.
pub(super) enum Gate<'a> {
    /// It may be submitted.
    Open,
    /// It enrols a factor, and enrolling is off.
    EnrolmentOff,
    /// The caller's grace period is over and it is not one of what stays open.
    Overdue(&'a EnrollmentStatus),
}

/// What `status` (the caller's standing under its rule) says of `intent` from `caller` at `now`.
pub(super) fn activity_gate<'a>(
    status: Option<&'a EnrollmentStatus>,
    caller: &Caller,
    intent: &Intent,
    now: i64,
) -> Gate<'a> {
    // The auth proxy's service user has no factors to enroll; the engine confines it to sign-in instead.
    let Some(status) = status.filter(|_| !caller.auth_proxy) else { return Gate::Open };
    if status.value == EnforcementValue::Off && enrolls_factor(intent) {
        Gate::EnrolmentOff
    } else if status.overdue(now) && !allowed_when_overdue(intent, &caller.user.id) {
        Gate::Overdue(status)
    } else {
        Gate::Open
    }
}

/// The refusal of a new factor while enrolment is off.
pub(super) fn enrolment_off(caller: &Caller) -> Error {
    Error::PermissionDenied(format!(
        "enrolling new factors is disabled in organization `{}` (MFA enforcement is {}); existing factors keep \
         working",
        caller.organization.id,
        EnforcementValue::Off.as_str()
    ))
}

/// What MFA enforcement lets through once a user's grace period is over (each query's
/// catalog row says which it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenOverdue {
    /// Refused: the user must enrol first.
    Refused,
    /// Allowed: what every client needs of its own session.
    Allowed,
    /// Allowed about the caller's own user, named in `userId`.
    OwnUser,
    /// Allowed about the caller's own factors (`userId` absent or the caller's): what
    /// enrolling needs.
    OwnFactors,
    /// As [`WhenOverdue::OwnFactors`], and refused while enrolling is off: it starts an enrolment.
    Enrols,
}

/// The `userId` a query body names, if it names one (the body is checked by its query later).
pub(crate) fn named_user(body: &[u8]) -> Option<Value> {
    serde_json::from_slice::<Value>(body).ok().and_then(|v| v.get("userId").cloned())
}

/// What a user past the deadline may still query: whoami, its own user, its own factors.
fn query_allowed_when_overdue(when: WhenOverdue, body: &[u8], user_id: &str) -> bool {
    let subject = named_user(body);
    let about_self = |absent_is_self: bool| match subject.as_ref() {
        None => absent_is_self,
        Some(v) => v.as_str() == Some(user_id),
    };
    match when {
        WhenOverdue::Refused => false,
        WhenOverdue::Allowed => true,
        WhenOverdue::OwnUser => about_self(false),
        WhenOverdue::OwnFactors | WhenOverdue::Enrols => about_self(true),
    }
}

/// The rule in force for `org_id`: its override, else the global rule, else the default.
pub(crate) async fn effective_rule(tx: &mut dyn StoreTx, org_id: &str) -> Result<EnforcementRule> {
    let rules = tx.mfa_enforcement_rules(org_id).await?;
    let (own, global): (Vec<_>, Vec<_>) = rules.into_iter().partition(|r| r.organization_id.is_some());
    Ok(EnforcementRule::effective(own.into_iter().next(), global.into_iter().next()))
}

/// Checks that `target` is `acting` or one of its descendants.
pub(crate) async fn check_visible(tx: &mut dyn StoreTx, acting: &str, target: &str) -> Result<()> {
    let mut current = Some(target.to_owned());
    // Parent links never form a cycle; the bound only keeps a corrupt row from looping.
    for _ in 0..64 {
        let Some(id) = current else { break };
        if id == acting {
            return Ok(());
        }
        current = tx.get_organization(&id).await?.and_then(|o| o.parent_id);
    }
    Err(Error::NotFound(format!("no organization `{}` in or under this organization", crypto::clip(target))))
}

/// The organization a change addresses (`None`: the global rule), checked against the acting one.
async fn resolve_target(
    tx: &mut dyn StoreTx,
    acting: &str,
    scope: Scope,
    target: Option<&str>,
) -> Result<Option<String>> {
    match scope {
        Scope::Global if tx.installation_root().await?.as_deref() == Some(acting) => Ok(None),
        Scope::Global => Err(Error::PermissionDenied(
            "only the installation's root organization manages the global MFA enforcement rule".to_owned(),
        )),
        Scope::Organization => {
            let target = target.unwrap_or(acting);
            check_visible(tx, acting, target).await?;
            Ok(Some(target.to_owned()))
        }
    }
}

impl Engine {
    /// The caller's enrollment status under its organization's effective rule.
    pub(super) async fn enrollment_status(
        &self,
        tx: &mut dyn StoreTx,
        org_id: &str,
        user: &User,
    ) -> Result<EnrollmentStatus> {
        let rule = effective_rule(tx, org_id).await?;
        let is_admin = rule.value == EnforcementValue::RequiredForAdmins && self.is_admin(tx, org_id, &user.id).await?;
        let factors = tx.list_factors(org_id, &user.id, None).await?;
        let enrolled = enforcement::is_enrolled(&factors, user, rule.accept_email_sms_otp);
        Ok(EnrollmentStatus::of(&rule, user, is_admin, enrolled))
    }

    /// Refuses a rule change that would block the caller at once (it applies to the
    /// caller's organization, requires the caller to enroll, has no grace period and the
    /// caller has no factor), unless it says `confirmLockout: true`.
    pub(super) async fn guard_enforcement_lockout(&self, caller: &Caller, change: Change<'_>) -> Result<()> {
        let Change::Set(p) = change else { return Ok(()) };
        if p.confirm_lockout == Some(true) || p.grace_days() > 0 {
            return Ok(());
        }
        let org_id = caller.organization.id.as_str();
        let mut tx = self.store.read().await?;
        let applies = match p.scope {
            Scope::Organization => p.target_organization_id.as_deref().is_none_or(|t| t == org_id),
            Scope::Global => !tx.mfa_enforcement_rules(org_id).await?.iter().any(|r| r.organization_id.is_some()),
        };
        let required = match p.value {
            EnforcementValue::Required => true,
            EnforcementValue::RequiredForAdmins => self.is_admin(&mut *tx, org_id, &caller.user.id).await?,
            _ => false,
        };
        if !applies || !required || caller.user.api_only {
            return Ok(());
        }
        let factors = tx.list_factors(org_id, &caller.user.id, None).await?;
        if enforcement::is_enrolled(&factors, &caller.user, p.accept_email_sms_otp.unwrap_or(false)) {
            return Ok(());
        }
        Err(Error::FailedPrecondition(format!(
            "this rule would block you (user `{}`) at once: it requires a second factor with no grace period and \
             you have none; {} first, give a grace period, or send `confirmLockout: true` to save it anyway",
            caller.user.id,
            EnrollmentStatus::how_to_enroll()
        )))
    }

    /// Whether the caller is a root-quorum member or carries an admin tag.
    async fn is_admin(&self, tx: &mut dyn StoreTx, org_id: &str, user_id: &str) -> Result<bool> {
        Ok(crate::activities::users::administrators_among(tx, org_id, &[user_id], &self.config.mfa_admin_tags)
            .await?
            .contains(user_id))
    }

    /// Refuses an activity the rule does not let the caller submit now.
    pub(super) async fn gate_activity(&self, req: &Request<'_>, caller: &Caller, intent: &Intent) -> Result<()> {
        match activity_gate(req.enrollment.get(), caller, intent, self.clock.now_ms()) {
            Gate::Open => Ok(()),
            Gate::EnrolmentOff => Err(self.refuse_enrolment(caller).await),
            Gate::Overdue(status) => Err(self.block(caller, status, "submit").await),
        }
    }

    /// Refuses a query the rule does not let the caller make now.
    pub(crate) async fn gate_query(
        &self,
        req: &Request<'_>,
        caller: &Caller,
        name: &str,
        when: WhenOverdue,
    ) -> Result<()> {
        let Some(status) = req.enrollment.get() else { return Ok(()) };
        if status.value == EnforcementValue::Off && when == WhenOverdue::Enrols {
            return Err(self.refuse_enrolment(caller).await);
        }
        if status.overdue(self.clock.now_ms()) && !query_allowed_when_overdue(when, req.body, &caller.user.id) {
            return Err(self.block(caller, status, name).await);
        }
        Ok(())
    }

    /// Audits and builds the refusal of a request made after the grace period.
    async fn block(&self, caller: &Caller, status: &EnrollmentStatus, endpoint: &str) -> Error {
        let details = json!({ "endpoint": endpoint, "deadline": enforcement::rfc3339(status.deadline) });
        self.audit_enforcement(caller, enforcement::ENROLLMENT_REQUIRED, details).await;
        status.refusal()
    }

    /// Audits and builds the refusal of a new factor while enrolment is off.
    async fn refuse_enrolment(&self, caller: &Caller) -> Error {
        self.audit_enforcement(caller, "MFA_ENROLLMENT_DISABLED", json!({})).await;
        enrolment_off(caller)
    }

    async fn audit_enforcement(&self, caller: &Caller, event_type: &'static str, details: Value) {
        let event = audit::NewEvent {
            event_type,
            outcome: "DENIED",
            actor_user_id: Some(&caller.user.id),
            actor_credential_id: Some(&caller.credential.id),
            subject: None,
            details,
        };
        self.audit_refusal(&caller.organization.id, event).await;
        tracing::info!(user_id = %caller.user.id, organization_id = %caller.organization.id, event_type, "refused by MFA enforcement");
    }
}

impl Request<'_> {
    /// `X-Twofold-MFA-Enrollment-Due`: the RFC 3339 deadline while the authenticated
    /// caller must still enroll a factor (in the past once the grace period is over).
    pub fn enrollment_due(&self) -> Option<String> {
        self.enrollment.get().and_then(EnrollmentStatus::outstanding).map(enforcement::rfc3339)
    }
}

/// The users `intent` may make administrators: those it tags (`update_user` with tags,
/// `create_user_tag`) or puts in the root quorum. (A new user's clock starts at its creation.)
pub(super) fn may_promote(intent: &Intent) -> Vec<&str> {
    let ids: &[String] = match intent {
        Intent::UpdateUser(p) if p.user_tag_ids.is_some() => std::slice::from_ref(&p.user_id),
        Intent::CreateUserTag(p) => &p.user_ids,
        Intent::UpdateRootQuorum(p) => &p.user_ids,
        _ => &[],
    };
    ids.iter().map(String::as_str).collect()
}

results! {
    /// `setMfaEnforcementResult` / `resetMfaEnforcementResult`: the rule now in effect.
    MfaEnforcementResult { mfa_enforcement: RuleView }
}

/// SET_MFA_ENFORCEMENT: the global rule or an organization's override.
impl Activity for SetMfaEnforcement {
    type Output = MfaEnforcementResult;

    fn check(&self) -> Result<()> {
        Change::Set(self).validate()
    }

    fn policy_params(&self) -> Value {
        Change::Set(self).policy_params()
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<MfaEnforcementResult>> {
        let mfa_enforcement = execute(tx, ctx, Change::Set(self)).await?;
        Ok(MfaEnforcementResult { mfa_enforcement }.into())
    }
}

/// RESET_MFA_ENFORCEMENT: an organization back to the global rule.
impl Activity for ResetMfaEnforcement {
    type Output = MfaEnforcementResult;

    fn check(&self) -> Result<()> {
        Change::Reset(self).validate()
    }

    fn policy_params(&self) -> Value {
        Change::Reset(self).policy_params()
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<MfaEnforcementResult>> {
        let mfa_enforcement = execute(tx, ctx, Change::Reset(self)).await?;
        Ok(MfaEnforcementResult { mfa_enforcement }.into())
    }
}

/// Applies a rule change inside the activity's transaction, with its audit events; the rule
/// now in effect.
async fn execute(tx: &mut dyn StoreTx, ctx: &ExecContext<'_>, change: Change<'_>) -> Result<RuleView> {
    let (scope, target) = match change {
        Change::Set(p) => (p.scope, p.target_organization_id.as_deref()),
        Change::Reset(p) => (p.scope, p.target_organization_id.as_deref()),
    };
    let target = resolve_target(tx, ctx.org_id, scope, target).await?;
    let key = target.as_deref().unwrap_or_default();
    let (outcome, rule) = match change {
        Change::Set(p) => {
            let rule = EnforcementRule {
                organization_id: target.clone(),
                value: p.value,
                grace_period_days: p.grace_days(),
                accept_email_sms_otp: p.accept_email_sms_otp.unwrap_or(false),
                updated_at: ctx.now,
                updated_by: Some(ctx.initiator_user_id.to_owned()),
            };
            let stored = tx.mfa_enforcement_rules(key).await?.into_iter().find(|r| r.organization_id == target);
            // Saving the same settings again changes nothing, and restarts no grace clock.
            match stored.filter(|s| s.same_settings(&rule)) {
                Some(unchanged) => {
                    return Ok(RuleView::new(&unchanged, target.as_deref()));
                }
                None => {
                    tx.put_mfa_enforcement_rule(&rule).await?;
                    ("SET", rule)
                }
            }
        }
        Change::Reset(_) => {
            if !tx.delete_mfa_enforcement_rule(key).await? {
                return Err(Error::NotFound(format!(
                    "organization `{key}` has no MFA enforcement rule of its own; it already follows the global rule"
                )));
            }
            ("RESET", effective_rule(tx, key).await?)
        }
    };
    let view = RuleView::new(&rule, target.as_deref());
    let mut chains = vec![ctx.org_id];
    chains.extend(target.as_deref().filter(|t| *t != ctx.org_id));
    for org in chains {
        let event = audit::NewEvent {
            event_type: "MFA_ENFORCEMENT_CHANGED",
            outcome,
            actor_user_id: Some(ctx.initiator_user_id),
            actor_credential_id: None,
            subject: target.as_deref(),
            details: json!({ "scope": scope, "rule": view }),
        };
        audit::append(tx, org, ctx.now, event).await?;
    }
    Ok(view)
}
