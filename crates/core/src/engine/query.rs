//! Read-only endpoints (`/public/v1/query/*`). The caller is already confined to its
//! own organization by identity; each query reads one consistent snapshot.

use serde::Deserialize;
use serde::Serialize;
use serde_json::{Value, json};

use super::{Caller, activity_view, parse_body, user_view, user_views};
use crate::api::{
    ActivityView, ApiKeyView, AuditEventView, OrganizationData, PolicyEvaluationView, PolicyView, TagView, Whoami,
};
use crate::crypto;
use crate::error::{Error, Result};
use crate::model::{ActivityFilter, ActivityStatus, FactorKind, KeyKind};
use crate::store::StoreTx;

/// Every query endpoint, by last path segment.
pub const QUERY_PATHS: &[&str] = &[
    "whoami",
    "get_whoami",
    "get_organization",
    "get_user",
    "list_users",
    "get_api_keys",
    "get_api_key",
    "list_user_tags",
    "list_suborgs",
    "get_activity",
    "list_activities",
    "get_policy",
    "list_policies",
    "get_policy_evaluations",
    "evaluate_activity",
    "list_audit_events",
    "verify_audit_log",
    "get_audit_checkpoint",
    "get_audit_proof",
    "get_audit_consistency_proof",
    "get_ip_allowlist",
    "get_ip_denylist",
    "get_authenticators",
    "get_authenticator",
    "get_passkey_registration_options",
    "get_totp_authenticators",
    "get_recovery_codes_status",
    "list_sessions",
    "get_session_signing_key",
    "get_enclave_keys",
    "get_mfa_enforcement",
    "list_mfa_enforcements",
    "get_mfa_policies",
    "get_mfa_policy",
    "get_mfa_status",
    "get_session_profile",
    "get_session_profiles",
    "list_webhook_endpoints",
    "list_webhook_deliveries",
    "get_auth_proxy_config",
];

/// The fields the body of query `path` may carry besides `organizationId`; `None` for a
/// path this table lacks (every entry of [`QUERY_PATHS`] has one, a unit test checks).
fn query_fields(path: &str) -> Option<&'static [&'static str]> {
    const PAGE: &str = "paginationOptions";
    Some(match path {
        "whoami"
        | "get_whoami"
        | "get_organization"
        | "list_users"
        | "list_user_tags"
        | "list_policies"
        | "verify_audit_log"
        | "get_audit_checkpoint"
        | "get_session_signing_key"
        | "get_enclave_keys"
        | "list_mfa_enforcements"
        | "get_session_profiles"
        | "list_webhook_endpoints"
        | "get_auth_proxy_config" => &[],
        "get_user"
        | "get_api_keys"
        | "get_authenticators"
        | "get_passkey_registration_options"
        | "get_totp_authenticators"
        | "get_recovery_codes_status"
        | "list_sessions"
        | "get_mfa_policies" => &["userId"],
        "get_api_key" => &["apiKeyId"],
        "list_suborgs" => &["filterType", "filterValue", PAGE],
        "get_activity" | "get_policy_evaluations" => &["activityId"],
        "list_activities" => &["filterByStatus", "filterByType", PAGE],
        "get_policy" => &["policyId"],
        "evaluate_activity" => &["userId", "activity"],
        "list_audit_events" => &["actorUserId", "eventType", "outcome", "fromMs", "toMs", PAGE],
        "get_audit_proof" => &["eventId", "treeSize"],
        "get_audit_consistency_proof" => &["fromSize", "toSize"],
        "get_ip_allowlist" | "get_ip_denylist" => &["publicKey"],
        "get_authenticator" => &["authenticatorId"],
        "get_mfa_enforcement" => &["targetOrganizationId"],
        "get_mfa_policy" => &["userId", "mfaPolicyId"],
        "get_mfa_status" => &["activityId", "userId"],
        "get_session_profile" => &["sessionProfileId"],
        "list_webhook_deliveries" => &["endpointId", "limit"],
        _ => return None,
    })
}

/// The fields of a submit body's envelope: a body carrying one was stamped for an activity.
const SUBMIT_ENVELOPE: &[&str] = &["type", "timestampMs", "parameters"];

