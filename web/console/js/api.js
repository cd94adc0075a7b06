// The console's only way to talk to the server: every request is stamped, like any
// other client's. After sign-in the page holds a non-extractable WebCrypto P-256 key
// in IndexedDB (registered with stamp_login) and signs each exact body with it.
// No cookies are used, so there is no CSRF surface.

import { stampWithPasskey, toBase64url } from "/assets/webauthn.js";
import { TYPES } from "/console/js/types.js";

const DB_NAME = "twofold-console";
const STORE = "session";
const ORG_KEY = "twofold.organizationId";
const CREDENTIALS_KEY = "twofold.passkeyCredentialIds";

/** How long a console session lives, in seconds (the server caps it with session_max_secs). */
export const SESSION_SECONDS = 900;

// ---------------------------------------------------------------- IndexedDB

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function withStore(mode, fn) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/** The signed-in session ({privateKey, publicKeyHex, organizationId, userId, expiresAt}) or null. */
export async function loadSession() {
  const s = await withStore("readonly", (store) => store.get("current"));
  if (!s) return null;
  if (s.expiresAt && s.expiresAt * 1000 <= Date.now()) {
    await forgetSession();
    return null;
  }
  return s;
}

async function saveSession(session) {
  await withStore("readwrite", (store) => store.put(session, "current"));
}

/** Deletes the key pair and the session record from this browser. */
export async function forgetSession() {
  await withStore("readwrite", (store) => store.delete("current"));
}

// ---------------------------------------------------------------- keys and stamps

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const fromHex = (text) => Uint8Array.from(text.match(/../g) || [], (h) => parseInt(h, 16));

/** A new P-256 key pair whose private half can never be exported. */
export function newSessionKey() {
  return crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
}

/** Compressed SEC1 hex of a P-256 public CryptoKey (the public half is always exportable). */
export async function compressedHex(publicKey) {
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", publicKey));
  const prefix = raw[64] & 1 ? 0x03 : 0x02;
  return hex([prefix, ...raw.slice(1, 33)]);
}

function derInteger(bytes) {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const v = Array.from(bytes.slice(i));
  if (v[0] & 0x80) v.unshift(0);
  return [0x02, v.length, ...v];
}

/** WebCrypto's raw r||s (IEEE P1363) signature as DER. */
export function p1363ToDer(sig) {
  const r = derInteger(sig.slice(0, 32));
  const s = derInteger(sig.slice(32, 64));
  return Uint8Array.from([0x30, r.length + s.length, ...r, ...s]);
}

async function sign(privateKey, body) {
  const sig = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, new TextEncoder().encode(body)),
  );
  return sig;
}

/** The X-Stamp header value for `body`, signed by `privateKey` whose public key is `publicKeyHex`. */
export async function apiStamp(privateKey, publicKeyHex, body) {
  const signature = hex(p1363ToDer(await sign(privateKey, body)));
  const stamp = JSON.stringify({ publicKey: publicKeyHex, scheme: "SIGNATURE_SCHEME_TK_API_P256", signature });
  return toBase64url(new TextEncoder().encode(stamp));
}

/** Raw r||s hex signature (Turnkey's clientSignature format) of `message` by `privateKey`. */
export async function rawSignatureHex(privateKey, message) {
  return hex(await sign(privateKey, message));
}

// P-256 point decompression, for importing an API key file (private scalar + compressed public key).
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;
function modPow(base, exp, mod) {
  let r = 1n;
  base %= mod;
  while (exp > 0n) {
    if (exp & 1n) r = (r * base) % mod;
    base = (base * base) % mod;
    exp >>= 1n;
  }
  return r;
}
const toBig = (bytes) => BigInt("0x" + (hex(bytes) || "0"));
const toBytes32 = (n) => fromHex(n.toString(16).padStart(64, "0"));

