//! The storage boundary. `twofold-store` implements these traits over SQLite and
//! PostgreSQL; the engine only ever talks to them.
//!
//! Every read and write happens inside a [`StoreTx`]: queries take a read
//! transaction (a consistent snapshot), activities take one write transaction that
//! holds the activity row, its effects, its votes and its status change together. The one
//! read outside a transaction is [`Store::admission_epoch`], which tells the engine whether
//! what it cached to admit a key is still what the database says.

use async_trait::async_trait;

use crate::enforcement::EnforcementRule;
use crate::model::{
    Activity, ActivityFilter, ApiKey, Channel, Delivery, EmailEvent, Factor, FactorKind, MfaPolicy, MfaProof,
    OauthProvider, OidcIssuer, Organization, Policy, PolicyEvaluationRecord, SessionProfile, User, UserTag, Vote,
    WebhookEndpoint,
};
use crate::model::{AuditCheckpoint, AuditEvent};
use crate::network::{IpRuleSet, ListKind};
use crate::otp::{OtpFlow, Usage};

pub use crate::error::StoreError;

/// Shorthand for store results.
pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// A database holding twofold's state.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Starts a read-only transaction.
    async fn read(&self) -> StoreResult<Box<dyn StoreTx>>;
    /// Starts a read-write transaction. On PostgreSQL, concurrent writers are
    /// serialized by row locks and unique constraints; on SQLite by the single writer.
    async fn write(&self) -> StoreResult<Box<dyn StoreTx>>;
    /// Checks that the database answers (for readiness probes).
    async fn ping(&self) -> StoreResult<()>;
    /// The admission epoch: a counter that every committed write changing what admitting
    /// a request reads has moved forward (the mutators documented "moves the admission
    /// epoch"). One small read outside any transaction.
    async fn admission_epoch(&self) -> StoreResult<i64>;
}

/// What sub-organizations are looked up by (Turnkey's `list_suborgs` `filterType`): the
/// organization's name, or a user of it by name, email (any case), phone number, passkey
/// credential id or API key public key (any case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubOrgFilter {
    /// `NAME`.
    Name(String),
    /// `USERNAME`.
    UserName(String),
    /// `EMAIL`.
    Email(String),
    /// `PHONE_NUMBER`.
    PhoneNumber(String),
    /// `CREDENTIAL_ID`: a passkey's credential id.
    CredentialId(String),
    /// `PUBLIC_KEY`: an API key's or session's public key.
    PublicKey(String),
    /// `list_verified_suborgs` `EMAIL`: a user's email (any case), proven by a code.
    VerifiedEmail(String),
    /// `list_verified_suborgs` `PHONE_NUMBER`: a user's phone number, proven by a code.
    VerifiedPhoneNumber(String),
    /// `list_verified_suborgs` without a filter: a user with any proven contact.
    AnyVerified,
}

/// One transaction over every aggregate's store (one trait per aggregate, below), committed
/// or rolled back as one. Dropping it without [`StoreTx::commit`] rolls it back.
#[async_trait]
pub trait StoreTx:
    Installation
    + Organizations
    + Users
    + Credentials
    + Activities
    + Policies
    + AuditLog
    + NetworkRules
    + OtpFlows
    + MfaRules
    + Webhooks
    + AuthProxies
    + OidcLogins
{
    /// Makes every change of this transaction durable.
    async fn commit(self: Box<Self>) -> StoreResult<()>;

    /// Marks a point to roll back to (`SAVEPOINT`).
    async fn savepoint(&mut self, name: &str) -> StoreResult<()>;

    /// Undoes everything since the savepoint.
    async fn rollback_to(&mut self, name: &str) -> StoreResult<()>;

    /// Forgets the savepoint, keeping its changes.
    async fn release(&mut self, name: &str) -> StoreResult<()>;
}

/// The installation: which organization is root, and the server's sealed secrets.
#[async_trait]
pub trait Installation: Send {
    /// Claims the installation for `root_org_id`; `false` if it was already claimed.
    async fn claim_installation(&mut self, root_org_id: &str, now: i64) -> StoreResult<bool>;

    /// The installation's root organization, if bootstrapped.
    async fn installation_root(&mut self) -> StoreResult<Option<String>>;

