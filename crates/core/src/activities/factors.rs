//! Factors: passkeys (CREATE_AUTHENTICATORS, DELETE_AUTHENTICATORS), authenticator apps
//! (CREATE_TOTP_AUTHENTICATOR, VERIFY_TOTP_AUTHENTICATOR, DELETE_TOTP_AUTHENTICATORS), recovery
//! codes (CREATE_RECOVERY_CODES) and sessions (STAMP_LOGIN, DELETE_SESSIONS).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use super::users::{existing_user, human_user};
use super::{Activity, Credentials, Done, ExecContext, results, shows};
use crate::error::{Error, Result};
use crate::factors::passkey::Attestation;
use crate::factors::session::SessionClaims;
use crate::factors::{recovery, totp};
use crate::fields::Secret;
use crate::fields::opt_u64_string;
use crate::fields::params;
use crate::model::{ApiKey, ApiKeyCurve, Factor, FactorKind, KeyKind, new_id};
use crate::store::StoreTx;
use crate::validate::{check_code, check_count, check_ids, check_name, unique};

pub use crate::intents::{AttestationParams, AuthenticatorParams};

/// `v1CreateAuthenticatorsIntentV2`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAuthenticators {
    /// The passkeys.
    pub authenticators: Vec<AuthenticatorParams>,
    /// Their owner.
    pub user_id: String,
}

/// `v1DeleteAuthenticatorsIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteAuthenticators {
    /// Their owner.
    pub user_id: String,
    /// The passkeys to remove.
    pub authenticator_ids: Vec<String>,
}

/// twofold's `ACTIVITY_TYPE_CREATE_TOTP_AUTHENTICATOR`: a new, not yet active device.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTotpAuthenticator {
    /// Its owner.
    pub user_id: String,
    /// Human-readable name (default "Authenticator app").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator_name: Option<String>,
}

/// twofold's `ACTIVITY_TYPE_VERIFY_TOTP_AUTHENTICATOR`: the first code, which activates the device.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyTotpAuthenticator {
    /// Its owner.
    pub user_id: String,
    /// The device.
    pub totp_authenticator_id: String,
    /// A current code from the app.
    pub totp_code: Secret,
}

/// twofold's `ACTIVITY_TYPE_DELETE_TOTP_AUTHENTICATORS`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteTotpAuthenticators {
    /// Their owner.
    pub user_id: String,
    /// The devices to remove.
    pub totp_authenticator_ids: Vec<String>,
}

/// twofold's `ACTIVITY_TYPE_CREATE_RECOVERY_CODES`: a new set, replacing the old one.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRecoveryCodes {
    /// Their owner.
    pub user_id: String,
}

/// `v1StampLoginIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StampLogin {
    /// The session's public key (compressed P-256 hex), held by the client.
    pub public_key: String,
    /// Lifetime in seconds (default 900).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[serde(
        default,
        deserialize_with = "opt_u64_string",
        serialize_with = "crate::fields::ser_opt_u64_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration_seconds: Option<u64>,
    /// Delete the user's other sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalidate_existing: Option<bool>,
    /// A session profile to bind the session to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_profile_id: Option<String>,
}

/// twofold's `ACTIVITY_TYPE_DELETE_SESSIONS`: log out sessions.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteSessions {
    /// Their owner.
    pub user_id: String,
    /// The sessions (their key ids) to delete; absent = all of the user's sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_ids: Option<Vec<String>>,
}

