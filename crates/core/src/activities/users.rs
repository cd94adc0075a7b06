//! Users and their API keys: CREATE_USERS, DELETE_USERS, UPDATE_USER, CREATE_USER_TAG,
//! CREATE_API_KEYS and DELETE_API_KEYS, each its intent (Turnkey's), checks and executor.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Activity, Credentials, Done, ExecContext, results};
use crate::crypto;
use crate::error::{Error, Result};
use crate::fields::Secret;
use crate::fields::params;
use crate::intents::ApiKeyParams;
pub use crate::intents::UserParams;
use crate::model::{ApiKey, Channel, User, UserTag, new_id};
use crate::otp::OtpChannel;
use crate::store::StoreTx;
use crate::validate::{
    check_api_key, check_count, check_email, check_ids, check_keys, check_name, check_person, check_phone,
    check_user_factors, optional, unique,
};

/// `v1CreateUsersIntentV4`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateUsers {
    /// The users.
    pub users: Vec<UserParams>,
}

/// `v1DeleteUsersIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteUsers {
    /// Users to delete.
    pub user_ids: Vec<String>,
}

/// `v1UpdateUserIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateUser {
    /// The user to change.
    pub user_id: String,
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// New email (empty string clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_email: Option<String>,
    /// New tag set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_tag_ids: Option<Vec<String>>,
    /// New phone number (empty string clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_phone_number: Option<String>,
    /// A twofold extension (Turnkey's `update_user_email` field): a VERIFY_OTP token proving the
    /// new email address or phone number, which is then stored verified. Without it a changed
    /// contact is unverified and serves no OTP login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_token: Option<Secret>,
}

impl UpdateUser {
    /// What the update changes, as policies see it in `activity.params.changes`.
    pub fn changes(&self) -> Vec<&'static str> {
        [
            (self.user_name.is_some(), "NAME"),
            (self.user_email.is_some(), "EMAIL"),
            (self.user_phone_number.is_some(), "PHONE_NUMBER"),
            (self.user_tag_ids.is_some(), "TAGS"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect()
    }

    /// Whether it sets, changes or clears a login contact (email or phone): a factor change.
    pub fn changes_contact(&self) -> bool {
        self.user_email.is_some() || self.user_phone_number.is_some()
    }
}

/// `v1UpdateUserNameIntent`: a new display name, nothing else (what @turnkey/core's
/// `updateUserName` sends).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateUserName {
    /// The user to rename.
    pub user_id: String,
    /// The new name.
    pub user_name: String,
}

/// `v1UpdateUserEmailIntent`: UPDATE_USER of the email alone (an empty string clears it), with
/// everything that holds for a contact change there.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateUserEmail {
    /// The user.
    pub user_id: String,
    /// The new email; empty clears it.
    pub user_email: String,
    /// A VERIFY_OTP token proving the new address (the user's own update only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_token: Option<Secret>,
}

/// `v1UpdateUserPhoneNumberIntent`: UPDATE_USER of the phone number alone (an empty string
/// clears it), with everything that holds for a contact change there.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateUserPhoneNumber {
    /// The user.
    pub user_id: String,
    /// The new phone number (E.164); empty clears it.
    pub user_phone_number: String,
    /// A VERIFY_OTP token proving the new number (the user's own update only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_token: Option<Secret>,
}

impl UpdateUserEmail {
    /// The UPDATE_USER it is.
    fn as_update(&self) -> UpdateUser {
        UpdateUser {
            user_email: Some(self.user_email.clone()),
            ..UpdateUser::contact_of(&self.user_id, &self.verification_token)
        }
    }
}

impl UpdateUserPhoneNumber {
    /// The UPDATE_USER it is.
    fn as_update(&self) -> UpdateUser {
        UpdateUser {
            user_phone_number: Some(self.user_phone_number.clone()),
            ..UpdateUser::contact_of(&self.user_id, &self.verification_token)
        }
    }
}

impl UpdateUser {
    /// An update of `user_id` changing nothing yet, with `token` to prove a new contact.
    fn contact_of(user_id: &str, token: &Option<Secret>) -> UpdateUser {
        UpdateUser {
            user_id: user_id.to_owned(),
            user_name: None,
            user_email: None,
            user_tag_ids: None,
            user_phone_number: None,
            verification_token: token.clone(),
        }
    }
}

