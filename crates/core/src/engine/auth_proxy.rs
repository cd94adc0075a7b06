//! The auth proxy in the pipeline. An organization that enabled it has a service user
//! whose P-256 key the server generated and keeps sealed with the installation's secrets
//! key. An unauthenticated sign-in request becomes an ordinary activity (INIT_OTP,
//! VERIFY_OTP, OTP_LOGIN or a sign-up CREATE_SUB_ORGANIZATION) stamped with that key and
//! run through [`Engine::submit`], so policies, IP rules, the OTP abuse limits and the
//! audit log apply as to any client. The service user is confined here, in the engine:
//! any other activity or query stamped by it is refused, and it is exempt from the MFA
//! enforcement gate (it has no factors to enroll). It never holds user credentials:
//! OTP_LOGIN still needs the client's signature by the key the verification token binds.

use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer;
use serde::Deserialize;
use serde_json::Value;
use zeroize::Zeroizing;

use super::{Caller, Engine, Request, StampProof, new_id, parse_body};
use crate::activities::Intent;
use crate::activities::organizations::CreateSubOrganization;
use crate::activities::{Activity, Done, Empty, ExecContext, results};
use crate::auth_proxy::{
    AuthProxyConfig, Change, DisableAuthProxy, EMAIL_OTP_LOGIN, EMAIL_OTP_SIGNUP, EnableAuthProxy, PASSKEY_SIGNUP,
    UpdateAuthProxyConfig,
};
use crate::crypto;
use crate::error::{Error, Result};
use crate::fields::Secret;
use crate::intents::{ApiKeyParams, UserParams};
use crate::model::{ApiKey, ApiKeyCurve, AuthProxy, Effect, KeyKind, Policy, User};
use crate::otp::{ClientSignature, InitOtp, OtpLogin, VerifyOtp};
use crate::store::StoreTx;

/// The activity types the service user may submit (and its policy allows).
const PROXY_TYPES: &[&str] = &[
    "ACTIVITY_TYPE_INIT_OTP_V3",
    "ACTIVITY_TYPE_VERIFY_OTP_V2",
    "ACTIVITY_TYPE_OTP_LOGIN_V2",
    "ACTIVITY_TYPE_CREATE_SUB_ORGANIZATION_V8",
];

/// The associated data the service key is sealed under: it opens only for this row.
fn seal_context(org_id: &str, api_key_id: &str) -> String {
    format!("auth-proxy-key:{org_id}:{api_key_id}")
}

/// One of the proxy's unauthenticated endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyFlow {
    /// `otp_init`: send a code.
    OtpInit,
    /// `otp_verify`: check an encrypted code, get a verification token.
    OtpVerify,
    /// `otp_login`: a session for the user whose email the token proves.
    OtpLogin,
    /// `signup`: a sub-organization whose root user has the proven email.
    Signup,
    /// `otp_init_v2`: `otp_init` as @turnkey/core sends it (configuration in the header).
    OtpInitV2,
    /// `otp_verify_v2`: `otp_verify` as @turnkey/core sends it.
    OtpVerifyV2,
    /// `signup_v2`: @turnkey/core's sign-up with a verification token; answers `{organizationId, userId}`.
    SignupV2,
    /// `account`: the sub-organization of a proven contact or a credential, if any.
    Account,
    /// `wallet_kit_config`: what the SDK's sign-in UI offers.
    WalletKitConfig,
}

impl ProxyFlow {
    /// Every flow.
    pub const ALL: [ProxyFlow; 9] = [
        ProxyFlow::OtpInit,
        ProxyFlow::OtpVerify,
        ProxyFlow::OtpLogin,
        ProxyFlow::Signup,
        ProxyFlow::OtpInitV2,
        ProxyFlow::OtpVerifyV2,
        ProxyFlow::SignupV2,
        ProxyFlow::Account,
        ProxyFlow::WalletKitConfig,
    ];

