//! The query catalog: every `/public/v1/query/<name>` endpoint is one row of the table at
//! the end of this file — its name, the type whose [`Query`] impl gives its request,
//! its response and its handler, and what MFA enforcement lets through. Dispatch, the
//! fields a body may carry, `/openapi.json` and docs/API.md's index all come from these
//! rows: a row whose type has no handler does not compile, and a handler without a row
//! is unreachable (and warned about as dead code).
//!
//! The caller is already admitted and confined to its own organization; each query reads
//! one consistent snapshot, opened only if the handler asks for it.

mod activities;
mod audit;
mod auth_proxy;
mod caller;
mod email;
mod factors;
mod mfa;
mod network;
mod oauth;
mod organization;
mod policies;
mod profiles;
mod users;
mod webhooks;

use std::future::Future;

use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::{Caller, Engine, Request};
use crate::error::{Error, Result};
use crate::store::{Store, StoreTx};

/// A type the API document can describe (with the `openapi` feature).
#[cfg(feature = "openapi")]
pub trait Schema: utoipa::ToSchema {}
#[cfg(feature = "openapi")]
impl<T: utoipa::ToSchema> Schema for T {}
/// A type the API document can describe (with the `openapi` feature).
#[cfg(not(feature = "openapi"))]
pub trait Schema {}
#[cfg(not(feature = "openapi"))]
impl<T> Schema for T {}

/// One query endpoint: what its body carries, what it answers, and how.
pub(crate) trait Query {
    /// The body's fields besides `organizationId`.
    type Request: DeserializeOwned + Schema;
    /// The answer.
    type Response: Serialize + Schema;
    /// Answers `request` for the admitted caller of `cx`.
    fn run(cx: &Cx<'_>, db: &mut Db, request: Self::Request) -> impl Future<Output = Result<Self::Response>> + Send;
}

/// What every query handler may use: the engine, the admitted caller, the request, the time.
pub(crate) struct Cx<'a> {
    /// The engine (its configuration, caches, enclave and store).
    pub engine: &'a Engine,
    /// Who asks, already admitted.
    pub caller: &'a Caller,
    /// The request as it came (its enrolment status is set by then).
    pub request: &'a Request<'a>,
    /// The server's clock when the query began, ms since epoch.
    pub now: i64,
    /// The organization the query reads: the caller's own, or a sub-organization of it.
    pub reads: &'a str,
}

impl Cx<'_> {
    /// The organization the query reads (the caller's own, or one of its sub-organizations).
    pub fn org(&self) -> &str {
        self.reads
    }

    /// Refuses a query that records state when it reads another organization than the
    /// caller's own: a parent reads its sub-organizations, it does not act in them.
    pub fn own_organization(&self, what: &str) -> Result<()> {
        if self.reads == self.caller.organization.id {
            return Ok(());
        }
        Err(Error::PermissionDenied(format!(
            "{what} records state in organization `{}`; a parent organization reads its sub-organizations but acts \
             in them only through their own users",
            self.reads
        )))
    }
}

/// The read snapshot of one query, opened on first use.
pub(crate) struct Db {
    store: std::sync::Arc<dyn Store>,
    tx: Option<Box<dyn StoreTx>>,
}

impl Db {
    fn new(store: std::sync::Arc<dyn Store>) -> Self {
        Db { store, tx: None }
    }

    /// The query's snapshot: one read transaction, the same for every call.
    pub async fn tx(&mut self) -> Result<&mut dyn StoreTx> {
        if self.tx.is_none() {
            self.tx = Some(self.store.read().await?);
        }
        match self.tx.as_deref_mut() {
            Some(tx) => Ok(tx),
            None => Err(Error::Internal("the query's snapshot is not open".to_owned())),
        }
    }

    /// The store itself, for the one query that records state (a passkey ceremony).
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }
}

/// A request of no fields beyond `organizationId`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NoFields {}

pub use crate::engine::WhenOverdue;

