// The one-time-code flow through @turnkey/http, in two steps around reading the code from
// the server's outbox: `init` calls initOtp; `finish` seals the code with @turnkey/crypto to
// the pinned enclave key, calls verifyOtp, then otpLogin with the client signature
// @turnkey/core makes (raw P-256 over the login message). Every call is recorded for
// sdk-types.mjs. Prints {calls, ...} as JSON.
// Usage: node sdk-otp.mjs <baseUrl> <rootKeyFile> init <email>
//        node sdk-otp.mjs <baseUrl> <rootKeyFile> finish <otpId> <targetBundle> <code>
import { readFileSync } from "node:fs";
import { TurnkeyClient } from "@turnkey/http";
import { ApiKeyStamper, SignatureFormat } from "@turnkey/api-key-stamper";
import { encryptOtpCodeToBundle, generateP256KeyPair } from "@turnkey/crypto";
import { calls } from "./record-calls.mjs";

const [baseUrl, keyFile, step, ...rest] = process.argv.slice(2);
const rootKey = JSON.parse(readFileSync(keyFile, "utf8"));
const organizationId = rootKey.organizationId;
const root = new TurnkeyClient({ baseUrl }, new ApiKeyStamper({ apiPublicKey: rootKey.publicKey, apiPrivateKey: rootKey.privateKey }));
const t = () => String(Date.now());

if (step === "init") {
  const [email] = rest;
  const started = await root.initOtp({
    type: "ACTIVITY_TYPE_INIT_OTP_V3", timestampMs: t(), organizationId,
    parameters: { otpType: "OTP_TYPE_EMAIL", contact: email, appName: "sdk", otpLength: 6, alphanumeric: false },
  });
  const result = started.activity.result.initOtpResultV2;
  console.log(JSON.stringify({ calls, otpId: result.otpId, targetBundle: result.otpEncryptionTargetBundle }));
} else {
  const [otpId, targetBundle, code] = rest;
  const enclave = await root.request("/public/v1/query/get_enclave_keys", { organizationId });
  const session = generateP256KeyPair();
  const encryptedOtpBundle = await encryptOtpCodeToBundle(code, targetBundle, session.publicKey, enclave.signingPublicKey);
  const verified = await root.verifyOtp({
    type: "ACTIVITY_TYPE_VERIFY_OTP_V2", timestampMs: t(), organizationId, parameters: { otpId, encryptedOtpBundle },
  });
  const verificationToken = verified.activity.result.verifyOtpResult.verificationToken;
  const tokenId = JSON.parse(Buffer.from(verificationToken.split(".")[1], "base64url")).id;
  const message = JSON.stringify({ login: { publicKey: session.publicKey }, tokenId, type: "USAGE_TYPE_LOGIN" });
  const signer = new ApiKeyStamper({ apiPublicKey: session.publicKey, apiPrivateKey: session.privateKey });
  const signature = await signer.sign(message, SignatureFormat.Raw);
  const login = await root.otpLogin({
    type: "ACTIVITY_TYPE_OTP_LOGIN_V2", timestampMs: t(), organizationId,
    parameters: { verificationToken, publicKey: session.publicKey, expirationSeconds: "900",
      clientSignature: { publicKey: session.publicKey, scheme: "CLIENT_SIGNATURE_SCHEME_API_P256", message, signature } },
  });
  console.log(JSON.stringify({ calls, loginStatus: login.activity.status, session: login.activity.result.otpLoginResult?.session }));
}