    /// The last path segment it is served at: `/auth-proxy/v1/<path>`.
    pub fn path(self) -> &'static str {
        match self {
            ProxyFlow::OtpInit => "otp_init",
            ProxyFlow::OtpVerify => "otp_verify",
            ProxyFlow::OtpLogin => "otp_login",
            ProxyFlow::Signup => "signup",
            ProxyFlow::OtpInitV2 => "otp_init_v2",
            ProxyFlow::OtpVerifyV2 => "otp_verify_v2",
            ProxyFlow::SignupV2 => "signup_v2",
            ProxyFlow::Account => "account",
            ProxyFlow::WalletKitConfig => "wallet_kit_config",
        }
    }

    /// The flow served at `/auth-proxy/v1/<path>`.
    pub fn from_path(path: &str) -> Option<ProxyFlow> {
        Self::ALL.into_iter().find(|f| f.path() == path)
    }

    /// Whether the request names its configuration in `X-Auth-Proxy-Config-ID` (Turnkey's
    /// browser SDK) rather than its organization in the body.
    pub fn by_config(self) -> bool {
        !matches!(self, ProxyFlow::OtpInit | ProxyFlow::OtpVerify | ProxyFlow::OtpLogin | ProxyFlow::Signup)
    }

    /// The `allowedAuthMethods` entry the flow needs; `None` for the reads every enabled proxy answers.
    fn method(self) -> Option<&'static str> {
        match self {
            ProxyFlow::Signup | ProxyFlow::SignupV2 => Some(EMAIL_OTP_SIGNUP),
            ProxyFlow::Account | ProxyFlow::WalletKitConfig => None,
            _ => Some(EMAIL_OTP_LOGIN),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InitBody {
    organization_id: String,
    contact: String,
    #[serde(default)]
    otp_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VerifyBody {
    organization_id: String,
    otp_id: String,
    encrypted_otp_bundle: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LoginBody {
    organization_id: String,
    verification_token: String,
    public_key: String,
    client_signature: ClientSignature,
    #[serde(default)]
    invalidate_existing: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignupBody {
    organization_id: String,
    user_email: String,
    #[serde(default)]
    user_name: Option<String>,
    #[serde(default)]
    sub_organization_name: Option<String>,
    verification_token: String,
    client_signature: ClientSignature,
    /// The browser's key, the new user's first credential (it expires with a session's lifetime).
    public_key: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InitV2Body {
    otp_type: String,
    contact: String,
    #[serde(default)]
    email_customization: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VerifyV2Body {
    otp_id: String,
    encrypted_otp_bundle: String,
}

/// `ProxyTSignupV2Body`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignupV2Body {
    #[serde(default)]
    user_email: Option<String>,
    #[serde(default)]
    user_phone_number: Option<String>,
    #[serde(default)]
    user_tag: Option<String>,
    #[serde(default)]
    user_name: Option<String>,
    #[serde(default)]
    organization_name: Option<String>,
    #[serde(default)]
    verification_token: Option<String>,
    #[serde(default)]
    api_keys: Vec<Value>,
    #[serde(default)]
    authenticators: Vec<Value>,
    #[serde(default)]
    oauth_providers: Vec<Value>,
    #[serde(default)]
    wallet: Option<Value>,
    #[serde(default)]
    client_signature: Option<ClientSignature>,
}

/// `ProxyTGetAccountBody`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AccountBody {
    filter_type: String,
    filter_value: String,
    #[serde(default)]
    verification_token: Option<String>,
    #[serde(default)]
    oidc_token: Option<String>,
}

/// A body of no fields (`wallet_kit_config`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoBody {}

/// `ProxyTGetAccountResponse`: the sub-organization found, if any.
#[derive(Debug, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AccountAnswer {
    /// The organization whose user has the proven contact or the credential; absent when none has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
}

/// `ProxyTGetWalletKitConfigResponse`: what the SDK's sign-in UI offers.
#[derive(Debug, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WalletKitConfig {
    /// The sign-in methods the proxy runs (`email`).
    pub enabled_providers: Vec<&'static str>,
    /// Session lifetime, seconds, as a string.
    pub session_expiration_seconds: String,
    /// The organization the configuration belongs to.
    pub organization_id: String,
    /// Whether codes are alphanumeric.
    pub otp_alphanumeric: bool,
    /// Code length, as a string.
    pub otp_length: String,
}

/// The sign-up activity's result, as the proxy reads it back.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Created {
    sub_organization_id: String,
    root_user_ids: Vec<String>,
}

/// `ProxyTSignupV2Response`.
#[derive(Debug, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SignupV2Answer {
    /// The new sub-organization.
    pub organization_id: String,
    /// Its root user.
    pub user_id: String,
}

/// What an auth-proxy request answers: the result, and the page origin to name in
/// `Access-Control-Allow-Origin` once the organization's settings allowed it (errors after
/// that point are readable by the page too).
#[derive(Debug)]
pub struct ProxyAnswer {
    /// The cross-origin page allowed to read the answer, if any.
    pub allow_origin: Option<String>,
    /// The activity's result, or why there is none.
    pub result: Result<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrgOnly {
    organization_id: String,
}

impl Engine {
    /// `GET /auth-proxy/v1/enclave_keys`: the enclave's signing key the browser pins.
    pub async fn auth_proxy_enclave_keys(&self) -> Result<crate::otp::EnclavePublicKeys> {
        self.enclave_keys().await
    }

    /// Whether a browser page at `origin` may call organization `org_id` (its auth proxy's
    /// `allowedOrigins` or its parent's), or, when `org_id` is `None`, any organization (a
    /// CORS preflight names none). One indexed read; an origin that is not one is never allowed.
    pub async fn origin_allowed(&self, origin: &str, org_id: Option<&str>) -> Result<bool> {
        let Ok(origin) = crate::auth_proxy::normalize_origin(origin) else { return Ok(false) };
        Ok(self.store.read().await?.origin_allowed(&origin, org_id).await?)
    }

    /// Runs one unauthenticated auth-proxy request as its organization's service user.
    /// `cross_origin` is the `Origin` of a browser page that is not the server's own: it must
    /// be in the organization's `allowedOrigins`, checked before anything else happens.
    /// `config_id` is the request's `X-Auth-Proxy-Config-ID`, which the flows Turnkey's
    /// browser SDK calls name their configuration by ([`ProxyFlow::by_config`]).
    pub async fn auth_proxy(
        &self,
        flow: ProxyFlow,
        client_ip: Option<std::net::IpAddr>,
        cross_origin: Option<&str>,
        config_id: Option<&str>,
        body: &[u8],
    ) -> ProxyAnswer {
        let mut allow_origin = None;
        let result = self.run_proxy(flow, client_ip, cross_origin, config_id, body, &mut allow_origin).await;
        ProxyAnswer { allow_origin, result }
    }

