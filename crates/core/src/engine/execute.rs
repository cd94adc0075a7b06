//! Execution: the effects of an allowed activity, inside the activity's transaction.
//! Every check that depends on stored state happens here, so a failed check leaves
//! the activity FAILED with no effects (the caller rolls back to a savepoint).

use std::collections::HashSet;

use serde_json::json;

use super::{Caller, new_id};
use crate::crypto;
use crate::error::{Error, Result};
use crate::intents::{ApiKeyParams, Intent};
use crate::model::{ApiKey, Organization, User, UserTag};
use crate::store::StoreTx;

/// Longest name, email or phone number accepted.
const MAX_FIELD: usize = 256;
/// Longest API key lifetime: ten years.
const MAX_KEY_LIFETIME_SECS: u64 = 10 * 365 * 24 * 3600;
/// Most items in one request (users, keys, ids).
const MAX_ITEMS: usize = 100;

/// Applies `intent` for `caller`; returns the result object (without its key).
pub(super) async fn execute(tx: &mut dyn StoreTx, caller: &Caller, intent: &Intent, now: i64) -> Result<serde_json::Value> {
    let org_id = caller.organization.id.as_str();
    match intent {
        Intent::CreateUsers(p) => {
            check_count("users", p.users.len(), 1)?;
            let mut user_ids = Vec::with_capacity(p.users.len());
            for u in &p.users {
                reject_unsupported(&u.authenticators, &u.oauth_providers)?;
                let user = new_user(org_id, &u.user_name, u.user_email.as_deref(), u.user_phone_number.as_deref(), now)?;
                tx.insert_user(&user).await?;
                insert_keys(tx, org_id, &user.id, &u.api_keys, now).await?;
                let tags = existing_tags(tx, org_id, &u.user_tags).await?;
                tx.set_user_tags(&user.id, &tags).await?;
                user_ids.push(user.id);
            }
            Ok(json!({ "userIds": user_ids }))
        }
        Intent::DeleteUsers(p) => {
            check_count("userIds", p.user_ids.len(), 1)?;
            let quorum = tx.root_quorum_members(org_id).await?;
            for id in unique("userIds", &p.user_ids)? {
                if quorum.iter().any(|m| m == id) {
                    return Err(Error::FailedPrecondition(format!(
                        "user `{id}` is a member of the root quorum; remove it with update_root_quorum first"
                    )));
                }
                if !tx.delete_user(org_id, id).await? {
                    return Err(no_user(id));
                }
            }
            Ok(json!({ "userIds": p.user_ids }))
        }
        Intent::UpdateUser(p) => {
            let mut user = tx.get_user(org_id, &p.user_id).await?.ok_or_else(|| no_user(&p.user_id))?;
            if let Some(name) = &p.user_name {
                user.name = check_name("userName", name)?;
            }
            if let Some(email) = &p.user_email {
                user.email = optional(email).map(check_email).transpose()?;
            }
            if let Some(phone) = &p.user_phone_number {
                user.phone = optional(phone).map(check_phone).transpose()?;
            }
            user.updated_at = now;
            tx.update_user(&user).await?;
            if let Some(tag_ids) = &p.user_tag_ids {
                let tags = existing_tags(tx, org_id, tag_ids).await?;
                tx.set_user_tags(&user.id, &tags).await?;
            }
            Ok(json!({ "userId": user.id }))
        }
        Intent::CreateUserTag(p) => {
            let name = check_name("userTagName", &p.user_tag_name)?;
            if tx.list_user_tags(org_id).await?.iter().any(|t| t.name == name) {
                return Err(Error::AlreadyExists(format!("a user tag named `{name}` already exists")));
            }
            let tag = UserTag { id: new_id(), organization_id: org_id.to_owned(), name, created_at: now, updated_at: now };
            tx.insert_user_tag(&tag).await?;
            for uid in unique("userIds", &p.user_ids)? {
                tx.get_user(org_id, uid).await?.ok_or_else(|| no_user(uid))?;
                tx.add_user_to_tag(&tag.id, uid).await?;
            }
            Ok(json!({ "userTagId": tag.id, "userIds": p.user_ids }))
        }
        Intent::CreateApiKeys(p) => {
            check_count("apiKeys", p.api_keys.len(), 1)?;
            tx.get_user(org_id, &p.user_id).await?.ok_or_else(|| no_user(&p.user_id))?;
            let ids = insert_keys(tx, org_id, &p.user_id, &p.api_keys, now).await?;
            Ok(json!({ "apiKeyIds": ids }))
        }
        Intent::DeleteApiKeys(p) => {
            check_count("apiKeyIds", p.api_key_ids.len(), 1)?;
            tx.get_user(org_id, &p.user_id).await?.ok_or_else(|| no_user(&p.user_id))?;
            for id in unique("apiKeyIds", &p.api_key_ids)? {
                if !tx.delete_api_key(org_id, &p.user_id, id).await? {
                    return Err(Error::NotFound(format!("user `{}` has no API key `{id}`", p.user_id)));
                }
            }
            Ok(json!({ "apiKeyIds": p.api_key_ids }))
        }
        Intent::CreateSubOrganization(p) => {
            if p.wallet.is_some() {
                return Err(Error::invalid("parameters.wallet: twofold holds no wallets; omit `wallet`"));
            }
            if p.verification_token.is_some() || p.client_signature.is_some() {
                return Err(Error::invalid(
                    "parameters.verificationToken: sign-up with an OTP verification token is not available on this server",
                ));
            }
            let name = check_name("subOrganizationName", &p.sub_organization_name)?;
            check_count("rootUsers", p.root_users.len(), 1)?;
            check_threshold(p.root_quorum_threshold, p.root_users.len())?;
            let sub = Organization {
                id: new_id(),
                name,
                parent_id: Some(org_id.to_owned()),
                root_quorum_threshold: p.root_quorum_threshold,
                created_at: now,
                updated_at: now,
            };
            tx.insert_organization(&sub).await?;
            let mut root_ids = Vec::with_capacity(p.root_users.len());
            for u in &p.root_users {
                reject_unsupported(&u.authenticators, &u.oauth_providers)?;
                let user = new_user(&sub.id, &u.user_name, u.user_email.as_deref(), u.user_phone_number.as_deref(), now)?;
                tx.insert_user(&user).await?;
                insert_keys(tx, &sub.id, &user.id, &u.api_keys, now).await?;
                root_ids.push(user.id);
            }
            tx.set_root_quorum(&sub.id, p.root_quorum_threshold, &root_ids, now).await?;
            Ok(json!({ "subOrganizationId": sub.id, "rootUserIds": root_ids }))
        }
        Intent::UpdateRootQuorum(p) => {
            check_count("userIds", p.user_ids.len(), 1)?;
            check_threshold(p.threshold, p.user_ids.len())?;
            for uid in unique("userIds", &p.user_ids)? {
                tx.get_user(org_id, uid).await?.ok_or_else(|| no_user(uid))?;
            }
            tx.set_root_quorum(org_id, p.threshold, &p.user_ids, now).await?;
            Ok(json!({}))
        }
    }
}

