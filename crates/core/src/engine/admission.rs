//! Admission: the organization's IP lists before the stamp, the stamp and identity, the
//! API key's allow list after identity, the caller's MFA enrollment status, and the
//! lock-out guard when lists change.
//!
//! For an API-key stamp (nearly every request), everything admission reads about the
//! key in the organization is one [`KeyFacts`], kept in an [`AdmissionCache`] and
//! trusted only while the store's admission epoch is the one it was read at: a request
//! then costs one small read instead of ten, and a change committed on any node
//! (a removed key, an IP list, an enforcement rule, a new factor) moves the epoch and
//! applies to the very next request on every node. The checks themselves run on every
//! request, on the facts, with this request's clock and address. A refusal is never
//! decided from the cache: it is re-read and re-checked first, then audited.
//!
//! Rejected stamps of registered keys are audited per key and window
//! ([`RejectedStamps`]): an unauthenticated sender cannot bury real events in rows.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::identity::{StampProof, UNKNOWN_KEY};
use super::{Caller, CallerCredential, Engine, Request};
use crate::activities::Intent;
use crate::activities::network::rule_set;
use crate::audit;
use crate::crypto;
use crate::enforcement::EnrollmentStatus;
use crate::error::{Error, Result};
use crate::model::{ApiKey, KeyKind, Organization, User};
use crate::network::{self, IpRuleSet, ListKind, Refusal};
use crate::store::StoreTx;

fn org_list(sets: &[IpRuleSet], kind: ListKind) -> Option<&IpRuleSet> {
    sets.iter().find(|s| s.public_key.is_none() && s.kind == kind)
}

fn shown(ip: Option<IpAddr>) -> String {
    ip.map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_string())
}

/// The refusal of an expired or idle key, in the words Turnkey's SDKs match to tell a client
/// its session expired (@turnkey/core: `Unauthenticated desc = expired api key publicKey`).
fn expired(key: &ApiKey, why: &str) -> Error {
    Error::Unauthenticated(format!(
        "Unauthenticated desc = expired api key publicKey {} ({why}; key `{}`)",
        key.public_key, key.id
    ))
}

/// The organization's deny list, then its allow list, applied to the client address.
pub(super) fn network_lists(sets: &[IpRuleSet], ip: Option<IpAddr>, org_id: &str) -> std::result::Result<(), Refused> {
    network::admit(org_list(sets, ListKind::Deny), org_list(sets, ListKind::Allow), ip).map_err(|refusal| Refused {
        error: Error::PermissionDenied(format!(
            "requests from {} are not allowed for organization `{org_id}` by its IP rules",
            shown(ip)
        )),
        audit: Some(Box::new(Audit::Ip { org_id: org_id.to_owned(), refusal, actor: None })),
    })
}

/// The caller's API key allow list (`sets` are the key's own lists), if it has one.
pub(super) fn key_allow_list(
    caller: &Caller,
    sets: &[IpRuleSet],
    ip: Option<IpAddr>,
) -> std::result::Result<(), Refused> {
    let own = sets.iter().find(|s| s.public_key.is_some() && s.kind == ListKind::Allow);
    network::admit(None, own, ip).map_err(|refusal| Refused {
        error: Error::PermissionDenied(format!(
            "requests from {} are not allowed for this API key by its IP allow list",
            shown(ip)
        )),
        audit: Some(Box::new(Audit::Ip {
            org_id: caller.organization.id.clone(),
            refusal,
            actor: Some((caller.user.id.clone(), caller.credential.id.clone())),
        })),
    })
}

/// How often a session's last use is written (its idle timer has minute resolution).
const TOUCH_EVERY_MS: i64 = 60_000;

/// Everything admitting an API-key stamp in one organization reads from the store.
#[derive(Debug, Clone)]
pub(super) struct KeyFacts {
    /// The admission epoch these facts were read at (read before them).
    epoch: i64,
    /// When they were read: even an unchanged epoch trusts them for [`AdmissionCache::MAX_AGE`] only,
    /// which bounds what a change made behind twofold's back (an edit in the database) can outlive.
    loaded: Instant,
    /// The organization the request addresses.
    org_id: String,
    /// The organization's own IP lists.
    org_sets: Vec<IpRuleSet>,
    /// Every key row with this public key, in any organization.
    keys: Vec<ApiKey>,
    /// The key's row in this organization, with its user; `None` when it has none.
    member: Option<Member>,
}

