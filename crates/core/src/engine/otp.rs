//! OTP activities in the pipeline. Before INIT_OTP is recorded, the abuse limits are
//! counted and a flow reserved in one committed transaction (so a refusal is a 429 and
//! the count holds on every node); before VERIFY_OTP is recorded, the attempt goes to the
//! enclave under the flow's row lock and its new sealed state and the per-contact failure
//! count are committed whatever the outcome. Executing the activities then finds that
//! work by the activity's fingerprint. OTP login and sign-up check the verification token
//! and the client signature by its key, and spend the token once.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::{Caller, CallerCredential, Engine, Request, StampProof, new_id};
use crate::activities::Intent;
pub(crate) use crate::activities::otp::DELIVERY_LEASE_MS;
use crate::activities::otp::{contact_name, enclave, ensure_enabled, has_contact, login_candidates, token_context};
use crate::api::ActivityView;
use crate::crypto;
use crate::error::{Error, Result};
use crate::model::{ApiKeyCurve, FactorKind};
use crate::otp::{
    InitOtp, OtpAttempt, OtpChannel, OtpFlow, OtpFlowStatus, OtpVerdict, Usage, VerifyOtp, normalize_contact,
};
use crate::store::{StoreError, StoreTx};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
/// The first retry of a failed delivery; each later one waits twice as long.
const DELIVERY_RETRY_MS: i64 = 2_000;

/// The account a contact's wrong codes count against, across all of its codes.
fn account(contact: &str) -> String {
    format!("otp:{}", normalize_contact(contact))
}

/// Seconds until `since + window` passes: at least one, and never more than the window
/// (another node may have recorded `since` a moment after this node read `now`).
fn retry_after(since: Option<i64>, window_ms: i64, now: i64) -> u64 {
    let ms = since.map_or(window_ms, |t| t + window_ms - now).clamp(1000, window_ms.max(1000));
    u64::try_from((ms + 999) / 1000).unwrap_or(1)
}

/// Refuses with 429 when `usage` has reached `max` in a window of `window_ms`.
fn within(usage: Usage, max: u32, window_ms: i64, now: i64, what: &str) -> Result<()> {
    if usage.count < i64::from(max) {
        return Ok(());
    }
    Err(Error::RateLimited {
        message: format!(
            "Max number of OTPs have been initiated: {} {what} (limit {max}); try again later",
            usage.count
        ),
        retry_after_secs: retry_after(usage.oldest, window_ms, now),
    })
}

/// Refuses with 429 when `open` codes (whose oldest expires at `open.oldest`) reach `max`.
fn within_open(open: Usage, max: u32, now: i64, what: &str) -> Result<()> {
    if open.count < i64::from(max) {
        return Ok(());
    }
    Err(Error::RateLimited {
        message: format!("Max number of OTPs have been initiated: {} {what} (limit {max})", open.count),
        retry_after_secs: retry_after(open.oldest, 0, now),
    })
}

/// The factor a verification token claims to prove, read without checking it (only to pick
/// the failure counter; the enclave checks the token itself).
pub(super) fn token_factor(token: &str) -> FactorKind {
    let claims = token
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    match claims.as_ref().and_then(|c| c["verification_type"].as_str()) {
        Some("OTP_TYPE_SMS") => FactorKind::SmsOtp,
        _ => FactorKind::EmailOtp,
    }
}

impl Engine {
    /// `query/get_enclave_keys`: the enclave's signing keys, which clients pin.
    pub(crate) async fn enclave_keys(&self) -> Result<crate::otp::EnclavePublicKeys> {
        enclave(&self.config.factors.otp)?.public_keys().await
    }

