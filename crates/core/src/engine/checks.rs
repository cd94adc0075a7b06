//! The stateless half of `submit`, callable on its own: what the engine checks about a
//! body before it needs the store. The fuzz targets (`fuzz/`) drive this, so they
//! exercise exactly the parsing and validation the server runs.

use crate::activities;
use crate::activities::Intent;
use crate::error::Result;

use super::{SubmitEnvelope, parse_body, version_for};

/// Parses a `/public/v1/submit/<path>` body as the engine does (envelope, activity type
/// for `path`, parameters for that operation) and validates the intent without stored
/// state. The server runs the same steps, with authentication and the timestamp check
/// between them.
pub fn check_submit_body(path: &str, body: &[u8]) -> Result<Intent> {
    let kind = activities::kind_for_path(path).ok_or_else(|| activities::unknown_endpoint(path))?;
    let env: SubmitEnvelope = parse_body(body)?;
    version_for(kind, &env.activity_type)?;
    let intent = Intent::parse(kind.operation, &env.parameters)?;
    intent.check()?;
    Ok(intent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn checks_envelope_type_and_parameters() {
        let text = r#"{"type":"ACTIVITY_TYPE_CREATE_USER_TAG","timestampMs":"1","organizationId":"o",
                        "parameters":{"userTagName":"ops","userIds":[]}}"#;
        let body = text.as_bytes();
        assert!(matches!(check_submit_body("create_user_tag", body), Ok(Intent::CreateUserTag(_))));
        let wrong_path = check_submit_body("create_users", body).expect_err("type of another endpoint");
        assert!(wrong_path.to_string().contains("belongs to"), "{wrong_path}");
        let unknown = check_submit_body("nope", body).expect_err("unknown endpoint");
        assert!(matches!(unknown, Error::NotFound(_)));
        let retired = check_submit_body("email_auth", body).expect_err("a retired endpoint");
        assert!(retired.to_string().contains("ACTIVITY_TYPE_INIT_OTP_V3"), "names the flow to use: {retired}");
        let invalid = check_submit_body("create_user_tag", text.replace(r#""ops""#, r#""""#).as_bytes());
        assert!(invalid.is_err(), "an empty tag name is refused before anything is stored");
    }
}
