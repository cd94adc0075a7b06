//! One-time codes: INIT_OTP, VERIFY_OTP and OTP_LOGIN, and the parts of sign-up and contact
//! changes that spend a verification token. The work done before the activity was recorded
//! (limits, the enclave's verdict) is found by the activity's fingerprint.

use std::sync::Arc;

use serde_json::Value;

use super::factors::{StampLogin, create_session};
use super::organizations::{CreateSubOrganization, CreateSubOrganizationResult, new_sub_organization};
use super::{Activity, Done, ExecContext, results, shows};
use crate::crypto;
use crate::error::{Error, Result};
use crate::fields::params;
use crate::model::{ApiKeyCurve, Organization, User, new_id};
use crate::otp::{
    ClientSignature, InitOtp, OtpChannel, OtpConfig, OtpEnclave, OtpFlow, OtpFlowStatus, OtpLogin, OtpStart,
    TokenClaims, VerifyOtp, normalize_contact,
};
use crate::store::StoreTx;

/// How long a delivery owed to one request (or leased by one outbox pass) is left to it
/// before another may try: longer than a whole delivery may take (twice its timeout).
pub(crate) const DELIVERY_LEASE_MS: i64 = 30_000;

results! {
    /// `v1InitOtpResultV2`: the flow and the enclave key the attempt is sealed to.
    InitOtpResult { otp_id: String, otp_encryption_target_bundle: String }
    /// `v1VerifyOtpResult`: the token is in the answer to this request only.
    VerifyOtpResult { verification_token: String }
    /// `v1OtpLoginResult`: the session (whose it is, it says itself).
    OtpLoginResult { session: String }
}

pub(crate) fn enclave(config: &OtpConfig) -> Result<&Arc<dyn OtpEnclave>> {
    config.enclave.as_ref().ok_or_else(|| {
        Error::FailedPrecondition("one-time codes are not available: this server runs without an enclave".to_owned())
    })
}

pub(crate) async fn ensure_enabled(tx: &mut dyn StoreTx, org_id: &str, channel: OtpChannel) -> Result<()> {
    let (sms_off, email_off) = tx.otp_settings(org_id).await?.unwrap_or((false, false));
    let (off, name) = match channel {
        OtpChannel::Sms => (sms_off, "SMS"),
        OtpChannel::Email => (email_off, "email"),
    };
    if off {
        return Err(Error::FailedPrecondition(format!(
            "{name} one-time codes are disabled for organization `{org_id}` (disableSmsAuth / disableOtpEmailAuth, or \
             remove_organization_feature)"
        )));
    }
    Ok(())
}

pub(crate) fn contact_name(channel: OtpChannel) -> &'static str {
    match channel {
        OtpChannel::Email => "email address",
        OtpChannel::Sms => "phone number",
    }
}

/// Whether `user`'s email or phone on record is the contact the token proves.
pub(crate) fn has_contact(user: &User, claims: &TokenClaims) -> bool {
    let on_record = match claims.channel {
        OtpChannel::Email => user.email.as_deref(),
        OtpChannel::Sms => user.phone.as_deref(),
    };
    on_record.is_some_and(|c| normalize_contact(c) == normalize_contact(&claims.contact))
}

/// The users a token for a contact may log in as, when the login names `org`: those of `org`
/// itself, else the one of a direct sub-organization, whose contact serves a login naming `org`
/// ([`User::contact_serves_login`]: verified, or vouched for by `org`). Never a contact a
/// sub-organization gave its own user (anyone may sign one up and use any address), nor one an
/// update set without proof. At most two are read: one is the answer, two are ambiguous.
pub(crate) async fn login_candidates(
    tx: &mut dyn StoreTx,
    org: &Organization,
    claims: &TokenClaims,
) -> Result<Vec<User>> {
    let email = claims.channel == OtpChannel::Email;
    let contact = normalize_contact(&claims.contact);
    let users = tx.users_with_contact(&org.id, org.parent_id.as_deref(), email, &contact).await?;
    let (own, subs): (Vec<User>, Vec<User>) = users
        .into_iter()
        .filter(|u| has_contact(u, claims) && u.contact_serves_login(email, &org.id, org.parent_id.as_deref()))
        .partition(|u| u.organization_id == org.id);
    Ok(if own.is_empty() { subs } else { own })
}

