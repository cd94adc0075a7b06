//! CREATE_APP_ACTIVITY: an application's own action, gated like any activity.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Activity, Done, ExecContext, results};
use crate::error::{Error, Result};
use crate::store::StoreTx;
use crate::validate::{check_app_payload, check_app_word};

/// twofold's `ACTIVITY_TYPE_CREATE_APP_ACTIVITY`: an application's own action.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAppActivity {
    /// The app's resource (`PAYOUT`), as policies see `activity.resource`.
    pub resource: String,
    /// The app's action (`CREATE`), as policies see `activity.action`.
    pub action: String,
    /// The app's data, as policies see `activity.params`.
    #[serde(default)]
    pub payload: serde_json::Map<String, serde_json::Value>,
}

results! {
    /// `createAppActivityResult`: what was allowed, echoed.
    CreateAppActivityResult {
        resource: String,
        action: String,
        #[cfg_attr(feature = "openapi", schema(value_type = Object))]
        payload: serde_json::Map<String, Value>,
    }
}

/// CREATE_APP_ACTIVITY: nothing to change here; the result echoes what was allowed.
impl Activity for CreateAppActivity {
    type Output = CreateAppActivityResult;

    fn check(&self) -> Result<()> {
        check_app_word("resource", &self.resource)?;
        check_app_word("action", &self.action)?;
        if crate::activities::KINDS.iter().any(|k| k.resource == self.resource) || self.resource == "SECURITY_SETTINGS"
        {
            return Err(Error::invalid(format!(
                "parameters.resource: `{}` is a twofold resource; app activities name their own (e.g. `PAYOUT`)",
                self.resource
            )));
        }
        check_app_payload(&self.payload)
    }

    fn policy_params(&self) -> Value {
        Value::Object(self.payload.clone())
    }

    fn resource_action(&self) -> Option<(&str, &str)> {
        Some((&self.resource, &self.action))
    }

    async fn execute(&self, _tx: &mut dyn StoreTx, _ctx: &ExecContext<'_>) -> Result<Done<CreateAppActivityResult>> {
        let (resource, action, payload) = (self.resource.clone(), self.action.clone(), self.payload.clone());
        Ok(CreateAppActivityResult { resource, action, payload }.into())
    }
}
