// Sealing an email code for the enclave, byte for byte as @turnkey/crypto's
// encryptOtpCodeToBundle does, composed from WebCrypto (no third-party code):
// RFC 9180 base mode, DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM,
// info "turnkey_hpke", AAD = sender (encapsulated) public key || target public key,
// both uncompressed. The target bundle's dataSignature (DER ECDSA P-256 over SHA-256 of
// `data`) must verify under the pinned enclave signing key from get_enclave_keys.

const enc = new TextEncoder();
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const fromHex = (text) => {
  if (typeof text !== "string" || text.length % 2 || /[^0-9a-f]/i.test(text)) throw new Error("not hex");
  return Uint8Array.from(text.match(/../g) || [], (h) => parseInt(h, 16));
};
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
};

const VERSION = enc.encode("HPKE-v1");
const KEM_SUITE = Uint8Array.from([0x4b, 0x45, 0x4d, 0x00, 0x10]); // "KEM" || DHKEM(P-256, HKDF-SHA256)
const HPKE_SUITE = Uint8Array.from([0x48, 0x50, 0x4b, 0x45, 0x00, 0x10, 0x00, 0x01, 0x00, 0x02]); // KEM, HKDF-SHA256, AES-256-GCM
const INFO = enc.encode("turnkey_hpke");

async function hmac(key, data) {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, data));
}

// HKDF-Extract with an empty salt uses 32 zero bytes (RFC 5869), which HMAC treats alike.
const labeledExtract = (suite, salt, label, ikm) =>
  hmac(salt.length ? salt : new Uint8Array(32), concat(VERSION, suite, enc.encode(label), ikm));

// HKDF-Expand for L <= 32: one HMAC block.
async function labeledExpand(suite, prk, label, info, length) {
  const labeled = concat(Uint8Array.from([0, length]), VERSION, suite, enc.encode(label), info);
  return (await hmac(prk, concat(labeled, Uint8Array.from([1])))).slice(0, length);
}

function derToRaw(der) {
  // SEQUENCE { INTEGER r, INTEGER s } -> r || s, 32 bytes each.
  if (der[0] !== 0x30) throw new Error("dataSignature is not DER");
  let i = 2;
  const int = () => {
    if (der[i] !== 0x02) throw new Error("dataSignature is not DER");
    const len = der[i + 1];
    let v = der.slice(i + 2, i + 2 + len);
    i += 2 + len;
    while (v.length > 32 && v[0] === 0) v = v.slice(1);
    if (v.length > 32) throw new Error("dataSignature is not P-256");
    return concat(new Uint8Array(32 - v.length), v);
  };
  return concat(int(), int());
}

/**
 * Checks an `otpEncryptionTargetBundle` against the pinned enclave signing key (uncompressed hex)
 * and returns the target public key (uncompressed bytes).
 */
export async function verifyTargetBundle(bundleJson, signerPublicKeyHex) {
  const bundle = JSON.parse(bundleJson);
  if (bundle.enclaveQuorumPublic !== signerPublicKeyHex) {
    throw new Error("the code's target bundle is not signed by this server's enclave key");
  }
  const key = await crypto.subtle.importKey("raw", fromHex(signerPublicKeyHex), { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  const data = fromHex(bundle.data);
  const ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, derToRaw(fromHex(bundle.dataSignature)), data);
  if (!ok) throw new Error("the code's target bundle signature does not verify");
  const target = fromHex(JSON.parse(new TextDecoder().decode(data)).targetPublic);
  if (target.length !== 65 || target[0] !== 4) throw new Error("the target key is not an uncompressed P-256 key");
  return target;
}

/** HPKE base-mode seal of `plaintext` to `target` (uncompressed P-256); `{encappedPublic, ciphertext}` hex. */
export async function hpkeSeal(plaintext, target) {
  const pair = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
  const encapped = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  const targetKey = await crypto.subtle.importKey("raw", target, { name: "ECDH", namedCurve: "P-256" }, false, []);
  const dh = new Uint8Array(await crypto.subtle.deriveBits({ name: "ECDH", public: targetKey }, pair.privateKey, 256));
  const eaePrk = await labeledExtract(KEM_SUITE, new Uint8Array(), "eae_prk", dh);
  const shared = await labeledExpand(KEM_SUITE, eaePrk, "shared_secret", concat(encapped, target), 32);
  const context = concat(Uint8Array.from([0]),
    await labeledExtract(HPKE_SUITE, new Uint8Array(), "psk_id_hash", new Uint8Array()),
    await labeledExtract(HPKE_SUITE, new Uint8Array(), "info_hash", INFO));
  const secret = await labeledExtract(HPKE_SUITE, shared, "secret", new Uint8Array());
  const key = await labeledExpand(HPKE_SUITE, secret, "key", context, 32);
  const nonce = await labeledExpand(HPKE_SUITE, secret, "base_nonce", context, 12);
  const aes = await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]);
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: concat(encapped, target) }, aes, plaintext);
  return { encappedPublic: hex(encapped), ciphertext: hex(new Uint8Array(sealed)) };
}

/**
 * What `encryptOtpCodeToBundle(otpCode, bundle, publicKey, signerKey)` returns: the JSON
 * `{encappedPublic, ciphertext}` sealing `{"otp_code", "public_key"}` to the bundle's target.
 */
export async function encryptOtpCodeToBundle(otpCode, bundleJson, publicKeyHex, signerPublicKeyHex) {
  const target = await verifyTargetBundle(bundleJson, signerPublicKeyHex);
  const plaintext = enc.encode(JSON.stringify({ otp_code: otpCode, public_key: publicKeyHex }));
  return JSON.stringify(await hpkeSeal(plaintext, target));
}