impl KeyFacts {
    /// These facts with the key's last use moved to `now` (after [`Engine::touch_session`]).
    fn touched(&self, now: i64) -> KeyFacts {
        let mut fresh = self.clone();
        if let Some(m) = fresh.member.as_mut() {
            m.key.updated_at = now;
        }
        fresh
    }
}

/// A key of the organization, its user and what the organization's rules say of them.
#[derive(Debug, Clone)]
struct Member {
    key: ApiKey,
    organization: Organization,
    user: User,
    auth_proxy: bool,
    key_sets: Vec<IpRuleSet>,
    enrollment: EnrollmentStatus,
}

/// What to record in the audit log when a request is refused.
enum Audit {
    /// An IP list refused the address (the key's own list names the caller).
    Ip { org_id: String, refusal: Refusal, actor: Option<(String, String)> },
    /// A registered credential's stamp was refused.
    Stamp { org_id: String, user_id: String, credential_id: String, reason: String },
}

/// A refusal decided on the facts: the error to answer and what to audit.
pub(super) struct Refused {
    /// What the request is answered.
    pub(super) error: Error,
    audit: Option<Box<Audit>>,
}

impl Refused {
    fn plain(error: Error) -> Self {
        Refused { error, audit: None }
    }

    fn stamp(key: &ApiKey, reason: &str, error: Error) -> Self {
        let audit = Audit::Stamp {
            org_id: key.organization_id.clone(),
            user_id: key.user_id.clone(),
            credential_id: key.id.clone(),
            reason: reason.to_owned(),
        };
        Refused { error, audit: Some(Box::new(audit)) }
    }
}

/// The API-key stamp fields, borrowed from the request.
struct KeyStamp<'a> {
    public_key: &'a str,
    scheme: &'a str,
    signature: &'a str,
}

/// [`KeyFacts`] by (organization id, lower-case public key hex), bounded in size.
#[derive(Default)]
pub(super) struct AdmissionCache {
    entries: Mutex<HashMap<(String, String), Arc<KeyFacts>>>,
}

impl AdmissionCache {
    /// Entries kept before the cache starts over (each is a few hundred bytes).
    const CAPACITY: usize = 16_384;
    /// How long facts are trusted at most, whatever the epoch says.
    const MAX_AGE: Duration = Duration::from_secs(10);

    fn get(&self, org_id: &str, public_key: &str, epoch: i64) -> Option<Arc<KeyFacts>> {
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(&(org_id.to_owned(), public_key.to_owned()))
            .filter(|f| f.epoch == epoch && f.loaded.elapsed() < Self::MAX_AGE)
            .cloned()
    }

    fn put(&self, org_id: &str, public_key: &str, facts: KeyFacts) {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= Self::CAPACITY {
            let newest = facts.epoch;
            entries.retain(|_, f| f.epoch == newest);
            if entries.len() >= Self::CAPACITY {
                entries.clear();
            }
        }
        entries.insert((org_id.to_owned(), public_key.to_owned()), Arc::new(facts));
    }
}

/// The rejected stamps of one credential in its current window that are not in the
/// audit log yet.
struct RejectionWindow {
    user_id: String,
    reason: String,
    opened_at: i64,
    pending: u64,
    first_at: i64,
    last_at: i64,
}

/// One `STAMP_REJECTED` row to append: `count` rejections of a credential between
/// `first_at` and `last_at`.
struct RejectionRow {
    org_id: String,
    user_id: String,
    credential_id: String,
    reason: String,
    count: u64,
    first_at: i64,
    last_at: i64,
}

impl RejectionWindow {
    fn summary(self, (org_id, credential_id): (String, String)) -> Option<RejectionRow> {
        (self.pending > 0).then_some(RejectionRow {
            org_id,
            credential_id,
            user_id: self.user_id,
            reason: self.reason,
            count: self.pending,
            first_at: self.first_at,
            last_at: self.last_at,
        })
    }
}

/// Rejected stamps by (organization, credential), aggregated per window so that requests
/// naming a registered key with a bad signature (no credentials needed) add O(1) audit
/// rows per key and window instead of one each: the first rejection of a window is
/// recorded at once (count 1), the rest of the window in one counted row when it closes.
/// Each node aggregates its own requests; the map is bounded.
#[derive(Default)]
pub(super) struct RejectedStamps {
    windows: Mutex<HashMap<(String, String), RejectionWindow>>,
}

