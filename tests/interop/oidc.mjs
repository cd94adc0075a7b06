// OAuth (OIDC) login against twofold, driven with @turnkey/http, with a local OIDC issuer on
// loopback: node's own crypto signs RS256 and ES256 ID tokens and the issuer serves its JWK
// set. The root organization trusts the issuer (set_oidc_issuers), a user binds her account
// (createOauthProviders), the backend logs her in (oauthLogin, the nonce bound to the session
// key) and the session works; then every token an attacker could bring is refused: expired,
// another audience, an untrusted issuer, an unknown key, alg none, HS256 keyed with the public
// key, a tampered signature, a nonce for another key, a replay. A rotated key is picked up.
// Usage: node oidc.mjs <baseUrl> <rootKeyFile> <clockFile>
import { createHash, createHmac, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { TurnkeyClient } from "@turnkey/http";
import { calls } from "./record-calls.mjs";
import { ApiKeyStamper } from "@turnkey/api-key-stamper";
import { generateP256KeyPair } from "@turnkey/crypto";

const [baseUrl, keyFile, clockFile] = process.argv.slice(2);
const rootKey = JSON.parse(readFileSync(keyFile, "utf8"));
const organizationId = rootKey.organizationId;
const clientFor = (k) => new TurnkeyClient({ baseUrl }, new ApiKeyStamper({ apiPublicKey: k.publicKey, apiPrivateKey: k.privateKey }));
const root = clientFor(rootKey);
const b64url = (data) => Buffer.from(data).toString("base64url");
const now = () => String(Date.now());

// The issuer: an RSA and a P-256 key now, a second RSA key published later (rotation).
const keys = {
  "rsa-1": generateKeyPairSync("rsa", { modulusLength: 2048 }),
  "ec-1": generateKeyPairSync("ec", { namedCurve: "P-256" }),
};
const later = { "rsa-2": generateKeyPairSync("rsa", { modulusLength: 2048 }) };
let published = ["rsa-1", "ec-1"];
let jwksFetches = 0;
const jwks = () => ({
  keys: published.map((kid) => {
    const pair = keys[kid] || later[kid];
    const jwk = pair.publicKey.export({ format: "jwk" });
    return { ...jwk, kid, use: "sig", alg: jwk.kty === "RSA" ? "RS256" : "ES256" };
  }),
});
const server = createServer((req, res) => {
  if (req.url === "/jwks.json") {
    jwksFetches += 1;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(jwks()));
  } else {
    res.writeHead(404).end();
  }
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const ISSUER = `http://127.0.0.1:${server.address().port}`;
const AUDIENCE = "twofold-test-app";

/** A signed ID token; `over` changes claims, `header` the header, `alg` picks the key type. */
function idToken({ alg = "RS256", kid, over = {}, header = {} } = {}) {
  const t = Math.floor(Date.now() / 1000);
  const claims = { iss: ISSUER, aud: AUDIENCE, sub: "alice-at-issuer", iat: t, exp: t + 600, jti: b64url(randomBytes(9)), ...over };
  const head = { alg, typ: "JWT", kid: kid || (alg === "ES256" ? "ec-1" : "rsa-1"), ...header };
  const input = `${b64url(JSON.stringify(head))}.${b64url(JSON.stringify(claims))}`;
  const pair = keys[head.kid] || later[head.kid] || keys["rsa-1"];
  const signature = alg === "ES256"
    ? sign("sha256", Buffer.from(input), { key: pair.privateKey, dsaEncoding: "ieee-p1363" })
    : sign("sha256", Buffer.from(input), pair.privateKey);
  return `${input}.${b64url(signature)}`;
}
const nonceFor = (publicKey) => createHash("sha256").update(publicKey).digest("hex");

const submit = (client, path, type, parameters) =>
  client.request(`/public/v1/submit/${path}`, { type, timestampMs: now(), organizationId, parameters });
const outcome = (p) => p.then(
  (a) => ({ status: a.activity.status, failure: a.activity.failure?.message, result: a.activity.result, id: a.activity.id }),
  (e) => ({ error: String(e.message || e) }),
);
const login = (token, session, client = root) => outcome(client.oauthLogin({
  type: "ACTIVITY_TYPE_OAUTH_LOGIN", timestampMs: now(), organizationId,
  parameters: { oidcToken: token, publicKey: session.publicKey, expirationSeconds: "900" },
}));

const seen = {};
try {
  seen.trusted = await outcome(submit(root, "set_oidc_issuers", "ACTIVITY_TYPE_SET_OIDC_ISSUERS",
    { issuers: [{ issuer: ISSUER, audiences: [AUDIENCE], jwksUrl: `${ISSUER}/jwks.json` }] }));
  seen.issuers = await root.request("/public/v1/query/get_oidc_issuers", { organizationId });

  // Alice (an API key of her own) binds her account at the issuer.
  const aliceKey = generateP256KeyPair();
  const created = await root.createUsers({
    type: "ACTIVITY_TYPE_CREATE_USERS_V4", timestampMs: now(), organizationId,
    parameters: { users: [{ userName: "alice", apiKeys: [{ apiKeyName: "alice", publicKey: aliceKey.publicKey, curveType: "API_KEY_CURVE_P256" }], authenticators: [], oauthProviders: [], userTags: [] }] },
  });
  const aliceId = created.activity.result.createUsersResult.userIds[0];
  const alice = clientFor(aliceKey);
  const bindToken = idToken({ alg: "ES256" });
  seen.bound = await outcome(alice.createOauthProviders({
    type: "ACTIVITY_TYPE_CREATE_OAUTH_PROVIDERS_V2", timestampMs: now(), organizationId,
    parameters: { userId: aliceId, oauthProviders: [{ providerName: "Test issuer", oidcToken: bindToken }] },
  }));
  seen.bindIntentHoldsToken = JSON.stringify(await root.getActivity({ organizationId, activityId: seen.bound.id })).includes(bindToken);
  seen.providers = (await root.getOauthProviders({ organizationId, userId: aliceId })).oauthProviders;

  // The backend logs her in: the token's nonce is sha256 of the session key.
  const session = generateP256KeyPair();
  const good = idToken({ over: { nonce: nonceFor(session.publicKey) } });
  seen.login = await login(good, session);
  seen.loginIntentHoldsToken = JSON.stringify(await root.getActivity({ organizationId, activityId: seen.login.id })).includes(good);
  seen.sessionWhoami = await clientFor(session).getWhoami({ organizationId });
  seen.replay = await login(good, session);

  // What an attacker could bring.
  const other = generateP256KeyPair();
  const bound = (over = {}) => ({ nonce: nonceFor(other.publicKey), ...over });
  const t = Math.floor(Date.now() / 1000);
  const forged = idToken({ over: bound() }).split(".");
  const hsInput = `${b64url(JSON.stringify({ alg: "HS256", typ: "JWT", kid: "rsa-1" }))}.${b64url(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: "alice-at-issuer", iat: t, exp: t + 600, nonce: nonceFor(other.publicKey) }))}`;
  const hsKey = keys["rsa-1"].publicKey.export({ format: "pem", type: "spki" });
  const attacks = {
    expired: idToken({ over: bound({ iat: t - 7200, exp: t - 3600 }) }),
    wrongAudience: idToken({ over: bound({ aud: "another-app" }) }),
    wrongIssuer: idToken({ over: bound({ iss: "https://evil.example" }) }),
    unknownKid: idToken({ kid: "nobody", over: bound() }),
    algNone: `${b64url(JSON.stringify({ alg: "none", typ: "JWT", kid: "rsa-1" }))}.${forged[1]}.`,
    hs256WithPublicKey: `${hsInput}.${b64url(createHmac("sha256", hsKey).update(hsInput).digest())}`,
    tamperedSignature: `${forged[0]}.${b64url(JSON.stringify({ ...JSON.parse(Buffer.from(forged[1], "base64url")), sub: "mallory" }))}.${forged[2]}`,
    nonceForAnotherKey: idToken({ over: { nonce: nonceFor(session.publicKey) } }),
    noNonce: idToken(),
    futureIat: idToken({ over: bound({ iat: t + 3600, exp: t + 7200 }) }),
  };
  seen.attacks = {};
  for (const [name, token] of Object.entries(attacks)) seen.attacks[name] = await login(token, other);

  // Rotation: a token signed with a key published after the cache was filled. Within the
  // retry window the cache is not fetched again; past it (the server's clock moved), it is.
  published = ["rsa-1", "ec-1", "rsa-2"];
  const rotated = () => idToken({ kid: "rsa-2", over: { nonce: nonceFor(other.publicKey) } });
  const fetchesBefore = jwksFetches;
  seen.rotatedEarly = await login(rotated(), other);
  seen.fetchesWithinRetry = jwksFetches - fetchesBefore;
  writeFileSync(`${clockFile}.new`, "31000");
  renameSync(`${clockFile}.new`, clockFile);
  seen.rotated = await login(rotated(), other);
  seen.fetchesAfterRetry = jwksFetches - fetchesBefore;

  // Another user cannot take the bound account; unbinding ends logins with it.
  const bobKey = generateP256KeyPair();
  const bob = await root.createUsers({
    type: "ACTIVITY_TYPE_CREATE_USERS_V4", timestampMs: now(), organizationId,
    parameters: { users: [{ userName: "bob", apiKeys: [{ apiKeyName: "bob", publicKey: bobKey.publicKey, curveType: "API_KEY_CURVE_P256" }], authenticators: [], oauthProviders: [], userTags: [] }] },
  });
  const bobId = bob.activity.result.createUsersResult.userIds[0];
  seen.takeOver = await outcome(clientFor(bobKey).createOauthProviders({
    type: "ACTIVITY_TYPE_CREATE_OAUTH_PROVIDERS_V2", timestampMs: now(), organizationId,
    parameters: { userId: bobId, oauthProviders: [{ providerName: "mine now", oidcToken: idToken() }] },
  }));
  seen.claimsOnly = await outcome(clientFor(bobKey).createOauthProviders({
    type: "ACTIVITY_TYPE_CREATE_OAUTH_PROVIDERS_V2", timestampMs: now(), organizationId,
    parameters: { userId: bobId, oauthProviders: [{ providerName: "claims", oidcToken: idToken(), oidcClaims: { iss: ISSUER, sub: "x", aud: AUDIENCE } }] },
  }));
  // Accounts bound inline, as a user is created and as a sub-organization's root user is.
  const carol = await root.createUsers({
    type: "ACTIVITY_TYPE_CREATE_USERS_V4", timestampMs: now(), organizationId,
    parameters: { users: [{ userName: "carol", apiKeys: [], authenticators: [], userTags: [],
      oauthProviders: [{ providerName: "carol's account", oidcToken: idToken({ over: { sub: "carol-at-issuer" } }) }] }] },
  });
  seen.carolId = carol.activity.result.createUsersResult.userIds[0];
  const carolSession = generateP256KeyPair();
  seen.carolLogin = await login(idToken({ over: { sub: "carol-at-issuer", nonce: nonceFor(carolSession.publicKey) } }), carolSession);
  seen.carolWhoami = await clientFor(carolSession).getWhoami({ organizationId });
  const sub = await root.createSubOrganization({
    type: "ACTIVITY_TYPE_CREATE_SUB_ORGANIZATION_V8", timestampMs: now(), organizationId,
    parameters: { subOrganizationName: "dave's org", rootQuorumThreshold: 1, rootUsers: [{ userName: "dave", apiKeys: [], authenticators: [],
      oauthProviders: [{ providerName: "dave's account", oidcToken: idToken({ alg: "ES256", over: { sub: "dave-at-issuer" } }) }] }] },
  });
  seen.daveOrg = sub.activity.result.createSubOrganizationResultV8.subOrganizationId;
  const daveSession = generateP256KeyPair();
  seen.daveLogin = await login(idToken({ over: { sub: "dave-at-issuer", nonce: nonceFor(daveSession.publicKey) } }), daveSession);
  seen.daveWhoami = await clientFor(daveSession).getWhoami({ organizationId: seen.daveOrg });
  seen.inlineIntentsHoldTokens = JSON.stringify([
    await root.getActivity({ organizationId, activityId: carol.activity.id }),
    await root.getActivity({ organizationId, activityId: sub.activity.id }),
  ]).includes("eyJ");

  const robotKey = generateP256KeyPair();
  const robot = await root.createApiOnlyUsers({
    type: "ACTIVITY_TYPE_CREATE_API_ONLY_USERS", timestampMs: now(), organizationId,
    parameters: { apiOnlyUsers: [{ userName: "robot", userTags: [], apiKeys: [{ apiKeyName: "robot", publicKey: robotKey.publicKey }] }] },
  });
  seen.apiOnlyBinds = await outcome(clientFor(robotKey).createOauthProviders({
    type: "ACTIVITY_TYPE_CREATE_OAUTH_PROVIDERS_V2", timestampMs: now(), organizationId,
    parameters: { userId: robot.activity.result.createApiOnlyUsersResult.userIds[0],
      oauthProviders: [{ providerName: "robot", oidcToken: idToken({ over: { sub: "robot-at-issuer" } }) }] },
  }));
  seen.unbound = await outcome(alice.deleteOauthProviders({
    type: "ACTIVITY_TYPE_DELETE_OAUTH_PROVIDERS", timestampMs: now(), organizationId,
    parameters: { userId: aliceId, providerIds: [seen.providers[0].providerId] },
  }));
  const last = generateP256KeyPair();
  seen.afterUnbind = await login(idToken({ over: { nonce: nonceFor(last.publicKey) } }), last);
  seen.aliceId = aliceId;
  seen.calls = calls;
  console.log(JSON.stringify(seen));
} catch (e) {
  console.error(e && e.stack ? e.stack : String(e));
  console.error(JSON.stringify(seen));
  process.exitCode = 1;
} finally {
  server.close();
}