/// Checks a verification token offered to prove `contact`, the new email address or phone
/// number of an update: the enclave's signature and expiry, the channel and contact it proves,
/// issued by a flow of this organization or its parent, and spent once.
pub(crate) async fn prove_contact(
    tx: &mut dyn StoreTx,
    ctx: &ExecContext<'_>,
    token: &str,
    channel: OtpChannel,
    contact: &str,
) -> Result<()> {
    let refused = |why: String| Error::PermissionDenied(format!("parameters.verificationToken: {why}"));
    let claims = enclave(&ctx.factors.otp)?.verify_token(token, ctx.now).await.map_err(|e| refused(e.to_string()))?;
    if claims.channel != channel || normalize_contact(&claims.contact) != normalize_contact(contact) {
        return Err(refused(format!("does not prove the new {}", contact_name(channel))));
    }
    let parent = tx.get_organization(ctx.org_id).await?.and_then(|o| o.parent_id);
    if claims.organization_id != ctx.org_id && Some(&claims.organization_id) != parent.as_ref() {
        return Err(refused("issued by an OTP flow of an unrelated organization".to_owned()));
    }
    spend(tx, ctx, &claims, "CONTACT").await
}

/// Has the enclave make the code and stores its sealed state on the reserved flow, owed a
/// delivery: nothing is sent inside the transaction (a policy that refuses the activity
/// means nothing is ever sent, and no database lock waits on a mail server).
impl Activity for InitOtp {
    type Output = InitOtpResult;

    fn check(&self) -> Result<()> {
        crate::otp::validate_init(self)
    }

    fn policy_params(&self) -> Value {
        params!(self; otp_type, contact, app_name)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<InitOtpResult>> {
        init(tx, ctx, self).await
    }
}

async fn init(tx: &mut dyn StoreTx, ctx: &ExecContext<'_>, p: &InitOtp) -> Result<Done<InitOtpResult>> {
    let enclave = enclave(&ctx.factors.otp)?;
    let channel = p.channel()?;
    ensure_enabled(tx, ctx.org_id, channel).await?;
    let reserved = tx
        .otp_flow_by_fingerprint(ctx.fingerprint)
        .await?
        .filter(|f| f.status == OtpFlowStatus::Reserved && f.organization_id == ctx.org_id);
    let contact = p.normalized_contact();
    let started = enclave
        .start(OtpStart {
            organization_id: ctx.org_id.to_owned(),
            channel,
            contact: contact.clone(),
            app_name: p.app_name.clone(),
            otp_length: p.otp_length,
            alphanumeric: p.alphanumeric,
            expiration_seconds: p.expiration_seconds,
            sender_name: p.send_from_email_sender_name.clone(),
            reply_to: p.reply_to_email_address.clone(),
            sms_template: p.sms_customization.as_ref().and_then(|c| c.template.clone()),
            now_ms: ctx.now,
        })
        .await?;
    let fresh = reserved.is_none();
    // Reached without a reservation only when the activity ran after approvals.
    let mut flow = reserved.unwrap_or_else(|| OtpFlow {
        id: new_id(),
        otp_id: None,
        organization_id: ctx.org_id.to_owned(),
        otp_type: channel.as_str().to_owned(),
        contact,
        client_ip: None,
        anonymous: false,
        fingerprint: ctx.fingerprint.to_owned(),
        status: OtpFlowStatus::Reserved,
        sealed_state: None,
        verification_token: None,
        verified_fingerprint: None,
        created_at: ctx.now,
        expires_at: started.expires_at_ms,
        updated_at: ctx.now,
        deliver_after: None,
        delivery_attempts: 0,
    });
    flow.otp_id = Some(started.otp_id.clone());
    flow.sealed_state = Some(started.sealed_state);
    flow.status = OtpFlowStatus::Pending;
    flow.expires_at = started.expires_at_ms;
    flow.updated_at = ctx.now;
    if fresh {
        tx.insert_otp_flow(&flow).await?;
    } else {
        tx.update_otp_flow(&flow).await?;
    }
    // Owed a delivery: the request delivers it once this commits; the outbox worker takes it
    // over only if that has not happened within the lease.
    tx.set_otp_delivery(&flow.id, Some(ctx.now.saturating_add(DELIVERY_LEASE_MS)), 0).await?;
    Ok(InitOtpResult { otp_id: started.otp_id, otp_encryption_target_bundle: started.target_bundle }.into())
}

/// What a flow's sealed verification token is bound to.
pub(crate) fn token_context(flow_id: &str) -> String {
    format!("otp-verification-token:{flow_id}")
}

/// The token the attempt before this activity earned, shown once: in this answer to the
/// initiator, never in the stored activity (members who read it would hold a proof of the
/// initiator's contact), and no longer kept in the flow.
/// VERIFY_OTP: the attempt was checked before the activity was recorded; this hands out the token.
impl Activity for VerifyOtp {
    type Output = VerifyOtpResult;

