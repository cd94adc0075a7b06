// Drives a twofold server with Turnkey's unchanged npm clients.
// Usage: node turnkey-sdk.mjs <baseUrl> <keyFile>
// Prints one JSON object with what the server answered; exits non-zero on any failure.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { secp256k1 } from "@noble/curves/secp256k1";
import { TurnkeyClient } from "@turnkey/http";
import { calls } from "./record-calls.mjs";
import { ApiKeyStamper } from "@turnkey/api-key-stamper";
import { computeActivityFingerprint, generateP256KeyPair } from "@turnkey/crypto";

const [baseUrl, keyFile] = process.argv.slice(2);
const key = JSON.parse(readFileSync(keyFile, "utf8"));
const stamper = new ApiKeyStamper({ apiPublicKey: key.publicKey, apiPrivateKey: key.privateKey });
const client = new TurnkeyClient({ baseUrl }, stamper);
const organizationId = key.organizationId;

const whoami = await client.getWhoami({ organizationId });

// The SDK's own createUsers call, with the V4 shape it sends.
const created = await client.createUsers({
  type: "ACTIVITY_TYPE_CREATE_USERS_V4",
  timestampMs: String(Date.now()),
  organizationId,
  parameters: {
    users: [{ userName: "sdk-user", userEmail: "sdk@example.com", apiKeys: [], authenticators: [], oauthProviders: [], userTags: [] }],
  },
});

// @turnkey/core's updateUserName goes through this call of @turnkey/http.
const renamed = await client.updateUserName({
  type: "ACTIVITY_TYPE_UPDATE_USER_NAME",
  timestampMs: String(Date.now()),
  organizationId,
  parameters: { userId: created.activity.result.createUsersResult.userIds[0], userName: "sdk-renamed" },
});

// updateUserEmail / updateUserPhoneNumber, as @turnkey/core sends them.
const emailed = await client.updateUserEmail({
  type: "ACTIVITY_TYPE_UPDATE_USER_EMAIL",
  timestampMs: String(Date.now()),
  organizationId,
  parameters: { userId: created.activity.result.createUsersResult.userIds[0], userEmail: "sdk-new@example.com" },
});
const phoned = await client.updateUserPhoneNumber({
  type: "ACTIVITY_TYPE_UPDATE_USER_PHONE_NUMBER",
  timestampMs: String(Date.now()),
  organizationId,
  parameters: { userId: created.activity.result.createUsersResult.userIds[0], userPhoneNumber: "+15555550100" },
});

// A stamped request sent by hand, to compare the server's fingerprint with the SDK's.
const signed = await client.stampCreateUsers({
  type: "ACTIVITY_TYPE_CREATE_USERS_V4",
  timestampMs: String(Date.now()),
  organizationId,
  generateAppProofs: false,
  parameters: { users: [{ userName: "sdk-user-2", apiKeys: [], authenticators: [], oauthProviders: [], userTags: [] }] },
});
const resp = await fetch(signed.url, {
  method: "POST",
  body: signed.body,
  headers: { [signed.stamp.stampHeaderName]: signed.stamp.stampHeaderValue, "X-Client-Version": "interop-test" },
});
const manual = await resp.json();

// @turnkey/core's deleteSubOrganization: the sub-organization's own root user, with its own key.
const subKey = generateP256KeyPair();
const sub = await client.createSubOrganization({
  type: "ACTIVITY_TYPE_CREATE_SUB_ORGANIZATION_V8",
  timestampMs: String(Date.now()),
  organizationId,
  parameters: {
    subOrganizationName: "sdk-sub",
    rootQuorumThreshold: 1,
    rootUsers: [{ userName: "sdk-sub-owner", apiKeys: [{ apiKeyName: "owner", publicKey: subKey.publicKey, curveType: "API_KEY_CURVE_P256" }], authenticators: [], oauthProviders: [] }],
  },
});
const subOrganizationId = sub.activity.result.createSubOrganizationResultV8?.subOrganizationId;
const subClient = new TurnkeyClient({ baseUrl }, new ApiKeyStamper({ apiPublicKey: subKey.publicKey, apiPrivateKey: subKey.privateKey }));
const deletedSub = await subClient.deleteSubOrganization({
  type: "ACTIVITY_TYPE_DELETE_SUB_ORGANIZATION",
  timestampMs: String(Date.now()),
  organizationId: subOrganizationId,
  parameters: { deleteWithoutExport: false },
});
const subsAfter = await client.getSubOrgIds({ organizationId });