impl RejectedStamps {
    /// Credentials tracked at once; past that, rejections are recorded one row each.
    const CAPACITY: usize = 4096;

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), RejectionWindow>> {
        self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts one rejection at `now`; returns the rows to append now.
    fn note(
        &self,
        org_id: &str,
        user_id: &str,
        credential_id: &str,
        reason: &str,
        now: i64,
        window_ms: i64,
    ) -> Vec<RejectionRow> {
        let key = (org_id.to_owned(), credential_id.to_owned());
        let mut windows = self.lock();
        let mut rows = Vec::new();
        match windows.get_mut(&key) {
            Some(w) if now < w.opened_at.saturating_add(window_ms) => {
                if w.pending == 0 {
                    w.first_at = now;
                }
                w.pending += 1;
                w.last_at = now;
                reason.clone_into(&mut w.reason);
                return rows;
            }
            Some(_) => rows.extend(windows.remove(&key).and_then(|w| w.summary(key.clone()))),
            None => {}
        }
        if windows.len() >= Self::CAPACITY {
            rows.extend(Self::take(&mut windows, |w| now >= w.opened_at.saturating_add(window_ms)));
        }
        if windows.len() < Self::CAPACITY {
            let window = RejectionWindow {
                user_id: user_id.to_owned(),
                reason: reason.to_owned(),
                opened_at: now,
                pending: 0,
                first_at: now,
                last_at: now,
            };
            windows.insert(key.clone(), window);
        }
        rows.push(RejectionRow {
            org_id: key.0,
            credential_id: key.1,
            user_id: user_id.to_owned(),
            reason: reason.to_owned(),
            count: 1,
            first_at: now,
            last_at: now,
        });
        rows
    }

    /// Removes the windows `done` selects and returns their unrecorded counts.
    fn take(
        windows: &mut HashMap<(String, String), RejectionWindow>,
        done: impl Fn(&RejectionWindow) -> bool,
    ) -> Vec<RejectionRow> {
        let keys: Vec<_> = windows.iter().filter(|(_, w)| done(w)).map(|(k, _)| k.clone()).collect();
        keys.into_iter().filter_map(|k| windows.remove(&k).and_then(|w| w.summary(k))).collect()
    }
}

impl Engine {
    /// Counts a rejected stamp by a registered credential and appends what its window
    /// calls for to its organization's audit log (see [`RejectedStamps`]).
    pub(super) async fn note_rejected_stamp(&self, org_id: &str, user_id: &str, credential_id: &str, reason: &str) {
        let now = self.clock.now_ms();
        let window = self.config.rejection_window_ms;
        let rows = self.rejections.note(org_id, user_id, credential_id, reason, now, window);
        self.append_rejections(rows).await;
    }

    /// Appends the counted rows of every rejected-stamp window that has closed by now (all
    /// of them when `all`, at shutdown). The server calls it about once a second.
    pub async fn flush_rejected_stamps(&self, all: bool) {
        let now = self.clock.now_ms();
        let window = self.config.rejection_window_ms;
        let rows =
            RejectedStamps::take(&mut self.rejections.lock(), |w| all || now >= w.opened_at.saturating_add(window));
        self.append_rejections(rows).await;
    }

    async fn append_rejections(&self, rows: Vec<RejectionRow>) {
        let window_seconds = self.config.rejection_window_ms / 1000;
        for row in rows {
            let event = audit::NewEvent {
                event_type: "STAMP_REJECTED",
                outcome: "DENIED",
                actor_user_id: Some(&row.user_id),
                actor_credential_id: Some(&row.credential_id),
                subject: None,
                details: serde_json::json!({
                    "reason": row.reason,
                    "count": row.count,
                    "firstAt": crate::enforcement::rfc3339(row.first_at),
                    "lastAt": crate::enforcement::rfc3339(row.last_at),
                    "windowSeconds": window_seconds,
                }),
            };
            self.audit_refusal(&row.org_id, event).await;
            tracing::info!(
                credential_id = %row.credential_id,
                organization_id = %row.org_id,
                reason = %row.reason,
                count = row.count,
                "stamp rejected"
            );
        }
    }
}