    /// Takes the one-time rewrite `name` off the list of those still to run; `false` if it
    /// was not on it (done already, or by another node).
    async fn take_pending_rewrite(&mut self, name: &str) -> StoreResult<bool>;

    /// A sealed installation secret.
    async fn server_secret(&mut self, name: &str) -> StoreResult<Option<String>>;

    /// Stores a sealed installation secret unless one exists; `false` then.
    async fn insert_server_secret(&mut self, name: &str, sealed: &str, now: i64) -> StoreResult<bool>;
}

/// Organizations, their sub-organizations and root quorums.
#[async_trait]
pub trait Organizations: Send {
    /// Inserts an organization.
    async fn insert_organization(&mut self, org: &Organization) -> StoreResult<()>;

    /// Reads an organization.
    async fn get_organization(&mut self, id: &str) -> StoreResult<Option<Organization>>;

    /// Ids of an organization's direct sub-organizations, oldest first.
    async fn list_sub_organizations(&mut self, parent_id: &str) -> StoreResult<Vec<String>>;

    /// The direct sub-organizations of `parent_id` that `filter` matches, oldest first.
    async fn sub_organizations_with(&mut self, parent_id: &str, filter: &SubOrgFilter) -> StoreResult<Vec<String>>;

    /// Replaces the root quorum (threshold and members).
    /// Moves the admission epoch.
    async fn set_root_quorum(&mut self, org_id: &str, threshold: i64, user_ids: &[String], now: i64)
    -> StoreResult<()>;

    /// Ids of the root-quorum members.
    async fn root_quorum_members(&mut self, org_id: &str) -> StoreResult<Vec<String>>;

    /// Renames an organization; `false` if it is not there. Moves the admission epoch.
    async fn rename_organization(&mut self, org_id: &str, name: &str, now: i64) -> StoreResult<bool>;

    /// An organization and all its descendants, oldest first.
    async fn organization_tree(&mut self, root_id: &str) -> StoreResult<Vec<Organization>>;

    /// Deletes an organization's users with their credentials, tags and contacts, its
    /// policies, MFA policies, session profiles, IP lists, webhooks (and their pending
    /// webhook deliveries; notices to people still go out), auth proxy, allowed origins, OTP flows and settings, and marks it deleted
    /// at `now`: no lookup finds it again. Its activities, votes and audit log stay.
    /// `false` if it was not there. Moves the admission epoch.
    async fn delete_organization(&mut self, org_id: &str, now: i64) -> StoreResult<bool>;
}

/// Users, their tags and contacts.
#[async_trait]
pub trait Users: Send {
    /// Inserts a user.
    async fn insert_user(&mut self, user: &User) -> StoreResult<()>;

    /// Rewrites a user's name, email, phone and `updated_at`.
    /// Moves the admission epoch.
    async fn update_user(&mut self, user: &User) -> StoreResult<()>;

    /// Deletes a user with its credentials and tag memberships; `false` if absent.
    /// Moves the admission epoch.
    async fn delete_user(&mut self, org_id: &str, user_id: &str) -> StoreResult<bool>;

    /// Reads a user of an organization.
    async fn get_user(&mut self, org_id: &str, user_id: &str) -> StoreResult<Option<User>>;

    /// All users of an organization, oldest first.
    async fn list_users(&mut self, org_id: &str) -> StoreResult<Vec<User>>;

    /// The first `limit` API-only users of an organization, oldest first.
    async fn api_only_users(&mut self, org_id: &str, limit: u32) -> StoreResult<Vec<User>>;

    /// Inserts a tag.
    async fn insert_user_tag(&mut self, tag: &UserTag) -> StoreResult<()>;

    /// All tags of an organization, oldest first.
    async fn list_user_tags(&mut self, org_id: &str) -> StoreResult<Vec<UserTag>>;

    /// Replaces the tags a user carries.
    /// Moves the admission epoch.
    async fn set_user_tags(&mut self, user_id: &str, tag_ids: &[String]) -> StoreResult<()>;

    /// Adds one user to a tag (no-op if already there).
    /// Moves the admission epoch.
    async fn add_user_to_tag(&mut self, tag_id: &str, user_id: &str) -> StoreResult<()>;