    /// The proxy a request addresses: by its configuration id, or by the organization its body names.
    async fn addressed_proxy(&self, flow: ProxyFlow, config_id: Option<&str>, body: &[u8]) -> Result<AuthProxy> {
        let mut tx = self.store.read().await?;
        if flow.by_config() {
            if config_id.is_some_and(|id| id.len() > 100) {
                return Err(Error::invalid("X-Auth-Proxy-Config-ID: at most 100 characters"));
            }
            let id = config_id.filter(|id| !id.is_empty()).ok_or_else(|| {
                Error::invalid(format!(
                    "X-Auth-Proxy-Config-ID: /auth-proxy/v1/{} names the auth proxy configuration in this header \
                     (get_auth_proxy_config answers its configId)",
                    flow.path()
                ))
            })?;
            return tx.get_auth_proxy_by_config(id).await?.ok_or_else(|| {
                Error::NotFound(format!("there is no auth proxy configuration `{}`", crypto::clip(id)))
            });
        }
        let OrgOnly { organization_id: org_id } = parse_body(body)?;
        tx.get_auth_proxy(&org_id).await?.ok_or_else(|| {
            Error::NotFound(format!(
                "organization `{}` has no auth proxy; an administrator enables it with enable_auth_proxy",
                crypto::clip(&org_id)
            ))
        })
    }

    async fn run_proxy(
        &self,
        flow: ProxyFlow,
        client_ip: Option<std::net::IpAddr>,
        cross_origin: Option<&str>,
        config_id: Option<&str>,
        body: &[u8],
        allow_origin: &mut Option<String>,
    ) -> Result<Value> {
        let proxy = self.addressed_proxy(flow, config_id, body).await?;
        let config = AuthProxyConfig::from_json(&proxy.config)?;
        let org_id = proxy.organization_id.clone();
        if let Some(origin) = cross_origin {
            if !config.allows_origin(origin) {
                return Err(refused_origin(origin, "this organization's auth proxy"));
            }
            *allow_origin = Some(origin.to_owned());
        }
        match flow {
            ProxyFlow::WalletKitConfig => {
                let NoBody {} = parse_body(body)?;
                return answer(&wallet_kit_config(&org_id, &config));
            }
            ProxyFlow::Account => return answer(&self.proxy_account(&org_id, body).await?),
            _ => {}
        }
        let passkey_signup = flow == ProxyFlow::SignupV2 && is_passkey_signup(body);
        let method = if passkey_signup { Some(PASSKEY_SIGNUP) } else { flow.method() };
        if let Some(method) = method
            && !config.allows(method)
        {
            return Err(Error::PermissionDenied(format!(
                "this organization's auth proxy does not allow {method} (allowedAuthMethods)"
            )));
        }
        let (path, parameters) = proxy_parameters(flow, &config, body)?;
        if passkey_signup {
            // Nothing else bounds how many organizations anonymous callers make this way.
            self.signups.admit(client_ip, self.clock.now_ms())?;
        }
        let key = self.open_proxy_key(&proxy)?;
        let kind = crate::activities::kind_for_path(path)
            .ok_or_else(|| Error::Internal(format!("no submit endpoint `{path}`")))?;
        let version = kind.versions.first().ok_or_else(|| Error::Internal("no activity version".to_owned()))?;
        let envelope = Envelope {
            r#type: version.type_name,
            timestamp_ms: self.clock.now_ms().to_string(),
            organization_id: &org_id,
            parameters,
        };
        let activity = serde_json::to_string(&envelope).map_err(|e| Error::Internal(e.to_string()))?;
        let signature: p256::ecdsa::Signature = key.sign(activity.as_bytes());
        let stamp = StampProof::Key {
            public_key: hex::encode(key.verifying_key().to_sec1_point(true).as_bytes()),
            scheme: "SIGNATURE_SCHEME_TK_API_P256".to_owned(),
            signature: hex::encode(signature.to_der().as_bytes()),
        };
        let req = Request::new(Ok(stamp), client_ip, activity.as_bytes());
        let view = self.submit(path, &req).await?;
        if let Some(failure) = &view.failure {
            return Err(failure_error(failure.code, &failure.message));
        }
        if view.status != "ACTIVITY_STATUS_COMPLETED" {
            return Err(Error::FailedPrecondition(format!(
                "the organization's policies hold this request for approval (activity `{}`, {}); \
                 the auth proxy only runs activities its policy allows outright",
                view.id, view.status
            )));
        }
        let result: Value =
            serde_json::from_str(view.result.get()).map_err(|e| Error::Internal(format!("activity result: {e}")))?;
        let result = result.get(version.result_key).cloned().unwrap_or(result);
        if flow != ProxyFlow::SignupV2 {
            return Ok(result);
        }
        let created: Created =
            serde_json::from_value(result).map_err(|e| Error::Internal(format!("sign-up result: {e}")))?;
        let user_id = created.root_user_ids.into_iter().next().unwrap_or_default();
        answer(&SignupV2Answer { organization_id: created.sub_organization_id, user_id })
    }

