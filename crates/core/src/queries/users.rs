//! Users, their tags and their API keys.

use serde::{Deserialize, Serialize};

use super::{Cx, Db, NoFields, Query, UserRequest, not_found};
use crate::api::{ApiKeyView, TagView, UserView};
use crate::error::Result;

/// `get_user`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetUserResponse {
    /// The user.
    pub user: UserView,
}

/// `get_user`.
pub(crate) struct GetUser;

impl Query for GetUser {
    type Request = UserRequest;
    type Response = GetUserResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: UserRequest) -> Result<GetUserResponse> {
        let tx = db.tx().await?;
        let user = tx.get_user(cx.org(), &req.user_id).await?.ok_or_else(|| not_found("user", &req.user_id))?;
        Ok(GetUserResponse { user: crate::engine::user_view(tx, &user).await? })
    }
}

/// `list_users`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListUsersResponse {
    /// Every user.
    pub users: Vec<UserView>,
}

/// `list_users`.
pub(crate) struct ListUsers;

impl Query for ListUsers {
    type Request = NoFields;
    type Response = ListUsersResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, _: NoFields) -> Result<ListUsersResponse> {
        Ok(ListUsersResponse { users: crate::engine::user_views(db.tx().await?, cx.org()).await? })
    }
}

/// `list_user_tags`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ListUserTagsResponse {
    /// Every user tag.
    pub user_tags: Vec<TagView>,
}

/// `list_user_tags`.
pub(crate) struct ListUserTags;

impl Query for ListUserTags {
    type Request = NoFields;
    type Response = ListUserTagsResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, _: NoFields) -> Result<ListUserTagsResponse> {
        let tags = db.tx().await?.list_user_tags(cx.org()).await?;
        Ok(ListUserTagsResponse { user_tags: tags.iter().map(TagView::from).collect() })
    }
}

/// `get_api_keys`'s request.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetApiKeysRequest {
    /// Only this user's keys; every key of the organization when absent.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// `get_api_keys`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetApiKeysResponse {
    /// The keys.
    pub api_keys: Vec<ApiKeyView>,
}

/// `get_api_keys`.
pub(crate) struct GetApiKeys;

impl Query for GetApiKeys {
    type Request = GetApiKeysRequest;
    type Response = GetApiKeysResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: GetApiKeysRequest) -> Result<GetApiKeysResponse> {
        let keys = db.tx().await?.list_api_keys(cx.org(), req.user_id.as_deref()).await?;
        Ok(GetApiKeysResponse { api_keys: keys.iter().map(ApiKeyView::from).collect() })
    }
}

/// `get_api_key`'s request.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetApiKeyRequest {
    /// The key.
    pub api_key_id: String,
}

/// `get_api_key`'s answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetApiKeyResponse {
    /// The key.
    pub api_key: ApiKeyView,
}

/// `get_api_key`.
pub(crate) struct GetApiKey;

impl Query for GetApiKey {
    type Request = GetApiKeyRequest;
    type Response = GetApiKeyResponse;

    async fn run(cx: &Cx<'_>, db: &mut Db, req: GetApiKeyRequest) -> Result<GetApiKeyResponse> {
        let keys = db.tx().await?.list_api_keys(cx.org(), None).await?;
        let key = keys.iter().find(|k| k.id == req.api_key_id).ok_or_else(|| not_found("API key", &req.api_key_id))?;
        Ok(GetApiKeyResponse { api_key: ApiKeyView::from(key) })
    }
}
