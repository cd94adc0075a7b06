//! The pipeline behind every request: identity, envelope, decision, execution.
//!
//! `submit` runs one activity through identity -> envelope -> (policy) decision ->
//! execution, with the activity row, its effects, the initiator's vote and the final
//! status written in one store transaction, so an acknowledged activity is durable
//! with its effects and a resubmitted body never executes twice.

mod account;
mod admission;
mod audit_log;
mod auth_proxy;
mod checks;
mod decide;
mod dry_run;
mod enforcement;
mod execute;
mod factors;
mod identity;
mod legacy_names;
mod mfa;
mod otp;
mod profiles;
mod redact;
mod settle;
mod vote;

pub use audit_log::AuditLogConfig;

use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::activities::Intent;
use crate::activities::{self, ActivityKind, TypeVersion};
use crate::api::{ActivityView, Failure, UserRows, UserView, VoteView};
use crate::audit;
use crate::clock::Clock;
use crate::crypto;
use crate::error::{Error, Result};
use crate::model::{Activity, ActivityStatus, ApiKey, ApiKeyCurve, Organization, User, Vote};
use crate::store::{Store, StoreError, StoreTx};

pub use crate::activities::FactorConfig;
pub use auth_proxy::{ProxyAnswer, ProxyFlow};
pub use checks::check_submit_body;
pub(crate) use decide::in_time_window;
pub use decide::{Decision, PolicyLimits};

pub(crate) use crate::activities::mfa::owned_policy;
pub(crate) use crate::activities::profiles::usable_profile;
pub(crate) use crate::activities::users::existing_user;
pub(crate) use dry_run::DryRunAsk;
pub(crate) use enforcement::{check_visible, effective_rule, named_user};
pub(crate) use factors::registration_options;
pub(crate) use mfa::activity_states;

pub(crate) use auth_proxy::refuse_query;
pub use enforcement::WhenOverdue;
pub use identity::{ATTESTED_SCHEME, Caller, CallerCredential, StampProof, WEBAUTHN_SCHEME};
pub(crate) use otp::refuse_attested;

/// The sender address when none is configured.
pub const DEFAULT_MAIL_FROM: &str = "twofold <no-reply@twofold.invalid>";

/// Tunables of the pipeline.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How far `timestampMs` of a submitted activity may be from the server's clock.
    pub timestamp_window_ms: i64,
    /// Passkeys, TOTP, recovery codes and sessions.
    pub factors: FactorConfig,
    /// Webhook delivery retries.
    pub webhooks: crate::webhook::WebhookConfig,
    /// Tag names that make a user an administrator for `MFA_ENFORCEMENT_REQUIRED_FOR_ADMINS`.
    pub mfa_admin_tags: Vec<String>,
    /// Evaluation budget and policy counts.
    pub policy_limits: PolicyLimits,
    /// The window rejected stamps are counted in, per credential, before one audit row, ms.
    pub rejection_window_ms: i64,
    /// How the audit log's checkpoints are named and signed.
    pub audit_log: AuditLogConfig,
    /// The sender address of the emails twofold sends (shown in their events).
    pub mail_from: String,
}

impl EngineConfig {
    /// Defaults (a 5-minute timestamp window) around the factor settings.
    pub fn new(factors: FactorConfig) -> Self {
        let mfa_admin_tags = crate::enforcement::DEFAULT_ADMIN_TAGS.iter().map(|t| (*t).to_owned()).collect();
        EngineConfig {
            timestamp_window_ms: 5 * 60 * 1000,
            factors,
            webhooks: Default::default(),
            mfa_admin_tags,
            policy_limits: PolicyLimits::default(),
            rejection_window_ms: 60_000,
            audit_log: AuditLogConfig::default(),
            mail_from: DEFAULT_MAIL_FROM.to_owned(),
        }
    }
}