/// Stamps bind to their endpoint: a query body carries only `organizationId` and the
/// query's own fields. A body stamped for a submit endpoint (its `type`, `timestampMs`,
/// `parameters`) or for another query (a field this one lacks) is refused, naming the field,
/// so a stamp seen anywhere (a vote shown by `get_activity`, a log) cannot be replayed to
/// read as its signer. Queries have no timestamp in Turnkey's wire format, so a query body
/// itself stays replayable at its own endpoint (docs/SECURITY.md).
pub(super) fn check_fields(path: &str, body: &[u8]) -> Result<()> {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        // Not an object: the envelope parser names what is wrong.
        return Ok(());
    };
    let allowed = query_fields(path).unwrap_or(&[]);
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
        "`{}`: query {path} has no such field (it takes organizationId and: {expected})",
        crypto::clip(extra)
    )))
}

/// Default and largest page sizes for paginated lists.
const DEFAULT_LIMIT: i64 = 10;
const MAX_LIMIT: i64 = 100;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserRequest {
    user_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OptionalUserRequest {
    #[serde(default)]
    user_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthenticatorRequest {
    authenticator_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiKeysRequest {
    #[serde(default)]
    user_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiKeyRequest {
    api_key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActivityRequest {
    activity_id: String,
}

/// `v1Pagination`: `limit`, `before`, `after` (ids), numbers as strings.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Pagination {
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    before: Option<String>,
    #[serde(default)]
    after: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListActivitiesRequest {
    #[serde(default)]
    filter_by_status: Vec<String>,
    #[serde(default)]
    filter_by_type: Vec<String>,
    #[serde(default)]
    pagination_options: Option<Pagination>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListSuborgsRequest {
    #[serde(default)]
    filter_type: Option<String>,
    #[serde(default)]
    filter_value: Option<String>,
    #[serde(default)]
    pagination_options: Option<Pagination>,
}

pub(super) fn to_json<T: Serialize>(v: T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::Store(crate::store::StoreError::Backend(format!("serialize: {e}"))))
}

fn limit(p: &Pagination) -> Result<i64> {
    match &p.limit {
        None => Ok(DEFAULT_LIMIT),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(Error::invalid(format!(
                "paginationOptions.limit must be a whole number from 1 to {MAX_LIMIT}, found `{}`",
                crypto::clip(s)
            ))),
        },
    }
}

/// Answers the queries that need nothing beyond the admitted caller (no read transaction).
pub(super) fn about_caller(path: &str, caller: &Caller) -> Option<Result<Value>> {
    match path {
        "whoami" | "get_whoami" => Some(to_json(Whoami {
            organization_id: caller.organization.id.clone(),
            organization_name: caller.organization.name.clone(),
            user_id: caller.user.id.clone(),
            username: caller.user.name.clone(),
        })),
        _ => None,
    }
}

/// Runs query `path` for `caller`; `None` if there is no such query.
pub(super) async fn run(
    engine: &super::Engine,
    path: &str,
    caller: &Caller,
    tx: &mut dyn StoreTx,
    body: &[u8],
    now: i64,
) -> Option<Result<Value>> {
    let programs = &engine.programs;
    Some(match path {
        "get_organization" => get_organization(caller, tx).await,
        "get_user" => get_user(caller, tx, body).await,
        "list_users" => match user_views(tx, &caller.organization.id).await {
            Ok(users) => Ok(json!({ "users": users })),
            Err(e) => Err(e),
        },
        "get_api_keys" => get_api_keys(caller, tx, body).await,
        "get_api_key" => get_api_key(caller, tx, body).await,
        "list_user_tags" => match tx.list_user_tags(&caller.organization.id).await {
            Ok(tags) => Ok(json!({ "userTags": tags.iter().map(TagView::from).collect::<Vec<_>>() })),
            Err(e) => Err(e.into()),
        },
        "list_suborgs" => list_suborgs(caller, tx, body).await,
        "get_activity" => get_activity(caller, tx, body).await,
        "list_activities" => list_activities(caller, tx, body).await,
        "get_policy" => get_policy(caller, tx, body).await,
        "list_policies" => match tx.list_policies(&caller.organization.id).await {
            Ok(policies) => Ok(json!({ "policies": policies.iter().map(PolicyView::from).collect::<Vec<_>>() })),
            Err(e) => Err(e.into()),
        },
        "get_policy_evaluations" => get_policy_evaluations(caller, tx, body).await,
        "evaluate_activity" => evaluate_activity(caller, tx, body, now, programs).await,
        "list_audit_events" => list_audit_events(caller, tx, body).await,
        "verify_audit_log" => verify_audit_log(caller, tx).await,
        "get_audit_checkpoint" => super::audit_log::get_checkpoint(engine, caller, tx).await,
        "get_audit_proof" => super::audit_log::get_proof(caller, tx, body).await,
        "get_audit_consistency_proof" => super::audit_log::get_consistency(caller, tx, body).await,
        "get_ip_allowlist" => get_ip_list(caller, tx, body, crate::network::ListKind::Allow).await,
        "get_ip_denylist" => get_ip_list(caller, tx, body, crate::network::ListKind::Deny).await,
        "get_authenticators" => list_factors(caller, tx, body, FactorKind::Passkey).await,
        "get_enclave_keys" => engine.enclave_keys().await,
        "get_totp_authenticators" => list_factors(caller, tx, body, FactorKind::Totp).await,
        "get_authenticator" => get_authenticator(caller, tx, body).await,
        "get_mfa_enforcement" => super::enforcement::get_rule(caller, tx, body).await,
        "list_mfa_enforcements" => super::enforcement::list_rules(caller, tx).await,
        "get_auth_proxy_config" => super::auth_proxy::config_view(caller, tx).await,
        "get_recovery_codes_status" => recovery_codes_status(caller, tx, body).await,
        "list_sessions" => list_sessions(caller, tx, body, now).await,
        "get_session_signing_key" => match engine.signer.get() {
            Some(signer) => Ok(json!({ "publicKey": signer.public_key_hex(), "scheme": "ES256_DOUBLE_SHA256" })),
            None => Err(Error::Internal("the session signing key is not loaded".to_owned())),
        },
        "get_passkey_registration_options" => registration_options(engine, caller, body, now).await,
        _ => match super::mfa::query(engine, path, caller, tx, body, now).await {
            Some(done) => done,
            None => return super::profiles::query(path, caller, tx, body).await,
        },
    })
}

async fn get_organization(caller: &Caller, tx: &mut dyn StoreTx) -> Result<Value> {
    let org = &caller.organization;
    let users = user_views(tx, &org.id).await?;
    let tags = tx.list_user_tags(&org.id).await?;
    let quorum = tx.root_quorum_members(&org.id).await?;
    to_json(json!({ "organizationData": OrganizationData::new(org, users, &tags, quorum) }))
}

async fn get_user(caller: &Caller, tx: &mut dyn StoreTx, body: &[u8]) -> Result<Value> {
    let req: UserRequest = parse_body(body)?;
    let user = tx
        .get_user(&caller.organization.id, &req.user_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no user `{}` in this organization", crypto::clip(&req.user_id))))?;
    to_json(json!({ "user": user_view(tx, &user).await? }))
}

async fn get_api_keys(caller: &Caller, tx: &mut dyn StoreTx, body: &[u8]) -> Result<Value> {
    let req: ApiKeysRequest = parse_body(body)?;
    let keys = tx.list_api_keys(&caller.organization.id, req.user_id.as_deref()).await?;
    to_json(json!({ "apiKeys": keys.iter().map(ApiKeyView::from).collect::<Vec<_>>() }))
}

async fn get_api_key(caller: &Caller, tx: &mut dyn StoreTx, body: &[u8]) -> Result<Value> {
    let req: ApiKeyRequest = parse_body(body)?;
    let keys = tx.list_api_keys(&caller.organization.id, None).await?;
    let key = keys.iter().find(|k| k.id == req.api_key_id).ok_or_else(|| {
        Error::NotFound(format!("no API key `{}` in this organization", crypto::clip(&req.api_key_id)))
    })?;
    to_json(json!({ "apiKey": ApiKeyView::from(key) }))
}

async fn list_suborgs(caller: &Caller, tx: &mut dyn StoreTx, body: &[u8]) -> Result<Value> {
    let req: ListSuborgsRequest = parse_body(body)?;
    if req.filter_type.is_some() || req.filter_value.is_some() {
        return Err(Error::invalid(
            "filterType/filterValue: filtering sub-organizations is not supported by this server; omit them",
        ));
    }
    let page = req.pagination_options.unwrap_or_default();
    let limit = usize::try_from(limit(&page)?).unwrap_or(DEFAULT_LIMIT as usize);
    let ids = tx.list_sub_organizations(&caller.organization.id).await?;
    let position = |cursor: &str| {
        ids.iter()
            .position(|id| id == cursor)
            .ok_or_else(|| Error::invalid(format!("paginationOptions: unknown cursor `{}`", crypto::clip(cursor))))
    };
    let page_ids: Vec<&String> = match (&page.before, &page.after) {
        (Some(_), Some(_)) => return Err(Error::invalid("paginationOptions: give `before` or `after`, not both")),
        (None, Some(after)) => ids.iter().skip(position(after)? + 1).take(limit).collect(),
        (Some(before), None) => {
            let end = position(before)?;
            ids[end.saturating_sub(limit)..end].iter().collect()
        }
        (None, None) => ids.iter().take(limit).collect(),
    };
    to_json(json!({ "organizationIds": page_ids }))
}

async fn get_activity(caller: &Caller, tx: &mut dyn StoreTx, body: &[u8]) -> Result<Value> {
    let req: ActivityRequest = parse_body(body)?;
    let activity = tx.get_activity(&caller.organization.id, &req.activity_id).await?.ok_or_else(|| {
        Error::NotFound(format!("no activity `{}` in this organization", crypto::clip(&req.activity_id)))
    })?;
    to_json(json!({ "activity": activity_view(tx, &activity, &caller.user.id).await? }))
}

async fn list_activities(caller: &Caller, tx: &mut dyn StoreTx, body: &[u8]) -> Result<Value> {
    let req: ListActivitiesRequest = parse_body(body)?;
    let page = req.pagination_options.unwrap_or_default();
    if page.before.is_some() && page.after.is_some() {
        return Err(Error::invalid("paginationOptions: give `before` or `after`, not both"));
    }
    let statuses = req
        .filter_by_status
        .iter()
        .map(|s| {
            ActivityStatus::parse(s)
                .ok_or_else(|| Error::invalid(format!("filterByStatus: unknown activity status `{}`", crypto::clip(s))))
        })
        .collect::<Result<Vec<_>>>()?;
    for t in &req.filter_by_type {
        if !t.starts_with("ACTIVITY_TYPE_") || t.len() > 128 {
            return Err(Error::invalid(format!("filterByType: `{}` is not an activity type", crypto::clip(t))));
        }
    }
    let filter = ActivityFilter {
        statuses,
        types: req.filter_by_type,
        limit: limit(&page)?,
        before: page.before,
        after: page.after,
    };
    let activities = tx
        .list_activities(&caller.organization.id, &filter)
        .await?
        .ok_or_else(|| Error::invalid("paginationOptions: unknown cursor; pass an activity id from a previous page"))?;
    let mut views: Vec<ActivityView> = Vec::with_capacity(activities.len());
    for a in &activities {
        views.push(activity_view(tx, a, &caller.user.id).await?);
    }
    to_json(json!({ "activities": views }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyRequest {
    policy_id: String,
}

async fn get_policy(caller: &Caller, tx: &mut dyn StoreTx, body: &[u8]) -> Result<Value> {
    let req: PolicyRequest = parse_body(body)?;
    let policy = tx
        .get_policy(&caller.organization.id, &req.policy_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no policy `{}` in this organization", crypto::clip(&req.policy_id))))?;
    to_json(json!({ "policy": PolicyView::from(&policy) }))
}

async fn get_policy_evaluations(caller: &Caller, tx: &mut dyn StoreTx, body: &[u8]) -> Result<Value> {
    let req: ActivityRequest = parse_body(body)?;
    let activity = tx.get_activity(&caller.organization.id, &req.activity_id).await?.ok_or_else(|| {
        Error::NotFound(format!("no activity `{}` in this organization", crypto::clip(&req.activity_id)))
    })?;
    let records = tx.list_policy_evaluations(&activity.id).await?;
    to_json(json!({ "policyEvaluations": records.iter().map(PolicyEvaluationView::from).collect::<Vec<_>>() }))
}

/// The unsigned activity of a dry run: just what decides it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UnsignedActivity {
    #[serde(rename = "type")]
    activity_type: String,
    parameters: Box<serde_json::value::RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EvaluateActivityRequest {
    #[serde(default)]
    user_id: Option<String>,
    activity: UnsignedActivity,
}

async fn evaluate_activity(
    caller: &Caller,
    tx: &mut dyn StoreTx,
    body: &[u8],
    now: i64,
    programs: &super::decide::ProgramCache,
) -> Result<Value> {
    let req: EvaluateActivityRequest = parse_body(body)?;
    let acting = req.user_id.as_deref().unwrap_or(&caller.user.id);
    super::settle::dry_run(
        programs,
        tx,
        &caller.organization,
        acting,
        &req.activity.activity_type,
        &req.activity.parameters,
        now,
    )
    .await
}

/// `list_audit_events` filters; times are ms since epoch as strings, like `timestampMs`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListAuditEventsRequest {
    #[serde(default)]
    actor_user_id: Option<String>,
    #[serde(default)]
    event_type: Option<String>,
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    from_ms: Option<String>,
    #[serde(default)]
    to_ms: Option<String>,
    #[serde(default)]
    pagination_options: Option<Pagination>,
}

fn ms(field: &str, v: Option<&String>) -> Result<Option<i64>> {
    v.map(|s| {
        s.parse::<i64>().map_err(|_| {
            Error::invalid(format!(
                "{field} must be milliseconds since the epoch as a decimal string, found `{}`",
                crypto::clip(s)
            ))
        })
    })
    .transpose()
}

async fn list_audit_events(caller: &Caller, tx: &mut dyn StoreTx, body: &[u8]) -> Result<Value> {
    let req: ListAuditEventsRequest = parse_body(body)?;
    let page = req.pagination_options.unwrap_or_default();
    if page.before.is_some() {
        return Err(Error::invalid(
            "paginationOptions.before: audit events page towards older events only; use `after`",
        ));
    }
    let before_seq = match &page.after {
        None => None,
        Some(s) => Some(s.parse::<i64>().map_err(|_| {
            Error::invalid(format!(
                "paginationOptions.after: pass the `seq` of the last event of the previous page, found `{}`",
                crypto::clip(s)
            ))
        })?),
    };
    let filter = crate::store::AuditFilter {
        actor_user_id: req.actor_user_id,
        event_type: req.event_type,
        outcome: req.outcome,
        from_ms: ms("fromMs", req.from_ms.as_ref())?,
        to_ms: ms("toMs", req.to_ms.as_ref())?,
        before_seq,
        limit: limit(&page)?,
    };
    let events = tx.list_audit_events(&caller.organization.id, &filter).await?;
    to_json(json!({ "auditEvents": events.iter().map(AuditEventView::from).collect::<Vec<_>>() }))
}

async fn verify_audit_log(caller: &Caller, tx: &mut dyn StoreTx) -> Result<Value> {
    let org = caller.organization.id.as_str();
    let mut verifier = crate::audit::Verifier::default();
    let mut after = (org.to_owned(), 0);
    loop {
        let page = tx.audit_chain_page(Some((&after.0, after.1)), 500).await?;
        let mine: Vec<_> = page.iter().take_while(|e| e.organization_id == org).collect();
        for e in &mine {
            if let Err(broken) = verifier.check(e) {
                return to_json(
                    json!({ "verified": false, "eventsChecked": verifier.checked, "broken": broken.to_string() }),
                );
            }
        }
        match mine.last() {
            Some(last) if mine.len() == page.len() && page.len() == 500 => after = (org.to_owned(), last.seq),
            _ => break,
        }
    }
    to_json(json!({ "verified": true, "eventsChecked": verifier.checked }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IpListRequest {
    #[serde(default)]
    public_key: Option<String>,
}

/// `{allowlist: {...}}` / `{denylist: {...}}`; an absent list reads as empty and disabled.
async fn get_ip_list(
    caller: &Caller,
    tx: &mut dyn StoreTx,
    body: &[u8],
    kind: crate::network::ListKind,
) -> Result<Value> {
    use crate::network::ListKind;
    let req: IpListRequest = parse_body(body)?;
    let org = &caller.organization.id;
    let pk = req.public_key.as_deref().map(str::to_ascii_lowercase);
    if kind == ListKind::Deny && pk.is_some() {
        return Err(Error::invalid("publicKey: deny lists are organization-wide; omit `publicKey`"));
    }
    let sets = tx.ip_rule_sets(org, pk.as_deref()).await?;
    let set = sets.iter().find(|s| s.kind == kind && s.public_key == pk);
    let mut list = json!({
        "organizationId": org,
        "rules": set.map(|s| s.rules.clone()).unwrap_or_default(),
        "enabled": set.is_some_and(|s| s.enabled),
        "onEvaluationError": set.map_or("DENY", |s| s.on_error.as_str()),
    });
    if let Some(pk) = pk {
        list["publicKey"] = json!(pk);
    }
    let key = if kind == ListKind::Allow { "allowlist" } else { "denylist" };
    to_json(json!({ key: list }))
}

/// The user a factor query is about: the one named, else the caller; must exist here.
async fn subject_user(caller: &Caller, tx: &mut dyn StoreTx, body: &[u8]) -> Result<String> {
    let req: OptionalUserRequest = parse_body(body)?;
    let user_id = req.user_id.unwrap_or_else(|| caller.user.id.clone());
    if tx.get_user(&caller.organization.id, &user_id).await?.is_none() {
        return Err(Error::NotFound(format!("no user `{}` in this organization", crypto::clip(&user_id))));
    }
    Ok(user_id)
}

async fn list_factors(caller: &Caller, tx: &mut dyn StoreTx, body: &[u8], kind: FactorKind) -> Result<Value> {
    let user_id = subject_user(caller, tx, body).await?;
    let factors = tx.list_factors(&caller.organization.id, &user_id, Some(kind)).await?;
    Ok(match kind {
        FactorKind::Totp => {
            json!({ "totpAuthenticators": factors.iter().map(super::factors::totp_view).collect::<Vec<_>>() })
        }
        _ => json!({ "authenticators": factors.iter().map(super::factors::authenticator_view).collect::<Vec<_>>() }),
    })
}

async fn get_authenticator(caller: &Caller, tx: &mut dyn StoreTx, body: &[u8]) -> Result<Value> {
    let req: AuthenticatorRequest = parse_body(body)?;
    let factor = tx
        .get_factor(&caller.organization.id, &req.authenticator_id)
        .await?
        .filter(|f| f.kind == FactorKind::Passkey)
        .ok_or_else(|| {
            Error::NotFound(format!("no authenticator `{}` in this organization", crypto::clip(&req.authenticator_id)))
        })?;
    Ok(json!({ "authenticator": super::factors::authenticator_view(&factor) }))
}

async fn recovery_codes_status(caller: &Caller, tx: &mut dyn StoreTx, body: &[u8]) -> Result<Value> {
    let user_id = subject_user(caller, tx, body).await?;
    let codes = tx.list_factors(&caller.organization.id, &user_id, Some(FactorKind::RecoveryCode)).await?;
    let remaining = codes.iter().filter(|c| c.used_at.is_none()).count();
    Ok(json!({
        "total": codes.len(),
        "remaining": remaining,
        "createdAt": codes.first().map(|c| crate::api::Timestamp::from_ms(c.created_at)),
    }))
}

async fn list_sessions(caller: &Caller, tx: &mut dyn StoreTx, body: &[u8], now: i64) -> Result<Value> {
    let user_id = subject_user(caller, tx, body).await?;
    let keys = tx.list_api_keys(&caller.organization.id, Some(&user_id)).await?;
    let sessions: Vec<Value> = keys
        .iter()
        .filter(|k| k.kind == KeyKind::Session && k.expires_at.is_none_or(|e| e > now))
        .map(|k| {
            json!({
                "sessionId": k.id,
                "publicKey": k.public_key,
                "createdAt": crate::api::Timestamp::from_ms(k.created_at),
                "expiresAt": k.expires_at.map(crate::api::Timestamp::from_ms),
                "current": k.id == caller.credential.id,
            })
        })
        .collect();
    Ok(json!({ "sessions": sessions }))
}

async fn registration_options(engine: &super::Engine, caller: &Caller, body: &[u8], now: i64) -> Result<Value> {
    // A ceremony is state: it is written in a transaction of its own.
    let mut tx = engine.store.write().await?;
    let user_id = subject_user(caller, &mut *tx, body).await?;
    let options =
        super::factors::registration_options(&mut *tx, &engine.config.factors, &caller.organization.id, &user_id, now)
            .await?;
    tx.commit().await?;
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_query_names_its_fields() {
        for path in QUERY_PATHS {
            assert!(query_fields(path).is_some(), "query {path} has no entry in query_fields");
        }
    }

    #[test]
    fn submit_bodies_and_foreign_fields_are_refused_by_name() {
        let submit =
            br#"{"type":"ACTIVITY_TYPE_CREATE_USERS_V3","timestampMs":"1","organizationId":"o","parameters":{}}"#;
        let err = check_fields("list_users", submit).expect_err("refused").to_string();
        assert!(err.contains("`type`") && err.contains("submit endpoint"), "{err}");
        let err = check_fields("get_user", br#"{"organizationId":"o","userId":"u","activityId":"a"}"#)
            .expect_err("refused")
            .to_string();
        assert!(err.contains("`activityId`") && err.contains("get_user"), "{err}");
        assert!(check_fields("get_user", br#"{"organizationId":"o","userId":"u"}"#).is_ok());
        assert!(
            check_fields("list_audit_events", br#"{"organizationId":"o","paginationOptions":{"limit":"5"}}"#).is_ok()
        );
    }
}