results! {
    /// `v1CreateAuthenticatorsResult`, with the recovery codes a first factor comes with.
    CreateAuthenticatorsResult {
        authenticator_ids: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        recovery_code_set_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        recovery_code_count: Option<usize>,
    }
    /// `v1DeleteAuthenticatorsResult`.
    DeleteAuthenticatorsResult { authenticator_ids: Vec<String> }
    /// `deleteTotpAuthenticatorsResult`.
    DeleteTotpAuthenticatorsResult { totp_authenticator_ids: Vec<String> }
    /// `v1DeleteSessionsResult`: how many sessions ended.
    DeleteSessionsResult { deleted_count: u64 }
    /// `createTotpAuthenticatorResult`: the inactive device and its parameters (the secret is shown once).
    CreateTotpAuthenticatorResult { totp_authenticator_id: String, algorithm: String, digits: u8, period: u64 }
    /// `verifyTotpAuthenticatorResult`, with the recovery codes a first factor comes with.
    VerifyTotpAuthenticatorResult {
        totp_authenticator_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        recovery_code_set_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        recovery_code_count: Option<usize>,
    }
    /// `createRecoveryCodesResult` (the codes are shown once).
    CreateRecoveryCodesResult { recovery_code_set_id: String, code_count: usize, replaced_count: u64 }
    /// `v1StampLoginResult`: the session token (no secret: the key pair is); `list_sessions`
    /// names its id (the `current` one, asked with the session's key).
    SessionResult { session: String }
}

pub(crate) fn sealed_seed_context(factor_id: &str) -> String {
    format!("totp-seed:{factor_id}")
}

/// What an authenticator app's enrolment shows once.
#[derive(serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TotpShown<'a> {
    /// `otpauth://totp/...`, for the app to scan.
    pub otpauth_uri: &'a str,
    /// The seed in base32, to type in by hand.
    pub secret: &'a str,
    /// The URI as a QR code, a `data:image/png;base64,` URL.
    pub qr_code_png: String,
}

/// Recovery codes, shown once.
#[derive(serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CodesShown<'a> {
    /// The codes; only their hashes are kept.
    pub recovery_codes: Vec<&'a str>,
}

/// A new set of recovery codes: its id and the codes.
type CodeSet = (String, Vec<Zeroizing<String>>);

/// `result`, showing `codes` once to `user_id` when there are some.
fn showing_codes<O: serde::Serialize>(result: O, user_id: &str, codes: Option<&CodeSet>) -> Result<Done<O>> {
    match codes {
        Some((_, codes)) => {
            Done::revealing(result, user_id, &CodesShown { recovery_codes: codes.iter().map(|c| c.as_str()).collect() })
        }
        None => Ok(result.into()),
    }
}

/// A passkey of user `user_id` (named `user_name`) of `org_id`, verified from `a`: against a
/// registration ceremony this server issued to the user (`get_passkey_registration_options`,
/// single use, expiring), or else against the challenge `a` names, made by the client as
/// Turnkey's SDKs make it (the attestation's clientDataJSON must carry exactly that challenge,
/// type `webauthn.create`, an allowed origin and the relying party's id; webauthn-rs parses and
/// checks the attestation). Either way a credential registers once, anywhere: a seen
/// attestation cannot be replayed, in this organization or another. Not yet inserted.
pub(crate) async fn new_passkey(
    tx: &mut dyn StoreTx,
    ctx: &ExecContext<'_>,
    org_id: &str,
    user_id: &str,
    user_name: &str,
    a: &AuthenticatorParams,
) -> Result<Factor> {
    let attestation = Attestation {
        credential_id: &a.attestation.credential_id,
        client_data_json: &a.attestation.client_data_json,
        attestation_object: &a.attestation.attestation_object,
        transports: &a.attestation.transports,
    };
    let rp = &ctx.factors.relying_party;
    let new = match tx.take_webauthn_challenge(&a.challenge, user_id).await? {
        Some((_, expires_at)) if expires_at <= ctx.now => {
            return Err(Error::invalid("parameters.authenticators[].challenge: the registration challenge expired"));
        }
        Some((state, _)) => rp.finish_registration(&state, &attestation)?,
        None => rp.finish_client_registration(user_id, user_name, &a.challenge, &attestation)?,
    };
    if !tx.factors_by_lookup(FactorKind::Passkey, &new.credential_id).await?.is_empty() {
        return Err(Error::AlreadyExists(
            "parameters.authenticators[].attestation: this passkey is already registered".to_owned(),
        ));
    }
    let public_data = PasskeyData { passkey: &new.stored, transports: &a.attestation.transports };
    Ok(Factor {
        id: new_id(),
        organization_id: org_id.to_owned(),
        user_id: user_id.to_owned(),
        kind: FactorKind::Passkey,
        name: check_name("authenticatorName", &a.authenticator_name)?,
        lookup: Some(new.credential_id),
        public_data: serde_json::to_string(&public_data).map_err(|e| Error::Internal(e.to_string()))?,
        secret: None,
        counter: 0,
        active: true,
        used_at: None,
        created_at: ctx.now,
        updated_at: ctx.now,
        bound_at: Some(ctx.now),
    })
}

