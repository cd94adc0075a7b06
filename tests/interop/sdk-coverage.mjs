// The rest of the auth and policy endpoints twofold serves, each called once through
// @turnkey/http as an app calls it, so that sdk-types.mjs checks every request and answer
// against the SDK's own types (turnkey-sdk.mjs, mfa-sdk.mjs and oidc.mjs cover the others).
// Prints {calls, seen} as JSON; exits non-zero on any failure.
// Usage: node sdk-coverage.mjs <baseUrl> <rootKeyFile>
import { readFileSync } from "node:fs";
import { TurnkeyClient } from "@turnkey/http";
import { ApiKeyStamper } from "@turnkey/api-key-stamper";
import { generateP256KeyPair } from "@turnkey/crypto";
import { calls } from "./record-calls.mjs";

const [baseUrl, keyFile] = process.argv.slice(2);
const rootKey = JSON.parse(readFileSync(keyFile, "utf8"));
const organizationId = rootKey.organizationId;
const clientFor = (k) => new TurnkeyClient({ baseUrl }, new ApiKeyStamper({ apiPublicKey: k.publicKey, apiPrivateKey: k.privateKey }));
const root = clientFor(rootKey);
const t = () => String(Date.now());
const seen = {};

const whoami = await root.getWhoami({ organizationId });
const rootUserId = whoami.userId;
seen.organization = (await root.getOrganization({ organizationId })).organizationData.name;
seen.user = (await root.getUser({ organizationId, userId: rootUserId })).user.userName;
const keys = await root.getApiKeys({ organizationId, userId: rootUserId });
seen.apiKey = (await root.getApiKey({ organizationId, apiKeyId: keys.apiKeys[0].apiKeyId })).apiKey.apiKeyName;
seen.authenticators = (await root.getAuthenticators({ organizationId, userId: rootUserId })).authenticators.length;

// A member with a second key, then its key and itself removed; a tag listed.
const memberKey = generateP256KeyPair();
const spareKey = generateP256KeyPair();
const member = await root.createUsers({
  type: "ACTIVITY_TYPE_CREATE_USERS_V4", timestampMs: t(), organizationId,
  parameters: { users: [{ userName: "coverage-member", apiKeys: [
    { apiKeyName: "main", publicKey: memberKey.publicKey, curveType: "API_KEY_CURVE_P256" },
    { apiKeyName: "spare", publicKey: spareKey.publicKey, curveType: "API_KEY_CURVE_P256" },
  ], authenticators: [], oauthProviders: [], userTags: [] }] },
});
const memberId = member.activity.result.createUsersResult.userIds[0];
const memberKeys = await root.getApiKeys({ organizationId, userId: memberId });
const spare = memberKeys.apiKeys.find((k) => k.apiKeyName === "spare").apiKeyId;
seen.updatedUser = (await root.updateUser({
  type: "ACTIVITY_TYPE_UPDATE_USER", timestampMs: t(), organizationId,
  parameters: { userId: memberId, userName: "coverage-member-2", userTagIds: [] },
})).activity.status;
seen.deletedKeys = (await root.deleteApiKeys({
  type: "ACTIVITY_TYPE_DELETE_API_KEYS", timestampMs: t(), organizationId,
  parameters: { userId: memberId, apiKeyIds: [spare] },
})).activity.status;
seen.tags = (await root.listUserTags({ organizationId })).userTags.length;

// Policies: several at once, one read, updated, deleted; how an activity was decided.
const created = await root.createPolicies({
  type: "ACTIVITY_TYPE_CREATE_POLICIES", timestampMs: t(), organizationId,
  parameters: { policies: [
    { policyName: "coverage-a", effect: "EFFECT_DENY", condition: "activity.resource == 'NOTHING'", notes: "" },
    { policyName: "coverage-b", effect: "EFFECT_ALLOW", condition: "false", notes: "" },
  ] },
});
const [policyA, policyB] = created.activity.result.createPoliciesResult.policyIds;
seen.policy = (await root.getPolicy({ organizationId, policyId: policyA })).policy.policyName;
seen.updatedPolicy = (await root.updatePolicy({
  type: "ACTIVITY_TYPE_UPDATE_POLICY_V2", timestampMs: t(), organizationId,
  parameters: { policyId: policyA, policyName: "coverage-a-2", policyNotes: "renamed" },
})).activity.status;
seen.deletedPolicy = (await root.deletePolicy({
  type: "ACTIVITY_TYPE_DELETE_POLICY", timestampMs: t(), organizationId, parameters: { policyId: policyB },
})).activity.status;
seen.evaluations = (await root.getPolicyEvaluations({ organizationId, activityId: created.activity.id })).policyEvaluations.length;
seen.activities = (await root.getActivities({ organizationId, filterByStatus: ["ACTIVITY_STATUS_COMPLETED"], paginationOptions: { limit: "5" } })).activities.length;

