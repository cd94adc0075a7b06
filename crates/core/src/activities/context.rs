//! What every activity's executor is given and returns, and the trait each intent type
//! implements: its static checks, what policies see of it, which of its fields carry a
//! secret, and its effects with a typed result.

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::factors::passkey::RelyingParty;
use crate::factors::session::SessionSigner;
use crate::secrets::SecretsKey;
use crate::store::StoreTx;

/// How factors behave: who passkeys belong to, the secrets key, limits and lifetimes.
#[derive(Debug, Clone)]
pub struct FactorConfig {
    /// The WebAuthn relying party (id and allowed origins).
    pub relying_party: RelyingParty,
    /// Seals TOTP seeds and the session signing key at rest.
    pub secrets: SecretsKey,
    /// Issuer shown in authenticator apps.
    pub totp_issuer: String,
    /// Failed guesses of a TOTP or recovery code allowed per user and window.
    pub max_failures: usize,
    /// The window failures are counted in, ms.
    pub failure_window_ms: i64,
    /// Session lifetime when `stamp_login` names none, seconds.
    pub session_default_secs: u64,
    /// Longest session lifetime, seconds (NIST AAL2: at most 24 hours).
    pub session_max_secs: u64,
    /// How recent a session must be to add or remove a factor, ms.
    pub fresh_auth_ms: i64,
    /// A session unused this long is refused (NIST SP 800-63B-4 §2.2.3: reauthenticate after inactivity), ms.
    pub session_idle_ms: i64,
    /// How long a passkey registration ceremony stays open, ms.
    pub registration_timeout_ms: i64,
    /// The OTP enclave and its abuse limits.
    pub otp: crate::otp::OtpConfig,
}

impl FactorConfig {
    /// Defaults around a relying party and a secrets key: 5 failures per 15 minutes,
    /// 15-minute sessions (24 hours at most), 5-minute freshness and ceremonies.
    pub fn new(relying_party: RelyingParty, secrets: SecretsKey) -> Self {
        FactorConfig {
            relying_party,
            secrets,
            totp_issuer: "twofold".to_owned(),
            max_failures: 5,
            failure_window_ms: 15 * 60 * 1000,
            session_default_secs: 900,
            session_max_secs: 24 * 60 * 60,
            fresh_auth_ms: 5 * 60 * 1000,
            session_idle_ms: 60 * 60 * 1000,
            registration_timeout_ms: 5 * 60 * 1000,
            otp: crate::otp::OtpConfig::default(),
        }
    }

    /// A development setup: relying party `localhost` on any port, a random secrets key.
    pub fn for_development() -> Result<Self> {
        let origin = url::Url::parse("http://localhost").map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Self::new(RelyingParty::new("localhost", "twofold", &[origin], true)?, SecretsKey::generate()?))
    }
}

/// Everything execution needs besides the transaction.
pub struct ExecContext<'a> {
    /// The organization acted in.
    pub org_id: &'a str,
    /// The user who submitted the activity.
    pub initiator_user_id: &'a str,
    /// Now, ms.
    pub now: i64,
    /// Factor settings.
    pub factors: &'a FactorConfig,
    /// The session signing key.
    pub signer: Option<&'a SessionSigner>,
    /// The activity's fingerprint: finds work done for it before it was recorded (OTP flows).
    pub fingerprint: &'a str,
    /// Tag names that make their users administrators (`--mfa-admin-tags`).
    pub admin_tags: &'a [String],
    /// OIDC issuers' keys, fetched before the transaction (OAuth login and providers).
    pub oidc: &'a crate::oidc::JwksCache,
}

/// A type whose schema `/openapi.json` documents (every type under the `openapi` feature).
#[cfg(feature = "openapi")]
pub trait Documented: utoipa::ToSchema {}
#[cfg(feature = "openapi")]
impl<T: utoipa::ToSchema> Documented for T {}
/// A type whose schema `/openapi.json` documents (every type under the `openapi` feature).
#[cfg(not(feature = "openapi"))]
pub trait Documented {}
#[cfg(not(feature = "openapi"))]
impl<T> Documented for T {}

/// One activity's intent: parsed from `parameters`, checked, shown to policies, executed.
/// A catalog row names the type; the row does not compile unless the type implements this.
pub trait Activity: DeserializeOwned + Clone + std::fmt::Debug + Send + Sync {
    /// The result object, stored and answered under the row's result key.
    type Output: Serialize + Documented + Send;

    /// Everything about the parameters that does not depend on stored state; a failure is
    /// a 400 before anything is recorded.
    fn check(&self) -> Result<()> {
        Ok(())
    }

    /// The fields policies see as `activity.params` (snake_case, documented in docs/API.md).
    fn policy_params(&self) -> Value;

    /// `activity.resource` and `activity.action` when the intent names its own (app
    /// activities); `None` when the row decides them.
    fn resource_action(&self) -> Option<(&str, &str)> {
        None
    }