    /// `account`: the organization (this one or a direct sub-organization) of the user whose
    /// contact a verification token proves, or of a passkey or API key. A contact is never
    /// looked up without its proof, and names never: anonymous callers enumerate nothing.
    async fn proxy_account(&self, org_id: &str, body: &[u8]) -> Result<AccountAnswer> {
        let b: AccountBody = parse_body(body)?;
        if b.filter_value.is_empty() || b.filter_value.len() > 320 {
            return Err(Error::invalid("filterValue: 1 to 320 characters"));
        }
        if b.oidc_token.is_some() {
            return Err(Error::invalid("oidcToken: twofold's auth proxy does not verify OIDC tokens yet"));
        }
        let mut tx = self.store.read().await?;
        let filter = match b.filter_type.as_str() {
            kind @ ("EMAIL" | "PHONE_NUMBER") => {
                let token = b.verification_token.as_deref().ok_or_else(|| {
                    Error::invalid(format!(
                        "verificationToken: looking up an account by {kind} needs the verification token that proves \
                         it (otp_verify_v2)"
                    ))
                })?;
                let claims = crate::activities::otp::enclave(&self.config.factors.otp)?
                    .verify_token(token, self.clock.now_ms())
                    .await
                    .map_err(|e| Error::PermissionDenied(format!("verificationToken: {e}")))?;
                let channel = if kind == "EMAIL" { crate::otp::OtpChannel::Email } else { crate::otp::OtpChannel::Sms };
                let proves = claims.organization_id == org_id
                    && claims.channel == channel
                    && crate::otp::normalize_contact(&claims.contact) == crate::otp::normalize_contact(&b.filter_value);
                if !proves {
                    return Err(Error::PermissionDenied(format!(
                        "verificationToken: it does not prove this {} for this auth proxy",
                        crate::activities::otp::contact_name(channel)
                    )));
                }
                let org = tx.get_organization(org_id).await?.ok_or_else(|| Error::NotFound("organization".into()))?;
                let users = crate::activities::otp::login_candidates(&mut *tx, &org, &claims).await?;
                return match users.as_slice() {
                    [] => Ok(AccountAnswer { organization_id: None }),
                    [user] => Ok(AccountAnswer { organization_id: Some(user.organization_id.clone()) }),
                    _ => Err(Error::FailedPrecondition(format!(
                        "more than one user has this verified {}",
                        crate::activities::otp::contact_name(channel)
                    ))),
                };
            }
            "CREDENTIAL_ID" => crate::store::SubOrgFilter::CredentialId(b.filter_value),
            "PUBLIC_KEY" => crate::store::SubOrgFilter::PublicKey(b.filter_value),
            "USERNAME" | "NAME" => {
                return Err(Error::PermissionDenied(format!(
                    "filterType {}: an unauthenticated lookup by name would let anyone list accounts; an \
                     authenticated list_suborgs finds sub-organizations by name",
                    b.filter_type
                )));
            }
            "OIDC_TOKEN" => {
                return Err(Error::invalid(
                    "filterType OIDC_TOKEN: twofold's auth proxy does not verify OIDC tokens yet",
                ));
            }
            other => {
                return Err(Error::invalid(format!(
                    "filterType: `{}` is not one of EMAIL, PHONE_NUMBER, CREDENTIAL_ID, PUBLIC_KEY",
                    crypto::clip(other)
                )));
            }
        };
        let found = tx.sub_organizations_with(org_id, &filter).await?;
        Ok(AccountAnswer { organization_id: found.into_iter().next() })
    }

    fn open_proxy_key(&self, proxy: &AuthProxy) -> Result<SigningKey> {
        let scalar = self
            .config
            .factors
            .secrets
            .open(&seal_context(&proxy.organization_id, &proxy.api_key_id), &proxy.sealed_key)
            .map_err(|_| {
                Error::Internal(
                    "the auth proxy's key does not open with the configured secrets key; every node must use \
                     the installation's secrets key"
                        .to_owned(),
                )
            })?;
        SigningKey::from_slice(&scalar)
            .map_err(|_| Error::Internal("the auth proxy's key is not a P-256 scalar".into()))
    }

    /// Whether `user` is its organization's auth proxy service user.
    pub(super) async fn is_proxy_user(&self, tx: &mut dyn StoreTx, user: &User) -> Result<bool> {
        Ok(tx.get_auth_proxy(&user.organization_id).await?.is_some_and(|p| p.user_id == user.id))
    }
}

/// An intent the proxy builds, as the parameters it signs.
fn typed(intent: &impl serde::Serialize) -> Result<Value> {
    serde_json::to_value(intent).map_err(|e| Error::Internal(format!("a proxy intent did not serialize: {e}")))
}

/// The submit body the proxy's service key signs.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    r#type: &'a str,
    timestamp_ms: String,
    organization_id: &'a str,
    parameters: Value,
}