    /// Removes one user from a tag (no-op if not there).
    /// Moves the admission epoch.
    async fn remove_user_from_tag(&mut self, tag_id: &str, user_id: &str) -> StoreResult<()>;

    /// The users carrying a tag, by id.
    async fn user_tag_members(&mut self, tag_id: &str) -> StoreResult<Vec<String>>;

    /// Renames an organization's tag; `false` if it has no such tag (a name already taken is a conflict).
    /// Moves the admission epoch.
    async fn rename_user_tag(&mut self, org_id: &str, tag_id: &str, name: &str, now: i64) -> StoreResult<bool>;

    /// Deletes an organization's tag and its memberships; `false` if it had no such tag.
    /// Moves the admission epoch.
    async fn delete_user_tag(&mut self, org_id: &str, tag_id: &str) -> StoreResult<bool>;

    /// `(user_id, tag_id)` pairs for every tagged user of an organization.
    async fn user_tag_memberships(&mut self, org_id: &str) -> StoreResult<Vec<(String, String)>>;

    /// The same pairs for `user_ids` only (an activity's voters, one caller), so deciding
    /// costs the same in an organization of ten users and of a million.
    async fn tag_memberships_of(&mut self, org_id: &str, user_ids: &[&str]) -> StoreResult<Vec<(String, String)>>;

    /// Locks a user row until the transaction ends, so that per-user counters are
    /// read and written one request at a time on every node; `false` if absent.
    async fn lock_user(&mut self, org_id: &str, user_id: &str) -> StoreResult<bool>;

    /// At most two users with this email address (`email`) or phone number whose contact could
    /// serve a login naming `org_id` (whose parent is `parent_id`): users of `org_id` whose
    /// contact is verified or was set by `org_id` or `parent_id`, then users of its direct
    /// sub-organizations whose contact is verified or was set by `org_id`.
    async fn users_with_contact(
        &mut self,
        org_id: &str,
        parent_id: Option<&str>,
        email: bool,
        contact: &str,
    ) -> StoreResult<Vec<User>>;
}

/// API keys, sessions and their profiles, factors, WebAuthn ceremonies and failure counts.
#[async_trait]
pub trait Credentials: Send {
    /// Inserts an API key; `Conflict` if the organization already has that public key.
    async fn insert_api_key(&mut self, key: &ApiKey) -> StoreResult<()>;

    /// Deletes one API key of a user; `false` if absent.
    /// Moves the admission epoch.
    async fn delete_api_key(&mut self, org_id: &str, user_id: &str, key_id: &str) -> StoreResult<bool>;

    /// Every API key (in any organization) with this public key.
    async fn api_keys_by_public_key(&mut self, public_key: &str) -> StoreResult<Vec<ApiKey>>;

    /// API keys of an organization, optionally of one user, oldest first.
    async fn list_api_keys(&mut self, org_id: &str, user_id: Option<&str>) -> StoreResult<Vec<ApiKey>>;

    /// Records that session key `id` was used at `now` (its `updated_at`), unless that was
    /// already recorded after `since`; `false` when nothing was written.
    async fn touch_session(&mut self, id: &str, now: i64, since: i64) -> StoreResult<bool>;

    /// Deletes a user's session keys: those named (or all), except `keep`; returns how many.
    /// Moves the admission epoch.
    async fn delete_sessions(
        &mut self,
        org_id: &str,
        user_id: &str,
        ids: Option<&[String]>,
        keep: Option<&str>,
    ) -> StoreResult<u64>;

    /// Inserts a factor; `Conflict` if the organization already has one of that kind with that lookup.
    /// Moves the admission epoch.
    async fn insert_factor(&mut self, factor: &Factor) -> StoreResult<()>;

    /// Reads a factor of an organization.
    async fn get_factor(&mut self, org_id: &str, id: &str) -> StoreResult<Option<Factor>>;

    /// A user's factors, optionally of one kind, oldest first.
    async fn list_factors(&mut self, org_id: &str, user_id: &str, kind: Option<FactorKind>)
    -> StoreResult<Vec<Factor>>;

    /// Every factor of this kind of an organization's users, oldest first (one read for a list
    /// of users).
    async fn list_org_factors(&mut self, org_id: &str, kind: FactorKind) -> StoreResult<Vec<Factor>>;