fn no_user(id: &str) -> Error {
    Error::NotFound(format!("no user `{}` in this organization", crypto::clip(id)))
}

fn check_count(field: &str, n: usize, min: usize) -> Result<()> {
    if n < min {
        return Err(Error::invalid(format!("parameters.{field}: at least {min} required, found {n}")));
    }
    if n > MAX_ITEMS {
        return Err(Error::invalid(format!("parameters.{field}: at most {MAX_ITEMS} allowed, found {n}")));
    }
    Ok(())
}

fn check_threshold(threshold: i64, members: usize) -> Result<()> {
    let members = i64::try_from(members).unwrap_or(i64::MAX);
    if threshold < 1 || threshold > members {
        return Err(Error::invalid(format!(
            "root quorum threshold must be between 1 and the number of members ({members}), found {threshold}"
        )));
    }
    Ok(())
}

fn unique<'a>(field: &str, ids: &'a [String]) -> Result<Vec<&'a String>> {
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(Error::invalid(format!("parameters.{field}: `{}` is listed twice", crypto::clip(id))));
        }
    }
    Ok(ids.iter().collect())
}

fn reject_unsupported(authenticators: &[serde_json::Value], oauth: &[serde_json::Value]) -> Result<()> {
    if !authenticators.is_empty() {
        return Err(Error::invalid(
            "authenticators: passkeys cannot be registered with this activity on this server; send an empty list",
        ));
    }
    if !oauth.is_empty() {
        return Err(Error::invalid("oauthProviders: OAuth providers are not supported by twofold; send an empty list"));
    }
    Ok(())
}

fn optional(s: &str) -> Option<&str> {
    if s.is_empty() { None } else { Some(s) }
}

fn check_name(field: &str, name: &str) -> Result<String> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid(format!("{field} must not be empty")));
    }
    if trimmed.chars().count() > MAX_FIELD {
        return Err(Error::invalid(format!("{field} is longer than {MAX_FIELD} characters")));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Error::invalid(format!("{field} must not contain control characters")));
    }
    Ok(trimmed.to_owned())
}

fn check_email(email: &str) -> Result<String> {
    let valid = email.len() <= MAX_FIELD
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if valid { Ok(email.to_owned()) } else { Err(Error::invalid(format!("userEmail `{}` is not an email address", crypto::clip(email)))) }
}

fn check_phone(phone: &str) -> Result<String> {
    let digits = phone.strip_prefix('+').unwrap_or("");
    if (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(phone.to_owned())
    } else {
        Err(Error::invalid(format!(
            "userPhoneNumber `{}` must be in E.164 form, e.g. +14155550100",
            crypto::clip(phone)
        )))
    }
}

fn new_user(org_id: &str, name: &str, email: Option<&str>, phone: Option<&str>, now: i64) -> Result<User> {
    Ok(User {
        id: new_id(),
        organization_id: org_id.to_owned(),
        name: check_name("userName", name)?,
        email: email.and_then(optional).map(check_email).transpose()?,
        phone: phone.and_then(optional).map(check_phone).transpose()?,
        created_at: now,
        updated_at: now,
    })
}

async fn insert_keys(tx: &mut dyn StoreTx, org_id: &str, user_id: &str, keys: &[ApiKeyParams], now: i64) -> Result<Vec<String>> {
    let mut ids = Vec::with_capacity(keys.len());
    for k in keys {
        let verify_key = crypto::parse_public_key(k.curve_type, &k.public_key)?;
        let expires_at = match k.expiration_seconds {
            None => None,
            Some(0) => return Err(Error::invalid("expirationSeconds must be positive")),
            Some(s) if s > MAX_KEY_LIFETIME_SECS => {
                return Err(Error::invalid(format!("expirationSeconds must be at most {MAX_KEY_LIFETIME_SECS} (ten years)")));
            }
            Some(s) => Some(now + i64::try_from(s).unwrap_or(i64::MAX / 2) * 1000),
        };
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
            expires_at,
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
    for id in unique("userTags", tag_ids)? {
        if !tags.iter().any(|t| &t.id == id) {
            return Err(Error::NotFound(format!("no user tag `{}` in this organization", crypto::clip(id))));
        }
    }
    Ok(tag_ids.to_vec())
}