// A held activity rejected: the member's tag needs the root's approval, which it refuses.
await root.createPolicy({
  type: "ACTIVITY_TYPE_CREATE_POLICY_V3", timestampMs: t(), organizationId,
  parameters: { policyName: "tags need two", effect: "EFFECT_ALLOW", condition: "activity.resource == 'USER' && activity.action == 'CREATE'", consensus: "approvers.count() >= 2", notes: "" },
});
const held = await clientFor(memberKey).createUserTag({
  type: "ACTIVITY_TYPE_CREATE_USER_TAG", timestampMs: t(), organizationId, parameters: { userTagName: "held", userIds: [] },
});
seen.held = held.activity.status;
seen.rejected = (await root.rejectActivity({
  type: "ACTIVITY_TYPE_REJECT_ACTIVITY", timestampMs: t(), organizationId, parameters: { fingerprint: held.activity.fingerprint },
})).activity.status;
seen.deletedUsers = (await root.deleteUsers({
  type: "ACTIVITY_TYPE_DELETE_USERS", timestampMs: t(), organizationId, parameters: { userIds: [memberId] },
})).activity.status;

// The IP allow list: set (the test's loopback address included), read, removed.
seen.allowlistSet = (await root.setIpAllowlist({
  type: "ACTIVITY_TYPE_SET_IP_ALLOWLIST", timestampMs: t(), organizationId,
  parameters: { enabled: true, rules: [{ cidr: "127.0.0.0/8", label: "loopback" }, { cidr: "10.0.0.0/8" }] },
})).activity.status;
seen.allowlist = await root.getIpAllowlist({ organizationId });
seen.allowlistRemoved = (await root.removeIpAllowlist({
  type: "ACTIVITY_TYPE_REMOVE_IP_ALLOWLIST", timestampMs: t(), organizationId, parameters: {},
})).activity.status;

// An MFA policy read, updated and deleted; a session profile read; a webhook listed and deleted.
const mfa = await root.createMfaPolicy({
  type: "ACTIVITY_TYPE_CREATE_MFA_POLICY", timestampMs: t(), organizationId,
  parameters: { userId: rootUserId, mfaPolicyName: "coverage", condition: "activity.resource == 'NOTHING'", requiredAuthenticationMethods: [{ any: [{ type: "AUTHENTICATION_TYPE_API_KEY" }] }], order: 5 },
});
const mfaPolicyId = mfa.activity.result.createMfaPolicyResult.mfaPolicyId;
seen.mfaPolicy = (await root.getMfaPolicy({ organizationId, userId: rootUserId, mfaPolicyId })).mfaPolicy.mfaPolicyName;
seen.mfaUpdated = (await root.updateMfaPolicy({
  type: "ACTIVITY_TYPE_UPDATE_MFA_POLICY", timestampMs: t(), organizationId,
  parameters: { userId: rootUserId, mfaPolicyId, mfaPolicyName: "coverage-2", notes: "renamed" },
})).activity.status;
seen.mfaDeleted = (await root.deleteMfaPolicy({
  type: "ACTIVITY_TYPE_DELETE_MFA_POLICY", timestampMs: t(), organizationId, parameters: { userId: rootUserId, mfaPolicyId },
})).activity.status;
const profile = await root.createSessionProfile({
  type: "ACTIVITY_TYPE_CREATE_SESSION_PROFILE", timestampMs: t(), organizationId,
  parameters: { sessionProfileName: "coverage", scope: "activity.resource == 'USER'", expirationSeconds: "600" },
});
const sessionProfileId = profile.activity.result.createSessionProfileResult.sessionProfileId;
seen.profile = (await root.getSessionProfile({ organizationId, sessionProfileId })).sessionProfile.sessionProfileName;
const hook = await root.createWebhookEndpoint({
  type: "ACTIVITY_TYPE_CREATE_WEBHOOK_ENDPOINT", timestampMs: t(), organizationId,
  parameters: { url: "https://hooks.example.com/coverage", name: "coverage" },
});
seen.hooks = (await root.listWebhookEndpoints({ organizationId })).webhookEndpoints.length;
seen.hookDeleted = (await root.deleteWebhookEndpoint({
  type: "ACTIVITY_TYPE_DELETE_WEBHOOK_ENDPOINT", timestampMs: t(), organizationId,
  parameters: { endpointId: hook.activity.result.createWebhookEndpointResult.endpointId },
})).activity.status;

// The root quorum, set to what it is.
seen.quorum = (await root.updateRootQuorum({
  type: "ACTIVITY_TYPE_UPDATE_ROOT_QUORUM", timestampMs: t(), organizationId, parameters: { threshold: 1, userIds: [rootUserId] },
})).activity.status;

console.log(JSON.stringify({ calls, seen }));