/// The activity endpoint and parameters an auth-proxy request becomes.
fn proxy_parameters(flow: ProxyFlow, config: &AuthProxyConfig, body: &[u8]) -> Result<(&'static str, Value)> {
    Ok(match flow {
        ProxyFlow::OtpInit => {
            let b: InitBody = parse_body(body)?;
            if b.otp_type.as_deref().is_some_and(|t| t != "OTP_TYPE_EMAIL") {
                return Err(Error::invalid("otpType: the auth proxy sends email codes only (OTP_TYPE_EMAIL)"));
            }
            let _ = b.organization_id;
            ("init_otp", typed(&init_intent(config, b.contact))?)
        }
        ProxyFlow::OtpVerify => {
            let b: VerifyBody = parse_body(body)?;
            let _ = b.organization_id;
            let intent = VerifyOtp {
                otp_id: b.otp_id,
                encrypted_otp_bundle: Secret::new(b.encrypted_otp_bundle),
                expiration_seconds: Some(config.verification_token_expiration_seconds),
            };
            ("verify_otp", typed(&intent)?)
        }
        ProxyFlow::OtpLogin => {
            let b: LoginBody = parse_body(body)?;
            let _ = b.organization_id;
            let intent = OtpLogin {
                verification_token: Secret::new(b.verification_token),
                public_key: b.public_key,
                client_signature: b.client_signature,
                expiration_seconds: Some(config.session_expiration_seconds),
                invalidate_existing: b.invalidate_existing,
                session_profile_id: None,
            };
            ("otp_login", typed(&intent)?)
        }
        ProxyFlow::OtpInitV2 => {
            let b: InitV2Body = parse_body(body)?;
            if b.otp_type != "OTP_TYPE_EMAIL" {
                return Err(Error::invalid("otpType: the auth proxy sends email codes only (OTP_TYPE_EMAIL)"));
            }
            if b.email_customization.is_some() {
                return Err(Error::invalid(
                    "emailCustomization: the auth proxy's emails follow its settings (appName, \
                     sendFromEmailSenderName); omit it",
                ));
            }
            ("init_otp", typed(&init_intent(config, b.contact))?)
        }
        ProxyFlow::OtpVerifyV2 => {
            let b: VerifyV2Body = parse_body(body)?;
            let intent = VerifyOtp {
                otp_id: b.otp_id,
                encrypted_otp_bundle: Secret::new(b.encrypted_otp_bundle),
                expiration_seconds: Some(config.verification_token_expiration_seconds),
            };
            ("verify_otp", typed(&intent)?)
        }
        ProxyFlow::SignupV2 => ("create_sub_organization", typed(&signup_v2(parse_body(body)?)?)?),
        ProxyFlow::Account | ProxyFlow::WalletKitConfig => {
            return Err(Error::Internal(format!("{} runs no activity", flow.path())));
        }
        ProxyFlow::Signup => {
            let b: SignupBody = parse_body(body)?;
            let _ = b.organization_id;
            let key = ApiKeyParams {
                api_key_name: "sign-up browser key".to_owned(),
                public_key: b.public_key,
                curve_type: ApiKeyCurve::P256,
                expiration_seconds: Some(config.session_expiration_seconds),
            };
            let user_name = b.user_name.unwrap_or_else(|| b.user_email.clone());
            let user = root_user(user_name, Some(b.user_email.clone()), vec![key], Vec::new());
            let name = b.sub_organization_name.unwrap_or_else(|| format!("org of {}", b.user_email));
            let intent = sign_up(name, user, Some((b.verification_token, b.client_signature)));
            ("create_sub_organization", typed(&intent)?)
        }
    })
}