    fn check(&self) -> Result<()> {
        crate::otp::validate_verify(self)
    }

    fn policy_params(&self) -> Value {
        params!(self; otp_id)
    }

    shows!(TokenShown<'static>);

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<VerifyOtpResult>> {
        verified(tx, ctx, self).await
    }
}

/// A verification token, shown once.
#[derive(serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TokenShown<'a> {
    /// The token: proof of the contact, for OTP_LOGIN, sign-up or a contact change.
    pub verification_token: &'a str,
}

async fn verified(tx: &mut dyn StoreTx, ctx: &ExecContext<'_>, p: &VerifyOtp) -> Result<Done<VerifyOtpResult>> {
    let not_verified = || {
        Error::FailedPrecondition(format!(
            "OTP `{}` was not verified by this request; submit VERIFY_OTP with a new attempt",
            crypto::clip(&p.otp_id)
        ))
    };
    let mut flow = tx
        .otp_flow_by_fingerprint(ctx.fingerprint)
        .await?
        .filter(|f| f.verified_fingerprint.as_deref() == Some(ctx.fingerprint))
        .ok_or_else(not_verified)?;
    let sealed = flow.verification_token.take().ok_or_else(not_verified)?;
    let token = ctx.factors.secrets.open(&token_context(&flow.id), &sealed)?;
    let token = String::from_utf8(token.to_vec()).map_err(|_| Error::Internal("a sealed token is not text".into()))?;
    flow.updated_at = ctx.now;
    tx.update_otp_flow(&flow).await?;
    let result = VerifyOtpResult { verification_token: SHOWN_ONCE.to_owned() };
    Done::revealing(result, ctx.initiator_user_id, &TokenShown { verification_token: &token })
}

/// What the stored VERIFY_OTP result says in place of the token it answered with once.
const SHOWN_ONCE: &str = "(shown once, in the answer to the request that verified the code)";

/// Checks a verification token (enclave signature, expiry, issued in this organization)
/// and the client signature by the key it binds, for `usage`; returns the claims and the
/// signed message.
async fn signed_token(
    ctx: &ExecContext<'_>,
    token: &str,
    signature: &ClientSignature,
    usage: &str,
) -> Result<(TokenClaims, Value)> {
    let claims = enclave(&ctx.factors.otp)?
        .verify_token(token, ctx.now)
        .await
        .map_err(|e| Error::PermissionDenied(format!("parameters.verificationToken: {e}")))?;
    if claims.organization_id != ctx.org_id {
        return Err(Error::PermissionDenied(
            "parameters.verificationToken: issued by an OTP flow of another organization".to_owned(),
        ));
    }
    if !signature.public_key.eq_ignore_ascii_case(&claims.public_key) {
        return Err(Error::PermissionDenied(
            "parameters.clientSignature.publicKey: not the key the verification token is bound to".to_owned(),
        ));
    }
    let key = crypto::parse_public_key(ApiKeyCurve::P256, &claims.public_key.to_ascii_lowercase())?;
    let raw = hex::decode(&signature.signature).unwrap_or_default();
    let alg = &ring::signature::ECDSA_P256_SHA256_FIXED;
    if ring::signature::UnparsedPublicKey::new(alg, &key).verify(signature.message.as_bytes(), &raw).is_err() {
        return Err(Error::PermissionDenied(
            "parameters.clientSignature.signature: does not verify with the verification token's key \
             (raw r||s hex over SHA-256 of the message)"
                .to_owned(),
        ));
    }
    let message: Value = serde_json::from_str(&signature.message)
        .map_err(|_| Error::invalid("parameters.clientSignature.message: not JSON"))?;
    if message["type"] != usage || message["tokenId"] != claims.id.as_str() {
        return Err(Error::invalid(format!(
            "parameters.clientSignature.message: must carry \"type\": \"{usage}\" and this token's \"tokenId\""
        )));
    }
    Ok((claims, message))
}

async fn spend(tx: &mut dyn StoreTx, ctx: &ExecContext<'_>, claims: &TokenClaims, purpose: &str) -> Result<()> {
    if spend_token(tx, &claims.id, ctx.org_id, purpose, ctx.now).await? {
        Ok(())
    } else {
        Err(Error::PermissionDenied("parameters.verificationToken: this token was already used".to_owned()))
    }
}

/// Spends verification token `token_id` on `purpose`; `false` if it cannot be spent again.
/// A token is single use, with one exception Turnkey's browser SDK needs: @turnkey/core signs
/// a user up (`SIGNUP`) and then logs the new user in with the same token, so a token spent on
/// a sign-up may be spent once more on a `LOGIN` — never on anything else, never twice.
pub(crate) async fn spend_token(
    tx: &mut dyn StoreTx,
    token_id: &str,
    org_id: &str,
    purpose: &str,
    now: i64,
) -> Result<bool> {
    if tx.use_verification_token(token_id, org_id, purpose, now).await? {
        return Ok(true);
    }
    if purpose == "LOGIN" && tx.verification_token_purpose(token_id).await?.as_deref() == Some("SIGNUP") {
        return Ok(tx.use_verification_token(&format!("{token_id}:login-after-signup"), org_id, purpose, now).await?);
    }
    Ok(false)
}

async fn mark_verified(tx: &mut dyn StoreTx, mut user: User, channel: OtpChannel, now: i64) -> Result<User> {
    match channel {
        OtpChannel::Email => user.email_verified_at = Some(now),
        OtpChannel::Sms => user.phone_verified_at = Some(now),
    }
    tx.update_user(&user).await?;
    Ok(user)
}

/// OTP_LOGIN_V2: a session for the one user (of this organization, else of one direct
/// sub-organization: see [`login_candidates`]) whose contact the token proves, through the
/// stamp-login path. A contact its creator set is verified by its first login.
/// OTP_LOGIN: a session for the user the verification token names.
impl Activity for OtpLogin {
    type Output = OtpLoginResult;