impl Engine {
    /// Admits a request to `organization_id`: network rules (before the stamp is looked
    /// at), the stamp and identity, the key's own allow list and the enrollment status.
    pub(crate) async fn admit(&self, req: &Request<'_>, organization_id: &str) -> Result<Caller> {
        self.admit_origin(req, organization_id).await?;
        if let Ok(stamp @ StampProof::Key { public_key, scheme, signature }) = &req.stamp {
            let key_stamp = KeyStamp { public_key, scheme, signature };
            return self.admit_key_stamp(req, organization_id, stamp, &key_stamp).await;
        }
        let mut tx = self.store.read().await?;
        self.admit_network(&mut *tx, organization_id, req.client_ip).await?;
        let stamp = req.stamp.as_ref().map_err(|why| Error::Unauthenticated(why.clone()))?;
        let caller = self.authenticate_factor(&mut *tx, stamp, req.body, organization_id).await?;
        // A passkey of a sub-organization's user, named by its parent: the sub-organization's rules apply too.
        let own_org = caller.organization.id.clone();
        if own_org != organization_id {
            self.admit_network(&mut *tx, &own_org, req.client_ip).await?;
        }
        let key_sets = tx.ip_rule_sets(&own_org, Some(&caller.credential.public_key)).await?;
        if let Err(refused) = key_allow_list(&caller, &key_sets, req.client_ip) {
            return Err(self.refuse(refused, req.client_ip).await);
        }
        let _ = req.enrollment.set(self.enrollment_status(&mut *tx, &own_org, &caller.user).await?);
        Ok(caller)
    }

    /// Admits a query to `target` and says which organization it reads: `target` itself for
    /// its own members; `target` for a member of its parent (parents read their
    /// sub-organizations; the sub-organization's IP lists apply as well as the parent's);
    /// the caller's own sub-organization when a passkey of a sub-organization's user named
    /// its parent (never the parent's data).
    pub(crate) async fn admit_reader(&self, req: &Request<'_>, target: &str) -> Result<(Caller, String)> {
        let parent = self.parent_reading(req, target).await?;
        let caller = self.admit(req, parent.as_deref().unwrap_or(target)).await?;
        if parent.is_some() {
            let mut tx = self.store.read().await?;
            self.admit_network(&mut *tx, target, req.client_ip).await?;
            return Ok((caller, target.to_owned()));
        }
        let reads = caller.organization.id.clone();
        Ok((caller, reads))
    }

    /// The parent of `target` when the request's API key belongs to that parent and not to
    /// `target`: a read of a sub-organization by its parent. A key the admission cache knows
    /// as a member of `target` costs nothing more; otherwise two small reads.
    async fn parent_reading(&self, req: &Request<'_>, target: &str) -> Result<Option<String>> {
        let Ok(StampProof::Key { public_key, .. }) = &req.stamp else { return Ok(None) };
        let public_key = public_key.to_ascii_lowercase();
        let epoch = self.store.admission_epoch().await?;
        if self.admissions.get(target, &public_key, epoch).is_some_and(|f| f.member.is_some()) {
            return Ok(None);
        }
        let mut tx = self.store.read().await?;
        let keys = tx.api_keys_by_public_key(&public_key).await?;
        if keys.is_empty() || keys.iter().any(|k| k.organization_id == target) {
            return Ok(None);
        }
        let Some(parent) = tx.get_organization(target).await?.and_then(|o| o.parent_id) else { return Ok(None) };
        Ok(keys.iter().any(|k| k.organization_id == parent).then_some(parent))
    }

    /// A browser page of another origin reaches an organization that lists its origin (or
    /// whose parent does), decided before anything else; the answer then names the origin.
    async fn admit_origin(&self, req: &Request<'_>, organization_id: &str) -> Result<()> {
        let Some(origin) = req.origin else { return Ok(()) };
        if !self.origin_allowed(origin, Some(organization_id)).await? {
            let org = format!("organization `{}`", crypto::clip(organization_id));
            return Err(super::auth_proxy::refused_origin(origin, &org));
        }
        let _ = req.cors.set(origin.to_owned());
        Ok(())
    }

