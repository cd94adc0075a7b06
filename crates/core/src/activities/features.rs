//! Turnkey's organization features: SET_ORGANIZATION_FEATURE and REMOVE_ORGANIZATION_FEATURE
//! (root quorum only). The ones twofold has are its organization's one-time-code switches:
//! `FEATURE_NAME_OTP_EMAIL_AUTH` and `FEATURE_NAME_SMS_AUTH` (on unless removed); the others
//! are refused, naming what twofold offers instead.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Activity, Done, ExecContext, results};
use crate::api::{FeatureName, FeatureView};
use crate::error::{Error, Result};
use crate::fields::params;
use crate::store::StoreTx;

/// `v1SetOrganizationFeatureIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetOrganizationFeature {
    /// The feature.
    pub name: FeatureName,
    /// Its value (empty, or `true`, for an on/off feature).
    #[serde(default)]
    pub value: String,
}

/// `v1RemoveOrganizationFeatureIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoveOrganizationFeature {
    /// The feature.
    pub name: FeatureName,
}

results! {
    /// `v1SetOrganizationFeatureResult`: the features now on.
    SetOrganizationFeatureResult { features: Vec<FeatureView> }
    /// `v1RemoveOrganizationFeatureResult`: the features now on.
    RemoveOrganizationFeatureResult { features: Vec<FeatureView> }
}

/// The features on in `org_id`.
pub(crate) async fn features_of(tx: &mut dyn StoreTx, org_id: &str) -> Result<Vec<FeatureView>> {
    let (sms_off, email_off) = tx.otp_settings(org_id).await?.unwrap_or((false, false));
    Ok(FeatureView::of_otp_switches(sms_off, email_off))
}

/// Which OTP switch a feature is, or why twofold has no such feature.
fn switch(name: FeatureName) -> Result<bool> {
    let instead = match name {
        FeatureName::OtpEmailAuth => return Ok(true),
        FeatureName::SmsAuth => return Ok(false),
        FeatureName::EmailAuth => "email_auth is not served; email codes are init_otp's (FEATURE_NAME_OTP_EMAIL_AUTH)",
        FeatureName::WebauthnOrigins => "passkey origins are the server's --webauthn-origins, for every organization",
        FeatureName::Webhook => "webhook receivers are create_webhook_endpoint's",
        FeatureName::AuthProxy => "the auth proxy is enable_auth_proxy's and disable_auth_proxy's",
        FeatureName::EmailRecovery | FeatureName::RootUserEmailRecovery => {
            "email recovery is not served; recovery is by recovery codes, policy-gated deletion or quorum approval"
        }
        FeatureName::SolanaRentPrefundEnabled | FeatureName::SwapConfig | FeatureName::EarnConfig => {
            "twofold has no wallets"
        }
    };
    let wire = serde_json::to_value(name).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    Err(Error::invalid(format!("parameters.name: twofold has no `{wire}` feature: {instead}")))
}

/// Turns one OTP switch on or off; returns the features then on.
async fn set(tx: &mut dyn StoreTx, ctx: &ExecContext<'_>, email: bool, on: bool) -> Result<Vec<FeatureView>> {
    let (mut sms_off, mut email_off) = tx.otp_settings(ctx.org_id).await?.unwrap_or((false, false));
    if email {
        email_off = !on;
    } else {
        sms_off = !on;
    }
    tx.put_otp_settings(ctx.org_id, sms_off, email_off, ctx.now).await?;
    Ok(FeatureView::of_otp_switches(sms_off, email_off))
}

/// SET_ORGANIZATION_FEATURE: turns an OTP channel on (root quorum only).
impl Activity for SetOrganizationFeature {
    type Output = SetOrganizationFeatureResult;

    fn check(&self) -> Result<()> {
        switch(self.name)?;
        if !matches!(self.value.as_str(), "" | "true") {
            return Err(Error::invalid("parameters.value: an on/off feature takes no value (or `true`)"));
        }
        Ok(())
    }

    fn policy_params(&self) -> Value {
        params!(self; name)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<SetOrganizationFeatureResult>> {
        let features = set(tx, ctx, switch(self.name)?, true).await?;
        Ok(SetOrganizationFeatureResult { features }.into())
    }
}

/// REMOVE_ORGANIZATION_FEATURE: turns an OTP channel off (root quorum only): no code is sent
/// to, and no login made with, a contact of that kind in the organization.
impl Activity for RemoveOrganizationFeature {
    type Output = RemoveOrganizationFeatureResult;

    fn check(&self) -> Result<()> {
        switch(self.name).map(drop)
    }

    fn policy_params(&self) -> Value {
        params!(self; name)
    }

    async fn execute(
        &self,
        tx: &mut dyn StoreTx,
        ctx: &ExecContext<'_>,
    ) -> Result<Done<RemoveOrganizationFeatureResult>> {
        let features = set(tx, ctx, switch(self.name)?, false).await?;
        Ok(RemoveOrganizationFeatureResult { features }.into())
    }
}