    /// Every factor (in any organization) of this kind with this lookup handle.
    async fn factors_by_lookup(&mut self, kind: FactorKind, lookup: &str) -> StoreResult<Vec<Factor>>;

    /// Rewrites a factor's name, secret, activity flag and `updated_at`.
    /// Moves the admission epoch.
    async fn update_factor(&mut self, factor: &Factor) -> StoreResult<()>;

    /// Moves a factor's counter forward to `counter`; `false` (and no change) unless
    /// it is greater than the stored one. Atomic: two nodes cannot both advance to it.
    async fn advance_factor_counter(&mut self, id: &str, counter: i64, now: i64) -> StoreResult<bool>;

    /// Marks a single-use factor used; `false` if it already was.
    async fn use_factor(&mut self, id: &str, now: i64) -> StoreResult<bool>;

    /// Deletes a user's factors of one kind: those named, or all; returns how many.
    /// Moves the admission epoch.
    async fn delete_factors(
        &mut self,
        org_id: &str,
        user_id: &str,
        kind: FactorKind,
        ids: Option<&[String]>,
    ) -> StoreResult<u64>;

    /// Stores a passkey registration ceremony's state under its challenge.
    async fn insert_webauthn_challenge(
        &mut self,
        challenge: &str,
        org_id: &str,
        user_id: &str,
        state: &str,
        expires_at: i64,
    ) -> StoreResult<()>;

    /// Removes and returns `(state, expires_at)` of a user's ceremony: a challenge is used once.
    async fn take_webauthn_challenge(&mut self, challenge: &str, user_id: &str) -> StoreResult<Option<(String, i64)>>;

    /// Times of a user's failed guesses at `factor` since `since`, oldest first.
    async fn auth_failures_since(&mut self, user_id: &str, factor: &str, since: i64) -> StoreResult<Vec<i64>>;

    /// Records one failed guess.
    async fn record_auth_failure(&mut self, org_id: &str, user_id: &str, factor: &str, now: i64) -> StoreResult<()>;

    /// Forgets a user's failed guesses at `factor` (after a success).
    async fn clear_auth_failures(&mut self, user_id: &str, factor: &str) -> StoreResult<()>;

    /// Inserts a session profile (there is no update: profiles are immutable).
    async fn insert_session_profile(&mut self, profile: &SessionProfile) -> StoreResult<()>;

    /// Reads a session profile by id, in whichever organization created it.
    async fn get_session_profile(&mut self, id: &str) -> StoreResult<Option<SessionProfile>>;

    /// An organization's session profiles, oldest first.
    async fn list_session_profiles(&mut self, org_id: &str) -> StoreResult<Vec<SessionProfile>>;

    /// Replaces a profile's scope with one meaning the same (a one-time rewrite of stored
    /// names; profiles are otherwise immutable). Moves the admission epoch.
    async fn rewrite_session_profile_scope(&mut self, id: &str, scope: &str) -> StoreResult<()>;
}

/// Activities, their votes, step-up proofs and recorded policy evaluations.
#[async_trait]
pub trait Activities: Send {
    /// Inserts an activity unless one with the same fingerprint exists; `false` then.
    async fn insert_activity(&mut self, activity: &Activity) -> StoreResult<bool>;

    /// Rewrites status, result, failure and `updated_at`.
    async fn update_activity(&mut self, activity: &Activity) -> StoreResult<()>;

    /// Reads an activity of an organization.
    async fn get_activity(&mut self, org_id: &str, id: &str) -> StoreResult<Option<Activity>>;

    /// Reads an activity by fingerprint and locks it until the transaction ends, so
    /// that votes on one activity are counted one after another on every node.
    async fn lock_activity(&mut self, org_id: &str, fingerprint: &str) -> StoreResult<Option<Activity>>;

    /// Reads the activity with this fingerprint.
    async fn get_activity_by_fingerprint(&mut self, fingerprint: &str) -> StoreResult<Option<Activity>>;

    /// A page of an organization's activities, newest first. `None` if a cursor is unknown.
    async fn list_activities(&mut self, org_id: &str, filter: &ActivityFilter) -> StoreResult<Option<Vec<Activity>>>;