/// UPDATE_USER_EMAIL and UPDATE_USER_PHONE_NUMBER are UPDATE_USER with one contact: the same
/// checks, the same `activity.params` (`changes` is `["EMAIL"]` or `["PHONE_NUMBER"]`), the same
/// account-level rule and notices, the same executor.
macro_rules! contact_update {
    ($intent:ident, $result:ident) => {
        impl Activity for $intent {
            type Output = $result;

            fn check(&self) -> Result<()> {
                self.as_update().check()
            }

            fn policy_params(&self) -> Value {
                self.as_update().policy_params()
            }

            fn credentials(&self) -> Option<Credentials<'_>> {
                Credentials::contact(&self.user_id)
            }

            async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<$result>> {
                let done = self.as_update().execute(tx, ctx).await?;
                Ok($result { user_id: done.result.user_id }.into())
            }
        }
    };
}
contact_update!(UpdateUserEmail, UpdateUserEmailResult);
contact_update!(UpdateUserPhoneNumber, UpdateUserPhoneNumberResult);

/// `v1CreateUserTagIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateUserTag {
    /// Tag name.
    pub user_tag_name: String,
    /// Users to tag.
    #[serde(default)]
    pub user_ids: Vec<String>,
}

/// `v1UpdateUserTagIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateUserTag {
    /// The tag.
    pub user_tag_id: String,
    /// Its new name, if it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_user_tag_name: Option<String>,
    /// Users to tag.
    #[serde(default)]
    pub add_user_ids: Vec<String>,
    /// Users to untag.
    #[serde(default)]
    pub remove_user_ids: Vec<String>,
}

/// `v1DeleteUserTagsIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteUserTags {
    /// The tags.
    pub user_tag_ids: Vec<String>,
}

/// `v1CreateApiKeysIntentV2`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateApiKeys {
    /// Keys to add.
    pub api_keys: Vec<ApiKeyParams>,
    /// Owner.
    pub user_id: String,
}

/// `v1DeleteApiKeysIntent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteApiKeys {
    /// Owner.
    pub user_id: String,
    /// Keys to remove.
    pub api_key_ids: Vec<String>,
}

/// `v1CreateApiOnlyUsersIntent`: service accounts that sign with API keys alone.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateApiOnlyUsers {
    /// The users.
    pub api_only_users: Vec<ApiOnlyUserParams>,
}

/// `v1ApiOnlyUserParams`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiOnlyUserParams {
    /// Display name.
    pub user_name: String,
    /// Optional email: a contact for notices, never a login (no OTP for API-only users).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_email: Option<String>,
    /// Tag ids to attach.
    #[serde(default)]
    pub user_tags: Vec<String>,
    /// Its API keys (`apiApiKeyParams`).
    #[serde(default)]
    pub api_keys: Vec<ApiOnlyKeyParams>,
}

/// `apiApiKeyParams`: an API key without a curve field, so P-256 (as at Turnkey) unless the
/// twofold extension `curveType` names another.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiOnlyKeyParams {
    /// Human-readable name.
    pub api_key_name: String,
    /// Compressed P-256 hex (or a key of `curveType`).
    pub public_key: String,
    /// Lifetime in seconds (uint64 as a string, as Turnkey sends it).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[serde(
        default,
        deserialize_with = "crate::fields::opt_u64_string",
        serialize_with = "crate::fields::ser_opt_u64_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration_seconds: Option<u64>,
    /// A twofold extension: the key's curve (P-256 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curve_type: Option<crate::model::ApiKeyCurve>,
}

impl ApiOnlyUserParams {
    /// Its keys as [`ApiKeyParams`] (P-256 unless named).
    fn keys(&self) -> Vec<ApiKeyParams> {
        self.api_keys
            .iter()
            .map(|k| ApiKeyParams {
                api_key_name: k.api_key_name.clone(),
                public_key: k.public_key.clone(),
                curve_type: k.curve_type.unwrap_or(crate::model::ApiKeyCurve::P256),
                expiration_seconds: k.expiration_seconds,
            })
            .collect()
    }
}