    /// The work INIT_OTP and VERIFY_OTP need before they are recorded; the activity already
    /// recorded for a resent body instead.
    pub(super) async fn prepare_otp(
        &self,
        caller: &Caller,
        intent: &Intent,
        req: &Request<'_>,
    ) -> Result<Option<ActivityView>> {
        if let StampProof::Attested { public_key, .. } = &caller.stamp {
            return self.spend_attested_stamp(caller, intent, public_key, req).await;
        }
        if !matches!(intent, Intent::InitOtp(_) | Intent::VerifyOtp(_)) {
            return Ok(None);
        }
        if let Some(existing) = self.existing_activity(req.body, &caller.user.id).await? {
            return Ok(Some(existing));
        }
        match intent {
            Intent::InitOtp(p) => self.reserve_otp(caller, p, req).await?,
            Intent::VerifyOtp(p) => self.attempt_otp(caller, p, req.body).await?,
            _ => {}
        }
        Ok(None)
    }

    /// `X-Stamp-Attested`: the body is signed by the key the verification token binds, the token
    /// (from a flow of this organization or its parent) proves the contact of exactly one user of
    /// this organization. Returns the credential, organization and user ids.
    pub(super) async fn check_attested_stamp(
        &self,
        tx: &mut dyn StoreTx,
        token: &str,
        public_key: &str,
        signature: &str,
        body: &[u8],
        organization_id: &str,
    ) -> Result<(CallerCredential, String, String)> {
        let refused = |why: &str| Error::Unauthenticated(format!("X-Stamp-Attested refused: {why}"));
        let claims = enclave(&self.config.factors.otp)?
            .verify_token(token, self.clock.now_ms())
            .await
            .map_err(|e| refused(&e.to_string()))?;
        if !claims.public_key.eq_ignore_ascii_case(public_key) {
            return Err(refused("publicKey is not the key the verification token is bound to"));
        }
        let key = crypto::parse_public_key(ApiKeyCurve::P256, &public_key.to_ascii_lowercase())
            .map_err(|e| refused(&e.to_string()))?;
        let signature = hex::decode(signature).map_err(|_| refused("signature is not hex"))?;
        if !crypto::verify(ApiKeyCurve::P256, &key, body, &signature) {
            return Err(refused("signature does not verify over the request body"));
        }
        let org = tx.get_organization(organization_id).await?.ok_or_else(|| refused("unknown organization"))?;
        if claims.organization_id != org.id && Some(&claims.organization_id) != org.parent_id.as_ref() {
            return Err(refused("the token comes from an OTP flow of an unrelated organization"));
        }
        let mut users = login_candidates(tx, &org, &claims).await?;
        users.retain(|u| u.organization_id == org.id);
        let [user] = users.as_slice() else {
            return Err(refused(&format!(
                "{} users of this organization have the verified {}; exactly one must",
                users.len(),
                contact_name(claims.channel)
            )));
        };
        ensure_enabled(tx, &org.id, claims.channel).await?;
        let credential = CallerCredential {
            id: claims.id.clone(),
            public_key: public_key.to_ascii_lowercase(),
            credential_type: "CREDENTIAL_TYPE_OTP_AUTH_KEY_P256",
            authentication_type: claims.channel.factor().authentication_type(),
            api_key: None,
        };
        Ok((credential, org.id, user.id.clone()))
    }

    /// An attested stamp logs in once: only `stamp_login` for the stamp's own key, and the
    /// token is spent (a resent body finds its activity).
    async fn spend_attested_stamp(
        &self,
        caller: &Caller,
        intent: &Intent,
        public_key: &str,
        req: &Request<'_>,
    ) -> Result<Option<ActivityView>> {
        match intent {
            Intent::StampLogin(p) if p.public_key.eq_ignore_ascii_case(public_key) => {}
            _ => {
                return Err(Error::PermissionDenied(
                    "an X-Stamp-Attested stamp may only sign stamp_login for its own publicKey".to_owned(),
                ));
            }
        }
        if let Some(existing) = self.existing_activity(req.body, &caller.user.id).await? {
            return Ok(Some(existing));
        }
        let mut tx = self.store.write().await?;
        let org_id = &caller.organization.id;
        let now = self.clock.now_ms();
        if !crate::activities::otp::spend_token(&mut *tx, &caller.credential.id, org_id, "LOGIN", now).await? {
            return Err(Error::Unauthenticated("X-Stamp-Attested refused: the token was already used".to_owned()));
        }
        tx.commit().await?;
        Ok(None)
    }