/// What a query reads, as a session profile's scope sees it: `activity.resource` is the
/// resource, `activity.action` is `READ`, `activity.type` is `QUERY_<NAME>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// What every client needs of its own session (whoami, the public keys): any scope.
    Session,
    /// This resource.
    Of(&'static str),
    /// The caller's own user needs no scope; any other user reads this resource.
    OwnUserOr(&'static str),
}

impl Reads {
    /// The resource a scope must allow for a query whose body is `body` by `caller`, if any.
    fn resource(self, body: &[u8], caller: &Caller) -> Option<&'static str> {
        match self {
            Reads::Session => None,
            Reads::Of(resource) => Some(resource),
            Reads::OwnUserOr(resource) => {
                let about = crate::engine::named_user(body);
                (about.as_ref().and_then(Value::as_str) != Some(caller.user.id.as_str())).then_some(resource)
            }
        }
    }
}

/// One row of the catalog, as the server and the docs see it.
#[derive(Debug, Clone, Copy)]
pub struct QueryRow {
    /// The endpoint's last path segment.
    pub name: &'static str,
    /// What it answers, in one line.
    pub summary: &'static str,
    /// What MFA enforcement lets through after the grace period.
    pub when_overdue: WhenOverdue,
    /// What a session profile's scope must allow.
    pub reads: Reads,
    /// The fields its body may carry besides `organizationId`.
    pub fields: fn() -> &'static [&'static str],
    /// Registers its request and response schemas and names them (`request`, `response`).
    #[cfg(feature = "openapi")]
    pub schemas: fn(utoipa::openapi::ComponentsBuilder) -> (utoipa::openapi::ComponentsBuilder, String, String),
}

/// Every query endpoint.
pub fn rows() -> &'static [QueryRow] {
    ROWS
}

/// The last path segments of every `/public/v1/query/*` endpoint.
pub fn query_paths() -> Vec<&'static str> {
    ROWS.iter().map(|r| r.name).collect()
}

/// The part of every query body that selects the organization.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryEnvelope {
    organization_id: String,
}

impl Engine {
    /// Runs a `/public/v1/query/<name>` request and returns its JSON answer.
    pub async fn query(&self, name: &str, req: &Request<'_>) -> Result<Value> {
        let row = row(name)
            .ok_or_else(|| Error::NotFound(format!("unknown query endpoint `{}`", crate::crypto::clip(name))))?;
        let env: QueryEnvelope = req.parse()?;
        let (caller, reads) = self.admit_reader(req, &env.organization_id).await?;
        // After admission: an anonymous caller learns nothing about what a query takes.
        check_fields(row, req.body)?;
        crate::engine::refuse_attested(&caller)?;
        crate::engine::refuse_query(&caller)?;
        self.gate_query(req, &caller, row.name, row.when_overdue).await?;
        let now = self.now_ms();
        self.check_query_scope(&caller, row.name, row.reads.resource(req.body, &caller), now).await?;
        let cx = Cx { engine: self, caller: &caller, request: req, now, reads: &reads };
        let mut db = Db::new(self.store_handle());
        dispatch(row.name, &cx, &mut db, req.body).await
    }
}

/// The row of query `name`.
pub fn row(name: &str) -> Option<&'static QueryRow> {
    ROWS.iter().find(|r| r.name == name)
}

