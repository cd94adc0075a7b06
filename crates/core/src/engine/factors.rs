//! Factors in the pipeline: executing factor activities (passkeys, TOTP devices,
//! recovery codes, sessions), and proving a guessable secret (a TOTP or recovery
//! code) under a per-user failure limit that holds across server processes.

use serde_json::json;
use zeroize::Zeroizing;

use super::{Caller, Engine};
use crate::activities::FactorConfig;
use crate::activities::factors::sealed_seed_context;
use crate::activities::users::human_user;
use crate::error::{Error, Result};
use crate::factors::session::{SIGNING_KEY_NAME, SessionSigner};
use crate::factors::{recovery, totp};
use crate::mfa::Proven;
use crate::model::{Factor, FactorKind, KeyKind};
use crate::store::StoreTx;

/// A secret a request offers as proof of a factor.
#[derive(Debug, Clone, Copy)]
pub(super) enum Secret<'a> {
    /// A TOTP code: for one (possibly not yet active) device, or any active device.
    Totp {
        /// The code.
        code: &'a str,
        /// The device being activated, if this is its first code.
        device: Option<&'a str>,
    },
    /// A recovery code (used up when it matches).
    RecoveryCode(&'a str),
    /// A verification token from VERIFY_OTP for the user's email or phone (used up when it matches).
    VerificationToken(&'a str),
}

impl Secret<'_> {
    /// The factor this secret proves.
    pub(super) fn factor(self) -> FactorKind {
        match self {
            Secret::Totp { .. } => FactorKind::Totp,
            Secret::RecoveryCode(_) => FactorKind::RecoveryCode,
            Secret::VerificationToken(token) => super::otp::token_factor(token),
        }
    }
}

impl Engine {
    /// Loads the session signing key from the store, creating and sealing one on first
    /// use. Every node of an installation signs with the same key.
    pub async fn load_session_signer(&self) -> Result<()> {
        let secrets = &self.config.factors.secrets;
        let mut tx = self.store.write().await?;
        let sealed = match tx.server_secret(SIGNING_KEY_NAME).await? {
            Some(sealed) => sealed,
            None => {
                let (_, scalar) = SessionSigner::generate()?;
                let sealed = secrets.seal(SIGNING_KEY_NAME, &scalar)?;
                tx.insert_server_secret(SIGNING_KEY_NAME, &sealed, self.clock.now_ms()).await?;
                tx.server_secret(SIGNING_KEY_NAME)
                    .await?
                    .ok_or_else(|| Error::Internal("the session signing key vanished".to_owned()))?
            }
        };
        tx.commit().await?;
        let scalar = secrets.open(SIGNING_KEY_NAME, &sealed).map_err(|_| {
            Error::Internal(
                "the stored session signing key does not open with the configured secrets key; \
                 every node must use the installation's secrets key"
                    .to_owned(),
            )
        })?;
        let _ = self.signer.set(SessionSigner::from_bytes(&scalar)?);
        Ok(())
    }

    /// Checks `secret` for `user_id`, counting a failure (or clearing them after a
    /// success) in its own committed transaction, so the count survives a failing
    /// request and holds across processes. With `bound_by`, only factors bound by then
    /// (ms) are tried. Returns the authentication type proven.
    pub(super) async fn prove(
        &self,
        caller: &Caller,
        user_id: &str,
        secret: Secret<'_>,
        bound_by: Option<i64>,
    ) -> Result<Proven> {
        let kind = secret.factor();
        let factor_name = kind.as_str();
        let config = &self.config.factors;
        let now = self.clock.now_ms();
        let mut tx = self.store.write().await?;
        if !tx.lock_user(&caller.organization.id, user_id).await? {
            return Err(Error::NotFound(format!("no user `{}` in this organization", crate::crypto::clip(user_id))));
        }
        let failures = tx.auth_failures_since(user_id, factor_name, now - config.failure_window_ms).await?;
        if failures.len() >= config.max_failures {
            let oldest = failures.first().copied().unwrap_or(now);
            let retry_ms = (oldest + config.failure_window_ms - now).max(1000);
            return Err(Error::RateLimited {
                message: format!(
                    "too many failed {} attempts: {} in the last {} minutes; try again later",
                    kind.authentication_type(),
                    failures.len(),
                    config.failure_window_ms / 60_000
                ),
                retry_after_secs: u64::try_from((retry_ms + 999) / 1000).unwrap_or(1),
            });
        }
        let verdict = match secret {
            Secret::Totp { code, device } => {
                self.check_totp(&mut *tx, &caller.organization.id, user_id, code, (device, bound_by), now).await?
            }
            Secret::RecoveryCode(code) => {
                check_recovery_code(&mut *tx, &caller.organization.id, user_id, code, bound_by, now).await?
            }
            Secret::VerificationToken(token) => {
                self.check_verification_token(&mut *tx, &caller.organization.id, user_id, token, kind, now).await?
            }
        };
        let (event_type, outcome, details, result) = match verdict {
            Ok(factor_id) => {
                tx.clear_auth_failures(user_id, factor_name).await?;
                let details = json!({ "factor": kind.authentication_type(), "factorId": factor_id, "userId": user_id });
                let proven = Proven { method: kind.authentication_type().to_owned(), credential_id: factor_id };
                ("FACTOR_PROVEN", "SUCCESS", details, Ok(proven))
            }
            Err(why) => {
                tx.record_auth_failure(&caller.organization.id, user_id, factor_name, now).await?;
                let details = json!({ "factor": kind.authentication_type(), "reason": why, "userId": user_id });
                ("FACTOR_FAILED", "DENIED", details, Err(Error::Unauthenticated(why)))
            }
        };
        let event = crate::audit::NewEvent {
            event_type,
            outcome,
            actor_user_id: Some(&caller.user.id),
            actor_credential_id: Some(&caller.credential.id),
            subject: None,
            details,
        };
        crate::audit::append(&mut *tx, &caller.organization.id, now, event).await?;
        tx.commit().await?;
        result
    }

