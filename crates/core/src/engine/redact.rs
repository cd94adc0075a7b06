//! No secret stored verbatim: a request's secret parameters (declared by
//! [`Intent::secret_fields`]: the fields of type [`crate::fields::Secret`]) are sealed before its body becomes an activity's intent or a
//! vote's message, and opened again only where an activity executes.

use std::borrow::Cow;

use super::{Caller, Engine};
use crate::activities::ExecContext;
use crate::activities::Intent;
use crate::error::{Error, Result};

impl Engine {
    /// The request `body` as it may be stored: the values of `intent`'s secret parameters
    /// sealed for the caller, every other byte as sent (see [`crate::secrets`]).
    pub(super) fn stored_body(&self, caller: &Caller, intent: &Intent, body: &[u8]) -> Result<String> {
        let text = std::str::from_utf8(body).map_err(|_| Error::invalid("request body is not UTF-8"))?;
        self.config.factors.secrets.seal_fields(
            text,
            &["parameters"],
            &intent.secret_fields()?.iter().map(String::as_str).collect::<Vec<_>>(),
            &caller.organization.id,
            &caller.user.id,
        )
    }
}

/// `intent` as read back from an activity, with its sealed secret parameters opened for
/// execution (they were sealed for the initiator when the activity was recorded).
pub(super) fn opened<'a>(ctx: &ExecContext<'_>, intent: &'a Intent) -> Result<Cow<'a, Intent>> {
    let fields = intent.secret_fields()?;
    if fields.is_empty() {
        return Ok(Cow::Borrowed(intent));
    }
    let mut parameters = intent.to_json()?;
    for field in &fields {
        crate::fields::each_at(&mut parameters, field, &mut |value| {
            let sealed = value.as_str().ok_or_else(|| Error::Internal(format!("sealed `{field}` is not a string")))?;
            *value = ctx.factors.secrets.open_field_json(sealed, ctx.org_id, ctx.initiator_user_id, field)?;
            Ok(())
        })?;
    }
    let raw = serde_json::value::to_raw_value(&parameters).map_err(|e| Error::Internal(e.to_string()))?;
    Intent::parse(intent.operation(), &raw).map(Cow::Owned)
}
