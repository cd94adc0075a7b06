// The console's WebCrypto HPKE (web/console/js/hpke.js) against @turnkey/crypto: a code
// sealed by the console opens with hpkeDecrypt; a bundle signed by another key, or with a
// tampered signature, is refused. Prints one JSON object.
// Usage: node console-hpke.mjs <path of web/console/js/hpke.js>
import { createSign, generateKeyPairSync } from "node:crypto";
import { pathToFileURL } from "node:url";
import { generateP256KeyPair, hpkeDecrypt } from "@turnkey/crypto";

const hpke = await import(pathToFileURL(process.argv[2]).href);
const seen = {};
const signer = generateKeyPairSync("ec", { namedCurve: "P-256" });
const jwk = signer.publicKey.export({ format: "jwk" });
const signerPublic = "04" + Buffer.from(jwk.x, "base64url").toString("hex") + Buffer.from(jwk.y, "base64url").toString("hex");
const target = generateP256KeyPair();
const data = Buffer.from(JSON.stringify({ targetPublic: target.publicKeyUncompressed })).toString("hex");
const dataSignature = createSign("SHA256").update(Buffer.from(data, "hex")).sign(signer.privateKey).toString("hex");
const bundle = JSON.stringify({ version: "v1.0.0", data, dataSignature, enclaveQuorumPublic: signerPublic });
const sessionKey = generateP256KeyPair().publicKey;

try {
  const sealed = JSON.parse(await hpke.encryptOtpCodeToBundle("ABCD1234E", bundle, sessionKey, signerPublic));
  const opened = hpkeDecrypt({
    ciphertextBuf: Buffer.from(sealed.ciphertext, "hex"),
    encappedKeyBuf: Buffer.from(sealed.encappedPublic, "hex"),
    receiverPriv: target.privateKey,
  });
  seen.opened = JSON.parse(new TextDecoder().decode(opened));
  seen.expectedPublicKey = sessionKey;
  seen.encappedIsUncompressed = sealed.encappedPublic.length === 130 && sealed.encappedPublic.startsWith("04");
} catch (e) {
  seen.error = String(e);
}
const refused = async (b, key) => hpke.encryptOtpCodeToBundle("1", b, sessionKey, key).then(() => "accepted", (e) => e.message);
const other = generateP256KeyPair().publicKeyUncompressed;
seen.otherSigner = await refused(JSON.stringify({ ...JSON.parse(bundle), enclaveQuorumPublic: other }), other);
const bad = dataSignature.slice(0, -2) + (dataSignature.endsWith("00") ? "01" : "00");
seen.tampered = await refused(JSON.stringify({ ...JSON.parse(bundle), dataSignature: bad }), signerPublic);
seen.wrongPin = await refused(bundle, other);
console.log(JSON.stringify(seen));