results! {
    /// `v1CreateApiOnlyUsersResult`.
    CreateApiOnlyUsersResult { user_ids: Vec<String> }
    /// `v1CreateUsersResult`.
    CreateUsersResult { user_ids: Vec<String> }
    /// `v1DeleteUsersResult`.
    DeleteUsersResult { user_ids: Vec<String> }
    /// `v1UpdateUserResult`.
    UpdateUserResult { user_id: String }
    /// `v1UpdateUserNameResult`: whose name changed.
    UpdateUserNameResult { user_id: String }
    /// `v1UpdateUserEmailResult`: whose email changed.
    UpdateUserEmailResult { user_id: String }
    /// `v1UpdateUserPhoneNumberResult`: whose phone number changed.
    UpdateUserPhoneNumberResult { user_id: String }
    /// `v1CreateUserTagResult`.
    CreateUserTagResult { user_tag_id: String, user_ids: Vec<String> }
    /// `v1CreateApiKeysResult`.
    CreateApiKeysResult { api_key_ids: Vec<String> }
    /// `v1UpdateUserTagResult`.
    UpdateUserTagResult { user_tag_id: String }
    /// `v1DeleteUserTagsResult`: the tags and the users who carried them.
    DeleteUserTagsResult { user_tag_ids: Vec<String>, user_ids: Vec<String> }
    /// `v1DeleteApiKeysResult`.
    DeleteApiKeysResult { api_key_ids: Vec<String> }
}

/// CREATE_USERS: users with their API keys and tags.
impl Activity for CreateUsers {
    type Output = CreateUsersResult;

    fn check(&self) -> Result<()> {
        check_count("users", self.users.len(), 1)?;
        for u in &self.users {
            check_user_factors(&u.authenticators, &u.oauth_providers)?;
            check_person(&u.user_name, u.user_email.as_deref(), u.user_phone_number.as_deref())?;
            check_keys(&u.api_keys)?;
            unique("userTags", u.user_tags.as_deref().unwrap_or_default())?;
        }
        Ok(())
    }

    fn policy_params(&self) -> Value {
        params!(self; user_names = self.users.iter().map(|u| u.user_name.as_str()).collect::<Vec<_>>(), user_tags = self.users.iter().flat_map(|u| u.user_tags.iter().flatten()).collect::<Vec<_>>())
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<CreateUsersResult>> {
        let p = self;
        let (org_id, now) = (ctx.org_id, ctx.now);
        let mut user_ids = Vec::with_capacity(p.users.len());
        for u in &p.users {
            let (email, phone) = (u.user_email.as_deref(), u.user_phone_number.as_deref());
            let user = new_user(org_id, org_id, &u.user_name, email, phone, now)?;
            tx.insert_user(&user).await?;
            insert_keys(tx, org_id, &user.id, &u.api_keys, now).await?;
            insert_passkeys(tx, ctx, org_id, &user, &u.authenticators).await?;
            super::oauth::bind_providers(tx, ctx, &user, &u.oauth_providers).await?;
            let tags = existing_tags(tx, org_id, u.user_tags.as_deref().unwrap_or_default()).await?;
            tx.set_user_tags(&user.id, &tags).await?;
            user_ids.push(user.id);
        }
        Ok(CreateUsersResult { user_ids }.into())
    }
}

/// CREATE_API_ONLY_USERS: service accounts, each with its API keys and tags. An API-only user
/// holds no other factor and never signs in (see [`User::api_only`]); a policy tells them
/// apart from CREATE_USERS by `activity.type`.
impl Activity for CreateApiOnlyUsers {
    type Output = CreateApiOnlyUsersResult;

    fn check(&self) -> Result<()> {
        check_count("apiOnlyUsers", self.api_only_users.len(), 1)?;
        for u in &self.api_only_users {
            check_person(&u.user_name, u.user_email.as_deref(), None)?;
            check_keys(&u.keys())?;
            unique("userTags", &u.user_tags)?;
        }
        Ok(())
    }