/// The domain engine: stateless apart from its store and clock; clone freely.
#[derive(Clone)]
pub struct Engine {
    store: Arc<dyn Store>,
    programs: Arc<decide::ProgramCache>,
    admissions: Arc<admission::AdmissionCache>,
    rejections: Arc<admission::RejectedStamps>,
    signups: Arc<auth_proxy::SignupLimiter>,
    costly: Arc<settle::CostlyOrgs>,
    clock: Arc<dyn Clock>,
    config: Arc<EngineConfig>,
    signer: Arc<std::sync::OnceLock<crate::factors::session::SessionSigner>>,
    oidc: Arc<crate::oidc::JwksCache>,
}

/// The first organization, user and key of a fresh installation.
#[derive(Debug, Clone)]
pub struct BootstrapPlan {
    /// Root organization id (generated).
    pub organization_id: String,
    /// Root organization name.
    pub organization_name: String,
    /// Root user id (generated).
    pub user_id: String,
    /// Root user name.
    pub user_name: String,
    /// API key id (generated).
    pub api_key_id: String,
    /// Compressed P-256 public key hex of the bootstrap key.
    pub public_key: String,
}

impl BootstrapPlan {
    /// Plans a bootstrap with fresh ids.
    pub fn new(organization_name: &str, user_name: &str, public_key: &str) -> Self {
        BootstrapPlan {
            organization_id: new_id(),
            organization_name: organization_name.to_owned(),
            user_id: new_id(),
            user_name: user_name.to_owned(),
            api_key_id: new_id(),
            public_key: public_key.to_owned(),
        }
    }
}

pub use crate::model::new_id;

/// One request as the engine sees it: the stamp (or why it could not be read), the
/// client's address and the exact body bytes.
#[derive(Debug)]
pub struct Request<'a> {
    /// The parsed stamp, or the reason it is unusable (refused only after network rules).
    pub stamp: std::result::Result<StampProof, String>,
    /// The client's address (from the socket, or a trusted proxy's `X-Forwarded-For`).
    pub client_ip: Option<std::net::IpAddr>,
    /// The exact body bytes the stamp signs.
    pub body: &'a [u8],
    /// Set by the engine once the caller is authenticated: what the MFA enforcement
    /// rule asks of it (the server turns it into `X-Twofold-MFA-Enrollment-Due`).
    pub enrollment: std::sync::OnceLock<crate::enforcement::EnrollmentStatus>,
    /// The `Origin` of a browser page that is not one of the server's own (CORS); `None`
    /// for the server's pages and for clients that are not browsers.
    pub origin: Option<&'a str>,
    /// Set by the engine once the request's organization allows [`Request::origin`]: the
    /// origin the answer names in `Access-Control-Allow-Origin`, whatever the outcome.
    pub cors: std::sync::OnceLock<String>,
}

impl<'a> Request<'a> {
    /// A request from a client that is not a browser page of another origin.
    pub fn new(
        stamp: std::result::Result<StampProof, String>,
        client_ip: Option<std::net::IpAddr>,
        body: &'a [u8],
    ) -> Self {
        Request { stamp, client_ip, body, enrollment: Default::default(), origin: None, cors: Default::default() }
    }

    /// This request as sent by a browser page at `origin`, another origin than the server's own.
    pub fn from_origin(self, origin: Option<&'a str>) -> Self {
        Request { origin, ..self }
    }

    /// Parses the body's envelope. An unreadable body with an unusable stamp answers
    /// as unauthenticated: anonymous callers learn nothing about what we expect.
    pub(crate) fn parse<T: DeserializeOwned>(&self) -> Result<T> {
        parse_body(self.body).map_err(|e| match &self.stamp {
            Err(why) => Error::Unauthenticated(why.clone()),
            Ok(_) => e,
        })
    }
}

/// The envelope every submitted activity shares.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubmitEnvelope {
    #[serde(rename = "type")]
    activity_type: String,
    timestamp_ms: String,
    organization_id: String,
    parameters: Box<RawValue>,
}

/// Parses a whole request body, naming the field at fault.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    // serde would also accept a JSON array for a struct (fields by position); the API does not.
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        None => return Err(Error::invalid("request body is not valid JSON: it is empty")),
        Some(_) => return Err(Error::invalid("request body must be a JSON object")),
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            Error::invalid(format!("request body is not valid JSON: {inner}"))
        } else if path == "." {
            Error::invalid(format!("request body: {}", crate::fields::data_error(&inner)))
        } else {
            Error::invalid(format!("{path}: {}", crate::fields::data_error(&inner)))
        }
    })?;
    de.end().map_err(|e| Error::invalid(format!("request body is not valid JSON: {e}")))?;
    Ok(value)
}