    /// Admits an API-key stamp from cached facts when the epoch allows, else from the store.
    async fn admit_key_stamp(
        &self,
        req: &Request<'_>,
        org_id: &str,
        stamp: &StampProof,
        key_stamp: &KeyStamp<'_>,
    ) -> Result<Caller> {
        let public_key = key_stamp.public_key.to_ascii_lowercase();
        let epoch = self.store.admission_epoch().await?;
        let now = self.clock.now_ms();
        if let Some(facts) = self.admissions.get(org_id, &public_key, epoch)
            && let Ok((caller, status)) = self.check_key_facts(&facts, key_stamp, stamp, req, now)
        {
            let _ = req.enrollment.set(status);
            if self.touch_session(&caller, now).await? {
                self.admissions.put(org_id, &public_key, facts.touched(now));
            }
            return Ok(caller);
        }
        let mut facts = {
            let mut tx = self.store.read().await?;
            self.load_key_facts(&mut *tx, org_id, &public_key, epoch).await?
        };
        match self.check_key_facts(&facts, key_stamp, stamp, req, now) {
            Ok((caller, status)) => {
                let _ = req.enrollment.set(status);
                if self.touch_session(&caller, now).await? {
                    facts = facts.touched(now);
                }
                if facts.member.is_some() {
                    self.admissions.put(org_id, &public_key, facts);
                }
                Ok(caller)
            }
            Err(refused) => Err(self.refuse(refused, req.client_ip).await),
        }
    }

    /// Reads everything admission needs about `public_key` in `org_id`.
    async fn load_key_facts(
        &self,
        tx: &mut dyn StoreTx,
        org_id: &str,
        public_key: &str,
        epoch: i64,
    ) -> Result<KeyFacts> {
        let org_sets = tx.ip_rule_sets(org_id, None).await?;
        let keys = tx.api_keys_by_public_key(public_key).await?;
        let mut member = None;
        if let Some(key) = keys.iter().find(|k| k.organization_id == org_id)
            && let Some(organization) = tx.get_organization(org_id).await?
            && let Some(user) = tx.get_user(org_id, &key.user_id).await?
        {
            member = Some(Member {
                key: key.clone(),
                auth_proxy: self.is_proxy_user(tx, &user).await?,
                key_sets: tx.ip_rule_sets(org_id, Some(&key.public_key)).await?,
                enrollment: self.enrollment_status(tx, org_id, &user).await?,
                organization,
                user,
            });
        }
        Ok(KeyFacts { epoch, loaded: Instant::now(), org_id: org_id.to_owned(), org_sets, keys, member })
    }

    /// Every admission check of an API-key stamp, on `facts`, in order; no side effects.
    fn check_key_facts(
        &self,
        facts: &KeyFacts,
        key_stamp: &KeyStamp<'_>,
        stamp: &StampProof,
        req: &Request<'_>,
        now: i64,
    ) -> std::result::Result<(Caller, EnrollmentStatus), Refused> {
        network_lists(&facts.org_sets, req.client_ip, &facts.org_id)?;
        let signature = hex::decode(key_stamp.signature)
            .map_err(|_| Refused::plain(Error::Unauthenticated("stamp signature is not valid hex".to_owned())))?;
        let Some(first) = facts.keys.first() else {
            return Err(Refused::plain(Error::Unauthenticated(format!(
                "{UNKNOWN_KEY}: `{}`",
                crypto::clip(key_stamp.public_key)
            ))));
        };
        if facts.keys.iter().any(|k| k.curve != first.curve) {
            // Registration keeps one curve per public key; rows that disagree fail closed.
            let error = Error::Unauthenticated("this public key is registered on more than one curve".to_owned());
            return Err(Refused::stamp(first, "public key registered on more than one curve", error));
        }
        if first.curve.stamp_scheme() != key_stamp.scheme {
            let error = Error::Unauthenticated(format!(
                "stamp scheme `{}` does not match the key's curve {}; expected `{}`",
                crypto::clip(key_stamp.scheme),
                first.curve.as_str(),
                first.curve.stamp_scheme()
            ));
            return Err(Refused::stamp(first, "stamp scheme does not match the key's curve", error));
        }
        // Every row with this public key carries the same verifying key.
        if !crypto::verify(first.curve, &first.verify_key, req.body, &signature) {
            let error = Error::Unauthenticated("stamp signature does not verify over the request body".to_owned());
            return Err(Refused::stamp(first, "signature does not verify over the request body", error));
        }
        let Some(member) = &facts.member else {
            if facts.keys.iter().any(|k| k.organization_id == facts.org_id) {
                return Err(Refused::plain(Error::Unauthenticated(UNKNOWN_KEY.to_owned())));
            }
            let error = Error::PermissionDenied(format!(
                "this key may not act in organization `{}`: {UNKNOWN_KEY}",
                crypto::clip(&facts.org_id)
            ));
            return Err(Refused::stamp(first, "key used for an organization it does not belong to", error));
        };
        let key = &member.key;
        if key.expires_at.is_some_and(|exp| exp <= now) {
            let what =
                if key.kind == KeyKind::Session { "expired api key (session expired)" } else { "expired api key" };
            let why = if key.kind == KeyKind::Session { "session expired" } else { "key expired" };
            return Err(Refused::stamp(key, what, expired(key, why)));
        }
        let idle_ms = self.config.factors.session_idle_ms;
        // A session key's `updated_at` is when it was last used (sessions are never edited).
        if key.kind == KeyKind::Session && now - key.updated_at > idle_ms {
            let why = format!("session idle for more than {} minutes", idle_ms / 60_000);
            let what = format!("expired api key ({why})");
            return Err(Refused::stamp(key, &what, expired(key, &why)));
        }
        let caller = Caller {
            credential: CallerCredential {
                id: key.id.clone(),
                public_key: key.public_key.clone(),
                credential_type: key.credential_type(),
                authentication_type: key.authentication_type(),
                api_key: Some(key.clone()),
            },
            organization: member.organization.clone(),
            user: member.user.clone(),
            stamp: stamp.clone(),
            auth_proxy: member.auth_proxy,
        };
        key_allow_list(&caller, &member.key_sets, req.client_ip)?;
        Ok((caller, member.enrollment.clone()))
    }

