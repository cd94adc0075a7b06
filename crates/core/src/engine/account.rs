//! Binding at the account's level (NIST SP 800-63B-4 §4.1.2.1): a user who already has a
//! second factor (a passkey, an active TOTP device, unspent recovery codes) adds or removes
//! one of their own factors, contacts or permanent credentials only after proving one of
//! those factors on the same activity — a passkey stamp on the request itself, or an
//! approval carrying a TOTP or recovery code, or stamped by a passkey. The rule is built in:
//! it holds whatever the MFA policies say, and a user's MFA policies do not gate their own
//! credential management (so no MFA policy can leave a user unable to enroll).
//!
//! Proofs are only taken from factors bound before the activity was created: a factor a
//! stolen key managed to bind cannot satisfy a step-up that was already waiting.

use crate::activities::Intent;
use crate::error::{Error, Result};
use crate::model::{AuthMethod, AuthenticationType, Factor, FactorKind, MethodGroup, MfaPolicy};
use crate::store::StoreTx;

/// The `mfaPolicyId` `get_mfa_status` reports for the built-in requirement.
pub const ACCOUNT_LEVEL_POLICY_ID: &str = "BUILT_IN_ACCOUNT_LEVEL_BINDING";

/// How an activity touches its initiator's own credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OwnCredentials<'a> {
    /// It does not manage the initiator's own credentials: MFA policies apply as usual.
    No,
    /// It manages them without binding or removing one (creating a TOTP device that is not
    /// active yet, ending sessions): exempt from MFA policies, nothing else asked.
    Manages(&'a str),
    /// It binds or removes one of them: exempt from MFA policies, the account-level rule applies.
    Binds(&'a str),
}

impl<'a> OwnCredentials<'a> {
    /// How `intent`, initiated by `initiator`, touches the initiator's own credentials.
    pub(super) fn of(intent: &'a Intent, initiator: &str) -> Self {
        match intent.own_credential_target() {
            Some(user) if user == initiator && intent.changes_factors() => OwnCredentials::Binds(user),
            Some(user) if user == initiator => OwnCredentials::Manages(user),
            _ => OwnCredentials::No,
        }
    }
}

/// Whether `f` counts as a second factor proven at the account's level, bound by `at` (ms).
fn second_factor_bound_by(f: &Factor, at: i64) -> bool {
    let usable = match f.kind {
        FactorKind::Passkey | FactorKind::Totp => f.active,
        FactorKind::RecoveryCode => f.active && f.used_at.is_none(),
        // Email and SMS codes are not authenticators an account is bound to here.
        FactorKind::EmailOtp | FactorKind::SmsOtp => false,
    };
    usable && bound_by(f, at)
}

/// Whether `f` was bound (became usable for authentication) by `at`, ms.
pub(super) fn bound_by(f: &Factor, at: i64) -> bool {
    f.bound_at.is_some_and(|b| b <= at)
}

/// The method a factor of `kind` is proven by.
fn method(kind: FactorKind) -> Option<AuthenticationType> {
    match kind {
        FactorKind::Passkey => Some(AuthenticationType::Passkey),
        FactorKind::Totp => Some(AuthenticationType::Totp),
        FactorKind::RecoveryCode => Some(AuthenticationType::RecoveryCode),
        FactorKind::EmailOtp | FactorKind::SmsOtp => None,
    }
}

/// What binding or removing one of `user_id`'s own credentials on an activity created at
/// `created_at` asks of them: one step, any of the second factors they had then; `None`
/// when they had none (the first factor is bound with what the user has).
pub(super) async fn requirement(
    tx: &mut dyn StoreTx,
    org_id: &str,
    user_id: &str,
    created_at: i64,
) -> Result<Option<MfaPolicy>> {
    let factors = tx.list_factors(org_id, user_id, None).await?;
    // Strongest first, whatever order the factors were stored in (a first passkey and its
    // recovery codes share a creation time).
    let any: Vec<AuthMethod> = [FactorKind::Passkey, FactorKind::Totp, FactorKind::RecoveryCode]
        .into_iter()
        .filter(|kind| factors.iter().any(|f| f.kind == *kind && second_factor_bound_by(f, created_at)))
        .filter_map(method)
        .map(|kind| AuthMethod { kind, id: None })
        .collect();
    if any.is_empty() {
        return Ok(None);
    }
    Ok(Some(MfaPolicy {
        id: ACCOUNT_LEVEL_POLICY_ID.to_owned(),
        organization_id: org_id.to_owned(),
        user_id: user_id.to_owned(),
        name: "binding at the account's level: prove a second factor you already have".to_owned(),
        condition: "true".to_owned(),
        required_methods: vec![MethodGroup { any }],
        order: i64::MIN,
        notes: "built in: adding or removing your own factors, contacts or API keys needs one of your existing \
                second factors"
            .to_owned(),
        created_at,
        updated_at: created_at,
    }))
}

/// Refuses, before any code is checked, an approval proving a factor of `kind` when the user
/// has such factors but every one was bound after the activity was created (`at`, ms).
pub(super) async fn require_bound_before(
    tx: &mut dyn StoreTx,
    org_id: &str,
    user_id: &str,
    kind: FactorKind,
    at: i64,
) -> Result<()> {
    if !matches!(kind, FactorKind::Totp | FactorKind::RecoveryCode) {
        return Ok(());
    }
    let factors = tx.list_factors(org_id, user_id, Some(kind)).await?;
    let usable = |f: &Factor| second_factor_bound_by(f, i64::MAX);
    if !factors.iter().any(usable) || factors.iter().any(|f| second_factor_bound_by(f, at)) {
        // None at all (the check reports that as usual), or one old enough.
        return Ok(());
    }
    Err(Error::PermissionDenied(format!(
        "every {} of user `{user_id}` was bound after this activity was created, so none can approve it; create \
         the activity again if you mean it",
        kind.authentication_type()
    )))
}

/// Refuses a proof by a factor bound after the activity it is offered for was created
/// (`credential_id` is what proved it: a passkey, TOTP device or recovery code id).
pub(super) async fn check_bound_before(
    tx: &mut dyn StoreTx,
    org_id: &str,
    credential_id: &str,
    activity_created_at: i64,
) -> Result<()> {
    let Some(factor) = tx.get_factor(org_id, credential_id).await? else {
        // API keys and session keys are not factors; the policy decides what they prove.
        return Ok(());
    };
    match factor.bound_at {
        Some(at) if at <= activity_created_at => Ok(()),
        _ => Err(Error::PermissionDenied(format!(
            "{} `{}` was bound after this activity was created, so it cannot approve it; create the activity \
             again if you mean it",
            factor.kind.authentication_type(),
            factor.id
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factor(kind: FactorKind, active: bool, bound_at: Option<i64>, used_at: Option<i64>) -> Factor {
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
            used_at,
            created_at: 0,
            updated_at: 0,
            bound_at,
        }
    }

    #[test]
    fn only_factors_bound_by_then_and_still_usable_count() {
        assert!(second_factor_bound_by(&factor(FactorKind::Passkey, true, Some(5), None), 5));
        assert!(!second_factor_bound_by(&factor(FactorKind::Passkey, true, Some(6), None), 5), "bound later");
        assert!(!second_factor_bound_by(&factor(FactorKind::Totp, false, None, None), 5), "not activated");
        assert!(!second_factor_bound_by(&factor(FactorKind::RecoveryCode, true, Some(1), Some(2)), 5), "spent");
        assert!(second_factor_bound_by(&factor(FactorKind::RecoveryCode, true, Some(1), None), 5));
    }
}