    /// Records a vote.
    async fn insert_vote(&mut self, vote: &Vote) -> StoreResult<()>;

    /// Votes on an activity, oldest first.
    async fn list_votes(&mut self, activity_id: &str) -> StoreResult<Vec<Vote>>;

    /// Records the policy outcomes of one decision.
    async fn insert_policy_evaluation(&mut self, record: &PolicyEvaluationRecord) -> StoreResult<()>;

    /// The decisions on an activity, oldest first.
    async fn list_policy_evaluations(&mut self, activity_id: &str) -> StoreResult<Vec<PolicyEvaluationRecord>>;

    /// Records a step-up proof.
    async fn insert_mfa_proof(&mut self, proof: &MfaProof) -> StoreResult<()>;

    /// Step-up proofs on an activity, oldest first.
    async fn list_mfa_proofs(&mut self, activity_id: &str) -> StoreResult<Vec<MfaProof>>;
}

/// Policies.
#[async_trait]
pub trait Policies: Send {
    /// Inserts a policy.
    async fn insert_policy(&mut self, policy: &Policy) -> StoreResult<()>;

    /// Rewrites a policy's fields and `updated_at`; `false` if absent.
    async fn update_policy(&mut self, policy: &Policy) -> StoreResult<bool>;

    /// Deletes a policy; `false` if absent.
    async fn delete_policy(&mut self, org_id: &str, policy_id: &str) -> StoreResult<bool>;

    /// Reads a policy of an organization.
    async fn get_policy(&mut self, org_id: &str, policy_id: &str) -> StoreResult<Option<Policy>>;

    /// All policies of an organization, oldest first.
    async fn list_policies(&mut self, org_id: &str) -> StoreResult<Vec<Policy>>;
}

/// The audit log: events, Merkle tree nodes and checkpoints.
#[async_trait]
pub trait AuditLog: Send {
    /// Locks `org_id`'s audit chain until the transaction ends and returns its last `(seq, hash)`.
    async fn lock_audit_head(&mut self, org_id: &str) -> StoreResult<Option<(i64, String)>>;

    /// Appends an event (the chain fields are already computed) with the hashes of the tree
    /// nodes its leaf completes.
    async fn insert_audit_event(&mut self, event: &AuditEvent, tree_nodes: Option<&str>) -> StoreResult<()>;

    /// A page of one organization's events, newest first.
    async fn list_audit_events(&mut self, org_id: &str, filter: &AuditFilter) -> StoreResult<Vec<AuditEvent>>;

    /// Up to `limit` events of every chain in (organization, seq) order, after the given position.
    async fn audit_chain_page(&mut self, after: Option<(&str, i64)>, limit: i64) -> StoreResult<Vec<AuditEvent>>;

    /// The `(seq, tree_nodes)` of the events that carry the frontier of `org_id`'s tree of
    /// `size` leaves (the seqs `size` with its low bits cleared, one per set bit), ascending.
    async fn audit_frontier(&mut self, org_id: &str, size: i64) -> StoreResult<Vec<(i64, Option<String>)>>;

    /// Every organization with events, its last seq, and the size of its latest signed checkpoint.
    async fn audit_heads(&mut self) -> StoreResult<Vec<(String, i64, i64)>>;

    /// The organizations with events not yet folded into their tree (recorded before it existed).
    async fn unfolded_audit_orgs(&mut self) -> StoreResult<Vec<String>>;

    /// The first seq of `org_id` not yet folded into its tree.
    async fn first_unfolded_audit_seq(&mut self, org_id: &str) -> StoreResult<Option<i64>>;

    /// Records the tree nodes an already stored event's leaf completes (folding).
    async fn set_audit_tree_nodes(&mut self, org_id: &str, seq: i64, tree_nodes: &str) -> StoreResult<()>;

    /// One event of `org_id`'s log by id.
    async fn audit_event(&mut self, org_id: &str, id: &str) -> StoreResult<Option<AuditEvent>>;

    /// The stored perfect subtrees of `org_id`'s tree at `coordinates` (level, index).
    async fn audit_tree_nodes(
        &mut self,
        org_id: &str,
        coordinates: &[(u8, u64)],
    ) -> StoreResult<std::collections::HashMap<(u8, u64), twofold_tlog::Hash>>;