    fn policy_params(&self) -> Value {
        params!(self; user_names = self.api_only_users.iter().map(|u| u.user_name.as_str()).collect::<Vec<_>>(), user_tags = self.api_only_users.iter().flat_map(|u| u.user_tags.iter()).collect::<Vec<_>>())
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<CreateApiOnlyUsersResult>> {
        let (org_id, now) = (ctx.org_id, ctx.now);
        let mut user_ids = Vec::with_capacity(self.api_only_users.len());
        for u in &self.api_only_users {
            let mut user = new_user(org_id, org_id, &u.user_name, u.user_email.as_deref(), None, now)?;
            // Its email is no login contact: nobody vouches for it, and OTP never finds it.
            user.email_vouched_by = None;
            user.api_only = true;
            tx.insert_user(&user).await?;
            insert_keys(tx, org_id, &user.id, &u.keys(), now).await?;
            let tags = existing_tags(tx, org_id, &u.user_tags).await?;
            tx.set_user_tags(&user.id, &tags).await?;
            user_ids.push(user.id);
        }
        Ok(CreateApiOnlyUsersResult { user_ids }.into())
    }
}

/// DELETE_USERS: never a root-quorum member (the quorum changes first).
impl Activity for DeleteUsers {
    type Output = DeleteUsersResult;

    fn check(&self) -> Result<()> {
        check_ids("userIds", &self.user_ids)
    }

    fn policy_params(&self) -> Value {
        params!(self; user_ids)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<DeleteUsersResult>> {
        let p = self;
        let quorum = tx.root_quorum_members(ctx.org_id).await?;
        for id in &p.user_ids {
            if quorum.contains(id) {
                return Err(Error::FailedPrecondition(format!(
                    "user `{id}` is a member of the root quorum; remove it with update_root_quorum first"
                )));
            }
            if !tx.delete_user(ctx.org_id, id).await? {
                return Err(no_user(id));
            }
        }
        Ok(DeleteUsersResult { user_ids: p.user_ids.clone() }.into())
    }
}

/// UPDATE_USER. A changed contact is a changed factor: it is stored unverified and unvouched
/// (it serves no OTP login) unless `verificationToken` proves it in the user's own update (the
/// same contact again with a token verifies it later), and the contact it replaced is told. A user's own contact change may change nothing else, since it is always allowed
/// as its own credential (renaming or retagging oneself is not).
impl Activity for UpdateUser {
    type Output = UpdateUserResult;

    fn check(&self) -> Result<()> {
        let p = self;
        if let Some(name) = &p.user_name {
            check_name("userName", name)?;
        }
        p.user_email.as_deref().and_then(optional).map(check_email).transpose()?;
        p.user_phone_number.as_deref().and_then(optional).map(check_phone).transpose()?;
        if let Some(tags) = &p.user_tag_ids {
            unique("userTagIds", tags)?;
        }
        if let Some(token) = &p.verification_token {
            let set = |c: &Option<String>| c.as_deref().and_then(optional).is_some();
            if set(&p.user_email) == set(&p.user_phone_number) {
                return Err(Error::invalid(
                    "parameters.verificationToken: proves one new contact; set exactly one of userEmail and \
                     userPhoneNumber with it",
                ));
            }
            crate::otp::check_blob("verificationToken", token.expose())?;
        }
        Ok(())
    }

    fn policy_params(&self) -> Value {
        params!(self; user_id, user_tag_ids = self.user_tag_ids.clone().unwrap_or_default(), user_name, user_email, user_phone_number, changes = self.changes(), with_verification_token = self.verification_token.is_some())
    }

