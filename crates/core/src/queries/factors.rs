//! A user's factors and sessions, and the passkey ceremony.

use serde::Serialize;

use super::{Cx, Db, OptionalUserRequest, Query, not_found};
use crate::api::{AuthenticatorView, RegistrationOptions, Timestamp, TotpAuthenticatorView};
use crate::error::Result;
use crate::model::{FactorKind, KeyKind};
use crate::store::StoreTx;

/// The user a factor query is about: the one named, else the caller; must exist here.
async fn subject_user(cx: &Cx<'_>, tx: &mut dyn StoreTx, req: OptionalUserRequest) -> Result<String> {
    let user_id = req.user_id.unwrap_or_else(|| cx.caller.user.id.clone());
    if tx.get_user(cx.org(), &user_id).await?.is_none() {
        return Err(not_found("user", &user_id));
    }
    Ok(user_id)
}

/// `get_authenticators`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetAuthenticatorsResponse {
    /// The user's passkeys.
    pub authenticators: Vec<AuthenticatorView>,
}

/// `get_authenticators`.
pub(crate) struct GetAuthenticators;

impl Query for GetAuthenticators {
    type Request = OptionalUserRequest;
    type Response = GetAuthenticatorsResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: OptionalUserRequest) -> Result<GetAuthenticatorsResponse> {
        let tx = db.tx().await?;
        let user_id = subject_user(cx, tx, req).await?;
        let factors = tx.list_factors(cx.org(), &user_id, Some(FactorKind::Passkey)).await?;
        Ok(GetAuthenticatorsResponse { authenticators: factors.iter().map(AuthenticatorView::from).collect() })
    }
}

/// `get_totp_authenticators`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetTotpAuthenticatorsResponse {
    /// The user's authenticator apps.
    pub totp_authenticators: Vec<TotpAuthenticatorView>,
}

/// `get_totp_authenticators`.
pub(crate) struct GetTotpAuthenticators;

impl Query for GetTotpAuthenticators {
    type Request = OptionalUserRequest;
    type Response = GetTotpAuthenticatorsResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: OptionalUserRequest) -> Result<GetTotpAuthenticatorsResponse> {
        let tx = db.tx().await?;
        let user_id = subject_user(cx, tx, req).await?;
        let factors = tx.list_factors(cx.org(), &user_id, Some(FactorKind::Totp)).await?;
        Ok(GetTotpAuthenticatorsResponse {
            totp_authenticators: factors.iter().map(TotpAuthenticatorView::from).collect(),
        })
    }
}

/// `get_authenticator`'s request.
#[derive(Debug, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetAuthenticatorRequest {
    /// The passkey.
    pub authenticator_id: String,
}

/// `get_authenticator`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetAuthenticatorResponse {
    /// The passkey.
    pub authenticator: AuthenticatorView,
}

/// `get_authenticator`.
pub(crate) struct GetAuthenticator;

impl Query for GetAuthenticator {
    type Request = GetAuthenticatorRequest;
    type Response = GetAuthenticatorResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: GetAuthenticatorRequest) -> Result<GetAuthenticatorResponse> {
        let factor = db
            .tx()
            .await?
            .get_factor(cx.org(), &req.authenticator_id)
            .await?
            .filter(|f| f.kind == FactorKind::Passkey)
            .ok_or_else(|| not_found("authenticator", &req.authenticator_id))?;
        Ok(GetAuthenticatorResponse { authenticator: AuthenticatorView::from(&factor) })
    }
}

/// `get_recovery_codes_status`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RecoveryCodesStatus {
    /// Codes in the current set.
    pub total: usize,
    /// Codes not yet used.
    pub remaining: usize,
    /// When the set was made, if there is one.
    pub created_at: Option<Timestamp>,
}

/// `get_recovery_codes_status`.
pub(crate) struct GetRecoveryCodesStatus;

impl Query for GetRecoveryCodesStatus {
    type Request = OptionalUserRequest;
    type Response = RecoveryCodesStatus;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: OptionalUserRequest) -> Result<RecoveryCodesStatus> {
        let tx = db.tx().await?;
        let user_id = subject_user(cx, tx, req).await?;
        let codes = tx.list_factors(cx.org(), &user_id, Some(FactorKind::RecoveryCode)).await?;
        Ok(RecoveryCodesStatus {
            total: codes.len(),
            remaining: codes.iter().filter(|c| c.used_at.is_none()).count(),
            created_at: codes.first().map(|c| Timestamp::from_ms(c.created_at)),
        })
    }
}

/// One unexpired session.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// The session's API key id.
    pub session_id: String,
    /// Its public key.
    pub public_key: String,
    /// Created.
    pub created_at: Timestamp,
    /// When it expires.
    pub expires_at: Option<Timestamp>,
    /// Whether it is the session making this request.
    pub current: bool,
}

/// `list_sessions`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListSessionsResponse {
    /// The user's unexpired sessions.
    pub sessions: Vec<SessionView>,
}

/// `list_sessions`.
pub(crate) struct ListSessions;

impl Query for ListSessions {
    type Request = OptionalUserRequest;
    type Response = ListSessionsResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: OptionalUserRequest) -> Result<ListSessionsResponse> {
        let tx = db.tx().await?;
        let user_id = subject_user(cx, tx, req).await?;
        let keys = tx.list_api_keys(cx.org(), Some(&user_id)).await?;
        let sessions = keys
            .iter()
            .filter(|k| k.kind == KeyKind::Session && k.expires_at.is_none_or(|e| e > cx.now))
            .map(|k| SessionView {
                session_id: k.id.clone(),
                public_key: k.public_key.clone(),
                created_at: Timestamp::from_ms(k.created_at),
                expires_at: k.expires_at.map(Timestamp::from_ms),
                current: k.id == cx.caller.credential.id,
            })
            .collect();
        Ok(ListSessionsResponse { sessions })
    }
}

/// `get_passkey_registration_options`.
pub(crate) struct GetPasskeyRegistrationOptions;

impl Query for GetPasskeyRegistrationOptions {
    type Request = OptionalUserRequest;
    type Response = RegistrationOptions;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: OptionalUserRequest) -> Result<RegistrationOptions> {
        cx.own_organization("a passkey registration ceremony")?;
        // A ceremony is state: it is written in a transaction of its own.
        let mut tx = db.store().write().await?;
        let user_id = subject_user(cx, &mut *tx, req).await?;
        let factors = &cx.engine.config().factors;
        let options = crate::engine::registration_options(&mut *tx, factors, cx.org(), &user_id, cx.now).await?;
        tx.commit().await?;
        Ok(options)
    }
}
