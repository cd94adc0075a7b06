//! Identity: from a verified stamp and the body's `organizationId` to a [`Caller`].

use super::Engine;
use crate::crypto;
use crate::error::{Error, Result};
use crate::factors::passkey::{self, WebauthnStamp};
use crate::model::{ApiKey, FactorKind, Organization, User};
use crate::store::StoreTx;

/// A parsed stamp header, not yet checked.
#[derive(Debug, Clone)]
pub enum StampProof {
    /// `X-Stamp`: an API key or session key signature.
    Key {
        /// Public key hex as sent.
        public_key: String,
        /// `SIGNATURE_SCHEME_TK_API_P256` or `SIGNATURE_SCHEME_TK_API_ED25519`.
        scheme: String,
        /// Signature hex as sent.
        signature: String,
    },
    /// `X-Stamp-Webauthn`: a passkey assertion over the body's hash.
    Webauthn(WebauthnStamp),
    /// `X-Stamp-Attested`: a signature by the key an OTP verification token binds (login only).
    Attested {
        /// The verification token (`publicKeyAttestation`).
        token: String,
        /// The token's `public_key` (compressed P-256 hex).
        public_key: String,
        /// DER signature hex over the body.
        signature: String,
    },
}

/// The scheme recorded for votes carried by a passkey stamp.
pub const WEBAUTHN_SCHEME: &str = "SIGNATURE_SCHEME_TK_WEBAUTHN";
/// The scheme of an `X-Stamp-Attested` stamp.
pub const ATTESTED_SCHEME: &str = "STAMP_ATTESTED_SCHEME_P256_VERIFICATION_TOKEN";

impl StampProof {
    /// `(public key or credential id, scheme, signature)` as a vote records them.
    fn record(&self) -> (String, String, String) {
        match self {
            StampProof::Key { public_key, scheme, signature } => {
                (public_key.clone(), scheme.clone(), signature.clone())
            }
            StampProof::Webauthn(w) => (
                w.credential_id.clone(),
                WEBAUTHN_SCHEME.to_owned(),
                serde_json::json!({
                    "authenticatorData": w.authenticator_data,
                    "clientDataJson": w.client_data_json,
                    "credentialId": w.credential_id,
                    "signature": w.signature,
                })
                .to_string(),
            ),
            StampProof::Attested { public_key, signature, .. } => {
                (public_key.clone(), ATTESTED_SCHEME.to_owned(), signature.clone())
            }
        }
    }
}

/// The credential that signed a request.
#[derive(Debug, Clone)]
pub struct CallerCredential {
    /// Its id (`apiKeyId` or `authenticatorId`).
    pub id: String,
    /// Public key hex, or a passkey's credential id.
    pub public_key: String,
    /// `CREDENTIAL_TYPE_...`.
    pub credential_type: &'static str,
    /// The `AUTHENTICATION_TYPE_...` a stamp by it proves.
    pub authentication_type: &'static str,
    /// The key row, for API keys and session keys.
    pub api_key: Option<ApiKey>,
}

/// Who is asking: an authenticated user acting in its own organization.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user: User,
    /// The organization it acts in.
    pub organization: Organization,
    /// The credential that signed the request.
    pub credential: CallerCredential,
    /// The stamp, kept for the vote record.
    pub stamp: StampProof,
    /// Whether it is its organization's auth proxy service user (confined to sign-in).
    pub auth_proxy: bool,
}

impl Caller {
    /// `(public key, scheme, signature)` of the stamp, for a vote record.
    pub(super) fn stamp_record(&self) -> (String, String, String) {
        self.stamp.record()
    }
}

/// Turnkey's wording, which SDKs match on.
pub(super) const UNKNOWN_KEY: &str = "could not find public key in organization or its parent organization";

impl Engine {
    /// Checks a passkey or attested stamp over `body` and resolves the caller in
    /// `organization_id` (API-key stamps are admitted from cached key facts instead).
    pub(super) async fn authenticate_factor(
        &self,
        tx: &mut dyn StoreTx,
        stamp: &StampProof,
        body: &[u8],
        organization_id: &str,
    ) -> Result<Caller> {
        let (credential, org_id, user_id) = match stamp {
            StampProof::Webauthn(w) => self.check_passkey_stamp(tx, w, body, organization_id).await?,
            StampProof::Attested { token, public_key, signature } => {
                self.check_attested_stamp(tx, token, public_key, signature, body, organization_id).await?
            }
            StampProof::Key { .. } => {
                return Err(Error::Internal("an API-key stamp is admitted from key facts, not here".to_owned()));
            }
        };
        let organization =
            tx.get_organization(&org_id).await?.ok_or_else(|| Error::Unauthenticated(UNKNOWN_KEY.to_owned()))?;
        let user =
            tx.get_user(&org_id, &user_id).await?.ok_or_else(|| Error::Unauthenticated(UNKNOWN_KEY.to_owned()))?;
        let auth_proxy = self.is_proxy_user(tx, &user).await?;
        Ok(Caller { user, organization, credential, stamp: stamp.clone(), auth_proxy })
    }

