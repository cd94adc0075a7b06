//! Row decoding: database rows become domain records here and nowhere else.

use sqlx::Row;
use sqlx::any::AnyRow;
use twofold_core::audit::{AuditCheckpoint, AuditEvent};
use twofold_core::enforcement::{EnforcementRule, EnforcementValue};
use twofold_core::model::{
    Activity, ActivityStatus, ApiKey, ApiKeyCurve, Channel, Delivery, DeliveryStatus, Effect, EmailEvent, Factor,
    FactorKind, KeyKind, MethodGroup, MfaPolicy, MfaProof, OauthProvider, OidcIssuer, Organization, Policy,
    PolicyEvaluationRecord, SessionProfile, User, UserTag, Vote, WebhookEndpoint,
};
use twofold_core::otp::{OtpFlow, OtpFlowStatus, Usage};

type R<T> = Result<T, sqlx::Error>;

fn decode_err(col: &str, msg: String) -> sqlx::Error {
    sqlx::Error::ColumnDecode { index: col.to_owned(), source: msg.into() }
}

pub(crate) fn auth_proxy(r: &AnyRow) -> R<twofold_core::model::AuthProxy> {
    let organization_id: String = r.try_get("organization_id")?;
    // Proxies enabled before config ids existed kept their organization's id as theirs.
    let config_id: Option<String> = r.try_get("config_id")?;
    Ok(twofold_core::model::AuthProxy {
        config_id: config_id.unwrap_or_else(|| organization_id.clone()),
        organization_id,
        user_id: r.try_get("user_id")?,
        api_key_id: r.try_get("api_key_id")?,
        policy_id: r.try_get("policy_id")?,
        sealed_key: r.try_get("sealed_key")?,
        config: r.try_get("config")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub(crate) fn organization(r: &AnyRow) -> R<Organization> {
    Ok(Organization {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        parent_id: r.try_get("parent_id")?,
        root_quorum_threshold: r.try_get("root_quorum_threshold")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub(crate) fn user(r: &AnyRow) -> R<User> {
    Ok(User {
        id: r.try_get("id")?,
        organization_id: r.try_get("organization_id")?,
        name: r.try_get("name")?,
        email: r.try_get("email")?,
        phone: r.try_get("phone")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        email_verified_at: r.try_get("email_verified_at")?,
        phone_verified_at: r.try_get("phone_verified_at")?,
        email_vouched_by: r.try_get("email_vouched_by")?,
        phone_vouched_by: r.try_get("phone_vouched_by")?,
        admin_since: r.try_get("admin_since")?,
        api_only: r.try_get::<i64, _>("api_only")? != 0,
    })
}

pub(crate) fn user_tag(r: &AnyRow) -> R<UserTag> {
    Ok(UserTag {
        id: r.try_get("id")?,
        organization_id: r.try_get("organization_id")?,
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub(crate) fn api_key(r: &AnyRow) -> R<ApiKey> {
    let curve: String = r.try_get("curve")?;
    let verify_key: String = r.try_get("verify_key")?;
    Ok(ApiKey {
        id: r.try_get("id")?,
        organization_id: r.try_get("organization_id")?,
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        public_key: r.try_get("public_key")?,
        verify_key: hex::decode(&verify_key).map_err(|e| decode_err("verify_key", e.to_string()))?,
        curve: ApiKeyCurve::parse(&curve).ok_or_else(|| decode_err("curve", format!("unknown curve {curve}")))?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        expires_at: r.try_get("expires_at")?,
        kind: {
            let kind: String = r.try_get("kind")?;
            KeyKind::parse(&kind).ok_or_else(|| decode_err("kind", format!("unknown key kind {kind}")))?
        },
        session_profile_id: r.try_get("session_profile_id")?,
    })
}

pub(crate) fn factor(r: &AnyRow) -> R<Factor> {
    let kind: String = r.try_get("kind")?;
    let active: i64 = r.try_get("active")?;
    Ok(Factor {
        id: r.try_get("id")?,
        organization_id: r.try_get("organization_id")?,
        user_id: r.try_get("user_id")?,
        kind: FactorKind::parse(&kind).ok_or_else(|| decode_err("kind", format!("unknown factor kind {kind}")))?,
        name: r.try_get("name")?,
        lookup: r.try_get("lookup")?,
        public_data: r.try_get("public_data")?,
        secret: r.try_get("secret")?,
        counter: r.try_get("counter")?,
        active: active != 0,
        used_at: r.try_get("used_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        bound_at: r.try_get("bound_at")?,
    })
}

pub(crate) fn activity(r: &AnyRow) -> R<Activity> {
    let status: String = r.try_get("status")?;
    Ok(Activity {
        id: r.try_get("id")?,
        organization_id: r.try_get("organization_id")?,
        activity_type: r.try_get("type")?,
        intent: r.try_get("intent")?,
        status: ActivityStatus::parse(&status)
            .ok_or_else(|| decode_err("status", format!("unknown status {status}")))?,
        fingerprint: r.try_get("fingerprint")?,
        result: r.try_get("result")?,
        failure: r.try_get("failure")?,
        initiator_user_id: r.try_get("initiator_user_id")?,
        initiator_credential_id: r.try_get("initiator_credential_id")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub(crate) fn vote(r: &AnyRow) -> R<Vote> {
    let selection: String = r.try_get("selection")?;
    Ok(Vote {
        id: r.try_get("id")?,
        activity_id: r.try_get("activity_id")?,
        user_id: r.try_get("user_id")?,
        credential_id: r.try_get("credential_id")?,
        approve: selection == "APPROVE",
        message: r.try_get("message")?,
        public_key: r.try_get("public_key")?,
        signature: r.try_get("signature")?,
        scheme: r.try_get("scheme")?,
        proofs: {
            let proofs: String = r.try_get("proofs")?;
            serde_json::from_str(&proofs).map_err(|e| decode_err("proofs", e.to_string()))?
        },
        created_at: r.try_get("created_at")?,
    })
}

pub(crate) fn policy(r: &AnyRow) -> R<Policy> {
    let effect: String = r.try_get("effect")?;
    Ok(Policy {
        id: r.try_get("id")?,
        organization_id: r.try_get("organization_id")?,
        name: r.try_get("name")?,
        effect: Effect::parse(&effect).ok_or_else(|| decode_err("effect", format!("unknown effect {effect}")))?,
        condition: r.try_get("condition")?,
        consensus: r.try_get("consensus")?,
        time: r.try_get("time_window")?,
        notes: r.try_get("notes")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub(crate) fn policy_evaluation(r: &AnyRow) -> R<PolicyEvaluationRecord> {
    Ok(PolicyEvaluationRecord {
        id: r.try_get("id")?,
        activity_id: r.try_get("activity_id")?,
        organization_id: r.try_get("organization_id")?,
        vote_id: r.try_get("vote_id")?,
        evaluations: r.try_get("evaluations")?,
        created_at: r.try_get("created_at")?,
    })
}

pub(crate) fn audit_event(r: &AnyRow) -> R<AuditEvent> {
    Ok(AuditEvent {
        id: r.try_get("id")?,
        organization_id: r.try_get("organization_id")?,
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        event_type: r.try_get("event_type")?,
        outcome: r.try_get("outcome")?,
        actor_user_id: r.try_get("actor_user_id")?,
        actor_credential_id: r.try_get("actor_credential_id")?,
        subject: r.try_get("subject")?,
        details: r.try_get("details")?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

/// The stored JSON of an MFA policy's groups.
pub(crate) fn methods_json(groups: &[MethodGroup]) -> String {
    serde_json::to_string(groups).unwrap_or_else(|_| "[]".to_owned())
}

pub(crate) fn mfa_policy(r: &AnyRow) -> R<MfaPolicy> {
    let methods: String = r.try_get("required_methods")?;
    Ok(MfaPolicy {
        id: r.try_get("id")?,
        organization_id: r.try_get("organization_id")?,
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        condition: r.try_get("condition")?,
        required_methods: serde_json::from_str(&methods).map_err(|e| decode_err("required_methods", e.to_string()))?,
        order: r.try_get("sort_order")?,
        notes: r.try_get("notes")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub(crate) fn mfa_proof(r: &AnyRow) -> R<MfaProof> {
    Ok(MfaProof {
        id: r.try_get("id")?,
        activity_id: r.try_get("activity_id")?,
        user_id: r.try_get("user_id")?,
        credential_id: r.try_get("credential_id")?,
        method: r.try_get("method")?,
        message: r.try_get("message")?,
        public_key: r.try_get("public_key")?,
        signature: r.try_get("signature")?,
        scheme: r.try_get("scheme")?,
        created_at: r.try_get("created_at")?,
    })
}

pub(crate) fn session_profile(r: &AnyRow) -> R<SessionProfile> {
    Ok(SessionProfile {
        id: r.try_get("id")?,
        organization_id: r.try_get("organization_id")?,
        name: r.try_get("name")?,
        scope: r.try_get("scope")?,
        expiration_seconds: r.try_get("expiration_seconds")?,
        notes: r.try_get("notes")?,
        created_at: r.try_get("created_at")?,
    })
}

pub(crate) fn webhook_endpoint(r: &AnyRow) -> R<WebhookEndpoint> {
    let active: i64 = r.try_get("active")?;
    Ok(WebhookEndpoint {
        id: r.try_get("id")?,
        organization_id: r.try_get("organization_id")?,
        name: r.try_get("name")?,
        url: r.try_get("url")?,
        secret: r.try_get("secret")?,
        subscriptions: r.try_get("subscriptions")?,
        active: active != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub(crate) fn email_event(r: &AnyRow) -> R<EmailEvent> {
    Ok(EmailEvent {
        id: r.try_get("id")?,
        organization_id: r.try_get("organization_id")?,
        message_id: r.try_get("message_id")?,
        event_type: r.try_get("event_type")?,
        from_address: r.try_get("from_address")?,
        to_address: r.try_get("to_address")?,
        diagnostic: r.try_get("diagnostic")?,
        created_at: r.try_get("created_at")?,
    })
}

pub(crate) fn oidc_issuer(r: &AnyRow) -> R<OidcIssuer> {
    let audiences: String = r.try_get("audiences")?;
    Ok(OidcIssuer {
        organization_id: r.try_get("organization_id")?,
        issuer: r.try_get("issuer")?,
        audiences: serde_json::from_str(&audiences).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        jwks_url: r.try_get("jwks_url")?,
        created_at: r.try_get("created_at")?,
    })
}

pub(crate) fn oauth_provider(r: &AnyRow) -> R<OauthProvider> {
    Ok(OauthProvider {
        id: r.try_get("id")?,
        organization_id: r.try_get("organization_id")?,
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        issuer: r.try_get("issuer")?,
        audience: r.try_get("audience")?,
        subject: r.try_get("subject")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub(crate) fn delivery(r: &AnyRow) -> R<Delivery> {
    let status: String = r.try_get("status")?;
    let channel: String = r.try_get("channel")?;
    Ok(Delivery {
        id: r.try_get("id")?,
        channel: Channel::parse(&channel).ok_or_else(|| decode_err("channel", format!("unknown channel {channel}")))?,
        target: r.try_get("target")?,
        organization_id: r.try_get("organization_id")?,
        event_type: r.try_get("event_type")?,
        subject: r.try_get("subject")?,
        payload: r.try_get("payload")?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| decode_err("status", format!("unknown delivery status {status}")))?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        lease_until: r.try_get("lease_until")?,
        last_error: r.try_get("last_error")?,
        last_status: r.try_get("last_status")?,
        delivered_at: r.try_get("delivered_at")?,
        created_at: r.try_get("created_at")?,
    })
}

pub(crate) fn enforcement_rule(r: &AnyRow) -> R<EnforcementRule> {
    let organization_id: String = r.try_get("organization_id")?;
    let value: String = r.try_get("value")?;
    Ok(EnforcementRule {
        organization_id: if organization_id.is_empty() { None } else { Some(organization_id) },
        value: EnforcementValue::parse(&value).ok_or_else(|| decode_err("value", format!("unknown value {value}")))?,
        grace_period_days: r.try_get("grace_period_days")?,
        accept_email_sms_otp: r.try_get::<i64, _>("accept_email_sms_otp")? != 0,
        updated_at: r.try_get("updated_at")?,
        updated_by: r.try_get("updated_by")?,
    })
}

pub(crate) fn otp_flow(r: &AnyRow) -> R<OtpFlow> {
    let status: String = r.try_get("status")?;
    Ok(OtpFlow {
        id: r.try_get("id")?,
        otp_id: r.try_get("otp_id")?,
        organization_id: r.try_get("organization_id")?,
        otp_type: r.try_get("otp_type")?,
        contact: r.try_get("contact")?,
        client_ip: r.try_get("client_ip")?,
        anonymous: r.try_get::<i64, _>("anonymous")? != 0,
        fingerprint: r.try_get("fingerprint")?,
        status: OtpFlowStatus::parse(&status)
            .ok_or_else(|| decode_err("status", format!("unknown OTP status {status}")))?,
        sealed_state: r.try_get("sealed_state")?,
        verification_token: r.try_get("verification_token")?,
        verified_fingerprint: r.try_get("verified_fingerprint")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        updated_at: r.try_get("updated_at")?,
        deliver_after: r.try_get("deliver_after")?,
        delivery_attempts: r.try_get("delivery_attempts")?,
    })
}

/// `COUNT(*), MIN(t)` of a window.
pub(crate) fn usage(r: &AnyRow) -> R<Usage> {
    Ok(Usage { count: r.try_get(0)?, oldest: r.try_get(1)? })
}

pub(crate) fn audit_checkpoint(r: &AnyRow) -> R<AuditCheckpoint> {
    Ok(AuditCheckpoint {
        organization_id: r.try_get("organization_id")?,
        size: r.try_get("size")?,
        root: r.try_get("root")?,
        note: r.try_get("note")?,
        created_at: r.try_get("created_at")?,
    })
}
