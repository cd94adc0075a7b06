// Registers a passkey in real headless Chromium (a CDP virtual authenticator) on
// twofold's own /passkey page, then stamps requests with @turnkey/webauthn-stamper,
// whose navigator.credentials.get is answered by that same browser page.
// Usage: node passkey-chromium.mjs <baseUrl> <keyFile>   (the user's API key file)
// Prints one JSON object; exits non-zero on any failure.
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";
import { TurnkeyClient } from "@turnkey/http";
import { ApiKeyStamper } from "@turnkey/api-key-stamper";
import { WebauthnStamper } from "@turnkey/webauthn-stamper";

const [baseUrl, keyFile] = process.argv.slice(2);
const key = JSON.parse(readFileSync(keyFile, "utf8"));
const organizationId = key.organizationId;
const apiStamper = new ApiKeyStamper({ apiPublicKey: key.publicKey, apiPrivateKey: key.privateKey });

async function post(path, payload, stamper) {
  const body = JSON.stringify(payload);
  const stamp = await stamper.stamp(body);
  const resp = await fetch(`${baseUrl}${path}`, { method: "POST", body, headers: { [stamp.stampHeaderName]: stamp.stampHeaderValue } });
  const json = await resp.json();
  if (!resp.ok) throw new Error(`${path}: ${resp.status} ${JSON.stringify(json)}`);
  return json;
}

const b64url = (bytes) => Buffer.from(bytes).toString("base64url");
const fromB64url = (s) => {
  const buf = Buffer.from(s, "base64url");
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  // WebAuthn needs a secure context: http://localhost is one.
  await page.goto(`${baseUrl.replace("127.0.0.1", "localhost")}/passkey`);
  await page.waitForFunction(() => window.twofoldWebauthn !== undefined);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });

  const whoamiByKey = await post("/public/v1/query/get_whoami", { organizationId }, apiStamper);
  const userId = whoamiByKey.userId;
  const options = await post("/public/v1/query/get_passkey_registration_options", { organizationId, userId }, apiStamper);
  const attestation = await page.evaluate((pk) => window.twofoldWebauthn.createPasskey(pk), options.publicKey);
  const created = await post("/public/v1/submit/create_authenticators", {
    type: "ACTIVITY_TYPE_CREATE_AUTHENTICATORS_V2",
    timestampMs: String(Date.now()),
    organizationId,
    parameters: { userId, authenticators: [{ authenticatorName: "chromium", challenge: options.challenge, attestation }] },
  }, apiStamper);

  // navigator.credentials.get, answered by the browser page holding the passkey.
  globalThis.navigator = {
    credentials: {
      get: async ({ publicKey }) => {
        const r = await page.evaluate(async (o) => {
          const toB = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4)), (c) => c.charCodeAt(0));
          const cred = await navigator.credentials.get({ publicKey: {
            rpId: o.rpId, challenge: toB(o.challenge), timeout: o.timeout, userVerification: o.userVerification,
            allowCredentials: o.allowCredentials.map((c) => ({ type: "public-key", id: toB(c.id) })),
          } });
          const t = window.twofoldWebauthn.toBase64url;
          return { id: cred.id, rawId: t(cred.rawId), authenticatorData: t(cred.response.authenticatorData),
                   clientDataJSON: t(cred.response.clientDataJSON), signature: t(cred.response.signature) };
        }, {
          rpId: publicKey.rpId, challenge: b64url(publicKey.challenge), timeout: publicKey.timeout,
          userVerification: publicKey.userVerification,
          allowCredentials: (publicKey.allowCredentials || []).map((c) => ({ id: b64url(c.id) })),
        });
        return {
          type: "public-key", id: r.id, rawId: fromB64url(r.rawId),
          response: { authenticatorData: fromB64url(r.authenticatorData), clientDataJSON: fromB64url(r.clientDataJSON),
                      signature: fromB64url(r.signature), userHandle: null },
          getClientExtensionResults: () => ({}),
        };
      },
    },
  };
  const allowCredentials = [{ type: "public-key", id: new Uint8Array(fromB64url(attestation.credentialId)) }];
  const passkeyClient = new TurnkeyClient({ baseUrl }, new WebauthnStamper({ rpId: "localhost", allowCredentials }));
  const whoamiByPasskey = await passkeyClient.getWhoami({ organizationId });
  const authenticators = await passkeyClient.getAuthenticators({ organizationId, userId });
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  console.log(JSON.stringify({
    userId, created: created.activity, whoamiByPasskey, authenticators: authenticators.authenticators,
    signCount: credentials[0]?.signCount,
  }));
} finally {
  await browser.close();
}
