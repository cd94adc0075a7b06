//! Network admission: the organization's IP lists before the stamp, the API key's
//! allow list after identity, and the lock-out guard when lists change.

use std::net::IpAddr;

use super::execute::rule_set;
use super::{Caller, Engine};
use crate::audit;
use crate::error::{Error, Result};
use crate::intents::Intent;
use crate::network::{self, IpRuleSet, ListKind, Refusal};
use crate::store::StoreTx;

fn org_list(sets: &[IpRuleSet], kind: ListKind) -> Option<&IpRuleSet> {
    sets.iter().find(|s| s.public_key.is_none() && s.kind == kind)
}

fn shown(ip: Option<IpAddr>) -> String {
    ip.map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_string())
}

impl Engine {
    /// Applies `org_id`'s deny list, then its allow list, to the client address.
    pub(super) async fn admit_network(&self, tx: &mut dyn StoreTx, org_id: &str, ip: Option<IpAddr>) -> Result<()> {
        let sets = tx.ip_rule_sets(org_id, None).await?;
        match network::admit(org_list(&sets, ListKind::Deny), org_list(&sets, ListKind::Allow), ip) {
            Ok(()) => Ok(()),
            Err(refusal) => {
                self.audit_ip_denied(org_id, ip, &refusal, None).await;
                Err(Error::PermissionDenied(format!(
                    "requests from {} are not allowed for organization `{org_id}` by its IP rules",
                    shown(ip)
                )))
            }
        }
    }

    /// Applies the caller's API key allow list, if it has one.
    pub(super) async fn admit_key(&self, tx: &mut dyn StoreTx, caller: &Caller, ip: Option<IpAddr>) -> Result<()> {
        let key = &caller.credential;
        let org_id = &caller.organization.id;
        let sets = tx.ip_rule_sets(org_id, Some(&key.public_key)).await?;
        let own = sets.iter().find(|s| s.public_key.is_some() && s.kind == ListKind::Allow);
        match network::admit(None, own, ip) {
            Ok(()) => Ok(()),
            Err(refusal) => {
                self.audit_ip_denied(org_id, ip, &refusal, Some(caller)).await;
                Err(Error::PermissionDenied(format!(
                    "requests from {} are not allowed for this API key by its IP allow list",
                    shown(ip)
                )))
            }
        }
    }

    /// Refuses new IP lists that would shut out the address they are being saved from,
    /// unless the request says `confirmLockout: true`.
    pub(super) async fn guard_lockout(
        &self,
        caller: &Caller,
        intent: &Intent,
        ip: Option<IpAddr>,
        now: i64,
    ) -> Result<()> {
        let org_id = caller.organization.id.as_str();
        let (kind, public_key, proposed, confirmed) = match intent {
            Intent::SetIpAllowlist(p) => (
                ListKind::Allow,
                p.public_key.as_deref(),
                rule_set(org_id, p.public_key.as_deref(), ListKind::Allow, p.enabled, "DENY", &p.rules, now),
                p.confirm_lockout,
            ),
            Intent::SetIpDenylist(p) => (
                ListKind::Deny,
                None,
                rule_set(org_id, None, ListKind::Deny, p.enabled, "DENY", &p.rules, now),
                p.confirm_lockout,
            ),
            _ => return Ok(()),
        };
        if confirmed == Some(true) {
            return Ok(());
        }
        let verdict = match public_key {
            Some(pk) if !pk.eq_ignore_ascii_case(&caller.credential.public_key) => return Ok(()),
            Some(_) => network::admit(None, Some(&proposed), ip),
            None => {
                let sets = self.store.read().await?.ip_rule_sets(org_id, None).await?;
                let other = org_list(&sets, if kind == ListKind::Allow { ListKind::Deny } else { ListKind::Allow });
                match kind {
                    ListKind::Allow => network::admit(other, Some(&proposed), ip),
                    ListKind::Deny => network::admit(Some(&proposed), other, ip),
                }
            }
        };
        match verdict {
            Ok(()) => Ok(()),
            Err(_) => Err(Error::FailedPrecondition(format!(
                "these rules would refuse {}, the address this request comes from, and lock you out; \
                 send `confirmLockout: true` to save them anyway",
                shown(ip)
            ))),
        }
    }

    async fn audit_ip_denied(&self, org_id: &str, ip: Option<IpAddr>, refusal: &Refusal, caller: Option<&Caller>) {
        let event = audit::NewEvent {
            event_type: "IP_DENIED",
            outcome: "DENIED",
            actor_user_id: caller.map(|c| c.user.id.as_str()),
            actor_credential_id: caller.map(|c| c.credential.id.as_str()),
            subject: None,
            details: serde_json::json!({ "ip": shown(ip), "list": refusal.list.as_str(), "rule": refusal.rule }),
        };
        self.audit_refusal(org_id, event).await;
        tracing::info!(organization_id = %org_id, ip = %shown(ip), "request refused by IP rules");
    }

    /// Appends a refusal to `org_id`'s audit chain in a transaction of its own (the
    /// refused request writes nothing else). A failure to record is logged: the
    /// request is refused either way.
    pub(super) async fn audit_refusal(&self, org_id: &str, event: audit::NewEvent<'_>) {
        let now = self.clock.now_ms();
        let event_type = event.event_type;
        let result = async {
            let mut tx = self.store.write().await?;
            audit::append(&mut *tx, org_id, now, event).await?;
            tx.commit().await?;
            Ok::<(), Error>(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, event_type, "could not record a refusal in the audit log");
        }
    }
}
