//! Execution: the effects of an allowed activity, inside the activity's transaction.
//! Parameters were validated before the activity was recorded; what is checked here
//! depends on stored state (users exist, names are free), and a failed check leaves
//! the activity FAILED with no effects (the caller rolls back to a savepoint).

use serde_json::{Value, json};
use twofold_policy::Keywords;

use super::new_id;
use crate::activities::{Activity, Done, Empty, ExecContext, Executed, Intent, results};
use crate::crypto;
use crate::error::{Error, Result};
use crate::intents::{
    ApiKeyParams, CreateApiKeys, CreatePolicies, CreatePolicy, CreateSubOrganization, CreateUserTag, CreateUsers,
    DeleteApiKeys, DeletePolicy, DeleteUsers, RemoveIpAllowlist, SetIpAllowlist, SetIpDenylist, UpdatePolicy,
    UpdateRootQuorum, UpdateUser,
};
use crate::model::{ApiKey, Channel, Organization, Policy, User, UserTag};
use crate::network::{IpRule, IpRuleSet, ListKind};
use crate::otp::OtpChannel;
use crate::store::StoreTx;
use crate::validate::{
    check_api_key, check_count, check_email, check_expression, check_keys, check_name, check_person, check_phone,
    check_policy, check_threshold, on_error, optional, reject_unsupported, unique,
};

/// Applies a validated `intent`; returns the result object (without its key).
pub(super) async fn execute(tx: &mut dyn StoreTx, ctx: &ExecContext<'_>, intent: &Intent) -> Result<Executed> {
    let intent = super::redact::opened(ctx, intent)?;
    let intent = intent.as_ref();
    let candidates = super::enforcement::may_promote(intent);
    if candidates.is_empty() {
        return intent.execute(tx, ctx).await;
    }
    // Who of them is an administrator before and after: a newly made one starts its own grace clock.
    let before = super::enforcement::administrators_among(tx, ctx.org_id, &candidates, ctx.admin_tags).await?;
    let done = intent.execute(tx, ctx).await?;
    super::enforcement::note_promotions(tx, ctx, &candidates, &before).await?;
    Ok(done)
}

results! {
    /// `v1CreateUsersResult`.
    CreateUsersResult { user_ids: Vec<String> }
    /// `v1DeleteUsersResult`.
    DeleteUsersResult { user_ids: Vec<String> }
    /// `v1UpdateUserResult`.
    UpdateUserResult { user_id: String }
    /// `v1CreateUserTagResult`.
    CreateUserTagResult { user_tag_id: String, user_ids: Vec<String> }
    /// `v1CreateApiKeysResult`.
    CreateApiKeysResult { api_key_ids: Vec<String> }
    /// `v1DeleteApiKeysResult`.
    DeleteApiKeysResult { api_key_ids: Vec<String> }
    /// `v1CreateSubOrganizationResultV7`.
    CreateSubOrganizationResult { sub_organization_id: String, root_user_ids: Vec<String> }
    /// `v1CreatePolicyResult`.
    CreatePolicyResult { policy_id: String }
    /// `v1CreatePoliciesResult`.
    CreatePoliciesResult { policy_ids: Vec<String> }
    /// `v1UpdatePolicyResultV2`.
    UpdatePolicyResult { policy_id: String }
    /// `v1DeletePolicyResult`.
    DeletePolicyResult { policy_id: String }
}

/// CREATE_USERS: users with their API keys and tags.
impl Activity for CreateUsers {
    type Output = CreateUsersResult;

    fn check(&self) -> Result<()> {
        check_count("users", self.users.len(), 1)?;
        for u in &self.users {
            reject_unsupported(&u.authenticators, &u.oauth_providers)?;
            check_person(&u.user_name, u.user_email.as_deref(), u.user_phone_number.as_deref())?;
            check_keys(&u.api_keys)?;
            unique("userTags", u.user_tags.as_deref().unwrap_or_default())?;
        }
        Ok(())
    }

