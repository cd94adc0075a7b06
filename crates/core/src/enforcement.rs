//! Tenant MFA enforcement: the rule (`off | optional | required_for_admins |
//! required` with a grace period), who it asks to enroll a second factor, and by when.
//!
//! A global rule (installation level) applies to every organization without an
//! override of its own. Per user, the grace clock starts at the later of the rule's
//! last change and the user's creation; the deadline is that moment plus the grace
//! period, and a user who must enroll is blocked from the deadline on (at the deadline
//! exactly, the grace is over).

use serde::{Deserialize, Serialize};

use crate::api::Timestamp;
use crate::error::{Error, Result};
use crate::fields::params;
use crate::model::{Factor, FactorKind, User};

/// Longest grace period, days.
pub const MAX_GRACE_DAYS: i64 = 365;
/// Grace days of a rule set to a required value without `gracePeriodDays`: 72 hours,
/// as "newly required users get a 72-hour grace period before enforcement becomes blocking".
pub const DEFAULT_GRACE_DAYS: i64 = 3;

/// One day in milliseconds.
pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Tag names that make a user an administrator for `required_for_admins` by default.
pub const DEFAULT_ADMIN_TAGS: &[&str] = &["administrator", "admin", "owner", "editor"];

pub use crate::error::{ENROLLMENT_REQUIRED, SETUP_PATH};

/// What an organization asks of its users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EnforcementValue {
    /// Nobody may enroll new factors (incident response); existing factors keep working.
    #[serde(rename = "MFA_ENFORCEMENT_OFF")]
    Off,
    /// Users may enroll; nobody must (the default).
    #[serde(rename = "MFA_ENFORCEMENT_OPTIONAL")]
    Optional,
    /// Root-quorum members and users tagged as administrators must enroll.
    #[serde(rename = "MFA_ENFORCEMENT_REQUIRED_FOR_ADMINS")]
    RequiredForAdmins,
    /// Every user must enroll.
    #[serde(rename = "MFA_ENFORCEMENT_REQUIRED")]
    Required,
}

impl EnforcementValue {
    /// The stored and wire name (`MFA_ENFORCEMENT_REQUIRED`).
    pub fn as_str(self) -> &'static str {
        match self {
            EnforcementValue::Off => "MFA_ENFORCEMENT_OFF",
            EnforcementValue::Optional => "MFA_ENFORCEMENT_OPTIONAL",
            EnforcementValue::RequiredForAdmins => "MFA_ENFORCEMENT_REQUIRED_FOR_ADMINS",
            EnforcementValue::Required => "MFA_ENFORCEMENT_REQUIRED",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        use EnforcementValue::*;
        [Off, Optional, RequiredForAdmins, Required].into_iter().find(|v| v.as_str() == s)
    }

    /// Whether a user must enroll under this value.
    pub fn requires(self, is_admin: bool) -> bool {
        match self {
            EnforcementValue::Off | EnforcementValue::Optional => false,
            EnforcementValue::RequiredForAdmins => is_admin,
            EnforcementValue::Required => true,
        }
    }
}

/// A stored rule: the global one (`organization_id: None`) or an organization's override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnforcementRule {
    /// The organization it overrides for; `None` for the global rule.
    pub organization_id: Option<String>,
    /// What it asks.
    pub value: EnforcementValue,
    /// Days a newly required user has to enroll (0..=365).
    pub grace_period_days: i64,
    /// Whether an email address or phone number on record counts as an enrolled factor
    /// (email/SMS one-time codes; NIST does not accept email as out-of-band, so off by default).
    pub accept_email_sms_otp: bool,
    /// Last change, ms since epoch (0 for the built-in default).
    pub updated_at: i64,
    /// Who changed it last.
    pub updated_by: Option<String>,
}

impl EnforcementRule {
    /// The built-in global rule before anyone set one: optional, no grace.
    pub fn default_global() -> Self {
        EnforcementRule {
            organization_id: None,
            value: EnforcementValue::Optional,
            grace_period_days: 0,
            accept_email_sms_otp: false,
            updated_at: 0,
            updated_by: None,
        }
    }