/// CREATE_AUTHENTICATORS: registers passkeys ([`new_passkey`]).
impl Activity for CreateAuthenticators {
    type Output = CreateAuthenticatorsResult;

    fn check(&self) -> Result<()> {
        check_count("authenticators", self.authenticators.len(), 1)?;
        self.authenticators.iter().try_for_each(crate::validate::check_authenticator)
    }

    fn policy_params(&self) -> Value {
        params!(self; user_id)
    }

    fn credentials(&self) -> Option<Credentials<'_>> {
        Credentials::binding(&self.user_id)
    }

    shows!(CodesShown<'static>);

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<CreateAuthenticatorsResult>> {
        let p = self;
        let mut ids = Vec::with_capacity(p.authenticators.len());
        let user = human_user(tx, ctx.org_id, &p.user_id).await?;
        for a in &p.authenticators {
            let factor = new_passkey(tx, ctx, ctx.org_id, &user.id, &user.name, a).await?;
            tx.insert_factor(&factor).await?;
            ids.push(factor.id);
        }
        let codes = first_codes(tx, ctx, &p.user_id, &ids).await?;
        let result = CreateAuthenticatorsResult {
            authenticator_ids: ids,
            recovery_code_set_id: codes.as_ref().map(|(id, _)| id.clone()),
            recovery_code_count: codes.as_ref().map(|(_, c)| c.len()),
        };
        showing_codes(result, &p.user_id, codes.as_ref())
    }
}

/// What a passkey factor stores besides its credential id.
#[derive(serde::Serialize)]
struct PasskeyData<'a, P: serde::Serialize> {
    passkey: &'a P,
    transports: &'a [String],
}

/// DELETE_AUTHENTICATORS: removes passkeys.
impl Activity for DeleteAuthenticators {
    type Output = DeleteAuthenticatorsResult;

    fn check(&self) -> Result<()> {
        check_ids("authenticatorIds", &self.authenticator_ids)
    }

    fn policy_params(&self) -> Value {
        params!(self; user_id, authenticator_ids)
    }

    fn credentials(&self) -> Option<Credentials<'_>> {
        Credentials::binding(&self.user_id)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<DeleteAuthenticatorsResult>> {
        delete(tx, ctx, &self.user_id, FactorKind::Passkey, &self.authenticator_ids, "authenticatorIds").await?;
        Ok(DeleteAuthenticatorsResult { authenticator_ids: self.authenticator_ids.clone() }.into())
    }
}

/// DELETE_TOTP_AUTHENTICATORS: removes authenticator apps.
impl Activity for DeleteTotpAuthenticators {
    type Output = DeleteTotpAuthenticatorsResult;

    fn check(&self) -> Result<()> {
        check_ids("totpAuthenticatorIds", &self.totp_authenticator_ids)
    }

    fn policy_params(&self) -> Value {
        params!(self; user_id, totp_authenticator_ids)
    }

    fn credentials(&self) -> Option<Credentials<'_>> {
        Credentials::binding(&self.user_id)
    }

    async fn execute(
        &self,
        tx: &mut dyn StoreTx,
        ctx: &ExecContext<'_>,
    ) -> Result<Done<DeleteTotpAuthenticatorsResult>> {
        let ids = &self.totp_authenticator_ids;
        delete(tx, ctx, &self.user_id, FactorKind::Totp, ids, "totpAuthenticatorIds").await?;
        Ok(DeleteTotpAuthenticatorsResult { totp_authenticator_ids: ids.clone() }.into())
    }
}

/// DELETE_SESSIONS: ends some or all of a user's sessions.
impl Activity for DeleteSessions {
    type Output = DeleteSessionsResult;