/// The field names `T` deserializes from (serde's own list for a struct).
fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    #[derive(Debug)]
    struct Captured(&'static [&'static str]);
    impl std::fmt::Display for Captured {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{:?}", self.0)
        }
    }
    impl std::error::Error for Captured {}
    impl de::Error for Captured {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Captured(&[])
        }
    }
    struct Introspect;
    impl<'de> de::Deserializer<'de> for Introspect {
        type Error = Captured;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> std::result::Result<V::Value, Captured> {
            Err(Captured(&[]))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> std::result::Result<V::Value, Captured> {
            Err(Captured(fields))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    match T::deserialize(Introspect) {
        Err(Captured(fields)) => fields,
        Ok(_) => &[],
    }
}

/// The fields of a submit body's envelope: a body carrying one was stamped for an activity.
const SUBMIT_ENVELOPE: &[&str] = &["type", "timestampMs", "parameters"];

/// Stamps bind to their endpoint: a query body carries only `organizationId` and the
/// query's own fields. A body stamped for a submit endpoint (its `type`, `timestampMs`,
/// `parameters`) or for another query (a field this one lacks) is refused, naming the field,
/// so a stamp seen anywhere (a vote shown by `get_activity`, a log) cannot be replayed to
/// read as its signer. Queries have no timestamp in Turnkey's wire format, so a query body
/// itself stays replayable at its own endpoint (docs/SECURITY.md).
fn check_fields(row: &QueryRow, body: &[u8]) -> Result<()> {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        // Not an object: the envelope parser names what is wrong.
        return Ok(());
    };
    let allowed = (row.fields)();
    let foreign = |k: &&String| k.as_str() != "organizationId" && !allowed.contains(&k.as_str());
    // A submit envelope is named first, whatever order the body's keys come in.
    let envelope = SUBMIT_ENVELOPE.iter().find_map(|k| fields.get_key_value(*k)).map(|(k, _)| k);
    let Some(extra) = envelope.filter(foreign).or_else(|| fields.keys().find(foreign)) else {
        return Ok(());
    };
    if SUBMIT_ENVELOPE.contains(&extra.as_str()) {
        return Err(Error::invalid(format!(
            "`{extra}`: a query body has no activity envelope (type, timestampMs, parameters); this body was made \
             for a submit endpoint, and its stamp is valid only there"
        )));
    }
    let expected = if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") };
    Err(Error::invalid(format!(
        "`{}`: query {} has no such field (it takes organizationId and: {expected})",
        crate::crypto::clip(extra),
        row.name
    )))
}

/// Parses the body as `Q`'s request, runs it and serializes the answer.
async fn answer<Q: Query>(cx: &Cx<'_>, db: &mut Db, body: &[u8]) -> Result<Value> {
    let request: Q::Request = crate::engine::parse_body(body)?;
    let response = Q::run(cx, db, request).await?;
    serde_json::to_value(response).map_err(|e| Error::Internal(format!("serialize the answer: {e}")))
}

/// `v1Pagination`: `limit`, `before`, `after` (ids), numbers as strings.
#[derive(Debug, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    /// Page size, 1 to 100 (default 10), as a string.
    #[serde(default)]
    pub limit: Option<String>,
    /// An id from a previous page: the page before it.
    #[serde(default)]
    pub before: Option<String>,
    /// An id from a previous page: the page after it.
    #[serde(default)]
    pub after: Option<String>,
}

/// Default and largest page sizes for paginated lists.
const DEFAULT_LIMIT: i64 = 10;
const MAX_LIMIT: i64 = 100;

impl Pagination {
    /// The page size asked for, checked.
    fn limit(&self) -> Result<i64> {
        match &self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(s) => match s.parse::<i64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(Error::invalid(format!(
                    "paginationOptions.limit must be a whole number from 1 to {MAX_LIMIT}, found `{}`",
                    crate::crypto::clip(s)
                ))),
            },
        }
    }
}

/// A request naming one user.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UserRequest {
    /// The user.
    pub user_id: String,
}

/// A request about one user, the caller when absent.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OptionalUserRequest {
    /// The user; the caller when absent.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// A request naming one activity.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ActivityRequest {
    /// The activity.
    pub activity_id: String,
}

/// `NotFound` naming what is missing from the caller's organization.
fn not_found(what: &str, id: &str) -> Error {
    Error::NotFound(format!("no {what} `{}` in this organization", crate::crypto::clip(id)))
}

/// Activity `id` of organization `org`, or `NotFound`.
async fn activity_in(tx: &mut dyn StoreTx, org: &str, id: &str) -> Result<crate::model::Activity> {
    tx.get_activity(org, id).await?.ok_or_else(|| not_found("activity", id))
}

/// The catalog. Each row: name, the type implementing [`Query`], what enforcement lets
/// through after the grace period, what a scoped session's profile must allow, one line for
/// the docs.
macro_rules! catalog {
    ($($name:literal => $query:ty, $overdue:ident, $reads:ident$(($resource:literal))?, $summary:literal;)*) => {
        const ROWS: &[QueryRow] = &[$(QueryRow {
            name: $name,
            summary: $summary,
            when_overdue: WhenOverdue::$overdue,
            reads: Reads::$reads$(($resource))?,
            fields: fields_of::<<$query as Query>::Request>,
            #[cfg(feature = "openapi")]
            schemas: |c| {
                let (c, request) = crate::fields::register_schema::<<$query as Query>::Request>(c);
                let (c, response) = crate::fields::register_schema::<<$query as Query>::Response>(c);
                (c, request, response)
            },
        }),*];

        async fn dispatch(name: &str, cx: &Cx<'_>, db: &mut Db, body: &[u8]) -> Result<Value> {
            match name {
                $($name => answer::<$query>(cx, db, body).await,)*
                other => Err(Error::NotFound(format!("unknown query endpoint `{}`", crate::crypto::clip(other)))),
            }
        }
    };
}