    /// Records a signed checkpoint; `false` if that size was signed already.
    async fn insert_audit_checkpoint(&mut self, checkpoint: &AuditCheckpoint) -> StoreResult<bool>;

    /// Every organization's latest signed checkpoint.
    async fn latest_audit_checkpoints(&mut self) -> StoreResult<Vec<AuditCheckpoint>>;

    /// The checkpoint of `org_id`'s tree at `size`, or its latest.
    async fn audit_checkpoint(&mut self, org_id: &str, size: Option<i64>) -> StoreResult<Option<AuditCheckpoint>>;
}

/// IP allow and deny lists.
#[async_trait]
pub trait NetworkRules: Send {
    /// IP rule sets of an organization: organization-wide ones, and those of `public_key` if given.
    async fn ip_rule_sets(&mut self, org_id: &str, public_key: Option<&str>) -> StoreResult<Vec<IpRuleSet>>;

    /// Creates or replaces a rule set.
    /// Moves the admission epoch.
    async fn put_ip_rule_set(&mut self, set: &IpRuleSet) -> StoreResult<()>;

    /// Removes a rule set; `false` if there was none.
    /// Moves the admission epoch.
    async fn delete_ip_rule_set(&mut self, org_id: &str, public_key: Option<&str>, kind: ListKind)
    -> StoreResult<bool>;
}

/// One-time-code flows, their limits, deliveries, tokens and per-organization settings.
#[async_trait]
pub trait OtpFlows: Send {
    /// Locks OTP reservations on every node until the transaction ends, so limits count exactly.
    async fn lock_otp_limits(&mut self) -> StoreResult<()>;

    /// Flows created for `contact` since `since` by anonymous callers (`anonymous`) or by
    /// authenticated ones: each class counts against its own limit.
    async fn otp_sends_to_contact(&mut self, contact: &str, since: i64, anonymous: bool) -> StoreResult<Usage>;

    /// Anonymous flows created from the client prefix `client_ip` since `since`.
    async fn otp_inits_from_ip(&mut self, client_ip: &str, since: i64) -> StoreResult<Usage>;

    /// Anonymous reserved or pending flows from the client prefix `client_ip` that expire after `now`.
    async fn otp_inflight_from_ip(&mut self, client_ip: &str, now: i64) -> StoreResult<Usage>;

    /// Anonymous reserved or pending flows of an organization that expire after `now`.
    async fn otp_inflight(&mut self, org_id: &str, now: i64) -> StoreResult<Usage>;

    /// Inserts a flow.
    async fn insert_otp_flow(&mut self, flow: &OtpFlow) -> StoreResult<()>;

    /// The flow an INIT or a successful VERIFY activity with this fingerprint belongs to.
    async fn otp_flow_by_fingerprint(&mut self, fingerprint: &str) -> StoreResult<Option<OtpFlow>>;

    /// Leases up to `limit` flows whose code is owed a delivery that is due at `now` (sets their
    /// `deliver_after` to `lease_until`) and forgets the deliveries of expired codes.
    async fn lease_otp_deliveries(&mut self, now: i64, lease_until: i64, limit: i64) -> StoreResult<Vec<OtpFlow>>;

    /// Reads a flow by its enclave id and locks it until the transaction ends.
    async fn lock_otp_flow(&mut self, org_id: &str, otp_id: &str) -> StoreResult<Option<OtpFlow>>;

    /// Rewrites a flow's enclave id, state, status, token, verifying fingerprint, expiry and
    /// `updated_at` (never its delivery state: see [`StoreTx::set_otp_delivery`]).
    async fn update_otp_flow(&mut self, flow: &OtpFlow) -> StoreResult<()>;

    /// Sets only a flow's delivery state, so a delivery result never overwrites an attempt's.
    async fn set_otp_delivery(&mut self, id: &str, deliver_after: Option<i64>, attempts: i64) -> StoreResult<()>;

    /// What a spent verification token was spent on (`LOGIN`, `SIGNUP`, …), if it was.
    async fn verification_token_purpose(&mut self, token_id: &str) -> StoreResult<Option<String>>;