/** Imports an API key file's private key as a non-extractable signing key. */
export async function importApiKey(privateKeyHex, publicKeyHex) {
  const pub = fromHex(publicKeyHex);
  if (pub.length !== 33 || (pub[0] !== 2 && pub[0] !== 3)) throw new Error("the key file's publicKey is not a compressed P-256 key");
  const x = toBig(pub.slice(1));
  let y = modPow((x * x * x - 3n * x + B) % P, (P + 1n) / 4n, P);
  if (Number(y & 1n) !== (pub[0] & 1)) y = P - y;
  const jwk = {
    kty: "EC", crv: "P-256", ext: false,
    d: toBase64url(fromHex(privateKeyHex.padStart(64, "0"))), x: toBase64url(toBytes32(x)), y: toBase64url(toBytes32(y)),
  };
  return crypto.subtle.importKey("jwk", jwk, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
}

// ---------------------------------------------------------------- remembered names

/** The organization id this browser signed in to last. */
export const rememberedOrganization = () => localStorage.getItem(ORG_KEY) || "";
/** Remembers the organization id for the next sign-in. */
export const rememberOrganization = (id) => localStorage.setItem(ORG_KEY, id);
/** Passkey credential ids registered in this browser (to offer them at sign-in). */
export const rememberedCredentials = () => JSON.parse(localStorage.getItem(CREDENTIALS_KEY) || "[]");
/** Remembers a passkey credential id registered in this browser. */
export function rememberCredential(id) {
  const ids = new Set(rememberedCredentials());
  ids.add(id);
  localStorage.setItem(CREDENTIALS_KEY, JSON.stringify([...ids]));
}

// ---------------------------------------------------------------- requests

/** Thrown when the session is gone (expired, revoked): the page sends the user to sign-in. */
export class SignedOut extends Error {}

/** A request answer: {status, ok, body, headers}. */
async function post(path, body, headers) {
  const resp = await fetch(path, {
    method: "POST",
    body,
    headers: { "Content-Type": "application/json", ...headers },
    credentials: "omit",
    cache: "no-store",
  });
  let json = {};
  try {
    json = await resp.json();
  } catch {
    json = { message: `the server answered ${resp.status} without JSON` };
  }
  const answer = { status: resp.status, ok: resp.ok, body: json, headers: resp.headers };
  for (const listener of listeners) listener(answer);
  return answer;
}

const listeners = [];
/** Calls `fn(answer)` after every request (the enforcement banner reads headers this way). */
export const onAnswer = (fn) => listeners.push(fn);

/** The JSON body of an activity. */
export function activityBody(organizationId, name, parameters) {
  return JSON.stringify({ type: activityType(name), timestampMs: String(Date.now()), organizationId, parameters });
}


/** The activity type the server expects at `submit/<name>`. */
export function activityType(name) {
  const t = TYPES[name];
  if (!t) throw new Error(`no activity type known for ${name}`);
  return t;
}

/** A stamped client for the signed-in session. */
export class Api {
  constructor(session) {
    this.session = session;
    this.organizationId = session.organizationId;
    this.userId = session.userId;
  }

  async stamped(path, body) {
    const stamp = await apiStamp(this.session.privateKey, this.session.publicKeyHex, body);
    const answer = await post(path, body, { "X-Stamp": stamp });
    if (answer.status === 401) {
      await forgetSession();
      throw new SignedOut(answer.body.message || "signed out");
    }
    return answer;
  }

  /** POST query/<name>; answers {status, ok, body}. */
  query(name, params = {}) {
    return this.stamped(`/public/v1/query/${name}`, JSON.stringify({ organizationId: this.organizationId, ...params }));
  }

  /** POST submit/<name>; answers {status, ok, body} whose body.activity is the activity. */
  submit(name, parameters) {
    return this.stamped(`/public/v1/submit/${name}`, activityBody(this.organizationId, name, parameters));
  }

  /** POST submit/<name> stamped with a passkey instead of the session key. */
  async submitWithPasskey(name, parameters, rpId = location.hostname) {
    const body = activityBody(this.organizationId, name, parameters);
    const stamp = await stampWithPasskey(body, { rpId, credentialIds: rememberedCredentials() });
    return post(`/public/v1/submit/${name}`, body, { "X-Stamp-Webauthn": stamp });
  }

  /** Revokes this session on the server, then deletes the key from this browser. */
  async signOut() {
    try {
      // The session this key stamps is the `current` one the server lists.
      const listed = await this.query("list_sessions", { userId: this.userId });
      const current = listed.ok && (listed.body.sessions || []).find((s) => s.current);
      if (current) await this.submit("delete_sessions", { userId: this.userId, sessionIds: [current.sessionId] });
    } catch (e) {
      if (!(e instanceof SignedOut)) throw e;
    } finally {
      await forgetSession();
    }
  }
}

/** Claims of a session JWT (decoded, not verified: the server checks every stamp anyway). */
export function jwtClaims(jwt) {
  const part = jwt.split(".")[1] || "";
  return JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/")));
}

/**
 * Generates a fresh session key, registers it with stamp_login (the request stamped by
 * `stampHeaders(body)`, a passkey or an API key) or otp_login (`extra(publicKeyHex)` adds
 * the token and client signature), and keeps the key in IndexedDB.
 */
export async function logIn(organizationId, stampHeaders, name = "stamp_login", extra = () => ({})) {
  const pair = await newSessionKey();
  const publicKeyHex = await compressedHex(pair.publicKey);
  const parameters = { publicKey: publicKeyHex, expirationSeconds: String(SESSION_SECONDS), ...(await extra(publicKeyHex)) };
  const body = activityBody(organizationId, name, parameters);
  const answer = await post(`/public/v1/submit/${name}`, body, await stampHeaders(body));
  const result = answer.body.activity && answer.body.activity.result;
  const login = result && (result.stampLoginResult || result.otpLoginResult);
  if (!answer.ok || !login) {
    throw new Error(answer.body.message || (answer.body.activity && answer.body.activity.failure && answer.body.activity.failure.message) || `sign-in failed (${answer.status})`);
  }
  return keepSession(pair, publicKeyHex, login, organizationId);
}

/** Stores the key pair with the session `login` (an otpLoginResult / stampLoginResult) names. */
async function keepSession(pair, publicKeyHex, login, organizationId) {
  const claims = jwtClaims(login.session);
  const session = {
    privateKey: pair.privateKey,
    publicKeyHex,
    organizationId: claims.organization_id,
    userId: claims.user_id,
    expiresAt: claims.exp,
  };
  await saveSession(session);
  // The user's own organization (a sub-organization after an email-code sign-in): where its passkey signs in.
  rememberOrganization(claims.organization_id || organizationId);
  return session;
}

/** A `v1ClientSignature` by `pair` over `message` (raw r||s hex over SHA-256). */
async function clientSignature(pair, publicKeyHex, message) {
  return { publicKey: publicKeyHex, scheme: "CLIENT_SIGNATURE_SCHEME_API_P256", message,
    signature: await rawSignatureHex(pair.privateKey, message) };
}

/** POST /auth-proxy/v1/<name>: unauthenticated, for organizations that enabled the auth proxy. */
export function proxyPost(name, body) {
  return post(`/auth-proxy/v1/${name}`, JSON.stringify(body), {});
}

/**
 * Email-code sign-in through the auth proxy: `pair` is the non-extractable key the
 * verification token binds; it signs the login message and becomes the session key.
 */
export async function logInWithEmailCode(organizationId, pair, publicKeyHex, verificationToken) {
  const message = JSON.stringify({ login: { publicKey: publicKeyHex }, tokenId: jwtClaims(verificationToken).id, type: "USAGE_TYPE_LOGIN" });
  const answer = await proxyPost("otp_login", { organizationId, verificationToken, publicKey: publicKeyHex,
    clientSignature: await clientSignature(pair, publicKeyHex, message) });
  if (!answer.ok) throw Object.assign(new Error(answer.body.message || `sign-in failed (${answer.status})`), { status: answer.status });
  return keepSession(pair, publicKeyHex, answer.body, organizationId);
}

/**
 * Email-code sign-up through the auth proxy: a sub-organization whose root user has the
 * proven email and `pair`'s key as its first credential (it expires like a session).
 */
export async function signUpWithEmailCode(organizationId, pair, publicKeyHex, verificationToken, userEmail) {
  const message = JSON.stringify({ signupV2: { email: userEmail }, tokenId: jwtClaims(verificationToken).id, type: "USAGE_TYPE_SIGNUP" });
  const answer = await proxyPost("signup", { organizationId, userEmail, verificationToken, publicKey: publicKeyHex,
    clientSignature: await clientSignature(pair, publicKeyHex, message) });
  if (!answer.ok) throw new Error(answer.body.message || `sign-up failed (${answer.status})`);
  const session = { privateKey: pair.privateKey, publicKeyHex, organizationId: answer.body.subOrganizationId,
    userId: (answer.body.rootUserIds || [])[0], expiresAt: Math.floor(Date.now() / 1000) + SESSION_SECONDS };
  await saveSession(session);
  rememberOrganization(answer.body.subOrganizationId);
  return session;
}

/** Sign-in with a passkey: a stamp_login whose X-Stamp-Webauthn assertion covers the new key. */
export function logInWithPasskey(organizationId) {
  return logIn(organizationId, async (body) => ({
    "X-Stamp-Webauthn": await stampWithPasskey(body, { rpId: location.hostname, credentialIds: rememberedCredentials() }),
  }));
}

/** Sign-in with an API key file (`{publicKey, privateKey}`): the key signs only the stamp_login. */
export async function logInWithApiKey(organizationId, keyFile) {
  const key = await importApiKey(keyFile.privateKey, keyFile.publicKey);
  return logIn(organizationId, async (body) => ({ "X-Stamp": await apiStamp(key, keyFile.publicKey, body) }));
}
