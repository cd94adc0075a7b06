//! What a client asks about its own session and the server's keys.

use serde::Serialize;

use super::{Cx, Db, NoFields, Query};
use crate::error::{Error, Result};

/// `whoami` / `get_whoami`.
pub(crate) struct Whoami;

impl Query for Whoami {
    type Request = NoFields;
    type Response = crate::api::Whoami;

    async fn run(cx: &Cx<'_>, _: &mut Db, _: NoFields) -> Result<Self::Response> {
        // Nothing beyond the admitted caller: no snapshot is opened.
        Ok(crate::api::Whoami {
            organization_id: cx.caller.organization.id.clone(),
            organization_name: cx.caller.organization.name.clone(),
            user_id: cx.caller.user.id.clone(),
            username: cx.caller.user.name.clone(),
            mfa_enrollment: cx.request.enrollment.get().map(|s| s.whoami_view(cx.now)),
        })
    }
}

/// `get_session_signing_key`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SessionSigningKey {
    /// Uncompressed P-256 public key, hex.
    pub public_key: String,
    /// `ES256_DOUBLE_SHA256`.
    pub scheme: &'static str,
}

/// `get_session_signing_key`.
pub(crate) struct GetSessionSigningKey;

impl Query for GetSessionSigningKey {
    type Request = NoFields;
    type Response = SessionSigningKey;

    async fn run(cx: &Cx<'_>, _: &mut Db, _: NoFields) -> Result<SessionSigningKey> {
        match cx.engine.session_signer() {
            Some(signer) => {
                Ok(SessionSigningKey { public_key: signer.public_key_hex(), scheme: "ES256_DOUBLE_SHA256" })
            }
            None => Err(Error::Internal("the session signing key is not loaded".to_owned())),
        }
    }
}

/// `get_enclave_keys`.
pub(crate) struct GetEnclaveKeys;

impl Query for GetEnclaveKeys {
    type Request = NoFields;
    type Response = crate::otp::EnclavePublicKeys;

    async fn run(cx: &Cx<'_>, _: &mut Db, _: NoFields) -> Result<Self::Response> {
        cx.engine.enclave_keys().await
    }
}