    /// Records a verification token as spent; `false` if it already was.
    async fn use_verification_token(
        &mut self,
        token_id: &str,
        org_id: &str,
        purpose: &str,
        now: i64,
    ) -> StoreResult<bool>;

    /// `(disable_sms, disable_email)` of an organization, if set.
    async fn otp_settings(&mut self, org_id: &str) -> StoreResult<Option<(bool, bool)>>;

    /// Sets an organization's OTP switches.
    async fn put_otp_settings(
        &mut self,
        org_id: &str,
        disable_sms: bool,
        disable_email: bool,
        now: i64,
    ) -> StoreResult<()>;
}

/// MFA enforcement rules and step-up MFA policies.
#[async_trait]
pub trait MfaRules: Send {
    /// The global MFA enforcement rule and `org_id`'s override, those that are set.
    async fn mfa_enforcement_rules(&mut self, org_id: &str) -> StoreResult<Vec<EnforcementRule>>;

    /// Every MFA enforcement rule that is set (the global one and all overrides).
    async fn list_mfa_enforcement_rules(&mut self) -> StoreResult<Vec<EnforcementRule>>;

    /// Creates or replaces an MFA enforcement rule.
    /// Moves the admission epoch.
    async fn put_mfa_enforcement_rule(&mut self, rule: &EnforcementRule) -> StoreResult<()>;

    /// Deletes an organization's override; `false` if it had none.
    /// Moves the admission epoch.
    async fn delete_mfa_enforcement_rule(&mut self, org_id: &str) -> StoreResult<bool>;

    /// Inserts an MFA policy.
    async fn insert_mfa_policy(&mut self, policy: &MfaPolicy) -> StoreResult<()>;

    /// Rewrites an MFA policy's fields and `updated_at`; `false` if absent.
    async fn update_mfa_policy(&mut self, policy: &MfaPolicy) -> StoreResult<bool>;

    /// Deletes one MFA policy of a user; `false` if absent.
    async fn delete_mfa_policy(&mut self, org_id: &str, user_id: &str, id: &str) -> StoreResult<bool>;

    /// Reads an MFA policy of an organization.
    async fn get_mfa_policy(&mut self, org_id: &str, id: &str) -> StoreResult<Option<MfaPolicy>>;

    /// A user's MFA policies by `order` (then creation), or every user's when `user_id` is `None`.
    async fn list_mfa_policies(&mut self, org_id: &str, user_id: Option<&str>) -> StoreResult<Vec<MfaPolicy>>;
}

/// Webhook endpoints and the delivery outbox (webhooks and notices).
#[async_trait]
pub trait Webhooks: Send {
    /// Inserts a webhook endpoint.
    async fn insert_webhook_endpoint(&mut self, endpoint: &WebhookEndpoint) -> StoreResult<()>;

    /// Writes a webhook endpoint's name, URL and state (not its secret or subscriptions).
    async fn update_webhook_endpoint(&mut self, endpoint: &WebhookEndpoint) -> StoreResult<()>;

    /// Deletes a webhook endpoint and its pending deliveries; `false` if absent.
    async fn delete_webhook_endpoint(&mut self, org_id: &str, id: &str) -> StoreResult<bool>;

    /// An organization's webhook endpoints, oldest first.
    async fn list_webhook_endpoints(&mut self, org_id: &str) -> StoreResult<Vec<WebhookEndpoint>>;

    /// Reads a webhook endpoint by id.
    async fn get_webhook_endpoint(&mut self, id: &str) -> StoreResult<Option<WebhookEndpoint>>;

    /// Queues one outgoing message.
    async fn insert_delivery(&mut self, delivery: &Delivery) -> StoreResult<()>;

    /// Records what happened to one email.
    async fn insert_email_event(&mut self, event: &EmailEvent) -> StoreResult<()>;