    fn check(&self) -> Result<()> {
        self.session_ids.as_deref().map(|ids| unique("sessionIds", ids)).transpose().map(drop)
    }

    fn policy_params(&self) -> Value {
        params!(self; user_id, session_ids)
    }

    fn credentials(&self) -> Option<Credentials<'_>> {
        Credentials::managing(&self.user_id)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<DeleteSessionsResult>> {
        existing_user(tx, ctx.org_id, &self.user_id).await?;
        let deleted_count = tx.delete_sessions(ctx.org_id, &self.user_id, self.session_ids.as_deref(), None).await?;
        Ok(DeleteSessionsResult { deleted_count }.into())
    }
}

/// Removes `ids`, every one a factor of `kind` of the user's.
async fn delete(
    tx: &mut dyn StoreTx,
    ctx: &ExecContext<'_>,
    user_id: &str,
    kind: FactorKind,
    ids: &[String],
    field: &str,
) -> Result<()> {
    existing_user(tx, ctx.org_id, user_id).await?;
    let existing = tx.list_factors(ctx.org_id, user_id, Some(kind)).await?;
    if let Some(missing) = ids.iter().find(|id| !existing.iter().any(|f| &f.id == *id)) {
        return Err(Error::NotFound(format!(
            "parameters.{field}: user `{user_id}` has no {} `{}`",
            kind.as_str().to_ascii_lowercase(),
            crate::crypto::clip(missing)
        )));
    }
    tx.delete_factors(ctx.org_id, user_id, kind, Some(ids)).await?;
    Ok(())
}

/// CREATE_TOTP_AUTHENTICATOR: a new, inactive authenticator app; its secret is revealed once.
impl Activity for CreateTotpAuthenticator {
    type Output = CreateTotpAuthenticatorResult;

    fn check(&self) -> Result<()> {
        self.authenticator_name.as_deref().map(|n| check_name("authenticatorName", n)).transpose().map(drop)
    }

    fn policy_params(&self) -> Value {
        params!(self; user_id)
    }

    fn credentials(&self) -> Option<Credentials<'_>> {
        Credentials::managing(&self.user_id)
    }

    shows!(TotpShown<'static>);

    async fn execute(
        &self,
        tx: &mut dyn StoreTx,
        ctx: &ExecContext<'_>,
    ) -> Result<Done<CreateTotpAuthenticatorResult>> {
        let (user_id, name) = (self.user_id.as_str(), self.authenticator_name.as_deref());
        let user = human_user(tx, ctx.org_id, user_id).await?;
        let id = new_id();
        let seed = totp::new_seed()?;
        let params = totp::TotpParams::default();
        let account = user.email.clone().unwrap_or_else(|| user.name.clone());
        let enrollment = totp::enrollment(&seed, &params, &ctx.factors.totp_issuer, &account)?;
        let factor = Factor {
            id: id.clone(),
            organization_id: ctx.org_id.to_owned(),
            user_id: user_id.to_owned(),
            kind: FactorKind::Totp,
            name: check_name("authenticatorName", name.unwrap_or("Authenticator app"))?,
            lookup: None,
            public_data: serde_json::to_string(&params).map_err(|e| Error::Internal(e.to_string()))?,
            secret: Some(ctx.factors.secrets.seal(&sealed_seed_context(&id), &seed)?),
            counter: 0,
            active: false,
            used_at: None,
            created_at: ctx.now,
            updated_at: ctx.now,
            bound_at: None,
        };
        tx.insert_factor(&factor).await?;
        let shown = TotpShown {
            otpauth_uri: &enrollment.uri,
            secret: enrollment.secret.as_str(),
            qr_code_png: format!("data:image/png;base64,{}", enrollment.qr_png_base64),
        };
        let totp::TotpParams { algorithm, digits, period } = params;
        let result = CreateTotpAuthenticatorResult { totp_authenticator_id: id, algorithm, digits, period };
        Done::revealing(result, user_id, &shown)
    }
}

