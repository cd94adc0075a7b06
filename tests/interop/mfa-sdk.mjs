// Drives twofold's step-up MFA and session profiles with Turnkey's unchanged npm client.
// Usage: node mfa-sdk.mjs <baseUrl> <keyFile>
// Prints one JSON object with what the server answered; exits non-zero on any failure.
import { readFileSync } from "node:fs";
import { TurnkeyClient } from "@turnkey/http";
import { calls } from "./record-calls.mjs";
import { ApiKeyStamper } from "@turnkey/api-key-stamper";

const [baseUrl, keyFile] = process.argv.slice(2);
const key = JSON.parse(readFileSync(keyFile, "utf8"));
const client = new TurnkeyClient({ baseUrl }, new ApiKeyStamper({ apiPublicKey: key.publicKey, apiPrivateKey: key.privateKey }));
const organizationId = key.organizationId;
const userId = key.userId;
const now = () => String(Date.now());

// Two steps for user changes: the initiating API key stamp proves the first, an approval the second.
const created = await client.createMfaPolicy({
  type: "ACTIVITY_TYPE_CREATE_MFA_POLICY",
  timestampMs: now(),
  organizationId,
  parameters: {
    userId,
    mfaPolicyName: "user changes need two approvals",
    condition: "activity.resource == 'USER'",
    requiredAuthenticationMethods: [
      { any: [{ type: "AUTHENTICATION_TYPE_API_KEY" }] },
      { any: [{ type: "AUTHENTICATION_TYPE_API_KEY" }, { type: "AUTHENTICATION_TYPE_SESSION" }] },
    ],
    order: 0,
  },
});
const mfaPolicyId = created.activity.result.createMfaPolicyResult.mfaPolicyId;
const policies = await client.getMfaPolicies({ organizationId, userId });

const pending = await client.createUserTag({
  type: "ACTIVITY_TYPE_CREATE_USER_TAG",
  timestampMs: now(),
  organizationId,
  parameters: { userTagName: "stepped-up", userIds: [] },
});
const before = await client.getMfaStatus({ organizationId, activityId: pending.activity.id });
const approved = await client.approveActivity({
  type: "ACTIVITY_TYPE_APPROVE_ACTIVITY",
  timestampMs: now(),
  organizationId,
  parameters: { fingerprint: pending.activity.fingerprint },
});
const after = await client.getMfaStatus({ organizationId, activityId: pending.activity.id });

const profile = await client.createSessionProfile({
  type: "ACTIVITY_TYPE_CREATE_SESSION_PROFILE",
  timestampMs: now(),
  organizationId,
  parameters: { sessionProfileName: "read-mostly", scope: "activity.resource == 'SESSION'", expirationSeconds: "600" },
});
const profiles = await client.getSessionProfiles({ organizationId });

console.log(
  JSON.stringify({
    mfaPolicyId,
    policies: policies.mfaPolicies,
    pendingStatus: pending.activity.status,
    before: before.mfaStatuses,
    approvedStatus: approved.activity.status,
    after: after.mfaStatuses,
    profileId: profile.activity.result.createSessionProfileResult.sessionProfileId,
    profiles: profiles.sessionProfiles,
    calls,
  }),
);