    /// The user whose credentials (factors, login contacts, API keys, sessions) this intent
    /// manages, for "users may always manage their own credentials", and whether it binds or
    /// removes a factor or a permanent credential (an API key authenticates as its user for as
    /// long as it exists): such changes need fresh authentication, proof at the account's level
    /// when they are the user's own, and send the user a notice.
    fn credentials(&self) -> Option<Credentials<'_>> {
        None
    }

    /// Registers the schema of what [`Done::revealing`] shows once beside the result (in the
    /// answer only, never stored) and names it; `None` for an activity that shows nothing.
    #[cfg(feature = "openapi")]
    fn shown_schema(
        components: utoipa::openapi::ComponentsBuilder,
    ) -> (utoipa::openapi::ComponentsBuilder, Option<String>) {
        (components, None)
    }

    /// The effects, inside the activity's transaction (a savepoint: an error undoes them).
    fn execute(
        &self,
        tx: &mut dyn StoreTx,
        ctx: &ExecContext<'_>,
    ) -> impl Future<Output = Result<Done<Self::Output>>> + Send;
}

/// Whose credentials an intent manages ([`Activity::credentials`]).
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// The user.
    pub user_id: &'a str,
    /// Whether a factor or permanent credential is bound or removed (not only sessions or an
    /// unactivated device).
    pub binds: bool,
    /// Whether it sets, changes or clears a login contact (email, phone): a new contact would
    /// log in outside a session profile's scope, so a scoped session may not change its own.
    pub contact: bool,
}

impl<'a> Credentials<'a> {
    /// Binds or removes a factor or a permanent credential of `user_id`.
    pub fn binding(user_id: &'a str) -> Option<Self> {
        Some(Credentials { user_id, binds: true, contact: false })
    }

    /// Manages `user_id`'s sessions or a device not yet in force: no factor changes.
    pub fn managing(user_id: &'a str) -> Option<Self> {
        Some(Credentials { user_id, binds: false, contact: false })
    }

    /// Sets, changes or clears a login contact of `user_id` (a factor change).
    pub fn contact(user_id: &'a str) -> Option<Self> {
        Some(Credentials { user_id, binds: true, contact: true })
    }
}

/// What an executor produced: its typed result, and secrets shown once to their user.
#[derive(Debug)]
pub struct Done<O> {
    /// The result object.
    pub result: O,
    /// `(user id, fields)` added to the result in this one response, never stored.
    pub reveal: Option<(String, Value)>,
}

impl<O> From<O> for Done<O> {
    fn from(result: O) -> Self {
        Done { result, reveal: None }
    }
}

impl<O: Serialize> Done<O> {
    /// `result`, with `fields` shown once to `user_id` (TOTP seeds, recovery codes, tokens).
    pub fn revealing(result: O, user_id: &str, fields: &impl Serialize) -> Result<Self> {
        Ok(Done { result, reveal: Some((user_id.to_owned(), to_json(fields)?)) })
    }

    /// The untyped form the activity stores.
    pub(crate) fn into_executed(self) -> Result<Executed> {
        Ok(Executed { result: to_json(&self.result)?, reveal: self.reveal })
    }
}

/// For [`Activity::shown_schema`]: registers `T`, what an activity shows once.
#[cfg(feature = "openapi")]
pub fn shown<T: utoipa::ToSchema>(
    components: utoipa::openapi::ComponentsBuilder,
) -> (utoipa::openapi::ComponentsBuilder, Option<String>) {
    let (components, name) = crate::fields::register_schema::<T>(components);
    (components, Some(name))
}

fn to_json(value: &impl Serialize) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| Error::Internal(format!("a result did not serialize: {e}")))
}

/// An executor's result as stored: the result object (without its key) and what is shown once.
#[derive(Debug)]
pub(crate) struct Executed {
    /// The result object (without its key), stored with the activity.
    pub result: Value,
    /// `(user id, fields)` to add to the result in this one response.
    pub reveal: Option<(String, Value)>,
}

/// The result of an activity that returns nothing but its status.
#[derive(Debug, Clone, Copy, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Empty {}

/// Inside an `impl Activity`: what the activity shows once beside its result is `$shown`
/// (documented in `/openapi.json` with the answer).
macro_rules! shows {
    ($shown:ty) => {
        #[cfg(feature = "openapi")]
        fn shown_schema(
            components: utoipa::openapi::ComponentsBuilder,
        ) -> (utoipa::openapi::ComponentsBuilder, Option<String>) {
            $crate::activities::shown::<$shown>(components)
        }
    };
}
pub(crate) use shows;

/// Declares result types: `Name { field: Type, … }` each, serialized camelCase and
/// documented in `/openapi.json`.
macro_rules! results {
    ($($(#[doc = $doc:literal])+ $name:ident { $($(#[$attr:meta])* $field:ident : $ty:ty),* $(,)? })+) => {$(
        $(#[doc = $doc])+
        #[derive(Debug, Clone, serde::Serialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            $(#[doc = concat!("`", stringify!($field), "`")] $(#[$attr])* pub $field: $ty,)*
        }
    )+};
}
pub(crate) use results;