/// VERIFY_TOTP_AUTHENTICATOR: activates an authenticator app whose first code was checked.
impl Activity for VerifyTotpAuthenticator {
    type Output = VerifyTotpAuthenticatorResult;

    fn check(&self) -> Result<()> {
        check_code("totpCode", self.totp_code.expose())
    }

    fn policy_params(&self) -> Value {
        params!(self; user_id, totp_authenticator_id)
    }

    fn credentials(&self) -> Option<Credentials<'_>> {
        Credentials::binding(&self.user_id)
    }

    shows!(CodesShown<'static>);

    async fn execute(
        &self,
        tx: &mut dyn StoreTx,
        ctx: &ExecContext<'_>,
    ) -> Result<Done<VerifyTotpAuthenticatorResult>> {
        let (user_id, id) = (self.user_id.as_str(), self.totp_authenticator_id.as_str());
        let mut factor = tx
            .get_factor(ctx.org_id, id)
            .await?
            .filter(|f| f.kind == FactorKind::Totp && f.user_id == user_id)
            .ok_or_else(|| {
                Error::NotFound(format!("user `{user_id}` has no TOTP authenticator `{}`", crate::crypto::clip(id)))
            })?;
        // The code itself was checked (and its step used up) before the activity was recorded.
        factor.active = true;
        factor.updated_at = ctx.now;
        factor.bound_at = Some(ctx.now);
        tx.update_factor(&factor).await?;
        let codes = first_codes(tx, ctx, user_id, std::slice::from_ref(&factor.id)).await?;
        let result = VerifyTotpAuthenticatorResult {
            totp_authenticator_id: id.to_owned(),
            recovery_code_set_id: codes.as_ref().map(|(id, _)| id.clone()),
            recovery_code_count: codes.as_ref().map(|(_, c)| c.len()),
        };
        showing_codes(result, user_id, codes.as_ref())
    }
}

/// CREATE_RECOVERY_CODES: replaces the user's recovery codes; the new ones are revealed once.
impl Activity for CreateRecoveryCodes {
    type Output = CreateRecoveryCodesResult;

    fn policy_params(&self) -> Value {
        params!(self; user_id)
    }

    fn credentials(&self) -> Option<Credentials<'_>> {
        Credentials::binding(&self.user_id)
    }

    shows!(CodesShown<'static>);

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<CreateRecoveryCodesResult>> {
        let user_id = self.user_id.as_str();
        human_user(tx, ctx.org_id, user_id).await?;
        let replaced_count = tx.delete_factors(ctx.org_id, user_id, FactorKind::RecoveryCode, None).await?;
        let codes = issue_codes(tx, ctx, user_id).await?;
        let result = CreateRecoveryCodesResult {
            recovery_code_set_id: codes.0.clone(),
            code_count: codes.1.len(),
            replaced_count,
        };
        showing_codes(result, user_id, Some(&codes))
    }
}

/// Stores a new set of recovery codes for `user_id` (hashed) and returns its id and the
/// codes, to be shown once.
async fn issue_codes(tx: &mut dyn StoreTx, ctx: &ExecContext<'_>, user_id: &str) -> Result<CodeSet> {
    let set_id = new_id();
    let mut shown = Vec::with_capacity(recovery::CODES_PER_SET);
    for code in recovery::generate_set()? {
        tx.insert_factor(&Factor {
            id: new_id(),
            organization_id: ctx.org_id.to_owned(),
            user_id: user_id.to_owned(),
            kind: FactorKind::RecoveryCode,
            name: set_id.clone(),
            lookup: Some(code.lookup),
            public_data: "{}".to_owned(),
            secret: Some(code.hash),
            counter: 0,
            active: true,
            used_at: None,
            created_at: ctx.now,
            updated_at: ctx.now,
            bound_at: Some(ctx.now),
        })
        .await?;
        shown.push(code.display);
    }
    Ok((set_id, shown))
}