    /// Whether `other` asks the same as this rule (a re-save that changes nothing).
    pub fn same_settings(&self, other: &EnforcementRule) -> bool {
        self.value == other.value
            && self.grace_period_days == other.grace_period_days
            && self.accept_email_sms_otp == other.accept_email_sms_otp
    }

    /// The moment `user` must have enrolled by: the latest of this rule's last change, the
    /// user's creation and (under `required for admins`) when the user last became an
    /// administrator, plus the grace period. A user who falls under the rule later gets a
    /// full grace of their own.
    pub fn deadline(&self, user: &User) -> i64 {
        let fell_under = match self.value {
            EnforcementValue::RequiredForAdmins => user.admin_since.unwrap_or(0),
            _ => 0,
        };
        self.updated_at
            .max(user.created_at)
            .max(fell_under)
            .saturating_add(self.grace_period_days.saturating_mul(DAY_MS))
    }

    /// The effective rule of an organization: its override if it has one, else the global rule.
    pub fn effective(own: Option<EnforcementRule>, global: Option<EnforcementRule>) -> EnforcementRule {
        own.or(global).unwrap_or_else(EnforcementRule::default_global)
    }
}

/// Whether a user counts as enrolled: at least one active passkey or active TOTP
/// device; with `accept_email_sms_otp`, also an email address or phone number that a
/// one-time code has verified (an address merely on record proves nothing).
pub fn is_enrolled(factors: &[Factor], user: &User, accept_email_sms_otp: bool) -> bool {
    let strong = factors.iter().any(|f| f.active && matches!(f.kind, FactorKind::Passkey | FactorKind::Totp));
    let verified = (user.email.is_some() && user.email_verified_at.is_some())
        || (user.phone.is_some() && user.phone_verified_at.is_some());
    strong || (accept_email_sms_otp && verified)
}

/// Whether a user is an administrator: a root-quorum member, or tagged with one of
/// `admin_tags` (tag names, compared without regard to ASCII case).
pub fn is_admin(in_root_quorum: bool, tag_names: &[&str], admin_tags: &[String]) -> bool {
    in_root_quorum || tag_names.iter().any(|t| admin_tags.iter().any(|a| a.eq_ignore_ascii_case(t)))
}

/// What the rule asks of one user at the time of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentStatus {
    /// The effective rule's value.
    pub value: EnforcementValue,
    /// Whether the rule requires this user to enroll.
    pub required: bool,
    /// Whether the user has enrolled (see [`is_enrolled`]).
    pub enrolled: bool,
    /// When the grace period ends (see [`EnforcementRule::deadline`]).
    pub deadline: i64,
}

impl EnrollmentStatus {
    /// The status of `user` under `rule`. An API-only user is never required to enroll: its
    /// key is its possession factor, and it holds no other and never signs in.
    pub fn of(rule: &EnforcementRule, user: &User, is_admin: bool, enrolled: bool) -> Self {
        EnrollmentStatus {
            value: rule.value,
            required: rule.value.requires(is_admin) && !user.api_only,
            enrolled,
            deadline: rule.deadline(user),
        }
    }

    /// The deadline, while the user still has to enroll.
    pub fn outstanding(&self) -> Option<i64> {
        (self.required && !self.enrolled).then_some(self.deadline)
    }

    /// Whether the grace period is over at `now` (at the deadline exactly it is).
    pub fn overdue(&self, now: i64) -> bool {
        self.outstanding().is_some_and(|deadline| now >= deadline)
    }

    /// `get_whoami`'s `mfaEnrollment`: `{required, deadline, enrolled, overdue}`; the deadline
    /// (RFC 3339) only while the user still has to enroll; `overdue` by the server's clock at `now`.
    pub fn whoami_view(&self, now: i64) -> crate::api::EnrollmentView {
        crate::api::EnrollmentView {
            required: self.required,
            deadline: self.outstanding().map(rfc3339),
            enrolled: self.enrolled,
            overdue: self.overdue(now),
        }
    }

    /// The refusal of a request made after the grace period.
    pub fn refusal(&self) -> Error {
        let deadline = rfc3339(self.deadline);
        Error::MfaEnrollmentRequired {
            message: format!(
                "{ENROLLMENT_REQUIRED}: this organization requires a second factor and the grace period ended at \
                 {deadline}; {} to continue",
                Self::how_to_enroll()
            ),
            deadline,
        }
    }