// Policies deleted in bulk, and the organization renamed (root quorum), as @turnkey/http sends them.
const policyIds = [];
for (const policyName of ["sdk-bulk-1", "sdk-bulk-2"]) {
  const made = await client.createPolicy({
    type: "ACTIVITY_TYPE_CREATE_POLICY_V3",
    timestampMs: String(Date.now()),
    organizationId,
    parameters: { policyName, effect: "EFFECT_ALLOW", condition: "activity.resource == 'USER'", consensus: "true", notes: "" },
  });
  policyIds.push(made.activity.result.createPolicyResult.policyId);
}
const deletedPolicies = await client.deletePolicies({
  type: "ACTIVITY_TYPE_DELETE_POLICIES",
  timestampMs: String(Date.now()),
  organizationId,
  parameters: { policyIds },
});
const renamedOrg = await client.updateOrganizationName({
  type: "ACTIVITY_TYPE_UPDATE_ORGANIZATION_NAME",
  timestampMs: String(Date.now()),
  organizationId,
  parameters: { organizationName: "SDK Renamed Org" },
});
const whoamiAfter = await client.getWhoami({ organizationId });

// User tags renamed, filled and deleted, as @turnkey/http sends them.
const sdkUser = created.activity.result.createUsersResult.userIds[0];
const tagged = await client.createUserTag({
  type: "ACTIVITY_TYPE_CREATE_USER_TAG",
  timestampMs: String(Date.now()),
  organizationId,
  parameters: { userTagName: "sdk-tag", userIds: [] },
});
const userTagId = tagged.activity.result.createUserTagResult.userTagId;
const updatedTag = await client.updateUserTag({
  type: "ACTIVITY_TYPE_UPDATE_USER_TAG",
  timestampMs: String(Date.now()),
  organizationId,
  parameters: { userTagId, newUserTagName: "sdk-tag-renamed", addUserIds: [sdkUser], removeUserIds: [] },
});
const deletedTags = await client.deleteUserTags({
  type: "ACTIVITY_TYPE_DELETE_USER_TAGS",
  timestampMs: String(Date.now()),
  organizationId,
  parameters: { userTagIds: [userTagId] },
});

// A service account: createApiOnlyUsers with the SDK's apiApiKeyParams (no curve field); it
// signs its own requests, and its stamp_login (a console sign-in) is refused.
const robotKey = generateP256KeyPair();
const apiOnly = await client.createApiOnlyUsers({
  type: "ACTIVITY_TYPE_CREATE_API_ONLY_USERS",
  timestampMs: String(Date.now()),
  organizationId,
  parameters: { apiOnlyUsers: [{ userName: "sdk-robot", userTags: [], apiKeys: [{ apiKeyName: "robot", publicKey: robotKey.publicKey }] }] },
});
const robot = new TurnkeyClient({ baseUrl }, new ApiKeyStamper({ apiPublicKey: robotKey.publicKey, apiPrivateKey: robotKey.privateKey }));
const robotWhoami = await robot.getWhoami({ organizationId });
const robotLogin = await robot
  .stampLogin({
    type: "ACTIVITY_TYPE_STAMP_LOGIN",
    timestampMs: String(Date.now()),
    organizationId,
    parameters: { publicKey: generateP256KeyPair().publicKey, expirationSeconds: "900" },
  })
  .then((a) => ({ status: a.activity.status, failure: a.activity.failure }), (e) => ({ error: String(e.message || e) }));