    fn check(&self) -> Result<()> {
        crate::otp::validate_login(self)
    }

    fn policy_params(&self) -> Value {
        params!(self; public_key, expiration_seconds, session_profile_id)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<OtpLoginResult>> {
        login(tx, ctx, self).await
    }
}

async fn login(tx: &mut dyn StoreTx, ctx: &ExecContext<'_>, p: &OtpLogin) -> Result<Done<OtpLoginResult>> {
    let (claims, message) =
        signed_token(ctx, p.verification_token.expose(), &p.client_signature, "USAGE_TYPE_LOGIN").await?;
    let signed_key = message["login"]["publicKey"].as_str().unwrap_or_default();
    if !signed_key.eq_ignore_ascii_case(&p.public_key) {
        return Err(Error::invalid(
            "parameters.clientSignature.message: login.publicKey must be the session key in parameters.publicKey",
        ));
    }
    let org =
        tx.get_organization(ctx.org_id).await?.ok_or_else(|| Error::NotFound("the organization is gone".to_owned()))?;
    let mut users = login_candidates(tx, &org, &claims).await?;
    let user = match users.len() {
        1 => users.remove(0),
        0 => {
            return Err(Error::NotFound(format!(
                "no user of this organization, and no one user of a sub-organization, has the verified {}",
                contact_name(claims.channel)
            )));
        }
        _ => {
            return Err(Error::FailedPrecondition(format!(
                "more than one user has the verified {}; OTP login needs exactly one",
                contact_name(claims.channel)
            )));
        }
    };
    ensure_enabled(tx, &user.organization_id, claims.channel).await?;
    spend(tx, ctx, &claims, "LOGIN").await?;
    let user = mark_verified(tx, user, claims.channel, ctx.now).await?;
    let request = StampLogin {
        public_key: p.public_key.clone(),
        expiration_seconds: p.expiration_seconds,
        invalidate_existing: p.invalidate_existing,
        session_profile_id: p.session_profile_id.clone(),
    };
    let session = create_session(tx, ctx, &user.organization_id, &user.id, &request).await?;
    Ok(OtpLoginResult { session: session.session }.into())
}

/// CREATE_SUB_ORGANIZATION with a verification token (the root user with that contact is
/// created verified) and/or OTP switches for the new organization.
pub(crate) async fn sign_up(
    tx: &mut dyn StoreTx,
    ctx: &ExecContext<'_>,
    p: &CreateSubOrganization,
) -> Result<CreateSubOrganizationResult> {
    let verified = match (&p.verification_token, &p.client_signature) {
        (Some(token), Some(signature)) => {
            let (claims, _) = signed_token(ctx, token.expose(), signature, "USAGE_TYPE_SIGNUP").await?;
            let index = p
                .root_users
                .iter()
                .position(|u| {
                    let contact = match claims.channel {
                        OtpChannel::Email => u.user_email.as_deref(),
                        OtpChannel::Sms => u.user_phone_number.as_deref(),
                    };
                    contact.is_some_and(|c| normalize_contact(c) == normalize_contact(&claims.contact))
                })
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "parameters.rootUsers: no root user has the {} the verification token proves",
                        contact_name(claims.channel)
                    ))
                })?;
            spend(tx, ctx, &claims, "SIGNUP").await?;
            Some((index, claims.channel))
        }
        _ => None,
    };
    let result = new_sub_organization(tx, ctx, p).await?;
    let sub_id = result.sub_organization_id.clone();
    if let Some((index, channel)) = verified {
        let user_id = result.root_user_ids.get(index).map(String::as_str).unwrap_or_default();
        let user = tx
            .get_user(&sub_id, user_id)
            .await?
            .ok_or_else(|| Error::Internal("the new root user vanished".to_owned()))?;
        mark_verified(tx, user, channel, ctx.now).await?;
    }
    if p.disable_sms_auth.is_some() || p.disable_otp_email_auth.is_some() {
        let (sms, email) = (p.disable_sms_auth.unwrap_or(false), p.disable_otp_email_auth.unwrap_or(false));
        tx.put_otp_settings(&sub_id, sms, email, ctx.now).await?;
    }
    Ok(result)
}