    /// An organization's events for one recipient (of one type, when given), newest first, at
    /// most `limit`, older than the event `before` when given.
    async fn email_events(
        &mut self,
        org_id: &str,
        to_address: &str,
        event_type: Option<&str>,
        before: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<EmailEvent>>;

    /// Leases up to `limit` due pending messages until `lease_until`; a message leased
    /// by one node is not handed to another before its lease runs out.
    async fn lease_deliveries(&mut self, now: i64, lease_until: i64, limit: i64) -> StoreResult<Vec<Delivery>>;

    /// Writes a message's outcome (status, attempts, next attempt, error, lease).
    async fn update_delivery(&mut self, delivery: &Delivery) -> StoreResult<()>;

    /// An organization's messages on `channel`, newest first, optionally to one target.
    async fn list_deliveries(
        &mut self,
        org_id: &str,
        channel: Channel,
        target: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<Delivery>>;
}

/// Organizations' auth proxies.
#[async_trait]
pub trait AuthProxies: Send {
    /// An organization's auth proxy, if it enabled one.
    async fn get_auth_proxy(&mut self, org_id: &str) -> StoreResult<Option<crate::model::AuthProxy>>;

    /// The auth proxy whose configuration has id `config_id` (what Turnkey's browser SDK
    /// sends in `X-Auth-Proxy-Config-ID`), unless its organization was deleted.
    async fn get_auth_proxy_by_config(&mut self, config_id: &str) -> StoreResult<Option<crate::model::AuthProxy>>;

    /// Creates or replaces an organization's auth proxy, with the web origins whose pages
    /// may call the organization (its settings' `allowedOrigins`, normalized), which replace
    /// the ones it had. Moves the admission epoch.
    async fn put_auth_proxy(&mut self, proxy: &crate::model::AuthProxy, allowed_origins: &[String]) -> StoreResult<()>;

    /// Deletes an organization's auth proxy row and its allowed origins; `false` if it had none.
    /// Moves the admission epoch.
    async fn delete_auth_proxy(&mut self, org_id: &str) -> StoreResult<bool>;

    /// Whether `origin` (normalized) is an allowed origin of organization `org_id` or of its
    /// parent; of any organization when `org_id` is `None` (a preflight, which names none).
    /// One indexed read.
    async fn origin_allowed(&mut self, origin: &str, org_id: Option<&str>) -> StoreResult<bool>;
}

/// Filters and cursor for listing audit events, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this actor.
    pub actor_user_id: Option<String>,
    /// Only this event type.
    pub event_type: Option<String>,
    /// Only this outcome.
    pub outcome: Option<String>,
    /// Not before this time (ms).
    pub from_ms: Option<i64>,
    /// Before this time (ms).
    pub to_ms: Option<i64>,
    /// Only events older than this seq.
    pub before_seq: Option<i64>,
    /// Page size.
    pub limit: i64,
}

/// OpenID Connect login: trusted issuers, OAuth providers bound to users, spent tokens.
#[async_trait]
pub trait OidcLogins: Send {
    /// Replaces an organization's trusted issuers.
    async fn set_oidc_issuers(&mut self, org_id: &str, issuers: &[OidcIssuer]) -> StoreResult<()>;

    /// The issuers an organization trusts: its own, then its parent's.
    async fn oidc_issuers(&mut self, org_id: &str) -> StoreResult<Vec<OidcIssuer>>;

    /// Binds an OAuth provider; `Conflict` if that issuer, subject and audience is bound anywhere.
    async fn insert_oauth_provider(&mut self, provider: &OauthProvider) -> StoreResult<()>;

    /// Unbinds one of a user's OAuth providers; `false` if the user has no such provider.
    async fn delete_oauth_provider(&mut self, org_id: &str, user_id: &str, id: &str) -> StoreResult<bool>;

    /// An organization's OAuth providers (one user's when given), oldest first.
    async fn list_oauth_providers(&mut self, org_id: &str, user_id: Option<&str>) -> StoreResult<Vec<OauthProvider>>;

    /// The provider bound to `issuer`, `subject` and `audience`, in `org_id` or a direct
    /// sub-organization of it.
    async fn oauth_provider_for(
        &mut self,
        org_id: &str,
        issuer: &str,
        subject: &str,
        audience: &str,
    ) -> StoreResult<Option<OauthProvider>>;

    /// Records a token as spent until `expires_at`; `false` if it was spent before. Forgets
    /// tokens expired at `now`.
    async fn spend_oidc_token(&mut self, token_hash: &str, expires_at: i64, now: i64) -> StoreResult<bool>;
}