    /// The API activities and console page that enroll a factor, for refusals.
    pub fn how_to_enroll() -> String {
        format!(
            "enroll a passkey or an authenticator app in the console ({SETUP_PATH}) or with the API \
             (create_authenticators for a passkey; create_totp_authenticator then verify_totp_authenticator \
             for an authenticator app)"
        )
    }
}

/// Milliseconds since the epoch as RFC 3339 (`2026-01-01T00:00:00Z`, milliseconds when not whole).
pub fn rfc3339(ms: i64) -> String {
    twofold_policy::Timestamp::from_unix_millis(ms).map_or_else(|| ms.to_string(), |t| t.to_string())
}

/// Which rule an activity addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Scope {
    /// The installation's global rule.
    #[serde(rename = "MFA_ENFORCEMENT_SCOPE_GLOBAL")]
    Global,
    /// One organization's override.
    #[serde(rename = "MFA_ENFORCEMENT_SCOPE_ORGANIZATION")]
    Organization,
}

/// twofold's `ACTIVITY_TYPE_SET_MFA_ENFORCEMENT`: replace the global rule or an organization's override.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetMfaEnforcement {
    /// Global rule or organization override.
    pub scope: Scope,
    /// The organization (ORGANIZATION scope only): the one acted in (default) or one of its sub-organizations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_organization_id: Option<String>,
    /// What the rule asks.
    pub value: EnforcementValue,
    /// Grace period, whole days 0..=365 (default 3 days, 72 hours, for a required value; 0 otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period_days: Option<i64>,
    /// Count an email address or phone number on record as enrolled (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_email_sms_otp: Option<bool>,
    /// Save even if the rule would block the caller at once (as the IP lists ask).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_lockout: Option<bool>,
}

impl SetMfaEnforcement {
    /// The grace period the change sets: as given, else [`DEFAULT_GRACE_DAYS`] for a value
    /// that requires enrolment and 0 for one that does not.
    pub fn grace_days(&self) -> i64 {
        self.grace_period_days.unwrap_or(match self.value {
            EnforcementValue::Required | EnforcementValue::RequiredForAdmins => DEFAULT_GRACE_DAYS,
            EnforcementValue::Off | EnforcementValue::Optional => 0,
        })
    }
}

/// twofold's `ACTIVITY_TYPE_RESET_MFA_ENFORCEMENT`: delete an organization's override.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetMfaEnforcement {
    /// Must be ORGANIZATION: the global rule cannot be reset.
    pub scope: Scope,
    /// The organization: the one acted in (default) or one of its sub-organizations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_organization_id: Option<String>,
}

/// A change to an enforcement rule (borrowed from its intent).
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// See [`SetMfaEnforcement`].
    Set(&'a SetMfaEnforcement),
    /// See [`ResetMfaEnforcement`].
    Reset(&'a ResetMfaEnforcement),
}

impl Change<'_> {
    /// Checks what does not depend on stored state; errors name the field.
    pub fn validate(&self) -> Result<()> {
        let (scope, target) = match self {
            Change::Set(p) => {
                let days = p.grace_days();
                if !(0..=MAX_GRACE_DAYS).contains(&days) {
                    return Err(Error::invalid(format!(
                        "parameters.gracePeriodDays: must be a whole number of days from 0 to {MAX_GRACE_DAYS}, \
                         found {days}"
                    )));
                }
                (p.scope, &p.target_organization_id)
            }
            Change::Reset(p) if p.scope == Scope::Global => {
                return Err(Error::invalid(
                    "parameters.scope: the global rule cannot be reset, only changed; set it to \
                     MFA_ENFORCEMENT_OPTIONAL with set_mfa_enforcement to lift it",
                ));
            }
            Change::Reset(p) => (p.scope, &p.target_organization_id),
        };
        if scope == Scope::Global && target.is_some() {
            return Err(Error::invalid(
                "parameters.targetOrganizationId: the global rule belongs to no organization; omit it",
            ));
        }
        Ok(())
    }

    /// The fields policies see as `activity.params`.
    pub fn policy_params(&self) -> serde_json::Value {
        match self {
            Change::Set(p) => {
                params!(p; scope, target_organization_id, value, grace_period_days = p.grace_days(), accept_email_sms_otp = p.accept_email_sms_otp.unwrap_or(false))
            }
            Change::Reset(p) => {
                params!(p; scope, target_organization_id)
            }
        }
    }
}