// A secp256k1 API key (API_KEY_CURVE_SECP256K1) for the robot, and a stamper signing as
// Turnkey's SIGNATURE_SCHEME_TK_API_SECP256K1 does: DER ECDSA over SHA-256 of the body.
const k1Private = secp256k1.utils.randomPrivateKey();
const k1Public = Buffer.from(secp256k1.getPublicKey(k1Private, true)).toString("hex");
const k1Stamper = (scheme, highS = false) => ({
  async stamp(payload) {
    let sig = secp256k1.sign(createHash("sha256").update(payload).digest(), k1Private);
    if (highS) sig = new secp256k1.Signature(sig.r, secp256k1.CURVE.n - sig.s);
    const stamp = { publicKey: k1Public, scheme, signature: sig.toDERHex() };
    return { stampHeaderName: "X-Stamp", stampHeaderValue: Buffer.from(JSON.stringify(stamp)).toString("base64url") };
  },
});
const robotId = apiOnly.activity.result.createApiOnlyUsersResult.userIds[0];
const k1Key = await client.createApiKeys({
  type: "ACTIVITY_TYPE_CREATE_API_KEYS_V2",
  timestampMs: String(Date.now()),
  organizationId,
  parameters: { userId: robotId, apiKeys: [{ apiKeyName: "robot-k1", publicKey: k1Public, curveType: "API_KEY_CURVE_SECP256K1" }] },
});
const k1Whoami = await new TurnkeyClient({ baseUrl }, k1Stamper("SIGNATURE_SCHEME_TK_API_SECP256K1")).getWhoami({ organizationId });
const k1HighS = await new TurnkeyClient({ baseUrl }, k1Stamper("SIGNATURE_SCHEME_TK_API_SECP256K1", true)).getWhoami({ organizationId });
const k1Refused = await new TurnkeyClient({ baseUrl }, k1Stamper("SIGNATURE_SCHEME_TK_API_P256"))
  .getWhoami({ organizationId })
  .then((w) => ({ answered: w }), (e) => ({ error: String(e.message || e) }));
const k1Listed = (await client.getApiKeys({ organizationId, userId: robotId })).apiKeys
  .filter((k) => k.credential.publicKey === k1Public)
  .map((k) => k.credential.type);

// Policy time windows, verified sub-organizations and a webhook endpoint's update, as the SDK sends them.
await client.createPolicy({
  type: "ACTIVITY_TYPE_CREATE_POLICY_V3",
  timestampMs: String(Date.now()),
  organizationId,
  parameters: { policyName: "sdk-always", effect: "EFFECT_DENY", condition: "false", notes: "" },
});
const activePolicies = await client.getActivePolicies({ organizationId });
const verifiedSubOrgs = await client.getVerifiedSubOrgIds({ organizationId, filterType: "EMAIL", filterValue: "nobody@example.com" });
const hook = await client.createWebhookEndpoint({
  type: "ACTIVITY_TYPE_CREATE_WEBHOOK_ENDPOINT",
  timestampMs: String(Date.now()),
  organizationId,
  parameters: { url: "https://hooks.example.com/twofold", name: "sdk-hook" },
});
const hookId = hook.activity.result.createWebhookEndpointResult.endpointId;
const updatedHook = await client.updateWebhookEndpoint({
  type: "ACTIVITY_TYPE_UPDATE_WEBHOOK_ENDPOINT",
  timestampMs: String(Date.now()),
  organizationId,
  parameters: { endpointId: hookId, name: "sdk-hook-renamed", isActive: false },
});

// Organization features (the one-time-code channels) and configs, as the SDK sends them.
const configsBefore = await client.getOrganizationConfigs({ organizationId });
const smsOff = await client.removeOrganizationFeature({
  type: "ACTIVITY_TYPE_REMOVE_ORGANIZATION_FEATURE", timestampMs: String(Date.now()), organizationId,
  parameters: { name: "FEATURE_NAME_SMS_AUTH" },
});
const smsOn = await client.setOrganizationFeature({
  type: "ACTIVITY_TYPE_SET_ORGANIZATION_FEATURE", timestampMs: String(Date.now()), organizationId,
  parameters: { name: "FEATURE_NAME_SMS_AUTH", value: "" },
});