impl Engine {
    /// An engine over `store`, reading time from `clock`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: EngineConfig) -> Self {
        Engine {
            store,
            clock,
            programs: Arc::new(decide::ProgramCache::with_budget(config.policy_limits.eval_budget)),
            config: Arc::new(config),
            admissions: Arc::default(),
            rejections: Arc::default(),
            signups: Arc::default(),
            costly: Arc::default(),
            signer: Arc::default(),
            oidc: Arc::default(),
        }
    }

    /// Fetches the keys of the trusted issuers an intent's ID tokens name, before its
    /// transaction: the executor reads only the cache, so no write waits on the network.
    /// Nothing about the token is checked here, and nothing is told.
    async fn prepare_oidc(&self, caller: &Caller, intent: &Intent) -> Result<()> {
        let tokens = crate::activities::oauth::oidc_tokens(intent);
        if tokens.is_empty() {
            return Ok(());
        }
        let trusted = self.store.read().await?.oidc_issuers(&caller.organization.id).await?;
        let now = self.clock.now_ms();
        for hint in tokens.into_iter().filter_map(|t| crate::oidc::hint(t).ok()) {
            if let Some(issuer) = trusted.iter().find(|t| t.issuer == hint.issuer) {
                self.oidc.warm(&issuer.jwks_url, &hint.kid, now).await;
            }
        }
        Ok(())
    }

    /// The same engine, fetching OIDC issuers' keys with `fetcher` (none are fetched otherwise).
    pub fn with_jwks_fetcher(mut self, fetcher: Arc<dyn crate::oidc::JwksFetcher>) -> Self {
        self.oidc = Arc::new(crate::oidc::JwksCache::new(fetcher));
        self
    }

    /// How many policy expressions were evaluated, and how many results recalled instead
    /// (a decision made again inside the write transaction after it was made on a read
    /// snapshot), since the process started.
    pub fn condition_evaluations(&self) -> (u64, u64) {
        self.programs.evaluation_counts()
    }

    /// The store, for readiness checks.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The OTP enclave, for readiness checks; `None` when the server runs without one.
    pub fn otp_enclave(&self) -> Option<&Arc<dyn crate::otp::OtpEnclave>> {
        self.config.factors.otp.enclave.as_ref()
    }

    /// Whether the installation still needs its first organization.
    pub async fn needs_bootstrap(&self) -> Result<bool> {
        let mut tx = self.store.read().await?;
        Ok(tx.installation_root().await?.is_none())
    }

    /// Creates the root organization, its root user and API key on an empty database.
    /// Returns `false` (and changes nothing) if another process bootstrapped first.
    pub async fn bootstrap(&self, plan: &BootstrapPlan) -> Result<bool> {
        let verify_key = crypto::parse_public_key(ApiKeyCurve::P256, &plan.public_key)?;
        let now = self.clock.now_ms();
        let mut tx = self.store.write().await?;
        if !tx.claim_installation(&plan.organization_id, now).await? {
            return Ok(false);
        }
        tx.insert_organization(&Organization {
            id: plan.organization_id.clone(),
            name: plan.organization_name.clone(),
            parent_id: None,
            root_quorum_threshold: 1,
            created_at: now,
            updated_at: now,
        })
        .await?;
        tx.insert_user(&User {
            id: plan.user_id.clone(),
            organization_id: plan.organization_id.clone(),
            name: plan.user_name.clone(),
            email: None,
            phone: None,
            created_at: now,
            updated_at: now,
            email_verified_at: None,
            phone_verified_at: None,
            email_vouched_by: None,
            phone_vouched_by: None,
            admin_since: None,
            api_only: false,
        })
        .await?;
        tx.insert_api_key(&ApiKey {
            id: plan.api_key_id.clone(),
            organization_id: plan.organization_id.clone(),
            user_id: plan.user_id.clone(),
            name: "bootstrap".to_owned(),
            public_key: plan.public_key.clone(),
            verify_key,
            curve: ApiKeyCurve::P256,
            created_at: now,
            updated_at: now,
            expires_at: None,
            kind: crate::model::KeyKind::ApiKey,
            session_profile_id: None,
        })
        .await?;
        tx.set_root_quorum(&plan.organization_id, 1, std::slice::from_ref(&plan.user_id), now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Runs a `/public/v1/submit/<path>` request and returns the activity.
    pub async fn submit(&self, path: &str, req: &Request<'_>) -> Result<ActivityView> {
        let kind = activities::kind_for_path(path).ok_or_else(|| activities::unknown_endpoint(path))?;
        let env: SubmitEnvelope = req.parse()?;
        let caller = self.admit(req, &env.organization_id).await?;
        self.check_timestamp(&env.timestamp_ms)?;
        let version = version_for(kind, &env.activity_type)?;
        let intent = Intent::parse(kind.operation, &env.parameters)?;
        intent.check()?;
        auth_proxy::confine(&caller, &intent)?;
        self.gate_activity(req, &caller, &intent).await?;
        let now = self.clock.now_ms();
        self.guard_lockout(&caller, &intent, req.client_ip, now).await?;
        if let Some(stale) = self.stale_for(&caller, &intent, now) {
            return Err(stale);
        }
        self.check_session_scope(&caller, kind, version, &intent, now).await?;
        self.prepare_oidc(&caller, &intent).await?;
        if let Some(existing) = self.prepare_otp(&caller, &intent, req).await? {
            return Ok(existing);
        }
        // What is stored of this request (intent, vote message) has its secrets sealed.
        let stored_body = self.stored_body(&caller, &intent, req.body)?;
        if let Some((approve, target)) = intent.vote() {
            return self.vote(&caller, approve, target, stored_body.as_bytes()).await;
        }
        let proofs = vec![caller.credential.authentication_type.to_owned()];
        if let Intent::VerifyTotpAuthenticator(p) = &intent {
            // Only the device's holder has its codes: nobody else may spend this user's
            // failure budget or learn whether a guess was right (decided before any check).
            if p.user_id != caller.user.id {
                return Err(Error::PermissionDenied(format!(
                    "a TOTP authenticator is verified by the user it belongs to (`{}`), not by `{}`",
                    crypto::clip(&p.user_id),
                    caller.user.id
                )));
            }
            // The first code proves the device before anything is recorded; a resent
            // request finds its activity instead of spending another code.
            if let Some(existing) = self.existing_activity(req.body, &caller.user.id).await? {
                return Ok(existing);
            }
            let secret = factors::Secret::Totp { code: p.totp_code.expose(), device: Some(&p.totp_authenticator_id) };
            self.prove(&caller, &p.user_id, secret, None).await?;
        }
        self.run_activity(&caller, version, req.body, &stored_body, proofs).await
    }

    /// The activity already recorded for this exact body, if any.
    async fn existing_activity(&self, body: &[u8], caller_user_id: &str) -> Result<Option<ActivityView>> {
        let mut tx = self.store.read().await?;
        match tx.get_activity_by_fingerprint(&crypto::fingerprint(body)).await? {
            Some(a) => Ok(Some(activity_view(&mut *tx, &a, caller_user_id).await?)),
            None => Ok(None),
        }
    }

    /// The refusal of a factor change made with a session that is no longer fresh.
    fn stale_for(&self, caller: &Caller, intent: &Intent, now: i64) -> Option<Error> {
        (intent.changes_factors() && !factors::is_fresh(caller, &self.config.factors, now)).then(|| {
            Error::FailedPrecondition(format!(
                "adding or removing a factor needs fresh authentication: stamp this request with a passkey or an \
                 API key, or log in again (sessions count as fresh for {} minutes)",
                self.config.factors.fresh_auth_ms / 60_000
            ))
        })
    }

    /// The server's clock, ms since epoch.
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The store, for a query's snapshot.
    pub(crate) fn store_handle(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }

    /// The compiled policy programs and remembered results.
    pub(crate) fn programs(&self) -> &decide::ProgramCache {
        &self.programs
    }

    /// The pipeline's tunables.
    pub(crate) fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The key session JWTs are signed with, once loaded.
    pub(crate) fn session_signer(&self) -> Option<&crate::factors::session::SessionSigner> {
        self.signer.get()
    }

    fn check_timestamp(&self, timestamp_ms: &str) -> Result<()> {
        let ts: i64 = timestamp_ms.parse().map_err(|_| {
            Error::invalid(format!(
                "timestampMs must be milliseconds since the epoch as a decimal string, found `{}`",
                crypto::clip(timestamp_ms)
            ))
        })?;
        let now = self.clock.now_ms();
        let window = self.config.timestamp_window_ms;
        if (now - ts).abs() > window {
            return Err(Error::Unauthenticated(format!(
                "timestampMs {ts} is outside the allowed window of ±{}s around the server time {now}; \
                 check the client's clock or resend with a fresh timestamp",
                window / 1000
            )));
        }
        Ok(())
    }

    async fn run_activity(
        &self,
        caller: &Caller,
        version: &'static TypeVersion,
        body: &[u8],
        stored_body: &str,
        proofs: Vec<String>,
    ) -> Result<ActivityView> {
        let now = self.clock.now_ms();
        // The fingerprint is of the exact body sent (clients compute it too); everything
        // stored is of the body with its secrets sealed.
        let fingerprint = crypto::fingerprint(body);
        let stored: SubmitEnvelope = parse_body(stored_body.as_bytes())?;
        let parameters = stored.parameters;
        let mut activity = Activity {
            id: new_id(),
            organization_id: caller.organization.id.clone(),
            activity_type: version.type_name.to_owned(),
            intent: format!("{{\"{}\":{}}}", version.intent_key, parameters.get()),
            status: ActivityStatus::Created,
            fingerprint,
            result: None,
            failure: None,
            initiator_user_id: caller.user.id.clone(),
            initiator_credential_id: caller.credential.id.clone(),
            created_at: now,
            updated_at: now,
        };
        let vote = caller.vote(&activity.id, true, stored_body.as_bytes(), proofs, now);
        if self.costly.recently(&activity.organization_id, now) {
            self.prejudge(&activity, &caller.organization, std::slice::from_ref(&vote), now).await;
        }
        let mut tx = self.store.write().await?;
        if !tx.insert_activity(&activity).await? {
            // This body was recorded before (a resend, or a concurrent request that won the
            // race): answer with its activity.
            drop(tx);
            let mut tx = self.store.read().await?;
            let existing = tx
                .get_activity_by_fingerprint(&activity.fingerprint)
                .await?
                .ok_or_else(|| StoreError::Backend("activity vanished after a fingerprint conflict".into()))?;
            return activity_view(&mut *tx, &existing, &caller.user.id).await;
        }
        let view = self.record_and_settle(&mut *tx, &mut activity, caller, Ballot::Vote(&vote), now).await?;
        tx.commit().await?;
        self.deliver_owed_code(&activity).await;
        tracing::info!(
            activity_id = %activity.id,
            activity_type = %activity.activity_type,
            status = activity.status.as_str(),
            organization_id = %activity.organization_id,
            "activity recorded"
        );
        Ok(view)
    }
}

impl Caller {
    /// This caller's vote on `activity_id`, stamped by the request `body`.
    fn vote(&self, activity_id: &str, approve: bool, body: &[u8], proofs: Vec<String>, now: i64) -> Vote {
        let (public_key, scheme, signature) = self.stamp_record();
        Vote {
            id: new_id(),
            activity_id: activity_id.to_owned(),
            user_id: self.user.id.clone(),
            credential_id: self.credential.id.clone(),
            approve,
            message: String::from_utf8_lossy(body).into_owned(),
            public_key,
            signature,
            scheme,
            proofs,
            created_at: now,
        }
    }
}

/// What a request adds to an activity before it is decided again.
enum Ballot<'a> {
    /// A user's vote (their first approval, or a rejection).
    Vote(&'a Vote),
    /// A further approval by the same user, proving one more MFA step.
    Proof(&'a crate::model::MfaProof),
}

impl Engine {
    fn settler(&self) -> settle::Settler<'_> {
        settle::Settler {
            programs: &self.programs,
            factors: &self.config.factors,
            signer: self.signer.get(),
            limits: &self.config.policy_limits,
            costly: &self.costly,
            explain: false,
            admin_tags: &self.config.mfa_admin_tags,
            oidc: &self.oidc,
        }
    }

    /// Decides `activity` with `votes` on a read snapshot, before the write transaction, so
    /// its conditions are evaluated (and their results remembered) while no lock is held;
    /// the write transaction then decides again from the remembered results (see
    /// [`decide::ContextDigest`]). The outcome here, an error included, is discarded: the
    /// decision that counts is the one made inside the write transaction.
    async fn prejudge(&self, activity: &Activity, org: &Organization, votes: &[Vote], now: i64) {
        if let Ok(mut tx) = self.store.read().await {
            let _ = self.settler().judge(&mut *tx, activity, org, votes, now).await;
        }
    }

    /// Records the ballot, decides `activity` again, writes the outcome and queues its
    /// webhook events; the caller commits.
    async fn record_and_settle(
        &self,
        tx: &mut dyn StoreTx,
        activity: &mut Activity,
        caller: &Caller,
        ballot: Ballot<'_>,
        now: i64,
    ) -> Result<ActivityView> {
        let (ballot_id, event, selection) = match ballot {
            Ballot::Vote(vote) => {
                tx.insert_vote(vote).await?;
                (vote.id.as_str(), "VOTE", if vote.approve { "APPROVED" } else { "REJECTED" })
            }
            Ballot::Proof(proof) => {
                tx.insert_mfa_proof(proof).await?;
                (proof.id.as_str(), "MFA_PROOF", "APPROVED")
            }
        };
        let before = activity.status;
        let reveal = self.settler().settle(tx, activity, &caller.organization, ballot_id, now).await?;
        tx.update_activity(activity).await?;
        let org = &caller.organization.id;
        let actor = |event_type, outcome| audit::NewEvent {
            event_type,
            outcome,
            actor_user_id: Some(&caller.user.id),
            actor_credential_id: Some(&caller.credential.id),
            subject: Some(&activity.id),
            details: serde_json::json!({ "activityType": activity.activity_type, "fingerprint": activity.fingerprint }),
        };
        let mut cast = actor(event, selection);
        if let Ballot::Proof(proof) = ballot {
            cast.details["method"] = serde_json::json!(proof.method);
        }
        let mut events = vec![cast];
        if activity.status != before {
            crate::webhook::enqueue(tx, activity, before, now).await?;
            self.notify_factor_change(tx, activity, now).await?;
            let mut change = actor("ACTIVITY_STATUS", activity.status.as_str());
            change.details["from"] = serde_json::json!(before.as_str());
            if let Some(failure) = &activity.failure {
                change.details["failure"] = serde_json::from_str(failure).unwrap_or_default();
            }
            events.push(change);
        }
        audit::append_all(tx, org, now, events).await?;
        let mut view = activity_view(tx, activity, &caller.user.id).await?;
        // Secrets shown once go to the user they belong to, in this response only.
        if let Some((owner, fields)) = reveal
            && owner == caller.user.id
        {
            let result_key = activities::kind_for_type(&activity.activity_type).map(|(_, v)| v.result_key);
            view.reveal(result_key.unwrap_or_default(), &fields);
        }
        Ok(view)
    }
}

impl Engine {
    /// Queues a notice to the user whose factors a just-completed activity bound or removed.
    async fn notify_factor_change(&self, tx: &mut dyn StoreTx, activity: &Activity, now: i64) -> Result<()> {
        if activity.status != ActivityStatus::Completed {
            return Ok(());
        }
        let (_, _, intent) = settle::stored_intent(activity)?;
        if let Some(owner) = intent.own_credential_target().filter(|_| intent.changes_factors()) {
            crate::notice::enqueue_factor_notice(tx, activity, owner, now).await?;
        }
        Ok(())
    }
}

fn version_for(kind: &'static ActivityKind, type_name: &str) -> Result<&'static TypeVersion> {
    if let Some(v) = kind.versions.iter().find(|v| v.type_name == type_name) {
        return Ok(v);
    }
    let accepted: Vec<&str> = kind.versions.iter().map(|v| v.type_name).collect();
    match activities::kind_for_type(type_name) {
        Some((other, _)) => Err(Error::invalid(format!(
            "activity type `{type_name}` belongs to /public/v1/submit/{}, not /public/v1/submit/{}",
            other.path, kind.path
        ))),
        None => Err(Error::invalid(format!(
            "unknown activity type `{}` for /public/v1/submit/{}; expected one of: {}",
            crypto::clip(type_name),
            kind.path,
            accepted.join(", ")
        ))),
    }
}

fn failure_json(e: &Error) -> String {
    let f = Failure { code: e.code() as i32, message: e.to_string(), details: Vec::new() };
    serde_json::to_string(&f).unwrap_or_else(|_| "{}".to_owned())
}

/// The user with its API keys and tag ids.
pub(crate) async fn user_view(tx: &mut dyn StoreTx, user: &User) -> Result<UserView> {
    let memberships = tx.tag_memberships_of(&user.organization_id, &[user.id.as_str()]).await?;
    user_view_with(tx, user, &memberships).await
}

/// [`user_view`] with the organization's `(user_id, tag_id)` pairs already loaded.
async fn user_view_with(tx: &mut dyn StoreTx, user: &User, memberships: &[(String, String)]) -> Result<UserView> {
    let org_id = &user.organization_id;
    let keys = tx.list_api_keys(org_id, Some(&user.id)).await?;
    let passkeys = tx.list_factors(org_id, &user.id, Some(crate::model::FactorKind::Passkey)).await?;
    let mfa_policies = tx.list_mfa_policies(org_id, Some(&user.id)).await?;
    let oauth_providers = tx.list_oauth_providers(org_id, Some(&user.id)).await?;
    let rows = UserRows {
        keys: &keys,
        memberships,
        passkeys: &passkeys,
        mfa_policies: &mfa_policies,
        oauth_providers: &oauth_providers,
    };
    Ok(UserView::new(user, &rows))
}

/// Every user of an organization with keys, tags, passkeys, MFA policies and OAuth providers, in six queries.
pub(crate) async fn user_views(tx: &mut dyn StoreTx, org_id: &str) -> Result<Vec<UserView>> {
    let users = tx.list_users(org_id).await?;
    let keys = tx.list_api_keys(org_id, None).await?;
    let memberships = tx.user_tag_memberships(org_id).await?;
    let passkeys = tx.list_org_factors(org_id, crate::model::FactorKind::Passkey).await?;
    let mfa_policies = tx.list_mfa_policies(org_id, None).await?;
    let oauth_providers = tx.list_oauth_providers(org_id, None).await?;
    let rows = UserRows {
        keys: &keys,
        memberships: &memberships,
        passkeys: &passkeys,
        mfa_policies: &mfa_policies,
        oauth_providers: &oauth_providers,
    };
    Ok(users.iter().map(|u| UserView::new(u, &rows)).collect())
}

/// The v1Activity view of `a`, with its votes, as `caller_user_id` sees it.
pub(crate) async fn activity_view(tx: &mut dyn StoreTx, a: &Activity, caller_user_id: &str) -> Result<ActivityView> {
    let votes = tx.list_votes(&a.id).await?;
    // The voters' tag memberships once per activity, not once per voter.
    let voters: Vec<&str> = votes.iter().map(|v| v.user_id.as_str()).collect();
    let memberships = tx.tag_memberships_of(&a.organization_id, &voters).await?;
    let mut views = Vec::with_capacity(votes.len());
    for v in &votes {
        let voter = match tx.get_user(&a.organization_id, &v.user_id).await? {
            Some(u) => Some(user_view_with(tx, &u, &memberships).await?),
            None => None,
        };
        views.push(VoteView::new(v, voter));
    }
    Ok(ActivityView::new(a, views, caller_user_id))
}