    /// Verifies a passkey stamp and moves the credential's signature counter forward
    /// (in its own committed write, so a replayed or cloned assertion fails on every node).
    async fn check_passkey_stamp(
        &self,
        tx: &mut dyn StoreTx,
        stamp: &WebauthnStamp,
        body: &[u8],
        organization_id: &str,
    ) -> Result<(CallerCredential, String, String)> {
        let lookup = passkey::canonical_credential_id(&stamp.credential_id)
            .map_err(|e| Error::Unauthenticated(format!("invalid X-Stamp-Webauthn header: {e}")))?;
        let factors = tx.factors_by_lookup(FactorKind::Passkey, &lookup).await?;
        let Some(factor) = sub_org_passkey(tx, factors, organization_id).await? else {
            return Err(Error::Unauthenticated(format!(
                "{UNKNOWN_KEY}: no passkey with credential id `{}`",
                crypto::clip(&stamp.credential_id)
            )));
        };
        let mut data: serde_json::Value = serde_json::from_str(&factor.public_data).unwrap_or_default();
        let stored = data["passkey"].take();
        let assertion = match self.config.factors.relying_party.verify_stamp(stored, factor.counter, stamp, body) {
            Ok(a) => a,
            Err(e) => {
                self.audit_rejected_stamp(&factor.organization_id, &factor.user_id, &factor.id, &e.to_string()).await;
                return Err(e);
            }
        };
        if assertion.counter > 0 {
            let mut w = self.store.write().await?;
            let advanced =
                w.advance_factor_counter(&factor.id, i64::from(assertion.counter), self.clock.now_ms()).await?;
            w.commit().await?;
            if !advanced {
                let why = "passkey signature counter did not increase: a replayed assertion or a cloned authenticator";
                self.audit_rejected_stamp(&factor.organization_id, &factor.user_id, &factor.id, why).await;
                return Err(Error::Unauthenticated(format!("passkey stamp refused: {why}")));
            }
        }
        let credential = CallerCredential {
            id: factor.id.clone(),
            public_key: lookup,
            credential_type: "CREDENTIAL_TYPE_WEBAUTHN_AUTHENTICATOR",
            authentication_type: FactorKind::Passkey.authentication_type(),
            api_key: None,
        };
        Ok((credential, factor.organization_id, factor.user_id))
    }

    /// Records a rejected stamp by a registered credential in its organization's audit
    /// log, counted per credential and window. Unknown credentials are only logged: an
    /// unauthenticated caller must not be able to write into an organization's chain by
    /// naming it.
    pub(super) async fn audit_rejected_stamp(&self, org_id: &str, user_id: &str, credential_id: &str, reason: &str) {
        self.note_rejected_stamp(org_id, user_id, credential_id, reason).await;
    }
}

/// The passkey of `factors` (one credential id's rows) registered in `organization_id`, or
/// else in one of its direct sub-organizations: Turnkey lets a passkey user whose
/// sub-organization the app does not know name the parent ("this can be the parent
/// organization ID"), and @turnkey/core's `loginWithPasskey` does. Ambiguity (the credential
/// in two sub-organizations) finds none.
async fn sub_org_passkey(
    tx: &mut dyn StoreTx,
    factors: Vec<crate::model::Factor>,
    organization_id: &str,
) -> Result<Option<crate::model::Factor>> {
    if let Some(own) = factors.iter().find(|f| f.organization_id == organization_id) {
        return Ok(Some(own.clone()));
    }
    let mut found = None;
    for factor in factors.into_iter().take(8) {
        let parent = tx.get_organization(&factor.organization_id).await?.and_then(|o| o.parent_id);
        if parent.as_deref() == Some(organization_id) {
            if found.is_some() {
                return Ok(None);
            }
            found = Some(factor);
        }
    }
    Ok(found)
}