    /// After the commit that recorded `activity`: delivers the code an INIT_OTP owes (never
    /// inside a transaction). A failure is left to the outbox worker to retry; the activity
    /// stands either way (as with Turnkey, a completed INIT_OTP means the code was made).
    pub(super) async fn deliver_owed_code(&self, activity: &crate::model::Activity) {
        if activity.status != crate::model::ActivityStatus::Completed
            || crate::activities::version_free(&activity.activity_type) != "INIT_OTP"
        {
            return;
        }
        let owed = async {
            let flow = self.store.read().await?.otp_flow_by_fingerprint(&activity.fingerprint).await?;
            Ok::<_, Error>(flow.filter(|f| {
                f.fingerprint == activity.fingerprint
                    && f.organization_id == activity.organization_id
                    && f.deliver_after.is_some()
            }))
        };
        match owed.await {
            Ok(Some(flow)) => self.deliver_code(flow).await,
            Ok(None) => {}
            Err(e) => tracing::warn!(activity_id = %activity.id, error = %e, "cannot read the OTP flow to deliver"),
        }
    }

    /// Delivers the codes whose delivery failed or was never tried (the process stopped
    /// between commit and delivery), each leased to this node while it tries. Returns how
    /// many were tried.
    pub async fn deliver_owed_codes(&self) -> Result<usize> {
        if self.config.factors.otp.enclave.is_none() {
            return Ok(0);
        }
        let now = self.clock.now_ms();
        let leased = {
            let mut tx = self.store.write().await?;
            let leased = tx.lease_otp_deliveries(now, now.saturating_add(DELIVERY_LEASE_MS), 16).await?;
            tx.commit().await?;
            leased
        };
        let tried = leased.len();
        for flow in leased {
            self.deliver_code(flow).await;
        }
        Ok(tried)
    }

    /// One delivery attempt for `flow`, and its outcome recorded: delivered (nothing owed), a
    /// retry after a doubling wait, or nothing more once the enclave says the code is finished.
    async fn deliver_code(&self, flow: OtpFlow) {
        let (Ok(enclave), Some(otp_id), Some(state)) =
            (enclave(&self.config.factors.otp), flow.otp_id.as_deref(), flow.sealed_state.as_deref())
        else {
            return;
        };
        let attempts = flow.delivery_attempts.saturating_add(1);
        let sent = enclave.deliver(otp_id, &flow.organization_id, state, self.clock.now_ms()).await;
        let now = self.clock.now_ms();
        let next = match &sent {
            Ok(()) => None,
            // The enclave refuses a verified, burned or expired code: nothing is owed.
            Err(Error::InvalidArgument(_)) => None,
            Err(_) => {
                let wait = DELIVERY_RETRY_MS.saturating_mul(1 << attempts.clamp(1, 8).saturating_sub(1));
                Some(now.saturating_add(wait)).filter(|at| *at < flow.expires_at)
            }
        };
        match &sent {
            Ok(()) => tracing::info!(otp_id, attempts, "OTP code delivered after commit"),
            Err(e) => tracing::warn!(otp_id, attempts, retry_at = ?next, error = %e, "OTP code delivery failed"),
        }
        // An email's event: sent, or failed (and retried while the code lives). A refusal by
        // the enclave (the code is finished) sent nothing and is no event.
        let event = match (&sent, flow.otp_type.as_str()) {
            (Err(Error::InvalidArgument(_)), _) => None,
            (outcome, "OTP_TYPE_EMAIL") => Some(crate::notice::email_event(
                &flow.organization_id,
                otp_id,
                &self.config.mail_from,
                &flow.contact,
                outcome.as_ref().map(drop).map_err(|e| e.to_string()),
                next.is_some(),
                now,
            )),
            _ => None,
        };
        let recorded = async {
            let mut tx = self.store.write().await?;
            tx.set_otp_delivery(&flow.id, next, attempts).await?;
            if let Some(event) = &event {
                tx.insert_email_event(event).await?;
            }
            tx.commit().await?;
            Ok::<_, Error>(())
        };
        if let Err(e) = recorded.await {
            tracing::warn!(otp_id, error = %e, "cannot record an OTP delivery; the outbox will try it again");
        }
    }

