//! Session profiles: the immutable scopes sessions are made with.

use serde::{Deserialize, Serialize};

use super::{Cx, Db, NoFields, Query};
use crate::api::SessionProfileView;
use crate::error::Result;

/// `get_session_profile`'s request.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetSessionProfileRequest {
    /// The profile.
    pub session_profile_id: String,
}

/// `get_session_profile`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetSessionProfileResponse {
    /// The profile.
    pub session_profile: SessionProfileView,
}

/// `get_session_profile`.
pub(crate) struct GetSessionProfile;

impl Query for GetSessionProfile {
    type Request = GetSessionProfileRequest;
    type Response = GetSessionProfileResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: GetSessionProfileRequest) -> Result<GetSessionProfileResponse> {
        let profile = crate::engine::usable_profile(db.tx().await?, cx.org(), &req.session_profile_id).await?;
        Ok(GetSessionProfileResponse { session_profile: SessionProfileView::from(&profile) })
    }
}

/// `get_session_profiles`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetSessionProfilesResponse {
    /// This organization's profiles and those its ancestors made for it.
    pub session_profiles: Vec<SessionProfileView>,
}

/// `get_session_profiles`.
pub(crate) struct GetSessionProfiles;

impl Query for GetSessionProfiles {
    type Request = NoFields;
    type Response = GetSessionProfilesResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, _: NoFields) -> Result<GetSessionProfilesResponse> {
        let tx = db.tx().await?;
        let mut profiles = Vec::new();
        let mut org = Some(cx.org().to_owned());
        // Parent links never form a cycle; the bound only keeps a corrupt row from looping.
        for _ in 0..16 {
            let Some(current) = org else { break };
            profiles.extend(tx.list_session_profiles(&current).await?);
            org = tx.get_organization(&current).await?.and_then(|o| o.parent_id);
        }
        Ok(GetSessionProfilesResponse { session_profiles: profiles.iter().map(SessionProfileView::from).collect() })
    }
}