    fn policy_params(&self) -> Value {
        json!({
            "user_names": self.users.iter().map(|u| u.user_name.as_str()).collect::<Vec<_>>(),
            "user_tags": self.users.iter().flat_map(|u| u.user_tags.iter().flatten()).collect::<Vec<_>>(),
        })
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
            let tags = existing_tags(tx, org_id, u.user_tags.as_deref().unwrap_or_default()).await?;
            tx.set_user_tags(&user.id, &tags).await?;
            user_ids.push(user.id);
        }
        Ok(CreateUsersResult { user_ids }.into())
    }
}

/// DELETE_USERS: never a root-quorum member (the quorum changes first).
impl Activity for DeleteUsers {
    type Output = DeleteUsersResult;

    fn check(&self) -> Result<()> {
        check_count("userIds", self.user_ids.len(), 1)?;
        unique("userIds", &self.user_ids).map(drop)
    }

    fn policy_params(&self) -> Value {
        json!({ "user_ids": self.user_ids })
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

/// CREATE_USER_TAG: a tag with a free name, given to existing users.
impl Activity for CreateUserTag {
    type Output = CreateUserTagResult;

    fn check(&self) -> Result<()> {
        check_name("userTagName", &self.user_tag_name)?;
        unique("userIds", &self.user_ids).map(drop)
    }

    fn policy_params(&self) -> Value {
        json!({ "user_tag_name": self.user_tag_name, "user_ids": self.user_ids })
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
            tx.get_user(org_id, uid).await?.ok_or_else(|| no_user(uid))?;
            tx.add_user_to_tag(&tag.id, uid).await?;
        }
        Ok(CreateUserTagResult { user_tag_id: tag.id, user_ids: p.user_ids.clone() }.into())
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
        json!({ "user_id": self.user_id })
    }

    fn own_credential_target(&self) -> Option<&str> {
        Some(&self.user_id)
    }

    fn changes_factors(&self) -> bool {
        true
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<CreateApiKeysResult>> {
        tx.get_user(ctx.org_id, &self.user_id).await?.ok_or_else(|| no_user(&self.user_id))?;
        let api_key_ids = insert_keys(tx, ctx.org_id, &self.user_id, &self.api_keys, ctx.now).await?;
        Ok(CreateApiKeysResult { api_key_ids }.into())
    }
}

/// DELETE_API_KEYS: every id must be one of the user's keys.
impl Activity for DeleteApiKeys {
    type Output = DeleteApiKeysResult;

    fn check(&self) -> Result<()> {
        check_count("apiKeyIds", self.api_key_ids.len(), 1)?;
        unique("apiKeyIds", &self.api_key_ids).map(drop)
    }

    fn policy_params(&self) -> Value {
        json!({ "user_id": self.user_id, "api_key_ids": self.api_key_ids })
    }

    fn own_credential_target(&self) -> Option<&str> {
        Some(&self.user_id)
    }

    fn changes_factors(&self) -> bool {
        true
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<DeleteApiKeysResult>> {
        let p = self;
        tx.get_user(ctx.org_id, &p.user_id).await?.ok_or_else(|| no_user(&p.user_id))?;
        for id in &p.api_key_ids {
            if !tx.delete_api_key(ctx.org_id, &p.user_id, id).await? {
                return Err(Error::NotFound(format!("user `{}` has no API key `{}`", p.user_id, crypto::clip(id))));
            }
        }
        Ok(DeleteApiKeysResult { api_key_ids: p.api_key_ids.clone() }.into())
    }
}

/// CREATE_SUB_ORGANIZATION: a sign-up with a verification token or OTP switches goes through
/// the OTP module, which creates the organization with [`new_sub_organization`].
impl Activity for CreateSubOrganization {
    type Output = CreateSubOrganizationResult;

    fn check(&self) -> Result<()> {
        let p = self;
        if p.wallet.is_some() {
            return Err(Error::invalid("parameters.wallet: twofold holds no wallets; omit `wallet`"));
        }
        match (&p.verification_token, &p.client_signature) {
            (Some(token), Some(signature)) => crate::otp::validate_signed_token(token, signature)?,
            (None, None) => {}
            _ => {
                return Err(Error::invalid(
                    "parameters.clientSignature: OTP sign-up needs both `verificationToken` and `clientSignature`",
                ));
            }
        }
        check_name("subOrganizationName", &p.sub_organization_name)?;
        check_count("rootUsers", p.root_users.len(), 1)?;
        check_threshold(p.root_quorum_threshold, p.root_users.len())?;
        for u in &p.root_users {
            if u.user_tags.is_some() {
                return Err(Error::invalid(
                    "parameters.rootUsers[].userTags: root users of a new sub-organization cannot carry tags",
                ));
            }
            reject_unsupported(&u.authenticators, &u.oauth_providers)?;
            check_person(&u.user_name, u.user_email.as_deref(), u.user_phone_number.as_deref())?;
            check_keys(&u.api_keys)?;
        }
        Ok(())
    }

    fn policy_params(&self) -> Value {
        json!({ "sub_organization_name": self.sub_organization_name })
    }

    fn secrets_mut(&mut self) -> Vec<(&'static str, &mut String)> {
        self.verification_token.as_mut().map(|t| ("verificationToken", t)).into_iter().collect()
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<CreateSubOrganizationResult>> {
        let p = self;
        if p.verification_token.is_some() || p.disable_sms_auth.is_some() || p.disable_otp_email_auth.is_some() {
            return super::otp::sign_up(tx, ctx, p).await.map(Done::from);
        }
        new_sub_organization(tx, ctx, p).await.map(Done::from)
    }
}

/// The sub-organization itself, its root users (whose contacts the parent vouches for) and
/// its root quorum; `{subOrganizationId, rootUserIds}`.
pub(super) async fn new_sub_organization(
    tx: &mut dyn StoreTx,
    ctx: &ExecContext<'_>,
    p: &CreateSubOrganization,
) -> Result<CreateSubOrganizationResult> {
    let (org_id, now) = (ctx.org_id, ctx.now);
    let sub = Organization {
        id: new_id(),
        name: check_name("subOrganizationName", &p.sub_organization_name)?,
        parent_id: Some(org_id.to_owned()),
        root_quorum_threshold: p.root_quorum_threshold,
        created_at: now,
        updated_at: now,
    };
    tx.insert_organization(&sub).await?;
    let mut root_ids = Vec::with_capacity(p.root_users.len());
    for u in &p.root_users {
        let (email, phone) = (u.user_email.as_deref(), u.user_phone_number.as_deref());
        let user = new_user(&sub.id, org_id, &u.user_name, email, phone, now)?;
        tx.insert_user(&user).await?;
        insert_keys(tx, &sub.id, &user.id, &u.api_keys, now).await?;
        root_ids.push(user.id);
    }
    tx.set_root_quorum(&sub.id, p.root_quorum_threshold, &root_ids, now).await?;
    Ok(CreateSubOrganizationResult { sub_organization_id: sub.id, root_user_ids: root_ids })
}

/// UPDATE_ROOT_QUORUM: existing users only.
impl Activity for UpdateRootQuorum {
    type Output = Empty;

    fn check(&self) -> Result<()> {
        check_count("userIds", self.user_ids.len(), 1)?;
        check_threshold(self.threshold, self.user_ids.len())?;
        unique("userIds", &self.user_ids).map(drop)
    }

    fn policy_params(&self) -> Value {
        json!({ "threshold": self.threshold, "user_ids": self.user_ids })
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<Empty>> {
        for uid in &self.user_ids {
            tx.get_user(ctx.org_id, uid).await?.ok_or_else(|| no_user(uid))?;
        }
        tx.set_root_quorum(ctx.org_id, self.threshold, &self.user_ids, ctx.now).await?;
        Ok(Empty {}.into())
    }
}

/// CREATE_POLICY.
impl Activity for CreatePolicy {
    type Output = CreatePolicyResult;

    fn check(&self) -> Result<()> {
        check_policy(self)
    }

    fn policy_params(&self) -> Value {
        json!({ "policy_name": self.policy_name, "effect": self.effect })
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<CreatePolicyResult>> {
        Ok(CreatePolicyResult { policy_id: insert_policy(tx, ctx.org_id, self, ctx.now).await? }.into())
    }
}

/// CREATE_POLICIES: all or none.
impl Activity for CreatePolicies {
    type Output = CreatePoliciesResult;

    fn check(&self) -> Result<()> {
        check_count("policies", self.policies.len(), 1)?;
        self.policies.iter().try_for_each(check_policy)
    }

    fn policy_params(&self) -> Value {
        json!({ "policy_names": self.policies.iter().map(|x| x.policy_name.as_str()).collect::<Vec<_>>() })
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<CreatePoliciesResult>> {
        let mut policy_ids = Vec::with_capacity(self.policies.len());
        for policy in &self.policies {
            policy_ids.push(insert_policy(tx, ctx.org_id, policy, ctx.now).await?);
        }
        Ok(CreatePoliciesResult { policy_ids }.into())
    }
}

/// UPDATE_POLICY: the fields given; a blank expression clears it.
impl Activity for UpdatePolicy {
    type Output = UpdatePolicyResult;

    fn check(&self) -> Result<()> {
        if let Some(name) = &self.policy_name {
            check_name("policyName", name)?;
        }
        check_expression("policyCondition", self.policy_condition.as_deref(), Keywords::CONDITION)?;
        check_expression("policyConsensus", self.policy_consensus.as_deref(), Keywords::CONSENSUS)?;
        check_expression("time", self.time.as_deref(), Keywords::TIME)
    }

    fn policy_params(&self) -> Value {
        json!({ "policy_id": self.policy_id })
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<UpdatePolicyResult>> {
        let p = self;
        let mut policy = tx.get_policy(ctx.org_id, &p.policy_id).await?.ok_or_else(|| no_policy(&p.policy_id))?;
        if let Some(name) = &p.policy_name {
            policy.name = check_name("policyName", name)?;
        }
        if let Some(effect) = p.policy_effect {
            policy.effect = effect;
        }
        let set = |new: &Option<String>, old: &mut Option<String>| {
            if let Some(v) = new {
                *old = non_blank(Some(v));
            }
        };
        set(&p.policy_condition, &mut policy.condition);
        set(&p.policy_consensus, &mut policy.consensus);
        set(&p.time, &mut policy.time);
        if let Some(notes) = &p.policy_notes {
            policy.notes.clone_from(notes);
        }
        policy.updated_at = ctx.now;
        tx.update_policy(&policy).await?;
        Ok(UpdatePolicyResult { policy_id: policy.id }.into())
    }
}

/// DELETE_POLICY.
impl Activity for DeletePolicy {
    type Output = DeletePolicyResult;

    fn policy_params(&self) -> Value {
        json!({ "policy_id": self.policy_id })
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<DeletePolicyResult>> {
        if !tx.delete_policy(ctx.org_id, &self.policy_id).await? {
            return Err(no_policy(&self.policy_id));
        }
        Ok(DeletePolicyResult { policy_id: self.policy_id.clone() }.into())
    }
}

/// SET_IP_ALLOWLIST: the organization's, or one API key's (which must exist here).
impl Activity for SetIpAllowlist {
    type Output = Empty;

    fn check(&self) -> Result<()> {
        crate::network::validate_rules("parameters.rules", &self.rules)?;
        self.on_evaluation_error.as_deref().map(on_error).transpose().map(drop)
    }

    fn policy_params(&self) -> Value {
        json!({ "public_key": self.public_key, "rule_count": self.rules.len() })
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<Empty>> {
        let p = self;
        let org_id = ctx.org_id;
        if let Some(pk) = &p.public_key
            && !tx.list_api_keys(org_id, None).await?.iter().any(|k| k.public_key.eq_ignore_ascii_case(pk))
        {
            return Err(Error::NotFound(format!(
                "no API key with public key `{}` in this organization",
                crypto::clip(pk)
            )));
        }
        let mode = p.on_evaluation_error.as_deref().map(on_error).transpose()?.unwrap_or("DENY");
        let set = rule_set(org_id, p.public_key.as_deref(), ListKind::Allow, p.enabled, mode, &p.rules, ctx.now);
        tx.put_ip_rule_set(&set).await?;
        Ok(Empty {}.into())
    }
}

/// REMOVE_IP_ALLOWLIST.
impl Activity for RemoveIpAllowlist {
    type Output = Empty;

    fn policy_params(&self) -> Value {
        json!({ "public_key": self.public_key })
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<Empty>> {
        let pk = self.public_key.as_deref().map(str::to_ascii_lowercase);
        if !tx.delete_ip_rule_set(ctx.org_id, pk.as_deref(), ListKind::Allow).await? {
            return Err(Error::NotFound("there is no such IP allow list".to_owned()));
        }
        Ok(Empty {}.into())
    }
}

/// SET_IP_DENYLIST.
impl Activity for SetIpDenylist {
    type Output = Empty;

    fn check(&self) -> Result<()> {
        crate::network::validate_rules("parameters.rules", &self.rules)
    }

    fn policy_params(&self) -> Value {
        json!({ "rule_count": self.rules.len() })
    }

    async fn execute(&self, tx: &mut dyn StoreTx, ctx: &ExecContext<'_>) -> Result<Done<Empty>> {
        let set = rule_set(ctx.org_id, None, ListKind::Deny, self.enabled, "DENY", &self.rules, ctx.now);
        tx.put_ip_rule_set(&set).await?;
        Ok(Empty {}.into())
    }
}

fn no_policy(id: &str) -> Error {
    Error::NotFound(format!("no policy `{}` in this organization", crypto::clip(id)))
}

fn non_blank(s: Option<&String>) -> Option<String> {
    s.filter(|v| !v.trim().is_empty()).cloned()
}

async fn insert_policy(tx: &mut dyn StoreTx, org_id: &str, p: &CreatePolicy, now: i64) -> Result<String> {
    let policy = Policy {
        id: new_id(),
        organization_id: org_id.to_owned(),
        name: check_name("policyName", &p.policy_name)?,
        effect: p.effect,
        condition: non_blank(p.condition.as_ref()),
        consensus: non_blank(p.consensus.as_ref()),
        time: non_blank(p.time.as_ref()),
        notes: p.notes.clone(),
        created_at: now,
        updated_at: now,
    };
    tx.insert_policy(&policy).await?;
    Ok(policy.id)
}

fn no_user(id: &str) -> Error {
    Error::NotFound(format!("no user `{}` in this organization", crypto::clip(id)))
}

/// A new user of `org_id` whose contacts were set by an activity of `set_by` (its own
/// organization, or the parent creating it), which vouches for them (see
/// [`User::contact_serves_login`]).
pub(super) fn new_user(
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
        email,
        phone,
        created_at: now,
        updated_at: now,
        email_verified_at: None,
        phone_verified_at: None,
    })
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
            crate::otp::check_blob("verificationToken", token)?;
        }
        Ok(())
    }

    fn policy_params(&self) -> Value {
        json!({
            "user_id": self.user_id,
            "user_tag_ids": self.user_tag_ids.clone().unwrap_or_default(),
            "user_name": self.user_name,
            "user_email": self.user_email,
            "user_phone_number": self.user_phone_number,
            "changes": self.changes(),
            "with_verification_token": self.verification_token.is_some(),
        })
    }

    fn own_credential_target(&self) -> Option<&str> {
        self.changes_contact().then_some(self.user_id.as_str())
    }

    fn changes_factors(&self) -> bool {
        self.changes_contact()
    }

    fn secrets_mut(&mut self) -> Vec<(&'static str, &mut String)> {
        self.verification_token.as_mut().map(|t| ("verificationToken", t)).into_iter().collect()
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
        let mut user = tx.get_user(org_id, &p.user_id).await?.ok_or_else(|| no_user(&p.user_id))?;
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
            super::otp::prove_contact(tx, ctx, token, channel, contact).await?;
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

async fn insert_keys(
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

/// A rule set as it will be stored: networks normalized, creation time stamped.
pub(crate) fn rule_set(
    org_id: &str,
    public_key: Option<&str>,
    kind: ListKind,
    enabled: Option<bool>,
    on_error: &str,
    rules: &[IpRule],
    now: i64,
) -> IpRuleSet {
    IpRuleSet {
        organization_id: org_id.to_owned(),
        public_key: public_key.map(str::to_ascii_lowercase),
        kind,
        enabled: enabled.unwrap_or(true),
        on_error: on_error.to_owned(),
        rules: rules
            .iter()
            .map(|r| IpRule {
                cidr: crate::network::parse_cidr(&r.cidr).map(|n| n.to_string()).unwrap_or_else(|| r.cidr.clone()),
                label: r.label.clone().filter(|l| !l.trim().is_empty()),
                created_at: Some(now.to_string()),
            })
            .collect(),
        updated_at: now,
    }
}