    /// Refuses (429) a contact with too many wrong codes in the failure window.
    async fn check_otp_failures(
        &self,
        tx: &mut dyn StoreTx,
        contact: &str,
        channel: OtpChannel,
        now: i64,
    ) -> Result<()> {
        let window = self.config.factors.failure_window_ms;
        let failures = tx.auth_failures_since(&account(contact), channel.factor().as_str(), now - window).await?;
        let max = self.config.factors.otp.max_failures;
        if failures.len() < max {
            return Ok(());
        }
        Err(Error::RateLimited {
            message: format!(
                "Invalid OTP code: too many wrong codes for this contact ({} in the last {} minutes); try again later",
                failures.len(),
                window / MINUTE_MS
            ),
            retry_after_secs: retry_after(failures.first().copied(), window, now),
        })
    }

    /// The limits only anonymous flows count against: per client prefix (asked per minute, open
    /// at once) and per organization (open at once). At the organization's cap a prefix with
    /// no open code still gets one, up to twice the cap, so the few networks that filled it
    /// cannot lock everyone else out. An anonymous request without a client address (none
    /// reached the server) is refused rather than let past the prefix limits.
    async fn check_anonymous_limits(
        &self,
        tx: &mut dyn StoreTx,
        org_id: &str,
        prefix: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let config = &self.config.factors.otp;
        let prefix = prefix.ok_or_else(|| {
            Error::FailedPrecondition("the client address is unknown, so anonymous OTP limits cannot count it".into())
        })?;
        let asked = tx.otp_inits_from_ip(prefix, now - MINUTE_MS).await?;
        within(
            asked,
            config.inits_per_ip_per_minute,
            MINUTE_MS,
            now,
            "codes were asked for from this network in the last minute",
        )?;
        let open_here = tx.otp_inflight_from_ip(prefix, now).await?;
        within_open(open_here, config.inflight_per_ip, now, "unverified codes are open from this network")?;
        let open = tx.otp_inflight(org_id, now).await?;
        let newcomer = open_here.count == 0 && open.count < 2 * i64::from(config.inflight_per_org);
        if newcomer {
            return Ok(());
        }
        within_open(open, config.inflight_per_org, now, "unverified codes are open in this organization")
    }