/// The sign-up @turnkey/core sends (`signUpWithOtp`): an email proven by a verification
/// token, whose key signed exactly this request's credentials and email (the message
/// `{"signupV2": {apiKeys, authenticators, oauthProviders, email}, "tokenId", "type":
/// "USAGE_TYPE_SIGNUP"}`, checked here against the body; the signature itself, the token and
/// its single use are checked by the activity).
fn signup_v2(b: SignupV2Body) -> Result<CreateSubOrganization> {
    if b.wallet.is_some() {
        return Err(Error::invalid("wallet: twofold holds no wallets; omit it"));
    }
    if b.user_tag.is_some() {
        return Err(Error::invalid("userTag: a sign-up through the auth proxy creates no tags; omit it"));
    }
    if b.verification_token.is_none() && !b.authenticators.is_empty() {
        return passkey_signup(b);
    }
    if !b.authenticators.is_empty() {
        return Err(Error::invalid(
            "authenticators: an email-code sign-up registers no passkey; add one with addPasskey once logged in",
        ));
    }
    if !b.oauth_providers.is_empty() {
        return Err(Error::invalid("oauthProviders: twofold does not verify OIDC tokens yet; omit them"));
    }
    if b.user_phone_number.is_some() {
        return Err(Error::invalid("userPhoneNumber: the auth proxy proves email addresses only"));
    }
    let (Some(email), Some(token), Some(signature)) = (b.user_email, b.verification_token, b.client_signature) else {
        return Err(Error::invalid(
            "verificationToken: a sign-up through twofold's auth proxy proves userEmail with a verification token \
             (otp_init_v2, otp_verify_v2) and a clientSignature by its key",
        ));
    };
    let message: Value =
        serde_json::from_str(&signature.message).map_err(|_| Error::invalid("clientSignature.message: not JSON"))?;
    let usage = &message["signupV2"];
    let list = |v: &Value| if v.is_null() { Value::Array(Vec::new()) } else { v.clone() };
    let binds = list(&usage["apiKeys"]) == Value::Array(b.api_keys.clone())
        && list(&usage["authenticators"]) == Value::Array(Vec::new())
        && list(&usage["oauthProviders"]) == Value::Array(Vec::new())
        && usage["email"].as_str() == Some(email.as_str())
        && usage.get("phoneNumber").is_none();
    if !binds {
        return Err(Error::PermissionDenied(
            "clientSignature.message: signupV2 must carry exactly this request's apiKeys, authenticators, \
             oauthProviders and email"
                .to_owned(),
        ));
    }
    let api_keys = b
        .api_keys
        .into_iter()
        .enumerate()
        .map(|(i, key)| {
            serde_json::from_value::<ApiKeyParams>(key).map_err(|e| Error::invalid(format!("apiKeys[{i}]: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let user = root_user(b.user_name.unwrap_or_else(|| email.clone()), Some(email.clone()), api_keys, Vec::new());
    let name = b.organization_name.unwrap_or_else(|| format!("org of {email}"));
    Ok(sign_up(name, user, Some((token, signature))))
}

/// A sign-up's root user: no phone number (the proxy proves email addresses), tags or OAuth providers.
fn root_user(
    user_name: String,
    user_email: Option<String>,
    api_keys: Vec<ApiKeyParams>,
    authenticators: Vec<crate::intents::AuthenticatorParams>,
) -> UserParams {
    UserParams {
        user_name,
        user_email,
        user_phone_number: None,
        api_keys,
        authenticators,
        oauth_providers: Vec::new(),
        user_tags: None,
    }
}

/// A sign-up's sub-organization: one root user, who is its quorum, proven by a verification
/// token and its key's signature, or (a passkey sign-up) by nothing but its passkey.
fn sign_up(name: String, user: UserParams, proof: Option<(String, ClientSignature)>) -> CreateSubOrganization {
    let (verification_token, client_signature) = match proof {
        Some((token, signature)) => (Some(Secret::new(token)), Some(signature)),
        None => (None, None),
    };
    CreateSubOrganization {
        sub_organization_name: name,
        root_users: vec![user],
        root_quorum_threshold: 1,
        wallet: None,
        disable_email_recovery: None,
        disable_email_auth: None,
        disable_sms_auth: None,
        disable_otp_email_auth: None,
        verification_token,
        client_signature,
    }
}

/// Whether a `signup_v2` body is @turnkey/core's passkey sign-up (passkeys, no token).
fn is_passkey_signup(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|b| {
        b.get("verificationToken").is_none() && b["authenticators"].as_array().is_some_and(|a| !a.is_empty())
    })
}

/// `signUpWithPasskey`'s request: a sub-organization whose root user has the passkey (with a
/// challenge the client made, verified like any other) and the SDK's short-lived API key, and
/// no contact: nothing here is proven but the passkey, so no email or phone number is taken.
fn passkey_signup(b: SignupV2Body) -> Result<CreateSubOrganization> {
    if b.user_email.is_some() || b.user_phone_number.is_some() {
        return Err(Error::invalid(
            "userEmail: a passkey sign-up proves no contact; sign up with an email code to register one",
        ));
    }
    if b.client_signature.is_some() {
        return Err(Error::invalid("clientSignature: a passkey sign-up has no verification token to sign for"));
    }
    if !b.oauth_providers.is_empty() {
        return Err(Error::invalid("oauthProviders: twofold does not verify OIDC tokens yet; omit them"));
    }
    if b.authenticators.len() > 1 || b.api_keys.len() > 1 {
        return Err(Error::invalid("authenticators: a passkey sign-up registers one passkey and at most one API key"));
    }
    let authenticators = b
        .authenticators
        .into_iter()
        .map(|a| serde_json::from_value(a).map_err(|e| Error::invalid(format!("authenticators[0]: {e}"))))
        .collect::<Result<Vec<crate::intents::AuthenticatorParams>>>()?;
    let api_keys = b
        .api_keys
        .into_iter()
        .map(|k| serde_json::from_value::<ApiKeyParams>(k).map_err(|e| Error::invalid(format!("apiKeys[0]: {e}"))))
        .collect::<Result<Vec<_>>>()?;
    let user_name = b.user_name.unwrap_or_else(|| "passkey user".to_owned());
    let name = b.organization_name.unwrap_or_else(|| format!("org of {user_name}"));
    Ok(sign_up(name, root_user(user_name, None, api_keys, authenticators), None))
}

/// Anonymous passkey sign-ups one node admits per window: in all, and per client address.
/// An email-code sign-up is bounded by the OTP limits; a passkey proves only that a
/// WebAuthn ceremony ran, which software can do, so this bounds the rows anonymous callers
/// add. Memory is bounded too (the addresses tracked per window).
#[derive(Default)]
pub(super) struct SignupLimiter {
    window: std::sync::Mutex<SignupWindow>,
}

#[derive(Default)]
struct SignupWindow {
    started_ms: i64,
    total: u32,
    per_address: std::collections::HashMap<std::net::IpAddr, u32>,
}

impl SignupLimiter {
    /// The window.
    const WINDOW_MS: i64 = 10 * 60 * 1000;
    /// Sign-ups per client address per window.
    const PER_ADDRESS: u32 = 5;
    /// Sign-ups per node per window.
    const TOTAL: u32 = 300;

    /// Counts one sign-up from `ip` at `now`, or refuses it with when to retry.
    fn admit(&self, ip: Option<std::net::IpAddr>, now: i64) -> Result<()> {
        let mut w = self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if now.saturating_sub(w.started_ms) >= Self::WINDOW_MS {
            *w = SignupWindow { started_ms: now, ..SignupWindow::default() };
        }
        let retry_after_secs = u64::try_from((w.started_ms + Self::WINDOW_MS - now).max(1000) / 1000).unwrap_or(1);
        let ip = ip.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let from_ip = w.per_address.get(&ip).copied().unwrap_or(0);
        if w.total >= Self::TOTAL || from_ip >= Self::PER_ADDRESS {
            return Err(Error::RateLimited {
                message: "too many passkey sign-ups; try again later, or sign up with an email code".to_owned(),
                retry_after_secs,
            });
        }
        w.total += 1;
        w.per_address.insert(ip, from_ip + 1);
        Ok(())
    }
}

/// The email code the proxy sends to `contact`, with its settings.
fn init_intent(config: &AuthProxyConfig, contact: String) -> InitOtp {
    InitOtp {
        otp_type: "OTP_TYPE_EMAIL".to_owned(),
        contact,
        app_name: config.app_name.clone(),
        otp_length: Some(config.otp_length),
        email_customization: None,
        sms_customization: None,
        user_identifier: None,
        send_from_email_address: None,
        alphanumeric: Some(config.otp_alphanumeric),
        send_from_email_sender_name: config.send_from_email_sender_name.clone(),
        expiration_seconds: Some(config.otp_expiration_seconds),
        reply_to_email_address: None,
    }
}

/// `wallet_kit_config`'s answer for an organization's proxy settings.
fn wallet_kit_config(org_id: &str, config: &AuthProxyConfig) -> WalletKitConfig {
    let mut providers = Vec::new();
    if config.allows(EMAIL_OTP_LOGIN) || config.allows(EMAIL_OTP_SIGNUP) {
        providers.push("email");
    }
    if config.allows(PASSKEY_SIGNUP) {
        providers.push("passkey");
    }
    WalletKitConfig {
        enabled_providers: providers,
        session_expiration_seconds: config.session_expiration_seconds.to_string(),
        organization_id: org_id.to_owned(),
        otp_alphanumeric: config.otp_alphanumeric,
        otp_length: config.otp_length.to_string(),
    }
}

/// A typed answer as the JSON the proxy sends.
fn answer(value: &impl serde::Serialize) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| Error::Internal(format!("a proxy answer did not serialize: {e}")))
}

/// The error a FAILED activity's failure stands for.
fn failure_error(code: i32, message: &str) -> Error {
    let m = message.to_owned();
    match code {
        3 => Error::InvalidArgument(m),
        5 => Error::NotFound(m),
        6 => Error::AlreadyExists(m),
        7 => Error::PermissionDenied(m),
        9 => Error::FailedPrecondition(m),
        16 => Error::Unauthenticated(m),
        _ => Error::Internal(m),
    }
}

/// Refuses what the service user may not submit: only the sign-in activities, email
/// codes only, and sub-organization sign-up only with a verification token.
pub(super) fn confine(caller: &Caller, intent: &Intent) -> Result<()> {
    if !caller.auth_proxy {
        return Ok(());
    }
    let allowed = match intent {
        Intent::InitOtp(p) => p.otp_type == "OTP_TYPE_EMAIL",
        Intent::VerifyOtp(_) | Intent::OtpLogin(_) => true,
        // An email-code sign-up, or a passkey sign-up: one root user with only a new passkey (and the SDK's key).
        Intent::CreateSubOrganization(p) => {
            p.root_users.len() == 1
                && (p.verification_token.is_some()
                    || p.root_users.iter().all(|u| u.authenticators.len() == 1 && u.user_email.is_none()))
        }
        _ => false,
    };
    if allowed {
        return Ok(());
    }
    Err(Error::PermissionDenied(
        "the auth proxy's service key may only run email-code sign-in (INIT_OTP, VERIFY_OTP, OTP_LOGIN) and \
         sign-up"
            .to_owned(),
    ))
}

/// Refuses every query by the service user.
pub(crate) fn refuse_query(caller: &Caller) -> Result<()> {
    if caller.auth_proxy {
        return Err(Error::PermissionDenied("the auth proxy's service key may not make queries".to_owned()));
    }
    Ok(())
}

results! {
    /// `v1EnableAuthProxyResult`: the proxy's service user (and, a twofold extension, the
    /// configuration's id, which Turnkey's browser SDK sends as `X-Auth-Proxy-Config-ID`).
    EnableAuthProxyResult { user_id: String, config_id: String }
    /// `v1UpdateAuthProxyConfigResult`.
    UpdateAuthProxyConfigResult { config_id: String }
}

/// ENABLE_AUTH_PROXY: the service user, its sealed key, its policy and the settings.
impl Activity for EnableAuthProxy {
    type Output = EnableAuthProxyResult;

    fn check(&self) -> Result<()> {
        Change::Enable(&self.0).validate()
    }

    fn policy_params(&self) -> Value {
        Change::Enable(&self.0).policy_params()
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<EnableAuthProxyResult>> {
        if tx.get_auth_proxy(ctx.org_id).await?.is_some() {
            return Err(Error::AlreadyExists(
                "the auth proxy is already enabled for this organization; change it with update_auth_proxy_config"
                    .to_owned(),
            ));
        }
        let config = AuthProxyConfig::default().with(&self.0);
        let proxy = enable(tx, ctx, &config).await?;
        Ok(EnableAuthProxyResult { user_id: proxy.user_id, config_id: proxy.config_id }.into())
    }
}

/// UPDATE_AUTH_PROXY_CONFIG: the settings given, the rest kept.
impl Activity for UpdateAuthProxyConfig {
    type Output = UpdateAuthProxyConfigResult;

    fn check(&self) -> Result<()> {
        Change::Update(&self.0).validate()
    }

    fn policy_params(&self) -> Value {
        Change::Update(&self.0).policy_params()
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<UpdateAuthProxyConfigResult>> {
        let mut proxy = enabled(tx, ctx.org_id).await?;
        let config = AuthProxyConfig::from_json(&proxy.config)?.with(&self.0);
        proxy.config = config.to_json();
        proxy.updated_at = ctx.now;
        tx.put_auth_proxy(&proxy, &config.allowed_origins).await?;
        Ok(UpdateAuthProxyConfigResult { config_id: proxy.config_id }.into())
    }
}

/// DISABLE_AUTH_PROXY: the service user goes with its key; past activities keep its id.
impl Activity for DisableAuthProxy {
    type Output = Empty;

    fn policy_params(&self) -> Value {
        Change::Disable(self).policy_params()
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<Empty>> {
        let proxy = enabled(tx, ctx.org_id).await?;
        tx.delete_user(ctx.org_id, &proxy.user_id).await?;
        tx.delete_policy(ctx.org_id, &proxy.policy_id).await?;
        tx.delete_auth_proxy(ctx.org_id).await?;
        Ok(Empty {}.into())
    }
}

async fn enabled(tx: &mut dyn StoreTx, org_id: &str) -> Result<AuthProxy> {
    tx.get_auth_proxy(org_id).await?.ok_or_else(|| {
        Error::FailedPrecondition("the auth proxy is not enabled for this organization; use enable_auth_proxy".into())
    })
}

/// Creates the service user, its key (sealed), the policy that lets it run the
/// sign-in activities, and the proxy row.
async fn enable(tx: &mut dyn StoreTx, ctx: &ExecContext<'_>, config: &AuthProxyConfig) -> Result<AuthProxy> {
    let (org_id, now) = (ctx.org_id, ctx.now);
    let (key, scalar) = generate_key()?;
    let public_key = hex::encode(key.verifying_key().to_sec1_point(true).as_bytes());
    let user = crate::activities::users::new_user(org_id, org_id, "auth-proxy", None, None, now)?;
    tx.insert_user(&user).await?;
    let api_key = ApiKey {
        id: new_id(),
        organization_id: org_id.to_owned(),
        user_id: user.id.clone(),
        name: "auth-proxy".to_owned(),
        verify_key: crypto::parse_public_key(ApiKeyCurve::P256, &public_key)?,
        public_key,
        curve: ApiKeyCurve::P256,
        created_at: now,
        updated_at: now,
        expires_at: None,
        kind: KeyKind::ApiKey,
        session_profile_id: None,
    };
    tx.insert_api_key(&api_key).await?;
    let types: Vec<String> = PROXY_TYPES.iter().map(|t| format!("'{t}'")).collect();
    let policy = Policy {
        id: new_id(),
        organization_id: org_id.to_owned(),
        name: "Auth proxy: email-code sign-in".to_owned(),
        effect: Effect::Allow,
        condition: Some(format!("activity.type in [{}]", types.join(", "))),
        consensus: Some(format!("approvers.any(u, u.id == '{}')", user.id)),
        time: None,
        notes: "Created by ENABLE_AUTH_PROXY; deleted by DISABLE_AUTH_PROXY.".to_owned(),
        created_at: now,
        updated_at: now,
    };
    tx.insert_policy(&policy).await?;
    let proxy = AuthProxy {
        organization_id: org_id.to_owned(),
        config_id: new_id(),
        user_id: user.id,
        sealed_key: ctx.factors.secrets.seal(&seal_context(org_id, &api_key.id), &scalar)?,
        api_key_id: api_key.id,
        policy_id: policy.id,
        config: config.to_json(),
        created_at: now,
        updated_at: now,
    };
    tx.put_auth_proxy(&proxy, &config.allowed_origins).await?;
    Ok(proxy)
}

/// A fresh P-256 key and its secret scalar, for sealing.
fn generate_key() -> Result<(SigningKey, Zeroizing<Vec<u8>>)> {
    let (_, scalar) = crate::factors::session::SessionSigner::generate()?;
    let key =
        SigningKey::from_slice(&scalar).map_err(|_| Error::Internal("a fresh key is not a P-256 scalar".into()))?;
    Ok((key, scalar))
}

/// The refusal of a browser page whose origin `what` (an organization, its auth proxy) does not list.
pub(super) fn refused_origin(origin: &str, what: &str) -> Error {
    Error::PermissionDenied(format!(
        "pages at `{}` may not call {what}; an administrator adds the origin to allowedOrigins with \
         update_auth_proxy_config",
        crypto::clip(origin)
    ))
}