    fn credentials(&self) -> Option<Credentials<'_>> {
        Credentials::contact(&self.user_id).filter(|_| self.changes_contact())
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<UpdateUserResult>> {
        let p = self;
        let (org_id, now) = (ctx.org_id, ctx.now);
        if p.changes_contact()
            && p.user_id == ctx.initiator_user_id
            && (p.user_name.is_some() || p.user_tag_ids.is_some())
        {
            return Err(Error::invalid(
                "parameters: changing your own email or phone is a factor change and is sent on its own: userId with \
             userEmail or userPhoneNumber (and verificationToken), no userName or userTagIds",
            ));
        }
        if p.verification_token.is_some() && p.user_id != ctx.initiator_user_id {
            // A token proves that whoever holds it reads the address, not that the address is the
            // target user's: an editor could otherwise prove its own mailbox onto another account.
            return Err(Error::PermissionDenied(
                "parameters.verificationToken: only a user's own update may prove its new contact; the user verifies \
             it by sending update_user for itself with the token"
                    .to_owned(),
            ));
        }
        let mut user = existing_user(tx, org_id, &p.user_id).await?;
        let before = user.clone();
        if let Some(name) = &p.user_name {
            user.name = check_name("userName", name)?;
        }
        if let Some(email) = &p.user_email {
            user.email = optional(email).map(check_email).transpose()?;
        }
        if let Some(phone) = &p.user_phone_number {
            user.phone = optional(phone).map(check_phone).transpose()?;
        }
        let email_changed = user.email != before.email;
        let phone_changed = user.phone != before.phone;
        // A changed address is no longer the one a code proved, nor one its creator set.
        if email_changed {
            (user.email_verified_at, user.email_vouched_by) = (None, None);
        }
        if phone_changed {
            (user.phone_verified_at, user.phone_vouched_by) = (None, None);
        }
        if let Some(token) = &p.verification_token {
            let (channel, contact) = match (&user.email, &user.phone) {
                (Some(email), _) if p.user_email.as_deref().and_then(optional).is_some() => (OtpChannel::Email, email),
                (_, Some(phone)) => (OtpChannel::Sms, phone),
                _ => {
                    return Err(Error::invalid(
                        "parameters.verificationToken: there is no new contact for it to prove",
                    ));
                }
            };
            super::otp::prove_contact(tx, ctx, token.expose(), channel, contact).await?;
            match channel {
                OtpChannel::Email => user.email_verified_at = Some(now),
                OtpChannel::Sms => user.phone_verified_at = Some(now),
            }
        }
        user.updated_at = now;
        tx.update_user(&user).await?;
        if let Some(tag_ids) = &p.user_tag_ids {
            let tags = existing_tags(tx, org_id, tag_ids).await?;
            tx.set_user_tags(&user.id, &tags).await?;
        }
        let replaced = [
            (Channel::Email, before.email.as_deref().filter(|_| email_changed), user.email.as_deref()),
            (Channel::Sms, before.phone.as_deref().filter(|_| phone_changed), user.phone.as_deref()),
        ];
        if replaced.iter().any(|(_, old, _)| old.is_some()) {
            let activity = tx
                .get_activity_by_fingerprint(ctx.fingerprint)
                .await?
                .ok_or_else(|| Error::Internal("the executing activity is not recorded".to_owned()))?;
            for (channel, old, new) in replaced {
                if let Some(old) = old {
                    crate::notice::enqueue_contact_notice(tx, &activity, &before.name, channel, old, new, now).await?;
                }
            }
        }
        Ok(UpdateUserResult { user_id: user.id }.into())
    }
}

/// UPDATE_USER_NAME: USER/UPDATE for policies, like UPDATE_USER renaming; a name is no
/// credential, so renaming oneself needs a policy like any other change.
impl Activity for UpdateUserName {
    type Output = UpdateUserNameResult;

    fn check(&self) -> Result<()> {
        check_name("userName", &self.user_name).map(drop)
    }

    fn policy_params(&self) -> Value {
        params!(self; user_id, user_name, changes = ["NAME"])
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<UpdateUserNameResult>> {
        let mut user = existing_user(tx, ctx.org_id, &self.user_id).await?;
        user.name = check_name("userName", &self.user_name)?;
        user.updated_at = ctx.now;
        tx.update_user(&user).await?;
        Ok(UpdateUserNameResult { user_id: user.id }.into())
    }
}

/// CREATE_USER_TAG: a tag with a free name, given to existing users.
impl Activity for CreateUserTag {
    type Output = CreateUserTagResult;

    fn check(&self) -> Result<()> {
        check_name("userTagName", &self.user_tag_name)?;
        unique("userIds", &self.user_ids).map(drop)
    }

