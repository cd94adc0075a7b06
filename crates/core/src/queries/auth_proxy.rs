//! The organization's auth proxy, as the console shows it.

use serde::Serialize;

use super::{Cx, Db, NoFields, Query};
use crate::api::Timestamp;
use crate::auth_proxy::AuthProxyConfig;
use crate::error::Result;

/// `get_auth_proxy_config`'s answer (a twofold extension, for the console).
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuthProxyConfigView {
    /// Whether the proxy is on.
    pub enabled: bool,
    /// Its service user, while on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The configuration's id, while on: what Turnkey's browser SDK sends as `X-Auth-Proxy-Config-ID`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_id: Option<String>,
    /// Its settings, while on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<AuthProxyConfig>,
    /// When the settings last changed, while on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
}

/// `get_auth_proxy_config`: whether the caller's organization has its auth proxy on, with
/// which service user and settings.
pub(crate) struct GetAuthProxyConfig;

impl Query for GetAuthProxyConfig {
    type Request = NoFields;
    type Response = AuthProxyConfigView;

    async fn run(cx: &Cx<'_>, db: &mut Db, _: NoFields) -> Result<AuthProxyConfigView> {
        let Some(proxy) = db.tx().await?.get_auth_proxy(cx.org()).await? else {
            return Ok(AuthProxyConfigView {
                enabled: false,
                user_id: None,
                config_id: None,
                config: None,
                updated_at: None,
            });
        };
        Ok(AuthProxyConfigView {
            enabled: true,
            user_id: Some(proxy.user_id),
            config_id: Some(proxy.config_id),
            config: Some(AuthProxyConfig::from_json(&proxy.config)?),
            updated_at: Some(Timestamp::from_ms(proxy.updated_at)),
        })
    }
}