    /// Counts the abuse limits and reserves a flow, in one committed transaction that holds
    /// the installation-wide OTP lock. Anonymous callers (the auth proxy) count against limits
    /// per contact, per client prefix and per organization that only anonymous flows fill; the
    /// organization's authenticated callers count only their own sends per contact, so no
    /// number of anonymous requests can refuse them a code.
    async fn reserve_otp(&self, caller: &Caller, p: &InitOtp, req: &Request<'_>) -> Result<()> {
        let config = &self.config.factors.otp;
        enclave(config)?;
        let channel = p.channel()?;
        let contact = p.normalized_contact();
        let org_id = &caller.organization.id;
        let anonymous = caller.auth_proxy;
        let now = self.clock.now_ms();
        let mut tx = self.store.write().await?;
        tx.lock_otp_limits().await?;
        ensure_enabled(&mut *tx, org_id, channel).await?;
        self.check_otp_failures(&mut *tx, &contact, channel, now).await?;
        let sent = tx.otp_sends_to_contact(&contact, now - HOUR_MS, anonymous).await?;
        within(
            sent,
            config.sends_per_contact_per_hour,
            HOUR_MS,
            now,
            "codes were sent to this contact in the last hour",
        )?;
        let client_ip = req.client_ip.map(crate::otp::client_prefix);
        if anonymous {
            self.check_anonymous_limits(&mut *tx, org_id, client_ip.as_deref(), now).await?;
        }
        let lifetime_ms = i64::try_from(p.expiration_seconds.unwrap_or(300)).unwrap_or(600).saturating_mul(1000);
        let flow = OtpFlow {
            id: new_id(),
            otp_id: None,
            organization_id: org_id.clone(),
            otp_type: channel.as_str().to_owned(),
            contact,
            client_ip,
            anonymous,
            fingerprint: crypto::fingerprint(req.body),
            status: OtpFlowStatus::Reserved,
            sealed_state: None,
            verification_token: None,
            verified_fingerprint: None,
            created_at: now,
            expires_at: now.saturating_add(lifetime_ms),
            updated_at: now,
            deliver_after: None,
            delivery_attempts: 0,
        };
        match tx.insert_otp_flow(&flow).await {
            // The identical body, racing: its activity will answer both.
            Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
            Ok(()) => Ok(tx.commit().await?),
        }
    }

    /// Hands one attempt to the enclave under the flow's row lock and commits the new sealed
    /// state and the contact's failure count whatever the outcome; only a verified code
    /// lets the activity be recorded.
    async fn attempt_otp(&self, caller: &Caller, p: &VerifyOtp, body: &[u8]) -> Result<()> {
        let enclave = enclave(&self.config.factors.otp)?;
        let org_id = &caller.organization.id;
        let now = self.clock.now_ms();
        let no_flow = || Error::NotFound(format!("no OTP flow `{}` in this organization", crypto::clip(&p.otp_id)));
        let mut tx = self.store.write().await?;
        let mut flow = tx.lock_otp_flow(org_id, &p.otp_id).await?.ok_or_else(no_flow)?;
        let sealed_state = flow.sealed_state.clone().ok_or_else(no_flow)?;
        let channel = OtpChannel::parse(&flow.otp_type, "otpType")?;
        self.check_otp_failures(&mut *tx, &flow.contact, channel, now).await?;
        let attempt = OtpAttempt {
            otp_id: p.otp_id.clone(),
            organization_id: org_id.clone(),
            sealed_state,
            encrypted_bundle: p.encrypted_otp_bundle.expose().to_owned(),
            token_expiration_seconds: p.expiration_seconds,
            now_ms: now,
        };
        // Malformed attempts are refused before anything changes: they cost no attempt.
        let checked = enclave.check(attempt).await.map_err(|e| match e {
            Error::InvalidArgument(m) => Error::invalid(format!("parameters.encryptedOtpBundle: {m}")),
            other => other,
        })?;
        flow.sealed_state = Some(checked.sealed_state);
        flow.updated_at = now;
        let (account, factor) = (account(&flow.contact), channel.factor().as_str());
        let (outcome, result) = match &checked.verdict {
            OtpVerdict::Verified { token } => {
                flow.status = OtpFlowStatus::Verified;
                // Kept only until the activity answers with it, and sealed meanwhile.
                let sealed = self.config.factors.secrets.seal(&token_context(&flow.id), token.as_bytes())?;
                flow.verification_token = Some(sealed);
                flow.verified_fingerprint = Some(crypto::fingerprint(body));
                tx.clear_auth_failures(&account, factor).await?;
                ("VERIFIED", Ok(()))
            }
            OtpVerdict::Invalid { attempts_left } => {
                if *attempts_left == 0 {
                    flow.status = OtpFlowStatus::Failed;
                }
                tx.record_auth_failure(org_id, &account, factor, now).await?;
                ("INVALID", Err(Error::invalid(checked.message)))
            }
            OtpVerdict::Exhausted => {
                flow.status = OtpFlowStatus::Failed;
                tx.record_auth_failure(org_id, &account, factor, now).await?;
                ("EXHAUSTED", Err(Error::invalid(checked.message)))
            }
            OtpVerdict::Expired => ("EXPIRED", Err(Error::FailedPrecondition(checked.message))),
            OtpVerdict::AlreadyUsed => ("ALREADY_USED", Err(Error::FailedPrecondition(checked.message))),
        };
        tx.update_otp_flow(&flow).await?;
        let event = crate::audit::NewEvent {
            event_type: "OTP_ATTEMPT",
            outcome,
            actor_user_id: Some(&caller.user.id),
            actor_credential_id: Some(&caller.credential.id),
            subject: Some(&p.otp_id),
            details: json!({ "otpType": flow.otp_type }),
        };
        crate::audit::append(&mut *tx, org_id, now, event).await?;
        tx.commit().await?;
        result
    }