    fn policy_params(&self) -> Value {
        params!(self; user_tag_name, user_ids)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<CreateUserTagResult>> {
        let p = self;
        let (org_id, now) = (ctx.org_id, ctx.now);
        let name = check_name("userTagName", &p.user_tag_name)?;
        if tx.list_user_tags(org_id).await?.iter().any(|t| t.name == name) {
            return Err(Error::AlreadyExists(format!("a user tag named `{name}` already exists")));
        }
        let tag = UserTag { id: new_id(), organization_id: org_id.to_owned(), name, created_at: now, updated_at: now };
        tx.insert_user_tag(&tag).await?;
        for uid in &p.user_ids {
            existing_user(tx, org_id, uid).await?;
            tx.add_user_to_tag(&tag.id, uid).await?;
        }
        Ok(CreateUserTagResult { user_tag_id: tag.id, user_ids: p.user_ids.clone() }.into())
    }
}

/// UPDATE_USER_TAG: a new name and members in and out. Whoever the tag makes an
/// administrator now (a new member, or every member when it is renamed to an admin tag's
/// name) starts the `required for admins` grace clock of their own.
impl Activity for UpdateUserTag {
    type Output = UpdateUserTagResult;

    fn check(&self) -> Result<()> {
        if let Some(name) = &self.new_user_tag_name {
            check_name("newUserTagName", name)?;
        }
        unique("addUserIds", &self.add_user_ids)?;
        unique("removeUserIds", &self.remove_user_ids)?;
        if let Some(both) = self.add_user_ids.iter().find(|id| self.remove_user_ids.contains(id)) {
            return Err(Error::invalid(format!(
                "parameters.removeUserIds: `{}` is also in addUserIds",
                crypto::clip(both)
            )));
        }
        Ok(())
    }

    fn policy_params(&self) -> Value {
        params!(self; user_tag_id, new_user_tag_name, add_user_ids, remove_user_ids)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<UpdateUserTagResult>> {
        let p = self;
        let org_id = ctx.org_id;
        let tags = tx.list_user_tags(org_id).await?;
        if !tags.iter().any(|t| t.id == p.user_tag_id) {
            return Err(Error::NotFound(format!(
                "no user tag `{}` in this organization",
                crypto::clip(&p.user_tag_id)
            )));
        }
        let mut members = tx.user_tag_members(&p.user_tag_id).await?;
        members.extend(p.add_user_ids.iter().cloned());
        let candidates: Vec<&str> = members.iter().map(String::as_str).collect();
        let before = administrators_among(tx, org_id, &candidates, ctx.admin_tags).await?;
        if let Some(name) = &p.new_user_tag_name {
            let name = check_name("newUserTagName", name)?;
            if tags.iter().any(|t| t.name == name && t.id != p.user_tag_id) {
                return Err(Error::AlreadyExists(format!("a user tag named `{name}` already exists")));
            }
            tx.rename_user_tag(org_id, &p.user_tag_id, &name, ctx.now).await?;
        }
        for uid in &p.add_user_ids {
            existing_user(tx, org_id, uid).await?;
            tx.add_user_to_tag(&p.user_tag_id, uid).await?;
        }
        for uid in &p.remove_user_ids {
            tx.remove_user_from_tag(&p.user_tag_id, uid).await?;
        }
        note_promotions(tx, ctx, &candidates, &before).await?;
        Ok(UpdateUserTagResult { user_tag_id: p.user_tag_id.clone() }.into())
    }
}

/// DELETE_USER_TAGS: every one named, or none.
impl Activity for DeleteUserTags {
    type Output = DeleteUserTagsResult;

    fn check(&self) -> Result<()> {
        check_ids("userTagIds", &self.user_tag_ids)
    }

    fn policy_params(&self) -> Value {
        params!(self; user_tag_ids)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<DeleteUserTagsResult>> {
        let mut user_ids = Vec::new();
        for id in &self.user_tag_ids {
            let members = tx.user_tag_members(id).await?;
            if !tx.delete_user_tag(ctx.org_id, id).await? {
                return Err(Error::NotFound(format!("no user tag `{}` in this organization", crypto::clip(id))));
            }
            user_ids.extend(members.into_iter().filter(|m| !user_ids.contains(m)).collect::<Vec<_>>());
        }
        Ok(DeleteUserTagsResult { user_tag_ids: self.user_tag_ids.clone(), user_ids }.into())
    }
}

/// CREATE_API_KEYS: keys for an existing user.
impl Activity for CreateApiKeys {
    type Output = CreateApiKeysResult;