/// A rule as the API shows it, with where it comes from.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RuleView {
    /// The organization it is effective for; `null` for the global rule itself.
    pub organization_id: Option<String>,
    /// `MFA_ENFORCEMENT_...`.
    pub value: EnforcementValue,
    /// Grace period, days.
    pub grace_period_days: i64,
    /// Whether an email address or phone number counts as enrolled.
    pub accept_email_sms_otp: bool,
    /// `MFA_ENFORCEMENT_SOURCE_GLOBAL` (inherited) or `MFA_ENFORCEMENT_SOURCE_ORGANIZATION` (own override).
    pub source: &'static str,
    /// When it last changed; `null` for the built-in default.
    pub updated_at: Option<Timestamp>,
}

impl RuleView {
    /// `rule` as effective for `organization_id` (`None`: the global rule itself).
    pub fn new(rule: &EnforcementRule, organization_id: Option<&str>) -> Self {
        RuleView {
            organization_id: organization_id.map(str::to_owned),
            value: rule.value,
            grace_period_days: rule.grace_period_days,
            accept_email_sms_otp: rule.accept_email_sms_otp,
            source: if rule.organization_id.is_some() {
                "MFA_ENFORCEMENT_SOURCE_ORGANIZATION"
            } else {
                "MFA_ENFORCEMENT_SOURCE_GLOBAL"
            },
            updated_at: (rule.updated_at > 0).then(|| Timestamp::from_ms(rule.updated_at)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(created_at: i64, email: Option<&str>) -> User {
        User {
            id: "u".into(),
            organization_id: "o".into(),
            name: "u".into(),
            email: email.map(Into::into),
            phone: None,
            created_at,
            updated_at: created_at,
            email_verified_at: email.map(|_| created_at),
            phone_verified_at: None,
            email_vouched_by: None,
            phone_vouched_by: None,
            admin_since: None,
            api_only: false,
        }
    }

    fn rule(value: EnforcementValue, days: i64, updated_at: i64) -> EnforcementRule {
        EnforcementRule { value, grace_period_days: days, updated_at, ..EnforcementRule::default_global() }
    }

    fn factor(kind: FactorKind, active: bool) -> Factor {
        Factor {
            id: "f".into(),
            organization_id: "o".into(),
            user_id: "u".into(),
            kind,
            name: "f".into(),
            lookup: None,
            public_data: "{}".into(),
            secret: None,
            counter: 0,
            active,
            used_at: None,
            created_at: 0,
            updated_at: 0,
            bound_at: active.then_some(0),
        }
    }

    #[test]
    fn who_must_enroll() {
        use EnforcementValue::*;
        for (value, admin, expected) in [
            (Off, true, false),
            (Optional, true, false),
            (RequiredForAdmins, true, true),
            (RequiredForAdmins, false, false),
            (Required, false, true),
        ] {
            assert_eq!(value.requires(admin), expected, "{value:?} admin={admin}");
        }
        let admins = vec!["admin".to_owned(), "Owner".to_owned()];
        assert!(is_admin(false, &["owner"], &admins), "tag names compare without ASCII case");
        assert!(is_admin(true, &[], &admins));
        assert!(!is_admin(false, &["viewer"], &admins));
    }

    #[test]
    fn enrolled_means_an_active_passkey_or_totp_device() {
        let u = user(0, Some("a@example.com"));
        assert!(!is_enrolled(&[factor(FactorKind::Totp, false)], &u, false), "an unverified device");
        assert!(!is_enrolled(&[factor(FactorKind::RecoveryCode, true)], &u, false), "recovery codes alone");
        assert!(is_enrolled(&[factor(FactorKind::Totp, true)], &u, false));
        assert!(is_enrolled(&[factor(FactorKind::Passkey, true)], &u, false));
        assert!(!is_enrolled(&[], &u, false), "email is not a second factor unless the rule says so");
        assert!(is_enrolled(&[], &u, true));
        assert!(!is_enrolled(&[], &user(0, None), true));
        let unverified = User { email_verified_at: None, ..u };
        assert!(!is_enrolled(&[], &unverified, true), "an address nobody proved");
    }

    #[test]
    fn the_grace_clock_starts_at_the_later_of_rule_change_and_user_creation() {
        let r = rule(EnforcementValue::Required, 3, 1_000);
        assert_eq!(r.deadline(&user(500, None)), 1_000 + 3 * DAY_MS, "older user: from the change");
        assert_eq!(r.deadline(&user(9_000, None)), 9_000 + 3 * DAY_MS, "newer user: own full grace");
        let s = EnrollmentStatus::of(&r, &user(0, None), false, false);
        assert_eq!(s.outstanding(), Some(s.deadline));
        assert!(!s.overdue(s.deadline - 1));
        assert!(s.overdue(s.deadline), "at the deadline the grace is over");
        let done = EnrollmentStatus::of(&r, &user(0, None), false, true);
        assert!(done.outstanding().is_none() && !done.overdue(i64::MAX));
        assert_eq!(done.whoami_view(i64::MAX).deadline, None);
        assert!(!done.whoami_view(i64::MAX).overdue);
        assert!(!s.whoami_view(s.deadline - 1).overdue);
        assert!(s.whoami_view(s.deadline).overdue, "judged by the server's clock");
    }

    #[test]
    fn becoming_an_administrator_restarts_the_clock_only_under_required_for_admins() {
        let promoted = User { admin_since: Some(20_000), ..user(500, None) };
        let admins = rule(EnforcementValue::RequiredForAdmins, 3, 1_000);
        assert_eq!(admins.deadline(&promoted), 20_000 + 3 * DAY_MS, "fell under the rule at 20 000");
        let everyone = rule(EnforcementValue::Required, 3, 1_000);
        assert_eq!(everyone.deadline(&promoted), 1_000 + 3 * DAY_MS, "under `required` since the rule change");
        let later_rule = rule(EnforcementValue::RequiredForAdmins, 3, 30_000);
        assert_eq!(later_rule.deadline(&promoted), 30_000 + 3 * DAY_MS, "the latest of the three");
    }

    #[test]
    fn an_omitted_grace_is_72_hours_for_required_values_only() {
        let set = |value| SetMfaEnforcement {
            scope: Scope::Organization,
            target_organization_id: None,
            value,
            grace_period_days: None,
            accept_email_sms_otp: None,
            confirm_lockout: None,
        };
        assert_eq!(set(EnforcementValue::Required).grace_days(), 3);
        assert_eq!(set(EnforcementValue::RequiredForAdmins).grace_days(), 3);
        assert_eq!(set(EnforcementValue::Optional).grace_days(), 0);
        assert_eq!(SetMfaEnforcement { grace_period_days: Some(0), ..set(EnforcementValue::Required) }.grace_days(), 0);
    }

    #[test]
    fn grace_and_scope_are_checked() {
        let set = |days, target: Option<&str>| SetMfaEnforcement {
            scope: if target.is_some() { Scope::Global } else { Scope::Organization },
            target_organization_id: target.map(Into::into),
            value: EnforcementValue::Required,
            grace_period_days: Some(days),
            accept_email_sms_otp: None,
            confirm_lockout: None,
        };
        let check = |p: SetMfaEnforcement| Change::Set(&p).validate();
        assert!(check(set(365, None)).is_ok());
        let e = check(set(366, None)).expect_err("too long");
        assert!(e.to_string().contains("gracePeriodDays"), "{e}");
        assert!(check(set(-1, None)).is_err());
        assert!(check(set(0, Some("o"))).is_err(), "global rule with a target");
        let global = ResetMfaEnforcement { scope: Scope::Global, target_organization_id: None };
        let reset = Change::Reset(&global);
        assert!(reset.validate().expect_err("refused").to_string().contains("cannot be reset"));
    }

    #[test]
    fn deadlines_print_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(DAY_MS + 1), "1970-01-02T00:00:00.001Z");
    }
}