/// "The enrollment flow issues one-time recovery codes at the end": when `bound` makes a
/// user's first passkey or authenticator app and the user has no recovery codes, a set is
/// issued with it, to be shown once.
async fn first_codes(
    tx: &mut dyn StoreTx,
    ctx: &ExecContext<'_>,
    user_id: &str,
    bound: &[String],
) -> Result<Option<CodeSet>> {
    let factors = tx.list_factors(ctx.org_id, user_id, None).await?;
    let earlier = factors
        .iter()
        .any(|f| matches!(f.kind, FactorKind::Passkey | FactorKind::Totp) && f.active && !bound.contains(&f.id));
    if earlier || factors.iter().any(|f| f.kind == FactorKind::RecoveryCode) {
        return Ok(None);
    }
    issue_codes(tx, ctx, user_id).await.map(Some)
}

/// STAMP_LOGIN: a read-write session for the caller's client-held key.
impl Activity for StampLogin {
    type Output = SessionResult;

    fn check(&self) -> Result<()> {
        crate::crypto::parse_public_key(ApiKeyCurve::P256, &self.public_key)
            .map(drop)
            .map_err(|e| Error::invalid(format!("parameters.publicKey: {e}")))
    }

    fn policy_params(&self) -> Value {
        params!(self; public_key, expiration_seconds, session_profile_id)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<SessionResult>> {
        create_session(tx, ctx, ctx.org_id, ctx.initiator_user_id, self).await.map(Done::from)
    }
}

/// Creates a read-write session key for `user_id` in `org_id` and signs its token: the one
/// path every login (stamp login, OTP login) takes. Returns `{session, sessionId}`.
pub(crate) async fn create_session(
    tx: &mut dyn StoreTx,
    ctx: &ExecContext<'_>,
    org_id: &str,
    user_id: &str,
    p: &StampLogin,
) -> Result<SessionResult> {
    let signer = ctx.signer.ok_or_else(|| Error::Internal("the session signing key is not loaded".to_owned()))?;
    human_user(tx, org_id, user_id).await?;
    let profile = match &p.session_profile_id {
        Some(id) => Some(super::profiles::usable_profile(tx, org_id, id).await?),
        None => None,
    };
    let mut lifetime = p.expiration_seconds.unwrap_or(ctx.factors.session_default_secs);
    if lifetime == 0 || lifetime > ctx.factors.session_max_secs {
        return Err(Error::invalid(format!(
            "parameters.expirationSeconds: must be between 1 and {} seconds",
            ctx.factors.session_max_secs
        )));
    }
    // A profile caps the lifetime of every session bound to it.
    if let Some(cap) = profile.as_ref().and_then(|p| p.expiration_seconds) {
        lifetime = lifetime.min(u64::try_from(cap).unwrap_or(0));
    }
    let lifetime_ms = i64::try_from(lifetime).unwrap_or(i64::MAX).saturating_mul(1000);
    let public_key = p.public_key.to_ascii_lowercase();
    let key = ApiKey {
        id: new_id(),
        organization_id: org_id.to_owned(),
        user_id: user_id.to_owned(),
        name: format!("Read Write Session - {}", ctx.now),
        verify_key: crate::crypto::parse_public_key(ApiKeyCurve::P256, &public_key)?,
        public_key: public_key.clone(),
        curve: ApiKeyCurve::P256,
        created_at: ctx.now,
        updated_at: ctx.now,
        expires_at: Some(ctx.now.saturating_add(lifetime_ms)),
        kind: KeyKind::Session,
        session_profile_id: profile.as_ref().map(|p| p.id.clone()),
    };
    tx.insert_api_key(&key).await?;
    if p.invalidate_existing == Some(true) {
        tx.delete_sessions(org_id, user_id, None, Some(&key.id)).await?;
    }
    let claims = SessionClaims {
        exp: key.expires_at.unwrap_or(ctx.now) / 1000,
        public_key,
        session_type: "SESSION_TYPE_READ_WRITE".to_owned(),
        user_id: user_id.to_owned(),
        organization_id: org_id.to_owned(),
        session_profile_id: profile.as_ref().map(|p| p.id.clone()),
        scope: profile.map(|p| p.scope).unwrap_or_default(),
    };
    // The token is no secret (the key pair is), so it is stored with the result.
    Ok(SessionResult { session: signer.sign(&claims)? })
}