    /// Checks `code` against the device being activated, or the active devices bound by
    /// `bound_by`: `(device, bound_by)`.
    async fn check_totp(
        &self,
        tx: &mut dyn StoreTx,
        org_id: &str,
        user_id: &str,
        code: &str,
        (device, bound_by): (Option<&str>, Option<i64>),
        now: i64,
    ) -> Result<std::result::Result<String, String>> {
        let devices: Vec<Factor> = tx
            .list_factors(org_id, user_id, Some(FactorKind::Totp))
            .await?
            .into_iter()
            .filter(|f| match device {
                Some(id) => f.id == id,
                None => f.active,
            })
            .filter(|f| bound_in_time(f, bound_by))
            .collect();
        if devices.is_empty() {
            return Ok(Err(match device {
                Some(id) => format!("user `{user_id}` has no TOTP authenticator `{}`", crate::crypto::clip(id)),
                None => format!("user `{user_id}` has no active TOTP authenticator"),
            }));
        }
        let now_secs = u64::try_from(now / 1000).unwrap_or(0);
        for f in &devices {
            let Some(sealed) = &f.secret else { continue };
            let seed: Zeroizing<Vec<u8>> = self.config.factors.secrets.open(&sealed_seed_context(&f.id), sealed)?;
            let params: totp::TotpParams = serde_json::from_str(&f.public_data).unwrap_or_default();
            let Some(step) = totp::matching_step(&seed, &params, code, now_secs)? else { continue };
            let step = i64::try_from(step).unwrap_or(i64::MAX);
            // Moves the device's last used step forward atomically: a replayed code, or
            // one older than the last accepted, cannot pass on any node.
            if tx.advance_factor_counter(&f.id, step, now).await? {
                return Ok(Ok(f.id.clone()));
            }
            return Ok(Err("invalid TOTP code: this code (or a newer one) was already used".to_owned()));
        }
        Ok(Err("invalid TOTP code".to_owned()))
    }
}

async fn check_recovery_code(
    tx: &mut dyn StoreTx,
    org_id: &str,
    user_id: &str,
    code: &str,
    bound_by: Option<i64>,
    now: i64,
) -> Result<std::result::Result<String, String>> {
    let normalized = recovery::normalize(code);
    let Some(lookup) = recovery::lookup_of(&normalized) else {
        return Ok(Err("invalid recovery code".to_owned()));
    };
    let candidates = tx.factors_by_lookup(FactorKind::RecoveryCode, lookup).await?;
    let ours = |f: &&Factor| f.organization_id == org_id && f.user_id == user_id && bound_in_time(f, bound_by);
    for f in candidates.iter().filter(ours) {
        let Some(hash) = &f.secret else { continue };
        if !recovery::matches(&normalized, hash) {
            continue;
        }
        if f.used_at.is_some() || !tx.use_factor(&f.id, now).await? {
            return Ok(Err("invalid recovery code: this code was already used".to_owned()));
        }
        return Ok(Ok(f.id.clone()));
    }
    Ok(Err("invalid recovery code".to_owned()))
}

/// Whether `f` was bound by `bound_by` (ms), when that limit is set.
fn bound_in_time(f: &Factor, bound_by: Option<i64>) -> bool {
    bound_by.is_none_or(|at| super::account::bound_by(f, at))
}

/// Passkey registration options for `user`, with the ceremony stored for `create_authenticators`.
pub(crate) async fn registration_options(
    tx: &mut dyn StoreTx,
    config: &FactorConfig,
    org_id: &str,
    user_id: &str,
    now: i64,
) -> Result<crate::api::RegistrationOptions> {
    let user = human_user(tx, org_id, user_id).await?;
    let existing: Vec<String> = tx
        .list_factors(org_id, user_id, Some(FactorKind::Passkey))
        .await?
        .into_iter()
        .filter_map(|f| f.lookup)
        .collect();
    let reg =
        config.relying_party.start_registration(&user.id, user.email.as_deref().unwrap_or(&user.name), &existing)?;
    tx.insert_webauthn_challenge(&reg.challenge, org_id, user_id, &reg.state, now + config.registration_timeout_ms)
        .await?;
    Ok(crate::api::RegistrationOptions { challenge: reg.challenge, public_key: reg.options["publicKey"].clone() })
}

/// Whether `caller`'s credential counts as fresh authentication for changing factors.
pub(super) fn is_fresh(caller: &Caller, config: &FactorConfig, now: i64) -> bool {
    match &caller.credential.api_key {
        Some(key) if key.kind == KeyKind::Session => now - key.created_at <= config.fresh_auth_ms,
        _ => true,
    }
}