    fn check(&self) -> Result<()> {
        check_count("apiKeys", self.api_keys.len(), 1)?;
        check_keys(&self.api_keys)
    }

    fn policy_params(&self) -> Value {
        params!(self; user_id)
    }

    fn credentials(&self) -> Option<Credentials<'_>> {
        Credentials::binding(&self.user_id)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<CreateApiKeysResult>> {
        existing_user(tx, ctx.org_id, &self.user_id).await?;
        let api_key_ids = insert_keys(tx, ctx.org_id, &self.user_id, &self.api_keys, ctx.now).await?;
        Ok(CreateApiKeysResult { api_key_ids }.into())
    }
}

/// DELETE_API_KEYS: every id must be one of the user's keys.
impl Activity for DeleteApiKeys {
    type Output = DeleteApiKeysResult;

    fn check(&self) -> Result<()> {
        check_ids("apiKeyIds", &self.api_key_ids)
    }

    fn policy_params(&self) -> Value {
        params!(self; user_id, api_key_ids)
    }

    fn credentials(&self) -> Option<Credentials<'_>> {
        Credentials::binding(&self.user_id)
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<DeleteApiKeysResult>> {
        let p = self;
        existing_user(tx, ctx.org_id, &p.user_id).await?;
        for id in &p.api_key_ids {
            if !tx.delete_api_key(ctx.org_id, &p.user_id, id).await? {
                return Err(Error::NotFound(format!("user `{}` has no API key `{}`", p.user_id, crypto::clip(id))));
            }
        }
        Ok(DeleteApiKeysResult { api_key_ids: p.api_key_ids.clone() }.into())
    }
}

pub(crate) fn no_user(id: &str) -> Error {
    Error::NotFound(format!("no user `{}` in this organization", crypto::clip(id)))
}

/// The user `user_id` of `org_id`, or NotFound naming it: the one lookup every activity about
/// a user makes first.
pub(crate) async fn existing_user(tx: &mut dyn StoreTx, org_id: &str, user_id: &str) -> Result<User> {
    tx.get_user(org_id, user_id).await?.ok_or_else(|| no_user(user_id))
}

/// As [`existing_user`], for binding a factor or starting a session: refused for an API-only
/// user, which signs with its API keys alone.
pub(crate) async fn human_user(tx: &mut dyn StoreTx, org_id: &str, user_id: &str) -> Result<User> {
    let user = existing_user(tx, org_id, user_id).await?;
    if user.api_only {
        return Err(api_only_refusal(&user.id));
    }
    Ok(user)
}

/// The refusal of a factor or a session for an API-only user.
pub(crate) fn api_only_refusal(user_id: &str) -> Error {
    Error::FailedPrecondition(format!(
        "user `{}` is an API-only user: it signs with its API keys and has no authenticators, TOTP, recovery \
         codes, sessions or OTP login",
        crypto::clip(user_id)
    ))
}

/// A new user of `org_id` whose contacts were set by an activity of `set_by` (its own
/// organization, or the parent creating it), which vouches for them (see
/// [`User::contact_serves_login`]).
pub(crate) fn new_user(
    org_id: &str,
    set_by: &str,
    name: &str,
    email: Option<&str>,
    phone: Option<&str>,
    now: i64,
) -> Result<User> {
    let email = email.and_then(optional).map(check_email).transpose()?;
    let phone = phone.and_then(optional).map(check_phone).transpose()?;
    Ok(User {
        id: new_id(),
        organization_id: org_id.to_owned(),
        name: check_name("userName", name)?,
        email_vouched_by: email.as_ref().map(|_| set_by.to_owned()),
        phone_vouched_by: phone.as_ref().map(|_| set_by.to_owned()),
        admin_since: None,
        api_only: false,
        email,
        phone,
        created_at: now,
        updated_at: now,
        email_verified_at: None,
        phone_verified_at: None,
    })
}

/// Registers a new user's passkeys ([`super::factors::new_passkey`]).
pub(crate) async fn insert_passkeys(
    tx: &mut dyn StoreTx,
    ctx: &ExecContext<'_>,
    org_id: &str,
    user: &User,
    authenticators: &[crate::intents::AuthenticatorParams],
) -> Result<()> {
    for a in authenticators {
        let factor = super::factors::new_passkey(tx, ctx, org_id, &user.id, &user.name, a).await?;
        tx.insert_factor(&factor).await?;
    }
    Ok(())
}

pub(crate) async fn insert_keys(
    tx: &mut dyn StoreTx,
    org_id: &str,
    user_id: &str,
    keys: &[ApiKeyParams],
    now: i64,
) -> Result<Vec<String>> {
    let mut ids = Vec::with_capacity(keys.len());
    for k in keys {
        let (verify_key, lifetime_ms) = check_api_key(k)?;
        let key = ApiKey {
            id: new_id(),
            organization_id: org_id.to_owned(),
            user_id: user_id.to_owned(),
            name: check_name("apiKeyName", &k.api_key_name)?,
            public_key: k.public_key.to_ascii_lowercase(),
            verify_key,
            curve: k.curve_type,
            created_at: now,
            updated_at: now,
            expires_at: lifetime_ms.map(|l| now.saturating_add(l)),
            kind: crate::model::KeyKind::ApiKey,
            session_profile_id: None,
        };
        tx.insert_api_key(&key).await?;
        ids.push(key.id);
    }
    Ok(ids)
}

async fn existing_tags(tx: &mut dyn StoreTx, org_id: &str, tag_ids: &[String]) -> Result<Vec<String>> {
    if tag_ids.is_empty() {
        return Ok(Vec::new());
    }
    let tags = tx.list_user_tags(org_id).await?;
    if let Some(missing) = tag_ids.iter().find(|id| !tags.iter().any(|t| &t.id == *id)) {
        return Err(Error::NotFound(format!("no user tag `{}` in this organization", crypto::clip(missing))));
    }
    Ok(tag_ids.to_vec())
}

/// Which of `user_ids` are administrators of `org_id`: root-quorum members, or holding a tag
/// named in `admin_tags`. Reads only those users' tags, whatever the organization's size.
pub(crate) async fn administrators_among(
    tx: &mut dyn StoreTx,
    org_id: &str,
    user_ids: &[&str],
    admin_tags: &[String],
) -> Result<BTreeSet<String>> {
    let quorum = tx.root_quorum_members(org_id).await?;
    let mut admins: BTreeSet<String> = quorum.into_iter().filter(|m| user_ids.contains(&m.as_str())).collect();
    if admins.len() == user_ids.len() {
        return Ok(admins);
    }
    let memberships = tx.tag_memberships_of(org_id, user_ids).await?;
    if memberships.iter().any(|(user, _)| !admins.contains(user)) {
        let tags = tx.list_user_tags(org_id).await?;
        let is_admin_tag = |id: &str| {
            tags.iter().any(|t| t.id == id && crate::enforcement::is_admin(false, &[t.name.as_str()], admin_tags))
        };
        admins.extend(memberships.into_iter().filter(|(_, tag)| is_admin_tag(tag)).map(|(user, _)| user));
    }
    Ok(admins)
}

/// Marks which of `candidates` became administrators since `before` (what
/// [`administrators_among`] gave before the activity ran): their `required for admins`
/// grace clock starts now.
pub(crate) async fn note_promotions(
    tx: &mut dyn StoreTx,
    ctx: &ExecContext<'_>,
    candidates: &[&str],
    before: &BTreeSet<String>,
) -> Result<()> {
    for user_id in administrators_among(tx, ctx.org_id, candidates, ctx.admin_tags).await?.difference(before) {
        if let Some(mut user) = tx.get_user(ctx.org_id, user_id).await? {
            user.admin_since = Some(ctx.now);
            tx.update_user(&user).await?;
        }
    }
    Ok(())
}
