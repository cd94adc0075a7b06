//! Identity: from a verified stamp and the body's `organizationId` to a [`Caller`].

use super::Engine;
use crate::crypto;
use crate::error::{Error, Result};
use crate::model::{ApiKey, Organization, User};
use crate::store::StoreTx;

/// A parsed `X-Stamp`, not yet checked.
#[derive(Debug, Clone)]
pub struct StampProof {
    /// Public key hex as sent.
    pub public_key: String,
    /// `SIGNATURE_SCHEME_TK_API_P256` or `SIGNATURE_SCHEME_TK_API_ED25519`.
    pub scheme: String,
    /// Signature hex as sent.
    pub signature: String,
}

/// Who is asking: an authenticated user acting in its own organization.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user: User,
    /// The organization it acts in.
    pub organization: Organization,
    /// The credential that signed the request.
    pub credential: ApiKey,
    /// The stamp, kept for the vote record.
    pub stamp: StampProof,
}

/// Turnkey's wording, which SDKs match on.
const UNKNOWN_KEY: &str = "could not find public key in organization or its parent organization";

impl Engine {
    /// Checks the stamp over `body` and resolves the caller in `organization_id`.
    pub async fn authenticate(
        &self,
        tx: &mut dyn StoreTx,
        stamp: &StampProof,
        body: &[u8],
        organization_id: &str,
    ) -> Result<Caller> {
        let signature = hex::decode(&stamp.signature)
            .map_err(|_| Error::Unauthenticated("stamp signature is not valid hex".to_owned()))?;
        let keys = tx.api_keys_by_public_key(&stamp.public_key.to_ascii_lowercase()).await?;
        let Some(first) = keys.first() else {
            return Err(Error::Unauthenticated(format!("{UNKNOWN_KEY}: `{}`", crypto::clip(&stamp.public_key))));
        };
        if first.curve.stamp_scheme() != stamp.scheme {
            self.audit_rejected_stamp(first, "stamp scheme does not match the key's curve").await;
            return Err(Error::Unauthenticated(format!(
                "stamp scheme `{}` does not match the key's curve {}; expected `{}`",
                crypto::clip(&stamp.scheme),
                first.curve.as_str(),
                first.curve.stamp_scheme()
            )));
        }
        // Every row with this public key carries the same verifying key.
        if !crypto::verify(first.curve, &first.verify_key, body, &signature) {
            self.audit_rejected_stamp(first, "signature does not verify over the request body").await;
            return Err(Error::Unauthenticated("stamp signature does not verify over the request body".to_owned()));
        }
        let Some(key) = keys.iter().find(|k| k.organization_id == organization_id).cloned() else {
            self.audit_rejected_stamp(first, "key used for an organization it does not belong to").await;
            return Err(Error::PermissionDenied(format!(
                "this key may not act in organization `{}`: {UNKNOWN_KEY}",
                crypto::clip(organization_id)
            )));
        };
        if key.expires_at.is_some_and(|exp| exp <= self.clock.now_ms()) {
            self.audit_rejected_stamp(&key, "expired api key").await;
            return Err(Error::Unauthenticated(format!("expired api key `{}`", key.id)));
        }
        let organization = tx
            .get_organization(&key.organization_id)
            .await?
            .ok_or_else(|| Error::Unauthenticated(UNKNOWN_KEY.to_owned()))?;
        let user = tx
            .get_user(&key.organization_id, &key.user_id)
            .await?
            .ok_or_else(|| Error::Unauthenticated(UNKNOWN_KEY.to_owned()))?;
        Ok(Caller { user, organization, credential: key, stamp: stamp.clone() })
    }
}

impl Engine {
    /// Records a rejected stamp by a registered key in that key's organization's audit
    /// log. Unknown keys are only logged: an unauthenticated caller must not be able to
    /// write into an organization's chain by naming it.
    async fn audit_rejected_stamp(&self, key: &ApiKey, reason: &str) {
        let event = crate::audit::NewEvent {
            event_type: "STAMP_REJECTED",
            outcome: "DENIED",
            actor_user_id: Some(&key.user_id),
            actor_credential_id: Some(&key.id),
            subject: None,
            details: serde_json::json!({ "reason": reason }),
        };
        self.audit_refusal(&key.organization_id, event).await;
        tracing::info!(key_id = %key.id, organization_id = %key.organization_id, reason, "stamp rejected");
    }
}
