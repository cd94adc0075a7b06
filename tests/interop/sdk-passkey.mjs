// A passkey through @turnkey/http: createAuthenticators with an attestation made with a
// challenge of the client's own (as Turnkey's SDKs register passkeys; the Rust test's software
// authenticator made it), then getAuthenticators and getAuthenticator. Every call recorded for
// sdk-types.mjs. Prints {calls, ...} as JSON.
// Usage: node sdk-passkey.mjs <baseUrl> <rootKeyFile> <authenticatorParamsJson>
import { readFileSync } from "node:fs";
import { TurnkeyClient } from "@turnkey/http";
import { ApiKeyStamper } from "@turnkey/api-key-stamper";
import { calls } from "./record-calls.mjs";

const [baseUrl, keyFile, authenticatorJson] = process.argv.slice(2);
const rootKey = JSON.parse(readFileSync(keyFile, "utf8"));
const organizationId = rootKey.organizationId;
const root = new TurnkeyClient({ baseUrl }, new ApiKeyStamper({ apiPublicKey: rootKey.publicKey, apiPrivateKey: rootKey.privateKey }));
const { userId } = await root.getWhoami({ organizationId });
const added = await root.createAuthenticators({
  type: "ACTIVITY_TYPE_CREATE_AUTHENTICATORS_V2", timestampMs: String(Date.now()), organizationId,
  parameters: { userId, authenticators: [JSON.parse(authenticatorJson)] },
});
const authenticatorId = added.activity.result.createAuthenticatorsResult.authenticatorIds[0];
const listed = await root.getAuthenticators({ organizationId, userId });
const one = await root.getAuthenticator({ organizationId, authenticatorId });
console.log(JSON.stringify({ calls, status: added.activity.status, listed: listed.authenticators.length, name: one.authenticator.authenticatorName }));
