// Passkeys in the browser, in Turnkey's wire format. Used by the console and by the
// passkey test page; no dependencies, no build step.

/** Bytes (ArrayBuffer or view) to unpadded base64url. */
export function toBase64url(bytes) {
  const view = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let binary = "";
  for (const b of view) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Unpadded (or padded) base64url to bytes. */
export function fromBase64url(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(b64 + "===".slice((b64.length + 3) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

const TRANSPORTS = {
  internal: "AUTHENTICATOR_TRANSPORT_INTERNAL",
  hybrid: "AUTHENTICATOR_TRANSPORT_HYBRID",
  usb: "AUTHENTICATOR_TRANSPORT_USB",
  nfc: "AUTHENTICATOR_TRANSPORT_NFC",
  ble: "AUTHENTICATOR_TRANSPORT_BLE",
};

/**
 * Creates a passkey from the `publicKey` options of query/get_passkey_registration_options
 * and returns the `attestation` object create_authenticators takes.
 */
export async function createPasskey(publicKey) {
  const options = {
    ...publicKey,
    challenge: fromBase64url(publicKey.challenge),
    user: { ...publicKey.user, id: fromBase64url(publicKey.user.id) },
    excludeCredentials: (publicKey.excludeCredentials || []).map((c) => ({ ...c, id: fromBase64url(c.id) })),
  };
  const credential = await navigator.credentials.create({ publicKey: options });
  const transports = (credential.response.getTransports ? credential.response.getTransports() : [])
    .map((t) => TRANSPORTS[t])
    .filter(Boolean);
  return {
    credentialId: toBase64url(credential.rawId),
    clientDataJson: toBase64url(credential.response.clientDataJSON),
    attestationObject: toBase64url(credential.response.attestationObject),
    transports,
  };
}

/**
 * The X-Stamp-Webauthn header for `body`: the WebAuthn challenge is the ASCII of the
 * lowercase hex SHA-256 of the exact body, as @turnkey/webauthn-stamper makes it.
 */
export async function stampWithPasskey(body, { rpId, credentialIds = [] } = {}) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(body)));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  const assertion = await navigator.credentials.get({
    publicKey: {
      rpId,
      challenge: new TextEncoder().encode(hex),
      allowCredentials: credentialIds.map((id) => ({ type: "public-key", id: fromBase64url(id) })),
      userVerification: "preferred",
      timeout: 300000,
    },
  });
  return JSON.stringify({
    authenticatorData: toBase64url(assertion.response.authenticatorData),
    clientDataJson: toBase64url(assertion.response.clientDataJSON),
    credentialId: toBase64url(assertion.rawId),
    signature: toBase64url(assertion.response.signature),
  });
}