    /// Records a session's use at most once a minute, in a short write of its own (so
    /// reads stay reads); whether it wrote. Touching moves no epoch: the caller updates its
    /// cached copy ([`KeyFacts::touched`]), and a node whose copy is older re-reads before
    /// it ever refuses a session as idle.
    async fn touch_session(&self, caller: &Caller, now: i64) -> Result<bool> {
        let Some(key) = caller.credential.api_key.as_ref().filter(|k| k.kind == KeyKind::Session) else {
            return Ok(false);
        };
        if now - key.updated_at <= TOUCH_EVERY_MS {
            return Ok(false);
        }
        let mut w = self.store.write().await?;
        w.touch_session(&key.id, now, now - TOUCH_EVERY_MS).await?;
        w.commit().await?;
        Ok(true)
    }

    /// Applies `org_id`'s deny list, then its allow list, to the client address.
    pub(super) async fn admit_network(&self, tx: &mut dyn StoreTx, org_id: &str, ip: Option<IpAddr>) -> Result<()> {
        let sets = tx.ip_rule_sets(org_id, None).await?;
        match network_lists(&sets, ip, org_id) {
            Ok(()) => Ok(()),
            Err(refused) => Err(self.refuse(refused, ip).await),
        }
    }

    /// Audits a refusal (when it names something to audit) and returns its error.
    async fn refuse(&self, refused: Refused, ip: Option<IpAddr>) -> Error {
        match refused.audit.map(|a| *a) {
            Some(Audit::Ip { org_id, refusal, actor }) => {
                let actor = actor.as_ref().map(|(u, c)| (u.as_str(), c.as_str()));
                self.audit_ip_denied(&org_id, ip, &refusal, actor).await;
            }
            Some(Audit::Stamp { org_id, user_id, credential_id, reason }) => {
                self.audit_rejected_stamp(&org_id, &user_id, &credential_id, &reason).await;
            }
            None => {}
        }
        refused.error
    }

    /// Refuses new IP lists that would shut out the address they are being saved from, and
    /// MFA enforcement rules that would block the caller at once, unless the request says
    /// `confirmLockout: true`.
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
            Intent::SetMfaEnforcement(p) => {
                return self.guard_enforcement_lockout(caller, crate::enforcement::Change::Set(p)).await;
            }
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

    async fn audit_ip_denied(&self, org_id: &str, ip: Option<IpAddr>, refusal: &Refusal, actor: Option<(&str, &str)>) {
        let event = audit::NewEvent {
            event_type: "IP_DENIED",
            outcome: "DENIED",
            actor_user_id: actor.map(|(user_id, _)| user_id),
            actor_credential_id: actor.map(|(_, credential_id)| credential_id),
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