    /// Checks a verification token offered in an approval: the enclave's signature, the
    /// voter's email or phone on record, and single use.
    pub(super) async fn check_verification_token(
        &self,
        tx: &mut dyn StoreTx,
        org_id: &str,
        user_id: &str,
        token: &str,
        kind: FactorKind,
        now: i64,
    ) -> Result<std::result::Result<String, String>> {
        let claims = match enclave(&self.config.factors.otp)?.verify_token(token, now).await {
            Ok(claims) if claims.channel.factor() == kind => claims,
            Ok(_) => return Ok(Err("verification token: its type changed under its signature".to_owned())),
            Err(e) => return Ok(Err(format!("invalid verification token: {e}"))),
        };
        let org = tx.get_organization(org_id).await?;
        let issuers = [Some(org_id.to_owned()), org.and_then(|o| o.parent_id)];
        if !issuers.contains(&Some(claims.organization_id.clone())) {
            return Ok(Err("the verification token was issued for another organization".to_owned()));
        }
        let user = tx
            .get_user(org_id, user_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no user `{}` in this organization", crypto::clip(user_id))))?;
        let parent = tx.get_organization(org_id).await?.and_then(|o| o.parent_id);
        if !has_contact(&user, &claims) {
            return Ok(Err(format!(
                "the verification token proves a {} that is not this user's",
                contact_name(claims.channel)
            )));
        }
        if !user.contact_serves_login(claims.channel == OtpChannel::Email, org_id, parent.as_deref()) {
            return Ok(Err(format!(
                "this user's {} was changed and not verified since; it proves nothing until a verification token \
                 for it is given in update_user",
                contact_name(claims.channel)
            )));
        }
        if !tx.use_verification_token(&claims.id, org_id, "APPROVAL", now).await? {
            return Ok(Err("this verification token was already used".to_owned()));
        }
        Ok(Ok(claims.id))
    }
}

/// Queries are not open to `X-Stamp-Attested` stamps: they only log in.
pub(crate) fn refuse_attested(caller: &Caller) -> Result<()> {
    match caller.stamp {
        StampProof::Attested { .. } => Err(Error::PermissionDenied(
            "an X-Stamp-Attested stamp may only sign stamp_login; use the session it creates".to_owned(),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::retry_after;

    #[test]
    fn retry_after_is_at_least_a_second_and_at_most_the_window() {
        assert_eq!(retry_after(Some(10_000), 3_600_000, 10_500), 3600, "3599.5 s rounds up");
        assert_eq!(
            retry_after(Some(10_400), 3_600_000, 10_000),
            3600,
            "a send recorded after this node read its clock"
        );
        assert_eq!(retry_after(Some(0), 60_000, 59_900), 1, "at least a second");
        assert_eq!(retry_after(None, 60_000, 0), 60);
        assert_eq!(retry_after(Some(0), 0, 5), 1);
    }
}