catalog! {
    "whoami" => caller::Whoami, Allowed, Session, "Who the stamp belongs to (and what MFA enforcement asks of it)";
    "get_whoami" => caller::Whoami, Allowed, Session, "The same as whoami, under Turnkey's name";
    "get_organization" => organization::GetOrganization, Refused, Of("ORGANIZATION"), "The organization: users, tags, root quorum";
    "get_organization_configs" => organization::GetOrganizationConfigs, Refused, Of("ORGANIZATION"), "The organization's features and root quorum";
    "list_suborgs" => organization::ListSuborgs, Refused, Of("ORGANIZATION"), "Ids of the sub-organizations, paginated; filterType NAME, USERNAME, EMAIL, PHONE_NUMBER, CREDENTIAL_ID or PUBLIC_KEY finds them by name or by a user";
    "list_verified_suborgs" => organization::ListVerifiedSuborgs, Refused, Of("ORGANIZATION"), "Ids of the sub-organizations with a user whose email or phone number (filterType EMAIL or PHONE_NUMBER) was proven by a code";
    "get_user" => users::GetUser, OwnUser, OwnUserOr("USER"), "One user with API keys and tags";
    "list_users" => users::ListUsers, Refused, Of("USER"), "Every user of the organization";
    "list_user_tags" => users::ListUserTags, Refused, Of("USER"), "Every user tag";
    "get_api_keys" => users::GetApiKeys, Refused, Of("CREDENTIAL"), "API keys, of one user or all";
    "get_api_key" => users::GetApiKey, Refused, Of("CREDENTIAL"), "One API key";
    "get_activity" => activities::GetActivity, Refused, Of("ACTIVITY"), "One activity with its votes";
    "list_activities" => activities::ListActivities, Refused, Of("ACTIVITY"), "Activities, newest first, filtered and paginated";
    "get_policy_evaluations" => activities::GetPolicyEvaluations, Refused, Of("ACTIVITY"), "The policy outcomes of each decision on an activity";
    "evaluate_activity" => activities::EvaluateActivity, Refused, Of("ACTIVITY"), "A dry run: what an activity would come to, without recording it";
    "get_policy" => policies::GetPolicy, Refused, Of("POLICY"), "One policy";
    "list_policies" => policies::ListPolicies, Refused, Of("POLICY"), "Every policy";
    "get_active_policies" => policies::GetActivePolicies, Refused, Of("POLICY"), "Which policies are in their time window now";
    "get_oauth_providers" => oauth::GetOauthProviders, Refused, Of("CREDENTIAL"), "OAuth accounts bound to a user (or to every user)";
    "get_oidc_issuers" => oauth::GetOidcIssuers, Refused, Of("CONFIG"), "The OIDC issuers the organization (and its parent) trusts for OAuth login";
    "list_email_events" => email::ListEmailEvents, Refused, Of("ORGANIZATION"), "What happened to the emails sent to one address (sent, bounced, delayed), never what they said";
    "list_audit_events" => audit::ListAuditEvents, Refused, Of("AUDIT_LOG"), "Audit events, newest first, filtered and paginated";
    "verify_audit_log" => audit::VerifyAuditLog, Refused, Of("AUDIT_LOG"), "Re-checks the organization's hash chain";
    "get_audit_checkpoint" => audit::GetAuditCheckpoint, Refused, Of("AUDIT_LOG"), "The latest signed checkpoint of the audit log";
    "get_audit_proof" => audit::GetAuditProof, Refused, Of("AUDIT_LOG"), "An inclusion proof of one audit event";
    "get_audit_consistency_proof" => audit::GetAuditConsistencyProof, Refused, Of("AUDIT_LOG"), "A consistency proof between two checkpoints";
    "get_ip_allowlist" => network::GetIpAllowlist, Refused, Of("SECURITY_SETTINGS"), "The organization's or an API key's IP allow list";
    "get_ip_denylist" => network::GetIpDenylist, Refused, Of("SECURITY_SETTINGS"), "The organization's IP deny list";
    "get_authenticators" => factors::GetAuthenticators, OwnFactors, Of("CREDENTIAL"), "A user's passkeys";
    "get_authenticator" => factors::GetAuthenticator, Refused, Of("CREDENTIAL"), "One passkey";
    "get_passkey_registration_options" => factors::GetPasskeyRegistrationOptions, Enrols, Of("CREDENTIAL"), "WebAuthn options to register a passkey";
    "get_totp_authenticators" => factors::GetTotpAuthenticators, OwnFactors, Of("CREDENTIAL"), "A user's authenticator apps";
    "get_recovery_codes_status" => factors::GetRecoveryCodesStatus, OwnFactors, Of("CREDENTIAL"), "How many recovery codes a user has left";
    "list_sessions" => factors::ListSessions, Refused, Of("AUTH"), "A user's unexpired sessions";
    "get_session_signing_key" => caller::GetSessionSigningKey, Refused, Session, "The key session JWTs are signed with";
    "get_enclave_keys" => caller::GetEnclaveKeys, Refused, Session, "The OTP enclave's public keys, to pin";
    "get_mfa_enforcement" => mfa::GetMfaEnforcement, Refused, Of("SECURITY_SETTINGS"), "The MFA enforcement rule in force for an organization";
    "list_mfa_enforcements" => mfa::ListMfaEnforcements, Refused, Of("SECURITY_SETTINGS"), "The global rule and the rule of every organization below";
    "get_mfa_policies" => mfa::GetMfaPolicies, Refused, Of("MFA_POLICY"), "A user's step-up rules";
    "get_mfa_policy" => mfa::GetMfaPolicy, Refused, Of("MFA_POLICY"), "One step-up rule";
    "get_mfa_status" => mfa::GetMfaStatus, Refused, Of("ACTIVITY"), "Where each voter stands on an activity's step-up";
    "get_session_profile" => profiles::GetSessionProfile, Refused, Of("SESSION_PROFILE"), "One session profile";
    "get_session_profiles" => profiles::GetSessionProfiles, Refused, Of("SESSION_PROFILE"), "The session profiles usable here";
    "list_webhook_endpoints" => webhooks::ListWebhookEndpoints, Refused, Of("WEBHOOK_ENDPOINT"), "Webhook receivers (never their secrets)";
    "list_webhook_deliveries" => webhooks::ListWebhookDeliveries, Refused, Of("WEBHOOK_ENDPOINT"), "The webhook delivery log";
    "get_auth_proxy_config" => auth_proxy::GetAuthProxyConfig, Refused, Of("AUTH_PROXY"), "The auth proxy's settings";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_come_from_the_request_types() {
        assert_eq!((row("get_user").expect("row").fields)(), &["userId"]);
        assert_eq!((row("list_users").expect("row").fields)(), &[] as &[&str]);
        assert_eq!((row("get_mfa_policy").expect("row").fields)(), &["userId", "mfaPolicyId"]);
        assert!(row("no_such_query").is_none());
    }

    #[test]
    fn names_are_unique() {
        for (i, r) in ROWS.iter().enumerate() {
            assert!(ROWS[i + 1..].iter().all(|o| o.name != r.name), "{} is listed twice", r.name);
        }
    }

    #[test]
    fn submit_bodies_and_foreign_fields_are_refused_by_name() {
        let submit =
            br#"{"type":"ACTIVITY_TYPE_CREATE_USERS_V3","timestampMs":"1","organizationId":"o","parameters":{}}"#;
        let get = |n| row(n).expect("row");
        let err = check_fields(get("list_users"), submit).expect_err("refused").to_string();
        assert!(err.contains("`type`") && err.contains("submit endpoint"), "{err}");
        let err = check_fields(get("get_user"), br#"{"organizationId":"o","userId":"u","activityId":"a"}"#)
            .expect_err("refused")
            .to_string();
        assert!(err.contains("`activityId`") && err.contains("get_user"), "{err}");
        assert!(check_fields(get("get_user"), br#"{"organizationId":"o","userId":"u"}"#).is_ok());
        assert!(
            check_fields(get("list_audit_events"), br#"{"organizationId":"o","paginationOptions":{"limit":"5"}}"#)
                .is_ok()
        );
    }
}