// What happened to the notice the old address got when updateUserEmail changed it.
let emailEvents = { emailEvents: [] };
for (let i = 0; i < 50 && emailEvents.emailEvents.length === 0; i += 1) {
  emailEvents = await client.listEmailEvents({ organizationId, email: "sdk@example.com" });
  if (emailEvents.emailEvents.length === 0) await new Promise((ok) => setTimeout(ok, 100));
}

// Turnkey's legacy OTP endpoints, which twofold does not serve: each answer names the flow to use.
const refusal = (p) => p.then((a) => ({ answered: a.activity?.status }), (e) => ({ error: String(e.message || e) }));
const now = () => String(Date.now());
const legacy = {
  emailAuth: await refusal(client.emailAuth({ type: "ACTIVITY_TYPE_EMAIL_AUTH_V3", timestampMs: now(), organizationId,
    parameters: { email: "sdk@example.com", targetPublicKey: robotKey.publicKeyUncompressed, emailCustomization: {} } })),
  initOtpAuth: await refusal(client.initOtpAuth({ type: "ACTIVITY_TYPE_INIT_OTP_AUTH_V3", timestampMs: now(), organizationId,
    parameters: { otpType: "OTP_TYPE_EMAIL", contact: "sdk@example.com", appName: "sdk" } })),
  otpAuth: await refusal(client.otpAuth({ type: "ACTIVITY_TYPE_OTP_AUTH", timestampMs: now(), organizationId,
    parameters: { otpId: "x", otpCode: "123456", targetPublicKey: robotKey.publicKeyUncompressed } })),
};

const activity = await client.getActivity({ organizationId, activityId: created.activity.id });
const users = await client.getUsers({ organizationId });

console.log(
  JSON.stringify({
    whoami,
    createdStatus: created.activity.status,
    createdUserIds: created.activity.result.createUsersResult.userIds,
    manualHttpStatus: resp.status,
    manualFingerprint: manual.activity?.fingerprint,
    sdkFingerprint: computeActivityFingerprint(signed.body),
    fetchedStatus: activity.activity.status,
    userNames: users.users.map((u) => u.userName),
    renamedStatus: renamed.activity.status,
    renamedType: renamed.activity.type,
    renamedUserId: renamed.activity.result.updateUserNameResult?.userId,
    emailedStatus: emailed.activity.status,
    emailedUserId: emailed.activity.result.updateUserEmailResult?.userId,
    phonedStatus: phoned.activity.status,
    phonedUserId: phoned.activity.result.updateUserPhoneNumberResult?.userId,
    userTagId,
    updatedTag: updatedTag.activity.result.updateUserTagResult?.userTagId,
    deletedTags: deletedTags.activity.result.deleteUserTagsResult,
    apiOnly: apiOnly.activity.result.createApiOnlyUsersResult,
    robotWhoami,
    robotLogin,
    k1KeyIds: k1Key.activity.result.createApiKeysResult?.apiKeyIds,
    k1Whoami: k1Whoami.userId,
    k1HighS: k1HighS.userId,
    k1Refused,
    k1Listed,
    legacy,
    configsBefore,
    smsOff: smsOff.activity.result.removeOrganizationFeatureResult,
    smsOn: smsOn.activity.result.setOrganizationFeatureResult,
    emailEvents,
    calls,
    activePolicies,
    verifiedSubOrgs,
    updatedHook: updatedHook.activity.result.updateWebhookEndpointResult,
    sdkUser,
    policyIds,
    deletedPolicies: deletedPolicies.activity.result.deletePoliciesResult?.policyIds,
    policiesLeft: (await client.getPolicies({ organizationId })).policies.map((p) => p.policyName),
    renamedOrg: renamedOrg.activity.result.updateOrganizationNameResult,
    organizationNameAfter: whoamiAfter.organizationName,
    subOrganizationId,
    deletedSubStatus: deletedSub.activity.status,
    deletedSubUuid: deletedSub.activity.result.deleteSubOrganizationResult?.subOrganizationUuid,
    subsAfter: subsAfter.organizationIds,
    contacts: users.users.filter((u) => u.userName === "sdk-renamed").map((u) => [u.userEmail, u.userPhoneNumber])[0],
  }),
);
